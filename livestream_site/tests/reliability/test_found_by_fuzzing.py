"""Regression tests for what the fuzzers found, each failing on the code before its fix."""

import pytest


@pytest.mark.parametrize("offset", ["+17:30", "-16:37"])
def test_a_date_filter_with_an_offset_postgresql_refuses_is_answered(anon_client, offset, db):
    """schemathesis: `scheduledBefore=0250-03-06T11:16:43.1+17:30` was a DataError 500 ("time zone
    displacement out of range"); the filter now compares in UTC."""
    response = anon_client.get("/api/livestreams/", {"scheduledBefore": f"2030-03-06T11:16:43{offset}"})
    assert response.status_code == 200, response.content


def test_every_error_of_the_schema_has_the_error_shape(anon_client, db):
    """The schema documents 4xx answers with the one error shape the API sends (livestream_site.schema)."""
    schema = anon_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/livestreams/{id}/playback/"]["get"]
    assert {"401", "402", "403", "404", "409"} <= set(operation["responses"])
    error = operation["responses"]["402"]["content"]["application/json"]["schema"]["$ref"]
    assert error == "#/components/schemas/Error"
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]

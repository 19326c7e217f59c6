import pytest

pytestmark = pytest.mark.django_db


def test_healthz_reports_every_component(anon_client):
    response = anon_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "channelLayer": "ok"}

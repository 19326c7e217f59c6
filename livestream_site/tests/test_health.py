"""The health check, the OpenAPI schema and the API docs page."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_healthz_reports_every_component(path, anon_client):
    response = anon_client.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "channelLayer": "ok",
        "realtime": "ok",
        "web": {"processes": 1, "answering": 1},  # a process started alone (see test_web.py for the tier)
    }


def test_healthz_reports_a_broken_cache_as_degraded(anon_client, settings):
    # Nothing listens on port 1: the cache cannot be reached, and the check must say so rather than raise.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = anon_client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["cache"].startswith("error")
    assert (body["database"], body["channelLayer"]) == ("ok", "ok")


def test_schema_is_openapi_3_and_describes_the_stream_api(anon_client):
    response = anon_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in (
        "/api/livestreams",
        "/api/livestreams/{id}",
        "/api/livestreams/{id}/start",
        "/api/livestreams/{id}/end",
        "/api/livestreams/{id}/cancel",
        "/api/livestreams/{id}/stream-key/rotate",
        "/api/auth/register",
        "/api/auth/token",
        "/api/auth/me",
    ):
        assert any(key.rstrip("/") == path for key in paths), path
    list_path = next(key for key in paths if key.rstrip("/") == "/api/livestreams")
    parameters = {parameter["name"] for parameter in paths[list_path]["get"]["parameters"]}
    assert {"status", "type", "artistId", "isPayPerView", "scheduledAfter", "scheduledBefore", "search"} <= parameters
    assert {"ordering", "page", "pageSize"} <= parameters
    stream = schema["components"]["schemas"]["LiveStream"]["properties"]
    assert {"scheduledStartTime", "ticketPrice", "isPayPerView", "streamSettings", "artistId"} <= set(stream)


def test_schema_default_format_is_yaml_openapi(anon_client):
    response = anon_client.get("/api/schema")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


def test_docs_page_is_served_without_a_cdn(anon_client):
    response = anon_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html


def test_an_unknown_api_path_is_a_404_not_a_500(anon_client):
    assert anon_client.get("/api/no-such-thing").status_code == 404
    assert anon_client.post("/api/livestreams/x/fly").status_code == 404


def test_schema_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert target.read_text().startswith("openapi: 3.")


def test_unknown_api_path_answers_in_the_json_error_shape(anon_client, settings):
    settings.DEBUG = False
    response = anon_client.get("/api/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_healthz_tells_the_reason_of_a_failure_to_staff_only(anon_client, client, staff, settings):
    """Audit F13: the reason names internal hosts and ports; anonymous callers see only "error"."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    assert anon_client.get("/healthz").json()["cache"] == "error"
    client.force_login(staff)
    detailed = client.get("/healthz").json()["cache"]
    assert detailed.startswith("error: ") and len(detailed) > len("error: ")

"""The styled error pages (no debug page for a missing URL with DEBUG off) and the favicon."""

import pytest
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.views.defaults import permission_denied, server_error

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_the_styled_404(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/<script>/")
    text = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in text and "css/site.css" in text and "<script>" not in text
    assert "Using the URLconf" not in text  # not Django's debug page
    api = client.get("/api/no-such-thing/")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_a_forbidden_page_is_the_styled_403_with_the_reason():
    # No page refuses with a bare PermissionDenied today (the studio explains itself to fans): the handler
    # is called as Django calls it, so a future refusal still gets the styled page with its reason.
    response = permission_denied(RequestFactory().get("/"), PermissionDenied("The studio is for artists."))
    text = response.content.decode()
    assert response.status_code == 403
    assert "You can't open this page" in text and "The studio is for artists." in text


def test_a_fan_at_the_studio_is_told_what_it_is(client):
    client.force_login(UserFactory())
    response = client.get("/dashboard/", follow=True)
    assert response.status_code == 403 and "The studio is for artists" in response.content.decode()


def test_the_500_page_renders_without_a_request_context():
    response = server_error(RequestFactory().get("/"))
    text = response.content.decode()
    assert response.status_code == 500 and "Something went wrong" in text and "css/site.css" in text


def test_the_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("/favicon.svg")
    with open(finders.find("favicon.svg")) as icon:
        assert icon.read().lstrip().startswith("<svg")
    assert 'rel="icon"' in client.get("/").content.decode()

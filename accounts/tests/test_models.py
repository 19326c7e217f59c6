"""The user's rules: who may host streams."""

import pytest

from accounts.tests.factories import ArtistFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_artists_and_staff_may_host_and_viewers_may_not():
    assert ArtistFactory().can_host
    assert StaffFactory().can_host
    assert not UserFactory().can_host

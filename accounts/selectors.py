"""Reads of accounts: artists, and who follows them."""

from django.db.models import Q, QuerySet
from rest_framework.authtoken.models import Token

from livestream_site.errors import NotFound

from .models import Follow, User

# Who may host (User.can_host) as a query: artists and staff.
HOSTS = Q(role=User.Role.ARTIST) | Q(is_staff=True)


def artist_get(*, artist_id: int | None = None, username: str | None = None) -> User:
    """An active artist by id or by username (case-insensitive), or 404."""
    artists = User.objects.filter(HOSTS, is_active=True)
    if artist_id is not None and not 0 < artist_id < 2**63:  # past the id column's range: nobody
        raise NotFound("No artist here.")
    if artist_id is not None:
        artist = artists.filter(pk=artist_id).first()
    else:
        artist = artists.filter(username__iexact=username or "").first()
    if artist is None:
        raise NotFound("No artist here.")
    return artist


def artist_follower_count(*, artist: User) -> int:
    return Follow.objects.filter(artist=artist).count()


def user_follows(*, fan: User, artist: User) -> bool:
    return fan.is_authenticated and Follow.objects.filter(fan=fan, artist=artist).exists()


def followers_to_email(*, artist_id: int) -> QuerySet[User]:
    """The followers of an artist who want e-mails about them and have an address to receive them."""
    return (
        User.objects.filter(follows__artist_id=artist_id, follow_emails=True, is_active=True)
        .exclude(email="")
        .order_by("pk")
    )


def followed_artists(*, fan: User) -> QuerySet[User]:
    return User.objects.filter(followers__fan=fan).order_by("username")


def user_api_token(*, user: User) -> str | None:
    """The user's API token, or None before one was made (the account page offers to make it)."""
    return Token.objects.filter(user=user).values_list("key", flat=True).first()

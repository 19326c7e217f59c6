"""Writes for accounts: registration, tokens, follows and the follower e-mails setting."""

import logging

from django.conf import settings
from django.contrib.auth import password_validation
from django.core import signing
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from livestream_site.errors import ApplicationError, Forbidden

from .models import Follow, User
from .selectors import artist_get

logger = logging.getLogger(__name__)


UNSUBSCRIBE_SALT = "accounts.follow-emails-unsubscribe"


def signup_role_check(*, role: str) -> None:
    """Whether one may sign up (API or page) with this role: an artist only while ALLOW_ARTIST_SIGNUP allows."""
    if role == User.Role.ARTIST and not settings.ALLOW_ARTIST_SIGNUP:
        raise Forbidden("Artist sign-up is closed; ask staff for an artist account.", code="artist_signup_closed")


@transaction.atomic
def user_register(*, username: str, password: str, email: str = "", role: str = User.Role.VIEWER) -> User:
    signup_role_check(role=role)
    if User.objects.filter(username__iexact=username).exists():
        raise ApplicationError(
            "That username is taken.", code="validation_error", fields={"username": ["That username is taken."]}
        )
    user = User(username=username, email=email, role=role)
    try:
        password_validation.validate_password(password, user)
    except Exception as exc:  # django.core.exceptions.ValidationError
        raise ApplicationError(
            "The password is too weak.", code="validation_error", fields={"password": list(exc.messages)}
        )
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # the same name registered a moment ago by a concurrent request
        raise ApplicationError(
            "That username is taken.", code="validation_error", fields={"username": ["That username is taken."]}
        )
    Token.objects.create(user=user)
    logger.info("registered %s as %s", username, role)
    return user


def user_token_get(*, user: User) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


@transaction.atomic
def user_token_rotate(*, user: User) -> str:
    """A new API token for the user; the old one stops working at once."""
    Token.objects.filter(user=user).delete()
    logger.info("user %s: API token rotated", user.id)
    return Token.objects.create(user=user).key


def user_follow_emails_set(*, user: User, enabled: bool) -> User:
    User.objects.filter(pk=user.pk).update(follow_emails=enabled)
    user.follow_emails = enabled
    logger.info("user %s: follower e-mails %s", user.id, "on" if enabled else "off")
    return user


def follow_emails_unsubscribe_token(*, user: User) -> str:
    """The signed token of a one-click unsubscribe link (no expiry: an old e-mail's link still works)."""
    return signing.dumps(user.pk, salt=UNSUBSCRIBE_SALT)


def follow_emails_unsubscribe(*, token: str) -> User:
    """Turn off the follower e-mails of the user the token names; a token that was not signed here is refused."""
    try:
        user_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        raise ApplicationError("This unsubscribe link is not valid.", code="invalid_link", status_code=400)
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise ApplicationError("This unsubscribe link is not valid.", code="invalid_link", status_code=400)
    return user_follow_emails_set(user=user, enabled=False)


def follow_create(*, fan: User, artist_id: int) -> Follow:
    """The fan follows the artist (following again changes nothing)."""
    artist = artist_get(artist_id=artist_id)
    if artist.pk == fan.pk:
        raise ApplicationError("You cannot follow yourself.", code="follow_oneself", status_code=400)
    try:
        with transaction.atomic():
            follow, created = Follow.objects.get_or_create(fan=fan, artist=artist)
    except IntegrityError:  # the same follow a moment ago, from another request
        follow, created = Follow.objects.get(fan=fan, artist=artist), False
    if created:
        logger.info("user %s follows artist %s", fan.id, artist.id)
    return follow


def follow_delete(*, fan: User, artist_id: int) -> None:
    """The fan stops following the artist (not following already changes nothing)."""
    artist = artist_get(artist_id=artist_id)
    deleted, _ = Follow.objects.filter(fan=fan, artist=artist).delete()
    if deleted:
        logger.info("user %s unfollowed artist %s", fan.id, artist.id)

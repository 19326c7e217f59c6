"""Writes for accounts: registration and tokens."""

import logging

from django.conf import settings
from django.contrib.auth import password_validation
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from livestream_site.errors import ApplicationError, Forbidden

from .models import User

logger = logging.getLogger(__name__)


@transaction.atomic
def user_register(*, username: str, password: str, email: str = "", role: str = User.Role.VIEWER) -> User:
    if role == User.Role.ARTIST and not settings.ALLOW_ARTIST_SIGNUP:
        raise Forbidden("Artist sign-up is closed; ask staff for an artist account.", code="artist_signup_closed")
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

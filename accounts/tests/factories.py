"""Factories for users of every role."""

import factory
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from rest_framework.authtoken.models import Token

from accounts.models import User

PASSWORD = "a-long-test-password-42"
# Test users get a PBKDF2 hash with few iterations: Django's full work factor costs ~0.3 s per user, which made
# five-user fixtures dominate the suite. check_password reads the iterations from the hash, so logins still work.
FAST_ITERATIONS = 1000


def fast_password_hash(raw: str) -> str:
    return PBKDF2PasswordHasher().encode(raw, PBKDF2PasswordHasher().salt(), iterations=FAST_ITERATIONS)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = User.Role.VIEWER

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.password = fast_password_hash(extracted or PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ArtistFactory(UserFactory):
    role = User.Role.ARTIST


class StaffFactory(UserFactory):
    is_staff = True


def token_for(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key

"""Factories for users of every role."""

import factory
from django.contrib.auth.hashers import make_password
from rest_framework.authtoken.models import Token

from accounts.models import User

PASSWORD = "a-long-test-password-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = User.Role.VIEWER

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.password = make_password(extracted or PASSWORD)  # fast in tests: TEST_SETTINGS

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

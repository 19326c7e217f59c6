"""Settings every test runs with, in one place (the root conftest applies them for the whole session)."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 with few iterations: Django's full work factor costs ~0.3 s per password, which made
    user fixtures dominate the suite. The hash keeps its algorithm name and records its iterations,
    so a real server process (daphne in process tests, with the production hashers) still verifies it."""

    iterations = 1000


TEST_SETTINGS = {
    "PASSWORD_HASHERS": ["livestream_site.testing.settings.FastPBKDF2PasswordHasher"],
    # Every test signs in from 127.0.0.1 with the same few usernames, into a cache (Redis) shared by
    # the tests and by runs: the throttles would trip across tests. The throttle tests set their own
    # limits, with usernames and addresses of their own.
    "AUTH_THROTTLE_ACCOUNT_FAILURES": 1_000_000,
    "AUTH_THROTTLE_ADDRESS_ATTEMPTS": 1_000_000,
    "AUTH_THROTTLE_SIGNUPS_PER_ADDRESS": 1_000_000,
    # django-allauth's own limits (password resets, e-mail changes, ...) count per user id and address in the
    # same shared cache, and user ids repeat from run to run: off in tests (our sign-in throttles stay on).
    "ACCOUNT_RATE_LIMITS": False,
    # Test clients open anonymous sockets from one address in one process; the cap's test sets its own.
    "WS_ANONYMOUS_CONNECTIONS_PER_ADDRESS": 1_000_000,
}

# The same limits for the server processes tests start (daphne): they count in the same Redis as the
# test process, whose requests come from the same address.
TEST_PROCESS_ENV = {
    name: str(value) for name, value in TEST_SETTINGS.items() if name.startswith(("AUTH_THROTTLE_", "WS_ANONYMOUS_"))
}

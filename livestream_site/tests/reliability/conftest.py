"""Settings of the reliability suite: bounded in CI, longer under `make reliability` (RELIABILITY=1)."""

import logging
import os

import pytest

# How many generated examples each property test runs: CI keeps the whole suite within a few minutes on a
# small machine; `make reliability` sets RELIABILITY=1 and runs many more.
LONG = os.environ.get("RELIABILITY", "") not in ("", "0")


def examples(ci: int, long: int) -> int:
    return long if LONG else ci


@pytest.fixture
def app_log(caplog):
    """caplog that also hears the apps' loggers (settings.LOGGING gives them their own handler, no propagation)."""
    names = ("accounts", "streams", "payments", "chat", "analytics", "livestream_site", "django", "daphne")
    for name in names:
        logging.getLogger(name).addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    yield caplog
    for name in names:
        logging.getLogger(name).removeHandler(caplog.handler)


def failures(records) -> list[str]:
    """Log records that mean something broke: ERROR and above, or any traceback."""
    return [record.getMessage() for record in records if record.levelno >= logging.ERROR or record.exc_info]

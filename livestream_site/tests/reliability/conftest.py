"""Settings of the reliability suite: bounded in CI, longer under `make reliability` (RELIABILITY=1)."""

import os

# How many generated examples each property test runs: CI keeps the whole suite within a few minutes on a
# small machine; `make reliability` sets RELIABILITY=1 and runs many more.
LONG = os.environ.get("RELIABILITY", "") not in ("", "0")


def examples(ci: int, long: int) -> int:
    return long if LONG else ci

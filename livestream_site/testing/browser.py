"""Headless Debian Chromium driven by Playwright, launched the way this machine allows."""

import concurrent.futures
from contextlib import contextmanager

from django.db import connection
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


@contextmanager
def chromium():
    """Yield a Playwright Browser; closed afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def in_thread(function, *args, **kwargs):
    """Run database work from inside Playwright's sync API (which runs an event loop in this thread, where
    Django refuses synchronous queries), in a thread of its own whose connection is closed afterwards (or
    the test database could not be dropped)."""

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()

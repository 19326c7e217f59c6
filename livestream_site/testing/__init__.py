"""Helpers for tests that run real processes (daphne, nginx, ffmpeg) against the test database."""

"""Settings of the API benchmark's server: the platform's, plus the baseline view beside its URLs."""

from livestream_site.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.api_urls"

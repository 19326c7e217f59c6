"""Fixtures the media plane's tests share: moto in server mode for the backends that keep replays in S3."""

import pytest
from moto.server import ThreadedMotoServer

from livestream_site.testing.processes import free_port


@pytest.fixture(scope="module")
def moto_url():
    """moto in server mode on a free port (boto3 reaches it through an endpoint URL)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()

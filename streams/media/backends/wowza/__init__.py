"""Wowza as the media system, in the flavour WOWZA_API_URL names: Wowza Video (REST API v2.0, JWT bearer;
backend.py) or Wowza Streaming Engine (its REST API, a URL with /v2/servers/ in its path:
http://host:8087/v2/servers/_defaultServer_/vhosts/_defaultVHost_; engine.py). Both share the HTTP client
(client.py, over the managed backends' ../http.py: retries with backoff) and how a poll reports what Wowza
says (base.py, over ../managed.py): neither sends callbacks the platform can trust, so a task polls state,
ingest and recordings (media_poll).
"""

from django.conf import settings

from .backend import WowzaBackend
from .engine import WowzaEngineBackend, is_engine_url

__all__ = ["WowzaBackend", "WowzaEngineBackend", "backend_class"]


def backend_class() -> type[WowzaBackend] | type[WowzaEngineBackend]:
    """STREAMING_BACKEND=wowza: Wowza Streaming Engine when WOWZA_API_URL is its REST endpoint, else Wowza Video."""
    return WowzaEngineBackend if is_engine_url(settings.WOWZA_API_URL) else WowzaBackend

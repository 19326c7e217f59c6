"""Wowza Video (REST API v2.0, JWT bearer) as the media system: a Wowza live stream per stream, RTMP ingest
with the live stream's stream name and credentials, HLS playback through Wowza CDN on Fastly with
token authentication for pay-per-view, recordings by Wowza's recorder. Wowza Video sends the platform no
callbacks it can trust, so a task polls state, ingest and recordings (media_poll).

The Wowza Streaming Engine REST API (selected by a WOWZA_API_URL of the form
http://host:8087/v2/servers/...) is not supported yet: such a URL stops the platform at start.
"""

from .backend import WowzaBackend

__all__ = ["WowzaBackend"]

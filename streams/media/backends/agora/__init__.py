"""Agora as the media system: RTMP ingest through Media Gateway (a stream key per stream, bound to the
stream's channel and the publisher's uid), viewers in the channel with the Agora Web SDK as audience with
AccessToken2 ("007") RTC tokens, Cloud Recording (composite mode) to the operator's S3 bucket. Agora sends
the platform nothing it polls for here, so a task polls the channel's hosts (media_poll).

backend.py implements StreamingBackend; client.py calls Agora's REST APIs; tokens.py makes RTC tokens.
"""

from .backend import AgoraBackend

__all__ = ["AgoraBackend"]

"""AWS Interactive Video Service (IVS low-latency channels) as the media system: a channel per stream
(or the one channel AWS_IVS_CHANNEL_ARN names), its stream key for the encoder, ES384 playback tokens
for private (pay-per-view) channels, recordings to S3 and EventBridge's state-change events.

backend.py implements StreamingBackend; tokens.py makes playback tokens; events.py reads the events.
"""

from .backend import IvsBackend

__all__ = ["IvsBackend"]

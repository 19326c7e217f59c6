"""The self-hosted media backend: nginx with the RTMP module, the ffmpeg ladder, signed HLS and replays.

backend.py implements StreamingBackend; hls.py signs and writes playlists; views.py and urls.py hold
nginx's callbacks and the viewers' master playlist; config.py renders nginx.conf.template; ladder.py
is the script nginx runs for each publish.
"""

from .backend import RtmpBackend

__all__ = ["RtmpBackend"]

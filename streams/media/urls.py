"""Routes of the media plane: its REST API (mounted under /api/ by the root URL conf), and the configured
backend's own routes outside the API (for rtmp: nginx's callbacks and the viewers' master playlists)."""

from django.urls import include, path, re_path
from rest_framework.urlpatterns import format_suffix_patterns

from . import api, views
from .backends import get_backend

_STREAM = r"^livestreams/(?P<pk>[^/]+)"

# With and without a trailing slash, and with a format suffix (".json"), as the streams router answers.
api_urlpatterns = format_suffix_patterns(
    [
        re_path(_STREAM + r"/ingest/?$", api.StreamIngestView.as_view(), name="livestream-ingest"),
        re_path(_STREAM + r"/playback/?$", api.StreamPlaybackView.as_view(), name="livestream-playback"),
        re_path(_STREAM + r"/adapt-quality/?$", api.StreamAdaptQualityView.as_view(), name="livestream-adapt-quality"),
        re_path(_STREAM + r"/health/?$", api.StreamHealthView.as_view(), name="livestream-health"),
        re_path(_STREAM + r"/recordings/?$", api.StreamRecordingsView.as_view(), name="livestream-recordings"),
        re_path(r"^media/provider-events/?$", api.ProviderEventsView.as_view(), name="media-provider-events"),
    ]
)

urlpatterns = [
    # Replays a media system stored as HLS in a private store, their URIs signed (any backend).
    path("media/replays/<str:token>/<path:name>", views.replay_playlist, name="media-replay-playlist"),
]
if backend_urlconf := get_backend().urlconf:
    urlpatterns.append(path("", include(backend_urlconf)))

"""ASGI entry point: HTTP through Django, WebSockets through Channels, Socket.IO (/socket.io/) through python-socketio."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "livestream_site.settings")
django_asgi_app = get_asgi_application()

import socketio  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import re_path  # noqa: E402

from chat.auth import LiveStreamAuthStack  # noqa: E402
from chat.consumers import LiveStreamConsumer  # noqa: E402
from chat.socketio_adapter import socketio_server_make  # noqa: E402

from .serving import gc_tune, twisted_write_through, websocket_debug_formatting_skip  # noqa: E402

if settings.LOG_LEVEL != "DEBUG":
    websocket_debug_formatting_skip()
twisted_write_through()

websocket_urlpatterns: list = [
    re_path(r"^ws/livestream/?$", LiveStreamConsumer.as_asgi()),
]

channels_application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Session-cookie connections are checked against allowed Origins inside LiveStreamAuthStack.
        "websocket": LiveStreamAuthStack(URLRouter(websocket_urlpatterns)),
    }
)

# /socket.io/ (HTTP long-polling and WebSocket) goes to the Socket.IO server; everything else to Channels.
application = socketio.ASGIApp(socketio_server_make(), other_asgi_app=channels_application, socketio_path="socket.io")

# Last: everything the application loaded is frozen out of the garbage collector's walks.
gc_tune(settings.WEB_GC_THRESHOLDS)

"""Routes of chat: its REST API (mounted under /api/ by the root URL conf); no pages of its own."""

from django.urls import re_path

from . import api

_STREAM = r"^livestreams/(?P<stream_id>[^/]+)/chat"

api_urlpatterns = [
    re_path(_STREAM + r"/?$", api.ChatHistoryView.as_view(), name="chat-history"),
    re_path(_STREAM + r"/bans/?$", api.ChatBansView.as_view(), name="chat-bans"),
    re_path(_STREAM + r"/bans/(?P<user_id>[^/]+)/?$", api.ChatBanView.as_view(), name="chat-ban"),
    re_path(_STREAM + r"/settings/?$", api.ChatSettingsView.as_view(), name="chat-settings"),
    re_path(_STREAM + r"/moderators/?$", api.ChatModeratorsView.as_view(), name="chat-moderators"),
    re_path(_STREAM + r"/moderators/(?P<user_id>[^/]+)/?$", api.ChatModeratorView.as_view(), name="chat-moderator"),
    re_path(_STREAM + r"/(?P<message_id>[0-9]+)/?$", api.ChatMessageView.as_view(), name="chat-message"),
]
urlpatterns: list = []

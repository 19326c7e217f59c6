"""Chat over REST: history, and moderation (delete, bans and timeouts, settings, moderators)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from livestream_site.schema import error_responses
from payments.selectors import stream_watch_access

from . import services
from .inputs import BanInput, HistoryQuery, SettingsInput, UserIdInput, input_valid
from .selectors import (
    chat_badge,
    chat_bans_list,
    chat_history,
    chat_message_public_data,
    chat_moderation_access,
    chat_moderator_ids,
    chat_moderators_list,
    chat_settings_get,
)


def _ban_data(ban) -> dict:
    return {
        "user": {"id": ban.user_id, "username": ban.user.username},
        "reason": ban.reason,
        "expiresAt": ban.expires_at.isoformat() if ban.expires_at else None,
        "createdAt": ban.created_at.isoformat(),
    }


def _settings_data(chat_settings) -> dict:
    return {
        "streamId": str(chat_settings.stream_id),
        "slowModeSeconds": chat_settings.slow_mode_seconds,
        "blockedTerms": chat_settings.blocked_terms,
    }


class ChatHistoryView(APIView):
    """GET: newest first; `before` (a message id) and `limit` (at most 100) page back in time."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(parameters=[HistoryQuery], responses={200: OpenApiTypes.OBJECT, **error_responses(402, 403)})
    def get(self, request, stream_id):
        query = input_valid(HistoryQuery, request.query_params)
        stream = stream_watch_access(user=request.user, stream_id=stream_id)
        messages = chat_history(stream=stream, before=query.get("before"), limit=query["limit"])
        next_before = messages[-1].id if len(messages) == query["limit"] else None
        moderator_ids = chat_moderator_ids(stream=stream)
        results = [
            chat_message_public_data(m, badge=chat_badge(user=m.user, stream=stream, moderator_ids=moderator_ids))
            for m in messages
        ]
        return Response({"results": results, "nextBefore": next_before})


class ChatMessageView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={204: None})
    def delete(self, request, stream_id, message_id):
        services.chat_message_delete(stream_id=stream_id, message_id=message_id, by_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatBansView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, stream_id):
        stream = chat_moderation_access(user=request.user, stream_id=stream_id)
        return Response({"results": [_ban_data(ban) for ban in chat_bans_list(stream=stream)]})

    @extend_schema(request=BanInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, stream_id):
        data = input_valid(BanInput, request.data)
        ban = services.chat_ban_create(stream_id=stream_id, by_user=request.user, **data)
        ban.user  # noqa: B018 - loaded for the response
        return Response(_ban_data(ban), status=status.HTTP_201_CREATED)


class ChatBanView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={204: None})
    def delete(self, request, stream_id, user_id):
        services.chat_ban_remove(stream_id=stream_id, user_id=user_id, by_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatSettingsView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, stream_id):
        stream = chat_moderation_access(user=request.user, stream_id=stream_id)
        return Response(_settings_data(chat_settings_get(stream=stream)))

    @extend_schema(request=SettingsInput, responses=OpenApiTypes.OBJECT)
    def patch(self, request, stream_id):
        data = input_valid(SettingsInput, request.data)
        chat_settings = services.chat_settings_update(stream_id=stream_id, by_user=request.user, **data)
        return Response(_settings_data(chat_settings))


class ChatModeratorsView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, stream_id):
        stream = chat_moderation_access(user=request.user, stream_id=stream_id)
        return Response(
            {"results": [{"id": m.user_id, "username": m.user.username} for m in chat_moderators_list(stream=stream)]}
        )

    @extend_schema(request=UserIdInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, stream_id):
        data = input_valid(UserIdInput, request.data)
        moderator = services.chat_moderator_add(stream_id=stream_id, user_id=data["user_id"], by_user=request.user)
        return Response({"id": moderator.user_id, "username": moderator.user.username}, status=status.HTTP_201_CREATED)

    @extend_schema(request=UserIdInput, responses={204: None}, operation_id="livestreamsChatModeratorsRemoveByBody")
    def delete(self, request, stream_id):
        user_id = input_valid(UserIdInput, request.data)["user_id"]
        services.chat_moderator_remove(stream_id=stream_id, user_id=user_id, by_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatModeratorView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={204: None})
    def delete(self, request, stream_id, user_id):
        services.chat_moderator_remove(stream_id=stream_id, user_id=user_id, by_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

"""The playback beacon over REST: POST /api/livestreams/{id}/quality-reports (navigator.sendBeacon too)."""

import json

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, parsers, permissions, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.inputs import QualityReportInput, frames_input
from livestream_site.errors import ApplicationError
from livestream_site.schema import error_responses
from payments.selectors import stream_watch_access

from . import clients, services
from .selectors import session_streams

BEACON_MAX_REPORTS = 20
BEACON_MAX_BYTES = 64 * 1024


class BeaconParser(parsers.BaseParser):
    """A JSON body as the browser's sendBeacon sends it: text/plain (no CORS preflight) or application/json.

    Keys stay camelCase: each report is validated like a WebSocket reportQuality frame.
    """

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(BEACON_MAX_BYTES + 1) if stream is not None else b""
        if len(raw) > BEACON_MAX_BYTES:
            raise ParseError(f"A beacon is at most {BEACON_MAX_BYTES} bytes.")
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ParseError("The body is not JSON.") from None


class BeaconSessionAuthentication(authentication.SessionAuthentication):
    """The session cookie without the CSRF check: a beacon carries no CSRF header, and all a forged one
    could do is add playback reports to the signed-in viewer's own sessions."""

    def enforce_csrf(self, request):
        return


class BeaconSessionScheme(SessionScheme):
    """The beacon's session cookie in the schema (without the CSRF header the usual cookie needs)."""

    target_class = BeaconSessionAuthentication
    name = "beaconCookieAuth"


def _refusal(name: str, message: str) -> ApplicationError:
    return ApplicationError(f"{name}: {message}", fields={name: [message]})


def _reports_valid(body) -> list[tuple[str, dict]]:
    """[(sessionId, metrics)] of a body: one report, or {"reports": [...]} (at most BEACON_MAX_REPORTS)."""
    if isinstance(body, dict) and "reports" in body:
        items, many = body["reports"], True
        if not isinstance(items, list) or not items:
            raise _refusal("reports", "Must be a non-empty list.")
        if len(items) > BEACON_MAX_REPORTS:
            raise _refusal("reports", f"At most {BEACON_MAX_REPORTS} reports.")
    elif isinstance(body, dict):
        items, many = [body], False
    else:
        raise ApplicationError("The body is a report object or {reports: [...]}.")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _refusal(f"reports[{index}]" if many else "reports", "Must be an object.")
    try:
        validated = frames_input(QualityReportInput, items)
    except ApplicationError as error:
        if not many:
            raise
        prefix = f"reports[{error.index}]."
        raise ApplicationError(
            f"{prefix}{error.message}", fields={f"{prefix}{name}": value for name, value in error.fields.items()}
        ) from None
    reports = []
    for index, metrics in enumerate(validated):
        session_id = metrics.pop("session_id", None)
        if session_id is None:
            raise _refusal(f"reports[{index}].sessionId" if many else "sessionId", "This field is required.")
        reports.append((str(session_id), metrics))
    return reports


@method_decorator(csrf_exempt, name="dispatch")
class QualityReportsView(APIView):
    """POST one playback report, or {"reports": [...]}; 202 once queued. Anonymous viewers of free streams
    may send them; pay-per-view needs the ticket watching needs (402 `payment_required`)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes = [authentication.TokenAuthentication, BeaconSessionAuthentication]
    parser_classes = [BeaconParser]

    @extend_schema(request=QualityReportInput, responses={202: OpenApiTypes.OBJECT, **error_responses(402)})
    def post(self, request, stream_id):
        stream = stream_watch_access(user=request.user, stream_id=stream_id)
        reports = _reports_valid(request.data)
        stream_id = str(stream.id)
        known = session_streams(session_ids={session_id for session_id, _metrics in reports})
        foreign = [session_id for session_id, _metrics in reports if known.get(session_id, stream_id) != stream_id]
        if foreign:
            raise _refusal("sessionId", "Not a viewer session of this stream.")
        new_sessions = {session_id for session_id, _metrics in reports if session_id not in known}
        if new_sessions:
            self._sessions_open(request, stream, new_sessions)
        event_ids = services.quality_reports_submit(stream_id=stream_id, reports=reports)
        return Response({"accepted": len(event_ids)}, status=status.HTTP_202_ACCEPTED)

    def _sessions_open(self, request, stream, session_ids) -> None:
        """Sessions the page never opened over the WebSocket (or not stored yet): beacon sessions."""
        headers = clients.request_headers(request)
        peer = request.META.get("REMOTE_ADDR")
        user_agent = headers.get("user-agent", "")
        fallback = clients.address_fallback_id(
            address=clients.client_address(headers=headers, peer=peer), user_agent=user_agent
        )
        viewer_key = clients.viewer_key(
            user=request.user, anonymous=clients.anonymous_id(request.COOKIES), fallback=fallback
        )
        country = clients.viewer_country(headers=headers, peer=peer)
        for session_id in sorted(session_ids):
            services.session_open(
                stream_id=stream.id,
                viewer_key=viewer_key,
                user_id=request.user.id if request.user.is_authenticated else None,
                is_replay=stream.status == "ended",
                source="beacon",
                user_agent=user_agent,
                country=country,
                session_id=session_id,
            )

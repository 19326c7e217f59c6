"""Reads of the audience that the interfaces need on the request path."""

import uuid

from .models import ViewerSession


def session_streams(*, session_ids) -> dict[str, str]:
    """{session id: its stream id} for the sessions among `session_ids` that are stored (bad ids skipped)."""
    ids = []
    for session_id in session_ids:
        try:
            ids.append(uuid.UUID(str(session_id)))
        except ValueError:
            continue
    if not ids:
        return {}
    rows = ViewerSession.objects.filter(id__in=ids).values_list("id", "stream_id")
    return {str(session_id): str(stream_id) for session_id, stream_id in rows}

"""A show as an iCalendar event (RFC 5545): "add to calendar" on the pages."""

from datetime import timedelta

from .models import LiveStream

# A show with no end yet is put in calendars for this long.
DEFAULT_DURATION = timedelta(hours=2)


def _text(value: str) -> str:
    """RFC 5545 TEXT: backslash, semicolon, comma and newlines escaped."""
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines of at most 75 octets, continued with a leading space."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, start = [], 0
    while start < len(data):
        end = min(start + (75 if not parts else 74), len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # never split a UTF-8 character
            end -= 1
        parts.append(data[start:end].decode())
        start = end
    return "\r\n ".join(parts)


def _stamp(moment) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def calendar_event(*, stream: LiveStream, url: str) -> str:
    start = stream.started_at or stream.scheduled_start_time
    end = stream.ended_at or start + DEFAULT_DURATION
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Livestage//Shows//EN",
        "CALSCALE:GREGORIAN",
        "BEGIN:VEVENT",
        f"UID:{stream.id}@livestage",
        f"DTSTAMP:{_stamp(stream.updated_at)}",
        f"DTSTART:{_stamp(start)}",
        f"DTEND:{_stamp(end)}",
        f"SUMMARY:{_text(f'{stream.title} ({stream.artist.username}, live on Livestage)')}",
        f"DESCRIPTION:{_text((stream.description or '') + chr(10) + url)}",
        f"URL:{url}",
        "STATUS:CANCELLED" if stream.status == LiveStream.Status.CANCELLED else "STATUS:CONFIRMED",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"

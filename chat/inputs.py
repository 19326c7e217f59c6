"""Chat input described once, with types and limits: what REST bodies, WebSocket frames and admin forms carry."""

# REST views validate bodies with these serializers (the camelCase parser has already renamed the keys)
# and the admin feeds its form values through `input_valid`: both get a DRF ValidationError naming the
# field. The WebSocket consumer reads frames through `frame_input`, which answers with a `bad_request`
# ApplicationError naming the field in camelCase. The rules of the domain (who may moderate, bans,
# slow mode, blocked terms, what a stored message looks like) stay in the services, which trust the
# shapes checked here.

import functools
import uuid
from collections.abc import Mapping

from django.core.validators import ProhibitNullCharactersValidator
from djangorestframework_camel_case.util import camelize
from rest_framework import serializers

from livestream_site.errors import ApplicationError, field_errors

from .models import ChatBan, LiveStreamChat
from .selectors import HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT

CLIENT_MESSAGE_ID_MAX_LENGTH = LiveStreamChat._meta.get_field("client_message_id").max_length
REASON_MAX_LENGTH = ChatBan._meta.get_field("reason").max_length
TIMEOUT_MAX_SECONDS = 14 * 24 * 3600
# The model's check constraint (chat_slow_mode_max) holds the same bound for writes that skip this layer.
SLOW_MODE_MAX_SECONDS = 3600
BLOCKED_TERMS_MAX = 200
BLOCKED_TERM_MAX_LENGTH = 50

# Counters (rebuffers, watch time, dropped frames) are what the player saw since its previous report.
QUALITY_NUMBERS = {
    "bitrate_kbps": (0, 1_000_000),
    "buffering_events": (0, 1_000_000),
    "buffering_ms": (0, 86_400_000),
    "dropped_frames": (0, 10_000_000),
    "latency_ms": (0, 600_000),
    "fps": (0, 240),
    "bandwidth_kbps": (0, 10_000_000),
    "startup_time_ms": (0, 600_000),
    "rebuffer_count": (0, 1_000_000),
    "rebuffer_ms": (0, 86_400_000),
    "watch_ms": (0, 86_400_000),
    "player_width": (0, 16_384),
    "player_height": (0, 16_384),
}
QUALITY_STRINGS = {"quality": 16, "resolution": 16, "player": 64, "rendition": 16, "error": 64}
QUALITY_FLAGS = ("exit_before_video_start",)


class _JsonTyped:
    """A frame is JSON, so its values come typed: there a number must be a number and a string a string.

    REST keeps DRF's coercion, because form posts send every value as text ("5").
    """

    json_types: tuple = ()

    def to_internal_value(self, data):
        if self.context.get("frame") and (isinstance(data, bool) or not isinstance(data, self.json_types)):
            self.fail("invalid")
        return super().to_internal_value(data)


class Integer(_JsonTyped, serializers.IntegerField):
    json_types = (int,)


class Number(_JsonTyped, serializers.FloatField):
    json_types = (int, float)


class Text(_JsonTyped, serializers.CharField):
    json_types = (str,)


class Uuid(_JsonTyped, serializers.UUIDField):
    json_types = (str,)


class Flag(serializers.BooleanField):
    """A JSON boolean in a frame (true/false only); REST forms keep DRF's "true"/"1"."""

    def to_internal_value(self, data):
        if self.context.get("frame") and not isinstance(data, bool):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)


class MessageText(Text):
    """The text of a chat message as typed: the service cleans it (control characters, trimming, length)
    and refuses it with `invalid_message`, so NUL and blanks are let through to it."""

    def __init__(self, **kwargs):
        super().__init__(allow_blank=True, trim_whitespace=False, **kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


# An input of the chat protocol; in a frame, a null value means the field was left out. (No docstring:
# the OpenAPI schema would give it to every REST body as its description.)
class Input(serializers.Serializer):
    null_means_absent = True
    # Set on inputs that refuse keys they do not know (in frames); others ignore them.
    unknown_key_error: str | None = None

    def to_internal_value(self, data):
        if self.context.get("frame") and self.null_means_absent and isinstance(data, Mapping):
            data = {key: value for key, value in data.items() if value is not None}
        return super().to_internal_value(data)


class HistoryQuery(Input):
    before = Integer(required=False, min_value=1)
    limit = Integer(required=False, min_value=1, max_value=HISTORY_MAX_LIMIT, default=HISTORY_DEFAULT_LIMIT)


class StreamRef(Input):
    """The stream a frame is about (a malformed id is the consumer's `not_found`, not a bad frame)."""

    stream_id = Text(trim_whitespace=False)


class ChatMessageInput(Input):
    message = MessageText()
    client_message_id = Text(
        required=False, allow_blank=True, trim_whitespace=False, max_length=CLIENT_MESSAGE_ID_MAX_LENGTH, default=""
    )


class MessageIdInput(Input):
    message_id = Integer()


class UserIdInput(Input):
    user_id = Integer()


class BanInput(Input):
    user_id = Integer()
    duration_seconds = Integer(required=False, allow_null=True, min_value=1, max_value=TIMEOUT_MAX_SECONDS)
    reason = Text(required=False, allow_blank=True, max_length=REASON_MAX_LENGTH, default="")


class SettingsInput(Input):
    slow_mode_seconds = Integer(required=False, min_value=0, max_value=SLOW_MODE_MAX_SECONDS)
    blocked_terms = serializers.ListField(
        child=Text(max_length=BLOCKED_TERM_MAX_LENGTH, trim_whitespace=True),
        required=False,
        max_length=BLOCKED_TERMS_MAX,
    )

    def validate(self, attrs):
        if not attrs:
            # An ApplicationError, not a ValidationError: REST has answered this with `bad_request`.
            raise ApplicationError(
                "Send slowModeSeconds and/or blockedTerms.", fields={"slow_mode_seconds": ["Required."]}
            )
        return attrs


class QualityReportInput(Input):
    """A player's quality report (reportQuality): known metrics only, numbers in range, short strings."""

    null_means_absent = False  # a metric sent as null is a wrong value, not a missing one
    unknown_key_error = "Unknown metric."

    def get_fields(self):
        fields = {
            name: Number(required=False, min_value=low, max_value=high) for name, (low, high) in QUALITY_NUMBERS.items()
        }
        for name, size in QUALITY_STRINGS.items():
            fields[name] = Text(required=False, allow_blank=True, trim_whitespace=False, max_length=size)
        for name in QUALITY_FLAGS:
            fields[name] = Flag(required=False)
        # The viewer session the report belongs to (joinedStream's sessionId); a malformed one is refused.
        fields["session_id"] = Uuid(required=False)
        return fields

    def validate(self, attrs):
        if not any(name != "session_id" for name in attrs):
            raise serializers.ValidationError("reportQuality needs at least one metric.")
        return attrs

    @staticmethod
    def fast_valid(values: Mapping) -> dict | None:
        """What validation gives for a well-formed report (snake_case keys), without DRF's machinery per
        field (about half of a beacon's request); None as soon as a value needs DRF's own check, which
        then validates the report and words any refusal. A test holds the two to the same values."""
        valid = {}
        for name, value in values.items():
            bounds = QUALITY_NUMBERS.get(name)
            if bounds is not None:
                if type(value) not in (int, float) or not bounds[0] <= value <= bounds[1]:
                    return None
                valid[name] = float(value)
            elif name in QUALITY_STRINGS:
                # Short ASCII without NUL: nothing CharField's validators could refuse but the length.
                if (
                    type(value) is not str
                    or len(value) > QUALITY_STRINGS[name]
                    or not value.isascii()
                    or "\x00" in value
                ):
                    return None
                valid[name] = value
            elif name in QUALITY_FLAGS:
                if type(value) is not bool:
                    return None
                valid[name] = value
            elif name == "session_id" and type(value) is str:
                try:
                    valid[name] = uuid.UUID(value)
                except ValueError:
                    return None
            else:
                return None
        return valid if any(name != "session_id" for name in valid) else None


def input_valid(input_class: type[Input], data, *, frame: bool = False) -> dict:
    """The validated values of `data` (snake_case keys), or a DRF ValidationError naming each field."""
    serializer = input_class(data=data, context={"frame": frame})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def frame_input(input_class: type[Input], data: Mapping, *, skip: tuple[str, ...] = ("streamId",)) -> dict:
    """Validate a WebSocket frame's data, whose keys are the input's field names in camelCase.

    A refusal is an ApplicationError `bad_request` naming each field in camelCase, as the error event
    carries it. `skip` names the keys the consumer reads itself (streamId).
    """
    names = _frame_names(input_class)
    try:
        unknown = [key for key in data if key not in names and key not in skip]
        if unknown and input_class.unknown_key_error:
            raise serializers.ValidationError({key: [input_class.unknown_key_error] for key in unknown})
        values = {names[key]: value for key, value in data.items() if key in names}
        valid = _shortcut(input_class, values)
        return valid if valid is not None else input_valid(input_class, values, frame=True)
    except serializers.ValidationError as error:
        raise _frame_refusal(error) from None


def frames_input(input_class: type[Input], items: list[Mapping], *, skip: tuple[str, ...] = ()) -> list[dict]:
    """Validate many frames' data of one input (a beacon's reports) like `frame_input`, with one serializer.

    Building a serializer's fields costs more than checking them, so the fields are built once for all
    items. A refusal is the `bad_request` ApplicationError of the first bad item, with `index` set to it.
    """
    names = _frame_names(input_class)
    serializer = input_class(context={"frame": True})
    values = []
    for index, data in enumerate(items):
        try:
            unknown = [key for key in data if key not in names and key not in skip]
            if unknown and input_class.unknown_key_error:
                raise serializers.ValidationError({key: [input_class.unknown_key_error] for key in unknown})
            named = {names[key]: value for key, value in data.items() if key in names}
            valid = _shortcut(input_class, named)
            values.append(valid if valid is not None else dict(serializer.run_validation(named)))
        except serializers.ValidationError as error:
            refusal = _frame_refusal(error)
            refusal.index = index
            raise refusal from None
    return values


def _shortcut(input_class: type[Input], values: dict) -> dict | None:
    """An input's own validation of well-formed frame data (`fast_valid`), or None: DRF's then."""
    fast = getattr(input_class, "fast_valid", None)
    return fast(values) if fast is not None else None


def _frame_refusal(error: serializers.ValidationError) -> ApplicationError:
    fields = field_errors(error.detail) or {"nonFieldErrors": [str(item) for item in error.detail]}
    name, problems = next(iter(fields.items()))
    while isinstance(problems, dict):  # an item of a list: {"blockedTerms": {0: ["..."]}}
        problems = next(iter(problems.values()))
    message = problems[0] if problems else "Invalid input."
    return ApplicationError(message if name == "nonFieldErrors" else f"{name}: {message}", fields=fields)


@functools.cache
def _frame_names(input_class: type[Input]) -> dict[str, str]:
    """camelCase key -> field name, by the same rule the REST renderer uses (user_id -> userId)."""
    return {next(iter(camelize({name: None}))): name for name in input_class().fields}

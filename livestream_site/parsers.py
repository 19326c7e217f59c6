"""The API's JSON parser: camelCase bodies to snake_case, with limits on what a hostile body may do."""

import json

from django.conf import settings
from djangorestframework_camel_case.parser import CamelCaseJSONParser
from djangorestframework_camel_case.settings import api_settings
from djangorestframework_camel_case.util import underscoreize
from rest_framework.exceptions import ParseError

# Deeper than any body of this API needs; deep enough nesting would exhaust the recursion of the
# camelCase conversion (a 500 with thousands of log lines, audit F4).
MAX_JSON_DEPTH = 32


def _too_deep(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def json_loads(text: str):
    """json.loads with the platform's limits, for API bodies and WebSocket frames alike: NaN/Infinity
    and nesting deeper than MAX_JSON_DEPTH raise ValueError, never RecursionError."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    if _too_deep(data, MAX_JSON_DEPTH):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return data


class JSONParser(CamelCaseJSONParser):
    """JSON bodies, camelCase to snake_case; nesting deeper than MAX_JSON_DEPTH and NaN/Infinity (which
    are not JSON, and would be stored as "nan") are a 400 `invalid_json`, never a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json_loads(stream.read().decode(encoding))
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return underscoreize(data, **api_settings.JSON_UNDERSCOREIZE)

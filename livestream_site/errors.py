"""One JSON shape for every API error: {"error": {"code", "message", "fields"}}."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from djangorestframework_camel_case.util import camelize
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business rule refused the request. Services raise it; the API and WebSocket translate it."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None, fields=None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.fields = fields or {}


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "forbidden"


_DEFAULT_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "throttled",
}


def field_errors(detail) -> dict:
    """Flatten DRF's nested error detail into {"field": ["message"]}, camelCased like the request."""
    if isinstance(detail, dict):
        return camelize({key: _messages(value) for key, value in detail.items()})
    return {}


def _messages(value):
    if isinstance(value, dict):
        return {key: _messages(inner) for key, inner in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            return [_messages(item) for item in value]
        return [str(item) for item in value]
    return [str(value)]


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        response = Response(error_body(exc.code, exc.message, camelize(exc.fields)), status=exc.status_code)
        if getattr(exc, "retry_after", None):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    if isinstance(exc, exceptions.ValidationError):
        fields = field_errors(exc.detail)
        if isinstance(exc.detail, dict) and "non_field_errors" in exc.detail:
            message = str(exc.detail["non_field_errors"][0])
        elif fields:
            first = next(iter(fields))
            message = f"Invalid input: {first}"
        elif isinstance(exc.detail, list) and exc.detail:
            message = str(exc.detail[0])
        else:
            message = "Invalid input."
        response.data = error_body("validation_error", message, fields)
        return response

    code = _DEFAULT_CODES.get(response.status_code, "error")
    detail = getattr(exc, "detail", "")
    if hasattr(detail, "code") and detail.code not in (None, "invalid", "error"):
        code = {"parse_error": "invalid_json", "permission_denied": "forbidden"}.get(detail.code, detail.code)
    response.data = error_body(code, str(detail) or "Error.")
    return response

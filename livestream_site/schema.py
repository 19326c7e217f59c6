"""The OpenAPI schema's building blocks: the one error shape, and the errors each operation documents."""

from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import permissions, serializers


class ErrorBody(serializers.Serializer):
    code = serializers.CharField(help_text="What went wrong, for programs: not_found, validation_error, ...")
    message = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(required=False, help_text="The fields at fault (camelCase) and their problems.")


@extend_schema_serializer(component_name="Error")
class ErrorOutput(serializers.Serializer):
    """Every error of the API (livestream_site.errors.error_body)."""

    error = ErrorBody()


ERROR_DESCRIPTIONS = {
    400: "Invalid input: `error.fields` names the fields at fault.",
    401: "No token, or a token that is not valid.",
    402: "A ticket is needed (pay-per-view).",
    403: "Signed in, but not allowed.",
    404: "No such stream (or object), or not visible to the caller.",
    409: "Not in this state (the stream's lifecycle, a ticket already held, ...).",
    415: "The body is not JSON, a form or multipart.",
    429: "Too many attempts: retry after `Retry-After` seconds.",
    502: "The payment provider failed.",
    503: "Payments are not configured on this server.",
}


def error_responses(*codes: int) -> dict:
    """`responses` entries of @extend_schema for errors only some views answer (402, 409, 429, ...)."""
    return {code: OpenApiResponse(ErrorOutput, description=ERROR_DESCRIPTIONS[code]) for code in codes}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, with the errors every operation can answer documented in the one error shape:
    400 for input (a body or query parameters), 401 where a token is read, 403 where permissions or CSRF apply,
    404 for paths naming an object, 415 for bodies. Errors of one view only come from its @extend_schema."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in sorted(self._error_statuses()):
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(error_responses(code)[code], str(code))
        return responses

    def _error_statuses(self) -> set[int]:
        view, codes = self.view, set()
        has_body = False
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            # For a DELETE without a declared body drf-spectacular reports its guess as an error: forget it.
            errors = GENERATOR_STATS._error_cache.copy()
            with GENERATOR_STATS.silence():
                has_body = self.get_request_serializer() is not None
            GENERATOR_STATS._error_cache = errors
        if self.method != "GET" or any(p["in"] == "query" for p in self._get_parameters()):
            codes.add(400)
        if getattr(view, "authentication_classes", None):
            codes.add(401)
        open_classes = (permissions.AllowAny, permissions.IsAuthenticatedOrReadOnly)
        guarded = any(not issubclass(p, open_classes) for p in getattr(view, "permission_classes", []))
        if guarded or self.method not in permissions.SAFE_METHODS:
            codes.add(403)
        if "{" in self.path or (self.method == "GET" and self._is_list_view() and self._get_paginator()):
            codes.add(404)  # an object not found, or a page past the end
        if has_body:
            codes.add(415)
        return codes

"""Output serializers that write their plain fields without DRF's per-field machinery.

DRF's `Serializer.to_representation` calls `get_attribute` and `to_representation` on a field object
for every field of every row: a page of 50 streams is 1,200 pairs of calls, most of which hand back the
model's value as it is, and every date-time asks for the current time zone again. `FastOutput` sorts a
serializer's readable fields once per serializer instance (a list's child serves every row): a field of
DRF's own plain kinds with a one-step source (strings, integers, booleans, choices, JSON, UUIDs, ISO
date-times) is read with one `getattr`; every other field (nested serializers, method fields, decimals,
dotted sources, subclasses) goes through DRF as before. The output is DRF's, value for value
(livestream_site/tests/test_serializers.py compares the two).
"""

from enum import Enum

from django.conf import settings
from django.utils import timezone
from rest_framework import fields
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

# How a field's value is written: as it is when it has the type DRF would give it, else through DRF.
_AS_IS = {fields.CharField: str, fields.IntegerField: int, fields.BooleanField: bool}
_DRF, _PLAIN, _CHOICE, _JSON, _UUID, _DATETIME = range(6)


def _kind(field) -> int:
    kind = type(field)
    if field.source == "*" or len(field.source_attrs) != 1:
        return _DRF
    if kind in _AS_IS:
        return _PLAIN
    if kind is fields.ChoiceField:
        return _CHOICE
    if kind is fields.JSONField and not field.binary:
        return _JSON
    if kind is fields.UUIDField and field.uuid_format == "hex_verbose":
        return _UUID
    if (
        kind is fields.DateTimeField
        and getattr(field, "format", api_settings.DATETIME_FORMAT).lower() == fields.ISO_8601
        and not hasattr(field, "timezone")
        and settings.USE_TZ
    ):
        return _DATETIME
    return _DRF


class FastOutput:
    """Mix into a read-only (output) serializer before DRF's class: the same representation, cheaper."""

    def _fast_plan(self) -> list[tuple]:
        plan = self.__dict__.get("_fast_plan_cache")
        if plan is None:
            plan = self._fast_plan_cache = [
                (
                    field.field_name,
                    field.source_attrs[0] if kind != _DRF else None,
                    kind,
                    field,
                    _AS_IS.get(type(field)),
                )
                for field in self._readable_fields
                for kind in [_kind(field)]
            ]
        return plan

    def to_representation(self, instance):
        ret = {}
        zone = None
        for name, attribute_name, kind, field, plain_type in self._fast_plan():
            if kind == _DRF:
                try:
                    attribute = field.get_attribute(instance)
                except SkipField:
                    continue
                check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
                ret[name] = None if check_for_none is None else field.to_representation(attribute)
                continue
            value = getattr(instance, attribute_name)
            if value is None or kind == _JSON:
                ret[name] = value
            elif kind == _PLAIN:
                ret[name] = value if type(value) is plain_type else field.to_representation(value)
            elif kind == _CHOICE:
                if isinstance(value, Enum) and str(value) != str(value.value):
                    value = value.value
                ret[name] = value if value == "" else field.choice_strings_to_values.get(str(value), value)
            elif kind == _UUID:
                ret[name] = str(value)
            elif not value or isinstance(value, str) or not timezone.is_aware(value):  # _DATETIME, unusual values
                ret[name] = field.to_representation(value)
            else:
                if zone is None:
                    zone = timezone.get_current_timezone()
                text = value.astimezone(zone).isoformat()
                ret[name] = text[:-6] + "Z" if text.endswith("+00:00") else text
        return ret

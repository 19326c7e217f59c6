"""Query filters of the stream list: camelCase names, and a 400 for values it does not know."""

from datetime import UTC

import django_filters
from django import forms
from django.db.models import Q
from django_filters.fields import IsoDateTimeField

from .models import LiveStream


class StrictBooleanField(forms.NullBooleanField):
    """true/false (or 1/0); anything else is an error, where Django's NullBooleanField would ignore the filter."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        lowered = str(value).lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise forms.ValidationError("Must be true or false.", code="invalid")


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time that must also exist in UTC (SQLite stores UTC; 9999-12-31T23:59-05:00 does not)."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is not None and parsed.tzinfo is not None:
            try:
                # In UTC: PostgreSQL refuses offsets beyond ±15:59 (+17:30 was a DataError 500).
                parsed = parsed.astimezone(UTC)
            except OverflowError:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        return parsed


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class LiveStreamFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=LiveStream.Status.choices)
    type = django_filters.ChoiceFilter(choices=LiveStream.Type.choices)
    # A whole number within a bigint: 1.5 or 99999999999999999999 is an error, not an empty page (or a 500).
    artistId = IntegerFilter(field_name="artist_id", min_value=1, max_value=2**63 - 1)
    isPayPerView = StrictBooleanFilter(field_name="is_pay_per_view")
    scheduledAfter = UTCIsoDateTimeFilter(field_name="scheduled_start_time", lookup_expr="gte")
    scheduledBefore = UTCIsoDateTimeFilter(field_name="scheduled_start_time", lookup_expr="lte")
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    ordering = django_filters.OrderingFilter(
        fields=(
            ("scheduled_start_time", "scheduledStartTime"),
            ("created_at", "createdAt"),
            ("started_at", "startedAt"),
            ("title", "title"),
            ("ticket_price", "ticketPrice"),
            ("status", "status"),
            ("peak_viewers", "peakViewers"),
        )
    )

    class Meta:
        model = LiveStream
        fields: list[str] = []

    @property
    def qs(self):
        """Always in one definite order, whatever `ordering` asked (`ordering=,` cleared the default): the
        order asked, else the catalogue's, then the id, so pages never overlap or skip a stream."""
        queryset = super().qs
        return queryset.order_by(*(queryset.query.order_by or LiveStream._meta.ordering), "id")

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value))

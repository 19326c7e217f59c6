"""Query filters of the stream list: camelCase names, and a 400 for values it does not know."""

import django_filters
from django.db.models import Q

from .models import LiveStream


class LiveStreamFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=LiveStream.Status.choices)
    type = django_filters.ChoiceFilter(choices=LiveStream.Type.choices)
    artistId = django_filters.NumberFilter(field_name="artist_id")
    isPayPerView = django_filters.BooleanFilter(field_name="is_pay_per_view")
    scheduledAfter = django_filters.IsoDateTimeFilter(field_name="scheduled_start_time", lookup_expr="gte")
    scheduledBefore = django_filters.IsoDateTimeFilter(field_name="scheduled_start_time", lookup_expr="lte")
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

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value))

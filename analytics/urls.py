"""Routes of analytics: its REST API (mounted under /api/ by the root URL conf); no pages of its own."""

from django.urls import re_path

from . import api, reports_api

_STREAM = r"^livestreams/(?P<pk>[^/]+)"

# --- The playback beacon (analytics/api.py) ----------------------------------------------------------
beacon_urlpatterns = [
    re_path(
        r"^livestreams/(?P<stream_id>[^/]+)/quality-reports/?$",
        api.QualityReportsView.as_view(),
        name="quality-reports",
    ),
]

# --- Analytics reports: a stream's audience, an artist's summary (analytics/reports_api.py) ---------
reports_urlpatterns = [
    re_path(_STREAM + r"/analytics/?$", reports_api.StreamAnalyticsView.as_view(), name="livestream-analytics"),
    re_path(
        _STREAM + r"/analytics\.csv$", reports_api.StreamAnalyticsCsvView.as_view(), name="livestream-analytics-csv"
    ),
    re_path(r"^analytics/summary/?$", reports_api.ArtistAnalyticsSummaryView.as_view(), name="analytics-summary"),
]

api_urlpatterns = [*beacon_urlpatterns, *reports_urlpatterns]
urlpatterns: list = []

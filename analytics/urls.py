"""Routes of analytics: the playback beacon (mounted under /api/ by the root URL conf); no pages."""

from django.urls import re_path

from . import api

api_urlpatterns = [
    re_path(
        r"^livestreams/(?P<stream_id>[^/]+)/quality-reports/?$",
        api.QualityReportsView.as_view(),
        name="quality-reports",
    ),
]
urlpatterns: list = []

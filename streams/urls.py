"""Routes of streams: the live stream API (mounted under /api/ by the root URL conf) and the pages."""

from django.urls import path

from livestream_site.api import OptionalSlashRouter

from . import api, views

router = OptionalSlashRouter()
router.register("livestreams", api.LiveStreamViewSet, basename="livestream")

api_urlpatterns = router.urls
urlpatterns = [
    path("", views.stream_list_page, name="stream-list"),
    path("streams/live-counts.json", views.live_counts, name="stream-live-counts"),
    path("streams/<str:stream_id>/", views.stream_page, name="stream-page"),
    path("streams/<str:stream_id>/calendar.ics", views.stream_calendar, name="stream-calendar"),
    path("streams/<str:stream_id>/live.jpg", views.stream_live_picture, name="stream-live-picture"),
    path("dashboard/", views.dashboard_page, name="dashboard"),
    path("artists/<str:ref>/", views.artist_page, name="artist-page"),
]

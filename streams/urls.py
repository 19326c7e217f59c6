"""Routes of streams: the live stream API (mounted under /api/ by the root URL conf), the pages and the studio."""

from django.urls import path

from livestream_site.api import OptionalSlashRouter

from . import api, studio, views

router = OptionalSlashRouter()
router.register("livestreams", api.LiveStreamViewSet, basename="livestream")

api_urlpatterns = router.urls
urlpatterns = [
    path("", views.stream_list_page, name="stream-list"),
    path("streams/live-counts.json", views.live_counts, name="stream-live-counts"),
    path("streams/<str:stream_id>/", views.stream_page, name="stream-page"),
    path("streams/<str:stream_id>/calendar.ics", views.stream_calendar, name="stream-calendar"),
    path("streams/<str:stream_id>/live.jpg", views.stream_live_picture, name="stream-live-picture"),
    path("artists/<str:ref>/", views.artist_page, name="artist-page"),
    path("dashboard/", studio.dashboard_redirect, name="dashboard"),
    path("studio/", studio.studio_shows, name="studio"),
    path("studio/new/", studio.studio_show_new, name="studio-new"),
    path("studio/revenue/", studio.studio_revenue, name="studio-revenue"),
    path("studio/revenue.csv", studio.studio_revenue_csv, name="studio-revenue-csv"),
    path("studio/<str:stream_id>/", studio.studio_control_room, name="studio-room"),
    path("studio/<str:stream_id>/edit/", studio.studio_show_edit, name="studio-edit"),
    path("studio/<str:stream_id>/analytics/", studio.studio_analytics, name="studio-analytics"),
]

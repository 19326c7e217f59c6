"""Routes of the self-hosted media server outside the REST API: nginx's callbacks and master playlists."""

from django.urls import path

from . import views

urlpatterns = [
    path("media-callbacks/<str:secret>/publish", views.on_publish, name="media-on-publish"),
    path("media-callbacks/<str:secret>/publish-done", views.on_publish_done, name="media-on-publish-done"),
    path("media-callbacks/<str:secret>/record-done", views.on_record_done, name="media-on-record-done"),
    path("media-callbacks/<str:secret>/plan", views.ladder_plan, name="media-ladder-plan"),
    path("playback/<str:token>/master.m3u8", views.master_playlist, name="media-master-playlist"),
]

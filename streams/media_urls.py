"""Routes of the media plane outside the REST API: nginx's callbacks and the master playlists."""

from django.urls import path

from . import ingest, playback

urlpatterns = [
    path("media-callbacks/<str:secret>/publish", ingest.on_publish, name="media-on-publish"),
    path("media-callbacks/<str:secret>/publish-done", ingest.on_publish_done, name="media-on-publish-done"),
    path("media-callbacks/<str:secret>/record-done", ingest.on_record_done, name="media-on-record-done"),
    path("media-callbacks/<str:secret>/plan", ingest.ladder_plan, name="media-ladder-plan"),
    path("playback/<str:token>/master.m3u8", playback.master_playlist, name="media-master-playlist"),
]

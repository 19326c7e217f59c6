"""The artist's studio, server-rendered: My shows, the show form (create, edit, duplicate), the control room
(encoder setup, preview, go live and end, health, viewers, chat moderation) and a show's analytics.

Thin pages: they read through the selectors of streams, the media plane and payments; every write is a call
of the REST API from the page's script, so the form's errors are the API's own, field by field, and there is
one path for each write. The stream key is never in a page: the control room asks /ingest when revealed."""

import csv

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from livestream_site.errors import Forbidden, NotFound
from payments.selectors import artist_revenue, stream_revenue, streams_revenue_totals, streams_ticket_counts

from .media.backends import get_backend
from .media.selectors import encoder_recommendation
from .models import AUDIO_CODECS, DEFAULT_STREAM_SETTINGS, VIDEO_CODECS, LiveStream
from .selectors import stream_manage_access
from .services import SCHEDULE_FIELDS

S = LiveStream.Status


def _for_artists(request):
    """A fan (or anyone who may not host) is told what the studio is, rather than shown a bare 403."""
    context = {"artist_signup": getattr(settings, "ALLOW_ARTIST_SIGNUP", False)}
    return render(request, "studio/for_artists.html", context, status=403)


def _managed_stream(request, stream_id) -> LiveStream:
    """The stream if the signed-in user is its artist or staff; 404 for no such stream, 403 otherwise."""
    try:
        return stream_manage_access(user=request.user, stream_id=stream_id)
    except NotFound:
        raise Http404("No such stream") from None


def _may_host(view):
    @login_required
    def wrapped(request, *args, **kwargs):
        if not request.user.can_host:
            return _for_artists(request)
        try:
            return view(request, *args, **kwargs)
        except Forbidden:
            return render(request, "studio/not_yours.html", status=403)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def dashboard_redirect(request):
    """/dashboard/ was the studio's first address: bookmarks keep working."""
    return redirect("studio", permanent=True)


@_may_host
def studio_shows(request):
    """My shows: live, upcoming and past, each with its figures and what can be done with it. 5 queries
    (session, user, the shows, ticket sales, payment counts), whatever the number of shows."""
    shows = list(LiveStream.objects.filter(artist=request.user).order_by("-scheduled_start_time"))
    ids = [show.id for show in shows]
    revenue = streams_revenue_totals(stream_ids=ids)
    tickets = streams_ticket_counts(stream_ids=ids)
    for show in shows:
        sales = revenue.get(show.id, {})
        counts = tickets.get(show.id, {})
        show.tickets_sold = sales.get("tickets_sold", 0)
        show.net_revenue = sales.get("net")
        show.refundable = counts.get("refundable", 0)
        # What the API allows: DELETE refuses a live show and one with any payment on record (cancel it).
        show.deletable = show.status != S.LIVE and not counts.get("payments")
    context = {
        "live": [s for s in shows if s.status == S.LIVE],
        "upcoming": sorted((s for s in shows if s.status == S.SCHEDULED), key=lambda s: s.scheduled_start_time),
        "past": [s for s in shows if s.status in (S.ENDED, S.CANCELLED)],
    }
    return render(request, "studio/shows.html", context)


@_may_host
def studio_revenue(request):
    """Revenue across the artist's shows: totals per currency, net by day (a chart), each show's tickets
    and net. Each show's own days are on its analytics page."""
    shows = list(LiveStream.objects.filter(artist=request.user, is_pay_per_view=True).order_by("-scheduled_start_time"))
    totals = streams_revenue_totals(stream_ids=[show.id for show in shows])
    for show in shows:
        sales = totals.get(show.id, {})
        show.tickets_sold = sales.get("tickets_sold", 0)
        show.net_revenue = sales.get("net")
    report = artist_revenue(artist=request.user)
    context = {"report": report, "shows": shows, "page_data": {"currencies": report["currencies"]}}
    return render(request, "studio/revenue.html", context)


@_may_host
def studio_revenue_csv(request):
    """Revenue by day, one row per day and currency (a spreadsheet's input): across the artist's shows, or
    of one show with `?show=<id>` (its artist and staff only)."""
    show_id = request.GET.get("show")
    if show_id:
        stream = _managed_stream(request, show_id)
        report = stream_revenue(stream=stream)
        summaries = [report, *report["other_currencies"]]
        name = f"livestage-revenue-{stream.id}.csv"
    else:
        summaries = artist_revenue(artist=request.user)["currencies"]
        name = "livestage-revenue.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(["date", "currency", "tickets_sold", "gross", "refunds", "net"])
    for summary in summaries:
        for day in summary["by_day"]:
            writer.writerow(
                [day["date"], summary["currency"], day["tickets_sold"], day["gross"], day["refunds"], day["net"]]
            )
    return response


def _form_values(stream: LiveStream | None) -> dict:
    """The form's initial values, named as the API names them (camelCase)."""
    if stream is None:
        return {
            "title": "",
            "description": "",
            "type": LiveStream.Type.CONCERT,
            "scheduledStartTime": None,
            "maxViewers": None,
            "ticketPrice": "",
            "currency": settings.DEFAULT_CURRENCY,
            "isPayPerView": False,
            "isChatEnabled": True,
            "isRecordingEnabled": True,
            "goLiveOnPublish": True,
            "maxQuality": LiveStream.Quality.HIGH,
            "streamSettings": _camel_settings(DEFAULT_STREAM_SETTINGS),
        }
    return {
        "title": stream.title,
        "description": stream.description,
        "type": stream.type,
        "scheduledStartTime": stream.scheduled_start_time.isoformat(),
        "maxViewers": stream.max_viewers,
        "ticketPrice": str(stream.ticket_price) if stream.ticket_price else "",
        "currency": stream.currency,
        "isPayPerView": stream.is_pay_per_view,
        "isChatEnabled": stream.is_chat_enabled,
        "isRecordingEnabled": stream.is_recording_enabled,
        "goLiveOnPublish": stream.go_live_on_publish,
        "maxQuality": stream.max_quality,
        "streamSettings": _camel_settings({**DEFAULT_STREAM_SETTINGS, **(stream.stream_settings or {})}),
    }


def _camel(name: str) -> str:
    """A field's name as the API spells it: scheduled_start_time -> scheduledStartTime."""
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


def _camel_settings(values: dict) -> dict:
    return {_camel(key): value for key, value in values.items()}


def _form_page(request, *, stream: LiveStream | None, values: dict, mode: str):
    started = mode == "edit" and stream.status != S.SCHEDULED  # a duplicate is a new show: nothing is fixed
    frozen = sorted(_camel(name) for name in SCHEDULE_FIELDS) if started else []
    context = {
        "stream": stream,
        "mode": mode,
        "types": LiveStream.Type.choices,
        "qualities": LiveStream.Quality.choices,
        "audio_codecs": AUDIO_CODECS,
        "video_codecs": VIDEO_CODECS,
        "page_data": {
            "mode": mode,
            "streamId": str(stream.id) if stream and mode == "edit" else None,
            "values": values,
            "frozen": frozen,
        },
        "frozen": frozen,
    }
    return render(request, "studio/show_form.html", context)


@_may_host
def studio_show_new(request):
    """A new show; `?from=<id>` duplicates one of the artist's shows (everything but its start time)."""
    source_id = request.GET.get("from")
    if source_id:
        source = _managed_stream(request, source_id)
        values = {**_form_values(source), "scheduledStartTime": None}
        return _form_page(request, stream=source, values=values, mode="duplicate")
    return _form_page(request, stream=None, values=_form_values(None), mode="new")


@_may_host
def studio_show_edit(request, stream_id):
    stream = _managed_stream(request, stream_id)
    return _form_page(request, stream=stream, values=_form_values(stream), mode="edit")


@_may_host
def studio_control_room(request, stream_id):
    """Encoder setup before the show, the live control room during it; the analytics link after."""
    stream = _managed_stream(request, stream_id)
    ingest = get_backend().ingest_info(stream=stream)
    sales = streams_revenue_totals(stream_ids=[stream.id]).get(stream.id, {})
    context = {
        "stream": stream,
        # The server's address only: the key stays out of the page until the artist reveals it.
        "ingest_url": ingest.get("url", ""),
        "backend": get_backend().name,
        "encoder": encoder_recommendation(stream=stream),
        "qualities": LiveStream.Quality.choices,
        "tickets_sold": sales.get("tickets_sold", 0),
        "page_data": {
            "streamId": str(stream.id),
            "status": stream.status,
            "isPayPerView": stream.is_pay_per_view,
            "maxQuality": stream.max_quality,
            "qualityCap": stream.quality_cap or None,
            "qualityCapAutomatic": stream.quality_cap_automatic,
            "startedAt": stream.started_at.isoformat() if stream.started_at else None,
        },
    }
    return render(request, "studio/control_room.html", context)


@_may_host
def studio_analytics(request, stream_id):
    """A show's audience, chat and quality of experience, drawn from the analytics API by the page's script."""
    stream = _managed_stream(request, stream_id)
    context = {"stream": stream, "page_data": {"streamId": str(stream.id), "status": stream.status}}
    return render(request, "studio/analytics.html", context)

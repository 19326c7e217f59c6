"""Server-rendered pages of tickets: the price confirmation and checkout, My tickets, a receipt."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from livestream_site.errors import ApplicationError
from streams.selectors import stream_get

from . import services
from .models import LiveStreamPayment
from .selectors import stream_viewer_access, user_tickets


@login_required
@require_http_methods(["GET", "POST"])
def ticket_buy_page(request, stream_id):
    """GET: what the ticket is and costs, with one button. POST: to Stripe's checkout (or, with the
    development checkout, straight to the receipt)."""
    try:
        stream = stream_get(stream_id=stream_id)
    except ApplicationError:
        raise Http404("No such stream") from None
    access = stream_viewer_access(user=request.user, stream=stream)
    error = None
    if request.method == "POST" and not access.has_access:
        stream_url = request.build_absolute_uri(reverse("stream-page", kwargs={"stream_id": stream.id}))
        try:
            payment, checkout_url = services.ticket_checkout(
                stream_id=stream.id,
                user=request.user,
                # Stripe fills {CHECKOUT_SESSION_ID}; the receipt waits for Stripe's webhook, not this.
                success_url=request.build_absolute_uri(reverse("tickets")) + "?checkout={CHECKOUT_SESSION_ID}",
                cancel_url=stream_url,
            )
        except ApplicationError as refusal:
            error = refusal.message
        else:
            return redirect(checkout_url or reverse("ticket-receipt", kwargs={"payment_id": payment.id}))
    context = {"stream": stream, "access": access, "error": error}
    return render(request, "payments/buy.html", context, status=400 if error else 200)


@login_required
def tickets_page(request):
    """My tickets: upcoming shows (with a countdown), then past ones (with their replay), refunds shown."""
    tickets = user_tickets(user=request.user)
    context = {
        "upcoming": [t for t in tickets if t.stream.status in ("scheduled", "live")],
        "past": [t for t in tickets if t.stream.status not in ("scheduled", "live")],
        "returning_from_checkout": "checkout" in request.GET,
    }
    return render(request, "payments/tickets.html", context)


@login_required
def ticket_receipt_page(request, payment_id):
    queryset = LiveStreamPayment.objects.select_related("stream", "stream__artist")
    if not request.user.is_staff:
        queryset = queryset.filter(user=request.user)
    try:
        payment = queryset.filter(pk=payment_id).first()
    except (ValueError, ApplicationError):
        payment = None
    if payment is None:
        raise Http404("No such ticket")
    return render(request, "payments/receipt.html", {"payment": payment, "stream": payment.stream})

"""REST API of tickets: access, buying, confirming, revenue, and the Stripe webhook endpoint."""

import logging

import stripe
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from livestream_site import metrics
from livestream_site.errors import error_body
from livestream_site.schema import error_responses
from streams.selectors import stream_get, stream_manage_access

from . import services
from .selectors import stream_revenue, stream_viewer_access

logger = logging.getLogger(__name__)


class AccessOutput(serializers.Serializer):
    has_access = serializers.BooleanField()
    reason = serializers.CharField()


class StreamAccessView(APIView):
    """GET /api/livestreams/{id}/access: may the caller watch this stream, and why (or why not)."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=AccessOutput)
    def get(self, request, pk):
        access = stream_viewer_access(user=request.user, stream=stream_get(stream_id=pk))
        return Response({"has_access": access.has_access, "reason": access.reason})


class CheckoutOutput(serializers.Serializer):
    payment_id = serializers.UUIDField()
    payment_intent_id = serializers.CharField()
    client_secret = serializers.CharField()
    publishable_key = serializers.CharField()
    amount = serializers.IntegerField(help_text="In the currency's smallest unit (cents; yen for jpy).")
    currency = serializers.CharField()
    status = serializers.CharField()
    hold_expires_at = serializers.DateTimeField()
    dev_checkout = serializers.BooleanField()


class StreamPaymentView(APIView):
    """POST /api/livestreams/{id}/payment: hold a seat and get a PaymentIntent to pay for the ticket."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={201: CheckoutOutput, **error_responses(409, 502, 503)})
    def post(self, request, pk):
        checkout = services.ticket_purchase(stream_id=pk, user=request.user)
        payment = checkout.payment
        body = {
            "payment_id": str(payment.id),
            "payment_intent_id": checkout.intent_id,
            "client_secret": checkout.client_secret,
            "publishable_key": checkout.publishable_key,
            "amount": checkout.amount_minor,
            "currency": checkout.currency,
            "status": payment.status,
            "hold_expires_at": payment.hold_expires_at,
            "dev_checkout": checkout.dev_checkout,
        }
        return Response(CheckoutOutput(body).data, status=status.HTTP_201_CREATED)


class RevenueDayOutput(serializers.Serializer):
    date = serializers.DateField()
    tickets_sold = serializers.IntegerField()
    gross = serializers.DecimalField(max_digits=14, decimal_places=3)
    refunds = serializers.DecimalField(max_digits=14, decimal_places=3)
    net = serializers.DecimalField(max_digits=14, decimal_places=3)


class RevenueTotalsOutput(serializers.Serializer):
    currency = serializers.CharField()
    tickets_sold = serializers.IntegerField()
    tickets_refunded = serializers.IntegerField()
    gross = serializers.DecimalField(max_digits=14, decimal_places=3)
    refunds = serializers.DecimalField(max_digits=14, decimal_places=3)
    net = serializers.DecimalField(max_digits=14, decimal_places=3)
    platform_fee = serializers.DecimalField(max_digits=14, decimal_places=3)
    artist_payout = serializers.DecimalField(max_digits=14, decimal_places=3)
    by_day = RevenueDayOutput(many=True)


class RevenueOutput(RevenueTotalsOutput):
    stream_id = serializers.UUIDField()
    platform_fee_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    other_currencies = RevenueTotalsOutput(many=True)


class StreamRevenueView(APIView):
    """GET /api/livestreams/{id}/revenue: the stream's artist and staff only. Money as decimal strings."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=RevenueOutput)
    def get(self, request, pk):
        stream = stream_manage_access(user=request.user, stream_id=pk)
        return Response(stream_revenue(stream=stream))


class ConfirmInput(serializers.Serializer):
    payment_intent_id = serializers.CharField(max_length=255)


class PaymentOutput(serializers.Serializer):
    payment_id = serializers.UUIDField(source="id")
    stream_id = serializers.UUIDField()
    payment_intent_id = serializers.CharField(source="stripe_payment_intent_id")
    status = serializers.CharField()
    amount = serializers.DecimalField(max_digits=10, decimal_places=2)
    refunded_amount = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField()
    paid_at = serializers.DateTimeField()


class PaymentConfirmView(APIView):
    """POST /api/payments/confirm {paymentIntentId}: apply the PaymentIntent's real status from Stripe."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=ConfirmInput, responses={200: PaymentOutput, **error_responses(404, 409, 502, 503)})
    def post(self, request):
        serializer = ConfirmInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment = services.payment_confirm(user=request.user, intent_id=serializer.validated_data["payment_intent_id"])
        data = dict(PaymentOutput(payment).data)
        data["has_access"] = stream_viewer_access(user=request.user, stream=payment.stream).has_access
        return Response(data)


@csrf_exempt
def stripe_webhook(request):
    """POST /api/payments/webhook: Stripe's events, verified by signature (no session, no CSRF token)."""
    if request.method != "POST":
        response = JsonResponse(error_body("method_not_allowed", "Only POST is allowed."), status=405)
        response["Allow"] = "POST"
        return response
    signature = request.META.get("HTTP_STRIPE_SIGNATURE")
    if not signature:
        return JsonResponse(error_body("missing_signature", "The Stripe-Signature header is missing."), status=400)
    if not settings.STRIPE_WEBHOOK_SECRET:
        logger.error("a Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set")
        return JsonResponse(error_body("webhook_not_configured", "Webhooks are not configured."), status=400)
    try:
        event = stripe.Webhook.construct_event(
            request.body, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE
        )
    except stripe.SignatureVerificationError as exc:
        logger.warning("Stripe webhook with a bad signature refused: %s", exc)
        metrics.WEBHOOK_EVENTS.labels("bad_signature").inc()
        return JsonResponse(error_body("bad_signature", "The Stripe signature does not verify."), status=400)
    except (ValueError, KeyError, IndexError) as exc:
        return JsonResponse(error_body("invalid_payload", f"Not a Stripe event: {exc}"), status=400)
    event = event.to_dict()
    try:
        outcome = services.webhook_event_process(event=event)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        logger.warning("Stripe event %s is missing fields: %s", event.get("id"), exc)
        metrics.WEBHOOK_EVENTS.labels("invalid_event").inc()
        return JsonResponse(error_body("invalid_event", "The event lacks a field this endpoint needs."), status=400)
    metrics.WEBHOOK_EVENTS.labels(outcome).inc()
    return JsonResponse({"received": True, "outcome": outcome})

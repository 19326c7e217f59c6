"""Routes of payments: its REST API and the Stripe webhook (mounted under /api/ by the root URL conf), and
the ticket pages (at /)."""

from django.urls import path, re_path

from . import api, views

_STREAM = r"^livestreams/(?P<pk>[^/]+)"

api_urlpatterns = [
    re_path(_STREAM + r"/access/?$", api.StreamAccessView.as_view(), name="livestream-access"),
    re_path(_STREAM + r"/payment/?$", api.StreamPaymentView.as_view(), name="livestream-payment"),
    re_path(_STREAM + r"/revenue/?$", api.StreamRevenueView.as_view(), name="livestream-revenue"),
    re_path(r"^payments/confirm/?$", api.PaymentConfirmView.as_view(), name="payments-confirm"),
    re_path(r"^payments/webhook/?$", api.stripe_webhook, name="payments-webhook"),
]
urlpatterns = [
    path("streams/<str:stream_id>/buy/", views.ticket_buy_page, name="ticket-buy"),
    path("tickets/", views.tickets_page, name="tickets"),
    path("tickets/<uuid:payment_id>/", views.ticket_receipt_page, name="ticket-receipt"),
]

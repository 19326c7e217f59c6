"""The payments app: its configuration wires the signals it listens to."""

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        # Connected here, once the apps are loaded: streams announces a cancellation without knowing
        # payments, and the payment services announce a refund due without importing their tasks.
        from streams.signals import stream_cancelled, stream_delete_requested

        from . import receivers
        from .signals import payment_paid, payment_unseated

        stream_cancelled.connect(
            receivers.stream_cancelled_tickets_refund, dispatch_uid="payments.stream_cancelled_tickets_refund"
        )
        stream_delete_requested.connect(
            receivers.stream_delete_refuse_with_tickets, dispatch_uid="payments.stream_delete_refuse_with_tickets"
        )
        payment_unseated.connect(receivers.payment_unseated_refund, dispatch_uid="payments.payment_unseated_refund")
        payment_paid.connect(receivers.payment_paid_receipt, dispatch_uid="payments.payment_paid_receipt")
        # The media plane checks a playback token's viewer again with the one access check.
        from streams.media.selectors import playback_access_hook_set

        from .selectors import stream_user_may_watch

        playback_access_hook_set(stream_user_may_watch)

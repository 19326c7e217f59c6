"""Signals of the stream lifecycle, so that higher apps react to it without streams importing them."""

from django.dispatch import Signal

# A stream was cancelled; sent once the cancellation is committed, with `stream_id`. Payments listens
# (its tickets are refunded). Sent robustly: a failing receiver is logged and stops no other receiver.
stream_cancelled = Signal()

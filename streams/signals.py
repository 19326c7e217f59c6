"""Signals of the stream lifecycle, so that higher apps react to it without streams importing them."""

from django.dispatch import Signal

# A stream was cancelled; sent once the cancellation is committed, with `stream_id`. Payments listens
# (its tickets are refunded). Sent robustly: a failing receiver is logged and stops no other receiver.
stream_cancelled = Signal()

# A stream is about to be deleted; sent inside stream_delete's transaction with the locked `stream`. A
# receiver refuses the deletion by raising an ApplicationError (payments: tickets were sold for it).
stream_delete_requested = Signal()

# A stream ended (went from live to ended); sent once the end is committed, with `stream_id`. Analytics
# listens (the final rollup of the show). Sent robustly, like stream_cancelled.
stream_ended = Signal()

# A stream was created (scheduled); sent once the creation is committed, with `stream_id`. The followers'
# notifications listen (streams/receivers.py). Sent robustly, like stream_cancelled.
stream_scheduled = Signal()

# A stream went live (from scheduled to live); sent once committed, with `stream_id`. Sent robustly.
stream_went_live = Signal()

# A stream was created or changed; sent inside stream_create's and stream_update's transaction with the
# saved `stream` and `created`. The media plane listens (a managed media system provisions the stream's
# resource after commit); a receiver refuses the stream by raising an ApplicationError.
stream_saved = Signal()

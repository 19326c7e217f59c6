"""Analytics' receivers of lower apps' signals (connected in AnalyticsConfig.ready())."""

from . import rollup_tasks


def stream_ended_rollup(sender, *, stream_id, **kwargs) -> None:
    """A stream ended (sent after commit): roll the whole show up; the periodic task folds in late reports."""
    rollup_tasks.stream_final_rollup.delay(str(stream_id))

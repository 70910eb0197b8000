"""Log lines about data a stream lost on its way to Dust: text cut to fit, text that cannot be encoded.

Each kind of loss gets its first DETAILED occurrences logged one line each (the stream, the document or row,
the field, how much), and `close` (at the end of the stream) logs how many there were in all when there were
more. So nothing is changed silently, and a million damaged records still log a handful of lines.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from destination_dust.catalog import StreamKey

logger = logging.getLogger(__name__)

DETAILED = 5  # lines per stream and kind before the rest are only counted


def first_few(items: Sequence[str], limit: int = 10) -> str:
    """`a, b, c and 7 more`: a log line names the first `limit` items of a list that can be long."""
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


class StreamNotices:
    """The loss notices of one stream. Not thread-safe: the reader thread reports them."""

    def __init__(self, stream: StreamKey) -> None:
        self.stream = stream
        self._counts: Counter[str] = Counter()

    def report(self, kind: str, detail: str) -> None:
        """`kind` names the loss in the plural, for the count ("rows cut to fit one request"); `detail` is
        this occurrence (the row or document, the field, what was lost)."""
        self._counts[kind] += 1
        count = self._counts[kind]
        if count < DETAILED:
            logger.warning("stream %s: %s", self.stream, detail)
        elif count == DETAILED:
            logger.warning("stream %s: %s (further %s are counted, not listed)", self.stream, detail, kind)

    def close(self) -> None:
        """The totals of the kinds that had more occurrences than were listed. Once."""
        for kind, count in sorted(self._counts.items()):
            if count > DETAILED:
                logger.warning(
                    "stream %s: %d %s in all (the first %d are listed above)",
                    self.stream,
                    count,
                    kind,
                    DETAILED,
                )
        self._counts.clear()

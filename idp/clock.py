"""The hub's notion of "now", injectable so tests move time instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta, timezone

from flask import current_app, has_app_context

# Vietnam time (UTC+7, no daylight saving): the province's days, dates and deadlines.
VIETNAM = timezone(timedelta(hours=7))


def now() -> int:
    """Seconds since the epoch from the app's clock (``app.extensions['idp_clock']``)."""
    return int(now_float())


def now_float() -> float:
    if has_app_context():
        clock: Callable[[], float] | None = current_app.extensions.get("idp_clock")
        if clock is not None:
            return clock()
    return time.time()


class FrozenClock:
    """A clock for tests: starts at the real time and moves only when told."""

    def __init__(self, start: float | None = None) -> None:
        self.value = time.time() if start is None else start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds

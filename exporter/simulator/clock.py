"""The fake cloud's simulated clock: the real clock plus every ``advance``; time never goes back."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["SimClock"]


class SimClock:
    """Simulated Unix time, and the seconds since the simulator started (what scenario phases count)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._offset = 0.0
        self.started_at = clock()

    def now(self) -> float:
        return self._clock() + self._offset

    def elapsed(self) -> float:
        return self.now() - self.started_at

    def advance(self, seconds: float) -> None:
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds}")
        self._offset += seconds

"""Training that steps aside while someone is using the machine interactively.

A shared classroom server trains in the background while students move sliders.
Even at the lowest CPU priority a training process slows the pages on a small
machine: it shares the cores' caches and the host's hyperthreads (measured here:
one idle-priority trainer added 25-30 ms to a 100 ms slider round trip). So the
app touches a file whenever a page draws for someone, and a trainer given that
file (`gan_core.train --yield-to FILE`) pauses between steps while the file is
fresh. Bounded both ways: it never pauses longer than `window` at a time, and
constant interaction costs training at most half its speed (see Courtesy).
When the server goes away, the file goes stale and training runs at full speed.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

WINDOW_S = 0.15   # a slider's whole server-and-browser round trip fits in this on a quiet machine


def note_interaction(path: str | os.PathLike) -> None:
    """Say "someone is interacting now" to trainers yielding to path (creates it if needed)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        Path(path).touch()


class Courtesy:
    """Call pause_if_busy() between training steps.

    A token bucket bounds what is given away: pausing uses up credit, which refills at `share`
    seconds per second (at most `burst`), so training keeps at least 1 - share of its speed
    however busy the pages are, yet a lone slider move always finds credit to pause for.
    """

    def __init__(self, path: str | os.PathLike | None, window: float = WINDOW_S, share: float = 0.5,
                 clock=time.monotonic, sleep=time.sleep) -> None:
        self.path, self.window, self.share = path, window, share
        self.burst = 2 * window
        self._clock, self._sleep = clock, sleep
        self._credit, self._last = self.burst, clock()
        self.paused_s = 0.0        # total time given away, for the record

    def pause_if_busy(self) -> None:
        if self.path is None:
            return
        now = self._clock()
        self._credit = min(self.burst, self._credit + (now - self._last) * self.share)
        self._last = now
        try:
            age = time.time() - os.stat(self.path).st_mtime   # file times are wall-clock times
        except OSError:
            return
        wait = min(self.window - age, self._credit)
        if wait > 0.001:
            self._sleep(wait)
            self._credit -= wait
            self.paused_s += wait

"""A run's live numbers, read incrementally from its events.jsonl; never touches Streamlit.

One RunCurves per run is shared by every page watching it (the app holds them
with st.cache_resource), so each new event line is parsed once per server, not
once per viewer.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from gan_core import EpochEvent, RunFolder, StepEvent

STEP_KEYS = ("d_loss", "g_loss", "d_x", "d_g_z")    # StepEvent's values: the four numbers of one step
EPOCH_KEYS = ("mean_d_loss", "mean_g_loss", "mean_d_x", "mean_d_g_z", "images_per_sec")  # EpochEvent's means
RATE_WINDOW_S = 10.0                                 # training speed is measured over this much recent time


class _Table:
    """Rows of floats appended in batches; capacity doubles, so appending stays cheap for 300k rows."""

    def __init__(self, width: int) -> None:
        self._data = np.empty((1024, width))
        self._n = 0

    def extend(self, rows: list[list[float]]) -> None:
        need = self._n + len(rows)
        if need > len(self._data):
            bigger = np.empty((max(need, 2 * len(self._data)), self._data.shape[1]))
            bigger[:self._n] = self._data[:self._n]
            self._data = bigger
        self._data[self._n:need] = rows
        self._n = need

    def view(self) -> np.ndarray:
        # Rows below _n are never written again, so this view stays valid after later appends.
        return self._data[:self._n]


@dataclass(frozen=True)
class Curves:
    """Everything logged so far; columns follow STEP_KEYS / EPOCH_KEYS."""

    steps: np.ndarray        # (n,) step number of each step row (1-based, counted over the whole run)
    step_values: np.ndarray  # (n, 4)
    epoch_steps: np.ndarray  # (m,) step number at the end of each finished epoch
    epoch_values: np.ndarray # (m, 5)
    steps_per_sec: float | None  # recent training speed; None until it can be measured

    def step_series(self, key: str) -> np.ndarray:
        return self.step_values[:, STEP_KEYS.index(key)]

    def epoch_series(self, key: str) -> np.ndarray:
        return self.epoch_values[:, EPOCH_KEYS.index(key)]


class RunCurves:
    """Incremental reader of one run's events; update() is thread-safe."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run
        self._lock = threading.Lock()
        self._ino: int | None = None   # the log file read so far (replaced by a resume)
        self._reset()

    def _reset(self) -> None:
        self._offset = 0
        self._steps = _Table(1 + len(STEP_KEYS))
        self._epochs = _Table(1 + len(EPOCH_KEYS))
        self._seen: deque[tuple[float, int]] = deque()  # (time, last step) when new steps arrived

    def update(self) -> Curves:
        """Read what was appended since the last call and return all values so far."""
        with self._lock:
            try:
                ino = os.stat(self.run.events_file).st_ino
            except OSError:
                ino = None
            if ino != self._ino:
                # A resume rewrote the log without the steps it redoes: read it again from the start.
                self._ino = ino
                self._reset()
            events, self._offset = self.run.read_events(self._offset)
            steps = [[e.step, *(getattr(e, k) for k in STEP_KEYS)] for e in events if isinstance(e, StepEvent)]
            epochs = [[e.step, *(getattr(e, k) for k in EPOCH_KEYS)] for e in events if isinstance(e, EpochEvent)]
            now = time.monotonic()
            if steps:
                self._steps.extend(steps)
                self._seen.append((now, int(steps[-1][0])))
            if epochs:
                self._epochs.extend(epochs)
            while len(self._seen) > 2 and now - self._seen[0][0] > RATE_WINDOW_S:
                self._seen.popleft()
            s, e = self._steps.view(), self._epochs.view()
            return Curves(s[:, 0], s[:, 1:], e[:, 0], e[:, 1:], self._rate(now))

    def _rate(self, now: float) -> float | None:
        if len(self._seen) < 2:
            return None
        (t0, s0), (_, s1) = self._seen[0], self._seen[-1]
        # Measured up to now, not to the last arrival, so a paused run's speed falls to 0.
        return (s1 - s0) / (now - t0) if now > t0 else None

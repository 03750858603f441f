"""A run's live numbers, read incrementally from its events.jsonl; never touches Streamlit.

One RunCurves per run is shared by every page watching it (the app holds them
with st.cache_resource), so each new event line is parsed once per server, not
once per viewer. A step log is bounded (gan_core/step_log.py: rows of one step,
then means over buckets of steps), so reading one whole takes well under a second;
of an older log, one line a step and possibly gigabytes, only the last part is read.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from gan_core import RunFolder

STEP_KEYS = ("d_loss", "g_loss", "d_x", "d_g_z")    # StepEvent's values: the four numbers of one step
EPOCH_KEYS = ("mean_d_loss", "mean_g_loss", "mean_d_x", "mean_d_g_z", "images_per_sec")  # EpochEvent's means
RATE_WINDOW_S = 10.0                                 # training speed is measured over this much recent time
RATE_GAP_S = 2.0    # no new steps for this long (and 4x the usual wait): it was paused, measure anew after it
OLD_LOG_TAIL_BYTES = 4 << 20                         # of an old, unbounded log, only the last 28,000 steps or so


class _Table:
    """Rows of floats appended in batches; capacity doubles, so appending stays cheap for 300k rows."""

    def __init__(self, width: int) -> None:
        self._data = np.empty((1024, width))
        self._n = 0

    def extend(self, rows: np.ndarray | list[list[float]]) -> None:
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

    steps: np.ndarray        # (n,) last step of each row, a step or a bucket of steps (1-based, over the whole run)
    step_values: np.ndarray  # (n, 4) each row's mean of its steps' values
    epoch_steps: np.ndarray  # (m,) step number at the end of each finished epoch
    epoch_values: np.ndarray # (m, 5)
    steps_per_sec: float | None  # recent training speed; None until it can be measured
    first_step: int = 1      # the first step the rows hold: row i holds the steps after row i-1's up to steps[i]
    note: str = ""           # what to tell the viewer about these numbers (only part of an old log was read)

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
        self._first, self._note = 1, ""
        self._seen: deque[tuple[float, int]] = deque()  # (time, last step) when new steps arrived
        self._gap = 0.0                                   # time between the last two arrivals (see update)

    def update(self) -> Curves:
        """Read what was appended since the last call and return all values so far."""
        with self._lock:
            for _ in range(3):
                ino = self._inode()
                if ino != self._ino:
                    # A resume or a growing log rewrote it (coarser buckets, or without the steps a resume
                    # redoes): read it again from the start. It is bounded, so this is quick.
                    self._ino = ino
                    self._reset()
                first_read = self._offset == 0
                tail = self.run.log_tail(OLD_LOG_TAIL_BYTES) if first_read else 0
                part, offset = self.run.read_log(self._offset + tail)
                if self._inode() == ino:   # else it was replaced while being read: read the new one
                    break
            self._offset = offset
            now = time.monotonic()
            if len(part.steps):
                gap = now - self._seen[-1][0] if self._seen else 0.0
                if gap > max(RATE_GAP_S, 4 * self._gap):
                    # It stood still (paused): measure over running time only, from the first steps after it.
                    self._seen.clear()
                else:
                    self._gap = gap   # the usual time between new steps (long when one step takes seconds)
                if first_read:
                    self._first = int(part.steps[0] - part.counts[0] + 1)
                    self._note = self._old_log_note(self._first) if tail else ""
                self._steps.extend(np.column_stack([part.steps, part.values]))
                self._seen.append((now, int(part.steps[-1])))
            if part.epochs:
                self._epochs.extend([[e.step, *(getattr(e, k) for k in EPOCH_KEYS)] for e in part.epochs])
            while len(self._seen) > 2 and now - self._seen[0][0] > RATE_WINDOW_S:
                self._seen.popleft()
            s, e = self._steps.view(), self._epochs.view()
            return Curves(s[:, 0], s[:, 1:], e[:, 0], e[:, 1:], self._rate(now), self._first, self._note)

    def _inode(self) -> int | None:
        try:
            return os.stat(self.run.events_file).st_ino
        except OSError:
            return None

    def _old_log_note(self, first: int) -> str:
        try:
            mb = os.stat(self.run.events_file).st_size / 1e6
        except OSError:
            mb = 0.0
        return (f"This run's step log is in the format before logs were bounded ({mb:,.0f} MB, a line a step): "
                f"the charts show its last part only, from step {first:,}.")

    def _rate(self, now: float) -> float | None:
        if len(self._seen) < 2:
            return None
        (t0, s0), (_, s1) = self._seen[0], self._seen[-1]
        # Measured up to now, not to the last arrival, so a paused run's speed falls to 0.
        return (s1 - s0) / (now - t0) if now > t0 else None

"""The step log, RUN/events.jsonl: every step while a run is short, means over buckets of steps as it grows.

One JSON object a line, keyed by the events' field names (gan_core.trainer):

    {"kind":"log","version":2}       the first line; logs without it hold one line per step (older runs)
    {"kind":"steps","epoch":[..],"step":[..],"count":[..],"d_loss":[..],"g_loss":[..],"d_x":[..],"d_g_z":[..]}
                                     rows: row i holds the means of the count[i] steps ending at step[i]
    {"kind":"epoch",...}             an EpochEvent, as gan_core.trainer.event_record writes it
    {"kind":"step",...}              one StepEvent, as logs before version 2 held every step

Why buckets: at batch size 1 a line a step grew by 14 GB a day, and reading it back took
seconds and gigabytes. Here each row is one step until the run has done ROWS steps; after
that a row holds a bucket of K steps, K the smallest power of two with steps / K <= ROWS,
and when the file passes MAX_BYTES it is rewritten with every row merged into buckets of
the current K. So a log stays under about MAX_BYTES (170,000 rows), plus a line an epoch,
however long the run, while the charts, which draw 1,000 points each smoothed over at
least 1/1000 of the run, still get 30 or more rows a point. A bucket never spans two
epochs, so cutting the log at an epoch's end (a resume) keeps each step exactly once.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .files import atomic_write
from .trainer import EpochEvent, StepEvent, event_from_record, event_record

VERSION = 2
ROWS = 65_536               # steps kept one a row; past that, buckets keep the log near this many rows
MAX_BYTES = 8 << 20         # a log past this is rewritten with coarser buckets (8 MB parse in ~0.3 s)
BLOCK_ROWS = 4096           # rows per line when a log is rewritten
VALUE_KEYS = tuple(f.name for f in fields(StepEvent))[2:6]  # d_loss, g_loss, d_x, d_g_z (not half, before, after)
ROW_KEYS = ("epoch", "step", "count") + VALUE_KEYS
HEADER = json.dumps({"kind": "log", "version": VERSION}, separators=(",", ":")) + "\n"
Row = tuple   # (epoch, step, count, *means), ordered as ROW_KEYS


@dataclass(frozen=True)
class StepMeans:
    """The means of `count` consecutive steps of one epoch, ending at `step`: a bucket of the step log."""
    epoch: int
    step: int
    count: int
    d_loss: float
    g_loss: float
    d_x: float
    d_g_z: float


@dataclass(frozen=True)
class LogPart:
    """A stretch of the step log as arrays: a row per step or bucket, and the epoch events."""
    steps: np.ndarray        # (n,) the last step of each row
    counts: np.ndarray       # (n,) how many steps it holds
    values: np.ndarray       # (n, 4) their means, ordered as VALUE_KEYS
    epochs: list[EpochEvent]


def bucket_size(step: int, rows: int = ROWS) -> int:
    """Steps a row holds once a run has done `step` steps: the smallest power of two keeping it within `rows` rows."""
    k = 1
    while step > rows * k:
        k *= 2
    return k


class _Bucket:
    """The row being filled: sums over consecutive steps that share an epoch and a bucket."""

    def __init__(self) -> None:
        self.key = None

    def add(self, row: Row, size: int) -> Row | None:
        """Add a row (a step is a row of count 1); returns the bucket it closed, if any."""
        epoch, step, count = row[0], row[1], row[2]
        key = (epoch, (step - 1) // size)
        done = self.close() if key != self.key else None
        if self.key is None:
            self.key, self.epoch, self.count, self.sums = key, epoch, 0, [0.0] * len(VALUE_KEYS)
        self.step, self.count = step, self.count + count
        self.sums = [s + count * v for s, v in zip(self.sums, row[3:])]
        return done

    def close(self) -> Row | None:
        if self.key is None:
            return None
        self.key = None
        return (self.epoch, self.step, self.count, *(s / self.count for s in self.sums))


def _block_line(rows: list[Row]) -> str:
    cols = list(zip(*rows))
    # Seven digits hold a float32 value, which is what the trainer measured; they halve the bytes of full floats.
    rec = {"kind": "steps", **{k: [int(v) for v in c] for k, c in zip(ROW_KEYS[:3], cols)},
           **{k: [float(f"{v:.7g}") for v in c] for k, c in zip(VALUE_KEYS, cols[3:])}}
    return json.dumps(rec, separators=(",", ":")) + "\n"


def _epoch_line(ev: EpochEvent) -> str:
    return json.dumps(event_record(ev), separators=(",", ":")) + "\n"


class StepLog:
    """Appends a training run's events to its step log, in buckets, rewriting the log when it grows past max_bytes."""

    def __init__(self, path: str | os.PathLike, rows: int = ROWS, max_bytes: int = MAX_BYTES) -> None:
        self.path, self.rows, self.max_bytes = Path(path), rows, max_bytes
        try:
            self.size = self.path.stat().st_size
        except FileNotFoundError:
            self.size = 0
        self._rewritten = 0           # size after this writer's last rewrite: another pays once the log doubles
        self._bucket = _Bucket()
        self._closed: list[Row] = []  # buckets closed since the last block line
        self._lines = [] if self.size else [HEADER]
        self._last_step = 0

    def add(self, ev: StepEvent | EpochEvent) -> None:
        if isinstance(ev, StepEvent) and ev.half == "d":
            return   # a D-only update ends no step (it shares the last step's number): status.json shows it
        if isinstance(ev, StepEvent):
            done = self._bucket.add((ev.epoch, ev.step, 1, ev.d_loss, ev.g_loss, ev.d_x, ev.d_g_z),
                                    bucket_size(ev.step, self.rows))
            if done:
                self._closed.append(done)
            self._last_step = ev.step
        else:
            self._end_block(whole=True)   # an epoch's end closes its last bucket
            self._lines.append(_epoch_line(ev))

    def flush(self, whole: bool = True) -> None:
        """Append what is pending; whole: also the bucket being filled (a paused run's single step must show)."""
        self._end_block(whole)
        if not self._lines:
            return
        data = "".join(self._lines).encode()
        with open(self.path, "ab") as f:
            f.write(data)
        self._lines.clear()
        self.size += len(data)
        if self.size > self.max_bytes and self.size > 2 * self._rewritten:
            self.size = self._rewritten = rewrite_log(self.path, None, bucket_size(self._last_step, self.rows))

    def _end_block(self, whole: bool) -> None:
        if whole and (done := self._bucket.close()):
            self._closed.append(done)
        if self._closed:
            self._lines.append(_block_line(self._closed))
            self._closed = []


def rewrite_log(path: str | os.PathLike, through: int | None, bucket: int) -> int:
    """Rewrite a log in this format, keeping events up to step `through` (all if None), rows merged into
    buckets of `bucket` steps; reads and writes a few MB at a time. Returns the new size in bytes."""
    def write(out) -> None:
        out.write(HEADER.encode())
        merged, block = _Bucket(), []

        def end_block(whole: bool) -> None:
            if whole and (done := merged.close()):
                block.append(done)
            if block and (whole or len(block) >= BLOCK_ROWS):
                out.write(_block_line(block).encode())
                block.clear()

        with open(path, "rb") as src:
            while lines := src.readlines(4 << 20):
                for rec in _records(b"".join(ln for ln in lines if ln.endswith(b"\n"))):   # not a cut last line
                    if rec.get("kind") == "epoch":
                        ev = event_from_record(rec)
                        if ev is not None and (through is None or ev.step <= through):
                            end_block(whole=True)
                            out.write(_epoch_line(ev).encode())
                        continue
                    for row in _row_list(rec):
                        if through is None or row[1] <= through:
                            if done := merged.add(row, bucket):
                                block.append(done)
                                end_block(whole=False)
        end_block(whole=True)
    atomic_write(path, write)
    return Path(path).stat().st_size


# ---- reading -----------------------------------------------------------------------------------

def _record(line: bytes) -> dict | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def _records(data: bytes) -> list[dict]:
    """The JSON objects of whole lines; damaged lines are skipped."""
    try:
        # One parse of all lines as one array: an old log's 60,000 step lines read 2.5 times faster.
        records = json.loads(b"[" + data.rstrip(b"\n").replace(b"\n", b",") + b"]") if data else []
    except ValueError:   # a damaged line (a kill cut it short): parse line by line, skipping it
        records = [_record(line) for line in data.splitlines()]
    return [r for r in records if isinstance(r, dict)]


def _rows(rec: dict) -> list | np.ndarray | None:
    """A record's step rows ordered as ROW_KEYS (a list for a "step" line, an array for "steps"), or None."""
    kind = rec.get("kind")
    if kind == "step":
        try:
            return [(int(rec["epoch"]), int(rec["step"]), 1, *(float(rec[k]) for k in VALUE_KEYS))]
        except (KeyError, TypeError, ValueError):
            return None
    if kind == "steps":
        try:
            return np.array([rec[k] for k in ROW_KEYS], dtype=float).T.reshape(-1, len(ROW_KEYS))
        except (KeyError, TypeError, ValueError):   # a damaged block: missing, uneven or non-numeric columns
            return None
    return None


def _row_list(rec: dict) -> list:
    rows = _rows(rec)
    return [] if rows is None else rows.tolist() if isinstance(rows, np.ndarray) else rows


def _read_lines(path: str | os.PathLike, offset: int) -> tuple[bytes, int]:
    """Whole lines from byte offset on, and the offset after them (a partial last line waits)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return b"", offset
    end = data.rfind(b"\n") + 1
    return data[:end], offset + end


def read_log(path: str | os.PathLike, offset: int = 0) -> tuple[LogPart, int]:
    """Step rows and epoch events from byte offset on, and the offset to continue from."""
    data, end = _read_lines(path, offset)
    parts, singles, epochs = [], [], []
    for rec in _records(data):
        if rec.get("kind") == "epoch":
            if (ev := event_from_record(rec)) is not None:
                epochs.append(ev)
        elif isinstance(rows := _rows(rec), list):
            singles += rows     # old logs' step lines: gathered, so numpy sees one array, not one per step
        elif rows is not None:
            if singles:
                parts.append(np.array(singles, dtype=float))
                singles = []
            parts.append(rows)
    if singles:
        parts.append(np.array(singles, dtype=float))
    rows = np.concatenate(parts) if parts else np.empty((0, len(ROW_KEYS)))
    return LogPart(rows[:, 1], rows[:, 2], rows[:, 3:], epochs), end


def read_events(path: str | os.PathLike, offset: int = 0) -> tuple[list, int]:
    """The log from byte offset on as events (StepEvent for a row of one step, StepMeans for a bucket,
    EpochEvent), in order, and the offset to continue from."""
    data, end = _read_lines(path, offset)
    out = []
    for rec in _records(data):
        if rec.get("kind") == "epoch":
            ev = event_from_record(rec)
            out += [ev] if ev is not None else []
            continue
        for e, s, c, *v in _row_list(rec):
            out.append(StepEvent(int(e), int(s), *v) if c == 1 else StepMeans(int(e), int(s), int(c), *v))
    return out, end


def tail_offset(path: str | os.PathLike, nbytes: int) -> int:
    """Where to start reading to get only the last nbytes of a log older than VERSION 2 (whose every
    step is a line); 0 for a log in this format or one no bigger than that."""
    try:
        with open(path, "rb") as f:
            if f.readline() == HEADER.encode():
                return 0
            size = f.seek(0, os.SEEK_END)
            if size <= nbytes:
                return 0
            f.seek(size - nbytes)
            f.readline()   # the rest of a line cut in two
            return f.tell()
    except OSError:
        return 0

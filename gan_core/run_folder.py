"""A training run's folder on disk: what the CLI writes and the app reads.

    RUN/settings.json     the run's GANConfig and what to record (sample interval, snapshot epochs, disk budget)
    RUN/title.txt         the name people gave the run (absent: the app shows a default made from its settings)
    RUN/status.json       state (queued, running, paused, finished, stopped, diverged, failed), message, progress
    RUN/checkpoint.pt     the latest full checkpoint (each epoch)
    RUN/history.csv       one row per finished epoch
    RUN/events.jsonl      the step log (when asked for): step values, bucketed as the run grows, and epoch
                          events, one JSON object a line (gan_core/step_log.py)
    RUN/samples/          latest.npz and epoch-NNNN.npz: the fixed-z sample grid and D's scores
    RUN/snapshots/        epoch-NNNN.pt: generator-only float16 snapshots (when asked for)
    RUN/.train.lock       locked (flock) by the one trainer writing the folder
Every file is replaced atomically (through .NAME.XXXX.tmp files, which no reader
opens), but events.jsonl is also appended to: its readers skip a half-written last line.
A run stops when its folder reaches its disk budget (Recording.disk_budget_mb; see FolderSize).
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import step_log
from .config import ConfigError, GANConfig, quoted
from .files import atomic_write, atomic_write_text
from .precision import known_precision

STATES = ("queued", "running", "paused", "finished", "stopped", "diverged", "failed")
ACTIVE_STATES = ("queued", "running", "paused")
_EPOCH_FILE = re.compile(r"epoch-(\d+)\.(npz|pt)$")
# A 500-epoch book run with log-spaced snapshots takes about 40 MB; every epoch adds a 13 kB sample grid.
DISK_BUDGET_MB = 500
# A run's title is shown in pickers and on a projector: one short line.
TITLE_MAX = 60


@dataclass(frozen=True)
class Recording:
    """What a trainer keeps of a run besides its checkpoint: sample refreshes, G snapshots; and its disk budget."""

    sample_every: int = 0                 # also refresh the sample grid every N steps (0: once an epoch)
    snapshot_epochs: tuple[int, ...] = () # epochs (1-based) after which to keep a float16 G snapshot
    snapshot_log: bool = False            # and at log-spaced epochs of however long the run becomes
    disk_budget_mb: int = DISK_BUDGET_MB  # the run stops when its folder holds more (0: no limit)
    # How the step computes, "fp32" or "bf16" (gan_core.precision): not part of the recipe, yet kept with the
    # run, so that a Continue goes on as it started.
    precision: str = "fp32"

    def snapshot_after(self, epoch: int, epochs: int) -> bool:
        """Whether to keep G after `epoch` (1-based) of a run of `epochs`."""
        return epoch in self.snapshot_epochs or self.snapshot_log and epoch in log_spaced_epochs(epochs)

    def validate(self) -> "Recording":
        """Raise ConfigError with a one-line reason if a value is unusable."""
        if isinstance(self.sample_every, bool) or not isinstance(self.sample_every, int) or self.sample_every < 0:
            raise ConfigError(f"sample_every must be a whole number, 0 or more, got {self.sample_every!r}")
        if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in self.snapshot_epochs):
            raise ConfigError(f"snapshot epochs must be whole numbers from 1, got {list(self.snapshot_epochs)[:10]!r}")
        budget = self.disk_budget_mb
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise ConfigError(f"the disk budget must be a whole number of MB, 0 (no limit) or more, got {budget!r}")
        known_precision(self.precision)
        return self


def log_spaced_epochs(epochs: int) -> tuple[int, ...]:
    """1, 2, 3, 5, 10, 20, 30, 50, 100, ... up to `epochs`, and `epochs` itself: G as it learns fast, then slowly."""
    out, decade = set(), 1
    while decade <= epochs:
        out.update(m * decade for m in (1, 2, 3, 5) if m * decade <= epochs)
        decade *= 10
    return tuple(sorted(out | {epochs}))


class RunFolder:
    """Paths and readers/writers for one run folder."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.name

    settings_file = property(lambda self: self.path / "settings.json")
    title_file = property(lambda self: self.path / "title.txt")
    checkpoint = property(lambda self: self.path / "checkpoint.pt")
    status_file = property(lambda self: self.path / "status.json")
    history_file = property(lambda self: self.path / "history.csv")
    events_file = property(lambda self: self.path / "events.jsonl")
    samples_dir = property(lambda self: self.path / "samples")
    snapshots_dir = property(lambda self: self.path / "snapshots")
    # gan_core.train holds an flock on it for its whole life, and the kernel drops it with the trainer: so
    # whether a trainer is alive here is asked of the lock, never of a pid that may since name another process.
    train_lock = property(lambda self: self.path / ".train.lock")

    def recover(self) -> None:
        """Tidy what a killed writer left: temporary files, and an unfinished last line of events."""
        for folder in (self.path, self.samples_dir, self.snapshots_dir):
            if folder.is_dir():
                for p in folder.glob(".*.tmp"):
                    p.unlink(missing_ok=True)
        try:
            with open(self.events_file, "rb+") as f:
                if f.seek(0, os.SEEK_END) > 0:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        # End the half line: it stays one line a reader skips, not the start of the next event.
                        f.write(b"\n")
        except FileNotFoundError:
            pass

    # ---- settings -----------------------------------------------------------------

    def write_settings(self, config: GANConfig, recording: Recording) -> None:
        """The run's recipe and recording, for the trainer to read (and a Continue to keep)."""
        atomic_write_text(self.settings_file, json.dumps({"config": config.to_dict(), "recording": {
            "sample_every": recording.sample_every, "snapshot_epochs": list(recording.snapshot_epochs),
            "snapshot_log": recording.snapshot_log, "disk_budget_mb": recording.disk_budget_mb,
            "precision": recording.precision}}))

    def read_settings(self) -> tuple[GANConfig, Recording] | None:
        """The settings written for this run, validated; None if there are none. Raises ConfigError if unusable."""
        try:
            data = json.loads(self.settings_file.read_text())
        except (FileNotFoundError, NotADirectoryError):   # no settings yet; making the folder will say what is wrong
            return None
        except (OSError, ValueError) as e:
            raise ConfigError(f"{self.settings_file}: unreadable ({type(e).__name__})") from None
        if not isinstance(data, dict) or not isinstance(data.get("recording"), dict):
            raise ConfigError(f"{self.settings_file}: not a settings file")
        rec = data["recording"]
        try:
            recording = Recording(rec.get("sample_every", 0), tuple(rec.get("snapshot_epochs", ())),
                                  rec.get("snapshot_log", False) is True, rec.get("disk_budget_mb", DISK_BUDGET_MB),
                                  rec.get("precision", "fp32"))
        except TypeError:
            raise ConfigError(f"{self.settings_file}: snapshot_epochs is not a list") from None
        return GANConfig.from_dict(data.get("config")), recording.validate()

    # ---- title ------------------------------------------------------------------

    def write_title(self, title: str) -> None:
        """Name the run (an empty title removes the name). Raises ConfigError for one that is too long or not one line."""
        if not isinstance(title, str):
            raise ConfigError(f"a run's title must be text, got {quoted(title)}")
        title = " ".join(title.split())
        if len(title) > TITLE_MAX:
            raise ConfigError(f"a run's title may be {TITLE_MAX} characters at most, got {len(title)}")
        if any(not c.isprintable() for c in title):
            raise ConfigError("a run's title must be printable text")
        if title:
            atomic_write_text(self.title_file, title)
        else:
            self.title_file.unlink(missing_ok=True)

    def read_title(self) -> str | None:
        """The name people gave the run, or None (none given, or the file is not a valid title)."""
        try:
            title = self.title_file.read_text(encoding="utf-8")[:TITLE_MAX + 1]
        except (OSError, ValueError):
            return None
        title = " ".join(title.split())
        return title if 0 < len(title) <= TITLE_MAX and title.isprintable() else None

    # ---- status -----------------------------------------------------------------

    def write_status(self, state: str, **fields) -> None:
        assert state in STATES, state
        atomic_write_text(self.status_file, json.dumps({"state": state, **fields}))

    def read_status(self) -> dict:
        """The last status written, or {} if there is none yet or it is unreadable."""
        try:
            data = json.loads(self.status_file.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    # ---- metrics ----------------------------------------------------------------

    def write_history(self, history: dict[str, list[float]]) -> None:
        """Per-epoch metrics as CSV, one row per epoch."""
        keys = list(history)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(keys)
        for row in zip(*(history[k] for k in keys)):
            w.writerow([int(v) if k == "epoch" else f"{v:.6g}" for k, v in zip(keys, row)])
        atomic_write_text(self.history_file, buf.getvalue())

    def read_history(self) -> dict[str, list[float]]:
        """The per-epoch metrics written by write_history, by column; {} if there are none or the file is unreadable.

        A row that is not all numbers (a file cut short, or edited by hand) ends what is read.
        """
        try:
            with open(self.history_file, newline="") as f:
                rows = list(csv.reader(f))
        except (OSError, UnicodeDecodeError, csv.Error):
            return {}
        if not rows or len(set(rows[0])) != len(rows[0]):
            return {}
        keys, history = rows[0], {k: [] for k in rows[0]}
        for row in rows[1:]:
            try:
                values = [float(v) for v in row]
            except ValueError:
                break
            if len(values) != len(keys):
                break
            for k, v in zip(keys, values):
                history[k].append(int(v) if k == "epoch" else v)
        return history

    def trim_events(self, last_step: int) -> None:
        """Keep only the step log up to last_step (a resume redoes the steps after its checkpoint), in the
        current format: a log from before bucketing is converted as it is read."""
        if self.events_file.is_file():
            step_log.rewrite_log(self.events_file, last_step, step_log.bucket_size(last_step))

    def read_events(self, offset: int = 0) -> tuple[list, int]:
        """The step log from byte offset on as events (see step_log.read_events), and the offset to continue from."""
        return step_log.read_events(self.events_file, offset)

    def read_log(self, offset: int = 0) -> tuple[step_log.LogPart, int]:
        """The step log from byte offset on as arrays, and the offset to continue from."""
        return step_log.read_log(self.events_file, offset)

    def log_tail(self, nbytes: int) -> int:
        """The offset from which an old, unbounded step log holds its last nbytes (0 for any other log)."""
        return step_log.tail_offset(self.events_file, nbytes)

    # ---- samples ------------------------------------------------------------------

    def write_samples(self, images: np.ndarray, scores: np.ndarray, epoch: int | None, step: int) -> None:
        """The fixed-z grid as uint8 images (n, h, w) with D's scores; kept per epoch when epoch is given."""
        def write(f):
            np.savez(f, images=images, scores=scores.astype(np.float32), step=np.int64(step))
        atomic_write(self.samples_path(None), write)
        if epoch is not None:
            atomic_write(self.samples_path(epoch), write)

    def samples_path(self, epoch: int | None) -> Path:
        return self.samples_dir / ("latest.npz" if epoch is None else f"epoch-{epoch:04d}.npz")

    def sample_epochs(self) -> list[int]:
        return self._epochs_in(self.samples_dir, "npz")

    def read_samples(self, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray, int] | None:
        """(images, scores, step) of an epoch's grid, or of the latest one; None if absent or unreadable."""
        try:
            with np.load(self.samples_path(epoch), allow_pickle=False) as z:
                return z["images"], z["scores"], int(z["step"])
        except (OSError, ValueError, KeyError):
            return None

    def snapshot_path(self, epoch: int) -> Path:
        return self.snapshots_dir / f"epoch-{epoch:04d}.pt"

    def snapshot_epochs(self) -> list[int]:
        return self._epochs_in(self.snapshots_dir, "pt")

    @staticmethod
    def _epochs_in(folder: Path, ext: str) -> list[int]:
        if not folder.is_dir():
            return []
        found = (_EPOCH_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m and m.group(2) == ext)


class FolderSize:
    """A run folder's size in bytes, measured cheaply enough to check every flush: the subfolders are
    walked once and then grow only by the files a trainer adds (added()); the few top-level files,
    which change in place, are measured each time."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run
        self._kept = sum(p.stat().st_size for folder in (run.samples_dir, run.snapshots_dir)
                         if folder.is_dir() for p in folder.iterdir() if p.is_file())

    def added(self, path: Path) -> None:
        """Count a file just written into a subfolder (a new epoch's samples or snapshot)."""
        self._kept += path.stat().st_size

    def total(self) -> int:
        size = self._kept
        with os.scandir(self.run.path) as entries:
            for e in entries:
                try:
                    size += e.stat(follow_symlinks=False).st_size if e.is_file(follow_symlinks=False) else 0
                except FileNotFoundError:   # a temporary file, renamed over its target since the listing
                    pass
        return size


def list_runs(root: str | os.PathLike) -> list[RunFolder]:
    """Run folders under root (those with a status file), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [RunFolder(p) for p in root.iterdir() if (p / "status.json").is_file()]
    return sorted(runs, key=lambda r: r.status_file.stat().st_mtime, reverse=True)

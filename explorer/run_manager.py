"""Training runs as child processes: start, queue, control and stop them; never touches Streamlit.

One RunManager per server (the app holds it with st.cache_resource) owns every
`python -m gan_core.train` child it started. At most `max_active` children
train at once; later runs wait in a first-in, first-out queue. Each child reads
pause/resume/step/stop lines on stdin and stops by itself when stdin closes, so
a child never outlives the server that started it (even one killed with
SIGKILL: the pipe closes with it). What a run produces lives in its folder
(see gan_core.run_folder), so finished runs are listed again after a restart. A
run's settings are written into its folder before it starts, and the trainer
reads them there, so a Continue keeps them.
"""
from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from gan_core import ACTIVE_STATES, ConfigError, GANConfig, Recording, RunFolder, list_runs, note_interaction

from .env import REPO_ROOT

# Folder names the app accepts from a URL: no dots or slashes, so never "..", never a path.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
ACTIONS = ("pause", "resume", "step", "stop")
RESUMABLE_STATES = ("stopped", "failed")   # diverged runs would diverge again; finished ones are done
LOG_FILE = "train.log"     # the child's stdout and stderr: the book's printout, or why it failed
INTERACTION_FILE = ".interaction"   # in the runs folder; see note_interaction
OWNER_FILE = "owner.pid"   # pid of the child training this folder, to spot runs orphaned by a crash
WATCH_SECONDS = 0.3        # how often finished children are reaped and queued runs started


class QueueFull(RuntimeError):
    """Too many runs are already waiting."""


@dataclass(frozen=True)
class RunSettings:
    """What the Train page asks for; the rest of the recipe is the book's."""

    epochs: int = 5
    batch_size: int = 100
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    seed: int = 0
    sample_every: int = 100   # steps between refreshes of the sample grid (0: once an epoch)

    def config(self) -> GANConfig:
        """The GANConfig these settings make, validated (raises ConfigError)."""
        return GANConfig(epochs=self.epochs, batch_size=self.batch_size, lr_g=self.lr_g,
                         lr_d=self.lr_d, seed=self.seed).validate()

    def recording(self) -> Recording:
        """Samples as asked; G snapshots at log-spaced epochs, so the Timeline page can show the run."""
        if self.sample_every < 0:
            raise ConfigError(f"sample every must be 0 or more steps, got {self.sample_every}")
        return Recording(self.sample_every, snapshot_log=True).validate()


def new_run_id() -> str:
    """A sortable, unguessable folder name: 20250131-142501-3fa9c2."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def resolve_run(root: Path, run_id: str | None) -> RunFolder | None:
    """The run folder called run_id directly inside root, or None (bad name, escape, or no such run)."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        return None
    path = (root / run_id).resolve()
    # resolve() follows symlinks: a link inside root pointing elsewhere is refused too.
    if path.parent != root.resolve() or not (path / "status.json").is_file():
        return None
    return RunFolder(path)


def low_priority_prefix() -> list[str]:
    """A command prefix that runs a child at the lowest CPU priority this machine allows.

    Linux's idle scheduling class (chrt, util-linux) first: the child then gets only the cycles that
    no page wants, yet all of them, so a slider stays quick however many runs train
    (bench/slider_latency.py --students). Else nice 19; else nothing.
    """
    chrt = shutil.which("chrt")
    if chrt and subprocess.run([chrt, "--idle", "0", "true"], capture_output=True).returncode == 0:
        return [chrt, "--idle", "0"]
    nice = shutil.which("nice")
    return [nice, "-n", "19"] if nice else []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _last_line(path: Path, limit: int = 4096) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


class RunManager:
    """Starts, queues, controls and stops training children; every public method is thread-safe."""

    def __init__(self, root: str | os.PathLike, max_active: int = 1, threads: int = 1, device: str = "cpu",
                 max_queued: int = 20, python: str = sys.executable) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_active, self.threads, self.device = max_active, threads, device
        self.max_queued, self.python = max_queued, python
        self._low_priority = low_priority_prefix()
        # Touched when a page draws for someone; training children pause briefly while it is fresh.
        self.interaction_file = self.root / INTERACTION_FILE
        self._last_note = 0.0
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen] = {}   # training now (running or paused)
        self._queue: deque[str] = deque()               # waiting for a slot, oldest first
        self._args: dict[str, list[str]] = {}           # CLI arguments of waiting runs
        self._paused: set[str] = set()                  # pause asked for, so the page can answer at once
        self._closed = False
        self._adopt_orphans()
        self._stop_watch = threading.Event()
        threading.Thread(target=self._watch, name="gan-explorer-runs", daemon=True).start()
        _MANAGERS.add(self)

    # ---- what pages ask -------------------------------------------------------------

    def runs(self) -> list[RunFolder]:
        """Every run in the runs folder, newest first."""
        return list_runs(self.root)

    def folder(self, run_id: str | None) -> RunFolder | None:
        return resolve_run(self.root, run_id)

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None if the run is not waiting."""
        with self._lock:
            return self._queue.index(run_id) + 1 if run_id in self._queue else None

    def training_count(self) -> int:
        with self._lock:
            return len(self._procs)

    def waiting_count(self) -> int:
        with self._lock:
            return len(self._queue)

    def pause_requested(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._paused

    def owns(self, run_id: str) -> bool:
        """Whether this server started the run and it has not ended yet (so it can be controlled)."""
        with self._lock:
            return run_id in self._procs or run_id in self._queue

    # ---- what pages do --------------------------------------------------------------

    def note_interaction(self) -> None:
        """Someone is waiting for a picture: training children step aside (gan_core.courtesy)."""
        now = time.monotonic()
        if now - self._last_note > 0.03:   # one touch per burst is enough
            self._last_note = now
            try:
                note_interaction(self.interaction_file)
            except OSError:
                pass   # a read-only runs folder: training simply does not yield

    def start(self, settings: RunSettings) -> str:
        """Queue a new run (it starts at once when a slot is free); returns its id.

        Raises ConfigError for unusable settings, QueueFull when too many runs wait.
        """
        cfg, recording = settings.config(), settings.recording()
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            if len(self._procs) >= self.max_active and len(self._queue) >= self.max_queued:
                raise QueueFull(f"{len(self._queue)} runs are already waiting; try again when one has finished")
            run_id = new_run_id()
            run = RunFolder(self.root / run_id)
            run.path.mkdir(parents=True)
            run.write_settings(cfg, recording)
            run.write_status("queued", message="", epoch=0, epochs=cfg.epochs, step=0, config=cfg.to_dict())
            self._args[run_id] = ["--out", str(run.path)]
            self._queue.append(run_id)
            self._fill()
        return run_id

    def resume(self, run_id: str) -> bool:
        """Queue a stopped, failed or killed run to continue from its last checkpoint (gan_core.train --resume).

        False if it cannot: it is active, finished, diverged, has no checkpoint yet, or the queue is full.
        """
        with self._lock:
            run = RunFolder(self.root / run_id)
            status = run.read_status()
            if (self._closed or run_id in self._procs or run_id in self._queue or not run.checkpoint.is_file()
                    or status.get("state") not in RESUMABLE_STATES
                    or len(self._procs) >= self.max_active and len(self._queue) >= self.max_queued):
                return False
            run.write_status("queued", message="continuing from the last finished epoch",
                             **{k: v for k, v in status.items() if k not in ("state", "message")})
            self._args[run_id] = ["--out", str(run.path), "--resume"]   # settings.json keeps the rest
            self._queue.append(run_id)
            self._fill()
        return True

    def control(self, run_id: str, action: str) -> bool:
        """Send pause, resume, step or stop to a run; False if this server is not running it."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        with self._lock:
            if run_id in self._queue:
                if action != "stop":
                    return False
                self._queue.remove(run_id)
                del self._args[run_id]
                self._set_state(RunFolder(self.root / run_id), "stopped", "cancelled before it started")
                return True
            proc = self._procs.get(run_id)
            if proc is None:
                return False
            if action == "pause":
                self._paused.add(run_id)
            elif action in ("resume", "stop"):
                self._paused.discard(run_id)
            try:
                proc.stdin.write(f"{action}\n".encode())
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return False  # it is ending anyway; the watcher reaps it
            return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every run: close each child's stdin (it saves state and exits), kill what lingers."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for run_id in self._queue:
                self._set_state(RunFolder(self.root / run_id), "stopped", "the server stopped before it started")
            self._queue.clear()
            procs = dict(self._procs)
        self._stop_watch.set()
        for proc in procs.values():
            try:
                proc.stdin.close()
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for run_id, proc in procs.items():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: the child and anything it spawned
                except ProcessLookupError:
                    pass
                proc.wait()
        with self._lock:
            for run_id, proc in procs.items():
                self._finish(run_id, proc)

    # ---- inside -------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop_watch.wait(WATCH_SECONDS):
            with self._lock:
                for run_id, proc in list(self._procs.items()):
                    if proc.poll() is not None:
                        self._finish(run_id, proc)
                self._fill()

    def _fill(self) -> None:
        """Start waiting runs while slots are free (lock held)."""
        while self._queue and len(self._procs) < self.max_active and not self._closed:
            run_id = self._queue.popleft()
            args = self._args.pop(run_id)
            run = RunFolder(self.root / run_id)
            cmd = [self.python, "-m", "gan_core.train", *args, "--device", self.device,
                   "--threads", str(self.threads), "--events", "--control", "stdin", "--quiet",
                   "--yield-to", str(self.interaction_file)]
            cmd = [*self._low_priority, *cmd]
            # Thread pools outside torch's own setting (OpenMP, MKL) are capped too.
            env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
            try:
                with open(run.path / LOG_FILE, "ab") as log:
                    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=REPO_ROOT, env=env, start_new_session=True)
            except OSError as e:
                self._set_state(run, "failed", f"could not start training: {e}")
                continue
            self._procs[run_id] = proc
            (run.path / OWNER_FILE).write_text(str(proc.pid))

    def _finish(self, run_id: str, proc: subprocess.Popen) -> None:
        """Forget an ended child; record why it ended if it could not (lock held)."""
        self._procs.pop(run_id, None)
        self._paused.discard(run_id)
        try:
            proc.stdin.close()
        except OSError:
            pass
        run = RunFolder(self.root / run_id)
        (run.path / OWNER_FILE).unlink(missing_ok=True)
        if run.read_status().get("state") in ACTIVE_STATES:
            # The child died before writing its own final state: out of memory, killed, or a start-up error.
            why = _last_line(run.path / LOG_FILE) or f"exit code {proc.returncode}"
            self._set_state(run, "failed" if proc.returncode else "stopped", why)

    def _adopt_orphans(self) -> None:
        """Runs left active on disk by a server that is gone can never finish: mark them stopped."""
        for run in list_runs(self.root):
            status = run.read_status()
            if status.get("state") not in ACTIVE_STATES:
                continue
            try:
                pid = int((run.path / OWNER_FILE).read_text())
            except (OSError, ValueError):
                pid = None
            if pid is None or not _pid_alive(pid):
                self._set_state(run, "stopped", "the server stopped before this run finished")

    @staticmethod
    def _set_state(run: RunFolder, state: str, message: str) -> None:
        status = run.read_status()
        status.pop("state", None)
        status["message"] = message
        run.write_status(state, **status)


_MANAGERS: "weakref.WeakSet[RunManager]" = weakref.WeakSet()


@atexit.register
def shutdown_all() -> None:
    """Stop the runs of every manager in this process (at exit, and between tests)."""
    for manager in list(_MANAGERS):
        manager.shutdown()

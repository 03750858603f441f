"""Training runs as child processes: start, queue, control and stop them; never touches Streamlit.

One RunManager per server (the app holds it with st.cache_resource) owns every
`python -m gan_core.train` child it started. At most `max_active` children
train at once; later runs wait in a first-in, first-out queue. Each child reads
pause/resume/step/stop lines on stdin and stops by itself when stdin closes, so
a child never outlives the server that started it (even one killed with
SIGKILL: the pipe closes with it). A run paused for longer than `paused_slot_s`
lends its slot to the queue; its child waits, paused, and on Resume queues for
a slot again. What a run produces lives in its folder (see
gan_core.run_folder), so finished runs are listed again after a restart, and
a run whose folder no trainer has locked is one nobody is training. A run's
settings are written into its folder before it starts, and the trainer reads
them there, so a Continue keeps them. One run's failure to start or to end
cleanly (a full or read-only disk, anything else) fails that run, with its
reason, and never the queue. Where trainers run is a backend's business
(explorer/run_backends.py): here, or on a Ray cluster, which then queues and places them itself.
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from gan_core import (ACTIVE_STATES, DISK_BUDGET_MB, ConfigError, GANConfig, Recording, RunFolder, list_runs,
                      note_interaction)
from gan_core.config import arch_recipe
from gan_core.files import atomic_write_text

from . import disk_trouble
from .env import REPO_ROOT
from .run_backends import BackendUnavailable, TrainerHandle, backend_from_env

# Folder names the app accepts from a URL: no dots or slashes, so never "..", never a path.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# "step" is one whole step while paused; "step d" and "step g" only D's or only G's update (gan_core.train --control).
ACTIONS = ("pause", "resume", "step", "step d", "step g", "stop")
RESUMABLE_STATES = ("stopped", "failed")   # diverged runs would diverge again; finished ones are done
LOG_FILE = "train.log"     # the child's stdout and stderr: the book's printout, or why it failed
INTERACTION_FILE = ".interaction"   # in the runs folder; see note_interaction
OWNER_FILE = "owner.pid"   # pid of the child training this folder, for people; the lock below says who owns it
CONTROLLER_FILE = "controller.json" # the hash of the owner key of the browser that started the run (see owner_hash)
DELETED_FILE = ".deleted"  # in the runs folder: ids of deleted runs, one a line, so a link to one can say so
WATCH_SECONDS = 0.3        # how often finished children are reaped and queued runs started
STOP_WAIT_S = 30.0         # how long delete() waits for a stopped trainer to save and exit
log = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """Too many runs are already waiting."""


class RunsFolderError(RuntimeError):
    """The runs folder cannot take a run's files; the message names the file and says what to do."""


@dataclass(frozen=True)
class RunSettings:
    """What the Train page asks for; the rest of the recipe is the book's. The defaults are its Quick look preset."""

    epochs: int = 10
    batch_size: int = 100
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    seed: int = 0
    sample_every: int = 100   # steps between refreshes of the sample grid (0: once an epoch)
    d_steps: int = 1          # D updates for each G update (the GAN paper's k); the book's is 1
    g_loss: str = "book"      # what G minimises: "book" BCE(D(G(z)), 1), or "minimax" log(1 - D(G(z)))
    arch: str = "mlp"         # the book's MLP, or "dcgan" (gan_core/dcgan.py), which brings its own Adam beta1
    precision: str = "fp32"   # or "bf16": the MLP's matrix products in bfloat16 (gan_core.precision)

    def config(self) -> GANConfig:
        """The GANConfig these settings make, validated (raises ConfigError). A learning rate of 0 freezes that
        network on purpose."""
        return GANConfig(epochs=self.epochs, batch_size=self.batch_size, lr_g=self.lr_g, lr_d=self.lr_d,
                         seed=self.seed, d_steps=self.d_steps, g_loss=self.g_loss,
                         **arch_recipe(self.arch)).validate()

    def recording(self) -> Recording:
        """Samples as asked; G snapshots at log-spaced epochs, so the Timeline page can show the run."""
        if self.sample_every < 0:
            raise ConfigError(f"sample every must be 0 or more steps, got {self.sample_every}")
        return Recording(self.sample_every, snapshot_log=True, precision=self.precision).validate()


def new_run_id() -> str:
    """A sortable, unguessable folder name: 20250131-142501-3fa9c2."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class DeleteRefused(RuntimeError):
    """A run that cannot be deleted now; the message says why in one line."""


def owner_hash(owner_key: str) -> str:
    """What a run folder keeps of its owner's key: a hash, so reading the folder does not give control of it."""
    return hashlib.sha256(owner_key.encode("utf-8")).hexdigest()


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


def trainer_holds(run: RunFolder) -> bool:
    """Whether a live trainer holds the run's folder (gan_core.train flocks RunFolder.train_lock for its whole life).

    A recorded pid cannot say so: once its trainer is gone, the number may name any process.
    """
    try:
        fd = os.open(run.train_lock, os.O_RDONLY)
    except OSError:
        return False   # no lock file: no trainer ever ran here
    try:
        # Shared and non-blocking: it fails against the trainer's exclusive lock, never against another look.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)   # which drops our shared lock at once


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
                 max_queued: int = 20, python: str = sys.executable, paused_slot_s: float = 120.0,
                 disk_budget_mb: int = DISK_BUDGET_MB, lone_threads: int | None = None, backend=None) -> None:
        self.root = Path(root)
        # A run training alone may use this many threads (the whole machine); with others, `threads` each.
        # None: always `threads`. Children still train at idle priority and yield to sliders (gan_core.courtesy).
        self.lone_threads = lone_threads
        with contextlib.suppress(OSError):   # a read-only or missing disk: start() says so, in one line
            self.root.mkdir(parents=True, exist_ok=True)
        self.max_active, self.threads, self.device = max_active, threads, device
        self.max_queued, self.python, self.paused_slot_s = max_queued, python, paused_slot_s
        self.disk_budget_mb = disk_budget_mb   # passed on every start, so a raised budget reaches a Continue
        self._low_priority = low_priority_prefix()
        # Where trainers run: children of this server, or a Ray cluster (GAN_EXPLORER_RAY_ADDRESS; run_backends.py).
        self._backend = backend or backend_from_env(python, self._low_priority)
        # Touched when a page draws for someone; training children pause briefly while it is fresh.
        self.interaction_file = self.root / INTERACTION_FILE
        self._last_note = 0.0
        self._lock = threading.Lock()
        self._procs: dict[str, TrainerHandle] = {}      # trainers alive: training, paused, or paused without a slot
        self._queue: deque[str] = deque()               # waiting for a slot, oldest first: new runs and resumed ones
        self._args: dict[str, list[str]] = {}           # CLI arguments of the waiting runs not started yet
        self._paused: dict[str, float] = {}             # pause asked for and no resume since: when (monotonic)
        self._slotless: set[str] = set()                # children holding no slot: long paused, or resumed and waiting
        self._threads: dict[str, int] = {}              # threads each child was last told to use
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
        """1 for the next run to get a slot; None if the run is not waiting."""
        with self._lock:
            if run_id in self._queue:
                return self._queue.index(run_id) + 1
            # Handed to a backend that queues runs itself (Ray) and not placed yet: its place there.
            return self._procs[run_id].queue_position() if run_id in self._procs else None

    @property
    def cluster(self) -> str | None:
        """The Ray cluster's address where runs train there (GAN_EXPLORER_RAY_ADDRESS); None: on this server."""
        return getattr(self._backend, "address", None) if self._backend.schedules else None

    def training_count(self) -> int:
        """Slots in use: runs training, or paused for less than paused_slot_s. A trainer that has written its
        final state counts no more, though its process may take a moment to exit and be reaped."""
        with self._lock:
            return sum(1 for r, proc in self._procs.items() if r not in self._slotless
                       and proc.queue_position() is None   # handed to Ray, not placed yet: waiting, not training
                       and RunFolder(self.root / r).read_status().get("state") in ACTIVE_STATES)

    def waiting_count(self) -> int:
        with self._lock:
            return len(self._queue) + self._backend_waiting()

    def pause_requested(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._paused

    def owns(self, run_id: str) -> bool:
        """Whether this server started the run and it has not ended yet (so it can be controlled)."""
        with self._lock:
            return run_id in self._procs or run_id in self._queue

    def owner_of(self, run_id: str) -> str | None:
        """The hash of the owner key that started the run, or None (started before owners were kept, or by the CLI)."""
        run = self.folder(run_id)
        if run is None:
            return None
        try:
            found = json.loads((run.path / CONTROLLER_FILE).read_text())
        except (OSError, ValueError):
            return None
        owner = found.get("owner") if isinstance(found, dict) else None
        return owner if isinstance(owner, str) else None

    def may_control(self, run_id: str, owner_key: str | None, teacher: bool, teacher_configured: bool) -> bool:
        """Whether a browser may pause, step, stop, continue, rename or delete a run: the teacher may control
        every run; anyone else only the runs their owner key started. A run with no owner recorded belongs to
        the teacher when there is one, else to everyone (one person on their own machine)."""
        if teacher:
            return True
        owner = self.owner_of(run_id)
        if owner is None:
            return not teacher_configured
        return bool(owner_key) and hmac.compare_digest(owner, owner_hash(owner_key))

    def was_deleted(self, run_id: str) -> bool:
        """Whether a run of this name was deleted (so a link to it can say so)."""
        try:
            return run_id in (self.root / DELETED_FILE).read_text().split()
        except OSError:
            return False

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

    def start(self, settings: RunSettings, owner_key: str | None = None) -> str:
        """Queue a new run (it starts at once when a slot is free); returns its id. owner_key: the starting
        browser's key (its hash is kept in the run's folder, see may_control).

        Raises ConfigError for unusable settings, QueueFull when too many runs wait, RunsFolderError
        when the runs folder cannot take the run's files (nothing of the run is left behind), and
        BackendUnavailable when the Ray cluster cannot be reached (never training here instead).
        """
        cfg, recording = settings.config(), settings.recording()
        self._check_backend()
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            if self._queue_full():
                raise QueueFull(f"{len(self._queue)} runs are already waiting; try again when one has finished")
            run_id = new_run_id()
            run = RunFolder(self.root / run_id)
            try:
                run.path.mkdir(parents=True)
                run.write_settings(cfg, recording)
                if owner_key:
                    atomic_write_text(run.path / CONTROLLER_FILE, json.dumps({"owner": owner_hash(owner_key)}))
                run.write_status("queued", message="", epoch=0, epochs=cfg.epochs, step=0, config=cfg.to_dict())
            except OSError as e:
                shutil.rmtree(run.path, ignore_errors=True)   # an empty run folder would be listed as a run
                raise RunsFolderError(disk_trouble.write_error(e, run.path)) from None
            self._args[run_id] = ["--out", str(run.path)]
            self._queue.append(run_id)
            self._fill()
        return run_id

    def resume(self, run_id: str) -> bool:
        """Queue a stopped, failed or killed run to continue from its last checkpoint (gan_core.train --resume).

        False if it cannot: it is active, finished, diverged, has no checkpoint yet, or the queue is full.
        Raises RunsFolderError when its status cannot be written, BackendUnavailable as start() does.
        """
        self._check_backend()
        with self._lock:
            run = RunFolder(self.root / run_id)
            status = run.read_status()
            if (self._closed or run_id in self._procs or run_id in self._queue or not run.checkpoint.is_file()
                    or status.get("state") not in RESUMABLE_STATES or self._queue_full()):
                return False
            try:
                run.write_status("queued", message="continuing from the last finished epoch",
                                 **{k: v for k, v in status.items() if k not in ("state", "message")})
            except OSError as e:
                raise RunsFolderError(disk_trouble.write_error(e)) from None
            self._args[run_id] = ["--out", str(run.path), "--resume"]   # settings.json keeps the rest
            self._queue.append(run_id)
            self._fill()
        return True

    def control(self, run_id: str, action: str) -> bool:
        """Send one of ACTIONS to a run; False if this server is not running it.

        A run that has lent its slot (paused for paused_slot_s) waits in the queue on Resume and is
        resumed when it gets a slot; a Step (or half of one) needs no slot, a single update being tiny.
        """
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        with self._lock:
            if run_id not in self._procs:
                return action == "stop" and self._cancel(run_id)
            if action.startswith("step"):
                return self._send(run_id, action)
            if action == "pause":
                self._paused.setdefault(run_id, time.monotonic())
            else:
                self._paused.pop(run_id, None)
            if action == "resume" and run_id in self._slotless:
                if run_id not in self._queue:   # it waits for a slot; _fill sends the resume
                    self._queue.append(run_id)
                    self._fill()
                return True
            self._dequeue(run_id)   # pause or stop withdraws a Resume still waiting for a slot
            return self._send(run_id, action)

    def stop_if_orphaned(self, run_id: str) -> bool:
        """Mark a run stopped if its status says it trains but no trainer holds it (it died without saying so).

        For runs past "queued" only: a run waiting in another server's queue holds no lock yet.
        """
        run = self.folder(run_id)
        with self._lock:
            return (run is not None and run_id not in self._procs and run_id not in self._queue
                    and self._stop_if_orphaned(run, ("running", "paused"), "its trainer ended without saying why"))

    def delete(self, run_id: str) -> None:
        """Remove a run: stop it first if this server trains it, then remove its folder.

        Only a folder directly inside the runs folder, never a symlink (nor anything a symlink inside it points
        to: shutil.rmtree removes links, not their targets). Raises DeleteRefused, in one line, for a run that
        is not here, one another server process trains, or one whose trainer does not end in time.
        """
        if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
            raise DeleteRefused(f"{run_id!r} is not a run name")
        path = self.root / run_id
        if path.is_symlink() or not path.is_dir() or self.folder(run_id) is None:
            raise DeleteRefused(f"run {run_id} is not in the runs folder {self.root}")
        with self._lock:
            proc = self._procs.get(run_id)
            if run_id in self._args:            # queued, not started: nothing to stop
                self._cancel(run_id)
            elif proc is not None:
                self._paused.pop(run_id, None)
                self._dequeue(run_id)
                self._send(run_id, "stop")
        if proc is not None:
            if not proc.wait(STOP_WAIT_S):
                proc.kill()
            with self._lock:
                self._finish(run_id, proc)
        if trainer_holds(RunFolder(path)):
            raise DeleteRefused(f"run {run_id} is being trained by another server process; stop it there first")
        try:
            with open(self.root / DELETED_FILE, "a") as f:   # first, so a link to it says "deleted" at once
                f.write(run_id + "\n")
            shutil.rmtree(path)
        except OSError as e:
            raise RunsFolderError(disk_trouble.write_error(e, path)) from None

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every run: close each child's stdin (it saves state and exits), kill what lingers."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for run_id in self._args:
                self._set_state(RunFolder(self.root / run_id), "stopped", "the server stopped before it started")
            self._queue.clear()
            self._args.clear()
            procs = dict(self._procs)
        self._stop_watch.set()
        for proc in procs.values():
            proc.close()
        deadline = time.monotonic() + timeout
        for run_id, proc in procs.items():
            if not proc.wait(max(0.0, deadline - time.monotonic())):
                proc.kill()
        with self._lock:
            for run_id, proc in procs.items():
                self._finish(run_id, proc)
        self._backend.close()

    # ---- inside (lock held) ---------------------------------------------------------------

    def _busy(self) -> int:
        return len(self._procs) - len(self._slotless)

    def _backend_waiting(self) -> int:
        return sum(1 for proc in self._procs.values() if proc.queue_position() is not None)

    def _queue_full(self) -> bool:
        if self._backend.schedules:   # its runs wait in the backend's queue, not ours
            return self._backend_waiting() >= self.max_queued
        return self._busy() >= self.max_active and len(self._queue) >= self.max_queued

    def _check_backend(self) -> None:
        problem = self._backend.problem()   # outside the lock: it may wait for a connection
        if problem:
            raise BackendUnavailable(problem)

    def _dequeue(self, run_id: str) -> None:
        if run_id in self._queue:
            self._queue.remove(run_id)

    def _cancel(self, run_id: str) -> bool:
        """Take a run that has not started yet out of the queue."""
        if run_id not in self._args:
            return False
        self._queue.remove(run_id)
        del self._args[run_id]
        self._set_state(RunFolder(self.root / run_id), "stopped", "cancelled before it started")
        return True

    def _send(self, run_id: str, action: str) -> bool:
        return self._procs[run_id].send(action)   # False: it is ending anyway; the watcher reaps it

    def _watch(self) -> None:
        """Every WATCH_SECONDS: reap ended children, take slots from long-paused runs, start waiting runs."""
        while not self._stop_watch.wait(WATCH_SECONDS):
            with self._lock:
                try:
                    for run_id, proc in list(self._procs.items()):
                        if proc.poll() is not None:
                            self._finish(run_id, proc)
                    now = time.monotonic()
                    self._slotless.update(r for r, since in self._paused.items() if now - since >= self.paused_slot_s)
                    self._fill()
                    self._share_threads()
                except Exception:   # one run's trouble must never end the thread every other run waits on
                    log.exception("gan-explorer: the run watcher met an error; it goes on")

    def _fill(self) -> None:
        """Give free slots to waiting runs, oldest first; a run that cannot start fails on its own."""
        while self._queue and (self._backend.schedules or self._busy() < self.max_active) and not self._closed:
            run_id = self._queue.popleft()
            if run_id in self._procs:   # a paused run that lent its slot, resumed
                self._slotless.discard(run_id)
                self._send(run_id, "resume")
                continue
            run = RunFolder(self.root / run_id)
            try:
                self._spawn(run, self._args.pop(run_id))
            except Exception as e:
                why = (disk_trouble.write_error(e) if isinstance(e, OSError) and e.errno in disk_trouble.REFUSALS
                       else f"{type(e).__name__}: {e}")
                self._set_state(run, "failed", f"could not start training: {why}")
        self._share_threads()

    def threads_for(self, training: int) -> int:
        """Threads for each of `training` runs training at once."""
        return self.lone_threads if training == 1 and self.lone_threads else self.threads

    def _share_threads(self) -> None:
        """Tell each training child how many threads to use now: all of lone_threads when it trains alone."""
        if self._backend.schedules:   # Ray reserved `threads` CPUs for each run: never more
            return
        training = [r for r in self._procs if r not in self._slotless]
        want = self.threads_for(len(training))
        for run_id in training:
            if self._threads.get(run_id) != want and self._send(run_id, f"threads {want}"):
                self._threads[run_id] = want

    def _spawn(self, run: RunFolder, args: list[str]) -> None:
        """Start a run's trainer through the backend: a child in its own session at the lowest CPU priority, or
        a Ray actor."""
        threads = self.threads if self._backend.schedules else self.threads_for(self._busy() + 1)
        args = [*args, "--device", self.device,
                "--threads", str(threads), "--events", "--control", "stdin", "--quiet",
                "--disk-budget-mb", str(self.disk_budget_mb),
                "--yield-to", str(self.interaction_file)]
        # Thread pools outside torch's own setting (OpenMP, MKL) are capped too, at the most a run may be given.
        most = str(threads if self._backend.schedules else max(self.threads, self.lone_threads or 0))
        env = {**os.environ, "OMP_NUM_THREADS": most, "MKL_NUM_THREADS": most,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        proc = self._backend.spawn(run, args, env, run.path / LOG_FILE)
        self._procs[run.name] = proc
        self._threads[run.name] = threads
        with contextlib.suppress(OSError):   # for people reading the folder only: the lock says who owns it
            (run.path / OWNER_FILE).write_text(proc.owner)

    def _finish(self, run_id: str, proc: TrainerHandle) -> None:
        """Forget an ended child; record why it ended if it could not, and what a troubled disk needs."""
        self._procs.pop(run_id, None)
        self._threads.pop(run_id, None)
        self._paused.pop(run_id, None)
        self._slotless.discard(run_id)
        self._dequeue(run_id)
        proc.close()
        run = RunFolder(self.root / run_id)
        with contextlib.suppress(OSError):
            (run.path / OWNER_FILE).unlink(missing_ok=True)
        status = run.read_status()
        # A child that failed on a full or read-only disk may have written nothing, not even its log.
        trouble = disk_trouble.trouble(run.path) if proc.returncode else None
        lost = proc.ended_why()   # the backend knows better than the trainer: its Ray worker died, or it never started
        if lost and status.get("state") in (*ACTIVE_STATES, "stopped"):
            self._set_state(run, "failed" if proc.returncode else "stopped", lost)
        elif status.get("state") in ACTIVE_STATES:
            # The child died before writing its own final state: out of memory, killed, a start-up error.
            why = (_last_line(run.path / LOG_FILE)
                   or f"the trainer ended with exit code {proc.returncode}, saying nothing")
            self._set_state(run, "failed" if proc.returncode else "stopped", f"{why}; {trouble}" if trouble else why)
        elif status.get("state") == "failed" and trouble and trouble not in status.get("message", ""):
            self._set_state(run, "failed", f"{status.get('message')}; {trouble}")

    def _adopt_orphans(self) -> None:
        """Runs left active on disk that no trainer holds (their server is gone) can never finish: mark them stopped."""
        try:
            runs = list_runs(self.root)
        except OSError:
            return
        for run in runs:
            self._stop_if_orphaned(run, ACTIVE_STATES, "the server stopped before this run finished")

    def _stop_if_orphaned(self, run: RunFolder, states: tuple[str, ...], why: str) -> bool:
        if run.read_status().get("state") not in states or trainer_holds(run):
            return False
        if run.read_status().get("state") not in states:   # its trainer wrote its last state, then let go
            return False
        self._set_state(run, "stopped", why)
        with contextlib.suppress(OSError):
            (run.path / OWNER_FILE).unlink(missing_ok=True)
        return True

    @staticmethod
    def _set_state(run: RunFolder, state: str, message: str) -> None:
        """Record a run's state and why; on a full disk within status.json's own blocks. Never raises."""
        status = run.read_status()
        status.pop("state", None)
        status["message"] = message
        try:
            run.write_status(state, **status)
        except OSError as e:
            try:   # in RunFolder.write_status's format
                disk_trouble.overwrite_in_place(run.status_file, json.dumps({"state": state, **status}))
            except OSError:
                log.error("gan-explorer: run %s is %s (%s), but %s", run.name, state, message,
                          disk_trouble.write_error(e))


_MANAGERS: "weakref.WeakSet[RunManager]" = weakref.WeakSet()


@atexit.register
def shutdown_all() -> None:
    """Stop the runs of every manager in this process (at exit, and between tests)."""
    for manager in list(_MANAGERS):
        manager.shutdown()

"""Training runs on a Ray cluster: one actor per run, asking Ray for the run's CPUs (and a GPU when allowed).

Chosen by GAN_EXPLORER_RAY_ADDRESS (explorer/env.py); explorer/run_backends.py says what a backend does.
Ray is imported only here, and only once a RayBackend is made.

- Placement and queueing are Ray's: every run is handed over at once, as an actor asking for
  `--threads` CPUs and, when GAN_EXPLORER_DEVICE allows and the cluster has one, a GPU. An actor Ray
  has not placed yet is a waiting run; its queue place is its order among this server's waiting
  runs (Ray publishes no queue; for runs asking the same resources it places them in about that order).
- The actor runs the same `python -m gan_core.train` child the local backend runs, with its stdin a
  pipe: Pause, Step, Resume and Stop are actor calls that the actor writes to that pipe on the worker.
  Calls reach a threaded actor in no guaranteed order, so each line carries a number and is written in turn.
- Files: the trainer writes its run folder directly, at the same path as on the server. The runs
  folder must therefore be a shared file system (NFS or the like, with working locks) mounted at the
  same path on every node, and so must the project. That keeps live charts, samples, downloads,
  Continue and the Timeline exactly as they are locally, with no copying and nothing to keep in step;
  streaming files back through Ray would need a second writer of every file the trainer writes.
- Faults: when the actor's worker dies, the trainer child is killed with it (or, where that cannot be
  arranged, stops at its stdin's end); once it has let go of its folder's lock the run is marked failed
  with a message.
  Its checkpoint (written each epoch) stays, and Continue starts a new actor, on any worker.
- A cluster that cannot be reached is one line from problem(), and the manager then starts nothing.
"""
from __future__ import annotations

import ctypes
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from gan_core import RunFolder

from .env import REPO_ROOT

CONNECT_WAIT_S = 15.0   # how long a Start waits for a connection attempt already under way
RETRY_S = 10.0          # an unreachable cluster is tried again on the next Start after this long
PROBE_S = 3.0           # a TCP look at HOST:PORT first: ray.init itself waits minutes for a head that is not there
LET_GO_S = 120.0        # after a worker died, how long to wait for its trainer child to release the folder
# What reaches a remote trainer from this server's environment; the worker's own environment gives the rest.
PASSED_ENV = ("PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
log = logging.getLogger(__name__)


class TrainerActor:
    """On a Ray worker: runs one trainer child and writes control lines to its stdin, in the order sent.

    Only the standard library here: the class travels to workers by value, so a worker needs the
    project only for the trainer child itself (at the same path, on the shared file system).
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lines: dict[int, str | None] = {}   # numbered lines not yet written; None closes stdin
        self._next = 0
        self._lock = threading.Lock()

    def where(self) -> tuple[str, str, int]:
        """The node id and address this actor was placed on, and its worker's pid (answers once placed)."""
        import ray
        return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address(), os.getpid()

    def train(self, args: list[str], env: dict[str, str], log_path: str, cwd: str, server_node: str | None,
              prefix: list[str]) -> int:
        """Run `python -m gan_core.train ARGS` to its end; its exit status.

        On the server's own node the trainer keeps the local courtesies (lowest CPU priority, pausing
        while a page draws); on other nodes nobody waits for a picture, so it trains flat out.
        """
        import ray
        if ray.get_runtime_context().get_node_id() != server_node:
            prefix, args = [], _without_option(args, "--yield-to")
        cmd = [*prefix, sys.executable, "-m", "gan_core.train", *args]
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                                    cwd=cwd, env={**os.environ, **env}, preexec_fn=_die_with_parent)
        with self._lock:
            self._proc = proc
            self._deliver()   # lines sent while the trainer was starting
        return proc.wait()

    def send(self, number: int, line: str | None) -> bool:
        """Write control line `number` once every earlier one is written (None: close stdin)."""
        with self._lock:
            self._lines[number] = line
            return self._deliver()

    def _deliver(self) -> bool:
        ok = True
        while self._proc is not None and self._next in self._lines:
            line = self._lines.pop(self._next)
            self._next += 1
            try:
                if line is None:
                    self._proc.stdin.close()
                else:
                    self._proc.stdin.write(f"{line}\n".encode())
                    self._proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                ok = False   # the trainer is ending anyway
        return ok


def _die_with_parent() -> None:
    """In the trainer child, before exec: be killed when the thread that started it dies (its worker did).

    Without this the child, its stdin closed, would stop on its own and write "stopped" before the
    server could say that its worker died. Linux only (prctl PR_SET_PDEATHSIG); elsewhere the stdin
    rule still ends it.
    """
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)   # 1: PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


def _without_option(args: list[str], name: str) -> list[str]:
    """args less `name VALUE`."""
    if name not in args:
        return list(args)
    i = args.index(name)
    return args[:i] + args[i + 2:]


def _option(args: list[str], name: str, default: str) -> str:
    return args[args.index(name) + 1] if name in args[:-1] else default


def _probe(address: str) -> str | None:
    """Why HOST:PORT (or ray://HOST:PORT) cannot be reached over TCP, or None; 'auto' is Ray's to find."""
    if address == "auto":
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_S).close()
    except OSError as e:
        return f"no answer ({e.strerror or type(e).__name__})"
    return None


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


class RayProcess:
    """The server's handle on one run's actor (see run_backends.TrainerHandle)."""

    def __init__(self, backend: "RayBackend", run: RunFolder, actor, number: int) -> None:
        self._backend, self._run, self._actor, self.number = backend, run, actor, number
        self.owner = f"a Ray actor on the cluster at {backend.address}"
        self.returncode: int | None = None
        self._placed = actor.where.remote()
        self._where: tuple | None = None
        self._done = None        # the train call's result, set by RayBackend.spawn
        self._lines = itertools.count()
        self._why: str | None = None
        self._died_at: float | None = None

    def placed(self) -> bool:
        import ray
        if self._where is None and self.returncode is None:
            try:
                if ray.wait([self._placed], timeout=0)[0]:
                    self._where = ray.get(self._placed)
                    self.owner = f"Ray worker pid {self._where[2]} on {self._where[1]}"
            except ray.exceptions.RayError:
                return False   # it died before answering: poll() says so
        return self._where is not None

    def send(self, line: str | None) -> bool:
        if self.returncode is not None:
            return False
        if line == "stop" and not self.placed():
            return self._cancel("cancelled before it started")
        self._actor.send.remote(next(self._lines), line)   # not awaited: the manager's lock is held
        return True

    def close(self) -> None:
        if self.returncode is None and not self.placed():
            self._cancel("the server stopped before it started")
        else:
            self.send(None)

    def _cancel(self, why: str) -> bool:
        import ray
        self._why = why
        ray.kill(self._actor, no_restart=True)
        return True

    def poll(self) -> int | None:
        import ray
        if self.returncode is not None:
            return self.returncode
        try:
            if not ray.wait([self._done], timeout=0)[0]:
                return None
            code = ray.get(self._done)
        except ray.exceptions.RayActorError:
            if self._why:   # we cancelled it
                code = 0
            else:
                code = -1
                if not self._let_go():
                    return None   # its trainer child is still saving and stopping; look again later
                # Ray's own text ("The actor died unexpectedly...") adds nothing to this.
                where = f" (pid {self._where[2]} on {self._where[1]})" if self._where else ""
                self._why = (f"its Ray worker{where} died mid-run; "
                             "Continue resumes from the last finished epoch's checkpoint")
        except ray.exceptions.RayTaskError as e:   # train() itself raised on the worker: the trainer never started
            cause = getattr(e, "cause", None) or e
            hint = ("; the runs folder and the project must be on a file system every node shares, at the same path"
                    if isinstance(cause, OSError) else "")
            code, self._why = 1, f"could not start training on its Ray worker: {_one_line(cause)}{hint}"
        except Exception as e:   # the cluster went away under it (a client's connection, the head)
            code, self._why = -1, f"lost touch with the Ray cluster at {self._backend.address}: {_one_line(e)}"
            self._backend.lost(self._why)
        self.returncode = code
        self._backend.forget(self)
        return code

    def _let_go(self) -> bool:
        """Whether the dead actor's trainer child has released the run folder (or we waited long enough)."""
        from .run_manager import trainer_holds
        now = time.monotonic()
        self._died_at = self._died_at or now
        return not trainer_holds(self._run) or now - self._died_at > LET_GO_S

    def wait(self, timeout: float) -> bool:
        import ray
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ray.wait([self._done], timeout=min(left, 0.5))
        return True

    def kill(self) -> None:
        import ray
        self._why = self._why or "stopped by force when the server stopped"
        ray.kill(self._actor, no_restart=True)
        if not self.wait(10.0):
            self.returncode = -9
            self._backend.forget(self)

    def queue_position(self) -> int | None:
        if self.returncode is not None or self.placed():
            return None
        return 1 + sum(1 for p in self._backend.waiting() if p.number < self.number)

    def ended_why(self) -> str | None:
        return self._why


class RayBackend:
    """Hands runs to the Ray cluster at `address`; connects in the background and says why it cannot."""

    schedules = True   # Ray queues and places; the manager hands every run over at once

    def __init__(self, address: str, prefix: list[str] | None = None) -> None:
        self.address, self.prefix = address, list(prefix or [])
        self._lock = threading.Lock()
        self._problem: str | None = f"still connecting to the Ray cluster at {address}; try again in a moment"
        self._connected = False
        self._tried = 0.0
        self._attempt: threading.Thread | None = None
        self._numbers = itertools.count()
        self._live: dict[int, RayProcess] = {}
        self._server_node: str | None = None
        self._gpus = 0.0
        self._start_attempt()

    # ---- connection ---------------------------------------------------------------------

    def _start_attempt(self) -> None:
        self._tried = time.monotonic()
        self._attempt = threading.Thread(target=self._connect, name="gan-explorer-ray-connect", daemon=True)
        self._attempt.start()

    def _connect(self) -> None:
        try:
            import ray
        except ImportError:
            self._fail("GAN_EXPLORER_RAY_ADDRESS is set but Ray is not installed here: pip install '.[ray]'")
            return
        why = _probe(self.address)
        if why:
            self._fail(f"cannot reach the Ray cluster at {self.address}: {why}; no run starts until it answers")
            return
        try:
            # A client ("ray://") gets the actor class by value (see TrainerActor); so does a driver.
            ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
            if ray.is_initialized():   # a broken connection from before
                ray.shutdown()
            ray.init(address=self.address, namespace="gan-explorer", ignore_reinit_error=True,
                     log_to_driver=False, logging_level=logging.ERROR)
            resources = ray.cluster_resources()
            ctx = ray.get_runtime_context()
            server_node = None if self.address.startswith("ray://") else ctx.get_node_id()
        except Exception as e:   # Ray raises ConnectionError, RuntimeError, ValueError... all mean "not reachable"
            self._fail(f"cannot reach the Ray cluster at {self.address}: {_one_line(e)}")
            return
        with self._lock:
            self._actor_class = ray.remote(TrainerActor)
            self._server_node, self._gpus = server_node, resources.get("GPU", 0.0)
            self._connected, self._problem = True, None

    def lost(self, why: str) -> None:
        """The connection broke: say so until a new attempt (on a later Start) connects again."""
        with self._lock:
            self._connected, self._problem, self._tried = False, why, time.monotonic()

    def _fail(self, why: str) -> None:
        with self._lock:
            self._problem = why
        log.warning("gan-explorer: %s", why)

    def problem(self) -> str | None:
        """One line saying why runs cannot start now, or None. Waits a little for a connection under way."""
        with self._lock:
            attempt = self._attempt
            if not self._connected and not attempt.is_alive() and time.monotonic() - self._tried > RETRY_S:
                self._start_attempt()
                attempt = self._attempt
        attempt.join(CONNECT_WAIT_S)
        with self._lock:
            return self._problem

    # ---- runs ---------------------------------------------------------------------------

    def gpu_wanted(self, device: str) -> bool:
        """cuda: always ask for a GPU (a run waits until one is free); auto: when the cluster has any; cpu: never."""
        return device == "cuda" or device == "auto" and self._gpus > 0

    def spawn(self, run: RunFolder, args: list[str], env: dict[str, str], log: Path) -> RayProcess:
        """Hand the run to Ray as an actor asking for its CPUs (--threads) and maybe a GPU; returns at once."""
        problem = self.problem()
        if problem:
            raise ConnectionError(problem)
        gpu = self.gpu_wanted(_option(args, "--device", "auto"))   # the manager's GAN_EXPLORER_DEVICE
        args = [*_without_option(args, "--device"), "--device", "cuda" if gpu else "cpu"]
        passed = {k: v for k, v in env.items() if k.startswith("GAN_EXPLORER_") or k in PASSED_ENV}
        # max_concurrency: train() holds one thread for the run's life; where() and send() need others.
        actor = self._actor_class.options(num_cpus=float(_option(args, "--threads", "1")), num_gpus=1 if gpu else 0,
                                          max_concurrency=4).remote()
        proc = RayProcess(self, run, actor, next(self._numbers))
        proc._done = actor.train.remote(args, passed, str(log), str(REPO_ROOT), self._server_node, self.prefix)
        with self._lock:
            self._live[proc.number] = proc
        return proc

    def waiting(self) -> list[RayProcess]:
        with self._lock:
            live = list(self._live.values())
        return [p for p in live if not p.placed()]

    def forget(self, proc: RayProcess) -> None:
        with self._lock:
            self._live.pop(proc.number, None)

    def close(self) -> None:
        """Disconnect (the manager has ended every run first); actors this server made end with it."""
        if self._connected:
            import ray
            ray.shutdown()

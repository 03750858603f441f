"""Where a run's trainer executes: a child process of this server (the default), or a Ray cluster.

RunManager builds each run's `gan_core.train` arguments and hands them to a backend, which starts the
trainer and returns a handle with the few things the manager does to a trainer: send it a control
line (pause, resume, step, stop), ask whether it has ended, close its control input (it then saves and
stops), wait for it, kill it. The trainer is the same program either way and writes the same run folder.

    LocalBackend   `python -m gan_core.train` as a child in its own session, at the lowest CPU priority;
                   the manager's own queue caps how many train at once
    RayBackend     (explorer/ray_backend.py, imported only when GAN_EXPLORER_RAY_ADDRESS is set) one Ray
                   actor per run, asking for its CPUs and GPU: Ray queues and places the runs

backend_from_env() chooses: a set but unusable Ray address never falls back to local training.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Protocol

from gan_core import RunFolder

from . import env
from .env import REPO_ROOT


class BackendUnavailable(RuntimeError):
    """Runs cannot be started now (the Ray cluster cannot be reached); the message is one line."""


class TrainerHandle(Protocol):
    """One run's trainer as its backend runs it."""

    owner: str               # who trains it, for people reading the run folder (a pid, a Ray actor)
    returncode: int | None   # the trainer's exit status once ended

    def send(self, line: str) -> bool:
        """Pass one control line to the trainer; False if it is ending anyway."""

    def poll(self) -> int | None:
        """The exit status if the trainer has ended (and let go of its folder), else None."""

    def close(self) -> None:
        """End the control input: the trainer finishes its step, saves and stops."""

    def wait(self, timeout: float) -> bool:
        """Wait up to timeout seconds for the end; whether it ended."""

    def kill(self) -> None:
        """End it now."""

    def queue_position(self) -> int | None:
        """1 for the next run the backend will place; None once placed (or when the backend has no queue)."""

    def ended_why(self) -> str | None:
        """Why it ended when the backend knows better than the trainer's own status (its worker died)."""


class LocalProcess:
    """A trainer that is a child process of this server."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self._proc = proc
        self.owner = str(proc.pid)

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def send(self, line: str) -> bool:
        try:
            self._proc.stdin.write(f"{line}\n".encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            return False   # it is ending anyway; the manager reaps it
        return True

    def poll(self) -> int | None:
        return self._proc.poll()

    def close(self) -> None:
        try:
            self._proc.stdin.close()
        except OSError:
            pass

    def wait(self, timeout: float) -> bool:
        try:
            self._proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)   # its own session: the child and anything it spawned
        except ProcessLookupError:
            pass
        self._proc.wait()

    def queue_position(self) -> None:
        return None   # started at once; waiting happens in the manager's own queue

    def ended_why(self) -> None:
        return None   # the trainer's status and log say it


class LocalBackend:
    """Trainers as children of this server, in their own session, each stopping when its stdin closes."""

    schedules = False   # the manager's queue decides when a run starts

    def __init__(self, python: str = sys.executable, prefix: list[str] | None = None) -> None:
        self.python, self.prefix = python, list(prefix or [])

    def problem(self) -> None:
        return None

    def spawn(self, run: RunFolder, args: list[str], env: dict[str, str], log: Path) -> LocalProcess:
        """Start `python -m gan_core.train ARGS` with stdout and stderr appended to log."""
        cmd = [*self.prefix, self.python, "-m", "gan_core.train", *args]
        with open(log, "ab") as log_file:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                                    cwd=REPO_ROOT, env=env, start_new_session=True)
        return LocalProcess(proc)

    def close(self) -> None:
        pass


def backend_from_env(python: str = sys.executable, prefix: list[str] | None = None):
    """RayBackend when GAN_EXPLORER_RAY_ADDRESS is set (never local training then), else LocalBackend."""
    address = env.ray_address()
    if not address:
        return LocalBackend(python, prefix)
    from .ray_backend import RayBackend   # Ray is an optional extra: imported only when asked for
    return RayBackend(address, prefix)

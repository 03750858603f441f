"""What the whole server shares, held with st.cache_resource: the run manager and each run's curves."""
from __future__ import annotations

import os

import streamlit as st

from gan_core import RunFolder

from . import env
from .run_curves import RunCurves
from .run_manager import RunManager


@st.cache_resource(show_spinner=False)
def manager() -> RunManager:
    """The one RunManager of this server, shared by every session."""
    return RunManager(env.runs_root(), max_active=env.max_active_runs(), threads=env.threads_per_run(),
                      device=env.training_device(), max_queued=env.max_queued_runs(),
                      paused_slot_s=env.paused_slot_seconds(), disk_budget_mb=env.disk_budget_mb(),
                      lone_threads=lone_threads())


def lone_threads() -> int | None:
    """A run training alone uses every core, unless GAN_EXPLORER_THREADS fixes the threads of each run."""
    return None if os.environ.get("GAN_EXPLORER_THREADS", "").strip() else os.cpu_count() or 1


@st.cache_resource(show_spinner=False, max_entries=64)
def run_curves(run_id: str) -> RunCurves:
    """The shared incremental reader of one run's events (run_id already validated)."""
    return RunCurves(manager().folder(run_id))


@st.cache_resource(show_spinner=False, max_entries=16)
def folder_curves(path: str) -> RunCurves:
    """The curves of a run folder outside the runs folder: a run shipped ready to show (explorer/lesson_runs.py)."""
    return RunCurves(RunFolder(path))

"""What the whole server shares, held with st.cache_resource: the run manager, run metrics, loaded models."""
from __future__ import annotations

import streamlit as st

from gan_core import CheckpointError, load_checkpoint

from . import env
from .metrics import RunMetrics
from .models import Model
from .runner import RunManager


@st.cache_resource(show_spinner=False)
def manager() -> RunManager:
    """The one RunManager of this server, shared by every session."""
    return RunManager(env.runs_root(), max_active=env.max_active_runs(), threads=env.threads_per_run(),
                      device=env.training_device(), max_queued=env.max_queued_runs())


@st.cache_resource(show_spinner=False, max_entries=64)
def run_metrics(run_id: str) -> RunMetrics:
    """The shared incremental reader of one run's events (run_id already validated)."""
    return RunMetrics(manager().folder(run_id))


@st.cache_data(show_spinner=False, max_entries=256)
def checkpoint_problem(path: str, mtime_ns: int) -> str | None:
    """Why a file in the checkpoints folder is not a model to explore (None if it is); checked once per version."""
    try:
        load_checkpoint(path)
    except CheckpointError as e:
        return str(e)
    return None


@st.cache_resource(show_spinner=False, max_entries=8)
def model_from_file(path: str, mtime_ns: int, where: str) -> Model:
    """A checkpoint file, loaded once per version of it (mtime_ns is part of the cache key)."""
    return Model.from_checkpoint(load_checkpoint(path), where)


@st.cache_resource(show_spinner=False, max_entries=4)
def model_from_upload(sha256: str, _data: bytes, where: str) -> Model:
    """An uploaded checkpoint, keyed by its digest so its bytes are not hashed on every rerun."""
    return Model.from_checkpoint(load_checkpoint(_data), where)

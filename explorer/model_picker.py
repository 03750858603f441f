"""The model picker: which generators the pages can explore (ready-made checkpoints, the runs
trained here, an uploaded file), loaded once per file version, and the sidebar widget that picks one."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from torch import nn

from gan_core import Checkpoint, CheckpointError, GANConfig, RunFolder, load_checkpoint

from . import env, resources
from .plain import plain


@dataclass(frozen=True)
class ModelSource:
    """One entry of the model picker."""

    key: str                 # "checkpoint:NAME.pt", "run:RUN_ID" or "upload:SHA256"
    label: str
    path: Path | None = None  # None for an upload, whose bytes live in the session


@dataclass(frozen=True)
class Model:
    """A loaded generator (and discriminator, when the file has one), ready for decode/d_scores."""

    G: nn.Module
    D: nn.Module | None
    config: GANConfig
    epoch: int
    source: str              # where it came from, in words

    @classmethod
    def from_checkpoint(cls, ck: Checkpoint, where: str) -> "Model":
        trained = f", {ck.epoch} epoch{'s' * (ck.epoch != 1)}" if ck.source != "book state_dict" else ", book state_dict"
        return cls(ck.build_generator("cpu"), ck.build_discriminator("cpu"), ck.config, ck.epoch, where + trained)


def list_sources(checkpoints: Path, runs: list[RunFolder]) -> list[ModelSource]:
    """Ready-made checkpoints (by name), then runs that have saved at least one epoch (newest first)."""
    found = [ModelSource(f"checkpoint:{p.name}", p.name, p)
             for p in sorted(checkpoints.glob("*.pt")) if p.is_file()] if checkpoints.is_dir() else []
    for run in runs:
        if run.checkpoint.is_file():
            s = run.read_status()
            found.append(ModelSource(f"run:{run.name}",
                                     f"run {run.name} · epoch {s.get('epoch', '?')}/{s.get('epochs', '?')} · "
                                     f"{s.get('state', '?')}", run.checkpoint))
    return found


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


# ---- the sidebar widget ----------------------------------------------------------------

def _on_upload() -> None:
    """Validate an uploaded file once, when it arrives; keep it for the session if it loads."""
    f = st.session_state.get("model.file")
    st.session_state["model.upload_error"] = None
    if f is None:
        return
    data = f.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    try:
        model_from_upload(digest, data, f"upload {f.name}")
    except CheckpointError as e:
        st.session_state["model.upload_error"] = plain(f"{f.name}: {e}")
        return
    st.session_state["model.upload"] = (f.name, digest, data)
    st.session_state["model.source"] = f"upload:{digest}"


def model_sources() -> tuple[list[ModelSource], list[str]]:
    """What the picker offers (checkpoints, runs, this session's upload), and the files it skipped.

    The checkpoints folder may hold other models (the evaluation classifier): only files that
    load as a generator are offered. Runs' checkpoints come from gan_core.train and are trusted.
    """
    found, skipped = [], []
    for src in list_sources(env.checkpoints_root(), resources.manager().runs()):
        if src.key.startswith("checkpoint:") and checkpoint_problem(str(src.path), src.path.stat().st_mtime_ns):
            skipped.append(src.path.name)
        else:
            found.append(src)
    upload = st.session_state.get("model.upload")
    if upload:
        name, digest, _ = upload
        found.append(ModelSource(f"upload:{digest}", f"uploaded: {name}"))
    return found, skipped


def pick_model() -> Model | None:
    """Sidebar: pick a model to explore; returns it loaded, or None (after saying why) if there is none."""
    sources, skipped = model_sources()
    by_key = {s.key: s for s in sources}
    with st.sidebar:
        st.header("Model")
        if by_key:
            if st.session_state.get("model.source") not in by_key:
                st.session_state["model.source"] = next(iter(by_key))
            key = st.selectbox("Generator to explore", list(by_key), format_func=lambda k: by_key[k].label,
                               key="model.source", persist_state="session")
        if skipped:
            st.caption(f"Not generators, so not offered: {plain(', '.join(skipped))}.")
        with st.expander("Upload a checkpoint", expanded=not by_key):
            st.file_uploader("A GAN Explorer checkpoint or a book-style `G.state_dict()` (.pt)", type=["pt", "pth"],
                             key="model.file", on_change=_on_upload)
        if st.session_state.get("model.upload_error"):
            st.error(st.session_state["model.upload_error"])
    if not by_key:
        return None
    src = by_key[key]
    try:
        if src.path is None:
            name, digest, data = st.session_state["model.upload"]
            return model_from_upload(digest, data, f"upload {name}")
        return model_from_file(str(src.path), src.path.stat().st_mtime_ns, src.label)
    except (CheckpointError, OSError) as e:
        st.error(plain(f"{src.label}: {e}"))
        return None


def no_model_prompt() -> None:
    """What a page shows when there is no model yet (a fresh install): train one, or upload one."""
    st.info("**No model to explore yet.** Train one on the Train page (the *Quick look* preset takes a few "
            "minutes; each finished epoch can be explored at once), or upload a checkpoint in the sidebar.")
    st.page_link("views/train.py", label="Train a GAN", icon=":material/model_training:")

"""The model picker: which generators the pages can explore (ready-made checkpoints, the runs
trained here, an uploaded file), loaded once per file version, and the sidebar widget that picks one."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import streamlit as st
from torch import nn

from gan_core import Checkpoint, CheckpointError, GANConfig, RunFolder, load_checkpoint

from . import env, resources
from .i18n import N_, t, tn
from .plain import plain
from .training_form import PRESETS

# A run's states (gan_core.run_folder.STATES) in words.
STATE_NAMES = {"queued": N_("queued"), "running": N_("running"), "paused": N_("paused"), "finished": N_("finished"),
               "stopped": N_("stopped"), "diverged": N_("diverged"), "failed": N_("failed")}


def state_name(state: object) -> str:
    """A run's state in this page's language ("?" when the status file has none)."""
    return t(STATE_NAMES[state]) if state in STATE_NAMES else "?"


@dataclass(frozen=True)
class ModelSource:
    """One entry of the model picker."""

    key: str                 # "checkpoint:NAME.pt", "run:RUN_ID" or "upload:SHA256"
    label: str               # in this page's language
    path: Path | None = None  # None for an upload, whose bytes live in the session


@dataclass(frozen=True)
class Model:
    """A loaded generator (and discriminator, when the file has one), ready for decode/d_scores."""

    G: nn.Module
    D: nn.Module | None
    config: GANConfig
    epoch: int
    book_state_dict: bool    # a bare G.state_dict() saved by the book's code: no epoch count
    source: str = ""         # where it came from, in words of the page's language (see described)

    @classmethod
    def from_checkpoint(cls, ck: Checkpoint) -> "Model":
        return cls(ck.build_generator("cpu"), ck.build_discriminator("cpu"), ck.config, ck.epoch,
                   ck.source == "book state_dict")

    def described(self, where: str) -> "Model":
        """This model (the same G and D) with `source` saying where it came from and how long it trained.

        Loaded models are shared by every session, whatever language each reads: the words are
        added per script run.
        """
        if self.book_state_dict:
            return replace(self, source=t("{where}, book state_dict", where=where))
        return replace(self, source=tn("{where}, {n:,} epoch", "{where}, {n:,} epochs", self.epoch, where=where))


def list_sources(checkpoints: Path, runs: list[RunFolder]) -> list[ModelSource]:
    """Ready-made checkpoints (by name), then runs that have saved at least one epoch (newest first)."""
    found = [ModelSource(f"checkpoint:{p.name}", p.name, p)
             for p in sorted(checkpoints.glob("*.pt")) if p.is_file()] if checkpoints.is_dir() else []
    for run in runs:
        if run.checkpoint.is_file():
            s = run.read_status()
            found.append(ModelSource(f"run:{run.name}",
                                     t("run {name} · epoch {epoch}/{epochs} · {state}", name=run.name,
                                       epoch=s.get("epoch", "?"), epochs=s.get("epochs", "?"),
                                       state=state_name(s.get("state"))), run.checkpoint))
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
def model_from_file(path: str, mtime_ns: int) -> Model:
    """A checkpoint file, loaded once per version of it (mtime_ns is part of the cache key)."""
    return Model.from_checkpoint(load_checkpoint(path))


@st.cache_resource(show_spinner=False, max_entries=4)
def model_from_upload(sha256: str, _data: bytes) -> Model:
    """An uploaded checkpoint, keyed by its digest so its bytes are not hashed on every rerun."""
    return Model.from_checkpoint(load_checkpoint(_data))


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
        model_from_upload(digest, data)
    except CheckpointError as e:
        st.session_state["model.upload_error"] = (f.name, str(e))   # said on each run, in the page's language
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
        found.append(ModelSource(f"upload:{digest}", t("uploaded: {name}", name=name)))
    return found, skipped


def pick_model() -> Model | None:
    """Sidebar: pick a model to explore; returns it loaded, or None (after saying why) if there is none."""
    sources, skipped = model_sources()
    by_key = {s.key: s for s in sources}
    with st.sidebar:
        st.header(t("Model"))
        if by_key:
            if st.session_state.get("model.source") not in by_key:
                st.session_state["model.source"] = next(iter(by_key))
            key = st.selectbox(t("Generator to explore"), list(by_key), format_func=lambda k: by_key[k].label,
                               key="model.source", persist_state="session")
        if skipped:
            st.caption(t("Not generators, so not offered: {names}.", names=plain(", ".join(skipped))))
        with st.expander(t("Upload a checkpoint"), expanded=not by_key):
            st.file_uploader(t("A GAN Explorer checkpoint or a book-style `G.state_dict()` (.pt)"), type=["pt", "pth"],
                             key="model.file", on_change=_on_upload)
        if st.session_state.get("model.upload_error"):
            st.error(cannot_load(*st.session_state["model.upload_error"]))
    if not by_key:
        return None
    src = by_key[key]
    try:
        if src.path is None:
            name, digest, data = st.session_state["model.upload"]
            model = model_from_upload(digest, data)
        else:
            model = model_from_file(str(src.path), src.path.stat().st_mtime_ns)
    except (CheckpointError, OSError) as e:
        st.error(cannot_load(src.label, str(e)))
        return None
    return model.described(src.label)


def cannot_load(what: str, reason: str) -> str:
    """One line: which file or entry, and the library's (English) reason, as plain text (300 characters at most)."""
    # Translators: {what} is a file name or a model picker entry, {reason} the library's English message.
    return t("{what}: {reason}", what=plain(what, 60), reason=plain(reason, 240))


def no_model_prompt() -> None:
    """What a page shows when there is no model yet (a fresh install): train one, or upload one."""
    quick = PRESETS["quick"].name
    st.info(t("**No model to explore yet.** Train one on the Train page (the *{preset}* preset takes a few "
              "minutes; each finished epoch can be explored at once), or upload a checkpoint in the sidebar.",
              preset=t(quick)))
    st.page_link("views/train.py", label=t("Train a GAN"), icon=":material/model_training:")

"""The model picker: which generators the pages can explore (ready-made checkpoints, the runs
trained here, the files uploaded to this server), loaded once per file version, and the sidebar
widget that picks one. The pick is kept in the URL (?model=KEY) so a reload or a shared link
comes back to the same generator."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import streamlit as st
from torch import nn

from gan_core import Checkpoint, CheckpointError, GANConfig, RunFolder, load_checkpoint

from . import env, resources, uploads
from .i18n import N_, t, tn
from .plain import plain
from .run_names import distinct_labels, run_title
from .training_form import PRESETS

PARAM = "model"   # the URL's ?model=KEY

# A run's states (gan_core.run_folder.STATES) in words.
STATE_NAMES = {"queued": N_("queued"), "running": N_("running"), "paused": N_("paused"), "finished": N_("finished"),
               "stopped": N_("stopped"), "diverged": N_("diverged"), "failed": N_("failed")}


def state_name(state: object) -> str:
    """A run's state in this page's language ("?" when the status file has none)."""
    return t(STATE_NAMES[state]) if state in STATE_NAMES else "?"


@dataclass(frozen=True)
class ModelSource:
    """One entry of the model picker."""

    key: str                 # "checkpoint:NAME.pt", "run:RUN_ID" or "upload:SHA256"; also the URL's ?model=
    label: str               # in this page's language
    path: Path


@dataclass(frozen=True)
class Model:
    """A loaded generator (and discriminator, when the file has one), ready for decode/d_scores."""

    G: nn.Module
    D: nn.Module | None
    config: GANConfig
    epoch: int
    book_state_dict: bool    # a bare G.state_dict() saved by the book's code: no epoch count
    source: str = ""         # where it came from, in words of the page's language (see described)
    adam: tuple[dict, dict] | None = None   # G's and D's Adam states from training, when the file keeps them

    @classmethod
    def from_checkpoint(cls, ck: Checkpoint) -> "Model":
        return cls(ck.build_generator("cpu"), ck.build_discriminator("cpu"), ck.config, ck.epoch,
                   ck.source == "book state_dict", adam=ck.adam)

    def described(self, where: str) -> "Model":
        """This model (the same G and D) with `source` saying where it came from and how long it trained.

        Loaded models are shared by every session, whatever language each reads: the words are
        added per script run.
        """
        if self.book_state_dict:
            return replace(self, source=t("{where}, book state_dict", where=where))
        return replace(self, source=tn("{where}, {n:,} epoch", "{where}, {n:,} epochs", self.epoch, where=where))


def list_sources(checkpoints: Path, runs: list[RunFolder], uploaded: list[uploads.Upload] = ()) -> list[ModelSource]:
    """Ready-made checkpoints (by name), runs that have saved at least one epoch (newest first), then the files
    uploaded to this server (newest first)."""
    found = [ModelSource(f"checkpoint:{p.name}", p.name, p)
             for p in sorted(checkpoints.glob("*.pt")) if p.is_file()] if checkpoints.is_dir() else []
    for run in runs:
        if run.checkpoint.is_file():
            s = run.read_status()
            # The title is read on every run of the script, so one given on another page shows at once.
            found.append(ModelSource(f"run:{run.name}",
                                     t("{title} · epoch {epoch}/{epochs} · {state}", title=run_title(run),
                                       epoch=s.get("epoch", "?"), epochs=s.get("epochs", "?"),
                                       state=state_name(s.get("state"))), run.checkpoint))
    found += [ModelSource(u.key, t("uploaded: {name}", name=u.name), u.path) for u in uploaded]
    labels = distinct_labels({s.key: s.label for s in found})
    return [replace(s, label=labels[s.key]) for s in found]


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


# ---- the sidebar widget ----------------------------------------------------------------

def upload_cap_bytes() -> int:
    """The largest file an upload may be: Streamlit's own cap (server.maxUploadSize, .streamlit/config.toml),
    which its uploader enforces too; gan_core refuses anything over 200 MB whatever it is."""
    return int(st.config.get_option("server.maxUploadSize")) << 20


def _on_upload() -> None:
    """Validate an uploaded file once, when it arrives; keep it on the server, and pick it, if it loads."""
    f = st.session_state.get("model.file")
    st.session_state["model.upload_error"] = None
    if f is None:
        return
    try:
        up = uploads.store(env.uploads_root(), f.name, f.getvalue(), upload_cap_bytes(),
                           env.uploads_budget_mb() << 20)
    except uploads.UploadTooLarge as e:
        st.session_state["model.upload_error"] = (f.name, "too_large", (e.size, e.cap))
        return
    except CheckpointError as e:
        st.session_state["model.upload_error"] = (f.name, "refused", str(e))   # said on each run, in the page's language
        return
    except OSError as e:
        st.session_state["model.upload_error"] = (f.name, "not_kept", e.strerror or str(e))
        return
    st.session_state["model.source"] = up.key
    st.session_state["model.gone"] = None


def _upload_error(name: str, kind: str, detail) -> str:
    if kind == "too_large":
        size, cap = detail
        # Translators: {what} is the uploaded file's name.
        return t("{what}: {size:,.1f} MB, more than the {cap:,.0f} MB an upload may be.", what=plain(name, 60),
                 size=size / 2**20, cap=cap / 2**20)
    if kind == "not_kept":
        return t("{what} could not be kept on the server: {reason}", what=plain(name, 60), reason=plain(detail, 200))
    return cannot_load(name, detail)


def _picked() -> None:
    st.session_state["model.gone"] = None   # the user chose: a message about a lost model is old news


def model_sources() -> tuple[list[ModelSource], list[str]]:
    """What the picker offers (checkpoints, runs, uploads), and the files it skipped.

    The checkpoints folder may hold other models (the evaluation classifier): only files that
    load as a generator are offered. Runs' checkpoints come from gan_core.train and are trusted;
    uploads were checked when they arrived, and are checked again here in case the folder was changed by hand.
    """
    found, skipped = [], []
    for src in list_sources(env.checkpoints_root(), resources.manager().runs(), uploads.listing(env.uploads_root())):
        if src.key.startswith(("checkpoint:", "upload:")):
            try:
                problem = checkpoint_problem(str(src.path), src.path.stat().st_mtime_ns)
            except OSError:   # removed since the listing
                continue
            if problem:
                skipped.append(src.path.name if src.key.startswith("checkpoint:") else src.label)
                continue
        found.append(src)
    return found, skipped


def _short(key: str) -> str:
    """A picker key as a person can read it in one line: an upload's digest cut to 12 characters."""
    kind, _, rest = key.partition(":")
    return f"{kind}:{rest[:12]}…" if kind == "upload" and len(rest) > 12 else key


def _choose(by_key: dict[str, ModelSource]) -> None:
    """Before the widget is drawn: the session's pick, taken from the URL when the session starts (a reload or a
    shared link), and replaced by the first entry when what it names is no longer here (said on the page)."""
    if not st.session_state.get("model.link_read"):
        st.session_state["model.link_read"] = True
        wanted = st.query_params.get(PARAM)
        if wanted:
            st.session_state["model.source"] = wanted
    current = st.session_state.get("model.source")
    if current not in by_key:
        if current:   # a link to a deleted run or an evicted upload, or one deleted while it was picked
            st.session_state["model.gone"] = current
        st.session_state["model.source"] = next(iter(by_key))


def pick_model() -> Model | None:
    """Sidebar: pick a model to explore; returns it loaded, or None (after saying why) if there is none."""
    sources, skipped = model_sources()
    by_key = {s.key: s for s in sources}
    with st.sidebar:
        st.header(t("Model"))
        if by_key:
            _choose(by_key)
            key = st.selectbox(t("Generator to explore"), list(by_key), format_func=lambda k: by_key[k].label,
                               key="model.source", persist_state="session", on_change=_picked)
        if skipped:
            st.caption(t("Not generators, so not offered: {names}.", names=plain(", ".join(skipped))))
        with st.expander(t("Upload a checkpoint"), expanded=not by_key):
            st.file_uploader(t("A GAN Explorer checkpoint or a book-style `G.state_dict()` (.pt)"), type=["pt", "pth"],
                             key="model.file", on_change=_on_upload,
                             help=t("Kept on this server, so a reload or a shared link finds it again."))
        if st.session_state.get("model.upload_error"):
            st.error(_upload_error(*st.session_state["model.upload_error"]))
    # The URL names what is shown, so a reload or a copied link comes back to it.
    if not by_key:
        st.query_params.pop(PARAM, None)
        return None
    if st.query_params.get(PARAM) != key:
        st.query_params[PARAM] = key
    if gone := st.session_state.get("model.gone"):
        st.warning(t("“{what}” is not on this server (any more): showing {shown} instead.",
                     what=plain(_short(gone), 80), shown=plain(by_key[key].label, 80)))
    src = by_key[key]
    try:
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

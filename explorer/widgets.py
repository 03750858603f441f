"""Sidebar and picker widgets the pages share; each draws its widgets and returns plain values."""
from __future__ import annotations

import hashlib

import streamlit as st

from gan_core import CheckpointError

from . import env, resources
from .models import Model, ModelSource, list_sources
from .runner import RunSettings

# Known-good starting points, and two that show how a GAN fails (design notes, section 8).
PRESETS: dict[str, tuple[RunSettings, str]] = {
    "Quick look": (RunSettings(epochs=10), "The book's recipe for 10 epochs, a few minutes on one CPU core: "
                                           "rough clothes by the end."),
    "The book's recipe": (RunSettings(epochs=500), "Chapter 14 exactly: 500 epochs of batch 100, lr 0.0002."),
    "D learns too fast": (RunSettings(epochs=10, lr_d=2e-3),
                          "D's learning rate 10x G's: D(G(z)) sinks towards 0 and G's loss climbs."),
    "Learning rate too high": (RunSettings(epochs=10, lr_g=5e-3, lr_d=5e-3),
                               "25x the book's rate for both: the losses swing and samples collapse."),
}
# Settings widgets are bound to the URL, so their keys are the query parameter names a teacher can hand out.
SETTING_KEYS = {"epochs": "epochs", "batch_size": "batch", "lr_g": "lr_g", "lr_d": "lr_d",
                "seed": "seed", "sample_every": "sample_every"}


def _apply_preset() -> None:
    settings, _ = PRESETS[st.session_state["train.preset"]]
    for field, key in SETTING_KEYS.items():
        st.session_state[key] = getattr(settings, field)


def training_settings() -> RunSettings:
    """Sidebar: the run's settings (also read from and written to the URL)."""
    d = RunSettings()
    with st.sidebar:
        st.header("New run")
        st.selectbox("Preset", list(PRESETS), key="train.preset", on_change=_apply_preset,
                     help="Fills in the settings below; you can still change them.")
        st.caption(PRESETS[st.session_state["train.preset"]][1])
        epochs = st.number_input("Epochs", 1, 100_000, d.epochs, key="epochs", bind="query-params",
                                 help="Passes over the 60,000 training images. The book trains 500.")
        batch = st.number_input("Batch size", 1, 60_000, d.batch_size, key="batch", bind="query-params",
                                help="Images per step. The book uses 100 (600 steps an epoch).")
        c1, c2 = st.columns(2)
        lr_g = c1.number_input("G's learning rate", 1e-6, 1.0, d.lr_g, step=1e-4, format="%.4g", key="lr_g",
                               bind="query-params")
        lr_d = c2.number_input("D's learning rate", 1e-6, 1.0, d.lr_d, step=1e-4, format="%.4g", key="lr_d",
                               bind="query-params")
        seed = st.number_input("Seed", 0, 2**31 - 1, d.seed, key="seed", bind="query-params",
                               help="Same seed, same settings: the same run, step for step.")
        every = st.number_input("Refresh samples every N steps", 0, 100_000, d.sample_every, key="sample_every",
                                bind="query-params", help="0: once an epoch. The grid is also kept at every epoch.")
    return RunSettings(int(epochs), int(batch), float(lr_g), float(lr_d), int(seed), int(every))


# ---- model picker ------------------------------------------------------------------------

def _on_upload() -> None:
    """Validate an uploaded file once, when it arrives; keep it for the session if it loads."""
    f = st.session_state.get("model.file")
    st.session_state["model.upload_error"] = None
    if f is None:
        return
    data = f.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    try:
        resources.model_from_upload(digest, data, f"upload {f.name}")
    except CheckpointError as e:
        st.session_state["model.upload_error"] = f"{f.name}: {e}"
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
        if src.key.startswith("checkpoint:") and resources.checkpoint_problem(str(src.path), src.path.stat().st_mtime_ns):
            skipped.append(src.path.name)
        else:
            found.append(src)
    upload = st.session_state.get("model.upload")
    if upload:
        name, digest, _ = upload
        found.append(ModelSource(f"upload:{digest}", f"uploaded: {name}"))
    return found, skipped


def model_picker() -> Model | None:
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
            st.caption(f"Not generators, so not offered: {', '.join(skipped)}.")
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
            return resources.model_from_upload(digest, data, f"upload {name}")
        return resources.model_from_file(str(src.path), src.path.stat().st_mtime_ns, src.label)
    except (CheckpointError, OSError) as e:
        st.error(f"{src.label}: {e}")
        return None


def no_model_prompt() -> None:
    """What a page shows when there is no model yet (a fresh install): train one, or upload one."""
    st.info("**No model to explore yet.** Train one on the Train page (the *Quick look* preset takes a few "
            "minutes; each finished epoch can be explored at once), or upload a checkpoint in the sidebar.")
    st.page_link("views/train.py", label="Train a GAN", icon=":material/model_training:")

"""The Train page's form for a new run: presets and settings, drawn in the sidebar, returned as plain values."""
from __future__ import annotations

import streamlit as st

from .run_manager import RunSettings

# Known-good starting points (what users of GAN teaching tools ask for first), and two that show how a GAN fails.
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

"""The Train page's form for a new run: presets and settings, drawn in the sidebar, returned as plain values."""
from __future__ import annotations

import math
from typing import NamedTuple

import streamlit as st

from .i18n import N_, t
from .plain import plain
from .run_manager import RunSettings


class Preset(NamedTuple):
    name: str                # English, marked for translation: shown as t(name)
    settings: RunSettings
    about: str


# Known-good starting points (what users of GAN teaching tools ask for first), and two that show how a GAN fails.
# Keyed by a name that never changes with the language (the preset widget's value).
PRESETS: dict[str, Preset] = {
    "quick": Preset(N_("Quick look"), RunSettings(epochs=10),
                    N_("The book's recipe for 10 epochs, a few minutes on one CPU core: rough clothes by the end.")),
    "book": Preset(N_("The book's recipe"), RunSettings(epochs=500),
                   N_("Chapter 14 exactly: 500 epochs of batch 100, lr 0.0002.")),
    "d_too_fast": Preset(N_("D learns too fast"), RunSettings(epochs=10, lr_d=2e-3),
                         N_("D's learning rate 10x G's: D(G(z)) sinks towards 0 and G's loss climbs.")),
    "lr_too_high": Preset(N_("Learning rate too high"), RunSettings(epochs=10, lr_g=5e-3, lr_d=5e-3),
                          N_("25x the book's rate for both: the losses swing and samples collapse.")),
}
# Settings widgets are bound to the URL, so their keys are the query parameter names a teacher can hand out.
# Each: RunSettings field -> (URL key, lowest, highest, type), the widget's bounds and a link's.
BOUNDS = {"epochs": ("epochs", 1, 100_000, int), "batch_size": ("batch", 1, 60_000, int),
          "lr_g": ("lr_g", 1e-6, 1.0, float), "lr_d": ("lr_d", 1e-6, 1.0, float),
          "seed": ("seed", 0, 2**31 - 1, int), "sample_every": ("sample_every", 0, 100_000, int)}
SETTING_KEYS = {field: key for field, (key, *_) in BOUNDS.items()}


def link_problems() -> list[tuple[str, str, float, float, type]]:
    """The link's settings the form cannot take, as (key, value, lowest, highest, type): Streamlit would put the
    default in their place without a word."""
    out = []
    for key, lo, hi, kind in BOUNDS.values():
        raw = st.query_params.get(key)
        if raw is None:
            continue
        try:
            v = float(raw) if kind is float else int(raw)
            usable = math.isfinite(v) and lo <= v <= hi
        except (ValueError, OverflowError):
            usable = False
        if not usable:
            out.append((key, raw, lo, hi, kind))
    return out


def link_problem(key: str, raw: str, lo: float, hi: float, kind: type) -> str:
    """One of link_problems in words."""
    given = f"{key}={plain(raw, 24)}"
    if kind is float:
        return t("{given} (it must be a number from {lo:,g} to {hi:,g})", given=given, lo=lo, hi=hi)
    return t("{given} (it must be a whole number from {lo:,g} to {hi:,g})", given=given, lo=lo, hi=hi)


def _apply_preset() -> None:
    settings = PRESETS[st.session_state["train.preset"]].settings
    for field, key in SETTING_KEYS.items():
        st.session_state[key] = getattr(settings, field)


def training_settings() -> RunSettings:
    """Sidebar: the run's settings (also read from and written to the URL)."""
    d = RunSettings()
    # Checked once, when the session opens the link: from then on the form and the URL agree.
    problems = st.session_state.setdefault("train.link_problems", link_problems())
    with st.sidebar:
        st.header(t("New run"))
        if problems:
            st.warning(t("This link's settings could not be used, so the defaults stand in for them: {problems}.",
                         problems="; ".join(link_problem(*p) for p in problems)), icon=":material/link_off:")
        names = {k: t(p.name) for k, p in PRESETS.items()}   # translated here: format_func may run outside this run
        st.selectbox(t("Preset"), list(PRESETS), format_func=names.__getitem__, key="train.preset",
                     on_change=_apply_preset, help=t("Fills in the settings below; you can still change them."))
        preset = PRESETS[st.session_state["train.preset"]]
        st.caption(t(preset.about))
        epochs = st.number_input(t("Epochs"), *BOUNDS["epochs"][1:3], d.epochs, key="epochs", bind="query-params",
                                 help=t("Passes over the 60,000 training images. The book trains 500."))
        batch = st.number_input(t("Batch size"), *BOUNDS["batch_size"][1:3], d.batch_size, key="batch",
                                bind="query-params", help=t("Images per step. The book uses 100 (600 steps an epoch)."))
        c1, c2 = st.columns(2)
        lr_g = c1.number_input(t("G's learning rate"), *BOUNDS["lr_g"][1:3], d.lr_g, step=1e-4, format="%.4g",
                               key="lr_g", bind="query-params")
        lr_d = c2.number_input(t("D's learning rate"), *BOUNDS["lr_d"][1:3], d.lr_d, step=1e-4, format="%.4g",
                               key="lr_d", bind="query-params")
        seed = st.number_input(t("Seed"), *BOUNDS["seed"][1:3], d.seed, key="seed", bind="query-params",
                               help=t("Same seed, same settings: the same run, step for step."))
        every = st.number_input(t("Refresh samples every N steps"), *BOUNDS["sample_every"][1:3], d.sample_every,
                                key="sample_every", bind="query-params",
                                help=t("0: once an epoch. The grid is also kept at every epoch."))
    return RunSettings(int(epochs), int(batch), float(lr_g), float(lr_d), int(seed), int(every))

"""The Train page's form for a new run: presets and settings, drawn in the sidebar, returned as plain values.

The settings are bound to the page's URL (a teacher hands out a link with them), and the preset
box follows them: it names the preset whose settings the form holds, or "Your own settings".
`?preset=KEY` in a link picks that preset; settings the link also gives win over the preset's.
"""
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
# Keyed by a name that never changes with the language (the preset widget's value, and ?preset= in a link).
PRESETS: dict[str, Preset] = {
    "quick": Preset(N_("Quick look"), RunSettings(epochs=10),
                    N_("The book's recipe for 10 epochs, a few minutes on one CPU core: rough clothes by the end.")),
    "book": Preset(N_("The book's recipe"), RunSettings(epochs=500),
                   N_("Chapter 14 exactly: 500 epochs of batch 100, lr 0.0002.")),
    "d_too_fast": Preset(N_("D learns too fast"), RunSettings(epochs=10, lr_d=2e-3),
                         N_("D's learning rate 10x G's: D(G(z)) sinks towards 0 and G's loss climbs.")),
    "lr_too_high": Preset(N_("Learning rate too high"), RunSettings(epochs=10, lr_g=5e-3, lr_d=5e-3),
                          N_("25x the book's rate for both: within an epoch G's pixels saturate and every sample "
                             "is the same picture.")),
}
CUSTOM = "custom"            # the preset box's value when the settings are no preset's
CUSTOM_NAME, CUSTOM_ABOUT = N_("Your own settings"), N_("No preset has exactly these settings.")
PRESET_PARAM = "preset"      # ?preset=KEY
PRESET_KEY = "train.preset"  # the preset box's widget key
# Settings widgets are bound to the URL, so their keys are the query parameter names a teacher can hand out.
# Each: RunSettings field -> (URL key, lowest, highest, type), the widget's bounds and a link's.
BOUNDS = {"epochs": ("epochs", 1, 100_000, int), "batch_size": ("batch", 1, 60_000, int),
          "lr_g": ("lr_g", 1e-6, 1.0, float), "lr_d": ("lr_d", 1e-6, 1.0, float),
          "seed": ("seed", 0, 2**31 - 1, int), "sample_every": ("sample_every", 0, 100_000, int)}
SETTING_KEYS = {field: key for field, (key, *_) in BOUNDS.items()}


def _parse(raw: str, lo: float, hi: float, kind: type) -> int | float | None:
    """A link's value as the form would take it, or None if it cannot."""
    try:
        v = float(raw) if kind is float else int(raw)
    except (ValueError, OverflowError):
        return None
    return v if math.isfinite(v) and lo <= v <= hi else None


def link_problems() -> list[tuple[str, str, float, float, type]]:
    """The link's settings the form cannot take, as (key, value, lowest, highest, type): Streamlit would put the
    default in their place without a word. A preset the app does not have comes as (key, value, 0, 0, str)."""
    out = []
    for key, lo, hi, kind in BOUNDS.values():
        raw = st.query_params.get(key)
        if raw is not None and _parse(raw, lo, hi, kind) is None:
            out.append((key, raw, lo, hi, kind))
    asked = st.query_params.get(PRESET_PARAM)
    if asked is not None and asked not in PRESETS:
        out.append((PRESET_PARAM, asked, 0, 0, str))
    return out


def link_problem(key: str, raw: str, lo: float, hi: float, kind: type) -> str:
    """One of link_problems in words."""
    given = f"{key}={plain(raw, 24)}"
    if kind is str:
        return t("{given} (no such preset; there are {presets})", given=given, presets=", ".join(PRESETS))
    if kind is float:
        return t("{given} (it must be a number from {lo:,g} to {hi:,g})", given=given, lo=lo, hi=hi)
    return t("{given} (it must be a whole number from {lo:,g} to {hi:,g})", given=given, lo=lo, hi=hi)


def matching_preset(settings: RunSettings) -> str:
    """The key of the preset with exactly these settings, or CUSTOM."""
    return next((k for k, p in PRESETS.items() if p.settings == settings), CUSTOM)


def _show_preset_in_url(key: str) -> None:
    if key in PRESETS:
        st.query_params[PRESET_PARAM] = key
    elif PRESET_PARAM in st.query_params:
        del st.query_params[PRESET_PARAM]


def _open_link() -> None:
    """When the session opens the page: the link's preset fills the settings the link does not give, and the
    preset box names what the form then holds."""
    asked = PRESETS.get(st.query_params.get(PRESET_PARAM, ""))
    base = asked.settings if asked else RunSettings()
    values = {}
    for field, (key, lo, hi, kind) in BOUNDS.items():
        raw = st.query_params.get(key)
        given = None if raw is None else _parse(raw, lo, hi, kind)
        values[field] = getattr(base, field) if given is None else given
        if raw is None and asked:
            st.session_state[key] = values[field]   # the URL's own values seed their widgets themselves
    st.session_state[PRESET_KEY] = matching_preset(RunSettings(**values))
    _show_preset_in_url(st.session_state[PRESET_KEY])


def use_preset(key: str) -> None:
    """Fill the form with a preset's settings (a callback: before the widgets are drawn)."""
    st.session_state[PRESET_KEY] = key
    _apply_preset()


def _apply_preset() -> None:
    key = st.session_state[PRESET_KEY]
    if key in PRESETS:
        for field, name in SETTING_KEYS.items():
            st.session_state[name] = getattr(PRESETS[key].settings, field)
    _show_preset_in_url(key)


def _follow_settings() -> None:
    """A setting was changed by hand: the preset box names the preset these settings are, if any."""
    d = RunSettings()
    now = RunSettings(**{field: st.session_state.get(key, getattr(d, field)) for field, key in SETTING_KEYS.items()})
    st.session_state[PRESET_KEY] = matching_preset(now)
    _show_preset_in_url(st.session_state[PRESET_KEY])


def training_settings() -> RunSettings:
    """Sidebar: the run's settings (also read from and written to the URL)."""
    d = RunSettings()
    # Checked once, when the session opens the link: from then on the form and the URL agree.
    if "train.link_problems" not in st.session_state:
        st.session_state["train.link_problems"] = link_problems()
        _open_link()
    problems = st.session_state["train.link_problems"]
    bound = dict(bind="query-params", on_change=_follow_settings)
    with st.sidebar:
        st.header(t("New run"))
        if problems:
            st.warning(t("This link's settings could not be used, so the defaults stand in for them: {problems}.",
                         problems="; ".join(link_problem(*p) for p in problems)), icon=":material/link_off:")
        names = {k: t(p.name) for k, p in PRESETS.items()} | {CUSTOM: t(CUSTOM_NAME)}   # translated here: see i18n
        st.selectbox(t("Preset"), list(names), format_func=names.__getitem__, key=PRESET_KEY,
                     on_change=_apply_preset, persist_state="session",
                     help=t("Fills in the settings below; you can still change them."))
        key = st.session_state[PRESET_KEY]
        st.caption(t(PRESETS[key].about) if key in PRESETS else t(CUSTOM_ABOUT))
        epochs = st.number_input(t("Epochs"), *BOUNDS["epochs"][1:3], d.epochs, key="epochs", **bound,
                                 help=t("Passes over the 60,000 training images. The book trains 500."))
        batch = st.number_input(t("Batch size"), *BOUNDS["batch_size"][1:3], d.batch_size, key="batch", **bound,
                                help=t("Images per step. The book uses 100 (600 steps an epoch)."))
        c1, c2 = st.columns(2)
        lr_g = c1.number_input(t("G's learning rate"), *BOUNDS["lr_g"][1:3], d.lr_g, step=1e-4, format="%.4g",
                               key="lr_g", **bound)
        lr_d = c2.number_input(t("D's learning rate"), *BOUNDS["lr_d"][1:3], d.lr_d, step=1e-4, format="%.4g",
                               key="lr_d", **bound)
        seed = st.number_input(t("Seed"), *BOUNDS["seed"][1:3], d.seed, key="seed", **bound,
                               help=t("Same seed, same settings: the same run, step for step."))
        every = st.number_input(t("Refresh samples every N steps"), *BOUNDS["sample_every"][1:3], d.sample_every,
                                key="sample_every", **bound,
                                help=t("0: once an epoch. The grid is also kept at every epoch."))
    return RunSettings(int(epochs), int(batch), float(lr_g), float(lr_d), int(seed), int(every))

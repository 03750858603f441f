"""The Train page's form for a new run: presets and settings, drawn in the sidebar, returned as plain values.

The settings are bound to the page's URL (a teacher hands out a link with them), and the preset
box follows them: it names the preset whose settings the form holds, or "Your own settings".
`?preset=KEY` in a link picks that preset; settings the link also gives win over the preset's.
Besides the book's own settings, the form offers GAN Lab's teaching knobs: k D updates for each
G update, G's loss as the book has it or as the GAN paper's minimax, and a learning rate of 0,
which freezes that network on purpose (the form says so).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

import streamlit as st

from gan_core import G_LOSSES, ConfigError, bf16_available, resolve_device
from gan_core.config import ARCHS

from . import env
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
    "minimax": Preset(N_("G's loss: minimax"), RunSettings(epochs=10, g_loss="minimax"),
                      N_("Quick look with the GAN paper's loss for G, `log(1 - D(G(z)))`: while D rejects G's "
                         "images its gradient is near 0, so G stalls from the first epoch on.")),
}
CUSTOM = "custom"            # the preset box's value when the settings are no preset's
CUSTOM_NAME, CUSTOM_ABOUT = N_("Your own settings"), N_("No preset has exactly these settings.")
PRESET_PARAM = "preset"      # ?preset=KEY
PRESET_KEY = "train.preset"  # the preset box's widget key
LINK_FIX = "train.link_fix"  # a link's unusable values' replacements, put in on the next run
# Settings widgets are bound to the URL, so their keys are the query parameter names a teacher can hand out.
# Each: RunSettings field -> (URL key, lowest, highest, type), the widget's bounds and a link's.
# A learning rate of 0 freezes that network (gan_core.GANConfig).
BOUNDS = {"epochs": ("epochs", 1, 100_000, int), "batch_size": ("batch", 1, 60_000, int),
          "lr_g": ("lr_g", 0.0, 1.0, float), "lr_d": ("lr_d", 0.0, 1.0, float),
          "seed": ("seed", 0, 2**31 - 1, int), "sample_every": ("sample_every", 0, 100_000, int),
          "d_steps": ("d_steps", 1, 5, int)}
# G's loss is a choice, kept in the URL by hand (a bound radio would put its translated label there).
G_LOSS_PARAM, G_LOSS_KEY = "g_loss", "train.g_loss"
G_LOSS_NAMES = {"book": N_("The book's"), "minimax": N_("Minimax (the GAN paper's)")}
G_LOSS_FORMULAS = {"book": N_("`BCE(D(G(z)), 1)`: steep while D rejects G's images"),
                   "minimax": N_("`log(1 - D(G(z)))`: flat while D rejects G's images")}
# The architecture, kept in the URL the same way (?arch=dcgan; the book's MLP is the default and not said).
ARCH_PARAM, ARCH_KEY = "arch", "train.arch"
PRECISION_KEY = "train.bf16"
ARCH_NAMES = {"mlp": N_("The book's MLP"), "dcgan": N_("DCGAN (convolutional)")}
# The choices a link may name: URL key -> what it may be.
CHOICES = {G_LOSS_PARAM: G_LOSSES, ARCH_PARAM: ARCHS}
# RunSettings field -> its key in a link (lesson.py writes links with these), and in session state.
SETTING_KEYS = {field: key for field, (key, *_) in BOUNDS.items()} | {"g_loss": G_LOSS_PARAM, "arch": ARCH_PARAM}
WIDGET_KEYS = SETTING_KEYS | {"g_loss": G_LOSS_KEY, "arch": ARCH_KEY}


def _parse(raw: str, lo: float, hi: float, kind: type) -> int | float | None:
    """A link's value as the form would take it, or None if it cannot."""
    try:
        v = float(raw) if kind is float else int(raw)
    except (ValueError, OverflowError):
        return None
    return v if math.isfinite(v) and lo <= v <= hi else None


def link_problems() -> list[tuple[str, str, float, float, type]]:
    """The link's settings the form cannot take, as (key, value, lowest, highest, type): Streamlit would put the
    default in their place without a word. A choice (a preset, G's loss) the app does not have comes as
    (key, value, 0, 0, str)."""
    out = []
    for key, lo, hi, kind in BOUNDS.values():
        raw = st.query_params.get(key)
        if raw is not None and _parse(raw, lo, hi, kind) is None:
            out.append((key, raw, lo, hi, kind))
    for key, known in ((PRESET_PARAM, PRESETS), *CHOICES.items()):
        raw = st.query_params.get(key)
        if raw is not None and raw not in known:
            out.append((key, raw, 0, 0, str))
    return out


def link_problem(key: str, raw: str, lo: float, hi: float, kind: type) -> str:
    """One of link_problems in words."""
    given = f"{key}={plain(raw, 24)}"
    if kind is str:
        known = PRESETS if key == PRESET_PARAM else CHOICES[key]
        return t("{given} (it must be one of {choices})", given=given, choices=", ".join(known))
    if kind is float:
        return t("{given} (it must be a number from {lo:,g} to {hi:,g})", given=given, lo=lo, hi=hi)
    return t("{given} (it must be a whole number from {lo:,g} to {hi:,g})", given=given, lo=lo, hi=hi)


def matching_preset(settings: RunSettings) -> str:
    """The key of the preset with exactly these settings, or CUSTOM. Precision is how a run computes, not its
    recipe: a preset in bfloat16 is still that preset."""
    return next((k for k, p in PRESETS.items() if p.settings == replace(settings, precision=p.settings.precision)),
                CUSTOM)


def _show_in_url(settings: RunSettings) -> None:
    """The URL parameters kept by hand: the preset these settings are (if any), and G's loss unless the book's."""
    for param, value, default in ((PRESET_PARAM, matching_preset(settings), CUSTOM),
                                  (G_LOSS_PARAM, settings.g_loss, RunSettings.g_loss),
                                  (ARCH_PARAM, settings.arch, RunSettings.arch)):
        if value != default:
            st.query_params[param] = value
        elif param in st.query_params:
            del st.query_params[param]


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
        # The URL's own usable values seed their widgets themselves; an unusable one is replaced (the boxes
        # have no bounds, so the box would otherwise show it).
        if raw is None and asked:
            st.session_state[key] = values[field]
        elif raw is not None and given is None:
            # On the page's first run a bound box shows the URL's value whatever session state says: the
            # default goes in on a rerun (training_settings), and the box never shows what will not be used.
            st.session_state.setdefault(LINK_FIX, {})[key] = values[field]
    loss = st.query_params.get(G_LOSS_PARAM)
    values["g_loss"] = st.session_state[G_LOSS_KEY] = loss if loss in G_LOSSES else base.g_loss
    arch = st.query_params.get(ARCH_PARAM)
    values["arch"] = st.session_state[ARCH_KEY] = arch if arch in ARCHS else base.arch
    settings = RunSettings(**values)
    st.session_state[PRESET_KEY] = matching_preset(settings)
    _show_in_url(settings)


def _form() -> RunSettings:
    """The settings the form's widgets hold now (in a callback: before they are drawn again)."""
    d = RunSettings()
    return RunSettings(**{field: st.session_state.get(key, getattr(d, field)) for field, key in WIDGET_KEYS.items()})


def use_preset(key: str) -> None:
    """Fill the form with a preset's settings (a callback: before the widgets are drawn)."""
    st.session_state[PRESET_KEY] = key
    _apply_preset()


def _apply_preset() -> None:
    key = st.session_state[PRESET_KEY]
    if key in PRESETS:
        for field, name in WIDGET_KEYS.items():
            st.session_state[name] = getattr(PRESETS[key].settings, field)
    _show_in_url(_form())


def _follow_settings() -> None:
    """A setting was changed by hand: the preset box names the preset these settings are, if any."""
    settings = _form()
    st.session_state[PRESET_KEY] = matching_preset(settings)
    _show_in_url(settings)


def frozen_note(lr_g: float, lr_d: float) -> str | None:
    """What a learning rate of 0 does, in words; None when both networks learn."""
    if lr_g == 0 and lr_d == 0:
        return t("Both learning rates are 0: G and D are both frozen on purpose. Nothing will learn; the samples "
                 "and D's scores stay as they start.")
    if lr_g == 0:
        return t("G's learning rate is 0: G is frozen on purpose. Its weights stay as they start, so its samples "
                 "never change; only D learns.")
    if lr_d == 0:
        return t("D's learning rate is 0: D is frozen on purpose. It keeps judging with the weights it starts "
                 "with; only G learns, against a D that never adapts.")
    return None


def field_problem(field: str, value) -> str | None:
    """What is wrong with one setting as the form holds it, in words; None when a run may use it.

    The number boxes have no bounds of their own: a box with bounds keeps a value outside them to itself
    (shown in red) and the server goes on with the previous one, so a run could start with settings
    nobody saw. Here the server sees every value and says what is wrong next to its box."""
    _, lo, hi, kind = BOUNDS[field]
    if value is None:
        return t("Enter a value.")
    if kind is int and (not float(value).is_integer()):
        return t("It must be a whole number from {lo:,} to {hi:,}.", lo=lo, hi=hi)
    if not math.isfinite(value) or not lo <= value <= hi:
        if field in ("lr_g", "lr_d"):
            return t("It must be from {lo:g} to {hi:g} (0 freezes the network on purpose).", lo=lo, hi=hi)
        if field == "batch_size":
            return t("It must be from {lo:,} to {hi:,}, the number of training images.", lo=lo, hi=hi)
        return t("It must be from {lo:,} to {hi:,}.", lo=lo, hi=hi)
    return None


def _number(label: str, field: str, where, default, problems: dict, **kw):
    """One bound number box and, under it, what is wrong with its value (noted in problems)."""
    key = BOUNDS[field][0]
    value = where.number_input(label, value=default, key=key, bind="query-params", on_change=_follow_settings, **kw)
    if problem := field_problem(field, value):
        problems[field] = problem
        where.error(problem, icon=":material/error:")
    return value


def training_settings() -> RunSettings | None:
    """Sidebar: the run's settings (also read from and written to the URL); None while one of them is unusable
    (each says what is wrong next to its box)."""
    d = RunSettings()
    if fix := st.session_state.pop(LINK_FIX, None):   # the rerun asked for at the end of the last run
        st.session_state.update(fix)
    # Checked once, when the session opens the link: from then on the form and the URL agree.
    elif "train.link_problems" not in st.session_state:
        st.session_state["train.link_problems"] = link_problems()
        _open_link()
    problems = st.session_state["train.link_problems"]
    wrong: dict[str, str] = {}
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
        epochs = _number(t("Epochs"), "epochs", st, d.epochs, wrong, step=1,
                         help=t("Passes over the 60,000 training images. The book trains 500."))
        batch = _number(t("Batch size"), "batch_size", st, d.batch_size, wrong, step=1,
                        help=t("Images per step. The book uses 100 (600 steps an epoch)."))
        c1, c2 = st.columns(2)
        lr_g = _number(t("G's learning rate"), "lr_g", c1, d.lr_g, wrong, step=1e-4, format="%.4g",
                       help=t("0 freezes G."))
        lr_d = _number(t("D's learning rate"), "lr_d", c2, d.lr_d, wrong, step=1e-4, format="%.4g",
                       help=t("0 freezes D."))
        if "lr_g" not in wrong and "lr_d" not in wrong and (note := frozen_note(lr_g, lr_d)):
            st.info(note, icon=":material/ac_unit:")
        d_steps = _number(t("D updates per G update (k)"), "d_steps", st, d.d_steps, wrong, step=1,
                          help=t("The GAN paper's k: before each update of G, D is updated k times, "
                                 "each on the next batch and a fresh z. The book's k is 1."))
        losses = {k: t(v) for k, v in G_LOSS_NAMES.items()}   # translated here: see explorer/i18n.py
        g_loss = st.radio(t("G's loss"), list(losses), format_func=losses.__getitem__, key=G_LOSS_KEY,
                          captions=[t(G_LOSS_FORMULAS[k]) for k in losses], on_change=_follow_settings,
                          help=t("What G minimises. The book's `BCE(D(G(z)), 1)` pushes G hardest exactly when D "
                                 "rejects its images; the GAN paper's minimax `log(1 - D(G(z)))` hardly moves G "
                                 "then, so G can stall at the start."))
        archs = {k: t(v) for k, v in ARCH_NAMES.items()}
        arch = st.radio(t("Architecture"), list(archs), format_func=archs.__getitem__, key=ARCH_KEY,
                        on_change=_follow_settings, horizontal=True,
                        help=t("The book's MLP, or the convolutional DCGAN the chapter's last remark points to "
                               "(Adam's `beta1` 0.5, as in the DCGAN paper). On a CPU a DCGAN trains a few hundred "
                               "images a second, far slower than the MLP."))
        bf16 = bf16_toggle(arch)
        seed = _number(t("Seed"), "seed", st, d.seed, wrong, step=1,
                       help=t("Same seed, same settings: the same run, step for step."))
        every = _number(t("Refresh samples every N steps"), "sample_every", st, d.sample_every, wrong, step=1,
                        help=t("0: once an epoch. The grid is also kept at every epoch."))
    if LINK_FIX in st.session_state:
        st.rerun()   # now that the boxes exist, their replacements can go in (see _open_link)
    if wrong:
        return None
    return RunSettings(epochs=int(epochs), batch_size=int(batch), lr_g=float(lr_g), lr_d=float(lr_d), seed=int(seed),
                       sample_every=int(every), d_steps=int(d_steps), g_loss=g_loss, arch=arch,
                       precision="bf16" if bf16 else "fp32")


def bf16_toggle(arch: str) -> bool:
    """bfloat16 matrix products, offered where they pay: the MLP, on hardware that computes in bfloat16."""
    try:
        offered = bf16_available(resolve_device(env.training_device()))[0]
    except ConfigError:   # GAN_EXPLORER_DEVICE=cuda on a machine without one: the Start says so
        offered = False
    if arch == "dcgan":
        why = t("The DCGAN trains in fp32 only.")
    elif not offered:
        why = t("Not on this machine: bfloat16 pays only where the hardware computes in it (a CPU with AVX512-BF16 "
                "or AMX, or a GPU that supports it); elsewhere it is emulated, slower than fp32.")
    else:
        why = None
    if why:
        st.session_state[PRECISION_KEY] = False
    on = st.toggle(t("Matrix products in bfloat16"), key=PRECISION_KEY, disabled=why is not None,
                   help=t("As `--precision bf16`: the matrix products in bfloat16, with the weights and Adam's "
                          "state kept in float32. The numbers differ from fp32's by bfloat16's rounding."))
    if why:
        st.caption(why)
    return on

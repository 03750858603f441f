"""Compare two runs: their loss and D(x) / D(G(z)) curves overlaid, their fixed-z samples side by side at one epoch.

The runs are this server's training runs and the runs shipped ready to show (explorer/lesson_runs.py).
The picks live in the URL (?a=KEY&b=KEY&epoch=N, KEY being run:ID or lesson:NAME) so a teacher can
hand the comparison out as a link.
"""
from __future__ import annotations

from typing import NamedTuple

import streamlit as st

from gan_core import RunFolder, grid, png_bytes
from explorer import charts, env, resources
from explorer.i18n import t, tn
from explorer.lesson_runs import LESSON_RUNS, lesson_folders
from explorer.run_names import distinct_labels
from explorer.plain import plain
from explorer.run_names import run_title

SIDES = ("a", "b")
GRID_COLUMNS, GRID_SCALE = 4, 3


class Choice(NamedTuple):
    folder: RunFolder
    label: str          # in the page's language: the run's title, or the shipped run's


def comparable() -> dict[str, Choice]:
    """Runs with at least one finished epoch (curves or samples): the shipped ones first, then this server's, newest
    first."""
    found = {}
    for name, run in lesson_folders(env.checkpoints_root()).items():
        title = t(LESSON_RUNS[name].title) if name in LESSON_RUNS else name
        found[f"lesson:{name}"] = Choice(run, title)
    for run in resources.manager().runs():
        found[f"run:{run.name}"] = Choice(run, run_title(run))
    found = {k: c for k, c in found.items() if c.folder.history_file.is_file() or c.folder.sample_epochs()}
    labels = distinct_labels({k: c.label for k, c in found.items()})
    return {k: c._replace(label=labels[k]) for k, c in found.items()}


def short(key: str) -> str:
    return plain(key, 80)


def pick_runs(choices: dict[str, Choice]) -> tuple[str, str]:
    """The two pickers; the link's picks when the session starts; a pick that is gone is said and replaced."""
    if not st.session_state.get("compare.link_read"):
        st.session_state["compare.link_read"] = True
        for side in SIDES:
            if wanted := st.query_params.get(side):
                st.session_state[f"compare.{side}"] = wanted
        if (epoch := st.query_params.get("epoch", "")).isdigit():
            st.session_state["compare.epoch"] = int(epoch)
    keys = list(choices)
    gone = []
    for side, default in zip(SIDES, keys):
        current = st.session_state.get(f"compare.{side}")
        if current not in choices:
            if current:
                gone.append(current)
            # B defaults to a run other than A's.
            others = [k for k in keys if k != st.session_state.get("compare.a")] if side == "b" else keys
            st.session_state[f"compare.{side}"] = (others or keys)[0]
    if gone:
        st.warning(t("Not on this server (any more): {runs}. Showing other runs instead.",
                     runs=", ".join(short(k) for k in gone)))
    cols = st.columns(2)
    for col, side, name in zip(cols, SIDES, ("A", "B")):
        col.selectbox(t("Run {side}", side=name), keys, format_func=lambda k: choices[k].label, key=f"compare.{side}",
                      persist_state="session")
    return st.session_state["compare.a"], st.session_state["compare.b"]


def pick_epoch(a: RunFolder, b: RunFolder) -> int | None:
    """Epochs trained at which both runs kept their samples; the slider over them. None: they share none."""
    common = sorted({e + 1 for e in a.sample_epochs()} & {e + 1 for e in b.sample_epochs()})
    if not common:
        st.session_state.pop("compare.epoch", None)
        return None
    if st.session_state.get("compare.epoch") not in common:
        st.session_state["compare.epoch"] = common[-1]
    if len(common) == 1:
        st.caption(t("Both runs have samples after epoch {epoch} only.", epoch=common[0]))
        return common[0]
    return st.select_slider(t("Samples after epoch"), common, key="compare.epoch",
                            help=t("Only epochs after which both runs kept their samples."), persist_state="session")


def epochs_said(run: RunFolder) -> str:
    epochs = [e + 1 for e in run.sample_epochs()]
    if not epochs:
        return t("none yet")
    return f"{epochs[0]:,}–{epochs[-1]:,}" if len(epochs) > 1 else f"{epochs[0]:,}"


def samples(col, letter: str, choice: Choice, epoch: int | None) -> None:
    """One run's fixed-z grid after `epoch` epochs (None: its latest), with D's mean score on it."""
    got = choice.folder.read_samples(None if epoch is None else epoch - 1)
    if got is None:
        col.caption(t("{side}: no samples to show (the run has none yet, or was deleted meanwhile).", side=letter))
        return
    images, scores, step = got
    col.image(png_bytes(grid(images, ncols=GRID_COLUMNS, scale=GRID_SCALE)), output_format="PNG")
    when = t("latest, step {step:,}", step=step) if epoch is None else tn("after {n:,} epoch", "after {n:,} epochs", epoch)
    col.caption(t("{side} · {when} · D's mean score on these: {score:.2f}", side=letter, when=when,
                  score=float(scores.mean())))


def page() -> None:
    st.title(t("Compare two runs"))
    choices = comparable()
    if len(choices) < 2:
        st.info(t("**Comparing needs two runs with at least one finished epoch;** this server has {n}. Train one on "
                  "the Train page: each finished epoch can be compared at once.", n=len(choices)))
        st.page_link("views/train.py", label=t("Train a GAN"), icon=":material/model_training:")
        return
    st.caption(t("Two runs' curves overlaid (A solid, B dashed) and their samples from the same fixed z side by side, "
                 "after the same epoch. The link in the address bar opens this comparison."))
    a_key, b_key = pick_runs(choices)
    a, b = choices[a_key], choices[b_key]
    epoch = pick_epoch(a.folder, b.folder)
    if epoch is None:
        st.warning(t("These runs have no epoch with samples in common (A: {a}; B: {b}): each shows its latest samples.",
                     a=epochs_said(a.folder), b=epochs_said(b.folder)))
    # The URL names what is shown, so the address bar is the link to hand out.
    for param, value in (("a", a_key), ("b", b_key), ("epoch", None if epoch is None else str(epoch))):
        if value is None:
            st.query_params.pop(param, None)
        elif st.query_params.get(param) != value:
            st.query_params[param] = value
    cols = st.columns(2)
    for col, letter, choice in zip(cols, ("A", "B"), (a, b)):
        samples(col, letter, choice, epoch)
    histories = {"a": a.folder.read_history(), "b": b.folder.read_history()}
    if not any(h.get("epoch") for h in histories.values()):
        st.caption(t("The curves appear once a run has finished an epoch."))
        return
    cols = st.columns(2)
    for col, curves in zip(cols, ("losses", "verdicts")):
        col.plotly_chart(charts.compare_figure(histories, curves, epoch), key=f"compare.chart.{curves}",
                         width="stretch")
    st.caption(t("Each point is an epoch's mean. At the balance the book aims for, D outputs 0.5 for real and fake "
                 "alike."))


page()

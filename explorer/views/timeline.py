"""Timeline page: one z, drawn by the generator as it was after each snapshot epoch.

The same z through training shows what G learns when: first a grey blob, then
a silhouette, then a garment with texture. The pictures sit beside the run's
curves, so a teacher can point at the epoch where D(G(z)) climbs.
"""
from __future__ import annotations

import random

import numpy as np
import streamlit as st
import torch

from gan_core import decode, gif_bytes, png_bytes, upscale, z_from_seed
from explorer import env, presenter, resources, share_link
from explorer.i18n import N_, t
from explorer.plain import plain
from explorer.charts import CURVES, history_figure
from explorer.timeline_sources import load_history, load_snapshots, snapshot_sources

ROW_SCALE = 4        # 28 px at 112 px in the side-by-side row (a narrow page shrinks them to fit)
ROW_COLUMNS = 12     # the shipped book has 12 snapshots: one row
BIG_SCALE = 10       # the scrubbed epoch at 280 px
PRESENT_SCALE = 20   # on a projector at about 500 px
GIF_SCALE = 8
GIF_FRAME_MS = 500   # slow enough to read each epoch's picture
Z_SOURCES = {"seed": N_("Seed"), "latent": N_("Latent page"),   # where the z comes from
             "link": N_("From the link")}                          # only once a link gave one


def _randomise() -> None:
    st.session_state["timeline.seed"] = random.randrange(10_000)


def choose_source():
    """The run whose snapshots to show: the checkpoints folder's, or a run's; None if there are none."""
    sources = snapshot_sources(env.checkpoints_root(), resources.manager().runs())
    if not sources:
        return None
    by_key = {s.key: s for s in sources}
    asked = share_link.from_link("timeline", (share_link.MODEL,)).get(share_link.MODEL)
    if asked is not None and asked != st.session_state.get("timeline.source"):
        if asked in by_key:
            st.session_state["timeline.source"] = asked
        else:
            share_link.unknown_model(asked)
    if st.session_state.get("timeline.source") not in by_key:
        st.session_state["timeline.source"] = next(iter(by_key))
    with st.sidebar:
        st.header(t("Snapshots"))
        key = st.selectbox(t("Snapshots of"), list(by_key), format_func=lambda k: by_key[k].label,
                           key="timeline.source", persist_state="session",
                           help=t("Runs started on the Train page keep G at log-spaced epochs (1, 2, 3, 5, 10, 20, "
                                  "...); command-line runs do with `--snapshot-epochs`."))
    return by_key[key]


def from_link(dim: int, epochs: list[int]) -> None:
    """A link's seed (or z itself) and epoch become the page's."""
    asked = share_link.from_link("timeline", ("seed", "z", "epoch"))
    if "seed" in asked and (seed := share_link.seed_value("seed", asked["seed"])) is not None:
        st.session_state["timeline.seed"] = seed
        st.session_state["timeline.z_src"] = "seed"
    if "z" in asked and (z := share_link.z_value("z", asked["z"], dim)) is not None:
        st.session_state["timeline.linked"] = z
        st.session_state["timeline.z_src"] = "link"
    if "epoch" in asked:
        if asked["epoch"].isdigit() and int(asked["epoch"]) in epochs:
            st.session_state["timeline.epoch"] = int(asked["epoch"])
        else:
            share_link.ignored("epoch", asked["epoch"], t("this run has snapshots at epochs {epochs}",
                                                          epochs=", ".join(f"{e:,}" for e in epochs)))


def share(z: torch.Tensor) -> None:
    values = {share_link.MODEL: st.session_state["timeline.source"]}
    if st.session_state["timeline.z_src"] == "seed":
        values["seed"] = str(int(st.session_state["timeline.seed"]))
    else:
        values["z"] = share_link.z_text(z)
    values["epoch"] = str(st.session_state["timeline.epoch"])
    share_link.keep("timeline", values)


def choose_z(dim: int) -> torch.Tensor:
    """z from a seed, the Latent page's sliders, or a link; (dim,)."""
    st.session_state.setdefault("timeline.z_src", "seed")
    st.session_state.setdefault("timeline.seed", 0)
    linked = st.session_state.get("timeline.linked")
    sources = {k: v for k, v in Z_SOURCES.items() if k != "link" or (linked is not None and len(linked) == dim)}
    if st.session_state["timeline.z_src"] not in sources:
        st.session_state["timeline.z_src"] = "seed"
    narrow = presenter.presenting()   # beside the big picture: one control a row
    c = [st.container()] * 3 if narrow else st.columns([3, 3, 2], vertical_alignment="bottom")
    shown = {k: t(v) for k, v in sources.items()}   # translated here: format_func may be called outside this run
    src = c[0].radio(t("z from"), list(sources), format_func=shown.__getitem__, key="timeline.z_src",
                     horizontal=True, persist_state="session")
    if src == "link":
        c[1].caption(t("The z that the link gave."))
        return torch.tensor(linked)
    if src == "latent":
        z = st.session_state.get("latent.z")
        if z is not None and len(z) == dim:
            c[1].caption(t("The z set by the sliders on the Latent space page."))
            return torch.tensor(z)
        c[1].caption(t("The Latent space page has no z of this size yet: using its starting z (seed 0)."))
        return z_from_seed(0, 1, dim)[0]
    seed = c[1].number_input(t("Seed"), 0, 2**31 - 1, key="timeline.seed", persist_state="session",
                             help=t("The z that this seed draws; the same as on the Latent page."))
    c[2].button(t("Random"), icon=":material/casino:", key="timeline.random", on_click=_randomise, width="stretch")
    return z_from_seed(int(seed), 1, dim)[0]


def side_by_side(epochs: list[int], frames: np.ndarray) -> None:
    st.caption(t("Each picture is labelled with the epochs G had trained when it was saved."))
    for start in range(0, len(epochs), ROW_COLUMNS):
        # Bare numbers: "epoch 100" would wrap under a 12th of the page.
        for col, e, f in zip(st.columns(ROW_COLUMNS), epochs[start:], frames[start:start + ROW_COLUMNS]):
            col.image(png_bytes(upscale(f, ROW_SCALE)), caption=f"{e:,}", output_format="PNG")


def epoch_slider(epochs: list[int]) -> int:
    if st.session_state.get("timeline.epoch") not in epochs:
        st.session_state["timeline.epoch"] = epochs[0]   # a new source: start at its first snapshot
    return st.select_slider(t("Epoch"), epochs, key="timeline.epoch", format_func=lambda e: f"{e:,}",
                            help=t("Drag, or focus the slider and use the arrow keys."))


def epoch_picture(slot, epochs: list[int], frames: np.ndarray, epoch: int, scale: int):
    """G(z) after `epoch` into slot; returns the slot for the next drawing."""
    return slot.image(png_bytes(upscale(frames[epochs.index(epoch)], scale)),
                      caption=t("G(z) after epoch {epoch}", epoch=epoch), output_format="PNG",
                      width="stretch" if presenter.presenting() else "content")


@st.fragment
def scrubber(epochs: list[int], frames: np.ndarray, history: dict, z: torch.Tensor) -> None:
    """One epoch at a time, large, with the run's curves marked at it: only this part reruns while scrubbing."""
    epoch = epoch_slider(epochs)
    share(z)
    left, right = st.columns([1, 2], vertical_alignment="center")
    epoch_picture(left, epochs, frames, epoch, BIG_SCALE)
    with right:
        curves(history, epoch)


@st.fragment
def presenter_scrubber(epochs: list[int], frames: np.ndarray, z: torch.Tensor, picture) -> None:
    """On a projector: the epoch slider beside the large picture, which it redraws (the picture is outside)."""
    epoch_picture(picture, epochs, frames, epoch_slider(epochs), PRESENT_SCALE)
    share(z)


def curves(history: dict, epoch: int) -> None:
    """The run's curves, marked at epoch (in the presenter's layout the chart is static: no fragment around it)."""
    if not history:
        st.caption(t("This run's files hold no per-epoch history to plot."))
        return
    st.session_state.setdefault("timeline.curves", next(iter(CURVES)))
    shown = {k: t(name) for k, (_, name, _) in CURVES.items()}
    which = st.segmented_control(t("Curves"), list(CURVES), format_func=shown.__getitem__, key="timeline.curves",
                                 required=True, label_visibility="collapsed", persist_state="session")
    st.plotly_chart(history_figure(history, which, epoch), key="timeline.chart", width="stretch")


share_link.title(t("Timeline"))
with presenter.secondary(t("What this page shows")):
    st.caption(t("Pick one z and see how the generator drew it after each snapshot epoch: the same input, "
                 "a generator further along in training."))
source = choose_source()
if source is None:
    st.info(t("**No snapshots to show.** Snapshots are generators saved at chosen epochs of a run. The project ships "
              "the book model's in `checkpoints/book-snapshots/`; to keep your own, train with "
              "`python -m gan_core.train --out runs/NAME --snapshot-epochs 1,2,5,10,20,50`."))
    st.stop()
snaps, problems = load_snapshots(source)
if problems:
    st.caption(t("Skipped, unreadable: {files}", files=plain("; ".join(problems))))
if not snaps:
    st.warning(t("None of this run's snapshot files could be read."))
    st.stop()

dim = snaps[0].config.latent_dim
epochs = [s.epoch for s in snaps]
from_link(dim, epochs)


def frames_of(z: torch.Tensor) -> np.ndarray:
    return np.concatenate([decode(s.G, z[None], s.config.image_size) for s in snaps])   # (n, 28, 28) uint8


def looping(frames: np.ndarray) -> None:
    gif = gif_bytes(upscale(frames, GIF_SCALE), frame_ms=GIF_FRAME_MS, boomerang=False)
    st.image(gif, caption=t("Epochs {first:,} to {last:,}, looping", first=epochs[0], last=epochs[-1]))  # auto: a GIF
    st.download_button("GIF", gif, file_name="gan-explorer-timeline.gif", mime="image/gif", on_click="ignore",
                       icon=":material/download:", key="timeline.dl.gif", width="stretch")


if presenter.presenting():
    # One epoch, large, the slider and z beside it; the row of all epochs, the curves and the GIF folded away.
    left, right = st.columns([3, 2], gap="medium")
    with right:
        if st.session_state.get("timeline.epoch") not in epochs:
            st.session_state["timeline.epoch"] = epochs[0]
        z = choose_z(dim)
        frames = frames_of(z)
        with left:   # drawn before the slider's fragment, which then redraws it
            picture = epoch_picture(st.container(key="timeline.picture"), epochs, frames,
                                    st.session_state["timeline.epoch"], PRESENT_SCALE)
        presenter_scrubber(epochs, frames, z, picture)
    with st.expander(t("Side by side")):
        side_by_side(epochs, frames)
    with st.expander(t("Curves and GIF")):
        curves(load_history(source), st.session_state["timeline.epoch"])
        looping(frames)
else:
    z = choose_z(dim)
    frames = frames_of(z)
    st.subheader(t("Side by side"))
    side_by_side(epochs, frames)

    st.subheader(t("Epoch by epoch"))
    left, right = st.columns([3, 1])
    with left:
        scrubber(epochs, frames, load_history(source), z)
    with right:
        looping(frames)

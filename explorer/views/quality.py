"""Quality page: how good are the picked model's samples, beside what real data scores?

Inception cannot be downloaded here, so the project's own Fashion-MNIST
classifier judges the samples (gan_core/quality.py): the numbers compare models
with each other, not with FIDs in papers. Each model is scored once per server.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from gan_core import ClassifierError, grid, png_bytes
from explorer import charts, evaluations, model_picker
from explorer.plain import plain

PAIRS = 8          # sample / nearest-training-image pairs shown
PAIR_SCALE = 3     # each pair at 3x: two 28 px images side by side, 186 px wide
PAIR_COLUMNS = 4


def look_again() -> None:
    evaluations.real_data.clear()


def data_missing(reason: str) -> None:
    """How to get Fashion-MNIST; the other pages do not need it."""
    st.warning("**Judging samples needs the real Fashion-MNIST, and it was not found.** Get it one of these ways, "
               "then press *Look again*:\n"
               "- `sudo apt-get install dataset-fashion-mnist` (Debian and Ubuntu, offline; `bash scripts/setup.sh` "
               "does it)\n"
               "- set `GAN_EXPLORER_DATA` to a folder holding the four idx files (`.gz` or not) and restart the app\n"
               "- connect this machine to the internet: the first look downloads it with torchvision",
               icon=":material/dataset:")
    with st.expander("What the loader said"):
        st.text(reason)   # the loader's words may quote paths and URLs: plain text
    st.button("Look again", icon=":material/refresh:", on_click=look_again, key="quality.look_again")
    st.caption("The Latent space, Interpolate, Timeline and Train pages work without it, except that training "
               "needs the data too.")


def settings(n_train: int) -> tuple[int, int]:
    """How many samples to score, and the seed of their z (and of the real subsets)."""
    choices = [n for n in evaluations.N_CHOICES if n <= n_train] or [n_train]
    st.session_state.setdefault("quality.n", evaluations.DEFAULT_N if evaluations.DEFAULT_N in choices else choices[-1])
    st.session_state.setdefault("quality.seed", 0)
    c = st.columns([3, 1])
    n = c[0].select_slider("Samples to score", choices, key="quality.n", format_func=lambda v: f"{v:,}",
                           persist_state="session",
                           help="More samples, steadier numbers: the command line scores 10,000. Frechet distances "
                                "shrink a little as n grows, so compare models at the same n.")
    seed = c[1].number_input("Seed", 0, 2**31 - 1, key="quality.seed", persist_state="session",
                             help="Seed of the samples' z and of the real subsets.")
    return int(n), int(seed)


def numbers(gen, floor) -> None:
    for col, (name, value, real, meaning) in zip(st.columns(4), evaluations.number_rows(gen, floor)):
        col.metric(name, value)
        col.caption(f"Real data: **{real}**. {meaning}")


def copies(model, gen, data) -> None:
    """Does G recall training images? Its samples nearest to one, with that image."""
    S = len(gen.nearest_distances)
    c = st.columns(3)
    c[0].metric("Nearest training image, median L2", f"{gen.nearest_median:.2f}",
                help="Pixel distance on the [-1, 1] scale.")
    c[0].caption(f"Real test images: **{gen.test_nearest_median:.2f}**. A copier would sit far below.")
    c[1].metric("Closest single pair", f"{gen.nearest_min:.2f}")
    c[1].caption(f"Real test images: **{gen.test_nearest_min:.2f}**.")
    c[2].metric("Closer than any test image", f"{gen.closer_than_any_test}/{S}")
    c[2].caption(f"Of the first {S} samples. Real test images, by definition: 0/{S}.")
    pairs = evaluations.nearest_pairs(model.G, model.config.latent_dim, gen, data, PAIRS)
    for i, p in enumerate(pairs):
        if i % PAIR_COLUMNS == 0:
            cols = st.columns(PAIR_COLUMNS)
        cols[i % PAIR_COLUMNS].image(png_bytes(grid(np.stack([p.sample, p.train]), ncols=2, scale=PAIR_SCALE)),
                                     caption=f"sample {p.sample_index} · train {p.train_index} · L2 {p.distance:.2f}",
                                     output_format="PNG")
    st.caption(f"The {len(pairs)} of the first {S} samples that came nearest to a training image: each sample on the "
               "left, the training image nearest to it on the right.")


st.title("Quality")
model = model_picker.pick_model()
if model is None:
    model_picker.no_model_prompt()
    st.stop()
data = evaluations.real_data()
if isinstance(data, str):
    data_missing(data)
    st.stop()
path = evaluations.classifier_path()
try:
    clf = evaluations.judge(str(path), path.stat().st_mtime_ns)
except (ClassifierError, OSError) as e:
    st.error(f"The quality classifier cannot be loaded: {plain(e)}")
    st.stop()
if model.config.image_size != clf.image_size:
    st.error(f"This generator draws {model.config.image_size}x{model.config.image_size} images; the classifier "
             f"reads {clf.image_size}x{clf.image_size}, so it cannot judge them.")
    st.stop()

n, seed = settings(len(data.train))
bar = st.empty()
gen, floor = evaluations.evaluate(model.G, n, seed, data, clf, lambda f, text: bar.progress(min(f, 1.0), text=text))
bar.empty()

st.caption(f"{plain(model.source)}: {gen.n:,} samples (seed {gen.seed}) judged by the project's Fashion-MNIST classifier "
           f"(test accuracy {clf.test_accuracy:.3f}) against the {len(data.test):,} real test images. *Real data* is "
           f"{floor.n:,} real training images scored the same way: the best a generator could do.")
numbers(gen, floor)

st.subheader("Which classes it draws")
st.plotly_chart(charts.class_figure(gen, floor), key="quality.chart.classes", width="stretch")
st.caption("Blue: what the classifier takes this model's samples for. Grey: real training images judged the same "
           "way, so the classifier's own mistakes show. Red: the true mix. Under the dotted line "
           f"({gen.coverage_threshold:.0%}) a class counts as missing.")

st.subheader("New clothes, or copies?")
copies(model, gen, data)

"""Quality page: how good are the picked model's samples, beside what real data scores?

Inception cannot be downloaded here, so the project's own Fashion-MNIST
classifier judges the samples (gan_core/quality.py): the numbers compare models
with each other, not with FIDs in papers. Each model is scored once per server.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from gan_core import ClassifierError, grid, png_bytes, verdict
from explorer import charts, evaluations, model_picker, share_link
from explorer.i18n import t
from explorer.plain import plain

PAIRS = 8          # sample / nearest-training-image pairs shown
PAIR_SCALE = 3     # each pair at 3x: two 28 px images side by side, 186 px wide
PAIR_COLUMNS = 4


def look_again() -> None:
    evaluations.real_data.clear()


def data_missing(reason: str) -> None:
    """How to get Fashion-MNIST; the other pages do not need it."""
    look_again_label = t("Look again")
    st.warning(t("**Judging samples needs the real Fashion-MNIST, and it was not found.** Get it one of these ways, "
                 "then press *{button}*:\n"
                 "- `sudo apt-get install dataset-fashion-mnist` (Debian and Ubuntu, offline; `bash scripts/setup.sh` "
                 "does it)\n"
                 "- set `GAN_EXPLORER_DATA` to a folder holding the four idx files (`.gz` or not) and restart the app\n"
                 "- connect this machine to the internet: the first look downloads it with torchvision",
                 button=look_again_label), icon=":material/dataset:")
    with st.expander(t("What the loader said")):
        st.text(reason)   # the loader's words (English, from gan_core) may quote paths and URLs: plain text
    st.button(look_again_label, icon=":material/refresh:", on_click=look_again, key="quality.look_again")
    st.caption(t("The Latent space, Interpolate, Timeline and Train pages work without it, except that training "
                 "needs the data too."))


def settings(n_train: int) -> tuple[int, int]:
    """How many samples to score, and the seed of their z (and of the real subsets)."""
    choices = [n for n in evaluations.N_CHOICES if n <= n_train] or [n_train]
    asked = share_link.from_link("quality", ("n", "seed"))
    if "n" in asked:
        if asked["n"].isdigit() and int(asked["n"]) in choices:
            st.session_state[evaluations.N_KEY] = int(asked["n"])
        else:
            share_link.ignored("n", asked["n"], t("one of {options}", options=", ".join(map(str, choices))))
    if "seed" in asked and (s := share_link.seed_value("seed", asked["seed"])) is not None:
        st.session_state["quality.seed"] = s
    default = evaluations.DEFAULT_N if evaluations.DEFAULT_N in choices else choices[-1]
    st.session_state.setdefault(evaluations.N_KEY, default)
    st.session_state.setdefault("quality.seed", 0)
    c = st.columns([3, 1])
    n = c[0].select_slider(t("Samples to score"), choices, key=evaluations.N_KEY, format_func=lambda v: f"{v:,}",
                           persist_state="session",
                           help=t("More samples, steadier numbers: the command line scores 10,000. Frechet distances "
                                  "shrink a little as n grows, so compare models at the same n."))
    seed = c[1].number_input(t("Seed"), 0, 2**31 - 1, key="quality.seed", persist_state="session",
                             help=t("Seed of the samples' z and of the real subsets."))
    share_link.keep("quality", {**share_link.model_param(), "n": str(n), "seed": str(seed)})
    return int(n), int(seed)


def numbers(gen, floor) -> None:
    for col, (name, value, real, meaning) in zip(st.columns(4), evaluations.number_rows(gen, floor)):
        col.metric(name, value)
        col.caption(t("Real data: **{value}**. {meaning}", value=real, meaning=meaning))


def judgement(gen, floor) -> None:
    """Untrained, collapsed, some classes missing, or varied (gan_core.verdict), in words, above the numbers."""
    v = verdict(gen, floor)
    fields = dict(conf=gen.mean_confidence, real=floor.mean_confidence, spread=v.spread_ratio,
                  missing=len(gen.class_fractions) - gen.classes_present, classes=len(gen.class_fractions))
    if v.kind == "unformed":
        st.info(t("**Not clothes yet.** The classifier is unsure of these samples (mean confidence {conf:.2f}; real "
                  "images {real:.2f}): G has not learned to draw garments, as before training or early in it. Its "
                  "missing classes are no sign of mode collapse.", **fields), icon=":material/hourglass_empty:")
    elif v.kind == "collapsed":
        st.warning(t("**Mode collapse.** The classifier is sure of the samples (mean confidence {conf:.2f}), but they "
                     "are nearly all alike: their pixels vary {spread:.0%} as much as real images' do. G draws the "
                     "same garment over and over.", **fields), icon=":material/content_copy:")
    elif v.kind == "missing classes":
        st.warning(t("**Some classes missing.** The samples are clear and varied, but G leaves out {missing} of the "
                     "{classes} classes: a partial mode collapse.", **fields), icon=":material/category:")
    else:
        st.success(t("**Varied clothes.** The samples are clear (mean confidence {conf:.2f}; real images {real:.2f}), "
                     "vary {spread:.0%} as much as real images do, and cover every class.", **fields),
                   icon=":material/check_circle:")


def copies(model, gen, data) -> None:
    """Does G recall training images? Its samples nearest to one, with that image."""
    S = len(gen.nearest_distances)
    c = st.columns(3)
    c[0].metric(t("Nearest training image, median L2"), f"{gen.nearest_median:.2f}",
                help=t("Pixel distance on the [-1, 1] scale."))
    c[0].caption(t("Real test images: **{value:.2f}**. A copier would sit far below.", value=gen.test_nearest_median))
    c[1].metric(t("Closest single pair"), f"{gen.nearest_min:.2f}")
    c[1].caption(t("Real test images: **{value:.2f}**.", value=gen.test_nearest_min))
    c[2].metric(t("Closer than any test image"), f"{gen.closer_than_any_test}/{S}")
    c[2].caption(t("Of the first {n} samples. Real test images, by definition: 0/{n}.", n=S))
    pairs = evaluations.nearest_pairs(model.G, model.config.latent_dim, gen, data, PAIRS)
    for i, p in enumerate(pairs):
        if i % PAIR_COLUMNS == 0:
            cols = st.columns(PAIR_COLUMNS)
        cols[i % PAIR_COLUMNS].image(png_bytes(grid(np.stack([p.sample, p.train]), ncols=2, scale=PAIR_SCALE)),
                                     caption=t("sample {sample} · train {train} · L2 {distance:.2f}",
                                               sample=p.sample_index, train=p.train_index, distance=p.distance),
                                     output_format="PNG")
    st.caption(t("The {count} of the first {n} samples that came nearest to a training image: each sample on the "
                 "left, the training image nearest to it on the right.", count=len(pairs), n=S))


share_link.title(t("Quality"))
model = model_picker.pick_model()
if model is None:
    model_picker.no_model_prompt()
    st.stop()
with st.spinner(t("Loading Fashion-MNIST…")):   # shown only if it takes longer than half a second
    data = evaluations.real_data()
if isinstance(data, str):
    data_missing(data)
    st.stop()
path = evaluations.classifier_path()
try:
    clf = evaluations.judge(str(path), path.stat().st_mtime_ns)
except (ClassifierError, OSError) as e:
    st.error(t("The quality classifier cannot be loaded: {reason}", reason=plain(e)))
    st.stop()
if model.config.image_size != clf.image_size:
    st.error(t("This generator draws {size}x{size} images; the classifier reads {judged}x{judged}, so it cannot "
               "judge them.", size=model.config.image_size, judged=clf.image_size))
    st.stop()

n, seed = settings(len(data.train))
bar = st.empty()
gen, floor = evaluations.evaluate(model.G, n, seed, data, clf, lambda f, text: bar.progress(min(f, 1.0), text=text))
bar.empty()

st.caption(t("{model}: {n:,} samples (seed {seed}) judged by the project's Fashion-MNIST classifier (test accuracy "
             "{accuracy:.3f}) against the {test:,} real test images. *Real data* is {real:,} real training images "
             "scored the same way: the best a generator could do.", model=plain(model.source), n=gen.n, seed=gen.seed,
             accuracy=clf.test_accuracy, test=len(data.test), real=floor.n))
judgement(gen, floor)
numbers(gen, floor)

st.subheader(t("Which classes it draws"))
st.plotly_chart(charts.class_figure(gen, floor), key="quality.chart.classes", width="stretch")
st.caption(t("Blue: what the classifier takes this model's samples for. Grey: real training images judged the same "
             "way, so the classifier's own mistakes show. Red: the true mix. Under the dotted line ({share:.0%}) a "
             "class counts as missing.", share=gen.coverage_threshold))

st.subheader(t("New clothes, or copies?"))
copies(model, gen, data)

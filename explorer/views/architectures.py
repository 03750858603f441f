"""Architectures page: the book's MLP and the DCGAN side by side, on one screen for a class.

The chapter closes by saying that convolutional models draw much better images than its MLP.
This page shows it with the two shipped models: their pictures of the same z, each one's
Timeline (the same z through its snapshots), and the quality numbers of both beside the real
data's, computed as the Quality page computes them (and kept with its results).
"""
from __future__ import annotations

import random

import streamlit as st

from gan_core import CheckpointError, ClassifierError, decode, grid, png_bytes, upscale, z_from_seed
from explorer import env, evaluations, model_picker
from explorer.i18n import N_, t, tn
from explorer.plain import plain
from explorer.timeline_sources import load_snapshots, snapshot_sources

# The shipped pair: checkpoint file stem, its name on the page, and the command that makes it.
MODELS = (
    ("book", N_("The book's MLP"), "python -m gan_core.train --epochs 500 --out runs/book"),
    ("dcgan", N_("DCGAN"), "python -m gan_core.train --arch dcgan --epochs 10 --out runs/dcgan"),
)
# 3 rows of 6 at 3x (524 px), shrunk to fit half the page: at 1024x768 the samples and the table share one screen.
SAMPLES, SAMPLE_COLUMNS, SAMPLE_SCALE = 18, 6, 3
TIMELINE_COLUMNS = 12                               # the book ships 12 snapshots: one row each
TIMELINE_SCALE = 3


def _randomise() -> None:
    st.session_state["arch.seed"] = random.randrange(10_000)


def load(stem: str):
    """The shipped model `stem`.pt, or None if the checkpoints folder lacks it; raises CheckpointError, OSError."""
    path = env.checkpoints_root() / f"{stem}.pt"
    if not path.is_file():
        return None
    return model_picker.model_from_file(str(path), path.stat().st_mtime_ns)


def describe(model) -> str:
    params = sum(p.numel() for p in model.G.parameters())
    return tn("{epochs:,} epoch · G has {params:,} parameters", "{epochs:,} epochs · G has {params:,} parameters",
              model.epoch, epochs=model.epoch, params=params)


def samples(model, seed: int) -> None:
    z = z_from_seed(seed, SAMPLES, model.config.latent_dim)
    pictures = decode(model.G, z, model.config.image_size)
    st.image(png_bytes(grid(pictures, ncols=SAMPLE_COLUMNS, scale=SAMPLE_SCALE)), output_format="PNG",
             width="stretch")


def timeline(stem: str, seed: int, latent_dim: int) -> None:
    """The first of the seed's z through each snapshot of the model, one picture per snapshot epoch."""
    key = f"checkpoints:{stem}-snapshots"
    source = next((s for s in snapshot_sources(env.checkpoints_root(), []) if s.key == key), None)
    snaps = load_snapshots(source)[0] if source else []
    snaps = [s for s in snaps if s.config.latent_dim == latent_dim]
    if not snaps:
        st.caption(t("No snapshots of this model in the checkpoints folder."))
        return
    z = z_from_seed(seed, 1, latent_dim)
    for start in range(0, len(snaps), TIMELINE_COLUMNS):
        for col, s in zip(st.columns(TIMELINE_COLUMNS), snaps[start:start + TIMELINE_COLUMNS]):
            # Bare numbers, as on the Timeline page: "epoch 100" would wrap under a 12th of the page.
            col.image(png_bytes(upscale(decode(s.G, z, s.config.image_size)[0], TIMELINE_SCALE)),
                      caption=f"{s.epoch:,}", output_format="PNG")


def quality(models: dict) -> None:
    """Both models' numbers and the real data's, in one table: the Quality page's numbers, at the sample count
    chosen there (a teacher who made it quick for the class gets it quick here too)."""
    with st.spinner(t("Loading Fashion-MNIST…")):
        data = evaluations.real_data()
    if isinstance(data, str):
        st.info(t("The quality numbers need the real Fashion-MNIST, which was not found; the Quality page says "
                  "how to get it."))
        return
    path = evaluations.classifier_path()
    try:
        clf = evaluations.judge(str(path), path.stat().st_mtime_ns)
    except (ClassifierError, OSError) as e:
        st.error(t("The quality classifier cannot be loaded: {reason}", reason=plain(e)))
        return
    asked = int(st.session_state.get(evaluations.N_KEY, evaluations.DEFAULT_N))   # the Quality page's number
    n = min(asked, len(data.train))   # a small folder holds fewer
    seed = 0
    bar = st.empty()
    results = {}
    for stem, model in models.items():
        results[stem], floor = evaluations.evaluate(model.G, n, seed, data, clf,
                                                    lambda f, text: bar.progress(min(f, 1.0), text=text))
    bar.empty()
    names = {stem: t(name) for stem, name, _ in MODELS if stem in results}
    rows = {stem: evaluations.number_rows(gen, floor) for stem, gen in results.items()}
    first = next(iter(rows.values()))
    table = [{t("Measure"): r[0], **{names[stem]: rows[stem][i][1] for stem in rows}, t("Real data"): r[2]}
             for i, r in enumerate(first)]
    copies = [(t("Nearest training image, median L2"), lambda e: f"{e.nearest_median:.2f}",
               f"{floor.test_nearest_median:.2f}"),
              # Real test images are, by definition, never closer than the nearest test image: 0 of as many.
              (t("Closer than any test image"), lambda e: f"{e.closer_than_any_test}/{len(e.nearest_distances)}",
               f"0/{len(next(iter(results.values())).nearest_distances)}")]
    for label, value, real in copies:
        table.append({t("Measure"): label, **{names[stem]: value(gen) for stem, gen in results.items()},
                      t("Real data"): real})
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(t("{n:,} samples of each model (seed {seed}; the Quality page's *Samples to score* sets how many), "
                 "judged by the project's Fashion-MNIST classifier as on the Quality page: lower Frechet distance and "
                 "KL are better, and *Real data* is real training images scored the same way. The table in "
                 "`README.md` scores 10,000 samples.", n=n, seed=seed))


st.title(t("MLP and DCGAN"))
st.caption(t("The chapter ends by saying that convolutional networks draw much better pictures than its MLP. Here are "
             "both, trained on the same data with the same loss, drawing the same z."))

loaded, problems = {}, []
for stem, _, _ in MODELS:
    try:
        if (model := load(stem)) is not None:
            loaded[stem] = model
    except (CheckpointError, OSError) as e:   # one line, and the other model still shows
        problems.append(model_picker.cannot_load(f"{stem}.pt", str(e)))
for p in problems:
    st.error(p)

st.session_state.setdefault("arch.seed", 0)
c = st.columns([2, 2, 4], vertical_alignment="bottom")
seed = int(c[0].number_input(t("Seed"), 0, 2**31 - 1, key="arch.seed", persist_state="session",
                             help=t("The same z goes into both generators.")))
c[1].button(t("Random"), icon=":material/casino:", key="arch.random", on_click=_randomise, width="stretch")

for col, (stem, name, command) in zip(st.columns(2), MODELS):
    with col:
        model = loaded.get(stem)
        st.markdown(f"**{t(name)}**" + (f" · {describe(model)}" if model else ""))
        if model is None:
            st.info(t("`{file}` is not in the checkpoints folder. Train it with `{command}` and copy the run's "
                      "`checkpoint.pt` there under that name.", file=f"{stem}.pt", command=command))
            continue
        samples(model, seed)

if loaded:
    quality(loaded)

st.subheader(t("Training, snapshot by snapshot"))
st.caption(t("The first picture above, drawn by each generator as it was after each snapshot epoch."))
for stem, name, _ in MODELS:
    if stem in loaded:
        st.markdown(f"**{t(name)}**")
        timeline(stem, seed, loaded[stem].config.latent_dim)

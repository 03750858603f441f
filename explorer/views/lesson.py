"""Lesson page: chapter 14 walked through with the live model, each part ending in a link to the page that explores it.

Where a new visitor lands (app.py sends "/" here). Four parts, in the chapter's order:
the two networks, drawn from the picked model's own layers; one training step slowed
down (gan_core.step_anatomy: the book's step on copies of G and D, continuing the Adam
state saved with them); what the training curves mean (the shipped book run's history);
the latent space and interpolation.
Links carry the page's ?lang and whatever state their page reads from the URL today.
"""
from __future__ import annotations

import random

import streamlit as st

from gan_core import (EQUILIBRIUM, CheckpointError, config_layers, decode, grid, interpolate, layer_outputs, layers,
                      load_checkpoint, png_bytes, settled, step_anatomy, step_inputs, upscale, z_from_seed)
from explorer import charts, env, evaluations, i18n, model_picker
from explorer.i18n import t
from explorer.plain import plain
from explorer.training_form import PRESET_PARAM, PRESETS, SETTING_KEYS

SHOWN = 6             # images of the step's batch shown in each row (the chart has them all)
STEP_SCALE = 3        # 28 px at 84 px: six to a row, captions on one line, on a 1024 px screen with the sidebar open
LAST = 100            # epochs at the end of the shipped run whose means say where training settled
HISTORY_FILE = "book.pt"
# The Interpolate page opens on seeds 1 and 2 and 10 frames (views/interpolate.py): the strip here is its start.
WALK_SEEDS, WALK_FRAMES, WALK_SCALE = (1, 2), 10, 2


def link(page: str, label: str, icon: str, help: str | None = None, **params: str) -> None:
    """A link to another page that keeps this URL's ?lang, with the settings that page reads from its URL."""
    lang = st.query_params.get(i18n.PARAM)
    st.page_link(page, label=label, icon=icon, help=help,
                 query_params={**params, **({i18n.PARAM: lang} if lang else {})})


def preset_params(preset: str) -> dict[str, str]:
    """A Train page preset as the URL parameters its settings are bound to (epochs, batch, lr_g, lr_d, ...), and
    ?preset=, which names it in the Train page's preset box."""
    settings = PRESETS[preset].settings
    return {PRESET_PARAM: preset, **{key: str(getattr(settings, field)) for field, key in SETTING_KEYS.items()}}


@st.cache_data(show_spinner=False, max_entries=4)
def shipped_history(path: str, mtime_ns: int) -> dict[str, list[float]]:
    return load_checkpoint(path).history


# ---- 1. the networks ---------------------------------------------------------------------------

def convolutional_networks(model) -> None:
    """A DCGAN picked in the sidebar: its layers as PyTorch prints them, with the shape each one outputs."""
    cfg = model.config
    rows = {"G": layer_outputs(model.G, cfg.latent_dim),
            "D": layer_outputs(model.D, cfg.image_dim) if model.D is not None else None}
    first_map = next(r.shape for r in rows["G"] if len(r.shape) == 3)   # (channels, side, side)
    st.markdown(t("The model picked is the DCGAN, the convolutional pair the chapter's last paragraph points to, "
                  "not the book's MLP (that one is `book.pt`). G turns z, {latent} random numbers, into a "
                  "{side}×{side} map of {channels} channels, and transposed convolutions double it until it is a "
                  "{size}×{size} image. D mirrors it with strided convolutions, down to one number: its probability "
                  "that the image is real. Each row is one layer, written as the call that builds it, with what it "
                  "outputs for one image.", latent=cfg.latent_dim, side=first_map[1], channels=first_map[0],
                  size=cfg.image_size))
    for name, net_rows in rows.items():
        st.markdown(f"**{name}**")
        if net_rows is None:
            st.info(t("This file holds only G (a book-style `G.state_dict()` or a snapshot): D is not in it."),
                    icon=":material/info:")
            continue
        # A static table: every row in sight on a projector, long calls wrapped rather than cut.
        st.table([{t("Layer"): r.module, t("Output for one image"): " × ".join(map(str, r.shape)),
                   t("Parameters"): f"{r.params:,}"} for r in net_rows])
    if rows["D"] is not None:
        st.caption(t("G has {g:,} parameters and D {d:,}. A convolution slides one small kernel over the whole "
                     "picture, so it needs few weights for the work it does.",
                     g=sum(r.params for r in rows["G"]), d=sum(r.params for r in rows["D"])))
    link("views/architectures.py", t("See it beside the book's MLP on the Architectures page"), ":material/view_column:")


def networks(model) -> None:
    st.header(t("1. Two networks"))
    cfg = model.config
    if cfg.arch == "dcgan":
        convolutional_networks(model)
        return
    st.markdown(t("Both are MLPs: stacks of fully connected layers (`nn.Linear`). G takes z, {latent} random "
                  "numbers, and widens them into {pixels} pixels, a {size}×{size} image. D narrows {pixels} pixels "
                  "down to one number: its probability that the image is real. The sizes below are read from the "
                  "loaded model's own layers; between two sizes is one `nn.Linear`, with its weights and biases "
                  "counted.", latent=cfg.latent_dim, pixels=cfg.image_dim, size=cfg.image_size))
    g_layers = layers(model.G)
    d_layers = layers(model.D) if model.D is not None else config_layers(cfg)[1]
    if model.D is None:
        st.info(t("This file holds only G (a book-style `G.state_dict()` or a snapshot): D is not in it. D is drawn "
                  "with the shape the settings give it."), icon=":material/info:")
    st.plotly_chart(charts.network_figure(g_layers, d_layers, model.D is not None), key="lesson.networks",
                    width="stretch", config={"displayModeBar": False})
    st.caption(t("G has {g:,} parameters and D {d:,}: the two are about the same size, so neither simply overpowers "
                 "the other.", g=sum(l.params for l in g_layers), d=sum(l.params for l in d_layers)))
    link("views/latent.py", t("Move G's {latent} inputs yourself on the Latent space page", latent=cfg.latent_dim),
         ":material/tune:", seed=str(WALK_SEEDS[0]))


# ---- 2. one step ---------------------------------------------------------------------------------

def _another_batch() -> None:
    st.session_state["lesson.seed"] = random.randrange(10_000)


def image_row(images, before, after, title: str) -> None:
    st.markdown(title)
    for col, img, b, a in zip(st.columns(SHOWN), images[:SHOWN], before, after):
        col.image(png_bytes(upscale(img, STEP_SCALE)), caption=f"{b:.2f}→{a:.2f}", output_format="PNG")


@st.fragment
def one_step(model) -> None:
    """The seed, the step's pictures and numbers: a new seed reruns only this part."""
    cfg = model.config
    st.session_state.setdefault("lesson.seed", 0)
    c = st.columns([3, 2, 2], vertical_alignment="bottom")
    seed = c[0].number_input(t("Seed of the batch and of z"), 0, 2**31 - 1, key="lesson.seed", persist_state="session",
                             help=t("The same seed takes the same real images and the same z."))
    c[1].button(t("Another batch"), icon=":material/casino:", on_click=_another_batch, key="lesson.another",
                width="stretch")
    with st.spinner(t("Loading Fashion-MNIST")):
        data = evaluations.real_data()
    if isinstance(data, str):
        st.warning(t("**This part needs real images, and Fashion-MNIST was not found.** `bash scripts/setup.sh` "
                     "installs it (or see the Quality page); the other parts of the lesson work without it."),
                   icon=":material/dataset:")
        return
    if cfg.image_dim != data.train.shape[1]:
        st.info(t("This model draws {size}×{size} images and Fashion-MNIST's are 28×28, so it cannot take a step on "
                  "them.", size=cfg.image_size), icon=":material/info:")
        return
    x, z = step_inputs(data.train, cfg, int(seed))
    a = step_anatomy(model.G, model.D, x, z, cfg, adam=model.adam)

    image_row(a.real, a.d_real, a.d_real_after,
              t("**Real images x**, D's score: before → after D's update"))
    image_row(a.fake, a.d_fake, a.d_fake_after,
              t("**G's fakes G(z)**, D's score: before → after D's update"))
    image_row(a.fake_after, a.d_fake_after, a.d_fake_after_g,
              t("**After G's update, G'(z)** (the same z), the updated D's score: on G(z) → on G'(z)"))
    st.caption(t("The first {shown} of the batch's {batch}; the chart has them all, each image's score before (open) "
                 "and after (filled), with the means above each row.", shown=min(SHOWN, len(a.real)),
                 batch=len(a.real)))
    st.plotly_chart(charts.step_figure(a), key="lesson.step", width="stretch", config={"displayModeBar": False})

    cols = st.columns(4)
    cols[0].metric(t("d_loss"), f"{a.d_loss:.4f}", help=t("`BCE(D(x), 1) + BCE(D(G(z)), 0)`, before D's update"))
    cols[1].metric(t("g_loss"), f"{a.g_loss:.4f}", help=t("`BCE(D(G(z)), 1)` through the updated D, before G's update"))
    cols[2].metric("D(x)", f"{a.d_x:.2f}", help=t("D's mean score on the real images, before its update"))
    cols[3].metric("D(G(z))", f"{a.d_g_z:.2f}", help=t("D's mean score on G's fakes, before its update"))
    losses = {"d0": a.d_loss, "d1": a.d_loss_after, "g0": a.g_loss, "g1": a.g_loss_after}
    said = [t("These are the four numbers the book's loop prints at the end of each epoch, for that epoch's last "
              "step.")]
    if a.lowered:
        said.append(t("Each update lowered its own loss on this batch: D's from {d0:.4f} to {d1:.4f}, then G's from "
                      "{g0:.4f} to {g1:.4f}. A single score may still move the other way: D's loss has two terms, "
                      "and one step trades a little of one for more of the other.", **losses))
    else:   # said as it is, with the reason that fits the Adam the step continued
        said.append(t("On this batch D's loss went from {d0:.4f} to {d1:.4f} with its update, and G's from "
                      "{g0:.4f} to {g1:.4f} with its own.", **losses))
        said.append(t("One step does not always lower its loss on its own batch: Adam follows running averages of "
                      "many batches' gradients, not this batch's alone.") if a.adam_steps else
                    t("One step does not always lower its loss: the first step of a fresh Adam moves every weight "
                      "by about the learning rate, however small its gradient, and on a trained model that can "
                      "overshoot."))
    st.markdown(" ".join(said))
    st.code(a.printout, language=None)
    if a.adam_steps:
        st.caption(t("The step runs on copies: the model itself does not change. It continues the Adam state saved "
                     "with the model after its {steps:,} training steps, so it is the step training would take next "
                     "if this batch came next (learning rates {lr_d:g} for D and {lr_g:g} for G).",
                     steps=a.adam_steps, lr_d=cfg.lr_d, lr_g=cfg.lr_g))
    else:
        st.caption(t("The step runs on copies: the model itself does not change. It starts from a fresh Adam, as the "
                     "book's first step does (a run in progress also carries Adam's running averages). On a first "
                     "step Adam moves every weight by almost exactly its learning rate, {lr_d:g} for D and {lr_g:g} "
                     "for G, so these changes are about as large as one step ever makes them.",
                     lr_d=cfg.lr_d, lr_g=cfg.lr_g))


def step(model) -> None:
    st.header(t("2. One training step, slowed down"))
    st.markdown(t("Training is one step, repeated (600 times an epoch in the book). Each step takes a batch "
                  "of {batch} real images x and {batch} random z, then:\n"
                  "1. **D's update** lowers `BCE(D(x), 1) + BCE(D(G(z)), 0)`: D learns to answer 1 for real "
                  "images and 0 for G's.\n"
                  "2. **G's update**, with the same z, lowers `BCE(D(G(z)), 1)` through the D just updated: G "
                  "learns to make D answer 1 for its images.",
                  batch=model.config.batch_size))
    if model.D is None:
        st.info(t("A step needs D, and this file holds only G. Pick a model with D in the sidebar (`book.pt`, or a "
                  "run trained here)."), icon=":material/info:")
    else:
        one_step(model)
    quick = PRESETS["quick"]
    link("views/train.py", t("Train it yourself on the Train page: {preset}", preset=t(quick.name)),
         ":material/model_training:", help=t(quick.about), **preset_params("quick"))


# ---- 3. the curves -------------------------------------------------------------------------------

def curves() -> None:
    st.header(t("3. What the curves mean"))
    path = env.checkpoints_root() / HISTORY_FILE
    try:
        history = shipped_history(str(path), path.stat().st_mtime_ns)
    except (OSError, CheckpointError):
        history = {}
    if len(history.get("epoch", [])) <= LAST:
        st.info(t("The shipped book model (`checkpoints/{file}`) and its history are not here, so there are no "
                  "curves to read.", file=HISTORY_FILE), icon=":material/info:")
        return
    epochs = len(history["epoch"])
    end = settled(history, LAST)
    st.plotly_chart(charts.settle_figure(history, LAST), key="lesson.curves", width="stretch",
                    config={"displayModeBar": False})
    st.markdown(t("**Why 0.5 is the ideal.** D's output is its probability that an image is real. If G's images "
                  "were as good as real ones, D could not tell them apart, and its best answer would be 0.5 for "
                  "every image: D(x) = D(G(z)) = 0.5. That is the game's equilibrium, where neither network can "
                  "do better by changing alone. The losses would then be `2 ln 2 = {d_loss:.2f}` for D and "
                  "`ln 2 = {g_loss:.2f}` for G.", d_loss=EQUILIBRIUM["d_loss"], g_loss=EQUILIBRIUM["g_loss"]))
    first = {k: history.get("mean_" + k, history.get(k, [float("nan")]))[0] for k in ("d_x", "d_g_z")}
    st.markdown(t("**Why this MLP stops short of it.** In the shipped run's first epoch D won easily (D(x) "
                  "{d_x0:.2f}, D(G(z)) {d_g_z0:.2f}). Over its last {n} epochs ({start:,} to {end:,}) the curves "
                  "are flat: D(x) averaged {d_x:.2f} and D(G(z)) {d_g_z:.2f}, D's loss {d_loss:.2f} and G's "
                  "{g_loss:.2f}. The two have reached a stalemate, not the ideal: D, about as large as G, still "
                  "spots what G does not draw well, such as speckled, noisy pixels and soft edges that no real "
                  "photo has. The book's own printout ends in the same place: D(x) 0.68 to 0.73, D(G(z)) 0.24 to "
                  "0.34 in its last epochs. The chapter closes by noting that convolutional networks make much "
                  "better images; a G that good leaves D less to spot.",
                  d_x0=first["d_x"], d_g_z0=first["d_g_z"], n=LAST, start=epochs - LAST + 1, end=epochs,
                  d_x=end["d_x"], d_g_z=end["d_g_z"], d_loss=end["d_loss"], g_loss=end["g_loss"]))
    link("views/timeline.py", t("See G improve, epoch by epoch, on the Timeline page"), ":material/timeline:",
         seed=str(WALK_SEEDS[0]), epoch="1")   # from the first snapshot: the shipped run's epoch 1
    too_fast = PRESETS["d_too_fast"]
    link("views/train.py", t("Watch D win instead on the Train page: {preset}", preset=t(too_fast.name)),
         ":material/model_training:", help=t(too_fast.about), **preset_params("d_too_fast"))


# ---- 4. the latent space -----------------------------------------------------------------------

def latent(model) -> None:
    st.header(t("4. The latent space and interpolation"))
    dim = model.config.latent_dim
    a, b = WALK_SEEDS
    st.markdown(t("G's input z is {dim} numbers drawn from N(0, 1): a point in a {dim}-dimensional space, the "
                  "**latent space**. G has learned to turn every point into a garment, and nearby points into "
                  "similar ones. So walking from one z to another (**interpolation**) turns one garment into "
                  "another, through images that are all clothes. Below, seed {a}'s z to seed {b}'s along the "
                  "sphere (slerp) in {n} frames: where the Interpolate page starts.", dim=dim, a=a, b=b,
                  n=WALK_FRAMES))
    zs = z_from_seed(a, 1, dim)[0], z_from_seed(b, 1, dim)[0]
    frames = decode(model.G, interpolate(*zs, WALK_FRAMES, "slerp"), model.config.image_size)
    st.image(png_bytes(grid(frames, ncols=WALK_FRAMES, scale=WALK_SCALE)),
             caption=t("Seed {a} → seed {b}", a=a, b=b), output_format="PNG")
    # The pages open on the pictures above: seed a's z, and the walk from a to b in as many frames.
    link("views/latent.py", t("Move z yourself on the Latent space page"), ":material/tune:", seed=str(a))
    link("views/interpolate.py", t("Walk between two z on the Interpolate page"), ":material/linear_scale:",
         a=str(a), b=str(b), mode="slerp", frames=str(WALK_FRAMES))


st.title(t("Lesson: a GAN learns by competing"))
model = model_picker.pick_model()
st.markdown(t("Chapter 14 of the Korean textbook *펭귄브로의 3분 딥러닝, 파이토치맛* builds a GAN (generative "
              "adversarial network): two networks that learn by competing. The **generator G** forges pictures of "
              "clothes from random numbers; the **discriminator D** looks at a picture and says how likely it is "
              "to be a real Fashion-MNIST photo. D learns to catch G's fakes, and G learns to fool D."))
if model is None:
    model_picker.no_model_prompt()
    st.stop()
st.caption(t("Everything below is computed live from the model picked in the sidebar: {model}.",
             model=plain(model.source)))
networks(model)
step(model)
curves()
latent(model)

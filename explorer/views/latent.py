"""Latent space page: move z along the directions that change G's pictures most, steer it to a class, walk a map.

The state, all in session state (prefix latent.):
    base        the base z, z0 (latent_dim floats): a seed's z, Random, the end of a steering walk,
                a map cell, or a projection (Project an image page) sets it
    a0 ... a7   the direction sliders: how far to move along SeFa direction i, in standard deviations of z
    z           the z on show, z = z0 + sum_i a_i n_i, written whenever the picture is drawn; the
                Interpolate and Timeline pages start from it
    z0 ... z63  the raw sliders (in an expander): z itself, one number each; moving one moves z0 so
                that z takes that value there, the direction sliders staying where they are
Setting a new base zeroes the direction sliders, so the picture is the base's; under each slider a
strip shows what -3 ... +3 does to the base.

The link (explorer/share_link.py): ?model, ?seed, ?z (when no seed gives the base), ?d (the sliders).

Speed (design.md section 5): the picture and the direction sliders are one fragment (panel), so a
move reruns that part (one generator forward, about a millisecond, and the sliders and strips
re-sent), not the page; the strips are kept for the base z. The picture is inside the fragment, not
an st.empty outside that each slider's fragment redraws: Streamlit replaces an element a fragment
writes outside itself, and the browser then dropped the picture for a frame or more on every full
run. The raw sliders are drawn only while their expander is open; a raw move, a button that sets
a new base z, or a direction move while the raw sliders are open, reruns the whole page so that
every slider, strip and picture shows the same z.
"""
from __future__ import annotations

import functools
import random
import time

import numpy as np
import streamlit as st
import torch
from streamlit.runtime.scriptrunner import get_script_run_ctx

from gan_core import d_scores, decode, grid, latent_plane, png_bytes, upscale, z_from_seed
from explorer import charts, latent_tools, live_generator, model_picker, presenter, resources, share_link
from explorer.i18n import N_, t
from explorer.plain import plain

SCALE = 12         # 28 px shown at up to 336 px; nearest-neighbour, so pixels stay crisp squares
PRESENT_SCALE = 20  # on a projector the picture is about 500 px high: sent larger, so the browser scales it down
Z_RANGE = 3.0      # raw slider range ±3: z ~ N(0, 1) per dimension, so 99.7 % of seeded values fit
Z_STEP = 0.05      # one arrow-key press on a raw slider
A_STEP = 0.1       # one arrow-key press on a direction slider, in standard deviations
COLUMNS = 8        # raw sliders per row
# Raw sliders drawn at most: a valid checkpoint may have a z of thousands (4,096 sliders took 22 s to draw);
# past this, the first MAX_SLIDERS dimensions get sliders, the rest keep their values.
MAX_SLIDERS = 128
FRAME_S = 0.05     # a steering walk plays at 20 frames a second: at most 1.5 s
MAP_SIDE = 9       # the latent map is 9 x 9 pictures, decoded in one pass
MAP_SCALE = 2      # at 2x with 1 px between cells: 524 px square
MAP_PAD = 1
MAP_CORNERS = ("A", "B", "C")
MAP_SOURCES = {"seed": N_("Seed"), "now": N_("This picture")}   # and each kept projection, "projected:KEY"

# What changes most along a direction that changes no class steadily (gan_core.DirectionLabel.kind).
PIXEL_KINDS = {"brightness": N_("brightness"), "width": N_("width"), "height": N_("height")}

MOVED = "latent.moved"   # a direction slider moved (set by its callback, read by the panel's fragment)
WHOLE_PAGE = "latent.whole_page"   # a button in the panel changed the base z: rerun the page, not just the panel


def _a_key(i: int) -> str:
    return f"latent.a{i}"


def _z_key(i: int) -> str:
    return f"latent.z{i}"


def _amounts(k: int) -> list[float]:
    # Rounded to the slider's grid, so that a link's "0.3" gives the very z of a slider's 0.30000000000000004.
    return [round(float(st.session_state.get(_a_key(i), 0.0)), 2) for i in range(k)]


def current_z(dirs) -> torch.Tensor:
    """The z on show, from the base and the direction sliders' values in session state."""
    k = len(dirs.vectors) if dirs is not None else 0
    return latent_tools.compose(st.session_state["latent.base"], _amounts(k), dirs)


# ---- setting a new base (callbacks run before the page, so the sliders show it) --------------

def set_base(z: list[float], map_cell: int | None = None) -> None:
    """A new base z: the direction sliders go back to 0 and earlier results no longer describe the picture."""
    latent_tools.set_latent_base(z)
    st.session_state["latent.map.cell"] = map_cell
    st.session_state[WHOLE_PAGE] = True   # new strips: in a run of the panel alone, rerun the page


def _from_seed(dim: int) -> None:
    set_base(z_from_seed(int(st.session_state["latent.seed"]), 1, dim)[0].tolist())


def _randomise(dim: int) -> None:
    st.session_state["latent.seed"] = random.randrange(10_000)
    _from_seed(dim)


def _zero_directions(k: int) -> None:
    for i in range(k):
        st.session_state[_a_key(i)] = 0.0
    st.session_state[WHOLE_PAGE] = True


def _start_here(dirs) -> None:
    set_base(current_z(dirs).tolist())


def _direction_moved() -> None:
    st.session_state[MOVED] = True


def _raw_moved(i: int, dirs) -> None:
    """Raw slider i moved: shift the base there by as much, so that z[i] takes the slider's value."""
    z = current_z(dirs)
    base = list(st.session_state["latent.base"])
    base[i] += float(st.session_state[_z_key(i)]) - float(z[i])
    st.session_state["latent.base"] = base


# ---- the picture ------------------------------------------------------------------------

def rendered(model, dirs) -> tuple[bytes, str]:
    """G(z) for the page's z as PNG bytes, and its caption: D's verdict and where the model came from."""
    resources.manager().note_interaction()   # training children pause while this picture is on its way
    z = current_z(dirs)
    st.session_state["latent.z"] = z.tolist()   # the Interpolate and Timeline pages can start here
    image = decode(model.G, z[None], model.config.image_size)   # (1, 28, 28) uint8
    verdict = verdict_text(model, image)
    scale = PRESENT_SCALE if presenter.presenting() else SCALE
    return png_bytes(upscale(image[0], scale)), f"{verdict} · {plain(model.source, 120)}"


def draw(model, dirs, where):
    """G(z) for the page's z, D's verdict under it, drawn in `where`; returns the image, which a later
    picture.image() replaces (never an st.empty first: an empty slot reaches the browser as a blank).

    One element on purpose: each element is one more message per slider change, and on a busy
    two-core machine an image with a metric and a download button under it took 80 ms longer.
    """
    png, caption = rendered(model, dirs)
    return where.image(png, caption=caption, output_format="PNG", width="stretch")


def verdict_text(model, image: np.ndarray) -> str:
    """D's verdict on one picture (1, s, s) uint8, in words."""
    if model.D is None:
        return t("No D in this file to judge the image")
    return t("D's verdict: {p:.2f} (how sure D is that it is real)", p=float(d_scores(model.D, image)[0]))


def direction_words(i: int, found: list | None) -> tuple[str, str | None]:
    """Direction i's slider label and its help: what the quality classifier saw change along it, once it has."""
    if not found:
        return t("Direction {n}", n=i + 1), None
    label = t("{n} · {what}", n=i + 1, what=latent_tools.label_words(found[i]))
    if found[i].kind == "class":
        return label, t("Found by the quality classifier over 128 random z: from -3 to +3, {share:.0%} of them "
                        "turn from {minus} to {plus}.", share=found[i].class_shift, minus=t(found[i].minus_class),
                        plus=t(found[i].plus_class))
    return label, t("No class changes steadily along it (checked by the quality classifier over 128 random z); "
                    "what changes most is the picture's {what}.", what=t(PIXEL_KINDS[found[i].kind]))


def direction(i: int, judge) -> None:
    """Direction slider i, with what the quality classifier saw change along it (once it has looked)."""
    found = latent_tools.labels_ready(st.session_state["latent.model"], judge) if judge else None
    label, help_text = direction_words(i, found)
    st.slider(label, -latent_tools.SPAN, latent_tools.SPAN, step=A_STEP, format="%+.1f", key=_a_key(i),
              on_change=_direction_moved, persist_state="session", help=help_text)


def panel(model, dirs, judge, why, dim: int) -> None:
    """The picture beside the direction sliders, run as one fragment: a slider move reruns this, not the page.

    The picture is inside the fragment on purpose. Drawn outside it (an st.empty above that each
    slider's fragment redrew), every full run (Random, a seed, Start here) made the browser drop
    the picture for a frame or more: Streamlit replaces an element a fragment writes outside
    itself. Buttons here that change the base z, and any move while the raw sliders are open,
    rerun the whole page, so that the strips, the raw sliders and the map show the new z too.
    """
    whole = st.session_state.pop(WHOLE_PAGE, False)
    moved = st.session_state.pop(MOVED, False)
    ctx = get_script_run_ctx()
    if ctx is not None and ctx.fragment_ids_this_run and (whole or (moved and st.session_state.get("latent.raw"))):
        st.rerun()
    left, right = st.columns([3, 2] if presenter.presenting() else 2, gap="medium")
    with left:
        # The key names the picture for the presenter's styles and the tests.
        picture = draw(model, dirs, st.container(key="latent.picture"))
        frames = st.session_state.pop("latent.play", None)
        if frames is not None:   # a steering walk: played here, then the picture where it ended
            play(picture, frames)
            draw(model, dirs, picture)
        with presenter.secondary(t("Steer to a class")):
            steering(model, dirs, judge, why)
        if not presenter.presenting():
            start_controls(dim)
    with right:
        if presenter.presenting():
            start_controls(dim)
        if dirs is None:
            st.info(t("This generator's z has {dim:,} numbers, too many to find its main directions quickly: "
                      "use the sliders of z below.", dim=dim), icon=":material/tune:")
        else:
            directions_panel(model, dirs, judge)
    share(model, dirs)   # the URL follows the sliders


# ---- the page's parts -------------------------------------------------------------------

def start_controls(dim: int) -> None:
    """Where the base comes from: a seed, or a random one."""
    c = st.columns(2, vertical_alignment="bottom")
    c[0].number_input(t("Seed"), 0, 2**31 - 1, key="latent.seed", on_change=_from_seed, args=(dim,),
                      help=t("The z that this seed draws; the same on every machine."))
    c[1].button(t("Random"), icon=":material/casino:", on_click=_randomise, args=(dim,), width="stretch")


def steering(model, dirs, judge, why: str | None) -> None:
    """Pick a class and walk z toward it: the walk plays in the picture and ends there, as the new base."""
    if not presenter.presenting():   # there its expander says it
        st.markdown(t("**Steer to a class**"))
    if judge is None:
        st.caption(why)
        return
    names = {c: latent_tools.class_name(c) for c in range(len(latent_tools.CLASS_NAMES))}
    c = st.columns([3, 2], vertical_alignment="bottom")
    target = c[0].selectbox(t("Class"), list(names), format_func=names.__getitem__, key="latent.target",
                            label_visibility="collapsed")
    if c[1].button(t("Steer"), icon=":material/explore:", width="stretch", key="latent.steer_button",
                   help=t("Each step turns z by 0.3 rad up the classifier's slope toward the class, staying on "
                          "the sphere where G was trained; at most 50 steps.")):
        with st.spinner(t("Steering toward {cls}…", cls=names[target])):
            path = latent_tools.steer_to(model.G, judge, current_z(dirs), target)
            if not live_generator.live(model.config):   # the browser plays the walk itself
                st.session_state["latent.play"] = latent_tools.animation(model.G, path.z, model.config.image_size)
        set_base(path.z[-1].tolist())
        st.session_state["latent.steered"] = dict(target=target, steps=len(path.z) - 1, reached=path.reached,
                                                  start=float(path.target_prob[0]), end=float(path.target_prob[-1]))
        if live_generator.live(model.config):
            st.session_state["latent.walk"] = (st.session_state.get("latent.walks", 0) + 1, path.z)
            st.session_state["latent.walks"] = st.session_state["latent.walk"][0]
        st.rerun()   # the whole page: the walk plays in the picture, then everything shows where it ended
    done = st.session_state.get("latent.steered")
    if done:
        cls = names[done["target"]]
        if done["steps"] == 0:
            st.caption(t("Already there: the classifier takes it for {cls} with probability {p:.2f}.", cls=cls,
                         p=done["end"]))
        elif done["reached"]:
            st.caption(t("Reached {cls} in {steps} steps: the classifier's probability for it rose from {start:.2f} "
                         "to {end:.2f}.", cls=cls, steps=done["steps"], start=done["start"], end=done["end"]))
        else:
            st.caption(t("{cls} not reached in {steps} steps (probability {end:.2f}): try again from another z.",
                         cls=cls, steps=done["steps"], end=done["end"]))


def directions_panel(model, dirs, judge) -> None:
    k = len(dirs.vectors)
    c = st.columns(2)
    c[0].button(t("All to 0"), icon=":material/restart_alt:", on_click=_zero_directions, args=(k,),
                width="stretch", help=t("Back to the starting picture."))
    c[1].button(t("Start here"), icon=":material/push_pin:", on_click=_start_here, args=(dirs,), width="stretch",
                help=t("Make this picture the start: the sliders go to 0 and the strips are drawn from it."))
    for i, strip in enumerate(strip_pngs(model, dirs)):
        direction(i, judge)
        st.image(strip, output_format="PNG", width="stretch")


def strip_pngs(model, dirs) -> list[bytes]:
    """Each direction's strip as PNG, kept for the base z: a slider move re-sends them rather than redraws them."""
    key = (st.session_state["latent.model"], tuple(st.session_state["latent.base"]))
    kept = st.session_state.get("latent.strips")
    if kept is None or kept[0] != key:
        found = latent_tools.strips(model.G, torch.tensor(st.session_state["latent.base"]), dirs,
                                    model.config.image_size)
        kept = st.session_state["latent.strips"] = (key, [png_bytes(f) for f in found])
    return kept[1]


def raw_sliders(model, dirs) -> None:
    """z itself, one slider a number (the first MAX_SLIDERS), drawn only while the expander is open."""
    dim = model.config.latent_dim
    shown = min(dim, MAX_SLIDERS)
    box = st.expander(t("All {dim} numbers of z", dim=dim), key="latent.raw", on_change="rerun",
                      expanded=dirs is None)
    if not box.open:
        return
    z = current_z(dirs)
    for i in range(shown):   # before the sliders exist: they show the z on the page
        st.session_state[_z_key(i)] = round(min(max(float(z[i]), -Z_RANGE), Z_RANGE), 2)
    with box:
        if dim > MAX_SLIDERS:
            st.info(t("This generator's z has {dim:,} numbers: the first {shown} have sliders, and the rest keep "
                      "their values (thousands of sliders would take the page tens of seconds to draw).",
                      dim=dim, shown=shown), icon=":material/tune:")
        st.caption(t("Values beyond ±3 are shown at ±3."))
        for col, first in zip(st.columns(COLUMNS), range(COLUMNS)):
            for i in range(first, shown, COLUMNS):
                col.slider(f"z{i}", -Z_RANGE, Z_RANGE, step=Z_STEP, format="%.2f", key=_z_key(i),
                           on_change=_raw_moved, args=(i, dirs))


def _map_clicked(chart_key: str) -> None:
    """A map cell was clicked: it becomes the base z."""
    points = st.session_state[chart_key].selection["point_indices"]
    cells = st.session_state.get("latent.map.cells")
    if not points or cells is None:
        return
    set_base(cells[points[0]].tolist(), map_cell=points[0])
    st.session_state["latent.map.version"] = st.session_state.get("latent.map.version", 0) + 1   # a fresh selection


def _corner_source_changed(name: str) -> None:
    if st.session_state[f"latent.map.{name}.src"] == "now":
        st.session_state[f"latent.map.{name}.now"] = list(st.session_state.get("latent.z", []))


def corner(name: str, default_seed: int, dim: int, projections: list[dict]) -> torch.Tensor:
    """One corner of the map: a seed's z, the picture's z when it was chosen, or a kept projection."""
    st.session_state.setdefault(f"latent.map.{name}.seed", default_seed)
    kept = {f"projected:{p['picture']}": p for p in projections}
    options = {**{k: t(v) for k, v in MAP_SOURCES.items()}, **{k: p["name"] for k, p in kept.items()}}
    if st.session_state.get(f"latent.map.{name}.src") not in options:
        st.session_state[f"latent.map.{name}.src"] = "seed"
    src = st.selectbox(t("Corner {name}", name=name), list(options), format_func=options.__getitem__,
                       key=f"latent.map.{name}.src", on_change=_corner_source_changed, args=(name,),
                       help=t("This picture: the z on show when you chose it. Projections kept on the Project an "
                              "image page are offered too."))
    if src == "seed":
        seed = st.number_input(t("Seed of {name}", name=name), 0, 2**31 - 1, key=f"latent.map.{name}.seed",
                               label_visibility="collapsed")
        return z_from_seed(int(seed), 1, dim)[0]
    if src == "now":
        z = st.session_state.get(f"latent.map.{name}.now") or st.session_state.get("latent.z")
        return torch.tensor(z) if z and len(z) == dim else z_from_seed(0, 1, dim)[0]
    return torch.tensor(kept[src]["z"])


def latent_map(model) -> None:
    """A 9 x 9 grid of G's pictures over the plane through three z; a click makes a cell the page's z."""
    box = st.expander(t("Map: a plane through three z"), key="latent.map_open", on_change="rerun")
    if not box.open:
        return
    dim, size = model.config.latent_dim, model.config.image_size
    projections = latent_tools.kept(st.session_state["latent.model"])
    with box:
        st.caption(t("Corners: A top left, B top right, C bottom left, and D = C + (B − A) bottom right: what C "
                     "becomes under the change that takes A to B. Click a picture to make it the one above."))
        corners = []
        for col, name, seed in zip(st.columns(3), MAP_CORNERS, (1, 2, 3)):
            with col:
                corners.append(corner(name, seed, dim, projections))
        slerp = st.toggle(t("Along the sphere (slerp)"), value=True, key="latent.map.slerp",
                          help=t("Rows and columns follow arcs rather than straight lines, keeping z where G was "
                                 "trained."))
        plane = latent_plane(model.G, *corners, rows=MAP_SIDE, cols=MAP_SIDE, mode="slerp" if slerp else "lerp",
                             image_size=size)
        st.session_state["latent.map.cells"] = plane.z.reshape(MAP_SIDE * MAP_SIDE, dim)
        cell = st.session_state.get("latent.map.cell")
        if live_generator.plane(model.G, model.config, st.session_state["latent.model"], tuple(corners), MAP_SIDE,
                                MAP_SIDE, "slerp" if slerp else "lerp", cell=cell, on_change=_live_cell):
            if cell is not None:
                st.caption(t("Row {row}, column {col} is the picture above now: its directions and steering start "
                             "from it.", row=cell // MAP_SIDE + 1, col=cell % MAP_SIDE + 1))
            return
        picture = grid(plane.images.reshape(-1, size, size), ncols=MAP_SIDE, pad=MAP_PAD, scale=MAP_SCALE)
        fig = charts.latent_map_figure(png_bytes(picture), MAP_SIDE, MAP_SIDE, size, MAP_PAD, MAP_SCALE,
                                       st.session_state.get("latent.map.cell"))
        chart_key = f"latent.map.chart{st.session_state.get('latent.map.version', 0)}"
        st.plotly_chart(fig, key=chart_key, on_select=functools.partial(_map_clicked, chart_key),
                        selection_mode="points", config={"displayModeBar": False}, width="content")
        cell = st.session_state.get("latent.map.cell")
        if cell is not None:
            st.caption(t("Row {row}, column {col} is the picture above now: its directions and steering start "
                         "from it.", row=cell // MAP_SIDE + 1, col=cell % MAP_SIDE + 1))


def play(picture, frames: np.ndarray) -> None:
    """A steering walk, frame by frame, in the picture's place (the page then draws where it ended)."""
    resources.manager().note_interaction()
    for f in frames:
        picture.image(png_bytes(upscale(f, SCALE)), output_format="PNG", width="stretch")
        time.sleep(FRAME_S)


# ---- the page drawn in the browser (explorer/live_generator.py) --------------------------------

def _live_released(position: dict) -> None:
    """The browser's sliders were let go: their base and amounts become the page's (before it reruns)."""
    resources.manager().note_interaction()
    st.session_state["latent.base"] = position["base"]
    for i, a in enumerate(position["amounts"]):
        st.session_state[_a_key(i)] = round(a, 2)   # the slider's grid, as _amounts() and links read it


@st.fragment
def live_picture(model, dirs, judge) -> None:
    """The picture, the direction sliders with their strips and z's own sliders, drawn in the browser as the mouse
    moves; a release reruns only this (D's verdict, the URL)."""
    k = len(dirs.vectors) if dirs is not None else 0
    z = current_z(dirs)
    st.session_state["latent.z"] = z.tolist()   # the Interpolate and Timeline pages can start here
    found = latent_tools.labels_ready(st.session_state["latent.model"], judge) if judge else None
    words = [direction_words(i, found) for i in range(k)]
    presenting = presenter.presenting()
    with st.container(key="latent.picture"):
        live_generator.latent_explorer(
            model.G, model.config, st.session_state["latent.model"], base=st.session_state["latent.base"],
            amounts=_amounts(k), directions=None if dirs is None else dirs.vectors, labels=[w[0] for w in words],
            helps=[w[1] for w in words],
            caption=f"{verdict_text(model, decode(model.G, z[None], model.config.image_size))} · {model.source}",
            on_change=_live_released, raw_open=dirs is None, play=st.session_state.pop("latent.walk", None),
            scale=PRESENT_SCALE if presenting else SCALE, picture_vh=presenter.PICTURE_VH if presenting else None,
            columns=(3, 2) if presenting else (1, 1))
    share(model, dirs)   # the URL follows the sliders


def _live_cell(position: dict) -> None:
    cells = st.session_state.get("latent.map.cells")
    if cells is not None:
        set_base(cells[position["cell"]].tolist(), map_cell=position["cell"])


def live_explorer(model, dirs, judge, why: str | None) -> None:
    """The Latent page with G in the browser: seed and buttons, the picture with every slider, then steering.

    On a projector the picture comes first, so that all of it is on the screen (explorer/presenter.py).
    """
    if presenter.presenting():
        live_picture(model, dirs, judge)
        live_controls(model, dirs)
    else:
        live_controls(model, dirs)
        live_picture(model, dirs, judge)
    with presenter.secondary(t("Steer to a class")):
        steering(model, dirs, judge, why)


def live_controls(model, dirs) -> None:
    """Where the base comes from (a seed, Random) and the direction sliders' two buttons, in one row."""
    dim = model.config.latent_dim
    top = st.columns(2, vertical_alignment="bottom")
    with top[0]:
        start_controls(dim)
    if dirs is not None:
        k = len(dirs.vectors)
        c = top[1].columns(2)
        c[0].button(t("All to 0"), icon=":material/restart_alt:", on_click=_zero_directions, args=(k,),
                    width="stretch", help=t("Back to the starting picture."))
        c[1].button(t("Start here"), icon=":material/push_pin:", on_click=_start_here, args=(dirs,),
                    width="stretch",
                    help=t("Make this picture the start: the sliders go to 0 and the strips are drawn from it."))
    else:
        top[1].info(t("This generator's z has {dim:,} numbers, too many to find its main directions quickly: "
                      "use the sliders of z below.", dim=dim), icon=":material/tune:")


# ---- the link: model, seed (or z itself) and the direction sliders -----------------------------

def from_link(dim: int, k: int) -> None:
    """A link's seed, z and direction amounts become the page's (after prepare_state, which would zero them)."""
    asked = share_link.from_link("latent", ("seed", "z", "d"))
    if "seed" in asked and (seed := share_link.seed_value("seed", asked["seed"])) is not None:
        st.session_state["latent.seed"] = seed
        if "z" not in asked:
            _from_seed(dim)
    if "z" in asked and (z := share_link.z_value("z", asked["z"], dim)) is not None:
        set_base(z)
    if "d" in asked and (amounts := share_link.amounts_value("d", asked["d"], k, latent_tools.SPAN)) is not None:
        for i, a in enumerate(amounts):
            st.session_state[_a_key(i)] = a


def share(model, dirs) -> None:
    """The URL says what the page shows: the model, the seed, z itself when no seed gives it, the sliders."""
    seed = int(st.session_state["latent.seed"])
    base = st.session_state["latent.base"]
    values = {**share_link.model_param(), "seed": str(seed)}
    if torch.tensor(base, dtype=torch.float32).tolist() != z_from_seed(seed, 1, len(base))[0].tolist():
        values["z"] = share_link.z_text(base)
    if dirs is not None and (d := share_link.amounts_text(_amounts(len(dirs.vectors)))):
        values["d"] = d
    share_link.keep("latent", values)


# ---- the page ---------------------------------------------------------------------------

def prepare_state(model, dirs, key: str) -> None:
    """First visit, or another model: a base z of the right size, and sliders that refer to this model's directions."""
    dim = model.config.latent_dim
    k = len(dirs.vectors) if dirs is not None else 0
    st.session_state.setdefault("latent.seed", 0)
    base = st.session_state.get("latent.base")
    if base is None or len(base) != dim:
        # a seeded z rather than all zeros, which gives one dull average image
        st.session_state["latent.base"] = z_from_seed(int(st.session_state["latent.seed"]), 1, dim)[0].tolist()
    if st.session_state.get("latent.model") != key:   # another generator's directions: start them at 0
        st.session_state["latent.model"] = key
        _zero_directions(k)
        st.session_state["latent.map.cell"] = None
    for i in range(k):
        st.session_state.setdefault(_a_key(i), 0.0)


def explorer(model) -> None:
    dim, size = model.config.latent_dim, model.config.image_size
    key = latent_tools.model_key(model.G)
    dirs = latent_tools.directions(model.G, key, dim)
    prepare_state(model, dirs, key)
    judge, why = latent_tools.classifier(size)

    from_link(dim, len(dirs.vectors) if dirs is not None else 0)

    if live_generator.live(model.config):
        live_explorer(model, dirs, judge, why)
    else:
        if note := live_generator.server_note(model.config):   # why the pictures wait for the release
            st.caption(note)
        st.fragment(panel)(model, dirs, judge, why, dim)
        raw_sliders(model, dirs)
    latent_map(model)

    if dirs is not None and judge is not None and latent_tools.labels_ready(key, judge) is None:
        with st.spinner(t("Naming the directions with the quality classifier (once for this generator)…")):
            latent_tools.labels(model.G, key, dirs, judge, model.config.image_size)
        st.rerun()


share_link.title(t("Latent space"))
model = model_picker.pick_model()
if model is None:
    model_picker.no_model_prompt()
else:
    with presenter.secondary(t("What this page shows")):
        st.caption(t("G turns {dim} numbers, z, into a picture. Each slider moves z along one of the directions that "
                     "change G's pictures most (SeFa), in standard deviations of z; its strip shows what −3 … +3 "
                     "does to the starting picture, and its label what the quality classifier saw change.",
                     dim=model.config.latent_dim))
    explorer(model)

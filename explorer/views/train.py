"""Train page: start a run of the book's GAN and watch it learn, live; or open a run shipped ready to show.

Training happens in a child process (explorer/run_manager.py), so widgets and
browser refreshes never interrupt it; the run's id sits in the URL (?run=...).
While the run is active, two fragments poll its folder: its state and progress
every second, and the charts and samples every few seconds, because redrawing
two Plotly charts and sixteen images is what costs a viewer's browser most
(bench/slider_latency.py --students measures the effect on a shared machine).
While a run is paused, GAN Lab's teaching controls do one update at a time (Step D, Step G,
Step both), and the page shows what it changed: the four numbers on the same images and z just
before and after it (the trainer reports them in status.json) and the fixed-z grid before and after.
Runs trained beforehand and shipped in checkpoints/lessons/ (explorer/lesson_runs.py)
open read-only (?lesson=NAME): the same charts and samples, no controls.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import streamlit as st

from gan_core import ACTIVE_STATES, ConfigError, RunFolder, grid, png_bytes, upscale
from gan_core.run_folder import TITLE_MAX
from explorer import charts, disk_trouble, env, resources, run_owners, training_form
from explorer.i18n import N_, t, tn
from explorer.lesson_runs import LESSON_RUNS, lesson_folders
from explorer.model_picker import state_name
from explorer.plain import plain
from explorer.run_manager import (LOG_FILE, RESUMABLE_STATES, RUN_ID, BackendUnavailable, DeleteRefused,
                                  QueueFull, RunsFolderError)
from explorer.run_names import default_title, run_title

POLL_S = 1.0          # state and progress of a training run
QUEUE_POLL_S = 2.0    # a waiting run: its place in the queue changes seldom
RESULTS_S = 3.0       # charts, samples and console of a training run
STEP_WAIT_S = 2.0     # after Step, how long to wait for that step to show before redrawing the page
SAMPLE_SCALE = 4      # 28 px samples shown at 112 px, pixels kept square
SAMPLE_COLUMNS = 8
COUNT_POLL_S = 3.0    # the sidebar's "now training" while anything trains or waits

# While paused: (half, label, widget key, help). "both" keeps Step's old key.
STEP_BUTTONS = (("d", N_("Step D"), "train.step_d",
                 N_("One update of D alone, on the next batch and a fresh z. G does not change.")),
                ("g", N_("Step G"), "train.step_g",
                 N_("One update of G alone, through D as it stands (with the z of a Step D just before, if any). "
                    "D does not change.")),
                ("both", N_("Step both"), "train.step",
                 N_("One whole step, as training does: D's update (k of them), then G's.")))
STEP_ACTIONS = {"both": "step", "d": "step d", "g": "step g"}   # run_manager.ACTIONS
HALF_SAID = {"d": N_("D's update alone, on the next batch and a fresh z. G did not change, so its pictures are the "
                     "same; only D's scores on them moved."),
             "g": N_("G's update alone, through D as it stands. D did not change; G's pictures moved, and D's scores "
                     "with them.")}

mgr = resources.manager()


class Waiting(NamedTuple):
    """A single update asked for and not shown yet."""
    run_id: str
    last: dict | None          # status.json's "update" before it (the trainer numbers each one)
    grid: tuple | None         # the fixed-z grid before it: (images, scores, step)
    since: float               # time.monotonic() when asked


class Change(NamedTuple):
    """What the last single update changed, shown until the next one or Resume."""
    run_id: str
    update: dict               # status.json's "update": half, before, after (gan_core.StepEvent)
    before: tuple | None       # the fixed-z grid before and after: (images, scores, step)
    after: tuple | None


class Shown(NamedTuple):
    """What the page shows: a run of this server, or a shipped one (read-only)."""
    key: str                 # the run's id, or "lesson.NAME": names its caches and widgets
    folder: RunFolder
    lesson: str | None       # the shipped run's name; None for a run of this server

    def curves(self):
        return resources.folder_curves(str(self.folder.path)) if self.lesson else resources.run_curves(self.key)


def start_button(settings) -> None:
    """Sidebar: Start, and how busy the server is. A new run becomes the page's run, owned by this browser.

    settings is None while the form holds a value a run cannot use: Start is then disabled, and a run
    never starts with settings other than those the form shows (they are read in this same script run)."""
    with st.sidebar:
        clicked = st.button(t("Start training"), type="primary", icon=":material/play_arrow:", width="stretch",
                            key="train.start", disabled=settings is None,
                            help=t("Fix the settings marked in red first.") if settings is None else None)
        if clicked and settings is not None:
            try:
                st.session_state["train.run"] = mgr.start(settings, owner_key=run_owners.owner_key())
                st.session_state["train.lesson"] = None
            except (ConfigError, QueueFull, RunsFolderError, BackendUnavailable) as e:
                st.error(plain(e))
        busy = mgr.training_count() or mgr.waiting_count()
        st.fragment(run_every=COUNT_POLL_S if busy else None)(server_load)()


def server_load() -> None:
    """How busy the server is; polled while anything trains or waits, so it drops when a run ends."""
    lone = mgr.lone_threads or mgr.threads
    if mgr.cluster:   # Ray queues and places the runs, not this server
        st.caption(t("Runs train on the Ray cluster at {address}, which starts each one ({threads}) where it has "
                     "room; now training {training}, waiting {waiting}.", address=plain(mgr.cluster),
                     threads=threads(mgr.threads), training=mgr.training_count(), waiting=mgr.waiting_count()))
        return
    if mgr.max_active > 1 and lone != mgr.threads:
        st.caption(t("This server trains up to {runs} at once: a run alone on {lone}, several on {each} each. Now "
                     "training {training}, waiting {waiting}.", runs=runs_count(mgr.max_active), lone=threads(lone),
                     each=threads(mgr.threads), training=mgr.training_count(), waiting=mgr.waiting_count()))
        return
    st.caption(t("This server trains up to {runs} at once ({threads} each); now training {training}, "
                 "waiting {waiting}.", runs=runs_count(mgr.max_active), threads=threads(lone),
                 training=mgr.training_count(), waiting=mgr.waiting_count()))


def threads(n: int) -> str:
    return tn("{n:,} CPU thread", "{n:,} CPU threads", n)


def runs_count(n: int) -> str:
    return tn("{n:,} run", "{n:,} runs", n)


def epochs_count(n: int) -> str:
    return tn("{n:,} epoch", "{n:,} epochs", n)


def run_label(run, status: dict) -> str:
    """A run's title (explorer.run_names) and, once it has ended, how."""
    label, state = run_title(run), status.get("state", "?")
    if state in ACTIVE_STATES:
        return label
    return t("{label} · {state} after {epochs}", label=label, state=state_name(state),
             epochs=epochs_count(status.get("epoch", 0)))


def unique_labels(runs: dict, statuses: dict) -> dict[str, str]:
    """run id -> label; two runs with the same label (same recipe, no title) are told apart by their ids."""
    labels = {r: run_label(run, statuses[r]) for r, run in runs.items()}
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {r: f"{label} · {r}" if seen[label] > 1 else label for r, label in labels.items()}


def _picked_run() -> None:
    st.session_state["train.lesson"] = None


def _picked_lesson() -> None:
    st.session_state["train.run"] = None


def _from_link(statuses: dict, lessons: dict) -> None:
    """When the session opens the page: the run or shipped run its link names."""
    wanted, lesson = st.query_params.get("run"), st.query_params.get("lesson")
    if wanted:
        if wanted in statuses:
            st.session_state["train.run"] = wanted
            return
        if RUN_ID.fullmatch(wanted) and mgr.was_deleted(wanted):
            st.info(t("Run “{run}” was deleted.", run=wanted), icon=":material/delete:")
        elif not RUN_ID.fullmatch(wanted):
            st.warning(t("The link asks for run “{run}”, which is not a run name. Pick a run below or start a new "
                         "one.", run=plain(wanted, 80)))
        else:
            st.warning(t("The link asks for run “{run}”, which was not found in this server's runs folder. Pick a "
                         "run below or start a new one.", run=plain(wanted, 80)))
    if lesson:
        if lesson in lessons:
            st.session_state["train.lesson"] = lesson
        else:
            st.warning(t("The link asks for the shipped run “{name}”, which this app does not have. Pick one "
                         "below.", name=plain(lesson, 80)))


def run_picker() -> Shown | None:
    """What this page shows: a run of this server, or a shipped one; picked here or given by the URL."""
    runs = {r.name: r for r in mgr.runs()}
    statuses = {r: run.read_status() for r, run in runs.items()}
    lessons = lesson_folders(env.checkpoints_root())
    if "train.run" not in st.session_state:
        _from_link(statuses, lessons)
    gone = st.session_state.get("train.run")
    if said := st.session_state.pop("train.deleted", None):
        st.success(t("Run “{run}” was deleted.", run=plain(said)), icon=":material/delete:")
    elif gone and gone not in statuses and mgr.was_deleted(gone):   # by someone else, while this page showed it
        st.info(t("Run “{run}” was deleted.", run=gone), icon=":material/delete:")
    # Set the run again before the picker is drawn, every time. A label changes (the run ended, was renamed)
    # and the browser sends back the label it shows: one no longer among the options, which would empty the
    # picker (and the URL's ?run=) on the next click of any button, Continue included. Read here, the picker's
    # value is still the run the browser means; set here, it wins over the stale label.
    st.session_state["train.run"] = gone if gone in statuses else None
    if st.session_state.get("train.lesson") not in lessons:
        st.session_state["train.lesson"] = None
    labels = unique_labels(runs, statuses)   # translated here: format_func may run outside
    run_id = st.selectbox(t("Run"), list(statuses), format_func=labels.__getitem__, key="train.run",
                          placeholder=t("Choose a run to watch, or start one in the sidebar"),
                          on_change=_picked_run, persist_state="session")
    lesson = None
    if lessons:
        titles = {name: t(LESSON_RUNS[name].title) if name in LESSON_RUNS else name for name in lessons}
        lesson = st.pills(t("Ready to show: runs trained beforehand"), list(lessons), format_func=titles.__getitem__,
                          key="train.lesson", on_change=_picked_lesson, persist_state="session",
                          help=t("Short runs shipped with the app: the book's recipe, and how a GAN fails. "
                                 "They open at once, read-only."))
    # The URL always names what is shown, so a refresh or a shared link comes back to it.
    for param, value in (("run", run_id), ("lesson", lesson)):
        if value:
            st.query_params[param] = value
        elif param in st.query_params:
            del st.query_params[param]
    if run_id:
        return Shown(run_id, mgr.folder(run_id), None)
    if lesson:
        return Shown(f"lesson.{lesson}", lessons[lesson], lesson)
    return None


def may_control(run_id: str) -> bool:
    """Whether this browser may control the run: it started it, or it is the teacher's (explorer/run_owners.py)."""
    return mgr.may_control(run_id, run_owners.owner_key(), run_owners.is_teacher(), bool(run_owners.teacher_token()))


def _control(run_id: str, action: str) -> None:
    """Pause, Resume and Stop's callback; Resume also puts away what the last single update changed."""
    if not may_control(run_id):
        return
    mgr.control(run_id, action)
    if action == "resume":
        st.session_state.pop("train.change", None)
        st.session_state.pop("train.update_wait", None)


def _single(run_id: str, half: str) -> None:
    """Step D, Step G or Step both's callback: note the grid and status.json's last update as they are now, so
    live_status can wait for this update and show what it changed."""
    run = mgr.folder(run_id)
    if run is None or not may_control(run_id):
        return
    status, grid_now = run.read_status(), run.read_samples(None)
    if mgr.control(run_id, STEP_ACTIONS[half]):
        st.session_state["train.update_wait"] = Waiting(run_id, status.get("update"), grid_now, time.monotonic())


def _continue(run_id: str) -> None:
    if not may_control(run_id):
        return
    st.session_state["train.run"] = run_id   # the page stays on it, whatever its label now says
    try:
        queued = mgr.resume(run_id)
    except (RunsFolderError, BackendUnavailable) as e:
        st.toast(plain(e), icon=":material/error:")
        return
    if not queued:
        st.toast(t("This run cannot be continued now (already queued or training, or the queue is full)."),
                 icon=":material/error:")


def controls(run_id: str, state: str) -> None:
    """Pause / Resume, Step and Stop, for a run this server is training."""
    owned = mgr.owns(run_id)
    if state in ACTIVE_STATES and not owned and mgr.stop_if_orphaned(run_id):
        state = "stopped"   # its trainer died unseen (no lock held on its folder): offer Continue
    if state not in ACTIVE_STATES and state not in RESUMABLE_STATES:
        return   # finished or diverged: nothing to control
    if not may_control(run_id):
        st.caption(t("You are watching this run: only the browser that started it, or the teacher, can control "
                     "it."))
        return
    active = state in ACTIVE_STATES and owned
    paused = mgr.pause_requested(run_id) if owned else state == "paused"
    c = st.columns(3)
    if state in RESUMABLE_STATES:
        has_checkpoint = mgr.folder(run_id).checkpoint.is_file()
        c[0].button(t("Continue"), icon=":material/replay:", key="train.continue", on_click=_continue,
                    args=(run_id,), disabled=not has_checkpoint, width="stretch",
                    help=t("Train on from the last finished epoch's checkpoint to the planned number of epochs.")
                    if has_checkpoint else t("No epoch finished before it ended, so there is nothing to continue."))
        return
    if state == "queued":
        c[0].button(t("Cancel"), icon=":material/close:", key="train.cancel", disabled=not owned,
                    on_click=_control, args=(run_id, "stop"), width="stretch")
        return
    single = active and paused
    if single:
        c[0].button(t("Resume"), icon=":material/play_arrow:", key="train.pause", on_click=_control,
                    args=(run_id, "resume"), width="stretch")
    else:
        c[0].button(t("Pause"), icon=":material/pause:", key="train.pause", disabled=not active, on_click=_control,
                    args=(run_id, "pause"), width="stretch",
                    help=t("Halts training between two steps; then Step D, Step G and Step both do one update at "
                           "a time."))
    c[1].button(t("Stop"), icon=":material/stop:", key="train.stop", disabled=not active, on_click=_control,
                args=(run_id, "stop"), width="stretch",
                help=t("Ends the run; the last finished epoch's checkpoint is kept."))
    if single:   # GAN Lab's teaching controls: one update at a time
        for col, (half, label, key, tip) in zip(st.columns(3), STEP_BUTTONS):
            col.button(t(label), icon=":material/skip_next:", key=key, on_click=_single, args=(run_id, half),
                       width="stretch", help=t(tip))
    if state in ACTIVE_STATES and not owned:
        st.caption(t("Another server process is training this run; only it can control it."))


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return t("{h} h {m:02d} min", h=s // 3600, m=s % 3600 // 60)
    if s >= 60:
        return t("{m} min {s:02d} s", m=s // 60, s=s % 60)
    return t("{s} s", s=s)


def progress(run_id: str, status: dict, snap) -> None:
    """State line and progress bar: epoch, step, images/s and time left."""
    state, message = status.get("state", "?"), status.get("message", "")
    epochs, spe = status.get("epochs", 0), status.get("steps_per_epoch")
    if state == "queued":
        pos = mgr.queue_position(run_id)
        if pos:
            st.info(t("Waiting for a free slot: number **{pos}** in the queue. Training now: {training}; this server "
                      "trains {max} at once.", pos=pos, training=runs_count(mgr.training_count()), max=mgr.max_active),
                    icon=":material/hourglass_top:")
        else:
            st.info(t("Starting: loading Fashion-MNIST and building the models…"), icon=":material/hourglass_top:")
        return
    step = max(int(status.get("step", 0)), int(snap.steps[-1]) if len(snap.steps) else 0)
    total = epochs * spe if spe else 0
    batch = status.get("config", {}).get("batch_size", 0)
    if state in ("running", "paused") and total:
        rate = snap.steps_per_sec
        epoch = min(step // spe + 1, epochs)
        # The book's console line counts from 0 (Python's range): say both, so they visibly agree.
        parts = [t("Epoch {epoch}/{epochs} (console: [{zero}/{epochs}])", epoch=epoch, zero=epoch - 1,
                   epochs=epochs),
                 t("step {step:,}/{total:,}", step=step, total=total)]
        waiting = mgr.queue_position(run_id)   # resumed after lending its slot to the queue
        if waiting:
            parts.append(t("waiting for a free slot: number {pos} in the queue", pos=waiting))
        elif state == "paused" or mgr.pause_requested(run_id):
            parts.append(t("paused"))
        elif rate:
            parts += [t("{n:,.0f} images/s", n=rate * batch),
                      t("about {time} left", time=_duration((total - step) / rate))]
        else:
            parts.append(t("measuring speed…"))
        st.progress(min(step / total, 1.0), text=" · ".join(parts))
    elif state == "finished":
        st.success(t("Finished: {epochs}, {steps:,} steps, {ips:,.0f} images/s.", epochs=epochs_count(epochs),
                     steps=step, ips=status.get("images_per_sec") or 0), icon=":material/check_circle:")
    elif state == "stopped":
        # A stop someone asked for is recorded as "stopped at epoch E, step S": the line above says that already.
        asked = message == f"stopped at epoch {status.get('epoch')}, step {status.get('step')}"
        st.info(t("Stopped after {epoch} of {epochs}. {message}", epoch=status.get("epoch", 0),
                  epochs=epochs_count(epochs), message="" if asked else plain(message)).strip(),
                icon=":material/stop_circle:")
    elif state in ("failed", "diverged"):
        st.error(t("{state}: {message}", state=state_name(state).capitalize(), message=plain(message)),
                 icon=":material/error:")


def _megabytes(path) -> float:
    try:
        return path.stat().st_size / 1e6
    except OSError:
        return 0.0


def curves(key: str, status: dict, snap, log) -> None:
    """The two charts; log: the run's step log file."""
    spe = status.get("steps_per_epoch")
    if not spe or not len(snap.steps):
        st.caption(t("The loss curves appear after the first steps."))
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.loss_figure(snap, spe, key), key="train.chart.losses", width="stretch")
    right.plotly_chart(charts.verdict_figure(snap, spe, key), key="train.chart.verdicts", width="stretch")
    st.caption(t("Lines: each step's value, smoothed (faint: as logged); dots: the mean over each epoch. At the "
                 "balance the book aims for, D outputs 0.5 for real and fake alike."))
    if snap.note:   # an old, unbounded step log: only its end was read (explorer/run_curves.py)
        st.caption(t("This run's step log is in the format before logs were bounded ({mb:,.0f} MB, a line a step): "
                     "the charts show its last part only, from step {first:,}.", mb=_megabytes(log),
                     first=snap.first_step))


@st.cache_data(show_spinner=False, max_entries=64)
def sample_pngs(key: str, which: int | str, step: int, _images) -> list[bytes]:
    """The sample grid's images as PNGs, encoded once per run, epoch and step, not once per poll and viewer."""
    return [png_bytes(upscale(image, SAMPLE_SCALE)) for image in _images]


def samples(key: str, run: RunFolder) -> None:
    """The fixed-z sample grid, live or at any finished epoch, with D's score under each image."""
    st.subheader(t("Samples from one fixed batch of z"))
    epochs = [e + 1 for e in run.sample_epochs()]
    choice = "now"
    if epochs:
        shown = {e: str(e) for e in epochs} | {"now": t("now")}   # translated here: see explorer/i18n.py
        # select_slider keeps its value while options grow (its identity is its key), unlike st.slider.
        choice = st.select_slider(t("Look back: samples after epoch"), epochs + ["now"], value="now",
                                  format_func=shown.__getitem__, key=f"train.sample_epoch.{key}")
    got = run.read_samples(None if choice == "now" else choice - 1)
    if got is None:
        st.caption(t("The first samples appear once the models are built."))
        return
    images, scores, step = got
    st.caption(t("At step {step:,}. Under each image, D's verdict: the probability it gives that the image is real.",
                 step=step))
    cols = st.columns(SAMPLE_COLUMNS)
    for i, (png, score) in enumerate(zip(sample_pngs(key, choice, step, images), scores)):
        cols[i % SAMPLE_COLUMNS].image(png, caption=f"D = {score:.2f}")
    name = key.replace("lesson.", "")
    st.download_button(t("Sample grid (PNG)"), lambda: png_bytes(grid(images, ncols=8, scale=4)),
                       icon=":material/download:", mime="image/png", on_click="ignore", key="train.dl.grid",
                       file_name=f"{name}-{'latest' if choice == 'now' else f'epoch{choice}'}.png")


def _number(v: float, sign: str = "") -> str:
    """A loss or a score to four decimals; one too small for them (a frozen network's, a saturated D's) in
    scientific notation, so that it does not read as 0."""
    return f"{v:{sign}.4f}" if v == 0 or abs(v) >= 1e-3 else f"{v:{sign}.2e}"


NUMBERS = (("d_loss", N_("d_loss")), ("g_loss", N_("g_loss")), ("d_x", "D(x)"), ("d_g_z", "D(G(z))"))


def what_changed(change: Change, cfg: dict) -> None:
    """The last single update: the four numbers on the same images and z just before and after it, and the fixed-z
    grid before and after, with D's mean score on it."""
    update = change.update
    st.subheader(t("What that update changed"))
    half, k = update.get("half", "both"), cfg.get("d_steps", 1)   # (a field at its default is left out)
    st.caption(t(HALF_SAID[half]) if half in HALF_SAID else
               tn("One whole step: D updated once, then G. Both networks changed.",
                  "One whole step: D updated {n} times, then G once. Both networks changed.", k))
    if note := training_form.frozen_note(cfg.get("lr_g"), cfg.get("lr_d")):
        st.caption(note)
    before, after = update.get("before") or [], update.get("after") or []
    if len(before) == len(after) == len(NUMBERS):
        for col, (key, label), b, a in zip(st.columns(4), NUMBERS, before, after):
            col.metric(t(label), _number(a), delta=_number(a - b, "+"), delta_color="off",
                       help=t("Before the update: {before}. Both measured on the same real images and z.",
                              before=_number(b)))
    cols = st.columns(2)
    for col, got, title in ((cols[0], change.before, N_("Before")), (cols[1], change.after, N_("After"))):
        if got is not None:
            images, scores, _ = got
            col.image(png_bytes(grid(images, ncols=8, scale=2)), output_format="PNG",
                      caption=t("{when} · D's mean score on these: {score:.3f}", when=t(title),
                                score=float(scores.mean())))


def downloads(shown: Shown) -> None:
    run, c = shown.folder, st.columns(3)
    name = shown.lesson or shown.key
    c[0 if shown.lesson else 1].download_button(
        t("Metrics (CSV)"), lambda: run.history_file.read_bytes(), file_name=f"{name}-history.csv", mime="text/csv",
        on_click="ignore", key="train.dl.csv", icon=":material/download:", disabled=not run.history_file.is_file(),
        width="stretch", help=t("One row per finished epoch."))
    if shown.lesson:
        return   # shipped without its full checkpoint: its snapshots are on the Timeline page
    c[0].download_button(t("Checkpoint (.pt)"), lambda: run.checkpoint.read_bytes(), file_name=f"{name}.pt",
                         mime="application/octet-stream", on_click="ignore", key="train.dl.ckpt",
                         disabled=not run.checkpoint.is_file(), icon=":material/download:", width="stretch",
                         help=t("The latest finished epoch: G, D, optimisers. Loads in the Latent space page."))
    if run.checkpoint.is_file() and c[2].button(t("Explore this model"), icon=":material/tune:", key="train.explore",
                                                width="stretch"):
        st.session_state["model.source"] = f"run:{shown.key}"
        st.switch_page("views/latent.py")


def console(run: RunFolder) -> None:
    with st.expander(t("Console: the book's once-per-epoch printout")):
        st.caption(t("The book's line counts epochs from 0, as Python does: `epoch [0/N]` is printed when the "
                     "progress bar's epoch 1 ends."))
        try:
            lines = (run.path / LOG_FILE).read_text(errors="replace").splitlines()[-20:]
        except OSError:
            lines = []
        st.code("\n".join(lines) or t("(nothing printed yet)"), language=None)


def phase(state: str | None) -> str:
    """What the page does for a run in this state: wait for a slot, watch it train, or show how it ended."""
    return "waiting" if state == "queued" else "training" if state in ACTIVE_STATES else "done"


def recipe(cfg: dict) -> str:
    """A run's settings on one line; k and G's loss only when they are not the book's."""
    line = t("{epochs} · batch {batch} · lr G {lr_g} · lr D {lr_d} · seed {seed}",
             epochs=epochs_count(cfg.get("epochs", 0)), batch=cfg.get("batch_size", "?"), lr_g=cfg.get("lr_g", "?"),
             lr_d=cfg.get("lr_d", "?"), seed=cfg.get("seed", "?"))
    if cfg.get("d_steps", 1) != 1:
        line += " · " + t("k = {k} D updates per G update", k=cfg["d_steps"])
    arch = cfg.get("arch", "mlp")
    if arch in training_form.ARCH_NAMES and arch != "mlp":
        line += " · " + t(training_form.ARCH_NAMES[arch])
    if cfg.get("g_loss", "book") in training_form.G_LOSS_NAMES and cfg.get("g_loss", "book") != "book":
        line += " · " + t("G's loss: {name}", name=t(training_form.G_LOSS_NAMES[cfg["g_loss"]]))
    return line


def live_status(run_id: str, shown_phase: str) -> None:
    """The run's name, controls and progress; polled every POLL_S (QUEUE_POLL_S while it waits)."""
    run = mgr.folder(run_id)
    if run is None:
        st.warning(t("Run {run} is gone from the runs folder.", run=run_id))
        return
    status = run.read_status()
    state = status.get("state", "?")
    if phase(state) != shown_phase:
        st.rerun()  # it started or ended: redraw the whole page, which sets the polling up anew
    waiting = st.session_state.get("train.update_wait")
    if waiting and waiting.run_id == run_id:
        # A single update was asked for: wait a moment for the trainer to report it (its grid is written first),
        # then keep what it changed and redraw the whole page, so its numbers and samples show at once. A busy
        # machine may take longer: then a later poll finds it.
        while status.get("update") == waiting.last and time.monotonic() - waiting.since < STEP_WAIT_S:
            time.sleep(0.05)
            status = run.read_status()
        if status.get("update") not in (None, waiting.last):
            del st.session_state["train.update_wait"]
            st.session_state["train.change"] = Change(run_id, status["update"], waiting.grid, run.read_samples(None))
            st.rerun(scope="app")
    snap = resources.run_curves(run_id).update()
    cfg = status.get("config", {})
    st.markdown(t("**Run `{run}`** · {recipe}", run=run_id, recipe=recipe(cfg)))
    if note := training_form.frozen_note(cfg.get("lr_g"), cfg.get("lr_d")):
        st.info(note, icon=":material/ac_unit:")
    controls(run_id, state)
    progress(run_id, status, snap)


def results(shown: Shown) -> None:
    """Charts, samples, downloads and console; polled every RESULTS_S while a run trains."""
    if shown.folder is None:
        return
    status = shown.folder.read_status()
    curves(shown.key, status, shown.curves().update(), shown.folder.events_file)
    change = st.session_state.get("train.change")
    if change and change.run_id == shown.key and not shown.lesson and mgr.pause_requested(shown.key):
        what_changed(change, status.get("config", {}))
    samples(shown.key, shown.folder)
    downloads(shown)
    console(shown.folder)


def live_results(run_id: str) -> None:
    results(Shown(run_id, mgr.folder(run_id), None))


def _rename(run_id: str, key: str) -> None:
    """The title box's callback: name the run (gan_core checks the title), or say in one line why not."""
    run = mgr.folder(run_id)
    if run is None or not may_control(run_id):
        return
    try:
        run.write_title(st.session_state.get(key) or "")
        st.session_state.pop("train.title_error", None)
    except ConfigError as e:
        st.session_state["train.title_error"] = (run_id, t("This title cannot be used: {reason}.", reason=plain(e)))
    except OSError as e:
        st.session_state["train.title_error"] = (run_id, plain(disk_trouble.write_error(e, run.title_file)))


def _delete(run_id: str) -> None:
    """Delete's callback, once confirmed: the run is stopped first if it trains, then its folder removed."""
    run = mgr.folder(run_id)
    if run is None or not may_control(run_id):
        return
    title = run_title(run)
    try:
        mgr.delete(run_id)
    except (DeleteRefused, RunsFolderError) as e:
        st.session_state["train.delete_error"] = (run_id, t("The run was not deleted: {reason}.", reason=plain(e)))
        return
    st.session_state["train.run"] = None
    st.session_state["train.deleted"] = title


def manage(run_id: str) -> None:
    """Title and Delete, for the browser that started the run (or the teacher)."""
    run = mgr.folder(run_id)
    if run is None or not may_control(run_id):
        return
    key = f"train.title.{run_id}"
    c = st.columns([4, 1], vertical_alignment="bottom")
    c[0].text_input(t("Title"), value=run.read_title() or "", key=key, max_chars=TITLE_MAX,
                    placeholder=default_title(run), on_change=_rename, args=(run_id, key),
                    help=t("A name for this run, shown in the run pickers; empty: the recipe, epochs and seed."))
    with c[1].popover(t("Delete"), icon=":material/delete:", width="stretch"):
        training = run.read_status().get("state") in ACTIVE_STATES
        st.markdown(t("Delete **{title}** and all its files? This cannot be undone.", title=plain(run_title(run))))
        if training:
            st.caption(t("It is training: it will be stopped first."))
        st.button(t("Delete for good"), type="primary", icon=":material/delete_forever:", key="train.delete",
                  on_click=_delete, args=(run_id,))
    for state_key in ("train.title_error", "train.delete_error"):
        said = st.session_state.get(state_key)
        if said and said[0] == run_id:
            st.error(said[1], icon=":material/error:")
            del st.session_state[state_key]


def lesson_view(shown: Shown) -> None:
    """A shipped run: what it shows and why, its settings (to train it again), then its results, read-only."""
    about = LESSON_RUNS.get(shown.lesson)
    status = shown.folder.read_status()
    st.subheader(t(about.title) if about else shown.lesson)
    if about:
        st.info(f"{t(about.shows)}\n\n{t(about.why)}", icon=":material/school:")
    st.markdown(t("**Trained beforehand** · {recipe}", recipe=recipe(status.get("config", {}))))
    c = st.columns([2, 3], vertical_alignment="center")
    if about and about.preset in training_form.PRESETS:
        c[0].button(t("Train it again yourself"), icon=":material/model_training:", key="train.lesson_preset",
                    on_click=training_form.use_preset, args=(about.preset,), width="stretch",
                    help=t("Puts these settings in the sidebar's form; then press Start training."))
    c[1].caption(t("Shipped with the app (`checkpoints/lessons/{name}/`), so it shows at once: read-only, with the "
                   "grid after every epoch; its G snapshots are on the Timeline page.", name=shown.lesson))
    progress(shown.key, status, shown.curves().update())
    results(shown)


st.title(t("Train the book's GAN"))
run_owners.keep_owner_cookie()
start_button(training_form.training_settings())
shown = run_picker()
if shown is None:
    st.markdown(t("Pick the settings in the sidebar (or a preset) and press **Start training**. G learns to turn 64 "
                  "random numbers into a 28×28 piece of clothing; D learns to tell G's images from real Fashion-MNIST "
                  "ones. While it trains you see both losses, D's verdicts on real and fake images, and what G draws "
                  "from the same 16 random vectors, epoch after epoch."))
    st.caption(t("Runs keep going when you change pages or close the tab; the address bar names the run, so reopening "
                 "it brings you back."))
elif shown.lesson:
    lesson_view(shown)
else:
    manage(shown.key)
    now = phase(shown.folder.read_status().get("state"))
    status_every = {"waiting": QUEUE_POLL_S, "training": POLL_S}.get(now)
    st.fragment(run_every=status_every)(live_status)(shown.key, now)
    st.fragment(run_every=RESULTS_S if now == "training" else None)(live_results)(shown.key)

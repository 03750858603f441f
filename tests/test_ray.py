"""Training on a Ray cluster (explorer/ray_backend.py), through the app's own RunManager.

A real local Ray head is started once for this file (`ray start --head --block --num-cpus 2`, no
dashboard, a 100 MB object store, a temporary folder of its own) and stopped at the end by its pid.
Runs are real `gan_core.train` trainers on the 3,000-image slice of Fashion-MNIST (30 steps an epoch).
Every test here is marked `ray` and `slow`: `-m "not slow"` skips them; they need `pip install '.[ray]'`.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from explorer import run_manager as runner
from explorer.env import EnvError, ray_address
from explorer.run_backends import BackendUnavailable
from explorer.run_manager import LOG_FILE, RunManager, RunSettings
from gan_core import ACTIVE_STATES, RunFolder
from helpers import free_port, wait_until

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")

RUN_TIMEOUT_S = 240   # two shared cores: a run's start (importing torch, loading data) can wait long for CPU


@pytest.fixture(scope="module")
def ray_head():
    """A local Ray head on free loopback ports; yields its addresses: the head's (HOST:PORT) and its client's."""
    # Short: Ray puts Unix sockets under it, whose paths may not pass 107 characters.
    temp = tempfile.mkdtemp(prefix="gexray-")
    port, client_port = free_port(), free_port()
    os.environ["RAY_AUTH_MODE"] = "disabled"   # Ray 2.59+ wants a token on local clusters otherwise
    # One GPU declared (Ray counts it without looking): runs on device auto then ask for it.
    cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--num-cpus", "2", "--num-gpus", "1",
           "--include-dashboard=false", "--temp-dir", temp, "--port", str(port),
           "--ray-client-server-port", str(client_port), "--node-ip-address", "127.0.0.1",
           "--object-store-memory", str(100_000_000), "--disable-usage-stats"]
    log = open(Path(temp) / "head.log", "wb")
    head = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def answers(port: int) -> bool:
        assert head.poll() is None, f"the Ray head exited: {(Path(temp) / 'head.log').read_text()[-2000:]}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    try:
        for p in (port, client_port):
            wait_until(lambda: answers(p), "the Ray head to answer", 90, every=0.5)
        yield {"head": f"127.0.0.1:{port}", "client": f"ray://127.0.0.1:{client_port}"}
    finally:
        runner.shutdown_all()   # managers disconnect from Ray before the head goes
        head.send_signal(signal.SIGTERM)   # the --block process stops the head's other processes
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        log.close()


@pytest.fixture
def on_ray(request, ray_head, monkeypatch, small_data_dir, tmp_path):
    """A RunManager whose runs go to the test head (as a node of it, or through Ray's client when the test is
    marked `client`), with their data from the small data set."""
    via = "client" if request.node.get_closest_marker("client") else "head"
    monkeypatch.setenv("GAN_EXPLORER_RAY_ADDRESS", ray_head[via])
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    # max_active 1: were our own queue in charge, the second run would wait for the first.
    device = "auto" if request.node.get_closest_marker("gpu") else "cpu"
    manager = RunManager(tmp_path / "runs", max_active=1, threads=1, device=device)
    # Connecting takes 5-15 s on two busy cores; a Start meanwhile is refused with "still connecting".
    wait_until(lambda: manager._backend.problem() is None, "the connection to the Ray head", 90, every=0.5,
               explain=lambda: manager._backend.problem())
    assert ray.util.client.ray.is_connected() == (via == "client"), "connected the other way"
    yield manager
    manager.shutdown()


def status(manager: RunManager, run_id: str) -> dict:
    return RunFolder(manager.root / run_id).read_status()


def ended(manager: RunManager, run_id: str) -> bool:
    return status(manager, run_id).get("state", "") not in ("", *ACTIVE_STATES)


def trainer_pid(run: RunFolder) -> int | None:
    """The pid of the gan_core.train process writing run (found by its command line)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gan_core.train" in cmd and str(run.path).encode() in cmd:
            return int(pid)
    return None


def parent(pid: int) -> tuple[int, str]:
    """pid's parent and the parent's process title."""
    ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return ppid, Path(f"/proc/{ppid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def test_runs_go_to_ray_which_queues_and_places_them_and_their_files_reach_the_runs_folder(on_ray):
    """Three one-CPU runs on a two-CPU cluster: Ray trains two (our own cap of one is not used), the third
    waits in Ray's queue as number 1; all three finish with their files in the app's runs folder."""
    manager = on_ray
    runs = [manager.start(RunSettings(epochs=1, sample_every=10)) for _ in range(3)]
    wait_until(lambda: manager.training_count() == 2 and manager.queue_position(runs[2]) == 1,
               "Ray to place two runs and keep the third waiting", 60,
               explain=lambda: f"training {manager.training_count()}, positions "
                               f"{[manager.queue_position(r) for r in runs]}, {[status(manager, r) for r in runs]}")
    assert manager.waiting_count() == 1 and status(manager, runs[2])["state"] == "queued"
    for run_id in runs:
        wait_until(lambda: ended(manager, run_id), f"run {run_id} to end", RUN_TIMEOUT_S)
    for run_id in runs:
        run = RunFolder(manager.root / run_id)
        assert status(manager, run_id)["state"] == "finished", status(manager, run_id)
        for name in ("checkpoint.pt", "history.csv", "events.jsonl", "samples/latest.npz", "settings.json"):
            assert (run.path / name).is_file(), f"{run_id} has no {name}"
        assert "finished: epochs=1/1" in (run.path / LOG_FILE).read_text()
    wait_until(lambda: manager.training_count() == manager.waiting_count() == 0, "the runs to be reaped", 30)


@pytest.mark.client
def test_pause_step_and_resume_reach_the_trainer_on_its_ray_worker(on_ray):
    """Through Ray's client (ray://), so that way of connecting is covered too."""
    manager = on_ray
    run_id = manager.start(RunSettings(epochs=2, sample_every=10))
    run = RunFolder(manager.root / run_id)
    wait_until(lambda: status(manager, run_id).get("state") == "running", "the run to start", RUN_TIMEOUT_S)
    pid = trainer_pid(run)
    assert pid is not None
    assert "ray::TrainerActor" in parent(pid)[1], f"the trainer's parent is {parent(pid)}, not a Ray actor"

    assert manager.control(run_id, "pause")
    wait_until(lambda: status(manager, run_id).get("state") == "paused", "the pause to reach the worker", 60)
    held = status(manager, run_id)["step"]
    time.sleep(1.5)
    assert status(manager, run_id)["step"] == held, "the run kept training while paused"
    assert manager.control(run_id, "step") and manager.control(run_id, "step")
    wait_until(lambda: status(manager, run_id)["step"] == held + 2, "two single steps, in order", 60,
               explain=lambda: f"step {status(manager, run_id)['step']}, paused at {held}")
    assert manager.control(run_id, "resume")
    wait_until(lambda: ended(manager, run_id), "the resumed run to finish", RUN_TIMEOUT_S)
    assert status(manager, run_id)["state"] == "finished" and status(manager, run_id)["epoch"] == 2


def test_a_killed_ray_worker_fails_its_run_with_a_message_and_continue_finishes_it(on_ray):
    manager = on_ray
    run_id = manager.start(RunSettings(epochs=3, sample_every=10))
    run = RunFolder(manager.root / run_id)
    wait_until(lambda: run.checkpoint.is_file() and status(manager, run_id).get("epoch", 0) >= 1,
               "the first epoch's checkpoint", RUN_TIMEOUT_S)
    worker, title = parent(trainer_pid(run))
    assert "ray::TrainerActor" in title
    os.kill(worker, signal.SIGKILL)   # the worker process dies mid-run, as on a lost node

    wait_until(lambda: trainer_pid(run) is None, "the trainer to die with its worker", 30)
    assert status(manager, run_id)["state"] in ACTIVE_STATES, "the trainer wrote its own end after all"
    wait_until(lambda: ended(manager, run_id), "the run to be marked ended", 60)
    said = status(manager, run_id)
    assert said["state"] == "failed", said
    assert "Ray worker" in said["message"] and "died" in said["message"] and "\n" not in said["message"], said
    assert run.checkpoint.is_file(), "the last checkpoint was lost"
    assert not manager.owns(run_id)

    assert manager.resume(run_id)   # on any worker: a new actor
    wait_until(lambda: ended(manager, run_id), "the continued run to finish", RUN_TIMEOUT_S)
    said = status(manager, run_id)
    assert said["state"] == "finished" and said["epoch"] == 3, said
    assert "resuming from epoch" in (run.path / LOG_FILE).read_text()


@pytest.mark.gpu
def test_runs_ask_ray_for_a_gpu_when_the_device_allows_and_a_waiting_run_can_be_cancelled(on_ray):
    """Device auto on a cluster with one (declared) GPU: the first run gets it, the others wait for it although
    a CPU is free, and Cancel takes the third out of Ray's queue. The first is told to train on cuda, which
    this machine lacks (CI has no GPU), so it fails saying so. The second finds its log unwritable on its
    worker (as on a node without the shared runs folder) and fails saying that."""
    manager = on_ray
    first, second, third = (manager.start(RunSettings(epochs=1)) for _ in range(3))
    wait_until(lambda: [manager.queue_position(r) for r in (first, second, third)] == [None, 1, 2],
               "the second and third runs to wait for the GPU", 60)
    assert manager.control(third, "stop")
    wait_until(lambda: ended(manager, third), "the cancelled run to end", 30)
    assert status(manager, third)["state"] == "stopped"
    assert status(manager, third)["message"] == "cancelled before it started"
    assert not (manager.root / third / LOG_FILE).exists(), "the cancelled run started a trainer"
    (manager.root / second / LOG_FILE).mkdir()   # the worker cannot open it as a file

    wait_until(lambda: ended(manager, first), "the first run to end", RUN_TIMEOUT_S)
    said = status(manager, first)
    assert said["state"] == "failed" and "device cuda asked for" in said["message"], said
    wait_until(lambda: ended(manager, second), "the second run to end", RUN_TIMEOUT_S)
    said = status(manager, second)["message"]
    assert status(manager, second)["state"] == "failed" and "\n" not in said, said
    assert said.startswith("could not start training on its Ray worker: [Errno 21] Is a directory"), said
    assert "file system every node shares" in said, said


def test_an_unreachable_cluster_is_one_line_and_nothing_trains(tmp_path, monkeypatch):
    dead = f"127.0.0.1:{free_port()}"   # nothing listens there
    monkeypatch.setenv("GAN_EXPLORER_RAY_ADDRESS", dead)
    manager = RunManager(tmp_path / "runs", max_active=1)
    try:
        for attempt in (lambda: manager.start(RunSettings(epochs=1)), lambda: manager.resume("20250101-000000-aaaaaa")):
            with pytest.raises(BackendUnavailable) as e:
                attempt()
            said = str(e.value)
            assert "\n" not in said and f"cannot reach the Ray cluster at {dead}" in said, said
        assert list((tmp_path / "runs").iterdir()) == [], "a run folder was made"
        assert manager.training_count() == manager.waiting_count() == 0
        assert manager.cluster == dead   # where the Train page says runs go
    finally:
        manager.shutdown()


@pytest.mark.client
def test_the_train_page_says_runs_train_on_the_cluster_not_this_server(clean, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from helpers import APP, texts
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("GAN_EXPLORER_RAY_ADDRESS", address)
    at = AppTest.from_file(str(APP), default_timeout=60).switch_page("views/train.py").run()
    assert not at.exception, at.exception
    said = texts(at, "caption")
    assert f"Runs train on the Ray cluster at {address}" in said and "This server trains" not in said
    monkeypatch.delenv("GAN_EXPLORER_RAY_ADDRESS")
    local = RunManager(clean / "other")
    assert local.cluster is None   # the default: children of this server
    local.shutdown()


def test_the_default_backend_never_imports_ray_and_a_bad_address_is_refused(tmp_path, monkeypatch):
    code = ("import sys; from explorer.run_manager import RunManager; "
            f"m = RunManager({str(tmp_path / 'runs')!r}); m.shutdown(); "
            "print(type(m._backend).__name__, 'ray' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "GAN_EXPLORER_RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert out.stdout.split() == ["LocalBackend", "False"], out.stderr[-2000:]
    for bad in ("http://head:6379", "ray://head", "auto; rm -rf /"):
        monkeypatch.setenv("GAN_EXPLORER_RAY_ADDRESS", bad)
        with pytest.raises(EnvError, match="GAN_EXPLORER_RAY_ADDRESS must be"):
            ray_address()

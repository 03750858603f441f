"""Hardening of the library and the command-line tools: nothing lost, no code run from files.

Each case is played for real, on the 3,000-image slice of the real data:
  1. checkpoint files that are random, truncated, booby-trapped pickles, of the
     wrong keys, shapes or values, too big, or that unpack or claim more than
     they hold: refused in one line by load_checkpoint and by every CLI, with
     nothing run and nothing large allocated;
  2. settings out of range or of the wrong type: one line from the train CLI,
     worded as the library words it;
  3. divergence: the run stops, says so in status.json and on stderr, and its
     last finite checkpoint is kept;
  4. `kill -9` mid-epoch: every file left behind reads, --resume tidies up and
     ends on the very weights of a run that never stopped; SIGTERM is a clean
     stop, and a second trainer on the same folder is refused;
  5. a full disk (a real 10 MB tmpfs) and a file-size limit: one line, the
     previous checkpoint intact, no temporary file left;
  7. no Fashion-MNIST anywhere: the trainer says how to get it, a silent
     network cannot hang it, and sampling still works.
(Case 6, many users on one server, is the app's: tests/test_app.py and tests/test_classroom.py.)
The short CLI calls run side by side in one fixture, since each pays seconds of
imports in a process of its own.
"""
from __future__ import annotations

import builtins
import csv
import io
import json
import math
import os
import pickle
import random
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import torch

from gan_core import (CheckpointError, ConfigError, DataNotFoundError, GANConfig, RunFolder, StepEvent,
                      load_checkpoint, step_anatomy)
from gan_core.checkpoints import MAX_CHECKPOINT_BYTES
from gan_core.files import atomic_write_bytes
from helpers import wait_until

# ---- helpers ----------------------------------------------------------------------------


def start(*args, env=None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kw)


def finish(p: subprocess.Popen, timeout: float = 240) -> subprocess.CompletedProcess:
    out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def run_all(calls: dict[str, tuple[tuple, dict]], at_once: int = 4) -> dict[str, subprocess.CompletedProcess]:
    """Run CLI calls side by side, a few at a time (more would only queue for the two cores)."""
    results, running, pending = {}, {}, list(calls.items())
    while pending or running:
        while pending and len(running) < at_once:
            name, (args, kw) = pending.pop(0)
            running[name] = start(*args, **kw)
        name = next(iter(running))
        results[name] = finish(running.pop(name))
    return results


def assert_one_line_error(res: subprocess.CompletedProcess, *words: str) -> str:
    """Non-zero exit, exactly one line on stderr holding every word, no traceback; returns the line."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode != 0, res.stdout
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def train_args(out, data_dir, *extra):
    return ("gan_core.train", "--out", out, "--data-dir", data_dir, "--device", "cpu", "--threads", "1", "--quiet",
            *extra)


def no_data_env(tmp: Path) -> dict:
    """An environment in which no copy of Fashion-MNIST can be found, and the network is not tried."""
    env = {k: v for k, v in os.environ.items() if k != "GAN_EXPLORER_DATA"}
    for name in ("GAN_EXPLORER_CACHE", "GAN_EXPLORER_DEBIAN_DATA"):
        (tmp / name).mkdir(exist_ok=True)
        env[name] = str(tmp / name)
    env["GAN_EXPLORER_NO_DOWNLOAD"] = "1"
    return env


def weights_equal(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def trained(small_data_dir, tmp_path_factory) -> Path:
    """A finished one-epoch run (30 steps of 100), made by the CLI as a user would."""
    out = tmp_path_factory.mktemp("hard") / "run"
    res = finish(start(*train_args(out, small_data_dir, "--epochs", "1", "--seed", "5")))
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="module")
def state(trained) -> dict:
    """The raw dict inside the trained run's checkpoint, to damage in many ways."""
    return torch.load(trained / "checkpoint.pt", weights_only=True)


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("checkpoint.pt", "status.json", "history.csv"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


# ---- 1. checkpoint files -----------------------------------------------------------------

def _damaged(state: dict, how: str) -> dict:
    """A copy of a real checkpoint's dict with one thing wrong (tensors copied, the original untouched)."""
    s = {k: ({n: t.clone() for n, t in v.items()} if k in ("generator", "discriminator") else v) for k, v in state.items()}
    G, D = s["generator"], s["discriminator"]
    if how == "renamed key":
        G["0.w"] = G.pop("0.weight")
    elif how == "wrong shape":
        G["2.weight"] = torch.zeros(256, 255)
    elif how == "nan":
        G["4.bias"][3] = float("nan")
    elif how == "inf":
        D["0.weight"][0, 0] = float("inf")
    elif how == "absurd config":
        s["config"] = {**s["config"], "latent_dim": 10**9}
    elif how == "not dense":
        G["2.weight"] = torch.zeros(1).expand(256, 256)   # one stored value posing as 65,536
    elif how == "adam state shape":
        s["opt_d"] = {"state": {0: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)}},
                      "param_groups": state["opt_d"]["param_groups"]}
    elif how.startswith("adam "):   # one moment or count of a real Adam state made impossible
        saved = state["opt_g"]["state"]
        moments = {i: dict(v) for i, v in saved.items()}
        if how == "adam step negative":
            moments[1]["step"] = torch.tensor(-3.0)
        elif how == "adam step nan":
            moments[1]["step"] = torch.tensor(float("nan"))
        elif how == "adam negative squares":
            moments[1]["exp_avg_sq"] = -saved[1]["exp_avg_sq"] - 1
        s["opt_g"] = {"state": moments, "param_groups": state["opt_g"]["param_groups"]}
    return s


def _bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.mark.parametrize("how,words", [
    ("renamed key", "generator: keys do not match the model (missing ['0.weight'], unexpected ['0.w'])"),
    ("wrong shape", "generator: 2.weight has shape (256, 255), the model expects (256, 256)"),
    ("nan", "generator: 4.bias contains NaN or infinite values"),
    ("inf", "discriminator: 0.weight contains NaN or infinite values"),
    ("absurd config", "latent_dim must be between 1 and 4096, got 1000000000"),
    ("not dense", "generator: 2.weight is not a dense tensor"),
    ("adam state shape", "opt_d: exp_avg of parameter 0 has shape (3,), the model expects (256, 784)"),
    ("adam step negative", "opt_g: step of parameter 1 is not a count of steps"),
    ("adam step nan", "opt_g: step of parameter 1 is not a count of steps"),
    ("adam negative squares", "opt_g: exp_avg_sq of parameter 1 has negative values"),
])
@pytest.mark.slow
@pytest.mark.parametrize("source", ["path", "bytes"])
def test_checkpoints_of_the_right_format_but_wrong_content_are_refused(state, tmp_path, how, words, source):
    data = _bytes(_damaged(state, how))
    path = tmp_path / "c.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path if source == "path" else data)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_an_adam_step_kept_as_a_plain_number_still_loads():
    """Older PyTorch kept Adam's step as a Python number, not a tensor: such a file is not hostile."""
    raw = torch.load(Path(__file__).parent.parent / "checkpoints" / "book.pt", weights_only=True)
    for opt in ("opt_g", "opt_d"):
        raw[opt]["state"] = {i: {**s, "step": int(s["step"])} for i, s in raw[opt]["state"].items()}
    ck = load_checkpoint(_bytes(raw))
    x, z = torch.rand(100, 784) * 2 - 1, torch.randn(100, 64)
    a = step_anatomy(ck.build_generator(), ck.build_discriminator(), x, z, ck.config, adam=ck.adam)
    assert a.adam_steps == 300_000 and math.isfinite(a.g_loss)


@pytest.mark.slow
@pytest.mark.parametrize("cut", ["10 bytes", "half", "all but 100 bytes", "random bytes", "empty"])
def test_truncated_or_random_files_are_not_readable_checkpoints(trained, tmp_path, cut):
    good = (trained / "checkpoint.pt").read_bytes()
    data = {"10 bytes": good[:10], "half": good[:len(good) // 2], "all but 100 bytes": good[:-100],
            "random bytes": random.Random(0).randbytes(100_000), "empty": b""}[cut]
    (tmp_path / "c.pt").write_bytes(data)
    for src in (tmp_path / "c.pt", data):
        with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
            load_checkpoint(src)


class RunsShell:
    """Unpickling this would run a shell command."""
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return os.system, (f"touch {self.marker}",)


class RunsExec:
    """Unpickling this would run Python code."""
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


def booby_trapped(marker: Path) -> dict[str, bytes]:
    """Files that run code when loaded by a plain pickle.load or torch.load(weights_only=False)."""
    out = {}
    for trap in (RunsShell(marker), RunsExec(marker)):
        name = type(trap).__name__
        out[f"{name}, torch zip"] = _bytes({"generator": trap})
        buf = io.BytesIO()
        torch.save(trap, buf, _use_new_zipfile_serialization=False)
        out[f"{name}, torch legacy"] = buf.getvalue()
        out[f"{name}, raw pickle"] = pickle.dumps(trap, protocol=2)
    # The trap really works: loading one without weights_only would have made the marker.
    return out


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "MARKER"
    for name, data in booby_trapped(marker).items():
        (tmp_path / "trap.pt").write_bytes(data)
        for src in (tmp_path / "trap.pt", data):
            with pytest.raises(CheckpointError) as e:
                load_checkpoint(src)
            assert "\n" not in str(e.value)
            assert not marker.exists(), f"{name} ran code"
    # The traps are real: an unguarded load runs them.
    pickle.loads(booby_trapped(marker)["RunsExec, raw pickle"])
    assert marker.exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as f:
        f.truncate(MAX_CHECKPOINT_BYTES + 1)   # sparse: no disk used, but reading it would take 200 MB
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"huge.pt: 200 MB is over the 200 MB limit for checkpoints"):
        load_checkpoint(huge)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.slow
def test_a_zip_that_unpacks_past_the_limit_is_refused_before_it_is_unpacked(state, tmp_path):
    """torch.load inflates deflated members: zeros compress 1000-fold, so a small file could fill memory."""
    zeros = {k: state[k] for k in ("format", "version", "config", "epoch", "step")}
    zeros.update({k: {n: torch.zeros_like(t) for n, t in state[k].items()} for k in ("generator", "discriminator")})
    plain = zipfile.ZipFile(io.BytesIO(_bytes(zeros)))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for info in plain.infolist():
            z.writestr(info.filename, plain.read(info.filename))
    data = packed.getvalue()
    assert len(data) < 2**20 and load_checkpoint(data).epoch == 1    # a valid file, under a 1 MB limit...
    with pytest.raises(CheckpointError, match=r"unpacks to \d+ MB, over the 1 MB limit"):
        load_checkpoint(data, max_bytes=2**20)                      # ...that unpacks to several MB


def _peak_rss_reset() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")   # resets VmHWM, the peak resident memory
        return True
    except OSError:
        return False


def _vm(field: str) -> int:
    """Resident memory figures of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise KeyError(field)


@pytest.mark.slow
def test_a_config_describing_a_huge_model_allocates_nothing(state, tmp_path):
    """hidden_dim 16384 is a legal config, but building its G and D to learn their shapes takes 2 GB."""
    bad = {**state, "config": {**state["config"], "hidden_dim": 16384}}
    path = tmp_path / "huge-config.pt"
    path.write_bytes(_bytes(bad))
    if not _peak_rss_reset():
        pytest.skip("cannot reset the peak memory counter (/proc/self/clear_refs) on this system")
    before = _vm("VmRSS")
    with pytest.raises(CheckpointError, match=r"generator: 0.weight has shape \(256, 64\), the model expects \(16384, 64\)"):
        load_checkpoint(path)
    assert _vm("VmHWM") - before < 300


# ---- the short CLI calls, run side by side ---------------------------------------------------

@pytest.fixture(scope="module")
def cli_results(trained, state, small_data_dir, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("cli")
    ck = trained / "checkpoint.pt"
    good = ck.read_bytes()
    # seeded: 2 draws in 1,000 start like a pickle GLOBAL and get the pickle guard's (also one-line) refusal instead
    (tmp / "random.pt").write_bytes(random.Random(1).randbytes(50_000))
    (tmp / "half.pt").write_bytes(good[:len(good) // 2])
    traps = booby_trapped(tmp / "MARKER")
    (tmp / "shell.pt").write_bytes(traps["RunsShell, torch zip"])
    (tmp / "exec.pt").write_bytes(pickle.dumps(RunsExec(tmp / "MARKER"), protocol=4))   # torch warns on these
    with open(tmp / "huge.pt", "wb") as f:
        f.truncate(MAX_CHECKPOINT_BYTES + 1)
    shaped = tmp / "shaped"
    shaped.mkdir()
    (shaped / "checkpoint.pt").write_bytes(_bytes(_damaged(state, "wrong shape")))
    (tmp / "a-file").write_text("not a folder")
    # Huge but finite weights in D: its second layer overflows to inf on the first step.
    diverging = copy_run(trained, tmp / "diverging")
    big = {**state, "discriminator": {k: v * 1e30 if k.endswith("weight") else v
                                      for k, v in state["discriminator"].items()}}
    (diverging / "checkpoint.pt").write_bytes(_bytes(big))
    limited = copy_run(trained, tmp / "limited")
    empty = no_data_env(tmp)
    data = ("--data-dir", small_data_dir)

    def one_megabyte_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))   # a file-size quota, as on a shared server

    calls = {
        # 1. bad checkpoint files, through each CLI that reads one
        "sample random bytes": (("gan_core.sample", "--checkpoint", tmp / "random.pt", "--out", tmp / "x.png"), {}),
        "interpolate half": (("gan_core.interpolate", "--checkpoint", tmp / "half.pt", "--seed-a", "1", "--seed-b", "2",
                              "--out", tmp / "x.png"), {}),
        "evaluate shell trap": (("gan_core.evaluate", "--checkpoint", tmp / "shell.pt", *data), {}),
        "sample exec trap": (("gan_core.sample", "--checkpoint", tmp / "exec.pt", "--out", tmp / "x.png"), {}),
        "sample over the limit": (("gan_core.sample", "--checkpoint", tmp / "huge.pt", "--out", tmp / "x.png"), {}),
        "train resume wrong shape": (train_args(shaped, small_data_dir, "--resume"), {}),
        # 2. settings
        "lr absurd": (train_args(tmp / "r", small_data_dir, "--lr", "1e9"), {}),
        "lr nan": (train_args(tmp / "r", small_data_dir, "--lr-d", "nan"), {}),
        "batch larger than the data": (train_args(tmp / "r", small_data_dir, "--batch-size", "3001"), {}),
        "epochs huge": (train_args(tmp / "r", small_data_dir, "--epochs", "1000000"), {}),
        "threads 0": (train_args(tmp / "r", small_data_dir, "--threads", "0"), {}),
        "overwrite a run": (train_args(trained, small_data_dir, "--epochs", "1"), {}),
        # 3. divergence
        "diverge": (train_args(diverging, small_data_dir, "--resume", "--epochs", "2"), {}),
        # 5. disk trouble
        "out under a file": (train_args(tmp / "a-file" / "run", small_data_dir, "--epochs", "1"), {}),
        # (--epochs=2 in one word: a resumed run must hear it however it is spelled)
        "file size limit": (train_args(limited, small_data_dir, "--resume", "--epochs=2"),
                            {"preexec_fn": one_megabyte_files}),
        # 7. no data set
        "train without data": (("gan_core.train", "--out", tmp / "nodata", "--epochs", "1", "--device", "cpu"),
                               {"env": empty}),
        "sample without data": (("gan_core.sample", "--checkpoint", ck, "--n", "4", "--out", tmp / "ok.png"),
                                {"env": empty}),
    }
    results = run_all({name: (args, {"cwd": tmp, **kw}) for name, (args, kw) in calls.items()})
    results["tmp"] = tmp
    return results


@pytest.mark.parametrize("name,words", [
    ("sample random bytes", "random.pt: not a readable PyTorch checkpoint"),
    ("interpolate half", "half.pt: not a readable PyTorch checkpoint"),
    ("evaluate shell trap", "refused, it holds Python objects (posix.system)"),
    ("sample exec trap", "exec.pt: not a readable PyTorch checkpoint"),
    ("sample over the limit", "huge.pt: 200 MB is over the 200 MB limit"),
    ("train resume wrong shape", "generator: 2.weight has shape (256, 255), the model expects (256, 256)"),
])
@pytest.mark.slow
def test_clis_refuse_bad_checkpoint_files_in_one_line(cli_results, name, words):
    assert_one_line_error(cli_results[name], words)
    assert not (cli_results["tmp"] / "MARKER").exists()


@pytest.mark.parametrize("name,config", [
    ("lr absurd", dict(lr_g=1e9, lr_d=1e9)),
    ("lr nan", dict(lr_d=float("nan"))),
    ("epochs huge", dict(epochs=1_000_000)),
])
@pytest.mark.slow
def test_cli_settings_are_refused_with_the_librarys_own_words(cli_results, name, config):
    with pytest.raises(ConfigError) as e:
        GANConfig(**config).validate()
    line = assert_one_line_error(cli_results[name])
    assert line == f"gan_core.train: error: {e.value}"


@pytest.mark.parametrize("name,words", [
    ("batch larger than the data", "batch_size must be between 1 and 3000 (the number of training images), got 3001"),
    ("threads 0", "--threads must be between 1 and 256, got 0"),
])
@pytest.mark.slow
def test_cli_refuses_other_settings_in_one_line(cli_results, name, words):
    assert_one_line_error(cli_results[name], words)


@pytest.mark.slow
def test_a_new_run_never_overwrites_an_old_one(cli_results, trained, state):
    assert_one_line_error(cli_results["overwrite a run"], "already holds a run (checkpoint.pt); continue it with --resume")
    assert weights_equal(load_checkpoint(trained / "checkpoint.pt").generator, state["generator"])


# ---- 3. divergence ------------------------------------------------------------------------

@pytest.mark.slow
def test_a_diverging_run_stops_marks_itself_and_keeps_its_last_finite_checkpoint(cli_results):
    res = cli_results["diverge"]
    run = RunFolder(cli_results["tmp"] / "diverging")
    assert res.returncode == 3
    assert_one_line_error(res, "training diverged at epoch 1, step 31")
    status = run.read_status()
    assert status["state"] == "diverged"
    assert "diverged at epoch 1" in status["message"] and "last finite checkpoint (epoch 1) is kept" in status["message"]
    ck = load_checkpoint(run.checkpoint)        # the file it resumed from: untouched, finite, loadable
    assert ck.epoch == 1 and ck.discriminator["0.weight"].abs().max() > 1e28


# ---- 5. disk trouble ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_run_folder_that_cannot_be_made_is_one_clear_line(cli_results):
    assert_one_line_error(cli_results["out under a file"], "Not a directory", "a-file/run")


@pytest.mark.slow
def test_a_refused_checkpoint_write_keeps_the_previous_one(cli_results, trained):
    run = RunFolder(cli_results["tmp"] / "limited")
    assert_one_line_error(cli_results["file size limit"], "File too large", str(run.checkpoint))
    assert run.checkpoint.read_bytes() == (trained / "checkpoint.pt").read_bytes()
    assert load_checkpoint(run.checkpoint).epoch == 1
    assert run.read_status()["state"] == "failed" and "File too large" in run.read_status()["message"]
    assert not list(run.path.rglob("*.tmp"))


@pytest.mark.slow
def test_a_full_disk_fails_in_one_line_and_keeps_the_previous_checkpoint(small_disk, small_data_dir):
    run = RunFolder(small_disk / "run")
    res = finish(start(*train_args(run.path, small_data_dir, "--epochs", "3")))
    assert_one_line_error(res, "No space left on device", str(run.checkpoint))
    assert load_checkpoint(run.checkpoint).epoch == 1           # epoch 1's checkpoint; epoch 2's did not fit
    assert run.read_status()["state"] == "failed"
    assert not list(run.path.rglob("*.tmp"))
    # The library call underneath: the old file stays whole and the error names it.
    before = run.checkpoint.read_bytes()
    with pytest.raises(OSError, match="No space left on device") as e:
        atomic_write_bytes(run.checkpoint, bytes(8 * 2**20))
    assert e.value.filename == str(run.checkpoint) and run.checkpoint.read_bytes() == before
    assert not list(run.path.rglob("*.tmp"))


# ---- 7. no data set ------------------------------------------------------------------------------

@pytest.mark.slow
def test_without_the_data_set_train_explains_and_sampling_still_works(cli_results):
    assert_one_line_error(cli_results["train without data"], "Fashion-MNIST not found",
                          "apt-get install dataset-fashion-mnist", "--data-dir")
    assert cli_results["sample without data"].returncode == 0, cli_results["sample without data"].stderr
    assert (cli_results["tmp"] / "ok.png").stat().st_size > 0


def test_a_network_that_drops_connections_cannot_hang_the_search(tmp_path, monkeypatch):
    """torchvision's download has no timeout; a mirror that never answers must not stall training for minutes."""
    from torchvision.datasets import FashionMNIST
    import gan_core.data as data
    # A listening socket whose accept queue is full: the kernel drops further SYNs, as a firewall does.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    for s in fillers:
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
    for k, v in no_data_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GAN_EXPLORER_DATA", raising=False)
    monkeypatch.delenv("GAN_EXPLORER_NO_DOWNLOAD")
    monkeypatch.setattr(FashionMNIST, "mirrors", [f"http://127.0.0.1:{port}/"])
    monkeypatch.setattr(data, "PROBE_SECONDS", 1.0)
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(_catch(data.find_dataset_root)), daemon=True)
    t0 = time.perf_counter()
    worker.start()
    worker.join(20)
    try:
        assert not worker.is_alive(), "the search for the data set hung on a silent network"
        assert isinstance(outcome[0], DataNotFoundError) and "apt-get install" in str(outcome[0])
        assert time.perf_counter() - t0 < 10
    finally:
        for s in (server, *fillers):
            s.close()


def _catch(fn):
    try:
        return fn()
    except Exception as e:
        return e


# ---- 4. killed mid-run, stopped, and two trainers at once ----------------------------------------------

@pytest.mark.slow
def test_kill_9_mid_epoch_leaves_readable_files_and_resume_ends_on_the_same_weights(small_data_dir, tmp_path):
    args = ("--epochs", "2", "--batch-size", "10", "--seed", "7", "--events", "--snapshot-epochs", "1")
    straight, killed = RunFolder(tmp_path / "straight"), RunFolder(tmp_path / "killed")
    ref = start(*train_args(straight.path, small_data_dir, *args))
    victim = start(*train_args(killed.path, small_data_dir, *args))
    # 300 steps an epoch; events are flushed every 0.25 s, so the second epoch's first flush is mid-epoch.
    wait_until(lambda: any(e.step > 300 for e in killed.read_events()[0]), "steps of the second epoch", 120)
    victim.send_signal(signal.SIGKILL)
    finish(victim)
    assert victim.returncode == -signal.SIGKILL

    # Every file left behind reads.
    ck = load_checkpoint(killed.checkpoint)
    assert ck.epoch == 1 and ck.state is not None
    assert killed.read_status()["state"] == "running"                 # what it last said; it could not say more
    with open(killed.history_file, newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(ck.epoch))
    assert killed.read_samples() is not None and all(killed.read_samples(e) for e in killed.sample_epochs())
    assert load_checkpoint(killed.snapshot_path(1)).epoch == 1
    events, _ = killed.read_events()
    assert events and max(e.step for e in events) > ck.step        # it was killed mid-epoch
    # Leftover temporaries, if the kill hit a write, are dot-files no reader opens. Plant what such a kill
    # leaves, to check --resume tidies it: temporaries and an events line cut in half.
    leftovers = [p.name for p in killed.path.rglob("*.tmp")]
    assert all(n.startswith(".") for n in leftovers)
    (killed.path / ".checkpoint.pt.killed.tmp").write_bytes(b"half a checkpoint")
    (killed.samples_dir / ".latest.npz.killed.tmp").write_bytes(b"half a grid")
    with open(killed.events_file, "a") as f:
        f.write('{"kind":"step","epoch":1,"step":')

    res = finish(start(*train_args(killed.path, small_data_dir, "--resume", "--events")))
    assert res.returncode == 0, res.stderr
    assert "epoch [1/2]" in res.stdout and "epoch [0/2]" not in res.stdout
    assert not list(killed.path.rglob("*.tmp"))
    lines = killed.events_file.read_text().splitlines()
    # The resume dropped the half line and the steps logged after the checkpoint, which it redid:
    # every line reads, and each step is logged once, in order (600 steps: a row each, no buckets yet).
    assert all(_is_json(ln) for ln in lines)
    events, _ = killed.read_events()
    assert [e.step for e in events if isinstance(e, StepEvent)] == list(range(1, 2 * 300 + 1))

    assert finish(ref).returncode == 0
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(killed.checkpoint)
    assert a.epoch == b.epoch == 2 and a.step == b.step
    assert weights_equal(a.generator, b.generator) and weights_equal(a.discriminator, b.discriminator)
    assert a.history["d_loss"] == b.history["d_loss"]


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_a_second_trainer_is_refused(small_data_dir, tmp_path):
    run = RunFolder(tmp_path / "run")
    p = start(*train_args(run.path, small_data_dir, "--epochs", "50", "--batch-size", "10", "--events",
                          "--control", "stdin"), stdin=subprocess.PIPE)
    wait_until(lambda: run.read_events()[0], "the first steps", 120)
    p.stdin.write("pause\n")     # paused, so the second trainer below has the cores to itself
    p.stdin.flush()
    # While it trains, nobody else may write its folder.
    second = finish(start(*train_args(run.path, small_data_dir, "--epochs", "1")))
    assert_one_line_error(second, "is being trained by another process")
    p.stdin.write("resume\n")
    p.stdin.flush()
    wait_until(lambda: run.read_status().get("state") == "running", "training to resume", 30)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)                    # stdin still open: its end would also stop the run, and prove nothing
    out, err = p.communicate()
    assert p.returncode == 0, err
    assert out.strip().splitlines()[-1].startswith("stopped: ")
    status = run.read_status()
    assert status["state"] == "stopped" and status["message"].startswith("stopped at epoch")

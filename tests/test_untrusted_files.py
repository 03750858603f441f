"""Hostile checkpoint files on every path that reads one: the library, each CLI, the classifier, the app.

The files are built by tests/hostile_files.py (a million-deep nesting that crashes torch.load by
SIGSEGV, a depth-30 hash chain that would hash for minutes, a data.pkl that inflates to 190 MB).
Each reader must refuse them in one short line within seconds; messages quote at most a short
piece of anything taken from a file. tests/test_pickle_guard.py proves the files are real.
"""
from __future__ import annotations

import io
import time

import pytest
import streamlit as st
import torch

import hostile_files as hostile
from gan_core import CheckpointError, ClassifierError, GANConfig, load_checkpoint, load_classifier
from gan_core.checkpoints import FORMAT
from gan_core.cli import evaluate, sample, train
from helpers import app, cli, shown, texts, untrained_checkpoint

HOSTILE = {
    "million-deep nesting": lambda: hostile.deep_nesting(1_000_000),
    "depth-30 hash chain": lambda: hostile.hash_chain(30),
    "data.pkl inflating to 190 MB": lambda: hostile.inflating_pickle(190),
}
SECONDS = 5   # each refusal takes milliseconds; without the guard these take minutes or kill the process


@pytest.fixture(scope="module", params=list(HOSTILE))
def hostile_file(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "model.pt"
    path.write_bytes(HOSTILE[request.param]())
    return path


def one_quick_line(err: str, started: float, *words: str) -> str:
    assert time.monotonic() - started < SECONDS
    lines = err.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 400, err[:2000]
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_the_library_refuses_it_from_a_path_and_from_bytes(hostile_file):
    for src in (hostile_file, hostile_file.read_bytes(), io.BytesIO(hostile_file.read_bytes())):
        t0 = time.monotonic()
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(src)
        one_quick_line(str(e.value), t0, "refused", "nothing in it was loaded")


def test_the_classifier_reader_refuses_it(hostile_file):
    t0 = time.monotonic()
    with pytest.raises(ClassifierError) as e:
        load_classifier(hostile_file)
    one_quick_line(str(e.value), t0, str(hostile_file))


def test_every_cli_that_takes_a_checkpoint_refuses_it_in_one_line(hostile_file, tmp_path, capsys):
    calls = [
        (sample.main, ["--checkpoint", hostile_file, "--out", tmp_path / "grid.png"], "refused"),
        (evaluate.main, ["--checkpoint", hostile_file], "refused"),
        # The classifier's reader has a smaller size cap, which the inflating file already fails.
        (evaluate.main, ["--checkpoint", untrained_checkpoint(tmp_path), "--classifier", hostile_file], ""),
    ]
    for main, argv, word in calls:
        t0 = time.monotonic()
        code, _, err = cli(main, argv, capsys)
        assert code == 2
        one_quick_line(err, t0, str(hostile_file), word)


def test_resuming_from_a_planted_checkpoint_refuses_it(hostile_file, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(hostile_file.read_bytes())
    t0 = time.monotonic()
    code, _, err = cli(train.main, ["--out", run, "--resume", "--device", "cpu"], capsys)
    assert code == 2
    one_quick_line(err, t0, "refused")


def test_an_upload_is_refused_in_one_line_and_the_page_goes_on(hostile_file, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(untrained_checkpoint(tmp_path / "ck").parent))
    st.cache_resource.clear()
    at = app()
    t0 = time.monotonic()
    at.file_uploader(key="model.file").set_value(("evil.pt", hostile_file.read_bytes(), "application/octet-stream")).run()
    errors = [shown(e.value) for e in at.sidebar.get("error")]
    assert len(errors) == 1
    one_quick_line(errors[0], t0, "evil.pt", "refused")
    assert at.selectbox(key="model.source").value == "checkpoint:untrained.pt"   # still on the model it had
    at.switch_page("views/interpolate.py").run()
    assert not at.exception and "refused" not in texts(at, "markdown")


def test_text_from_a_file_is_quoted_short():
    """An unknown config key a megabyte long, or a huge number, makes a short message, not a huge one."""
    good = GANConfig().to_dict()
    for config in ({**good, "x" * 1_000_000: 1}, {**good, "latent_dim": "7" * 1_000_000},
                   {**good, "seed": 10 ** 5000}, {**good, "epochs": [[1]] * 10_000}):
        buf = io.BytesIO()
        torch.save({"format": FORMAT, "version": 1, "config": config, "generator": {}}, buf)
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(buf.getvalue())
        assert len(str(e.value)) < 200 and "\n" not in str(e.value), str(e.value)[:300]

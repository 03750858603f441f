"""The pickle guard (issue 10, items 1-2): hostile checkpoints are refused before torch reads them.

  1. every hostile file of tests/hostile_files.py (raw opcodes in a zip laid out as
     torch.save's, so torch.load would really try them) is refused with PickleRefused,
     in one short line, in well under the 5 s asserted (the point: not minutes), from
     a BytesIO and from an opened file, which is left at 0;
  2. real checkpoints pass untouched and still load: the shipped ones, a Trainer's with
     its Adam states and 500 epochs of history, a book-style G state_dict (zip and legacy
     format); each uses a tenth or less of every limit, and the largest file GANConfig
     allows (100,000 epochs of history) still passes;
  3. the hostile files are real: without the guard, torch.load raises RecursionError on
     the nesting 10,000 levels deep and dies by a signal on the million-deep one (each
     in a subprocess, which the second kills).
"""
from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import hostile_files as hostile
from gan_core import GANConfig, Trainer, build_generator, load_checkpoint, save_checkpoint
from gan_core import pickle_guard
from gan_core.pickle_guard import PickleRefused, check_torch_file

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["checkpoints/book.pt", "checkpoints/classifier.pt",
           *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "checkpoints/book-snapshots").glob("*.pt"))]
# What _stats measures, and the limit on each.
LIMITS = {"bytes": pickle_guard.MAX_PICKLE_BYTES, "opcodes": pickle_guard.MAX_OPCODES,
          "steps": pickle_guard.MAX_STEPS, "depth": pickle_guard.MAX_DEPTH, "marks": pickle_guard.MAX_DEPTH,
          "memo": pickle_guard.MAX_MEMO, "expanded": pickle_guard.MAX_EXPANDED,
          "walked": pickle_guard.MAX_WALKED, "predictable": pickle_guard.MAX_PREDICTABLE}

# ---- 1. hostile files ---------------------------------------------------------------------

HOSTILE = {   # name: (file, words the one-line refusal holds)
    "nesting 1,000,000 deep (SIGSEGV)": (hostile.deep_nesting, "nest more than 100 levels deep"),
    "nesting 10,000 deep (RecursionError)": (lambda: hostile.deep_nesting(10_000), "nest more than 100 levels"),
    "nesting by MARKs": (hostile.deep_marks, "more than 100 MARKs"),
    "nesting, legacy format": (hostile.legacy_deep_nesting, "nest more than 100 levels deep"),
    "hash chain 30 deep": (hostile.hash_chain, "shared references are expanded"),
    "data.pkl inflating to 190 MB": (hostile.inflating_pickle, "data.pkl unpacks to 190 MB, over the 16 MB"),
    "15 million opcodes": (hostile.long_opcode_stream, "more than 2,000,000 opcodes"),
    "a million empty sets": (hostile.many_objects, "more than 200,000 opcodes besides runs of numbers"),
    "200,000 memo entries": (hostile.huge_memo, "more than 100,000 objects in its memo"),
    "60,000 colliding keys": (hostile.hash_collisions, "predictable"),
    "bytearray(3 GB)": (hostile.bytearray_bomb, "bytearray"),
    "a list holding itself": (hostile.cycle, "a cycle"),
    "a GLOBAL name of 1 MB": (hostile.long_global_name, "at most 256 bytes"),
    "two data.pkl members": (hostile.two_pickles, "2 members named data.pkl"),
    "legacy pickles over 16 MB": (hostile.legacy_long_pickle, "pickles take more than the 16 MB"),
    "bad CRC under a long name": (hostile.bad_crc, "data.pkl cannot be read (Bad CRC-32"),
    "PK header, then zeros": (lambda: b"PK\x03\x04" + bytes(100), "not a zip archive"),
    "empty": (lambda: b"", "truncated"),
    "not a pickle": (lambda: bytes(range(256)), "opcode 0x00 at byte 0"),
}


def refusal(fobj) -> tuple[str, float]:
    t0 = time.perf_counter()
    with pytest.raises(PickleRefused) as e:
        check_torch_file(fobj)
    return str(e.value), time.perf_counter() - t0


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_file_is_refused_quickly_in_one_short_line(name, tmp_path):
    build, words = HOSTILE[name]
    data = build()
    path = tmp_path / "hostile.pt"
    path.write_bytes(data)
    with open(path, "rb") as opened:
        for fobj in (io.BytesIO(data), opened):
            message, seconds = refusal(fobj)
            assert seconds < 5.0, f"{name}: {seconds:.1f} s"
            assert "\n" not in message and len(message) < 300, message
            assert words in message, message
            assert fobj.tell() == 0


def test_a_refusal_is_a_value_error_and_names_no_file(tmp_path):
    """The caller prefixes the file's name; a ValueError, it is caught where bad files already are."""
    path = tmp_path / "secret-name.pt"
    path.write_bytes(hostile.hash_chain())
    with open(path, "rb") as f, pytest.raises(ValueError) as e:
        check_torch_file(f)
    assert "secret-name" not in str(e.value)


# ---- 2. real checkpoints --------------------------------------------------------------------

@pytest.fixture(scope="module")
def trainer_state() -> dict:
    """A Trainer's state after real Adam steps, with 500 epochs of history, as a run's checkpoint holds it."""
    torch.manual_seed(0)
    trainer = Trainer(GANConfig(epochs=1, seed=3), torch.rand(200, 784) * 2 - 1, device="cpu")
    for _ in trainer.run():
        pass
    trainer.history = {k: [float(i) / 7 for i in range(500)] for k in trainer.history}
    trainer.epoch = 500
    state = trainer.state_dict()
    assert state["opt_g"]["state"] and state["opt_d"]["state"]
    return state


def real_files(trainer_state, tmp_path) -> dict[str, Path]:
    files = {name: ROOT / name for name in SHIPPED}
    files["trainer checkpoint"] = save_checkpoint(tmp_path / "trainer.pt", trainer_state)
    book_style = build_generator(GANConfig()).state_dict()
    for legacy in (False, True):
        path = tmp_path / f"book-style{'-legacy' if legacy else ''}.pt"
        torch.save(book_style, path, _use_new_zipfile_serialization=not legacy)
        files[path.stem] = path
    path = tmp_path / "trainer-legacy.pt"   # the same checkpoint in torch's legacy format
    torch.save(torch.load(files["trainer checkpoint"], weights_only=True), path, _use_new_zipfile_serialization=False)
    files[path.stem] = path
    return files


def test_real_checkpoints_pass_untouched_and_still_load(trainer_state, tmp_path):
    for name, path in real_files(trainer_state, tmp_path).items():
        check_torch_file(io.BytesIO(path.read_bytes()))
        with open(path, "rb") as f:
            check_torch_file(f)
            assert f.tell() == 0, name
            torch.load(f, map_location="cpu", weights_only=True)   # the same file object, after the guard
    assert load_checkpoint(tmp_path / "trainer.pt").state is not None   # resumable: Adam states and all
    assert load_checkpoint(tmp_path / "book-style-legacy.pt").source == "book state_dict"


def test_real_checkpoints_use_a_tenth_or_less_of_every_limit(trainer_state, tmp_path):
    for name, path in real_files(trainer_state, tmp_path).items():
        with open(path, "rb") as f:
            stats = pickle_guard._stats(f)
        for key, limit in LIMITS.items():
            assert stats[key] * 10 <= limit, f"{name}: {key} {stats[key]:,} of {limit:,}"


def test_the_largest_history_a_config_allows_passes_quickly(trainer_state):
    """GANConfig allows 100,000 epochs: ten floats an epoch make a 9 MB pickle of a million opcodes."""
    state = dict(trainer_state, history={k: [i / 7 for i in range(100_000)] for k in trainer_state["history"]})
    buf = io.BytesIO()
    torch.save(state, buf)
    t0 = time.perf_counter()
    stats = pickle_guard._stats(buf)
    assert time.perf_counter() - t0 < 5.0
    for key, limit in LIMITS.items():
        assert stats[key] * 1.5 <= limit, f"{key} {stats[key]:,} of {limit:,}"


# ---- 3. the hostile files are real ----------------------------------------------------------

UNGUARDED_LOAD = """
import io, sys, torch, hostile_files
data = hostile_files.deep_nesting(int(sys.argv[1]))
try:
    torch.load(io.BytesIO(data), weights_only=True)
except RecursionError as e:
    print("RecursionError:", e)
    sys.exit(3)
print("loaded")
"""


def no_core_dump() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@pytest.mark.slow
def test_without_the_guard_torch_load_fails_on_the_deep_nesting():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    runs = {depth: subprocess.Popen([sys.executable, "-c", UNGUARDED_LOAD, str(depth)], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=env, preexec_fn=no_core_dump)
            for depth in (10_000, 1_000_000)}
    out = {depth: (p.communicate(timeout=120), p.returncode) for depth, p in runs.items()}
    (stdout, stderr), rc = out[10_000]
    assert rc == 3 and "RecursionError" in stdout, (rc, stdout, stderr[-2000:])
    (stdout, stderr), rc = out[1_000_000]
    assert rc < 0, f"the million-deep nesting did not kill the loader: rc {rc}, {stdout} {stderr[-2000:]}"
    assert -rc in (signal.SIGSEGV, signal.SIGBUS), signal.Signals(-rc).name
    # The very files the guard refuses (test 1), in milliseconds.
    for depth in (10_000, 1_000_000):
        assert "nest more than 100 levels deep" in refusal(io.BytesIO(hostile.deep_nesting(depth)))[0]

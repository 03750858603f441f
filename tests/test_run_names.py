"""A run's title: given by people, kept in its folder, or a default from its settings."""
from __future__ import annotations

import pytest

from gan_core import RunFolder


def test_a_run_title_is_one_short_line_kept_on_disk_and_an_empty_one_removes_it(tmp_path):
    from gan_core import ConfigError, GANConfig, Recording
    from explorer.run_names import run_title

    run = RunFolder(tmp_path / "20260101-000000-abcdef")
    run.path.mkdir()
    assert run_title(run) == run.name                      # no settings yet: the id
    run.write_settings(GANConfig(epochs=10, seed=3), Recording())
    assert run_title(run) == "The book's recipe · 10 epochs · seed 3"
    run.write_settings(GANConfig(epochs=10, lr_d=2e-3), Recording())
    assert run_title(run) == "D learns too fast · 10 epochs · seed 0"
    run.write_title("  Monday's   demo ")
    assert run.read_title() == "Monday's demo" and run_title(run) == "Monday's demo"
    for bad in ("x" * 61, "two\x00lines", 7):
        with pytest.raises(ConfigError):
            run.write_title(bad)
    assert run.read_title() == "Monday's demo"             # a refused title loses nothing
    run.title_file.write_text("\x1b[31m" + "y" * 100)      # a file written by hand is not trusted
    assert run.read_title() is None and run_title(run).startswith("D learns too fast")
    run.write_title("")
    assert not run.title_file.exists()


def test_the_timeline_lists_runs_by_title_and_tells_two_of_one_title_apart(tmp_path):
    from gan_core import GANConfig, Recording
    from explorer.timeline_sources import snapshot_sources

    runs = []
    for rid in ("20260101-000000-aaaaaa", "20260101-000001-bbbbbb", "20260101-000002-cccccc"):
        run = RunFolder(tmp_path / rid)
        run.snapshots_dir.mkdir(parents=True)
        run.snapshot_path(1).write_bytes(b"")   # listed by name; not loaded here
        run.write_settings(GANConfig(epochs=10), Recording())
        runs.append(run)
    runs[2].write_title("Monday's demo")
    labels = {s.key: s.label for s in snapshot_sources(tmp_path / "no-checkpoints", runs)}
    assert labels["run:20260101-000002-cccccc"] == "Monday's demo"
    twins = [labels[f"run:{r.name}"] for r in runs[:2]]
    assert all(label.startswith("The book's recipe · 10 epochs · seed 0 · ") for label in twins)
    assert twins[0] != twins[1]

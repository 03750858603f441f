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

"""Runs trained beforehand and shipped with the app, ready to show: the book's recipe and how a GAN fails.

Each is a short run of `python -m gan_core.train` on the real Fashion-MNIST, kept small in
`checkpoints/lessons/NAME/` (settings, status, history, step log, the fixed-z grid after every
epoch, a few float16 G snapshots; no full checkpoint), so a class sees the failure at once
instead of waiting for it. checkpoints/lessons/README.md says how each was made. The Train page
opens them read-only, as runs, and the Timeline page finds their snapshots. What each shows is
said here, in English marked for translation, keyed by the folder's name (a preset's key where
a preset trains the same recipe).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from gan_core import RunFolder

from .i18n import N_
from .run_manager import RUN_ID

FOLDER = "lessons"   # inside the checkpoints folder


class LessonRun(NamedTuple):
    title: str      # English, marked for translation: shown as t(title)
    shows: str      # what the run shows (the first of two lines)
    why: str        # and why (the second)
    preset: str     # the Train page's preset that trains this recipe again


LESSON_RUNS: dict[str, LessonRun] = {
    "quick": LessonRun(
        N_("The book's recipe, for comparison"),
        N_("D wins the first epochs (D(G(z)) falls to about 0.02), then G claws back: from epoch 7 on D(G(z)) "
           "climbs and G's loss falls."),
        N_("By epoch 10 the samples are rough silhouettes of different garments, tops and trousers, light and "
           "dark: slow, but learning."),
        "quick"),
    "d_too_fast": LessonRun(
        N_("D learns too fast"),
        N_("D's learning rate is 10 times G's: D(G(z)) stays near 0.01 and G's loss runs at 8 to 12, against 4 to 7 "
           "with the book's recipe."),
        N_("G settles on the one picture D rejects least and draws it for every z: by epoch 10 the 16 samples are "
           "nearly the same grey top (mode collapse)."),
        "d_too_fast"),
    "lr_too_high": LessonRun(
        N_("Learning rate too high"),
        N_("Both learning rates are 25 times the book's. Within the first epoch the steps overshoot: G's pixels are "
           "pushed to pure black and white, and every z gives the same speckled picture."),
        N_("There `tanh` is flat, so no gradient reaches G: its loss freezes at about 106 and D(G(z)) at 0. The run "
           "is dead, not slow."),
        "lr_too_high"),
    "minimax": LessonRun(
        N_("G's loss: minimax"),
        N_("G minimises `log(1 - D(G(z)))`, the GAN paper's minimax loss. D rejects G's first pictures at once, and "
           "there this loss is flat: its slope is D(G(z)), nearly 0."),
        N_("So G hardly moves: from epoch 2 on D(G(z)) stays below 0.01 and G's loss near 0, and the samples stay "
           "noise. The book's `BCE(D(G(z)), 1)` is steepest exactly there, which is why the book's G learns."),
        "minimax"),
}


def lessons_root(checkpoints: Path) -> Path:
    return checkpoints / FOLDER


def lesson_folders(checkpoints: Path) -> dict[str, RunFolder]:
    """The shipped runs found under checkpoints/lessons/, those described above first (in their order)."""
    root = lessons_root(checkpoints)
    if not root.is_dir():
        return {}
    found = {p.name: RunFolder(p) for p in root.iterdir()
             if p.is_dir() and RUN_ID.fullmatch(p.name) and (p / "status.json").is_file()}
    order = [name for name in LESSON_RUNS if name in found] + sorted(set(found) - set(LESSON_RUNS))
    return {name: found[name] for name in order}

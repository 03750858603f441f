"""Train the runs shipped ready to show (explorer/lesson_runs.py) and keep a small copy of each in checkpoints/lessons/.

    python scripts/make_lesson_runs.py                      # every run, one after another (about 2-3 min each)
    python scripts/make_lesson_runs.py d_too_fast minimax   # only these
    python scripts/make_lesson_runs.py --work /tmp/lessons  # keep the full run folders there

Each run is its Train page preset's recipe (so "Train it again yourself" trains the same thing),
trained by `python -m gan_core.train` on the real Fashion-MNIST with one CPU thread, as the
app trains. What is kept of it: settings.json, status.json, history.csv, train.log (the book's
printout), the step log with its rows merged into buckets of BUCKET steps, the fixed-z grid after
every epoch, and float16 G snapshots after the first and the last epoch; not the 6.6 MB
checkpoint.pt, so a shipped run opens read-only and cannot be continued.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.lesson_runs import LESSON_RUNS, lessons_root  # noqa: E402
from explorer.run_manager import LOG_FILE  # noqa: E402
from explorer.training_form import PRESETS  # noqa: E402
from gan_core import Recording, RunFolder  # noqa: E402
from gan_core.step_log import rewrite_log  # noqa: E402

BUCKET = 4            # steps a row of a shipped step log holds: 1,500 rows for 6,000 steps, still 150 to an epoch
KEPT = ("settings.json", "status.json", "history.csv", LOG_FILE, "events.jsonl")


def train(name: str, work: Path) -> RunFolder:
    """Train one run into work/name, as the app would (its settings written first, then the CLI)."""
    settings = PRESETS[LESSON_RUNS[name].preset].settings
    run = RunFolder(work / name)
    shutil.rmtree(run.path, ignore_errors=True)
    run.path.mkdir(parents=True)
    cfg = settings.config()
    run.write_settings(cfg, Recording(settings.sample_every, snapshot_epochs=(1, cfg.epochs)).validate())
    with open(run.path / LOG_FILE, "wb") as log:
        subprocess.run([sys.executable, "-m", "gan_core.train", "--out", str(run.path), "--device", "cpu",
                        "--threads", "1", "--events", "--quiet"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                       check=True)
    return run


def ship(run: RunFolder, dest: Path) -> int:
    """Copy what the app shows of a run into dest (replacing it); returns the bytes kept."""
    shutil.rmtree(dest, ignore_errors=True)
    for sub in ("samples", "snapshots"):
        (dest / sub).mkdir(parents=True)
    for name in KEPT:
        shutil.copy2(run.path / name, dest / name)
    # The printout's last line names where the (unshipped) checkpoint was written: a folder long gone.
    log = (dest / LOG_FILE).read_text().splitlines()
    (dest / LOG_FILE).write_text("".join(re.sub(r" checkpoint=\S+$", "", line) + "\n" for line in log))
    rewrite_log(dest / "events.jsonl", None, BUCKET)
    for folder in (run.samples_dir, run.snapshots_dir):
        for p in folder.glob("*.*"):
            shutil.copy2(p, dest / folder.name / p.name)
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"runs to make, of {', '.join(LESSON_RUNS)} (default: all)")
    ap.add_argument("--work", help="where to train (default: a temporary folder, deleted after)")
    args = ap.parse_args()
    if unknown := set(args.names) - set(LESSON_RUNS):
        ap.error(f"no such run: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        for name in args.names or LESSON_RUNS:
            size = ship(train(name, work), lessons_root(ROOT / "checkpoints") / name)
            print(f"{name}: {size / 1e6:.2f} MB in checkpoints/lessons/{name}/", flush=True)


if __name__ == "__main__":
    main()

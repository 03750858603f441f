"""How long opening a run takes, and how much memory, done the way the Train page does it.

Run:  python bench/run_open.py [--old-steps 2000000] [--epochs 500] [--keep DIR] [--code DIR]

Builds three synthetic run folders (in DIR if --keep names one, and reused from there):
  old     a step log as the code before bounded logs wrote it, one line a step
          (2,000,000 steps at batch size 1, about 300 MB)
  book    the book's recipe, 500 epochs of 600 steps (batch size 100), logged through
          gan_core's StepLog as a trainer would: its log is near its largest (7 MB)
  batch1  500 epochs at batch size 1, 30 million steps, logged the same way (a few minutes)
Then, for each, in a fresh process: RunCurves(run).update() and both chart figures, timed,
with the peak resident memory they add (VmHWM, reset after the imports and the first
figure that every server has already paid for). --code DIR imports gan_core and explorer from DIR instead, e.g. a
checkout of an older commit, to measure the code before a change on the same files.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_SPE = 60_000   # steps an epoch at batch size 1


def _epoch_record(epoch: int, epochs: int, step: int) -> dict:
    means = dict(mean_d_loss=1.2, mean_g_loss=0.9, mean_d_x=0.6, mean_d_g_z=0.4)
    return dict(kind="epoch", epoch=epoch, epochs=epochs, step=step, d_loss=1.2, g_loss=0.9, d_x=0.6, d_g_z=0.4,
                **means, seconds=60.0, images_per_sec=1000.0)


def build_old(path: Path, steps: int) -> None:
    """A run folder whose events.jsonl holds a line a step, as before bounded logs."""
    path.mkdir(parents=True, exist_ok=True)
    epochs = -(-steps // OLD_SPE)
    rnd = random.Random(0)
    with open(path / "events.jsonl", "w") as f:
        for s in range(1, steps + 1):
            e = (s - 1) // OLD_SPE
            f.write(f'{{"kind":"step","epoch":{e},"step":{s},"d_loss":{1 + rnd.random()!r},'
                    f'"g_loss":{1 + rnd.random()!r},"d_x":{rnd.random()!r},"d_g_z":{rnd.random()!r}}}\n')
            if s % OLD_SPE == 0:
                f.write(json.dumps(_epoch_record(e, epochs, s), separators=(",", ":")) + "\n")
    _status(path, epochs, OLD_SPE)


def build_new(path: Path, epochs: int, spe: int) -> None:
    """A run folder whose step log a StepLog wrote for `epochs` epochs of `spe` steps, flushed every 1,000 steps."""
    sys.path.insert(0, str(ROOT))
    from gan_core.step_log import StepLog
    from gan_core.trainer import EpochEvent, StepEvent

    path.mkdir(parents=True, exist_ok=True)
    log, rnd, s, t0 = StepLog(path / "events.jsonl"), random.Random(0), 0, time.perf_counter()
    for e in range(epochs):
        for _ in range(spe):
            s += 1
            log.add(StepEvent(e, s, 1 + rnd.random(), 1 + rnd.random(), rnd.random(), rnd.random()))
            if s % 1000 == 0:   # about 0.25 s of training at batch size 1, the Recorder's flush interval
                log.flush(whole=False)
        log.add(EpochEvent(**{k: v for k, v in _epoch_record(e, epochs, s).items() if k != "kind"}))
        log.flush(whole=False)
        if e % 50 == 49:
            print(f"  new: epoch {e + 1}/{epochs}, log {log.size / 1e6:.1f} MB, "
                  f"{(time.perf_counter() - t0) / s * 1e6:.1f} us a step", flush=True)
    log.flush()
    _status(path, epochs, spe)


def _status(path: Path, epochs: int, spe: int) -> None:
    (path / "status.json").write_text(json.dumps({"state": "finished", "epoch": epochs, "epochs": epochs,
                                                  "steps_per_epoch": spe}))


def measure(path: str, spe: int) -> None:
    """In this (fresh) process: open the run as the Train page does; print the figures as JSON."""
    import numpy as np

    from explorer import charts
    from explorer.run_curves import Curves, RunCurves
    from gan_core import RunFolder

    def kib(field: str) -> int:
        return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))
    # A server has drawn figures before: plotly's first figure (0.2 s of lazy imports) is not the run's cost.
    tiny = np.arange(1.0, 3.0)
    charts.loss_figure(Curves(tiny, np.ones((2, 4)), tiny, np.ones((2, 5)), None), 1)
    base = kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")   # resets VmHWM, the peak, to the current RSS
    t0 = time.perf_counter()
    snap = RunCurves(RunFolder(path)).update()
    t1 = time.perf_counter()
    figs = [charts.loss_figure(snap, spe), charts.verdict_figure(snap, spe)]
    t2 = time.perf_counter()
    print(json.dumps(dict(read_s=t1 - t0, charts_s=t2 - t1, peak_mb=(kib("VmHWM") - base) / 1024,
                          base_mb=base / 1024, rows=len(snap.steps),
                          last_step=int(snap.steps[-1]) if len(snap.steps) else 0,
                          epochs=len(snap.epoch_steps), points=max(len(t.x) for t in figs[0].data),
                          note=getattr(snap, "note", ""))))


def report(name: str, path: Path, spe: int, code: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(code))
    p = subprocess.run([sys.executable, __file__, "--measure", str(path), "--spe", str(spe)], env=env,
                       capture_output=True, text=True, cwd=code)
    if p.returncode:
        print(f"{name}: failed\n{p.stderr[-2000:]}")
        return
    r = json.loads(p.stdout.strip().splitlines()[-1])
    size = (path / "events.jsonl").stat().st_size / 1e6
    print(f"{name}: log {size:,.1f} MB | open {r['read_s'] + r['charts_s']:.2f} s (read {r['read_s']:.2f} s, "
          f"charts {r['charts_s']:.2f} s) | memory +{r['peak_mb']:,.0f} MB over {r['base_mb']:,.0f} MB after imports | "
          f"{r['rows']:,} rows to step {r['last_step']:,}, {r['epochs']} epoch means, {r['points']} points a trace"
          + (f"\n    note: {r['note']}" if r["note"] else ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old-steps", type=int, default=2_000_000, help="steps in the old-format log (0: skip it)")
    p.add_argument("--epochs", type=int, default=500, help="epochs of the two new-format runs (0: skip them)")
    p.add_argument("--keep", default=None, help="build the runs here and reuse them on later calls")
    p.add_argument("--code", default=str(ROOT), help="import gan_core and explorer from this checkout")
    p.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    p.add_argument("--spe", type=int, default=OLD_SPE, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        return measure(args.measure, args.spe)
    root = Path(args.keep or tempfile.mkdtemp(prefix="run-open-"))
    runs = []
    if args.old_steps:
        runs.append((f"old format, {args.old_steps:,} steps", root / f"old-{args.old_steps}", OLD_SPE,
                     lambda path: build_old(path, args.old_steps)))
    for spe, batch in ((600, 100), (60_000, 1)) if args.epochs else ():
        runs.append((f"bounded, {args.epochs} epochs at batch size {batch} ({args.epochs * spe:,} steps)",
                     root / f"new-{args.epochs}-{spe}", spe, functools.partial(build_new, epochs=args.epochs, spe=spe)))
    for name, path, spe, build in runs:
        if not (path / "status.json").exists():
            t0 = time.perf_counter()
            build(path)
            print(f"built {path} in {time.perf_counter() - t0:.0f} s", flush=True)
        report(name, path, spe, Path(args.code).resolve())


if __name__ == "__main__":
    main()

"""A lone app run's training speed against `python -m gan_core.train`'s, on the same machine in one sitting.

    .venv/bin/python bench/app_train_speed.py                 # 2 epochs each, CLI and app alternating, 2 rounds
    .venv/bin/python bench/app_train_speed.py --epochs 1 --rounds 1

The app's run is started as the Train page starts one: through RunManager, with the settings the app
reads from its environment (explorer/resources.py: threads, a lone run's threads, device), so at idle
priority and yielding to sliders (--yield-to), training alone. The command line is `python -m gan_core.train`
with torch's default threads. Both report images/s over their epochs' training time (gan_core's Recorder),
so start-up is left out of both. Prints each figure, the ratio of the medians (aim: at least 0.8) and the
machine's load (`uptime`) before and after: on a machine others are using, the figures are indicative only
(an idle-priority run yields the CPU to every other process, the CLI competes for it).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer import env, resources  # noqa: E402
from explorer.run_manager import RunManager, RunSettings  # noqa: E402
from gan_core import RunFolder  # noqa: E402


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def cli_speed(out: Path, epochs: int) -> float:
    p = subprocess.run([sys.executable, "-m", "gan_core.train", "--epochs", str(epochs), "--out", str(out),
                        "--quiet"], cwd=ROOT, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"gan_core.train failed: {p.stderr.strip().splitlines()[-1:]}")
    summary = p.stdout.strip().splitlines()[-1]
    return float(summary.split("images/s=")[1].split()[0])


def app_speed(root: Path, epochs: int) -> tuple[float, int]:
    manager = RunManager(root, max_active=env.max_active_runs(), threads=env.threads_per_run(),
                         device=env.training_device(), lone_threads=resources.lone_threads())
    try:
        run_id = manager.start(RunSettings(epochs=epochs))
        run = RunFolder(root / run_id)
        while run.read_status().get("state") in ("queued", "running", "paused"):
            time.sleep(0.5)
        status = run.read_status()
        if status.get("state") != "finished":
            raise SystemExit(f"the app's run ended {status.get('state')}: {status.get('message')}")
        return float(status["images_per_sec"]), manager.threads_for(1)
    finally:
        manager.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    print(f"cores: {os.cpu_count()}; load before: {uptime()}")
    cli, app = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):   # alternating, so a change in the machine's load hits both alike
            cli.append(cli_speed(Path(tmp) / f"cli{i}", args.epochs))
            print(f"round {i + 1}: python -m gan_core.train  {cli[-1]:9,.0f} images/s", flush=True)
            speed, threads = app_speed(Path(tmp) / f"app{i}", args.epochs)
            app.append(speed)
            print(f"round {i + 1}: app run (RunManager, {threads} threads alone) {app[-1]:9,.0f} images/s", flush=True)
    ratio = statistics.median(app) / statistics.median(cli)
    print(f"median: CLI {statistics.median(cli):,.0f} images/s, app {statistics.median(app):,.0f} images/s; "
          f"app / CLI = {ratio:.2f} (aim >= 0.80)")
    print(f"load after: {uptime()}")


if __name__ == "__main__":
    main()

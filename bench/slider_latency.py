"""Slider-to-image latency of the Latent space page, in a real browser.

    .venv/bin/python bench/slider_latency.py                     # 30 changes, nothing else running
    .venv/bin/python bench/slider_latency.py --train             # the same while a run trains
    .venv/bin/python bench/slider_latency.py --train --watch     # ... and a Train page polls in another tab
    .venv/bin/python bench/slider_latency.py --students 8        # a classroom: 8 sessions start runs, cap 2
    .venv/bin/python bench/slider_latency.py --checkpoint checkpoints/book.pt --changes 50

Starts `streamlit run explorer/app.py` on a free loopback port with a throw-away
runs folder, opens the Latent space page in headless Chromium, and moves one direction
slider at a time with the keyboard (focus the thumb, press an arrow key), as a
person would. Inside the page, a keydown listener and a MutationObserver time
each change with the browser's own clock, from the key press to
  src:    the image's src changing (the new picture is in the DOM), and
  shown:  the new picture loaded and decoded (what the eye can see).
Prints median, p90 and max of both, and where the machine's CPU went meanwhile
(server, browser, training children). The app's target: median src at most 150 ms.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from helpers import (launch_chromium, open_app, percentile, slider_latencies, streamlit_server,  # noqa: E402
                          untrained_checkpoint, wait_idle)

CLASSROOM_CAP = 2   # runs training at once in the --students scene, as in tests/test_classroom.py


def start_training(page, url: str, wait: bool = True) -> None:
    """Start a long run from the Train page, and (if wait) wait until it is really training."""
    open_app(page, f"{url}/train?epochs=200&batch=100")
    page.get_by_role("button", name="Start training").click()
    if wait:
        page.get_by_text("images/s").first.wait_for(timeout=120_000)
    else:
        page.wait_for_url("**run=*", timeout=120_000)


def cpu_ticks() -> dict[str, int]:
    """CPU time (clock ticks) used so far by this machine's processes, grouped by what they are."""
    groups: dict[str, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        group = ("training children" if "gan_core.train" in cmd else "streamlit server" if "streamlit run" in cmd
                 else "browser pages" if "chrom" in cmd and "--type=renderer" in cmd
                 else "browser, other processes" if "chrom" in cmd else "playwright" if "playwright" in cmd
                 else "other")
        groups[group] = groups.get(group, 0) + int(fields[11]) + int(fields[12])   # utime + stime
    return groups


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="model to load (default: first checkpoints/*.pt, else an untrained one)")
    p.add_argument("--changes", type=int, default=30, help="slider changes to time (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="changes done first and not timed (default 3)")
    p.add_argument("--train", action="store_true", help="have a run training meanwhile")
    p.add_argument("--watch", action="store_true", help="with --train: keep its Train page open in another tab")
    p.add_argument("--students", type=int, default=0,
                   help=f"N sessions each start a long run and keep its Train page open (cap {CLASSROOM_CAP})")
    p.add_argument("--same-priority", action="store_true",
                   help="with --students: draw their pages at normal priority on this machine too")
    args = p.parse_args()
    if args.checkpoint and not Path(args.checkpoint).is_file():
        p.error(f"--checkpoint {args.checkpoint}: no such file")

    tmp = Path(tempfile.mkdtemp(prefix="gan-explorer-bench-"))
    try:
        ckpt_dir = tmp / "checkpoints"
        ckpt_dir.mkdir()
        source = Path(args.checkpoint) if args.checkpoint else next(iter(sorted((ROOT / "checkpoints").glob("*.pt"))), None)
        if source:
            shutil.copy(source, ckpt_dir / source.name)
        else:
            source = untrained_checkpoint(ckpt_dir)   # latency does not depend on how well G draws
        env = {"GAN_EXPLORER_RUNS": str(tmp / "runs"), "GAN_EXPLORER_CHECKPOINTS": str(ckpt_dir)}
        if args.students:
            env |= {"GAN_EXPLORER_MAX_RUNS": str(CLASSROOM_CAP), "GAN_EXPLORER_THREADS": "1"}
        from playwright.sync_api import sync_playwright

        with streamlit_server(env, tmp / "server.log") as url, sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            if args.students:
                # The students' pages in a browser of their own at the lowest CPU priority, as if on their
                # own laptops (--same-priority: in the timing page's browser, on this machine's CPU).
                # Each student in a context of their own: their own cookies and Streamlit session.
                crowd = browser if args.same_priority else launch_chromium(pw, others=True)
                others = [crowd.new_context(viewport={"width": 1200, "height": 900}).new_page()
                          for _ in range(args.students)]
                for other in others:
                    start_training(other, url, wait=False)
                others[0].get_by_text("images/s").first.wait_for(timeout=120_000)
            elif args.train:
                start_training(page, url)
                if args.watch:
                    watcher = browser.new_page()   # another session, as a second viewer would be
                    watcher.goto(page.url)         # it keeps polling the run's Train page
            open_app(page, f"{url}/latent")  # "/" opens the lesson
            wait_idle(page)
            before, t0 = cpu_ticks(), time.monotonic()
            src, shown = slider_latencies(page, args.changes, args.warmup)
            after, wall = cpu_ticks(), time.monotonic() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    scene = ("idle server" if not (args.train or args.students) else
             f"{args.students} students each started a run (cap {CLASSROOM_CAP}), their Train pages open"
             f"{' at normal priority' if args.same_priority else ' (their browser at the lowest CPU priority)'}"
             if args.students else "while a run trains" + (" and its Train page polls" if args.watch else ""))
    print(f"slider -> image latency, {len(src)} changes, {scene}, model {source.name}")
    for name, xs in (("src", src), ("shown", shown)):
        print(f"  {name:5s}  median {statistics.median(xs):6.1f} ms   p90 {percentile(xs, 0.9):6.1f} ms   "
              f"max {max(xs):6.1f} ms")
    hz = os.sysconf("SC_CLK_TCK")
    used = {g: (after.get(g, 0) - before.get(g, 0)) / hz / wall for g in after}
    print(f"CPU meanwhile ({os.cpu_count()} cores, in cores busy): " +
          ", ".join(f"{g} {c:.2f}" for g, c in sorted(used.items(), key=lambda kv: -kv[1]) if c >= 0.01))
    return 0


if __name__ == "__main__":
    sys.exit(main())

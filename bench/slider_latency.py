"""Slider-to-image latency of the Latent space page, in a real browser.

    .venv/bin/python bench/slider_latency.py                     # 30 changes, nothing else running
    .venv/bin/python bench/slider_latency.py --train             # the same while a run trains
    .venv/bin/python bench/slider_latency.py --train --watch     # ... and a Train page polls in another tab
    .venv/bin/python bench/slider_latency.py --checkpoint checkpoints/book.pt --changes 50

Starts `streamlit run explorer/app.py` on a free loopback port with a throw-away
runs folder, opens the Latent space page in headless Chromium, and moves one
slider at a time with the keyboard (focus the thumb, press an arrow key), as a
person would. Inside the page, a keydown listener and a MutationObserver time
each change with the browser's own clock, from the key press to
  src:    the image's src changing (the new picture is in the DOM), and
  shown:  the new picture loaded and decoded (what the eye can see).
Prints median, p90 and max of both. The issue's target: median src at most 150 ms.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from browser_util import chromium, open_app, streamlit_server, wait_idle  # noqa: E402

IMAGE = "[data-testid=stMain] [data-testid=stImage] img"
THUMBS = "[data-testid=stMain] [data-testid=stSlider] input[type=range]"

# Timestamps in the page: the last arrow key down, then the first src change and load after it.
PROBE = """sel => {
  const probe = window.__probe = {down: null, src: null, shown: null, last: null};
  const current = () => document.querySelector(sel);
  probe.last = current() && current().src;
  document.addEventListener('keydown', e => {
    if (e.key.startsWith('Arrow')) { probe.down = performance.now(); probe.src = probe.shown = null; }
  }, true);
  new MutationObserver(() => {
    const img = current();
    if (!img || img.src === probe.last) return;
    probe.last = img.src;
    if (probe.down === null || probe.src !== null) return;
    probe.src = performance.now() - probe.down;
    const t0 = probe.down;
    img.decode().then(() => { probe.shown = performance.now() - t0; }, () => { probe.shown = -1; });
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def tiny_checkpoint(folder: Path) -> Path:
    """An untrained model: latency does not depend on how well G draws."""
    import torch
    from gan_core import GANConfig, Trainer, save_checkpoint

    trainer = Trainer(GANConfig(epochs=1), torch.rand(100, 784) * 2 - 1, "cpu")
    return save_checkpoint(folder / "untrained.pt", trainer.state_dict())


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def start_training(page, url: str) -> None:
    """Start a long run from the Train page, and wait until it is really training."""
    open_app(page, f"{url}/train?epochs=200&batch=100")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("images/s").first.wait_for(timeout=120_000)


def measure(page, url: str, changes: int, warmup: int) -> tuple[list[float], list[float]]:
    open_app(page, url)  # the Latent space page is the default one
    page.wait_for_selector(IMAGE, timeout=60_000)
    page.evaluate(PROBE, IMAGE)
    thumbs = page.locator(THUMBS)
    src_ms, shown_ms = [], []
    for i in range(warmup + changes):
        thumb = thumbs.nth(i % 16)
        value = float(thumb.get_attribute("aria-valuetext"))
        thumb.focus()
        page.keyboard.press("ArrowRight" if value < 2.5 else "ArrowLeft")
        page.wait_for_function("() => window.__probe.shown !== null", timeout=30_000, polling=5)
        src, shown = page.evaluate("() => [window.__probe.src, window.__probe.shown]")
        if i >= warmup:
            src_ms.append(src)
            shown_ms.append(shown)
        wait_idle(page)
        time.sleep(0.15)  # a person does not press faster than this, and it lets the server settle
    return src_ms, shown_ms


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="model to load (default: first checkpoints/*.pt, else an untrained one)")
    p.add_argument("--changes", type=int, default=30, help="slider changes to time (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="changes done first and not timed (default 3)")
    p.add_argument("--train", action="store_true", help="have a run training meanwhile")
    p.add_argument("--watch", action="store_true", help="with --train: keep its Train page open in another tab")
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gan-explorer-bench-"))
    try:
        ckpt_dir = tmp / "checkpoints"
        ckpt_dir.mkdir()
        source = Path(args.checkpoint) if args.checkpoint else next(iter(sorted((ROOT / "checkpoints").glob("*.pt"))), None)
        if source:
            shutil.copy(source, ckpt_dir / source.name)
        else:
            source = tiny_checkpoint(ckpt_dir)
        env = {"GAN_EXPLORER_RUNS": str(tmp / "runs"), "GAN_EXPLORER_CHECKPOINTS": str(ckpt_dir)}
        with streamlit_server(env, tmp / "server.log") as url, chromium() as page:
            if args.train:
                start_training(page, url)
                if args.watch:
                    watcher = page.context.browser.new_page()  # another session, as a second viewer would be
                    watcher.goto(page.url)                     # it keeps polling the run's Train page
            src, shown = measure(page, url, args.changes, args.warmup)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    scene = "while a run trains" + (" and its Train page polls" if args.watch else "") if args.train else "idle server"
    print(f"slider -> image latency, {len(src)} changes, {scene}, model {source.name}")
    for name, xs in (("src", src), ("shown", shown)):
        print(f"  {name:5s}  median {statistics.median(xs):6.1f} ms   p90 {percentile(xs, 0.9):6.1f} ms   "
              f"max {max(xs):6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The live generator during a drag, in headless Chromium: frames drawn per second, pointer-to-picture delay.

    .venv/bin/python bench/live_drag.py                       # a 5 s drag on checkpoints/book.pt
    .venv/bin/python bench/live_drag.py --seconds 10 --checkpoint runs/RUN/checkpoint.pt

Starts `streamlit run tests/live_page.py` (explorer/live_generator.py alone) on a free loopback port,
opens it in headless Chromium, presses the mouse on the first direction slider's thumb and sweeps it
left and right, one slider step (about 9 px) per move, as fast as Playwright can send pointer events
(faster than a display's 60 frames per second), without releasing. The page notes the time of every
picture it draws and, for each, the delay from the first pointer event after the previous picture to
the moment the new one is on the canvas (explorer/live_generator.js, ganLive.stats). Prints:
  fps        pictures drawn per second of drag (aim: the display's rate, 60; at least 30); at most one a
             pointer event, so on a busy machine Playwright's own pace can be the limit
  flood      the same with input events sent from inside the page (120 a second, a fast mouse; --flood-hz)
  browser    animation frames per second with nothing drawn: the browser's own cap on this machine
  delay      median, p95 and max pointer-to-picture delay in ms (aim: within a frame, under 20 ms)
  work       the component's own time per picture during the drag (z, G(z), the canvas), in ms
  forward    one G(z) and its pixels in the page, median of 500, in ms
  payload    the largest WebSocket message of the first drawing (the weights) and of a rerun after release
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from helpers import chromium, open_app, percentile, streamlit_server, wait_idle  # noqa: E402

# Input events at a steady rate from inside the page (the value set and an input event dispatched, as the
# browser does while dragging): whether drawing keeps up with the display when pointer events outpace it.
FLOOD = """(el, [seconds, hz]) => new Promise(done => {
  let v = -3;
  ganLive.stats.draws.length = 0;
  const t0 = performance.now();
  const id = setInterval(() => {
    v = v >= 3 ? -3 : v + 0.1;
    el.value = v;
    el.dispatchEvent(new Event("input", {bubbles: true}));
  }, 1000 / hz);
  setTimeout(() => { clearInterval(id); const t1 = performance.now();
                     done([ganLive.stats.draws.filter(d => d >= t0 && d <= t1).length, t1 - t0]); }, seconds * 1000);
})"""
# The browser's own frame rate here, nothing drawn: what any drawing on this machine is capped at.
RAF = """([seconds]) => new Promise(done => {
  let n = 0; const t0 = performance.now();
  const tick = now => { n++; if (now - t0 < seconds * 1000) requestAnimationFrame(tick); else done(n / (now - t0) * 1000); };
  requestAnimationFrame(tick);
})"""
FORWARD = """([n]) => { const key = [...ganLive.models.keys()][0], z = new Float64Array(64), times = [];
  for (let i = 0; i < n; i++) { z[i % 64] = Math.sin(i); const t0 = performance.now(); ganLive.pixels(key, z);
                                times.push(performance.now() - t0); }
  return times; }"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="how long the drag lasts")
    ap.add_argument("--flood-hz", type=float, default=120, help="input events a second sent from inside the page")
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "book.pt"))
    args = ap.parse_args(argv)

    log = Path(tempfile.mkdtemp(prefix="live-drag-")) / "server.log"
    with streamlit_server({"GAN_EXPLORER_LIVE_CHECKPOINT": args.checkpoint, "GAN_EXPLORER_LIVE": "1"}, log,
                          script=ROOT / "tests" / "live_page.py") as url, chromium(1280, 900) as page:
        frames: list[int] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(len(f))))
        open_app(page, url)
        page.wait_for_selector("canvas[role=img]", timeout=60_000)
        first_payload = max(frames)

        forward = page.evaluate(FORWARD, [500])
        thumb = page.locator("input[type=range][data-direction='0']")
        box = thumb.bounding_box()
        left, right, y = box["x"] + 10, box["x"] + box["width"] - 10, box["y"] + box["height"] / 2
        step = box["width"] / 60   # the slider runs -3..+3 in steps of 0.1
        page.mouse.move((left + right) / 2, y)
        page.mouse.down()
        page.evaluate("() => { for (const a of Object.values(ganLive.stats)) if (Array.isArray(a)) a.length = 0; }")
        start = page.evaluate("() => performance.now()")
        x, direction, moves = (left + right) / 2, 1, 0
        t_end = time.monotonic() + args.seconds
        while time.monotonic() < t_end:
            x += direction * step
            if not left <= x <= right:
                direction, x = -direction, x - 2 * direction * step
            page.mouse.move(x, y)
            moves += 1
        end = page.evaluate("() => performance.now()")
        draws, delays, work = page.evaluate("() => [ganLive.stats.draws, ganLive.stats.delays, ganLive.stats.work]")
        frames.clear()
        page.mouse.up()
        page.get_by_text("releases: 1").wait_for(timeout=60_000)
        wait_idle(page)
        rerun_payload = max(frames) if frames else 0
        flood_draws, flood_ms = thumb.evaluate(FLOOD, [args.seconds, args.flood_hz])
        raf = page.evaluate(RAF, [args.seconds])

    seconds = (end - start) / 1000
    draws = [d for d in draws if start <= d <= end]
    gaps = [b - a for a, b in zip(draws, draws[1:])]
    print(f"drag        {seconds:.1f} s, {moves} pointer moves ({moves / seconds:.0f}/s)")
    print(f"fps         {len(draws) / seconds:.1f} pictures/s (median gap {statistics.median(gaps):.1f} ms, "
          f"p95 {percentile(gaps, 0.95):.1f} ms)")
    print(f"delay       median {statistics.median(delays):.1f} ms, p95 {percentile(delays, 0.95):.1f} ms, "
          f"max {max(delays):.1f} ms  (pointer event to picture on the canvas)")
    print(f"flood       {flood_draws / flood_ms * 1000:.1f} pictures/s with input events at {args.flood_hz:.0f}/s from inside the page "
          f"(drawing capped at one picture a display frame)")
    print(f"browser     {raf:.1f} animation frames/s with nothing to draw (the cap on this machine now)")
    print(f"work        median {statistics.median(work):.2f} ms, p95 {percentile(work, 0.95):.2f} ms a picture "
          f"(z, G(z), pixels onto the canvas: the component's share of a frame)")
    print(f"forward     median {statistics.median(forward):.3f} ms, p95 {percentile(forward, 0.95):.3f} ms "
          f"(one G(z) and its pixels in the page)")
    print(f"payload     first drawing {first_payload:,} bytes; a rerun after release {rerun_payload:,} bytes")


if __name__ == "__main__":
    main()

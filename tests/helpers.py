"""What the tests (and the benches) share: one untrained model, one wait, the app in-process
(AppTest) and for real (a Streamlit server on a free loopback port, headless Chromium).

Used by the app and browser tests and by bench/slider_latency.py.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("GAN_EXPLORER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CONNECTED = "[data-testid=stApp][data-test-connection-state=CONNECTED]"
APP = ROOT / "explorer" / "app.py"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))   # `explorer` is no installed package: the app puts the root on sys.path itself


def wait_until(done: Callable[[], object], what: str, timeout: float = 90.0, every: float = 0.05,
               explain: Callable[[], str] | None = None):
    """done()'s first truthy value, polled every `every` s; fails naming `what` (and explain()) after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = done()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                                 + (f"; {explain()}" if explain else ""))
        time.sleep(every)


def untrained_checkpoint(folder: Path) -> Path:
    """folder/untrained.pt: the book's model, untrained (noise, but differing with z), with full training state."""
    import torch
    from gan_core import GANConfig, Trainer, save_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(GANConfig(epochs=1), torch.rand(100, 784) * 2 - 1, "cpu")
    return save_checkpoint(folder / "untrained.pt", trainer.state_dict())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], log_path: Path, timeout: float = 60.0, script: Path = APP) -> Iterator[str]:
    """Run `streamlit run explorer/app.py` (or another script) until the block ends; yields its base URL."""
    port = free_port()
    cmd = [str(Path(sys.executable).with_name("streamlit")), "run", str(script),
           "--server.headless", "true", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
           "--server.port", str(port), "--server.address", "127.0.0.1"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not answer within {timeout:.0f} s; see {log_path}")
            time.sleep(0.2)
        yield url
    finally:
        stop_server(proc)


def stop_server(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, as a service manager would (the app then stops its training children), then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def launch_chromium(playwright, others: bool = False):
    """Debian's headless Chromium (playwright's own download is not possible here).

    others=True launches it at the lowest CPU priority, as the app runs its training children: a browser
    standing for other people's machines (students' laptops in a classroom), whose drawing would not
    take this machine's CPU in a real deployment. Their requests still reach the server as they would.
    """
    from explorer.run_manager import low_priority_prefix

    executable = CHROMIUM
    prefix = low_priority_prefix() if others else []
    if prefix:
        executable = Path(tempfile.gettempdir()) / f"gan-explorer-chromium-low-priority-{os.getuid()}"
        executable.write_text(f'#!/bin/sh\nexec {shlex.join([*prefix, CHROMIUM])} "$@"\n')
        executable.chmod(0o755)
    return playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator:
    """A headless Chromium page (Debian's binary: playwright's own download is not possible here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def open_app(page, url: str, timeout_ms: float = 60_000) -> None:
    """Load url and wait until the app is connected and its script has finished running."""
    page.goto(url, timeout=timeout_ms)
    page.wait_for_selector(CONNECTED, timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def wait_idle(page, timeout_ms: float = 60_000) -> None:
    """Wait until no script run is in progress."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout_ms)


def training_children(folder: Path) -> list[int]:
    """Pids of processes whose command line names folder (the training children writing into it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(folder).encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def fill_disk(folder: Path) -> Path:
    """folder/filler, grown until the disk holding folder has not one byte left; delete it to free the space."""
    path = folder / "filler"
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):   # a short write leaves less than a chunk: go on in smaller ones
            with contextlib.suppress(OSError):
                while True:
                    f.write(bytes(chunk))
    return path


# Slider-to-picture timing on the Latent space page, with the browser's own clock: a keydown listener notes
# the last arrow key, a MutationObserver the first change of the picture's src after it (src: the new picture
# is in the DOM) and when that picture is decoded (shown: what the eye can see). The test side waits on
# promises the page resolves, not by polling, so measuring adds almost no work to a busy machine.
LATENT_IMAGE = "[data-testid=stMain] [data-testid=stImage] img"
# The direction sliders (keys latent.a0 ... latent.a7; Streamlit gives each keyed widget a class st-key-KEY).
LATENT_THUMBS = "[data-testid=stMain] [class*=st-key-latent-a] input[type=range]"
_PROBE = """sel => {
  const probe = window.__probe = {down: null, src: null, shown: null, last: null, done: null};
  const current = () => document.querySelector(sel);
  probe.last = current() && current().src;
  probe.arm = () => { probe.done = new Promise(resolve => { probe.resolve = resolve; }); };
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
    const end = ok => { probe.shown = ok ? performance.now() - t0 : -1; probe.resolve([probe.src, probe.shown]); };
    img.decode().then(() => end(true), () => end(false));
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""
# Resolves once no script run is in progress (the app's root element says so in an attribute).
_SCRIPT_DONE = """() => new Promise(resolve => {
  const app = document.querySelector('[data-testid=stApp]');
  const idle = () => app.getAttribute('data-test-script-state') === 'notRunning';
  if (idle()) return resolve(true);
  const watch = new MutationObserver(() => { if (idle()) { watch.disconnect(); resolve(true); } });
  watch.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
})"""


def slider_latencies(page, changes: int, warmup: int = 2, pause_s: float = 0.15) -> tuple[list[float], list[float]]:
    """(src, shown) milliseconds for `changes` arrow-key moves of direction sliders, after `warmup` untimed ones.

    The page must show the Latent space page's picture. One slider after another, as a person would:
    focus a thumb, press an arrow key, wait for the new picture and for the script to finish, then rest
    pause_s (nobody presses faster, and it lets the server settle).
    """
    page.wait_for_selector(LATENT_IMAGE, timeout=60_000)
    page.evaluate(_PROBE, LATENT_IMAGE)
    page.wait_for_selector(LATENT_THUMBS, timeout=60_000)
    thumbs = page.locator(LATENT_THUMBS)
    count = thumbs.count()
    src_ms, shown_ms = [], []
    for i in range(warmup + changes):
        thumb = thumbs.nth(i % count)
        value = float(thumb.get_attribute("aria-valuetext"))
        thumb.focus()
        page.evaluate("() => window.__probe.arm()")
        page.keyboard.press("ArrowRight" if value < 2.5 else "ArrowLeft")
        src, shown = page.evaluate("() => window.__probe.done")
        if i >= warmup:
            src_ms.append(src)
            shown_ms.append(shown)
        page.evaluate(_SCRIPT_DONE)
        time.sleep(pause_s)
    return src_ms, shown_ms


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


# ---- the app in-process (AppTest) -----------------------------------------------------------

LATENT_PAGE = "views/latent.py"


def app(page: str | None = LATENT_PAGE, timeout: float = 60, **state):
    """The app opened at `page` (the Latent space page unless told), with session state set before its first run.

    page=None opens the app's root, "/", which takes a new visitor to the lesson. A page is opened as its
    URL would open it: before the first run AppTest finds it by its file name, which is each page's url_path.
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    for k, v in state.items():
        at.session_state[k] = v
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def rerun_until(at, done: Callable, what: str, timeout: float = 90.0, explain: Callable[[], str] | None = None):
    """Rerun the page (AppTest never fires run_every) until done(at) holds just after a rerun."""
    def rerun_and_check():
        at.run()
        assert not at.exception, at.exception
        return done(at)
    if not done(at):
        wait_until(rerun_and_check, what, timeout, every=0.5, explain=explain)


def array(v):
    """A Plotly JSON array: a plain list, or a typed array {"dtype", "bdata"}."""
    import base64

    import numpy as np
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v, dtype=float)


def chart(at, key: str) -> dict[str, dict]:
    """The traces of the Plotly chart with this key, by their stable key (Plotly's `meta`, set in explorer/charts.py:
    "d_loss", "d_x.at_epoch", ...), which stays the same whatever language the names are in."""
    import json
    spec = json.loads(at.get_by_key(key).proto.spec)
    return {t.get("meta", f"unnamed {i}"): t for i, t in enumerate(spec["data"])}


def images(at) -> dict[str, str]:
    """caption -> url of every image on the page."""
    return {img.caption: img.url for el in at.get("image") for img in el.proto.imgs}


def image_urls(at) -> list[str]:
    return [img.url for el in at.get("image") for img in el.proto.imgs]


def image_captions(at) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


def shown(markdown: str) -> str:
    """What a reader sees of Markdown that explorer.plain escaped: the backslashes and word joiners gone."""
    return re.sub(r"\\(.)", r"\1", str(markdown)).replace("\u2060", "")


def texts(at, kind: str) -> str:
    """Every element of one kind (markdown, caption, error, ...) as one string, as a reader sees it."""
    return " ".join(shown(e.value) for e in at.get(kind))


def cli(main: Callable, argv: list, capsys) -> tuple[int, str, str]:
    """Run a CLI's main in this process as `python -m` would: (exit code, stdout, stderr)."""
    from gan_core.cli.common import run_main
    try:
        run_main(main, [str(a) for a in argv])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err

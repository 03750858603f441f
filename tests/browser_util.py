"""Helpers to drive the real app: a Streamlit server on a free loopback port, headless Chromium.

Used by tests/test_browser.py and bench/slider_latency.py (design notes, section 6).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("GAN_EXPLORER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CONNECTED = "[data-testid=stApp][data-test-connection-state=CONNECTED]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], log_path: Path, timeout: float = 60.0) -> Iterator[str]:
    """Run `streamlit run explorer/app.py` until the block ends; yields its base URL."""
    port = free_port()
    cmd = [str(Path(sys.executable).with_name("streamlit")), "run", str(ROOT / "explorer" / "app.py"),
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


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator:
    """A headless Chromium page (Debian's binary: playwright's own download is not possible here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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

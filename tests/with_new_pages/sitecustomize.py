"""Imported by Python at start-up when this folder is on PYTHONPATH: a test server's app gains the
pages app.py does not list yet (tests/new_pages.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import new_pages  # noqa: E402

new_pages.install()

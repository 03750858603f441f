#!/usr/bin/env bash
# Run the whole test suite (unit, real-data training, app and real-browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -q "$@"

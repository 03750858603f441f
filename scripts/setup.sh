#!/usr/bin/env bash
# Set up GAN Explorer on a fresh Debian/Ubuntu machine with Python 3.11:
#   system packages (Fashion-MNIST; with --browser, Chromium for the browser tests and a Korean font,
#   so that screenshots of Korean pages show Hangul rather than empty boxes),
#   a virtualenv in .venv with the pinned requirements and the project installed;
#   with --ray, Ray too (requirements-ray.txt), for training on a Ray cluster and for tests/test_ray.py.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
want_ray=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --ray) want_ray=1 ;;
    *) echo "setup: unknown option $arg (known: --browser --ray)" >&2; exit 2 ;;
  esac
done

apt_pkgs=()
[[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] || apt_pkgs+=(dataset-fashion-mnist)
[[ $want_browser == 1 && ! -x /usr/bin/chromium ]] && apt_pkgs+=(chromium)
[[ $want_browser == 1 && ! -d /usr/share/fonts/truetype/nanum ]] && apt_pkgs+=(fonts-nanum)
if ((${#apt_pkgs[@]})); then
  if command -v apt-get >/dev/null; then
    sudo=""; [[ $(id -u) == 0 ]] || sudo="sudo"
    echo "setup: installing ${apt_pkgs[*]} with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  else
    echo "setup: no apt-get here; install ${apt_pkgs[*]} yourself, or pass --data-dir to the tools" >&2
  fi
fi

py=${PYTHON:-python3.11}
command -v "$py" >/dev/null || py=python3
[[ -x .venv/bin/python ]] || "$py" -m venv .venv
# Reinstall only when the requirements (or the choice of --ray) changed since the last successful install.
reqs=(requirements.txt)
[[ $want_ray == 1 ]] && reqs+=(requirements-ray.txt)
pip_args=()
for r in "${reqs[@]}"; do pip_args+=(-r "$r"); done
stamp=.venv/.requirements.sha
sum=$(sha256sum "${reqs[@]}" pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]]; then
  echo "setup: installing Python packages into .venv (torch is large: this takes a few minutes)"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${pip_args[@]}"
  echo "$sum" > "$stamp"
fi
echo "setup: ready"

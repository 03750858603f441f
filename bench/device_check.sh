#!/usr/bin/env bash
# One prepared run on a GPU machine (the project's `device` tool): CUDA tests,
# the 500-epoch book model with snapshots, and the speed benchmark on cuda.
# Expects Fashion-MNIST's idx files in .devdata/ (carried) and writes to $OUT.
set -u
# Carried paths are replaced on every call: keep results in $OUT or /tmp, never under .devdata.
export PYTHONUNBUFFERED=1 GAN_EXPLORER_DATA=$PWD/.devdata GAN_EXPLORER_CACHE=/tmp/gecache PYTHONPATH=$PWD
nvidia-smi -L
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_equivalence.py 2>&1 | tail -4
mkdir -p /tmp/book
start=$(date +%s)
timeout "${TRAIN_LIMIT:-400}" python3 -m gan_core.train --epochs 500 --seed 0 --device cuda --out /tmp/book \
  --snapshot-epochs 1,2,3,5,10,20,50,100,200,300,400,500 --quiet > /tmp/book/train.log 2>&1
echo "train exit $? after $(( $(date +%s) - start )) s"
tail -4 /tmp/book/train.log
# Checkpoint and snapshots only: the per-epoch sample grids would pass the 16 MB return limit.
tar czf "$OUT/book.tgz" -C /tmp/book checkpoint.pt history.csv train.log snapshots
timeout 120 python3 bench/train_speed.py --device cuda --steps 600 --rounds 2 2>&1 | tee "$OUT/bench_cuda.txt"

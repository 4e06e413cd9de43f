#!/usr/bin/env bash
# `parrot bench --profile gpu` on a lent GPU machine with no network: Parrot's dependencies travel
# as wheels in .whl/ (made with `pip download`, see benchmarks/RESULTS.md), the machine brings
# torch and CUDA. Results go to $OUT (or benchmarks/results). Extra arguments go to parrot bench.
#   benchmarks/device/run_gpu.sh --workload map_reduce --workload shared_prompt --workload multi_agent
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
python3 -m parrot_backend bench --profile gpu --out "${OUT:-benchmarks/results}" "$@"

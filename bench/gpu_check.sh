#!/bin/sh
# The GPU check on the device machine, in one call (README, "GPU check"): install the carried wheels
# (make gpu-wheels, here) into /tmp/site, then run bench/gpu_check.py with its report in $OUT.
#   sh bench/gpu_check.sh COMMIT [gpu_check.py options]
set -e
commit=${1:?usage: sh bench/gpu_check.sh COMMIT [options]}
shift
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 DVC_NO_ANALYTICS=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
python3 bench/gpu_check.py --out "${OUT:-.}/gpu_check.json" --commit "$commit" "$@"

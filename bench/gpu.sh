#!/usr/bin/env bash
# One prepared GPU check for the `device` machine (fits in 5 minutes): install, then report scoring faces/s
# and annotate images/s on the GPU.   Usage: bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -m venv /tmp/mgmtn-gpu-venv
. /tmp/mgmtn-gpu-venv/bin/activate
pip install -q -e . 2>&1 | tail -2
python - <<'PY'
import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())
PY
timeout 240 python -m bench.gpu "$@"

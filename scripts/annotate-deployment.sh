#!/usr/bin/env bash
# Run annotate-corpus through a served Prefect deployment, from nothing: start a local Prefect server (unless
# PREFECT_API_URL already points at one), serve the deployments, run one and watch it.
#   scripts/annotate-deployment.sh CORPUS OUT [extra `prefect deployment run` args, e.g. --param detector=dlib]
set -euo pipefail
corpus=${1:?usage: $0 CORPUS OUT [--param k=v ...]}; out=${2:?usage: $0 CORPUS OUT}; shift 2
port=${PREFECT_PORT:-4200}
export PREFECT_SERVER_ANALYTICS_ENABLED=false
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
if [ -z "${PREFECT_API_URL:-}" ]; then
  export PREFECT_API_URL="http://127.0.0.1:${port}/api"
  prefect server start --host 127.0.0.1 --port "$port" > "${TMPDIR:-/tmp}/prefect-server.log" 2>&1 &
  pids+=($!)
fi
for _ in $(seq 120); do curl -fsS "$PREFECT_API_URL/health" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS "$PREFECT_API_URL/health" >/dev/null || { echo "Prefect API at $PREFECT_API_URL did not come up" >&2; exit 1; }
python -m flows.serve > "${TMPDIR:-/tmp}/prefect-serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do prefect deployment inspect annotate-corpus/local >/dev/null 2>&1 && break; sleep 1; done
prefect deployment run annotate-corpus/local --param corpus="$corpus" --param out="$out" "$@" --watch

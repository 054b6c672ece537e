#!/usr/bin/env bash
# Join a bare machine to a cfmarl Ray cluster as a worker node.
#
#   RAY_AUTH_TOKEN_PATH=/shared/cfmarl/auth_token cluster/start-worker.sh HEAD_IP:6379 [extra `ray start` options]
#
# The token must be the head's (copy the file, or export RAY_AUTH_TOKEN); a worker
# without it is refused with InvalidAuthToken. Installs the same pinned versions as the
# head unless CFMARL_SKIP_INSTALL=1. Environment: RAY_NUM_CPUS, RAY_NODE_IP, RAY_BLOCK=1,
# RAY_RESOURCES (e.g. '{"worker_node": 1}').
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-python3}"
if [[ $# -lt 1 ]]; then
  echo "usage: $0 HEAD_IP:PORT [ray start options]" >&2
  exit 2
fi
HEAD="$1"; shift

if [[ "${CFMARL_SKIP_INSTALL:-0}" != "1" ]]; then
  "$PY" -m pip install --quiet "torch==2.13.0" -c "$ROOT/constraints.txt"
  "$PY" -m pip install --quiet -e "$ROOT[rl]" -c "$ROOT/constraints.txt"
fi

export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH="${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"
if [[ -z "${RAY_AUTH_TOKEN:-}" && ! -s "$RAY_AUTH_TOKEN_PATH" ]]; then
  echo "No cluster token: copy the head's $RAY_AUTH_TOKEN_PATH here or export RAY_AUTH_TOKEN." >&2
  exit 2
fi

args=(--address "$HEAD")
[[ -n "${RAY_NUM_CPUS:-}" ]] && args+=(--num-cpus "$RAY_NUM_CPUS")
[[ -n "${RAY_NODE_IP:-}" ]] && args+=(--node-ip-address "$RAY_NODE_IP")
[[ -n "${RAY_RESOURCES:-}" ]] && args+=(--resources "$RAY_RESOURCES")
[[ "${RAY_BLOCK:-0}" == "1" ]] && args+=(--block)

echo "Joining the Ray cluster at $HEAD (token auth on)"
exec "$PY" -m ray.scripts.scripts start "${args[@]}" "$@"

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
if [[ $# -lt 1 ]]; then
  echo "usage: $0 HEAD_IP:PORT [ray start options]" >&2
  exit 2
fi
HEAD="$1"; shift

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

if [[ -z "${RAY_AUTH_TOKEN:-}" && ! -s "$RAY_AUTH_TOKEN_PATH" ]]; then
  echo "No cluster token: copy the head's $RAY_AUTH_TOKEN_PATH here or export RAY_AUTH_TOKEN." >&2
  exit 2
fi

args=(--address "$HEAD")
[[ -n "${RAY_RESOURCES:-}" ]] && args+=(--resources "$RAY_RESOURCES")

echo "Joining the Ray cluster at $HEAD (token auth on)"
exec "$PY" -m ray.scripts.scripts start "${args[@]}" "${node_args[@]}" "$@"

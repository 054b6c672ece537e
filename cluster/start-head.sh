#!/usr/bin/env bash
# Start the Ray head node of a cfmarl cluster on a bare machine.
#
#   RAY_AUTH_TOKEN_PATH=/shared/cfmarl/auth_token cluster/start-head.sh [extra `ray start` options]
#
# * Installs cfmarl with the pinned constraints (same versions on every node) unless
#   CFMARL_SKIP_INSTALL=1 (e.g. an image that already has them).
# * Token authentication stays ON (Ray >= 2.52: RAY_AUTH_MODE=token). The head creates the
#   shared token (mode 600) if the token file does not exist yet, and tightens an existing one
#   to 600; copy that file to every worker (or set RAY_AUTH_TOKEN there) - never disable
#   authentication to make a worker join.
# * The dashboard binds to 127.0.0.1 by default: reach it through an SSH tunnel
#   (ssh -L 8265:127.0.0.1:8265 head). Keep the GCS port (6379) and the worker port range
#   reachable only from the cluster's private network.
#
# Environment: RAY_PORT (6379), RAY_DASHBOARD_HOST (127.0.0.1), RAY_DASHBOARD_PORT (8265),
# RAY_NUM_CPUS (all), RAY_NODE_IP (auto), RAY_AUTH_TOKEN_PATH (~/.ray/auth_token),
# RAY_BLOCK=1 (stay in the foreground: stopping this script stops the node).
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

if [[ -z "${RAY_AUTH_TOKEN:-}" ]]; then
  private_token create  # made if missing; an existing one is tightened to mode 600 either way
fi

args=(--head --port "${RAY_PORT:-6379}" --dashboard-host "${RAY_DASHBOARD_HOST:-127.0.0.1}"
      --dashboard-port "${RAY_DASHBOARD_PORT:-8265}")

echo "Starting the Ray head on port ${RAY_PORT:-6379} (token auth on, dashboard on ${RAY_DASHBOARD_HOST:-127.0.0.1})"
exec "$PY" -m ray.scripts.scripts start "${args[@]}" "${node_args[@]}" "$@"

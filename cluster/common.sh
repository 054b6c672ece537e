# Shared by start-head.sh and start-worker.sh (sourced, not run): the pinned install,
# token authentication on, and the `ray start` options every node takes.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"

if [[ "${CFMARL_SKIP_INSTALL:-0}" != "1" ]]; then
  "$PY" -m pip install --quiet "torch==2.13.0" -c "$ROOT/constraints.txt"
  "$PY" -m pip install --quiet -e "$ROOT[rl]" -c "$ROOT/constraints.txt"
fi

export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH="${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"

node_args=()
[[ -n "${RAY_NUM_CPUS:-}" ]] && node_args+=(--num-cpus "$RAY_NUM_CPUS")
[[ -n "${RAY_NODE_IP:-}" ]] && node_args+=(--node-ip-address "$RAY_NODE_IP")
[[ "${RAY_BLOCK:-0}" == "1" ]] && node_args+=(--block)
true

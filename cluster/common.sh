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

# private_token create|check: the token file ends owner-only (600) whatever mode it had, and
# with "create" is made (64 hex digits from `secrets`) if missing or empty. The file is
# created under umask 077, so it is never readable by others, not even for an instant.
private_token() {
  local path="$RAY_AUTH_TOKEN_PATH"
  if [[ "$1" == "create" && ! -s "$path" ]]; then
    (umask 077 && mkdir -p "$(dirname "$path")" && \
      "$PY" -c "import secrets; print(secrets.token_hex(32))" > "$path")
    echo "Created the cluster token $path (mode 600): copy it to every node."
  fi
  if [[ -e "$path" ]]; then
    local mode
    mode="$(stat -c %a "$path")"
    if [[ "$mode" != "600" && "$mode" != "400" ]]; then
      chmod 600 "$path"
      echo "Tightened the cluster token $path from mode $mode to 600 (it was readable by others)." >&2
    fi
  fi
}
private_token check

node_args=()
[[ -n "${RAY_NUM_CPUS:-}" ]] && node_args+=(--num-cpus "$RAY_NUM_CPUS")
[[ -n "${RAY_NODE_IP:-}" ]] && node_args+=(--node-ip-address "$RAY_NODE_IP")
[[ "${RAY_BLOCK:-0}" == "1" ]] && node_args+=(--block)
true

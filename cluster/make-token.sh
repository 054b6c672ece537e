#!/usr/bin/env bash
# Create the shared cluster token, or make an existing one private: owner-only (mode 600) in
# a folder only its owner can enter when this script creates it.
#
#   cluster/make-token.sh [PATH]      (default: $RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token)
#
# Use this instead of `ray get-auth-token --generate`, which writes ~/.ray/auth_token with the
# process umask (0644 under the usual 022: readable by every user of the machine, and copied
# that way by the launcher's file_mounts). Then copy the file to the nodes (the launcher YAMLs'
# file_mounts do) - their setup_commands and the start scripts tighten it to 600 again there.
set -euo pipefail
export CFMARL_SKIP_INSTALL=1
[[ $# -ge 1 ]] && export RAY_AUTH_TOKEN_PATH="$1"
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
private_token create
echo "Cluster token: $RAY_AUTH_TOKEN_PATH (mode $(stat -c %a "$RAY_AUTH_TOKEN_PATH"))"

#!/bin/bash
# vhost-backend.sh SOCK IMG [QUEUES]: wstor serving IMG as a vhost-user-blk controller at SOCK, for the
# guest harness (../shared/harness: BACKEND='scripts/vhost-backend.sh $SOCK $IMG'). Runs until killed.
set -euo pipefail
SOCK=${1:?usage: vhost-backend.sh SOCK IMG}; IMG=${2:?usage: vhost-backend.sh SOCK IMG}
ROOT=$(dirname "$(realpath "$0")")/..
DIR=$(dirname "$SOCK"); NAME=$(basename "$SOCK")
CFG="$DIR/wstor-config.json"
cat > "$CFG" <<JSON
{"subsystems": [
  {"subsystem": "bdev", "config": [{"method": "bdev_aio_create", "params": {"name": "disk", "filename": "$IMG"}}]},
  {"subsystem": "vhost_blk", "config": [{"method": "vhost_create_blk_controller", "params": {"ctrlr": "$NAME", "dev_name": "disk"}}]}
]}
JSON
exec node "$ROOT/build/host/cli.js" serve --config "$CFG" -S "$DIR" -r "$DIR/wstor-rpc.sock" --mem "${WSTOR_MEM:-1GiB}" ${WSTOR_SERVE_ARGS:-}

#!/bin/sh
# Guest (bench/vhost-guest.ts --backends …,nvmf): connect to wstor's NVMe/TCP target with 2 I/O queues,
# then the harness's blk-verify-fio.sh on namespace 1 (carried in at /host with nvmf-lib.sh).
set -e -o pipefail
. /host/nvmf-lib.sh
nvmf_connect
NS1=$(nvmf_ns 1)
DISK=$NS1 sh /host/blk-verify-fio.sh
nvmf_disconnect

#!/bin/sh
# Guest: verified random writes on 2 queues while the host kills wstor serve and starts it again; the
# initiator reconnects on its own (ctrl-loss-tmo, reconnect-delay) and fio's verify finds every write.
set -e -o pipefail
. /host/nvmf-lib.sh                 # run-guest.sh -s tests/guest carries it in
nvmf_connect --ctrl-loss-tmo=120 --reconnect-delay=1
NS1=$(nvmf_ns 1)
echo RECONNECT_GO
fio --name=rc --filename="$NS1" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k --iodepth=16 \
    --numjobs=2 --size=24M --offset_increment=24M --verify=crc32c --verify_fatal=1 \
    --output-format=terse --terse-version=3 > /tmp/fio.out
echo "RECONNECT_FIO_OK $(fio_jobs /tmp/fio.out) jobs"
nvmf_disconnect

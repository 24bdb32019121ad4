#!/bin/sh
# Guest: verified random writes on 2 queues across a backend restart. The host kills wstor while the
# writes run and starts it again; QEMU reconnects (reconnect=1) and wstor resubmits what was in flight.
set -e -o pipefail
D=${DISK:-/dev/vda}; B=${D#/dev/}
echo "disk: $D $(cat /sys/block/$B/size) sectors, $(ls /sys/block/$B/mq | wc -l) queue(s)"
echo RECONNECT_GO
fio --name=rc --filename="$D" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k --iodepth=16 \
    --numjobs=2 --size=48M --offset_increment=48M --verify=crc32c --verify_fatal=1 \
    --output-format=terse --terse-version=3 > /tmp/fio.out
echo "RECONNECT_FIO_OK $(wc -l < /tmp/fio.out) jobs"

#!/bin/sh
# Guest: random writes with verification on every queue (one job per vCPU), flushes along the way,
# then a discard whose range must read back as zeroes.
set -e -o pipefail
D=${DISK:-/dev/vda}; B=${D#/dev/}
echo "disk: $D $(cat /sys/block/$B/size) sectors, $(ls /sys/block/$B/mq | wc -l) queue(s)"
fio --name=verify --filename="$D" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k --iodepth=16 \
    --numjobs=2 --size=32M --offset_increment=32M --verify=crc32c --verify_fatal=1 --fsync=64 \
    --output-format=terse --terse-version=3 > /tmp/fio.out
echo "FIO_VERIFY_OK $(wc -l < /tmp/fio.out) jobs"
dd if=/dev/urandom of="$D" bs=1M count=4 seek=100 oflag=direct 2>/dev/null
blkdiscard -o $((100 << 20)) -l $((4 << 20)) "$D"
Z=$(dd if="$D" bs=1M count=4 skip=100 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
E=$(dd if=/dev/zero bs=1M count=4 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$Z" = "$E" ] || { echo DISCARD_NOT_ZERO; exit 1; }
echo DISCARD_OK

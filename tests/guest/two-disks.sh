#!/bin/sh
# Guest (LESSONS 2): keep writing and reading back verified data on $A for $SECONDS seconds while the
# host deletes the controller behind $B; report each second's I/O count on $A (none may be zero).
set -e -o pipefail
A=${A:-/dev/vda}; SECS=${SECS:-12}
echo "TWO_DISKS_READY"
fio --name=a --filename="$A" --direct=1 --ioengine=libaio --rw=randrw --bs=4k --iodepth=4 --size=16M \
    --verify=crc32c --verify_fatal=1 --runtime="$SECS" --time_based --log_avg_msec=1000 --write_iops_log=/tmp/a \
    --output-format=terse --terse-version=3 > /tmp/fio.out
cat /tmp/a_iops.*.log | awk -F', ' '{ s[$1] += $2 } END { for (t in s) print "A_IOPS " t " " s[t] }' | sort -k2 -n
echo "A_DONE"

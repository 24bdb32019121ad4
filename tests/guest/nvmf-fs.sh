#!/bin/sh
# Guest: the kernel's NVMe/TCP initiator on wstor's target. Discover, connect (2 I/O queues), an ext file
# system on namespace 1 written, unmounted, disconnected, reconnected and verified; fio random writes
# verified on namespace 2, a flush and a discard. Needs NQN, HOSTNQN (run-guest.sh -n PORT).
set -e -o pipefail
. /host/nvmf-lib.sh                 # run-guest.sh -s tests/guest carries it in
nvme discover -t tcp -a "$NVME_TRADDR" -s "$NVME_TRSVCID" -q "$HOSTNQN" > /tmp/disc.txt || { echo DISCOVER_FAILED; exit 1; }
grep -q "subnqn: *$NQN" /tmp/disc.txt && echo "DISCOVER_OK $(grep -c '^=====Discovery Log Entry' /tmp/disc.txt) entries"
cat /tmp/disc.txt

# A host the subsystem does not list is refused.
if nvme connect -t tcp -a "$NVME_TRADDR" -s "$NVME_TRSVCID" -n "$NQN" -q "nqn.2014-08.org.example:stranger" 2>/dev/null
then echo "STRANGER_ADMITTED"; exit 1; else echo HOST_REFUSED; fi

nvmf_connect
C=$(nvmf_ctrl); NS1=$(nvmf_ns 1); NS2=$(nvmf_ns 2)
echo "connected: $C queues=$(nvmf_queues "$C" "$NS1") $NS1 $(cat /sys/block/${NS1#/dev/}/size) sectors, $NS2"
mke2fs -q -b 4096 "$NS1"
mkdir -p /mnt/d && mount -t ext4 "$NS1" /mnt/d
i=0
while [ $i -lt 16 ]; do dd if=/dev/urandom of=/mnt/d/f$i bs=64k count=$((i % 8 + 1)) 2>/dev/null; i=$((i + 1)); done
(cd /mnt/d && md5sum f* > /tmp/SUMS)
sync; umount /mnt/d
nvmf_disconnect
echo FS_WRITTEN

nvmf_connect
NS1=$(nvmf_ns 1); NS2=$(nvmf_ns 2)
mount -t ext4 "$NS1" /mnt/d
(cd /mnt/d && md5sum -c /tmp/SUMS > /dev/null) && echo FS_VERIFIED
umount /mnt/d

fio --name=v --filename="$NS2" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k --iodepth=16 --numjobs=2 \
    --size=16M --offset_increment=16M --verify=crc32c --verify_fatal=1 --output-format=terse --terse-version=3 > /tmp/fio.out
echo "FIO_VERIFY_OK $(fio_jobs /tmp/fio.out) jobs"
fio --name=big --filename="$NS2" --direct=1 --ioengine=libaio --rw=write --bs=128k --iodepth=4 --size=8M \
    --verify=md5 --verify_fatal=1 --output-format=terse --terse-version=3 > /tmp/fio2.out
echo FIO_LARGE_OK
nvme flush "$NS2" -n 2 && echo FLUSH_OK
blkdiscard -o 0 -l 1048576 "$NS2" && echo DISCARD_OK
nvmf_disconnect
echo NVMF_FS_DONE

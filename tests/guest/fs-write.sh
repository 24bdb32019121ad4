#!/bin/sh
# Guest (first boot): make a file system on $DISK, write files of random data with their checksums,
# sync, unmount; the guest then powers off. fs-verify.sh checks them after a new boot.
set -e -o pipefail
D=${DISK:-/dev/vda}
[ -b "$D" ] || { echo "no $D"; exit 1; }
mke2fs -q -b 4096 "$D"
mkdir -p /mnt/d && mount -t ext4 "$D" /mnt/d
i=0
while [ $i -lt ${FILES:-16} ]; do
  dd if=/dev/urandom of=/mnt/d/f$i bs=64k count=$((i % 8 + 1)) 2>/dev/null
  i=$((i + 1))
done
(cd /mnt/d && md5sum f* > SUMS)
sync
umount /mnt/d
echo "FS_WRITTEN files=$i"

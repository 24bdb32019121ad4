#!/bin/sh
# Guest (second boot): mount $DISK and check every file against the checksums written at the first.
set -e -o pipefail
D=${DISK:-/dev/vda}
mkdir -p /mnt/d && mount -t ext4 "$D" /mnt/d
(cd /mnt/d && md5sum -c SUMS > /tmp/check 2>&1) || { cat /tmp/check; echo FS_MISMATCH; exit 1; }
echo "FS_OK $(wc -l < /mnt/d/SUMS) files"
umount /mnt/d

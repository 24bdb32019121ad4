#!/bin/sh
# Guest script: Linux's own NVMe/TCP target (nvmet-tcp) on port 4420 with a null_blk namespace, as a
# reference peer for the host's TypeScript initiator (run-guest.sh -n PORT -f HOSTPORT:4420).
# Namespace 1 is a file in the guest's tmpfs (data reads back, unlike null_blk's), namespace 2 null_blk.
# Vars: SUBNQN (default nqn.2026-12.io.wstor:nvmet), NS_MB (default 64), SECS to serve (default 60).
set -e
SUBNQN=${SUBNQN:-nqn.2026-12.io.wstor:nvmet}
modprobe null_blk nr_devices=1
dd if=/dev/zero of=/tmp/nvmet-ns1.img bs=1M count=0 seek="${NS_MB:-64}" 2>/dev/null
modprobe nvmet
modprobe nvmet-tcp
grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs none /sys/kernel/config
T=/sys/kernel/config/nvmet
mkdir "$T/subsystems/$SUBNQN"
echo 1 > "$T/subsystems/$SUBNQN/attr_allow_any_host"
mkdir "$T/subsystems/$SUBNQN/namespaces/1"
echo /tmp/nvmet-ns1.img > "$T/subsystems/$SUBNQN/namespaces/1/device_path"
echo 1 > "$T/subsystems/$SUBNQN/namespaces/1/buffered_io"     # tmpfs has no O_DIRECT
echo 1 > "$T/subsystems/$SUBNQN/namespaces/1/enable"
mkdir "$T/subsystems/$SUBNQN/namespaces/2"
echo /dev/nullb0 > "$T/subsystems/$SUBNQN/namespaces/2/device_path"
echo 1 > "$T/subsystems/$SUBNQN/namespaces/2/enable"
mkdir "$T/ports/1"
echo tcp > "$T/ports/1/addr_trtype"
echo ipv4 > "$T/ports/1/addr_adrfam"
echo 0.0.0.0 > "$T/ports/1/addr_traddr"
echo 4420 > "$T/ports/1/addr_trsvcid"
ln -s "$T/subsystems/$SUBNQN" "$T/ports/1/subsystems/$SUBNQN"
echo "NVMET_READY $SUBNQN ns1 $(stat -c %s /tmp/nvmet-ns1.img) bytes, ns2 nullb0 $(cat /sys/block/nullb0/size) sectors"
sleep "${SECS:-60}"
echo NVMET_DONE

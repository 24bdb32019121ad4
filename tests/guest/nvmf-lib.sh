# Sourced by the nvmf-*.sh guest scripts: connect to wstor's NVMe/TCP target at $NVME_TRADDR:$NVME_TRSVCID
# (run-guest.sh -n PORT) as $HOSTNQN and find the namespaces' block devices.
NQN=${NQN:?NQN (the subsystem) is required}
HOSTNQN=${HOSTNQN:?HOSTNQN is required}
modprobe nvme-tcp || { echo "no nvme-tcp module"; exit 2; }

# nvmf_connect [extra nvme-connect options]: connect with 2 I/O queues; exit the script if it fails.
nvmf_connect() {
  nvme connect -t tcp -a "$NVME_TRADDR" -s "$NVME_TRSVCID" -n "$NQN" -q "$HOSTNQN" -i 2 "$@" \
    || { echo "NVME_CONNECT_FAILED"; dmesg | grep -i nvme | tail -20; exit 1; }
}

# nvmf_ctrl: the controller (nvmeN) connected to $NQN, waiting up to 30 s for it.
nvmf_ctrl() {
  i=0
  while [ $i -lt 300 ]; do
    for c in /sys/class/nvme/nvme*; do
      [ -e "$c/subsysnqn" ] && [ "$(cat "$c/subsysnqn")" = "$NQN" ] && [ "$(cat "$c/state")" = live ] && { basename "$c"; return 0; }
    done
    sleep 0.1; i=$((i + 1))
  done
  echo "no live controller for $NQN" >&2; return 1
}

# nvmf_ns NSID: the block device of namespace NSID (/dev/nvmeXnNSID; the guest reaches no other NVMe
# subsystem), waiting up to 30 s.
nvmf_ns() {
  i=0
  while [ $i -lt 300 ]; do
    for b in /sys/block/nvme*n"$1"; do
      [ -e "$b" ] || continue
      n=$(basename "$b")
      case "$n" in nvme*c*n*) continue ;; esac       # a multipath path node, not the namespace
      echo "/dev/$n"; return 0
    done
    sleep 0.1; i=$((i + 1))
  done
  echo "no block device for namespace $1 of $NQN" >&2; return 1
}

nvmf_disconnect() { nvme disconnect -n "$NQN" >/dev/null || { echo "NVME_DISCONNECT_FAILED"; exit 1; }; }

# nvmf_queues CTRL NSDEV: the I/O queues blk-mq made for the namespace. With native multipath the
# namespace's node (nvmeXnY) is a head without queues of its own; its path node nvmeXcCTRLnY has them.
nvmf_queues() {
  b=${2#/dev/}
  for p in /sys/block/nvme*c"${1#nvme}"n"${b##*n}"; do [ -d "$p/mq" ] && b=$(basename "$p"); done
  ls -d /sys/block/"$b"/mq/* | wc -l
}

# fio_jobs FILE: the jobs fio reported in FILE (--output-format=terse --terse-version=3: one line per
# job, each starting "3;"). On this guest fio writes a third line for 2 jobs: counting lines said 3.
fio_jobs() { grep -c '^3;' "$1"; }

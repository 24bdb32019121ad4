#!/bin/sh
# Guest: asynchronous events from wstor's target. Connected, it prints AER_READY and waits for the host
# to add namespace 2 and to grow namespace 1; both must show without a reconnect. Needs NQN, HOSTNQN.
set -e -o pipefail
. /host/nvmf-lib.sh                 # run-guest.sh -s tests/guest carries it in
nvmf_connect
NS1=$(nvmf_ns 1); B=${NS1#/dev/}
before=$(cat /sys/block/$B/size)
echo "AER_READY size=$before"
i=0; added=; grown=
while [ $i -lt 600 ] && { [ -z "$added" ] || [ -z "$grown" ]; }; do
  [ -z "$added" ] && ls /sys/block/ | grep -q "^nvme[0-9]*n2$" && { added=1; echo AER_NS_ADDED; }
  [ -z "$grown" ] && [ "$(cat /sys/block/$B/size)" != "$before" ] && { grown=1; echo "AER_RESIZED size=$(cat /sys/block/$B/size)"; }
  sleep 0.1; i=$((i + 1))
done
nvmf_disconnect
[ -n "$added" ] && [ -n "$grown" ] && echo AER_DONE

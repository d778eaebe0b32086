#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The `make demo` scenario, run inside the test VM: a primary and a secondary
# host in network namespaces, a client, a protected TCP/UDP service on the PVM
# and its replica on the SVM. Prints what the proxy compared, released and held
# and the checkpoints it asked for.
#
# There is no QEMU in this demo: the PVM and SVM are namespaces running the
# same server program, and the demo itself plays the COLO daemon's part (it
# answers each CHECKPOINT_NEEDED with CHECKPOINT_BEGIN/DONE, as colod does
# around a real QEMU checkpoint). tests/host/qemu-colo-kvm.sh drives real QEMU.
# timeout: 170
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=7
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT

say() { printf '%s\n' "$*"; }
counters() { # what the primary's proxy did so far
	topo_pn colo-ctl status $VM 2>/dev/null | awk '
		$1 ~ /^(matched_bytes|released_match|released_checkpoint|held|mismatches|notifies|checkpoints|svm_packets|pvm_packets|svm_dropped)$/ {
			printf "      %-20s %s\n", $1, $2 }'
}

say "colo-proxy demo on Linux $(uname -r) ($(nproc) vCPU, $(sed -n 's/model name.*: //p' /proc/cpuinfo | head -n1))"
say ""
colo_load_modules || { say "cannot load the modules"; exit 1; }
say "1. modules loaded: $(lsmod | awk 'tolower($1) ~ /colo/ { printf "%s ", $1 }')"
topo_colo_up $VM --hold-timeout 3000 || { say "topology setup failed"; exit 1; }
say "2. topology: client ($TOPO_CL4, $TOPO_CL6) -- primary host br0 -- PVM ($TOPO_VM4)"
say "              primary fwd0 ==forward link== fwd0 secondary host br1 -- SVM (same IP and MAC)"
say "   VM $VM registered: primary host (colo-ctl session, PMYCOLO rules),"
say "                      secondary host (colo-ctl session, SECCOLO rules)"
say ""

topo_servers same same || { say "servers did not start"; exit 1; }
say "3. identical service on PVM and SVM; the client downloads 4 MB over IPv4 and IPv6"
t0=$(date +%s%3N)
topo_cl python3 "$UTIL" get $TOPO_VM4 5001 4000000 --timeout 60 | sed 's/^/   IPv4: /'
topo_cl python3 "$UTIL" get $TOPO_VM6 5001 4000000 --timeout 60 | sed 's/^/   IPv6: /'
topo_cl python3 "$UTIL" udp $TOPO_VM4 5002 20 --timeout 20 | sed 's/^/   UDP:  /'
say "   took $(( $(date +%s%3N) - t0 )) ms; what the primary's proxy did:"
counters
say ""

say "4. the SVM's server now answers differently ('GUEST says hello' instead of 'guest says hello')"
for p in "${TOPO_PIDS[@]}"; do kill "$p" 2>/dev/null; done
for p in "${TOPO_PIDS[@]}"; do wait "$p" 2>/dev/null; done
TOPO_PIDS=()
topo_servers same other || { say "servers did not restart"; exit 1; }
out=$TOPO_DIR/hello
n0=$(topo_notices "$TOPO_PN")
topo_cl python3 "$UTIL" hello $TOPO_VM4 5001 "$out" --timeout 60 > /dev/null &
client=$!
if busywait 20000 eval "[ \$(topo_notices '$TOPO_PN') -gt $n0 ]"; then
	say "   kernel -> daemon: $(grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | tail -n1)"
else
	say "   no checkpoint notice arrived (unexpected)"
fi
say "   the client has received $(wc -c < "$out") bytes so far (the PVM's answer is held)"
counters | grep -E 'held|mismatches|notifies'
say "   daemon: checkpoint (QEMU would stop the PVM, copy its state to the SVM, resume)"
topo_ctl "$TOPO_PN" begin && say "   daemon -> kernel: CHECKPOINT_BEGIN (epoch cut)"
topo_ctl "$TOPO_PN" done && say "   daemon -> kernel: CHECKPOINT_DONE (held output released)"
wait $client
say "   the client got: $(cat "$out")"
counters
say "   (here the SVM keeps running the other server, so its next packets differ"
say "    again; after a real QEMU checkpoint the SVM would be the PVM's copy)"
say ""
say "5. failover: the secondary is gone, the primary passes traffic straight"
topo_ctl "$TOPO_PN" failover && say "   daemon -> kernel: FAILOVER"
topo_cl python3 "$UTIL" get $TOPO_VM4 5001 1000000 --timeout 60 | sed 's/^/   IPv4: /'
topo_pn colo-ctl status $VM 2>/dev/null | awk '$1 ~ /^(state|passed)$/ { printf "      %-20s %s\n", $1, $2 }'
say ""
say "demo finished"

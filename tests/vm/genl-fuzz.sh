#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Structure-aware fuzzing of the COLO generic netlink family
# (tests/fuzz/genl-fuzz.c): >= 100,000 messages from several sockets,
# racing processes and threads, senders without CAP_NET_ADMIN and a user
# namespace, sockets closed with VMs bound; every answer is checked against
# its prediction. Afterwards no VM is left and the four modules unload.
# GENL_FUZZ_SEED reproduces a run (the seed is printed).
# timeout: 300
source "$COLO_SRC/tests/lib.sh"

fuzz=$COLO_SRC/tests/fuzz/genl-fuzz
seed=${GENL_FUZZ_SEED:-$(date +%s)}
msgs=${GENL_FUZZ_MESSAGES:-100000}

[ -x "$fuzz" ] || { fail "$fuzz not built (make -C tests/fuzz genl-fuzz)"; colo_exit; }
colo_load_modules || { fail "loading the modules"; colo_exit; }
colo_dmesg_mark

log "seed $seed (GENL_FUZZ_SEED=$seed reproduces the generated messages)"
check "genl-fuzz: $msgs messages, no violation" \
	timeout -k 5 200 "$fuzz" --seed "$seed" --messages "$msgs" --min-seconds 20 --seconds 150

refs() { awk -v m="$1" '$1 == m { print $3 }' /proc/modules; }
check "nfnetlink_colo unused after the run" test "$(refs nfnetlink_colo)" = 0
for m in xt_SECCOLO xt_PMYCOLO nfnetlink_colo nf_conntrack_colo; do
	check "rmmod $m" rmmod "$m"
done
bad=$(colo_dmesg_since | grep -iE 'colo|netlink' | grep -iE 'leak|waiting for|not delivered|still|refcount' || true)
check "no leak or teardown warnings in dmesg${bad:+: $bad}" test -z "$bad"
colo_exit

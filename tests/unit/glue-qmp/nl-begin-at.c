// SPDX-License-Identifier: GPL-2.0
/*
 * nl-begin-at.c - colo_nl_checkpoint_begin_at() against the real kernel (run
 * by tests/vm/colo-qemu.sh): the COLO_A_STOP_TIME attribute as libcolo-nl
 * encodes it passes the family's policy, one BEGIN at a time, DONE after it.
 *
 *   nl-begin-at VMID	prints "ok - ..." / "not ok - ..." lines, exit 0/1
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "colo-nl.h"

static int fails;

static void expect(int got, int want, const char *what, struct colo_nl *nl)
{
	if (got == want) {
		printf("ok - %s\n", what);
		return;
	}
	printf("not ok - %s: %d (%s), want %d\n", what, got,
	       got < 0 ? colo_nl_errmsg(nl, got) : "", want);
	fails++;
}

int main(int argc, char **argv)
{
	struct colo_nl_vm vm = { 0 };
	struct colo_nl *nl;
	struct timespec ts;
	uint64_t ns;
	uint32_t id;
	int ret;

	if (argc != 2)
		return 2;
	id = (uint32_t)strtoul(argv[1], NULL, 10);
	ret = colo_nl_open(&nl);
	if (ret < 0) {
		printf("not ok - open: %s\n", colo_nl_strerror(ret));
		return 1;
	}
	expect(colo_nl_proxy_init(nl, id, COLO_MODE_PRIMARY, NULL), 0,
	       "register", nl);
	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec -
	     1000000000ULL;
	expect(colo_nl_checkpoint_begin_at(nl, id, ns), 0,
	       "BEGIN with COLO_A_STOP_TIME accepted", nl);
	ret = colo_nl_get(nl, id, false, &vm);
	expect(ret < 0 ? ret : vm.state, COLO_STATE_CHECKPOINT,
	       "the VM is in CHECKPOINT", nl);
	colo_nl_vm_free(&vm);
	expect(colo_nl_checkpoint_begin_at(nl, id, ns + 1000), -EINVAL,
	       "a second BEGIN is refused", nl);
	expect(colo_nl_checkpoint_done(nl, id), 0, "DONE", nl);
	expect(colo_nl_checkpoint_done(nl, id), -EINVAL,
	       "DONE without BEGIN is refused", nl);
	colo_nl_close(nl);
	return fails ? 1 : 0;
}

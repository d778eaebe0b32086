// SPDX-License-Identifier: GPL-2.0
/*
 * fake-colo-nl.c - stand-in for qemu-glue/colo-nl.c (same colo-nl.h API) so
 * colod's netlink handling can be tested without the kernel modules.
 *
 * It talks over an inherited stream socket (fd $COLOD_FAKE_NL_FD, default 4):
 *   test -> colod: "NEEDED <vm> <reason> <epoch>\n", "ENOBUFS\n",
 *                  "FAIL-NEXT\n" (the next BEGIN or DONE fails, -EIO)
 *   colod -> test: "INIT <vm> <mode> <hold> <queue>\n", "BEGIN <vm>\n",
 *                  "BEGIN <vm> <stop-time-ns>\n", "DONE <vm>\n",
 *                  "FAILOVER <vm>\n", "DONE-WITHOUT-BEGIN <vm>\n",
 *                  "BEGIN-TWICE <vm>\n", "FAILED <what> <vm>\n"
 * DONE without a pending BEGIN and BEGIN while one is pending fail with
 * -EINVAL, as the kernel does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "colo-nl.h"

struct colo_nl {
	int fd;
	char buf[4096];
	size_t len;
	bool begun, fail_next;
};

static void say(struct colo_nl *nl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct colo_nl *nl, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && write(nl->fd, line, (size_t)n) != n)
		n = 0;
}

int colo_nl_open(struct colo_nl **nlp)
{
	const char *e = getenv("COLOD_FAKE_NL_FD");
	struct colo_nl *nl = calloc(1, sizeof(*nl));

	if (!nl)
		return -ENOMEM;
	nl->fd = e ? atoi(e) : 4;
	*nlp = nl;
	return 0;
}

void colo_nl_close(struct colo_nl *nl)
{
	if (!nl)
		return;
	close(nl->fd);
	free(nl);
}

int colo_nl_fd(const struct colo_nl *nl)
{
	return nl->fd;
}

int colo_nl_proxy_init(struct colo_nl *nl, uint32_t vm_id, uint8_t mode,
		       const struct colo_nl_limits *lim)
{
	static const struct colo_nl_limits none;

	if (!lim)
		lim = &none;
	say(nl, "INIT %u %u %u %u %u %u\n", vm_id, mode, lim->hold_timeout_ms,
	    lim->queue_limit, lim->mem_limit_kb, lim->conn_limit);
	return 0;
}

static int fake_fail(struct colo_nl *nl, const char *what, uint32_t vm_id)
{
	if (!nl->fail_next)
		return 0;
	nl->fail_next = false;
	say(nl, "FAILED %s %u\n", what, vm_id);
	return -EIO;
}

int colo_nl_checkpoint_begin_at(struct colo_nl *nl, uint32_t vm_id,
				uint64_t stop_time_ns)
{
	int ret = fake_fail(nl, "BEGIN", vm_id);

	if (ret)
		return ret;
	if (nl->begun) {
		say(nl, "BEGIN-TWICE %u\n", vm_id);
		return -EINVAL;
	}
	nl->begun = true;
	if (stop_time_ns)
		say(nl, "BEGIN %u %llu\n", vm_id, (unsigned long long)stop_time_ns);
	else
		say(nl, "BEGIN %u\n", vm_id);
	return 0;
}

int colo_nl_checkpoint_begin(struct colo_nl *nl, uint32_t vm_id)
{
	return colo_nl_checkpoint_begin_at(nl, vm_id, 0);
}

int colo_nl_checkpoint_done(struct colo_nl *nl, uint32_t vm_id)
{
	int ret = fake_fail(nl, "DONE", vm_id);

	if (ret)
		return ret;
	if (!nl->begun) {
		say(nl, "DONE-WITHOUT-BEGIN %u\n", vm_id);
		return -EINVAL;
	}
	nl->begun = false;
	say(nl, "DONE %u\n", vm_id);
	return 0;
}

void colo_nl_set_ack_timeout(struct colo_nl *nl, int timeout_ms)
{
	(void)nl;
	(void)timeout_ms;
}

int colo_nl_failover(struct colo_nl *nl, uint32_t vm_id)
{
	nl->begun = false;
	say(nl, "FAILOVER %u\n", vm_id);
	return 0;
}

static unsigned int lines(const struct colo_nl *nl)
{
	unsigned int n = 0;
	size_t k;

	for (k = 0; k < nl->len; k++)
		n += nl->buf[k] == '\n';
	return n;
}

unsigned int colo_nl_event_pending(const struct colo_nl *nl)
{
	return lines(nl);
}

int colo_nl_recv_event(struct colo_nl *nl, struct colo_nl_event *ev)
{
	unsigned int vm, reason, epoch;
	char *nlp, line[128];
	size_t l;

	if (!lines(nl)) {
		ssize_t n = read(nl->fd, nl->buf + nl->len,
				 sizeof(nl->buf) - nl->len);

		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		nl->len += (size_t)n;
		if (!lines(nl))
			return 0;
	}
	nlp = memchr(nl->buf, '\n', nl->len);
	l = (size_t)(nlp - nl->buf);
	snprintf(line, sizeof(line), "%.*s", (int)l, nl->buf);
	memmove(nl->buf, nlp + 1, nl->len - l - 1);
	nl->len -= l + 1;
	if (!strcmp(line, "ENOBUFS"))
		return -ENOBUFS;
	if (!strcmp(line, "FAIL-NEXT")) {
		nl->fail_next = true;
		return 0;
	}
	memset(ev, 0, sizeof(*ev));
	if (sscanf(line, "NEEDED %u %u %u", &vm, &reason, &epoch) != 3)
		return 0;
	ev->cmd = COLO_CMD_CHECKPOINT_NEEDED;
	ev->has_vm_id = ev->has_reason = ev->has_epoch = true;
	ev->vm_id = vm;
	ev->reason = reason;
	ev->epoch = epoch;
	return 1;
}

const char *colo_nl_strerror(int err)
{
	return strerror(err < 0 ? -err : err);
}

const char *colo_nl_errmsg(const struct colo_nl *nl, int err)
{
	(void)nl;
	return colo_nl_strerror(err);
}

const char *colo_nl_reason_name(uint32_t reason)
{
	static const char *const names[] = {
		"none", "mismatch", "hold-timeout", "svm-only", "queue-limit",
		"conn-gone", "unsynced",
	};

	return reason < 7 ? names[reason] : "unknown";
}

int colo_nl_control_path(uint32_t vm_id, char *buf, size_t len)
{
	const char *dir = getenv("COLO_RUN_DIR");

	if ((size_t)snprintf(buf, len, "%s/vm%u.sock", dir ? dir : COLO_NL_RUN_DIR,
			     vm_id) >= len)
		return -ENAMETOOLONG;
	return 0;
}

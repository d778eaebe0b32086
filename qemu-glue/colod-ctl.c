// SPDX-License-Identifier: GPL-2.0
/*
 * colod-ctl.c - colod's control socket: one request per line (checkpoint,
 * failover, status), each answered by one line when what it asked for is
 * done. Requests become state machine events; nothing here waits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "colod.h"

/* ------------------------------------------------------------------------
 * control clients
 */

void client_reply(struct client *c, const char *fmt, ...)
{
	char line[768];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* Small replies to a local socket; a client that does not read loses it. */
	if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		dbg(g_log_ctx, "control client: reply lost: %s", strerror(errno));
	c->wait = WAIT_NONE;
}

void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Answer clients waiting for @kind: @ok (checkpoints: those covered) or @err. */
void answer_waiters(struct colod *d, enum wait_kind kind, bool ok,
		    const char *err)
{
	int k;

	for (k = 0; k < COLOD_MAX_CLIENTS; k++) {
		struct client *c = &d->clients[k];

		if (c->fd < 0 || c->wait != kind)
			continue;
		if (kind == WAIT_CHECKPOINT && ok && c->target > d->fsm.done_gen)
			continue;
		if (ok)
			client_reply(c, "ok");
		else
			client_reply(c, "error %s", err);
	}
}

/* ------------------------------------------------------------------------
 * control socket
 */

int ctl_open(struct colod *d)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[108], *slash;
	mode_t old;
	int fd, ret;

	if (d->o.ctl_path) {
		if (strlen(d->o.ctl_path) >= sizeof(d->ctl_path)) {
			logmsg("control socket path too long: %s", d->o.ctl_path);
			return -ENAMETOOLONG;
		}
		strcpy(d->ctl_path, d->o.ctl_path);
	} else {
		ret = colo_nl_control_path(d->o.vm_id, d->ctl_path,
					   sizeof(d->ctl_path));
		if (ret < 0) {
			logmsg("control socket path: %s", strerror(-ret));
			return ret;
		}
	}
	strcpy(dir, d->ctl_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST) {
			ret = -errno;
			logmsg("cannot create %s: %s", dir, strerror(errno));
			return ret;
		}
	}
	strcpy(sun.sun_path, d->ctl_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* a live daemon answers; a stale socket file is replaced */
	if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		logmsg("control socket %s is in use: another colod runs for vm %u",
		       d->ctl_path, d->o.vm_id);
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(d->ctl_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0077);
	ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (ret || listen(fd, 8)) {
		ret = -errno;
		logmsg("control socket %s: %s", d->ctl_path, strerror(errno));
		close(fd);
		return ret;
	}
	d->ctl_fd = fd;
	return 0;
}

void ctl_accept(struct colod *d)
{
	int fd, k;

	fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (k = 0; k < COLOD_MAX_CLIENTS; k++) {
		if (d->clients[k].fd < 0) {
			d->clients[k].fd = fd;
			return;
		}
	}
	dprintf(fd, "error too many control connections\n");
	close(fd);
}

/* @m: the query-migrate reply, NULL if none came */
void on_status_reply(struct colod *d, struct client *c,
		     const struct qmp_msg *m)
{
	const struct colod_fsm *f = &d->fsm;
	char transfer[160] = "none", st[32] = "?";
	int64_t avg = f->count ? d->pause_sum_us / (int64_t)f->count : 0;

	/* whatever transfer figures QEMU gives; 7.2 gives none while in COLO */
	if (m) {
		const json_t *ram = qmp_get(m->data, "ram");
		int64_t tr, ds;

		snprintf(st, sizeof(st), "%s",
			 qmp_get_str(m->data, "status") ?: "none");
		if (qmp_get_int(ram, "transferred", &tr) &&
		    qmp_get_int(ram, "dirty-sync-count", &ds))
			snprintf(transfer, sizeof(transfer),
				 "ram-transferred=%" PRId64 " dirty-sync-count=%" PRId64,
				 tr, ds);
		else
			snprintf(transfer, sizeof(transfer),
				 "none(query-migrate-reports-status-only)");
	}
	client_reply(c,
		     "ok vm=%u side=%s state=%s step=%s checkpoints=%" PRIu64
		     " initial=%" PRIu64 " requested=%" PRIu64 " needed=%" PRIu64
		     " periodic=%" PRIu64 " loads=%" PRIu64 " other=%" PRIu64
		     " coalesced=%" PRIu64 " failed=%" PRIu64
		     " user_pauses=%" PRIu64 " stuck=%" PRIu64
		     " pending=%s kernel_cut=%s"
		     " last_reason=%s last_pause_ms=%.3f"
		     " pause_min_ms=%.3f pause_avg_ms=%.3f pause_max_ms=%.3f"
		     " last_dirty_sync=%" PRId64 " migration=%s transfer=%s"
		     " proxy=%s failover=%s released_before_colo=%" PRIu64,
		     d->o.vm_id, d->o.side == SIDE_PRIMARY ? "primary" : "secondary",
		     colod_phase_name(f->phase), colod_step_name(f->step),
		     f->count, d->n_initial, d->n_requested,
		     d->n_needed, d->n_periodic, d->n_loads, d->n_other,
		     f->n_coalesced, f->n_failed, f->n_user_pauses, f->n_stuck,
		     f->req_gen > f->done_gen ? "yes" : "no",
		     f->begun ? "yes" : "no",
		     d->last_reason[0] ? d->last_reason : "none",
		     f->last_pause_us / 1000.0, d->pause_min_us / 1000.0,
		     avg / 1000.0, d->pause_max_us / 1000.0, d->last_pass, st,
		     transfer, d->nl ? "on" : "off",
		     d->o.auto_failover ? "auto" : "manual",
		     d->n_released_before_colo);
}

static void ctl_status(struct colod *d, struct client *c)
{
	c->wait = WAIT_STATUS;
	c->deadline = mono_us() + 2000000;
	if (qmp_async(d, QK_STATUS, "query-migrate", NULL, (int)(c - d->clients)))
		on_status_reply(d, c, NULL);
}

static void ctl_line(struct colod *d, struct client *c, const char *line)
{
	if (!strcmp(line, "checkpoint")) {
		if (d->o.side != SIDE_PRIMARY) {
			client_reply(c, "error checkpoints are started by the primary's daemon");
			return;
		}
		if (d->fsm.phase != CP_COLO) {
			client_reply(c, "error not in COLO (state %s)",
				     colod_phase_name(d->fsm.phase));
			return;
		}
		/* waiting first, so that a failure while sending answers it */
		c->wait = WAIT_CHECKPOINT;
		c->target = UINT64_MAX;
		c->deadline = mono_us() +
			(d->o.checkpoint_timeout_ms + d->o.min_interval_ms + 2000) * 1000;
		c->target = request_checkpoint(d, "request");
	} else if (!strcmp(line, "failover")) {
		c->wait = WAIT_FAILOVER;
		c->deadline = mono_us() + 15 * 1000000LL;
		fsm_event(d, EV_FAILOVER_REQ, -1, "requested on the control socket");
	} else if (!strcmp(line, "status")) {
		ctl_status(d, c);
	} else {
		client_reply(c, "error unknown command");
	}
}

void ctl_read(struct colod *d, struct client *c)
{
	ssize_t n;
	char *nl;

	n = read(c->fd, c->buf + c->len, COLOD_LINE_MAX - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	while (c->wait == WAIT_NONE && c->fd >= 0 &&
	       (nl = memchr(c->buf, '\n', c->len))) {
		size_t l = (size_t)(nl - c->buf);

		*nl = '\0';
		if (l && c->buf[l - 1] == '\r')
			c->buf[l - 1] = '\0';
		ctl_line(d, c, c->buf);
		memmove(c->buf, nl + 1, c->len - l - 1);
		c->len -= l + 1;
	}
	if (c->fd >= 0 && c->len >= COLOD_LINE_MAX) {
		client_reply(c, "error line too long");
		client_close(c);
	}
}

// SPDX-License-Identifier: GPL-2.0
/*
 * colod.c - COLO daemon: drives stock QEMU's COLO over QMP and the colo-proxy
 * kernel modules over generic netlink, one process per protected VM and side.
 *
 * Objects: colod.o qmp.o + libcolo-nl.a (-lmnl); nothing else.
 *
 * Primary: every CHECKPOINT_NEEDED from the kernel (and every `checkpoint`
 * on the control socket) becomes an immediate QEMU checkpoint (re-setting
 * x-checkpoint-delay while in COLO), requests arriving while one is pending
 * or running are coalesced into one more, and no checkpoint is started less
 * than --min-interval ms after the last one ended. QEMU's STOP..RESUME
 * brackets a checkpoint; the kernel is told CHECKPOINT_BEGIN once the guest
 * is stopped and its RAM is being synced (MIGRATION_PASS with the `events`
 * capability, else at STOP) and CHECKPOINT_DONE at RESUME, which QEMU emits
 * only after the secondary loaded the state: so a held packet is released
 * only after the checkpoint covering it completed.
 * Secondary: every STOP..RESUME in COLO is a checkpoint load; the kernel gets
 * BEGIN/DONE around it (DONE resets the sequence offsets).
 * Failover (on request, or when the peer is lost: COLO_EXIT reason=error or
 * a checkpoint stuck for --checkpoint-timeout): COLO_CMD_FAILOVER to the
 * kernel, then x-colo-lost-heartbeat to QEMU, completion seen as COLO_EXIT
 * reason=request.
 *
 * One poll() loop, no threads. QEMU replies are waited for with timeouts, so
 * a QEMU that hangs or disappears is reported and never hangs the daemon.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "colo-nl.h"
#include "qmp.h"

#define COLOD_MAX_CLIENTS	16
#define COLOD_LINE_MAX		256
#define QMP_CMD_TIMEOUT_MS	5000

enum colod_exit {
	COLOD_EXIT_OK = 0,		/* signal, or QEMU quit after shutdown */
	COLOD_EXIT_SETUP = 1,		/* options, QMP, netlink, control socket */
	COLOD_EXIT_NO_COLO = 2,		/* COLO could not be started/attached */
	COLOD_EXIT_QEMU_LOST = 3,	/* QEMU disappeared or broke QMP */
};

enum side { SIDE_PRIMARY, SIDE_SECONDARY };

enum phase {
	PH_WAIT_COLO,	/* migration to the secondary (or incoming) running */
	PH_COLO,	/* checkpointing */
	PH_PEER_LOST,	/* COLO left with an error; waiting for failover */
	PH_FAILOVER,	/* failover requested, waiting for QEMU */
	PH_STANDALONE,	/* failed over */
};

static const char *const phase_names[] = {
	[PH_WAIT_COLO] = "starting",
	[PH_COLO] = "colo",
	[PH_PEER_LOST] = "peer-lost",
	[PH_FAILOVER] = "failover",
	[PH_STANDALONE] = "failed-over",
};

enum wait_kind { WAIT_NONE, WAIT_CHECKPOINT, WAIT_FAILOVER };

struct client {
	int fd;
	char buf[COLOD_LINE_MAX + 1];
	size_t len;
	enum wait_kind wait;
	uint64_t target;	/* checkpoint count that answers it */
	int64_t deadline;
};

struct opts {
	uint32_t vm_id;
	enum side side;
	const char *qmp_path;
	const char *ctl_path;
	const char *peer;
	bool start, attach, wait_colo, no_proxy, auto_failover, verbose;
	int64_t min_interval_ms;
	int64_t checkpoint_delay_ms;	/* -1: keep QEMU's */
	int64_t checkpoint_timeout_ms;
	int64_t start_timeout_ms;
	int64_t qmp_timeout_ms;
	uint32_t hold_timeout_ms, queue_limit;
};

struct colod {
	struct opts o;
	struct qmp *qmp;
	struct colo_nl *nl;
	int ctl_fd, sig_fd;
	char ctl_path[108];
	struct client clients[COLOD_MAX_CLIENTS];

	enum phase phase;
	bool events_cap;
	int64_t delay_ms;
	bool shutdown_seen;
	char shutdown_reason[32];	/* SHUTDOWN's reason, e.g. host-signal */
	int64_t start_deadline;

	/* checkpoint in progress (STOP seen) */
	bool stopped, pass_seen, nl_begun;
	int64_t stop_us, stop_ts_us;
	char cp_reason[32];
	/* trigger sent, STOP not yet seen */
	bool trigger_inflight, trigger_reply_pending;
	int64_t trigger_id, trigger_us;
	char trigger_reason[32];
	/* coalesced request waiting for the running one or min-interval */
	bool want_cp;
	char want_reason[32];
	int64_t deferred_at;
	int64_t last_resume_us;

	uint64_t count, n_initial, n_requested, n_needed, n_periodic, n_loads,
		 n_other, n_coalesced, n_failed;
	uint64_t n_released_before_colo;	/* BEGIN+DONE before COLO */
	int64_t pause_min_us, pause_max_us, pause_sum_us, last_pause_us;
	char last_reason[32];
	int64_t last_pass;

	/* failover */
	int64_t fo_id;
	int64_t fo_deadline, fo_poll_at;
	char fo_reason[96];
	bool fo_done;

	bool quit;
	int exit_code;
	char exit_why[160];
};

static struct colod *g_log_ctx;

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void logmsg(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (g_log_ctx)
		fprintf(stderr, "%s.%03ld colod[vm%u %s]: ", stamp,
			ts.tv_nsec / 1000000, g_log_ctx->o.vm_id,
			g_log_ctx->o.side == SIDE_PRIMARY ? "primary" : "secondary");
	else
		fprintf(stderr, "colod: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

#define dbg(d, ...) do { if ((d)->o.verbose) logmsg(__VA_ARGS__); } while (0)

static void colod_exit_with(struct colod *d, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void colod_exit_with(struct colod *d, int code, const char *fmt, ...)
{
	va_list ap;

	if (d->quit)
		return;
	d->quit = true;
	d->exit_code = code;
	va_start(ap, fmt);
	vsnprintf(d->exit_why, sizeof(d->exit_why), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------
 * control clients
 */

static void client_reply(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void client_reply(struct client *c, const char *fmt, ...)
{
	char line[512];
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

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Answer every client waiting for @kind; @ok or the error text. */
static void answer_waiters(struct colod *d, enum wait_kind kind, bool ok,
			   const char *err)
{
	int k;

	for (k = 0; k < COLOD_MAX_CLIENTS; k++) {
		struct client *c = &d->clients[k];

		if (c->fd < 0 || c->wait != kind)
			continue;
		if (kind == WAIT_CHECKPOINT && ok && c->target > d->count)
			continue;
		if (ok)
			client_reply(c, "ok");
		else
			client_reply(c, "error %s", err);
	}
}

/* ------------------------------------------------------------------------
 * kernel
 */

static void nl_call(struct colod *d, const char *what,
		    int (*fn)(struct colo_nl *, uint32_t))
{
	int ret;

	if (!d->nl)
		return;
	ret = fn(d->nl, d->o.vm_id);
	if (ret < 0)
		logmsg("kernel: %s failed: %s", what, colo_nl_errmsg(d->nl, ret));
	else
		dbg(d, "kernel: %s", what);
}

/* ------------------------------------------------------------------------
 * checkpoints
 */

static void send_trigger(struct colod *d, const char *reason)
{
	char args[64];
	int ret;

	snprintf(args, sizeof(args), "{\"x-checkpoint-delay\": %" PRId64 "}",
		 d->delay_ms);
	ret = qmp_send(d->qmp, "migrate-set-parameters", args, &d->trigger_id);
	if (ret) {
		logmsg("cannot request a checkpoint from QEMU: %s",
		       qmp_errmsg(d->qmp));
		d->n_failed++;
		answer_waiters(d, WAIT_CHECKPOINT, false,
			       "cannot send the checkpoint request to QEMU");
		return;
	}
	d->trigger_inflight = true;
	d->trigger_reply_pending = true;
	d->trigger_us = mono_us();
	snprintf(d->trigger_reason, sizeof(d->trigger_reason), "%s", reason);
	dbg(d, "checkpoint requested (%s)", reason);
}

/*
 * Ask for a checkpoint. Returns the checkpoint count whose completion
 * answers this request, or 0 if none can be taken now.
 */
static uint64_t request_checkpoint(struct colod *d, const char *reason)
{
	int64_t now = mono_us(), earliest;

	if (d->o.side != SIDE_PRIMARY || d->phase != PH_COLO)
		return 0;
	if (d->trigger_inflight) {
		d->n_coalesced++;
		return d->count + 1;
	}
	if (d->stopped || d->want_cp) {
		if (d->want_cp)
			d->n_coalesced++;
		if (!d->want_cp) {
			d->want_cp = true;
			snprintf(d->want_reason, sizeof(d->want_reason), "%s",
				 reason);
		}
		/* the running one may not cover it: wait for the next */
		return d->count + (d->stopped ? 2 : 1);
	}
	earliest = d->last_resume_us + d->o.min_interval_ms * 1000;
	if (d->last_resume_us && now < earliest) {
		d->want_cp = true;
		snprintf(d->want_reason, sizeof(d->want_reason), "%s", reason);
		d->deferred_at = earliest;
		return d->count + 1;
	}
	send_trigger(d, reason);
	return d->count + 1;
}

static void count_reason(struct colod *d, const char *reason)
{
	if (!strcmp(reason, "initial"))
		d->n_initial++;
	else if (!strcmp(reason, "request"))
		d->n_requested++;
	else if (!strcmp(reason, "periodic"))
		d->n_periodic++;
	else if (!strcmp(reason, "load"))
		d->n_loads++;
	else if (!strncmp(reason, "needed", 6) || !strcmp(reason, "overrun"))
		d->n_needed++;
	else
		d->n_other++;
}

static void on_stop(struct colod *d, int64_t ts_us)
{
	if (d->phase != PH_COLO &&
	    !(d->phase == PH_WAIT_COLO && d->o.side == SIDE_PRIMARY)) {
		dbg(d, "STOP outside COLO (%s): not a checkpoint",
		    phase_names[d->phase]);
		return;
	}
	d->stopped = true;
	d->pass_seen = false;
	d->nl_begun = false;
	d->stop_us = mono_us();
	d->stop_ts_us = ts_us;
	if (d->trigger_inflight) {
		snprintf(d->cp_reason, sizeof(d->cp_reason), "%s",
			 d->trigger_reason);
		d->trigger_inflight = false;
	} else {
		snprintf(d->cp_reason, sizeof(d->cp_reason), "%s",
			 d->phase == PH_WAIT_COLO ? "initial" :
			 d->o.side == SIDE_SECONDARY ? "load" : "periodic");
	}
	/*
	 * With `events` the RAM sync (MIGRATION_PASS) tells a checkpoint from
	 * a plain `stop`; without it every STOP in COLO is taken for one.
	 */
	if (d->o.side == SIDE_SECONDARY || !d->events_cap) {
		nl_call(d, "checkpoint begin", colo_nl_checkpoint_begin);
		d->nl_begun = true;
	}
}

static void on_pass(struct colod *d, const struct json *data)
{
	int64_t pass;

	if (json_get_int(data, "pass", &pass))
		d->last_pass = pass;
	if (!d->stopped || d->o.side != SIDE_PRIMARY)
		return;
	d->pass_seen = true;
	if (!d->nl_begun) {
		nl_call(d, "checkpoint begin", colo_nl_checkpoint_begin);
		d->nl_begun = true;
	}
}

static void on_resume(struct colod *d, int64_t ts_us)
{
	int64_t now = mono_us(), pause;

	if (!d->stopped) {
		dbg(d, "RESUME without a checkpoint STOP (%s)",
		    phase_names[d->phase]);
		return;
	}
	d->stopped = false;
	d->last_resume_us = now;
	if (d->o.side == SIDE_PRIMARY && d->events_cap && !d->pass_seen) {
		logmsg("guest was paused %.1f ms without a RAM sync: not a checkpoint",
		       (now - d->stop_us) / 1000.0);
		return;
	}
	/* QEMU's own timestamps, when both are there, exclude our latency */
	if (ts_us > 0 && d->stop_ts_us > 0 && ts_us >= d->stop_ts_us)
		pause = ts_us - d->stop_ts_us;
	else
		pause = now - d->stop_us;
	d->count++;
	count_reason(d, d->cp_reason);
	snprintf(d->last_reason, sizeof(d->last_reason), "%s", d->cp_reason);
	d->last_pause_us = pause;
	d->pause_sum_us += pause;
	if (d->count == 1 || pause < d->pause_min_us)
		d->pause_min_us = pause;
	if (pause > d->pause_max_us)
		d->pause_max_us = pause;
	if (d->nl_begun)
		nl_call(d, "checkpoint done", colo_nl_checkpoint_done);
	d->nl_begun = false;
	if (d->o.side == SIDE_PRIMARY && d->last_pass > 0)
		logmsg("checkpoint %" PRIu64 " reason=%s pause=%.3f ms dirty-sync=%" PRId64,
		       d->count, d->cp_reason, pause / 1000.0, d->last_pass);
	else
		logmsg("checkpoint %" PRIu64 " reason=%s pause=%.3f ms",
		       d->count, d->cp_reason, pause / 1000.0);
	answer_waiters(d, WAIT_CHECKPOINT, true, NULL);
	if (d->want_cp && d->phase == PH_COLO) {
		int64_t at = now + d->o.min_interval_ms * 1000;

		d->deferred_at = at > now ? at : now;
	}
}

static void fail_checkpoint(struct colod *d, const char *why)
{
	if (d->stopped || d->trigger_inflight) {
		logmsg("checkpoint %" PRIu64 " (%s) failed: %s", d->count + 1,
		       d->stopped ? d->cp_reason : d->trigger_reason, why);
		d->n_failed++;
	}
	d->stopped = false;
	d->trigger_inflight = false;
	d->want_cp = false;
	d->deferred_at = 0;
	answer_waiters(d, WAIT_CHECKPOINT, false, why);
}

/* ------------------------------------------------------------------------
 * failover
 */

static void failover_finish(struct colod *d, bool ok, const char *err)
{
	struct qmp_msg m;

	d->fo_deadline = 0;
	d->fo_poll_at = 0;
	d->fo_id = 0;
	if (!ok) {
		logmsg("failover failed: %s", err);
		answer_waiters(d, WAIT_FAILOVER, false, err);
		/* stay in PH_FAILOVER: a new request retries */
		d->phase = PH_PEER_LOST;
		return;
	}
	d->phase = PH_STANDALONE;
	d->fo_done = true;
	/* the survivor must run; 7.2 resumes it, but do not rely on it */
	if (!qmp_call(d->qmp, "query-status", NULL, QMP_CMD_TIMEOUT_MS, &m)) {
		const char *st = json_get_str(m.data, "status");

		if (st && strcmp(st, "running")) {
			logmsg("guest is '%s' after failover: sending cont", st);
			if (qmp_call(d->qmp, "cont", NULL, QMP_CMD_TIMEOUT_MS, NULL))
				logmsg("cont failed: %s", qmp_errmsg(d->qmp));
		}
		qmp_msg_free(&m);
	}
	logmsg("failover done (%s): running alone after %" PRIu64 " checkpoints",
	       d->fo_reason, d->count);
	answer_waiters(d, WAIT_FAILOVER, true, NULL);
}

static void start_failover(struct colod *d, const char *reason)
{
	int ret;

	if (d->phase == PH_STANDALONE || d->phase == PH_FAILOVER)
		return;
	if (d->phase == PH_WAIT_COLO) {
		logmsg("failover requested (%s) before COLO started: ignored",
		       reason);
		return;
	}
	snprintf(d->fo_reason, sizeof(d->fo_reason), "%s", reason);
	logmsg("failover: %s", reason);
	fail_checkpoint(d, "failover");
	d->phase = PH_FAILOVER;
	/* kernel first: the survivor's output must flow as soon as it runs */
	nl_call(d, "failover", colo_nl_failover);
	ret = qmp_send(d->qmp, "x-colo-lost-heartbeat", NULL, &d->fo_id);
	if (ret) {
		failover_finish(d, false, qmp_errmsg(d->qmp));
		return;
	}
	d->fo_deadline = mono_us() + 10 * 1000000LL;
}

/*
 * After an accepted x-colo-lost-heartbeat, completion shows as COLO_EXIT
 * reason=request, or (when COLO had already left with an error) only as
 * MIGRATION completed / query-colo-status mode none: poll for the latter.
 */
static void failover_poll(struct colod *d)
{
	struct qmp_msg st;
	const char *mode;

	d->fo_poll_at = 0;
	if (qmp_call(d->qmp, "query-colo-status", NULL, QMP_CMD_TIMEOUT_MS, &st)) {
		failover_finish(d, false, qmp_errmsg(d->qmp));
		return;
	}
	mode = json_get_str(st.data, "mode");
	if (mode && !strcmp(mode, "none"))
		failover_finish(d, true, NULL);
	else
		d->fo_poll_at = mono_us() + 200000;
	qmp_msg_free(&st);
}

/* x-colo-lost-heartbeat answered */
static void on_failover_reply(struct colod *d, const struct qmp_msg *m)
{
	struct qmp_msg st;
	const char *mode;

	d->fo_id = 0;
	if (m->type == QMP_MSG_RETURN) {
		dbg(d, "x-colo-lost-heartbeat accepted");
		/* COLO_EXIT reason=request completes it, or the poll sees it */
		d->fo_poll_at = mono_us() + 100000;
		return;
	}
	/* e.g. "The feature 'colo' is not enabled": COLO already left */
	if (qmp_call(d->qmp, "query-colo-status", NULL, QMP_CMD_TIMEOUT_MS,
		     &st)) {
		failover_finish(d, false, qmp_errmsg(d->qmp));
		return;
	}
	mode = json_get_str(st.data, "mode");
	if (mode && !strcmp(mode, "none")) {
		logmsg("x-colo-lost-heartbeat: %s; COLO already left", m->err_desc);
		failover_finish(d, true, NULL);
	} else {
		char err[256];

		snprintf(err, sizeof(err), "x-colo-lost-heartbeat: %s",
			 m->err_desc);
		failover_finish(d, false, err);
	}
	qmp_msg_free(&st);
}

static void on_colo_exit(struct colod *d, const struct json *data)
{
	const char *mode = json_get_str(data, "mode");
	const char *reason = json_get_str(data, "reason");

	logmsg("COLO_EXIT mode=%s reason=%s", mode ?: "?", reason ?: "?");
	if (d->phase == PH_FAILOVER) {
		if (!d->fo_done)
			failover_finish(d, true, NULL);
		return;
	}
	if (d->phase == PH_STANDALONE)
		return;
	fail_checkpoint(d, "COLO exited (peer lost)");
	d->phase = PH_PEER_LOST;
	if (reason && !strcmp(reason, "request")) {
		/* someone else failed QEMU over: follow in the kernel */
		snprintf(d->fo_reason, sizeof(d->fo_reason),
			 "requested to QEMU directly");
		nl_call(d, "failover", colo_nl_failover);
		failover_finish(d, true, NULL);
		return;
	}
	if (d->o.auto_failover)
		start_failover(d, "peer lost (COLO_EXIT reason=error)");
	else
		logmsg("peer lost: COLO left with an error; waiting for a failover request");
}

/* ------------------------------------------------------------------------
 * QMP
 */

static void on_migration(struct colod *d, const struct json *data)
{
	const char *st = json_get_str(data, "status");

	if (!st)
		return;
	dbg(d, "MIGRATION status=%s", st);
	if (!strcmp(st, "colo") && d->phase == PH_WAIT_COLO) {
		d->phase = PH_COLO;
		d->start_deadline = 0;
		logmsg("entered COLO");
	} else if (!strcmp(st, "completed") && d->phase == PH_FAILOVER &&
		   !d->fo_id) {
		failover_poll(d);
	} else if ((!strcmp(st, "failed") || !strcmp(st, "cancelled")) &&
		   d->phase == PH_WAIT_COLO) {
		fail_checkpoint(d, "migration failed");
		if (d->o.wait_colo) {
			logmsg("migration %s: still waiting for COLO", st);
			return;
		}
		colod_exit_with(d, COLOD_EXIT_NO_COLO,
				"migration to the secondary %s: COLO not started",
				st);
	}
}

static void handle_msg(struct colod *d, struct qmp_msg *m)
{
	switch (m->type) {
	case QMP_MSG_EVENT:
		dbg(d, "event %s", m->event);
		if (!strcmp(m->event, "STOP"))
			on_stop(d, m->ts_us);
		else if (!strcmp(m->event, "RESUME"))
			on_resume(d, m->ts_us);
		else if (!strcmp(m->event, "MIGRATION_PASS"))
			on_pass(d, m->data);
		else if (!strcmp(m->event, "MIGRATION"))
			on_migration(d, m->data);
		else if (!strcmp(m->event, "COLO_EXIT"))
			on_colo_exit(d, m->data);
		else if (!strcmp(m->event, "SHUTDOWN"))
		{
			const char *r = json_get_str(m->data, "reason");

			d->shutdown_seen = true;
			snprintf(d->shutdown_reason, sizeof(d->shutdown_reason),
				 "%s", r ?: "?");
		}
		break;
	case QMP_MSG_RETURN:
	case QMP_MSG_ERROR:
		/* the STOP may come before the reply: match the id alone */
		if (m->has_id && d->trigger_reply_pending &&
		    m->id == d->trigger_id) {
			d->trigger_reply_pending = false;
			if (m->type == QMP_MSG_ERROR) {
				char err[256];

				snprintf(err, sizeof(err), "QEMU refused the checkpoint: %s",
					 m->err_desc);
				fail_checkpoint(d, err);
			}
		} else if (m->has_id && d->fo_id && m->id == d->fo_id) {
			on_failover_reply(d, m);
		} else {
			logmsg("QMP: ignoring a reply to no pending command%s%s",
			       m->type == QMP_MSG_ERROR ? ": " : "",
			       m->type == QMP_MSG_ERROR ? m->err_desc : "");
		}
		break;
	case QMP_MSG_GREETING:
	case QMP_MSG_UNKNOWN:
		logmsg("QMP: ignoring an unexpected message");
		break;
	}
}

static void qmp_lost(struct colod *d, int err)
{
	char why[400];

	if (d->stopped)
		snprintf(why, sizeof(why),
			 "QEMU gone during checkpoint %" PRIu64 " (guest stopped %.1f ms before): %s",
			 d->count + 1, (mono_us() - d->stop_us) / 1000.0,
			 qmp_errmsg(d->qmp));
	else
		snprintf(why, sizeof(why), "QEMU gone: %s", qmp_errmsg(d->qmp));
	logmsg("%s", why);
	fail_checkpoint(d, err == -EPIPE ? "QEMU disconnected" :
			"QMP protocol error");
	answer_waiters(d, WAIT_FAILOVER, false, "QEMU disconnected");
	if (err == -EPIPE && d->shutdown_seen)
		colod_exit_with(d, COLOD_EXIT_OK, "QEMU quit after a shutdown (%s)",
				d->shutdown_reason);
	else
		colod_exit_with(d, COLOD_EXIT_QEMU_LOST, "%s", why);
}

static void drain_qmp(struct colod *d)
{
	struct qmp_msg m;

	while (!d->quit && qmp_next(d->qmp, &m)) {
		handle_msg(d, &m);
		qmp_msg_free(&m);
	}
}

/* ------------------------------------------------------------------------
 * netlink notifications
 */

/*
 * Before COLO runs there is no secondary whose output could match the PVM's,
 * so what the kernel holds would wait forever (the rules are installed before
 * COLO starts, and the initial migration may take minutes). Nothing has to be
 * kept consistent with a secondary that does not exist yet: the state it will
 * get is taken later and includes this output. So a CHECKPOINT_NEEDED before
 * COLO is answered with CHECKPOINT_BEGIN + DONE at once, which releases the
 * held packets. Not while the final stop of the migration (the initial
 * checkpoint) is in progress: that one is bracketed by on_pass/on_resume.
 */
static void release_before_colo(struct colod *d, const char *reason)
{
	int ret;

	if (!d->nl || d->stopped || d->nl_begun) {
		dbg(d, "kernel: CHECKPOINT_NEEDED (%s) during the initial checkpoint: it covers it",
		    reason);
		return;
	}
	ret = colo_nl_checkpoint_begin(d->nl, d->o.vm_id);
	if (!ret)
		ret = colo_nl_checkpoint_done(d->nl, d->o.vm_id);
	if (ret < 0) {
		logmsg("kernel: releasing the output held before COLO failed: %s",
		       colo_nl_errmsg(d->nl, ret));
		return;
	}
	d->n_released_before_colo++;
	if (d->n_released_before_colo == 1 || d->o.verbose)
		logmsg("kernel: CHECKPOINT_NEEDED (%s) before COLO started: released the held output (no secondary yet)",
		       reason);
}

static void drain_nl(struct colod *d, bool read_socket)
{
	struct colo_nl_event ev;
	char reason[48];
	int ret;

	if (!d->nl)
		return;
	while (read_socket || colo_nl_event_pending(d->nl)) {
		read_socket = false;
		ret = colo_nl_recv_event(d->nl, &ev);
		if (ret == -ENOBUFS) {
			logmsg("kernel: notifications lost (receive buffer overrun): checkpointing");
			if (d->o.side == SIDE_PRIMARY && d->phase == PH_WAIT_COLO)
				release_before_colo(d, "overrun");
			else
				request_checkpoint(d, "overrun");
			continue;
		}
		if (ret == -EAGAIN || ret == -EINTR || ret == 0)
			continue;
		if (ret < 0) {
			logmsg("kernel: receive failed: %s", colo_nl_strerror(ret));
			break;
		}
		if (ev.cmd != COLO_CMD_CHECKPOINT_NEEDED || !ev.has_vm_id ||
		    ev.vm_id != d->o.vm_id)
			continue;
		snprintf(reason, sizeof(reason), "needed:%s",
			 ev.has_reason ? colo_nl_reason_name(ev.reason) : "?");
		dbg(d, "kernel: CHECKPOINT_NEEDED %s epoch %u", reason, ev.epoch);
		if (d->o.side == SIDE_PRIMARY && d->phase == PH_COLO)
			request_checkpoint(d, reason);
		else if (d->o.side == SIDE_PRIMARY && d->phase == PH_WAIT_COLO)
			release_before_colo(d, reason);
		else
			logmsg("kernel: CHECKPOINT_NEEDED (%s) ignored: %s",
			       reason, phase_names[d->phase]);
	}
}

/* ------------------------------------------------------------------------
 * control socket
 */

static int ctl_open(struct colod *d)
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

static void ctl_accept(struct colod *d)
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

static void ctl_status(struct colod *d, struct client *c)
{
	char transfer[160] = "none";
	struct qmp_msg m;
	const char *st = "?";
	int64_t avg = d->count ? d->pause_sum_us / (int64_t)d->count : 0;

	/* whatever transfer figures QEMU gives; 7.2 gives none while in COLO */
	if (!qmp_call(d->qmp, "query-migrate", NULL, 2000, &m)) {
		const struct json *ram = json_get(m.data, "ram");
		int64_t tr, ds;

		st = json_get_str(m.data, "status") ?: "none";
		if (ram && json_get_int(ram, "transferred", &tr) &&
		    json_get_int(ram, "dirty-sync-count", &ds))
			snprintf(transfer, sizeof(transfer),
				 "ram-transferred=%" PRId64 " dirty-sync-count=%" PRId64,
				 tr, ds);
		else
			snprintf(transfer, sizeof(transfer),
				 "none(query-migrate-reports-status-only)");
		/* copy before freeing the reply */
		{
			static char stbuf[32];

			snprintf(stbuf, sizeof(stbuf), "%s", st);
			st = stbuf;
		}
		qmp_msg_free(&m);
	}
	client_reply(c,
		     "ok vm=%u side=%s state=%s checkpoints=%" PRIu64
		     " initial=%" PRIu64 " requested=%" PRIu64 " needed=%" PRIu64
		     " periodic=%" PRIu64 " loads=%" PRIu64 " other=%" PRIu64
		     " coalesced=%" PRIu64
		     " failed=%" PRIu64 " last_reason=%s last_pause_ms=%.3f"
		     " pause_min_ms=%.3f pause_avg_ms=%.3f pause_max_ms=%.3f"
		     " last_dirty_sync=%" PRId64 " migration=%s transfer=%s"
		     " proxy=%s released_before_colo=%" PRIu64,
		     d->o.vm_id, d->o.side == SIDE_PRIMARY ? "primary" : "secondary",
		     phase_names[d->phase], d->count, d->n_initial, d->n_requested,
		     d->n_needed, d->n_periodic, d->n_loads, d->n_other,
		     d->n_coalesced, d->n_failed, d->last_reason[0] ? d->last_reason : "none",
		     d->last_pause_us / 1000.0, d->pause_min_us / 1000.0,
		     avg / 1000.0, d->pause_max_us / 1000.0, d->last_pass, st,
		     transfer, d->nl ? "on" : "off", d->n_released_before_colo);
}

static void ctl_line(struct colod *d, struct client *c, const char *line)
{
	uint64_t target;

	if (!strcmp(line, "checkpoint")) {
		if (d->o.side != SIDE_PRIMARY) {
			client_reply(c, "error checkpoints are started by the primary's daemon");
			return;
		}
		if (d->phase != PH_COLO) {
			client_reply(c, "error not in COLO (state %s)",
				     phase_names[d->phase]);
			return;
		}
		/* waiting first, so that a failure while sending answers it */
		c->wait = WAIT_CHECKPOINT;
		c->target = UINT64_MAX;
		c->deadline = mono_us() +
			(d->o.checkpoint_timeout_ms + d->o.min_interval_ms + 2000) * 1000;
		target = request_checkpoint(d, "request");
		if (c->wait != WAIT_CHECKPOINT)
			return;		/* already answered (send failed) */
		if (!target) {
			client_reply(c, "error cannot checkpoint now");
			return;
		}
		c->target = target;
	} else if (!strcmp(line, "failover")) {
		if (d->phase == PH_STANDALONE) {
			client_reply(c, "ok");
			return;
		}
		if (d->phase == PH_WAIT_COLO) {
			client_reply(c, "error COLO has not started yet");
			return;
		}
		c->wait = WAIT_FAILOVER;
		c->deadline = mono_us() + 15 * 1000000LL;
		start_failover(d, "requested on the control socket");
		if (d->phase == PH_STANDALONE && c->wait == WAIT_FAILOVER)
			client_reply(c, "ok");
	} else if (!strcmp(line, "status")) {
		ctl_status(d, c);
	} else {
		client_reply(c, "error unknown command");
	}
}

static void ctl_read(struct colod *d, struct client *c)
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
		drain_qmp(d);	/* a status call may have queued events */
	}
	if (c->fd >= 0 && c->len >= COLOD_LINE_MAX) {
		client_reply(c, "error line too long");
		client_close(c);
	}
}

/* ------------------------------------------------------------------------
 * timers
 */

static void run_timers(struct colod *d)
{
	int64_t now = mono_us();
	int k;

	if (d->deferred_at && now >= d->deferred_at) {
		d->deferred_at = 0;
		if (d->want_cp && !d->stopped && !d->trigger_inflight &&
		    d->phase == PH_COLO) {
			d->want_cp = false;
			send_trigger(d, d->want_reason);
		}
	}
	if (d->trigger_inflight &&
	    now - d->trigger_us > d->o.checkpoint_timeout_ms * 1000)
		fail_checkpoint(d, "QEMU did not stop the guest for the requested checkpoint in time");
	if (d->stopped && d->phase == PH_COLO &&
	    now - d->stop_us > d->o.checkpoint_timeout_ms * 1000) {
		char why[160];

		snprintf(why, sizeof(why),
			 "checkpoint %" PRIu64 " stuck: guest stopped for %" PRId64 " ms without RESUME (peer lost?)",
			 d->count + 1, (now - d->stop_us) / 1000);
		logmsg("%s", why);
		fail_checkpoint(d, why);
		d->phase = PH_PEER_LOST;
		if (d->o.auto_failover)
			start_failover(d, "lost heartbeat (checkpoint timeout)");
	}
	if (d->fo_poll_at && now >= d->fo_poll_at && d->phase == PH_FAILOVER &&
	    !(d->fo_deadline && now >= d->fo_deadline))
		failover_poll(d);
	if (d->fo_deadline && now >= d->fo_deadline) {
		struct qmp_msg st;

		d->fo_deadline = 0;
		if (!qmp_call(d->qmp, "query-colo-status", NULL,
			      QMP_CMD_TIMEOUT_MS, &st)) {
			const char *mode = json_get_str(st.data, "mode");

			if (mode && !strcmp(mode, "none"))
				failover_finish(d, true, NULL);
			else
				failover_finish(d, false,
						"QEMU still in COLO 10 s after x-colo-lost-heartbeat");
			qmp_msg_free(&st);
		} else {
			failover_finish(d, false, qmp_errmsg(d->qmp));
		}
	}
	if (d->start_deadline && now >= d->start_deadline &&
	    d->phase == PH_WAIT_COLO)
		colod_exit_with(d, COLOD_EXIT_NO_COLO,
				"COLO did not start within %" PRId64 " ms",
				d->o.start_timeout_ms);
	for (k = 0; k < COLOD_MAX_CLIENTS; k++) {
		struct client *c = &d->clients[k];

		if (c->fd >= 0 && c->wait != WAIT_NONE && now >= c->deadline)
			client_reply(c, "error timed out");
	}
}

static int next_timeout_ms(struct colod *d)
{
	int64_t now = mono_us(), next = now + 1000000;
	int k;

#define CONSIDER(t) do { if ((t) && (t) < next) next = (t); } while (0)
	CONSIDER(d->deferred_at);
	if (d->trigger_inflight)
		CONSIDER(d->trigger_us + d->o.checkpoint_timeout_ms * 1000 + 1);
	if (d->stopped)
		CONSIDER(d->stop_us + d->o.checkpoint_timeout_ms * 1000 + 1);
	CONSIDER(d->fo_deadline);
	CONSIDER(d->fo_poll_at);
	CONSIDER(d->start_deadline);
	for (k = 0; k < COLOD_MAX_CLIENTS; k++)
		if (d->clients[k].fd >= 0 && d->clients[k].wait != WAIT_NONE)
			CONSIDER(d->clients[k].deadline);
#undef CONSIDER
	if (next <= now)
		return 0;
	return (int)((next - now + 999) / 1000);
}

/* ------------------------------------------------------------------------
 * setup
 */

static int call_or_log(struct colod *d, const char *cmd, const char *args,
		       struct qmp_msg *reply)
{
	int ret = qmp_call(d->qmp, cmd, args, QMP_CMD_TIMEOUT_MS, reply);

	if (ret)
		logmsg("%s", qmp_errmsg(d->qmp));
	return ret;
}

static int read_delay(struct colod *d)
{
	struct qmp_msg m;
	int64_t v;

	if (call_or_log(d, "query-migrate-parameters", NULL, &m))
		return -1;
	if (!json_get_int(m.data, "x-checkpoint-delay", &v) || v < 0) {
		logmsg("query-migrate-parameters has no x-checkpoint-delay: this QEMU has no COLO");
		qmp_msg_free(&m);
		return -1;
	}
	d->delay_ms = v;
	qmp_msg_free(&m);
	return 0;
}

static int set_delay(struct colod *d)
{
	char args[64];

	if (d->o.checkpoint_delay_ms < 0)
		return read_delay(d);
	snprintf(args, sizeof(args), "{\"x-checkpoint-delay\": %" PRId64 "}",
		 d->o.checkpoint_delay_ms);
	if (call_or_log(d, "migrate-set-parameters", args, NULL))
		return -1;
	d->delay_ms = d->o.checkpoint_delay_ms;
	return 0;
}

static int query_status(struct colod *d, char *buf, size_t len)
{
	struct qmp_msg m;
	const char *st;

	if (call_or_log(d, "query-status", NULL, &m))
		return -1;
	st = json_get_str(m.data, "status");
	snprintf(buf, len, "%s", st ?: "?");
	qmp_msg_free(&m);
	return 0;
}

static int set_caps(struct colod *d, bool colo)
{
	char args[256];

	snprintf(args, sizeof(args),
		 "{\"capabilities\": [%s{\"capability\": \"events\", \"state\": true}]}",
		 colo ? "{\"capability\": \"x-colo\", \"state\": true}, " : "");
	if (call_or_log(d, "migrate-set-capabilities", args, NULL))
		return -1;
	d->events_cap = true;
	return 0;
}

static int colo_start(struct colod *d)
{
	char st[32], args[512], uri[400];

	if (query_status(d, st, sizeof(st)))
		return -1;
	if (d->o.side == SIDE_SECONDARY) {
		if (strcmp(st, "inmigrate")) {
			logmsg("secondary QEMU is '%s', not 'inmigrate': start it with -incoming",
			       st);
			return -1;
		}
		if (set_caps(d, false))
			return -1;
		d->phase = PH_WAIT_COLO;
		logmsg("waiting for the primary's migration (QEMU %s)",
		       qmp_version(d->qmp));
		return 0;
	}
	if (!strcmp(st, "inmigrate")) {
		logmsg("primary QEMU is waiting for an incoming migration: it must not be started with -incoming");
		return -1;
	}
	if (set_caps(d, true) || set_delay(d))
		return -1;
	if (json_quote(uri, sizeof(uri), d->o.peer) >= sizeof(uri)) {
		logmsg("--peer URI too long");
		return -1;
	}
	snprintf(args, sizeof(args), "{\"uri\": %s}", uri);
	if (call_or_log(d, "migrate", args, NULL))
		return -1;
	d->phase = PH_WAIT_COLO;
	d->start_deadline = mono_us() + d->o.start_timeout_ms * 1000;
	logmsg("migrating to %s to start COLO (QEMU %s, x-checkpoint-delay %" PRId64 " ms)",
	       d->o.peer, qmp_version(d->qmp), d->delay_ms);
	return 0;
}

static int read_events_cap(struct colod *d)
{
	const struct json *caps;
	struct qmp_msg m;
	size_t k;

	if (call_or_log(d, "query-migrate-capabilities", NULL, &m))
		return -1;
	caps = m.data;
	for (k = 0; caps && caps->type == JSON_ARRAY && k < caps->n; k++) {
		const char *name = json_get_str(caps->v[k], "capability");
		bool on;

		if (name && !strcmp(name, "events") &&
		    json_get_bool(caps->v[k], "state", &on))
			d->events_cap = on;
	}
	qmp_msg_free(&m);
	if (!d->events_cap && d->o.side == SIDE_PRIMARY)
		logmsg("the `events' capability is off: every STOP in COLO is taken for a checkpoint");
	return 0;
}

/* query-colo-status mode into @buf ("none", "primary", "secondary"). */
static int colo_mode(struct colod *d, char *buf, size_t len)
{
	struct qmp_msg m;
	const char *mode;

	if (call_or_log(d, "query-colo-status", NULL, &m))
		return -1;
	mode = json_get_str(m.data, "mode");
	snprintf(buf, len, "%s", mode ?: "?");
	qmp_msg_free(&m);
	return 0;
}

static int colo_attach(struct colod *d)
{
	const char *want = d->o.side == SIDE_PRIMARY ? "primary" : "secondary";
	struct qmp_msg m;
	const char *mode;
	int ret = -1;

	if (d->o.side == SIDE_PRIMARY && set_delay(d))
		return -1;
	if (read_events_cap(d))
		return -1;
	if (call_or_log(d, "query-colo-status", NULL, &m))
		return -1;
	mode = json_get_str(m.data, "mode");
	if (mode && !strcmp(mode, want)) {
		d->phase = PH_COLO;
		logmsg("attached to QEMU %s in COLO (%s)", qmp_version(d->qmp),
		       want);
		ret = 0;
	} else {
		logmsg("QEMU is not in COLO as %s (query-colo-status mode=%s)",
		       want, mode ?: "?");
	}
	qmp_msg_free(&m);
	return ret;
}

/*
 * --wait-colo: attach if QEMU is in COLO already, else follow it into COLO
 * when someone else starts it (MIGRATION status colo), holding the kernel
 * registration and serving the control socket meanwhile.
 */
static int colo_wait(struct colod *d)
{
	const char *want = d->o.side == SIDE_PRIMARY ? "primary" : "secondary";
	char mode[32];

	if (colo_mode(d, mode, sizeof(mode)))
		return -1;
	if (!strcmp(mode, want))
		return colo_attach(d);
	if (strcmp(mode, "none")) {
		logmsg("QEMU is in COLO as %s, not as %s", mode, want);
		return -1;
	}
	if (d->o.side == SIDE_PRIMARY && set_delay(d))
		return -1;
	/* `events' tells a checkpoint from a plain stop; refused while migrating */
	if (qmp_call(d->qmp, "migrate-set-capabilities",
		     "{\"capabilities\": [{\"capability\": \"events\", \"state\": true}]}",
		     QMP_CMD_TIMEOUT_MS, NULL)) {
		dbg(d, "cannot set the events capability: %s", qmp_errmsg(d->qmp));
		if (read_events_cap(d))
			return -1;
	} else {
		d->events_cap = true;
	}
	d->phase = PH_WAIT_COLO;
	d->start_deadline = 0;
	logmsg("waiting for QEMU %s to enter COLO as %s (COLO is started by someone else)",
	       qmp_version(d->qmp), want);
	return 0;
}

static int nl_setup(struct colod *d)
{
	int ret, fl;

	ret = colo_nl_open(&d->nl);
	if (ret < 0) {
		logmsg("kernel: %s (use --no-proxy to drive QEMU only)",
		       colo_nl_strerror(ret));
		d->nl = NULL;
		return ret;
	}
	ret = colo_nl_proxy_init(d->nl, d->o.vm_id,
				 d->o.side == SIDE_PRIMARY ? COLO_MODE_PRIMARY :
				 COLO_MODE_SECONDARY,
				 d->o.hold_timeout_ms, d->o.queue_limit);
	if (ret < 0) {
		logmsg("kernel: proxy init for vm %u failed: %s", d->o.vm_id,
		       colo_nl_errmsg(d->nl, ret));
		return ret;
	}
	logmsg("kernel: vm %u registered as %s", d->o.vm_id,
	       d->o.side == SIDE_PRIMARY ? "primary" : "secondary");
	fl = fcntl(colo_nl_fd(d->nl), F_GETFL);
	if (fl >= 0)
		fcntl(colo_nl_fd(d->nl), F_SETFL, fl | O_NONBLOCK);
	return 0;
}

static void summary(struct colod *d)
{
	int64_t avg = d->count ? d->pause_sum_us / (int64_t)d->count : 0;

	logmsg("summary: %" PRIu64 " checkpoints (initial %" PRIu64 ", requested %" PRIu64
	       ", needed %" PRIu64 ", periodic %" PRIu64 ", loads %" PRIu64
	       ", other %" PRIu64 "), %" PRIu64 " coalesced, %" PRIu64 " failed; pause ms min/avg/max %.3f/%.3f/%.3f; failover: %s; exit: %s",
	       d->count, d->n_initial, d->n_requested, d->n_needed,
	       d->n_periodic, d->n_loads, d->n_other, d->n_coalesced, d->n_failed,
	       d->pause_min_us / 1000.0, avg / 1000.0, d->pause_max_us / 1000.0,
	       d->fo_done ? d->fo_reason : "none",
	       d->exit_why[0] ? d->exit_why : "?");
	if (d->o.side == SIDE_PRIMARY)
		logmsg("summary: QEMU 7.2's query-migrate reports only the status while in COLO: no transfer figures (last dirty-sync count %" PRId64 ")",
		       d->last_pass);
}

/* ------------------------------------------------------------------------
 * main
 */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: colod --vm ID --side primary|secondary --qmp PATH [options]\n"
"  --start                start COLO (primary: capabilities, parameters,\n"
"                         migrate to --peer; secondary: QEMU runs -incoming)\n"
"  --attach               attach to QEMU already in COLO (default)\n"
"  --wait-colo            register and wait for QEMU to enter COLO (started\n"
"                         by someone else); attach if it is in COLO already\n"
"  --peer URI             primary --start: migration URI of the secondary\n"
"  --min-interval MS      least guest run time between checkpoints (100)\n"
"  --checkpoint-delay MS  set QEMU's periodic x-checkpoint-delay\n"
"  --checkpoint-timeout MS  a checkpoint longer than this is a lost peer (10000)\n"
"  --start-timeout MS     --start: COLO must be reached within (60000)\n"
"  --qmp-timeout MS       wait for QEMU's QMP socket (30000)\n"
"  --failover auto|manual on peer loss: fail over at once (auto) or wait\n"
"  --no-proxy             drive QEMU only (no kernel modules)\n"
"  --hold-timeout MS, --queue-limit N   proxy init parameters\n"
"  --ctl PATH             control socket (default %s/vm<ID>.sock)\n"
"  -v, --verbose\n", COLO_NL_RUN_DIR);
}

static bool parse_num(const char *s, int64_t max, int64_t *v)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || end == s || *end || x < 0 || x > max)
		return false;
	*v = x;
	return true;
}

static int parse_opts(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "vm", required_argument, NULL, 'i' },
		{ "side", required_argument, NULL, 's' },
		{ "qmp", required_argument, NULL, 'q' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "peer", required_argument, NULL, 'p' },
		{ "start", no_argument, NULL, 'S' },
		{ "attach", no_argument, NULL, 'A' },
		{ "wait-colo", no_argument, NULL, 'w' },
		{ "min-interval", required_argument, NULL, 'm' },
		{ "checkpoint-delay", required_argument, NULL, 'd' },
		{ "checkpoint-timeout", required_argument, NULL, 'T' },
		{ "start-timeout", required_argument, NULL, 'W' },
		{ "qmp-timeout", required_argument, NULL, 'Q' },
		{ "failover", required_argument, NULL, 'f' },
		{ "no-proxy", no_argument, NULL, 'n' },
		{ "hold-timeout", required_argument, NULL, 'H' },
		{ "queue-limit", required_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool have_side = false, have_vm = false;
	int64_t v;
	int c;

	o->min_interval_ms = 100;
	o->checkpoint_delay_ms = -1;
	o->checkpoint_timeout_ms = 10000;
	o->start_timeout_ms = 60000;
	o->qmp_timeout_ms = 30000;
	o->auto_failover = true;
	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (!parse_num(optarg, COLO_VM_ID_MAX, &v) || !v) {
				logmsg("--vm: expected 1..%u, got '%s'",
				       COLO_VM_ID_MAX, optarg);
				return -1;
			}
			o->vm_id = (uint32_t)v;
			have_vm = true;
			break;
		case 's':
			if (!strcmp(optarg, "primary"))
				o->side = SIDE_PRIMARY;
			else if (!strcmp(optarg, "secondary"))
				o->side = SIDE_SECONDARY;
			else {
				logmsg("--side: expected primary or secondary, got '%s'",
				       optarg);
				return -1;
			}
			have_side = true;
			break;
		case 'q': o->qmp_path = optarg; break;
		case 'c': o->ctl_path = optarg; break;
		case 'p': o->peer = optarg; break;
		case 'S': o->start = true; break;
		case 'A': o->attach = true; break;
		case 'w': o->wait_colo = true; break;
		case 'n': o->no_proxy = true; break;
		case 'v': o->verbose = true; break;
		case 'f':
			if (!strcmp(optarg, "auto"))
				o->auto_failover = true;
			else if (!strcmp(optarg, "manual"))
				o->auto_failover = false;
			else {
				logmsg("--failover: expected auto or manual");
				return -1;
			}
			break;
		case 'm': case 'd': case 'T': case 'W': case 'Q': case 'H': case 'L':
			if (!parse_num(optarg, UINT32_MAX, &v)) {
				logmsg("%s: expected a number, got '%s'",
				       argv[optind - 1], optarg);
				return -1;
			}
			if (c == 'm') o->min_interval_ms = v;
			else if (c == 'd') o->checkpoint_delay_ms = v;
			else if (c == 'T') o->checkpoint_timeout_ms = v ?: 1;
			else if (c == 'W') o->start_timeout_ms = v ?: 1;
			else if (c == 'Q') o->qmp_timeout_ms = v;
			else if (c == 'H') o->hold_timeout_ms = v ? (uint32_t)v : COLO_NL_HOLD_TIMEOUT_NEVER;
			else o->queue_limit = (uint32_t)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		logmsg("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (!have_vm || !have_side || !o->qmp_path) {
		logmsg("--vm, --side and --qmp are required");
		usage(stderr);
		return -1;
	}
	if (o->start + o->attach + o->wait_colo > 1) {
		logmsg("--start, --attach and --wait-colo exclude each other");
		return -1;
	}
	if (o->start && o->side == SIDE_PRIMARY && !o->peer) {
		logmsg("--start on the primary needs --peer URI (e.g. tcp:192.0.2.2:8888)");
		return -1;
	}
	return 0;
}

static void loop(struct colod *d)
{
	struct pollfd pfd[4 + COLOD_MAX_CLIENTS];
	int map[4 + COLOD_MAX_CLIENTS];
	int n, k, ret, timeout;

	while (!d->quit) {
		drain_qmp(d);
		drain_nl(d, false);
		run_timers(d);
		if (d->quit)
			break;
		timeout = qmp_pending(d->qmp) ? 0 : next_timeout_ms(d);
		if (d->nl && colo_nl_event_pending(d->nl))
			timeout = 0;
		n = 0;
		pfd[n] = (struct pollfd){ .fd = qmp_fd(d->qmp), .events = POLLIN };
		map[n++] = -1;
		pfd[n] = (struct pollfd){ .fd = d->sig_fd, .events = POLLIN };
		map[n++] = -2;
		pfd[n] = (struct pollfd){ .fd = d->ctl_fd, .events = POLLIN };
		map[n++] = -3;
		if (d->nl) {
			pfd[n] = (struct pollfd){ .fd = colo_nl_fd(d->nl),
						  .events = POLLIN };
			map[n++] = -4;
		}
		for (k = 0; k < COLOD_MAX_CLIENTS; k++) {
			if (d->clients[k].fd < 0)
				continue;
			/* a waiting client is not read: one answer per line */
			pfd[n] = (struct pollfd){ .fd = d->clients[k].fd,
				.events = d->clients[k].wait ? 0 : POLLIN };
			map[n++] = k;
		}
		ret = poll(pfd, (nfds_t)n, timeout);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			colod_exit_with(d, COLOD_EXIT_SETUP, "poll: %s",
					strerror(errno));
			break;
		}
		for (k = 0; k < n && !d->quit; k++) {
			if (!pfd[k].revents)
				continue;
			switch (map[k]) {
			case -1:
				ret = qmp_input(d->qmp);
				drain_qmp(d);
				if (ret)
					qmp_lost(d, ret);
				break;
			case -2: {
				struct signalfd_siginfo si;

				if (read(d->sig_fd, &si, sizeof(si)) == sizeof(si))
					colod_exit_with(d, COLOD_EXIT_OK,
							"signal %s",
							strsignal((int)si.ssi_signo));
				break;
			}
			case -3:
				ctl_accept(d);
				break;
			case -4:
				drain_nl(d, true);
				break;
			default: {
				struct client *c = &d->clients[map[k]];

				if (pfd[k].revents & (POLLHUP | POLLERR) &&
				    c->wait != WAIT_NONE) {
					c->wait = WAIT_NONE;
					client_close(c);
				} else if (c->fd >= 0) {
					ctl_read(d, c);
				}
				break;
			}
			}
		}
	}
}

int main(int argc, char **argv)
{
	static struct colod dd;
	struct colod *d = &dd;
	sigset_t mask;
	int ret, k;

	d->ctl_fd = d->sig_fd = -1;
	for (k = 0; k < COLOD_MAX_CLIENTS; k++)
		d->clients[k].fd = -1;
	if (parse_opts(&d->o, argc, argv))
		return COLOD_EXIT_SETUP;
	g_log_ctx = d;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sig_fd < 0) {
		logmsg("signalfd: %s", strerror(errno));
		return COLOD_EXIT_SETUP;
	}

	ret = qmp_open(&d->qmp, d->o.qmp_path, (int)d->o.qmp_timeout_ms);
	if (ret) {
		logmsg("QMP %s: %s", d->o.qmp_path,
		       d->qmp ? qmp_errmsg(d->qmp) : strerror(-ret));
		qmp_close(d->qmp);
		return COLOD_EXIT_SETUP;
	}
	if (!d->o.no_proxy && nl_setup(d)) {
		colo_nl_close(d->nl);
		qmp_close(d->qmp);
		return COLOD_EXIT_SETUP;
	}
	if (ctl_open(d)) {
		colo_nl_close(d->nl);
		qmp_close(d->qmp);
		return COLOD_EXIT_SETUP;
	}
	ret = d->o.start ? colo_start(d) :
	      d->o.wait_colo ? colo_wait(d) : colo_attach(d);
	if (ret) {
		snprintf(d->exit_why, sizeof(d->exit_why), "COLO not %s",
			 d->o.start ? "started" : d->o.wait_colo ? "awaited" :
			 "attached");
		d->exit_code = COLOD_EXIT_NO_COLO;
	} else {
		logmsg("control socket %s%s", d->ctl_path,
		       d->nl ? "" : " (no proxy: QEMU only)");
		loop(d);
	}
	for (k = 0; k < COLOD_MAX_CLIENTS; k++) {
		if (d->clients[k].fd >= 0 && d->clients[k].wait != WAIT_NONE)
			client_reply(&d->clients[k], "error colod exiting");
		client_close(&d->clients[k]);
	}
	summary(d);
	if (d->ctl_fd >= 0) {
		close(d->ctl_fd);
		unlink(d->ctl_path);
	}
	/* closing the netlink socket tears the VM down in the kernel */
	colo_nl_close(d->nl);
	qmp_close(d->qmp);
	close(d->sig_fd);
	return d->exit_code;
}

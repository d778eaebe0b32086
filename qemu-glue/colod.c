// SPDX-License-Identifier: GPL-2.0
/*
 * colod.c - COLO daemon: drives stock QEMU's COLO over QMP and the colo-proxy
 * kernel modules over generic netlink, one process per protected VM and side.
 *
 * Objects: colod.o colod-ctl.o colod-fsm.o colod-setup.o qmp.o + libcolo-nl.a
 * (-lmnl).
 *
 * The decisions are colod-fsm.c's (a state machine without I/O); this file
 * turns what it reads into the machine's events and carries out the actions
 * it returns. One poll() loop, no threads, and no waiting inside it: QMP
 * commands are sent and their replies handled as events when they come;
 * kernel requests are acked inside sendmsg() (a lost ack is waited for at
 * most COLOD_NL_ACK_MS). Timing does not decide what the kernel releases:
 * CHECKPOINT_BEGIN carries the QMP STOP event's own timestamp (the guest's
 * real stop, on the clock the primary's kernel shares), DONE is sent at the
 * RESUME that QEMU emits after the secondary loaded the state.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "colod.h"

struct colod *g_log_ctx;

int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void logmsg(const char *fmt, ...)
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
 * QMP commands in flight
 */

int qmp_async(struct colod *d, enum qmp_kind kind, const char *cmd,
		     const json_t *args, int client)
{
	int64_t id;
	int k, ret;

	for (k = 0; k < COLOD_MAX_QMP_CMDS && d->cmds[k].kind != QK_NONE; k++)
		;
	if (k == COLOD_MAX_QMP_CMDS) {
		logmsg("QMP: too many commands in flight: %s not sent", cmd);
		return -EBUSY;
	}
	ret = qmp_send(d->qmp, cmd, args, &id);
	if (ret)
		return ret;
	d->cmds[k] = (struct qmp_cmd){ .id = id, .kind = kind, .client = client };
	return 0;
}

static bool qmp_take(struct colod *d, int64_t id, struct qmp_cmd *out)
{
	int k;

	for (k = 0; k < COLOD_MAX_QMP_CMDS; k++) {
		if (d->cmds[k].kind != QK_NONE && d->cmds[k].id == id) {
			*out = d->cmds[k];
			d->cmds[k].kind = QK_NONE;
			return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------------------
 * the state machine's actions
 */

static const char *kind_reason(struct colod *d, enum colod_kind kind)
{
	switch (kind) {
	case CK_INITIAL:	return "initial";
	case CK_TRIGGERED:	return d->trigger_reason;
	case CK_PERIODIC:	return "periodic";
	case CK_LOAD:		return "load";
	case CK_NONE:		break;
	}
	return "other";
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
	else if (!strncmp(reason, "needed", 6) || !strcmp(reason, "overrun") ||
		 !strcmp(reason, "attach"))
		d->n_needed++;
	else
		d->n_other++;
}

static void checkpoint_done(struct colod *d, enum colod_kind kind)
{
	const struct colod_fsm *f = &d->fsm;
	const char *reason = kind_reason(d, kind);
	int64_t pause = f->last_pause_us;

	count_reason(d, reason);
	snprintf(d->last_reason, sizeof(d->last_reason), "%s", reason);
	d->pause_sum_us += pause;
	if (f->count == 1 || pause < d->pause_min_us)
		d->pause_min_us = pause;
	if (pause > d->pause_max_us)
		d->pause_max_us = pause;
	if (d->o.side == SIDE_PRIMARY && d->last_pass > 0)
		logmsg("checkpoint %" PRIu64 " reason=%s pause=%.3f ms dirty-sync=%" PRId64,
		       f->count, reason, pause / 1000.0, d->last_pass);
	else
		logmsg("checkpoint %" PRIu64 " reason=%s pause=%.3f ms",
		       f->count, reason, pause / 1000.0);
	answer_waiters(d, WAIT_CHECKPOINT, true, NULL);
}

/* Kernel actions; on failure the event to feed back, else CE_NR_EVENTS. */
static enum colod_ev kernel_act(struct colod *d, enum colod_act a,
				const struct colod_out *o)
{
	uint64_t ns;
	int ret = 0;

	if (!d->nl)
		return CE_NR_EVENTS;
	switch (a) {
	case ACT_BEGIN:
		ns = o->stop_ts_us > 0 ? (uint64_t)o->stop_ts_us * 1000 : 0;
		if (!ns && !d->warned_no_ts) {
			d->warned_no_ts = true;
			logmsg("QMP STOP without a timestamp: the kernel cuts the epoch when BEGIN arrives");
		}
		ret = colo_nl_checkpoint_begin_at(d->nl, d->o.vm_id, ns);
		dbg(d, "kernel: checkpoint begin (stop %" PRIu64 " ns): %d", ns, ret);
		if (ret < 0) {
			logmsg("kernel: checkpoint begin failed: %s",
			       colo_nl_errmsg(d->nl, ret));
			return EV_BEGIN_ERR;
		}
		break;
	case ACT_DONE:
		ret = colo_nl_checkpoint_done(d->nl, d->o.vm_id);
		if (ret < 0) {
			logmsg("kernel: checkpoint done failed: %s",
			       colo_nl_errmsg(d->nl, ret));
			return EV_DONE_ERR;
		}
		dbg(d, "kernel: checkpoint done");
		break;
	case ACT_RELEASE:
		ret = colo_nl_checkpoint_begin(d->nl, d->o.vm_id);
		if (!ret)
			ret = colo_nl_checkpoint_done(d->nl, d->o.vm_id);
		if (ret < 0) {
			logmsg("kernel: releasing the output held before COLO failed: %s",
			       colo_nl_errmsg(d->nl, ret));
			return EV_RELEASE_ERR;
		}
		d->n_released_before_colo++;
		if (d->n_released_before_colo == 1 || d->o.verbose)
			logmsg("kernel: CHECKPOINT_NEEDED (%s) before COLO started: released the held output (no secondary yet)",
			       d->want_reason[0] ? d->want_reason : "?");
		d->want_reason[0] = '\0';
		break;
	case ACT_KERNEL_FAILOVER:
		ret = colo_nl_failover(d->nl, d->o.vm_id);
		if (ret < 0)
			logmsg("kernel: failover failed: %s",
			       colo_nl_errmsg(d->nl, ret));
		else
			dbg(d, "kernel: failover");
		break;
	default:
		break;
	}
	return CE_NR_EVENTS;
}

static void qmp_act(struct colod *d, enum colod_act a, const struct colod_out *o,
		    enum colod_ev *err_ev)
{
	json_t *args;
	int ret;

	switch (a) {
	case ACT_TRIGGER:
		/* a retry keeps the reason of the request it serves */
		if (d->want_reason[0] || !d->trigger_reason[0])
			snprintf(d->trigger_reason, sizeof(d->trigger_reason),
				 "%s", d->want_reason[0] ? d->want_reason :
				 "request");
		args = json_pack("{s:I}", "x-checkpoint-delay",
				 (json_int_t)d->delay_ms);
		ret = args ? qmp_async(d, QK_TRIGGER, "migrate-set-parameters",
				       args, -1) : -ENOMEM;
		json_decref(args);
		if (ret) {
			logmsg("cannot request a checkpoint from QEMU: %s",
			       qmp_errmsg(d->qmp));
			*err_ev = EV_TRIGGER_ERR;
			return;
		}
		dbg(d, "checkpoint requested (%s)", d->trigger_reason);
		d->want_reason[0] = '\0';
		break;
	case ACT_HEARTBEAT:
		snprintf(d->fo_reason, sizeof(d->fo_reason), "%s",
			 o->log ?: "requested");
		logmsg("failover: %s", d->fo_reason);
		if (qmp_async(d, QK_HEARTBEAT, "x-colo-lost-heartbeat", NULL, -1))
			*err_ev = EV_HB_ERR;
		break;
	case ACT_QUERY_COLO:
		if (qmp_async(d, QK_QUERY_COLO, "query-colo-status", NULL, -1))
			*err_ev = EV_COLO_ACTIVE;
		break;
	case ACT_ENSURE_RUNNING:
		if (qmp_async(d, QK_QUERY_STATUS, "query-status", NULL, -1))
			logmsg("query-status after failover: %s", qmp_errmsg(d->qmp));
		break;
	default:
		break;
	}
}

static void carry_out(struct colod *d, struct colod_out *o, uint64_t failed)
{
	enum colod_ev err[4];
	unsigned int n_err = 0, a;

	for (a = 0; a < CA_NR_ACTS; a++) {
		enum colod_ev e = CE_NR_EVENTS;

		if (!(o->acts & COLOD_ACT(a)))
			continue;
		dbg(d, "fsm: %s/%s: %s", colod_phase_name(d->fsm.phase),
		    colod_step_name(d->fsm.step), colod_act_name(a));
		switch (a) {
		case ACT_BEGIN:
		case ACT_DONE:
		case ACT_RELEASE:
		case ACT_KERNEL_FAILOVER:
			e = kernel_act(d, a, o);
			if (e == EV_DONE_ERR)
				o->acts &= ~COLOD_ACT(ACT_CP_DONE);
			break;
		case ACT_TRIGGER:
		case ACT_HEARTBEAT:
		case ACT_QUERY_COLO:
		case ACT_ENSURE_RUNNING:
			qmp_act(d, a, o, &e);
			break;
		case ACT_CP_DONE:
			checkpoint_done(d, o->kind);
			break;
		case ACT_CP_FAILED:
			if (d->fsm.n_failed > failed)
				logmsg("checkpoint %" PRIu64 " failed: %s",
				       d->fsm.count + 1, o->why);
			answer_waiters(d, WAIT_CHECKPOINT, false, o->why);
			break;
		case ACT_FO_DONE:
			if (!d->fo_done)
				logmsg("failover done (%s): running alone after %" PRIu64 " checkpoints",
				       d->fo_reason, d->fsm.count);
			d->fo_done = true;
			answer_waiters(d, WAIT_FAILOVER, true, NULL);
			break;
		case ACT_FO_FAILED:
			logmsg("failover failed: %s", o->why);
			answer_waiters(d, WAIT_FAILOVER, false, o->why);
			break;
		case ACT_LOG:
			if (!(o->acts & COLOD_ACT(ACT_HEARTBEAT)))
				logmsg("%s", o->log);
			break;
		}
		if (e != CE_NR_EVENTS && n_err < 4)
			err[n_err++] = e;
	}
	for (a = 0; a < n_err; a++)
		fsm_event(d, err[a], -1, NULL);
}

void fsm_event(struct colod *d, enum colod_ev ev, int64_t ts_us,
	       const char *why)
{
	struct colod_in in = { .now_us = mono_us(), .ts_us = ts_us, .why = why };
	uint64_t failed = d->fsm.n_failed;
	struct colod_out out;

	colod_fsm_step(&d->fsm, ev, &in, &out);
	carry_out(d, &out, failed);
}

/* A checkpoint is needed; returns the request's number. */
uint64_t request_checkpoint(struct colod *d, const char *reason)
{
	if (!colod_fsm_wanted(&d->fsm) && d->fsm.step != CS_TRIGGERED)
		snprintf(d->want_reason, sizeof(d->want_reason), "%s", reason);
	fsm_event(d, EV_REQUEST, -1, NULL);
	return d->fsm.req_gen;
}

/* ------------------------------------------------------------------------
 * QMP
 */

static void on_reply(struct colod *d, const struct qmp_msg *m)
{
	bool ok = m->type == QMP_MSG_RETURN;
	struct qmp_cmd cmd;
	char err[256];
	const char *s;

	if (!m->has_id || !qmp_take(d, m->id, &cmd)) {
		logmsg("QMP: ignoring a reply to no pending command%s%s",
		       ok ? "" : ": ", ok ? "" : m->err_desc);
		return;
	}
	snprintf(err, sizeof(err), "%s", ok ? "" : m->err_desc ?: "?");
	switch (cmd.kind) {
	case QK_TRIGGER:
		if (ok) {
			fsm_event(d, EV_TRIGGER_OK, -1, NULL);
		} else {
			snprintf(err, sizeof(err), "QEMU refused the checkpoint: %s",
				 m->err_desc ?: "?");
			fsm_event(d, EV_TRIGGER_ERR, -1, err);
		}
		break;
	case QK_HEARTBEAT:
		if (ok) {
			dbg(d, "x-colo-lost-heartbeat accepted");
		} else {
			/* e.g. "The feature 'colo' is not enabled": COLO left */
			logmsg("x-colo-lost-heartbeat: %s", err);
		}
		fsm_event(d, ok ? EV_HB_OK : EV_HB_ERR, -1, NULL);
		break;
	case QK_QUERY_COLO:
		s = ok ? qmp_get_str(m->data, "mode") : NULL;
		fsm_event(d, s && !strcmp(s, "none") ? EV_COLO_NONE :
			  EV_COLO_ACTIVE, -1, NULL);
		break;
	case QK_QUERY_STATUS:
		/* the survivor must run; 7.2 resumes it, but do not rely on it */
		s = ok ? qmp_get_str(m->data, "status") : NULL;
		if (s && strcmp(s, "running")) {
			logmsg("guest is '%s' after failover: sending cont", s);
			if (qmp_async(d, QK_CONT, "cont", NULL, -1))
				logmsg("cont failed: %s", qmp_errmsg(d->qmp));
		}
		break;
	case QK_CONT:
		if (!ok)
			logmsg("cont failed: %s", err);
		break;
	case QK_STATUS:
		if (cmd.client >= 0 && d->clients[cmd.client].wait == WAIT_STATUS)
			on_status_reply(d, &d->clients[cmd.client], ok ? m : NULL);
		break;
	case QK_NONE:
		break;
	}
}

static void on_event(struct colod *d, const struct qmp_msg *m)
{
	const char *st, *reason;
	int64_t pass;

	dbg(d, "event %s", m->event);
	if (!strcmp(m->event, "STOP")) {
		fsm_event(d, EV_STOP, m->ts_us, NULL);
	} else if (!strcmp(m->event, "RESUME")) {
		fsm_event(d, EV_RESUME, m->ts_us, NULL);
	} else if (!strcmp(m->event, "MIGRATION_PASS")) {
		if (qmp_get_int(m->data, "pass", &pass))
			d->last_pass = pass;
		fsm_event(d, EV_PASS, m->ts_us, NULL);
	} else if (!strcmp(m->event, "MIGRATION")) {
		st = qmp_get_str(m->data, "status");
		if (!st)
			return;
		dbg(d, "MIGRATION status=%s", st);
		if (!strcmp(st, "colo")) {
			d->start_deadline = 0;
			fsm_event(d, EV_COLO_ENTERED, -1, NULL);
		} else if (!strcmp(st, "completed")) {
			fsm_event(d, EV_MIGRATION_DONE, -1, NULL);
		} else if ((!strcmp(st, "failed") || !strcmp(st, "cancelled")) &&
			   d->fsm.phase == CP_WAIT_COLO) {
			fsm_event(d, EV_MIGRATION_FAILED, -1, NULL);
			if (d->o.wait_colo)
				logmsg("migration %s: still waiting for COLO", st);
			else
				colod_exit_with(d, COLOD_EXIT_NO_COLO,
						"migration to the secondary %s: COLO not started",
						st);
		}
	} else if (!strcmp(m->event, "COLO_EXIT")) {
		st = qmp_get_str(m->data, "mode");
		reason = qmp_get_str(m->data, "reason");
		logmsg("COLO_EXIT mode=%s reason=%s", st ?: "?", reason ?: "?");
		if (reason && !strcmp(reason, "request")) {
			if (d->fsm.phase != CP_FAILOVER)
				snprintf(d->fo_reason, sizeof(d->fo_reason),
					 "requested to QEMU directly");
			fsm_event(d, EV_COLO_EXIT_REQUEST, -1, NULL);
		} else {
			fsm_event(d, EV_COLO_EXIT_ERROR, -1, NULL);
		}
	} else if (!strcmp(m->event, "SHUTDOWN")) {
		reason = qmp_get_str(m->data, "reason");
		d->shutdown_seen = true;
		snprintf(d->shutdown_reason, sizeof(d->shutdown_reason), "%s",
			 reason ?: "?");
	}
}

static void handle_msg(struct colod *d, struct qmp_msg *m)
{
	switch (m->type) {
	case QMP_MSG_EVENT:
		on_event(d, m);
		break;
	case QMP_MSG_RETURN:
	case QMP_MSG_ERROR:
		on_reply(d, m);
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

	if (d->fsm.step == CS_STOPPED || d->fsm.step == CS_CHECKPOINT ||
	    d->fsm.step == CS_STUCK)
		snprintf(why, sizeof(why),
			 "QEMU gone during checkpoint %" PRIu64 " (guest stopped %.1f ms before): %s",
			 d->fsm.count + 1, (mono_us() - d->fsm.stop_at) / 1000.0,
			 qmp_errmsg(d->qmp));
	else
		snprintf(why, sizeof(why), "QEMU gone: %s", qmp_errmsg(d->qmp));
	logmsg("%s", why);
	answer_waiters(d, WAIT_CHECKPOINT, false, err == -EPIPE ?
		       "QEMU disconnected" : "QMP protocol error");
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

static void drain_nl(struct colod *d, bool read_socket)
{
	struct colo_nl_event ev;
	char reason[48];
	int ret;

	if (!d->nl)
		return;
	while (!d->quit && (read_socket || colo_nl_event_pending(d->nl))) {
		read_socket = false;
		ret = colo_nl_recv_event(d->nl, &ev);
		if (ret == -ENOBUFS) {
			logmsg("kernel: notifications lost (receive buffer overrun): checkpointing");
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
		if (d->o.side != SIDE_PRIMARY || d->fsm.phase == CP_STANDALONE)
			logmsg("kernel: CHECKPOINT_NEEDED (%s) ignored: %s",
			       reason, colod_phase_name(d->fsm.phase));
		else
			request_checkpoint(d, reason);
	}
}

/* ------------------------------------------------------------------------
 * timers and the loop
 */

static void run_timers(struct colod *d)
{
	int64_t now = mono_us(), next = colod_fsm_next(&d->fsm);
	int k;

	if (next && now >= next)
		fsm_event(d, EV_TICK, -1, NULL);
	if (d->start_deadline && now >= d->start_deadline &&
	    d->fsm.phase == CP_WAIT_COLO)
		colod_exit_with(d, COLOD_EXIT_NO_COLO,
				"COLO did not start within %" PRId64 " ms",
				d->o.start_timeout_ms);
	for (k = 0; k < COLOD_MAX_CLIENTS; k++) {
		struct client *c = &d->clients[k];

		if (c->fd < 0 || c->wait == WAIT_NONE || now < c->deadline)
			continue;
		if (c->wait == WAIT_STATUS)
			on_status_reply(d, c, NULL);
		else
			client_reply(c, "error timed out");
	}
}

static int next_timeout_ms(struct colod *d)
{
	int64_t now = mono_us(), next = now + 1000000;
	int k;

#define CONSIDER(t) do { if ((t) && (t) < next) next = (t); } while (0)
	CONSIDER(colod_fsm_next(&d->fsm));
	CONSIDER(d->start_deadline);
	for (k = 0; k < COLOD_MAX_CLIENTS; k++)
		if (d->clients[k].fd >= 0 && d->clients[k].wait != WAIT_NONE)
			CONSIDER(d->clients[k].deadline);
#undef CONSIDER
	if (next <= now)
		return 0;
	return (int)((next - now + 999) / 1000);
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
	if (colod_parse_opts(&d->o, argc, argv))
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
	if (!d->o.no_proxy && colod_nl_setup(d)) {
		colo_nl_close(d->nl);
		qmp_close(d->qmp);
		return COLOD_EXIT_SETUP;
	}
	if (ctl_open(d)) {
		colo_nl_close(d->nl);
		qmp_close(d->qmp);
		return COLOD_EXIT_SETUP;
	}
	ret = colod_qemu_setup(d);
	if (ret) {
		snprintf(d->exit_why, sizeof(d->exit_why), "COLO not %s",
			 d->o.start ? "started" : d->o.wait_colo ? "awaited" :
			 "attached");
		d->exit_code = COLOD_EXIT_NO_COLO;
	} else {
		logmsg("control socket %s%s; failover policy %s", d->ctl_path,
		       d->nl ? "" : " (no proxy: QEMU only)",
		       d->o.auto_failover ? "auto" : "manual");
		/*
		 * Re-attached with a fresh registration: the kernel knows
		 * nothing of the connections' compare state; resume with a
		 * checkpoint rather than wait for the first notice.
		 */
		if (d->nl && d->fsm.phase == CP_COLO &&
		    d->o.side == SIDE_PRIMARY)
			request_checkpoint(d, "attach");
		loop(d);
	}
	for (k = 0; k < COLOD_MAX_CLIENTS; k++) {
		if (d->clients[k].fd >= 0 && d->clients[k].wait != WAIT_NONE)
			client_reply(&d->clients[k], "error colod exiting");
		client_close(&d->clients[k]);
	}
	colod_summary(d);
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

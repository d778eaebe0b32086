// SPDX-License-Identifier: GPL-2.0
/*
 * colod-setup.c - colod's options and what happens before its event loop:
 * QEMU brought into (or found in) COLO, the kernel registration. These steps
 * may wait (with timeouts): nothing is protected yet, no event is pending.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "colod.h"

static int call_or_log(struct colod *d, const char *cmd, const json_t *args,
		       struct qmp_msg *reply)
{
	int ret = qmp_call(d->qmp, cmd, args, QMP_CMD_TIMEOUT_MS, reply);

	if (ret)
		logmsg("%s", qmp_errmsg(d->qmp));
	return ret;
}

/* call_or_log with arguments built by json_pack(@fmt, ...) */
static int call_or_logf(struct colod *d, const char *cmd, const char *fmt, ...)
{
	json_error_t e;
	json_t *args;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	args = json_vpack_ex(&e, 0, fmt, ap);
	va_end(ap);
	if (!args) {
		logmsg("%s: cannot build the arguments: %s", cmd, e.text);
		return -1;
	}
	ret = call_or_log(d, cmd, args, NULL);
	json_decref(args);
	return ret;
}

static int read_delay(struct colod *d)
{
	struct qmp_msg m;
	int64_t v;

	if (call_or_log(d, "query-migrate-parameters", NULL, &m))
		return -1;
	if (!qmp_get_int(m.data, "x-checkpoint-delay", &v) || v < 0) {
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
	if (d->o.checkpoint_delay_ms < 0)
		return read_delay(d);
	if (call_or_logf(d, "migrate-set-parameters", "{s:I}",
			 "x-checkpoint-delay",
			 (json_int_t)d->o.checkpoint_delay_ms))
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
	st = qmp_get_str(m.data, "status");
	snprintf(buf, len, "%s", st ?: "?");
	qmp_msg_free(&m);
	return 0;
}

static int set_caps(struct colod *d, bool colo)
{
	int ret;

	if (colo)
		ret = call_or_logf(d, "migrate-set-capabilities", "{s:[{s:s,s:b},{s:s,s:b}]}",
				   "capabilities", "capability", "x-colo", "state", 1,
				   "capability", "events", "state", 1);
	else
		ret = call_or_logf(d, "migrate-set-capabilities", "{s:[{s:s,s:b}]}",
				   "capabilities", "capability", "events", "state", 1);
	if (ret)
		return -1;
	d->events_cap = true;
	return 0;
}

/*
 * Without `events' there is no MIGRATION_PASS: a user's stop/cont could not
 * be told from a checkpoint and would release held output. A primary does
 * not run without it.
 */
static int need_events(struct colod *d)
{
	if (d->events_cap || d->o.side != SIDE_PRIMARY)
		return 0;
	logmsg("the `events' migration capability is off (QEMU refuses to set it while migrating): without MIGRATION_PASS a user's stop/cont would be taken for a checkpoint and release held output; refusing to run (start COLO with `events' on, as colod --start does)");
	return -1;
}

static int read_events_cap(struct colod *d)
{
	struct qmp_msg m;
	json_t *cap;
	size_t k;

	if (call_or_log(d, "query-migrate-capabilities", NULL, &m))
		return -1;
	/* json_array_foreach does nothing on what is not an array */
	json_array_foreach(m.data, k, cap) {
		const char *name = qmp_get_str(cap, "capability");
		bool on;

		if (name && !strcmp(name, "events") &&
		    qmp_get_bool(cap, "state", &on))
			d->events_cap = on;
	}
	qmp_msg_free(&m);
	return 0;
}

/* events on if QEMU lets us (not while migrating), else whatever it is */
static int ensure_events(struct colod *d)
{
	json_t *args;

	if (read_events_cap(d))
		return -1;
	if (d->events_cap)
		return need_events(d);
	args = json_pack("{s:[{s:s,s:b}]}", "capabilities", "capability",
			 "events", "state", 1);
	if (args && !qmp_call(d->qmp, "migrate-set-capabilities", args,
			      QMP_CMD_TIMEOUT_MS, NULL))
		d->events_cap = true;
	json_decref(args);
	return need_events(d);
}

static int colo_start(struct colod *d, enum colod_phase *ph)
{
	char st[32];

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
		*ph = CP_WAIT_COLO;
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
	if (strlen(d->o.peer) >= 400) {
		logmsg("--peer URI too long");
		return -1;
	}
	if (call_or_logf(d, "migrate", "{s:s}", "uri", d->o.peer))
		return -1;
	*ph = CP_WAIT_COLO;
	d->start_deadline = mono_us() + d->o.start_timeout_ms * 1000;
	logmsg("migrating to %s to start COLO (QEMU %s, x-checkpoint-delay %" PRId64 " ms)",
	       d->o.peer, qmp_version(d->qmp), d->delay_ms);
	return 0;
}

/* query-colo-status mode into @buf ("none", "primary", "secondary"). */
static int colo_mode(struct colod *d, char *buf, size_t len)
{
	struct qmp_msg m;
	const char *mode;

	if (call_or_log(d, "query-colo-status", NULL, &m))
		return -1;
	mode = qmp_get_str(m.data, "mode");
	snprintf(buf, len, "%s", mode ?: "?");
	qmp_msg_free(&m);
	return 0;
}

static int colo_attach(struct colod *d, enum colod_phase *ph)
{
	const char *want = d->o.side == SIDE_PRIMARY ? "primary" : "secondary";
	char mode[32];

	if (d->o.side == SIDE_PRIMARY && set_delay(d))
		return -1;
	if (ensure_events(d) || colo_mode(d, mode, sizeof(mode)))
		return -1;
	if (strcmp(mode, want)) {
		logmsg("QEMU is not in COLO as %s (query-colo-status mode=%s)",
		       want, mode);
		return -1;
	}
	*ph = CP_COLO;
	logmsg("attached to QEMU %s in COLO (%s)", qmp_version(d->qmp), want);
	return 0;
}

/*
 * --wait-colo: attach if QEMU is in COLO already, else follow it into COLO
 * when someone else starts it (MIGRATION status colo), holding the kernel
 * registration and serving the control socket meanwhile.
 */
static int colo_wait(struct colod *d, enum colod_phase *ph)
{
	const char *want = d->o.side == SIDE_PRIMARY ? "primary" : "secondary";
	char mode[32];

	if (colo_mode(d, mode, sizeof(mode)))
		return -1;
	if (!strcmp(mode, want))
		return colo_attach(d, ph);
	if (strcmp(mode, "none")) {
		logmsg("QEMU is in COLO as %s, not as %s", mode, want);
		return -1;
	}
	if (d->o.side == SIDE_PRIMARY && set_delay(d))
		return -1;
	if (ensure_events(d))
		return -1;
	*ph = CP_WAIT_COLO;
	d->start_deadline = 0;
	logmsg("waiting for QEMU %s to enter COLO as %s (COLO is started by someone else)",
	       qmp_version(d->qmp), want);
	return 0;
}

int colod_qemu_setup(struct colod *d)
{
	struct colod_fsm_cfg cfg = {
		.primary = d->o.side == SIDE_PRIMARY,
		.auto_failover = d->o.auto_failover,
		.min_interval_us = d->o.min_interval_ms * 1000,
		.cp_timeout_us = d->o.checkpoint_timeout_ms * 1000,
		.trigger_timeout_us = d->o.checkpoint_timeout_ms * 1000,
		.retry_us = 1000000,
		.fo_timeout_us = 10 * 1000000LL,
	};
	enum colod_phase ph = CP_WAIT_COLO;
	int ret;

	if (cfg.retry_us < cfg.min_interval_us)
		cfg.retry_us = cfg.min_interval_us;
	ret = d->o.start ? colo_start(d, &ph) :
	      d->o.wait_colo ? colo_wait(d, &ph) : colo_attach(d, &ph);
	colod_fsm_init(&d->fsm, &cfg, ph);
	return ret;
}

int colod_nl_setup(struct colod *d)
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
				 COLO_MODE_SECONDARY, &d->o.limits);
	if (ret < 0) {
		logmsg("kernel: proxy init for vm %u failed: %s", d->o.vm_id,
		       colo_nl_errmsg(d->nl, ret));
		return ret;
	}
	logmsg("kernel: vm %u registered as %s", d->o.vm_id,
	       d->o.side == SIDE_PRIMARY ? "primary" : "secondary");
	/* the ack is there when sendmsg returns; a lost one waits this long */
	colo_nl_set_ack_timeout(d->nl, COLOD_NL_ACK_MS);
	fl = fcntl(colo_nl_fd(d->nl), F_GETFL);
	if (fl >= 0)
		fcntl(colo_nl_fd(d->nl), F_SETFL, fl | O_NONBLOCK);
	return 0;
}

void colod_summary(struct colod *d)
{
	const struct colod_fsm *f = &d->fsm;
	int64_t avg = f->count ? d->pause_sum_us / (int64_t)f->count : 0;

	logmsg("summary: %" PRIu64 " checkpoints (initial %" PRIu64 ", requested %" PRIu64
	       ", needed %" PRIu64 ", periodic %" PRIu64 ", loads %" PRIu64
	       ", other %" PRIu64 "), %" PRIu64 " coalesced, %" PRIu64 " failed, %" PRIu64
	       " user pauses, %" PRIu64 " stuck; pause ms min/avg/max %.3f/%.3f/%.3f; failover: %s; exit: %s",
	       f->count, d->n_initial, d->n_requested, d->n_needed,
	       d->n_periodic, d->n_loads, d->n_other, f->n_coalesced,
	       f->n_failed, f->n_user_pauses, f->n_stuck,
	       d->pause_min_us / 1000.0, avg / 1000.0, d->pause_max_us / 1000.0,
	       d->fo_done ? d->fo_reason : "none",
	       d->exit_why[0] ? d->exit_why : "?");
	if (d->o.side == SIDE_PRIMARY)
		logmsg("summary: QEMU 7.2's query-migrate reports only the status while in COLO: no transfer figures (last dirty-sync count %" PRId64 ")",
		       d->last_pass);
}

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
"  --checkpoint-timeout MS  a checkpoint longer than this is stuck (10000)\n"
"  --start-timeout MS     --start: COLO must be reached within (60000)\n"
"  --qmp-timeout MS       wait for QEMU's QMP socket (30000)\n"
"  --failover manual|auto on peer loss: wait for a request (manual, the\n"
"                         default) or fail over at once (auto: one side only)\n"
"  --no-proxy             drive QEMU only (no kernel modules)\n"
"  --hold-timeout MS, --queue-limit N, --mem-limit KIB, --conn-limit N\n"
"                                 proxy init parameters\n"
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
int colod_parse_opts(struct opts *o, int argc, char **argv)
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
		{ "mem-limit", required_argument, NULL, 'M' },
		{ "conn-limit", required_argument, NULL, 'C' },
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
	o->auto_failover = false;
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
		case 'M': case 'C':
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
			else if (c == 'H') o->limits.hold_timeout_ms = v ? (uint32_t)v : COLO_NL_HOLD_TIMEOUT_NEVER;
			else if (c == 'M' && v && v < COLO_MIN_MEM_LIMIT_KB) {
				logmsg("--mem-limit: at least %u KiB (or 0: the kernel's default)",
				       COLO_MIN_MEM_LIMIT_KB);
				return -1;
			} else if (c == 'M') o->limits.mem_limit_kb = (uint32_t)v;
			else if (c == 'C') o->limits.conn_limit = (uint32_t)v;
			else o->limits.queue_limit = (uint32_t)v;
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

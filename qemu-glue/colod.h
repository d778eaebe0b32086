/* SPDX-License-Identifier: GPL-2.0 */
/*
 * colod.h - what colod.c (event loop, actions), colod-ctl.c (control socket)
 * and colod-setup.c (options, bringing QEMU and the kernel up before the
 * loop) share.
 */
#ifndef COLOD_H
#define COLOD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "colo-nl.h"
#include "colod-fsm.h"
#include "qmp.h"

#define COLOD_MAX_CLIENTS	16
#define COLOD_LINE_MAX		256
#define COLOD_MAX_QMP_CMDS	32
#define QMP_CMD_TIMEOUT_MS	5000
#define COLOD_NL_ACK_MS		500

enum colod_exit {
	COLOD_EXIT_OK = 0,		/* signal, or QEMU quit after shutdown */
	COLOD_EXIT_SETUP = 1,		/* options, QMP, netlink, control socket */
	COLOD_EXIT_NO_COLO = 2,		/* COLO could not be started/attached */
	COLOD_EXIT_QEMU_LOST = 3,	/* QEMU disappeared or broke QMP */
};

enum side { SIDE_PRIMARY, SIDE_SECONDARY };

enum wait_kind { WAIT_NONE, WAIT_CHECKPOINT, WAIT_FAILOVER, WAIT_STATUS };

struct client {
	int fd;
	char buf[COLOD_LINE_MAX + 1];
	size_t len;
	enum wait_kind wait;
	uint64_t target;	/* request number a checkpoint must cover */
	int64_t deadline;
};

/* QMP commands sent from the loop; their replies are events. */
enum qmp_kind {
	QK_NONE,
	QK_TRIGGER,		/* migrate-set-parameters x-checkpoint-delay */
	QK_HEARTBEAT,		/* x-colo-lost-heartbeat */
	QK_QUERY_COLO,		/* query-colo-status (failover) */
	QK_QUERY_STATUS,	/* query-status (after failover) */
	QK_CONT,		/* cont (after failover) */
	QK_STATUS,		/* query-migrate for a control client */
};

struct qmp_cmd {
	int64_t id;
	enum qmp_kind kind;
	int client;
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
	struct colo_nl_limits limits;	/* PROXY_INIT's; 0: the kernel's */
};

struct colod {
	struct opts o;
	struct qmp *qmp;
	struct colo_nl *nl;
	int ctl_fd, sig_fd;
	char ctl_path[108];
	struct client clients[COLOD_MAX_CLIENTS];
	struct qmp_cmd cmds[COLOD_MAX_QMP_CMDS];

	struct colod_fsm fsm;
	bool events_cap;
	int64_t delay_ms;
	bool shutdown_seen;
	char shutdown_reason[32];	/* SHUTDOWN's reason, e.g. host-signal */
	int64_t start_deadline;
	bool warned_no_ts;

	char want_reason[32];		/* of the first pending request */
	char trigger_reason[32];	/* of the checkpoint asked for */
	uint64_t n_initial, n_requested, n_needed, n_periodic, n_loads,
		 n_other;
	uint64_t n_released_before_colo;	/* BEGIN+DONE before COLO */
	int64_t pause_min_us, pause_max_us, pause_sum_us;
	char last_reason[32];
	int64_t last_pass;
	char fo_reason[96];
	bool fo_done;

	bool quit;
	int exit_code;
	char exit_why[160];
};

extern struct colod *g_log_ctx;

int64_t mono_us(void);
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define dbg(d, ...) do { if ((d)->o.verbose) logmsg(__VA_ARGS__); } while (0)

/* colod.c */
int qmp_async(struct colod *d, enum qmp_kind kind, const char *cmd,
	      const json_t *args, int client);
void fsm_event(struct colod *d, enum colod_ev ev, int64_t ts_us,
	       const char *why);
uint64_t request_checkpoint(struct colod *d, const char *reason);

/* colod-ctl.c */
void client_reply(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void client_close(struct client *c);
void answer_waiters(struct colod *d, enum wait_kind kind, bool ok,
		    const char *err);
int ctl_open(struct colod *d);
void ctl_accept(struct colod *d);
void ctl_read(struct colod *d, struct client *c);
/* @m: the query-migrate reply, NULL if none came */
void on_status_reply(struct colod *d, struct client *c,
		     const struct qmp_msg *m);

/* colod-setup.c */
int colod_parse_opts(struct opts *o, int argc, char **argv);
int colod_qemu_setup(struct colod *d);	/* start / attach / wait-colo */
int colod_nl_setup(struct colod *d);
void colod_summary(struct colod *d);

#endif /* COLOD_H */

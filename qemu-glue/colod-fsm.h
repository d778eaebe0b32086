/* SPDX-License-Identifier: GPL-2.0 */
/*
 * colod-fsm.h - colod's checkpoint and failover logic as a state machine
 *
 * Pure C: no I/O, no clock. colod.c turns what it reads (QMP events and
 * replies, kernel notifications, control requests, timers) into events, calls
 * colod_fsm_step() and carries out the actions it returns, in the order of
 * enum colod_act. Times are passed in (µs of CLOCK_MONOTONIC, or the QMP
 * timestamp for STOP) so tests drive the machine without waiting.
 *
 * The state is a pair: the phase of the COLO session and the step of the
 * checkpoint in progress. The checkpoint step is tracked in every phase but
 * the last (a failover that QEMU refuses rolls back to where it came from).
 *
 * Requests (kernel CHECKPOINT_NEEDED, control `checkpoint`, an overrun, an
 * attach) are numbered: req_gen counts them, cp_gen is req_gen when the guest
 * stopped for the checkpoint in progress, done_gen the highest cp_gen of a
 * checkpoint that completed with the kernel's epoch cut at its stop. A request
 * is pending while req_gen > done_gen, and is answered only by a checkpoint
 * that started after it: nothing (a failure, a user pause, a refused trigger)
 * can lose it.
 */
#ifndef COLOD_FSM_H
#define COLOD_FSM_H

#include <stdbool.h>
#include <stdint.h>

enum colod_phase {
	CP_WAIT_COLO,	/* before COLO: migration (or incoming) running */
	CP_COLO,	/* checkpointing */
	CP_PEER_LOST,	/* COLO left with an error: waiting for a failover */
	CP_FAILOVER,	/* x-colo-lost-heartbeat sent, waiting for QEMU */
	CP_STANDALONE,	/* failed over (final) */
	CP_NR_PHASES
};

enum colod_step {
	CS_IDLE,	/* guest running, no checkpoint asked of QEMU */
	CS_TRIGGERED,	/* checkpoint asked of QEMU, guest still running */
	CS_STOPPED,	/* guest stopped; a checkpoint only if RAM is synced */
	CS_CHECKPOINT,	/* checkpoint (RAM sync seen, or a secondary's load) */
	CS_STUCK,	/* primary: checkpoint longer than the timeout */
	CS_NR_STEPS
};

enum colod_ev {
	EV_STOP,		/* QMP STOP; ts_us = its timestamp */
	EV_PASS,		/* QMP MIGRATION_PASS */
	EV_RESUME,		/* QMP RESUME */
	EV_COLO_ENTERED,	/* QMP MIGRATION status=colo */
	EV_MIGRATION_FAILED,	/* MIGRATION failed/cancelled */
	EV_MIGRATION_DONE,	/* MIGRATION completed */
	EV_COLO_EXIT_ERROR,	/* COLO_EXIT reason=error */
	EV_COLO_EXIT_REQUEST,	/* COLO_EXIT reason=request */
	EV_REQUEST,		/* a checkpoint is needed (any source) */
	EV_TRIGGER_OK,		/* the trigger command was accepted */
	EV_TRIGGER_ERR,		/* ... refused (or could not be sent) */
	EV_BEGIN_ERR,		/* the kernel refused CHECKPOINT_BEGIN */
	EV_DONE_ERR,		/* the kernel refused CHECKPOINT_DONE */
	EV_RELEASE_ERR,		/* pre-COLO release failed */
	EV_FAILOVER_REQ,	/* failover requested (control, policy) */
	EV_HB_OK,		/* x-colo-lost-heartbeat accepted */
	EV_HB_ERR,		/* ... refused (or could not be sent) */
	EV_COLO_NONE,		/* query-colo-status: mode none */
	EV_COLO_ACTIVE,		/* query-colo-status: still in COLO (or error) */
	EV_TICK,		/* time passed */
	CE_NR_EVENTS
};

/* Actions, carried out in this order (bit 1 << value in out->acts). */
enum colod_act {
	ACT_BEGIN,		/* kernel CHECKPOINT_BEGIN, stop time out->stop_ts_us */
	ACT_DONE,		/* kernel CHECKPOINT_DONE */
	ACT_RELEASE,		/* kernel BEGIN + DONE at once (before COLO) */
	ACT_KERNEL_FAILOVER,	/* kernel FAILOVER */
	ACT_TRIGGER,		/* ask QEMU for a checkpoint now */
	ACT_HEARTBEAT,		/* send x-colo-lost-heartbeat */
	ACT_QUERY_COLO,		/* send query-colo-status */
	ACT_ENSURE_RUNNING,	/* query-status, cont if not running */
	ACT_CP_DONE,		/* a checkpoint completed: answer waiters <= done_gen */
	ACT_CP_FAILED,		/* answer checkpoint waiters with out->why */
	ACT_FO_DONE,		/* answer failover waiters ok */
	ACT_FO_FAILED,		/* answer failover waiters with out->why */
	ACT_LOG,		/* log out->log */
	CA_NR_ACTS
};

enum colod_kind {
	CK_NONE,
	CK_INITIAL,	/* the migration's final stop */
	CK_TRIGGERED,	/* asked for by colod */
	CK_PERIODIC,	/* QEMU's own (x-checkpoint-delay) */
	CK_LOAD,	/* secondary: loading the primary's state */
};

struct colod_fsm_cfg {
	bool primary;
	bool auto_failover;
	int64_t min_interval_us;	/* guest run time between checkpoints */
	int64_t cp_timeout_us;		/* primary checkpoint longer: stuck */
	int64_t trigger_timeout_us;	/* no STOP after a trigger: failed */
	int64_t retry_us;		/* after a failed trigger */
	int64_t fo_timeout_us;		/* QEMU must leave COLO within */
};

struct colod_fsm {
	struct colod_fsm_cfg cfg;
	enum colod_phase phase, fo_from;
	enum colod_step step;
	enum colod_kind kind;		/* of the stop in progress */
	bool begun;			/* the kernel holds a cut (BEGIN sent) */
	bool cut_here;			/* ... made at this checkpoint's stop */
	bool hb_accepted, hb_refused, fo_expired, query_inflight;
	uint64_t req_gen, cp_gen, done_gen;
	uint64_t undo_gen;		/* done_gen before the last DONE/RELEASE */
	int64_t stop_ts_us;		/* QMP timestamp of the stop */
	int64_t stop_at, pass_at, trigger_at, resume_at, retry_at;
	int64_t fo_deadline, fo_poll_at;
	/* counters */
	uint64_t count, n_failed, n_coalesced, n_user_pauses, n_stuck;
	int64_t last_pause_us;
};

/* What came with an event. */
struct colod_in {
	int64_t now_us;			/* CLOCK_MONOTONIC */
	int64_t ts_us;			/* EV_STOP/EV_RESUME: QMP timestamp, or -1 */
	const char *why;		/* error events: QEMU's or the kernel's words */
};

struct colod_out {
	unsigned int acts;
	int64_t stop_ts_us;		/* ACT_BEGIN */
	const char *why;		/* ACT_CP_FAILED, ACT_FO_FAILED */
	const char *log;		/* ACT_LOG */
	enum colod_kind kind;		/* ACT_CP_DONE: the checkpoint's kind */
	bool coalesced;			/* EV_REQUEST: joined a pending one */
};

#define COLOD_ACT(a)	(1u << (a))

void colod_fsm_init(struct colod_fsm *f, const struct colod_fsm_cfg *cfg,
		    enum colod_phase phase);
/*
 * Feed one event. Fills *out; returns out->acts. If a kernel action of *out
 * fails, the caller drops ACT_CP_DONE from it and feeds the matching *_ERR
 * event once the other actions are carried out.
 */
unsigned int colod_fsm_step(struct colod_fsm *f, enum colod_ev ev,
			    const struct colod_in *in, struct colod_out *out);
/* Monotonic time of the next EV_TICK that may act, 0 if none. */
int64_t colod_fsm_next(const struct colod_fsm *f);
/* A request waits for a checkpoint that has not started yet. */
bool colod_fsm_wanted(const struct colod_fsm *f);

const char *colod_phase_name(enum colod_phase p);
const char *colod_step_name(enum colod_step s);
const char *colod_ev_name(enum colod_ev e);
const char *colod_act_name(enum colod_act a);

#endif /* COLOD_FSM_H */

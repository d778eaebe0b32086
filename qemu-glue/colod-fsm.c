// SPDX-License-Identifier: GPL-2.0
/*
 * colod-fsm.c - colod's checkpoint and failover state machine (see
 * colod-fsm.h). No I/O: every decision is returned as actions.
 *
 * Rules it keeps:
 * - the kernel's epoch is cut at the guest's real stop (BEGIN carries the
 *   STOP event's timestamp) and released (DONE) only at the RESUME that ends
 *   a checkpoint in COLO, i.e. after the secondary loaded the state; never
 *   after COLO left with an error;
 * - a primary STOP is a checkpoint only once its RAM sync (MIGRATION_PASS)
 *   is seen: a user's stop/cont cuts nothing and releases nothing;
 * - one BEGIN at a time (the kernel refuses a second): while a cut is held,
 *   a later checkpoint's RESUME sends the DONE for it (that checkpoint covers
 *   more) but answers only requests the cut covers;
 * - a request is pending until a checkpoint that stopped after it completed
 *   with its own cut; failures never clear it;
 * - the kernel is switched to FAILOVER only once QEMU left COLO (COLO_EXIT
 *   reason=request, or query-colo-status mode none after the heartbeat
 *   command); a refusal rolls the phase back;
 * - a primary checkpoint older than cp_timeout is "stuck" (suspected peer
 *   loss) only after its RAM sync, never for a user stop or a secondary's
 *   load, and a RESUME still completes it;
 * - automatic failover only when configured.
 */
#include <stddef.h>

#include "colod-fsm.h"

#define FO_POLL_FIRST_US	100000
#define FO_POLL_US		200000

static const char *const colod_phase_names[CP_NR_PHASES] = {
	[CP_WAIT_COLO]	= "starting",
	[CP_COLO]	= "colo",
	[CP_PEER_LOST]	= "peer-lost",
	[CP_FAILOVER]	= "failover",
	[CP_STANDALONE]	= "failed-over",
};

static const char *const colod_step_names[CS_NR_STEPS] = {
	[CS_IDLE]	= "idle",
	[CS_TRIGGERED]	= "triggered",
	[CS_STOPPED]	= "stopped",
	[CS_CHECKPOINT]	= "checkpoint",
	[CS_STUCK]	= "stuck",
};

static const char *const colod_ev_names[CE_NR_EVENTS] = {
	[EV_STOP]		= "stop",
	[EV_PASS]		= "pass",
	[EV_RESUME]		= "resume",
	[EV_COLO_ENTERED]	= "colo-entered",
	[EV_MIGRATION_FAILED]	= "migration-failed",
	[EV_MIGRATION_DONE]	= "migration-done",
	[EV_COLO_EXIT_ERROR]	= "colo-exit-error",
	[EV_COLO_EXIT_REQUEST]	= "colo-exit-request",
	[EV_REQUEST]		= "request",
	[EV_TRIGGER_OK]		= "trigger-ok",
	[EV_TRIGGER_ERR]	= "trigger-err",
	[EV_BEGIN_ERR]		= "begin-err",
	[EV_DONE_ERR]		= "done-err",
	[EV_RELEASE_ERR]	= "release-err",
	[EV_FAILOVER_REQ]	= "failover-req",
	[EV_HB_OK]		= "heartbeat-ok",
	[EV_HB_ERR]		= "heartbeat-err",
	[EV_COLO_NONE]		= "colo-none",
	[EV_COLO_ACTIVE]	= "colo-active",
	[EV_TICK]		= "tick",
};

static const char *const colod_act_names[CA_NR_ACTS] = {
	[ACT_BEGIN]		= "begin",
	[ACT_DONE]		= "done",
	[ACT_RELEASE]		= "release",
	[ACT_KERNEL_FAILOVER]	= "kernel-failover",
	[ACT_TRIGGER]		= "trigger",
	[ACT_HEARTBEAT]		= "heartbeat",
	[ACT_QUERY_COLO]	= "query-colo",
	[ACT_ENSURE_RUNNING]	= "ensure-running",
	[ACT_CP_DONE]		= "cp-done",
	[ACT_CP_FAILED]		= "cp-failed",
	[ACT_FO_DONE]		= "fo-done",
	[ACT_FO_FAILED]		= "fo-failed",
	[ACT_LOG]		= "log",
};

const char *colod_phase_name(enum colod_phase p)
{
	return (unsigned int)p < CP_NR_PHASES ? colod_phase_names[p] : "?";
}

const char *colod_step_name(enum colod_step s)
{
	return (unsigned int)s < CS_NR_STEPS ? colod_step_names[s] : "?";
}

const char *colod_ev_name(enum colod_ev e)
{
	return (unsigned int)e < CE_NR_EVENTS ? colod_ev_names[e] : "?";
}

const char *colod_act_name(enum colod_act a)
{
	return (unsigned int)a < CA_NR_ACTS ? colod_act_names[a] : "?";
}

void colod_fsm_init(struct colod_fsm *f, const struct colod_fsm_cfg *cfg,
		    enum colod_phase phase)
{
	*f = (struct colod_fsm){ .cfg = *cfg, .phase = phase,
				 .fo_from = phase };
}

static bool fsm_stopped(const struct colod_fsm *f)
{
	return f->step == CS_STOPPED || f->step == CS_CHECKPOINT ||
	       f->step == CS_STUCK;
}

bool colod_fsm_wanted(const struct colod_fsm *f)
{
	if (f->req_gen <= f->done_gen)
		return false;
	return !(fsm_stopped(f) && f->cp_gen >= f->req_gen);
}

static void act(struct colod_out *out, enum colod_act a, const char *why)
{
	out->acts |= COLOD_ACT(a);
	if (a == ACT_LOG)
		out->log = why;
	else if (why)
		out->why = why;
}

static int64_t fsm_earliest(const struct colod_fsm *f)
{
	int64_t t = f->retry_at;

	if (f->resume_at && f->resume_at + f->cfg.min_interval_us > t)
		t = f->resume_at + f->cfg.min_interval_us;
	return t;
}

/* Start what pending requests need, if they can be served now. */
static void fsm_kick(struct colod_fsm *f, int64_t now, struct colod_out *out)
{
	if (!f->cfg.primary || f->step != CS_IDLE || f->req_gen <= f->done_gen)
		return;
	if (f->phase == CP_WAIT_COLO && !f->begun && now >= f->retry_at) {
		/* no secondary yet: nothing to keep output consistent with */
		f->undo_gen = f->done_gen;
		f->done_gen = f->req_gen;
		act(out, ACT_RELEASE, NULL);
		return;
	}
	if (f->phase != CP_COLO || now < fsm_earliest(f))
		return;
	f->step = CS_TRIGGERED;
	f->trigger_at = now;
	act(out, ACT_TRIGGER, NULL);
}

static void fsm_start_failover(struct colod_fsm *f, int64_t now,
			       const char *why, struct colod_out *out)
{
	f->fo_from = f->phase;
	f->phase = CP_FAILOVER;
	f->hb_accepted = f->hb_refused = f->fo_expired = false;
	f->fo_deadline = now + f->cfg.fo_timeout_us;
	f->fo_poll_at = 0;
	act(out, ACT_HEARTBEAT, NULL);
	act(out, ACT_CP_FAILED, "failover");
	act(out, ACT_LOG, why);
}

/* QEMU left COLO for good: only now may the kernel stop holding output. */
static void fsm_finish_failover(struct colod_fsm *f, struct colod_out *out)
{
	f->phase = CP_STANDALONE;
	f->step = CS_IDLE;
	f->begun = f->cut_here = false;
	f->fo_deadline = f->fo_poll_at = 0;
	f->query_inflight = false;
	act(out, ACT_KERNEL_FAILOVER, NULL);
	act(out, ACT_ENSURE_RUNNING, NULL);
	act(out, ACT_CP_FAILED, "failed over");
	act(out, ACT_FO_DONE, NULL);
}

static void fsm_begin(struct colod_fsm *f, struct colod_out *out)
{
	if (f->begun) {
		/* the kernel still holds an older cut; this stop cuts nothing */
		f->cut_here = false;
		act(out, ACT_LOG, "kernel still holds an earlier checkpoint's cut: this checkpoint releases that one only");
		return;
	}
	f->begun = f->cut_here = true;
	out->stop_ts_us = f->stop_ts_us;
	act(out, ACT_BEGIN, NULL);
}

static void on_stop(struct colod_fsm *f, const struct colod_in *in,
		    struct colod_out *out)
{
	if (f->phase == CP_STANDALONE || fsm_stopped(f))
		return;
	if (!f->cfg.primary) {
		/* in COLO every stop of the secondary is a load */
		if (f->phase != CP_COLO)
			return;
		f->step = CS_CHECKPOINT;
		f->kind = CK_LOAD;
		f->stop_ts_us = in->ts_us;
		f->stop_at = f->pass_at = in->now_us;
		fsm_begin(f, out);
		return;
	}
	f->kind = f->phase == CP_WAIT_COLO ? CK_INITIAL :
		  f->step == CS_TRIGGERED ? CK_TRIGGERED : CK_PERIODIC;
	f->step = CS_STOPPED;
	f->cp_gen = f->req_gen;
	f->stop_ts_us = in->ts_us;
	f->stop_at = in->now_us;
	f->cut_here = false;
}

static void on_pass(struct colod_fsm *f, const struct colod_in *in,
		    struct colod_out *out)
{
	if (!f->cfg.primary || f->step != CS_STOPPED)
		return;
	f->step = CS_CHECKPOINT;
	f->pass_at = in->now_us;
	if (f->phase == CP_WAIT_COLO || f->phase == CP_COLO)
		fsm_begin(f, out);
}

static void on_resume(struct colod_fsm *f, const struct colod_in *in,
		      struct colod_out *out)
{
	enum colod_step was = f->step;

	if (f->phase == CP_STANDALONE)
		return;
	if (was == CS_IDLE || was == CS_TRIGGERED)
		return;
	f->step = CS_IDLE;
	if (was == CS_STOPPED) {
		/* a pause without a RAM sync: requests stay pending */
		f->n_user_pauses++;
		act(out, ACT_LOG, "guest resumed after a pause without a RAM sync: not a checkpoint");
		return;
	}
	if (f->phase != CP_WAIT_COLO && f->phase != CP_COLO) {
		/* COLO left meanwhile: the secondary may not have the state */
		return;
	}
	if (in->ts_us > 0 && f->stop_ts_us > 0 && in->ts_us >= f->stop_ts_us)
		f->last_pause_us = in->ts_us - f->stop_ts_us;
	else
		f->last_pause_us = in->now_us - f->stop_at;
	f->count++;
	f->resume_at = in->now_us;
	out->kind = f->kind;
	if (f->begun) {
		act(out, ACT_DONE, NULL);
		f->begun = false;
		f->undo_gen = f->done_gen;
		if (f->cut_here && f->cp_gen > f->done_gen)
			f->done_gen = f->cp_gen;
	}
	f->cut_here = false;
	if (was == CS_STUCK)
		act(out, ACT_LOG, "the stuck checkpoint completed after all");
	act(out, ACT_CP_DONE, NULL);
}

static void on_colo_exit_error(struct colod_fsm *f, const struct colod_in *in,
			       struct colod_out *out)
{
	if (f->phase == CP_FAILOVER) {
		act(out, ACT_LOG, "COLO_EXIT reason=error during the failover: waiting for QEMU");
		return;
	}
	if (f->phase != CP_COLO)
		return;
	f->phase = CP_PEER_LOST;
	if (f->step != CS_IDLE && f->step != CS_STOPPED)
		f->n_failed++;
	if (f->step == CS_TRIGGERED)
		f->step = CS_IDLE;
	else if (f->step == CS_CHECKPOINT || f->step == CS_STUCK)
		f->step = CS_STOPPED;	/* never DONE: held output stays held */
	f->cut_here = false;
	act(out, ACT_CP_FAILED, "COLO exited (peer lost)");
	if (f->cfg.auto_failover)
		fsm_start_failover(f, in->now_us, "peer lost (COLO_EXIT reason=error): automatic failover", out);
	else
		act(out, ACT_LOG, "peer lost: COLO left with an error; output stays held until a failover request");
}

static void on_request(struct colod_fsm *f, const struct colod_in *in,
		       struct colod_out *out)
{
	if (!f->cfg.primary || f->phase == CP_STANDALONE)
		return;
	out->coalesced = colod_fsm_wanted(f) || f->step == CS_TRIGGERED;
	if (out->coalesced)
		f->n_coalesced++;
	f->req_gen++;
	(void)in;
}

static void on_tick(struct colod_fsm *f, const struct colod_in *in,
		    struct colod_out *out)
{
	int64_t now = in->now_us;

	if (f->step == CS_TRIGGERED &&
	    now >= f->trigger_at + f->cfg.trigger_timeout_us) {
		f->step = CS_IDLE;
		f->n_failed++;
		f->retry_at = now + f->cfg.retry_us;
		act(out, ACT_CP_FAILED, "QEMU did not stop the guest for the requested checkpoint in time");
	}
	if (f->cfg.primary && f->phase == CP_COLO && f->step == CS_CHECKPOINT &&
	    now >= f->pass_at + f->cfg.cp_timeout_us) {
		f->step = CS_STUCK;
		f->n_stuck++;
		if (f->cfg.auto_failover)
			fsm_start_failover(f, now, "checkpoint stuck (peer lost?): automatic failover", out);
		else
			act(out, ACT_LOG, "checkpoint stuck: guest stopped past the checkpoint timeout (peer lost?); output stays held");
	}
	if (f->phase != CP_FAILOVER || f->query_inflight)
		return;
	if (!f->fo_expired && now >= f->fo_deadline) {
		f->fo_expired = true;
		f->query_inflight = true;
		act(out, ACT_QUERY_COLO, NULL);
	} else if (f->fo_poll_at && now >= f->fo_poll_at) {
		f->fo_poll_at = 0;
		f->query_inflight = true;
		act(out, ACT_QUERY_COLO, NULL);
	}
}

static void on_colo_active(struct colod_fsm *f, const struct colod_in *in,
			   struct colod_out *out)
{
	f->query_inflight = false;
	if (f->phase != CP_FAILOVER)
		return;
	if (f->hb_refused || f->fo_expired) {
		/* the kernel was not touched: back to where we were */
		f->phase = f->fo_from;
		f->fo_deadline = f->fo_poll_at = 0;
		act(out, ACT_FO_FAILED, f->hb_refused ?
		    "QEMU refused x-colo-lost-heartbeat and is still in COLO" :
		    "QEMU still in COLO after x-colo-lost-heartbeat");
		return;
	}
	f->fo_poll_at = in->now_us + FO_POLL_US;
}

unsigned int colod_fsm_step(struct colod_fsm *f, enum colod_ev ev,
			    const struct colod_in *in, struct colod_out *out)
{
	*out = (struct colod_out){ 0 };
	switch (ev) {
	case EV_STOP:
		on_stop(f, in, out);
		break;
	case EV_PASS:
		on_pass(f, in, out);
		break;
	case EV_RESUME:
		on_resume(f, in, out);
		break;
	case EV_COLO_ENTERED:
		if (f->phase == CP_WAIT_COLO) {
			f->phase = CP_COLO;
			act(out, ACT_LOG, "entered COLO");
		}
		break;
	case EV_MIGRATION_FAILED:
		if (f->phase != CP_WAIT_COLO)
			break;
		if (f->begun) {
			/* before COLO: as a pre-COLO release */
			act(out, ACT_DONE, NULL);
			f->begun = f->cut_here = false;
		}
		if (f->step == CS_CHECKPOINT)
			f->step = CS_STOPPED;
		else if (f->step == CS_TRIGGERED)
			f->step = CS_IDLE;
		act(out, ACT_CP_FAILED, "migration failed");
		break;
	case EV_MIGRATION_DONE:
		if (f->phase == CP_FAILOVER && !f->query_inflight) {
			f->query_inflight = true;
			act(out, ACT_QUERY_COLO, NULL);
		}
		break;
	case EV_COLO_EXIT_ERROR:
		on_colo_exit_error(f, in, out);
		break;
	case EV_COLO_EXIT_REQUEST:
		if (f->phase == CP_COLO || f->phase == CP_PEER_LOST ||
		    f->phase == CP_FAILOVER)
			fsm_finish_failover(f, out);
		break;
	case EV_REQUEST:
		on_request(f, in, out);
		break;
	case EV_TRIGGER_OK:
		break;
	case EV_TRIGGER_ERR:
		if (f->step != CS_TRIGGERED)
			break;
		f->step = CS_IDLE;
		f->n_failed++;
		f->retry_at = in->now_us + f->cfg.retry_us;
		act(out, ACT_CP_FAILED, in->why ?: "QEMU refused the checkpoint");
		break;
	case EV_BEGIN_ERR:
		f->begun = f->cut_here = false;
		act(out, ACT_LOG, "kernel refused CHECKPOINT_BEGIN: the checkpoint covers no request");
		break;
	case EV_DONE_ERR:
		/* released nothing: what it answered stays pending */
		f->done_gen = f->undo_gen;
		f->n_failed++;
		act(out, ACT_CP_FAILED, in->why ?: "kernel refused CHECKPOINT_DONE");
		break;
	case EV_RELEASE_ERR:
		f->done_gen = f->undo_gen;
		f->retry_at = in->now_us + f->cfg.retry_us;
		break;
	case EV_FAILOVER_REQ:
		if (f->phase == CP_WAIT_COLO)
			act(out, ACT_FO_FAILED, "COLO has not started yet");
		else if (f->phase == CP_STANDALONE)
			act(out, ACT_FO_DONE, NULL);
		else if (f->phase != CP_FAILOVER)
			fsm_start_failover(f, in->now_us, in->why ?: "failover requested", out);
		break;
	case EV_HB_OK:
		if (f->phase == CP_FAILOVER && !f->hb_accepted) {
			f->hb_accepted = true;
			f->fo_poll_at = in->now_us + FO_POLL_FIRST_US;
		}
		break;
	case EV_HB_ERR:
		if (f->phase != CP_FAILOVER)
			break;
		f->hb_refused = true;
		if (!f->query_inflight) {
			f->query_inflight = true;
			act(out, ACT_QUERY_COLO, NULL);
		}
		break;
	case EV_COLO_NONE:
		f->query_inflight = false;
		if (f->phase == CP_FAILOVER)
			fsm_finish_failover(f, out);
		break;
	case EV_COLO_ACTIVE:
		on_colo_active(f, in, out);
		break;
	case EV_TICK:
		on_tick(f, in, out);
		break;
	case CE_NR_EVENTS:
		break;
	}
	fsm_kick(f, in->now_us, out);
	return out->acts;
}

int64_t colod_fsm_next(const struct colod_fsm *f)
{
	int64_t next = 0;

#define CONSIDER(t) do { if ((t) > 0 && (!next || (t) < next)) next = (t); } while (0)
	if (f->step == CS_TRIGGERED)
		CONSIDER(f->trigger_at + f->cfg.trigger_timeout_us);
	if (f->cfg.primary && f->phase == CP_COLO && f->step == CS_CHECKPOINT)
		CONSIDER(f->pass_at + f->cfg.cp_timeout_us);
	if (f->phase == CP_FAILOVER && !f->query_inflight) {
		if (!f->fo_expired)
			CONSIDER(f->fo_deadline);
		CONSIDER(f->fo_poll_at);
	}
	if (f->cfg.primary && f->step == CS_IDLE && f->req_gen > f->done_gen &&
	    (f->phase == CP_COLO || (f->phase == CP_WAIT_COLO && !f->begun)))
		CONSIDER(f->phase == CP_COLO ? fsm_earliest(f) ?: 1 :
			 f->retry_at ?: 1);
#undef CONSIDER
	return next;
}

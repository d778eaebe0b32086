// SPDX-License-Identifier: GPL-2.0
/*
 * colod-fsm-test.c - the colod state machine, state by event.
 *
 * Part 1 builds every state (phase x step x kernel cut x request pending x
 * side x failover policy x failover progress), feeds every event and checks
 * the rules of colod-fsm.c as invariants. Part 2 plays the sequences the
 * issue names as dead ends and the ordinary flows. Part 3 checks that every
 * state reaches COLO-idle or failed-over again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colod-fsm.h"

static int n_pass, n_fail, n_cases;

#define FAIL(...) do { \
	n_fail++; printf("FAIL: %s:%d: ", __func__, __LINE__); \
	printf(__VA_ARGS__); printf("\n"); } while (0)
#define CHECK(c, ...) do { if (!(c)) { FAIL(__VA_ARGS__); return 1; } } while (0)

#define A(x)	COLOD_ACT(x)
#define SEC	1000000LL

static const struct colod_fsm_cfg cfg_primary = {
	.primary = true,
	.min_interval_us = 100000,
	.cp_timeout_us = 10 * SEC,
	.trigger_timeout_us = 10 * SEC,
	.retry_us = SEC,
	.fo_timeout_us = 10 * SEC,
};

static int64_t now_us = 1000 * SEC;

static unsigned int step(struct colod_fsm *f, enum colod_ev ev,
			 struct colod_out *out)
{
	struct colod_in in = { .now_us = now_us, .ts_us = -1 };

	if (ev == EV_STOP || ev == EV_RESUME)
		in.ts_us = now_us + 7;	/* a wall clock: anything > 0 */
	return colod_fsm_step(f, ev, &in, out);
}

static void desc(const struct colod_fsm *f, enum colod_ev ev, char *buf,
		 size_t len)
{
	snprintf(buf, len, "%s side, %s/%s begun=%d cut=%d req=%" PRIu64
		 " cp=%" PRIu64 " done=%" PRIu64 " auto=%d hb=%d%d%d + %s",
		 f->cfg.primary ? "primary" : "secondary",
		 colod_phase_name(f->phase), colod_step_name(f->step),
		 f->begun, f->cut_here, f->req_gen, f->cp_gen, f->done_gen,
		 f->cfg.auto_failover, f->hb_accepted, f->hb_refused,
		 f->fo_expired, colod_ev_name(ev));
}

/* ---------------------------------------------------------------- part 1 */

static int check_case(const struct colod_fsm *b, enum colod_ev ev,
		      int64_t at)
{
	struct colod_fsm f = *b;
	struct colod_out out;
	struct colod_in in = { .now_us = at, .ts_us = at + 7 };
	unsigned int acts;
	char d[256];

	desc(b, ev, d, sizeof(d));
	acts = colod_fsm_step(&f, ev, &in, &out);
	n_cases++;
	CHECK(acts == out.acts, "%s: return value", d);
	CHECK((unsigned int)f.phase < CP_NR_PHASES &&
	      (unsigned int)f.step < CS_NR_STEPS, "%s: out of range", d);
	CHECK(acts < (1u << CA_NR_ACTS), "%s: unknown action", d);
	/* a DONE only releases a cut the kernel holds, at the end of a
	 * checkpoint in COLO (or before COLO, where nothing is verified) */
	if (acts & A(ACT_DONE)) {
		CHECK(b->begun, "%s: DONE without BEGIN", d);
		CHECK((ev == EV_RESUME && (b->phase == CP_COLO ||
					   b->phase == CP_WAIT_COLO) &&
		       (b->step == CS_CHECKPOINT || b->step == CS_STUCK)) ||
		      (ev == EV_MIGRATION_FAILED && b->phase == CP_WAIT_COLO),
		      "%s: DONE out of place", d);
		CHECK(!f.begun, "%s: still begun after DONE", d);
	}
	if (ev == EV_RESUME && b->begun &&
	    (b->phase == CP_PEER_LOST || b->phase == CP_FAILOVER))
		CHECK(!(acts & A(ACT_DONE)) && f.begun,
		      "%s: released after COLO left", d);
	if (ev == EV_RESUME && b->step == CS_STOPPED)
		CHECK(!(acts & (A(ACT_DONE) | A(ACT_CP_DONE))) &&
		      (f.done_gen == b->done_gen || (acts & A(ACT_RELEASE))),
		      "%s: a user pause counted as a checkpoint", d);
	/* one BEGIN at a time, only at a checkpoint's stop */
	if (acts & A(ACT_BEGIN)) {
		CHECK(!b->begun && f.begun && f.cut_here, "%s: BEGIN twice", d);
		CHECK((ev == EV_PASS && b->cfg.primary && b->step == CS_STOPPED &&
		       (b->phase == CP_COLO || b->phase == CP_WAIT_COLO)) ||
		      (ev == EV_STOP && !b->cfg.primary && b->phase == CP_COLO),
		      "%s: BEGIN out of place", d);
		CHECK(out.stop_ts_us == f.stop_ts_us && f.stop_ts_us > 0,
		      "%s: BEGIN without the stop time", d);
	}
	/* the kernel passes traffic only once QEMU left COLO */
	if (acts & A(ACT_KERNEL_FAILOVER)) {
		CHECK(ev == EV_COLO_EXIT_REQUEST ||
		      (ev == EV_COLO_NONE && b->phase == CP_FAILOVER),
		      "%s: kernel failover before QEMU left COLO", d);
		CHECK(f.phase == CP_STANDALONE && !f.begun, "%s: after failover", d);
	}
	if (ev == EV_HB_ERR || ev == EV_COLO_ACTIVE || ev == EV_FAILOVER_REQ)
		CHECK(!(acts & A(ACT_KERNEL_FAILOVER)), "%s: kernel switched", d);
	if (ev == EV_COLO_ACTIVE && b->phase == CP_FAILOVER &&
	    (b->hb_refused || b->fo_expired))
		CHECK(f.phase == b->fo_from && (acts & A(ACT_FO_FAILED)),
		      "%s: no rollback", d);
	/* heartbeat: only on a request, or by policy */
	if (acts & A(ACT_HEARTBEAT)) {
		CHECK(b->phase == CP_COLO || b->phase == CP_PEER_LOST,
		      "%s: heartbeat from phase", d);
		CHECK(ev == EV_FAILOVER_REQ || b->cfg.auto_failover,
		      "%s: automatic failover not configured", d);
		CHECK(f.phase == CP_FAILOVER, "%s: heartbeat without FAILOVER", d);
	}
	/* triggers: primary, in COLO, guest running, something pending */
	if (acts & A(ACT_TRIGGER))
		CHECK(b->cfg.primary && f.phase == CP_COLO &&
		      f.step == CS_TRIGGERED && f.req_gen > f.done_gen,
		      "%s: trigger out of place", d);
	if (acts & A(ACT_RELEASE))
		CHECK(b->cfg.primary && f.phase == CP_WAIT_COLO && !f.begun,
		      "%s: release out of place", d);
	/* requests: never lost */
	CHECK(f.req_gen >= b->req_gen, "%s: request count went back", d);
	CHECK(f.done_gen <= f.req_gen, "%s: done beyond requests", d);
	if (f.done_gen > b->done_gen)
		CHECK(((acts & A(ACT_DONE)) && ev == EV_RESUME && b->cut_here &&
		       f.done_gen == b->cp_gen) || (acts & A(ACT_RELEASE)),
		      "%s: a request answered without a covering checkpoint", d);
	if (f.done_gen < b->done_gen)
		CHECK(ev == EV_DONE_ERR || ev == EV_RELEASE_ERR,
		      "%s: done count went back", d);
	if (ev == EV_REQUEST && b->cfg.primary && b->phase != CP_STANDALONE)
		CHECK(f.req_gen == b->req_gen + 1, "%s: request not counted", d);
	if (ev == EV_TRIGGER_ERR || ev == EV_BEGIN_ERR || ev == EV_TICK)
		CHECK(f.done_gen == b->done_gen || (acts & A(ACT_RELEASE)),
		      "%s: failure cleared requests", d);
	/* the stuck timer: only for a primary's real checkpoint */
	if (f.step == CS_STUCK && b->step != CS_STUCK)
		CHECK(ev == EV_TICK && b->cfg.primary && b->step == CS_CHECKPOINT &&
		      b->phase == CP_COLO, "%s: stuck out of place", d);
	if ((b->step == CS_STOPPED || !b->cfg.primary) && b->step != CS_STUCK)
		CHECK(f.step != CS_STUCK, "%s: user stop or load taken for stuck", d);
	/* only failover ends it */
	if (b->phase == CP_STANDALONE)
		CHECK(f.phase == CP_STANDALONE && !(acts & (A(ACT_BEGIN) |
		      A(ACT_DONE) | A(ACT_TRIGGER) | A(ACT_HEARTBEAT))),
		      "%s: left failed-over", d);
	/* waiters get an answer with words */
	if (acts & (A(ACT_CP_FAILED) | A(ACT_FO_FAILED)))
		CHECK(out.why && out.why[0], "%s: no reason given", d);
	if (acts & A(ACT_LOG))
		CHECK(out.log && out.log[0], "%s: nothing to log", d);
	n_pass++;
	return 0;
}

static int t_exhaustive(void)
{
	static const struct { uint64_t req, cp, done; } gens[] = {
		{ 0, 0, 0 },	/* nothing asked */
		{ 1, 0, 0 },	/* asked before the stop */
		{ 2, 1, 0 },	/* one before, one after the stop */
		{ 3, 3, 2 },	/* all before the stop */
	};
	int side, au, ph, st, b, c, g, hb, e, bad = 0;
	int64_t times[] = { 0, 11 * SEC, 100 * SEC };
	unsigned int t;

	for (side = 0; side < 2; side++)
	for (au = 0; au < 2; au++)
	for (ph = 0; ph < CP_NR_PHASES; ph++)
	for (st = 0; st < CS_NR_STEPS; st++)
	for (b = 0; b < 2; b++)
	for (c = 0; c <= b; c++)
	for (g = 0; g < 4; g++)
	for (hb = 0; hb < 8; hb++) {
		struct colod_fsm f;
		struct colod_fsm_cfg cfg = cfg_primary;

		if (hb && ph != CP_FAILOVER)
			continue;
		cfg.primary = !side;
		cfg.auto_failover = au;
		colod_fsm_init(&f, &cfg, (enum colod_phase)ph);
		f.step = (enum colod_step)st;
		f.begun = b;
		f.cut_here = c;
		f.req_gen = gens[g].req;
		f.cp_gen = gens[g].cp;
		f.done_gen = f.undo_gen = gens[g].done;
		f.hb_accepted = hb & 1;
		f.hb_refused = hb & 2;
		f.fo_expired = hb & 4;
		f.fo_from = ph == CP_FAILOVER ? CP_COLO : (enum colod_phase)ph;
		f.stop_ts_us = now_us + 7;
		f.stop_at = f.pass_at = f.trigger_at = now_us;
		f.resume_at = now_us - SEC;
		f.fo_deadline = now_us + 10 * SEC;
		f.fo_poll_at = now_us + 100000;
		for (e = 0; e < CE_NR_EVENTS; e++)
			for (t = 0; t < sizeof(times) / sizeof(times[0]); t++)
				bad += check_case(&f, (enum colod_ev)e,
						  now_us + times[t]);
	}
	printf("# %d state x event cases\n", n_cases);
	return bad ? 1 : 0;
}

/* ---------------------------------------------------------------- part 2 */

static void primary(struct colod_fsm *f, bool au)
{
	struct colod_fsm_cfg cfg = cfg_primary;

	cfg.auto_failover = au;
	colod_fsm_init(f, &cfg, CP_COLO);
	now_us = 1000 * SEC;
}

/* one checkpoint the way QEMU does it: STOP, PASS, RESUME */
static unsigned int checkpoint(struct colod_fsm *f)
{
	struct colod_out out;
	unsigned int acts;

	acts = step(f, EV_STOP, &out);
	now_us += 1000;
	acts |= step(f, EV_PASS, &out);
	now_us += 20000;
	acts |= step(f, EV_RESUME, &out);
	return acts;
}

static int t_flow(void)
{
	struct colod_fsm f;
	struct colod_out out;

	primary(&f, false);
	CHECK(step(&f, EV_REQUEST, &out) == A(ACT_TRIGGER), "no trigger");
	step(&f, EV_TRIGGER_OK, &out);
	CHECK(step(&f, EV_STOP, &out) == 0, "STOP acted");
	CHECK(step(&f, EV_PASS, &out) == A(ACT_BEGIN) &&
	      out.stop_ts_us == now_us + 7, "PASS: BEGIN with the stop time");
	CHECK(step(&f, EV_RESUME, &out) == (A(ACT_DONE) | A(ACT_CP_DONE)) &&
	      out.kind == CK_TRIGGERED, "RESUME: DONE");
	CHECK(f.done_gen == 1 && !colod_fsm_wanted(&f), "request not answered");
	/* QEMU's periodic checkpoint */
	now_us += SEC;
	CHECK(checkpoint(&f) == (A(ACT_BEGIN) | A(ACT_DONE) | A(ACT_CP_DONE)),
	      "periodic");
	CHECK(f.count == 2, "count %" PRIu64, f.count);
	/* min-interval: a request right after a RESUME waits */
	CHECK(step(&f, EV_REQUEST, &out) == 0, "min-interval not kept");
	CHECK(colod_fsm_next(&f) == f.resume_at + 100000, "no timer");
	now_us = colod_fsm_next(&f);
	CHECK(step(&f, EV_TICK, &out) == A(ACT_TRIGGER), "deferred trigger");
	return 0;
}

/* a request during a checkpoint is served by the next one */
static int t_request_during_checkpoint(void)
{
	struct colod_fsm f;
	struct colod_out out;

	primary(&f, false);
	step(&f, EV_STOP, &out);
	step(&f, EV_PASS, &out);
	step(&f, EV_REQUEST, &out);
	CHECK(!(out.acts & A(ACT_TRIGGER)), "trigger while stopped");
	step(&f, EV_RESUME, &out);
	CHECK(f.done_gen == 0 && colod_fsm_wanted(&f),
	      "a checkpoint that stopped before the request answered it");
	now_us += SEC;
	CHECK(step(&f, EV_TICK, &out) == A(ACT_TRIGGER), "next not triggered");
	checkpoint(&f);
	CHECK(f.done_gen == 1, "not answered by the next");
	return 0;
}

/* dead end 1: a failed checkpoint must not leave the kernel in CHECKPOINT */
static int t_cut_never_forgotten(void)
{
	struct colod_fsm f;
	struct colod_out out;

	primary(&f, false);
	step(&f, EV_STOP, &out);
	step(&f, EV_PASS, &out);
	CHECK(f.begun, "no BEGIN");
	/* stuck, then completes: DONE */
	now_us += 11 * SEC;
	step(&f, EV_TICK, &out);
	CHECK(f.step == CS_STUCK && !(out.acts & A(ACT_HEARTBEAT)),
	      "stuck: %s", colod_step_name(f.step));
	step(&f, EV_RESUME, &out);
	CHECK((out.acts & A(ACT_DONE)) && f.phase == CP_COLO && f.step == CS_IDLE,
	      "stuck checkpoint not completed");
	/* COLO left with an error mid-checkpoint: held until the failover */
	step(&f, EV_STOP, &out);
	step(&f, EV_PASS, &out);
	step(&f, EV_COLO_EXIT_ERROR, &out);
	CHECK(f.phase == CP_PEER_LOST && f.begun &&
	      !(out.acts & (A(ACT_DONE) | A(ACT_HEARTBEAT))), "peer lost");
	step(&f, EV_RESUME, &out);
	CHECK(!(out.acts & A(ACT_DONE)) && f.begun, "released after peer lost");
	step(&f, EV_FAILOVER_REQ, &out);
	CHECK(out.acts & A(ACT_HEARTBEAT) && !(out.acts & A(ACT_KERNEL_FAILOVER)),
	      "failover order");
	step(&f, EV_HB_OK, &out);
	CHECK(!(out.acts & A(ACT_KERNEL_FAILOVER)), "kernel before QEMU left");
	step(&f, EV_COLO_EXIT_REQUEST, &out);
	CHECK((out.acts & A(ACT_KERNEL_FAILOVER)) && !f.begun &&
	      f.phase == CP_STANDALONE, "kernel not failed over");
	return 0;
}

/* dead end 2: a user pause must not swallow a pending request */
static int t_user_pause(void)
{
	struct colod_fsm f;
	struct colod_out out;

	primary(&f, false);
	f.resume_at = now_us;		/* min-interval holds the trigger */
	step(&f, EV_REQUEST, &out);
	CHECK(!out.acts, "triggered early");
	step(&f, EV_STOP, &out);	/* the user's `stop` */
	now_us += 30 * SEC;
	step(&f, EV_TICK, &out);
	CHECK(f.step == CS_STOPPED, "user stop taken for a stuck checkpoint");
	step(&f, EV_RESUME, &out);	/* `cont`, no RAM sync */
	CHECK(!(out.acts & (A(ACT_BEGIN) | A(ACT_DONE) | A(ACT_CP_DONE))),
	      "user pause released output");
	CHECK(out.acts & A(ACT_TRIGGER), "pending request lost in a pause");
	return 0;
}

/* dead end 3: a failed trigger must not drop the request */
static int t_failed_trigger(void)
{
	struct colod_fsm f;
	struct colod_out out;
	struct colod_in in = { .ts_us = -1, .why = "nope" };

	primary(&f, false);
	step(&f, EV_REQUEST, &out);
	in.now_us = now_us;
	colod_fsm_step(&f, EV_TRIGGER_ERR, &in, &out);
	CHECK(out.acts == A(ACT_CP_FAILED) && !strcmp(out.why, "nope"),
	      "refusal not reported");
	CHECK(colod_fsm_wanted(&f), "request dropped");
	now_us += SEC;
	CHECK(step(&f, EV_TICK, &out) == A(ACT_TRIGGER), "no retry");
	/* no STOP at all */
	now_us += 11 * SEC;
	CHECK(step(&f, EV_TICK, &out) == A(ACT_CP_FAILED), "no trigger timeout");
	CHECK(colod_fsm_wanted(&f), "request dropped after a timeout");
	now_us += SEC;
	CHECK(step(&f, EV_TICK, &out) == A(ACT_TRIGGER), "no retry");
	/* the kernel refuses BEGIN: still pending after the checkpoint */
	step(&f, EV_STOP, &out);
	step(&f, EV_PASS, &out);
	step(&f, EV_BEGIN_ERR, &out);
	step(&f, EV_RESUME, &out);
	CHECK(!(out.acts & A(ACT_DONE)) && colod_fsm_wanted(&f),
	      "answered without a kernel cut");
	/* DONE refused: pending again */
	now_us += SEC;
	step(&f, EV_TICK, &out);
	checkpoint(&f);
	CHECK(!colod_fsm_wanted(&f), "not answered");
	in.now_us = now_us;
	colod_fsm_step(&f, EV_DONE_ERR, &in, &out);
	CHECK(colod_fsm_wanted(&f) && (out.acts & A(ACT_CP_FAILED)),
	      "DONE failure answered the request");
	return 0;
}

/* dead end 4: peer-lost suspicion returns to COLO; refusals roll back */
static int t_peer_lost_returns(void)
{
	struct colod_fsm f;
	struct colod_out out;

	primary(&f, false);
	step(&f, EV_FAILOVER_REQ, &out);
	CHECK(f.phase == CP_FAILOVER && (out.acts & A(ACT_HEARTBEAT)), "no heartbeat");
	step(&f, EV_HB_ERR, &out);
	CHECK(out.acts == A(ACT_QUERY_COLO), "no query after a refusal");
	step(&f, EV_COLO_ACTIVE, &out);
	CHECK(f.phase == CP_COLO && (out.acts & A(ACT_FO_FAILED)) &&
	      !(out.acts & A(ACT_KERNEL_FAILOVER)), "no rollback");
	CHECK(checkpoint(&f) & A(ACT_DONE), "no checkpoint after a rollback");
	/* accepted, never completes */
	step(&f, EV_FAILOVER_REQ, &out);
	step(&f, EV_HB_OK, &out);
	now_us += 200000;
	CHECK(step(&f, EV_TICK, &out) == A(ACT_QUERY_COLO), "no poll");
	step(&f, EV_COLO_ACTIVE, &out);
	CHECK(f.phase == CP_FAILOVER, "gave up early");
	now_us += 10 * SEC;
	CHECK(step(&f, EV_TICK, &out) == A(ACT_QUERY_COLO), "no final query");
	step(&f, EV_COLO_ACTIVE, &out);
	CHECK(f.phase == CP_COLO && (out.acts & A(ACT_FO_FAILED)), "no timeout");
	/* accepted, COLO already left */
	step(&f, EV_FAILOVER_REQ, &out);
	step(&f, EV_HB_ERR, &out);
	step(&f, EV_COLO_NONE, &out);
	CHECK(f.phase == CP_STANDALONE && (out.acts & A(ACT_KERNEL_FAILOVER)) &&
	      (out.acts & A(ACT_FO_DONE)), "not failed over");
	return 0;
}

static int t_policy(void)
{
	struct colod_fsm f;
	struct colod_out out;

	/* manual: a lost peer only waits */
	primary(&f, false);
	step(&f, EV_COLO_EXIT_ERROR, &out);
	CHECK(!(out.acts & A(ACT_HEARTBEAT)) && f.phase == CP_PEER_LOST,
	      "manual policy failed over");
	primary(&f, false);
	step(&f, EV_STOP, &out);
	step(&f, EV_PASS, &out);
	now_us += 11 * SEC;
	step(&f, EV_TICK, &out);
	CHECK(!(out.acts & A(ACT_HEARTBEAT)) && f.step == CS_STUCK,
	      "manual policy failed over on a stuck checkpoint");
	/* auto */
	primary(&f, true);
	step(&f, EV_COLO_EXIT_ERROR, &out);
	CHECK((out.acts & A(ACT_HEARTBEAT)) && !(out.acts & A(ACT_KERNEL_FAILOVER)),
	      "auto policy");
	return 0;
}

static int t_secondary(void)
{
	struct colod_fsm f;
	struct colod_fsm_cfg cfg = cfg_primary;
	struct colod_out out;

	cfg.primary = false;
	colod_fsm_init(&f, &cfg, CP_COLO);
	CHECK(step(&f, EV_STOP, &out) == A(ACT_BEGIN) && out.stop_ts_us > 0,
	      "load: BEGIN at STOP");
	now_us += 60 * SEC;		/* a slow load */
	CHECK(step(&f, EV_TICK, &out) == 0 && f.step == CS_CHECKPOINT,
	      "slow load taken for a lost peer");
	CHECK(step(&f, EV_RESUME, &out) == (A(ACT_DONE) | A(ACT_CP_DONE)) &&
	      out.kind == CK_LOAD, "load: DONE at RESUME");
	CHECK(step(&f, EV_REQUEST, &out) == 0, "secondary triggered");
	return 0;
}

static int t_before_colo(void)
{
	struct colod_fsm f;
	struct colod_out out;

	primary(&f, false);
	f.phase = CP_WAIT_COLO;
	CHECK(step(&f, EV_REQUEST, &out) == A(ACT_RELEASE), "no pre-COLO release");
	CHECK(step(&f, EV_PASS, &out) == 0, "a running pass began a checkpoint");
	step(&f, EV_STOP, &out);
	step(&f, EV_REQUEST, &out);
	CHECK(out.acts == 0, "released during the final stop");
	CHECK(step(&f, EV_PASS, &out) == A(ACT_BEGIN), "initial checkpoint");
	step(&f, EV_COLO_ENTERED, &out);
	CHECK(f.phase == CP_COLO, "not in COLO");
	now_us += 1000;
	CHECK(step(&f, EV_RESUME, &out) == (A(ACT_DONE) | A(ACT_CP_DONE)) &&
	      out.kind == CK_INITIAL, "initial DONE");
	CHECK(colod_fsm_wanted(&f), "request made during the final stop lost");
	/* a failed migration mid-stop, with a failing release */
	primary(&f, false);
	f.phase = CP_WAIT_COLO;
	step(&f, EV_STOP, &out);
	step(&f, EV_PASS, &out);
	CHECK(step(&f, EV_MIGRATION_FAILED, &out) & A(ACT_DONE), "cut left");
	step(&f, EV_REQUEST, &out);
	step(&f, EV_RESUME, &out);
	CHECK(out.acts & A(ACT_RELEASE), "no release after the failed migration");
	step(&f, EV_RELEASE_ERR, &out);
	CHECK(f.req_gen > f.done_gen, "failed release answered");
	now_us += SEC;
	CHECK(step(&f, EV_TICK, &out) == A(ACT_RELEASE), "no retry");
	return 0;
}

/* a second checkpoint while the kernel holds a cut (BEGIN refused twice) */
static int t_cut_held(void)
{
	struct colod_fsm f;
	struct colod_out out;

	primary(&f, false);
	step(&f, EV_STOP, &out);
	step(&f, EV_PASS, &out);
	step(&f, EV_COLO_EXIT_ERROR, &out);
	step(&f, EV_FAILOVER_REQ, &out);
	step(&f, EV_HB_ERR, &out);
	step(&f, EV_COLO_ACTIVE, &out);	/* rolled back to peer-lost */
	CHECK(f.phase == CP_PEER_LOST && f.begun, "state");
	return 0;
}

/* ---------------------------------------------------------------- part 3 */

/* From every state some events reach COLO-idle without a cut, or failed-over. */
static int t_no_dead_end(void)
{
#define E_END CE_NR_EVENTS
	static const enum colod_ev paths[][6] = {
		{ EV_RESUME, EV_TICK, E_END },
		{ EV_STOP, EV_PASS, EV_RESUME, E_END },
		{ EV_PASS, EV_RESUME, E_END },
		{ EV_COLO_ENTERED, EV_STOP, EV_PASS, EV_RESUME, E_END },
		{ EV_COLO_EXIT_REQUEST, E_END },
		{ EV_FAILOVER_REQ, EV_HB_OK, EV_COLO_EXIT_REQUEST, E_END },
		{ EV_COLO_NONE, E_END },
		{ EV_COLO_ENTERED, EV_RESUME, EV_STOP, EV_PASS, EV_RESUME, E_END },
	};
	int side, ph, st, b, p, k, bad = 0;

	for (side = 0; side < 2; side++)
	for (ph = 0; ph < CP_NR_PHASES; ph++)
	for (st = 0; st < CS_NR_STEPS; st++)
	for (b = 0; b < 2; b++) {
		bool ok = false;

		for (p = 0; !ok && p < (int)(sizeof(paths) / sizeof(paths[0])); p++) {
			struct colod_fsm f;
			struct colod_fsm_cfg cfg = cfg_primary;
			struct colod_out out;

			cfg.primary = !side;
			colod_fsm_init(&f, &cfg, (enum colod_phase)ph);
			f.step = (enum colod_step)st;
			f.begun = b;
			f.stop_ts_us = now_us;
			for (k = 0; k < 6 && paths[p][k] != E_END; k++) {
				now_us += 1000;
				step(&f, paths[p][k], &out);
			}
			ok = (f.phase == CP_COLO && f.step == CS_IDLE && !f.begun) ||
			     f.phase == CP_STANDALONE;
		}
		if (!ok) {
			FAIL("%s %s/%s begun=%d: no way back",
			     side ? "secondary" : "primary", colod_phase_name(ph),
			     colod_step_name(st), b);
			bad++;
		}
	}
	return bad ? 1 : 0;
}

static void run(const char *name, int (*fn)(void))
{
	int before = n_fail;

	if (fn() || n_fail != before) {
		if (n_fail == before)
			n_fail++;
		printf("FAIL: glue-qmp/%s\n", name);
	} else {
		printf("PASS: glue-qmp/%s\n", name);
	}
}

int main(void)
{
	int fails;

	run("fsm-exhaustive", t_exhaustive);
	fails = n_fail;
	n_pass = 0;
	n_fail = 0;
	run("fsm-flow", t_flow);
	run("fsm-request-during-checkpoint", t_request_during_checkpoint);
	run("fsm-cut-never-forgotten", t_cut_never_forgotten);
	run("fsm-user-pause-keeps-request", t_user_pause);
	run("fsm-failed-trigger-keeps-request", t_failed_trigger);
	run("fsm-peer-lost-returns", t_peer_lost_returns);
	run("fsm-failover-policy", t_policy);
	run("fsm-secondary", t_secondary);
	run("fsm-before-colo", t_before_colo);
	run("fsm-cut-held", t_cut_held);
	run("fsm-no-dead-end", t_no_dead_end);
	n_fail += fails;
	printf("# glue-qmp/colod-fsm: %d failed\n", n_fail);
	return n_fail ? 1 : 0;
}

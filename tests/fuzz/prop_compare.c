// SPDX-License-Identifier: GPL-2.0
/*
 * prop_compare.c - property test of the compare engine against a reference
 * model (issue 7 point 6, second half)
 *
 * One input (a byte string) drives a sequence of operations, as the kernel
 * would issue them, on one colo_stream: PVM and SVM segments cut anywhere
 * from each side's stream (overlaps, retransmits with the same or with
 * other bytes, gaps, any order, FINs), the client's ACK, the SYN exchange's
 * resync, checkpoints (the cut: SVM segments dropped; done: the cut epoch's
 * PVM segments released by the caller, resync at the PVM's next seq),
 * history given up, segments dropped.
 *
 * The model is plain arrays: the PVM's stream P[], per epoch the SVM's
 * stream S[] (equal to P, or diverging), and for the current epoch every
 * value (byte or FIN) the SVM sent at each offset; the client's ACK and what
 * the client holds. After every operation:
 *   safety: every PVM segment the engine declares done consists only of
 *     values that the model calls verified: below the client's ACK, or sent
 *     by the SVM at the same offset in the same epoch (a checkpoint's
 *     release is the caller's, not the engine's); every SVM segment the
 *     engine hands back as done lies below the ACK; the lists are
 *     consistent;
 *   honesty: with a client that acknowledges only what it holds, the ACK is
 *     never ahead of the engine's comparison point.
 * At the end of a "clean" input (both sides send the same stream, no
 * corrupted copies, honest ACKs):
 *   liveness: no mismatch ever; once both sides have sent the whole stream
 *   in the current epoch every PVM segment is done, and once the client
 *   acknowledges all of it every SVM segment is too.
 *
 * Built three ways: -DPROP_NATIVE (tests/unit/compare: thousands of cases
 * from fixed seeds, PASS:/FAIL: lines), -DPROP_FUZZ (libFuzzer target,
 * tests/fuzz), or included for its prop_run() only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colo_compare.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define P_MAXL		1024	/* stream bytes at most */
#define P_MAXSEG	200	/* payload bytes per segment at most */
#define P_MAXOPS	400
#define P_POOL		(P_MAXOPS + 2 * (P_MAXL / 64 + 2) + 8)
#define P_FIN		256	/* the value "FIN" at an offset */

struct pseg {
	struct colo_seg	seg;
	int		side;
	u32		off;		/* stream offset of seg.seq */
	u32		epoch;
	int		state;		/* 0 unused, 1 queued, 2 out */
	int		copy;
	u8		buf[P_MAXSEG];
};

struct input {
	const u8	*p;
	size_t		n;
};

static u8 take8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static u32 take16(struct input *in)
{
	u32 v = take8(in);

	return v << 8 | take8(in);
}

/* ---- the model ------------------------------------------------------- */

static struct {
	u32		base;		/* seq of offset 0 (ISN + 1) */
	u32		len;		/* L: stream bytes */
	bool		fin;		/* the stream ends with a FIN at L */
	bool		clean;		/* same stream both sides, honest */
	u8		P[P_MAXL];
	u8		S[P_MAXL];	/* the SVM's stream this epoch */
	u32		epoch;
	bool		in_ckpt;	/* between the cut and done */
	bool		synced;
	u32		ack;		/* offset; client's ACK = base + ack */
	bool		ack_valid;
	bool		lied;		/* an ACK beyond what the client holds */
	u8		client[P_MAXL + 1];	/* what the client received */
	/* values the SVM sent at each offset this epoch: 257 bits each */
	u8		svm[P_MAXL + 1][(P_FIN + 8) / 8];
	u32		pvm_next;	/* offset after the PVM's furthest */
	bool		pvm_next_valid;
} M;

static bool trace;	/* print each operation (PROP_TRACE=1) */

static struct pseg pool[P_POOL];
static int npool;
static struct colo_stream st;
static const char *fail_why;
static char fail_buf[256];

#define PROP(cond, ...) do {						\
	if (!(cond)) {							\
		snprintf(fail_buf, sizeof(fail_buf), __VA_ARGS__);	\
		fail_why = fail_buf;					\
		return false;						\
	}								\
} while (0)

static const void *p_data(const struct colo_seg *seg, u32 off, u32 len,
			  void *scratch)
{
	const struct pseg *p = container_of(seg, struct pseg, seg);

	if (len == 0 || len > COLO_CMP_CHUNK || off > seg->len ||
	    len > seg->len - off)
		abort();	/* the engine broke data()'s contract */
	if (p->copy) {
		memcpy(scratch, p->buf + off, len);
		return scratch;
	}
	return p->buf + off;
}

static const struct colo_seg_ops p_ops = { .data = p_data };

/* The value @p has at stream offset @x (inside it). */
static int seg_value(const struct pseg *p, u32 x)
{
	if (x < p->off + p->seg.len)
		return p->buf[x - p->off];
	return P_FIN;
}

static u32 seg_span(const struct pseg *p)
{
	return colo_seg_end(&p->seg) - p->seg.seq;
}

static void svm_record(const struct pseg *p)
{
	u32 x, n = seg_span(p);
	int v;

	for (x = p->off; x < p->off + n; x++) {
		v = seg_value(p, x);
		M.svm[x][v >> 3] |= (u8)(1u << (v & 7));
	}
}

static bool svm_sent(u32 x, int v)
{
	return M.svm[x][v >> 3] & (1u << (v & 7));
}

/* The client's contiguous holding from offset 0. */
static u32 client_rcv(void)
{
	u32 x = 0;

	while (x <= M.len && M.client[x])
		x++;
	return x;
}

static void client_gets(const struct pseg *p)
{
	u32 x, n = seg_span(p);

	for (x = p->off; x < p->off + n; x++)
		M.client[x] = 1;
}

/* ---- checks ---------------------------------------------------------- */

static bool check_lists(void)
{
	const struct colo_seg *seg, *prev;
	u32 count, ndone;
	int side;

	for (side = 0; side < COLO_SIDES; side++) {
		const struct colo_seg_list *l = &st.side[side];

		count = 0;
		ndone = 0;
		prev = NULL;
		for (seg = l->head; seg; prev = seg, seg = seg->next) {
			const struct pseg *p = container_of(seg, struct pseg,
							    seg);

			PROP(seg->prev == prev, "side %d: broken prev", side);
			PROP(p->state == 1 && p->side == side,
			     "side %d: foreign segment linked", side);
			PROP(!prev || !colo_seq_before(seg->seq, prev->seq),
			     "side %d: not sorted", side);
			count++;
			ndone += seg->done;
			PROP(count <= P_POOL, "side %d: loop", side);
		}
		PROP(l->tail == prev, "side %d: tail", side);
		PROP(l->count == count && l->ndone == ndone,
		     "side %d: count %u/%u ndone %u/%u", side, l->count, count,
		     l->ndone, ndone);
	}
	return true;
}

/* A PVM segment the engine released: every value must be verified. */
static bool check_released(const struct pseg *p)
{
	u32 x, n = seg_span(p);
	int v;

	for (x = p->off; x < p->off + n; x++) {
		if (M.ack_valid && x < M.ack)
			continue;	/* below the client's ACK */
		v = seg_value(p, x);
		PROP(p->epoch == M.epoch && svm_sent(x, v),
		     "PVM +%u+%u%s (epoch %u, now %u) released: +%u (%s) %s",
		     p->off, p->seg.len,
		     p->seg.flags & COLO_SEG_FIN ? "+FIN" : "", p->epoch,
		     M.epoch, x, v == P_FIN ? "FIN" : "byte",
		     p->epoch != M.epoch ? "of an older epoch" :
		     "never sent by the SVM in this epoch");
	}
	return true;
}

static bool drain(void)
{
	struct colo_seg *seg;
	struct pseg *p;

	while ((seg = colo_stream_pop_done(&st, COLO_PVM))) {
		p = container_of(seg, struct pseg, seg);
		PROP(p->state == 1 && p->side == COLO_PVM && seg->done,
		     "pop_done(PVM) returned a segment not queued there");
		p->state = 2;
		if (!check_released(p))
			return false;
		client_gets(p);
	}
	while ((seg = colo_stream_pop_done(&st, COLO_SVM))) {
		p = container_of(seg, struct pseg, seg);
		PROP(p->state == 1 && p->side == COLO_SVM && seg->done,
		     "pop_done(SVM) returned a segment not queued there");
		PROP(seg_span(p) == 0 ||
		     (M.ack_valid && p->off + seg_span(p) <= M.ack),
		     "SVM +%u+%u done above the ACK +%u", p->off, p->seg.len,
		     M.ack);
		p->state = 2;
	}
	if (!check_lists())
		return false;
	if (M.synced && !M.lied && M.ack_valid)
		PROP(!colo_seq_after(M.base + M.ack, st.matched),
		     "honest ACK +%u ahead of matched +%u", M.ack,
		     st.matched - M.base);
	if (M.clean)
		PROP(!st.mismatched, "clean run: mismatch at +%u",
		     st.mismatch_seq - M.base);
	return true;
}

/* ---- operations ------------------------------------------------------ */

static struct pseg *new_seg(int side, u32 off, u32 len, bool fin,
			    const u8 *src)
{
	struct pseg *p;

	if (npool >= P_POOL)
		return NULL;
	p = &pool[npool];
	memset(p, 0, sizeof(*p));
	p->side = side;
	p->off = off;
	p->seg.seq = M.base + off;
	p->seg.len = len;
	p->seg.flags = fin ? COLO_SEG_FIN : 0;
	p->copy = npool & 1;
	p->epoch = M.epoch;
	memcpy(p->buf, src + off, len);
	npool++;
	return p;
}

static bool add_seg(struct pseg *p)
{
	enum colo_cmp_result r;

	p->state = 1;
	if (p->side == COLO_SVM) {
		svm_record(p);
	} else if (seg_span(p)) {
		u32 end = p->off + seg_span(p);

		if (!M.pvm_next_valid || end > M.pvm_next)
			M.pvm_next = end;
		M.pvm_next_valid = true;
	}
	r = colo_stream_add(&st, p->side, &p->seg);
	if (trace)
		fprintf(stderr, "add %s +%u+%u%s ep %u -> %d matched +%u ok +%u\n",
			p->side ? "SVM" : "PVM", p->off, p->seg.len,
			p->seg.flags & COLO_SEG_FIN ? "+FIN" : "", p->epoch, r,
			st.matched - M.base, p->seg.ok - M.base);
	PROP(r <= COLO_CMP_MISMATCH && (r == COLO_CMP_MISMATCH) ==
	     st.mismatched, "add: result %d, mismatched %d", r, st.mismatched);
	return drain();
}

/* A segment of @side from the input: where, how long, FIN, corrupted. */
static bool op_send(struct input *in, int side)
{
	const u8 *src = side == COLO_PVM ? M.P : M.S;
	u32 off = take16(in) % (M.len + 1);
	u32 len = take8(in) % (P_MAXSEG + 1);
	u8 fl = take8(in);
	static u8 tmp[P_MAXL];
	struct pseg *p;
	bool fin;

	if (side == COLO_SVM && M.in_ckpt)
		return true;	/* the SVM is being loaded: no output */
	if (len > M.len - off)
		len = M.len - off;
	fin = M.fin && off + len == M.len && (fl & 1);
	if (!M.clean && (fl & 0x70) == 0x70)
		fin = true;	/* a FIN anywhere */
	memcpy(tmp, src, M.len);
	if (!M.clean && len && (fl & 0x8e) == 0x8e)	/* another byte */
		tmp[off + (fl >> 4) % len] ^= (u8)(fl | 1);
	p = new_seg(side, off, len, fin, tmp);
	return p ? add_seg(p) : true;
}

static bool op_ack(struct input *in)
{
	u32 rcv = client_rcv(), a, from = M.ack_valid ? M.ack : 0;
	u8 b = take8(in);

	if (!M.clean && (b & 0xc0) == 0xc0) {
		a = from + b % 64;	/* anything, even beyond */
		if (a > M.len + 1)
			a = M.len + 1;
		if (a > rcv)
			M.lied = true;
	} else {
		if (rcv < from)
			return drain();
		a = from + (rcv - from ? b % (rcv - from + 1) : 0);
	}
	if (!M.ack_valid || a > M.ack) {
		M.ack = a;
		M.ack_valid = true;
	}
	colo_stream_acked(&st, M.base + a);
	if (trace)
		fprintf(stderr, "ack +%u (client holds +%u)\n", a, rcv);
	return drain();
}

static bool op_sync(void)
{
	if (M.synced || M.in_ckpt)
		return true;
	M.synced = true;
	colo_stream_resync(&st, M.base);	/* the SYNs compared */
	if (trace)
		fprintf(stderr, "sync\n");
	return drain();
}

/* Checkpoint begin (the cut): the SVM's output of this epoch is void. */
static bool op_cut(struct input *in)
{
	u32 d;
	int i;

	if (M.in_ckpt)
		return true;
	for (i = 0; i < npool; i++)
		if (pool[i].state == 1 && pool[i].side == COLO_SVM) {
			colo_stream_remove(&st, &pool[i].seg);
			pool[i].state = 2;
		}
	M.epoch++;
	M.in_ckpt = true;
	if (trace)
		fprintf(stderr, "cut -> epoch %u\n", M.epoch);
	memset(M.svm, 0, sizeof(M.svm));
	/* the next epoch's SVM stream: the same, or diverging at d */
	memcpy(M.S, M.P, M.len);
	d = take16(in);
	if (!M.clean && (d & 1) && M.len)
		for (i = (int)((d >> 1) % M.len); i < (int)M.len; i++)
			M.S[i] ^= (u8)(d >> 8 | 1);
	return drain();
}

/* Checkpoint done: the cut epoch's PVM output leaves, resync. */
static bool op_done(void)
{
	int i;

	if (!M.in_ckpt)
		return true;
	for (i = 0; i < npool; i++)
		if (pool[i].state == 1 && pool[i].side == COLO_PVM &&
		    pool[i].epoch < M.epoch) {
			colo_stream_remove(&st, &pool[i].seg);
			pool[i].state = 2;
			client_gets(&pool[i]);
		}
	M.in_ckpt = false;
	if (trace)
		fprintf(stderr, "done, resync +%u\n", M.pvm_next);
	if (M.pvm_next_valid || M.synced) {
		M.synced = true;
		colo_stream_resync(&st, M.base + (M.pvm_next_valid ?
						  M.pvm_next : 0));
	}
	return drain();
}

static bool op_drop(struct input *in, int kind)
{
	struct colo_seg *seg;
	int i, k = take8(in);

	if (kind == 0) {	/* memory pressure: the oldest history */
		seg = colo_stream_pop_history(&st);
		if (seg) {
			struct pseg *p = container_of(seg, struct pseg, seg);

			PROP(p->state == 1 && p->side == COLO_SVM,
			     "pop_history: not a queued SVM segment");
			PROP(!colo_seq_after(colo_seg_end(seg), st.matched),
			     "pop_history: reaches past matched");
			p->state = 2;
		}
		return drain();
	}
	/* a queued segment dropped (hard cap, failed allocation) */
	for (i = 0; i < npool; i++) {
		struct pseg *p = &pool[(i + k) % npool];

		if (p->state == 1) {
			colo_stream_remove(&st, &p->seg);
			p->state = 2;
			break;
		}
	}
	return drain();
}

/* Both sides send the whole stream again (this epoch): all must go. */
static bool flush_clean(void)
{
	u32 off, len;
	int side;

	if (!op_done())
		return false;
	if (!M.synced) {
		M.synced = true;
		colo_stream_resync(&st, M.base);
		if (!drain())
			return false;
	}
	for (side = COLO_SVM; side >= COLO_PVM; side--) {
		off = 0;
		do {
			struct pseg *p;

			len = M.len - off < 64 ? M.len - off : 64;
			p = new_seg(side, off, len, M.fin && off + len == M.len,
				    side == COLO_PVM ? M.P : M.S);
			if (!p)
				abort();	/* P_POOL too small */
			if (!add_seg(p))
				return false;
			off += len;
		} while (off < M.len);
	}
	PROP(!st.side[COLO_PVM].count,
	     "liveness: %u PVM segments still held (matched +%u)",
	     st.side[COLO_PVM].count, st.matched - M.base);
	PROP(st.matched == M.base + M.len + M.fin ||
	     (M.ack_valid && M.ack > 0),
	     "liveness: matched +%u, want +%u", st.matched - M.base,
	     M.len + M.fin);
	colo_stream_acked(&st, M.base + M.len + M.fin);
	M.ack = M.len + M.fin;
	M.ack_valid = true;
	if (!drain())
		return false;
	PROP(!st.side[COLO_SVM].count, "liveness: %u SVM segments left",
	     st.side[COLO_SVM].count);
	return true;
}

struct prop_stats {
	unsigned long	ops;
	unsigned long	released;
	unsigned long	mismatches;
	unsigned long	clean;
};

/*
 * Run one input. Returns true if every property held; false with
 * fail_why set otherwise.
 */
static bool prop_run(const u8 *data, size_t size, struct prop_stats *ps)
{
	struct input in = { data, size };
	u32 x, seed;
	int op, i;
	u8 mode;
	bool ok = true;

	memset(&M, 0, sizeof(M));
	npool = 0;
	fail_why = NULL;
	mode = take8(&in);
	M.base = (u32)take16(&in) << 16 | take16(&in);
	M.len = take16(&in) % (P_MAXL + 1);
	M.fin = mode & 1;
	M.clean = mode & 2;
	seed = take8(&in) | 1;
	for (x = 0; x < M.len; x++) {
		seed = seed * 1103515245 + 12345;
		/* a small alphabet now and then: equal bytes by chance */
		M.P[x] = (u8)(mode & 4 ? (seed >> 16) & 3 : seed >> 16);
	}
	memcpy(M.S, M.P, M.len);
	if (!M.clean && (mode & 8) && M.len)	/* epoch 0 diverges */
		for (x = (mode >> 4) * M.len / 16; x < M.len; x++)
			M.S[x] ^= 0x5a;
	colo_stream_init(&st, &p_ops);

	for (op = 0; op < P_MAXOPS && in.n && ok; op++) {
		u8 o = take8(&in);

		switch (o % 16) {
		case 0: case 1: case 2: case 3: case 4:
			ok = op_send(&in, COLO_PVM);
			break;
		case 5: case 6: case 7: case 8: case 9:
			ok = op_send(&in, COLO_SVM);
			break;
		case 10: case 11:
			ok = op_ack(&in);
			break;
		case 12:
			ok = op_sync();
			break;
		case 13:
			ok = (o & 0x10) ? op_done() : op_cut(&in);
			break;
		case 14:
			ok = op_drop(&in, !M.clean && (o & 0x10));
			break;
		case 15:
			ok = op_sync() && op_send(&in, COLO_PVM);
			break;
		}
		if (ps)
			ps->ops++;
	}
	if (ok && M.clean)
		ok = flush_clean();
	if (ps) {
		for (i = 0; i < npool; i++)
			ps->released += pool[i].side == COLO_PVM &&
					pool[i].state == 2;
		ps->mismatches += st.mismatched;
		ps->clean += M.clean;
	}
	return ok;
}

#ifdef PROP_FUZZ
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!prop_run(data, size, NULL)) {
		fprintf(stderr, "property failed: %s\n", fail_why);
		abort();
	}
	return 0;
}
#endif

#ifdef PROP_NATIVE
static uint64_t rs;

static u32 rnd(void)
{
	rs ^= rs >> 12;
	rs ^= rs << 25;
	rs ^= rs >> 27;
	return (u32)((rs * 0x2545f4914f6cdd1dull) >> 32);
}

int main(int argc, char **argv)
{
	static u8 buf[4096];
	struct prop_stats ps = { 0 };
	int cases = argc > 1 ? atoi(argv[1]) : 10000, c;

	size_t n, i;

	trace = getenv("PROP_TRACE") != NULL;
	if (argc > 2)
		c = atoi(argv[2]), cases = c + 1;
	else
		c = 0;
	for (; c < cases; c++) {
		rs = 0xc0105eedull * (uint64_t)(c + 1);
		n = 16 + rnd() % (sizeof(buf) - 16);
		for (i = 0; i < n; i++)
			buf[i] = (u8)rnd();
		/* a quarter clean, small streams now and then */
		buf[0] = (u8)((buf[0] & ~2) | ((c & 3) == 0 ? 2 : 0));
		if (c & 4)
			buf[5] = 0;
		if (!prop_run(buf, n, &ps)) {
			printf("FAIL: compare/property_model (case %d: %s)\n",
			       c, fail_why);
			return 1;
		}
	}
	printf("# %d cases, %lu operations, %lu PVM segments out, "
	       "%lu ended mismatched, %lu clean (liveness checked)\n", cases,
	       ps.ops, ps.released, ps.mismatches, ps.clean);
	printf("PASS: compare/property_model\n");
	return 0;
}
#endif

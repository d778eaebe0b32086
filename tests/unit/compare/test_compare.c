// SPDX-License-Identifier: GPL-2.0
/*
 * test_compare.c - native unit tests of the compare engine (lib/colo_compare.c)
 *
 * Prints one line per case, "PASS: compare/<case>" or
 * "FAIL: compare/<case> (why)", and exits 1 if any case failed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colo_compare.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- tiny harness ------------------------------------------------------ */

static char why[512];

static int fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (why[0])
		return 1;	/* keep the first reason */
	n = snprintf(why, sizeof(why), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vsnprintf(why + n, sizeof(why) - n, fmt, ap);
	va_end(ap);
	return 1;
}

#define CHECK(cond) do {						\
	if (!(cond))							\
		return fail_at(__FILE__, __LINE__, "%s", #cond);	\
} while (0)

#define CHECKF(cond, ...) do {						\
	if (!(cond))							\
		return fail_at(__FILE__, __LINE__, __VA_ARGS__);	\
} while (0)

#define TRY(expr) do {							\
	if (expr)							\
		return 1;						\
} while (0)

/* ---- deterministic PRNG ------------------------------------------------ */

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint32_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* uniform in [lo, hi] */
static uint32_t rng_range(uint32_t lo, uint32_t hi)
{
	return lo + rng() % (hi - lo + 1);
}

/* ---- segments over plain buffers --------------------------------------- */

struct tseg {
	struct colo_seg	seg;
	const u8	*buf;		/* payload, seg.len bytes */
	int		side;		/* side it is meant for */
	int		copy;		/* data() copies into scratch */
	int		fail;		/* data() returns NULL */
	int		popped;		/* returned by colo_stream_pop_done() */
};

static unsigned long t_copies, t_inplace, t_bad_calls;

static const void *t_data(const struct colo_seg *seg, u32 off, u32 len,
			  void *scratch)
{
	const struct tseg *t = container_of(seg, struct tseg, seg);

	if (len == 0 || len > COLO_CMP_CHUNK || off > seg->len ||
	    len > seg->len - off) {
		t_bad_calls++;
		return NULL;
	}
	if (t->fail)
		return NULL;
	if (t->copy) {
		t_copies++;
		memcpy(scratch, t->buf + off, len);
		return scratch;
	}
	t_inplace++;
	return t->buf + off;
}

static const struct colo_seg_ops t_ops = { .data = t_data };

static struct tseg *tseg_of(const struct colo_seg *seg)
{
	return container_of(seg, struct tseg, seg);
}

#define MAXSEG	40000

static struct tseg pool[MAXSEG];
static int npool;
static struct tseg *ord[MAXSEG];
static int nord;

static void reset(void)
{
	memset(pool, 0, sizeof(pool));
	npool = 0;
	nord = 0;
}

/* A segment on @side at @seq with @len bytes from @buf. Odd ones copy. */
static struct tseg *mk(int side, u32 seq, u32 len, u32 flags, const u8 *buf)
{
	struct tseg *t;

	if (npool >= MAXSEG) {
		fprintf(stderr, "test pool exhausted\n");
		exit(2);
	}
	t = &pool[npool];
	t->seg.seq = seq;
	t->seg.len = len;
	t->seg.flags = flags;
	t->buf = buf;
	t->side = side;
	t->copy = npool & 1;
	npool++;
	return t;
}

/*
 * Cut @total bytes of @buf (stream offset 0 = seq @base) into segments of
 * [lo, hi] bytes for @side; a FIN on the last one if @fin (a bare FIN if
 * @total is 0). Appends them to ord[] in order. Returns the first one.
 */
static struct tseg *cut(int side, u32 base, const u8 *buf, u32 total,
			u32 lo, u32 hi, bool fin)
{
	struct tseg *first = &pool[npool], *t;
	u32 off = 0, len;

	do {
		len = rng_range(lo, hi);
		if (len > total - off)
			len = total - off;
		t = mk(side, base + off, len, 0, buf + off);
		ord[nord++] = t;
		off += len;
	} while (off < total);
	if (fin)
		t->seg.flags |= COLO_SEG_FIN;
	return first;
}

static void shuffle(struct tseg **a, int n)
{
	struct tseg *tmp;
	int i, j;

	for (i = n - 1; i > 0; i--) {
		j = (int)(rng() % (uint32_t)(i + 1));
		tmp = a[i];
		a[i] = a[j];
		a[j] = tmp;
	}
}

static void fill(u8 *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (u8)rng();
}

/* ---- invariants -------------------------------------------------------- */

static int check_lists(const struct colo_stream *st)
{
	const struct colo_seg *seg, *prev;
	u32 count, ndone;
	int side;

	for (side = 0; side < COLO_SIDES; side++) {
		const struct colo_seg_list *l = &st->side[side];

		count = 0;
		ndone = 0;
		prev = NULL;
		for (seg = l->head; seg; prev = seg, seg = seg->next) {
			CHECKF(seg->prev == prev, "side %d: broken prev link",
			       side);
			CHECKF(seg->side == side, "side %d: seg side %u", side,
			       seg->side);
			CHECKF(!prev || !colo_seq_before(seg->seq, prev->seq),
			       "side %d: not sorted (%u after %u)", side,
			       seg->seq, prev->seq);
			CHECKF(!tseg_of(seg)->popped, "side %d: popped seg linked",
			       side);
			count++;
			ndone += seg->done;
			CHECK(count <= MAXSEG);
		}
		CHECKF(l->tail == prev, "side %d: wrong tail", side);
		CHECKF(l->count == count, "side %d: count %u, walked %u", side,
		       l->count, count);
		CHECKF(l->ndone == ndone, "side %d: ndone %u, walked %u", side,
		       l->ndone, ndone);
	}
	CHECKF(t_bad_calls == 0, "data() called out of bounds");
	return 0;
}

/* ---- feeding ----------------------------------------------------------- */

static struct colo_stream st;
static bool allow_backward;	/* a resync went back: done may lie ahead */
/*
 * An honest client that has received everything up to the comparison point:
 * after each add, colo_stream_acked(matched). The cases written for the first
 * engine (where compared SVM segments were done at once) run this way.
 */
static bool auto_ack;
static int popped[COLO_SIDES];
static u32 last_pop_seq[COLO_SIDES];

static void stream_reset(void)
{
	colo_stream_init(&st, &t_ops);
	allow_backward = false;
	auto_ack = true;
	popped[COLO_PVM] = 0;
	popped[COLO_SVM] = 0;
}

/* Pop everything done on both sides and check what comes out. */
static int drain(void)
{
	struct colo_seg *seg;
	struct tseg *t;
	int side;

	for (side = 0; side < COLO_SIDES; side++) {
		while ((seg = colo_stream_pop_done(&st, side))) {
			t = tseg_of(seg);
			CHECK(seg->done);
			CHECK(!seg->next && !seg->prev);
			CHECKF(!t->popped, "seg %u+%u popped twice", seg->seq,
			       seg->len);
			CHECK(t->side == side && seg->side == side);
			CHECKF(allow_backward || colo_seg_end(seg) == seg->seq ||
			       !colo_seq_after(colo_seg_end(seg), st.matched) ||
			       (st.ack_valid &&
				!colo_seq_after(colo_seg_end(seg), st.ack)),
			       "seg %u+%u%s popped, matched %u", seg->seq,
			       seg->len,
			       seg->flags & COLO_SEG_FIN ? "+FIN" : "",
			       st.matched);
			t->popped = 1;
			popped[side]++;
			last_pop_seq[side] = seg->seq;
		}
	}
	return check_lists(&st);
}

static int add(struct tseg *t, enum colo_cmp_result *res)
{
	enum colo_cmp_result r;

	r = colo_stream_add(&st, t->side, &t->seg);
	CHECKF(r == COLO_CMP_PENDING || r == COLO_CMP_PROGRESS ||
	       r == COLO_CMP_MISMATCH, "bad result %d", r);
	CHECKF((r == COLO_CMP_MISMATCH) == st.mismatched,
	       "result %d, mismatched %d", r, st.mismatched);
	if (auto_ack && st.synced)
		colo_stream_acked(&st, st.matched);
	if (res)
		*res = r;
	return drain();
}

/* Add @t and require result @want. */
static int add_want(struct tseg *t, enum colo_cmp_result want)
{
	enum colo_cmp_result r;

	TRY(add(t, &r));
	CHECKF(r == want, "add %s %u+%u: result %d, want %d",
	       t->side == COLO_PVM ? "PVM" : "SVM", t->seg.seq, t->seg.len, r,
	       want);
	return 0;
}

/* Feed ord[from..to); fail if the stream mismatches and !@mismatch_ok. */
static int feed(int from, int to, bool mismatch_ok)
{
	int i;

	for (i = from; i < to; i++) {
		TRY(add(ord[i], NULL));
		CHECKF(mismatch_ok || !st.mismatched,
		       "unexpected mismatch at %u", st.mismatch_seq);
	}
	return 0;
}

/* Every segment in pool[from..to) has been popped (want 1) or not (0). */
static int all_popped(int from, int to, int want)
{
	int i;

	for (i = from; i < to; i++)
		CHECKF(pool[i].popped == want, "seg %d (%s %u+%u) popped=%d",
		       i, pool[i].side == COLO_PVM ? "PVM" : "SVM",
		       pool[i].seg.seq, pool[i].seg.len, pool[i].popped);
	return 0;
}

/*
 * Merge the two in-order runs ord[a0..a1) and ord[b0..b1) (any sides) into a
 * random interleaving that keeps each run's order; the result replaces ord[].
 */
static void merge_random(int a0, int a1, int b0, int b1)
{
	static struct tseg *tmp[MAXSEG];
	int n = 0;

	while (a0 < a1 || b0 < b1) {
		if (b0 >= b1 || (a0 < a1 && (rng() & 1)))
			tmp[n++] = ord[a0++];
		else
			tmp[n++] = ord[b0++];
	}
	memcpy(ord, tmp, n * sizeof(tmp[0]));
	nord = n;
}

/* ---- cases ------------------------------------------------------------- */

static u8 bufp[200000], bufs[200000];

static int t_inorder_equal(void)
{
	const u32 base = 1000, mss = 1448, nseg = 100, total = mss * nseg;
	struct tseg *p, *s;
	u32 i;

	fill(bufp, total);
	memcpy(bufs, bufp, total);
	p = cut(COLO_PVM, base, bufp, total, mss, mss, false);
	s = cut(COLO_SVM, base, bufs, total, mss, mss, false);
	stream_reset(); colo_stream_resync(&st, base);
	for (i = 0; i < nseg; i++) {
		TRY(add_want(&p[i], COLO_CMP_PENDING));
		CHECK(!p[i].popped);
		TRY(add_want(&s[i], COLO_CMP_PROGRESS));
		CHECKF(p[i].popped && s[i].popped, "seg %u not popped", i);
		CHECK(st.matched == base + (i + 1) * mss);
	}
	CHECK(st.synced && !st.mismatched && !st.fin_matched);
	CHECK(st.matched_bytes == total);
	CHECK(!st.side[0].head && !st.side[1].head);
	return 0;
}

static int t_diff_segmentation(void)
{
	const u32 base = 77777, total = 150000;
	int round, np;

	for (round = 0; round < 3; round++) {
		reset();
		fill(bufp, total);
		memcpy(bufs, bufp, total);
		cut(COLO_PVM, base, bufp, total, 1448, 1448, false);
		np = nord;
		if (round == 0)		/* GSO-sized SVM segments */
			cut(COLO_SVM, base, bufs, total, 65536, 65536, false);
		else if (round == 1)	/* anything from 1 byte to 9000 */
			cut(COLO_SVM, base, bufs, total, 1, 9000, false);
		else			/* tiny */
			cut(COLO_SVM, base, bufs, total, 1, 40, false);
		merge_random(1, np, np, nord);	/* ord[0] stays first */
		memmove(ord + 1, ord, nord * sizeof(ord[0]));
		ord[0] = &pool[0];
		nord++;
		stream_reset(); colo_stream_resync(&st, base);
		TRY(feed(0, nord, false));
		TRY(all_popped(0, npool, 1));
		CHECK(st.matched == base + total);
		CHECK(st.matched_bytes == total);
	}
	return 0;
}

static int t_out_of_order_overlap(void)
{
	const u32 base = 0x7ffff000, total = 60000;
	u32 off, len;
	int i, round;

	for (round = 0; round < 20; round++) {
		reset();
		fill(bufp, total);
		memcpy(bufs, bufp, total);
		cut(COLO_PVM, base, bufp, total, 1, 3000, false);
		cut(COLO_SVM, base, bufs, total, 1, 3000, false);
		/* overlapping extras and exact duplicates on both sides */
		for (i = 0; i < 40; i++) {
			int side = i & 1;
			const u8 *b = side == COLO_PVM ? bufp : bufs;

			off = rng_range(0, total - 1);
			len = rng_range(1, total - off < 5000 ? total - off : 5000);
			ord[nord++] = mk(side, base + off, len, 0, b + off);
			ord[nord] = mk(side, base + off, len, 0, b + off);
			nord++;
		}
		shuffle(ord, nord);
		stream_reset();
		CHECK(colo_stream_resync(&st, base) == COLO_CMP_PENDING);
		TRY(feed(0, nord, false));
		TRY(all_popped(0, npool, 1));
		CHECK(st.matched == base + total);
		CHECKF(st.matched_bytes == total, "matched_bytes %u",
		       st.matched_bytes);
	}
	return 0;
}

static int t_retransmit_matched(void)
{
	const u32 base = 5, mss = 1000, total = 20 * mss;
	struct tseg *p, *s, *r;
	u32 m;
	int i;

	fill(bufp, total);
	memcpy(bufs, bufp, total);
	p = cut(COLO_PVM, base, bufp, total, mss, mss, false);
	s = cut(COLO_SVM, base, bufs, total, mss, mss, false);
	stream_reset(); colo_stream_resync(&st, base);
	for (i = 0; i < 10; i++) {
		TRY(add(&p[i], NULL));
		TRY(add(&s[i], NULL));
	}
	/* PVM runs ahead: segments 10..19 wait for the SVM */
	for (i = 10; i < 20; i++)
		TRY(add_want(&p[i], COLO_CMP_PENDING));
	m = st.matched;
	CHECK(m == base + 10 * mss);

	/* PVM retransmit of compared data: releasable at once */
	r = mk(COLO_PVM, base + 3 * mss, mss, 0, bufp + 3 * mss);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	/* ...even a bogus one: retransmits are not compared again */
	r = mk(COLO_PVM, base + 2 * mss, mss, 0, bufs + 7 * mss);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	/* one ending exactly at matched */
	r = mk(COLO_PVM, m - 10, 10, 0, bufp + (m - 10 - base));
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	/* SVM retransmit: done at once */
	r = mk(COLO_SVM, base + 4 * mss + 7, 100, 0, bufs + 4 * mss + 7);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	CHECK(st.matched == m);
	/* PVM retransmit straddling matched: held until the SVM catches up */
	r = mk(COLO_PVM, m - 100, 200, 0, bufp + (m - 100 - base));
	TRY(add_want(r, COLO_CMP_PENDING));
	CHECK(!r->popped);
	TRY(add_want(&s[10], COLO_CMP_PROGRESS));
	CHECK(r->popped && p[10].popped);
	for (i = 11; i < 20; i++)
		TRY(add_want(&s[i], COLO_CMP_PROGRESS));
	TRY(all_popped(0, npool, 1));
	CHECK(st.matched_bytes == total);
	return 0;
}

/*
 * Change one byte of one side at every offset of a small stream: the
 * mismatch is reported exactly there, nothing at or after it is released.
 */
static int t_byte_changed(void)
{
	const u32 total = 1100;
	u32 off, base;
	int side, np, i;

	static u8 orig[1100];

	fill(orig, total);
	for (side = 0; side < COLO_SIDES; side++) {
		for (off = 0; off < total; off++) {
			u8 *mut = side == COLO_SVM ? bufs : bufp;

			reset();
			memcpy(bufp, orig, total);
			memcpy(bufs, orig, total);
			base = off & 1 ? rng() : 0xffffffffu - (off & 0xff);
			cut(COLO_PVM, base, bufp, total, 1, 300, false);
			np = nord;
			cut(COLO_SVM, base, bufs, total, 1, 300, false);
			merge_random(1, np, np, nord);
			memmove(ord + 1, ord, nord * sizeof(ord[0]));
			ord[0] = &pool[0];
			nord++;
			mut[off] ^= (u8)rng_range(1, 255);

			stream_reset(); colo_stream_resync(&st, base);
			for (i = 0; i < nord; i++) {
				TRY(add(ord[i], NULL));
				CHECKF(!st.mismatched ||
				       st.mismatch_seq == base + off,
				       "side %d off %u: mismatch at +%u", side,
				       off, st.mismatch_seq - base);
			}
			CHECKF(st.mismatched, "side %d off %u: no mismatch",
			       side, off);
			CHECK(st.matched == base + off);
			CHECK(st.matched_bytes == off);
			for (i = 0; i < npool; i++) {
				bool before = !colo_seq_after(colo_seg_end(
						&pool[i].seg), base + off);

				CHECKF(pool[i].popped == before,
				       "off %u: seg +%u+%u popped=%d", off,
				       pool[i].seg.seq - base, pool[i].seg.len,
				       pool[i].popped);
			}
		}
	}
	return 0;
}

/* After a mismatch nothing more is compared; retransmits still go. */
static int t_after_mismatch(void)
{
	const u32 base = 100, total = 4000, bad = 1234;
	struct tseg *p, *s, *r;
	int i;

	fill(bufp, total);
	memcpy(bufs, bufp, total);
	bufs[bad] ^= 0x40;
	p = cut(COLO_PVM, base, bufp, total, 500, 500, false);
	s = cut(COLO_SVM, base, bufs, total, 500, 500, false);
	stream_reset(); colo_stream_resync(&st, base);
	TRY(add_want(&p[0], COLO_CMP_PENDING));
	TRY(add_want(&p[1], COLO_CMP_PENDING));
	TRY(add_want(&p[2], COLO_CMP_PENDING));
	TRY(add_want(&s[0], COLO_CMP_PROGRESS));
	TRY(add_want(&s[1], COLO_CMP_PROGRESS));
	TRY(add_want(&s[2], COLO_CMP_MISMATCH));
	CHECK(st.mismatch_seq == base + bad && st.matched == base + bad);
	CHECK(p[0].popped && p[1].popped && !p[2].popped);
	CHECK(s[0].popped && s[1].popped && !s[2].popped);
	CHECK(st.matched_bytes == bad);
	for (i = 3; i < 8; i++) {
		TRY(add_want(&p[i], COLO_CMP_MISMATCH));
		TRY(add_want(&s[i], COLO_CMP_MISMATCH));
		CHECK(!p[i].popped && !s[i].popped);
	}
	CHECK(st.matched == base + bad && st.matched_bytes == bad);
	r = mk(COLO_PVM, base + 200, 500, 0, bufp + 200);
	TRY(add_want(r, COLO_CMP_MISMATCH));
	CHECK(r->popped);
	r = mk(COLO_PVM, base + 1000, 500, 0, bufp + 1000);
	TRY(add_want(r, COLO_CMP_MISMATCH));
	CHECK(!r->popped);
	return 0;
}

static int t_wraparound(void)
{
	const u32 total = 30000, lead = 7000;
	const u32 base = 0u - lead;	/* byte `lead` has seq 0 */
	u32 offs[] = { lead - 2, lead - 1, lead, lead + 1, lead + 128 };
	u32 end, k;
	int round;

	for (round = 0; round < 10; round++) {
		reset();
		fill(bufp, total);
		memcpy(bufs, bufp, total);
		cut(COLO_PVM, base, bufp, total, 1, 1448, true);
		cut(COLO_SVM, base, bufs, total, 1, 20000, true);
		shuffle(ord, nord);
		stream_reset();
		colo_stream_resync(&st, base);
		TRY(feed(0, nord, false));
		TRY(all_popped(0, npool, 1));
		CHECK(st.matched == base + total + 1);
		CHECK(st.fin_matched && st.fin_seq == base + total);
		CHECK(st.matched_bytes == total);
	}
	for (k = 0; k < ARRAY_SIZE(offs); k++) {
		reset();
		memcpy(bufs, bufp, total);
		bufs[offs[k]] ^= 1;
		cut(COLO_PVM, base, bufp, total, 1, 1448, false);
		cut(COLO_SVM, base, bufs, total, 1, 20000, false);
		shuffle(ord, nord);
		stream_reset();
		colo_stream_resync(&st, base);
		TRY(feed(0, nord, true));
		CHECK(st.mismatched && st.mismatch_seq == base + offs[k]);
		CHECK(colo_stream_end(&st, COLO_PVM, &end) &&
		      end == base + total);
	}
	return 0;
}

static int t_fin_equal(void)
{
	const u32 base = 0xfffffff0u, total = 5000;
	struct tseg *p, *s, *sfin, *r;
	int np;

	fill(bufp, total);
	memcpy(bufs, bufp, total);
	p = cut(COLO_PVM, base, bufp, total, 1000, 1000, true);
	np = nord;
	s = cut(COLO_SVM, base, bufs, total, 1000, 1000, false);
	sfin = mk(COLO_SVM, base + total, 0, COLO_SEG_FIN, NULL);
	stream_reset(); colo_stream_resync(&st, base);
	TRY(feed(0, np, false));
	TRY(feed(np, nord, false));
	/* data compared, the PVM's FIN still waits for the SVM's */
	CHECK(st.matched == base + total && !st.fin_matched);
	CHECK(p[3].popped && !p[4].popped && s[4].popped);
	TRY(add_want(sfin, COLO_CMP_PROGRESS));
	CHECK(p[4].popped && sfin->popped);
	CHECK(st.fin_matched && st.fin_seq == base + total);
	CHECK(st.matched == base + total + 1 && st.matched_bytes == total);
	CHECK(!st.mismatched);
	/* retransmitted FINs: done at once */
	r = mk(COLO_PVM, base + 4000, 1000, COLO_SEG_FIN, bufp + 4000);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	r = mk(COLO_SVM, base + total, 0, COLO_SEG_FIN, NULL);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	(void)s;

	/* bare FINs only, SVM's first */
	reset();
	stream_reset();
	colo_stream_resync(&st, 42);
	r = mk(COLO_SVM, 42, 0, COLO_SEG_FIN, NULL);
	TRY(add_want(r, COLO_CMP_PENDING));
	r = mk(COLO_PVM, 42, 0, COLO_SEG_FIN, NULL);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	TRY(all_popped(0, npool, 1));
	CHECK(st.fin_matched && st.fin_seq == 42 && st.matched == 43);
	CHECK(st.matched_bytes == 0);
	return 0;
}

static int t_fin_diff_seq(void)
{
	const u32 base = 1, total = 3000;
	struct tseg *r;
	int shorter;

	fill(bufp, total + 100);
	memcpy(bufs, bufp, total + 100);
	for (shorter = 0; shorter < 2; shorter++) {
		/* SVM FINs 5 bytes early, or 5 bytes late */
		u32 slen = shorter ? total - 5 : total + 5;
		u32 want = base + (shorter ? total - 5 : total);

		reset();
		cut(COLO_PVM, base, bufp, total, 700, 700, true);
		cut(COLO_SVM, base, bufs, slen, 600, 600, true);
		shuffle(ord, nord);
		stream_reset();
		colo_stream_resync(&st, base);
		TRY(feed(0, nord, true));
		CHECKF(st.mismatched && st.mismatch_seq == want,
		       "mismatched %d at %u want %u", st.mismatched,
		       st.mismatch_seq, want);
		CHECK(!st.fin_matched && st.matched == want);
	}
	/* PVM FIN first, SVM data not there yet: wait */
	reset();
	stream_reset();
	colo_stream_resync(&st, base);
	r = mk(COLO_PVM, base, 10, COLO_SEG_FIN, bufp);
	TRY(add_want(r, COLO_CMP_PENDING));
	r = mk(COLO_SVM, base, 10, 0, bufs);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(!pool[0].popped && pool[1].popped && st.matched == base + 10);
	/* now the SVM sends data where the PVM has its FIN */
	r = mk(COLO_SVM, base + 10, 10, 0, bufs + 10);
	TRY(add_want(r, COLO_CMP_MISMATCH));
	CHECK(st.mismatch_seq == base + 10 && !pool[0].popped);
	return 0;
}

static int t_data_vs_fin(void)
{
	const u32 base = 1000;
	struct tseg *r;
	int side;

	fill(bufp, 400);
	memcpy(bufs, bufp, 400);
	for (side = 0; side < COLO_SIDES; side++) {
		const u8 *fb = side == COLO_PVM ? bufp : bufs;
		const u8 *db = side == COLO_PVM ? bufs : bufp;

		/* @side: 100 bytes + FIN; the other: 200 bytes */
		reset();
		stream_reset();
		colo_stream_resync(&st, base);
		r = mk(side, base, 100, COLO_SEG_FIN, fb);
		TRY(add_want(r, COLO_CMP_PENDING));
		r = mk(!side, base, 200, 0, db);
		TRY(add_want(r, COLO_CMP_MISMATCH));
		CHECK(st.mismatch_seq == base + 100);
		CHECK(st.matched_bytes == 100);
	}
	/* one side contradicts itself: data and FIN at the same seq */
	reset();
	stream_reset();
	colo_stream_resync(&st, base);
	TRY(add_want(mk(COLO_PVM, base, 100, COLO_SEG_FIN, bufp),
		     COLO_CMP_PENDING));
	TRY(add_want(mk(COLO_PVM, base + 50, 100, 0, bufp + 50),
		     COLO_CMP_PENDING));
	TRY(add_want(mk(COLO_SVM, base, 300, 0, bufs), COLO_CMP_MISMATCH));
	CHECK(st.mismatch_seq == base + 100);
	return 0;
}

static int t_pending_behind(void)
{
	const u32 base = 3, mss = 100, total = 40 * mss;
	struct tseg *p, *s;
	int i;

	fill(bufp, total);
	memcpy(bufs, bufp, total);
	p = cut(COLO_PVM, base, bufp, total, mss, mss, false);
	s = cut(COLO_SVM, base, bufs, total, mss, mss, false);
	stream_reset(); colo_stream_resync(&st, base);
	/* PVM ahead */
	for (i = 0; i < 20; i++)
		TRY(add_want(&p[i], COLO_CMP_PENDING));
	CHECK(popped[COLO_PVM] == 0);
	for (i = 0; i < 10; i++)
		TRY(add_want(&s[i], COLO_CMP_PROGRESS));
	CHECK(popped[COLO_PVM] == 10 && popped[COLO_SVM] == 10);
	CHECK(st.side[COLO_PVM].count == 10);
	/* SVM ahead */
	for (i = 10; i < 40; i++)
		TRY(add(&s[i], NULL));
	CHECK(popped[COLO_PVM] == 20 && popped[COLO_SVM] == 20);
	for (i = 20; i < 40; i++)
		TRY(add_want(&p[i], COLO_CMP_PROGRESS));
	TRY(all_popped(0, npool, 1));
	/* a hole on one side keeps everything after it waiting */
	reset();
	p = cut(COLO_PVM, base, bufp, total, mss, mss, false);
	s = cut(COLO_SVM, base, bufs, total, mss, mss, false);
	stream_reset(); colo_stream_resync(&st, base);
	for (i = 0; i < 40; i++) {
		if (i == 5)
			continue;
		TRY(add(&p[i], NULL));
		TRY(add(&s[i], NULL));
	}
	CHECK(st.matched == base + 5 * mss && popped[COLO_PVM] == 5);
	TRY(add_want(&p[5], COLO_CMP_PENDING));
	TRY(add_want(&s[5], COLO_CMP_PROGRESS));
	TRY(all_popped(0, npool, 1));
	return 0;
}

/*
 * The kernel's checkpoint sequence: the cut epoch's PVM segments are removed
 * (released by the caller), the discarded SVM segments removed, then resync
 * at the PVM's next seq; PVM segments of the new epoch still queued compare
 * against the new epoch's SVM output only.
 */
static int t_resync(void)
{
	const u32 base = 0xffffff00u, total = 3000;
	struct tseg *p, *s, *r;
	int i, np;

	fill(bufp, total);
	memcpy(bufs, bufp, total);
	bufs[500] ^= 0x80;
	bufs[2500] ^= 0x01;
	p = cut(COLO_PVM, base, bufp, total, 300, 300, true);
	np = nord;
	s = cut(COLO_SVM, base, bufs, total, 250, 250, true);
	stream_reset();
	colo_stream_resync(&st, base);
	auto_ack = false;
	/* epoch 1: PVM 0..1200, SVM 0..1250: mismatch at 500 */
	for (i = 0; i < 4; i++)
		TRY(add(&p[i], NULL));
	for (i = 0; i < 5; i++)
		TRY(add(&s[i], NULL));
	CHECK(st.mismatched && st.mismatch_seq == base + 500);
	CHECK(p[0].popped && !p[1].popped && !p[2].popped);
	/* the cut: the SVM's output of epoch 1 goes */
	for (i = 0; i < 5; i++) {
		colo_stream_remove(&st, &s[i].seg);
		s[i].popped = 1;
	}
	/* epoch 2 PVM output arrives before the checkpoint completes */
	for (i = 4; i < np; i++)
		TRY(add_want(&p[i], COLO_CMP_MISMATCH));
	/* done: epoch 1's PVM segments are released by the caller */
	for (i = 1; i < 4; i++) {
		colo_stream_remove(&st, &p[i].seg);
		p[i].popped = 1;
	}
	CHECK(colo_stream_resync(&st, base + 1200) == COLO_CMP_PENDING);
	CHECK(!st.mismatched && st.matched == base + 1200);
	/* epoch 2 SVM output, with its own difference at 2500 */
	for (i = 0; i < 5; i++)
		s[i].popped = 0;
	for (i = 4; i < nord - np; i++)
		if (s[i].seg.seq + s[i].seg.len > base + 1200) {
			TRY(add(&s[i], NULL));
			if (st.mismatched)
				break;
		}
	CHECK(st.mismatched && st.mismatch_seq == base + 2500);
	CHECK(st.matched == base + 2500 && st.matched_bytes == 500 + 1300);
	for (i = 4; i < np; i++)
		CHECK(p[i].popped == (p[i].seg.seq + 300 <= base + 2500));
	/* a second checkpoint takes the rest: nothing queued, resync at the end */
	for (i = 0; i < nord; i++)
		if (!pool[i].popped) {
			colo_stream_remove(&st, &pool[i].seg);
			pool[i].popped = 1;
		}
	TRY(check_lists(&st));
	CHECK(!st.side[0].count && !st.side[1].count);
	st.matched_bytes = 0;
	CHECK(colo_stream_resync(&st, base + total) == COLO_CMP_PENDING);
	CHECK(!st.fin_matched && !st.mismatched);
	/* later adds compare from the new point */
	r = mk(COLO_PVM, base + total, 0, COLO_SEG_FIN, NULL);
	TRY(add_want(r, COLO_CMP_PENDING));
	r = mk(COLO_SVM, base + total, 0, COLO_SEG_FIN, NULL);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(st.fin_matched && st.fin_seq == base + total);
	CHECK(pool[npool - 2].popped && st.matched == base + total + 1);
	/* resync backwards (teardown and reuse): earlier data compares again */
	allow_backward = true;
	CHECK(colo_stream_resync(&st, base) == COLO_CMP_PENDING);
	CHECK(!st.fin_matched);
	r = mk(COLO_PVM, base, 10, 0, bufp);
	TRY(add_want(r, COLO_CMP_PENDING));
	r = mk(COLO_SVM, base, 10, 0, bufp);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(pool[npool - 2].popped);
	return 0;
}

/* resync forgets verification made against what was queued before it */
static int t_resync_forgets(void)
{
	const u32 base = 4000;
	struct tseg *p, *s;

	fill(bufp, 2000);
	memcpy(bufs, bufp, 2000);
	bufs[200] ^= 1;
	stream_reset();
	auto_ack = false;
	colo_stream_resync(&st, base);
	p = mk(COLO_PVM, base, 1000, 0, bufp);
	TRY(add_want(p, COLO_CMP_PENDING));
	s = mk(COLO_SVM, base, 500, 0, bufp);	/* the discarded epoch's */
	TRY(add_want(s, COLO_CMP_PROGRESS));
	CHECK(p->seg.ok == base + 500 && !p->popped);
	colo_stream_remove(&st, &s->seg);
	CHECK(colo_stream_resync(&st, base) == COLO_CMP_PENDING);
	CHECK(p->seg.ok == base);
	/* the new epoch's SVM output differs at 200 */
	TRY(add_want(mk(COLO_SVM, base, 1000, 0, bufs),
		     COLO_CMP_MISMATCH));
	CHECK(st.mismatch_seq == base + 200 && !p->popped);
	return 0;
}

static int t_remove(void)
{
	const u32 base = 9, mss = 100, total = 10 * mss;
	struct tseg *p, *s;
	int i, k;
	int gone[] = { 5, 0, 9, 3 };

	fill(bufp, total);
	memcpy(bufs, bufp, total);
	p = cut(COLO_PVM, base, bufp, total, mss, mss, false);
	s = cut(COLO_SVM, base, bufs, total, mss, mss, false);
	stream_reset(); colo_stream_resync(&st, base);
	for (i = 0; i < 10; i++)
		TRY(add(&p[i], NULL));
	for (k = 0; k < 4; k++) {
		colo_stream_remove(&st, &p[gone[k]].seg);
		TRY(check_lists(&st));
		CHECK(st.side[COLO_PVM].count == 9u - k);
	}
	colo_stream_remove(&st, &p[5].seg);	/* again: left alone */
	TRY(check_lists(&st));
	CHECK(st.side[COLO_PVM].count == 6);
	/* put copies back (a retransmit of the removed ones) */
	for (k = 0; k < 4; k++)
		TRY(add(mk(COLO_PVM, p[gone[k]].seg.seq, mss, 0,
			   p[gone[k]].buf), NULL));
	/* SVM complete; remove a done segment before popping it */
	for (i = 0; i < 10; i++)
		CHECK(colo_stream_add(&st, COLO_SVM, &s[i].seg) !=
		      COLO_CMP_MISMATCH);
	colo_stream_acked(&st, base + total);	/* the history goes */
	TRY(check_lists(&st));
	CHECK(st.side[COLO_PVM].ndone == 10 && st.side[COLO_SVM].ndone == 10);
	colo_stream_remove(&st, &s[4].seg);
	colo_stream_remove(&st, &p[7].seg);
	TRY(check_lists(&st));
	CHECK(st.side[COLO_PVM].ndone == 9 && st.side[COLO_SVM].ndone == 9);
	s[4].popped = 1;
	p[7].popped = 1;
	TRY(drain());
	CHECK(st.side[0].count == 0 && st.side[1].count == 0);
	for (i = 0; i < npool; i++)
		CHECK(pool[i].popped || i == gone[0] || i == gone[1] ||
		      i == gone[2] || i == gone[3]);
	/* removing everything from the middle out */
	reset();
	p = cut(COLO_PVM, base, bufp, total, 37, 37, false);
	stream_reset();
	TRY(feed(0, nord, false));
	for (k = 0; k < 2 * nord + 2; k++) {
		i = nord / 2 + (k & 1 ? (k + 1) / 2 : -(k / 2));
		if (i < 0 || i >= nord)
			continue;
		colo_stream_remove(&st, &p[i].seg);
		TRY(check_lists(&st));
	}
	CHECK(!st.side[0].head && !st.side[0].tail);
	return 0;
}

static int t_datagram(void)
{
	static const u32 lens[] = { 0, 1, 2, 127, 128, 129, 255, 256, 1400,
				    5000 };
	struct tseg *a, *b;
	u32 i, k, off, diff;

	fill(bufp, 6000);
	memcpy(bufs, bufp, 6000);
	for (k = 0; k < ARRAY_SIZE(lens); k++) {
		reset();
		a = mk(COLO_PVM, 0, lens[k], 0, bufp);
		b = mk(COLO_SVM, 12345, lens[k], COLO_SEG_FIN, bufs);
		diff = 777;
		CHECKF(colo_cmp_datagram(&t_ops, &a->seg, &b->seg, &diff),
		       "len %u", lens[k]);
		CHECK(diff == 777);
		b->copy = !b->copy;
		CHECK(colo_cmp_datagram(&t_ops, &a->seg, &b->seg, NULL));
	}
	/* a difference at each offset */
	for (off = 0; off < 300; off++) {
		reset();
		bufs[off] ^= 0x10;
		a = mk(COLO_PVM, 0, 300, 0, bufp);
		b = mk(COLO_SVM, 0, 300, 0, bufs);
		CHECK(!colo_cmp_datagram(&t_ops, &a->seg, &b->seg, &diff));
		CHECKF(diff == off, "diff %u want %u", diff, off);
		CHECK(!colo_cmp_datagram(&t_ops, &b->seg, &a->seg, &diff));
		CHECK(diff == off);
		bufs[off] ^= 0x10;
	}
	/* prefixes and empty */
	for (i = 0; i < 4; i++) {
		u32 la = (u32[]){ 0, 100, 128, 1399 }[i];

		reset();
		a = mk(COLO_PVM, 0, la, 0, bufp);
		b = mk(COLO_SVM, 0, 1400, 0, bufs);
		CHECK(!colo_cmp_datagram(&t_ops, &a->seg, &b->seg, &diff));
		CHECKF(diff == la, "prefix %u: diff %u", la, diff);
		CHECK(!colo_cmp_datagram(&t_ops, &b->seg, &a->seg, &diff));
		CHECK(diff == la);
	}
	/* data() failing counts as a difference at that chunk */
	reset();
	a = mk(COLO_PVM, 0, 1000, 0, bufp);
	b = mk(COLO_SVM, 0, 1000, 0, bufs);
	b->fail = 1;
	CHECK(!colo_cmp_datagram(&t_ops, &a->seg, &b->seg, &diff));
	CHECK(diff == 0);
	return 0;
}

/*
 * Unsynced, both sides only queue: a PVM segment does not sync the stream
 * at its own seq. (The first engine did, so the PVM bytes of a gap below
 * that point, arriving later with other bytes, left uncompared.)
 */
static int t_unsynced_only_queues(void)
{
	const u32 base = 0xfffffffeu, total = 5000;
	struct tseg *old, *strad, *s2, *p1, *p2, *bad;
	enum colo_cmp_result r;

	fill(bufp, total + 100);
	memcpy(bufs, bufp, total + 100);
	stream_reset();
	auto_ack = false;
	old = mk(COLO_SVM, base - 100, 50, 0, bufs);
	TRY(add_want(old, COLO_CMP_PENDING));
	strad = mk(COLO_SVM, base - 20, 1020, 0, bufs + 80);
	TRY(add_want(strad, COLO_CMP_PENDING));
	s2 = mk(COLO_SVM, base + 1000, total - 1000, 0, bufs + 100 + 1000);
	TRY(add_want(s2, COLO_CMP_PENDING));
	/* PVM data above a gap: compared with nothing, held */
	p2 = mk(COLO_PVM, base + 1448, total - 1448, 0, bufp + 100 + 1448);
	TRY(add_want(p2, COLO_CMP_PENDING));
	CHECK(!st.synced && !p2->popped && st.matched_bytes == 0);
	/* the gap's bytes come, different: still nothing compared */
	bufp[100 + 7] ^= 0x55;
	bad = mk(COLO_PVM, base, 1448, 0, bufp + 100);
	TRY(add_want(bad, COLO_CMP_PENDING));
	CHECK(!st.synced && !bad->popped && !st.mismatched);
	/* synced (the SYN exchange compared): the difference is found */
	r = colo_stream_resync(&st, base);
	TRY(drain());
	CHECK(r == COLO_CMP_MISMATCH && st.mismatch_seq == base + 7);
	CHECK(!bad->popped && !p2->popped);
	/* same again with equal bytes: everything compares, history stays */
	bufp[100 + 7] ^= 0x55;
	colo_stream_remove(&st, &bad->seg);
	bad->popped = 1;
	p1 = mk(COLO_PVM, base, 1448, 0, bufp + 100);
	TRY(add(p1, NULL));
	CHECK(st.mismatched);	/* until the next resync */
	st.matched_bytes = 0;
	r = colo_stream_resync(&st, base);
	TRY(drain());
	CHECK(r == COLO_CMP_PROGRESS && !st.mismatched);
	CHECK(p1->popped && p2->popped && !old->popped && !strad->popped);
	CHECK(st.matched == base + total && st.matched_bytes == total);
	colo_stream_acked(&st, base + total);
	TRY(drain());
	TRY(all_popped(0, npool, 1));
	return 0;
}

static int t_data_failure(void)
{
	const u32 base = 50, total = 2000;
	struct tseg *s;

	fill(bufp, total);
	memcpy(bufs, bufp, total);
	cut(COLO_PVM, base, bufp, total, 300, 300, false);
	s = cut(COLO_SVM, base, bufs, total, 400, 400, false);
	s[3].fail = 1;
	stream_reset(); colo_stream_resync(&st, base);
	TRY(feed(0, nord, true));
	CHECK(st.mismatched && st.mismatch_seq == s[3].seg.seq);
	CHECK(st.matched_bytes == 1200);
	return 0;
}

static int t_stream_end(void)
{
	u32 end = 0;

	fill(bufp, 1000);
	reset();
	stream_reset();
	CHECK(!colo_stream_end(&st, COLO_PVM, &end));
	CHECK(!colo_stream_end(&st, COLO_SVM, &end));
	colo_stream_resync(&st, 0xfffffc00u);
	TRY(add(mk(COLO_SVM, 0xfffffc00u, 1000, 0, bufp), NULL));
	TRY(add(mk(COLO_SVM, 0xfffffd00u, 10, 0, bufp), NULL));
	CHECK(colo_stream_end(&st, COLO_SVM, &end) && end == 0xffffffe8u);
	TRY(add(mk(COLO_SVM, 0xfffffff0u, 100, COLO_SEG_FIN, bufp), NULL));
	CHECK(colo_stream_end(&st, COLO_SVM, &end) && end == 85);
	TRY(add(mk(COLO_SVM, 0xfffffffeu, 1, 0, bufp), NULL));
	CHECK(colo_stream_end(&st, COLO_SVM, &end) && end == 85);
	CHECK(!colo_stream_end(&st, COLO_PVM, &end));
	return 0;
}

static int t_zero_length(void)
{
	const u32 base = 10;
	struct tseg *a, *b;

	fill(bufp, 1000);
	memcpy(bufs, bufp, 1000);
	stream_reset();
	/* occupying no sequence number: done at once, synced or not */
	a = mk(COLO_PVM, base, 0, 0, NULL);
	TRY(add_want(a, COLO_CMP_PROGRESS));
	CHECK(a->popped && !st.synced);
	colo_stream_resync(&st, base);
	TRY(add_want(mk(COLO_PVM, base, 100, 0, bufp), COLO_CMP_PENDING));
	/* ahead of held data: nothing in it to hold back either */
	b = mk(COLO_PVM, base + 100, 0, 0, NULL);
	TRY(add_want(b, COLO_CMP_PROGRESS));
	a = mk(COLO_SVM, base + 100, 0, 0, NULL);
	TRY(add_want(a, COLO_CMP_PROGRESS));
	CHECK(b->popped && a->popped);
	TRY(add_want(mk(COLO_SVM, base, 100, 0, bufs), COLO_CMP_PROGRESS));
	TRY(all_popped(0, npool, 1));
	return 0;
}

static int t_pop_order(void)
{
	const u32 base = 0xfffff000u, total = 40000;
	int i;

	fill(bufp, total);
	memcpy(bufs, bufp, total);
	cut(COLO_PVM, base, bufp, total, 1, 2000, false);
	shuffle(ord, nord);
	stream_reset();
	colo_stream_resync(&st, base);
	for (i = 0; i < nord; i++)
		colo_stream_add(&st, COLO_PVM, &ord[i]->seg);
	TRY(check_lists(&st));
	CHECK(colo_stream_add(&st, COLO_SVM,
			      &mk(COLO_SVM, base, total, 0, bufs)->seg) ==
	      COLO_CMP_PROGRESS);
	for (i = 0; i < nord; i++) {
		struct colo_seg *seg = colo_stream_pop_done(&st, COLO_PVM);

		CHECK(seg && seg == &pool[i].seg);
	}
	CHECK(!colo_stream_pop_done(&st, COLO_PVM));
	return 0;
}

static int t_matched_bytes(void)
{
	const u32 base = 0;
	int i;

	fill(bufp, 10000);
	memcpy(bufs, bufp, 10000);
	cut(COLO_PVM, base, bufp, 10000, 1000, 1000, false);
	cut(COLO_SVM, base, bufs, 10000, 1000, 1000, false);
	stream_reset(); colo_stream_resync(&st, base);
	for (i = 0; i < 10; i++) {
		TRY(add(&pool[i], NULL));
		TRY(add(&pool[10 + i], NULL));
		CHECK(st.matched_bytes == 1000);
		st.matched_bytes = 0;	/* the caller reads and zeroes it */
	}
	return 0;
}

/*
 * Random streams, segmentations, overlaps, duplicates, arrival orders and
 * one kind of difference (or none); checks the exact outcome.
 */
static int t_random_property(void)
{
	enum { NONE, SVM_BYTE, PVM_BYTE, SVM_SHORT_FIN, SVM_LONG_FIN,
	       SVM_SHORT, NMODES };
	static const u32 lo[] = { 1, 1, 500 }, hi[] = { 64, 1448, 20000 };
	u32 base, total, stotal, off, len, want, k;
	int iter, mode, fin, i, j, side, seg_mode;

	for (iter = 0; iter < 3000; iter++) {
		reset();
		base = rng() & 1 ? rng() : 0u - rng_range(1, 8000);
		total = rng_range(0, 6000);
		fin = rng() & 1;
		mode = (int)(rng() % (2 * NMODES));
		if (mode >= NMODES)
			mode = NONE;
		if (total == 0 && mode != SVM_LONG_FIN)
			mode = NONE;
		if (!fin && (mode == SVM_SHORT_FIN || mode == SVM_LONG_FIN))
			mode = SVM_SHORT;
		if (mode == SVM_SHORT && total == 0)
			mode = NONE;

		fill(bufp, total + 64);
		memcpy(bufs, bufp, total);
		fill(bufs + total, 64);	/* SVM-only extra bytes */
		stotal = total;
		want = 0;
		k = total ? rng_range(0, total - 1) : 0;
		switch (mode) {
		case SVM_BYTE:
			bufs[k] ^= (u8)rng_range(1, 255);
			want = k;
			break;
		case PVM_BYTE:
			bufp[k] ^= (u8)rng_range(1, 255);
			want = k;
			break;
		case SVM_SHORT_FIN:
		case SVM_SHORT:
			stotal = k;
			want = k;
			break;
		case SVM_LONG_FIN:
			stotal = total + rng_range(1, 64);
			want = total;
			break;
		}

		for (side = 0; side < COLO_SIDES; side++) {
			const u8 *b = side == COLO_PVM ? bufp : bufs;
			u32 n = side == COLO_PVM ? total : stotal;
			bool f = fin && (side == COLO_PVM || mode != SVM_SHORT);

			seg_mode = (int)(rng() % 3);
			cut(side, base, b, n, lo[seg_mode], hi[seg_mode], f);
		}
		/* duplicates and overlapping extras */
		j = nord;
		for (i = 0; i < j; i++) {
			struct tseg *t = ord[i];
			const u8 *b = t->side == COLO_PVM ? bufp : bufs;
			u32 n = t->side == COLO_PVM ? total : stotal;

			if (rng() % 10 == 0)
				ord[nord++] = mk(t->side, t->seg.seq,
						 t->seg.len, t->seg.flags,
						 t->buf);
			if (rng() % 20 == 0 && n) {
				off = rng_range(0, n - 1);
				len = rng_range(1, n - off);
				ord[nord++] = mk(t->side, base + off, len, 0,
						 b + off);
			}
		}
		shuffle(ord, nord);
		stream_reset();
		auto_ack = rng() & 1;
		colo_stream_resync(&st, base);
		for (i = 0; i < nord; i++) {
			TRY(add(ord[i], NULL));
			CHECKF(!st.mismatched || (mode != NONE &&
						  mode != SVM_SHORT &&
						  st.mismatch_seq == base + want),
			       "iter %d mode %d: mismatch at +%u, want +%u",
			       iter, mode, st.mismatch_seq - base, want);
		}
		if (mode == NONE) {
			CHECKF(!st.mismatched && st.matched ==
			       base + total + (u32)fin, "iter %d", iter);
			CHECK(st.fin_matched == !!fin);
			CHECK(st.matched_bytes == total);
			/* the client acknowledges all: the history goes */
			colo_stream_acked(&st, st.matched);
			TRY(drain());
			TRY(all_popped(0, npool, 1));
		} else if (mode == SVM_SHORT) {
			CHECK(!st.mismatched && st.matched == base + stotal);
			CHECK(st.matched_bytes == stotal);
		} else {
			CHECKF(st.mismatched, "iter %d mode %d", iter, mode);
			CHECK(st.matched == base + want);
			CHECK(st.matched_bytes == want);
			CHECK(!st.fin_matched);
		}
		if (mode != NONE) {
			/* exactly the segments before the stop are out */
			for (i = 0; i < npool; i++) {
				bool before = !colo_seq_after(
					colo_seg_end(&pool[i].seg), st.matched);

				if (pool[i].side == COLO_SVM)
					before = before && auto_ack;
				CHECKF(pool[i].popped == before,
				       "iter %d mode %d: seg +%u+%u popped %d",
				       iter, mode, pool[i].seg.seq - base,
				       pool[i].seg.len, pool[i].popped);
			}
		}
	}
	return 0;
}

/* ---- the output-commit contract (issue 7 point 4) ---------------------- */

/*
 * PVM p[0..n) and SVM s[0..n) of @mss bytes from @base, equal, the first
 * @k of each side added (compared): the SVM ones stay as history.
 */
static int setup_compared(u32 base, u32 mss, int n, int k, struct tseg **p,
			  struct tseg **s)
{
	int i;

	fill(bufp, (size_t)mss * n);
	memcpy(bufs, bufp, (size_t)mss * n);
	*p = cut(COLO_PVM, base, bufp, mss * n, mss, mss, false);
	*s = cut(COLO_SVM, base, bufs, mss * n, mss, mss, false);
	stream_reset();
	auto_ack = false;
	colo_stream_resync(&st, base);
	for (i = 0; i < k; i++) {
		TRY(add_want(&(*p)[i], COLO_CMP_PENDING));
		TRY(add_want(&(*s)[i], COLO_CMP_PROGRESS));
		CHECK((*p)[i].popped);
	}
	CHECK(st.matched == base + k * mss && !st.mismatched);
	return 0;
}

/*
 * A PVM retransmit of compared bytes is compared with the SVM history: equal
 * goes, different is a mismatch. (The first engine released any segment
 * wholly before `matched` uncompared.)
 */
static int t_retransmit_history(void)
{
	const u32 base = 1000, mss = 1000;
	static u8 other[1000];
	struct tseg *p, *s, *r;

	TRY(setup_compared(base, mss, 10, 10, &p, &s));
	r = mk(COLO_PVM, base + 2500, 1000, 0, bufp + 2500);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	r = mk(COLO_PVM, base + 9000, 1000, 0, bufp + 9000);	/* the tail */
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	memcpy(other, bufp + 3000, 1000);
	other[10] ^= 1;
	r = mk(COLO_PVM, base + 3000, 1000, 0, other);
	TRY(add_want(r, COLO_CMP_MISMATCH));
	CHECK(!r->popped && st.mismatch_seq == base + 3010);
	/* mismatched: an equal retransmit of verified data still goes */
	r = mk(COLO_PVM, base + 100, 200, 0, bufp + 100);
	TRY(add_want(r, COLO_CMP_MISMATCH));
	CHECK(r->popped && st.mismatch_seq == base + 3010);
	/* the history stays until the client acknowledges it */
	CHECK(st.side[COLO_SVM].count == 10 && !st.side[COLO_SVM].ndone);
	return 0;
}

/*
 * Below the client's ACK no comparison is needed (the client discards those
 * bytes); from the ACK on a retransmit is compared. The SVM history goes
 * once acknowledged.
 */
static int t_retransmit_acked(void)
{
	const u32 base = 0xfffff000u, mss = 1000;
	static u8 other[1000];
	struct tseg *p, *s, *r;
	int i;

	TRY(setup_compared(base, mss, 10, 10, &p, &s));
	CHECK(colo_stream_acked(&st, base + 4000) == COLO_CMP_PROGRESS);
	TRY(drain());
	for (i = 0; i < 10; i++)
		CHECK(s[i].popped == (i < 4));
	/* other bytes below the ACK: released */
	memcpy(other, bufp + 1000, 1000);
	other[999] ^= 1;
	r = mk(COLO_PVM, base + 1000, 1000, 0, other);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped && !st.mismatched);
	CHECK(st.acked_bytes == 1000);
	/* straddling the ACK, different only below it: released */
	memcpy(other, bufp + 3500, 1000);
	other[100] ^= 1;
	r = mk(COLO_PVM, base + 3500, 1000, 0, other);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped && !st.mismatched);
	CHECK(st.acked_bytes == 1500);
	/* different at/after the ACK: mismatch */
	other[100] ^= 1;
	other[500] ^= 1;
	r = mk(COLO_PVM, base + 3500, 1000, 0, other);
	TRY(add_want(r, COLO_CMP_MISMATCH));
	CHECK(!r->popped && st.mismatch_seq == base + 4000);
	/* an older ACK is ignored, a newer one releases the held retransmit */
	CHECK(colo_stream_acked(&st, base + 10) == COLO_CMP_MISMATCH);
	CHECK(st.ack == base + 4000);
	colo_stream_acked(&st, base + 4000);
	TRY(drain());
	CHECK(!r->popped);
	/* past the difference: the rest compares equal with the history */
	colo_stream_acked(&st, base + 4001);
	TRY(drain());
	CHECK(r->popped && !s[4].popped);
	colo_stream_acked(&st, base + 5000);
	TRY(drain());
	CHECK(s[4].popped && !s[5].popped);
	/* an SVM segment wholly below the ACK is done at once */
	r = mk(COLO_SVM, base + 3000, 500, 0, bufs + 3000);
	TRY(add_want(r, COLO_CMP_MISMATCH));
	CHECK(r->popped);
	return 0;
}

/*
 * A hole in the history (given up under memory pressure): a PVM retransmit
 * there waits; an SVM retransmit or the client's ACK ends the wait.
 */
static int t_history_gap(void)
{
	const u32 base = 77, mss = 1000;
	struct tseg *p, *s, *r, *r2, *h;
	struct colo_seg *hs;

	TRY(setup_compared(base, mss, 10, 10, &p, &s));
	h = tseg_of(colo_stream_pop_history(&st));
	CHECK(h == &s[0]);
	h->popped = 1;
	h = tseg_of(colo_stream_pop_history(&st));
	CHECK(h == &s[1]);
	h->popped = 1;
	TRY(check_lists(&st));
	r = mk(COLO_PVM, base + 500, 1000, 0, bufp + 500);
	TRY(add_want(r, COLO_CMP_PENDING));
	CHECK(!r->popped && !st.mismatched);
	/* the SVM retransmits its first segment: half of it, still a hole */
	TRY(add_want(mk(COLO_SVM, base, 1000, 0, bufs), COLO_CMP_PENDING));
	CHECK(!r->popped && r->seg.ok == base + 1000);
	TRY(add_want(mk(COLO_SVM, base + 1000, 1000, 0, bufs + 1000),
		     COLO_CMP_PROGRESS));
	CHECK(r->popped);
	/* a different retransmit into a hole: held, and the ACK releases it */
	do {	/* the two retransmits, then s[2] */
		h = tseg_of(colo_stream_pop_history(&st));
		h->popped = 1;
	} while (h != &s[2]);
	bufp[2200] ^= 1;
	r2 = mk(COLO_PVM, base + 2000, 1000, 0, bufp + 2000);
	TRY(add_want(r2, COLO_CMP_PENDING));
	CHECK(!r2->popped);
	colo_stream_acked(&st, base + 3000);
	TRY(drain());
	CHECK(r2->popped && !st.mismatched);
	/* only history is given up: nothing reaching past matched */
	while ((hs = colo_stream_pop_history(&st))) {
		CHECK(!colo_seq_after(colo_seg_end(hs), st.matched));
		tseg_of(hs)->popped = 1;
	}
	TRY(check_lists(&st));
	CHECK(!st.side[COLO_SVM].count);
	(void)p;
	return 0;
}

/*
 * A PVM segment straddling `matched`: its part before it is compared with
 * the history too. (The first engine compared only the part after it.)
 */
static int t_straddle_matched(void)
{
	const u32 base = 5, mss = 1000;
	static u8 other[1000];
	struct tseg *p, *s, *r;

	TRY(setup_compared(base, mss, 10, 5, &p, &s));
	r = mk(COLO_PVM, base + 4500, 1000, 0, bufp + 4500);
	TRY(add_want(r, COLO_CMP_PENDING));
	CHECK(!r->popped && r->seg.ok == base + 5000);
	TRY(add_want(&s[5], COLO_CMP_PROGRESS));
	CHECK(r->popped);
	TRY(setup_compared(base, mss, 10, 5, &p, &s));
	memcpy(other, bufp + 4500, 1000);
	other[3] ^= 0x20;
	r = mk(COLO_PVM, base + 4500, 1000, 0, other);
	TRY(add_want(r, COLO_CMP_MISMATCH));
	CHECK(st.mismatch_seq == base + 4503 && !r->popped);
	TRY(add_want(&s[5], COLO_CMP_MISMATCH));
	TRY(add_want(&p[5], COLO_CMP_MISMATCH));
	CHECK(!r->popped);
	return 0;
}

/*
 * Two PVM copies of one range queued before the SVM's: both are compared.
 * (The first engine compared the first copy and released the other.)
 */
static int t_duplicate_pvm(void)
{
	const u32 base = 0x7fffff00u;
	static u8 other[600];
	struct tseg *a, *d, *d2;
	int round;

	for (round = 0; round < 2; round++) {
		reset();
		fill(bufp, 2000);
		memcpy(bufs, bufp, 2000);
		memcpy(other, bufp + 200, 600);
		if (round)
			other[333] ^= 4;
		stream_reset();
		auto_ack = false;
		colo_stream_resync(&st, base);
		a = mk(COLO_PVM, base, 1000, 0, bufp);
		d = mk(COLO_PVM, base + 200, 600, 0, other);
		d2 = mk(COLO_PVM, base, 1000, 0, bufp);
		TRY(add_want(a, COLO_CMP_PENDING));
		TRY(add_want(d, COLO_CMP_PENDING));
		TRY(add_want(d2, COLO_CMP_PENDING));
		TRY(add_want(mk(COLO_SVM, base, 2000, 0, bufs),
			     round ? COLO_CMP_MISMATCH : COLO_CMP_PROGRESS));
		CHECK(a->popped && d2->popped);
		CHECK(d->popped == !round);
		CHECK(!round || st.mismatch_seq == base + 200 + 333);
		CHECK(st.matched_bytes == 1000);
	}
	return 0;
}

/* FIN retransmits against the history; a FIN must meet a FIN there. */
static int t_fin_history(void)
{
	const u32 base = 0xffffffc0u;
	struct tseg *r;

	fill(bufp, 300);
	memcpy(bufs, bufp, 300);
	stream_reset();
	auto_ack = false;
	colo_stream_resync(&st, base);
	TRY(add_want(mk(COLO_PVM, base, 100, COLO_SEG_FIN, bufp),
		     COLO_CMP_PENDING));
	TRY(add_want(mk(COLO_SVM, base, 100, COLO_SEG_FIN, bufs),
		     COLO_CMP_PROGRESS));
	CHECK(pool[0].popped && !pool[1].popped && st.fin_matched);
	r = mk(COLO_PVM, base + 100, 0, COLO_SEG_FIN, NULL);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	r = mk(COLO_PVM, base + 40, 60, COLO_SEG_FIN, bufp + 40);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	r = mk(COLO_PVM, base + 50, 50, 0, bufp + 50);
	TRY(add_want(r, COLO_CMP_PROGRESS));
	CHECK(r->popped);
	/* data where the SVM's history has its FIN */
	r = mk(COLO_PVM, base + 50, 60, 0, bufp + 50);
	TRY(add_want(r, COLO_CMP_MISMATCH));
	CHECK(!r->popped && st.mismatch_seq == base + 100);
	/* and a PVM FIN where the SVM's history has data */
	reset();
	stream_reset();
	auto_ack = false;
	colo_stream_resync(&st, base);
	TRY(add(mk(COLO_PVM, base, 200, 0, bufp), NULL));
	TRY(add(mk(COLO_SVM, base, 200, 0, bufs), NULL));
	CHECK(pool[0].popped && st.matched == base + 200);
	r = mk(COLO_PVM, base + 50, 50, COLO_SEG_FIN, bufp + 50);
	TRY(add_want(r, COLO_CMP_MISMATCH));
	CHECK(!r->popped && st.mismatch_seq == base + 100);
	return 0;
}

/*
 * The checkpoint sequence: resync at the PVM's next seq does not release
 * the new epoch's PVM segments queued below it. (The first engine made
 * every segment wholly before the resync point done.)
 */
static int t_checkpoint_new_epoch(void)
{
	const u32 base = 3000, mss = 1000;
	static u8 other[1000];
	struct tseg *p, *s, *r;
	int i;

	TRY(setup_compared(base, mss, 10, 5, &p, &s));
	TRY(add_want(&p[5], COLO_CMP_PENDING));
	TRY(add_want(&p[6], COLO_CMP_PENDING));
	/* the cut: epoch 1's SVM output is discarded */
	for (i = 0; i < 5; i++) {
		colo_stream_remove(&st, &s[i].seg);
		s[i].popped = 1;
	}
	/* epoch 2: the PVM resends 5000.. with other bytes, and sends 7000.. */
	memcpy(other, bufp + 5000, 1000);
	other[0] ^= 1;
	r = mk(COLO_PVM, base + 5000, 1000, 0, other);
	TRY(add_want(r, COLO_CMP_PENDING));
	TRY(add_want(&p[7], COLO_CMP_PENDING));
	/* done: epoch 1's held PVM segments are released by the caller */
	colo_stream_remove(&st, &p[5].seg);
	colo_stream_remove(&st, &p[6].seg);
	p[5].popped = p[6].popped = 1;
	CHECK(colo_stream_resync(&st, base + 8000) == COLO_CMP_PENDING);
	TRY(drain());
	CHECK(!r->popped && !p[7].popped);
	/* the SVM's epoch 2 output */
	for (i = 5; i < 8; i++)
		TRY(add(&s[i], NULL));
	CHECK(st.mismatched && st.mismatch_seq == base + 5000);
	CHECK(!r->popped && p[7].popped);
	return 0;
}

/* TCP Fast Open: SYN payload at ISN + 1 on both sides, data after it. */
static int t_syn_payload(void)
{
	const u32 isn = 0xfffffff0u;
	int round;

	for (round = 0; round < 2; round++) {
		reset();
		fill(bufp, 2000);
		memcpy(bufs, bufp, 2000);
		if (round)
			bufs[77] ^= 1;
		stream_reset();
		auto_ack = false;
		TRY(add_want(mk(COLO_PVM, isn + 1, 300, 0, bufp),
			     COLO_CMP_PENDING));
		TRY(add_want(mk(COLO_SVM, isn + 1, 300, 0, bufs),
			     COLO_CMP_PENDING));
		TRY(add_want(mk(COLO_PVM, isn + 301, 1000, 0, bufp + 300),
			     COLO_CMP_PENDING));
		CHECK(!pool[0].popped && !pool[2].popped);
		/* the SYNs compared: sync at ISN + 1 */
		CHECK(colo_stream_resync(&st, isn + 1) ==
		      (round ? COLO_CMP_MISMATCH : COLO_CMP_PROGRESS));
		TRY(drain());
		CHECK(pool[0].popped == !round);
		if (round) {
			CHECK(st.mismatch_seq == isn + 1 + 77);
			continue;
		}
		TRY(add_want(mk(COLO_SVM, isn + 301, 1000, 0, bufs + 300),
			     COLO_CMP_PROGRESS));
		CHECK(pool[2].popped && st.matched == isn + 1301);
	}
	return 0;
}

/* The client's ACK works unsynced too; it only moves forwards. */
static int t_acked_rules(void)
{
	struct tseg *a, *b;

	fill(bufp, 1000);
	stream_reset();
	auto_ack = false;
	CHECK(colo_stream_acked(&st, 0xfffffff0u) == COLO_CMP_PENDING);
	CHECK(st.ack_valid && st.ack == 0xfffffff0u);
	a = mk(COLO_PVM, 0xffffff00u, 0x100, 0, bufp);
	TRY(add_want(a, COLO_CMP_PENDING));
	b = mk(COLO_SVM, 0xffffff00u, 0xe0, 0, bufp);
	TRY(add_want(b, COLO_CMP_PROGRESS));
	CHECK(b->popped && !a->popped && a->seg.ok == 0xfffffff0u);
	CHECK(colo_stream_acked(&st, 0x10) == COLO_CMP_PROGRESS);
	TRY(drain());
	CHECK(a->popped && !st.synced && st.ack == 0x10);
	CHECK(colo_stream_acked(&st, 0xfffffff8u) == COLO_CMP_PENDING);
	CHECK(st.ack == 0x10);
	return 0;
}

/* Both ways of getting at the data were used (run last). */
static int t_scratch_path(void)
{
	CHECKF(t_copies > 1000 && t_inplace > 1000, "copies %lu in place %lu",
	       t_copies, t_inplace);
	CHECK(t_bad_calls == 0);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
	{ "inorder_equal",		t_inorder_equal },
	{ "diff_segmentation",		t_diff_segmentation },
	{ "out_of_order_overlap",	t_out_of_order_overlap },
	{ "retransmit_matched",		t_retransmit_matched },
	{ "byte_changed",		t_byte_changed },
	{ "after_mismatch",		t_after_mismatch },
	{ "wraparound",			t_wraparound },
	{ "fin_equal",			t_fin_equal },
	{ "fin_diff_seq",		t_fin_diff_seq },
	{ "data_vs_fin",		t_data_vs_fin },
	{ "pending_behind",		t_pending_behind },
	{ "resync",			t_resync },
	{ "resync_forgets",		t_resync_forgets },
	{ "remove",			t_remove },
	{ "datagram",			t_datagram },
	{ "unsynced_only_queues",	t_unsynced_only_queues },
	{ "data_failure",		t_data_failure },
	{ "stream_end",			t_stream_end },
	{ "zero_length",		t_zero_length },
	{ "pop_order",			t_pop_order },
	{ "matched_bytes",		t_matched_bytes },
	{ "random_property",		t_random_property },
	{ "retransmit_history",		t_retransmit_history },
	{ "retransmit_acked",		t_retransmit_acked },
	{ "history_gap",		t_history_gap },
	{ "straddle_matched",		t_straddle_matched },
	{ "duplicate_pvm",		t_duplicate_pvm },
	{ "fin_history",		t_fin_history },
	{ "checkpoint_new_epoch",	t_checkpoint_new_epoch },
	{ "syn_payload",		t_syn_payload },
	{ "acked_rules",		t_acked_rules },
	{ "scratch_path",		t_scratch_path },
};

int main(void)
{
	int failed = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		rng_seed(0xc01015eedull + i);
		reset();
		why[0] = 0;
		if (cases[i].fn()) {
			printf("FAIL: compare/%s (%s)\n", cases[i].name,
			       why[0] ? why : "?");
			failed++;
		} else {
			printf("PASS: compare/%s\n", cases[i].name);
		}
		fflush(stdout);
	}
	return failed ? 1 : 0;
}

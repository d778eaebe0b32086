// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_compare.c - libFuzzer target for the compare engine
 *
 * The input is read as a byte stream plus two segmentations of it and an
 * arrival order (with duplicates). Properties, checked with abort():
 *  1. equal streams compare equal: no mismatch, every PVM segment released,
 *     every SVM segment done, matched/matched_bytes/fin exact;
 *  2. the same with one SVM byte changed: the mismatch is reported exactly at
 *     that byte's seq (never anywhere else), and only PVM segments wholly
 *     before it are released;
 *  3. arbitrary operations (add/remove/pop/pop_history/acked/resync/end on
 *     random segments) keep the lists consistent and never crash.
 * Phases 1 and 2 run synced from the start, or queue everything unsynced
 * (nothing may come out) and resync at the end. The SVM segments stay as
 * history until the client's ACK (colo_stream_acked) covers them.
 * prop_compare.c checks the release rule against a reference model.
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

#define MAXDATA	4096
#define MAXSEG	(4 * MAXDATA + 64)

#define REQUIRE(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property failed: %s\n",		\
			__FILE__, __LINE__, #cond);			\
		abort();						\
	}								\
} while (0)

struct fseg {
	struct colo_seg	seg;
	const u8	*buf;
	int		side;
	int		copy;
	int		fail;
	int		queued;		/* phase 3: added and not yet out */
	int		popped;
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

static u32 take32(struct input *in)
{
	u32 v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v = v << 8 | take8(in);
	return v;
}

static const void *f_data(const struct colo_seg *seg, u32 off, u32 len,
			  void *scratch)
{
	const struct fseg *f = container_of(seg, struct fseg, seg);

	REQUIRE(len > 0 && len <= COLO_CMP_CHUNK);
	REQUIRE(off <= seg->len && len <= seg->len - off);
	if (f->fail)
		return NULL;
	if (f->copy) {
		memcpy(scratch, f->buf + off, len);
		return scratch;
	}
	return f->buf + off;
}

static const struct colo_seg_ops f_ops = { .data = f_data };

static struct fseg pool[MAXSEG];
static int npool;
static struct fseg *ord[MAXSEG];
static int nord;
static u8 pbuf[MAXDATA], sbuf[MAXDATA];

static struct fseg *mk(int side, u32 seq, u32 len, u32 flags, const u8 *buf)
{
	struct fseg *f;

	REQUIRE(npool < MAXSEG);
	f = &pool[npool];
	memset(f, 0, sizeof(*f));
	f->seg.seq = seq;
	f->seg.len = len;
	f->seg.flags = flags;
	f->buf = buf;
	f->side = side;
	f->copy = npool & 1;
	npool++;
	return f;
}

/*
 * Segments more than 2^31 apart have no order: the engine's precondition
 * (one connection's window) is broken on purpose in chaos mode, where only
 * "no crash, consistent links" is required.
 */
static bool wild_seqs;

static void check_lists(const struct colo_stream *st)
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
			REQUIRE(seg->prev == prev);
			REQUIRE(seg->side == side);
			REQUIRE(wild_seqs || !prev ||
				!colo_seq_before(seg->seq, prev->seq));
			count++;
			ndone += seg->done;
			REQUIRE(count <= MAXSEG);
		}
		REQUIRE(l->tail == prev);
		REQUIRE(l->count == count);
		REQUIRE(l->ndone == ndone);
	}
}

/* Pop all done segments; each must be complete at st->matched. */
static void drain(struct colo_stream *st, bool strict)
{
	struct colo_seg *seg;
	struct fseg *f;
	int side;

	for (side = 0; side < COLO_SIDES; side++) {
		while ((seg = colo_stream_pop_done(st, side))) {
			f = container_of(seg, struct fseg, seg);
			REQUIRE(seg->done && !seg->next && !seg->prev);
			REQUIRE(f->side == side && !f->popped);
			if (strict)
				REQUIRE(colo_seg_end(seg) == seg->seq ||
					!colo_seq_after(colo_seg_end(seg),
							st->matched) ||
					(st->ack_valid &&
					 !colo_seq_after(colo_seg_end(seg),
							 st->ack)));
			f->popped = 1;
			f->queued = 0;
		}
	}
	check_lists(st);
}

/* Cut @total bytes of @buf into segments whose lengths the input chooses. */
static void cut(struct input *in, int side, u32 base, const u8 *buf,
		u32 total, bool fin)
{
	struct fseg *f;
	u32 off = 0, len;
	u8 b;

	do {
		b = take8(in);
		if (!b)
			len = 97;
		else if (b & 0x80)
			len = (u32)(b & 0x7f) * 23 + 1;
		else
			len = b & 0x7f;
		if (len > total - off)
			len = total - off;
		f = mk(side, base + off, len, 0, buf + off);
		ord[nord++] = f;
		off += len;
	} while (off < total);
	if (fin)
		f->seg.flags |= COLO_SEG_FIN;
}

/*
 * Phases 1 and 2 share one schedule; @bad is the changed offset or -1. With
 * @explicit_sync the stream is synced first; without, everything is queued
 * unsynced (nothing may come out) and the resync compares it all at once.
 */
static void run_schedule(u32 base, u32 total, bool fin, bool explicit_sync,
			 long bad)
{
	struct colo_stream st;
	u32 want = bad < 0 ? 0 : (u32)bad;
	int i;

	for (i = 0; i < npool; i++) {
		pool[i].popped = 0;
		pool[i].seg.next = NULL;
		pool[i].seg.prev = NULL;
	}
	colo_stream_init(&st, &f_ops);
	if (explicit_sync)
		colo_stream_resync(&st, base);
	for (i = 0; i < nord; i++) {
		enum colo_cmp_result r;

		r = colo_stream_add(&st, ord[i]->side, &ord[i]->seg);
		REQUIRE((r == COLO_CMP_MISMATCH) == st.mismatched);
		if (st.mismatched)
			REQUIRE(bad >= 0 && st.mismatch_seq == base + want);
		drain(&st, true);
		if (!explicit_sync)
			REQUIRE(!st.synced && !st.matched_bytes);
	}
	if (!explicit_sync) {
		for (i = 0; i < npool; i++)
			REQUIRE(pool[i].popped ==
				(colo_seg_end(&pool[i].seg) == pool[i].seg.seq));
		colo_stream_resync(&st, base);
		drain(&st, true);
	}
	if (bad < 0) {
		REQUIRE(!st.mismatched);
		REQUIRE(st.matched == base + total + (fin ? 1 : 0));
		REQUIRE(st.matched_bytes == total);
		REQUIRE(st.fin_matched == fin);
		/* every PVM segment out; the SVM's wait for the client's ACK */
		for (i = 0; i < npool; i++)
			REQUIRE(pool[i].popped == (pool[i].side == COLO_PVM ||
				colo_seg_end(&pool[i].seg) == pool[i].seg.seq));
		colo_stream_acked(&st, st.matched);
		drain(&st, true);
		for (i = 0; i < npool; i++)
			REQUIRE(pool[i].popped);
		REQUIRE(!st.side[0].head && !st.side[1].head);
	} else {
		REQUIRE(st.mismatched && st.mismatch_seq == base + want);
		REQUIRE(st.matched == base + want);
		REQUIRE(st.matched_bytes == want);
		colo_stream_acked(&st, st.matched);
		drain(&st, true);
		for (i = 0; i < npool; i++) {
			bool before = !colo_seq_after(colo_seg_end(&pool[i].seg),
						      base + want);

			REQUIRE(pool[i].popped == before);
		}
	}
}

static void phase_streams(struct input *in)
{
	u8 mode = take8(in);
	bool fin = mode & 1, explicit_sync = mode & 2;
	u32 base = take32(in);
	u32 total = ((u32)take8(in) << 8 | take8(in)) % (MAXDATA + 1);
	u32 bad = ((u32)take8(in) << 8 | take8(in));
	u8 flip = take8(in) | 1;
	int i, j, side;

	for (i = 0; i < (int)total; i++)
		pbuf[i] = in->n ? take8(in) : (u8)(i * 31 + 7);
	memcpy(sbuf, pbuf, total);

	npool = 0;
	nord = 0;
	cut(in, COLO_PVM, base, pbuf, total, fin);
	cut(in, COLO_SVM, base, sbuf, total, fin);
	/* duplicates (retransmits with the same cut) */
	j = nord;
	for (i = 0; i < j; i++) {
		if (take8(in) & 1) {
			struct fseg *f = ord[i];

			ord[nord++] = mk(f->side, f->seg.seq, f->seg.len,
					 f->seg.flags, f->buf);
		}
	}
	/* arrival order */
	for (i = nord - 1; i > 0; i--) {
		struct fseg *tmp;

		j = (int)(((u32)take8(in) << 8 | take8(in)) % (u32)(i + 1));
		tmp = ord[i];
		ord[i] = ord[j];
		ord[j] = tmp;
	}
	(void)side;

	run_schedule(base, total, fin, explicit_sync, -1);
	if (total) {
		bad %= total;
		sbuf[bad] ^= flip;
		run_schedule(base, total, fin, explicit_sync, (long)bad);
	}
}

/* Phase 3: arbitrary operations on up to 64 arbitrary segments. */
static void phase_chaos(struct input *in)
{
	static u8 data[512];
	struct colo_stream st;
	u32 base = take32(in), end, r;
	int i, op, nseg;
	struct fseg *f;

	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = (u8)(i & 3);
	npool = 0;
	wild_seqs = false;
	nseg = take8(in) % 64 + 1;
	for (i = 0; i < nseg; i++) {
		u8 a = take8(in), b = take8(in), c = take8(in);
		u32 seq = base + (u32)(a & 0x7f) * 8 + (b & 7);
		u32 off = (u32)(c & 0x3f) * 4;

		if ((a & 0x80) && (c & 0x20)) {
			seq = take32(in);	/* anywhere at all */
			wild_seqs = true;
		} else if (a & 0x80) {
			seq += (u32)b << 21;	/* far, within 2^29 */
		}
		f = mk(c & 0x80 ? COLO_SVM : COLO_PVM, seq,
		       (u32)(b >> 3) * 9 % 257, (c & 0x40) ? COLO_SEG_FIN : 0,
		       data + off);
		f->fail = (a & 0x7f) == 0x7f;
	}
	for (i = 0; i < (int)sizeof(data) && in->n; i++)
		data[i] = take8(in) & 0x3;	/* small alphabet: equal often */

	colo_stream_init(&st, &f_ops);
	for (op = 0; op < 400 && in->n; op++) {
		u8 x = take8(in);

		f = &pool[take8(in) % nseg];
		switch (x & 7) {
		case 0: case 1: case 2: case 3:
			if (f->queued)
				break;
			f->queued = 1;
			f->popped = 0;
			r = colo_stream_add(&st, f->side, &f->seg);
			REQUIRE(r <= COLO_CMP_MISMATCH);
			REQUIRE((r == COLO_CMP_MISMATCH) == st.mismatched);
			break;
		case 4:
			if (x & 8) {
				struct colo_seg *h = colo_stream_pop_history(&st);

				if (h) {
					f = container_of(h, struct fseg, seg);
					REQUIRE(f->queued && f->side == COLO_SVM);
					REQUIRE(!colo_seq_after(colo_seg_end(h),
								st.matched));
					f->queued = 0;
				}
				break;
			}
			colo_stream_remove(&st, &f->seg);
			f->queued = 0;
			break;
		case 5:
			if (x & 8) {
				r = colo_stream_acked(&st, f->seg.seq + (x >> 4));
				REQUIRE(r <= COLO_CMP_MISMATCH);
			}
			drain(&st, false);
			break;
		case 6:
			r = colo_stream_resync(&st, f->seg.seq + (x >> 3));
			REQUIRE(r <= COLO_CMP_MISMATCH);
			break;
		case 7:
			if (colo_stream_end(&st, x & 8 ? COLO_SVM : COLO_PVM,
					    &end))
				REQUIRE(st.side[x & 8 ? 1 : 0].count);
			else
				REQUIRE(!st.side[x & 8 ? 1 : 0].count);
			(void)colo_cmp_datagram(&f_ops, &f->seg,
						&pool[x % nseg].seg, &r);
			break;
		}
		check_lists(&st);
		/* found at the comparison point or behind it (history) */
		if (st.mismatched && !wild_seqs)
			REQUIRE(!colo_seq_after(st.mismatch_seq, st.matched));
	}
	drain(&st, false);
	for (i = 0; i < nseg; i++)
		if (pool[i].queued)
			colo_stream_remove(&st, &pool[i].seg);
	check_lists(&st);
	REQUIRE(!st.side[0].count && !st.side[1].count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };

	if (size < 1)
		return 0;
	wild_seqs = false;
	if (data[0] & 0x80) {
		in.p++;
		in.n--;
		phase_chaos(&in);
	} else {
		phase_streams(&in);
	}
	return 0;
}

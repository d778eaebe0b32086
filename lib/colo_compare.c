// SPDX-License-Identifier: GPL-2.0
/*
 * colo_compare.c - the output comparison engine of colo-proxy
 *
 * Pure C, see include/colo_compare.h for the contract. Built into
 * nf_conntrack_colo.ko (#included at the end of nf_conntrack_colo.c) and into
 * the userspace unit tests, fuzz target and benchmark. The only library calls
 * are memcmp() and memset(), from <linux/string.h> or <string.h>.
 *
 * Locking: none here; the caller serialises all calls on one stream.
 *
 * Each side keeps its segments in a doubly linked list sorted by seq. The
 * comparison walks both lists from the head in step: at sequence number m it
 * asks each side what it has there (colo_seg_at()), compares the overlap of
 * the two segments found in chunks of COLO_CMP_CHUNK bytes, moves m on and
 * asks again, starting from the segments just used. Segments wholly before
 * `matched` are done; callers pop them after each add, so the heads stay
 * short and a lookup touches one or two segments.
 */
#ifdef __KERNEL__
#include <linux/export.h>
#include <linux/string.h>
#else
#include <string.h>
#endif

#include "colo_compare.h"

/*
 * Bytes one call compares at most. Only reachable if more than 2^32 bytes are
 * queued on both sides at once, when the sequence space wraps onto itself and
 * the walk would never end; real streams stop long before.
 */
#define COLO_CMP_BUDGET	0x80000000u

/* What one side has at a sequence number (colo_seg_at()). */
struct colo_at {
	struct colo_seg	*data;	/* first segment with a payload byte there */
	bool		fin;	/* some segment has its FIN there */
};

static u32 colo_min(u32 a, u32 b)
{
	return a < b ? a : b;
}

/* Segment @seg occupies nothing at or after @matched any more. */
static bool colo_seg_complete(const struct colo_seg *seg, u32 matched)
{
	return !colo_seq_after(colo_seg_end(seg), matched);
}

static void colo_seg_set_done(struct colo_seg_list *l, struct colo_seg *seg)
{
	if (!seg->done) {
		seg->done = 1;
		l->ndone++;
	}
}

/*
 * Link @seg into @l in seq order, after any segment with the same seq.
 * Walks from whichever end is nearer in sequence space: in-order arrivals
 * (the common case) and old retransmits both cost O(1) list steps.
 */
static void colo_list_insert(struct colo_seg_list *l, struct colo_seg *seg)
{
	struct colo_seg *pos;	/* link after this one; NULL: at the head */

	if (!l->tail || !colo_seq_before(seg->seq, l->tail->seq)) {
		pos = l->tail;
	} else if (colo_seq_before(seg->seq, l->head->seq)) {
		pos = NULL;
	} else if (seg->seq - l->head->seq < l->tail->seq - seg->seq) {
		pos = l->head;
		while (pos->next && !colo_seq_after(pos->next->seq, seg->seq))
			pos = pos->next;
	} else {
		pos = l->tail;
		while (pos && colo_seq_after(pos->seq, seg->seq))
			pos = pos->prev;
	}

	seg->prev = pos;
	seg->next = pos ? pos->next : l->head;
	if (seg->next)
		seg->next->prev = seg;
	else
		l->tail = seg;
	if (pos)
		pos->next = seg;
	else
		l->head = seg;
	l->count++;
}

static void colo_list_unlink(struct colo_seg_list *l, struct colo_seg *seg)
{
	if (seg->prev)
		seg->prev->next = seg->next;
	else
		l->head = seg->next;
	if (seg->next)
		seg->next->prev = seg->prev;
	else
		l->tail = seg->prev;
	seg->next = NULL;
	seg->prev = NULL;
	l->count--;
	if (seg->done)
		l->ndone--;
}

/*
 * Mark done every segment of @l that @matched has passed. Only segments that
 * start at or before @matched can be complete, and the list is sorted by seq,
 * so the walk stops at the first one starting after it.
 */
static bool colo_list_mark_done(struct colo_seg_list *l, u32 matched)
{
	struct colo_seg *seg;
	bool any = false;

	for (seg = l->head; seg && !colo_seq_after(seg->seq, matched);
	     seg = seg->next) {
		if (!seg->done && colo_seg_complete(seg, matched)) {
			colo_seg_set_done(l, seg);
			any = true;
		}
	}
	return any;
}

/*
 * What the side whose list continues at @from has at sequence number @m.
 * @from must not be past any segment that could hold @m: the head, or a
 * segment found by an earlier call for a smaller @m (a segment before it in
 * the list starts no later, so if it reached @m it would have been found
 * instead). Visits the segments from @from that start at or before @m.
 */
static void colo_seg_at(struct colo_seg *from, u32 m, struct colo_at *at)
{
	struct colo_seg *seg;
	u32 data_end;

	at->data = NULL;
	at->fin = false;
	for (seg = from; seg && !colo_seq_after(seg->seq, m); seg = seg->next) {
		data_end = seg->seq + seg->len;
		if (colo_seq_after(data_end, m)) {
			if (!at->data)
				at->data = seg;
		} else if (data_end == m && (seg->flags & COLO_SEG_FIN)) {
			at->fin = true;
		}
	}
}

/* Offset of the first byte that differs in @a and @b; @n if none does. */
static u32 colo_first_diff(const u8 *a, const u8 *b, u32 n)
{
	u32 i;

	if (!memcmp(a, b, n))
		return n;
	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	return i;
}

static void colo_stream_set_mismatch(struct colo_stream *st, u32 seq)
{
	st->mismatched = true;
	st->mismatch_seq = seq;
}

/*
 * Compare both sides from st->matched as far as both have contiguous data.
 * Advances matched and matched_bytes, marks what became done, records a
 * mismatch. Returns true if anything was compared equal or became done.
 */
static bool colo_stream_compare(struct colo_stream *st)
{
	u8 scratch[COLO_SIDES][COLO_CMP_CHUNK];
	const struct colo_seg_ops *ops = st->ops;
	struct colo_seg *p = st->side[COLO_PVM].head;
	struct colo_seg *s = st->side[COLO_SVM].head;
	u32 budget = COLO_CMP_BUDGET;
	u32 m = st->matched, start = m;
	u32 bytes = 0, n, chunk, diff;
	const void *pd, *sd;
	struct colo_at pa, sa;
	bool progress;

	while (budget) {
		colo_seg_at(p, m, &pa);
		colo_seg_at(s, m, &sa);

		/* A side saying both "byte" and "FIN" here contradicts itself. */
		if ((pa.data && pa.fin) || (sa.data && sa.fin)) {
			colo_stream_set_mismatch(st, m);
			break;
		}
		/* Wait until both sides have something here. */
		if ((!pa.data && !pa.fin) || (!sa.data && !sa.fin))
			break;
		if (pa.fin || sa.fin) {
			if (!pa.fin || !sa.fin) {	/* FIN against a byte */
				colo_stream_set_mismatch(st, m);
				break;
			}
			st->fin_matched = true;
			st->fin_seq = m;
			m++;
			budget--;
			continue;
		}

		p = pa.data;
		s = sa.data;
		n = colo_min(p->seq + p->len - m, s->seq + s->len - m);
		n = colo_min(n, budget);
		budget -= n;
		while (n) {
			chunk = colo_min(n, COLO_CMP_CHUNK);
			pd = ops->data(p, m - p->seq, chunk, scratch[COLO_PVM]);
			sd = ops->data(s, m - s->seq, chunk, scratch[COLO_SVM]);
			diff = (pd && sd) ? colo_first_diff(pd, sd, chunk) : 0;
			m += diff;
			bytes += diff;
			if (diff < chunk) {
				colo_stream_set_mismatch(st, m);
				goto out;
			}
			n -= chunk;
		}
	}
out:
	progress = m != start;
	st->matched = m;
	st->matched_bytes += bytes;
	if (colo_list_mark_done(&st->side[COLO_PVM], m))
		progress = true;
	if (colo_list_mark_done(&st->side[COLO_SVM], m))
		progress = true;
	return progress;
}

static enum colo_cmp_result colo_stream_result(const struct colo_stream *st,
					       bool progress)
{
	if (st->mismatched)
		return COLO_CMP_MISMATCH;
	return progress ? COLO_CMP_PROGRESS : COLO_CMP_PENDING;
}

void colo_stream_init(struct colo_stream *st, const struct colo_seg_ops *ops)
{
	memset(st, 0, sizeof(*st));
	st->ops = ops;
}

enum colo_cmp_result colo_stream_resync(struct colo_stream *st, u32 seq)
{
	if (st->fin_matched && !colo_seq_before(st->fin_seq, seq))
		st->fin_matched = false;
	st->matched = seq;
	st->synced = true;
	st->mismatched = false;
	st->mismatch_seq = 0;
	return colo_stream_result(st, colo_stream_compare(st));
}

enum colo_cmp_result colo_stream_add(struct colo_stream *st,
				     enum colo_side side, struct colo_seg *seg)
{
	struct colo_seg_list *l = &st->side[side];
	bool progress = false;

	seg->side = side;
	seg->done = 0;
	colo_list_insert(l, seg);

	if (!st->synced) {
		if (side != COLO_PVM)
			return COLO_CMP_PENDING;
		return colo_stream_resync(st, seg->seq);
	}

	/* Wholly before matched: a retransmit of compared data. */
	if (colo_seg_complete(seg, st->matched)) {
		colo_seg_set_done(l, seg);
		return colo_stream_result(st, true);
	}
	if (!st->mismatched)
		progress = colo_stream_compare(st);
	return colo_stream_result(st, progress);
}

struct colo_seg *colo_stream_pop_done(struct colo_stream *st,
				      enum colo_side side)
{
	struct colo_seg_list *l = &st->side[side];
	struct colo_seg *seg;

	if (!l->ndone)
		return NULL;
	/* Done segments sit at the head unless overlaps or a resync interfere. */
	for (seg = l->head; seg; seg = seg->next) {
		if (seg->done) {
			colo_list_unlink(l, seg);
			return seg;
		}
	}
	return NULL;
}

void colo_stream_remove(struct colo_stream *st, struct colo_seg *seg)
{
	struct colo_seg_list *l;

	if (seg->side >= COLO_SIDES)
		return;
	l = &st->side[seg->side];
	if (!seg->prev && l->head != seg)
		return;		/* not queued (any more) */
	colo_list_unlink(l, seg);
}

bool colo_stream_end(const struct colo_stream *st, enum colo_side side,
		     u32 *end)
{
	const struct colo_seg *seg = st->side[side].head;
	u32 e;

	if (!seg)
		return false;
	*end = colo_seg_end(seg);
	for (seg = seg->next; seg; seg = seg->next) {
		e = colo_seg_end(seg);
		if (colo_seq_after(e, *end))
			*end = e;
	}
	return true;
}

bool colo_cmp_datagram(const struct colo_seg_ops *ops,
		       const struct colo_seg *a, const struct colo_seg *b,
		       u32 *diff_off)
{
	u8 scratch[2][COLO_CMP_CHUNK];
	u32 n = colo_min(a->len, b->len);
	u32 off, chunk, diff;
	const void *ad, *bd;

	for (off = 0; off < n; off += chunk) {
		chunk = colo_min(n - off, COLO_CMP_CHUNK);
		ad = ops->data(a, off, chunk, scratch[0]);
		bd = ops->data(b, off, chunk, scratch[1]);
		diff = (ad && bd) ? colo_first_diff(ad, bd, chunk) : 0;
		if (diff < chunk) {
			if (diff_off)
				*diff_off = off + diff;
			return false;
		}
	}
	if (a->len != b->len) {
		if (diff_off)
			*diff_off = n;
		return false;
	}
	return true;
}

#ifdef __KERNEL__
EXPORT_SYMBOL_GPL(colo_stream_init);
EXPORT_SYMBOL_GPL(colo_stream_resync);
EXPORT_SYMBOL_GPL(colo_stream_add);
EXPORT_SYMBOL_GPL(colo_stream_pop_done);
EXPORT_SYMBOL_GPL(colo_stream_remove);
EXPORT_SYMBOL_GPL(colo_stream_end);
EXPORT_SYMBOL_GPL(colo_cmp_datagram);
#endif

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
 * Each side keeps its segments in a doubly linked list sorted by seq. Two
 * mechanisms compare:
 *  - the walk at the comparison point (colo_stream_walk()) moves `matched`:
 *    at sequence number m it asks each side what it has there
 *    (colo_seg_at()), compares the overlap of the two segments found in
 *    chunks of COLO_CMP_CHUNK bytes, moves m on and asks again, starting
 *    from the segments just used. Each list's `cur` remembers where the walk
 *    stands (everything before it ends at or before `matched`), so the SVM
 *    history behind it costs nothing. The PVM copy the walk used has its
 *    own bytes verified (seg->ok moves with m);
 *  - every other PVM copy, and every PVM byte before `matched`, is compared
 *    on its own with whatever SVM segment has that sequence number
 *    (colo_verify_hist(), colo_svm_find()).
 * A PVM segment is done when its ok reaches its end; an SVM segment when the
 * client's ACK passes its end.
 */
#ifdef __KERNEL__
#include <linux/export.h>
#include <linux/string.h>
#else
#include <string.h>
#endif

#include "colo_compare.h"

/*
 * Bytes one walk compares at most. Only reachable if more than 2^32 bytes are
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

/* The earlier of two sequence numbers. */
static u32 colo_seq_min(u32 a, u32 b)
{
	return colo_seq_before(a, b) ? a : b;
}

static u32 colo_seg_data_end(const struct colo_seg *seg)
{
	return seg->seq + seg->len;
}

/* Segment @seg occupies nothing at or after @m. */
static bool colo_seg_complete(const struct colo_seg *seg, u32 m)
{
	return !colo_seq_after(colo_seg_end(seg), m);
}

static void colo_seg_set_done(struct colo_seg_list *l, struct colo_seg *seg)
{
	if (!seg->done) {
		seg->done = 1;
		l->ndone++;
	}
}

/* PVM: [seq, @ok) is fine now; done once that is all of it. */
static void colo_pvm_set_ok(struct colo_stream *st, struct colo_seg *seg,
			    u32 ok)
{
	if (!colo_seq_after(ok, seg->ok))
		return;
	seg->ok = ok;
	if (ok == colo_seg_end(seg))
		colo_seg_set_done(&st->side[COLO_PVM], seg);
}

/* Where a PVM segment's `ok` starts: its seq, or the client's ACK in it. */
static u32 colo_pvm_ok0(const struct colo_stream *st,
			const struct colo_seg *seg)
{
	if (st->ack_valid && colo_seq_after(st->ack, seg->seq))
		return colo_seq_min(st->ack, colo_seg_end(seg));
	return seg->seq;
}

/* The client's ACK lets @seg's sequence numbers below it through. */
static void colo_pvm_ack_ok(struct colo_stream *st, struct colo_seg *seg)
{
	u32 ok = colo_pvm_ok0(st, seg);

	if (colo_seq_after(ok, seg->ok)) {
		st->acked_bytes += ok - seg->ok;
		colo_pvm_set_ok(st, seg, ok);
	}
}

/*
 * Link @seg into @l in seq order, after any segment with the same seq.
 * Walks from whichever end is nearer in sequence space: in-order arrivals
 * (the common case) and old retransmits both cost O(1) list steps. Keeps
 * l->cur valid for the comparison point @m.
 */
static void colo_list_insert(struct colo_seg_list *l, struct colo_seg *seg,
			     u32 m)
{
	struct colo_seg *pos;	/* link after this one; NULL: at the head */
	u32 len = colo_seg_end(seg) - seg->seq;

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
	if (len > l->maxlen)
		l->maxlen = len;
	/* Linked before the cursor and reaching past m: the walk needs it. */
	if (l->cur && colo_seq_before(seg->seq, l->cur->seq) &&
	    !colo_seg_complete(seg, m))
		l->cur = seg;
}

static void colo_list_unlink(struct colo_seg_list *l, struct colo_seg *seg,
			     u32 m)
{
	if (l->hist == seg)
		l->hist = seg->next ? seg->next : seg->prev;
	if (l->cur == seg)
		l->cur = colo_seg_complete(seg, m) && seg->next ? seg->next :
								 seg->prev;
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
 * What the side whose list continues at @from (NULL: nothing) has at
 * sequence number @m, for the walk at the comparison point: every segment
 * before @from ends at or before @m. Visits the segments from @from that
 * start at or before @m. *@next is set to where the next lookup (for a
 * larger m) may start: the first visited segment that reaches past @m, else
 * the last one visited, else @from.
 */
static void colo_seg_at(struct colo_seg *from, u32 m, struct colo_at *at,
			struct colo_seg **next)
{
	struct colo_seg *seg, *last = NULL, *reach = NULL;
	u32 data_end;

	at->data = NULL;
	at->fin = false;
	for (seg = from; seg && !colo_seq_after(seg->seq, m); seg = seg->next) {
		last = seg;
		data_end = colo_seg_data_end(seg);
		if (colo_seq_after(data_end, m)) {
			if (!at->data)
				at->data = seg;
		} else if (data_end == m && (seg->flags & COLO_SEG_FIN)) {
			at->fin = true;
		} else {
			continue;
		}
		if (!reach)
			reach = seg;
	}
	*next = reach ? reach : last ? last : from;
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
	if (st->mismatched)
		return;		/* keep the first one */
	st->mismatched = true;
	st->mismatch_seq = seq;
}

/*
 * Compare @n bytes of @p and @s from sequence number @m. Returns how many
 * compared equal (n if all did); data() failing counts as a difference at
 * the start of that chunk.
 */
static u32 colo_cmp_run(const struct colo_seg_ops *ops, struct colo_seg *p,
			struct colo_seg *s, u32 m, u32 n)
{
	u8 scratch[COLO_SIDES][COLO_CMP_CHUNK];
	u32 done = 0, chunk, diff;
	const void *pd, *sd;

	while (done < n) {
		chunk = colo_min(n - done, COLO_CMP_CHUNK);
		pd = ops->data(p, m + done - p->seq, chunk, scratch[COLO_PVM]);
		sd = ops->data(s, m + done - s->seq, chunk, scratch[COLO_SVM]);
		diff = (pd && sd) ? colo_first_diff(pd, sd, chunk) : 0;
		done += diff;
		if (diff < chunk)
			break;
	}
	return done;
}

/* What @seg has at @x: 1 a payload byte, 2 its FIN, 0 nothing. */
static int colo_seg_has(const struct colo_seg *seg, u32 x)
{
	u32 data_end = colo_seg_data_end(seg);

	if (colo_seq_before(x, seg->seq))
		return 0;
	if (colo_seq_before(x, data_end))
		return 1;
	return x == data_end && (seg->flags & COLO_SEG_FIN) ? 2 : 0;
}

/*
 * Search the SVM list around @start for a segment that has something at
 * @x: forwards over the segments from @start that start at or before @x,
 * then backwards, past those that start after @x, over those that start less
 * than l->maxlen before it (nothing earlier can reach @x).
 */
static struct colo_seg *colo_svm_around(const struct colo_seg_list *l,
					struct colo_seg *start, u32 x)
{
	struct colo_seg *seg;

	for (seg = start; seg && !colo_seq_after(seg->seq, x); seg = seg->next)
		if (colo_seg_has(seg, x))
			return seg;
	for (seg = start->prev; seg && colo_seq_after(seg->seq, x);
	     seg = seg->prev)
		;
	for (; seg && colo_seq_after(seg->seq + l->maxlen, x); seg = seg->prev)
		if (colo_seg_has(seg, x))
			return seg;
	return NULL;
}

/* How far @seg starts from @x in sequence space. */
static u32 colo_seq_dist(const struct colo_seg *seg, u32 x)
{
	return colo_seq_before(x, seg->seq) ? seg->seq - x : x - seg->seq;
}

/*
 * Some SVM segment that has something (a byte or a FIN) at @x, or NULL: for
 * the comparison of PVM data before the comparison point with the history.
 * Tries @hint->next first (the segment after the one used last), then
 * searches around the nearest (in sequence space) of the head, the walk's
 * cursor and the segment the last search found (l->hist): a retransmitted
 * run of segments finds each one's SVM data in O(1).
 */
static struct colo_seg *colo_svm_find(struct colo_stream *st, u32 x,
				      struct colo_seg *hint)
{
	struct colo_seg_list *l = &st->side[COLO_SVM];
	struct colo_seg *start, *seg;

	if (hint && hint->next && colo_seg_has(hint->next, x))
		return hint->next;
	if (!l->head || colo_seq_before(x, l->head->seq))
		return NULL;
	start = l->head;
	if (l->cur && colo_seq_dist(l->cur, x) < colo_seq_dist(start, x))
		start = l->cur;
	if (l->hist && colo_seq_dist(l->hist, x) < colo_seq_dist(start, x))
		start = l->hist;
	seg = colo_svm_around(l, start, x);
	if (seg)
		l->hist = seg;
	return seg;
}

/*
 * Compare PVM segment @p from p->ok up to @limit (not past its end) with the
 * SVM segments queued, whichever copy has the bytes: the history behind the
 * comparison point. Stops at a hole in the SVM data (p waits) or at a
 * difference (mismatch). The caller makes sure the stream is synced.
 */
static void colo_verify_hist(struct colo_stream *st, struct colo_seg *p,
			     u32 limit)
{
	u32 end = colo_seq_min(colo_seg_end(p), limit);
	u32 x, n, eq, p_data_end = colo_seg_data_end(p);
	struct colo_seg *s = NULL;
	int pk, sk;

	while (colo_seq_before(p->ok, end)) {
		x = p->ok;
		s = colo_svm_find(st, x, s);
		if (!s)
			return;		/* a hole: wait */
		sk = colo_seg_has(s, x);
		pk = colo_seq_before(x, p_data_end) ? 1 : 2;
		if (pk != sk) {		/* a FIN against a byte */
			colo_stream_set_mismatch(st, x);
			return;
		}
		if (pk == 2) {
			colo_pvm_set_ok(st, p, x + 1);
			continue;
		}
		n = colo_min(colo_min(p_data_end - x, colo_seg_data_end(s) - x),
			     end - x);
		eq = colo_cmp_run(st->ops, p, s, x, n);
		colo_pvm_set_ok(st, p, x + eq);
		if (eq < n) {
			colo_stream_set_mismatch(st, x + eq);
			return;
		}
	}
}

/*
 * PVM segments with a FIN at @m that were fine up to it: the SVM's FIN at @m
 * verifies theirs. @from as for colo_seg_at().
 */
static void colo_pvm_fin_ok(struct colo_stream *st, struct colo_seg *from,
			    u32 m)
{
	struct colo_seg *seg;

	for (seg = from; seg && !colo_seq_after(seg->seq, m); seg = seg->next)
		if (seg->ok == m && colo_seg_has(seg, m) == 2)
			colo_pvm_set_ok(st, seg, m + 1);
}

/*
 * The walk at the comparison point: compare both sides from st->matched as
 * far as both have contiguous data, first copy against first copy (the PVM
 * copy used gets its bytes verified if it was fine up to there), then verify
 * the other PVM segments over the stretch just compared against the SVM
 * data. Advances matched and matched_bytes, records a mismatch.
 */
static void colo_stream_walk(struct colo_stream *st)
{
	struct colo_seg *pfrom = st->side[COLO_PVM].cur;
	struct colo_seg *sfrom = st->side[COLO_SVM].cur;
	struct colo_seg *p, *s, *start;
	u32 budget = COLO_CMP_BUDGET;
	u32 m = st->matched, m0 = m;
	u32 bytes = 0, n, eq;
	struct colo_at pa, sa;
	bool pok;

	if (!pfrom)
		pfrom = st->side[COLO_PVM].head;
	if (!sfrom)
		sfrom = st->side[COLO_SVM].head;
	start = pfrom;
	while (budget && !st->mismatched) {
		colo_seg_at(pfrom, m, &pa, &pfrom);
		colo_seg_at(sfrom, m, &sa, &sfrom);

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
			colo_pvm_fin_ok(st, pfrom, m);
			st->fin_matched = true;
			st->fin_seq = m;
			m++;
			budget--;
			continue;
		}

		p = pa.data;
		s = sa.data;
		pok = !colo_seq_before(p->ok, m);
		n = colo_min(colo_seg_data_end(p) - m, colo_seg_data_end(s) - m);
		n = colo_min(n, budget);
		budget -= n;
		eq = colo_cmp_run(st->ops, p, s, m, n);
		if (pok)
			colo_pvm_set_ok(st, p, m + eq);
		m += eq;
		bytes += eq;
		if (eq < n)
			colo_stream_set_mismatch(st, m);
	}
	st->side[COLO_PVM].cur = pfrom;
	st->side[COLO_SVM].cur = sfrom;
	st->matched = m;
	st->matched_bytes += bytes;
	if (m == m0)
		return;
	/* Other PVM copies over [m0, m): compare them with the SVM too. */
	for (p = start; p && colo_seq_before(p->seq, m); p = p->next)
		if (!p->done && colo_seq_before(p->ok, m) &&
		    !colo_seq_before(p->ok, m0))
			colo_verify_hist(st, p, m);
}

static u32 colo_stream_ndone(const struct colo_stream *st)
{
	return st->side[COLO_PVM].ndone + st->side[COLO_SVM].ndone;
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
	struct colo_seg_list *l = &st->side[COLO_PVM];
	struct colo_seg *seg;
	u32 nd, m;

	if (st->fin_matched && !colo_seq_before(st->fin_seq, seq))
		st->fin_matched = false;
	st->matched = seq;
	st->synced = true;
	st->mismatched = false;
	st->mismatch_seq = 0;
	st->side[COLO_PVM].cur = NULL;
	st->side[COLO_SVM].cur = NULL;
	/* Forget what was verified against what was queued before. */
	for (seg = l->head; seg; seg = seg->next) {
		if (seg->done) {
			seg->done = 0;
			l->ndone--;
		}
		seg->ok = seg->seq;
		colo_pvm_set_ok(st, seg, colo_pvm_ok0(st, seg));
		if (seg->ok == colo_seg_end(seg))	/* occupies nothing */
			colo_seg_set_done(l, seg);
	}
	nd = colo_stream_ndone(st);
	colo_stream_walk(st);
	m = st->matched;
	for (seg = l->head; seg; seg = seg->next)
		if (!seg->done && colo_seq_before(seg->ok, m))
			colo_verify_hist(st, seg, m);
	return colo_stream_result(st, m != seq || colo_stream_ndone(st) != nd);
}

enum colo_cmp_result colo_stream_add(struct colo_stream *st,
				     enum colo_side side, struct colo_seg *seg)
{
	struct colo_seg_list *l = &st->side[side];
	u32 nd = colo_stream_ndone(st), m = st->matched, end;
	struct colo_seg *p;

	seg->side = side;
	seg->done = 0;
	seg->ok = seg->seq;
	colo_list_insert(l, seg, m);
	end = colo_seg_end(seg);

	if (end == seg->seq) {
		/* occupies no sequence number: nothing to compare */
		colo_seg_set_done(l, seg);
	} else if (side == COLO_PVM) {
		colo_pvm_ack_ok(st, seg);
		if (st->synced && !seg->done && colo_seq_before(seg->ok, m))
			colo_verify_hist(st, seg, m);
	} else if (st->ack_valid && !colo_seq_after(end, st->ack)) {
		colo_seg_set_done(l, seg);	/* the client has all of it */
	} else if (st->synced && colo_seq_before(seg->seq, m)) {
		/* An SVM retransmit into the history: PVM data waiting there. */
		for (p = st->side[COLO_PVM].head; p && colo_seq_before(p->seq, end);
		     p = p->next)
			if (!p->done && colo_seq_before(p->ok, m) &&
			    colo_seg_has(seg, p->ok))
				colo_verify_hist(st, p, m);
	}
	if (st->synced && !seg->done)
		colo_stream_walk(st);
	return colo_stream_result(st, st->matched != m ||
				      colo_stream_ndone(st) != nd);
}

enum colo_cmp_result colo_stream_acked(struct colo_stream *st, u32 ack)
{
	u32 nd = colo_stream_ndone(st);
	struct colo_seg *seg;

	if (st->ack_valid && !colo_seq_after(ack, st->ack))
		return colo_stream_result(st, false);
	st->ack = ack;
	st->ack_valid = true;
	for (seg = st->side[COLO_PVM].head;
	     seg && colo_seq_before(seg->seq, ack); seg = seg->next) {
		if (seg->done)
			continue;
		colo_pvm_ack_ok(st, seg);
		if (st->synced && !seg->done &&
		    colo_seq_before(seg->ok, st->matched))
			colo_verify_hist(st, seg, st->matched);
	}
	for (seg = st->side[COLO_SVM].head;
	     seg && colo_seq_before(seg->seq, ack); seg = seg->next)
		if (!seg->done && !colo_seq_after(colo_seg_end(seg), ack))
			colo_seg_set_done(&st->side[COLO_SVM], seg);
	return colo_stream_result(st, colo_stream_ndone(st) != nd);
}

struct colo_seg *colo_stream_pop_done(struct colo_stream *st,
				      enum colo_side side)
{
	struct colo_seg_list *l = &st->side[side];
	struct colo_seg *seg;

	if (!l->ndone)
		return NULL;
	/* Done segments sit at the head unless a hole keeps one waiting. */
	for (seg = l->head; seg; seg = seg->next) {
		if (seg->done) {
			colo_list_unlink(l, seg, st->matched);
			return seg;
		}
	}
	return NULL;
}

struct colo_seg *colo_stream_pop_history(struct colo_stream *st)
{
	struct colo_seg_list *l = &st->side[COLO_SVM];
	struct colo_seg *seg;

	if (!st->synced)
		return NULL;
	for (seg = l->head; seg && colo_seq_before(seg->seq, st->matched);
	     seg = seg->next) {
		if (colo_seg_complete(seg, st->matched)) {
			colo_list_unlink(l, seg, st->matched);
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
	colo_list_unlink(l, seg, st->matched);
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
EXPORT_SYMBOL_GPL(colo_stream_acked);
EXPORT_SYMBOL_GPL(colo_stream_pop_history);
EXPORT_SYMBOL_GPL(colo_stream_pop_done);
EXPORT_SYMBOL_GPL(colo_stream_remove);
EXPORT_SYMBOL_GPL(colo_stream_end);
EXPORT_SYMBOL_GPL(colo_cmp_datagram);
#endif

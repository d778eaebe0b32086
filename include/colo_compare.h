/* SPDX-License-Identifier: GPL-2.0 */
/*
 * colo_compare.h - the output comparison engine of colo-proxy
 *
 * Pure C: no kernel and no libc headers beyond the fixed-width types, no
 * allocation, no locking. The same lib/colo_compare.c is built into
 * nf_conntrack_colo.ko (which exports these symbols to xt_PMYCOLO.ko) and into
 * the userspace unit tests, fuzz target and benchmark.
 *
 * The caller owns every struct colo_seg (it embeds one per held packet) and
 * serialises all calls on one stream/connection with its own lock.
 *
 * TCP: struct colo_stream compares the PVM and the SVM byte streams of one
 * direction of one connection. Both streams are in the same sequence space
 * (SECCOLO rewrites the SVM's numbers on the secondary). Segments may arrive
 * in any order, cut at any boundaries, overlapping, retransmitted. The engine
 * compares bytes from stream->matched up to as far as both sides have
 * contiguous data; a PVM segment becomes releasable once every byte of it
 * (and its FIN, if any) has been compared equal. An SVM segment is done once
 * its bytes are compared. Segments wholly before `matched` when added are
 * retransmits: a PVM one is releasable at once, an SVM one is done at once.
 * On the first difference the stream enters the mismatched state, records the
 * sequence number and compares nothing more until colo_stream_resync().
 *
 * A FIN occupies the sequence number right after its segment's payload. At
 * each position the engine sees, per side, a data byte, a FIN or nothing: two
 * equal bytes or two FINs match, a FIN against a byte is a difference, and a
 * side with nothing there makes the engine wait. (A side that has both a byte
 * and a FIN at one position contradicts itself: a difference too.) Bytes that
 * one side queues twice (overlap, retransmit) are compared once, from the
 * segment that starts first; the copies are not compared with each other.
 *
 * Cost: colo_stream_add() inserts walking from the nearer end of the list
 * (O(1) for in-order arrival), then does work proportional to the bytes newly
 * compared plus the segments at the head of each list that start at or before
 * `matched` (normally one or two once done segments are popped after each
 * add). Stack use is bounded (2 * COLO_CMP_CHUNK bytes of scratch); nothing
 * recurses or allocates.
 */
#ifndef _COLO_COMPARE_H
#define _COLO_COMPARE_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#endif

#ifndef __KERNEL__
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
#endif

enum colo_side {
	COLO_PVM,
	COLO_SVM,
	COLO_SIDES
};

#define COLO_SEG_FIN	0x1	/* the segment carries a FIN after its payload */

struct colo_seg;

struct colo_seg_ops {
	/*
	 * Return a pointer to @len payload bytes of @seg starting at payload
	 * offset @off: in place, or copied into @scratch (at least @len bytes),
	 * like skb_header_pointer(). NULL on failure, which the engine treats as
	 * a difference. @len never exceeds COLO_CMP_CHUNK.
	 */
	const void *(*data)(const struct colo_seg *seg, u32 off, u32 len,
			    void *scratch);
};

#define COLO_CMP_CHUNK	128

struct colo_seg {
	/*
	 * Engine-owned: per-side list in seq order (equal seqs in arrival
	 * order). NULL while the segment is not queued (after pop/remove).
	 */
	struct colo_seg	*next;
	struct colo_seg	*prev;
	u32		seq;		/* sequence number of the first payload byte */
	u32		len;		/* payload bytes */
	u32		flags;		/* COLO_SEG_* */
	u8		side;		/* enum colo_side, set by colo_stream_add() */
	u8		done;		/* engine-owned: wholly compared */
};

struct colo_seg_list {
	struct colo_seg	*head;
	struct colo_seg	*tail;
	u32		count;		/* segments queued */
	u32		ndone;		/* of which done (pop_done returns them) */
};

struct colo_stream {
	const struct colo_seg_ops	*ops;
	struct colo_seg_list		side[COLO_SIDES];
	u32				matched;	/* next seq not yet compared */
	u32				mismatch_seq;	/* valid if mismatched */
	bool				synced;		/* matched is valid */
	bool				mismatched;
	bool				fin_matched;	/* both FINs at the same seq */
	u32				fin_seq;	/* that seq, if fin_matched */
	u32				matched_bytes;	/* since last read by the caller */
};

enum colo_cmp_result {
	COLO_CMP_PENDING,	/* nothing decided yet (wait for the other side) */
	COLO_CMP_PROGRESS,	/* something compared equal or became done: pop */
	COLO_CMP_MISMATCH,	/* stream is mismatched (difference at
				 * stream->mismatch_seq), whether this call
				 * found it or an earlier one did; segments may
				 * still have become done: pop them too */
};

/* Wrap-safe sequence number comparisons. */
static inline bool colo_seq_before(u32 a, u32 b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool colo_seq_after(u32 a, u32 b)
{
	return colo_seq_before(b, a);
}

/* One past the last sequence number @seg occupies (its FIN included). */
static inline u32 colo_seg_end(const struct colo_seg *seg)
{
	return seg->seq + seg->len + ((seg->flags & COLO_SEG_FIN) ? 1 : 0);
}

void colo_stream_init(struct colo_stream *st, const struct colo_seg_ops *ops);

/*
 * Start comparing at @seq (the first data sequence number, ISN + 1, or the
 * PVM's next sequence number after a checkpoint). Segments already queued are
 * kept; those wholly before @seq become done. Clears the mismatched state
 * (and fin_matched unless that FIN lies before @seq), then compares the queued
 * segments from @seq as far as possible, like colo_stream_add(): pop done
 * segments afterwards. The result may be ignored: a mismatch found here stays
 * recorded in the stream and the next add reports it.
 */
enum colo_cmp_result colo_stream_resync(struct colo_stream *st, u32 seq);

/*
 * Add @seg (seq, len and flags filled in by the caller; len < 2^30, it must
 * not be queued already) on @side and compare as far as possible. If the
 * stream is not synced yet, a PVM segment syncs it at its own seq (as
 * colo_stream_resync() would); an SVM segment is only queued. A segment of
 * either side that ends (FIN included) at or before `matched` is done at
 * once, also while mismatched. A zero-length segment without FIN is done
 * once `matched` reaches its seq.
 */
enum colo_cmp_result colo_stream_add(struct colo_stream *st,
				     enum colo_side side, struct colo_seg *seg);

/*
 * Unlink and return the first segment of @side that is done (for the PVM:
 * releasable), in sequence order, or NULL. Call until NULL after each add.
 */
struct colo_seg *colo_stream_pop_done(struct colo_stream *st,
				      enum colo_side side);

/*
 * Unlink @seg from its list, done or not (checkpoint release, teardown).
 * A segment that was added and since popped or removed is left alone.
 */
void colo_stream_remove(struct colo_stream *st, struct colo_seg *seg);

/*
 * Highest sequence number one past any byte (or FIN) queued on @side, if any:
 * false if nothing is queued. Walks the whole list.
 */
bool colo_stream_end(const struct colo_stream *st, enum colo_side side,
		     u32 *end);

/*
 * Datagrams (UDP payload, ICMP/ICMPv6 message from its type on): compare
 * @a and @b whole (len bytes from payload offset 0; seq and flags are not
 * looked at, the segments need not be queued). Returns true if equal;
 * otherwise false with *@diff_off (if @diff_off is not NULL) set to the first
 * differing byte offset (the shorter length if one is a prefix; the offset of
 * the chunk whose data() failed).
 */
bool colo_cmp_datagram(const struct colo_seg_ops *ops,
		       const struct colo_seg *a, const struct colo_seg *b,
		       u32 *diff_off);

#endif /* _COLO_COMPARE_H */

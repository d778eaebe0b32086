/* SPDX-License-Identifier: GPL-2.0 */
/*
 * colo_compare.h - the output comparison engine of colo-proxy
 *
 * Pure C: no kernel and no libc headers beyond the fixed-width types, no
 * allocation, no locking. The same lib/colo_compare.c is built into
 * nf_conntrack_colo.ko (which exports these symbols to xt_PMYCOLO.ko) and into
 * the userspace unit tests, property test, fuzz target and benchmark.
 *
 * The caller owns every struct colo_seg (it embeds one per held packet) and
 * serialises all calls on one stream/connection with its own lock.
 *
 * ==== TCP: the output-commit contract of struct colo_stream ==============
 *
 * A colo_stream compares the PVM and the SVM byte streams of one direction
 * of one connection (the guest's output). Both are in the PVM's sequence
 * space (SECCOLO rewrites the SVM's numbers on the secondary). Segments may
 * arrive in any order, cut at any boundaries, overlapping, retransmitted,
 * with the same or with different bytes. Each segment occupies the sequence
 * numbers [seq, seq + len) with payload bytes and, if COLO_SEG_FIN is set, one
 * more (seq + len) with its FIN.
 *
 * Release rule. A PVM segment becomes done (releasable, colo_stream_pop_done)
 * only when EACH sequence number it occupies is
 *   (a) below the client's cumulative ACK (colo_stream_acked()): a TCP
 *       receiver discards data below what it has acknowledged (RFC 9293's
 *       acceptability test: a segment wholly before RCV.NXT is only
 *       acknowledged, one that starts before it is trimmed to RCV.NXT), so
 *       the client cannot see those bytes whatever they are. The engine
 *       trusts the ACK as given: the caller passes only ACKs the client
 *       actually sent in this connection (conntrack's window tracking bounds
 *       them by what the PVM sent); a client that acknowledges bytes it never
 *       received may be sent PVM bytes below its own ACK unverified
 *       (counted in acked_bytes);
 *   or (b) verified: this segment's own byte (or FIN) there was compared
 *       equal to an SVM segment's byte (or FIN) at the same sequence number,
 *       both queued in this stream at the time, since the last resync.
 * Nothing else releases a PVM byte: not the position of `matched`, not a
 * resync, not a duplicate PVM copy that was compared instead. Every PVM
 * segment's bytes are compared on their own (two PVM copies of one range are
 * both compared with the SVM; a retransmit with different bytes is a
 * mismatch even if the first copy matched). A completed checkpoint releases
 * PVM segments by the caller's hand (colo_stream_remove(), then send), never
 * by the engine.
 *
 * Epochs. The engine has none: it compares any queued PVM segment with any
 * queued SVM segment. The caller keeps them apart: whenever an SVM segment
 * is queued, every queued segment (both sides) belongs to one epoch. So:
 *  - at the cut (checkpoint begin, when the guest stopped) remove every
 *    queued SVM segment (colo_stream_remove()): the SVM's state is replaced;
 *    SVM output of the discarded state that arrives later is never added;
 *  - between the cut and the completed checkpoint add no SVM segment (hold
 *    the new epoch's SVM output aside, or drop it: the SVM retransmits);
 *    PVM segments of the cut epoch and of the next may be queued together
 *    then, nothing compares them;
 *  - at a completed checkpoint: remove (and send) the cut epoch's PVM
 *    segments, then colo_stream_resync(st, the PVM's next sequence number,
 *    FIN included). resync forgets all verification done so far: PVM
 *    segments still queued (of the new epoch) are compared from scratch
 *    against the SVM segments added from then on.
 *
 * Synchronisation. A new stream is unsynced: the SVM's sequence numbers are
 * not known to be in the PVM's space yet, so nothing is compared; both sides
 * only queue, and only rule (a) releases PVM segments. colo_stream_add()
 * never syncs. colo_stream_resync() syncs (call it once the SYN exchange of
 * both sides was compared, at ISN + 1, or at a completed checkpoint at the
 * PVM's next sequence number) and clears a mismatch.
 *
 * SVM history. An SVM segment stays queued after it was compared: a PVM
 * retransmit of those bytes is compared with it. It becomes done (to be
 * popped and freed) once it lies wholly below the client's ACK, at once if
 * it already does when added, or when it occupies no sequence number. So the
 * SVM list holds about one send window (client ACK .. SVM send point) and
 * the caller must call colo_stream_acked() as the client's ACK moves. Under
 * memory pressure colo_stream_pop_history() hands back the oldest compared
 * SVM segment early; removing SVM segments never releases anything (PVM
 * bytes there then wait for the client's ACK, an SVM retransmit, or a
 * checkpoint).
 *
 * `matched` (the comparison point) is the sequence number up to which, from
 * the last resync point on, both streams have been compared equal without a
 * hole, first copy against first copy. It moves only by comparison (and is
 * set by resync); it is a progress mark for statistics and logs and no
 * longer decides what is released. PVM data before `matched` and at or
 * after the client's ACK is compared with the SVM history; if the history
 * has a hole there the segment waits (a retransmit by the SVM, the client's
 * ACK, or a checkpoint ends the wait). PVM data after `matched` is compared
 * in order by the walk at the comparison point: behind a hole in either
 * stream it waits until that side fills it (its retransmit) or a checkpoint,
 * as with the first engine. With an honest client the ACK never passes
 * `matched` (everything the engine releases lies below one of the two, and
 * a resync at the PVM's next sequence number passes all the caller
 * released); a client ACK beyond it lets the PVM bytes below the ACK go, and
 * the data after a hole that leaves in the PVM's stream waits for the next
 * checkpoint (fail closed).
 *
 * Mismatch. On the first difference (a byte against a different byte, a FIN
 * against a byte, data()==NULL, or at the comparison point a side that has
 * both a byte and a FIN at one sequence number) the stream is mismatched,
 * mismatch_seq records where, and the comparison point stops until resync.
 * PVM segments below `matched` are still compared with the SVM history and
 * can become done (an equal retransmit of verified data is safe to send).
 *
 * FIN. A FIN is one more sequence number: a PVM FIN is verified by an SVM FIN
 * at the same sequence number (or the client's ACK above it); against an SVM
 * byte it is a mismatch, and an SVM FIN against a PVM byte too. A segment
 * that occupies no sequence number (len 0, no FIN) is done at once.
 * SYN payload (TCP Fast Open): add it as a segment at ISN + 1 on each side;
 * the SYN flag itself is the caller's to compare. RST, window, options, URG:
 * not looked at here.
 *
 * Cost (n: bytes compared; all list walks are bounded as stated):
 *  - colo_stream_add(): insertion walks from the nearer end of the list
 *    (O(1) for in-order arrival and for retransmits near either end). In-order
 *    arrival then costs O(1) list steps plus O(n). A PVM segment starting
 *    before `matched` is compared with the SVM history: finding the SVM
 *    segment for it walks from the nearest of the oldest SVM segment, the
 *    comparison point and the SVM segment the previous such search found
 *    (so a retransmitted run costs O(1) per segment), over the SVM segments
 *    in between plus those that start less than the longest SVM segment's
 *    length before it; consecutive SVM segments then follow in O(1). An
 *    SVM segment that starts before `matched` (an SVM
 *    retransmit) visits the PVM segments that start before its end and are
 *    still waiting (normally none: done ones are popped).
 *  - colo_stream_acked(): O(segments that become done + PVM segments waiting
 *    below the new ACK + done segments not popped yet) plus what those
 *    compare.
 *  - colo_stream_resync(): O(all queued segments + n).
 *  - colo_stream_pop_done(): O(1) when the first queued segment is done; it
 *    skips waiting segments before the first done one.
 *  Stack use is bounded (2 * COLO_CMP_CHUNK bytes of scratch); nothing
 *  recurses or allocates.
 *  Memory (the caller's): PVM segments wait for the SVM (bounded by how far
 *  the PVM runs ahead); SVM segments stay from their arrival until the
 *  client's ACK passes them (about one send window).
 *
 * The caller's sequence, per direction of a TCP connection:
 *  1. colo_stream_init() once;
 *  2. each PVM or SVM segment with payload or FIN (a SYN's payload at ISN +
 *     1): colo_stream_add(); pure ACKs, SYN and RST flags are the caller's;
 *  3. whenever the client's cumulative ACK moves: colo_stream_acked();
 *  4. once both SYNs (or SYN-ACKs) compared equal: colo_stream_resync(ISN +
 *     1); a connection picked up without its SYN stays unsynced (held) until
 *     the first completed checkpoint;
 *  5. checkpoint: at the cut remove the SVM segments; at completion remove
 *     the cut epoch's PVM segments, send them, resync at the PVM's next seq;
 *  6. COLO_CMP_MISMATCH: ask for a checkpoint; keep adding PVM segments (they
 *     wait), SVM segments may be dropped until the resync;
 *  7. short of memory: colo_stream_pop_history(), or remove any SVM segment;
 *  8. after every call above: colo_stream_pop_done() on both sides until
 *     NULL (PVM: send, SVM: free), read and zero matched_bytes/acked_bytes;
 *  9. teardown: colo_stream_remove() every segment still queued.
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
	/*
	 * Engine-owned, PVM: every sequence number in [seq, ok) is below the
	 * client's ACK or was verified (see the release rule); done once ok
	 * reaches colo_seg_end().
	 */
	u32		ok;
	u8		side;		/* enum colo_side, set by colo_stream_add() */
	u8		done;		/* engine-owned: poppable */
};

struct colo_seg_list {
	struct colo_seg	*head;
	struct colo_seg	*tail;
	/*
	 * Where the comparison point's walk resumes: every segment before it
	 * in the list ends (FIN included) at or before `matched`. NULL: the
	 * head.
	 */
	struct colo_seg	*cur;
	struct colo_seg	*hist;		/* SVM: where the last history search
					 * ended (a hint only) */
	u32		count;		/* segments queued */
	u32		ndone;		/* of which done (pop_done returns them) */
	u32		maxlen;		/* longest colo_seg_end() - seq added */
};

struct colo_stream {
	const struct colo_seg_ops	*ops;
	struct colo_seg_list		side[COLO_SIDES];
	u32				matched;	/* comparison point */
	u32				mismatch_seq;	/* valid if mismatched */
	u32				ack;		/* client's ACK, if ack_valid */
	bool				synced;		/* comparing at all */
	bool				mismatched;
	bool				ack_valid;
	bool				fin_matched;	/* both FINs at the same seq */
	u32				fin_seq;	/* that seq, if fin_matched */
	u32				matched_bytes;	/* since last read by the caller */
	/*
	 * PVM sequence numbers (bytes, FINs) let through uncompared because
	 * they lie below the client's ACK (rule (a)), summed over segments,
	 * since last read by the caller: for a release-reason counter.
	 */
	u32				acked_bytes;
};

enum colo_cmp_result {
	COLO_CMP_PENDING,	/* nothing became done, `matched` stayed */
	COLO_CMP_PROGRESS,	/* `matched` moved or a segment became done: pop */
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

/*
 * Set up an unsynced, empty stream with no client ACK. Once per connection
 * direction: do not re-init at a checkpoint (that forgets the client's ACK),
 * call colo_stream_resync().
 */
void colo_stream_init(struct colo_stream *st, const struct colo_seg_ops *ops);

/*
 * Sync (or re-sync) the stream: set the comparison point `matched` to @seq,
 * clear the mismatched state (and fin_matched unless that FIN lies before
 * @seq), forget every verification made so far (each queued PVM segment's
 * `ok` goes back to its seq, or the client's ACK), then compare everything
 * queued: pop done segments afterwards. Nothing becomes done by lying before
 * @seq. Call it after the SYN exchange of both sides compared equal (@seq =
 * ISN + 1) and at a completed checkpoint, after removing the cut epoch's PVM
 * segments and the discarded SVM segments (@seq = the PVM's next sequence
 * number). The result may be ignored: a mismatch found here stays recorded
 * in the stream and the next call reports it.
 */
enum colo_cmp_result colo_stream_resync(struct colo_stream *st, u32 seq);

/*
 * Add @seg (seq, len and flags filled in by the caller; len < 2^30, it must
 * not be queued already) on @side and compare as far as possible. Never
 * syncs the stream: while unsynced, segments only queue (and rule (a), the
 * client's ACK, still applies). Then pop done segments of both sides.
 */
enum colo_cmp_result colo_stream_add(struct colo_stream *st,
				     enum colo_side side, struct colo_seg *seg);

/*
 * The client acknowledged every sequence number before @ack (its cumulative
 * ACK for this direction, in the PVM's sequence space, e.g. from conntrack).
 * Ignored unless it is after the last one given (wrap-safe; the first one is
 * always taken). PVM segments' sequence numbers below @ack need no
 * comparison any more, SVM segments wholly below it become done. Pop done
 * segments afterwards. Works synced or not, mismatched or not.
 */
enum colo_cmp_result colo_stream_acked(struct colo_stream *st, u32 ack);

/*
 * Unlink and return the first segment of @side that is done (PVM:
 * releasable; SVM: below the client's ACK, to be freed), in sequence order,
 * or NULL. Call until NULL for both sides after each add/acked/resync.
 */
struct colo_seg *colo_stream_pop_done(struct colo_stream *st,
				      enum colo_side side);

/*
 * Unlink and return the oldest queued SVM segment that lies wholly before
 * `matched` (compared history, kept for PVM retransmits), done or not, or
 * NULL. For a caller short of memory: giving history up never releases
 * anything, it can only make a PVM retransmit wait.
 */
struct colo_seg *colo_stream_pop_history(struct colo_stream *st);

/*
 * Unlink @seg from its list, done or not (checkpoint release, teardown,
 * discarded epoch). A segment that was added and since popped or removed is
 * left alone. Removing never makes anything done.
 */
void colo_stream_remove(struct colo_stream *st, struct colo_seg *seg);

/*
 * Highest sequence number one past any byte (or FIN) queued on @side, if any:
 * false if nothing is queued. Walks the whole list (the SVM list holds the
 * history: about one window).
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

// SPDX-License-Identifier: GPL-2.0-only
/*
 * pmycolo_tcp.c - COLO primary side (xt_PMYCOLO.ko): TCP. SYN/SYN-ACK and RST
 * exchanges, the byte-stream comparison (include/colo_compare.h), the ACK gate
 * and the SACK clamp. Everything here runs under conn->lock.
 */
#include "pmycolo.h"

/*
 * The ACK gate: a PVM segment must not acknowledge client data the SVM has
 * not acknowledged yet. Otherwise, if the mirror lost a client segment, the
 * client would never retransmit it and the SVM could not catch up (nor take
 * over after a failover). Client sequence numbers are the same for both.
 */
static bool pmy_ack_ok(const struct pmy_conn *pc, const struct pmy_pkt *p)
{
	if (p->proto != IPPROTO_TCP || !(p->tcpflags & TCPHDR_ACK))
		return true;
	return pc->svm_ack_valid && !colo_seq_after(p->ack, pc->svm_ack);
}

/*
 * Lower the ACK of a PVM segment to what the SVM acknowledged, so that the
 * client retransmits what the SVM misses (to both guests, through the mirror)
 * instead of waiting for an ACK that may never be allowed out. Checksum: the
 * TCP sum covers the header, so it is adjusted by the same difference
 * (nothing to do for CHECKSUM_PARTIAL; CHECKSUM_COMPLETE stays valid).
 */
static bool pmy_clamp_ack(struct pmy_pkt *p, u32 ack)
{
	struct sk_buff *skb = p->skb;
	struct tcphdr *th;
	__be32 old;

	if (skb_ensure_writable(skb, p->thoff + sizeof(*th)))
		return false;
	th = (struct tcphdr *)(skb->data + p->thoff);
	old = th->ack_seq;
	th->ack_seq = htonl(ack);
	inet_proto_csum_replace4(&th->check, skb, old, th->ack_seq, false);
	p->ack = ack;
	return true;
}

/*
 * SACK blocks of a PVM segment must not report client data the SVM has not
 * acknowledged: the client would never retransmit it, and an SVM that missed
 * it on the mirror could not catch up. If any block ends after @svm_ack, the
 * whole option becomes NOPs (the TCP checksum is adjusted word by word).
 * Returns false only if the header could not be made writable.
 */
bool pmy_sack_clamp(struct sk_buff *skb, unsigned int thoff, u32 svm_ack)
{
	unsigned int optlen, i, len, s, e, w, blk;
	struct tcphdr *th;
	__be16 old, new;
	bool strip;
	u8 *b, *opt;

	th = (struct tcphdr *)(skb->data + thoff);
	if (th->doff <= 5)
		return true;
	if (skb_ensure_writable(skb, thoff + th->doff * 4))
		return false;
	th = (struct tcphdr *)(skb->data + thoff);
	b = (u8 *)th;
	opt = b + sizeof(*th);
	optlen = th->doff * 4 - sizeof(*th);
	for (i = 0; i < optlen; i += len) {
		if (opt[i] == TCPOPT_EOL)
			break;
		if (opt[i] == TCPOPT_NOP) {
			len = 1;
			continue;
		}
		if (i + 1 >= optlen)
			break;
		len = opt[i + 1];
		if (len < 2 || i + len > optlen)
			break;
		if (opt[i] != TCPOPT_SACK)
			continue;
		strip = false;
		for (blk = i + 2; blk + 8 <= i + len; blk += 8)
			if (colo_seq_after(get_unaligned_be32(opt + blk + 4), svm_ack))
				strip = true;
		if (!strip)
			continue;
		s = sizeof(*th) + i;
		e = s + len;
		for (w = s & ~1U; w < e; w += 2) {
			memcpy(&old, b + w, 2);
			if (w >= s)
				b[w] = TCPOPT_NOP;
			if (w + 1 < e)
				b[w + 1] = TCPOPT_NOP;
			memcpy(&new, b + w, 2);
			inet_proto_csum_replace2(&th->check, skb, old, new, false);
		}
	}
	return true;
}

/* @p is unlinked from its kind queue (and the engine) already. */
static void pmy_release_gated(struct pmy_conn *pc, struct pmy_pkt *p,
			      struct pmy_ctx *ctx)
{
	if (!pmy_ack_ok(pc, p) && pc->svm_ack_valid &&
	    !(p->tcpflags & (TCPHDR_SYN | TCPHDR_RST)))
		pmy_clamp_ack(p, pc->svm_ack);
	if (pmy_ack_ok(pc, p)) {
		if (p->proto == IPPROTO_TCP && pc->svm_ack_valid)
			pmy_sack_clamp(p->skb, p->thoff, pc->svm_ack);
		list_del_init(&p->all);
		pc->pvm_held--;
		list_add_tail(&p->all, &ctx->rel);
		ctx->released++;
		if (p == ctx->self)
			ctx->self_released = true;
		return;
	}
	p->kind = PMY_K_GATED;
	list_add_tail(&p->q, &pc->pvm_gated);
}

void pmy_release(struct pmy_conn *pc, struct pmy_pkt *p,
		 struct pmy_ctx *ctx)
{
	if (p->kind == PMY_K_STREAM)
		colo_stream_remove(&pc->st, &p->seg);
	else
		list_del_init(&p->q);
	pmy_release_gated(pc, p, ctx);
}

/* The SVM acknowledged more: let gated PVM segments go. */
void pmy_svm_acked(struct pmy_conn *pc, u32 ack, struct pmy_ctx *ctx)
{
	struct pmy_pkt *p, *n;

	if (pc->svm_ack_valid && !colo_seq_after(ack, pc->svm_ack))
		return;
	pc->svm_ack = ack;
	pc->svm_ack_valid = true;
	list_for_each_entry_safe(p, n, &pc->pvm_gated, q) {
		if (!pmy_ack_ok(pc, p))
			continue;
		list_del_init(&p->q);
		pmy_release_gated(pc, p, ctx);
	}
}

/* Pop what the engine finished and account for it. */
static void pmy_stream_pop(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct colo_seg *seg;

	while ((seg = colo_stream_pop_done(&pc->st, COLO_PVM))) {
		struct pmy_pkt *p = container_of(seg, struct pmy_pkt, seg);

		/* already unlinked from the engine by pop_done */
		pmy_release_gated(pc, p, ctx);
	}
	while ((seg = colo_stream_pop_done(&pc->st, COLO_SVM))) {
		struct pmy_pkt *p = container_of(seg, struct pmy_pkt, seg);

		list_del_init(&p->all);
		pc->svm_queued--;
		list_add_tail(&p->all, &ctx->free);
	}
	ctx->matched_bytes += pc->st.matched_bytes;
	pc->st.matched_bytes = 0;
}

/* A PVM RST leaves once the SVM sent one too and no PVM data is held before
 * it (a reset must not overtake the data it follows). */
void pmy_tcp_try_rst(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct pmy_pkt *p;

	while (pc->svm_rst && !list_empty(&pc->pvm_rst) &&
	       !pc->st.side[COLO_PVM].count) {
		p = list_first_entry(&pc->pvm_rst, struct pmy_pkt, q);
		pmy_release(pc, p, ctx);
		pc->svm_rst--;
	}
}

void pmy_tcp_result(struct pmy_conn *pc, enum colo_cmp_result res,
		    struct pmy_ctx *ctx)
{
	if (res == COLO_CMP_MISMATCH)
		pmy_mismatch(pc, ctx, true, pc->st.mismatch_seq);
	pmy_stream_pop(pc, ctx);
	pmy_tcp_try_rst(pc, ctx);
}

static void pmy_tcp_syn_release(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct pmy_pkt *p, *n;

	list_for_each_entry_safe(p, n, &pc->pvm_syn, q)
		pmy_release(pc, p, ctx);
}

/* Both sides sent their SYN (or SYN-ACK): compare the flags only, the ISNs
 * differ until SECCOLO has learnt them. */
static void pmy_tcp_syn_match(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct pmy_pkt *first;

	first = list_first_entry(&pc->pvm_syn, struct pmy_pkt, q);
	if ((first->tcpflags & PMY_SYN_MASK) != pc->svm_syn) {
		pmy_mismatch(pc, ctx, false, 0);
		return;
	}
	pc->syn_done = true;
	pc->svm_syn = 0;
	pmy_tcp_syn_release(pc, ctx);
	pmy_tcp_result(pc, colo_stream_resync(&pc->st, pc->isn + 1), ctx);
}

static void pmy_pvm_next(struct pmy_conn *pc, u32 end)
{
	if (!pc->pvm_next_valid || colo_seq_after(end, pc->pvm_next)) {
		pc->pvm_next = end;
		pc->pvm_next_valid = true;
	}
}

void pmy_pvm_tcp(struct pmy_conn *pc, struct pmy_pkt *p,
		 const struct pmy_info *pi, bool confirmed,
		 struct pmy_ctx *ctx)
{
	u8 fl = pi->tcpflags;

	if ((fl & TCPHDR_ACK) &&
	    (!pc->pvm_ack_valid || colo_seq_after(pi->ack, pc->pvm_ack))) {
		pc->pvm_ack = pi->ack;
		pc->pvm_ack_valid = true;
	}
	if (!pi->len && !(fl & (TCPHDR_SYN | TCPHDR_FIN | TCPHDR_RST))) {
		/* pure ACK: nothing to compare, only the gate */
		pmy_release_gated(pc, p, ctx);
		return;
	}
	if (fl & TCPHDR_RST) {
		p->kind = PMY_K_RST;
		list_add_tail(&p->q, &pc->pvm_rst);
		pmy_tcp_try_rst(pc, ctx);
		return;
	}
	if (fl & TCPHDR_SYN) {
		p->kind = PMY_K_SYN;
		list_add_tail(&p->q, &pc->pvm_syn);
		pc->isn = pi->seq;
		pc->isn_valid = true;
		pmy_pvm_next(pc, pi->seq + 1);
		/*
		 * A retransmit of a compared SYN goes at once. So does the PVM's
		 * own connection request while its conntrack is unconfirmed:
		 * the SVM's SYN cannot be matched to a conntrack that is not in
		 * the hash yet, and a SYN carries nothing but its flags.
		 */
		if (pc->syn_done || (!confirmed && !(fl & TCPHDR_ACK))) {
			pc->syn_done = true;
			pmy_tcp_syn_release(pc, ctx);
			if (!pc->st.synced)
				pmy_tcp_result(pc, colo_stream_resync(&pc->st,
								      pc->isn + 1), ctx);
		} else if (pc->svm_syn) {
			pmy_tcp_syn_match(pc, ctx);
		}
		return;
	}

	p->kind = PMY_K_STREAM;
	p->seg.seq = pi->seq;
	p->seg.flags = (fl & TCPHDR_FIN) ? COLO_SEG_FIN : 0;
	pmy_pvm_next(pc, pi->seq + pi->len + !!(fl & TCPHDR_FIN));
	pmy_tcp_result(pc, colo_stream_add(&pc->st, COLO_PVM, &p->seg), ctx);
}

void pmy_svm_tcp(struct pmy_conn *pc, struct pmy_pkt *p,
		 const struct pmy_info *pi, struct pmy_ctx *ctx)
{
	u8 fl = pi->tcpflags;

	if (fl & TCPHDR_ACK)
		pmy_svm_acked(pc, pi->ack, ctx);
	if (fl & TCPHDR_SYN) {
		list_add_tail(&p->all, &ctx->free);
		if (pc->syn_done)
			return;		/* retransmit */
		pc->svm_syn = fl & PMY_SYN_MASK;
		pc->svm_syn_stamp = jiffies;
		if (!list_empty(&pc->pvm_syn))
			pmy_tcp_syn_match(pc, ctx);
		return;
	}
	if (fl & TCPHDR_RST) {
		list_add_tail(&p->all, &ctx->free);
		if (!pc->svm_rst)
			pc->svm_rst_stamp = jiffies;
		pc->svm_rst++;
		pmy_tcp_try_rst(pc, ctx);
		return;
	}
	if (!pi->len && !(fl & TCPHDR_FIN)) {
		list_add_tail(&p->all, &ctx->free);	/* pure ACK */
		return;
	}
	if (pc->mismatched) {
		list_add_tail(&p->all, &ctx->drop);
		ctx->svm_dropped++;
		return;
	}
	p->kind = PMY_K_STREAM;
	p->seg.seq = pi->seq;
	p->seg.flags = (fl & TCPHDR_FIN) ? COLO_SEG_FIN : 0;
	p->stamp = jiffies;
	list_add_tail(&p->all, &pc->svm_all);
	pc->svm_queued++;
	pmy_tcp_result(pc, colo_stream_add(&pc->st, COLO_SVM, &p->seg), ctx);
}

bool pmy_pure_ack_ok(struct colo_conn *conn, const struct pmy_info *pi,
		     u32 *svm_ack)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	bool ok;

	if (!(pi->tcpflags & TCPHDR_ACK))
		return true;
	spin_lock(&conn->lock);
	if (!pc->pvm_ack_valid || colo_seq_after(pi->ack, pc->pvm_ack)) {
		pc->pvm_ack = pi->ack;
		pc->pvm_ack_valid = true;
	}
	ok = !pc->dead && pc->svm_ack_valid &&
	     !colo_seq_after(pi->ack, pc->svm_ack);
	*svm_ack = pc->svm_ack;
	spin_unlock(&conn->lock);
	return ok;
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * pmycolo_tcp.c - COLO primary side (xt_PMYCOLO.ko): TCP. SYN/SYN-ACK and RST
 * exchanges, the byte-stream comparison (include/colo_compare.h), the client's
 * ACK fed to it, the ACK gate and the SACK clamp. Everything here runs under
 * conn->lock.
 *
 * What the client can see of a PVM segment, and how it is verified (the
 * README's table says the same):
 *  - payload and FIN, SYN payload (TCP Fast Open) included: byte stream
 *    against the SVM's, or below the client's cumulative ACK;
 *  - SYN/SYN-ACK header: all flags, the ACK number, the payload length and
 *    the options byte for byte except the TSval (ISNs and TSvals differ
 *    legitimately), the guest's own SYN included;
 *  - RST: only against an SVM RST with the same flags, seq, ACK and payload;
 *  - URG or an option outside a known set (which may change what the
 *    application reads, e.g. MPTCP mappings): never released by comparison,
 *    a checkpoint is requested;
 *  - window, other options (timestamps, SACK, MD5/AO), checksum: not
 *    compared; they change no byte the client application reads.
 */
#include "pmycolo.h"

/*
 * The ACK gate: a PVM segment must not acknowledge client data the SVM has
 * not acknowledged yet. Otherwise, if the mirror lost a client segment, the
 * client would never retransmit it and the SVM could not catch up (nor take
 * over after a failover). Client sequence numbers are the same for both.
 * The gate is the SVM's ACK, and between a BEGIN and its DONE (cut_open) no
 * more than the PVM's ACK at the cut: the SVM restored at DONE has the PVM's
 * state of the cut and no more, what the old SVM acknowledged is discarded
 * with it. It lets nothing acknowledge while the SVM has acked nothing, nor
 * while a cut is open at which the PVM had acked nothing.
 */
static bool pmy_gate_valid(const struct pmy_conn *pc)
{
	return pc->svm_ack_valid && (!pc->cut_open || pc->cut_ack_valid);
}

/* Valid with pmy_gate_valid(). */
static u32 pmy_gate(const struct pmy_conn *pc)
{
	if (pc->cut_open && colo_seq_after(pc->svm_ack, pc->cut_ack))
		return pc->cut_ack;
	return pc->svm_ack;
}

static bool pmy_ack_ok(const struct pmy_conn *pc, const struct pmy_pkt *p)
{
	if (p->proto != IPPROTO_TCP || !(p->tcpflags & TCPHDR_ACK))
		return true;
	return pmy_gate_valid(pc) && !colo_seq_after(p->ack, pmy_gate(pc));
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
	const struct tcphdr *hp;
	struct tcphdr *th, _th;
	__be16 old, new;
	bool strip;
	u8 *b, *opt;

	/* Only the IP header is known to be linear here (the guest sets the
	 * linear length of its skbs): read doff through a copy first. */
	hp = skb_header_pointer(skb, thoff, sizeof(_th), &_th);
	if (!hp)
		return false;
	if (hp->doff <= 5)
		return true;
	if (skb_ensure_writable(skb, thoff + hp->doff * 4))
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

/*
 * @p (TCP) leaves for the client: remember how far the client can have the
 * PVM's stream, the bound of any ACK a real client sends
 * (pmy_tcp_client_ack). conn->lock held.
 */
void pmy_tcp_released(struct pmy_conn *pc, const struct pmy_pkt *p)
{
	u32 end;

	/* a segment that occupies no sequence number (a pure ACK) carries
	 * the PVM's send point, held bytes included: it says nothing about
	 * what the client has */
	if (p->proto != IPPROTO_TCP ||
	    !(p->seg.len || (p->tcpflags & (TCPHDR_SYN | TCPHDR_FIN))))
		return;
	end = p->seq + !!(p->tcpflags & TCPHDR_SYN) + p->seg.len +
	      !!(p->tcpflags & TCPHDR_FIN);
	if (!pc->rel_end_valid || colo_seq_after(end, pc->rel_end)) {
		pc->rel_end = end;
		pc->rel_end_valid = true;
	}
}

/* @p is unlinked from its kind queue (and the engine) already. */
static void pmy_release_gated(struct pmy_conn *pc, struct pmy_pkt *p,
			      struct pmy_ctx *ctx)
{
	if (!pmy_ack_ok(pc, p) && pmy_gate_valid(pc) &&
	    !(p->tcpflags & (TCPHDR_SYN | TCPHDR_RST)))
		pmy_clamp_ack(p, pmy_gate(pc));
	if (pmy_ack_ok(pc, p)) {
		if (p->proto == IPPROTO_TCP && pmy_gate_valid(pc))
			pmy_sack_clamp(p->skb, p->thoff, pmy_gate(pc));
		pmy_tcp_released(pc, p);
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

/*
 * After pvm_ack or svm_ack moved (under conn->lock): is the PVM's ACK ahead
 * of the SVM's, and since when? The stamp starts when the gap opens and
 * again whenever the SVM's ACK moves (an SVM that acknowledges, slower, is
 * not stalled); it is cleared when the SVM caught up.
 */
void pmy_ack_track(struct pmy_conn *pc, bool svm_moved)
{
	bool behind = pc->pvm_ack_valid &&
		      (!pmy_gate_valid(pc) ||
		       colo_seq_after(pc->pvm_ack, pmy_gate(pc)));

	if (!behind)
		WRITE_ONCE(pc->ack_behind, 0);
	else if (!pc->ack_behind || svm_moved)
		WRITE_ONCE(pc->ack_behind, jiffies | 1);
}

/* The SVM acknowledged more: let gated PVM segments go. */
void pmy_svm_acked(struct pmy_conn *pc, u32 ack, struct pmy_ctx *ctx)
{
	struct pmy_pkt *p, *n;

	if (pc->svm_ack_valid && !colo_seq_after(ack, pc->svm_ack))
		return;
	pc->svm_ack = ack;
	pc->svm_ack_valid = true;
	pmy_ack_track(pc, true);
	list_for_each_entry_safe(p, n, &pc->pvm_gated, q) {
		if (!pmy_ack_ok(pc, p))
			continue;
		list_del_init(&p->q);
		pmy_release_gated(pc, p, ctx);
	}
}

/* The conn whose private part @pc is. */
static struct nf_conn *pmy_tcp_ct(struct pmy_conn *pc)
{
	return container_of((void *)pc, struct colo_conn, priv)->ct;
}

void pmy_tcp_init(struct pmy_conn *pc)
{
	INIT_LIST_HEAD(&pc->pvm_ckpt);
	INIT_LIST_HEAD(&pc->svm_syn);
	INIT_LIST_HEAD(&pc->svm_rst);
}

/* An SVM segment that was compared and is kept only for PVM retransmits. */
bool pmy_tcp_svm_history(const struct pmy_conn *pc, const struct pmy_pkt *p)
{
	return p->kind == PMY_K_STREAM && pc->st.synced &&
	       !colo_seq_after(colo_seg_end(&p->seg), pc->st.matched);
}

/* Ask for a checkpoint (one notice per epoch, sent by pmy_ctx_finish). */
static void pmy_tcp_request(struct pmy_ctx *ctx, enum colo_reason reason,
			    u32 seq)
{
	if (ctx->reason != COLO_REASON_NONE)
		return;
	ctx->reason = reason;
	ctx->has_seq = true;
	ctx->seq = seq;
}

/*
 * Options a data segment may carry and still be released by comparison:
 * none of them changes what the client application reads. Anything else
 * (MPTCP's data mappings, experimental options) is left to a checkpoint.
 */
bool pmy_tcp_opts_plain_skb(const struct sk_buff *skb, u32 thoff, u32 payoff)
{
	u8 buf[PMY_SYN_OPT_MAX];
	u32 optlen = payoff - thoff - sizeof(struct tcphdr);
	const u8 *opt;
	u32 i, len;

	if (!optlen)
		return true;
	if (optlen > sizeof(buf))
		return false;
	opt = skb_header_pointer(skb, thoff + sizeof(struct tcphdr),
				 optlen, buf);
	if (!opt)
		return false;
	for (i = 0; i < optlen; i += len) {
		switch (opt[i]) {
		case TCPOPT_EOL:
			return true;
		case TCPOPT_NOP:
			len = 1;
			continue;
		case TCPOPT_MSS:
		case TCPOPT_WINDOW:
		case TCPOPT_SACK_PERM:
		case TCPOPT_SACK:
		case TCPOPT_TIMESTAMP:
		case TCPOPT_MD5SIG:
		case 29:		/* TCP-AO */
		case TCPOPT_FASTOPEN:
			break;
		default:
			return false;
		}
		if (i + 1 >= optlen || opt[i + 1] < 2)
			return false;
		len = opt[i + 1];
	}
	return true;
}

static bool pmy_tcp_opts_plain(const struct pmy_pkt *p)
{
	return pmy_tcp_opts_plain_skb(p->skb, p->thoff, p->payoff);
}

static bool pmy_tcp_needs_ckpt(const struct pmy_pkt *p)
{
	return (p->tcpflags & TCPHDR_URG) || !pmy_tcp_opts_plain(p);
}

/* Pop what the engine finished and account for it. */
static void pmy_stream_pop(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct colo_seg *seg;

	while ((seg = colo_stream_pop_done(&pc->st, COLO_PVM))) {
		struct pmy_pkt *p = container_of(seg, struct pmy_pkt, seg);

		/* already unlinked from the engine by pop_done */
		if ((p->tcpflags & TCPHDR_SYN) && !pc->syn_done) {
			/* payload verified, the SYN header not yet */
			p->kind = PMY_K_SYN;
			list_add_tail(&p->q, &pc->pvm_syn);
		} else if (pmy_tcp_needs_ckpt(p)) {
			p->kind = PMY_K_CKPT;
			list_add_tail(&p->q, &pc->pvm_ckpt);
		} else {
			pmy_release_gated(pc, p, ctx);
		}
	}
	while ((seg = colo_stream_pop_done(&pc->st, COLO_SVM))) {
		struct pmy_pkt *p = container_of(seg, struct pmy_pkt, seg);

		list_del_init(&p->all);
		pc->svm_queued--;
		list_add_tail(&p->all, &ctx->free);
	}
	ctx->matched_bytes += pc->st.matched_bytes;
	pc->st.matched_bytes = 0;
	/* no counter for bytes let through below the client's ACK (yet) */
	pc->st.acked_bytes = 0;
}

/*
 * Two RSTs are the same if their flags, sequence number (the SVM's is in the
 * PVM's space: SECCOLO), ACK number (if ACK is set) and payload are.
 */
static bool pmy_rst_equal(const struct pmy_pkt *a, const struct pmy_pkt *b)
{
	if (a->tcpflags != b->tcpflags || a->seq != b->seq)
		return false;
	if ((a->tcpflags & TCPHDR_ACK) && a->ack != b->ack)
		return false;
	return colo_cmp_datagram(&pmy_seg_ops, &a->seg, &b->seg, NULL);
}

static void pmy_svm_consumed(struct pmy_conn *pc, struct pmy_pkt *p,
			     struct pmy_ctx *ctx)
{
	list_del_init(&p->q);
	list_del_init(&p->all);
	pc->svm_queued--;
	list_add_tail(&p->all, &ctx->free);
}

/*
 * A PVM RST leaves once the SVM sent the same RST and no PVM data is held
 * before it (a reset must not overtake the data it follows). An SVM RST that
 * differs from every PVM RST waiting is a mismatch.
 */
void pmy_tcp_try_rst(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct pmy_pkt *p, *q, *found;

	while (!list_empty(&pc->pvm_rst) && !pc->st.side[COLO_PVM].count) {
		p = list_first_entry(&pc->pvm_rst, struct pmy_pkt, q);
		found = NULL;
		list_for_each_entry(q, &pc->svm_rst, q) {
			if (pmy_rst_equal(p, q)) {
				found = q;
				break;
			}
		}
		if (!found) {
			if (!list_empty(&pc->svm_rst))
				pmy_mismatch(pc, ctx, true, p->seq);
			return;
		}
		pmy_svm_consumed(pc, found, ctx);
		pmy_release(pc, p, ctx);
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

/*
 * The client's cumulative ACK of the PVM's output, from conntrack: the
 * highest ACK seen in the client's direction (the PVM's is CTINFO-dependent,
 * learnt from its first packet). Bytes below it need no comparison (the
 * client discards them), SVM history below it can go.
 */
static bool pmy_tcp_client_ack(struct pmy_conn *pc, u32 *ack)
{
	const struct ip_ct_tcp_state *s;
	struct nf_conn *ct;
	bool valid;

	if (!pc->dir_valid)
		return false;
	ct = pmy_tcp_ct(pc);
	/* Nests inside conn->lock, like xt_SECCOLO; BHs are off here. */
	spin_lock(&ct->lock);
	s = &ct->proto.tcp.seen[!pc->dir];
	valid = s->flags & IP_CT_TCP_FLAG_MAXACK_SET;
	*ack = s->td_maxack;
	spin_unlock(&ct->lock);
	/*
	 * Conntrack takes any in-window ACK in the client's direction, from
	 * any port (the PVM's own tap included) and up to what the PVM sent,
	 * held bytes included. A real client cannot acknowledge what it never
	 * got: cap it at the end of what left for the client.
	 */
	if (!valid || !pc->rel_end_valid)
		return false;
	if (colo_seq_after(*ack, pc->rel_end))
		*ack = pc->rel_end;
	return true;
}

static void pmy_tcp_client_acked(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	u32 ack;

	if (pmy_tcp_client_ack(pc, &ack))
		pmy_tcp_result(pc, colo_stream_acked(&pc->st, ack), ctx);
}

static void pmy_tcp_syn_release(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct pmy_pkt *p, *n;

	list_for_each_entry_safe(p, n, &pc->pvm_syn, q)
		pmy_release(pc, p, ctx);
}

/*
 * The header of a SYN as compared: flags, ACK (only with ACK set), payload
 * length and options with the TSval zeroed. Returns the option length, or
 * -1 if the options cannot be read.
 */
static int pmy_syn_opts(const struct pmy_pkt *p, u8 *opt)
{
	u32 optlen = p->payoff - p->thoff - sizeof(struct tcphdr);
	u32 i, len;

	if (optlen > PMY_SYN_OPT_MAX ||
	    skb_copy_bits(p->skb, p->thoff + sizeof(struct tcphdr), opt, optlen))
		return -1;
	for (i = 0; i < optlen; i += len) {
		if (opt[i] == TCPOPT_EOL)
			break;
		if (opt[i] == TCPOPT_NOP) {
			len = 1;
			continue;
		}
		if (i + 1 >= optlen || opt[i + 1] < 2 || i + opt[i + 1] > optlen)
			break;
		len = opt[i + 1];
		if (opt[i] == TCPOPT_TIMESTAMP && len == TCPOLEN_TIMESTAMP)
			memset(opt + i + 2, 0, 4);
	}
	return optlen;
}

static void pmy_syn_record(struct pmy_conn *pc, const struct pmy_pkt *p)
{
	int optlen = pmy_syn_opts(p, pc->syn_opt);

	if (optlen < 0)
		return;		/* compared as different */
	pc->syn_optlen = optlen;
	pc->syn_flags = p->tcpflags;
	pc->syn_ack = p->ack;
	pc->syn_len = p->seg.len;
	pc->syn_seen = true;
}

static bool pmy_syn_equal(const struct pmy_conn *pc, const struct pmy_pkt *q)
{
	u8 opt[PMY_SYN_OPT_MAX];
	int optlen;

	if (q->tcpflags != pc->syn_flags || q->seg.len != pc->syn_len)
		return false;
	if ((q->tcpflags & TCPHDR_ACK) && q->ack != pc->syn_ack)
		return false;
	optlen = pmy_syn_opts(q, opt);
	return optlen == pc->syn_optlen && !memcmp(opt, pc->syn_opt, optlen);
}

/*
 * Both sides sent their SYN (or SYN-ACK): compare the headers (the ISNs
 * differ, SECCOLO has not learnt them yet); equal: the SVM's SYN payload goes
 * into the stream at the PVM's ISN + 1 and the stream syncs there, so both
 * payloads are compared as the first bytes of the stream.
 */
static void pmy_tcp_syn_match(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct pmy_pkt *q, *n;
	bool first = true;

	if (pc->syn_done || !pc->syn_seen || list_empty(&pc->svm_syn))
		return;
	q = list_first_entry(&pc->svm_syn, struct pmy_pkt, q);
	if (!pmy_syn_equal(pc, q)) {
		pmy_mismatch(pc, ctx, true, pc->isn);
		return;
	}
	pc->syn_done = true;
	list_for_each_entry_safe(q, n, &pc->svm_syn, q) {
		if (!first || (!q->seg.len && !(q->tcpflags & TCPHDR_FIN))) {
			pmy_svm_consumed(pc, q, ctx);	/* no payload, retransmit */
			first = false;
			continue;
		}
		first = false;
		list_del_init(&q->q);
		q->kind = PMY_K_STREAM;
		q->seg.seq = pc->isn + 1;
		q->seg.flags = (q->tcpflags & TCPHDR_FIN) ? COLO_SEG_FIN : 0;
		colo_stream_add(&pc->st, COLO_SVM, &q->seg);
	}
	pmy_tcp_syn_release(pc, ctx);
	pmy_tcp_result(pc, colo_stream_resync(&pc->st, pc->isn + 1), ctx);
}

/*
 * One past the PVM's highest sequence number, per epoch: pvm_next_old keeps
 * the value before the epoch of the latest packet, so that a checkpoint can
 * resync at the end of what it covered.
 */
static void pmy_pvm_next(struct pmy_conn *pc, u32 epoch, u32 end)
{
	if (!pc->pvm_next_valid) {
		pc->pvm_next = end;
		pc->pvm_next_epoch = epoch;
		pc->pvm_next_valid = true;
		return;
	}
	if (epoch != pc->pvm_next_epoch) {
		pc->pvm_next_old = pc->pvm_next;
		pc->pvm_next_old_valid = true;
		pc->pvm_next_epoch = epoch;
	}
	if (colo_seq_after(end, pc->pvm_next))
		pc->pvm_next = end;
}

static void pmy_pvm_syn(struct pmy_conn *pc, struct pmy_pkt *p,
			const struct pmy_info *pi, struct pmy_ctx *ctx)
{
	u8 fl = pi->tcpflags;

	if (!pc->isn_valid) {
		pc->isn = pi->seq;
		pc->isn_epoch = p->epoch;
		pc->isn_valid = true;
	}
	pmy_pvm_next(pc, p->epoch, pi->seq + 1 + pi->len + !!(fl & TCPHDR_FIN));
	if (!pc->syn_done && !pc->syn_seen)
		pmy_syn_record(pc, p);

	if (pi->len || (fl & TCPHDR_FIN)) {
		/*
		 * Payload (TCP Fast Open): the first bytes of the stream. Held
		 * until compared (or covered by a checkpoint) even on a guest's
		 * unconfirmed connection, and until the header compared.
		 */
		p->kind = PMY_K_STREAM;
		p->seg.seq = pi->seq + 1;
		p->seg.flags = (fl & TCPHDR_FIN) ? COLO_SEG_FIN : 0;
		pmy_tcp_result(pc, colo_stream_add(&pc->st, COLO_PVM, &p->seg),
			       ctx);
		pmy_tcp_syn_match(pc, ctx);
		return;
	}

	p->kind = PMY_K_SYN;
	list_add_tail(&p->q, &pc->pvm_syn);
	/*
	 * A retransmit of a compared SYN goes at once. The guest's own
	 * connection request waits for the SVM's like any output (the SVM's
	 * copy finds it while its conntrack is unconfirmed: pmycolo_ahead.c):
	 * released uncompared, it would bring the server's SYN-ACK, mirrored to
	 * the SVM, before an SVM that is behind sent its SYN, and that SVM
	 * would answer it with a RST and never connect.
	 */
	if (pc->syn_done)
		pmy_tcp_syn_release(pc, ctx);
	else
		pmy_tcp_syn_match(pc, ctx);
}

void pmy_pvm_tcp(struct pmy_conn *pc, struct pmy_pkt *p,
		 const struct pmy_info *pi, struct pmy_ctx *ctx)
{
	enum ip_conntrack_info ctinfo;
	u8 fl = pi->tcpflags;

	p->seq = pi->seq;
	if (!pc->dir_valid && nf_ct_get(p->skb, &ctinfo)) {
		pc->dir = CTINFO2DIR(ctinfo);
		pc->dir_valid = true;
	}
	if ((fl & TCPHDR_ACK) &&
	    (!pc->pvm_ack_valid || colo_seq_after(pi->ack, pc->pvm_ack))) {
		pc->pvm_ack = pi->ack;
		pc->pvm_ack_valid = true;
	}
	pmy_ack_track(pc, false);
	pmy_tcp_client_acked(pc, ctx);
	if (!pi->len && !(fl & (TCPHDR_SYN | TCPHDR_FIN | TCPHDR_RST))) {
		/* pure ACK: nothing to compare, only the gate; but URG or an
		 * option that changes what the client reads (MPTCP...) waits
		 * for a checkpoint like on a data segment */
		if (pmy_tcp_needs_ckpt(p)) {
			p->kind = PMY_K_CKPT;
			list_add_tail(&p->q, &pc->pvm_ckpt);
			pmy_tcp_request(ctx, COLO_REASON_MISMATCH, pi->seq);
			return;
		}
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
		pmy_pvm_syn(pc, p, pi, ctx);
		return;
	}

	p->kind = PMY_K_STREAM;
	p->seg.seq = pi->seq;
	p->seg.flags = (fl & TCPHDR_FIN) ? COLO_SEG_FIN : 0;
	pmy_pvm_next(pc, p->epoch, pi->seq + pi->len + !!(fl & TCPHDR_FIN));
	if (pmy_tcp_needs_ckpt(p))
		pmy_tcp_request(ctx, COLO_REASON_MISMATCH, pi->seq);
	/*
	 * Met mid-stream (no SYN seen: re-registered, RESET, rules added
	 * late): nothing to compare from, and the bytes before this segment
	 * are unknown. Only a checkpoint can cover it and sync the stream.
	 */
	if (!pc->st.synced && (!pc->isn_valid || pc->syn_done))
		pmy_tcp_request(ctx, COLO_REASON_UNSYNCED, pi->seq);
	pmy_tcp_result(pc, colo_stream_add(&pc->st, COLO_PVM, &p->seg), ctx);
}

/* Keep the SVM history within half the queue limit (it only helps PVM
 * retransmits; giving it up never releases anything). */
static void pmy_svm_trim(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	u32 limit = READ_ONCE(pc->pvm->vm->queue_limit) ?: PMY_SVM_QUEUE_MAX;
	struct colo_seg *seg;

	while (pc->svm_queued > limit / 2 &&
	       (seg = colo_stream_pop_history(&pc->st))) {
		struct pmy_pkt *p = container_of(seg, struct pmy_pkt, seg);

		list_del_init(&p->all);
		pc->svm_queued--;
		list_add_tail(&p->all, &ctx->free);
	}
}

static void pmy_svm_queue(struct pmy_conn *pc, struct pmy_pkt *p,
			  struct list_head *q, u8 kind)
{
	p->kind = kind;
	p->stamp = jiffies;
	if (q)
		list_add_tail(&p->q, q);
	list_add_tail(&p->all, &pc->svm_all);
	pc->svm_queued++;
}

void pmy_svm_tcp(struct pmy_conn *pc, struct pmy_pkt *p,
		 const struct pmy_info *pi, struct pmy_ctx *ctx)
{
	u8 fl = pi->tcpflags;

	p->seq = pi->seq;
	if (fl & TCPHDR_ACK)
		pmy_svm_acked(pc, pi->ack, ctx);
	pmy_tcp_client_acked(pc, ctx);
	if (fl & TCPHDR_SYN) {
		if (!pc->syn_done) {
			pmy_svm_queue(pc, p, &pc->svm_syn, PMY_K_SYN);
			pmy_tcp_syn_match(pc, ctx);
			return;
		}
		if ((!pi->len && !(fl & TCPHDR_FIN)) || !pc->isn_valid ||
		    pc->mismatched) {
			list_add_tail(&p->all, &ctx->free);	/* retransmit */
			return;
		}
		/* A SYN payload after the exchange (the PVM's SYN went out
		 * uncompared, or this is a retransmit): stream bytes at the
		 * PVM's ISN + 1, like the first one. */
		p->seg.seq = pc->isn + 1;
		p->seg.flags = (fl & TCPHDR_FIN) ? COLO_SEG_FIN : 0;
		pmy_svm_queue(pc, p, NULL, PMY_K_STREAM);
		pmy_tcp_result(pc, colo_stream_add(&pc->st, COLO_SVM, &p->seg),
			       ctx);
		pmy_svm_trim(pc, ctx);
		return;
	}
	if (fl & TCPHDR_RST) {
		pmy_svm_queue(pc, p, &pc->svm_rst, PMY_K_RST);
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
	p->seg.seq = pi->seq;
	p->seg.flags = (fl & TCPHDR_FIN) ? COLO_SEG_FIN : 0;
	pmy_svm_queue(pc, p, NULL, PMY_K_STREAM);
	pmy_tcp_result(pc, colo_stream_add(&pc->st, COLO_SVM, &p->seg), ctx);
	pmy_svm_trim(pc, ctx);
}

/*
 * CHECKPOINT_DONE, after the cut epoch's PVM packets were released and the
 * SVM's dropped: the SVM now runs the PVM's state as of the cut. The SYN
 * exchange is covered if the PVM's SYN was sent by then; the stream resyncs
 * at the end of what the checkpoint covered (the PVM's next sequence number
 * of the cut epoch), never at whatever PVM segment is queued next: that one
 * may lie above a gap of new-epoch bytes (a hard-cap drop, an allocation
 * failure) that nothing covered. Every byte below the cut epoch's end was
 * sent before the cut, so the checkpoint covered it (dropped or not).
 */
void pmy_tcp_checkpoint_done(struct pmy_conn *pc, u32 cut_epoch,
			     struct pmy_ctx *ctx)
{
	enum colo_cmp_result res = COLO_CMP_PROGRESS;
	bool have = false;
	u32 next = 0, ack;

	if (pc->pvm_next_valid && (s32)(pc->pvm_next_epoch - cut_epoch) <= 0) {
		next = pc->pvm_next;
		have = true;
	} else if (pc->pvm_next_old_valid) {
		next = pc->pvm_next_old;
		have = true;
	}
	if (pc->isn_valid && (s32)(pc->isn_epoch - cut_epoch) <= 0)
		pc->syn_done = true;
	if (pc->syn_done)
		pmy_tcp_syn_release(pc, ctx);
	/* The stream may still be mismatched until the resync: the results
	 * of these calls are not looked at, the resync's is. */
	if (pmy_tcp_client_ack(pc, &ack))
		res = colo_stream_acked(&pc->st, ack);
	if (have && (pc->syn_done || !pc->isn_valid)) {
		/*
		 * Compare from the end of what the checkpoint covered. A PVM
		 * retransmit of covered bytes in the new epoch is not taken as
		 * covered: @next is only the highest end the guest sent, not a
		 * contiguous range, so treating it like a client ACK would let
		 * a guest that sent far ahead have uncompared bytes released
		 * later. Such a retransmit waits for the client's ACK (capped
		 * at what was released) or for the restored SVM's own
		 * retransmission, which it is compared with.
		 */
		res = colo_stream_resync(&pc->st, next);
	} else if (pc->st.synced) {
		res = colo_stream_resync(&pc->st, pc->st.matched);
	}
	pmy_tcp_result(pc, res, ctx);
}

bool pmy_pure_ack_ok(struct colo_conn *conn, const struct pmy_info *pi,
		     u32 *svm_ack)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	bool ok;

	if (!(pi->tcpflags & TCPHDR_ACK))
		return true;
	spin_lock(&conn->lock);
	*svm_ack = pmy_gate(pc);
	ok = !pc->dead && pmy_gate_valid(pc) &&
	     !colo_seq_after(pi->ack, *svm_ack);
	/* Only an ACK that leaves here moves pvm_ack: a refused one is held,
	 * and its p->ack_before (the cut's ACK, if it is the first packet
	 * moved at BEGIN) must not count itself. pmy_pvm_tcp moves it then. */
	if (ok && (!pc->pvm_ack_valid || colo_seq_after(pi->ack, pc->pvm_ack))) {
		pc->pvm_ack = pi->ack;
		pc->pvm_ack_valid = true;
		pmy_ack_track(pc, false);
	}
	spin_unlock(&conn->lock);
	return ok;
}

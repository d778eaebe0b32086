// SPDX-License-Identifier: GPL-2.0-only
/*
 * pmycolo_svm.c - COLO primary side (xt_PMYCOLO.ko): SVM intake. A frame the
 * SVM sent arrives on the forward NIC (pmycolo_fwd.c); it is validated,
 * trimmed and reassembled, tied to the PVM's conntrack by its tuple and fed to
 * the comparison of its connection, only if that connection belongs to the
 * forward NIC's VM (isolation between VMs). A frame whose conntrack is not in
 * the hash (the PVM's is unconfirmed, or does not exist yet) goes to
 * pmycolo_ahead.c.
 *
 * Epochs: SVM output compares only with PVM output of the same epoch. What
 * is queued at CHECKPOINT_BEGIN is dropped (COLO_STAT_SVM_STALE), and so is
 * what arrives while the VM is in CHECKPOINT. Assumed: an SVM frame does not
 * sit on the forward link (or in the secondary's queues) for the whole
 * checkpoint; one delayed past DONE is taken as output of the new state.
 */
#include "pmycolo.h"

/* An SVM segment that occupies no sequence number: never queued. */
static bool pmy_svm_pure_ack(const struct pmy_info *pi)
{
	return pi->proto == IPPROTO_TCP && !pi->len &&
	       !(pi->tcpflags & (TCPHDR_SYN | TCPHDR_FIN | TCPHDR_RST));
}

/*
 * Queue one SVM packet on @conn and compare, collecting the work in @ctx (the
 * caller finishes it, after dropping any lock of its own). @epoch: the epoch
 * the packet arrived in if it waited elsewhere first (pmycolo_ahead.c), 0 if
 * it arrives now; a packet of an earlier epoch is stale. Softirq, or BHs off;
 * takes conn->lock.
 */
void pmy_svm_take(struct colo_conn *conn, struct sk_buff *skb,
		   const struct pmy_info *pi, u32 epoch, struct pmy_ctx *ctx)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct colo_vm *vm = conn->vm;
	struct pmy_vm *pvm = pc->pvm;
	struct pmy_pkt *p;
	u32 limit;

	p = pmy_pkt_alloc(skb, pi);
	if (!p) {
		colo_vm_stat_inc(vm, COLO_STAT_SVM_DROPPED);
		kfree_skb(skb);
		return;
	}
	/* The NIC may go away while the packet waits; it is never used again. */
	skb->dev = NULL;
	limit = READ_ONCE(vm->queue_limit) ?: PMY_SVM_QUEUE_MAX;

	spin_lock(&conn->lock);
	if (pc->dead || READ_ONCE(pvm->dead) || READ_ONCE(pvm->failover)) {
		list_add_tail(&p->all, &ctx->drop);
		ctx->svm_dropped++;
	} else if (READ_ONCE(vm->state) == COLO_STATE_CHECKPOINT ||
		   (epoch && epoch != READ_ONCE(vm->epoch))) {
		/* sent by the state being replaced, or by the new one: it
		 * can be compared with neither (read under conn->lock, see
		 * "Epochs" in nf_conntrack_colo.h) */
		list_add_tail(&p->all, &ctx->drop);
		ctx->svm_stale++;
	} else if (pc->svm_queued >= limit) {
		list_add_tail(&p->all, &ctx->drop);
		ctx->svm_dropped++;
		if (ctx->reason == COLO_REASON_NONE)
			ctx->reason = COLO_REASON_SVM_ONLY;
	} else if (!pmy_svm_pure_ack(pi) && !pmy_pkt_charge(vm, pvm, p)) {
		/* The memory budget is full: a checkpoint empties it. A pure
		 * ACK is never queued (its ACK may let gated PVM output go),
		 * so it is not charged. */
		list_add_tail(&p->all, &ctx->drop);
		ctx->svm_dropped++;
		colo_vm_stat_inc(vm, COLO_STAT_MEM_FULL);
		if (ctx->reason == COLO_REASON_NONE)
			ctx->reason = COLO_REASON_QUEUE_LIMIT;
	} else if (pi->proto == IPPROTO_TCP) {
		pmy_svm_tcp(pc, p, pi, ctx);
	} else if (pc->mismatched) {
		list_add_tail(&p->all, &ctx->drop);
		ctx->svm_dropped++;
	} else {
		p->stamp = jiffies;
		list_add_tail(&p->all, &pc->svm_all);
		list_add_tail(&p->q, &pc->svm_dgram);
		pc->svm_queued++;
		pmy_dgram_match(pc, ctx);
	}
	spin_unlock(&conn->lock);
}

static void pmy_svm_enqueue(struct colo_conn *conn, struct sk_buff *skb,
			    const struct pmy_info *pi)
{
	struct pmy_vm *pvm = ((struct pmy_conn *)colo_conn_priv(conn))->pvm;
	struct pmy_ctx ctx;

	colo_vm_stat_inc(conn->vm, COLO_STAT_SVM_PACKETS);
	pmy_ctx_init(&ctx);
	pmy_svm_take(conn, skb, pi, 0, &ctx);
	pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_MATCH);
	pmy_timer_arm(conn->vm, pvm);
}

/* Validate, trim and reassemble. Returns the skb to use, or NULL if it was
 * consumed (queued for reassembly or dropped). */
static struct sk_buff *pmy_svm_sanitize(struct net *net, u8 family,
					struct sk_buff *skb)
{
	if (family == NFPROTO_IPV4) {
		const struct iphdr *iph;
		u32 len;

		if (!pskb_may_pull(skb, sizeof(*iph)))
			goto drop;
		iph = ip_hdr(skb);
		if (iph->version != 4 || iph->ihl < 5 ||
		    !pskb_may_pull(skb, iph->ihl * 4))
			goto drop;
		iph = ip_hdr(skb);
		len = ntohs(iph->tot_len);
		if (len > skb->len || len < iph->ihl * 4 ||
		    pskb_trim_rcsum(skb, len))
			goto drop;
		if (ip_is_fragment(ip_hdr(skb))) {
			if (ip_defrag(net, skb, PMY_DEFRAG_USER))
				return NULL;	/* queued, or freed */
		}
		return skb;
	}

	if (!pskb_may_pull(skb, sizeof(struct ipv6hdr)))
		goto drop;
	if (ipv6_hdr(skb)->version != 6)
		goto drop;
	if (ipv6_hdr(skb)->payload_len) {
		u32 len = sizeof(struct ipv6hdr) + ntohs(ipv6_hdr(skb)->payload_len);

		if (len > skb->len || pskb_trim_rcsum(skb, len))
			goto drop;
	}
	switch (nf_ct_frag6_gather(net, skb, PMY_DEFRAG_USER)) {
	case 0:
		return skb;
	case -EINPROGRESS:
		return NULL;
	default:
		goto drop;
	}
drop:
	kfree_skb(skb);
	return NULL;
}

/* ICMP errors belong to the connection they quote. */
static bool pmy_icmp_is_error(u8 family, const struct sk_buff *skb,
			      const struct pmy_info *pi)
{
	u8 _type;
	const u8 *type;

	if (!(family == NFPROTO_IPV4 && pi->proto == IPPROTO_ICMP) &&
	    !(family == NFPROTO_IPV6 && pi->proto == IPPROTO_ICMPV6))
		return false;
	type = skb_header_pointer(skb, pi->thoff, sizeof(_type), &_type);
	if (!type)
		return false;
	if (family == NFPROTO_IPV6)
		return !(*type & ICMPV6_INFOMSG_MASK);
	return *type == ICMP_DEST_UNREACH || *type == ICMP_SOURCE_QUENCH ||
	       *type == ICMP_REDIRECT || *type == ICMP_TIME_EXCEEDED ||
	       *type == ICMP_PARAMETERPROB;
}

/* The tuple of an SVM packet as the PVM's conntrack would see it (an ICMP
 * error: the inverse of the packet it quotes). False if it has none. */
static bool pmy_svm_tuple(struct net *net, u8 family, const struct sk_buff *skb,
			  const struct pmy_info *pi,
			  struct nf_conntrack_tuple *tuple)
{
	struct nf_conntrack_tuple inner;

	if (pmy_icmp_is_error(family, skb, pi)) {
		/* 8 bytes of ICMP(v6) header, then the quoted packet */
		return nf_ct_get_tuplepr(skb, pi->thoff + 8, family, net, &inner) &&
		       nf_ct_invert_tuple(tuple, &inner);
	}
	return nf_ct_get_tuplepr(skb, skb_network_offset(skb), family, net,
				 tuple);
}

/* The PVM's confirmed conntrack of @tuple, referenced, or NULL. */
struct nf_conn *pmy_svm_ct(struct net *net,
			   const struct nf_conntrack_tuple *tuple)
{
	const struct nf_conntrack_tuple_hash *h;

	h = nf_conntrack_find_get(net, &nf_ct_zone_dflt, tuple);
	return h ? nf_ct_tuplehash_to_ctrack(h) : NULL;
}

void pmy_svm_drop(struct net *net, u32 vm_id, struct sk_buff *skb,
		  const char *why)
{
	struct colo_vm *vm = colo_vm_find_rcu(net, vm_id);

	if (vm)
		colo_vm_stat_inc(vm, COLO_STAT_SVM_DROPPED);
	net_dbg_ratelimited("vm %u: SVM packet dropped: %s\n", vm_id, why);
	kfree_skb(skb);
}

/*
 * Give up @other (a conn of another VM) if no PVM packet was held on it yet:
 * it was made by that VM's forward NIC only (SVM ahead) and may not be that
 * VM's at all. It takes nothing more; what it queued is dropped, counted in
 * its own VM, when it goes. @unless (optional, called under @other's lock)
 * vetoes. Returns true if @other was unlinked. Any context.
 */
bool pmy_conn_take_tentative(struct colo_conn *other,
			     bool (*unless)(struct colo_conn *other, void *arg),
			     void *arg)
{
	struct pmy_conn *opc = colo_conn_priv(other);
	bool taken;

	spin_lock_bh(&other->lock);
	taken = !opc->pvm_seen && !opc->dead && !(unless && unless(other, arg));
	if (taken)
		opc->dead = true;
	spin_unlock_bh(&other->lock);
	if (taken)
		colo_conn_unlink(other);
	return taken;
}

struct pmy_svm_claim {
	struct pmy_vm		*pvm;	/* the forward NIC's VM */
	const struct sk_buff	*skb;
	u8			family;
};

/* Veto an SVM frame's claim on another VM's tentative conn unless it has
 * evidence the other lacks: its PVM sends from the frame's source address. */
static bool pmy_svm_claim_weak(struct colo_conn *other, void *arg)
{
	struct pmy_conn *opc = colo_conn_priv(other);
	const struct pmy_svm_claim *c = arg;

	return !pmy_vm_addr(c->pvm, c->skb, c->family, false) ||
	       pmy_vm_addr(opc->pvm, c->skb, c->family, false);
}

/*
 * Isolation: an SVM frame counts only for the VM of the forward NIC it came
 * in on. A conntrack that another VM tracks is not ours to feed. One nobody
 * tracks yet is claimed tentatively (the SVM answered first): the PVM rule of
 * the VM it really belongs to takes it back (pmy_conn_reclaim in
 * xt_PMYCOLO.c), and so does an SVM frame of a VM whose PVM sends from the
 * frame's source address when the claimant's PVM does not (a frame forged on
 * another VM's forward link came first). Runs in the rx handler, under
 * rcu_read_lock().
 */
void pmy_svm_rcv(struct pmy_fwd *fwd, struct sk_buff *skb)
{
	u8 family = skb->protocol == htons(ETH_P_IP) ? NFPROTO_IPV4 : NFPROTO_IPV6;
	struct net *net = dev_net(skb->dev);
	u32 vm_id = READ_ONCE(fwd->vm_id);
	struct nf_conntrack_tuple tuple;
	struct pmy_svm_claim claim;
	struct colo_conn *conn;
	struct pmy_info pi;
	struct colo_vm *vm;
	struct pmy_vm *pvm;
	struct nf_conn *ct;
	bool mine = true;

	skb_reset_network_header(skb);
	skb = pmy_svm_sanitize(net, family, skb);
	if (!skb)
		return;
	vm = colo_vm_find_rcu(net, vm_id);
	pvm = vm ? READ_ONCE(vm->priv) : NULL;
	if (!pvm || vm->mode != COLO_MODE_PRIMARY)
		return pmy_svm_drop(net, vm_id, skb, "VM not registered");
	if (pmy_parse(skb, family, &pi))
		return pmy_svm_drop(net, vm_id, skb, "malformed");
	if (pmy_untracked_ok(skb, family, &pi)) {
		/* neighbour discovery/MLD: the PVM's own pass untracked,
		 * there is nothing to compare this with */
		consume_skb(skb);
		return;
	}
	if (!pmy_svm_tuple(net, family, skb, &pi, &tuple))
		return pmy_svm_drop(net, vm_id, skb, "no tuple");
	ct = pmy_svm_ct(net, &tuple);
	if (!ct) {
		/* The PVM has not sent this yet, or its conntrack is not
		 * confirmed (its first packet is held): pmycolo_ahead.c. */
		ct = pmy_ahead_svm(vm, pvm, skb, &tuple, &pi);
		if (!ct)
			return;
	}

	conn = colo_conn_find(ct);
	if (conn && (conn->vm != vm || conn->ops != &pmy_ops)) {
		claim.pvm = pvm;
		claim.skb = skb;
		claim.family = family;
		mine = conn->ops == &pmy_ops &&
		       pmy_conn_take_tentative(conn, pmy_svm_claim_weak, &claim);
		colo_conn_put(conn);
		conn = NULL;
	}
	if (mine && !conn && READ_ONCE(vm->state) != COLO_STATE_FAILOVER) {
		/* The SVM is ahead: the PVM has not answered on this
		 * connection yet. Queue for a while (hold timeout). */
		conn = colo_conn_get(vm, ct, GFP_ATOMIC);
	}
	nf_ct_put(ct);
	if (!mine)
		return pmy_svm_drop(net, vm_id, skb, "connection of another VM");
	if (!conn)
		return pmy_svm_drop(net, vm_id, skb, "connection not tracked");
	if (READ_ONCE(conn->vm->dead)) {
		colo_conn_put(conn);
		return pmy_svm_drop(net, vm_id, skb, "VM torn down");
	}
	pmy_svm_enqueue(conn, skb, &pi);
	colo_conn_put(conn);
}

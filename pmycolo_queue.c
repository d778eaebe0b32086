// SPDX-License-Identifier: GPL-2.0-only
/*
 * pmycolo_queue.c - COLO primary side (xt_PMYCOLO.ko): held packets and their
 * queues: parsing, per-packet state, re-injection, the work collected under a
 * connection's lock and carried out after it, checkpoint/failover/teardown
 * sweeps over a VM's connections and the hold timer.
 *
 * Epochs: a held packet carries the epoch it was held in and its arrival
 * time; the BEGIN sweep moves packets that arrived after the guest's stop
 * time into the new epoch, drops the SVM's queued output as stale and takes
 * the PVM's ACK of the cut for the DONE's ACK gate; the DONE sweep releases
 * what the cut covers. Unsynced conns (met mid-stream) are held whole until
 * a DONE covers them. Failover drains each conn in rounds before it passes.
 *
 * Locking and lifetime: see xt_PMYCOLO.c and pmycolo.h.
 */
#include "pmycolo.h"

static const void *pmy_seg_data(const struct colo_seg *seg, u32 off, u32 len,
				void *scratch)
{
	const struct pmy_pkt *p = container_of(seg, struct pmy_pkt, seg);

	return skb_header_pointer(p->skb, p->payoff + off, len, scratch);
}

const struct colo_seg_ops pmy_seg_ops = {
	.data	= pmy_seg_data,
};

/* Parse an IPv4/IPv6 packet whose network header is at skb_network_offset().
 * GSO super-packets and non-linear skbs are fine: only skb_header_pointer. */
int pmy_parse(const struct sk_buff *skb, u8 family, struct pmy_info *pi)
{
	unsigned int nhoff = skb_network_offset(skb);
	unsigned int end, thoff;
	u8 proto;

	memset(pi, 0, sizeof(*pi));
	if (family == NFPROTO_IPV4) {
		struct iphdr _iph;
		const struct iphdr *iph;

		iph = skb_header_pointer(skb, nhoff, sizeof(_iph), &_iph);
		if (!iph || iph->version != 4 || iph->ihl < 5)
			return -EINVAL;
		end = nhoff + ntohs(iph->tot_len);
		thoff = nhoff + iph->ihl * 4;
		if (end > skb->len || end < thoff)
			return -EINVAL;
		proto = iph->protocol;
		/* Not a first fragment: compare it whole as "other". */
		if (iph->frag_off & htons(IP_OFFSET))
			proto = IPPROTO_RAW;
	} else {
		struct ipv6hdr _ip6h;
		const struct ipv6hdr *ip6h;
		__be16 frag_off;
		int off;

		ip6h = skb_header_pointer(skb, nhoff, sizeof(_ip6h), &_ip6h);
		if (!ip6h || ip6h->version != 6)
			return -EINVAL;
		end = ip6h->payload_len ?
		      nhoff + sizeof(*ip6h) + ntohs(ip6h->payload_len) : skb->len;
		if (end > skb->len)
			return -EINVAL;
		proto = ip6h->nexthdr;
		off = ipv6_skip_exthdr(skb, nhoff + sizeof(*ip6h), &proto,
				       &frag_off);
		if (off < 0 || off > end)
			return -EINVAL;
		thoff = off;
		if (frag_off & htons(~0x7))
			proto = IPPROTO_RAW;
	}

	pi->proto = proto;
	pi->thoff = thoff;
	switch (proto) {
	case IPPROTO_TCP: {
		struct tcphdr _th;
		const struct tcphdr *th;

		th = skb_header_pointer(skb, thoff, sizeof(_th), &_th);
		if (!th || th->doff < 5 || thoff + th->doff * 4 > end)
			return -EINVAL;
		pi->payoff = thoff + th->doff * 4;
		pi->seq = ntohl(th->seq);
		pi->ack = ntohl(th->ack_seq);
		pi->tcpflags = tcp_flag_byte(th);
		break;
	}
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		if (thoff + sizeof(struct udphdr) > end)
			return -EINVAL;
		pi->payoff = thoff + sizeof(struct udphdr);
		break;
	default:
		/* ICMP/ICMPv6: the message from its type on; others: from the
		 * transport header on. */
		pi->payoff = thoff;
		break;
	}
	pi->len = end - pi->payoff;
	return 0;
}

struct pmy_pkt *pmy_pkt_alloc(struct sk_buff *skb,
			      const struct pmy_info *pi)
{
	struct pmy_pkt *p;

	p = kmem_cache_zalloc(pmy_pkt_cache, GFP_ATOMIC);
	if (!p)
		return NULL;
	INIT_LIST_HEAD(&p->all);
	INIT_LIST_HEAD(&p->q);
	p->skb = skb;
	p->payoff = pi->payoff;
	p->thoff = pi->thoff;
	p->proto = pi->proto;
	p->tcpflags = pi->tcpflags;
	p->ack = pi->ack;
	p->seg.len = pi->len;
	p->seg.side = COLO_SIDES;	/* not in a stream */
	p->kind = PMY_K_DGRAM;
	return p;
}

/*
 * Charge @p (its skb's truesize and the entry) to the VM's memory budget;
 * false, with nothing charged, when that would pass vm->mem_limit_kb. The
 * charge goes with the entry (pmy_pvm_pkt_free, pmy_svm_pkt_free): every
 * entry lives on a conn or on a ctx list of a referenced conn, whose pmy_conn
 * holds @pvm.
 */
bool pmy_pkt_charge(struct colo_vm *vm, struct pmy_vm *pvm, struct pmy_pkt *p)
{
	long limit = min_t(u64, (u64)READ_ONCE(vm->mem_limit_kb) << 10,
			   LONG_MAX);
	u32 size = p->skb->truesize + sizeof(*p);

	if (atomic_long_add_return(size, &pvm->mem) > limit) {
		atomic_long_sub(size, &pvm->mem);
		return false;
	}
	p->charge = size;
	p->mem_pvm = pvm;
	return true;
}

static void pmy_pkt_uncharge(struct pmy_pkt *p)
{
	if (p->charge)
		atomic_long_sub(p->charge, &p->mem_pvm->mem);
}

/* Take what re-injection needs, like nf_queue_entry_get_refs(). The bridge's
 * physical in-port is kept as an ifindex by br_netfilter and looked up again
 * by its okfn, so it needs no reference. */
bool pmy_pkt_save_state(struct pmy_pkt *p, const struct nf_hook_state *state)
{
	p->state = *state;
	if (p->state.sk && !refcount_inc_not_zero(&p->state.sk->sk_refcnt))
		return false;
	dev_hold(p->state.in);
	dev_hold(p->state.out);
	return true;
}

static void pmy_pkt_put_state(struct pmy_pkt *p)
{
	dev_put(p->state.in);
	dev_put(p->state.out);
	if (p->state.sk)
		sock_put(p->state.sk);
}

/* Free a PVM entry; the skb is the caller's business. */
void pmy_pvm_pkt_free(struct pmy_pkt *p)
{
	pmy_pkt_uncharge(p);
	pmy_pkt_put_state(p);
	kmem_cache_free(pmy_pkt_cache, p);
}

static void pmy_svm_pkt_free(struct pmy_pkt *p, bool consumed)
{
	pmy_pkt_uncharge(p);
	if (consumed)
		consume_skb(p->skb);
	else
		kfree_skb(p->skb);
	kmem_cache_free(pmy_pkt_cache, p);
}

void pmy_ctx_init(struct pmy_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	INIT_LIST_HEAD(&ctx->rel);
	INIT_LIST_HEAD(&ctx->free);
	INIT_LIST_HEAD(&ctx->drop);
}

/*
 * Continue released packets where the hook left them. No lock may be held:
 * okfn runs the rest of the bridge path (and maybe our own rx path's peers).
 */
static void pmy_reinject(struct colo_conn *conn, struct list_head *list)
{
	struct pmy_pkt *p, *n;

	if (list_empty(list))
		return;
	local_bh_disable();
	rcu_read_lock();
	list_for_each_entry_safe(p, n, list, all) {
		list_del(&p->all);
		/* after the one before it went: its conntrack is confirmed */
		pmy_ahead_fix_ct(conn, p->skb);
		p->state.okfn(p->state.net, p->state.sk, p->skb);
		pmy_pvm_pkt_free(p);
	}
	rcu_read_unlock();
	local_bh_enable();
}

/* Off the engine or its kind queue, and off pvm_all/svm_all. */
static void pmy_unlink(struct pmy_conn *pc, struct pmy_pkt *p)
{
	if (p->kind == PMY_K_STREAM)
		colo_stream_remove(&pc->st, &p->seg);
	else
		list_del_init(&p->q);
	list_del_init(&p->all);
}

static void pmy_unlink_pvm(struct pmy_conn *pc, struct pmy_pkt *p)
{
	pmy_unlink(pc, p);
	pc->pvm_held--;
}

static void pmy_unlink_svm(struct pmy_conn *pc, struct pmy_pkt *p)
{
	pmy_unlink(pc, p);
	pc->svm_queued--;
}

/* Output commit, no questions asked (checkpoint, failover). */
static void pmy_release_now(struct pmy_conn *pc, struct pmy_pkt *p,
			    struct pmy_ctx *ctx)
{
	pmy_unlink_pvm(pc, p);
	pmy_tcp_released(pc, p);
	list_add_tail(&p->all, &ctx->rel);
	ctx->released++;
	if (p == ctx->self)
		ctx->self_released = true;
}

static void pmy_svm_done(struct pmy_conn *pc, struct pmy_pkt *p,
			 struct pmy_ctx *ctx)
{
	pmy_unlink_svm(pc, p);
	list_add_tail(&p->all, &ctx->free);
}

void pmy_mismatch(struct pmy_conn *pc, struct pmy_ctx *ctx,
		  bool has_seq, u32 seq)
{
	if (pc->mismatched)
		return;
	pc->mismatched = true;
	ctx->mismatches++;
	if (ctx->reason == COLO_REASON_NONE) {
		ctx->reason = COLO_REASON_MISMATCH;
		ctx->has_seq = has_seq;
		ctx->seq = seq;
	}
}

/* Drop every queued SVM packet (checkpoint leftovers, teardown); @stale:
 * count them as output of a closed epoch (CHECKPOINT_BEGIN). */
static void pmy_drop_svm_all(struct pmy_conn *pc, struct pmy_ctx *ctx,
			     bool stale)
{
	u32 *count = stale ? &ctx->svm_stale : &ctx->svm_dropped;
	struct pmy_pkt *p, *n;

	list_for_each_entry_safe(p, n, &pc->svm_all, all) {
		pmy_unlink_svm(pc, p);
		list_add_tail(&p->all, &ctx->drop);
		(*count)++;
	}
}

void pmy_dgram_match(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct pmy_pkt *a, *b;
	u32 off = 0;

	while (!pc->mismatched && !list_empty(&pc->pvm_dgram) &&
	       !list_empty(&pc->svm_dgram)) {
		a = list_first_entry(&pc->pvm_dgram, struct pmy_pkt, q);
		b = list_first_entry(&pc->svm_dgram, struct pmy_pkt, q);
		if (a->proto != b->proto ||
		    !colo_cmp_datagram(&pmy_seg_ops, &a->seg, &b->seg, &off)) {
			pmy_mismatch(pc, ctx, true, off);
			return;
		}
		ctx->matched_bytes += a->seg.len;
		pmy_release(pc, a, ctx);
		pmy_svm_done(pc, b, ctx);
	}
}

void pmy_timer_arm(struct colo_vm *vm, struct pmy_vm *pvm)
{
	u32 ms = READ_ONCE(vm->hold_timeout_ms);

	if (ms && !READ_ONCE(pvm->dead) && !READ_ONCE(pvm->failover) &&
	    !delayed_work_pending(&pvm->timer))
		queue_delayed_work(system_wq, &pvm->timer,
				   msecs_to_jiffies(ms));
}

void pmy_ctx_finish(struct colo_conn *conn, struct pmy_ctx *ctx,
		    enum colo_stat released_as)
{
	struct colo_vm *vm = conn->vm;
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct pmy_pkt *p, *n;

	if (ctx->released) {
		atomic_sub(ctx->released, &pc->pvm->held);
		colo_vm_stat_add(vm, COLO_STAT_HELD, -(s64)ctx->released);
		colo_vm_stat_add(vm, released_as, ctx->released);
	}
	if (ctx->dropped) {
		atomic_sub(ctx->dropped, &pc->pvm->held);
		colo_vm_stat_add(vm, COLO_STAT_HELD, -(s64)ctx->dropped);
		colo_vm_stat_add(vm, COLO_STAT_DROPPED, ctx->dropped);
	}
	if (ctx->svm_dropped)
		colo_vm_stat_add(vm, COLO_STAT_SVM_DROPPED, ctx->svm_dropped);
	if (ctx->svm_stale)
		colo_vm_stat_add(vm, COLO_STAT_SVM_STALE, ctx->svm_stale);
	if (ctx->matched_bytes)
		colo_vm_stat_add(vm, COLO_STAT_MATCHED_BYTES, ctx->matched_bytes);
	if (ctx->mismatches) {
		colo_vm_stat_add(vm, COLO_STAT_MISMATCHES, ctx->mismatches);
		net_dbg_ratelimited("vm %u: output differs (seq/offset %u)\n",
				    vm->id, ctx->seq);
	}
	if (ctx->reason != COLO_REASON_NONE)
		colo_vm_request_checkpoint(vm, ctx->reason, conn, ctx->has_seq,
					   ctx->seq);

	list_for_each_entry_safe(p, n, &ctx->free, all) {
		list_del(&p->all);
		pmy_svm_pkt_free(p, true);
	}
	list_for_each_entry_safe(p, n, &ctx->drop, all) {
		list_del(&p->all);
		if (p->state.okfn) {
			kfree_skb(p->skb);
			pmy_pvm_pkt_free(p);
		} else {
			pmy_svm_pkt_free(p, false);
		}
	}
	pmy_reinject(conn, &ctx->rel);
}

/* PVM side: the target                                                      */

/*
 * Is the source address of @skb (network header) one of the VM's guest
 * addresses? With @learn (a PVM packet), remember it if there is room. A
 * guest with more addresses only loses the SVM-ahead queueing for the rest
 * (its PVM waits for the SVM's retransmission or the hold timeout). Any
 * context.
 */
bool pmy_vm_addr(struct pmy_vm *pvm, const struct sk_buff *skb, u8 family,
		 bool learn)
{
	union nf_inet_addr a = {};
	unsigned long flags;
	bool found = false;
	unsigned int i;

	if (family == NFPROTO_IPV4)
		a.ip = ip_hdr(skb)->saddr;
	else
		a.in6 = ipv6_hdr(skb)->saddr;
	spin_lock_irqsave(&pvm->addr_lock, flags);
	for (i = 0; i < pvm->nr_addrs && !found; i++)
		found = pvm->addrs[i].family == family &&
			nf_inet_addr_cmp(&pvm->addrs[i].a, &a);
	if (!found && learn && pvm->nr_addrs < PMY_VM_ADDRS) {
		pvm->addrs[pvm->nr_addrs].family = family;
		pvm->addrs[pvm->nr_addrs].a = a;
		pvm->nr_addrs++;
		found = true;
	}
	spin_unlock_irqrestore(&pvm->addr_lock, flags);
	return found;
}

/*
 * CHECKPOINT_BEGIN, after the core cut the epoch. PVM side: packets that
 * reached us after the guest's stop time were sent after the state that is
 * being copied, so they belong to the new epoch whatever the BEGIN's delay
 * (pvm_all is in arrival order and stamps grow along it: they are a suffix).
 * The ACK gate's value for the DONE is the PVM's ACK as of the cut. SVM
 * side: everything queued belongs to the state the checkpoint discards.
 */
int pmy_conn_ckpt_begin(struct colo_conn *conn, void *data)
{
	const struct pmy_sweep *sw = data;
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct pmy_pkt *p, *moved = NULL, *first_new = NULL;
	struct pmy_ctx ctx;

	pmy_ctx_init(&ctx);
	spin_lock_bh(&conn->lock);
	list_for_each_entry(p, &pc->pvm_all, all) {
		if (sw->stop_ns && p->tstamp > sw->stop_ns &&
		    (s32)(p->epoch - sw->cut_epoch) <= 0) {
			p->epoch = sw->epoch;
			if (!moved)
				moved = p;
		}
		if (!first_new && (s32)(p->epoch - sw->cut_epoch) > 0)
			first_new = p;
		if (p->kind == PMY_K_SYN && p == moved && pc->isn_valid &&
		    p->seq == pc->isn)
			pc->isn_epoch = sw->epoch;
	}
	/*
	 * The cut's ACK: the PVM's before its first packet of the new epoch,
	 * moved here or held in it already (it came between the epoch's
	 * switch and this sweep; pvm_all is in arrival order).
	 */
	pc->cut_open = true;
	if (first_new) {
		pc->cut_ack = first_new->ack_before;
		pc->cut_ack_valid = first_new->ack_before_valid;
	} else {
		pc->cut_ack = pc->pvm_ack;
		pc->cut_ack_valid = pc->pvm_ack_valid;
	}
	if (moved) {
		/*
		 * What the checkpoint covers of the stream ends where it was
		 * before the first moved packet (pmy_tcp_checkpoint_done
		 * resyncs there): the moved ones belong to the new epoch.
		 */
		pc->pvm_next_old = moved->next_before;
		pc->pvm_next_old_valid = moved->next_before_valid;
		pc->pvm_next_epoch = sw->epoch;
	}
	pmy_drop_svm_all(pc, &ctx, true);
	spin_unlock_bh(&conn->lock);

	pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_CHECKPOINT);
	return 0;
}

/* CHECKPOINT_DONE: output commit for the cut epoch, then start over. */
int pmy_conn_ckpt_done(struct colo_conn *conn, void *data)
{
	const struct pmy_sweep *sw = data;
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct pmy_pkt *p, *n;
	struct pmy_ctx ctx;

	pmy_ctx_init(&ctx);
	spin_lock_bh(&conn->lock);
	list_for_each_entry_safe(p, n, &pc->pvm_all, all) {
		if ((s32)(p->epoch - sw->cut_epoch) > 0)
			continue;
		if (p->kind == PMY_K_SYN)
			pc->syn_done = true;
		pmy_release_now(pc, p, &ctx);
	}
	pmy_drop_svm_all(pc, &ctx, false);
	pc->mismatched = false;
	/*
	 * The SVM now has the PVM's state as of the cut, acknowledgements
	 * included, and no more: the gate becomes the PVM's ACK of the cut
	 * (what the old SVM acked belongs to the discarded state; ACKs the
	 * PVM sent after resuming are not covered); none if the PVM had acked
	 * nothing at the cut. A conn that was not there at BEGIN keeps its
	 * gate.
	 */
	if (pc->cut_open) {
		pc->svm_ack_valid = false;
		pc->cut_open = false;
		if (pc->cut_ack_valid)
			pmy_svm_acked(pc, pc->cut_ack, &ctx);
		else
			pmy_ack_track(pc, true);
		pc->cut_ack_valid = false;
	}
	pmy_tcp_checkpoint_done(pc, sw->cut_epoch, &ctx);
	spin_unlock_bh(&conn->lock);

	pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_CHECKPOINT);
	return 0;
}

/* Release everything @pc holds, in arrival order. conn->lock held. */
void pmy_failover_drain(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct pmy_pkt *p, *n;

	list_for_each_entry_safe(p, n, &pc->pvm_all, all)
		pmy_release_now(pc, p, ctx);
	pmy_drop_svm_all(pc, ctx, false);
}

/*
 * Failover (the secondary died): everything held goes, then pass straight,
 * without a new packet overtaking a held one. Until this conn is marked
 * failed_over, the target appends its new packets to pvm_all (PMY_K_HELD);
 * each round releases what is there and re-injects it with no lock held, and
 * only a round that finds nothing left flips failed_over, under the lock: so
 * every packet that arrived before the flip left before any that arrives
 * after it.
 */
int pmy_conn_failover(struct colo_conn *conn, void *data)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct pmy_ctx ctx;
	bool done;

	do {
		pmy_ctx_init(&ctx);
		spin_lock_bh(&conn->lock);
		done = list_empty(&pc->pvm_all);
		pmy_failover_drain(pc, &ctx);
		if (done)
			pc->failed_over = true;
		spin_unlock_bh(&conn->lock);
		pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_FAILOVER);
		cond_resched();
	} while (!done);
	return 0;
}

/* Drop PVM packets (all, or those referencing sw->dev) and, for a full
 * flush, the SVM's too. Output commit: never release on teardown. */
void pmy_conn_flush(struct colo_conn *conn, struct net_device *dev,
		    bool kill)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct pmy_pkt *p, *n;
	struct pmy_ctx ctx;

	pmy_ctx_init(&ctx);
	spin_lock_bh(&conn->lock);
	list_for_each_entry_safe(p, n, &pc->pvm_all, all) {
		if (dev && p->state.in != dev && p->state.out != dev)
			continue;
		pmy_unlink_pvm(pc, p);
		list_add_tail(&p->all, &ctx.drop);
		ctx.dropped++;
	}
	if (!dev)
		pmy_drop_svm_all(pc, &ctx, false);
	if (kill)
		pc->dead = true;
	spin_unlock_bh(&conn->lock);

	pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_MATCH);
}

int pmy_conn_kill(struct colo_conn *conn, void *data)
{
	pmy_conn_flush(conn, NULL, true);
	return 0;
}

int pmy_conn_flush_dev(struct colo_conn *conn, void *data)
{
	const struct pmy_sweep *sw = data;

	pmy_conn_flush(conn, sw->dev, false);
	return 0;
}

/* Hold timeout: how old is the oldest thing waiting for the other side? */
struct pmy_age {
	unsigned long		now;
	unsigned long		timeout;
	unsigned long		next;		/* earliest expiry still ahead */
	bool			pending;	/* anything queued at all */
	bool			pvm_expired;
	bool			svm_expired;
	struct colo_conn	*conn;		/* first expired (referenced) */
	u32			seq;
	bool			has_seq;
};

static void pmy_age_one(struct pmy_age *a, unsigned long stamp, bool *expired)
{
	unsigned long due = stamp + a->timeout;

	a->pending = true;
	if (time_after_eq(a->now, due)) {
		*expired = true;
	} else if (time_before(due, a->next)) {
		a->next = due;
	}
}

static int pmy_conn_age(struct colo_conn *conn, void *data)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct pmy_age *a = data;
	struct colo_vm *vm = conn->vm;
	bool pvm = false, svm = false;
	bool in_ckpt;
	struct pmy_pkt *p;
	u32 cut;

	/* Packets of the epoch cut by CHECKPOINT_BEGIN wait for its DONE, not
	 * for the SVM: they do not age (else a checkpoint slower than the hold
	 * timeout would ask for another one). pvm_all is in arrival order, so
	 * epochs never decrease along it. */
	in_ckpt = READ_ONCE(vm->state) == COLO_STATE_CHECKPOINT;
	cut = READ_ONCE(vm->cut_epoch);
	spin_lock_bh(&conn->lock);
	list_for_each_entry(p, &pc->pvm_all, all) {
		if (in_ckpt && (s32)(p->epoch - cut) <= 0)
			continue;
		pmy_age_one(a, p->stamp, &pvm);
		break;
	}
	/* SVM TCP history (compared, kept for PVM retransmits) waits for
	 * nothing: it does not age. */
	list_for_each_entry(p, &pc->svm_all, all) {
		if (pmy_tcp_svm_history(pc, p))
			continue;
		pmy_age_one(a, p->stamp, &svm);
		break;
	}
	/* The client shown less of the PVM's ACK than it sent (the gate):
	 * an SVM that stopped acknowledging stalls it, nothing held. A
	 * checkpoint gives the SVM the PVM's ACK. */
	if (pc->ack_behind && !pc->dead && !pc->failed_over) {
		if (!in_ckpt)
			pmy_age_one(a, pc->ack_behind, &pvm);
		else
			a->pending = true;	/* DONE may leave the gap */
	}
	if ((pvm || svm) && !a->conn) {
		colo_conn_hold(conn);
		a->conn = conn;
		a->has_seq = pc->st.synced;
		a->seq = pc->st.matched;
	}
	spin_unlock_bh(&conn->lock);
	a->pvm_expired |= pvm;
	a->svm_expired |= svm;
	return 0;
}

void pmy_timer_fn(struct work_struct *work)
{
	struct pmy_vm *pvm = container_of(to_delayed_work(work), struct pmy_vm,
					  timer);
	struct colo_vm *vm = pvm->vm;
	struct pmy_age a = {};
	u32 ms;

	if (READ_ONCE(pvm->dead) || READ_ONCE(vm->dead))
		return;
	ms = READ_ONCE(vm->hold_timeout_ms);
	if (!ms)
		return;
	a.now = jiffies;
	a.timeout = msecs_to_jiffies(ms);
	a.next = a.now + a.timeout;
	colo_vm_for_each_conn(vm, pmy_conn_age, &a);
	if (pmy_ahead_age(pvm, a.now, a.timeout, &a.next, &a.pending))
		a.svm_expired = true;

	if (a.pvm_expired) {
		/* count once per epoch, like the notice */
		if (pvm->timeout_epoch != READ_ONCE(vm->epoch)) {
			pvm->timeout_epoch = READ_ONCE(vm->epoch);
			colo_vm_stat_inc(vm, COLO_STAT_HOLD_TIMEOUTS);
		}
		colo_vm_request_checkpoint(vm, COLO_REASON_HOLD_TIMEOUT, a.conn,
					   a.has_seq, a.seq);
	} else if (a.svm_expired) {
		colo_vm_request_checkpoint(vm, COLO_REASON_SVM_ONLY, a.conn,
					   false, 0);
	}
	if (a.conn)
		colo_conn_put(a.conn);
	/* Until a checkpoint clears the queues, look again a timeout later
	 * (the core sends one notice per epoch). */
	if (a.pending && !READ_ONCE(pvm->dead))
		queue_delayed_work(system_wq, &pvm->timer,
				   max_t(long, (long)(a.next - jiffies), 1));
}

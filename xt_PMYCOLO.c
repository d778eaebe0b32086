// SPDX-License-Identifier: GPL-2.0-only
/*
 * xt_PMYCOLO.c - COLO primary side: hold the PVM's output, compare it with the
 * SVM's output and release it only once it is proven equal or covered by a
 * completed checkpoint (output commit).
 *
 *   iptables -t mangle -A PREROUTING -m physdev --physdev-in <pvm port> \
 *            -j PMYCOLO --index N --forward-dev <nic>
 *
 * PVM side: the target steals the PVM's packets (NF_STOLEN) into per-connection
 * queues. Each held packet keeps its skb and a copy of the hook state (okfn,
 * devices, net); it leaves by state.okfn() with BHs off, i.e. it continues
 * where br_netfilter's PRE_ROUTING would have continued (the PRE_ROUTING hooks
 * after mangle are skipped for held packets). The nf_queue handler is never
 * touched, so NFQUEUE users keep working.
 *
 * SVM side: the forward NIC is dedicated to COLO. An rx_handler consumes every
 * IPv4/IPv6 frame (and ARP) from the SVM, resolves the PVM's conntrack by tuple
 * (both guests have the same addresses, and SECCOLO moved the SVM's sequence
 * numbers into the PVM's space) and feeds the compare engine.
 *
 * Comparison: TCP as byte streams (include/colo_compare.h), SYN payload
 * included; SYN/SYN-ACK headers but for seq and TSval (the ISNs differ); RST
 * held until the SVM sent the same one; pure ACKs pass at once (pmycolo_tcp.c
 * and the README's table say what is compared). The ACK gate, which every
 * TCP segment passes on its way out: a segment never acknowledges client data the SVM has not acknowledged (its
 * ACK number is lowered to the SVM's; held while the SVM has acked nothing).
 * UDP, ICMP, ICMPv6 and other protocols per datagram, FIFO.
 *
 * Fail closed: a packet that cannot be compared is dropped and counted, never
 * passed (pmy_tg: untracked/INVALID, VM not registered or not attached; only
 * ICMPv6 neighbour discovery/MLD pass untracked). A TCP connection met
 * mid-stream waits for a checkpoint (pmycolo_tcp.c, COLO_REASON_UNSYNCED).
 * Epochs and their cut by the guest's stop time: pmycolo_queue.c
 * (pmy_conn_ckpt_begin).
 *
 * Locking: conn->lock (from the core) protects everything in struct pmy_conn.
 * Released packets are collected on a local list and re-injected after the
 * lock is dropped. pmy_fwd_mutex nests inside the RTNL; pmy_vms_mutex nests
 * inside the core's colo_mutex. Neither is taken in softirq. pvm->addr_lock
 * (irqsave, innermost) guards the VM's learnt guest addresses. pvm->pend_lock
 * (BH) is outside conn->lock (pmycolo_ahead.c).
 *
 * Files (pmycolo.h has the shared types): this one is the target, its
 * checkentry, the mode ops and module init/exit; pmycolo_queue.c held packets,
 * re-injection, the checkpoint/failover sweeps and the hold timer;
 * pmycolo_tcp.c SYN/RST, streams, the ACK gate and SACK clamp; pmycolo_svm.c
 * the SVM intake; pmycolo_ahead.c SVM frames of conntracks not in the hash
 * (unconfirmed, or not there yet); pmycolo_fwd.c the forward NICs. Kbuild compiles this file
 * through pmycolo_main.c and links them all into xt_PMYCOLO.ko.
 *
 * Lifetime: struct pmy_vm (vm->priv) is refcounted: one reference for the VM
 * (dropped by vm_destroy) and one per conn (dropped by conn_destroy), so a
 * conn freed late (softirq, after the VM was torn down) can still reach it.
 * br_netfilter must stay loaded while packets are held (okfn points into it).
 */
#include <net/ndisc.h>
#include "pmycolo.h"

struct kmem_cache *pmy_pkt_cache __read_mostly;

LIST_HEAD(pmy_vms);

DEFINE_MUTEX(pmy_vms_mutex);

/*
 * A PVM packet while the VM fails over (vm->state FAILOVER, not everything
 * drained yet). Order-preserving switch: a conn not drained yet queues the
 * packet behind its held ones (the sweep releases them all in order); a
 * drained conn passes it; a conn the sweep missed (linked while it ran) is
 * drained here, before this packet. Called with conn->lock held, drops it;
 * @p is the packet's entry, not linked yet.
 */
static unsigned int pmy_pvm_failover(struct colo_vm *vm, struct pmy_vm *pvm,
				     struct colo_conn *conn, struct pmy_pkt *p,
				     struct pmy_ctx *ctx)
	__releases(&conn->lock)
{
	struct pmy_conn *pc = colo_conn_priv(conn);

	if (!pc->failed_over && !READ_ONCE(pvm->failover_swept)) {
		pc->pvm_seen = true;
		p->kind = PMY_K_HELD;
		p->epoch = READ_ONCE(vm->epoch);
		p->stamp = jiffies;
		p->tstamp = ktime_get_real_ns();
		list_add_tail(&p->all, &pc->pvm_all);
		pc->pvm_held++;
		atomic_inc(&pvm->held);
		spin_unlock(&conn->lock);
		colo_vm_stat_inc(vm, COLO_STAT_HELD);
		return NF_STOLEN;
	}
	if (!pc->failed_over) {
		pmy_failover_drain(pc, ctx);
		pc->failed_over = true;
	}
	spin_unlock(&conn->lock);
	pmy_pvm_pkt_free(p);
	/* re-injects what was held before this packet continues */
	pmy_ctx_finish(conn, ctx, COLO_STAT_RELEASED_FAILOVER);
	colo_vm_stat_inc(vm, COLO_STAT_PASSED);
	return NF_ACCEPT;
}

static unsigned int pmy_pvm_hold(struct colo_vm *vm, struct pmy_vm *pvm,
				 struct colo_conn *conn, struct sk_buff *skb,
				 const struct nf_hook_state *state,
				 const struct pmy_info *pi)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	unsigned int verdict = NF_STOLEN;
	struct pmy_ctx ctx;
	struct pmy_pkt *p;
	u32 limit, held;

	p = pmy_pkt_alloc(skb, pi);
	if (!p)
		goto drop;
	if (!pmy_pkt_save_state(p, state)) {
		kmem_cache_free(pmy_pkt_cache, p);
		goto drop;
	}
	/* PRE_ROUTING on a bridge: no dst yet, nothing to lose here. */
	skb_dst_force(skb);

	pmy_ctx_init(&ctx);
	ctx.self = p;
	limit = READ_ONCE(vm->queue_limit);
	if (!READ_ONCE(pc->pvm_seen))
		pmy_vm_addr(pvm, skb, state->pf, true);

	spin_lock(&conn->lock);
	if (unlikely(pc->dead || READ_ONCE(pvm->dead))) {
		spin_unlock(&conn->lock);
		pmy_pvm_pkt_free(p);
		goto drop;
	}
	if (unlikely(READ_ONCE(vm->state) == COLO_STATE_FAILOVER ||
		     READ_ONCE(pvm->failover)))
		return pmy_pvm_failover(vm, pvm, conn, p, &ctx);
	held = atomic_read(&pvm->held);
	if (unlikely(limit && held >= (u64)limit * PMY_HARD_CAP_FACTOR)) {
		spin_unlock(&conn->lock);
		pmy_pvm_pkt_free(p);
		colo_vm_request_checkpoint(vm, COLO_REASON_QUEUE_LIMIT, conn,
					   false, 0);
		net_warn_ratelimited("vm %u: %u packets held, dropping\n",
				     vm->id, held);
		goto drop;
	}
	if (unlikely(!pmy_pkt_charge(vm, pc->pvm, p))) {
		/* the memory budget is full: what is held must go first */
		spin_unlock(&conn->lock);
		pmy_pvm_pkt_free(p);
		colo_vm_stat_inc(vm, COLO_STAT_MEM_FULL);
		colo_vm_request_checkpoint(vm, COLO_REASON_QUEUE_LIMIT, conn,
					   false, 0);
		net_warn_ratelimited("vm %u: memory budget of %u KiB reached, dropping\n",
				     vm->id, READ_ONCE(vm->mem_limit_kb));
		goto drop;
	}

	/* under conn->lock: see "Epochs" in nf_conntrack_colo.h */
	p->epoch = READ_ONCE(vm->epoch);
	p->stamp = jiffies;
	p->tstamp = ktime_get_real_ns();
	p->ack_before = pc->pvm_ack;
	p->ack_before_valid = pc->pvm_ack_valid;
	p->next_before = pc->pvm_next;
	p->next_before_valid = pc->pvm_next_valid;
	list_add_tail(&p->all, &pc->pvm_all);
	pc->pvm_held++;
	held = atomic_inc_return(&pvm->held);
	pc->pvm_seen = true;
	if (pi->proto == IPPROTO_TCP) {
		pmy_pvm_tcp(pc, p, pi, &ctx);
	} else {
		list_add_tail(&p->q, &pc->pvm_dgram);
		pmy_dgram_match(pc, &ctx);
	}
	spin_unlock(&conn->lock);

	colo_vm_stat_inc(vm, COLO_STAT_HELD);
	if (ctx.self_released) {
		/* Matched on arrival: let the hook continue it. */
		list_del(&p->all);
		pmy_pvm_pkt_free(p);
		pmy_ahead_fix_ct(conn, skb);
		verdict = NF_ACCEPT;
	}
	pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_MATCH);

	if (limit && held > limit) {
		if (held == limit + 1)
			colo_vm_stat_inc(vm, COLO_STAT_QUEUE_FULL);
		colo_vm_request_checkpoint(vm, COLO_REASON_QUEUE_LIMIT, conn,
					   false, 0);
	}
	if (verdict == NF_STOLEN || READ_ONCE(pc->ack_behind))
		pmy_timer_arm(vm, pvm);
	return verdict;

drop:
	colo_vm_stat_inc(vm, COLO_STAT_DROPPED);
	return NF_DROP;
}

/*
 * Fail closed: a packet of a protected VM that cannot be compared is dropped,
 * never passed (the guest retransmits, or the client sees a loss). Counted
 * in the VM's COLO_STAT_DROPPED_UNVERIFIABLE (untracked or INVALID for
 * conntrack, e.g. an out-of-window TCP segment; mode not attached), or, for a
 * rule whose VM is not registered (its owner socket closed, say) or not in
 * primary mode, in the module-wide counter below.
 */
static atomic64_t pmy_dropped_no_vm = ATOMIC64_INIT(0);

static int pmy_dropped_no_vm_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%lld\n", (long long)atomic64_read(&pmy_dropped_no_vm));
}

static const struct kernel_param_ops pmy_dropped_no_vm_ops = {
	.get	= pmy_dropped_no_vm_get,
};

module_param_cb(dropped_no_vm, &pmy_dropped_no_vm_ops, NULL, 0444);
MODULE_PARM_DESC(dropped_no_vm,
		 "PVM packets dropped because their rule's VM is not registered in primary mode (read-only)");

/*
 * The allow-list of untracked packets that may pass: ICMPv6 neighbour
 * discovery and MLD (the types conntrack leaves untracked on purpose). They
 * carry no payload of the guest's connections, and the guest needs them to
 * reach its neighbours. Redirects (they quote a packet) are not on it. Every
 * other untracked or invalid packet is dropped.
 */
bool pmy_untracked_ok(const struct sk_buff *skb, u8 family,
		      const struct pmy_info *pi)
{
	u8 _type;
	const u8 *type;

	if (family != NFPROTO_IPV6 || pi->proto != IPPROTO_ICMPV6)
		return false;
	type = skb_header_pointer(skb, pi->thoff, sizeof(_type), &_type);
	if (!type)
		return false;
	switch (*type) {
	case ICMPV6_MGM_QUERY:
	case ICMPV6_MGM_REPORT:
	case ICMPV6_MGM_REDUCTION:
	case NDISC_ROUTER_SOLICITATION:
	case NDISC_ROUTER_ADVERTISEMENT:
	case NDISC_NEIGHBOUR_SOLICITATION:
	case NDISC_NEIGHBOUR_ADVERTISEMENT:
	case ICMPV6_MLD2_REPORT:
		return true;
	}
	return false;
}

/*
 * @ct's conn belongs to another VM: if that VM's forward NIC made it (SVM
 * frames, no PVM packet yet) it is given up, since only the PVM's rule tells
 * whose connection it is; the SVM packets queued on it are dropped there.
 * Returns this VM's conn, referenced, or NULL.
 */
static struct colo_conn *pmy_conn_reclaim(struct colo_vm *vm, struct nf_conn *ct)
{
	struct colo_conn *other = colo_conn_find(ct);
	bool taken = false;

	if (!other)
		return NULL;
	if (other->vm != vm && other->ops == &pmy_ops)
		taken = pmy_conn_take_tentative(other, NULL, NULL);
	colo_conn_put(other);
	return taken ? colo_conn_get(vm, ct, GFP_ATOMIC) : NULL;
}

static unsigned int pmy_tg(struct sk_buff *skb, const struct xt_action_param *par)
{
	const struct xt_colo_primary_info *info = par->targinfo;
	enum ip_conntrack_info ctinfo;
	struct colo_conn *conn;
	struct pmy_info pi;
	struct colo_vm *vm;
	struct pmy_vm *pvm;
	struct nf_conn *ct;
	unsigned int verdict;
	u32 svm_ack = 0;
	bool failover;
	int malformed;

	malformed = pmy_parse(skb, xt_family(par), &pi);
	ct = nf_ct_get(skb, &ctinfo);
	if (!ct && !malformed && pmy_untracked_ok(skb, xt_family(par), &pi))
		return XT_CONTINUE;

	/* Hooks run under rcu_read_lock(). */
	vm = colo_vm_find_rcu(xt_net(par), info->index);
	if (unlikely(!vm || vm->mode != COLO_MODE_PRIMARY)) {
		atomic64_inc(&pmy_dropped_no_vm);
		net_warn_ratelimited("PMYCOLO: VM %u is not registered in primary mode: PVM packet dropped\n",
				     info->index);
		return NF_DROP;
	}
	pvm = READ_ONCE(vm->priv);
	if (unlikely(!pvm)) {
		colo_vm_stat_inc(vm, COLO_STAT_DROPPED_UNVERIFIABLE);
		net_warn_ratelimited("vm %u: primary mode not attached: PVM packet dropped\n",
				     vm->id);
		return NF_DROP;
	}

	colo_vm_stat_inc(vm, COLO_STAT_PVM_PACKETS);
	failover = READ_ONCE(vm->state) == COLO_STATE_FAILOVER;
	if (failover && READ_ONCE(pvm->failover_all)) {
		colo_vm_stat_inc(vm, COLO_STAT_PASSED);
		return XT_CONTINUE;
	}
	if (unlikely(!ct)) {
		colo_vm_stat_inc(vm, COLO_STAT_DROPPED_UNVERIFIABLE);
		net_info_ratelimited("vm %u: untracked or invalid PVM packet (proto %u) dropped\n",
				     vm->id, pi.proto);
		return NF_DROP;
	}
	if (malformed) {
		colo_vm_stat_inc(vm, COLO_STAT_DROPPED);
		net_dbg_ratelimited("vm %u: malformed PVM packet dropped\n",
				    vm->id);
		return NF_DROP;
	}
	/* an unconfirmed conntrack: a later packet of a flow whose first
	 * packet is held (pmycolo_ahead.c) */
	conn = nf_ct_is_confirmed(ct) ? NULL : pmy_ahead_twin(vm, pvm, ct);
	if (!conn)
		conn = colo_conn_get(vm, ct, GFP_ATOMIC);
	if (!conn)
		conn = pmy_conn_reclaim(vm, ct);
	if (!conn || conn->ops != &pmy_ops) {
		if (conn)
			colo_conn_put(conn);
		colo_vm_stat_inc(vm, COLO_STAT_DROPPED);
		net_dbg_ratelimited("vm %u: cannot track connection, PVM packet dropped\n",
				    vm->id);
		return NF_DROP;
	}
	/* A pure ACK carries nothing to compare: it goes at once, through
	 * the ACK gate if it acknowledges more than the SVM did (not during a
	 * failover: it must not overtake held packets). */
	if (!failover && pi.proto == IPPROTO_TCP && !pi.len &&
	    !(pi.tcpflags & (TCPHDR_SYN | TCPHDR_FIN | TCPHDR_RST | TCPHDR_URG)) &&
	    pmy_tcp_opts_plain_skb(skb, pi.thoff, pi.payoff) &&
	    pmy_pure_ack_ok(conn, &pi, &svm_ack)) {
		colo_conn_put(conn);
		if ((pi.tcpflags & TCPHDR_ACK) &&
		    !pmy_sack_clamp(skb, pi.thoff, svm_ack)) {
			colo_vm_stat_inc(vm, COLO_STAT_DROPPED);
			return NF_DROP;
		}
		return XT_CONTINUE;
	}
	if (!failover)
		pmy_ahead_pvm(pvm, conn);
	verdict = pmy_pvm_hold(vm, pvm, conn, skb, par->state, &pi);
	colo_conn_put(conn);
	return verdict;
}

/* SVM side: the forward NIC                                                 */

static void pmy_vm_release(struct kref *ref)
{
	struct pmy_vm *pvm = container_of(ref, struct pmy_vm, ref);

	/* every entry gave its charge back (it is freed before its conn) */
	WARN_ON_ONCE(atomic_long_read(&pvm->mem));
	kfree(pvm);
}

static int pmy_vm_init(struct colo_vm *vm)
{
	struct pmy_vm *pvm;

	pvm = kzalloc(sizeof(*pvm), GFP_KERNEL);
	if (!pvm)
		return -ENOMEM;
	kref_init(&pvm->ref);
	pvm->vm = vm;
	INIT_DELAYED_WORK(&pvm->timer, pmy_timer_fn);
	spin_lock_init(&pvm->addr_lock);
	pmy_ahead_init(pvm);
	atomic_set(&pvm->held, 0);
	mutex_lock(&pmy_vms_mutex);
	list_add(&pvm->node, &pmy_vms);
	mutex_unlock(&pmy_vms_mutex);
	WRITE_ONCE(vm->priv, pvm);
	return 0;
}

static u64 pmy_mem_bytes(struct colo_vm *vm)
{
	struct pmy_vm *pvm = vm->priv;

	return pvm ? max(atomic_long_read(&pvm->mem), 0L) : 0;
}

static void pmy_vm_destroy(struct colo_vm *vm)
{
	struct pmy_vm *pvm = vm->priv;

	if (!pvm)
		return;
	mutex_lock(&pmy_vms_mutex);
	list_del(&pvm->node);
	mutex_unlock(&pmy_vms_mutex);
	/* Conns check this under their lock: nothing is held after the sweep. */
	WRITE_ONCE(pvm->dead, true);
	cancel_delayed_work_sync(&pvm->timer);
	colo_vm_for_each_conn(vm, pmy_conn_kill, NULL);
	pmy_ahead_flush(vm, pvm, true, COLO_STAT_SVM_DROPPED);
	WRITE_ONCE(vm->priv, NULL);
	kref_put(&pvm->ref, pmy_vm_release);
}

static void pmy_checkpoint_begin(struct colo_vm *vm)
{
	struct pmy_sweep sw = {
		.cut_epoch	= vm->cut_epoch,
		.epoch		= vm->epoch,
		.stop_ns	= vm->cut_stop_ns,
	};

	/* The core cut the epoch; packets held from now on wait for the next
	 * checkpoint or their SVM counterpart. Those held after the guest's
	 * stop time join them; the SVM's queued output is stale. */
	colo_vm_for_each_conn(vm, pmy_conn_ckpt_begin, &sw);
	if (vm->priv)
		pmy_ahead_flush(vm, vm->priv, false, COLO_STAT_SVM_STALE);
}

static void pmy_checkpoint_done(struct colo_vm *vm, u32 cut_epoch)
{
	struct pmy_sweep sw = { .cut_epoch = cut_epoch };

	/* COLO_STAT_CHECKPOINTS is counted by the core. */
	colo_vm_for_each_conn(vm, pmy_conn_ckpt_done, &sw);
	/* DONE may have opened an ACK gap (pmy_ack_track) with nothing held */
	if (vm->priv)
		pmy_timer_arm(vm, vm->priv);
}

static void pmy_failover(struct colo_vm *vm)
{
	struct pmy_vm *pvm = vm->priv;

	if (!pvm)
		return;
	WRITE_ONCE(pvm->failover, true);
	cancel_delayed_work_sync(&pvm->timer);
	pmy_ahead_flush(vm, pvm, false, COLO_STAT_SVM_DROPPED);
	/* Order-preserving switch (pmy_conn_failover, pmy_pvm_failover):
	 * drain every conn; then conns linked too late for that walk drain on
	 * their next packet; a second walk drains those that send none; after
	 * it nothing is held anywhere and the target passes without looking. */
	colo_vm_for_each_conn(vm, pmy_conn_failover, NULL);
	WRITE_ONCE(pvm->failover_swept, true);
	colo_vm_for_each_conn(vm, pmy_conn_failover, NULL);
	WRITE_ONCE(pvm->failover_all, true);
	/* the target passes without looking now: nothing prunes that list */
	pmy_ahead_flush(vm, pvm, true, COLO_STAT_SVM_DROPPED);
}

static void pmy_reset(struct colo_vm *vm)
{
	struct pmy_vm *pvm = vm->priv;

	if (!pvm)
		return;
	cancel_delayed_work_sync(&pvm->timer);
	colo_vm_for_each_conn(vm, pmy_conn_kill, NULL);
	pmy_ahead_flush(vm, pvm, true, COLO_STAT_SVM_DROPPED);
	WRITE_ONCE(pvm->failover_all, false);
	WRITE_ONCE(pvm->failover_swept, false);
	WRITE_ONCE(pvm->failover, false);
}

/* Atomic context (data path). */
static int pmy_conn_init(struct colo_conn *conn)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct pmy_vm *pvm = READ_ONCE(conn->vm->priv);

	if (!pvm || READ_ONCE(pvm->dead) || !kref_get_unless_zero(&pvm->ref))
		return -ENODEV;
	pc->conn = conn;
	pc->pvm = pvm;
	INIT_LIST_HEAD(&pc->unconf_node);
	/* created during a failover: nothing of it is held, nothing to wait for */
	pc->failed_over = READ_ONCE(pvm->failover);
	colo_stream_init(&pc->st, &pmy_seg_ops);
	INIT_LIST_HEAD(&pc->pvm_all);
	INIT_LIST_HEAD(&pc->svm_all);
	INIT_LIST_HEAD(&pc->pvm_syn);
	INIT_LIST_HEAD(&pc->pvm_rst);
	INIT_LIST_HEAD(&pc->pvm_dgram);
	INIT_LIST_HEAD(&pc->svm_dgram);
	INIT_LIST_HEAD(&pc->pvm_gated);
	pmy_tcp_init(pc);
	return 0;
}

/* Any context: the last reference is gone; a conn whose conntrack died may
 * still hold output, which is dropped (never released) and reported. */
static void pmy_conn_destroy(struct colo_conn *conn)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct pmy_vm *pvm = pc->pvm;
	bool had_output;

	if (!pvm)
		return;
	had_output = !list_empty(&pc->pvm_all);
	pmy_conn_flush(conn, NULL, true);
	if (had_output)
		colo_vm_request_checkpoint(conn->vm, COLO_REASON_CONN_GONE,
					   NULL, false, 0);
	pc->pvm = NULL;
	kref_put(&pvm->ref, pmy_vm_release);
}

static int pmy_fill_conn(struct colo_conn *conn, struct sk_buff *msg)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	u32 held, queued, matched;
	bool synced;

	spin_lock_bh(&conn->lock);
	held = pc->pvm_held;
	queued = pc->svm_queued;
	matched = pc->st.matched;
	synced = pc->st.synced;
	spin_unlock_bh(&conn->lock);

	if (nla_put_u32(msg, COLO_CONN_A_HELD, held) ||
	    nla_put_u32(msg, COLO_CONN_A_SVM_QUEUED, queued) ||
	    (synced && nla_put_u32(msg, COLO_CONN_A_MATCHED_SEQ, matched)))
		return -EMSGSIZE;
	return 0;
}

const struct colo_vm_ops pmy_ops = {
	.owner			= THIS_MODULE,
	.mode			= COLO_MODE_PRIMARY,
	.conn_priv_size		= sizeof(struct pmy_conn),
	.vm_init		= pmy_vm_init,
	.vm_destroy		= pmy_vm_destroy,
	.mem_bytes		= pmy_mem_bytes,
	.checkpoint_begin	= pmy_checkpoint_begin,
	.checkpoint_done	= pmy_checkpoint_done,
	.failover		= pmy_failover,
	.reset			= pmy_reset,
	.conn_init		= pmy_conn_init,
	.conn_destroy		= pmy_conn_destroy,
	.fill_conn		= pmy_fill_conn,
};

static int pmy_tg_check(const struct xt_tgchk_param *par)
{
	struct xt_colo_primary_info *info = par->targinfo;
	struct net_device *dev;
	struct colo_vm *vm;
	struct pmy_fwd *fwd;
	bool busy = false, attached = false;
	u8 mode = COLO_MODE_NONE;
	int ret;

	if (!info->index || info->index > COLO_VM_ID_MAX) {
		pr_info_ratelimited("--index %u out of range 1..%u\n",
				    info->index, COLO_VM_ID_MAX);
		return -EINVAL;
	}
	if (strnlen(info->forward_dev, IFNAMSIZ) == IFNAMSIZ ||
	    !dev_valid_name(info->forward_dev)) {
		pr_info_ratelimited("--forward-dev: invalid interface name\n");
		return -EINVAL;
	}

	rcu_read_lock();
	vm = colo_vm_find_rcu(par->net, info->index);
	if (vm) {
		mode = vm->mode;
		attached = READ_ONCE(vm->ops) == &pmy_ops;
	}
	dev = dev_get_by_name_rcu(par->net, info->forward_dev);
	if (dev) {
		rx_handler_func_t *h = rcu_dereference(dev->rx_handler);

		busy = h && h != pmy_fwd_rx;
	}
	rcu_read_unlock();

	if (!vm) {
		pr_info_ratelimited("VM %u is not registered (COLO_CMD_PROXY_INIT first)\n",
				    info->index);
		return -EINVAL;
	}
	if (mode != COLO_MODE_PRIMARY) {
		pr_info_ratelimited("VM %u is not in primary mode\n", info->index);
		return -EINVAL;
	}
	if (!attached) {
		/* its packets would all be dropped: say so now */
		pr_info_ratelimited("VM %u: primary mode not attached (vm_init failed, see dmesg)\n",
				    info->index);
		return -EINVAL;
	}
	if (!dev) {
		pr_info_ratelimited("forward device %s not found\n",
				    info->forward_dev);
		return -EINVAL;
	}
	if (busy) {
		pr_info_ratelimited("forward device %s is in use (bridge/bond port?)\n",
				    info->forward_dev);
		return -EINVAL;
	}

	ret = nf_ct_netns_get(par->net, par->family);
	if (ret < 0) {
		pr_info_ratelimited("cannot enable conntrack for family %u\n",
				    par->family);
		return ret;
	}
	fwd = pmy_fwd_get(par->net, info->forward_dev, info->index);
	if (IS_ERR_OR_NULL(fwd)) {
		nf_ct_netns_put(par->net, par->family);
		return fwd ? PTR_ERR(fwd) : -ENOMEM;
	}
	info->priv = fwd;
	return 0;
}

static void pmy_tg_destroy(const struct xt_tgdtor_param *par)
{
	struct xt_colo_primary_info *info = par->targinfo;

	pmy_fwd_put(info->priv);
	nf_ct_netns_put(par->net, par->family);
}

static struct xt_target pmy_tg_reg[] __read_mostly = {
	{
		.name		= "PMYCOLO",
		.revision	= 0,
		.family		= NFPROTO_IPV4,
		.table		= "mangle",
		.hooks		= 1 << NF_INET_PRE_ROUTING,
		.target		= pmy_tg,
		.targetsize	= sizeof(struct xt_colo_primary_info),
		.usersize	= offsetof(struct xt_colo_primary_info, priv),
		.checkentry	= pmy_tg_check,
		.destroy	= pmy_tg_destroy,
		.me		= THIS_MODULE,
	},
#if IS_ENABLED(CONFIG_IP6_NF_IPTABLES)
	{
		.name		= "PMYCOLO",
		.revision	= 0,
		.family		= NFPROTO_IPV6,
		.table		= "mangle",
		.hooks		= 1 << NF_INET_PRE_ROUTING,
		.target		= pmy_tg,
		.targetsize	= sizeof(struct xt_colo_primary_info),
		.usersize	= offsetof(struct xt_colo_primary_info, priv),
		.checkentry	= pmy_tg_check,
		.destroy	= pmy_tg_destroy,
		.me		= THIS_MODULE,
	},
#endif
};

static int __init pmy_init(void)
{
	int ret;

	pmy_pkt_cache = KMEM_CACHE(pmy_pkt, 0);
	if (!pmy_pkt_cache)
		return -ENOMEM;
	ret = pmy_fwd_init();
	if (ret < 0)
		goto err_cache;
	ret = colo_register_mode_ops(&pmy_ops);
	if (ret < 0) {
		pr_err("failed to register the primary mode: %d\n", ret);
		goto err_notifier;
	}
	ret = xt_register_targets(pmy_tg_reg, ARRAY_SIZE(pmy_tg_reg));
	if (ret < 0) {
		pr_err("failed to register targets\n");
		goto err_ops;
	}
	return 0;

err_ops:
	colo_unregister_mode_ops(&pmy_ops);
err_notifier:
	pmy_fwd_exit();
err_cache:
	kmem_cache_destroy(pmy_pkt_cache);
	return ret;
}

static void __exit pmy_exit(void)
{
	xt_unregister_targets(pmy_tg_reg, ARRAY_SIZE(pmy_tg_reg));
	/* No rules left: detach every forward NIC. */
	pmy_fwd_detach_all();
	/* Drops whatever is still held in every primary VM. */
	colo_unregister_mode_ops(&pmy_ops);
	pmy_fwd_exit();
	kmem_cache_destroy(pmy_pkt_cache);
}

module_init(pmy_init);
module_exit(pmy_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Xtables: COLO primary side, compare and release the PVM's output");

MODULE_ALIAS("ipt_PMYCOLO");
MODULE_ALIAS("ip6t_PMYCOLO");

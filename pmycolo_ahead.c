// SPDX-License-Identifier: GPL-2.0-only
/*
 * pmycolo_ahead.c - COLO primary side (xt_PMYCOLO.ko): SVM output that the
 * conntrack hash cannot place yet.
 *
 * An SVM frame is tied to the PVM's connection by its tuple in the conntrack
 * hash (pmycolo_svm.c). The hash has nothing for it in two cases where the
 * PVM has, or will have, the same connection:
 *
 * - Unconfirmed: the guest opened the flow and the target holds its first
 *   packet (PRE_ROUTING, before nf_confirm): the conntrack enters the hash
 *   only when that packet leaves, which waits for this very SVM frame. The
 *   target lists such conns per VM (pvm->unconf); an SVM frame is looked up
 *   among their original tuples. PVM packets of the same flow that arrive
 *   meanwhile get conntracks of their own (nothing is in the hash yet): the
 *   target holds them on the first one's conn (pmy_ahead_twin), so the flow
 *   is compared as one; when they leave after the first, they take its
 *   conntrack (pmy_ahead_fix_ct; 6.1's clash resolution would do that for
 *   UDP only and drop the others at confirm).
 * - Orphan: the SVM is ahead, the PVM has not sent the flow's first packet
 *   yet. The frame waits on the VM's orphan list (pvm->orphans), bounded in
 *   count and truesize and tagged with its epoch, until the target meets a
 *   PVM packet of a conn with that tuple and adopts it, or the hold timeout
 *   asks for a checkpoint (the SVM said what the PVM did not), after which
 *   CHECKPOINT_BEGIN drops it as stale.
 *
 * Both lists are per VM: a frame only meets the conns of its forward NIC's VM
 * (isolation between VMs).
 *
 * Locking: pvm->pend_lock (BH) guards both lists, the nr_ counters and
 * pc->unconf/unconf_node. conn->lock nests inside it: frames are queued on a
 * conn under it, so the SVM frames of a flow reach its conn in arrival order,
 * whichever way they came. Nothing is re-injected under it.
 *
 * Lifetime: an unconf entry holds a conn reference. It goes when the conn's
 * conntrack is confirmed or dying, or the conn is dead or unlinked (pruned on
 * the next walk), and at reset and teardown (the conns are dead then). A conn
 * is listed at most once in its life (pc->unconf stays set), so a pruned
 * entry on a local list is never linked again meanwhile.
 */
#include "pmycolo.h"

#define PMY_UNCONF_MAX		256		/* unconfirmed conns listed per VM */
#define PMY_ORPHANS_MAX		256		/* orphan SVM frames per VM */
#define PMY_ORPHAN_BYTES	(4U << 20)	/* their truesize per VM */

struct pmy_orphan {
	struct list_head		node;	/* pvm->orphans, arrival order */
	struct sk_buff			*skb;
	struct nf_conntrack_tuple	tuple;	/* as pmy_svm_tuple() made it */
	unsigned long			stamp;	/* jiffies when kept */
	u32				epoch;	/* vm->epoch when kept */
	struct pmy_info			pi;
};

void pmy_ahead_init(struct pmy_vm *pvm)
{
	spin_lock_init(&pvm->pend_lock);
	INIT_LIST_HEAD(&pvm->unconf);
	INIT_LIST_HEAD(&pvm->orphans);
}

static const struct nf_conntrack_tuple *pmy_ahead_orig(const struct colo_conn *conn)
{
	return &conn->ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
}

/* Unlist the entries that have done their job onto @gone. pend_lock held. */
static void pmy_ahead_prune(struct pmy_vm *pvm, struct list_head *gone)
{
	struct pmy_conn *pc, *n;

	list_for_each_entry_safe(pc, n, &pvm->unconf, unconf_node) {
		struct nf_conn *ct = pc->conn->ct;

		if (!nf_ct_is_confirmed(ct) && !nf_ct_is_dying(ct) &&
		    !READ_ONCE(pc->dead) && colo_conn_is_linked(pc->conn))
			continue;
		list_move_tail(&pc->unconf_node, gone);
		WRITE_ONCE(pvm->nr_unconf, pvm->nr_unconf - 1);
	}
}

static void pmy_ahead_put_list(struct list_head *gone)
{
	struct pmy_conn *pc, *n;

	list_for_each_entry_safe(pc, n, gone, unconf_node) {
		list_del(&pc->unconf_node);
		colo_conn_put(pc->conn);
	}
}

static void pmy_orphan_free(struct pmy_orphan *o)
{
	kfree_skb(o->skb);
	kfree(o);
}

/*
 * The target: the conn for a PVM packet whose conntrack @ct is unconfirmed
 * and has no conn, if an earlier packet of the same flow (same original
 * tuple) has one, listed here or already confirmed. Referenced, or NULL.
 * Softirq (hook).
 */
struct colo_conn *pmy_ahead_twin(struct colo_vm *vm, struct pmy_vm *pvm,
				 struct nf_conn *ct)
{
	const struct nf_conntrack_tuple *t = &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	const struct nf_conntrack_tuple_hash *h;
	struct colo_conn *conn = NULL;
	struct nf_conn *first;
	struct pmy_conn *pc;
	LIST_HEAD(gone);

	if (colo_conn_find_rcu(ct) ||
	    !nf_ct_zone_equal_any(ct, &nf_ct_zone_dflt))
		return NULL;
	if (READ_ONCE(pvm->nr_unconf)) {
		spin_lock(&pvm->pend_lock);
		pmy_ahead_prune(pvm, &gone);
		list_for_each_entry(pc, &pvm->unconf, unconf_node) {
			if (pc->conn->ct != ct &&
			    nf_ct_tuple_equal(t, pmy_ahead_orig(pc->conn))) {
				conn = pc->conn;
				colo_conn_hold(conn);
				break;
			}
		}
		spin_unlock(&pvm->pend_lock);
		pmy_ahead_put_list(&gone);
		if (conn)
			return conn;
	}
	/* The first one left and is confirmed already (same direction: not a
	 * crossing flow of the peer's). */
	h = nf_conntrack_find_get(nf_ct_net(ct), &nf_ct_zone_dflt, t);
	if (!h)
		return NULL;
	first = nf_ct_tuplehash_to_ctrack(h);
	if (NF_CT_DIRECTION(h) == IP_CT_DIR_ORIGINAL)
		conn = colo_conn_find(first);
	nf_ct_put(first);
	if (conn && (conn->vm != vm || conn->ops != &pmy_ops)) {
		colo_conn_put(conn);
		conn = NULL;
	}
	return conn;
}

/* Is @t a tuple of @ct? The reply tuple of an unconfirmed conntrack may be
 * rewritten by NAT on another CPU (a twin's): only the original counts then
 * (the direction of a flow the guest opens). */
/*
 * A twin leaves with its conn's conntrack once that one is confirmed (the
 * first packet left), as conntrack's clash resolution would do for UDP: 6.1
 * has none for ICMP, TCP and the rest and would drop it at confirm. Called
 * for every packet that leaves a conn, before it continues; any context.
 */
void pmy_ahead_fix_ct(struct colo_conn *conn, struct sk_buff *skb)
{
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);

	if (likely(!ct || ct == conn->ct) || nf_ct_is_confirmed(ct) ||
	    !nf_ct_is_confirmed(conn->ct) ||
	    !nf_ct_tuple_equal(&ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple,
			       pmy_ahead_orig(conn)))
		return;
	nf_conntrack_get(&conn->ct->ct_general);
	nf_ct_put(ct);
	nf_ct_set(skb, conn->ct, ctinfo);
}

static bool pmy_ahead_tuple_of(const struct nf_conn *ct,
			       const struct nf_conntrack_tuple *t)
{
	return nf_ct_tuple_equal(t, &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple) ||
	       (nf_ct_is_confirmed(ct) &&
		nf_ct_tuple_equal(t, &ct->tuplehash[IP_CT_DIR_REPLY].tuple));
}

/* Queue an orphan on @conn (its flow's PVM packet came). pend_lock held. */
static void pmy_ahead_adopt(struct colo_conn *conn, struct pmy_orphan *o,
			    struct pmy_ctx *ctx)
{
	pmy_svm_take(conn, o->skb, &o->pi, o->epoch, ctx);
	kfree(o);
}

/*
 * The target, before it holds the first PVM packet of @conn: list the conn
 * while its conntrack is unconfirmed, and queue on it the orphans of its flow,
 * in their arrival order (the packet can then match at once). Later packets
 * cost nothing here. Softirq (hook).
 */
void pmy_ahead_pvm(struct pmy_vm *pvm, struct colo_conn *conn)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	bool unconf = !nf_ct_is_confirmed(conn->ct);
	struct pmy_orphan *o, *n;
	bool adopted = false;
	struct pmy_ctx ctx;
	LIST_HEAD(gone);

	if (READ_ONCE(pc->pvm_seen) || READ_ONCE(pvm->failover))
		return;
	if ((!unconf || READ_ONCE(pc->unconf)) && !READ_ONCE(pvm->nr_orphans))
		return;
	/* SVM frames are looked up in the default zone only */
	if (!nf_ct_zone_equal_any(conn->ct, &nf_ct_zone_dflt))
		return;
	pmy_ctx_init(&ctx);
	spin_lock(&pvm->pend_lock);
	if (unconf && !pc->unconf && !READ_ONCE(pc->dead)) {
		pmy_ahead_prune(pvm, &gone);
		if (pvm->nr_unconf < PMY_UNCONF_MAX) {
			colo_conn_hold(conn);
			pc->unconf = true;
			list_add_tail(&pc->unconf_node, &pvm->unconf);
			WRITE_ONCE(pvm->nr_unconf, pvm->nr_unconf + 1);
		}
	}
	list_for_each_entry_safe(o, n, &pvm->orphans, node) {
		if (!pmy_ahead_tuple_of(conn->ct, &o->tuple))
			continue;
		list_del(&o->node);
		WRITE_ONCE(pvm->nr_orphans, pvm->nr_orphans - 1);
		pvm->orphan_bytes -= o->skb->truesize;
		pmy_ahead_adopt(conn, o, &ctx);
		adopted = true;
	}
	spin_unlock(&pvm->pend_lock);
	pmy_ahead_put_list(&gone);
	if (adopted) {
		pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_MATCH);
		pmy_timer_arm(conn->vm, pvm);
	}
}

/* Keep an SVM frame nobody can place yet; consumes @skb. pend_lock held. */
static void pmy_ahead_keep(struct colo_vm *vm, struct pmy_vm *pvm,
			   struct sk_buff *skb,
			   const struct nf_conntrack_tuple *t,
			   const struct pmy_info *pi)
{
	struct pmy_orphan *o;

	if (READ_ONCE(pvm->failover) ||
	    READ_ONCE(vm->state) == COLO_STATE_FAILOVER)
		goto drop;
	if (pi->proto == IPPROTO_TCP &&
	    (pi->tcpflags & (TCPHDR_SYN | TCPHDR_ACK)) != TCPHDR_SYN) {
		/* Only a connection request can come before the PVM's
		 * conntrack exists; anything else is of a connection that is
		 * gone (and its ACK must not open the gate of the next one on
		 * the same tuple). */
		goto drop;
	}
	if (READ_ONCE(vm->state) == COLO_STATE_CHECKPOINT) {
		/* see "Epochs" in nf_conntrack_colo.h */
		colo_vm_stat_inc(vm, COLO_STAT_SVM_STALE);
		kfree_skb(skb);
		return;
	}
	if (pvm->nr_orphans >= PMY_ORPHANS_MAX ||
	    pvm->orphan_bytes + skb->truesize > PMY_ORPHAN_BYTES) {
		/* the SVM says much the PVM did not: only a checkpoint can
		 * tell whose output is right */
		colo_vm_request_checkpoint(vm, COLO_REASON_SVM_ONLY, NULL,
					   false, 0);
		goto drop;
	}
	o = kmalloc(sizeof(*o), GFP_ATOMIC);
	if (!o)
		goto drop;
	/* The NIC may go away while the frame waits; it is never used again. */
	skb->dev = NULL;
	o->skb = skb;
	o->tuple = *t;
	o->pi = *pi;
	o->stamp = jiffies;
	o->epoch = READ_ONCE(vm->epoch);
	list_add_tail(&o->node, &pvm->orphans);
	WRITE_ONCE(pvm->nr_orphans, pvm->nr_orphans + 1);
	pvm->orphan_bytes += skb->truesize;
	colo_vm_stat_inc(vm, COLO_STAT_SVM_PACKETS);
	return;
drop:
	colo_vm_stat_inc(vm, COLO_STAT_SVM_DROPPED);
	net_dbg_ratelimited("vm %u: SVM packet dropped: no PVM connection\n",
			    vm->id);
	kfree_skb(skb);
}

/*
 * The SVM intake, for a frame whose tuple @t is not in the conntrack hash:
 * feed it to the unconfirmed conn of its flow, or keep it as an orphan.
 * Returns the frame's conntrack if it was confirmed meanwhile (referenced;
 * the caller goes on as if its lookup had found it), else NULL: @skb was
 * consumed. rx handler (softirq, rcu_read_lock).
 */
struct nf_conn *pmy_ahead_svm(struct colo_vm *vm, struct pmy_vm *pvm,
			      struct sk_buff *skb,
			      const struct nf_conntrack_tuple *t,
			      const struct pmy_info *pi)
{
	struct colo_conn *conn = NULL;
	struct pmy_conn *pc;
	struct pmy_ctx ctx;
	struct nf_conn *ct;
	LIST_HEAD(gone);

	spin_lock(&pvm->pend_lock);
	pmy_ahead_prune(pvm, &gone);
	list_for_each_entry(pc, &pvm->unconf, unconf_node) {
		if (nf_ct_tuple_equal(t, pmy_ahead_orig(pc->conn))) {
			conn = pc->conn;
			break;
		}
	}
	if (conn) {
		colo_conn_hold(conn);
		pmy_ctx_init(&ctx);
		colo_vm_stat_inc(vm, COLO_STAT_SVM_PACKETS);
		pmy_svm_take(conn, skb, pi, 0, &ctx);
		spin_unlock(&pvm->pend_lock);
		pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_MATCH);
		pmy_timer_arm(vm, pvm);
		colo_conn_put(conn);
		ct = NULL;
		goto out;
	}
	/* Its PVM packet may have left (and been pruned) since our lookup. */
	ct = pmy_svm_ct(vm->net, t);
	if (!ct)
		pmy_ahead_keep(vm, pvm, skb, t, pi);
	spin_unlock(&pvm->pend_lock);
	if (!ct)
		pmy_timer_arm(vm, pvm);
out:
	pmy_ahead_put_list(&gone);
	return ct;
}

/*
 * The hold timer: is the oldest orphan older than @timeout? Then the SVM said
 * what the PVM did not, and a checkpoint is due (the caller asks for it).
 * Updates *@next (earliest expiry ahead) and *@pending. Process context.
 */
bool pmy_ahead_age(struct pmy_vm *pvm, unsigned long now, unsigned long timeout,
		   unsigned long *next, bool *pending)
{
	struct pmy_orphan *o, *n;
	bool expired = false;
	unsigned long due;
	LIST_HEAD(stale);
	u32 nr = 0;

	spin_lock_bh(&pvm->pend_lock);
	/* kept in the gap of a RESET (flushed, epoch not moved yet): never
	 * adopted, never due */
	list_for_each_entry_safe(o, n, &pvm->orphans, node) {
		if (o->epoch == READ_ONCE(pvm->vm->epoch))
			continue;
		list_move_tail(&o->node, &stale);
		WRITE_ONCE(pvm->nr_orphans, pvm->nr_orphans - 1);
		pvm->orphan_bytes -= o->skb->truesize;
		nr++;
	}
	o = list_first_entry_or_null(&pvm->orphans, struct pmy_orphan, node);
	if (o) {
		*pending = true;
		due = o->stamp + timeout;
		if (time_after_eq(now, due))
			expired = true;
		else if (time_before(due, *next))
			*next = due;
	}
	spin_unlock_bh(&pvm->pend_lock);
	list_for_each_entry_safe(o, n, &stale, node)
		pmy_orphan_free(o);
	if (nr)
		colo_vm_stat_add(pvm->vm, COLO_STAT_SVM_STALE, nr);
	return expired;
}

/*
 * Drop every orphan, counted in @stat (CHECKPOINT_BEGIN: SVM_STALE, they
 * belong to the state it replaces; failover: SVM_DROPPED), and with @all
 * forget the unconfirmed conns too (reset, after the conns were killed;
 * teardown). Process context.
 */
void pmy_ahead_flush(struct colo_vm *vm, struct pmy_vm *pvm, bool all,
		     enum colo_stat stat)
{
	struct pmy_orphan *o, *n;
	LIST_HEAD(orphans);
	LIST_HEAD(gone);
	u32 nr;

	spin_lock_bh(&pvm->pend_lock);
	list_splice_init(&pvm->orphans, &orphans);
	nr = pvm->nr_orphans;
	WRITE_ONCE(pvm->nr_orphans, 0);
	pvm->orphan_bytes = 0;
	if (all) {
		list_splice_init(&pvm->unconf, &gone);
		WRITE_ONCE(pvm->nr_unconf, 0);
	}
	spin_unlock_bh(&pvm->pend_lock);

	list_for_each_entry_safe(o, n, &orphans, node)
		pmy_orphan_free(o);
	if (nr)
		colo_vm_stat_add(vm, stat, nr);
	pmy_ahead_put_list(&gone);
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * nf_conntrack_colo.c - core of colo-proxy: per-netns VM registry,
 * per-connection state keyed by conntrack, GC, counters and the checkpoint
 * request path. Locking and lifetime rules: include/nf_conntrack_colo.h.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/mutex.h>
#include <linux/rhashtable.h>
#include <linux/rculist.h>
#include <linux/hash.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/netlink.h>
#include <net/netfilter/nf_conntrack.h>

#include "nf_conntrack_colo.h"

#define COLO_VM_HASH_BITS	6

struct colo_net {
	struct hlist_head	vms[1 << COLO_VM_HASH_BITS];	/* RCU, colo_mutex */
};

static unsigned int colo_net_id __read_mostly;

/* See "Locking" in the header. */
static DEFINE_MUTEX(colo_mutex);
static LIST_HEAD(colo_all_vms);			/* colo_mutex */
static const struct colo_vm_ops *colo_modes[__COLO_MODE_MAX];	/* colo_mutex */
static atomic_t colo_mode_conns[__COLO_MODE_MAX];	/* conns alive per mode */

static DEFINE_MUTEX(colo_ctl_mutex);		/* colo_ctl */
static const struct colo_ctl_ops *colo_ctl;

static struct rhashtable colo_conn_ht;
static const struct rhashtable_params colo_conn_params = {
	.head_offset		= offsetof(struct colo_conn, hnode),
	.key_offset		= offsetof(struct colo_conn, ct),
	.key_len		= sizeof(struct nf_conn *),
	.automatic_shrinking	= true,
};

static void colo_gc_work_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(colo_gc_work, colo_gc_work_fn);

static struct colo_net *colo_pernet(const struct net *net)
{
	return net_generic(net, colo_net_id);
}

static struct hlist_head *colo_vm_bucket(const struct net *net, u32 id)
{
	return &colo_pernet(net)->vms[hash_32(id, COLO_VM_HASH_BITS)];
}

/* --- VM lookup and references ----------------------------------------------- */

struct colo_vm *colo_vm_find_rcu(struct net *net, u32 id)
{
	struct colo_vm *vm;

	hlist_for_each_entry_rcu(vm, colo_vm_bucket(net, id), reg_node,
				 lockdep_is_held(&colo_mutex)) {
		if (vm->id == id && !READ_ONCE(vm->dead))
			return vm;
	}
	return NULL;
}
EXPORT_SYMBOL_GPL(colo_vm_find_rcu);

struct colo_vm *colo_vm_get(struct net *net, u32 id)
{
	struct colo_vm *vm;

	rcu_read_lock();
	vm = colo_vm_find_rcu(net, id);
	if (vm && !refcount_inc_not_zero(&vm->ref))
		vm = NULL;
	rcu_read_unlock();
	return vm;
}
EXPORT_SYMBOL_GPL(colo_vm_get);

static void colo_vm_free_rcu(struct rcu_head *head)
{
	struct colo_vm *vm = container_of(head, struct colo_vm, rcu);

	free_percpu(vm->stats);
	sock_put(vm->owner);
	kfree(vm);
}

void colo_vm_put(struct colo_vm *vm)
{
	if (refcount_dec_and_test(&vm->ref)) {
		WARN_ON_ONCE(!vm->dead || !list_empty(&vm->conns));
		pr_debug("VM %u freed\n", vm->id);
		call_rcu(&vm->rcu, colo_vm_free_rcu);
	}
}
EXPORT_SYMBOL_GPL(colo_vm_put);

void colo_vm_stats_read(struct colo_vm *vm, u64 out[__COLO_STAT_MAX])
{
	int cpu, i;

	memset(out, 0, sizeof(u64) * __COLO_STAT_MAX);
	for_each_possible_cpu(cpu) {
		const struct colo_vm_stats *s = per_cpu_ptr(vm->stats, cpu);

		for (i = 0; i < __COLO_STAT_MAX; i++)
			out[i] += READ_ONCE(s->v[i]);
	}
	out[COLO_STAT_CONNS] = READ_ONCE(vm->nr_conns);
	/* a gauge the mode keeps in vm->priv: read it where it cannot go */
	mutex_lock(&colo_mutex);
	if (!vm->dead && vm->ops && vm->ops->mem_bytes)
		out[COLO_STAT_MEM_BYTES] = vm->ops->mem_bytes(vm);
	mutex_unlock(&colo_mutex);
	out[COLO_STAT_UNSPEC] = 0;
	out[COLO_STAT_PAD] = 0;
}
EXPORT_SYMBOL_GPL(colo_vm_stats_read);

/* --- conns ----------------------------------------------------------------- */

static void colo_conn_release(struct colo_conn *conn)
{
	const struct colo_vm_ops *ops = conn->ops;
	u8 mode = ops->mode;

	if (ops->conn_destroy)
		ops->conn_destroy(conn);
	nf_ct_put(conn->ct);
	colo_vm_put(conn->vm);
	kfree_rcu(conn, rcu);
	/* ops may belong to a module waiting for this count: touch it last */
	if (atomic_dec_and_test(&colo_mode_conns[mode]))
		wake_up_var(&colo_mode_conns[mode]);
}

void colo_conn_put(struct colo_conn *conn)
{
	if (refcount_dec_and_test(&conn->ref))
		colo_conn_release(conn);
}
EXPORT_SYMBOL_GPL(colo_conn_put);

/* A colo_vm_for_each_conn() in progress, on vm->walkers (vm->lock). */
struct colo_walker {
	struct list_head	node;
	struct colo_conn	*pos;	/* conn being visited, or its successor */
	bool			moved;	/* pos was unlinked: now its successor */
};

/*
 * Walkers of vm->conns (colo_vm_for_each_conn) park on a conn with the
 * VM's lock dropped. A conn that is unlinked meanwhile moves every walker
 * parked on it to its successor, so the walk goes on from there without a
 * snapshot (no allocation, nothing skipped). vm->lock held.
 */
static void colo_walkers_unlinking(struct colo_vm *vm, struct colo_conn *conn)
{
	struct colo_walker *w;

	lockdep_assert_held(&vm->lock);
	list_for_each_entry(w, &vm->walkers, node) {
		if (w->pos != conn)
			continue;
		w->pos = list_is_last(&conn->vm_node, &vm->conns) ? NULL :
			 list_next_entry(conn, vm_node);
		w->moved = true;
	}
}

/* vm->lock held; the caller puts the hash's reference after unlocking. */
static bool __colo_conn_unlink(struct colo_conn *conn)
{
	struct colo_vm *vm = conn->vm;

	lockdep_assert_held(&vm->lock);
	if (!conn->linked)
		return false;
	WRITE_ONCE(conn->linked, false);
	rhashtable_remove_fast(&colo_conn_ht, &conn->hnode, colo_conn_params);
	colo_walkers_unlinking(vm, conn);
	list_del_init(&conn->vm_node);
	WRITE_ONCE(vm->nr_conns, vm->nr_conns - 1);
	return true;
}

void colo_conn_unlink(struct colo_conn *conn)
{
	struct colo_vm *vm = conn->vm;
	bool put;

	spin_lock_bh(&vm->lock);
	put = __colo_conn_unlink(conn);
	spin_unlock_bh(&vm->lock);
	if (put)
		colo_conn_put(conn);
}
EXPORT_SYMBOL_GPL(colo_conn_unlink);

struct colo_conn *colo_conn_find_rcu(const struct nf_conn *ct)
{
	struct colo_conn *conn;

	conn = rhashtable_lookup(&colo_conn_ht, &ct, colo_conn_params);
	if (conn && !READ_ONCE(conn->linked))
		conn = NULL;
	return conn;
}
EXPORT_SYMBOL_GPL(colo_conn_find_rcu);

struct colo_conn *colo_conn_find(const struct nf_conn *ct)
{
	struct colo_conn *conn;

	rcu_read_lock();
	conn = colo_conn_find_rcu(ct);
	if (conn && !refcount_inc_not_zero(&conn->ref))
		conn = NULL;
	rcu_read_unlock();
	return conn;
}
EXPORT_SYMBOL_GPL(colo_conn_find);

/* A conn never made visible: undo colo_conn_alloc(). */
static void colo_conn_discard(struct colo_conn *conn)
{
	refcount_set(&conn->ref, 1);
	colo_conn_put(conn);
}

static struct colo_conn *colo_conn_alloc(struct colo_vm *vm,
					 const struct colo_vm_ops *ops,
					 struct nf_conn *ct, gfp_t gfp)
{
	struct colo_conn *conn;

	conn = kzalloc(sizeof(*conn) + ops->conn_priv_size, gfp);
	if (!conn)
		return NULL;
	nf_conntrack_get(&ct->ct_general);
	conn->ct = ct;
	colo_vm_hold(vm);
	conn->vm = vm;
	conn->ops = ops;
	spin_lock_init(&conn->lock);
	INIT_LIST_HEAD(&conn->vm_node);
	refcount_set(&conn->ref, 2);	/* the hash's and the caller's */
	atomic_inc(&colo_mode_conns[ops->mode]);

	if (ops->conn_init && ops->conn_init(conn)) {
		/* conn_destroy must cope with a failed conn_init */
		colo_conn_discard(conn);
		return NULL;
	}
	return conn;
}

struct colo_conn *colo_conn_get(struct colo_vm *vm, struct nf_conn *ct, gfp_t gfp)
{
	const struct colo_vm_ops *ops;
	struct colo_conn *conn, *old;
	bool full = false;

	if (READ_ONCE(vm->dead) || !net_eq(nf_ct_net(ct), vm->net))
		return NULL;

	rcu_read_lock();
	conn = rhashtable_lookup(&colo_conn_ht, &ct, colo_conn_params);
	if (conn) {
		if (conn->vm != vm || !READ_ONCE(conn->linked) ||
		    !refcount_inc_not_zero(&conn->ref))
			conn = NULL;
		rcu_read_unlock();
		return conn;
	}
	rcu_read_unlock();

	ops = READ_ONCE(vm->ops);
	if (!ops)
		return NULL;
	/* full: refuse before allocating (checked again under vm->lock) */
	if (READ_ONCE(vm->nr_conns) >= READ_ONCE(vm->conn_limit))
		goto full;
	conn = colo_conn_alloc(vm, ops, ct, gfp);
	if (!conn)
		return NULL;

	rcu_read_lock();
	spin_lock_bh(&vm->lock);
	if (vm->dead || vm->ops != ops) {
		old = ERR_PTR(-ENOENT);
		goto unlock;
	}
	/* bounded per VM: a guest or client cannot make the host track more */
	if (vm->nr_conns >= READ_ONCE(vm->conn_limit)) {
		/* another CPU may just have linked this ct's conn */
		old = rhashtable_lookup(&colo_conn_ht, &ct, colo_conn_params);
		if (!old) {
			old = ERR_PTR(-ENOSPC);
			full = true;
		}
		goto unlock;
	}
	old = rhashtable_lookup_get_insert_fast(&colo_conn_ht, &conn->hnode,
						colo_conn_params);
	if (!old) {
		conn->linked = true;
		list_add_tail(&conn->vm_node, &vm->conns);
		WRITE_ONCE(vm->nr_conns, vm->nr_conns + 1);
	}
unlock:
	spin_unlock_bh(&vm->lock);
	if (old && !IS_ERR(old) && old->vm == vm && READ_ONCE(old->linked) &&
	    refcount_inc_not_zero(&old->ref)) {
		/* lost a race with another cpu creating the same conn */
		rcu_read_unlock();
		colo_conn_discard(conn);
		return old;
	}
	rcu_read_unlock();
	if (old) {
		colo_conn_discard(conn);
		if (full)
			goto full;
		return NULL;
	}
	return conn;

full:
	/* counts the packets refused, not the connections */
	colo_vm_stat_inc(vm, COLO_STAT_CONNS_FULL);
	net_warn_ratelimited("vm %u: %u connections tracked, no more\n",
			     vm->id, READ_ONCE(vm->conn_limit));
	return NULL;
}
EXPORT_SYMBOL_GPL(colo_conn_get);

/* Unlink every conn of @vm (or only those @stale() says) and put them. */
static void colo_vm_unlink_conns(struct colo_vm *vm,
				 bool (*stale)(const struct colo_conn *conn))
{
	struct colo_conn *conn, *tmp;
	LIST_HEAD(gone);

	spin_lock_bh(&vm->lock);
	list_for_each_entry_safe(conn, tmp, &vm->conns, vm_node) {
		if (stale && !stale(conn))
			continue;
		WRITE_ONCE(conn->linked, false);
		rhashtable_remove_fast(&colo_conn_ht, &conn->hnode,
				       colo_conn_params);
		colo_walkers_unlinking(vm, conn);
		list_move_tail(&conn->vm_node, &gone);
		WRITE_ONCE(vm->nr_conns, vm->nr_conns - 1);
	}
	spin_unlock_bh(&vm->lock);

	list_for_each_entry_safe(conn, tmp, &gone, vm_node) {
		list_del_init(&conn->vm_node);
		colo_conn_put(conn);
	}
}

int colo_vm_for_each_conn(struct colo_vm *vm,
			  int (*fn)(struct colo_conn *conn, void *data),
			  void *data)
{
	struct colo_conn *conn, *prev = NULL;
	struct colo_walker w = {};
	int ret = 0;

	might_sleep();
	spin_lock_bh(&vm->lock);
	list_add(&w.node, &vm->walkers);
	conn = list_first_entry_or_null(&vm->conns, struct colo_conn, vm_node);
	while (conn && !ret) {
		/* linked, so referenced by the hash: this cannot fail */
		colo_conn_hold(conn);
		w.pos = conn;
		w.moved = false;
		spin_unlock_bh(&vm->lock);
		/* the previous conn's last put may call into the mode */
		if (prev)
			colo_conn_put(prev);
		ret = fn(conn, data);
		prev = conn;
		spin_lock_bh(&vm->lock);
		if (w.moved)
			conn = w.pos;
		else
			conn = list_is_last(&conn->vm_node, &vm->conns) ? NULL :
			       list_next_entry(conn, vm_node);
	}
	list_del(&w.node);
	spin_unlock_bh(&vm->lock);
	if (prev)
		colo_conn_put(prev);
	return ret;
}
EXPORT_SYMBOL_GPL(colo_vm_for_each_conn);

/* --- GC ---------------------------------------------------------------------- */

/*
 * A conn is stale once its conntrack is dying (timed out, flushed, or killed)
 * or was never confirmed and nobody but us references it (the packet that
 * created it was dropped before confirmation).
 */
static bool colo_conn_stale(const struct colo_conn *conn)
{
	const struct nf_conn *ct = conn->ct;

	return nf_ct_is_dying(ct) ||
	       (!nf_ct_is_confirmed(ct) &&
		refcount_read(&ct->ct_general.use) == 1);
}

static void colo_gc_work_fn(struct work_struct *work)
{
	struct colo_vm *vm;

	mutex_lock(&colo_mutex);
	list_for_each_entry(vm, &colo_all_vms, all_node)
		colo_vm_unlink_conns(vm, colo_conn_stale);
	mutex_unlock(&colo_mutex);

	queue_delayed_work(system_power_efficient_wq, &colo_gc_work,
			   COLO_GC_INTERVAL);
}

/* --- checkpoint requests ------------------------------------------------------- */

static void colo_notify_work_fn(struct work_struct *work)
{
	struct colo_vm *vm = container_of(work, struct colo_vm, notify_work);
	struct colo_notice n;
	bool dead;

	spin_lock_bh(&vm->lock);
	n = vm->notice;
	/* its socket closed: the port may be another socket's already */
	dead = vm->dead || colo_vm_owner_gone(vm);
	spin_unlock_bh(&vm->lock);

	if (!dead) {
		int err = -ENOTCONN;

		mutex_lock(&colo_ctl_mutex);
		if (colo_ctl)
			err = colo_ctl->checkpoint_needed(vm->net, &n);
		mutex_unlock(&colo_ctl_mutex);
		if (err) {
			/* let the next request of this epoch try again */
			spin_lock_bh(&vm->lock);
			if (vm->notified_epoch == n.epoch)
				vm->notified_epoch = 0;
			spin_unlock_bh(&vm->lock);
			net_warn_ratelimited("VM %u: checkpoint request not delivered: %d\n",
					     n.vm_id, err);
		}
	}
	colo_vm_put(vm);
}

void colo_vm_request_checkpoint(struct colo_vm *vm, enum colo_reason reason,
				struct colo_conn *conn, bool has_seq, u32 seq)
{
	unsigned long flags;
	bool queued = false;
	u32 epoch;

	if (READ_ONCE(vm->state) == COLO_STATE_FAILOVER)
		return;

	/* irqsave: cheap, and keeps callers in any context safe */
	spin_lock_irqsave(&vm->lock, flags);
	epoch = READ_ONCE(vm->epoch);
	if (vm->dead || vm->notified_epoch == epoch)
		goto unlock;
	vm->notified_epoch = epoch;
	memset(&vm->notice, 0, sizeof(vm->notice));
	vm->notice.vm_id = vm->id;
	vm->notice.portid = vm->portid;
	vm->notice.reason = reason;
	vm->notice.epoch = epoch;
	if (conn) {
		vm->notice.has_conn = true;
		vm->notice.tuple = conn->ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
		vm->notice.has_seq = has_seq;
		vm->notice.seq = has_seq ? seq : 0;
	}
	colo_vm_hold(vm);
	queued = queue_work(system_wq, &vm->notify_work);
	if (!queued)	/* already queued: it holds its own reference */
		refcount_dec(&vm->ref);
unlock:
	spin_unlock_irqrestore(&vm->lock, flags);
	if (queued)
		colo_vm_stat_inc(vm, COLO_STAT_NOTIFIES);
}
EXPORT_SYMBOL_GPL(colo_vm_request_checkpoint);

int colo_register_ctl(const struct colo_ctl_ops *ops)
{
	int ret = 0;

	mutex_lock(&colo_ctl_mutex);
	if (colo_ctl)
		ret = -EBUSY;
	else
		colo_ctl = ops;
	mutex_unlock(&colo_ctl_mutex);
	return ret;
}
EXPORT_SYMBOL_GPL(colo_register_ctl);

void colo_unregister_ctl(const struct colo_ctl_ops *ops)
{
	/* after this no checkpoint_needed call is in flight */
	mutex_lock(&colo_ctl_mutex);
	if (colo_ctl == ops)
		colo_ctl = NULL;
	mutex_unlock(&colo_ctl_mutex);
}
EXPORT_SYMBOL_GPL(colo_unregister_ctl);

/* --- modes ------------------------------------------------------------------- */

/*
 * A VM whose mode could not be attached fails closed: the target drops its
 * packets (COLO_STAT_DROPPED_UNVERIFIABLE) and refuses new rules for it;
 * PROXY_INIT reports the error (see colo_vm_create()).
 */
static int colo_vm_attach(struct colo_vm *vm, const struct colo_vm_ops *ops)
{
	int err;

	lockdep_assert_held(&colo_mutex);
	err = ops->vm_init ? ops->vm_init(vm) : 0;
	if (err) {
		pr_warn("VM %u: cannot attach mode %u: %d; its packets are dropped\n",
			vm->id, vm->mode, err);
		return err;
	}
	spin_lock_bh(&vm->lock);
	WRITE_ONCE(vm->ops, ops);
	spin_unlock_bh(&vm->lock);
	return 0;
}

/* colo_mutex held, no data path of the mode can find the VM any more. */
static void colo_vm_detach(struct colo_vm *vm)
{
	const struct colo_vm_ops *ops = vm->ops;

	lockdep_assert_held(&colo_mutex);
	if (ops) {
		spin_lock_bh(&vm->lock);
		WRITE_ONCE(vm->ops, NULL);	/* no new conns */
		spin_unlock_bh(&vm->lock);
		if (ops->vm_destroy)
			ops->vm_destroy(vm);
		WRITE_ONCE(vm->priv, NULL);
	}
	colo_vm_unlink_conns(vm, NULL);
}

int colo_register_mode_ops(const struct colo_vm_ops *ops)
{
	struct colo_vm *vm;

	if (ops->mode != COLO_MODE_PRIMARY && ops->mode != COLO_MODE_SECONDARY)
		return -EINVAL;

	mutex_lock(&colo_mutex);
	if (colo_modes[ops->mode]) {
		mutex_unlock(&colo_mutex);
		return -EBUSY;
	}
	colo_modes[ops->mode] = ops;
	list_for_each_entry(vm, &colo_all_vms, all_node)
		if (vm->mode == ops->mode && !vm->dead && !vm->ops)
			colo_vm_attach(vm, ops);
	mutex_unlock(&colo_mutex);
	return 0;
}
EXPORT_SYMBOL_GPL(colo_register_mode_ops);

void colo_unregister_mode_ops(const struct colo_vm_ops *ops)
{
	atomic_t *count = &colo_mode_conns[ops->mode];
	struct colo_vm *vm;

	mutex_lock(&colo_mutex);
	if (colo_modes[ops->mode] != ops) {
		mutex_unlock(&colo_mutex);
		return;
	}
	colo_modes[ops->mode] = NULL;
	list_for_each_entry(vm, &colo_all_vms, all_node)
		if (vm->ops == ops)
			colo_vm_detach(vm);
	mutex_unlock(&colo_mutex);

	/* conn_destroy is the caller's code: wait for the last conn */
	while (!wait_var_event_timeout(count, !atomic_read(count), 10 * HZ))
		pr_warn("mode %u: waiting for %d conns to be released\n",
			ops->mode, atomic_read(count));
}
EXPORT_SYMBOL_GPL(colo_unregister_mode_ops);

/* --- VM create / commands / teardown ------------------------------------------ */

static struct colo_vm *colo_vm_lookup_locked(struct net *net, u32 id)
{
	struct colo_vm *vm;

	lockdep_assert_held(&colo_mutex);
	hlist_for_each_entry(vm, colo_vm_bucket(net, id), reg_node)
		if (vm->id == id && !vm->dead)
			return vm;
	return NULL;
}

static void colo_vm_set_params(struct colo_vm *vm, const struct colo_vm_params *p)
{
	WRITE_ONCE(vm->hold_timeout_ms, p->hold_timeout_ms);
	WRITE_ONCE(vm->queue_limit, p->queue_limit);
	WRITE_ONCE(vm->mem_limit_kb, p->mem_limit_kb);
	WRITE_ONCE(vm->conn_limit, p->conn_limit);
}

struct colo_vm *colo_vm_create(struct net *net, u32 id, u8 mode, u32 portid,
			       struct sock *owner,
			       const struct colo_vm_params *p,
			       struct netlink_ext_ack *extack)
{
	const struct colo_vm_ops *ops;
	struct colo_vm *vm;

	if (mode != COLO_MODE_PRIMARY && mode != COLO_MODE_SECONDARY) {
		NL_SET_ERR_MSG(extack, "invalid mode");
		return ERR_PTR(-EINVAL);
	}

	mutex_lock(&colo_mutex);
	vm = colo_vm_lookup_locked(net, id);
	if (vm) {
		if (vm->portid != portid || vm->owner != owner) {
			NL_SET_ERR_MSG(extack, "VM id is bound to another socket");
			vm = ERR_PTR(-EEXIST);
		} else if (vm->mode != mode) {
			NL_SET_ERR_MSG(extack, "VM id exists with another mode");
			vm = ERR_PTR(-EINVAL);
		} else if (!vm->ops && colo_modes[mode] &&
			   colo_vm_attach(vm, colo_modes[mode])) {
			/* a re-init retries a failed attach */
			NL_SET_ERR_MSG(extack, "cannot attach the VM's mode (see dmesg)");
			vm = ERR_PTR(-ENOMEM);
		} else {
			colo_vm_set_params(vm, p);
			colo_vm_hold(vm);
		}
		goto out;
	}

	vm = kzalloc(sizeof(*vm), GFP_KERNEL);
	if (!vm) {
		vm = ERR_PTR(-ENOMEM);
		goto out;
	}
	vm->stats = alloc_percpu(struct colo_vm_stats);
	if (!vm->stats) {
		kfree(vm);
		vm = ERR_PTR(-ENOMEM);
		goto out;
	}
	vm->net = net;
	vm->id = id;
	vm->mode = mode;
	vm->state = COLO_STATE_RUNNING;
	vm->portid = portid;
	vm->epoch = 1;
	colo_vm_set_params(vm, p);
	refcount_set(&vm->ref, 2);	/* the registry's and the caller's */
	spin_lock_init(&vm->lock);
	INIT_LIST_HEAD(&vm->conns);
	INIT_LIST_HEAD(&vm->walkers);
	INIT_WORK(&vm->notify_work, colo_notify_work_fn);

	ops = colo_modes[mode];
	if (ops && colo_vm_attach(vm, ops)) {
		NL_SET_ERR_MSG(extack, "cannot attach the VM's mode (see dmesg)");
		free_percpu(vm->stats);
		kfree(vm);
		vm = ERR_PTR(-ENOMEM);
		goto out;
	}

	sock_hold(owner);
	vm->owner = owner;
	list_add_tail(&vm->all_node, &colo_all_vms);
	hlist_add_head_rcu(&vm->reg_node, colo_vm_bucket(net, id));
	pr_debug("VM %u created (mode %u, port %u)\n", id, mode, portid);
out:
	mutex_unlock(&colo_mutex);
	return vm;
}
EXPORT_SYMBOL_GPL(colo_vm_create);

int colo_vm_cmd(struct colo_vm *vm, enum colo_vm_cmd cmd, u32 portid,
		struct sock *owner, u64 stop_ns, u32 *epoch, struct netlink_ext_ack *extack)
{
	const struct colo_vm_ops *ops;
	int ret = 0;
	u32 e;

	mutex_lock(&colo_mutex);
	if (vm->dead) {
		NL_SET_ERR_MSG(extack, "unknown VM id");
		ret = -ENOENT;
		goto out;
	}
	if (vm->portid != portid || vm->owner != owner) {
		NL_SET_ERR_MSG(extack, "VM is bound to another netlink socket");
		ret = -EPERM;
		goto out;
	}
	ops = vm->ops;
	*epoch = vm->epoch;

	switch (cmd) {
	case COLO_VM_CMD_CHECKPOINT_BEGIN:
		if (vm->state == COLO_STATE_CHECKPOINT) {
			NL_SET_ERR_MSG(extack, "a checkpoint is already in progress");
			ret = -EINVAL;
			break;
		}
		if (vm->state == COLO_STATE_FAILOVER) {
			NL_SET_ERR_MSG(extack, "VM has failed over");
			ret = -EINVAL;
			break;
		}
		e = vm->epoch;
		vm->cut_stop_ns = stop_ns;
		WRITE_ONCE(vm->cut_epoch, e);
		WRITE_ONCE(vm->epoch, e + 1 ? e + 1 : 1);
		WRITE_ONCE(vm->state, COLO_STATE_CHECKPOINT);
		*epoch = e;
		if (ops && ops->checkpoint_begin)
			ops->checkpoint_begin(vm);
		break;
	case COLO_VM_CMD_CHECKPOINT_DONE:
		if (vm->state != COLO_STATE_CHECKPOINT) {
			NL_SET_ERR_MSG(extack, "no checkpoint pending (send CHECKPOINT_BEGIN first)");
			ret = -EINVAL;
			break;
		}
		*epoch = vm->cut_epoch;
		if (ops && ops->checkpoint_done)
			ops->checkpoint_done(vm, vm->cut_epoch);
		WRITE_ONCE(vm->state, COLO_STATE_RUNNING);
		colo_vm_stat_inc(vm, COLO_STAT_CHECKPOINTS);
		break;
	case COLO_VM_CMD_FAILOVER:
		if (vm->state == COLO_STATE_FAILOVER)
			break;
		WRITE_ONCE(vm->state, COLO_STATE_FAILOVER);
		if (ops && ops->failover)
			ops->failover(vm);
		break;
	case COLO_VM_CMD_RESET:
		if (ops && ops->reset)
			ops->reset(vm);
		colo_vm_unlink_conns(vm, NULL);
		e = vm->epoch;
		WRITE_ONCE(vm->cut_epoch, e);
		WRITE_ONCE(vm->epoch, e + 1 ? e + 1 : 1);
		spin_lock_bh(&vm->lock);
		vm->notified_epoch = 0;
		spin_unlock_bh(&vm->lock);
		WRITE_ONCE(vm->state, COLO_STATE_RUNNING);
		*epoch = vm->epoch;
		break;
	default:
		NL_SET_ERR_MSG(extack, "unknown command");
		ret = -EOPNOTSUPP;
	}
out:
	mutex_unlock(&colo_mutex);
	return ret;
}
EXPORT_SYMBOL_GPL(colo_vm_cmd);

/* Teardown steps 1 (this) and 2 (the caller's synchronize_rcu()). */
static void colo_vm_unpublish(struct colo_vm *vm)
{
	lockdep_assert_held(&colo_mutex);
	spin_lock_bh(&vm->lock);
	WRITE_ONCE(vm->dead, true);	/* no new conns or notices */
	spin_unlock_bh(&vm->lock);
	hlist_del_rcu(&vm->reg_node);
}

/* Teardown steps 3 to 5. */
static void colo_vm_finish(struct colo_vm *vm)
{
	lockdep_assert_held(&colo_mutex);
	colo_vm_detach(vm);
	if (cancel_work_sync(&vm->notify_work))
		colo_vm_put(vm);
	list_del(&vm->all_node);
	pr_debug("VM %u destroyed\n", vm->id);
	colo_vm_put(vm);
}

/* Tear down every VM on @list (linked by all_node), in one grace period. */
static void colo_vm_destroy_list(struct list_head *list)
{
	struct colo_vm *vm, *tmp;

	lockdep_assert_held(&colo_mutex);
	if (list_empty(list))
		return;
	list_for_each_entry(vm, list, all_node)
		colo_vm_unpublish(vm);
	synchronize_rcu();
	list_for_each_entry_safe(vm, tmp, list, all_node)
		colo_vm_finish(vm);
}

void colo_vm_destroy(struct colo_vm *vm)
{
	LIST_HEAD(list);

	mutex_lock(&colo_mutex);
	if (!vm->dead) {
		list_move(&vm->all_node, &list);
		colo_vm_destroy_list(&list);
	}
	mutex_unlock(&colo_mutex);
}
EXPORT_SYMBOL_GPL(colo_vm_destroy);

static int colo_vm_destroy_matching(const struct net *net, bool any_port,
				    u32 portid)
{
	struct colo_vm *vm, *tmp;
	LIST_HEAD(list);
	int n = 0;

	mutex_lock(&colo_mutex);
	list_for_each_entry_safe(vm, tmp, &colo_all_vms, all_node) {
		if (vm->dead || (net && !net_eq(vm->net, net)) ||
		    (!any_port && (vm->portid != portid ||
				   !colo_vm_owner_gone(vm))))
			continue;
		list_move_tail(&vm->all_node, &list);
		n++;
	}
	colo_vm_destroy_list(&list);
	mutex_unlock(&colo_mutex);
	return n;
}

int colo_vm_destroy_portid(struct net *net, u32 portid)
{
	return colo_vm_destroy_matching(net, false, portid);
}
EXPORT_SYMBOL_GPL(colo_vm_destroy_portid);

void colo_vm_destroy_all(void)
{
	colo_vm_destroy_matching(NULL, true, 0);
}
EXPORT_SYMBOL_GPL(colo_vm_destroy_all);

/* --- netns and module ------------------------------------------------------------ */

static int __net_init colo_net_init(struct net *net)
{
	struct colo_net *cn = colo_pernet(net);
	int i;

	for (i = 0; i < ARRAY_SIZE(cn->vms); i++)
		INIT_HLIST_HEAD(&cn->vms[i]);
	return 0;
}

/*
 * Runs before nf_conntrack's own netns exit (we registered later), so the
 * conntrack references we drop here let conntrack's cleanup finish.
 */
static void __net_exit colo_net_exit(struct net *net)
{
	colo_vm_destroy_matching(net, true, 0);
}

static struct pernet_operations colo_net_ops = {
	.init	= colo_net_init,
	.exit	= colo_net_exit,
	.id	= &colo_net_id,
	.size	= sizeof(struct colo_net),
};

static int __init nf_conntrack_colo_init(void)
{
	int ret, i;

	for (i = 0; i < ARRAY_SIZE(colo_mode_conns); i++)
		atomic_set(&colo_mode_conns[i], 0);

	ret = rhashtable_init(&colo_conn_ht, &colo_conn_params);
	if (ret < 0)
		return ret;

	ret = register_pernet_subsys(&colo_net_ops);
	if (ret < 0) {
		pr_err("failed to register pernet ops\n");
		goto err_ht;
	}

	queue_delayed_work(system_power_efficient_wq, &colo_gc_work,
			   COLO_GC_INTERVAL);
	return 0;

err_ht:
	rhashtable_destroy(&colo_conn_ht);
	return ret;
}

static void __exit nf_conntrack_colo_exit(void)
{
	cancel_delayed_work_sync(&colo_gc_work);
	unregister_pernet_subsys(&colo_net_ops);	/* tears down every VM */
	colo_vm_destroy_all();				/* nothing left, normally */
	WARN_ON_ONCE(!list_empty(&colo_all_vms));
	rcu_barrier();	/* colo_vm_free_rcu() and kfree_rcu() of conns */
	rhashtable_destroy(&colo_conn_ht);
}

module_init(nf_conntrack_colo_init);
module_exit(nf_conntrack_colo_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("COLO proxy: core (VM registry, per-connection state)");

/*
 * The compare engine is built into this module; the file exports its own
 * symbols under __KERNEL__.
 */
#if __has_include("lib/colo_compare.c")
#include "lib/colo_compare.c"
#endif

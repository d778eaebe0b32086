/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nf_conntrack_colo.h - internal API of the colo-proxy core (nf_conntrack_colo.ko)
 *
 * Used by nfnetlink_colo.ko (control plane), xt_PMYCOLO.ko and xt_SECCOLO.ko
 * (the two modes). Nothing here is ABI; the netlink ABI is
 * include/uapi/linux/colo_genl.h.
 *
 * Objects
 * =======
 *
 * struct colo_vm    one protected VM (PROXY_INIT .. socket close), per netns,
 *                   found by its id (the targets' --index).
 * struct colo_conn  per-connection state of one VM, keyed by the conntrack
 *                   (struct nf_conn pointer); holds a conntrack reference and
 *                   a VM reference; carries ops->conn_priv_size bytes of
 *                   mode-private data in conn->priv[].
 * struct colo_vm_ops  one per mode (PRIMARY: xt_PMYCOLO, SECONDARY: xt_SECCOLO),
 *                   registered at module init. The core calls them for the
 *                   control commands and for VM/conn teardown.
 *
 * Locking (outermost first)
 * =========================
 *
 * colo_mutex (core-private, process context): serialises VM create/destroy,
 *   every control command, mode ops (un)registration and the GC sweep. Every
 *   colo_vm_ops callback except conn_init/conn_destroy/fill_conn is called
 *   with it held: they may sleep, but must not call back into
 *   colo_vm_create/colo_vm_cmd/colo_vm_destroy/colo_(un)register_mode_ops.
 * conn->lock (spinlock, free for the mode's use; take it with spin_lock_bh
 *   in process context). It may be held while calling colo_vm_stat_*(),
 *   colo_vm_request_checkpoint(), colo_conn_get/put/unlink(): the core's own
 *   locks nest inside it.
 * vm->lock (spinlock, core-private, BH-safe): vm->conns list, pending notice.
 *   The core never calls into a mode while holding it.
 *
 * RCU: the per-netns VM registry and the conn hash are read under RCU.
 *   colo_vm_find_rcu()/colo_conn_find_rcu() need rcu_read_lock() (netfilter
 *   hooks and rx handlers already run under it); the result is only valid
 *   until rcu_read_unlock() unless a reference is taken (colo_vm_hold(),
 *   colo_conn_get()).
 *
 * Lifetime
 * ========
 *
 * VM: the registry holds one reference from PROXY_INIT until teardown
 *   (NETLINK_URELEASE of the bound socket, netns exit, module exit). Teardown
 *   (colo_vm_destroy) in this order:
 *     1. vm->dead = true, unlinked from the registry (no new lookups find it);
 *     2. synchronize_rcu(): every data-path section that found the VM by id
 *        has finished;
 *     3. ops->vm_destroy(vm) (process context, colo_mutex held): the mode
 *        stops its timers/work, drops held PVM packets (output commit: never
 *        released, counted in COLO_STAT_DROPPED), frees SVM packets and
 *        vm->priv, and must hold no conn references afterwards;
 *     4. every conn of the VM is unlinked (see below; conn_destroy runs for
 *        each when its last reference goes);
 *     5. the registry reference is dropped; the memory goes after an RCU grace
 *        period when the last reference is put.
 *   A VM can outlive teardown only through references (colo_vm_hold/get);
 *   holders must check READ_ONCE(vm->dead) and do nothing for a dead VM.
 *   Rules never hold a VM: targets look the VM up by id per packet, so rules
 *   naming a torn-down id drop every packet (PMYCOLO fails closed) until a
 *   new PROXY_INIT (checkentry refuses an id that is not registered, of the
 *   wrong mode, or whose mode is not attached).
 *
 * Mode attach: a VM is created even if the module of its mode is not loaded
 *   yet (QEMU sends PROXY_INIT before it installs the rules that autoload the
 *   target). ops->vm_init runs at PROXY_INIT if the mode is registered, else
 *   when colo_register_mode_ops() is called; vm->ops is non-NULL only after a
 *   successful vm_init. A vm_init that fails at PROXY_INIT fails the command
 *   (the VM is not created; an existing VM is left as it was, its re-init
 *   retries the attach); at colo_register_mode_ops() it is logged and the VM
 *   stays detached. colo_unregister_mode_ops() (target module exit, after
 *   its rules, hooks and rx handlers are gone) runs vm_destroy for every VM
 *   of that mode, unlinks their conns, waits for all conns of the mode to be
 *   freed and leaves the VMs registered but detached (vm->ops == NULL).
 *   The data path reads READ_ONCE(vm->priv) and must treat NULL as "not
 *   attached": fail closed (PMYCOLO drops the packet, counted in
 *   COLO_STAT_DROPPED_UNVERIFIABLE); checkentry refuses a rule for a VM
 *   whose mode is not attached.
 *
 * Conn: the hash holds one reference while the conn is linked. A conn is
 *   unlinked (colo_conn_unlink) when its conntrack dies or is unreferenced and
 *   unconfirmed (GC, delayed work every COLO_GC_INTERVAL), on RESET, and at VM
 *   teardown. The last colo_conn_put() calls ops->conn_destroy (any context:
 *   may run in softirq, must not sleep, no core lock held), then drops the
 *   conntrack and VM references; the memory is freed after an RCU grace
 *   period. Module exit of the core leaves no conntrack references behind.
 *
 * Epochs: vm->epoch is the epoch packets held now belong to (starts at 1).
 *   CHECKPOINT_BEGIN sets vm->cut_epoch = vm->epoch, vm->cut_stop_ns (the
 *   guest's stop time from COLO_A_STOP_TIME, CLOCK_REALTIME ns, 0 if none),
 *   increments vm->epoch, enters COLO_STATE_CHECKPOINT and then calls
 *   ops->checkpoint_begin (primary: PVM packets held after cut_stop_ns move
 *   to the new epoch, SVM packets queued so far are dropped as stale; SVM
 *   packets arriving while the state is CHECKPOINT are dropped, since they may
 *   belong to either SVM state). The data path reads vm->epoch and vm->state
 *   under conn->lock; the sweeps take every conn->lock after the writes, so a
 *   packet is either seen by the sweep or sees the new values. CHECKPOINT_DONE
 *   calls
 *   ops->checkpoint_done(vm, cut_epoch) (primary: release held packets of
 *   epochs <= cut_epoch) and returns to COLO_STATE_RUNNING. Read vm->epoch and
 *   vm->state with READ_ONCE on the data path.
 */
#ifndef _NF_CONNTRACK_COLO_H
#define _NF_CONNTRACK_COLO_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/rhashtable-types.h>
#include <linux/percpu.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/netlink.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/sock.h>
#include <uapi/linux/colo_genl.h>

struct colo_vm;
struct colo_conn;

#define COLO_GC_INTERVAL	HZ	/* GC sweep period */

struct colo_vm_ops {
	struct module	*owner;
	u8		mode;		/* COLO_MODE_PRIMARY or COLO_MODE_SECONDARY */
	size_t		conn_priv_size;	/* bytes of conn->priv[], zeroed at creation */

	/* Attach the mode to a VM: allocate vm->priv (publish with WRITE_ONCE
	 * after it is fully initialised). Process context, colo_mutex held. */
	int	(*vm_init)(struct colo_vm *vm);
	/* Teardown step 3 above, or detach at colo_unregister_mode_ops(). */
	void	(*vm_destroy)(struct colo_vm *vm);
	/* CHECKPOINT_BEGIN: called after the epoch was cut (vm->cut_epoch). */
	void	(*checkpoint_begin)(struct colo_vm *vm);
	/* CHECKPOINT_DONE of the epoch @cut_epoch. */
	void	(*checkpoint_done)(struct colo_vm *vm, u32 cut_epoch);
	/* FAILOVER: called after vm->state became COLO_STATE_FAILOVER. The mode
	 * must keep each connection's output in order across the switch (the
	 * primary queues new packets behind held ones until they are out). */
	void	(*failover)(struct colo_vm *vm);
	/* RESET: drop held packets, forget per-connection state. The core
	 * unlinks every conn of the VM right after this returns. */
	void	(*reset)(struct colo_vm *vm);

	/* New conn, before it becomes visible: atomic context, may fail. */
	int	(*conn_init)(struct colo_conn *conn);
	/* Last reference gone: free what conn->priv points to. Any context. */
	void	(*conn_destroy)(struct colo_conn *conn);
	/* COLO_CMD_GET with COLO_F_CONNS: add mode attributes (COLO_CONN_A_HELD,
	 * _SVM_QUEUED, _MATCHED_SEQ, _OFFSET) to @msg, inside the COLO_A_CONN nest
	 * already opened by the caller (which added the tuple). Process context,
	 * no core lock held, conn referenced. Return -EMSGSIZE if it does not fit. */
	int	(*fill_conn)(struct colo_conn *conn, struct sk_buff *msg);
	/* COLO_STAT_MEM_BYTES: bytes charged to the VM's memory budget now.
	 * Optional. Process context, colo_mutex held (vm->priv is stable). */
	u64	(*mem_bytes)(struct colo_vm *vm);
};

/* Snapshot of a checkpoint request handed to the control plane. */
struct colo_notice {
	u32			vm_id;
	u32			portid;		/* VM's bound port when queued */
	u32			reason;		/* enum colo_reason */
	u32			epoch;
	u32			seq;
	bool			has_seq;
	bool			has_conn;
	struct nf_conntrack_tuple tuple;	/* original direction */
};

/* Per-cpu counters, indexed by enum colo_stat. Gauges (HELD) may go negative
 * on one cpu; only the sum is meaningful. */
struct colo_vm_stats {
	u64	v[__COLO_STAT_MAX];
};

struct colo_vm {
	/* constant after creation */
	struct net		*net;		/* not referenced: VMs die before their netns */
	u32			id;
	u8			mode;		/* enum colo_mode */
	/* The socket that bound the VM (referenced, identity and SOCK_DEAD
	 * only): a port id is free for the next socket as soon as its socket
	 * closes, before NETLINK_URELEASE tears its VMs down, so the port
	 * alone does not tell who may command the VM. */
	struct sock		*owner;

	/* colo_mutex for writes; READ_ONCE on the data path */
	u8			state;		/* enum colo_state */
	bool			dead;		/* torn down, unlinked from the registry */
	u32			portid;		/* bound netlink port (info->snd_portid) */
	u32			epoch;		/* epoch of packets held now, from 1 */
	u32			cut_epoch;	/* last epoch cut by CHECKPOINT_BEGIN */
	u64			cut_stop_ns;	/* guest stop time of that BEGIN, 0 = none */
	u32			hold_timeout_ms; /* 0 = never */
	u32			queue_limit;	/* held packets per VM, 0 = unlimited */
	u32			mem_limit_kb;	/* memory budget (COLO_A_MEM_LIMIT) */
	u32			conn_limit;	/* most conns at once (vm->lock) */
	const struct colo_vm_ops *ops;		/* NULL until the mode is attached */
	void			*priv;		/* mode-owned, see colo_vm_ops */

	struct colo_vm_stats __percpu *stats;

	/* core-private below */
	refcount_t		ref;
	spinlock_t		lock;		/* conns, nr_conns, notice */
	struct list_head	conns;		/* struct colo_conn.vm_node */
	struct list_head	walkers;	/* colo_vm_for_each_conn() in progress */
	unsigned int		nr_conns;
	u32			notified_epoch;	/* epoch of the last CHECKPOINT_NEEDED */
	struct work_struct	notify_work;	/* holds a VM ref while queued */
	struct colo_notice	notice;		/* pending notice, under lock */
	struct hlist_node	reg_node;	/* per-netns registry, RCU */
	struct list_head	all_node;	/* all VMs, under colo_mutex */
	struct rcu_head		rcu;
};

struct colo_conn {
	/* constant while the conn lives */
	struct nf_conn		*ct;		/* referenced */
	struct colo_vm		*vm;		/* referenced */
	const struct colo_vm_ops *ops;		/* the mode that created it */

	spinlock_t		lock;		/* for the mode, see Locking */

	/* core-private */
	refcount_t		ref;
	bool			linked;		/* in the hash and on vm->conns (vm->lock) */
	struct rhash_head	hnode;
	struct list_head	vm_node;
	struct rcu_head		rcu;

	/* mode-private, ops->conn_priv_size bytes */
	u8			priv[] __aligned(8);
};

/* --- mode registration (target modules) ----------------------------------- */

int colo_register_mode_ops(const struct colo_vm_ops *ops);
void colo_unregister_mode_ops(const struct colo_vm_ops *ops);

/* --- VM lookup (data path and targets' checkentry) ------------------------- */

/* Under rcu_read_lock(); NULL if no live VM has that id in @net. */
struct colo_vm *colo_vm_find_rcu(struct net *net, u32 id);
/* Referenced; NULL if none. Any context. */
struct colo_vm *colo_vm_get(struct net *net, u32 id);

static inline void colo_vm_hold(struct colo_vm *vm)
{
	refcount_inc(&vm->ref);
}

void colo_vm_put(struct colo_vm *vm);

/* --- per-VM counters (any context) ----------------------------------------- */

static inline void colo_vm_stat_add(struct colo_vm *vm, enum colo_stat s, s64 n)
{
	this_cpu_add(vm->stats->v[s], (u64)n);
}

static inline void colo_vm_stat_inc(struct colo_vm *vm, enum colo_stat s)
{
	colo_vm_stat_add(vm, s, 1);
}

/* Sum of all cpus; COLO_STAT_CONNS is filled from vm->nr_conns. */
void colo_vm_stats_read(struct colo_vm *vm, u64 out[__COLO_STAT_MAX]);

/* --- per-connection state ----------------------------------------------------- */

/*
 * Find or create the conn of @ct for @vm; referenced, NULL on failure: no
 * memory, @vm dead or not attached to a mode, @ct of another netns, or @ct
 * already tracked by another VM. Any context (softirq: GFP_ATOMIC). Takes its
 * own conntrack reference. @ct may be confirmed or not.
 */
struct colo_conn *colo_conn_get(struct colo_vm *vm, struct nf_conn *ct, gfp_t gfp);

/* Under rcu_read_lock(): the linked conn of @ct, not referenced, or NULL. */
struct colo_conn *colo_conn_find_rcu(const struct nf_conn *ct);

/* Referenced lookup of the linked conn of @ct, or NULL. Any context. */
struct colo_conn *colo_conn_find(const struct nf_conn *ct);

static inline void colo_conn_hold(struct colo_conn *conn)
{
	refcount_inc(&conn->ref);
}

void colo_conn_put(struct colo_conn *conn);

/* Unlink from the hash and the VM (drops the hash's reference); idempotent. */
void colo_conn_unlink(struct colo_conn *conn);

/* Still linked (a hint: it may be unlinked right after). Any context. */
static inline bool colo_conn_is_linked(const struct colo_conn *conn)
{
	return READ_ONCE(conn->linked);
}

static inline void *colo_conn_priv(struct colo_conn *conn)
{
	return conn->priv;
}

/*
 * Call @fn for every conn linked to @vm when the walk starts (and for those
 * linked during the walk before it reaches the end of the list), each
 * referenced for the duration of the call, without core locks held (process
 * context, may sleep if @fn may). No allocation, so it cannot fail: the walk
 * parks on the current conn, and a conn unlinked meanwhile hands the walk on
 * to its successor (vm->walkers). Conns are visited in the order they were
 * linked. A non-zero return of @fn stops the walk and is returned.
 */
int colo_vm_for_each_conn(struct colo_vm *vm,
			  int (*fn)(struct colo_conn *conn, void *data),
			  void *data);

/* --- checkpoint requests ------------------------------------------------------- */

/*
 * Ask the control plane for a checkpoint. Any context (softirq included):
 * sends nothing itself, a work item does. At most one request per epoch per
 * VM; ignored for a dead VM or one in COLO_STATE_FAILOVER. @conn may be NULL;
 * @seq is reported only if @conn is given and @has_seq.
 * Counts COLO_STAT_NOTIFIES when a notice is queued.
 */
void colo_vm_request_checkpoint(struct colo_vm *vm, enum colo_reason reason,
				struct colo_conn *conn, bool has_seq, u32 seq);

/* --- control plane (nfnetlink_colo.ko) ------------------------------------------ */

struct colo_ctl_ops {
	/*
	 * Send CHECKPOINT_NEEDED. Process context (work item), no core lock.
	 * Return 0 if the bound port got it; on an error the next request of
	 * the same epoch is sent again (a full socket must not lose it).
	 */
	int	(*checkpoint_needed)(struct net *net, const struct colo_notice *n);
};

int colo_register_ctl(const struct colo_ctl_ops *ops);	/* -EBUSY if taken */
void colo_unregister_ctl(const struct colo_ctl_ops *ops);

struct colo_vm_params {
	u32	hold_timeout_ms;
	u32	queue_limit;
	u32	mem_limit_kb;
	u32	conn_limit;
};

/*
 * PROXY_INIT. Returns the VM referenced (the caller puts it). An existing VM
 * with the same id: -EEXIST if it is bound to another port, -EINVAL if it is
 * bound to @portid with another mode, else its parameters are updated
 * (idempotent re-init). -ENOMEM (with extack) if the mode is loaded and its
 * vm_init failed: nothing is created (or, for a re-init, the VM stays
 * detached and its data path keeps failing closed).
 */
struct colo_vm *colo_vm_create(struct net *net, u32 id, u8 mode, u32 portid,
			       struct sock *owner,
			       const struct colo_vm_params *p,
			       struct netlink_ext_ack *extack);

enum colo_vm_cmd {
	COLO_VM_CMD_CHECKPOINT_BEGIN,
	COLO_VM_CMD_CHECKPOINT_DONE,
	COLO_VM_CMD_FAILOVER,
	COLO_VM_CMD_RESET,
};

/*
 * Run one control command on a referenced VM (process context). -ENOENT if
 * the VM was torn down meanwhile, -EPERM if @portid is not the bound port,
 * -EINVAL with extack for a command not valid in the current state.
 * @stop_ns: BEGIN only, the guest's stop time (CLOCK_REALTIME ns, validated
 * by the caller), 0 if unknown. *@epoch receives the epoch to report (cut
 * epoch for BEGIN/DONE).
 */
int colo_vm_cmd(struct colo_vm *vm, enum colo_vm_cmd cmd, u32 portid,
		struct sock *owner,
		u64 stop_ns, u32 *epoch, struct netlink_ext_ack *extack);

/* Tear down one VM (see Lifetime). Process context. */
void colo_vm_destroy(struct colo_vm *vm);

/* The socket that bound @vm is closed: it is being torn down. */
static inline bool colo_vm_owner_gone(const struct colo_vm *vm)
{
	return sock_flag(vm->owner, SOCK_DEAD);
}

/* Tear down every VM of @net bound to @portid by a socket that is closed
 * (NETLINK_URELEASE; not those a new socket on the same port bound since);
 * returns how many. */
int colo_vm_destroy_portid(struct net *net, u32 portid);

/* Tear down every VM of every netns (control plane module exit). */
void colo_vm_destroy_all(void);

#endif /* _NF_CONNTRACK_COLO_H */

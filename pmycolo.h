/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pmycolo.h - private to xt_PMYCOLO.ko: the types shared by its files
 *
 *   xt_PMYCOLO.c       the target, checkentry, mode ops, module init/exit
 *   pmycolo_queue.c    held packets, queues, re-injection, sweeps, hold timer
 *   pmycolo_tcp.c      TCP: SYN/RST, byte streams, ACK gate, SACK clamp
 *   pmycolo_svm.c      SVM intake: sanitise, defrag, conntrack lookup
 *   pmycolo_ahead.c    SVM frames the conntrack hash cannot place yet
 *   pmycolo_fwd.c      forward NICs: rx handler, netdevice notifier
 *
 * Locking: conn->lock (from the core) protects everything in struct pmy_conn;
 * see xt_PMYCOLO.c for the rest.
 */
#ifndef _PMYCOLO_H
#define _PMYCOLO_H

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kref.h>
#include <linux/skbuff.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/slab.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/tcp.h>
#include <net/sock.h>
#include <net/netlink.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_zones.h>
#include <net/netfilter/ipv6/nf_defrag_ipv6.h>
#include <uapi/linux/netfilter/xt_COLO.h>
#include "colo_compare.h"
#include "nf_conntrack_colo.h"

/* Private reassembly queue id for SVM fragments ("COLO"): far outside the
 * kernel's defrag user ranges, so PVM and SVM fragments never mix. */
#define PMY_DEFRAG_USER		0x434f4c4fU

/* TCP options of a SYN kept for its comparison (at most 40 bytes). */
#define PMY_SYN_OPT_MAX		40

/* Source addresses of a VM's PVM remembered for the SVM-ahead path. */
#define PMY_VM_ADDRS		8

/* SVM packets queued per connection when the VM has no queue limit. */
#define PMY_SVM_QUEUE_MAX	8192U

/* Above queue_limit we keep holding (and ask for a checkpoint); above this
 * many times the limit new PVM packets are dropped and counted. */
#define PMY_HARD_CAP_FACTOR	4U

enum pmy_kind {
	PMY_K_STREAM,	/* TCP payload and/or FIN: in conn->st */
	PMY_K_SYN,	/* TCP SYN/SYN-ACK: on pc->pvm_syn */
	PMY_K_RST,	/* TCP RST: on pc->pvm_rst */
	PMY_K_DGRAM,	/* everything else: on pc->pvm_dgram / pc->svm_dgram */
	PMY_K_GATED,	/* TCP, compared, waiting for the SVM's ACK: pc->pvm_gated */
	PMY_K_CKPT,	/* TCP, never released by comparison: pc->pvm_ckpt */
	PMY_K_HELD,	/* arrived during a failover before its conn drained:
			 * on pc->pvm_all only, released by the drain */
};

/* What the parser found in a packet; offsets are from skb->data. */
struct pmy_info {
	u32	thoff;		/* transport header */
	u32	payoff;		/* first compared byte */
	u32	len;		/* compared bytes */
	u32	seq;		/* TCP only */
	u32	ack;		/* TCP only, valid with TCPHDR_ACK */
	u8	proto;
	u8	tcpflags;	/* TCP only */
};

/*
 * One held PVM packet or one queued SVM packet. Never in skb->cb: br_netfilter
 * owns that while the PVM's packet sits between its hooks.
 */
struct pmy_pkt {
	struct list_head	all;	/* pc->pvm_all / pc->svm_all; then a local list */
	struct list_head	q;	/* kind queue (not for PMY_K_STREAM) */
	struct colo_seg		seg;	/* compare engine segment (payload view) */
	struct sk_buff		*skb;
	unsigned long		stamp;	/* jiffies when queued */
	u64			tstamp;	/* PVM: CLOCK_REALTIME ns when held (epoch cut) */
	u32			epoch;	/* PVM: vm->epoch when held, or moved by BEGIN */
	u32			ack_before;	/* PVM: pc->pvm_ack before this packet */
	u32			next_before;	/* PVM: pc->pvm_next before this packet */
	bool			ack_before_valid;
	bool			next_before_valid;
	u32			payoff;
	u32			thoff;	/* transport header */
	u32			ack;	/* TCP: acknowledgement number */
	u32			seq;	/* TCP: sequence number */
	u8			kind;	/* enum pmy_kind */
	u8			proto;
	u8			tcpflags;
	/* bytes charged to mem_pvm->mem (pmy_pkt_charge), 0 = none; the
	 * packet's conn holds mem_pvm until the packet is freed */
	u32			charge;
	struct pmy_vm		*mem_pvm;
	/* PVM only: how to continue the packet's journey (refs held) */
	struct nf_hook_state	state;
};

struct pmy_vm {
	struct kref		ref;	/* VM + one per conn */
	struct colo_vm		*vm;	/* not referenced: valid while !dead */
	struct list_head	node;	/* pmy_vms, under pmy_vms_mutex */
	struct delayed_work	timer;	/* hold timeout */
	atomic_t		held;	/* PVM packets held in this VM */
	/* the VM's memory budget (vm->mem_limit_kb): what its held PVM and
	 * queued SVM packets occupy, skb truesize plus struct pmy_pkt */
	atomic_long_t		mem;
	u32			timeout_epoch;	/* last epoch a hold timeout was counted */
	bool			failover;	/* failover started: conns drain in order */
	bool			failover_swept;	/* every conn drained once: the rest drain
						 * on their next packet */
	bool			failover_all;	/* nothing held anywhere: pass straight */
	/* The guest's own addresses, learnt from the PVM's output (first packet
	 * of each conn): an SVM frame may only start a conn (SVM ahead) from
	 * one of them. Under addr_lock (BH). */
	spinlock_t		addr_lock;
	unsigned int		nr_addrs;
	struct {
		u8			family;
		union nf_inet_addr	a;
	} addrs[PMY_VM_ADDRS];
	/* pmycolo_ahead.c: unconfirmed conns, orphan SVM frames; under
	 * pend_lock (BH; conn->lock nests inside it) */
	spinlock_t		pend_lock;
	struct list_head	unconf;		/* struct pmy_conn.unconf_node */
	struct list_head	orphans;	/* struct pmy_orphan.node */
	unsigned int		nr_unconf;
	unsigned int		nr_orphans;
	unsigned int		orphan_bytes;	/* their truesize */
	bool			dead;		/* vm_destroy ran */
};

/* Mode-private part of struct colo_conn (conn->priv), under conn->lock. */
struct pmy_conn {
	struct colo_conn	*conn;	/* the conn this is the priv of */
	struct pmy_vm		*pvm;	/* referenced */
	/* on pvm->unconf (pend_lock, not conn->lock; pmycolo_ahead.c) */
	struct list_head	unconf_node;
	bool			unconf;		/* listed once: stays set */
	struct colo_stream	st;	/* TCP: the guest's output direction */
	struct list_head	pvm_all;	/* held PVM packets, arrival order */
	struct list_head	svm_all;	/* queued SVM packets, arrival order */
	struct list_head	pvm_syn;	/* SYNs waiting for the SYN exchange */
	struct list_head	pvm_rst;
	struct list_head	pvm_dgram;
	struct list_head	svm_dgram;
	struct list_head	pvm_gated;	/* compared, ACK ahead of the SVM's */
	struct list_head	pvm_ckpt;	/* held until a checkpoint (URG...) */
	struct list_head	svm_syn;	/* SVM SYNs not compared yet */
	struct list_head	svm_rst;	/* SVM RSTs not matched yet */
	u32			pvm_held;
	u32			svm_queued;	/* on svm_all (SYN, RST, stream) */
	u32			isn;		/* PVM's first SYN's seq */
	u32			isn_epoch;	/* epoch of that SYN */
	u32			pvm_next;	/* one past the PVM's highest seq */
	u32			pvm_next_epoch;	/* epoch of the last packet seen */
	u32			pvm_next_old;	/* pvm_next before that epoch */
	u32			svm_ack;	/* highest ACK the SVM sent */
	u32			pvm_ack;	/* highest ACK the PVM sent */
	u32			rel_end;	/* one past the stream released so far */
	bool			rel_end_valid;
	/* The PVM's first SYN (or SYN-ACK) header, for the SYN comparison */
	u32			syn_ack;
	u32			syn_len;	/* its payload bytes */
	u8			syn_flags;
	u8			syn_optlen;
	u8			syn_opt[PMY_SYN_OPT_MAX];	/* TSval zeroed */
	u8			dir;		/* conntrack direction of PVM output */
	bool			dir_valid;
	bool			syn_seen;	/* syn_* above are valid */
	bool			isn_valid;
	bool			svm_ack_valid;
	bool			pvm_ack_valid;
	bool			pvm_next_valid;
	bool			pvm_next_old_valid;
	bool			syn_done;	/* SYN exchange compared (or released) */
	bool			mismatched;	/* waiting for a checkpoint */
	bool			dead;		/* reset/teardown: take nothing more */
	/* queue side (pmycolo_queue.c, xt_PMYCOLO.c) */
	bool			pvm_seen;	/* a PVM packet was held (else SVM-made) */
	bool			failed_over;	/* drained by failover: pass straight */
	bool			cut_open;	/* between a BEGIN's sweep and its DONE */
	bool			cut_ack_valid;	/* the PVM had acked at the cut */
	u32			cut_ack;	/* PVM's ACK as of the last BEGIN's cut */
	/*
	 * jiffies (| 1) since the PVM has acknowledged more than the SVM and
	 * the SVM's ACK has not moved; 0 while it has not. The ACK gate shows
	 * the client only the SVM's ACK, so an SVM that stops acknowledging
	 * stalls the client with nothing held: the hold timer ages this like
	 * a held packet (pmy_ack_track, pmy_conn_age).
	 */
	unsigned long		ack_behind;
};

/* Work collected under conn->lock, carried out after it is dropped. */
struct pmy_ctx {
	struct list_head	rel;		/* PVM packets to re-inject */
	struct list_head	free;		/* SVM packets done (consumed) */
	struct list_head	drop;		/* packets to drop */
	struct pmy_pkt		*self;		/* the packet the target is holding */
	bool			self_released;
	u32			released;	/* PVM packets leaving the queue */
	u32			dropped;	/* PVM packets dropped */
	u32			svm_dropped;
	u32			svm_stale;	/* SVM packets of a closed epoch */
	u32			matched_bytes;
	u32			mismatches;
	enum colo_reason	reason;		/* checkpoint to request, if any */
	bool			has_seq;
	u32			seq;
};

/* A forward NIC: one per (netns, name), shared by the rules naming it. */
struct pmy_fwd {
	struct list_head	node;		/* pmy_fwds, pmy_fwd_mutex */
	struct net		*net;		/* identity only; rules keep it alive */
	char			name[IFNAMSIZ];
	unsigned int		refs;		/* rules */
	u32			vm_id;		/* last rule's --index (drop counters) */
	struct net_device	*dev;		/* attached to; RTNL + pmy_fwd_mutex */
	struct rcu_head		rcu;
};

struct pmy_sweep {
	u32			cut_epoch;
	u32			epoch;		/* BEGIN: the new epoch */
	u64			stop_ns;	/* BEGIN: guest stop time, 0 = none */
	struct net_device	*dev;
};

extern struct kmem_cache *pmy_pkt_cache;
extern struct list_head pmy_vms;
extern struct mutex pmy_vms_mutex;

/* xt_PMYCOLO.c */
extern const struct colo_vm_ops pmy_ops;
bool pmy_untracked_ok(const struct sk_buff *skb, u8 family,
		      const struct pmy_info *pi);

/* pmycolo_queue.c */
extern const struct colo_seg_ops pmy_seg_ops;
int pmy_parse(const struct sk_buff *skb, u8 family, struct pmy_info *pi);
struct pmy_pkt *pmy_pkt_alloc(struct sk_buff *skb,
			      const struct pmy_info *pi);
bool pmy_pkt_save_state(struct pmy_pkt *p, const struct nf_hook_state *state);
void pmy_pvm_pkt_free(struct pmy_pkt *p);
bool pmy_pkt_charge(struct colo_vm *vm, struct pmy_vm *pvm, struct pmy_pkt *p);
void pmy_ctx_init(struct pmy_ctx *ctx);
void pmy_mismatch(struct pmy_conn *pc, struct pmy_ctx *ctx,
		  bool has_seq, u32 seq);
void pmy_dgram_match(struct pmy_conn *pc, struct pmy_ctx *ctx);
void pmy_timer_arm(struct colo_vm *vm, struct pmy_vm *pvm);
void pmy_ctx_finish(struct colo_conn *conn, struct pmy_ctx *ctx,
		    enum colo_stat released_as);
int pmy_conn_ckpt_begin(struct colo_conn *conn, void *data);
int pmy_conn_ckpt_done(struct colo_conn *conn, void *data);
void pmy_failover_drain(struct pmy_conn *pc, struct pmy_ctx *ctx);
bool pmy_vm_addr(struct pmy_vm *pvm, const struct sk_buff *skb, u8 family,
		 bool learn);
int pmy_conn_failover(struct colo_conn *conn, void *data);
void pmy_conn_flush(struct colo_conn *conn, struct net_device *dev,
		    bool kill);
int pmy_conn_kill(struct colo_conn *conn, void *data);
int pmy_conn_flush_dev(struct colo_conn *conn, void *data);
void pmy_timer_fn(struct work_struct *work);

/* pmycolo_tcp.c */
bool pmy_sack_clamp(struct sk_buff *skb, unsigned int thoff, u32 svm_ack);
void pmy_release(struct pmy_conn *pc, struct pmy_pkt *p,
		 struct pmy_ctx *ctx);
void pmy_svm_acked(struct pmy_conn *pc, u32 ack, struct pmy_ctx *ctx);
void pmy_ack_track(struct pmy_conn *pc, bool svm_moved);
void pmy_tcp_try_rst(struct pmy_conn *pc, struct pmy_ctx *ctx);
void pmy_tcp_result(struct pmy_conn *pc, enum colo_cmp_result res,
		    struct pmy_ctx *ctx);
void pmy_pvm_tcp(struct pmy_conn *pc, struct pmy_pkt *p,
		 const struct pmy_info *pi, struct pmy_ctx *ctx);
void pmy_svm_tcp(struct pmy_conn *pc, struct pmy_pkt *p,
		 const struct pmy_info *pi, struct pmy_ctx *ctx);
bool pmy_pure_ack_ok(struct colo_conn *conn, const struct pmy_info *pi,
		     u32 *svm_ack);
void pmy_tcp_init(struct pmy_conn *pc);
void pmy_tcp_released(struct pmy_conn *pc, const struct pmy_pkt *p);
bool pmy_tcp_opts_plain_skb(const struct sk_buff *skb, u32 thoff, u32 payoff);
bool pmy_tcp_svm_history(const struct pmy_conn *pc, const struct pmy_pkt *p);
void pmy_tcp_checkpoint_done(struct pmy_conn *pc, u32 cut_epoch,
			     struct pmy_ctx *ctx);

/* pmycolo_svm.c */
void pmy_svm_drop(struct net *net, u32 vm_id, struct sk_buff *skb,
		  const char *why);
void pmy_svm_rcv(struct pmy_fwd *fwd, struct sk_buff *skb);
void pmy_svm_take(struct colo_conn *conn, struct sk_buff *skb,
		   const struct pmy_info *pi, u32 epoch, struct pmy_ctx *ctx);
struct nf_conn *pmy_svm_ct(struct net *net,
			   const struct nf_conntrack_tuple *tuple);
bool pmy_conn_take_tentative(struct colo_conn *other,
			     bool (*unless)(struct colo_conn *other, void *arg),
			     void *arg);

/* pmycolo_ahead.c */
void pmy_ahead_init(struct pmy_vm *pvm);
struct colo_conn *pmy_ahead_twin(struct colo_vm *vm, struct pmy_vm *pvm,
				 struct nf_conn *ct);
void pmy_ahead_pvm(struct pmy_vm *pvm, struct colo_conn *conn);
void pmy_ahead_fix_ct(struct colo_conn *conn, struct sk_buff *skb);
struct nf_conn *pmy_ahead_svm(struct colo_vm *vm, struct pmy_vm *pvm,
			      struct sk_buff *skb,
			      const struct nf_conntrack_tuple *t,
			      const struct pmy_info *pi);
bool pmy_ahead_age(struct pmy_vm *pvm, unsigned long now, unsigned long timeout,
		   unsigned long *next, bool *pending);
void pmy_ahead_flush(struct colo_vm *vm, struct pmy_vm *pvm, bool all,
		     enum colo_stat stat);

/* pmycolo_fwd.c */
rx_handler_result_t pmy_fwd_rx(struct sk_buff **pskb);
struct pmy_fwd *pmy_fwd_get(struct net *net, const char *name, u32 vm_id);
void pmy_fwd_put(struct pmy_fwd *fwd);
int pmy_fwd_init(void);
void pmy_fwd_detach_all(void);
void pmy_fwd_exit(void);

#endif /* _PMYCOLO_H */

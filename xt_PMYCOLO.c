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
 * Comparison: TCP as byte streams (include/colo_compare.h); SYN/SYN-ACK by
 * flags (the ISNs differ); RST held until the SVM also sent one; pure ACKs
 * pass at once. The ACK gate, which every TCP segment passes on its way out:
 * a segment never acknowledges client data the SVM has not acknowledged (its
 * ACK number is lowered to the SVM's; held while the SVM has acked nothing).
 * UDP, ICMP, ICMPv6 and other protocols per datagram, FIFO.
 *
 * Locking: conn->lock (from the core) protects everything in struct pmy_conn.
 * Released packets are collected on a local list and re-injected after the
 * lock is dropped. pmy_fwd_mutex nests inside the RTNL; pmy_vms_mutex nests
 * inside the core's colo_mutex. Neither is taken in softirq.
 *
 * Lifetime: struct pmy_vm (vm->priv) is refcounted: one reference for the VM
 * (dropped by vm_destroy) and one per conn (dropped by conn_destroy), so a
 * conn freed late (softirq, after the VM was torn down) can still reach it.
 * br_netfilter must stay loaded while packets are held (okfn points into it).
 */
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
#include <asm/unaligned.h>
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

#define PMY_SYN_MASK		(TCPHDR_SYN | TCPHDR_ACK | TCPHDR_RST | TCPHDR_FIN)
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
	u32			epoch;	/* PVM: vm->epoch when held */
	u32			payoff;
	u32			thoff;	/* transport header */
	u32			ack;	/* TCP: acknowledgement number */
	u8			kind;	/* enum pmy_kind */
	u8			proto;
	u8			tcpflags;
	/* PVM only: how to continue the packet's journey (refs held) */
	struct nf_hook_state	state;
};

struct pmy_vm {
	struct kref		ref;	/* VM + one per conn */
	struct colo_vm		*vm;	/* not referenced: valid while !dead */
	struct list_head	node;	/* pmy_vms, under pmy_vms_mutex */
	struct delayed_work	timer;	/* hold timeout */
	atomic_t		held;	/* PVM packets held in this VM */
	u32			timeout_epoch;	/* last epoch a hold timeout was counted */
	bool			failover;	/* passthrough */
	bool			dead;		/* vm_destroy ran */
};

/* Mode-private part of struct colo_conn (conn->priv), under conn->lock. */
struct pmy_conn {
	struct pmy_vm		*pvm;	/* referenced */
	struct colo_stream	st;	/* TCP: the guest's output direction */
	struct list_head	pvm_all;	/* held PVM packets, arrival order */
	struct list_head	svm_all;	/* queued SVM packets, arrival order */
	struct list_head	pvm_syn;
	struct list_head	pvm_rst;
	struct list_head	pvm_dgram;
	struct list_head	svm_dgram;
	struct list_head	pvm_gated;	/* compared, ACK ahead of the SVM's */
	u32			pvm_held;
	u32			svm_queued;
	u32			isn;		/* PVM's SYN seq */
	u32			pvm_next;	/* one past the PVM's highest seq */
	unsigned long		svm_syn_stamp;
	unsigned long		svm_rst_stamp;
	u32			svm_rst;	/* SVM RSTs not matched yet */
	u32			svm_ack;	/* highest ACK the SVM sent */
	u32			pvm_ack;	/* highest ACK the PVM sent */
	u8			svm_syn;	/* flags of an unmatched SVM SYN, 0 if none */
	bool			isn_valid;
	bool			svm_ack_valid;
	bool			pvm_ack_valid;
	bool			pvm_next_valid;
	bool			syn_done;	/* SYN exchange compared (or released) */
	bool			mismatched;	/* waiting for a checkpoint */
	bool			dead;		/* reset/teardown: take nothing more */
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

static struct kmem_cache *pmy_pkt_cache __read_mostly;

static LIST_HEAD(pmy_vms);
static DEFINE_MUTEX(pmy_vms_mutex);

static LIST_HEAD(pmy_fwds);
static DEFINE_MUTEX(pmy_fwd_mutex);
static void pmy_fwd_work_fn(struct work_struct *work);
static DECLARE_WORK(pmy_fwd_work, pmy_fwd_work_fn);

static const struct colo_vm_ops pmy_ops;

/* ------------------------------------------------------------------------ */
/* packets                                                                   */

static const void *pmy_seg_data(const struct colo_seg *seg, u32 off, u32 len,
				void *scratch)
{
	const struct pmy_pkt *p = container_of(seg, struct pmy_pkt, seg);

	return skb_header_pointer(p->skb, p->payoff + off, len, scratch);
}

static const struct colo_seg_ops pmy_seg_ops = {
	.data	= pmy_seg_data,
};

/* Parse an IPv4/IPv6 packet whose network header is at skb_network_offset().
 * GSO super-packets and non-linear skbs are fine: only skb_header_pointer. */
static int pmy_parse(const struct sk_buff *skb, u8 family, struct pmy_info *pi)
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

static struct pmy_pkt *pmy_pkt_alloc(struct sk_buff *skb,
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

/* Take what re-injection needs, like nf_queue_entry_get_refs(). The bridge's
 * physical in-port is kept as an ifindex by br_netfilter and looked up again
 * by its okfn, so it needs no reference. */
static bool pmy_pkt_save_state(struct pmy_pkt *p, const struct nf_hook_state *state)
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
static void pmy_pvm_pkt_free(struct pmy_pkt *p)
{
	pmy_pkt_put_state(p);
	kmem_cache_free(pmy_pkt_cache, p);
}

static void pmy_svm_pkt_free(struct pmy_pkt *p, bool consumed)
{
	if (consumed)
		consume_skb(p->skb);
	else
		kfree_skb(p->skb);
	kmem_cache_free(pmy_pkt_cache, p);
}

static void pmy_ctx_init(struct pmy_ctx *ctx)
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
static void pmy_reinject(struct list_head *list)
{
	struct pmy_pkt *p, *n;

	if (list_empty(list))
		return;
	local_bh_disable();
	rcu_read_lock();
	list_for_each_entry_safe(p, n, list, all) {
		list_del(&p->all);
		p->state.okfn(p->state.net, p->state.sk, p->skb);
		pmy_pvm_pkt_free(p);
	}
	rcu_read_unlock();
	local_bh_enable();
}

/* ------------------------------------------------------------------------ */
/* per-connection queues (conn->lock held)                                   */

static void pmy_unlink_pvm(struct pmy_conn *pc, struct pmy_pkt *p)
{
	if (p->kind == PMY_K_STREAM)
		colo_stream_remove(&pc->st, &p->seg);
	else
		list_del_init(&p->q);
	list_del_init(&p->all);
	pc->pvm_held--;
}

static void pmy_unlink_svm(struct pmy_conn *pc, struct pmy_pkt *p)
{
	if (p->kind == PMY_K_STREAM)
		colo_stream_remove(&pc->st, &p->seg);
	else
		list_del_init(&p->q);
	list_del_init(&p->all);
	pc->svm_queued--;
}

/* Output commit, no questions asked (checkpoint, failover). */
static void pmy_release_now(struct pmy_conn *pc, struct pmy_pkt *p,
			    struct pmy_ctx *ctx)
{
	pmy_unlink_pvm(pc, p);
	list_add_tail(&p->all, &ctx->rel);
	ctx->released++;
	if (p == ctx->self)
		ctx->self_released = true;
}

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
static bool pmy_sack_clamp(struct sk_buff *skb, unsigned int thoff, u32 svm_ack)
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

static void pmy_release(struct pmy_conn *pc, struct pmy_pkt *p,
			struct pmy_ctx *ctx)
{
	if (p->kind == PMY_K_STREAM)
		colo_stream_remove(&pc->st, &p->seg);
	else
		list_del_init(&p->q);
	pmy_release_gated(pc, p, ctx);
}

/* The SVM acknowledged more: let gated PVM segments go. */
static void pmy_svm_acked(struct pmy_conn *pc, u32 ack, struct pmy_ctx *ctx)
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

static void pmy_svm_done(struct pmy_conn *pc, struct pmy_pkt *p,
			 struct pmy_ctx *ctx)
{
	pmy_unlink_svm(pc, p);
	list_add_tail(&p->all, &ctx->free);
}

static void pmy_mismatch(struct pmy_conn *pc, struct pmy_ctx *ctx,
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

/* Drop every queued SVM packet (checkpoint leftovers, teardown). */
static void pmy_drop_svm_all(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct pmy_pkt *p, *n;

	list_for_each_entry_safe(p, n, &pc->svm_all, all) {
		pmy_unlink_svm(pc, p);
		list_add_tail(&p->all, &ctx->drop);
		ctx->svm_dropped++;
	}
	if (pc->svm_syn || pc->svm_rst)
		ctx->svm_dropped += !!pc->svm_syn + pc->svm_rst;
	pc->svm_syn = 0;
	pc->svm_rst = 0;
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
static void pmy_tcp_try_rst(struct pmy_conn *pc, struct pmy_ctx *ctx)
{
	struct pmy_pkt *p;

	while (pc->svm_rst && !list_empty(&pc->pvm_rst) &&
	       !pc->st.side[COLO_PVM].count) {
		p = list_first_entry(&pc->pvm_rst, struct pmy_pkt, q);
		pmy_release(pc, p, ctx);
		pc->svm_rst--;
	}
}

static void pmy_tcp_result(struct pmy_conn *pc, enum colo_cmp_result res,
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

static void pmy_pvm_tcp(struct pmy_conn *pc, struct pmy_pkt *p,
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

static void pmy_dgram_match(struct pmy_conn *pc, struct pmy_ctx *ctx)
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

static void pmy_svm_tcp(struct pmy_conn *pc, struct pmy_pkt *p,
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

/* ------------------------------------------------------------------------ */
/* after the lock                                                            */

static void pmy_timer_arm(struct colo_vm *vm, struct pmy_vm *pvm)
{
	u32 ms = READ_ONCE(vm->hold_timeout_ms);

	if (ms && !READ_ONCE(pvm->dead) && !READ_ONCE(pvm->failover) &&
	    !delayed_work_pending(&pvm->timer))
		queue_delayed_work(system_wq, &pvm->timer,
				   msecs_to_jiffies(ms));
}

static void pmy_ctx_finish(struct colo_conn *conn, struct pmy_ctx *ctx,
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
	pmy_reinject(&ctx->rel);
}

/* ------------------------------------------------------------------------ */
/* PVM side: the target                                                      */

static unsigned int pmy_pvm_hold(struct colo_vm *vm, struct pmy_vm *pvm,
				 struct colo_conn *conn, struct sk_buff *skb,
				 const struct nf_hook_state *state,
				 const struct pmy_info *pi, bool confirmed)
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

	spin_lock(&conn->lock);
	if (unlikely(pc->dead || READ_ONCE(pvm->dead))) {
		spin_unlock(&conn->lock);
		pmy_pvm_pkt_free(p);
		goto drop;
	}
	if (unlikely(READ_ONCE(pvm->failover))) {
		spin_unlock(&conn->lock);
		pmy_pvm_pkt_free(p);
		colo_vm_stat_inc(vm, COLO_STAT_PASSED);
		return NF_ACCEPT;
	}
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

	p->epoch = READ_ONCE(vm->epoch);
	p->stamp = jiffies;
	list_add_tail(&p->all, &pc->pvm_all);
	pc->pvm_held++;
	held = atomic_inc_return(&pvm->held);
	if (pi->proto == IPPROTO_TCP) {
		pmy_pvm_tcp(pc, p, pi, confirmed, &ctx);
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
		verdict = NF_ACCEPT;
	}
	pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_MATCH);

	if (limit && held > limit) {
		if (held == limit + 1)
			colo_vm_stat_inc(vm, COLO_STAT_QUEUE_FULL);
		colo_vm_request_checkpoint(vm, COLO_REASON_QUEUE_LIMIT, conn,
					   false, 0);
	}
	if (verdict == NF_STOLEN)
		pmy_timer_arm(vm, pvm);
	return verdict;

drop:
	colo_vm_stat_inc(vm, COLO_STAT_DROPPED);
	return NF_DROP;
}

static bool pmy_pure_ack_ok(struct colo_conn *conn, const struct pmy_info *pi,
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

	ct = nf_ct_get(skb, &ctinfo);
	if (!ct)
		return XT_CONTINUE;	/* untracked (neighbour discovery...) */

	/* Hooks run under rcu_read_lock(). */
	vm = colo_vm_find_rcu(xt_net(par), info->index);
	if (!vm || vm->mode != COLO_MODE_PRIMARY)
		return XT_CONTINUE;
	pvm = READ_ONCE(vm->priv);
	if (!pvm)
		return XT_CONTINUE;	/* mode not attached */

	colo_vm_stat_inc(vm, COLO_STAT_PVM_PACKETS);
	if (READ_ONCE(vm->state) == COLO_STATE_FAILOVER) {
		colo_vm_stat_inc(vm, COLO_STAT_PASSED);
		return XT_CONTINUE;
	}
	if (pmy_parse(skb, xt_family(par), &pi)) {
		colo_vm_stat_inc(vm, COLO_STAT_DROPPED);
		net_dbg_ratelimited("vm %u: malformed PVM packet dropped\n",
				    vm->id);
		return NF_DROP;
	}
	conn = colo_conn_get(vm, ct, GFP_ATOMIC);
	if (!conn || conn->ops != &pmy_ops) {
		if (conn)
			colo_conn_put(conn);
		colo_vm_stat_inc(vm, COLO_STAT_DROPPED);
		net_dbg_ratelimited("vm %u: cannot track connection, PVM packet dropped\n",
				    vm->id);
		return NF_DROP;
	}
	/* A pure ACK carries nothing to compare: it goes at once, through
	 * the ACK gate if it acknowledges more than the SVM did. */
	if (pi.proto == IPPROTO_TCP && !pi.len &&
	    !(pi.tcpflags & (TCPHDR_SYN | TCPHDR_FIN | TCPHDR_RST)) &&
	    pmy_pure_ack_ok(conn, &pi, &svm_ack)) {
		colo_conn_put(conn);
		if ((pi.tcpflags & TCPHDR_ACK) &&
		    !pmy_sack_clamp(skb, pi.thoff, svm_ack)) {
			colo_vm_stat_inc(vm, COLO_STAT_DROPPED);
			return NF_DROP;
		}
		return XT_CONTINUE;
	}
	verdict = pmy_pvm_hold(vm, pvm, conn, skb, par->state, &pi,
			       nf_ct_is_confirmed(ct));
	colo_conn_put(conn);
	return verdict;
}

/* ------------------------------------------------------------------------ */
/* SVM side: the forward NIC                                                 */

static void pmy_svm_enqueue(struct colo_conn *conn, struct sk_buff *skb,
			    const struct pmy_info *pi)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct colo_vm *vm = conn->vm;
	struct pmy_vm *pvm = pc->pvm;
	bool svm_only = false;
	struct pmy_ctx ctx;
	struct pmy_pkt *p;
	u32 limit;

	colo_vm_stat_inc(vm, COLO_STAT_SVM_PACKETS);
	p = pmy_pkt_alloc(skb, pi);
	if (!p) {
		colo_vm_stat_inc(vm, COLO_STAT_SVM_DROPPED);
		kfree_skb(skb);
		return;
	}
	/* The NIC may go away while the packet waits; it is never used again. */
	skb->dev = NULL;
	pmy_ctx_init(&ctx);
	limit = READ_ONCE(vm->queue_limit) ?: PMY_SVM_QUEUE_MAX;

	spin_lock(&conn->lock);
	if (pc->dead || READ_ONCE(pvm->dead) || READ_ONCE(pvm->failover)) {
		list_add_tail(&p->all, &ctx.drop);
		ctx.svm_dropped++;
	} else if (pc->svm_queued >= limit) {
		list_add_tail(&p->all, &ctx.drop);
		ctx.svm_dropped++;
		svm_only = true;
	} else if (pi->proto == IPPROTO_TCP) {
		pmy_svm_tcp(pc, p, pi, &ctx);
	} else if (pc->mismatched) {
		list_add_tail(&p->all, &ctx.drop);
		ctx.svm_dropped++;
	} else {
		p->stamp = jiffies;
		list_add_tail(&p->all, &pc->svm_all);
		list_add_tail(&p->q, &pc->svm_dgram);
		pc->svm_queued++;
		pmy_dgram_match(pc, &ctx);
	}
	spin_unlock(&conn->lock);

	if (svm_only && ctx.reason == COLO_REASON_NONE)
		ctx.reason = COLO_REASON_SVM_ONLY;
	pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_MATCH);
	pmy_timer_arm(vm, pvm);
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

/* The PVM's conntrack of an SVM packet, referenced, or NULL. */
static struct nf_conn *pmy_svm_ct(struct net *net, u8 family,
				  const struct sk_buff *skb,
				  const struct pmy_info *pi)
{
	struct nf_conntrack_tuple tuple, inner;
	const struct nf_conntrack_tuple_hash *h;

	if (pmy_icmp_is_error(family, skb, pi)) {
		/* 8 bytes of ICMP(v6) header, then the quoted packet */
		if (!nf_ct_get_tuplepr(skb, pi->thoff + 8, family, net, &inner) ||
		    !nf_ct_invert_tuple(&tuple, &inner))
			return NULL;
	} else if (!nf_ct_get_tuplepr(skb, skb_network_offset(skb), family,
				      net, &tuple)) {
		return NULL;
	}
	h = nf_conntrack_find_get(net, &nf_ct_zone_dflt, &tuple);
	return h ? nf_ct_tuplehash_to_ctrack(h) : NULL;
}

static void pmy_svm_drop(struct net *net, u32 vm_id, struct sk_buff *skb,
			 const char *why)
{
	struct colo_vm *vm = colo_vm_find_rcu(net, vm_id);

	if (vm)
		colo_vm_stat_inc(vm, COLO_STAT_SVM_DROPPED);
	net_dbg_ratelimited("vm %u: SVM packet dropped: %s\n", vm_id, why);
	kfree_skb(skb);
}

static void pmy_svm_rcv(struct pmy_fwd *fwd, struct sk_buff *skb)
{
	u8 family = skb->protocol == htons(ETH_P_IP) ? NFPROTO_IPV4 : NFPROTO_IPV6;
	struct net *net = dev_net(skb->dev);
	u32 vm_id = READ_ONCE(fwd->vm_id);
	struct colo_conn *conn;
	struct pmy_info pi;
	struct colo_vm *vm;
	struct nf_conn *ct;

	skb_reset_network_header(skb);
	skb = pmy_svm_sanitize(net, family, skb);
	if (!skb)
		return;
	if (pmy_parse(skb, family, &pi))
		return pmy_svm_drop(net, vm_id, skb, "malformed");
	ct = pmy_svm_ct(net, family, skb, &pi);
	if (!ct)
		return pmy_svm_drop(net, vm_id, skb, "no PVM connection");

	conn = colo_conn_find(ct);
	if (!conn) {
		/* The SVM is ahead: the PVM has not answered on this
		 * connection yet. Queue for a while (hold timeout). */
		vm = colo_vm_find_rcu(net, vm_id);
		if (vm && vm->mode == COLO_MODE_PRIMARY && READ_ONCE(vm->priv) &&
		    READ_ONCE(vm->state) != COLO_STATE_FAILOVER)
			conn = colo_conn_get(vm, ct, GFP_ATOMIC);
	}
	nf_ct_put(ct);
	if (!conn)
		return pmy_svm_drop(net, vm_id, skb, "connection not tracked");
	if (conn->ops != &pmy_ops || READ_ONCE(conn->vm->dead)) {
		colo_conn_put(conn);
		return pmy_svm_drop(net, vm_id, skb, "connection of another mode");
	}
	pmy_svm_enqueue(conn, skb, &pi);
	colo_conn_put(conn);
}

static rx_handler_result_t pmy_fwd_rx(struct sk_buff **pskb)
{
	struct sk_buff *skb = *pskb;
	struct pmy_fwd *fwd = rcu_dereference(skb->dev->rx_handler_data);

	switch (skb->protocol) {
	case htons(ETH_P_IP):
	case htons(ETH_P_IPV6):
		break;
	case htons(ETH_P_ARP):
		/* The SVM's neighbour traffic never reaches the LAN. */
		pmy_svm_drop(dev_net(skb->dev), READ_ONCE(fwd->vm_id), skb,
			     "ARP");
		return RX_HANDLER_CONSUMED;
	default:
		return RX_HANDLER_PASS;
	}
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (skb)
		pmy_svm_rcv(fwd, skb);
	return RX_HANDLER_CONSUMED;
}

/* Under RTNL and pmy_fwd_mutex. */
static void pmy_fwd_attach(struct pmy_fwd *fwd, struct net_device *dev)
{
	int err;

	err = netdev_rx_handler_register(dev, pmy_fwd_rx, fwd);
	if (err) {
		pr_warn("cannot take frames of %s: %d (a bridge/bond port?)\n",
			dev->name, err);
		return;
	}
	/* SVM frames are addressed to the client's MAC. */
	err = dev_set_promiscuity(dev, 1);
	if (err)
		pr_warn("%s: cannot enable promiscuous mode: %d\n", dev->name, err);
	dev_hold(dev);
	fwd->dev = dev;
}

static void pmy_fwd_detach(struct pmy_fwd *fwd)
{
	struct net_device *dev = fwd->dev;

	if (!dev)
		return;
	netdev_rx_handler_unregister(dev);	/* waits for readers */
	dev_set_promiscuity(dev, -1);
	fwd->dev = NULL;
	dev_put(dev);
}

/* Bring attachments in line with the rules: attach wanted NICs that exist,
 * detach and free unreferenced entries. Under RTNL. */
static void pmy_fwd_sync(void)
{
	struct pmy_fwd *fwd, *n;
	struct net_device *dev;

	ASSERT_RTNL();
	mutex_lock(&pmy_fwd_mutex);
	list_for_each_entry_safe(fwd, n, &pmy_fwds, node) {
		if (!fwd->refs) {
			pmy_fwd_detach(fwd);
			list_del(&fwd->node);
			kfree_rcu(fwd, rcu);
			continue;
		}
		if (fwd->dev)
			continue;
		dev = __dev_get_by_name(fwd->net, fwd->name);
		if (dev && dev->reg_state == NETREG_REGISTERED)
			pmy_fwd_attach(fwd, dev);
	}
	mutex_unlock(&pmy_fwd_mutex);
}

static void pmy_fwd_work_fn(struct work_struct *work)
{
	rtnl_lock();
	pmy_fwd_sync();
	rtnl_unlock();
}

/*
 * One forward NIC serves one VM (-EINVAL otherwise): an SVM packet is tied
 * to its VM by the NIC it arrives on.
 * Called from checkentry, which may run under nf_tables' commit mutex: the
 * RTNL is taken elsewhere before that mutex, so only try it here and leave the
 * attach to a work item if it is busy.
 */
static struct pmy_fwd *pmy_fwd_get(struct net *net, const char *name, u32 vm_id)
{
	struct pmy_fwd *fwd;

	mutex_lock(&pmy_fwd_mutex);
	list_for_each_entry(fwd, &pmy_fwds, node) {
		if (net_eq(fwd->net, net) && !strcmp(fwd->name, name))
			goto found;
	}
	fwd = kzalloc(sizeof(*fwd), GFP_KERNEL);
	if (!fwd) {
		mutex_unlock(&pmy_fwd_mutex);
		return NULL;
	}
	fwd->net = net;
	strscpy(fwd->name, name, sizeof(fwd->name));
	list_add(&fwd->node, &pmy_fwds);
found:
	if (fwd->refs && fwd->vm_id != vm_id) {
		/* SVM packets are tied to a VM by their forward NIC */
		mutex_unlock(&pmy_fwd_mutex);
		pr_info_ratelimited("forward device %s already serves VM %u: one forward NIC per VM\n",
				    name, fwd->vm_id);
		return ERR_PTR(-EINVAL);
	}
	fwd->refs++;
	WRITE_ONCE(fwd->vm_id, vm_id);
	mutex_unlock(&pmy_fwd_mutex);

	if (rtnl_trylock()) {
		pmy_fwd_sync();
		rtnl_unlock();
	} else {
		schedule_work(&pmy_fwd_work);
	}
	return fwd;
}

static void pmy_fwd_put(struct pmy_fwd *fwd)
{
	bool last;

	mutex_lock(&pmy_fwd_mutex);
	last = !--fwd->refs;
	mutex_unlock(&pmy_fwd_mutex);
	if (last)
		schedule_work(&pmy_fwd_work);
}

/* ------------------------------------------------------------------------ */
/* sweeps over the conns of a VM (process context)                           */

struct pmy_sweep {
	u32			cut_epoch;
	struct net_device	*dev;
};

/* CHECKPOINT_DONE: output commit for the cut epoch, then start over. */
static int pmy_conn_ckpt_done(struct colo_conn *conn, void *data)
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
	pmy_drop_svm_all(pc, &ctx);
	pc->mismatched = false;
	/* The SVM now has the PVM's state, acknowledgements included. */
	if (pc->pvm_ack_valid)
		pmy_svm_acked(pc, pc->pvm_ack, &ctx);
	if (pc->st.side[COLO_PVM].head) {
		pmy_tcp_result(pc, colo_stream_resync(&pc->st,
				pc->st.side[COLO_PVM].head->seq), &ctx);
	} else {
		colo_stream_init(&pc->st, &pmy_seg_ops);
		if (pc->pvm_next_valid && (pc->syn_done || !pc->isn_valid))
			colo_stream_resync(&pc->st, pc->pvm_next);
	}
	pmy_tcp_try_rst(pc, &ctx);
	spin_unlock_bh(&conn->lock);

	pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_CHECKPOINT);
	return 0;
}

/* Failover (the secondary died): everything held goes, then pass straight. */
static int pmy_conn_failover(struct colo_conn *conn, void *data)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct pmy_pkt *p, *n;
	struct pmy_ctx ctx;

	pmy_ctx_init(&ctx);
	spin_lock_bh(&conn->lock);
	list_for_each_entry_safe(p, n, &pc->pvm_all, all)
		pmy_release_now(pc, p, &ctx);
	pmy_drop_svm_all(pc, &ctx);
	spin_unlock_bh(&conn->lock);

	pmy_ctx_finish(conn, &ctx, COLO_STAT_PASSED);
	return 0;
}

/* Drop PVM packets (all, or those referencing sw->dev) and, for a full
 * flush, the SVM's too. Output commit: never release on teardown. */
static void pmy_conn_flush(struct colo_conn *conn, struct net_device *dev,
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
		pmy_drop_svm_all(pc, &ctx);
	if (kill)
		pc->dead = true;
	spin_unlock_bh(&conn->lock);

	pmy_ctx_finish(conn, &ctx, COLO_STAT_RELEASED_MATCH);
}

static int pmy_conn_kill(struct colo_conn *conn, void *data)
{
	pmy_conn_flush(conn, NULL, true);
	return 0;
}

static int pmy_conn_flush_dev(struct colo_conn *conn, void *data)
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
	if (!list_empty(&pc->svm_all)) {
		p = list_first_entry(&pc->svm_all, struct pmy_pkt, all);
		pmy_age_one(a, p->stamp, &svm);
	}
	if (pc->svm_syn)
		pmy_age_one(a, pc->svm_syn_stamp, &svm);
	if (pc->svm_rst)
		pmy_age_one(a, pc->svm_rst_stamp, &svm);
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

static void pmy_timer_fn(struct work_struct *work)
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

/* ------------------------------------------------------------------------ */
/* mode ops (process context, colo_mutex held, unless noted)                 */

static void pmy_vm_release(struct kref *ref)
{
	kfree(container_of(ref, struct pmy_vm, ref));
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
	atomic_set(&pvm->held, 0);
	mutex_lock(&pmy_vms_mutex);
	list_add(&pvm->node, &pmy_vms);
	mutex_unlock(&pmy_vms_mutex);
	WRITE_ONCE(vm->priv, pvm);
	return 0;
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
	WRITE_ONCE(vm->priv, NULL);
	kref_put(&pvm->ref, pmy_vm_release);
}

static void pmy_checkpoint_begin(struct colo_vm *vm)
{
	/* The core cut the epoch; packets held from now on wait for the next
	 * checkpoint or their SVM counterpart. */
}

static void pmy_checkpoint_done(struct colo_vm *vm, u32 cut_epoch)
{
	struct pmy_sweep sw = { .cut_epoch = cut_epoch };

	/* COLO_STAT_CHECKPOINTS is counted by the core. */
	colo_vm_for_each_conn(vm, pmy_conn_ckpt_done, &sw);
}

static void pmy_failover(struct colo_vm *vm)
{
	struct pmy_vm *pvm = vm->priv;

	if (!pvm)
		return;
	WRITE_ONCE(pvm->failover, true);
	cancel_delayed_work_sync(&pvm->timer);
	colo_vm_for_each_conn(vm, pmy_conn_failover, NULL);
}

static void pmy_reset(struct colo_vm *vm)
{
	struct pmy_vm *pvm = vm->priv;

	if (!pvm)
		return;
	cancel_delayed_work_sync(&pvm->timer);
	colo_vm_for_each_conn(vm, pmy_conn_kill, NULL);
	WRITE_ONCE(pvm->failover, false);
}

/* Atomic context (data path). */
static int pmy_conn_init(struct colo_conn *conn)
{
	struct pmy_conn *pc = colo_conn_priv(conn);
	struct pmy_vm *pvm = READ_ONCE(conn->vm->priv);

	if (!pvm || READ_ONCE(pvm->dead) || !kref_get_unless_zero(&pvm->ref))
		return -ENODEV;
	pc->pvm = pvm;
	colo_stream_init(&pc->st, &pmy_seg_ops);
	INIT_LIST_HEAD(&pc->pvm_all);
	INIT_LIST_HEAD(&pc->svm_all);
	INIT_LIST_HEAD(&pc->pvm_syn);
	INIT_LIST_HEAD(&pc->pvm_rst);
	INIT_LIST_HEAD(&pc->pvm_dgram);
	INIT_LIST_HEAD(&pc->svm_dgram);
	INIT_LIST_HEAD(&pc->pvm_gated);
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
	queued = pc->svm_queued + !!pc->svm_syn + pc->svm_rst;
	matched = pc->st.matched;
	synced = pc->st.synced;
	spin_unlock_bh(&conn->lock);

	if (nla_put_u32(msg, COLO_CONN_A_HELD, held) ||
	    nla_put_u32(msg, COLO_CONN_A_SVM_QUEUED, queued) ||
	    (synced && nla_put_u32(msg, COLO_CONN_A_MATCHED_SEQ, matched)))
		return -EMSGSIZE;
	return 0;
}

static const struct colo_vm_ops pmy_ops = {
	.owner			= THIS_MODULE,
	.mode			= COLO_MODE_PRIMARY,
	.conn_priv_size		= sizeof(struct pmy_conn),
	.vm_init		= pmy_vm_init,
	.vm_destroy		= pmy_vm_destroy,
	.checkpoint_begin	= pmy_checkpoint_begin,
	.checkpoint_done	= pmy_checkpoint_done,
	.failover		= pmy_failover,
	.reset			= pmy_reset,
	.conn_init		= pmy_conn_init,
	.conn_destroy		= pmy_conn_destroy,
	.fill_conn		= pmy_fill_conn,
};

/* ------------------------------------------------------------------------ */
/* devices going away                                                        */

static void pmy_flush_dev(struct net_device *dev)
{
	struct pmy_sweep sw = { .dev = dev };
	struct colo_vm **vms;
	struct pmy_vm *pvm;
	unsigned int n = 0, i;

	/* Snapshot referenced VMs, then walk without our mutex. */
	mutex_lock(&pmy_vms_mutex);
	list_for_each_entry(pvm, &pmy_vms, node)
		n++;
	vms = n ? kcalloc(n, sizeof(*vms), GFP_KERNEL) : NULL;
	i = 0;
	if (vms) {
		list_for_each_entry(pvm, &pmy_vms, node) {
			if (net_eq(pvm->vm->net, dev_net(dev))) {
				colo_vm_hold(pvm->vm);
				vms[i++] = pvm->vm;
			}
		}
	}
	mutex_unlock(&pmy_vms_mutex);
	if (n && !vms)
		pr_err("no memory to flush packets held on %s\n", dev->name);

	while (i--) {
		if (!READ_ONCE(vms[i]->dead))
			colo_vm_for_each_conn(vms[i], pmy_conn_flush_dev, &sw);
		colo_vm_put(vms[i]);
	}
	kfree(vms);
}

static int pmy_netdev_event(struct notifier_block *nb, unsigned long event,
			    void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct pmy_fwd *fwd;

	switch (event) {
	case NETDEV_REGISTER:
	case NETDEV_CHANGENAME:
		mutex_lock(&pmy_fwd_mutex);
		list_for_each_entry(fwd, &pmy_fwds, node) {
			if (fwd->refs && !fwd->dev && net_eq(fwd->net, dev_net(dev)) &&
			    !strcmp(fwd->name, dev->name))
				pmy_fwd_attach(fwd, dev);
		}
		mutex_unlock(&pmy_fwd_mutex);
		break;
	case NETDEV_UNREGISTER:
		mutex_lock(&pmy_fwd_mutex);
		list_for_each_entry(fwd, &pmy_fwds, node) {
			if (fwd->dev == dev)
				pmy_fwd_detach(fwd);
		}
		mutex_unlock(&pmy_fwd_mutex);
		/* Held packets keep references on their devices. */
		pmy_flush_dev(dev);
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block pmy_netdev_nb = {
	.notifier_call	= pmy_netdev_event,
};

/* ------------------------------------------------------------------------ */
/* the target                                                                */

static int pmy_tg_check(const struct xt_tgchk_param *par)
{
	struct xt_colo_primary_info *info = par->targinfo;
	struct net_device *dev;
	struct colo_vm *vm;
	struct pmy_fwd *fwd;
	bool busy = false;
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
	if (vm)
		mode = vm->mode;
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
	ret = register_netdevice_notifier(&pmy_netdev_nb);
	if (ret < 0) {
		pr_err("failed to register netdevice notifier\n");
		goto err_cache;
	}
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
	unregister_netdevice_notifier(&pmy_netdev_nb);
err_cache:
	kmem_cache_destroy(pmy_pkt_cache);
	return ret;
}

static void __exit pmy_exit(void)
{
	xt_unregister_targets(pmy_tg_reg, ARRAY_SIZE(pmy_tg_reg));
	/* No rules left: detach every forward NIC. */
	flush_work(&pmy_fwd_work);
	rtnl_lock();
	pmy_fwd_sync();
	rtnl_unlock();
	/* Drops whatever is still held in every primary VM. */
	colo_unregister_mode_ops(&pmy_ops);
	unregister_netdevice_notifier(&pmy_netdev_nb);
	rcu_barrier();	/* kfree_rcu() of forward NIC entries */
	kmem_cache_destroy(pmy_pkt_cache);
}

module_init(pmy_init);
module_exit(pmy_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Xtables: COLO primary side, compare and release the PVM's output");
MODULE_ALIAS("ipt_PMYCOLO");
MODULE_ALIAS("ip6t_PMYCOLO");

// SPDX-License-Identifier: GPL-2.0-only
/*
 * xt_SECCOLO.c - secondary side of colo-proxy: make the SVM's TCP sequence
 * numbers look like the PVM's until a checkpoint makes the two stacks equal.
 *
 *   iptables -t mangle -A PREROUTING -m physdev --physdev-in <SVM port> \
 *            -j SECCOLO --index <VM id>
 *
 * The rule must match the packets the SVM sends (and only those); the
 * mirrored client/server traffic towards the SVM is seen by our hook.
 *
 * How (stock conntrack SEQADJ, applied by nf_confirm() at POST_ROUTING):
 *
 * - SEQADJ can only be attached while a conntrack is unconfirmed. A hook at
 *   NF_IP_PRI_CONNTRACK + 1, registered in a netns while SECCOLO rules exist
 *   there, attaches the (inert until IPS_SEQ_ADJUST is set) extension to every
 *   new TCP conntrack of the netns, whichever side opened it. Conntracks that
 *   existed before the first rule cannot be adjusted (counted, logged).
 * - The target sees the SVM's first packet of a connection: its SYN (guest
 *   opened) or SYN-ACK (client opened) gives the SVM ISN and the SVM's
 *   direction. Both directions are made liberal (window tracking): the
 *   peer's acknowledgements are in the PVM's sequence space until the offset
 *   is known, and a peer packet conntrack saw before that (the client's
 *   request racing its handshake ACK on another CPU, or after the mirror
 *   lost that ACK) is out of window: passed, its data not counted, so the
 *   SVM's ACK of it is "over the upper bound". Window-checked, every SVM
 *   packet of the connection would then be INVALID, leave without conntrack
 *   and so untranslated, and never match on the primary
 *   (tests/vm/seccolo-lost-ack.sh). The SVM's output is compared on the
 *   primary, not trusted here.
 * - The hook learns the PVM ISN from the peer: guest opened: the server's
 *   SYN-ACK (it answers the PVM's SYN: ack - 1); client opened: the client's
 *   ACK completing the handshake (ack - 1). Only that packet is used: a later
 *   one may already acknowledge PVM data (known bug 23 of the 2015 proxy), so
 *   a SYN-ACK is required for guest-opened connections, and for client-opened
 *   ones the first ACK-only-or-data packet after the SVM's SYN-ACK is used
 *   (the server side cannot send data before the handshake completes, so its
 *   ack is ISN + 1 unless the mirror lost the ACK; a wrong offset shows as a
 *   mismatch on the primary and is cured by the checkpoint that follows).
 *   nf_ct_seqadj_init(svm_dir, PVM - SVM): the SVM's seq (and conntrack's
 *   view of it) is moved into PVM space, the peer's acks and SACK blocks
 *   towards the SVM back into SVM space, by stock code.
 * - Timestamps (guest-opened connections): the peer echoes the PVM's TSval.
 *   An SVM that stamped its SYN later than the PVM (it is behind) would drop
 *   the server's SYN-ACK (PAWS: TSecr before its SYN) and reset, so the hook
 *   moves the TSecr of the peer's packets towards the SVM by SVM - PVM,
 *   learnt from the same packet as the PVM ISN (its TSecr) and the SVM's
 *   first packet (its TSval). Not on client-opened connections: there it
 *   made bulk transfers stall (make bench; cause not found yet). Unlike
 *   the sequence offset (SEQADJ, in the conntrack) it lives in our conn: after
 *   a failover, once QEMU's socket closes and the VM is torn down, TSecr is no
 *   longer moved (RTT samples of the promoted SVM are off by the offset until
 *   the connection ends; one still in SYN-SENT would be reset).
 * - Checkpoint done: the SVM now runs the PVM's TCP state, so new SVM output
 *   is already in PVM space. seqadj's correction_pos can only split one
 *   sequence space, not two unrelated ones, so the offsets of the SVM
 *   direction are reset to 0 (and IPS_SEQ_ADJUST cleared if nothing else
 *   uses the extension) and both directions are made liberal: conntrack's
 *   window state of the SVM direction is still in the old space. Segments
 *   the SVM sent before the checkpoint and that are still in flight are no
 *   longer translated; the primary drops SVM leftovers at CHECKPOINT_DONE.
 *   Connections stay SYNCED (never learnt again); new ones are learnt.
 * - Failover: existing connections keep their offsets (and finish learning);
 *   no new connections are tracked. Offsets live in the conntrack, so they
 *   survive the VM's teardown when QEMU closes its socket after failover.
 *
 * - An SVM TCP packet conntrack left without a conntrack (INVALID, NOTRACK)
 *   on a connection we translate would leave untranslated: dropped, counted
 *   in svm_dropped (seccolo_untracked()).
 *
 * Verdicts: XT_CONTINUE from the target but for that drop, NF_ACCEPT from
 * the hook, always.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/mutex.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/netfilter/x_tables.h>
#include <net/ipv6.h>
#include <net/netns/generic.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_zones.h>
#include <net/netfilter/nf_conntrack_seqadj.h>
#include <uapi/linux/netfilter/xt_COLO.h>

#include "nf_conntrack_colo.h"

enum seccolo_state {
	SECCOLO_NEW,		/* conn created, SVM's first packet not seen */
	SECCOLO_LEARN_PVM,	/* SVM ISN known, waiting for the peer's ack */
	SECCOLO_ADJUSTING,	/* offset installed */
	SECCOLO_SYNCED,		/* after a checkpoint: same space, offset 0 */
	SECCOLO_NOADJ,		/* cannot adjust (no SEQADJ, no SYN seen) */
};

/* conn->priv, under conn->lock */
struct seccolo_conn {
	u8	state;		/* enum seccolo_state */
	u8	svm_dir;	/* enum ip_conntrack_dir of the SVM's packets */
	bool	guest_opened;
	u32	svm_isn;
	u32	pvm_isn;
	s32	offset;		/* PVM - SVM */
	/* TCP timestamps: the peer echoes the PVM's TSval; the SVM's may be
	 * later (it is behind), and an SVM in SYN-SENT drops a SYN-ACK whose
	 * TSecr is before its SYN (PAWS) and resets. So the TSecr of what the
	 * peer sends the SVM is moved by ts_off (SVM - PVM) until a checkpoint
	 * (then the SVM runs the PVM's clock). */
	u32	svm_tsval;	/* of the SVM's first packet (SYN or SYN-ACK) */
	s32	ts_off;
	bool	svm_ts;		/* svm_tsval is valid */
	bool	ts_adjust;	/* ts_off applies */
};

/*
 * vm->priv. The hook reaches it through a conn found under RCU (conn->vm),
 * which the core's teardown only unlinks after vm_destroy: readers use
 * READ_ONCE(vm->priv) inside their RCU section and the memory is freed after
 * a grace period.
 */
struct seccolo_vm {
	atomic_t	no_seqadj;	/* conns we could not adjust */
	struct rcu_head	rcu;
};

/* Hook users per netns and family, under seccolo_mutex. */
struct seccolo_net {
	unsigned int	users[2];	/* [0] IPv4, [1] IPv6 */
};

static unsigned int seccolo_net_id __read_mostly;
static DEFINE_MUTEX(seccolo_mutex);

static const struct colo_vm_ops seccolo_ops;

static bool seccolo_is_ours(const struct colo_conn *conn)
{
	return conn->ops == &seccolo_ops;
}

/* Conntrack's window tracking of @dir stops rejecting (ct->lock held). */
static void seccolo_set_liberal(struct nf_conn *ct, enum ip_conntrack_dir dir)
{
	ct->proto.tcp.seen[dir].flags |= IP_CT_TCP_FLAG_BE_LIBERAL;
}

/*
 * Both directions liberal (see top). Conntrack overwrites a direction's flags
 * when it resyncs on a SYN-ACK answering a SYN it had ignored (a
 * retransmitted SYN), so every SYN of a translated connection sets them
 * again. Caller holds conn->lock; takes ct->lock (conntrack changes the flags
 * under it).
 */
static void seccolo_keep_liberal(const struct seccolo_conn *sc,
				 struct nf_conn *ct)
{
	if (sc->state == SECCOLO_NEW || sc->state == SECCOLO_NOADJ)
		return;
	spin_lock_bh(&ct->lock);
	seccolo_set_liberal(ct, IP_CT_DIR_ORIGINAL);
	seccolo_set_liberal(ct, IP_CT_DIR_REPLY);
	spin_unlock_bh(&ct->lock);
}

static const struct tcphdr *seccolo_tcph(const struct sk_buff *skb, u8 family,
					 struct tcphdr *buf, unsigned int *thoffp)
{
	unsigned int thoff;

	if (family == NFPROTO_IPV4) {
		const struct iphdr *iph = ip_hdr(skb);

		if (iph->protocol != IPPROTO_TCP || ip_is_fragment(iph))
			return NULL;
		thoff = skb_network_offset(skb) + ip_hdrlen(skb);
	} else {
		__be16 frag_off;
		u8 nexthdr = ipv6_hdr(skb)->nexthdr;
		int off;

		off = ipv6_skip_exthdr(skb, skb_network_offset(skb) +
				       sizeof(struct ipv6hdr), &nexthdr, &frag_off);
		if (off < 0 || nexthdr != IPPROTO_TCP || (frag_off & htons(~0x7)))
			return NULL;
		thoff = off;
	}
	*thoffp = thoff;
	return skb_header_pointer(skb, thoff, sizeof(*buf), buf);
}

/* Offset in @skb of the TSval of @th's timestamp option (TSecr follows), or
 * 0 if it has none. */
static unsigned int seccolo_ts_at(const struct sk_buff *skb, unsigned int thoff,
				  const struct tcphdr *th)
{
	unsigned int len = th->doff * 4, i = 0;
	u8 buf[MAX_TCP_OPTION_SPACE];
	const u8 *opt;

	if (len <= sizeof(*th))
		return 0;
	len -= sizeof(*th);
	opt = skb_header_pointer(skb, thoff + sizeof(*th), len, buf);
	if (!opt)
		return 0;
	while (i < len && opt[i] != TCPOPT_EOL) {
		if (opt[i] == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len)
			return 0;
		if (opt[i] == TCPOPT_TIMESTAMP && opt[i + 1] == TCPOLEN_TIMESTAMP)
			return thoff + sizeof(*th) + i + 2;
		i += opt[i + 1];
	}
	return 0;
}

/* TSval (@which 0) or TSecr (1) of @th; false if it has no timestamps. */
static bool seccolo_ts_get(const struct sk_buff *skb, unsigned int thoff,
			   const struct tcphdr *th, int which, u32 *v)
{
	unsigned int at = seccolo_ts_at(skb, thoff, th);
	__be32 _b;
	const __be32 *b;

	if (!at)
		return false;
	b = skb_header_pointer(skb, at + 4 * which, sizeof(_b), &_b);
	if (!b)
		return false;
	*v = ntohl(*b);
	return true;
}

/* Move the TSecr of a packet towards the SVM by @delta (checksum kept). */
static void seccolo_ts_move(struct sk_buff *skb, unsigned int thoff,
			    const struct tcphdr *th, s32 delta)
{
	unsigned int at = seccolo_ts_at(skb, thoff, th);
	__be32 old, new;

	if (!at || skb_ensure_writable(skb, at + 8))
		return;
	memcpy(&old, skb->data + at + 4, sizeof(old));
	if (!old)	/* nothing echoed */
		return;
	new = htonl(ntohl(old) + delta);
	memcpy(skb->data + at + 4, &new, sizeof(new));
	inet_proto_csum_replace4(&((struct tcphdr *)(skb->data + thoff))->check,
				 skb, old, new, false);
}

/* --- the peer's side: attach SEQADJ, learn the PVM ISN ------------------- */

/*
 * A packet of the peer (@dir): learn the PVM ISN (and the timestamp offset)
 * from the one that tells. Returns how much to move its TSecr by.
 */
static s32 seccolo_learn_pvm(struct colo_conn *conn, struct nf_conn *ct,
			     enum ip_conntrack_dir dir,
			     const struct sk_buff *skb, unsigned int thoff,
			     const struct tcphdr *th)
{
	struct seccolo_conn *sc = colo_conn_priv(conn);
	struct colo_vm *vm = conn->vm;
	s32 ts = 0;
	u32 tsecr;
	s32 off;

	spin_lock_bh(&conn->lock);
	if (sc->state != SECCOLO_LEARN_PVM || dir == sc->svm_dir ||
	    !th->ack || th->rst)
		goto unlock;
	/* guest opened: only the server's SYN-ACK; client opened: no SYN */
	if (sc->guest_opened != !!th->syn)
		goto unlock;

	sc->pvm_isn = ntohl(th->ack_seq) - 1;
	off = (s32)(sc->pvm_isn - sc->svm_isn);
	if (!nfct_seqadj(ct)) {
		struct seccolo_vm *sv = READ_ONCE(vm->priv);

		sc->state = SECCOLO_NOADJ;
		if (sv)
			atomic_inc(&sv->no_seqadj);
		net_info_ratelimited("VM %u: connection predates the SECCOLO rules, its sequence numbers cannot be adjusted\n",
				     vm->id);
		goto unlock;
	}
	/* takes ct->lock itself in 6.1.y stable (not in 5.10): never hold it here */
	nf_ct_seqadj_init(ct, sc->svm_dir == IP_CT_DIR_ORIGINAL ?
			  IP_CT_ESTABLISHED : IP_CT_ESTABLISHED_REPLY, off);
	sc->offset = off;
	sc->state = SECCOLO_ADJUSTING;
	colo_vm_stat_inc(vm, COLO_STAT_SEQ_ADJUSTED);
	/* It echoes the TSval of the PVM's SYN. Guest-opened connections
	 * only: there PAWS in SYN-SENT needs it; on client-opened ones the
	 * rewrite made bulk transfers stall in make bench (cause open). */
	if (sc->guest_opened && sc->svm_ts &&
	    seccolo_ts_get(skb, thoff, th, 1, &tsecr) && tsecr) {
		sc->ts_off = (s32)(sc->svm_tsval - tsecr);
		sc->ts_adjust = sc->ts_off != 0;
	}
unlock:
	if (dir != sc->svm_dir && sc->ts_adjust)
		ts = sc->ts_off;
	spin_unlock_bh(&conn->lock);
	return ts;
}

static unsigned int seccolo_hook(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	enum ip_conntrack_info ctinfo;
	const struct tcphdr *th;
	struct colo_conn *conn;
	unsigned int thoff;
	struct tcphdr _th;
	struct nf_conn *ct;
	s32 ts;

	ct = nf_ct_get(skb, &ctinfo);
	if (!ct || nf_ct_is_template(ct) || nf_ct_protonum(ct) != IPPROTO_TCP ||
	    ctinfo == IP_CT_RELATED || ctinfo == IP_CT_RELATED_REPLY)
		return NF_ACCEPT;

	if (!nf_ct_is_confirmed(ct)) {
		/* first packet of a connection: the only time SEQADJ can be added */
		if (!nfct_seqadj(ct) && !nfct_seqadj_ext_add(ct))
			net_dbg_ratelimited("SECCOLO: no memory for SEQADJ\n");
		return NF_ACCEPT;
	}

	/* under rcu_read_lock() (hook) */
	conn = colo_conn_find_rcu(ct);
	if (!conn || !seccolo_is_ours(conn))
		return NF_ACCEPT;
	th = seccolo_tcph(skb, state->pf, &_th, &thoff);
	if (!th)
		return NF_ACCEPT;
	if (th->syn) {
		struct seccolo_conn *sc = colo_conn_priv(conn);

		spin_lock_bh(&conn->lock);
		seccolo_keep_liberal(sc, ct);
		spin_unlock_bh(&conn->lock);
	}
	ts = seccolo_learn_pvm(conn, ct, CTINFO2DIR(ctinfo), skb, thoff, th);
	if (ts)
		seccolo_ts_move(skb, thoff, th, ts);
	return NF_ACCEPT;
}

static const struct nf_hook_ops seccolo_hook_ops[2] = {
	{
		.hook		= seccolo_hook,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP_PRI_CONNTRACK + 1,
	},
	{
		.hook		= seccolo_hook,
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP6_PRI_CONNTRACK + 1,
	},
};

static int seccolo_hooks_get(struct net *net, u8 family)
{
	struct seccolo_net *sn = net_generic(net, seccolo_net_id);
	int i = family == NFPROTO_IPV6;
	int ret = 0;

	mutex_lock(&seccolo_mutex);
	if (sn->users[i] == 0)
		ret = nf_register_net_hook(net, &seccolo_hook_ops[i]);
	if (!ret)
		sn->users[i]++;
	mutex_unlock(&seccolo_mutex);
	return ret;
}

static void seccolo_hooks_put(struct net *net, u8 family)
{
	struct seccolo_net *sn = net_generic(net, seccolo_net_id);
	int i = family == NFPROTO_IPV6;

	mutex_lock(&seccolo_mutex);
	if (--sn->users[i] == 0)
		nf_unregister_net_hook(net, &seccolo_hook_ops[i]);
	mutex_unlock(&seccolo_mutex);
}

/* --- the SVM's side: the target ------------------------------------------- */

static void seccolo_first_svm_packet(struct colo_conn *conn, struct nf_conn *ct,
				     enum ip_conntrack_dir dir,
				     const struct sk_buff *skb,
				     unsigned int thoff, const struct tcphdr *th)
{
	struct seccolo_conn *sc = colo_conn_priv(conn);

	sc->svm_dir = dir;
	sc->svm_ts = seccolo_ts_get(skb, thoff, th, 0, &sc->svm_tsval);
	if (!th->syn || th->rst) {
		/* opened before the VM was protected or the last checkpoint */
		sc->state = SECCOLO_NOADJ;
		return;
	}
	sc->svm_isn = ntohl(th->seq);
	sc->guest_opened = !th->ack;
	sc->state = SECCOLO_LEARN_PVM;
	/* the peer acks in PVM space until the offset is installed, and what
	 * conntrack took from the peer before that (its data not counted)
	 * would make the SVM's acks INVALID: see top */
	seccolo_keep_liberal(sc, ct);
}

/*
 * An SVM TCP packet conntrack left without a conntrack (INVALID: bad flags or
 * checksum, a transition its table refuses; or NOTRACK). Of a connection
 * whose sequence numbers we move it would leave untranslated, land at the
 * wrong place of the PVM's stream on the primary and could even match there
 * by chance (equal bytes at the shifted position): dropped, counted in
 * svm_dropped. Anything else passes as before. Only the default zone is
 * looked up (zones are not supported: README). Under rcu_read_lock().
 */
static unsigned int seccolo_untracked(struct colo_vm *vm, struct sk_buff *skb,
				      const struct xt_action_param *par)
{
	const struct nf_conntrack_tuple_hash *h;
	struct nf_conntrack_tuple tuple;
	struct seccolo_conn *sc;
	struct colo_conn *conn;
	struct nf_conn *ct;
	bool drop = false;

	if (par->fragoff ||
	    !nf_ct_get_tuplepr(skb, skb_network_offset(skb), xt_family(par),
			       xt_net(par), &tuple) ||
	    tuple.dst.protonum != IPPROTO_TCP)
		return XT_CONTINUE;
	h = nf_conntrack_find_get(xt_net(par), &nf_ct_zone_dflt, &tuple);
	if (!h)
		return XT_CONTINUE;
	ct = nf_ct_tuplehash_to_ctrack(h);
	conn = colo_conn_find_rcu(ct);
	if (conn && conn->vm == vm && seccolo_is_ours(conn)) {
		sc = colo_conn_priv(conn);
		spin_lock_bh(&conn->lock);
		drop = sc->state == SECCOLO_ADJUSTING && sc->offset;
		spin_unlock_bh(&conn->lock);
	}
	nf_ct_put(ct);
	if (!drop)
		return XT_CONTINUE;
	colo_vm_stat_inc(vm, COLO_STAT_SVM_DROPPED);
	net_dbg_ratelimited("VM %u: SVM packet without conntrack on a translated connection dropped\n",
			    vm->id);
	return NF_DROP;
}

static unsigned int seccolo_tg(struct sk_buff *skb,
			       const struct xt_action_param *par)
{
	const struct xt_colo_secondary_info *info = par->targinfo;
	struct seccolo_conn *sc;
	enum ip_conntrack_info ctinfo;
	const struct tcphdr *th;
	struct colo_conn *conn;
	struct colo_vm *vm;
	struct tcphdr _th;
	struct nf_conn *ct;

	/* hooks run under rcu_read_lock() */
	vm = colo_vm_find_rcu(xt_net(par), info->index);
	if (!vm || vm->mode != COLO_MODE_SECONDARY || !READ_ONCE(vm->priv))
		return XT_CONTINUE;
	colo_vm_stat_inc(vm, COLO_STAT_SVM_PACKETS);

	ct = nf_ct_get(skb, &ctinfo);
	if (!ct || nf_ct_is_template(ct)) {
		if (READ_ONCE(vm->state) == COLO_STATE_FAILOVER)
			return XT_CONTINUE;
		return seccolo_untracked(vm, skb, par);
	}
	if (nf_ct_protonum(ct) != IPPROTO_TCP ||
	    ctinfo == IP_CT_RELATED || ctinfo == IP_CT_RELATED_REPLY)
		return XT_CONTINUE;
	if (par->fragoff)
		return XT_CONTINUE;

	if (READ_ONCE(vm->state) == COLO_STATE_FAILOVER) {
		/* keep adjusting what we know, learn nothing new */
		colo_vm_stat_inc(vm, COLO_STAT_PASSED);
		return XT_CONTINUE;
	}

	th = skb_header_pointer(skb, par->thoff, sizeof(_th), &_th);
	if (!th)
		return XT_CONTINUE;

	conn = colo_conn_get(vm, ct, GFP_ATOMIC);
	if (!conn)
		return XT_CONTINUE;
	sc = colo_conn_priv(conn);
	spin_lock_bh(&conn->lock);
	if (sc->state == SECCOLO_NEW)
		seccolo_first_svm_packet(conn, ct, CTINFO2DIR(ctinfo), skb,
					 par->thoff, th);
	else if (th->syn)
		seccolo_keep_liberal(sc, ct);
	spin_unlock_bh(&conn->lock);
	colo_conn_put(conn);
	return XT_CONTINUE;
}

static int seccolo_tg_check(const struct xt_tgchk_param *par)
{
	struct xt_colo_secondary_info *info = par->targinfo;
	struct colo_vm *vm;
	int ret;

	if (info->index < 1 || info->index > COLO_VM_ID_MAX) {
		pr_info_ratelimited("invalid --index %u (1..%u)\n",
				    info->index, COLO_VM_ID_MAX);
		return -EINVAL;
	}
	vm = colo_vm_get(par->net, info->index);
	if (!vm) {
		pr_info_ratelimited("VM %u is not registered (COLO_CMD_PROXY_INIT first)\n",
				    info->index);
		return -EINVAL;
	}
	if (vm->mode != COLO_MODE_SECONDARY) {
		pr_info_ratelimited("VM %u is not a secondary VM (use PMYCOLO)\n",
				    info->index);
		colo_vm_put(vm);
		return -EINVAL;
	}
	colo_vm_put(vm);	/* rules look the VM up per packet */

	ret = nf_ct_netns_get(par->net, par->family);
	if (ret < 0) {
		pr_info_ratelimited("cannot load conntrack support for proto=%u\n",
				    par->family);
		return ret;
	}
	ret = seccolo_hooks_get(par->net, par->family);
	if (ret < 0) {
		nf_ct_netns_put(par->net, par->family);
		return ret;
	}
	info->priv = NULL;
	return 0;
}

static void seccolo_tg_destroy(const struct xt_tgdtor_param *par)
{
	seccolo_hooks_put(par->net, par->family);
	nf_ct_netns_put(par->net, par->family);
}

/* --- mode ops ----------------------------------------------------------------- */

static int seccolo_vm_init(struct colo_vm *vm)
{
	struct seccolo_vm *sv = kzalloc(sizeof(*sv), GFP_KERNEL);

	if (!sv)
		return -ENOMEM;
	WRITE_ONCE(vm->priv, sv);
	return 0;
}

static void seccolo_vm_destroy(struct colo_vm *vm)
{
	struct seccolo_vm *sv = vm->priv;

	/* offsets stay in the conntracks: connections keep working */
	WRITE_ONCE(vm->priv, NULL);
	if (sv)
		kfree_rcu(sv, rcu);	/* the hook may still be reading it */
}

/* The SVM now runs the PVM's TCP state: stop translating (see top). */
static int seccolo_sync_conn(struct colo_conn *conn, void *data)
{
	struct seccolo_conn *sc = colo_conn_priv(conn);
	struct nf_conn *ct = conn->ct;
	struct nf_conn_seqadj *seqadj;

	if (!seccolo_is_ours(conn))
		return 0;
	spin_lock_bh(&conn->lock);
	if (sc->state == SECCOLO_NEW) {
		/* nothing seen from the SVM yet: learn from its next SYN */
		spin_unlock_bh(&conn->lock);
		return 0;
	}
	spin_lock_bh(&ct->lock);
	seqadj = nfct_seqadj(ct);
	if (seqadj && (sc->state == SECCOLO_ADJUSTING ||
		       sc->state == SECCOLO_LEARN_PVM)) {
		struct nf_ct_seqadj *svm = &seqadj->seq[sc->svm_dir];
		struct nf_ct_seqadj *peer = &seqadj->seq[!sc->svm_dir];

		memset(svm, 0, sizeof(*svm));
		if (!peer->offset_before && !peer->offset_after)
			clear_bit(IPS_SEQ_ADJUST_BIT, &ct->status);
	}
	seccolo_set_liberal(ct, IP_CT_DIR_ORIGINAL);
	seccolo_set_liberal(ct, IP_CT_DIR_REPLY);
	spin_unlock_bh(&ct->lock);
	sc->offset = 0;
	sc->ts_adjust = false;
	sc->state = SECCOLO_SYNCED;
	spin_unlock_bh(&conn->lock);
	return 0;
}

static void seccolo_checkpoint_done(struct colo_vm *vm, u32 cut_epoch)
{
	int err = colo_vm_for_each_conn(vm, seccolo_sync_conn, NULL);

	if (err)
		pr_warn("VM %u: checkpoint: cannot reset sequence offsets: %d\n",
			vm->id, err);
}

static void seccolo_reset(struct colo_vm *vm)
{
	/* back to "right after PROXY_INIT": no translated connection */
	seccolo_checkpoint_done(vm, 0);
}

static int seccolo_fill_conn(struct colo_conn *conn, struct sk_buff *msg)
{
	struct seccolo_conn *sc = colo_conn_priv(conn);
	u32 off;

	spin_lock_bh(&conn->lock);
	off = (u32)sc->offset;
	spin_unlock_bh(&conn->lock);
	return nla_put_u32(msg, COLO_CONN_A_OFFSET, off);
}

static const struct colo_vm_ops seccolo_ops = {
	.owner			= THIS_MODULE,
	.mode			= COLO_MODE_SECONDARY,
	.conn_priv_size		= sizeof(struct seccolo_conn),
	.vm_init		= seccolo_vm_init,
	.vm_destroy		= seccolo_vm_destroy,
	.checkpoint_done	= seccolo_checkpoint_done,
	.reset			= seccolo_reset,
	.fill_conn		= seccolo_fill_conn,
};

static struct xt_target seccolo_tg_reg[] __read_mostly = {
	{
		.name		= "SECCOLO",
		.revision	= 0,
		.family		= NFPROTO_IPV4,
		.table		= "mangle",
		.hooks		= 1 << NF_INET_PRE_ROUTING,
		.target		= seccolo_tg,
		.checkentry	= seccolo_tg_check,
		.destroy	= seccolo_tg_destroy,
		.targetsize	= sizeof(struct xt_colo_secondary_info),
		.usersize	= offsetof(struct xt_colo_secondary_info, priv),
		.me		= THIS_MODULE,
	},
#if IS_ENABLED(CONFIG_IP6_NF_IPTABLES)
	{
		.name		= "SECCOLO",
		.revision	= 0,
		.family		= NFPROTO_IPV6,
		.table		= "mangle",
		.hooks		= 1 << NF_INET_PRE_ROUTING,
		.target		= seccolo_tg,
		.checkentry	= seccolo_tg_check,
		.destroy	= seccolo_tg_destroy,
		.targetsize	= sizeof(struct xt_colo_secondary_info),
		.usersize	= offsetof(struct xt_colo_secondary_info, priv),
		.me		= THIS_MODULE,
	},
#endif
};

static struct pernet_operations seccolo_net_ops = {
	.id	= &seccolo_net_id,
	.size	= sizeof(struct seccolo_net),
};

static int __init seccolo_tg_init(void)
{
	int ret;

	ret = register_pernet_subsys(&seccolo_net_ops);
	if (ret < 0) {
		pr_err("failed to register pernet ops\n");
		return ret;
	}
	ret = colo_register_mode_ops(&seccolo_ops);
	if (ret < 0) {
		pr_err("failed to register the secondary mode: %d\n", ret);
		goto err_pernet;
	}
	ret = xt_register_targets(seccolo_tg_reg, ARRAY_SIZE(seccolo_tg_reg));
	if (ret < 0)
		goto err_mode;
	return 0;

err_mode:
	colo_unregister_mode_ops(&seccolo_ops);
err_pernet:
	unregister_pernet_subsys(&seccolo_net_ops);
	return ret;
}

static void __exit seccolo_tg_exit(void)
{
	xt_unregister_targets(seccolo_tg_reg, ARRAY_SIZE(seccolo_tg_reg));
	/* no rule left, so no hook either */
	colo_unregister_mode_ops(&seccolo_ops);
	unregister_pernet_subsys(&seccolo_net_ops);
	rcu_barrier();	/* kfree_rcu() of struct seccolo_vm */
}

module_init(seccolo_tg_init);
module_exit(seccolo_tg_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Xtables: COLO secondary side (SVM sequence number translation)");
MODULE_ALIAS("ipt_SECCOLO");
MODULE_ALIAS("ip6t_SECCOLO");

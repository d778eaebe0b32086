// SPDX-License-Identifier: GPL-2.0-only
/*
 * nfnetlink_colo.c - control plane of colo-proxy: the "COLO" generic netlink
 * family (ABI: include/uapi/linux/colo_genl.h).
 *
 * The file name is historical (the 2015 proxy used nfnetlink subsystem 12,
 * which is NFNL_SUBSYS_HOOK today); this is plain generic netlink.
 *
 * Every request runs in process context under genl_mutex; VM state changes
 * are serialised again by the core (colo_mutex). A VM is bound to the
 * verified sender port (info->snd_portid) of its PROXY_INIT; the
 * NETLINK_URELEASE notifier (a blocking chain on 6.1: it may sleep) tears
 * down every VM bound to a generic netlink socket when that socket closes.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/skbuff.h>
#include <linux/timekeeping.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/netfilter/nf_conntrack.h>

#include "nf_conntrack_colo.h"

/* Bound for a GET reply with COLO_F_CONNS; connections beyond it are left out. */
#define COLO_NL_GET_MAX		(64 * 1024)
#define COLO_NL_CONN_SIZE	160

enum {
	COLO_NL_MCGRP_MONITOR,
};

static struct netlink_range_validation colo_nl_vm_id_range __ro_after_init = {
	.min	= 1,
	.max	= COLO_VM_ID_MAX,
};

static const struct nla_policy colo_nl_policy[COLO_A_MAX + 1] = {
	[COLO_A_PAD]		= { .type = NLA_REJECT },
	[COLO_A_VM_ID]		= NLA_POLICY_FULL_RANGE(NLA_U32, &colo_nl_vm_id_range),
	[COLO_A_MODE]		= NLA_POLICY_RANGE(NLA_U8, COLO_MODE_PRIMARY,
						   COLO_MODE_SECONDARY),
	[COLO_A_HOLD_TIMEOUT]	= { .type = NLA_U32 },
	[COLO_A_QUEUE_LIMIT]	= { .type = NLA_U32 },
	[COLO_A_MEM_LIMIT]	= NLA_POLICY_MIN(NLA_U32, COLO_MIN_MEM_LIMIT_KB),
	[COLO_A_CONN_LIMIT]	= NLA_POLICY_MIN(NLA_U32, 1),
	[COLO_A_FLAGS]		= NLA_POLICY_MASK(NLA_U32, COLO_F_ALL),
	/* reply / notification attributes are not accepted in requests */
	[COLO_A_STATE]		= { .type = NLA_REJECT },
	[COLO_A_EPOCH]		= { .type = NLA_REJECT },
	[COLO_A_REASON]		= { .type = NLA_REJECT },
	[COLO_A_SEQ]		= { .type = NLA_REJECT },
	[COLO_A_PORTID]		= { .type = NLA_REJECT },
	[COLO_A_STATS]		= { .type = NLA_REJECT },
	[COLO_A_CONN]		= { .type = NLA_REJECT },
	[COLO_A_STOP_TIME]	= { .type = NLA_U64 },
};

static struct genl_family colo_nl_family;

/* 0, or -EINVAL with the message and the missing attribute in the extack. */
#define colo_nl_require(info, attr, msg) ({				\
	struct genl_info *__info = (info);				\
	int __err = 0;							\
									\
	if (!__info->attrs[attr]) {					\
		NL_SET_ERR_MSG(__info->extack, msg);			\
		NL_SET_ERR_ATTR_MISS(__info->extack, NULL, attr);	\
		__err = -EINVAL;					\
	}								\
	__err;								\
})

/*
 * The VM named by COLO_A_VM_ID, referenced. A COLO_A_MODE in the request must
 * match the VM's mode (the reference oopsed on a mismatch).
 */
static struct colo_vm *colo_nl_vm(struct sk_buff *skb, struct genl_info *info)
{
	struct colo_vm *vm;
	int err;

	err = colo_nl_require(info, COLO_A_VM_ID, "missing VM id (COLO_A_VM_ID)");
	if (err)
		return ERR_PTR(err);
	vm = colo_vm_get(genl_info_net(info),
			 nla_get_u32(info->attrs[COLO_A_VM_ID]));
	if (vm && (colo_vm_owner_gone(vm) ||
		   (vm->portid == info->snd_portid &&
		    vm->owner != NETLINK_CB(skb).sk))) {
		/*
		 * Its socket closed: being torn down (see struct colo_vm).
		 * Our port on another socket's VM says the same: two live
		 * sockets never share a port, and the port is free before
		 * the closing socket is marked dead.
		 */
		colo_vm_put(vm);
		vm = NULL;
	}
	if (!vm) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[COLO_A_VM_ID],
				    "unknown VM id");
		return ERR_PTR(-ENOENT);
	}
	if (info->attrs[COLO_A_MODE] &&
	    nla_get_u8(info->attrs[COLO_A_MODE]) != vm->mode) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[COLO_A_MODE],
				    "mode does not match the VM's mode");
		colo_vm_put(vm);
		return ERR_PTR(-EINVAL);
	}
	return vm;
}

/* Echo of a successful request to the monitor group; best effort. */
static void colo_nl_echo(struct genl_info *info, u8 cmd, struct colo_vm *vm,
			 bool with_epoch, u32 epoch)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &colo_nl_family, 0, cmd);
	if (!hdr)
		goto nla_put_failure;
	if (nla_put_u32(msg, COLO_A_VM_ID, vm->id) ||
	    nla_put_u32(msg, COLO_A_PORTID, info->snd_portid) ||
	    nla_put_u8(msg, COLO_A_MODE, vm->mode) ||
	    (with_epoch && nla_put_u32(msg, COLO_A_EPOCH, epoch)))
		goto nla_put_failure;
	genlmsg_end(msg, hdr);
	genlmsg_multicast_netns(&colo_nl_family, genl_info_net(info), msg, 0,
				COLO_NL_MCGRP_MONITOR, GFP_KERNEL);
	return;

nla_put_failure:
	nlmsg_free(msg);
}

static int colo_nl_proxy_init(struct sk_buff *skb, struct genl_info *info)
{
	struct colo_vm_params p = {
		.hold_timeout_ms	= COLO_DEFAULT_HOLD_TIMEOUT_MS,
		.queue_limit		= COLO_DEFAULT_QUEUE_LIMIT,
		.mem_limit_kb		= COLO_DEFAULT_MEM_LIMIT_KB,
		.conn_limit		= COLO_DEFAULT_CONN_LIMIT,
	};
	struct colo_vm *vm;
	int err;

	err = colo_nl_require(info, COLO_A_VM_ID, "missing VM id (COLO_A_VM_ID)");
	if (err)
		return err;
	err = colo_nl_require(info, COLO_A_MODE, "missing mode (COLO_A_MODE)");
	if (err)
		return err;
	if (info->attrs[COLO_A_HOLD_TIMEOUT])
		p.hold_timeout_ms = nla_get_u32(info->attrs[COLO_A_HOLD_TIMEOUT]);
	if (info->attrs[COLO_A_QUEUE_LIMIT])
		p.queue_limit = nla_get_u32(info->attrs[COLO_A_QUEUE_LIMIT]);
	if (info->attrs[COLO_A_MEM_LIMIT])
		p.mem_limit_kb = nla_get_u32(info->attrs[COLO_A_MEM_LIMIT]);
	if (info->attrs[COLO_A_CONN_LIMIT])
		p.conn_limit = nla_get_u32(info->attrs[COLO_A_CONN_LIMIT]);

	vm = colo_vm_create(genl_info_net(info),
			    nla_get_u32(info->attrs[COLO_A_VM_ID]),
			    nla_get_u8(info->attrs[COLO_A_MODE]),
			    info->snd_portid, NETLINK_CB(skb).sk, &p,
			    info->extack);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	colo_nl_echo(info, COLO_CMD_PROXY_INIT, vm, false, 0);
	colo_vm_put(vm);
	return 0;
}

/*
 * COLO_A_STOP_TIME: the guest's stop time as QEMU stamped its STOP event
 * (CLOCK_REALTIME of the same host). It lies in the past; more than
 * COLO_NL_STOP_SLACK_NS in the future (or 0) is not a stop time: refused.
 * An old one is accepted (it only keeps more output held).
 */
#define COLO_NL_STOP_SLACK_NS	(100 * NSEC_PER_MSEC)

static int colo_nl_stop_time(struct genl_info *info, enum colo_vm_cmd cmd,
			     u64 *stop_ns)
{
	struct nlattr *a = info->attrs[COLO_A_STOP_TIME];
	u64 now = ktime_get_real_ns();

	*stop_ns = 0;
	if (!a)
		return 0;
	if (cmd != COLO_VM_CMD_CHECKPOINT_BEGIN) {
		NL_SET_ERR_MSG_ATTR(info->extack, a,
				    "stop time is only valid with CHECKPOINT_BEGIN");
		return -EINVAL;
	}
	*stop_ns = nla_get_u64(a);
	if (!*stop_ns || *stop_ns > now + COLO_NL_STOP_SLACK_NS) {
		NL_SET_ERR_MSG_ATTR(info->extack, a,
				    "stop time is zero or in the future (ns of CLOCK_REALTIME expected)");
		return -EINVAL;
	}
	return 0;
}

static int colo_nl_vm_cmd(struct sk_buff *skb, struct genl_info *info,
			  enum colo_vm_cmd cmd)
{
	struct colo_vm *vm;
	u32 epoch = 0;
	u64 stop_ns;
	int err;

	err = colo_nl_stop_time(info, cmd, &stop_ns);
	if (err)
		return err;
	vm = colo_nl_vm(skb, info);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	err = colo_vm_cmd(vm, cmd, info->snd_portid, NETLINK_CB(skb).sk,
			  stop_ns, &epoch, info->extack);
	if (!err)
		colo_nl_echo(info, info->genlhdr->cmd, vm, true, epoch);
	colo_vm_put(vm);
	return err;
}

static int colo_nl_checkpoint_begin(struct sk_buff *skb, struct genl_info *info)
{
	return colo_nl_vm_cmd(skb, info, COLO_VM_CMD_CHECKPOINT_BEGIN);
}

static int colo_nl_checkpoint_done(struct sk_buff *skb, struct genl_info *info)
{
	return colo_nl_vm_cmd(skb, info, COLO_VM_CMD_CHECKPOINT_DONE);
}

static int colo_nl_failover(struct sk_buff *skb, struct genl_info *info)
{
	return colo_nl_vm_cmd(skb, info, COLO_VM_CMD_FAILOVER);
}

static int colo_nl_reset(struct sk_buff *skb, struct genl_info *info)
{
	return colo_nl_vm_cmd(skb, info, COLO_VM_CMD_RESET);
}

/* Original-direction tuple of a connection, inside an open COLO_A_CONN nest. */
static int colo_nl_put_tuple(struct sk_buff *msg,
			     const struct nf_conntrack_tuple *t)
{
	u8 family = t->src.l3num;
	int alen = family == AF_INET6 ? sizeof(t->src.u3.in6) :
					sizeof(t->src.u3.ip);

	if (nla_put_u8(msg, COLO_CONN_A_FAMILY, family) ||
	    nla_put_u8(msg, COLO_CONN_A_PROTO, t->dst.protonum) ||
	    nla_put(msg, COLO_CONN_A_SRC, alen, &t->src.u3) ||
	    nla_put(msg, COLO_CONN_A_DST, alen, &t->dst.u3))
		return -EMSGSIZE;
	switch (t->dst.protonum) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		if (nla_put_be16(msg, COLO_CONN_A_SPORT, t->src.u.all) ||
		    nla_put_be16(msg, COLO_CONN_A_DPORT, t->dst.u.all))
			return -EMSGSIZE;
		break;
	}
	return 0;
}

static int colo_nl_fill_conn(struct colo_conn *conn, void *data)
{
	struct sk_buff *msg = data;
	struct nlattr *nest;

	nest = nla_nest_start(msg, COLO_A_CONN);
	if (!nest)
		return -EMSGSIZE;
	if (colo_nl_put_tuple(msg, &conn->ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple) ||
	    (conn->ops->fill_conn && conn->ops->fill_conn(conn, msg))) {
		nla_nest_cancel(msg, nest);
		return -EMSGSIZE;	/* stops the walk: the reply is full */
	}
	nla_nest_end(msg, nest);
	return 0;
}

static int colo_nl_fill_vm(struct sk_buff *msg, struct colo_vm *vm)
{
	u64 stats[__COLO_STAT_MAX];
	struct nlattr *nest;
	int i;

	if (nla_put_u32(msg, COLO_A_VM_ID, vm->id) ||
	    nla_put_u8(msg, COLO_A_MODE, vm->mode) ||
	    nla_put_u8(msg, COLO_A_STATE, READ_ONCE(vm->state)) ||
	    nla_put_u32(msg, COLO_A_EPOCH, READ_ONCE(vm->epoch)) ||
	    nla_put_u32(msg, COLO_A_PORTID, READ_ONCE(vm->portid)) ||
	    nla_put_u32(msg, COLO_A_HOLD_TIMEOUT, READ_ONCE(vm->hold_timeout_ms)) ||
	    nla_put_u32(msg, COLO_A_QUEUE_LIMIT, READ_ONCE(vm->queue_limit)) ||
	    nla_put_u32(msg, COLO_A_MEM_LIMIT, READ_ONCE(vm->mem_limit_kb)) ||
	    nla_put_u32(msg, COLO_A_CONN_LIMIT, READ_ONCE(vm->conn_limit)))
		return -EMSGSIZE;

	colo_vm_stats_read(vm, stats);
	nest = nla_nest_start(msg, COLO_A_STATS);
	if (!nest)
		return -EMSGSIZE;
	for (i = COLO_STAT_PAD + 1; i < __COLO_STAT_MAX; i++)
		if (nla_put_u64_64bit(msg, i, stats[i], COLO_STAT_PAD))
			return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int colo_nl_get(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	struct colo_vm *vm;
	size_t size = NLMSG_GOODSIZE;
	u32 flags = 0;
	void *hdr;
	int err;

	vm = colo_nl_vm(skb, info);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	if (info->attrs[COLO_A_FLAGS])
		flags = nla_get_u32(info->attrs[COLO_A_FLAGS]);
	if (flags & COLO_F_CONNS)
		size = clamp_t(size_t, NLMSG_GOODSIZE +
			       (size_t)READ_ONCE(vm->nr_conns) * COLO_NL_CONN_SIZE,
			       NLMSG_GOODSIZE, COLO_NL_GET_MAX);

	err = -ENOMEM;
	msg = genlmsg_new(size, GFP_KERNEL);
	if (!msg)
		goto out;
	err = -EMSGSIZE;
	hdr = genlmsg_put_reply(msg, info, &colo_nl_family, 0, COLO_CMD_GET);
	if (!hdr)
		goto err_free;
	if (colo_nl_fill_vm(msg, vm))
		goto err_free;
	if (flags & COLO_F_CONNS) {
		/* -EMSGSIZE only truncates the list */
		colo_vm_for_each_conn(vm, colo_nl_fill_conn, msg);
	}
	genlmsg_end(msg, hdr);
	colo_vm_put(vm);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
out:
	colo_vm_put(vm);
	return err;
}

static const struct genl_small_ops colo_nl_ops[] = {
	{
		.cmd	= COLO_CMD_PROXY_INIT,
		.doit	= colo_nl_proxy_init,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= COLO_CMD_CHECKPOINT_BEGIN,
		.doit	= colo_nl_checkpoint_begin,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= COLO_CMD_CHECKPOINT_DONE,
		.doit	= colo_nl_checkpoint_done,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= COLO_CMD_FAILOVER,
		.doit	= colo_nl_failover,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= COLO_CMD_RESET,
		.doit	= colo_nl_reset,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= COLO_CMD_GET,
		.doit	= colo_nl_get,
		.flags	= GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group colo_nl_mcgrps[] = {
	[COLO_NL_MCGRP_MONITOR] = {
		.name	= COLO_GENL_MCGRP_MONITOR,
		.flags	= GENL_MCAST_CAP_NET_ADMIN,
	},
};

static struct genl_family colo_nl_family __ro_after_init = {
	.name		= COLO_GENL_NAME,
	.version	= COLO_GENL_VERSION,
	.maxattr	= COLO_A_MAX,
	.policy		= colo_nl_policy,
	.netnsok	= true,
	.module		= THIS_MODULE,
	.small_ops	= colo_nl_ops,
	.n_small_ops	= ARRAY_SIZE(colo_nl_ops),
	.mcgrps		= colo_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(colo_nl_mcgrps),
};

/* Core callback (work item, process context): send CHECKPOINT_NEEDED. */
static int colo_nl_checkpoint_needed(struct net *net, const struct colo_notice *n)
{
	struct sk_buff *msg, *mc;
	struct nlattr *nest;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put(msg, 0, 0, &colo_nl_family, 0,
			  COLO_CMD_CHECKPOINT_NEEDED);
	if (!hdr)
		goto nla_put_failure;
	if (nla_put_u32(msg, COLO_A_VM_ID, n->vm_id) ||
	    nla_put_u32(msg, COLO_A_REASON, n->reason) ||
	    nla_put_u32(msg, COLO_A_EPOCH, n->epoch))
		goto nla_put_failure;
	if (n->has_conn) {
		nest = nla_nest_start(msg, COLO_A_CONN);
		if (!nest || colo_nl_put_tuple(msg, &n->tuple))
			goto nla_put_failure;
		nla_nest_end(msg, nest);
		if (n->has_seq && nla_put_u32(msg, COLO_A_SEQ, n->seq))
			goto nla_put_failure;
	}
	genlmsg_end(msg, hdr);

	mc = skb_clone(msg, GFP_KERNEL);
	if (mc)
		genlmsg_multicast_netns(&colo_nl_family, net, mc, 0,
					COLO_NL_MCGRP_MONITOR, GFP_KERNEL);
	return genlmsg_unicast(net, msg, n->portid);

nla_put_failure:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static const struct colo_ctl_ops colo_nl_ctl = {
	.checkpoint_needed	= colo_nl_checkpoint_needed,
};

/* The bound socket closed: tear its VMs down (held PVM output is dropped). */
static int colo_nl_urelease(struct notifier_block *nb, unsigned long event,
			    void *ptr)
{
	const struct netlink_notify *n = ptr;
	int count;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC ||
	    !n->portid)
		return NOTIFY_DONE;
	count = colo_vm_destroy_portid(n->net, n->portid);
	if (count)
		pr_debug("port %u closed: %d VM(s) torn down\n", n->portid, count);
	return NOTIFY_DONE;
}

static struct notifier_block colo_nl_notifier = {
	.notifier_call	= colo_nl_urelease,
};

/*
 * The CHECKPOINT_NEEDED hook (colo_register_ctl) builds messages of
 * colo_nl_family and sends them on its multicast group: it must not run
 * once the family is unregistered. At init it is registered first, which is
 * safe: notices only exist for VMs, and VMs only come from PROXY_INIT
 * through the family. At exit it goes first: colo_unregister_ctl() returns
 * once no checkpoint_needed() call is in flight (colo_ctl_mutex); notice
 * work that runs later finds no control plane (its epoch may ask again) and
 * is cancelled when colo_vm_destroy_all() tears the VM down.
 */
static int __init nfnetlink_colo_init(void)
{
	int ret;

	ret = colo_register_ctl(&colo_nl_ctl);
	if (ret < 0) {
		pr_err("control plane already registered\n");
		return ret;
	}
	ret = netlink_register_notifier(&colo_nl_notifier);
	if (ret < 0) {
		pr_err("failed to register netlink notifier\n");
		goto err_ctl;
	}
	ret = genl_register_family(&colo_nl_family);
	if (ret < 0) {
		pr_err("failed to register generic netlink family\n");
		goto err_notifier;
	}
	return 0;

err_notifier:
	netlink_unregister_notifier(&colo_nl_notifier);
err_ctl:
	colo_unregister_ctl(&colo_nl_ctl);
	return ret;
}

static void __exit nfnetlink_colo_exit(void)
{
	/* no checkpoint_needed() in flight or to come: the family may go */
	colo_unregister_ctl(&colo_nl_ctl);
	genl_unregister_family(&colo_nl_family);	/* no requests, no new VMs */
	netlink_unregister_notifier(&colo_nl_notifier);
	/* the sockets VMs were bound to cannot talk to us any more */
	colo_vm_destroy_all();
}

module_init(nfnetlink_colo_init);
module_exit(nfnetlink_colo_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("COLO proxy: generic netlink control plane");
MODULE_ALIAS_GENL_FAMILY(COLO_GENL_NAME);

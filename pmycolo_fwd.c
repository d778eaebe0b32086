// SPDX-License-Identifier: GPL-2.0-only
/*
 * pmycolo_fwd.c - COLO primary side (xt_PMYCOLO.ko): the forward NICs. One
 * per (netns, name), shared by the rules naming it; an rx_handler consumes
 * every frame the SVM sends over it. A netdevice notifier attaches NICs that
 * appear later and flushes packets held with references to a NIC that goes.
 *
 * Locking: pmy_fwd_mutex nests inside the RTNL and is never taken in softirq.
 */
#include "pmycolo.h"

static LIST_HEAD(pmy_fwds);

static DEFINE_MUTEX(pmy_fwd_mutex);

static void pmy_fwd_work_fn(struct work_struct *work);

static DECLARE_WORK(pmy_fwd_work, pmy_fwd_work_fn);

rx_handler_result_t pmy_fwd_rx(struct sk_buff **pskb)
{
	struct sk_buff *skb = *pskb;
	struct pmy_fwd *fwd = rcu_dereference(skb->dev->rx_handler_data);

	switch (skb->protocol) {
	case htons(ETH_P_IP):
	case htons(ETH_P_IPV6):
		break;
	case htons(ETH_P_ARP):
		/* The SVM's neighbour traffic never reaches the LAN; the PVM's
		 * passes (no IP rule sees it), so there is nothing to compare
		 * this with and nothing is lost: not counted as a drop. */
		consume_skb(skb);
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
struct pmy_fwd *pmy_fwd_get(struct net *net, const char *name, u32 vm_id)
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

void pmy_fwd_put(struct pmy_fwd *fwd)
{
	bool last;

	mutex_lock(&pmy_fwd_mutex);
	last = !--fwd->refs;
	mutex_unlock(&pmy_fwd_mutex);
	if (last)
		schedule_work(&pmy_fwd_work);
}

/*
 * Drop what is held on @dev (it is going away; held packets pin it). This must
 * not fail, so it allocates nothing: the VMs are walked under pmy_vms_mutex,
 * where a listed VM cannot be torn down (vm_destroy unlists it first). The
 * walk takes no mutex of its own (colo_vm_for_each_conn: vm->lock, conn->lock).
 */
static void pmy_flush_dev(struct net_device *dev)
{
	struct pmy_sweep sw = { .dev = dev };
	struct pmy_vm *pvm;

	mutex_lock(&pmy_vms_mutex);
	list_for_each_entry(pvm, &pmy_vms, node) {
		if (net_eq(pvm->vm->net, dev_net(dev)) &&
		    !READ_ONCE(pvm->vm->dead))
			colo_vm_for_each_conn(pvm->vm, pmy_conn_flush_dev, &sw);
	}
	mutex_unlock(&pmy_vms_mutex);
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

int pmy_fwd_init(void)
{
	int ret;

	ret = register_netdevice_notifier(&pmy_netdev_nb);
	if (ret < 0)
		pr_err("failed to register netdevice notifier\n");
	return ret;
}

/* Module exit, after the targets are gone: no rule wants a NIC any more. */
void pmy_fwd_detach_all(void)
{
	flush_work(&pmy_fwd_work);
	rtnl_lock();
	pmy_fwd_sync();
	rtnl_unlock();
}

void pmy_fwd_exit(void)
{
	unregister_netdevice_notifier(&pmy_netdev_nb);
	rcu_barrier();	/* kfree_rcu() of forward NIC entries */
}

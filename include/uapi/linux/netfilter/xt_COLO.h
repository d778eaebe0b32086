/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * xt_COLO.h - target info of the PMYCOLO and SECCOLO xtables targets
 *
 * Shared verbatim by the kernel modules and the libxt plugins. The kernel-only
 * pointer comes last; .usersize (kernel) and .userspacesize (libxt) stop in
 * front of it so rule comparison and iptables-save never see it.
 */
#ifndef _UAPI_XT_COLO_H
#define _UAPI_XT_COLO_H

#include <linux/types.h>
#include <linux/if.h>

/* -j PMYCOLO --index N --forward-dev DEV */
struct xt_colo_primary_info {
	__u32	index;			/* VM id given to COLO_CMD_PROXY_INIT */
	char	forward_dev[IFNAMSIZ];	/* NIC the SVM's output arrives on */

	/* Used internally by the kernel */
	void	*priv __attribute__((aligned(8)));
};

/* -j SECCOLO --index N */
struct xt_colo_secondary_info {
	__u32	index;

	/* Used internally by the kernel */
	void	*priv __attribute__((aligned(8)));
};

#endif /* _UAPI_XT_COLO_H */

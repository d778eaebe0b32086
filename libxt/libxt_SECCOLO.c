// SPDX-License-Identifier: GPL-2.0
/*
 * libxt_SECCOLO.c - iptables/ip6tables plugin of the COLO secondary target
 *
 *	-t mangle -A PREROUTING -i TAP -j SECCOLO --index N
 */
#include <stddef.h>
#include <stdio.h>
#include <xtables.h>
#include <linux/colo_genl.h>
#include <linux/netfilter/xt_COLO.h>

enum {
	O_INDEX = 0,
};

#define s struct xt_colo_secondary_info
static const struct xt_option_entry seccolo_tg_opts[] = {
	{.name = "index", .id = O_INDEX, .type = XTTYPE_UINT32,
	 .min = 1, .max = COLO_VM_ID_MAX,
	 .flags = XTOPT_MAND | XTOPT_PUT, XTOPT_POINTER(s, index)},
	XTOPT_TABLEEND,
};
#undef s

static void seccolo_tg_help(void)
{
	printf(
"SECCOLO target options:\n"
"  Secondary side of COLO (COarse-grained LOck-stepping) fault tolerance.\n"
"  Use in the mangle table, PREROUTING chain, on packets that leave the\n"
"  secondary VM (SVM) through its tap device. TCP connections the SVM opens\n"
"  or accepts get their sequence numbers shifted to the primary VM's, so the\n"
"  two VMs' output can be compared and the SVM can take over after failover.\n"
"  The VM must be registered as secondary (COLO_CMD_PROXY_INIT) before the\n"
"  rule is added.\n"
"  --index N              VM id given to PROXY_INIT (1-%u)\n",
	       COLO_VM_ID_MAX);
}

static void seccolo_tg_print(const void *ip, const struct xt_entry_target *target,
			     int numeric)
{
	const struct xt_colo_secondary_info *info = (const void *)target->data;

	(void)ip;
	(void)numeric;
	printf(" SECCOLO index %u", info->index);
}

static void seccolo_tg_save(const void *ip, const struct xt_entry_target *target)
{
	const struct xt_colo_secondary_info *info = (const void *)target->data;

	(void)ip;
	printf(" --index %u", info->index);
}

/* iptables-translate: the compat form nft refuses to load (libxt_PMYCOLO.c). */
static int seccolo_tg_xlate(struct xt_xlate *xl,
			    const struct xt_xlate_tg_params *params)
{
	const struct xt_colo_secondary_info *info = (const void *)params->target->data;

	xt_xlate_add(xl, "xt target SECCOLO # --index %u: "
		     "no nftables equivalent, add this rule with iptables-nft",
		     info->index);
	return 1;
}

static struct xtables_target seccolo_tg_reg = {
	.family		= NFPROTO_UNSPEC,
	.name		= "SECCOLO",
	.revision	= 0,
	.version	= XTABLES_VERSION,
	.size		= XT_ALIGN(sizeof(struct xt_colo_secondary_info)),
	.userspacesize	= offsetof(struct xt_colo_secondary_info, priv),
	.help		= seccolo_tg_help,
	.print		= seccolo_tg_print,
	.save		= seccolo_tg_save,
	.x6_parse	= xtables_option_parse,
	.x6_options	= seccolo_tg_opts,
	.xlate		= seccolo_tg_xlate,
};

static void __attribute__((constructor)) seccolo_tg_init(void)
{
	xtables_register_target(&seccolo_tg_reg);
}

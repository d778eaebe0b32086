// SPDX-License-Identifier: GPL-2.0
/*
 * libxt_PMYCOLO.c - iptables/ip6tables plugin of the COLO primary target
 *
 *	-t mangle -A PREROUTING -i TAP -j PMYCOLO --index N --forward-dev DEV
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <xtables.h>
#include <linux/colo_genl.h>
#include <linux/netfilter/xt_COLO.h>

enum {
	O_INDEX = 0,
	O_FORWARD_DEV,
};

#define s struct xt_colo_primary_info
static const struct xt_option_entry pmycolo_tg_opts[] = {
	{.name = "index", .id = O_INDEX, .type = XTTYPE_UINT32,
	 .min = 1, .max = COLO_VM_ID_MAX,
	 .flags = XTOPT_MAND | XTOPT_PUT, XTOPT_POINTER(s, index)},
	{.name = "forward-dev", .id = O_FORWARD_DEV, .type = XTTYPE_STRING,
	 .flags = XTOPT_MAND | XTOPT_PUT, XTOPT_POINTER(s, forward_dev)},
	XTOPT_TABLEEND,
};
#undef s

static void pmycolo_tg_help(void)
{
	printf(
"PMYCOLO target options:\n"
"  Primary side of COLO (COarse-grained LOck-stepping) fault tolerance.\n"
"  Use in the mangle table, PREROUTING chain, on packets that leave the\n"
"  primary VM (PVM) through its tap device. Each packet is held and compared\n"
"  with the secondary VM's (SVM) output, which arrives on the forward device;\n"
"  matching output is released, a mismatch requests a checkpoint. The VM must\n"
"  be registered as primary (COLO_CMD_PROXY_INIT) before the rule is added.\n"
"  --index N              VM id given to PROXY_INIT (1-%u)\n"
"  --forward-dev DEV      interface on which the SVM's output arrives\n",
	       COLO_VM_ID_MAX);
}

/*
 * Same rules as the kernel's dev_valid_name(), so a name iptables accepts is
 * one an interface can have.
 */
static const char *pmycolo_ifname_problem(const char *name)
{
	const char *p;

	if (*name == '\0')
		return "interface name is empty";
	if (strlen(name) >= IFNAMSIZ)
		return "interface name is too long (at most 15 characters)";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "\".\" and \"..\" are not interface names";
	for (p = name; *p != '\0'; p++) {
		if (*p == '/')
			return "interface name must not contain '/'";
		if (*p == ':')
			return "interface name must not contain ':'";
		if (*p == ' ' || (*p >= '\t' && *p <= '\r'))
			return "interface name must not contain whitespace";
	}
	return NULL;
}

static void pmycolo_tg_parse(struct xt_option_call *cb)
{
	const char *problem;

	xtables_option_parse(cb);

	switch (cb->entry->id) {
	case O_FORWARD_DEV:
		problem = pmycolo_ifname_problem(cb->arg);
		if (problem)
			xtables_error(PARAMETER_PROBLEM,
				      "PMYCOLO: bad --forward-dev \"%s\": %s",
				      cb->arg, problem);
		break;
	}
}

/*
 * An interface name may hold quotes or backslashes (the kernel allows them);
 * iptables-restore needs those quoted, everything else is printed as is.
 */
static void pmycolo_print_dev(const char *dev)
{
	if (strpbrk(dev, "\"'\\#") != NULL) {
		xtables_save_string(dev);
	} else {
		putchar(' ');
		fputs(dev, stdout);
	}
}

static void pmycolo_tg_print(const void *ip, const struct xt_entry_target *target,
			     int numeric)
{
	const struct xt_colo_primary_info *info = (const void *)target->data;

	(void)ip;
	(void)numeric;
	printf(" PMYCOLO index %u forward-dev", info->index);
	pmycolo_print_dev(info->forward_dev);
}

static void pmycolo_tg_save(const void *ip, const struct xt_entry_target *target)
{
	const struct xt_colo_primary_info *info = (const void *)target->data;

	(void)ip;
	printf(" --index %u --forward-dev", info->index);
	pmycolo_print_dev(info->forward_dev);
}

/*
 * iptables-translate: nftables has no expression for this target. Print the
 * xtables compat form, which is what `nft list ruleset` shows for the rule
 * iptables-nft added, followed by the options as a comment: nft refuses to
 * load it ("unsupported xtables compat expression, use iptables-nft"), so a
 * translated ruleset never silently lacks the proxy. Device names that could
 * break the shell or nft quoting of the output are shown with '?'.
 */
static int pmycolo_tg_xlate(struct xt_xlate *xl,
			    const struct xt_xlate_tg_params *params)
{
	const struct xt_colo_primary_info *info = (const void *)params->target->data;
	char dev[IFNAMSIZ];
	size_t i;

	for (i = 0; i < sizeof(dev) - 1 && info->forward_dev[i] != '\0'; i++)
		dev[i] = strchr("\"'\\#`$", info->forward_dev[i]) ||
			 (unsigned char)info->forward_dev[i] < 0x21 ||
			 (unsigned char)info->forward_dev[i] > 0x7e ?
			 '?' : info->forward_dev[i];
	dev[i] = '\0';
	xt_xlate_add(xl, "xt target PMYCOLO # --index %u --forward-dev %s: "
		     "no nftables equivalent, add this rule with iptables-nft",
		     info->index, dev);
	return 1;
}

static struct xtables_target pmycolo_tg_reg = {
	.family		= NFPROTO_UNSPEC,
	.name		= "PMYCOLO",
	.revision	= 0,
	.version	= XTABLES_VERSION,
	.size		= XT_ALIGN(sizeof(struct xt_colo_primary_info)),
	.userspacesize	= offsetof(struct xt_colo_primary_info, priv),
	.help		= pmycolo_tg_help,
	.print		= pmycolo_tg_print,
	.save		= pmycolo_tg_save,
	.x6_parse	= pmycolo_tg_parse,
	.x6_options	= pmycolo_tg_opts,
	.xlate		= pmycolo_tg_xlate,
};

static void __attribute__((constructor)) pmycolo_tg_init(void)
{
	xtables_register_target(&pmycolo_tg_reg);
}

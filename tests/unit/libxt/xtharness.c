// SPDX-License-Identifier: GPL-2.0
/*
 * xtharness.c - drive one libxt target plugin through libxtables, no kernel
 *
 *	xtharness -4|-6 TARGET [OPTION...]
 *
 * Loads TARGET the way iptables does (XTABLES_LIBDIR, version and option table
 * checks), parses the options with libxtables' x6 machinery, runs the final
 * check and prints
 *
 *	print:<output of ->print()>
 *	save:<output of ->save()>
 *	data:<hex of the first userspacesize bytes of the target data>
 *
 * Parse errors go through xtables_error() as in iptables: message on stderr,
 * exit status 2.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xtables.h>

static struct option harness_orig_opts[] = {
	{.name = NULL},
};

static void __attribute__((noreturn, format(printf, 2, 3)))
harness_exit_err(enum xtables_exittype status, const char *msg, ...)
{
	va_list args;

	va_start(args, msg);
	fputs("xtharness: ", stderr);
	vfprintf(stderr, msg, args);
	va_end(args);
	fputc('\n', stderr);
	exit(status);
}

/* No kernel to ask: every revision is "supported". */
static int harness_compat_rev(const char *name, uint8_t rev, int opt)
{
	(void)name;
	(void)rev;
	(void)opt;
	return 1;
}

static struct xtables_globals harness_globals = {
	.option_offset	= 0,
	.program_name	= "xtharness",
	.program_version = "0",
	.orig_opts	= harness_orig_opts,
	.exit_err	= harness_exit_err,
	.compat_rev	= harness_compat_rev,
};

int main(int argc, char **argv)
{
	struct xtables_target *t;
	struct option *opts;
	uint8_t family;
	bool invert = false;
	size_t size, i;
	int c;

	if (argc < 3 || (strcmp(argv[1], "-4") && strcmp(argv[1], "-6"))) {
		fprintf(stderr, "usage: xtharness -4|-6 TARGET [OPTION...]\n");
		return 1;
	}
	family = argv[1][1] == '4' ? NFPROTO_IPV4 : NFPROTO_IPV6;

	if (xtables_init_all(&harness_globals, family) < 0) {
		fprintf(stderr, "xtharness: xtables_init_all failed\n");
		return 1;
	}

	t = xtables_find_target(argv[2], XTF_LOAD_MUST_SUCCEED);
	if (!t->x6_options || !t->x6_parse) {
		fprintf(stderr, "xtharness: %s is not an x6 plugin\n", t->name);
		return 1;
	}
	xtables_option_metavalidate(t->name, t->x6_options);

	size = XT_ALIGN(sizeof(struct xt_entry_target)) + t->size;
	t->t = xtables_calloc(1, size);
	t->t->u.target_size = size;
	strcpy(t->t->u.user.name, t->name);
	t->t->u.user.revision = t->revision;
	if (t->init)
		t->init(t->t);

	opts = xtables_options_xfrm(harness_globals.orig_opts, NULL,
				    t->x6_options, &t->option_offset);
	if (!opts)
		return 1;

	/* argv[0..2] are ours; getopt starts at argv[optind]. */
	optind = 3;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "-:", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (strcmp(optarg, "!") == 0 && !invert) {
				invert = true;
				continue;
			}
			xtables_error(PARAMETER_PROBLEM, "unexpected argument \"%s\"", optarg);
		case '?':
			xtables_error(PARAMETER_PROBLEM, "unknown option \"%s\"",
				      argv[optind - 1]);
		case ':':
			xtables_error(PARAMETER_PROBLEM, "option \"%s\" requires an argument",
				      argv[optind - 1]);
		default:
			xtables_option_tpcall(c, argv, invert, t, NULL);
			invert = false;
		}
	}
	if (invert)
		xtables_error(PARAMETER_PROBLEM, "\"!\" not followed by an option");
	xtables_option_tfcall(t);

	fputs("print:", stdout);
	if (t->print)
		t->print(NULL, t->t, 0);
	fputs("\nsave:", stdout);
	if (t->save)
		t->save(NULL, t->t);
	fputs("\ndata:", stdout);
	for (i = 0; i < t->userspacesize; i++)
		printf("%02x", t->t->data[i]);
	fputc('\n', stdout);
	return 0;
}

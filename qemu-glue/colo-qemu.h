/* SPDX-License-Identifier: GPL-2.0 */
/*
 * colo-qemu.h - what colo-qemu.c (running QEMU, colod and the script) and
 * colo-qemu-args.c (options, QEMU command line rewriting) share.
 */
#ifndef COLO_QEMU_H
#define COLO_QEMU_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "colo-nl.h"

#define EXIT_TAP_TIMEOUT	124
#define EXIT_SETUP		125
#define EXIT_SCRIPT		126
#define MAX_TAPS		8

struct colo_tap {
	char fwd[64];
	char script[PATH_MAX];
	char ifname[32];
	bool installed;
};

struct launcher {
	const char *side;
	uint32_t vm_id;
	char qmp_path[PATH_MAX];
	char ctl_path[108];		/* colod's control socket */
	const char *colod;
	bool no_daemon;
	int tap_timeout_s, script_timeout_s;
	char **colod_args;
	int n_colod_args;
	char **qemu_argv;
	int qemu_argc;
	struct colo_tap taps[MAX_TAPS];
	int n_taps;
	pid_t qemu, daemon;
	int qemu_status, daemon_status;
	bool qemu_done, daemon_done;
	bool stopping;			/* QEMU was asked to end */
	int max_restarts, restarts;
	int64_t restart_window, restart_at;
	bool gave_up;
	sigset_t sigs;
};

void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Options, paths and the QEMU command line; -1 on a usage error. */
int colo_qemu_parse_args(struct launcher *l, int argc, char **argv);

#endif /* COLO_QEMU_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * colo-qemu-args.c - colo-qemu's options, default paths, and the QEMU
 * command line with the historical colo_nicname=/colo_script= tap words
 * stripped (see colo-qemu.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "colo-qemu.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: colo-qemu [--side primary|secondary] [--vm ID] [options] [colod options]\n"
"                 -- qemu-system-x86_64 ARGS...\n"
"  --side primary|secondary  (default primary)\n"
"  --vm ID               VM id = PMYCOLO/SECCOLO --index (default 1)\n"
"  --qmp PATH            QMP socket to give QEMU (default RUNDIR/vm<ID>.qmp)\n"
"  --colod PATH          daemon to run (default: colod next to colo-qemu)\n"
"  --no-daemon           do not run colod\n"
"  --tap-timeout S       wait this long for the tap to appear (30)\n"
"  --script-timeout S    colo_script install/uninstall time limit (60)\n"
"  --colod-restarts N    restart a colod that ended at most N times a\n"
"                        minute, then stop the guest (3; 0: stop at once)\n"
"Other options before -- are passed to colod (e.g. --start --peer URI).\n"
"Exit: QEMU's status, 128+N QEMU killed by signal N, 124 tap missing,\n"
"125 usage/setup error, 126 install script failed, 127 QEMU not executable.\n");
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *v)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(s, &end, 10);
	if (errno || end == s || *end || x > max || s[0] == '-')
		return false;
	*v = (uint32_t)x;
	return true;
}

/* Split a -netdev value at unescaped commas (",," is a literal comma). */
static int split_opts(const char *val, char ***items, int *n)
{
	char **v = NULL, *cur;
	size_t len = strlen(val), k, o = 0;
	int cnt = 0;

	cur = malloc(len + 1);
	if (!cur)
		return -ENOMEM;
	for (k = 0; k <= len; k++) {
		if (k < len && val[k] == ',' && val[k + 1] == ',') {
			cur[o++] = ',';
			k++;
			continue;
		}
		if (k == len || val[k] == ',') {
			char **nv = realloc(v, sizeof(*v) * (size_t)(cnt + 1));

			cur[o] = '\0';
			if (!nv || !(nv[cnt] = strdup(cur))) {
				free(nv ? nv : v);
				free(cur);
				return -ENOMEM;
			}
			v = nv;
			cnt++;
			o = 0;
			continue;
		}
		cur[o++] = val[k];
	}
	free(cur);
	*items = v;
	*n = cnt;
	return 0;
}

/* Append @s to @out with commas doubled. */
static void append_escaped(char *out, size_t size, const char *s)
{
	size_t o = strlen(out);

	for (; *s && o + 2 < size; s++) {
		out[o++] = *s;
		if (*s == ',')
			out[o++] = ',';
	}
	out[o] = '\0';
}

/*
 * Rewrite one -netdev value in place (new string). Returns 0, or -1 after
 * saying why.
 */
static int rewrite_netdev(struct launcher *l, const char *val, char **out)
{
	char **items, nic[64] = "", script[PATH_MAX] = "", ifname[32] = "";
	bool has_fd = false;
	size_t size = strlen(val) + 64;
	char *res;
	int n, k, ret = -1;

	if (strncmp(val, "tap,", 4) && strcmp(val, "tap")) {
		*out = strdup(val);
		return *out ? 0 : -1;
	}
	if (split_opts(val, &items, &n)) {
		say("out of memory");
		return -1;
	}
	res = calloc(1, size);
	if (!res)
		goto out;
	for (k = 0; k < n; k++) {
		const char *it = items[k];

		if (!strncmp(it, "colo_nicname=", 13)) {
			snprintf(nic, sizeof(nic), "%s", it + 13);
			continue;
		}
		if (!strncmp(it, "colo_script=", 12)) {
			snprintf(script, sizeof(script), "%s", it + 12);
			continue;
		}
		if (!strncmp(it, "ifname=", 7))
			snprintf(ifname, sizeof(ifname), "%s", it + 7);
		if (!strncmp(it, "fd=", 3) || !strncmp(it, "fds=", 4))
			has_fd = true;
		if (k)
			strcat(res, ",");
		append_escaped(res, size, it);
	}
	if (!nic[0] && !script[0]) {
		ret = 0;
		goto done;
	}
	if (!nic[0] || !script[0]) {
		say("-netdev %s: colo_nicname= and colo_script= go together", val);
		goto out;
	}
	if (l->n_taps == MAX_TAPS) {
		say("more than %d COLO taps", MAX_TAPS);
		goto out;
	}
	if (!ifname[0]) {
		if (has_fd) {
			say("-netdev %s: a tap passed by fd= needs ifname= too, to find it", val);
			goto out;
		}
		snprintf(ifname, sizeof(ifname), "colo%u.%d", l->vm_id, l->n_taps);
		strcat(res, ",ifname=");
		strcat(res, ifname);
	}
	snprintf(l->taps[l->n_taps].fwd, sizeof(l->taps[0].fwd), "%s", nic);
	snprintf(l->taps[l->n_taps].script, sizeof(l->taps[0].script), "%s",
		 script);
	snprintf(l->taps[l->n_taps].ifname, sizeof(l->taps[0].ifname), "%s",
		 ifname);
	l->n_taps++;
	ret = 0;
done:
	*out = res;
	res = NULL;
out:
	free(res);
	for (k = 0; k < n; k++)
		free(items[k]);
	free(items);
	return ret;
}

static int build_qemu_argv(struct launcher *l, int argc, char **argv)
{
	char **v;
	int k, o = 0;

	v = calloc((size_t)argc + 4, sizeof(*v));
	if (!v)
		return -1;
	for (k = 0; k < argc; k++) {
		v[o++] = argv[k];
		if ((!strcmp(argv[k], "-netdev") || !strcmp(argv[k], "--netdev")) &&
		    k + 1 < argc) {
			if (rewrite_netdev(l, argv[k + 1], &v[o]))
				return -1;
			o++;
			k++;
		}
	}
	v[o++] = "-qmp";
	if (asprintf(&v[o], "unix:%s,server=on,wait=off", l->qmp_path) < 0)
		return -1;
	o++;
	v[o] = NULL;
	l->qemu_argv = v;
	l->qemu_argc = o;
	return 0;
}

static int default_paths(struct launcher *l)
{
	char sock[PATH_MAX], *slash;
	static char self[PATH_MAX];
	bool mode = false;
	ssize_t n;
	int k;

	/* colod's control socket: it appears once the VM is registered */
	for (k = 0; k < l->n_colod_args; k++) {
		const char *a = l->colod_args[k];

		if (!strcmp(a, "--start") || !strcmp(a, "--attach") ||
		    !strcmp(a, "--wait-colo"))
			mode = true;
		if (!strcmp(a, "--ctl") && k + 1 < l->n_colod_args)
			snprintf(l->ctl_path, sizeof(l->ctl_path), "%s",
				 l->colod_args[k + 1]);
		else if (!strncmp(a, "--ctl=", 6))
			snprintf(l->ctl_path, sizeof(l->ctl_path), "%s", a + 6);
	}
	if (!l->ctl_path[0] &&
	    colo_nl_control_path(l->vm_id, l->ctl_path, sizeof(l->ctl_path)) < 0) {
		say("control socket path too long");
		return -1;
	}
	/* QEMU we just started cannot be in COLO yet: colod must wait for it */
	if (!mode)
		l->colod_args[l->n_colod_args++] = "--wait-colo";

	if (!l->qmp_path[0]) {
		if (colo_nl_control_path(l->vm_id, sock, sizeof(sock)) < 0)
			return -1;
		slash = strrchr(sock, '/');
		if (slash) {
			*slash = '\0';
			if (mkdir(sock, 0700) && errno != EEXIST) {
				say("cannot create %s: %s", sock, strerror(errno));
				return -1;
			}
			*slash = '/';
		}
		n = (ssize_t)strlen(sock);
		if (n > 5 && !strcmp(sock + n - 5, ".sock"))
			sock[n - 5] = '\0';
		snprintf(l->qmp_path, sizeof(l->qmp_path), "%s.qmp", sock);
	}
	if (!l->colod) {
		n = readlink("/proc/self/exe", self, sizeof(self) - 8);
		if (n > 0) {
			self[n] = '\0';
			slash = strrchr(self, '/');
			if (slash) {
				strcpy(slash + 1, "colod");
				if (!access(self, X_OK))
					l->colod = self;
			}
		}
		if (!l->colod)
			l->colod = "colod";
	}
	return 0;
}

int colo_qemu_parse_args(struct launcher *l, int argc, char **argv)
{
	int k;

	l->side = "primary";
	l->vm_id = 1;
	l->tap_timeout_s = 30;
	l->script_timeout_s = 60;
	l->max_restarts = 3;
	l->colod_args = calloc((size_t)argc + 1, sizeof(char *));
	if (!l->colod_args)
		return -1;
	for (k = 1; k < argc; k++) {
		const char *a = argv[k];
		uint32_t v;

#define ARG() (k + 1 < argc ? argv[++k] : (say("%s needs a value", a), (char *)NULL))
		if (!strcmp(a, "--")) {
			k++;
			break;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--side")) {
			if (!(l->side = ARG()))
				return -1;
			if (strcmp(l->side, "primary") && strcmp(l->side, "secondary")) {
				say("--side: expected primary or secondary");
				return -1;
			}
		} else if (!strcmp(a, "--vm")) {
			const char *s = ARG();

			if (!s || !parse_u32(s, COLO_VM_ID_MAX, &v) || !v) {
				say("--vm: expected 1..%u", COLO_VM_ID_MAX);
				return -1;
			}
			l->vm_id = v;
		} else if (!strcmp(a, "--qmp")) {
			const char *s = ARG();

			if (!s)
				return -1;
			snprintf(l->qmp_path, sizeof(l->qmp_path), "%s", s);
		} else if (!strcmp(a, "--colod")) {
			if (!(l->colod = ARG()))
				return -1;
		} else if (!strcmp(a, "--no-daemon")) {
			l->no_daemon = true;
		} else if (!strcmp(a, "--colod-restarts")) {
			const char *s = ARG();

			if (!s || !parse_u32(s, 1000, &v)) {
				say("--colod-restarts: expected a count");
				return -1;
			}
			l->max_restarts = (int)v;
		} else if (!strcmp(a, "--tap-timeout") ||
			   !strcmp(a, "--script-timeout")) {
			const char *s = ARG();

			if (!s || !parse_u32(s, 86400, &v)) {
				say("%s: expected seconds", a);
				return -1;
			}
			if (a[2] == 't')
				l->tap_timeout_s = (int)v;
			else
				l->script_timeout_s = (int)v;
		} else {
			l->colod_args[l->n_colod_args++] = argv[k];
		}
#undef ARG
	}
	if (k >= argc) {
		say("no QEMU command line after --");
		usage(stderr);
		return -1;
	}
	if (default_paths(l))
		return -1;
	return build_qemu_argv(l, argc - k, argv + k);
}


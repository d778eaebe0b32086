// SPDX-License-Identifier: GPL-2.0
/*
 * colo-qemu.c - launch stock QEMU for COLO with the historical tap words
 *
 * Objects: colo-qemu.o + libcolo-nl.a (only for colo_nl_control_path's
 * directory convention; no netlink traffic). Runs colod as a child.
 *
 *   colo-qemu [--side primary|secondary] [--vm ID] [own and colod options]
 *             -- qemu-system-x86_64 ARGS...
 *
 * `-netdev tap,...,colo_nicname=FWD,colo_script=PATH` words (which stock
 * QEMU rejects) are stripped. QEMU gets a QMP socket; once it greets there
 * (all netdevs and their ifup scripts done) and the taps exist, colod is
 * started on it (with --wait-colo unless --start/--attach was given); once
 * colod has registered the VM with the kernel (its control socket answers:
 * the targets refuse rules for unregistered VMs), `PATH SIDE install FWD TAP
 * ID` runs, and `PATH SIDE uninstall FWD TAP ID` when QEMU is gone.
 * Single-threaded: signals are taken synchronously with sigtimedwait().
 *
 * colod ending while QEMU runs would end protection silently (the kernel
 * drops the VM with its registration): colo-qemu starts it again, with
 * --wait-colo (it re-registers, attaches to QEMU in COLO and begins with a
 * checkpoint), at most --colod-restarts times a minute; past that it stops
 * the guest (QMP `stop`), which then produces no output nobody verifies.
 *
 * Exit status: QEMU's exit status; 128+N if QEMU was killed by signal N;
 * 124 the tap did not appear in time; 125 usage or setup error; 126 the
 * install script failed; 127 QEMU could not be executed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "colo-qemu: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pid_t spawn(struct launcher *l, char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		sigprocmask(SIG_UNBLOCK, &l->sigs, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "colo-qemu: cannot execute %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		say("fork: %s", strerror(errno));
	return pid;
}

static void describe(const char *who, int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "%s exited with status %d", who,
			 WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "%s killed by signal %d (%s)", who,
			 WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "%s ended", who);
}

/* Reap what has ended; logs it. QEMU first, so colod's log is accurate. */
static void reap(struct launcher *l)
{
	char what[128];
	int st;

	if (l->qemu > 0 && !l->qemu_done &&
	    waitpid(l->qemu, &st, WNOHANG) == l->qemu) {
		l->qemu_done = true;
		l->qemu_status = st;
		describe("QEMU", st, what, sizeof(what));
		say("%s", what);
	}
	if (l->daemon > 0 && !l->daemon_done &&
	    waitpid(l->daemon, &st, WNOHANG) == l->daemon) {
		l->daemon_done = true;
		l->daemon_status = st;
		describe("colod", st, what, sizeof(what));
		if (!l->qemu_done && !l->stopping && kill(l->qemu, 0) == 0)
			say("%s while QEMU runs", what);
		else
			say("%s", what);
	}
}

/* Wait for signals/children up to @ms; returns a terminating signal or 0. */
static int wait_event(struct launcher *l, int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };
	siginfo_t si;
	int sig;

	sig = sigtimedwait(&l->sigs, &si, &ts);
	reap(l);
	if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
		return sig;
	return 0;
}

/* Run the colo_script; returns its exit status (or -1). Bounded. */
static int run_script(struct launcher *l, struct colo_tap *t, const char *op)
{
	char idx[16];
	char *argv[] = { t->script, (char *)l->side, (char *)op, t->fwd,
			 t->ifname, idx, NULL };
	int64_t deadline = now_ms() + (int64_t)l->script_timeout_s * 1000;
	pid_t pid;
	int st;

	snprintf(idx, sizeof(idx), "%u", l->vm_id);
	say("running %s %s %s %s %s %s", t->script, l->side, op, t->fwd,
	    t->ifname, idx);
	pid = spawn(l, argv);
	if (pid < 0)
		return -1;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (now_ms() > deadline) {
			say("%s %s: still running after %d s: killed", t->script,
			    op, l->script_timeout_s);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(20000);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		char what[128];

		describe(t->script, st, what, sizeof(what));
		say("%s %s failed: %s", t->script, op, what);
		return -1;
	}
	return 0;
}

static void uninstall_all(struct launcher *l)
{
	int k;

	for (k = l->n_taps - 1; k >= 0; k--) {
		if (!l->taps[k].installed)
			continue;
		run_script(l, &l->taps[k], "uninstall");
		l->taps[k].installed = false;
	}
}

/* Ask a child to end, then insist. */
static void stop_child(struct launcher *l, pid_t pid, bool *done, int grace_ms)
{
	int64_t deadline;

	if (pid <= 0 || *done)
		return;
	if (pid == l->qemu)
		l->stopping = true;
	kill(pid, SIGTERM);
	deadline = now_ms() + grace_ms;
	while (!*done && now_ms() < deadline)
		wait_event(l, 100);
	if (!*done) {
		kill(pid, SIGKILL);
		while (!*done)
			wait_event(l, 100);
	}
}

/* By ioctl, not /sys: right in whatever network namespace we run. */
static bool taps_exist(struct launcher *l)
{
	int k;

	for (k = 0; k < l->n_taps; k++)
		if (!if_nametoindex(l->taps[k].ifname))
			return false;
	return true;
}

/* Connected stream socket to @path, or -1. */
static int unix_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * QEMU sends the QMP greeting only from its main loop, i.e. after every
 * -netdev was set up, including its ifup script= (which typically makes the
 * tap a bridge port): only then may the colo_script check the topology.
 * Returns 1 once greeted, 0 not yet (retry), -1 on a timeout of the read.
 */
static int qmp_greeted(struct launcher *l)
{
	struct pollfd pfd;
	char buf[512];
	ssize_t n;
	int fd;

	fd = unix_connect(l->qmp_path);
	if (fd < 0)
		return 0;
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	n = poll(&pfd, 1, 1000) == 1 ? read(fd, buf, sizeof(buf) - 1) : -1;
	close(fd);	/* QEMU then takes colod's connection */
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, "\"QMP\"") ? 1 : 0;
}

static int exit_code(struct launcher *l)
{
	if (!l->qemu_done)
		return EXIT_SETUP;
	if (WIFEXITED(l->qemu_status))
		return WEXITSTATUS(l->qemu_status);
	if (WIFSIGNALED(l->qemu_status))
		return 128 + WTERMSIG(l->qemu_status);
	return EXIT_SETUP;
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

static int parse_args(struct launcher *l, int argc, char **argv)
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

static int start_daemon(struct launcher *l)
{
	char vm[16], **v;
	int o = 0, k;

	v = calloc((size_t)l->n_colod_args + 8, sizeof(*v));
	if (!v)
		return -1;
	snprintf(vm, sizeof(vm), "%u", l->vm_id);
	v[o++] = (char *)l->colod;
	v[o++] = "--vm";
	v[o++] = vm;
	v[o++] = "--side";
	v[o++] = (char *)l->side;
	v[o++] = "--qmp";
	v[o++] = l->qmp_path;
	for (k = 0; k < l->n_colod_args; k++)
		v[o++] = l->colod_args[k];
	v[o] = NULL;
	l->daemon = spawn(l, v);
	free(v);
	return l->daemon > 0 ? 0 : -1;
}

/*
 * Stop the guest over QMP (colod is gone, so QEMU takes a new client). Bounded
 * waits: QEMU answers at once or not at all.
 */
static int stop_guest(struct launcher *l)
{
	static const char cmds[] =
		"{\"execute\": \"qmp_capabilities\"}\n{\"execute\": \"stop\"}\n";
	int64_t deadline = now_ms() + 5000;
	char buf[4096];
	size_t len = 0;
	int fd = -1, returns = 0;

	while (fd < 0 && now_ms() < deadline) {
		fd = unix_connect(l->qmp_path);
		if (fd < 0)
			wait_event(l, 100);
	}
	if (fd < 0)
		return -1;
	if (write(fd, cmds, sizeof(cmds) - 1) != (ssize_t)(sizeof(cmds) - 1)) {
		close(fd);
		return -1;
	}
	while (returns < 2 && now_ms() < deadline && len < sizeof(buf) - 1) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		const char *p;
		ssize_t n;

		if (poll(&pfd, 1, 200) != 1)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		for (returns = 0, p = buf; (p = strstr(p, "\"return\"")); p++)
			returns++;
	}
	close(fd);
	return returns >= 2 ? 0 : -1;
}

/* A restarted colod must not migrate again: it attaches or waits. */
static void daemon_args_for_restart(struct launcher *l)
{
	int k;

	for (k = 0; k < l->n_colod_args; k++)
		if (!strcmp(l->colod_args[k], "--start") ||
		    !strcmp(l->colod_args[k], "--attach"))
			l->colod_args[k] = "--wait-colo";
}

/* colod ended while QEMU runs: protection must not end silently. */
static void daemon_lost(struct launcher *l)
{
	int64_t now = now_ms();

	if (l->gave_up)
		return;
	if (!l->restart_at) {
		if (now - l->restart_window > 60000) {
			l->restart_window = now;
			l->restarts = 0;
		}
		if (l->restarts >= l->max_restarts) {
			say("colod ended again (%d restarts allowed a minute): stopping the guest, so that no output leaves unverified; start colod by hand and `cont` it",
			    l->max_restarts);
			l->gave_up = true;
			if (stop_guest(l))
				say("could not stop the guest over QMP: stopping QEMU");
			else
				return;
			stop_child(l, l->qemu, &l->qemu_done, 10000);
			return;
		}
		l->restarts++;
		l->restart_at = now + 500LL * l->restarts;
		return;
	}
	if (now < l->restart_at)
		return;
	l->restart_at = 0;
	daemon_args_for_restart(l);
	l->daemon_done = false;
	say("restarting colod (%d of %d this minute): it registers vm %u again, attaches and resumes with a checkpoint",
	    l->restarts, l->max_restarts, l->vm_id);
	if (start_daemon(l)) {
		l->daemon_done = true;
		l->daemon = 0;
	}
}

int main(int argc, char **argv)
{
	static struct launcher ll;
	struct launcher *l = &ll;
	int64_t deadline;
	int sig = 0, k, rc;

	if (parse_args(l, argc, argv))
		return EXIT_SETUP;
	sigemptyset(&l->sigs);
	sigaddset(&l->sigs, SIGCHLD);
	sigaddset(&l->sigs, SIGTERM);
	sigaddset(&l->sigs, SIGINT);
	sigaddset(&l->sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &l->sigs, NULL);

	unlink(l->qmp_path);	/* a stale socket would make QEMU fail */
	l->qemu = spawn(l, l->qemu_argv);
	if (l->qemu < 0)
		return EXIT_SETUP;

	/*
	 * QEMU greets on QMP once its -netdevs (and their ifup scripts) are
	 * set up; the taps must exist then.
	 */
	deadline = now_ms() + (int64_t)l->tap_timeout_s * 1000;
	for (;;) {
		if (l->qemu_done)
			return exit_code(l);
		if ((sig = wait_event(l, 50)))
			goto stop;
		if (qmp_greeted(l) > 0 && taps_exist(l))
			break;
		if (now_ms() > deadline) {
			if (!taps_exist(l))
				say("tap %s did not appear within %d s",
				    l->taps[0].ifname, l->tap_timeout_s);
			else
				say("QEMU did not answer on %s within %d s",
				    l->qmp_path, l->tap_timeout_s);
			stop_child(l, l->qemu, &l->qemu_done, 5000);
			return EXIT_TAP_TIMEOUT;
		}
	}
	/*
	 * The PMYCOLO/SECCOLO targets refuse rules for an unregistered VM, and
	 * colod registers it: colod first, the script once colod's control
	 * socket (created after PROXY_INIT) answers.
	 */
	if (!l->no_daemon) {
		if (start_daemon(l)) {
			stop_child(l, l->qemu, &l->qemu_done, 5000);
			return EXIT_SETUP;
		}
		deadline = now_ms() + (int64_t)l->tap_timeout_s * 1000;
		for (;;) {
			int fd;

			if ((sig = wait_event(l, 50)))
				goto stop;
			if (l->daemon_done) {
				say("colod ended before registering vm %u: rules not installed",
				    l->vm_id);
				stop_child(l, l->qemu, &l->qemu_done, 5000);
				return EXIT_SETUP;
			}
			if (l->qemu_done)
				goto stop;
			fd = unix_connect(l->ctl_path);
			if (fd >= 0) {
				close(fd);
				break;
			}
			if (now_ms() > deadline) {
				say("colod did not open %s within %d s", l->ctl_path,
				    l->tap_timeout_s);
				stop_child(l, l->qemu, &l->qemu_done, 5000);
				stop_child(l, l->daemon, &l->daemon_done, 5000);
				return EXIT_SETUP;
			}
		}
	}
	for (k = 0; k < l->n_taps; k++) {
		l->taps[k].installed = true;	/* uninstall even a partial one */
		if (run_script(l, &l->taps[k], "install")) {
			stop_child(l, l->qemu, &l->qemu_done, 5000);
			stop_child(l, l->daemon, &l->daemon_done, 5000);
			uninstall_all(l);
			return EXIT_SCRIPT;
		}
	}
	while (!l->qemu_done) {
		int ms = l->restart_at ? 100 : 1000;

		if ((sig = wait_event(l, ms)))
			break;
		if (!l->no_daemon && l->daemon_done && !l->qemu_done &&
		    !l->stopping)
			daemon_lost(l);
	}
stop:
	if (sig)
		say("%s: stopping QEMU", strsignal(sig));
	stop_child(l, l->qemu, &l->qemu_done, 10000);
	/* colod sees QMP close and exits by itself; give it a moment */
	if (l->daemon > 0 && !l->daemon_done) {
		deadline = now_ms() + 5000;
		while (!l->daemon_done && now_ms() < deadline)
			wait_event(l, 100);
		stop_child(l, l->daemon, &l->daemon_done, 5000);
	}
	uninstall_all(l);
	unlink(l->qmp_path);
	rc = exit_code(l);
	return rc;
}

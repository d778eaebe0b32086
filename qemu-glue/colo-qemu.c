// SPDX-License-Identifier: GPL-2.0
/*
 * colo-qemu.c - launch stock QEMU for COLO with the historical tap words
 *
 * Objects: colo-qemu.o colo-qemu-args.o + libcolo-nl.a (only for
 * colo_nl_control_path's directory convention; no netlink traffic). Runs
 * colod as a child.
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

#include "colo-qemu.h"


void say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "colo-qemu: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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

	if (colo_qemu_parse_args(l, argc, argv))
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

// SPDX-License-Identifier: GPL-2.0
/*
 * colo-ctl - inspect and drive the colo-proxy kernel modules
 *
 * Messages for humans go to stderr prefixed "colo-ctl:"; machine-readable
 * lines (register, session, monitor) go to stdout, one per line, flushed.
 * Exit status (colo-ctl(8)): 0 success, 1 the operation failed, 2 usage
 * error, 3 the kernel proxy is not there (nfnetlink_colo not loaded).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "colo-nl.h"

#define PROG			"colo-ctl"
#define CTRL_LINE_MAX		256
#define CTRL_CLIENTS_MAX	8
#define CTRL_REPLY_TIMEOUT_S	60

#define EXIT_FAIL		1	/* the operation failed */
#define EXIT_USAGE		2	/* bad subcommand, option or argument */
#define EXIT_NOPROXY		3	/* no COLO generic netlink family */

#ifndef COLO_CTL_VERSION
#define COLO_CTL_VERSION	"1.0"
#endif

static void __attribute__((format(printf, 1, 2))) err_msg(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* stdout is a pipe or fifo for the tests: a lost reader is fatal. */
static int out_flush(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		err_msg("cannot write to standard output: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *v)
{
	unsigned long long n;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || *end || n < min || n > max)
		return -EINVAL;
	*v = (uint32_t)n;
	return 0;
}

static int parse_vm_id(const char *s, uint32_t *vm_id)
{
	if (parse_u32(s, 1, COLO_VM_ID_MAX, vm_id) < 0) {
		err_msg("invalid VM id `%s' (expected 1..%u)", s ? s : "",
			COLO_VM_ID_MAX);
		return -EINVAL;
	}
	return 0;
}

static int parse_mode(const char *s, uint8_t *mode)
{
	if (s && !strcmp(s, "primary"))
		*mode = COLO_MODE_PRIMARY;
	else if (s && !strcmp(s, "secondary"))
		*mode = COLO_MODE_SECONDARY;
	else {
		err_msg("invalid mode `%s' (expected primary or secondary)",
			s ? s : "");
		return -EINVAL;
	}
	return 0;
}

/* getopt_long() returned '?' or ':' (opterr is 0: messages are ours). */
static int bad_option(const char *sub, int c, char *argv[])
{
	if (c == ':')
		err_msg("%s: option `%s' needs an argument", sub, argv[optind - 1]);
	else
		err_msg("%s: invalid option `%s' (see `" PROG " %s --help')", sub,
			argv[optind - 1], sub);
	return EXIT_USAGE;
}

static int open_nl(struct colo_nl **nl)
{
	int ret = colo_nl_open(nl);

	if (ret < 0)
		err_msg("%s", colo_nl_strerror(ret));
	return ret;
}

/* The exit status for a failed open_nl(). */
static int open_nl_status(int ret)
{
	return ret == -ENOENT ? EXIT_NOPROXY : EXIT_FAIL;
}

/* ------------------------------------------------------------------------
 * Output
 */

static void print_event(const char *prefix, const struct colo_nl_event *ev)
{
	char conn[160];

	printf("%s%s", prefix, colo_nl_cmd_name(ev->cmd));
	if (ev->has_vm_id)
		printf(" vm=%u", ev->vm_id);
	if (ev->has_reason)
		printf(" reason=%s", colo_nl_reason_name(ev->reason));
	if (ev->has_epoch)
		printf(" epoch=%u", ev->epoch);
	if (ev->has_seq)
		printf(" seq=%u", ev->seq);
	if (ev->has_conn && !colo_nl_format_conn(&ev->conn, conn, sizeof(conn)))
		printf(" conn=%s", conn);
	if (ev->has_mode)
		printf(" mode=%s", colo_nl_mode_name(ev->mode));
	if (ev->has_portid)
		printf(" port=%u", ev->portid);
	putchar('\n');
}

static void timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06ld", ts.tv_nsec / 1000);
}

/*
 * Read and print what is waiting on the socket plus what the library queued
 * during requests. 0, or -errno on a fatal socket error.
 */
static int drain_events(struct colo_nl *nl, bool read_socket, bool stamped)
{
	struct colo_nl_event ev;
	char prefix[64];
	int ret;

	while (read_socket || colo_nl_event_pending(nl)) {
		read_socket = false;
		ret = colo_nl_recv_event(nl, &ev);
		if (ret == 0 || ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret == -ENOBUFS) {
			err_msg("warning: %s", colo_nl_strerror(ret));
			if (stamped) {
				timestamp(prefix, sizeof(prefix));
				printf("%s overrun\n", prefix);
			} else {
				printf("notice overrun\n");
			}
			continue;
		}
		if (ret == -EPROTO) {
			err_msg("warning: ignoring a malformed message from the kernel");
			continue;
		}
		if (ret < 0) {
			err_msg("receiving notifications: %s", colo_nl_strerror(ret));
			return ret;
		}
		if (stamped) {
			timestamp(prefix, sizeof(prefix));
			strcat(prefix, " ");
		} else {
			snprintf(prefix, sizeof(prefix), "notice ");
		}
		print_event(prefix, &ev);
	}
	return out_flush();
}

static void json_str(const char *key, const char *val, bool comma)
{
	printf("\"%s\":\"%s\"%s", key, val, comma ? "," : "");
}

static void print_vm_json(const struct colo_nl_vm *vm, bool conns)
{
	char buf[160];
	unsigned int i;

	printf("{\"vm_id\":%u,", vm->vm_id);
	json_str("mode", colo_nl_mode_name(vm->mode), true);
	json_str("state", colo_nl_state_name(vm->state), true);
	printf("\"epoch\":%u,\"portid\":%u,\"hold_timeout_ms\":%u,"
	       "\"queue_limit\":%u,\"mem_limit_kb\":%u,\"conn_limit\":%u,"
	       "\"stats\":{",
	       vm->epoch, vm->portid, vm->hold_timeout_ms, vm->queue_limit,
	       vm->mem_limit_kb, vm->conn_limit);
	for (i = COLO_STAT_PAD + 1; i <= COLO_STAT_MAX; i++)
		printf("\"%s\":%llu%s", colo_nl_stat_name(i),
		       (unsigned long long)vm->stats.v[i],
		       i < COLO_STAT_MAX ? "," : "");
	putchar('}');
	if (conns) {
		printf(",\"conns\":[");
		for (i = 0; i < vm->n_conns; i++) {
			const struct colo_nl_conn *c = &vm->conns[i];

			if (colo_nl_format_conn(c, buf, sizeof(buf)))
				buf[0] = '\0';
			printf("%s{\"conn\":\"%s\",\"family\":%u,\"proto\":%u,"
			       "\"sport\":%u,\"dport\":%u,\"held\":%u,"
			       "\"svm_queued\":%u,\"matched_seq\":%u,"
			       "\"offset\":%u}", i ? "," : "", buf, c->family,
			       c->proto, c->sport, c->dport, c->held,
			       c->svm_queued, c->matched_seq, c->offset);
		}
		putchar(']');
	}
	printf("}\n");
}

static void print_vm(const struct colo_nl_vm *vm, bool conns)
{
	char buf[160];
	unsigned int i;

	printf("vm %u: %s, state %s, epoch %u\n", vm->vm_id,
	       colo_nl_mode_name(vm->mode), colo_nl_state_name(vm->state),
	       vm->epoch);
	printf("  owner port: %u\n", vm->portid);
	printf("  hold timeout: %u ms, queue limit: %u packets, memory limit: %u KiB, connection limit: %u\n",
	       vm->hold_timeout_ms, vm->queue_limit, vm->mem_limit_kb,
	       vm->conn_limit);
	printf("  counters:\n");
	for (i = COLO_STAT_PAD + 1; i <= COLO_STAT_MAX; i++)
		printf("    %-20s %llu\n", colo_nl_stat_name(i),
		       (unsigned long long)vm->stats.v[i]);
	if (!conns)
		return;
	printf("  connections: %u\n", vm->n_conns);
	for (i = 0; i < vm->n_conns; i++) {
		const struct colo_nl_conn *c = &vm->conns[i];

		if (colo_nl_format_conn(c, buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "(bad address)");
		printf("    %s held %u svm_queued %u matched_seq %u offset %u\n",
		       buf, c->held, c->svm_queued, c->matched_seq, c->offset);
	}
}

/* One line for `session`'s status command. */
static void print_vm_line(const struct colo_nl_vm *vm)
{
	unsigned int i;

	printf("status vm=%u mode=%s state=%s epoch=%u port=%u",
	       vm->vm_id, colo_nl_mode_name(vm->mode),
	       colo_nl_state_name(vm->state), vm->epoch, vm->portid);
	for (i = COLO_STAT_PAD + 1; i <= COLO_STAT_MAX; i++)
		printf(" %s=%llu", colo_nl_stat_name(i),
		       (unsigned long long)vm->stats.v[i]);
	putchar('\n');
}

/* ------------------------------------------------------------------------
 * status
 */

static int status_one(struct colo_nl *nl, uint32_t vm_id, bool conns,
		      bool json, bool *first)
{
	struct colo_nl_vm vm;
	int ret;

	ret = colo_nl_get(nl, vm_id, conns, &vm);
	if (ret < 0) {
		err_msg("vm %u: %s", vm_id, colo_nl_errmsg(nl, ret));
		return ret;
	}
	if (json) {
		if (!*first)
			putchar(',');
		print_vm_json(&vm, conns);
	} else {
		print_vm(&vm, conns);
	}
	*first = false;
	colo_nl_vm_free(&vm);
	return 0;
}

/* VM ids that have an owner's control socket in the run directory. */
static int scan_run_dir(uint32_t **ids, unsigned int *n, char *dir, size_t len)
{
	char path[PATH_MAX], *slash;
	struct dirent *de;
	uint32_t id, *tmp;
	DIR *d;
	int ret = 0;

	*ids = NULL;
	*n = 0;
	if (colo_nl_control_path(1, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	slash = strrchr(path, '/');
	*slash = '\0';
	snprintf(dir, len, "%s", path);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char num[16];
		size_t l = strlen(de->d_name);

		if (l < 8 || l > 7 + 8 || strncmp(de->d_name, "vm", 2) ||
		    strcmp(de->d_name + l - 5, ".sock"))
			continue;
		snprintf(num, sizeof(num), "%.*s", (int)(l - 7), de->d_name + 2);
		if (parse_u32(num, 1, COLO_VM_ID_MAX, &id) < 0)
			continue;
		tmp = realloc(*ids, (*n + 1) * sizeof(**ids));
		if (!tmp) {
			ret = -ENOMEM;
			break;
		}
		*ids = tmp;
		(*ids)[(*n)++] = id;
	}
	closedir(d);
	return ret;
}

static int cmd_status(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "conns", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool conns = false, json = false, first = true;
	struct colo_nl *nl;
	uint32_t vm_id = 0, *ids;
	unsigned int n, i;
	char dir[PATH_MAX];
	int c, ret, rc = 0;

	while ((c = getopt_long(argc, argv, ":cjh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conns = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			printf("Usage: " PROG " status [VMID] [--conns] [--json]\n");
			return 0;
		default:
			return bad_option("status", c, argv);
		}
	}
	if (argc - optind > 1) {
		err_msg("status: too many arguments");
		return EXIT_USAGE;
	}
	if (argc - optind == 1 && parse_vm_id(argv[optind], &vm_id) < 0)
		return EXIT_USAGE;
	ret = open_nl(&nl);
	if (ret < 0)
		return open_nl_status(ret);

	/* One JSON shape with or without a VM id: the family and the VMs. */
	if (json)
		printf("{\"family_id\":%u,\"monitor_group\":%u,\"vms\":[",
		       colo_nl_family_id(nl), colo_nl_monitor_group(nl));
	if (vm_id) {
		rc = status_one(nl, vm_id, conns, json, &first) < 0;
		if (json)
			printf("]}\n");
		goto out;
	}

	ret = scan_run_dir(&ids, &n, dir, sizeof(dir));
	if (ret < 0)
		err_msg("cannot read %s: %s", dir, strerror(-ret));
	if (!json) {
		printf("module nfnetlink_colo loaded: family %s id %u, monitor group %u\n",
		       COLO_GENL_NAME, colo_nl_family_id(nl),
		       colo_nl_monitor_group(nl));
		if (!n)
			printf("no VM owner sockets in %s (give a VM id to query one)\n",
			       dir);
	}
	for (i = 0; i < n; i++)
		if (status_one(nl, ids[i], conns, json, &first) < 0)
			rc = 1;
	if (json)
		printf("]}\n");
	free(ids);
out:
	colo_nl_close(nl);
	if (out_flush() < 0)
		rc = 1;
	return rc;
}

/* ------------------------------------------------------------------------
 * register / session: hold a registration
 */

struct ctrl_client {
	int fd;
	size_t len;
	char buf[CTRL_LINE_MAX];
};

struct holder {
	struct colo_nl *nl;
	uint32_t vm_id;
	uint8_t mode;
	bool session;
	int sig_fd;
	int listen_fd;
	char ctrl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctrl_client clients[CTRL_CLIENTS_MAX];
	size_t in_len;
	char in_buf[1024];
	bool quit;
};

static int do_checkpoint(struct colo_nl *nl, uint32_t vm_id)
{
	int ret = colo_nl_checkpoint_begin(nl, vm_id);

	if (ret < 0)
		return ret;
	return colo_nl_checkpoint_done(nl, vm_id);
}

static int ctrl_listen(struct holder *h)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[sizeof(sun.sun_path)], *slash;
	mode_t old_umask;
	int fd, ret;

	h->listen_fd = -1;
	if (colo_nl_control_path(h->vm_id, sun.sun_path, sizeof(sun.sun_path)) < 0)
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", sun.sun_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A live socket belongs to another owner (another netns); a dead one is stale. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		ret = -EADDRINUSE;
		goto err_close;
	}
	if (errno == ECONNREFUSED)
		unlink(sun.sun_path);
	close(fd);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old_umask = umask(0077);
	ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (ret < 0) {
		ret = -errno;
		goto err_close;
	}
	if (listen(fd, 4) < 0) {
		ret = -errno;
		unlink(sun.sun_path);
		goto err_close;
	}
	h->listen_fd = fd;
	snprintf(h->ctrl_path, sizeof(h->ctrl_path), "%s", sun.sun_path);
	return 0;

err_close:
	close(fd);
	return ret;
}

static void ctrl_close_all(struct holder *h)
{
	int i;

	for (i = 0; i < CTRL_CLIENTS_MAX; i++) {
		if (h->clients[i].fd >= 0)
			close(h->clients[i].fd);
		h->clients[i].fd = -1;
	}
	if (h->listen_fd >= 0) {
		close(h->listen_fd);
		unlink(h->ctrl_path);
		h->listen_fd = -1;
	}
}

static void ctrl_accept(struct holder *h)
{
	int fd, i;

	fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (i = 0; i < CTRL_CLIENTS_MAX; i++) {
		if (h->clients[i].fd < 0) {
			h->clients[i].fd = fd;
			h->clients[i].len = 0;
			return;
		}
	}
	dprintf(fd, "error too many control connections\n");
	close(fd);
}

static void ctrl_reply(struct ctrl_client *c, const char *fmt, ...)
{
	char line[CTRL_LINE_MAX + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	/* Short replies to a local peer; a peer that doesn't read loses them. */
	if (send(c->fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
		close(c->fd);
		c->fd = -1;
	}
}

static void ctrl_line(struct holder *h, struct ctrl_client *c, char *line)
{
	int ret;

	if (!strcmp(line, "checkpoint")) {
		ret = do_checkpoint(h->nl, h->vm_id);
	} else if (!strcmp(line, "failover")) {
		ret = colo_nl_failover(h->nl, h->vm_id);
	} else {
		ctrl_reply(c, "error unknown command\n");
		return;
	}
	if (ret < 0) {
		ctrl_reply(c, "error %s\n", colo_nl_errmsg(h->nl, ret));
		if (h->session)
			printf("control %s error: %s\n", line,
			       colo_nl_errmsg(h->nl, ret));
	} else {
		ctrl_reply(c, "ok\n");
		if (h->session)
			printf("control %s ok\n", line);
	}
}

static void ctrl_read(struct holder *h, struct ctrl_client *c)
{
	char *nlc;
	ssize_t n;

	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(c->fd);
		c->fd = -1;
		return;
	}
	c->len += n;
	c->buf[c->len] = '\0';
	while (c->fd >= 0 && (nlc = memchr(c->buf, '\n', c->len))) {
		size_t used = nlc - c->buf + 1;

		*nlc = '\0';
		if (nlc > c->buf && nlc[-1] == '\r')
			nlc[-1] = '\0';
		ctrl_line(h, c, c->buf);
		if (c->fd < 0)
			return;
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		c->buf[c->len] = '\0';
	}
	if (c->fd >= 0 && c->len == sizeof(c->buf) - 1) {
		ctrl_reply(c, "error line too long\n");
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
	}
}

/* A command from `session`'s stdin; answers "ok CMD" or "error CMD: MSG". */
static void session_line(struct holder *h, char *line)
{
	struct colo_nl_vm vm;
	char *cmd, *extra;
	int ret;

	cmd = strtok_r(line, " \t\r", &extra);
	if (!cmd || *cmd == '#')
		return;
	if (strtok_r(NULL, " \t\r", &extra)) {
		printf("error %s: unexpected argument\n", cmd);
		return;
	}

	if (!strcmp(cmd, "begin")) {
		ret = colo_nl_checkpoint_begin(h->nl, h->vm_id);
	} else if (!strcmp(cmd, "done")) {
		ret = colo_nl_checkpoint_done(h->nl, h->vm_id);
	} else if (!strcmp(cmd, "checkpoint")) {
		ret = do_checkpoint(h->nl, h->vm_id);
	} else if (!strcmp(cmd, "failover")) {
		ret = colo_nl_failover(h->nl, h->vm_id);
	} else if (!strcmp(cmd, "reset")) {
		ret = colo_nl_reset(h->nl, h->vm_id);
	} else if (!strcmp(cmd, "status")) {
		ret = colo_nl_get(h->nl, h->vm_id, false, &vm);
		if (ret == 0) {
			print_vm_line(&vm);
			colo_nl_vm_free(&vm);
		}
	} else if (!strcmp(cmd, "quit")) {
		h->quit = true;
		ret = 0;
	} else {
		printf("error %s: unknown command (begin, done, checkpoint, failover, reset, status, quit)\n",
		       cmd);
		return;
	}
	if (ret < 0)
		printf("error %s: %s\n", cmd, colo_nl_errmsg(h->nl, ret));
	else
		printf("ok %s\n", cmd);
}

static int session_read(struct holder *h)
{
	char *nlc;
	ssize_t n;

	n = read(STDIN_FILENO, h->in_buf + h->in_len,
		 sizeof(h->in_buf) - 1 - h->in_len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0) {
		/* EOF: like quit, but a partial last line still counts. */
		if (h->in_len) {
			h->in_buf[h->in_len] = '\0';
			session_line(h, h->in_buf);
			h->in_len = 0;
		}
		h->quit = true;
		return 0;
	}
	h->in_len += n;
	h->in_buf[h->in_len] = '\0';
	while (!h->quit && (nlc = memchr(h->in_buf, '\n', h->in_len))) {
		size_t used = nlc - h->in_buf + 1;

		*nlc = '\0';
		session_line(h, h->in_buf);
		memmove(h->in_buf, h->in_buf + used, h->in_len - used);
		h->in_len -= used;
		h->in_buf[h->in_len] = '\0';
	}
	if (h->in_len == sizeof(h->in_buf) - 1) {
		printf("error line: too long\n");
		h->in_len = 0;
	}
	return 0;
}

static int setup_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int hold_loop(struct holder *h)
{
	struct pollfd pfd[4 + CTRL_CLIENTS_MAX];
	int n, i, ret;

	while (!h->quit) {
		n = 0;
		pfd[n++] = (struct pollfd){ .fd = colo_nl_fd(h->nl), .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = h->sig_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = h->session ? STDIN_FILENO : -1,
					    .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = h->listen_fd, .events = POLLIN };
		for (i = 0; i < CTRL_CLIENTS_MAX; i++)
			pfd[n++] = (struct pollfd){ .fd = h->clients[i].fd,
						    .events = POLLIN };

		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			err_msg("poll: %s", strerror(errno));
			return -errno;
		}
		if (pfd[1].revents)
			return 0;
		if (pfd[0].revents & POLLIN) {
			ret = drain_events(h->nl, true, false);
			if (ret < 0)
				return ret;
		}
		if (pfd[0].revents & (POLLERR | POLLHUP)) {
			err_msg("netlink socket error");
			return -EIO;
		}
		if (pfd[2].revents) {
			ret = session_read(h);
			if (ret < 0) {
				err_msg("reading commands: %s", strerror(-ret));
				return ret;
			}
		}
		if (pfd[3].revents & POLLIN)
			ctrl_accept(h);
		for (i = 0; i < CTRL_CLIENTS_MAX; i++)
			if (pfd[4 + i].revents && h->clients[i].fd == pfd[4 + i].fd)
				ctrl_read(h, &h->clients[i]);
		/* Notices that arrived while a command waited for its ack. */
		ret = drain_events(h->nl, false, false);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int hold(int argc, char *argv[], bool session)
{
	static const struct option opts[] = {
		{ "hold-timeout", required_argument, NULL, 't' },
		{ "queue-limit", required_argument, NULL, 'q' },
		{ "mem-limit", required_argument, NULL, 'm' },
		{ "conn-limit", required_argument, NULL, 'c' },
		{ "no-control", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct holder h = { .sig_fd = -1, .listen_fd = -1, .session = session };
	struct colo_nl_limits lim = { 0 };
	bool control = true;
	int c, i, ret, rc = 1;

	for (i = 0; i < CTRL_CLIENTS_MAX; i++)
		h.clients[i].fd = -1;
	while ((c = getopt_long(argc, argv, ":t:q:m:c:nh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_u32(optarg, 0, UINT32_MAX - 1, &lim.hold_timeout_ms) < 0) {
				err_msg("invalid --hold-timeout `%s' (milliseconds, 0 = never)",
					optarg);
				return EXIT_USAGE;
			}
			if (!lim.hold_timeout_ms)
				lim.hold_timeout_ms = COLO_NL_HOLD_TIMEOUT_NEVER;
			break;
		case 'q':
			if (parse_u32(optarg, 1, UINT32_MAX, &lim.queue_limit) < 0) {
				err_msg("invalid --queue-limit `%s' (packets, at least 1)",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'm':
			if (parse_u32(optarg, COLO_MIN_MEM_LIMIT_KB, UINT32_MAX,
				      &lim.mem_limit_kb) < 0) {
				err_msg("invalid --mem-limit `%s' (KiB, at least %u)",
					optarg, COLO_MIN_MEM_LIMIT_KB);
				return EXIT_USAGE;
			}
			break;
		case 'c':
			if (parse_u32(optarg, 1, UINT32_MAX, &lim.conn_limit) < 0) {
				err_msg("invalid --conn-limit `%s' (connections, at least 1)",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'n':
			control = false;
			break;
		case 'h':
			printf("Usage: " PROG " %s VMID primary|secondary [--hold-timeout MS] [--queue-limit N] [--mem-limit KIB] [--conn-limit N] [--no-control]\n",
			       session ? "session" : "register");
			return 0;
		default:
			return bad_option(session ? "session" : "register", c,
					  argv);
		}
	}
	if (argc - optind != 2) {
		err_msg("%s: expected VMID and primary|secondary (see `" PROG " --help')",
			session ? "session" : "register");
		return EXIT_USAGE;
	}
	if (parse_vm_id(argv[optind], &h.vm_id) < 0 ||
	    parse_mode(argv[optind + 1], &h.mode) < 0)
		return EXIT_USAGE;

	/* Signals first: a SIGTERM right after registering must unwind cleanly. */
	h.sig_fd = setup_signals();
	if (h.sig_fd < 0) {
		err_msg("signals: %s", strerror(errno));
		return 1;
	}
	if (session || control)
		setvbuf(stdout, NULL, _IOLBF, 0);

	ret = open_nl(&h.nl);
	if (ret < 0) {
		rc = open_nl_status(ret);
		goto err_open;
	}
	ret = colo_nl_proxy_init(h.nl, h.vm_id, h.mode, &lim);
	if (ret < 0) {
		err_msg("vm %u: register as %s: %s", h.vm_id,
			colo_nl_mode_name(h.mode), colo_nl_errmsg(h.nl, ret));
		goto err_init;
	}
	if (control) {
		ret = ctrl_listen(&h);
		if (ret < 0)
			err_msg("warning: vm %u: no control socket (%s): manual checkpoint/failover unavailable",
				h.vm_id, strerror(-ret));
	}
	printf("registered vm=%u mode=%s port=%u\n", h.vm_id,
	       colo_nl_mode_name(h.mode), colo_nl_portid(h.nl));
	if (out_flush() < 0)
		goto err_loop;

	if (hold_loop(&h) == 0)
		rc = 0;
	if (out_flush() < 0)
		rc = 1;

err_loop:
	ctrl_close_all(&h);
err_init:
	/* Closing the socket is what unregisters the VM. */
	colo_nl_close(h.nl);
err_open:
	close(h.sig_fd);
	return rc;
}

static int cmd_register(int argc, char *argv[])
{
	return hold(argc, argv, false);
}

static int cmd_session(int argc, char *argv[])
{
	return hold(argc, argv, true);
}

/* ------------------------------------------------------------------------
 * monitor
 */

static int cmd_monitor(int argc, char *argv[])
{
	struct colo_nl *nl;
	struct pollfd pfd[2];
	int sig_fd, ret, rc = 1;

	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			printf("Usage: " PROG " monitor\n");
			return 0;
		}
		err_msg("monitor: unexpected argument `%s'", argv[1]);
		return EXIT_USAGE;
	}
	sig_fd = setup_signals();
	if (sig_fd < 0) {
		err_msg("signals: %s", strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = open_nl(&nl);
	if (ret < 0) {
		rc = open_nl_status(ret);
		goto err_open;
	}
	ret = colo_nl_join_monitor(nl);
	if (ret < 0) {
		err_msg("join monitor group: %s", colo_nl_errmsg(nl, ret));
		goto err_join;
	}
	/* Tells a reader (tests, scripts) that no later echo can be missed. */
	printf("# monitoring family %s id %u group %u\n", COLO_GENL_NAME,
	       colo_nl_family_id(nl), colo_nl_monitor_group(nl));
	if (out_flush() < 0)
		goto err_join;
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = colo_nl_fd(nl), .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			err_msg("poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents) {
			rc = 0;
			break;
		}
		if (pfd[0].revents && drain_events(nl, true, true) < 0)
			break;
	}
err_join:
	colo_nl_close(nl);
err_open:
	close(sig_fd);
	return rc;
}

/* ------------------------------------------------------------------------
 * checkpoint / failover: ask the owner of the registration
 */

static int ctrl_request(uint32_t vm_id, const char *what, int timeout_s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char line[CTRL_LINE_MAX + 64];
	struct pollfd pfd;
	size_t len = 0;
	struct colo_nl *nl;
	struct colo_nl_vm vm;
	int fd, ret, saved;
	ssize_t n;

	if (colo_nl_control_path(vm_id, sun.sun_path, sizeof(sun.sun_path)) < 0) {
		err_msg("vm %u: control socket path too long (check COLO_RUN_DIR)",
			vm_id);
		return 1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_msg("socket: %s", strerror(errno));
		return 1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		saved = errno;
		close(fd);
		if (saved != ENOENT && saved != ECONNREFUSED) {
			err_msg("vm %u: connect to %s: %s", vm_id, sun.sun_path,
				strerror(saved));
			return 1;
		}
		err_msg("vm %u: no COLO daemon is listening on %s%s", vm_id,
			sun.sun_path, saved == ECONNREFUSED ? " (stale socket)" : "");
		err_msg("the kernel accepts %s only from the process that registered the VM (colod, or "
			PROG " register/session)", what);
		/* Best effort: say whether and by whom the VM is registered. */
		if (colo_nl_open(&nl) == 0) {
			if (colo_nl_get(nl, vm_id, false, &vm) == 0) {
				err_msg("vm %u is registered as %s by netlink port %u, which offers no control socket",
					vm_id, colo_nl_mode_name(vm.mode), vm.portid);
				colo_nl_vm_free(&vm);
			} else {
				err_msg("vm %u is not registered", vm_id);
			}
			colo_nl_close(nl);
		}
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	snprintf(line, sizeof(line), "%s\n", what);
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		err_msg("vm %u: sending to %s: %s", vm_id, sun.sun_path,
			strerror(errno));
		goto err;
	}
	while (len < sizeof(line) - 1) {
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		ret = poll(&pfd, 1, timeout_s * 1000);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0) {
			err_msg("vm %u: %s: no answer from the daemon within %d s",
				vm_id, what, timeout_s);
			goto err;
		}
		n = read(fd, line + len, sizeof(line) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_msg("vm %u: %s: the daemon closed the connection without answering",
				vm_id, what);
			goto err;
		}
		len += n;
		line[len] = '\0';
		if (memchr(line, '\n', len))
			break;
	}
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	close(fd);
	if (!strcmp(line, "ok"))
		return 0;
	if (!strncmp(line, "error", 5)) {
		err_msg("vm %u: %s: %s", vm_id, what,
			line[5] == ' ' ? line + 6 : "failed");
		return 1;
	}
	err_msg("vm %u: %s: unexpected answer `%s'", vm_id, what, line);
	return 1;
err:
	close(fd);
	return 1;
}

static int cmd_manual(int argc, char *argv[], const char *what)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint32_t vm_id, timeout = CTRL_REPLY_TIMEOUT_S;
	int c;

	while ((c = getopt_long(argc, argv, ":t:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_u32(optarg, 1, 86400, &timeout) < 0) {
				err_msg("invalid --timeout `%s' (seconds)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			printf("Usage: " PROG " %s VMID [--timeout SECONDS]\n", what);
			return 0;
		default:
			return bad_option(what, c, argv);
		}
	}
	if (argc - optind != 1) {
		err_msg("%s: expected one VMID", what);
		return EXIT_USAGE;
	}
	if (parse_vm_id(argv[optind], &vm_id) < 0)
		return EXIT_USAGE;
	return ctrl_request(vm_id, what, (int)timeout);
}

static int cmd_checkpoint(int argc, char *argv[])
{
	return cmd_manual(argc, argv, "checkpoint");
}

static int cmd_failover(int argc, char *argv[])
{
	return cmd_manual(argc, argv, "failover");
}

/* ------------------------------------------------------------------------
 * main
 */

static const struct {
	const char *name;
	int (*fn)(int argc, char *argv[]);
	const char *args;
	const char *description;
} subcommands[] = {
	{ "status", cmd_status, "[VMID] [--conns] [--json]",
	  "show the state and counters of a VM (all VMs with an owner socket)" },
	{ "register", cmd_register,
	  "VMID primary|secondary [--hold-timeout MS] [--queue-limit N] [--mem-limit KIB] [--conn-limit N] [--no-control]",
	  "register a VM and hold it until SIGINT/SIGTERM, printing notices" },
	{ "session", cmd_session,
	  "VMID primary|secondary [--hold-timeout MS] [--queue-limit N] [--mem-limit KIB] [--conn-limit N] [--no-control]",
	  "like register, plus commands from stdin (begin done checkpoint failover reset status quit)" },
	{ "monitor", cmd_monitor, "",
	  "print every notice and command of every VM until interrupted" },
	{ "checkpoint", cmd_checkpoint, "VMID [--timeout S]",
	  "ask the VM's owner (colod) for a checkpoint" },
	{ "failover", cmd_failover, "VMID [--timeout S]",
	  "ask the VM's owner (colod) to fail over" },
};

static void show_usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: " PROG " <subcommand> [<args>]\n\n");
	fprintf(f, "Available subcommands:\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %s%s%s\n      %s\n", subcommands[i].name,
			*subcommands[i].args ? " " : "", subcommands[i].args,
			subcommands[i].description);
	fprintf(f, "\n  -V, --version\n      print the version\n");
	fprintf(f, "\nYou may pass `--help' to any subcommand. See colo-ctl(8).\n");
	fprintf(f, "Exit status: 0 success, 1 failure, 2 usage error, 3 proxy modules not loaded.\n");
}

int main(int argc, char *argv[])
{
	size_t i;

	if (argc < 2) {
		show_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		show_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf(PROG " " COLO_CTL_VERSION "\n");
		return 0;
	}
	opterr = 0;
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	}
	err_msg("invalid subcommand `%s' (see `" PROG " --help')", argv[1]);
	return EXIT_USAGE;
}

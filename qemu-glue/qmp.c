// SPDX-License-Identifier: GPL-2.0
/*
 * qmp.c - a small QMP client; JSON by jansson (see qmp.h)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"

/* ------------------------------------------------------------------------
 * JSON (jansson)
 */

/* Deepest nesting of arrays/objects in @j; stops counting past @limit. */
static int json_depth(const json_t *j, int limit)
{
	const char *key;
	json_t *v;
	size_t k;
	int d, max = 0;

	if (!json_is_object(j) && !json_is_array(j))
		return 0;
	if (limit <= 0)
		return 1;
	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, key, v) {
			d = json_depth(v, limit - 1);
			if (d > max)
				max = d;
			if (max >= limit)
				break;
		}
	} else {
		json_array_foreach(j, k, v) {
			d = json_depth(v, limit - 1);
			if (d > max)
				max = d;
			if (max >= limit)
				break;
		}
	}
	return max + 1;
}

int qmp_json_parse(const char *text, size_t len, json_t **out,
		   char *err, size_t errlen)
{
	json_error_t e;
	json_t *j;

	if (err && errlen)
		err[0] = '\0';
	/*
	 * json_loadb: the length bounds the text (a NUL is input, not an end);
	 * the end-of-file check refuses trailing data. jansson itself bounds
	 * its recursion (JSON_PARSER_MAX_DEPTH); QMP's limit is checked after.
	 */
	j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		if (err && errlen)
			snprintf(err, errlen, "at byte %d: %s", e.position, e.text);
		return json_error_code(&e) == json_error_out_of_memory ?
		       -ENOMEM : -EPROTO;
	}
	if (json_depth(j, QMP_MAX_DEPTH + 1) > QMP_MAX_DEPTH) {
		json_decref(j);
		if (err && errlen)
			snprintf(err, errlen, "nesting deeper than %d",
				 QMP_MAX_DEPTH);
		return -EPROTO;
	}
	*out = j;
	return 0;
}

const json_t *qmp_get(const json_t *obj, const char *key)
{
	if (!json_is_object(obj))
		return NULL;
	return json_object_get(obj, key);
}

const char *qmp_get_str(const json_t *obj, const char *key)
{
	return json_string_value(qmp_get(obj, key));	/* NULL if no string */
}

bool qmp_get_int(const json_t *obj, const char *key, int64_t *out)
{
	const json_t *v = qmp_get(obj, key);

	if (!json_is_integer(v))
		return false;
	*out = (int64_t)json_integer_value(v);
	return true;
}

bool qmp_get_bool(const json_t *obj, const char *key, bool *out)
{
	const json_t *v = qmp_get(obj, key);

	if (!json_is_boolean(v))
		return false;
	*out = json_is_true(v);
	return true;
}

/* ------------------------------------------------------------------------
 * QMP messages
 */

static int msg_fail(char *err, size_t errlen, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", what);
	return -EPROTO;
}

int qmp_msg_from_json(json_t *root, struct qmp_msg *m, char *err,
		      size_t errlen)
{
	const json_t *v, *ts;
	int64_t sec, usec;

	memset(m, 0, sizeof(*m));
	m->ts_us = -1;
	if (!json_is_object(root))
		return msg_fail(err, errlen, "QMP message is not a JSON object");
	v = qmp_get(root, "id");
	if (json_is_integer(v)) {
		m->has_id = true;
		m->id = (int64_t)json_integer_value(v);
	}	/* any other id is not one of ours */
	if ((v = qmp_get(root, "QMP"))) {
		if (!json_is_object(v))
			return msg_fail(err, errlen, "greeting: \"QMP\" is not an object");
		m->type = QMP_MSG_GREETING;
	} else if ((v = qmp_get(root, "event"))) {
		if (!json_is_string(v))
			return msg_fail(err, errlen, "event: \"event\" is not a string");
		m->type = QMP_MSG_EVENT;
		m->event = json_string_value(v);
		m->data = qmp_get(root, "data");
		if (m->data && !json_is_object(m->data))
			return msg_fail(err, errlen, "event: \"data\" is not an object");
		ts = qmp_get(root, "timestamp");
		if (qmp_get_int(ts, "seconds", &sec) &&
		    qmp_get_int(ts, "microseconds", &usec) && sec >= 0 &&
		    sec <= INT64_MAX / 1000000 - 1 && usec >= 0 &&
		    usec < 1000000)
			m->ts_us = sec * 1000000 + usec;
	} else if ((v = qmp_get(root, "return"))) {
		/* any JSON value (human-monitor-command returns a string) */
		m->type = QMP_MSG_RETURN;
		m->data = v;
	} else if ((v = qmp_get(root, "error"))) {
		m->type = QMP_MSG_ERROR;
		m->err_class = qmp_get_str(v, "class");
		m->err_desc = qmp_get_str(v, "desc");
		if (!m->err_desc)
			return msg_fail(err, errlen, "error reply without a \"desc\" string");
		if (!m->err_class)
			m->err_class = "GenericError";
	} else {
		m->type = QMP_MSG_UNKNOWN;
	}
	m->root = root;
	return 0;
}

void qmp_msg_free(struct qmp_msg *m)
{
	if (!m)
		return;
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------------
 * QMP connection
 */

struct qmp_node {
	struct qmp_node *next;
	struct qmp_msg m;
};

struct qmp {
	int fd;
	char *buf;
	size_t len, cap;
	int64_t next_id;
	struct qmp_node *head, *tail;
	int dead;		/* sticky error once the stream is unusable */
	char version[32];
	char err[512];
};

static void qmp_seterr(struct qmp *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void qmp_seterr(struct qmp *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err, sizeof(q->err), fmt, ap);
	va_end(ap);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int qmp_new(struct qmp **qp, int fd)
{
	struct qmp *q = calloc(1, sizeof(*q));
	int fl;

	if (!q)
		return -ENOMEM;
	q->fd = fd;
	q->next_id = 1;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		free(q);
		return -errno;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	*qp = q;
	return 0;
}

void qmp_close(struct qmp *q)
{
	struct qmp_node *n;

	if (!q)
		return;
	while ((n = q->head)) {
		q->head = n->next;
		qmp_msg_free(&n->m);
		free(n);
	}
	if (q->fd >= 0)
		close(q->fd);
	free(q->buf);
	free(q);
}

int qmp_fd(const struct qmp *q)
{
	return q->fd;
}

const char *qmp_errmsg(const struct qmp *q)
{
	return q->err[0] ? q->err : "no error";
}

const char *qmp_version(const struct qmp *q)
{
	return q->version;
}

bool qmp_pending(const struct qmp *q)
{
	return q->head != NULL;
}

int qmp_next(struct qmp *q, struct qmp_msg *m)
{
	struct qmp_node *n = q->head;

	if (!n)
		return 0;
	q->head = n->next;
	if (!q->head)
		q->tail = NULL;
	*m = n->m;
	free(n);
	return 1;
}

static int qmp_queue(struct qmp *q, const struct qmp_msg *m)
{
	struct qmp_node *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->m = *m;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
	return 0;
}

/* Parse complete lines in the buffer into the queue. */
static int qmp_parse_lines(struct qmp *q)
{
	size_t start = 0;
	char *nl;
	int ret = 0;

	while (start < q->len &&
	       (nl = memchr(q->buf + start, '\n', q->len - start))) {
		size_t l = (size_t)(nl - (q->buf + start));
		const char *line = q->buf + start;
		char perr[160];
		json_t *root;
		struct qmp_msg m;

		start += l + 1;
		/* blank lines (or a lone \r) carry nothing */
		while (l && (line[l - 1] == '\r' || line[l - 1] == ' '))
			l--;
		if (!l)
			continue;
		ret = qmp_json_parse(line, l, &root, perr, sizeof(perr));
		if (ret) {
			qmp_seterr(q, "malformed QMP message from QEMU (%s): %.*s%s",
				   perr, (int)(l > 80 ? 80 : l), line,
				   l > 80 ? "..." : "");
			break;
		}
		ret = qmp_msg_from_json(root, &m, perr, sizeof(perr));
		if (ret) {
			json_decref(root);
			qmp_seterr(q, "invalid QMP message from QEMU (%s): %.*s%s",
				   perr, (int)(l > 80 ? 80 : l), line,
				   l > 80 ? "..." : "");
			break;
		}
		ret = qmp_queue(q, &m);
		if (ret) {
			qmp_msg_free(&m);
			qmp_seterr(q, "out of memory");
			break;
		}
	}
	memmove(q->buf, q->buf + start, q->len - start);
	q->len -= start;
	if (!ret && q->len >= QMP_MAX_LINE) {
		qmp_seterr(q, "QMP message from QEMU longer than %u bytes",
			   QMP_MAX_LINE);
		ret = -EMSGSIZE;
	}
	if (ret)
		q->dead = ret;
	return ret;
}

int qmp_input(struct qmp *q)
{
	ssize_t n;

	if (q->dead)
		return q->dead;
	for (;;) {
		if (q->cap - q->len < 4096) {
			size_t nc = q->cap ? q->cap * 2 : 8192;
			char *nb;

			if (nc > QMP_MAX_LINE + 8192)
				nc = QMP_MAX_LINE + 8192;
			if (nc <= q->cap)
				return qmp_parse_lines(q) ?: -EMSGSIZE;
			nb = realloc(q->buf, nc);
			if (!nb) {
				qmp_seterr(q, "out of memory");
				return -ENOMEM;
			}
			q->buf = nb;
			q->cap = nc;
		}
		n = read(q->fd, q->buf + q->len, q->cap - q->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return qmp_parse_lines(q);
		if (n < 0) {
			int e = errno;

			qmp_parse_lines(q);
			qmp_seterr(q, "QMP connection to QEMU failed: %s",
				   strerror(e));
			q->dead = e == ECONNRESET ? -EPIPE : -e;
			return q->dead;
		}
		if (n == 0) {
			int ret = qmp_parse_lines(q);

			if (ret)
				return ret;
			if (q->len)
				qmp_seterr(q, "QEMU closed the QMP connection in the middle of a message (%zu bytes pending)",
					   q->len);
			else
				qmp_seterr(q, "QEMU closed the QMP connection");
			q->dead = -EPIPE;
			return -EPIPE;
		}
		q->len += (size_t)n;
		if (qmp_parse_lines(q))
			return q->dead;
	}
}

/* Write all of @s, waiting at most @timeout_ms for buffer space. */
static int qmp_write(struct qmp *q, const char *s, size_t len, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	while (len) {
		ssize_t n = send(q->fd, s, len, MSG_NOSIGNAL);
		struct pollfd pfd = { .fd = q->fd, .events = POLLOUT };
		int64_t left;

		if (n > 0) {
			s += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			int e = errno;

			qmp_seterr(q, "cannot send to QEMU: %s", strerror(e));
			q->dead = (e == EPIPE || e == ECONNRESET) ? -EPIPE : -e;
			return q->dead;
		}
		left = deadline - mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			qmp_seterr(q, "QEMU does not read its QMP socket (send blocked %d ms)",
				   timeout_ms);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

int qmp_send(struct qmp *q, const char *cmd, const json_t *args, int64_t *id)
{
	json_t *c = NULL, *name;
	char *line, *nl;
	int64_t myid;
	size_t n;
	int ret;

	if (q->dead)
		return q->dead;
	if (strlen(cmd) > QMP_MAX_CMD) {
		qmp_seterr(q, "command name too long");
		return -EINVAL;
	}
	if (args && !json_is_object(args)) {
		qmp_seterr(q, "%s: arguments are not a JSON object", cmd);
		return -EINVAL;
	}
	name = json_string(cmd);	/* NULL: not UTF-8 (or no memory) */
	if (!name) {
		qmp_seterr(q, "command name is not valid UTF-8");
		return -EINVAL;
	}
	myid = q->next_id;
	c = json_object();
	if (!c) {
		json_decref(name);
		goto nomem;
	}
	/* _set_new takes the value's reference even when it fails */
	if (json_object_set_new(c, "execute", name) ||
	    (args && json_object_set(c, "arguments", (json_t *)args)) ||
	    json_object_set_new(c, "id", json_integer((json_int_t)myid)))
		goto nomem;
	/* compact, so one line: jansson escapes every control character */
	line = json_dumps(c, JSON_COMPACT);
	if (!line)
		goto nomem;
	json_decref(c);
	c = NULL;
	n = strlen(line);
	nl = realloc(line, n + 2);
	if (!nl) {
		free(line);
		goto nomem;
	}
	line = nl;
	line[n++] = '\n';
	line[n] = '\0';
	q->next_id++;
	ret = qmp_write(q, line, n, 2000);
	free(line);
	if (ret)
		return ret;
	if (id)
		*id = myid;
	return 0;
nomem:
	json_decref(c);
	qmp_seterr(q, "out of memory");
	return -ENOMEM;
}

/* Wait for fd readability up to the deadline and read. */
static int qmp_wait_input(struct qmp *q, int64_t deadline)
{
	struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
	int64_t left = deadline - mono_ms();
	int ret;

	if (left <= 0)
		return -ETIMEDOUT;
	ret = poll(&pfd, 1, (int)left);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	return qmp_input(q);
}

/* Take the reply with @id out of the queue, if there. */
static bool qmp_take_reply(struct qmp *q, int64_t id, struct qmp_msg *m)
{
	struct qmp_node *n, *prev = NULL;

	for (n = q->head; n; prev = n, n = n->next) {
		if ((n->m.type != QMP_MSG_RETURN && n->m.type != QMP_MSG_ERROR) ||
		    !n->m.has_id || n->m.id != id)
			continue;
		if (prev)
			prev->next = n->next;
		else
			q->head = n->next;
		if (q->tail == n)
			q->tail = prev;
		*m = n->m;
		free(n);
		return true;
	}
	return false;
}

int qmp_call(struct qmp *q, const char *cmd, const json_t *args, int timeout_ms,
	     struct qmp_msg *reply)
{
	int64_t deadline = mono_ms() + timeout_ms, id;
	struct qmp_msg m;
	int ret;

	ret = qmp_send(q, cmd, args, &id);
	if (ret)
		return ret;
	for (;;) {
		if (qmp_take_reply(q, id, &m))
			break;
		ret = qmp_wait_input(q, deadline);
		if (ret == -ETIMEDOUT) {
			qmp_seterr(q, "no reply from QEMU to %s within %d ms",
				   cmd, timeout_ms);
			return ret;
		}
		if (ret && !qmp_take_reply(q, id, &m))
			return ret;
		if (ret)
			break;
	}
	if (m.type == QMP_MSG_ERROR) {
		qmp_seterr(q, "%s: %s (%s)", cmd, m.err_desc, m.err_class);
		qmp_msg_free(&m);
		return -EREMOTEIO;
	}
	if (reply)
		*reply = m;
	else
		qmp_msg_free(&m);
	return 0;
}

int qmp_handshake(struct qmp *q, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms, v;
	const json_t *ver;
	struct qmp_msg m;
	int ret;

	for (;;) {
		if (q->head && q->head->m.type != QMP_MSG_GREETING) {
			qmp_seterr(q, "QMP peer did not start with a greeting");
			return -EPROTO;
		}
		if (qmp_next(q, &m))
			break;
		ret = qmp_wait_input(q, deadline);
		if (ret == -ETIMEDOUT) {
			qmp_seterr(q, "no QMP greeting from QEMU within %d ms",
				   timeout_ms);
			return ret;
		}
		if (ret && !q->head)
			return ret;
	}
	ver = qmp_get(qmp_get(qmp_get(m.root, "QMP"), "version"), "qemu");
	if (ver) {
		int64_t mi = 0, mic = 0;

		if (qmp_get_int(ver, "major", &v) &&
		    qmp_get_int(ver, "minor", &mi) &&
		    qmp_get_int(ver, "micro", &mic))
			snprintf(q->version, sizeof(q->version), "%lld.%lld.%lld",
				 (long long)v, (long long)mi, (long long)mic);
	}
	if (!q->version[0])
		snprintf(q->version, sizeof(q->version), "unknown");
	qmp_msg_free(&m);
	ret = qmp_call(q, "qmp_capabilities", NULL,
		       (int)(deadline - mono_ms() > 100 ? deadline - mono_ms() : 100),
		       NULL);
	return ret;
}

int qmp_open(struct qmp **qp, const char *path, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct qmp *q;
	int fd, ret;

	if (!strncmp(path, "fd:", 3)) {
		char *end;
		long v = strtol(path + 3, &end, 10);

		if (*end || v < 0 || v > INT_MAX)
			return -EINVAL;
		fd = (int)v;
	} else {
		if (strlen(path) >= sizeof(sun.sun_path))
			return -ENAMETOOLONG;
		strcpy(sun.sun_path, path);
		for (;;) {
			fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				return -errno;
			if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
				break;
			ret = -errno;
			close(fd);
			if ((ret != -ENOENT && ret != -ECONNREFUSED) ||
			    mono_ms() >= deadline)
				return ret;
			usleep(50 * 1000);
		}
	}
	ret = qmp_new(&q, fd);
	if (ret) {
		close(fd);
		return ret;
	}
	*qp = q;
	ret = qmp_handshake(q, (int)(deadline - mono_ms() > 1000 ?
				     deadline - mono_ms() : 1000));
	return ret;
}

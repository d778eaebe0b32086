// SPDX-License-Identifier: GPL-2.0
/*
 * glue-qmp-test.c - unit tests of qemu-glue/qmp.c (JSON + QMP client) and of
 * colod's QMP handling against a fake QEMU on a socketpair.
 *
 * Prints PASS: glue-qmp/<case> or FAIL: glue-qmp/<case> (reason) per case.
 * The daemon cases run ./colod (built from the qemu-glue sources by the
 * Makefile) with --qmp fd:3 --no-proxy; the fake QEMU is this process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"

static int n_pass, n_fail;
static char tmpdir[] = "/tmp/glue-qmp.XXXXXX";
static char failmsg[2048];
/* --client-only: the JSON and QMP client cases (the sanitizer build) */
static bool client_only;
static const char *suite = "glue-qmp";

static int64_t ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		snprintf(failmsg, sizeof(failmsg), __VA_ARGS__);	\
		return -1;						\
	}								\
} while (0)

static void run(const char *name, int (*fn)(void))
{
	int ret;

	if (client_only && !strncmp(name, "colod-", 6))
		return;
	failmsg[0] = '\0';
	ret = fn();
	if (!ret) {
		printf("PASS: %s/%s\n", suite, name);
		n_pass++;
	} else {
		printf("FAIL: %s/%s (%s)\n", suite, name, failmsg);
		n_fail++;
	}
	fflush(stdout);
}

/* ---------------------------------------------------------------- JSON */

static int parse(const char *s, json_t **j)
{
	char err[160];

	return qmp_json_parse(s, strlen(s), j, err, sizeof(err));
}

static int t_json_valid(void)
{
	json_t *j, *a;
	int64_t v;
	bool b;

	CHECK(!parse(" {\"a\": [1, -2, 3.5, 1e3, true, false, null], \"b\": {\"c\": \"x\\\"y\\\\z\\/\\n\"}, \"e\": \"\\u00e9\\ud83d\\ude00\"} ", &j),
	      "valid object rejected");
	CHECK(json_is_object(j) && json_object_size(j) == 3, "shape");
	a = json_object_get(j, "a");
	CHECK(json_array_size(a) == 7, "array size");
	CHECK(json_is_integer(json_array_get(a, 1)) &&
	      json_integer_value(json_array_get(a, 1)) == -2, "int");
	CHECK(json_is_real(json_array_get(a, 2)) &&
	      json_real_value(json_array_get(a, 2)) == 3.5, "float");
	CHECK(json_number_value(json_array_get(a, 3)) == 1000, "exp");
	CHECK(!strcmp(qmp_get_str(qmp_get(j, "b"), "c"), "x\"y\\z/\n"), "escapes");
	CHECK(!strcmp(qmp_get_str(j, "e"), "\xc3\xa9\xf0\x9f\x98\x80"), "unicode");
	CHECK(!qmp_get(j, "zz") && !qmp_get_str(j, "a"), "lookups of absent/other type");
	CHECK(!qmp_get_int(a, "x", &v) && !qmp_get(NULL, "a"), "lookups in a non-object");
	json_decref(j);
	CHECK(!parse("{\"n\": 9223372036854775807, \"m\": -9223372036854775808, \"f\": 7.0}", &j), "int64 range");
	CHECK(qmp_get_int(j, "n", &v) && v == INT64_MAX, "int64 max");
	CHECK(qmp_get_int(j, "m", &v) && v == INT64_MIN, "int64 min");
	CHECK(!qmp_get_int(j, "f", &v), "7.0 taken as an integer");
	json_decref(j);
	CHECK(!parse("{\"t\": true}", &j) && qmp_get_bool(j, "t", &b) && b, "bool");
	CHECK(!qmp_get_int(j, "t", &v) && !qmp_get_str(j, "t"), "bool as int/str");
	json_decref(j);
	CHECK(!parse("\"caf\xc3\xa9\"", &j) && json_string_length(j) == 5, "raw UTF-8");
	json_decref(j);
	return 0;
}

static int t_json_malformed(void)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "[", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}",
		"[1,]", "[1 2]", "{a:1}", "{'a':1}", "tru", "nul", "True", "01",
		"1.", "-", "+1", ".5", "1e", "NaN", "Infinity", "\"abc",
		"\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"",
		"\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\x01\"", "\"a\nb\"",
		"{}x", "[1] [2]", "{} {}", "\"\xff\"", "\"\xc0\xaf\"",
		"\"\xed\xa0\x80\"", "\"\xe2\x82\"", "\"\\u0000\"", "{\"a\":1",
		"[\"a\",", "\"\\", "{\"a\"}",
		/* outside int64 (QMP's integers are int64/uint64 < 2^63 here) */
		"99999999999999999999", "-9223372036854775809", "1e400",
		/* two values for one key: which "id"/"event" would count? */
		"{\"id\": 1, \"id\": 2}", "{\"a\": 1, \"a\": 1}",
		"{\"k\\u0000\": 1}", "/* c */ {}", "{} // c", "\xef\xbb\xbf{}",
	};
	char deep[200];
	json_t *j;
	size_t k;
	int ret;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ret = parse(bad[k], &j);
		CHECK(ret == -EPROTO, "accepted malformed input #%zu '%s' (%d)",
		      k, bad[k], ret);
	}
	/* embedded NUL: length counts it */
	CHECK(qmp_json_parse("{}\0", 3, &j, NULL, 0) == -EPROTO, "NUL after value");
	CHECK(qmp_json_parse("\"a\0b\"", 5, &j, NULL, 0) == -EPROTO, "NUL in a string");
	CHECK(qmp_json_parse("{\"a\0\": 1}", 8, &j, NULL, 0) == -EPROTO, "NUL in a key");
	CHECK(qmp_json_parse("\0{}", 3, &j, NULL, 0) == -EPROTO, "NUL before value");
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	deep[130] = '\0';
	CHECK(parse(deep, &j) == -EPROTO, "65 levels accepted");
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	deep[128] = '\0';
	CHECK(!parse(deep, &j), "64 levels rejected");
	json_decref(j);
	return 0;
}

/* Hostile sizes and depths: rejected (or taken) without a crash or a leak. */
static int t_json_hostile(void)
{
	size_t big = 900 * 1024, k, n;
	char err[160], *s;
	json_t *j;
	int ret;

	s = malloc(QMP_MAX_LINE + 16);
	CHECK(s, "malloc");
	/* a long string just inside QMP_MAX_LINE is data, not an attack */
	n = (size_t)sprintf(s, "{\"event\": \"X\", \"data\": {\"s\": \"");
	memset(s + n, 'x', big);
	n += big;
	n += (size_t)sprintf(s + n, "\"}}");
	ret = qmp_json_parse(s, n, &j, err, sizeof(err));
	CHECK(!ret && strlen(qmp_get_str(qmp_get(j, "data"), "s")) == big,
	      "long string: %d %s", ret, err);
	json_decref(j);
	/* ... cut anywhere before its end: truncated */
	for (k = 1; k < n; k += k < 40 ? 1 : n / 7) {
		ret = qmp_json_parse(s, k, &j, NULL, 0);
		CHECK(ret == -EPROTO, "truncated at %zu of %zu accepted (%d)", k, n, ret);
	}
	/* deep nesting far past jansson's own limit: no stack overflow */
	n = QMP_MAX_LINE / 2;
	memset(s, '[', n);
	memset(s + n, ']', n);
	CHECK(qmp_json_parse(s, 2 * n, &j, NULL, 0) == -EPROTO, "1M deep accepted");
	for (k = 0; k < n / 2; k++)
		memcpy(s + 2 * k, "{\"", 2);	/* {"{"{"... */
	CHECK(qmp_json_parse(s, n, &j, NULL, 0) == -EPROTO, "open objects accepted");
	/* wide, not deep: 100000 members is fine */
	n = (size_t)sprintf(s, "[");
	for (k = 0; k < 100000; k++)
		n += (size_t)sprintf(s + n, "%s[[1]]", k ? "," : "");
	n += (size_t)sprintf(s + n, "]");
	CHECK(!qmp_json_parse(s, n, &j, NULL, 0) && json_array_size(j) == 100000,
	      "wide array rejected");
	json_decref(j);
	/* depth counted across objects and arrays mixed */
	n = 0;
	for (k = 0; k < 32; k++)
		n += (size_t)sprintf(s + n, "{\"a\":[");
	n += (size_t)sprintf(s + n, "[]");	/* level 65 */
	for (k = 0; k < 32; k++)
		n += (size_t)sprintf(s + n, "]}");
	CHECK(qmp_json_parse(s, n, &j, NULL, 0) == -EPROTO, "65 mixed levels accepted");
	free(s);
	return 0;
}

/* Commands are built by jansson: hostile names and values stay data. */
static int t_qmp_send_escapes(void)
{
	static const char hostile[] =
		"tcp:x\"}, \"execute\": \"quit\", \"y\": {\"\\\n\r\t\x01\x1f\x7f\xc3\xa9";
	char buf[4096], big[200];
	json_t *args, *j;
	struct qmp *q;
	int sv[2], ret;
	int64_t id;
	ssize_t n;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	qmp_new(&q, sv[0]);
	args = json_pack("{s:s, s:I}", "uri", hostile, "n", (json_int_t)-5);
	CHECK(args, "json_pack");
	ret = qmp_send(q, "mi\"gr\nate", args, &id);
	json_decref(args);
	CHECK(!ret, "send: %s", qmp_errmsg(q));
	n = read(sv[1], buf, sizeof(buf) - 1);
	CHECK(n > 0 && buf[n - 1] == '\n' && memchr(buf, '\n', (size_t)n) == buf + n - 1,
	      "not exactly one line (%zd bytes)", n);
	CHECK(!qmp_json_parse(buf, (size_t)n - 1, &j, NULL, 0), "line is not JSON: %.*s",
	      (int)n, buf);
	CHECK(!strcmp(qmp_get_str(j, "execute"), "mi\"gr\nate"), "execute changed");
	CHECK(!strcmp(qmp_get_str(qmp_get(j, "arguments"), "uri"), hostile),
	      "uri changed");
	CHECK(json_object_size(j) == 3 && qmp_get_int(j, "id", &id) && id == 1,
	      "shape changed: %.*s", (int)n, buf);
	json_decref(j);
	/* what cannot be sent is refused, and nothing goes out */
	CHECK(qmp_send(q, "bad\xff", NULL, NULL) == -EINVAL, "non-UTF-8 name sent");
	memset(big, 'c', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(qmp_send(q, big, NULL, NULL) == -EINVAL, "long name sent");
	args = json_pack("[i]", 1);
	CHECK(qmp_send(q, "x", args, NULL) == -EINVAL, "array as arguments sent");
	json_decref(args);
	CHECK(!json_pack("{s:s}", "uri", "bad\xc0\xaf"),
	      "jansson built a non-UTF-8 string");
	CHECK(!qmp_send(q, "query-status", NULL, &id) && id == 2, "next send");
	n = read(sv[1], buf, sizeof(buf) - 1);
	CHECK(n > 0 && !strncmp(buf, "{\"execute\":\"query-status\",\"id\":2}\n", (size_t)n),
	      "got %.*s", (int)n, buf);
	qmp_close(q);
	close(sv[1]);
	return 0;
}

/* ------------------------------------------------------- QMP messages */

static int classify(const char *s, struct qmp_msg *m)
{
	json_t *j;
	int ret;

	if (parse(s, &j))
		return -100;
	ret = qmp_msg_from_json(j, m, NULL, 0);
	if (ret)
		json_decref(j);
	return ret;
}

static int t_qmp_classify(void)
{
	struct qmp_msg m;

	CHECK(!classify("{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 10, \"microseconds\": 5}}", &m), "event");
	CHECK(m.type == QMP_MSG_EVENT && !strcmp(m.event, "STOP") &&
	      m.ts_us == 10000005 && !m.data, "event fields");
	qmp_msg_free(&m);
	CHECK(!classify("{\"event\": \"X\", \"timestamp\": {\"seconds\": -1, \"microseconds\": 5}}", &m) &&
	      m.ts_us == -1, "bad timestamp ignored");
	qmp_msg_free(&m);
	CHECK(!classify("{\"return\": {}, \"id\": 7}", &m), "return");
	CHECK(m.type == QMP_MSG_RETURN && m.has_id && m.id == 7, "return fields");
	qmp_msg_free(&m);
	CHECK(!classify("{\"return\": {}, \"id\": \"str\"}", &m) && !m.has_id,
	      "foreign id taken as ours");
	qmp_msg_free(&m);
	CHECK(!classify("{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": 2}", &m), "error");
	CHECK(m.type == QMP_MSG_ERROR && !strcmp(m.err_desc, "no"), "error fields");
	qmp_msg_free(&m);
	CHECK(!classify("{\"QMP\": {\"version\": {}, \"capabilities\": []}}", &m) &&
	      m.type == QMP_MSG_GREETING, "greeting");
	qmp_msg_free(&m);
	CHECK(!classify("{\"something\": 1}", &m) && m.type == QMP_MSG_UNKNOWN, "unknown");
	qmp_msg_free(&m);
	CHECK(classify("[1]", &m) == -EPROTO, "array accepted");
	CHECK(classify("{\"event\": 5}", &m) == -EPROTO, "numeric event accepted");
	CHECK(classify("{\"event\": \"X\", \"data\": 1}", &m) == -EPROTO, "scalar data accepted");
	CHECK(classify("{\"error\": {\"class\": \"X\"}}", &m) == -EPROTO, "error without desc accepted");
	CHECK(classify("{\"error\": \"x\"}", &m) == -EPROTO, "string error accepted");
	CHECK(classify("{\"QMP\": 1}", &m) == -EPROTO, "bad greeting accepted");
	return 0;
}

/* Wrong types where QMP defines the shape: rejected, or inert. */
static int t_qmp_classify_types(void)
{
	static const char *const bad[] = {
		"\"return\"", "1", "null", "true", "[{\"return\": {}}]",
		"{\"event\": null}", "{\"event\": [\"STOP\"]}", "{\"event\": {}}",
		"{\"event\": true}", "{\"event\": \"X\", \"data\": [1]}",
		"{\"event\": \"X\", \"data\": \"s\"}", "{\"event\": \"X\", \"data\": null}",
		"{\"error\": null}", "{\"error\": []}", "{\"error\": 1}",
		"{\"error\": {\"desc\": 1}}", "{\"error\": {\"desc\": null}}",
		"{\"error\": {\"desc\": [\"x\"]}}", "{\"QMP\": []}", "{\"QMP\": \"x\"}",
	};
	struct qmp_msg m;
	int64_t v;
	size_t k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		CHECK(classify(bad[k], &m) == -EPROTO, "accepted #%zu %s", k, bad[k]);
	/* "return" is any JSON value; a scalar has no members to mistake */
	CHECK(!classify("{\"return\": 5, \"id\": 3}", &m) &&
	      m.type == QMP_MSG_RETURN && json_is_integer(m.data) &&
	      !qmp_get_str(m.data, "status") && !qmp_get_int(m.data, "x", &v),
	      "scalar return");
	qmp_msg_free(&m);
	CHECK(!classify("{\"return\": null, \"id\": 3}", &m) &&
	      m.type == QMP_MSG_RETURN && json_is_null(m.data), "null return");
	qmp_msg_free(&m);
	CHECK(!classify("{\"return\": {\"status\": 7, \"mode\": [\"primary\"]}}", &m) &&
	      !qmp_get_str(m.data, "status") && !qmp_get_str(m.data, "mode"),
	      "members of the wrong type taken");
	qmp_msg_free(&m);
	/* ids that are not our integers are not ours */
	CHECK(!classify("{\"return\": {}, \"id\": 3.0}", &m) && !m.has_id, "3.0 id");
	qmp_msg_free(&m);
	CHECK(!classify("{\"return\": {}, \"id\": [3]}", &m) && !m.has_id, "[3] id");
	qmp_msg_free(&m);
	/* a timestamp of the wrong type or range is ignored, not trusted */
	CHECK(!classify("{\"event\": \"X\", \"timestamp\": [1, 2]}", &m) && m.ts_us == -1,
	      "array timestamp");
	qmp_msg_free(&m);
	CHECK(!classify("{\"event\": \"X\", \"timestamp\": {\"seconds\": 9223372036854775807, \"microseconds\": 0}}", &m) &&
	      m.ts_us == -1, "overflowing timestamp");
	qmp_msg_free(&m);
	CHECK(!classify("{\"event\": \"X\", \"timestamp\": {\"seconds\": \"1\", \"microseconds\": 0}}", &m) &&
	      m.ts_us == -1, "string timestamp");
	qmp_msg_free(&m);
	/* an error with a non-string class: the default class */
	CHECK(!classify("{\"error\": {\"class\": 5, \"desc\": \"d\"}}", &m) &&
	      !strcmp(m.err_class, "GenericError"), "numeric class");
	qmp_msg_free(&m);
	return 0;
}

/* ------------------------------------------------ QMP client, socketpair */

static const char greeting[] =
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"test\"}, \"capabilities\": [\"oob\"]}}\r\n";

struct fake {
	int fd;
	char buf[65536];
	size_t len;
};

static void fake_write(struct fake *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fake_write(struct fake *f, const char *fmt, ...)
{
	char *s;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	/* the peer may be gone on purpose: errors are ignored */
	if (n > 0)
		n = (int)send(f->fd, s, (size_t)n, MSG_NOSIGNAL);
	free(s);
}

/* Next command from the client: its name (static) and id; -1 on timeout/EOF. */
static int fake_cmd(struct fake *f, char *name, size_t nlen, int64_t *id,
		    char *args, size_t alen, int timeout_ms)
{
	int64_t deadline = ms() + timeout_ms;

	for (;;) {
		char *nl = memchr(f->buf, '\n', f->len);

		if (nl) {
			json_t *j;
			size_t l = (size_t)(nl - f->buf);
			const json_t *a;
			int ret;

			ret = qmp_json_parse(f->buf, l, &j, NULL, 0);
			memmove(f->buf, nl + 1, f->len - l - 1);
			f->len -= l + 1;
			if (ret)
				return -1;
			snprintf(name, nlen, "%s", qmp_get_str(j, "execute") ?: "?");
			*id = -1;
			qmp_get_int(j, "id", id);
			if (args) {
				int64_t v;

				args[0] = '\0';
				a = qmp_get(j, "arguments");
				if (qmp_get_int(a, "x-checkpoint-delay", &v))
					snprintf(args, alen, "delay=%lld", (long long)v);
			}
			json_decref(j);
			return 0;
		}
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		int64_t left = deadline - ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		n = read(f->fd, f->buf + f->len, sizeof(f->buf) - f->len - 1);
		if (n <= 0)
			return -1;
		f->len += (size_t)n;
	}
}

static int t_qmp_handshake(void)
{
	struct fake f = { 0 };
	struct qmp *q;
	char name[64];
	int64_t id;
	int sv[2];
	pid_t pid;
	int st, ret;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid = fork();
	if (!pid) {
		close(sv[0]);
		f.fd = sv[1];
		fake_write(&f, "%s", greeting);
		if (fake_cmd(&f, name, sizeof(name), &id, NULL, 0, 2000) ||
		    strcmp(name, "qmp_capabilities"))
			_exit(1);
		/* an event before the reply must not confuse it */
		fake_write(&f, "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\n");
		fake_write(&f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
		sleep(1);
		_exit(0);
	}
	close(sv[1]);
	qmp_new(&q, sv[0]);
	ret = qmp_handshake(q, 2000);
	waitpid(pid, &st, 0);
	CHECK(!ret, "handshake: %s", qmp_errmsg(q));
	CHECK(!strcmp(qmp_version(q), "7.2.22"), "version %s", qmp_version(q));
	CHECK(qmp_pending(q), "event lost");
	qmp_close(q);
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "fake side saw a bad command");
	return 0;
}

/* Run @writer in a child on one end; returns the other end as a qmp. */
static struct qmp *with_writer(void (*writer)(struct fake *), pid_t *pid)
{
	struct fake f = { 0 };
	struct qmp *q;
	int sv[2];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	*pid = fork();
	if (!*pid) {
		close(sv[0]);
		f.fd = sv[1];
		writer(&f);
		_exit(0);
	}
	close(sv[1]);
	qmp_new(&q, sv[0]);
	return q;
}

static void w_no_greeting(struct fake *f)
{
	fake_write(f, "{\"event\": \"STOP\"}\n");
	sleep(2);
}

static void w_silent(struct fake *f)
{
	(void)f;
	sleep(2);
}

static void w_garbage(struct fake *f)
{
	fake_write(f, "%s", greeting);
	fake_write(f, "{\"event\": \"STOP\"}\n{\"return\": \n");
	sleep(2);
}

static void w_truncated(struct fake *f)
{
	fake_write(f, "%s", greeting);
	fake_write(f, "{\"event\": \"RESUME\"}\n{\"event\": \"ST");
}

static void w_fragments(struct fake *f)
{
	static const char msg[] =
		"{\"event\": \"MIGRATION_PASS\", \"data\": {\"pass\": 3}}\r\n\r\n"
		"\n{\"return\": {\"status\": \"colo\"}, \"id\": 99}\n";
	size_t k;

	fake_write(f, "%s", greeting);
	for (k = 0; k < sizeof(msg) - 1; k++) {
		if (send(f->fd, msg + k, 1, MSG_NOSIGNAL) != 1)
			break;
		usleep(200);
	}
	sleep(2);
}

static void w_oversize(struct fake *f)
{
	static char chunk[65536];

	memset(chunk, ' ', sizeof(chunk));
	fake_write(f, "%s", greeting);
	fake_write(f, "{\"event\": \"X\", \"data\": {\"s\": \"");
	for (int k = 0; k < 20; k++)
		if (send(f->fd, chunk, sizeof(chunk), MSG_NOSIGNAL) < 0)
			break;
	sleep(2);
}

/* Drive qmp_input until it fails or @ms pass; returns its error or 0. */
static int pump(struct qmp *q, int timeout_ms)
{
	int64_t deadline = ms() + timeout_ms;

	while (ms() < deadline) {
		struct pollfd p = { .fd = qmp_fd(q), .events = POLLIN };
		int ret;

		if (poll(&p, 1, 50) <= 0)
			continue;
		ret = qmp_input(q);
		if (ret)
			return ret;
	}
	return 0;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int t_qmp_no_greeting(void)
{
	pid_t pid;
	struct qmp *q = with_writer(w_no_greeting, &pid);
	int ret = qmp_handshake(q, 1000);

	reap(pid);
	CHECK(ret == -EPROTO, "got %d (%s)", ret, qmp_errmsg(q));
	qmp_close(q);
	return 0;
}

static int t_qmp_greeting_timeout(void)
{
	pid_t pid;
	struct qmp *q = with_writer(w_silent, &pid);
	int64_t t0 = ms();
	int ret = qmp_handshake(q, 300);

	reap(pid);
	CHECK(ret == -ETIMEDOUT, "got %d", ret);
	CHECK(ms() - t0 < 1500, "took %lld ms", (long long)(ms() - t0));
	CHECK(strstr(qmp_errmsg(q), "greeting"), "message: %s", qmp_errmsg(q));
	qmp_close(q);
	return 0;
}

static int t_qmp_malformed_line(void)
{
	pid_t pid;
	struct qmp *q = with_writer(w_garbage, &pid);
	struct qmp_msg m;
	int ret;

	ret = pump(q, 1000);
	reap(pid);
	CHECK(ret == -EPROTO, "got %d", ret);
	CHECK(strstr(qmp_errmsg(q), "malformed"), "message: %s", qmp_errmsg(q));
	/* what came before the bad line is still delivered */
	CHECK(qmp_next(q, &m) == 1 && m.type == QMP_MSG_GREETING, "greeting lost");
	qmp_msg_free(&m);
	CHECK(qmp_next(q, &m) == 1 && m.type == QMP_MSG_EVENT, "event lost");
	qmp_msg_free(&m);
	CHECK(qmp_input(q) == -EPROTO, "not sticky");
	CHECK(qmp_send(q, "x", NULL, NULL) == -EPROTO, "send on a dead stream");
	qmp_close(q);
	return 0;
}

static int t_qmp_truncated(void)
{
	pid_t pid;
	struct qmp *q = with_writer(w_truncated, &pid);
	struct qmp_msg m;
	int ret;

	ret = pump(q, 1000);
	reap(pid);
	CHECK(ret == -EPIPE, "got %d", ret);
	CHECK(strstr(qmp_errmsg(q), "middle of a message"), "message: %s",
	      qmp_errmsg(q));
	CHECK(qmp_next(q, &m) == 1, "greeting");
	qmp_msg_free(&m);
	CHECK(qmp_next(q, &m) == 1 && !strcmp(m.event, "RESUME"), "RESUME lost");
	qmp_msg_free(&m);
	CHECK(qmp_next(q, &m) == 0, "partial message delivered");
	qmp_close(q);
	return 0;
}

static int t_qmp_fragments(void)
{
	pid_t pid;
	struct qmp *q = with_writer(w_fragments, &pid);
	struct qmp_msg m;
	int64_t pass;

	pump(q, 600);
	reap(pid);
	CHECK(qmp_next(q, &m) == 1 && m.type == QMP_MSG_GREETING, "greeting");
	qmp_msg_free(&m);
	CHECK(qmp_next(q, &m) == 1 && m.type == QMP_MSG_EVENT &&
	      qmp_get_int(m.data, "pass", &pass) && pass == 3, "event");
	qmp_msg_free(&m);
	CHECK(qmp_next(q, &m) == 1 && m.type == QMP_MSG_RETURN && m.id == 99,
	      "unsolicited reply");
	qmp_msg_free(&m);
	CHECK(qmp_next(q, &m) == 0, "extra messages from blank lines");
	qmp_close(q);
	return 0;
}

static int t_qmp_oversize(void)
{
	pid_t pid;
	struct qmp *q = with_writer(w_oversize, &pid);
	int ret = pump(q, 3000);

	reap(pid);
	CHECK(ret == -EMSGSIZE, "got %d (%s)", ret, qmp_errmsg(q));
	qmp_close(q);
	return 0;
}

/* One hostile line after the greeting (the child writes it as given). */
static const char *hostile;
static size_t hostile_len;

static void w_hostile(struct fake *f)
{
	fake_write(f, "%s", greeting);
	if (send(f->fd, hostile, hostile_len, MSG_NOSIGNAL) < 0)
		return;
	fake_write(f, "\n{\"event\": \"AFTER\"}\n");
	sleep(2);
}

/* Hostile lines on the socket: the stream dies cleanly with -EPROTO. */
static int t_qmp_hostile_lines(void)
{
	static const struct { const char *s; size_t len; const char *what; } cases[] = {
#define L(x, w) { x, sizeof(x) - 1, w }
		L("{\"event\": \"ST\0OP\"}", "malformed"),
		L("{\"event\": \"STOP\"}\0", "malformed"),
		L("\0", "malformed"),
		L("{\"event\": \"STOP\\u0000\"}", "malformed"),
		L("{\"return\": {}, \"id\": 1, \"id\": 2}", "malformed"),
		L("{\"return\": {}, \"id\": 18446744073709551615}", "malformed"),
		L("{\"event\": \"\xc0\xaf\"}", "malformed"),
		L("{\"return\": {\"a\": ", "malformed"),
		L("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "malformed"),
		L("[{\"return\": {}}]", "invalid"),
		L("\"return\"", "invalid"),
		L("{\"event\": 1}", "invalid"),
		L("{\"event\": \"X\", \"data\": [1]}", "invalid"),
		L("{\"error\": \"GenericError\"}", "invalid"),
		L("{\"error\": {\"desc\": 5}}", "invalid"),
#undef L
	};
	struct qmp_msg m;
	struct qmp *q;
	size_t k;
	pid_t pid;
	int ret;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		hostile = cases[k].s;
		hostile_len = cases[k].len;
		q = with_writer(w_hostile, &pid);
		ret = pump(q, 400);
		reap(pid);
		if (ret != -EPROTO || !strstr(qmp_errmsg(q), cases[k].what)) {
			snprintf(failmsg, sizeof(failmsg), "case %zu: %d %s", k, ret,
				 qmp_errmsg(q));
			qmp_close(q);
			return -1;
		}
		/* the greeting before it stays; nothing after it is taken */
		ret = qmp_next(q, &m) == 1 && m.type == QMP_MSG_GREETING;
		qmp_msg_free(&m);
		if (ret)
			ret = qmp_next(q, &m) == 0;
		qmp_close(q);
		CHECK(ret, "case %zu: queue after the bad line", k);
	}
	return 0;
}

/* qmp_call: events during a call are queued; errors and timeouts. */
static int t_qmp_call(void)
{
	struct fake f = { 0 };
	struct qmp_msg m;
	struct qmp *q;
	char name[64];
	int64_t id;
	int sv[2], ret;
	pid_t pid;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid = fork();
	if (!pid) {
		close(sv[0]);
		f.fd = sv[1];
		fake_write(&f, "%s", greeting);
		fake_cmd(&f, name, sizeof(name), &id, NULL, 0, 2000);
		fake_write(&f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
		/* 1: events then the reply */
		fake_cmd(&f, name, sizeof(name), &id, NULL, 0, 2000);
		fake_write(&f, "{\"event\": \"STOP\"}\n{\"event\": \"FOO_UNKNOWN\", \"data\": {}}\n");
		fake_write(&f, "{\"return\": {\"status\": \"running\"}, \"id\": %lld}\n", (long long)id);
		/* 2: an error */
		fake_cmd(&f, name, sizeof(name), &id, NULL, 0, 2000);
		fake_write(&f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"The feature 'colo' is not enabled\"}, \"id\": %lld}\n", (long long)id);
		/* 3: never answered */
		fake_cmd(&f, name, sizeof(name), &id, NULL, 0, 2000);
		sleep(2);
		_exit(0);
	}
	close(sv[1]);
	qmp_new(&q, sv[0]);
	ret = qmp_handshake(q, 2000);
	CHECK(!ret, "handshake %s", qmp_errmsg(q));
	ret = qmp_call(q, "query-status", NULL, 2000, &m);
	CHECK(!ret && !strcmp(qmp_get_str(m.data, "status"), "running"), "call 1: %s",
	      qmp_errmsg(q));
	qmp_msg_free(&m);
	CHECK(qmp_next(q, &m) == 1 && !strcmp(m.event, "STOP"), "STOP not queued");
	qmp_msg_free(&m);
	CHECK(qmp_next(q, &m) == 1 && !strcmp(m.event, "FOO_UNKNOWN"), "unknown event not queued");
	qmp_msg_free(&m);
	ret = qmp_call(q, "x-colo-lost-heartbeat", NULL, 2000, NULL);
	CHECK(ret == -EREMOTEIO && strstr(qmp_errmsg(q), "not enabled"),
	      "call 2: %d %s", ret, qmp_errmsg(q));
	ret = qmp_call(q, "query-migrate", NULL, 300, NULL);
	CHECK(ret == -ETIMEDOUT && strstr(qmp_errmsg(q), "no reply"),
	      "call 3: %d %s", ret, qmp_errmsg(q));
	reap(pid);
	qmp_close(q);
	return 0;
}

/* --------------------------------------------- colod against a fake QEMU */

struct daemon {
	pid_t pid;
	struct fake f;
	struct fake nl;	/* fake netlink side (colod-fakenl), fd -1 if none */
	char ctl[128], log[128];
	int colo_mode;	/* 0 none, 1 as --side */
	bool no_events;	/* the `events' capability off and not settable */
	bool mute_migrate;	/* query-migrate never answered */
	const char *side;
};

static int ctl_request(const char *path, const char *line, char *ans,
		       size_t alen, int timeout_ms);

static int daemon_start2(struct daemon *d, const char *name, const char *side,
			 const char *extra, bool with_nl)
{
	int sv[2], nv[2] = { -1, -1 };
	char cmd[512];

	memset(d, 0, sizeof(*d));
	d->colo_mode = 1;
	d->side = side;
	snprintf(d->ctl, sizeof(d->ctl), "%s/%s.sock", tmpdir, name);
	snprintf(d->log, sizeof(d->log), "%s/%s.log", tmpdir, name);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	if (with_nl)
		socketpair(AF_UNIX, SOCK_STREAM, 0, nv);
	snprintf(cmd, sizeof(cmd),
		 "exec %s --vm 5 --side %s --qmp fd:3 %s --ctl %s %s 2>%s",
		 with_nl ? "./colod-fakenl" : "./colod", side,
		 with_nl ? "" : "--no-proxy", d->ctl, extra, d->log);
	d->pid = fork();
	if (!d->pid) {
		close(sv[0]);
		/* fds 3 (QMP) and 4 (fake netlink), whatever the pair got */
		if (with_nl) {
			close(nv[0]);
			if (sv[1] == 4) {
				sv[1] = dup(sv[1]);
				close(4);
			}
			dup2(nv[1], 4);
		}
		dup2(sv[1], 3);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	if (with_nl)
		close(nv[1]);
	d->nl.fd = nv[0];
	d->f.fd = sv[0];
	fake_write(&d->f, "%s", greeting);
	return 0;
}

static int daemon_start(struct daemon *d, const char *name, const char *side,
			const char *extra)
{
	return daemon_start2(d, name, side, extra, false);
}

/* Next line from the fake netlink side, "" on timeout. */
static const char *nl_line(struct daemon *d, int timeout_ms)
{
	static char line[128];
	int64_t deadline = ms() + timeout_ms;

	line[0] = '\0';
	for (;;) {
		char *nl = memchr(d->nl.buf, '\n', d->nl.len);

		if (nl) {
			size_t l = (size_t)(nl - d->nl.buf);

			snprintf(line, sizeof(line), "%.*s", (int)l, d->nl.buf);
			memmove(d->nl.buf, nl + 1, d->nl.len - l - 1);
			d->nl.len -= l + 1;
			return line;
		}
		struct pollfd p = { .fd = d->nl.fd, .events = POLLIN };
		int64_t left = deadline - ms();
		ssize_t n;

		if (left < 0)
			left = 0;
		if (poll(&p, 1, (int)left) <= 0)
			return line;
		n = read(d->nl.fd, d->nl.buf + d->nl.len,
			 sizeof(d->nl.buf) - d->nl.len - 1);
		if (n <= 0)
			return line;
		d->nl.len += (size_t)n;
	}
}

static void nl_send(struct daemon *d, const char *line)
{
	if (write(d->nl.fd, line, strlen(line)) < 0)
		perror("nl_send");
}

/*
 * Serve the daemon's queries until it sends @want (returns its id), or any
 * other unanswered command when @want is NULL. -1 on timeout/EOF.
 */
static int64_t serve(struct daemon *d, const char *want, char *args,
		     size_t alen, int timeout_ms)
{
	int64_t deadline = ms() + timeout_ms;
	char name[64];
	int64_t id;

	for (;;) {
		int64_t left = deadline - ms();

		if (left <= 0 ||
		    fake_cmd(&d->f, name, sizeof(name), &id, args, alen, (int)left))
			return -1;
		if (want && !strcmp(name, want))
			return id;
		if (!strcmp(name, "qmp_capabilities"))
			fake_write(&d->f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
		else if (!strcmp(name, "query-migrate-parameters"))
			fake_write(&d->f, "{\"return\": {\"x-checkpoint-delay\": 200, \"max-bandwidth\": 1}, \"id\": %lld}\n", (long long)id);
		else if (!strcmp(name, "query-migrate-capabilities"))
			fake_write(&d->f, "{\"return\": [{\"state\": false, \"capability\": \"xbzrle\"}, {\"state\": %s, \"capability\": \"events\"}, {\"state\": true, \"capability\": \"x-colo\"}], \"id\": %lld}\n",
				   d->no_events ? "false" : "true", (long long)id);
		else if (!strcmp(name, "query-migrate") && d->mute_migrate)
			continue;
		else if (!strcmp(name, "query-colo-status"))
			fake_write(&d->f, "{\"return\": {\"reason\": \"none\", \"mode\": \"%s\", \"last-mode\": \"none\"}, \"id\": %lld}\n",
				   d->colo_mode ? d->side : "none", (long long)id);
		else if (!strcmp(name, "query-status"))
			fake_write(&d->f, "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, \"id\": %lld}\n", (long long)id);
		else if (!strcmp(name, "query-migrate"))
			fake_write(&d->f, "{\"return\": {\"status\": \"colo\"}, \"id\": %lld}\n", (long long)id);
		else if (!want)
			return id;
		else
			fake_write(&d->f, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"unexpected %s\"}, \"id\": %lld}\n",
				   name, (long long)id);
	}
}

static void ev(struct daemon *d, const char *name, const char *data, int64_t us)
{
	fake_write(&d->f, "{\"timestamp\": {\"seconds\": %lld, \"microseconds\": %lld}, \"event\": \"%s\"%s%s}\n",
		   (long long)(us / 1000000), (long long)(us % 1000000), name,
		   data ? ", \"data\": " : "", data ?: "");
}

static int wait_ctl(struct daemon *d)
{
	int64_t deadline = ms() + 3000;

	while (ms() < deadline) {
		if (!access(d->ctl, F_OK))
			return 0;
		/* attach queries are answered meanwhile */
		serve(d, "never", NULL, 0, 20);
	}
	return -1;
}

/* Connect, send a line; the answer is read later by ctl_answer(). */
static int ctl_send(const char *path, const char *line)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		close(fd);
		return -1;
	}
	if (write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int ctl_answer(int fd, char *ans, size_t alen, int timeout_ms)
{
	int64_t deadline = ms() + timeout_ms;
	size_t n = 0;

	ans[0] = '\0';
	while (n < alen - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		r = read(fd, ans + n, alen - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		ans[n] = '\0';
		if (strchr(ans, '\n'))
			break;
	}
	close(fd);
	ans[strcspn(ans, "\n")] = '\0';
	return ans[0] ? 0 : -1;
}

static int ctl_request(const char *path, const char *line, char *ans,
		       size_t alen, int timeout_ms)
{
	int fd = ctl_send(path, line);

	if (fd < 0)
		return -1;
	return ctl_answer(fd, ans, alen, timeout_ms);
}

/* status needs query-migrate answered: do both at once */
static int status_of(struct daemon *d, char *ans, size_t alen)
{
	int fd = ctl_send(d->ctl, "status");

	if (fd < 0)
		return -1;
	serve(d, "never", NULL, 0, 300);
	return ctl_answer(fd, ans, alen, 2000);
}

static int daemon_end(struct daemon *d, int timeout_ms, int *code)
{
	int64_t deadline = ms() + timeout_ms;
	int st;

	while (ms() < deadline) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			*code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			close(d->f.fd);
			if (d->nl.fd > 0)
				close(d->nl.fd);
			return 0;
		}
		usleep(10000);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
	close(d->f.fd);
	if (d->nl.fd > 0)
		close(d->nl.fd);
	return -1;
}

static bool log_has(struct daemon *d, const char *what)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(d->log, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

static int t_colod_checkpoint(void)
{
	struct daemon d;
	char ans[1024], args[64];
	int64_t id, t = 1000000000LL * 1000;
	int fd, code;

	daemon_start(&d, "cp", "primary", "--attach --min-interval 0");
	CHECK(!wait_ctl(&d), "control socket never appeared");
	fd = ctl_send(d.ctl, "checkpoint");
	id = serve(&d, "migrate-set-parameters", args, sizeof(args), 2000);
	CHECK(id > 0, "no checkpoint trigger");
	CHECK(!strcmp(args, "delay=200"), "trigger args '%s'", args);
	/* noise the daemon must ignore */
	fake_write(&d.f, "{\"event\": \"SOMETHING_NEW\", \"data\": {\"x\": [1, 2]}}\n");
	fake_write(&d.f, "{\"return\": {}, \"id\": 424242}\n");
	fake_write(&d.f, "{\"future-key\": true}\n");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	ev(&d, "STOP", NULL, t);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 7}", t + 1000);
	ev(&d, "RESUME", NULL, t + 12345);
	CHECK(!ctl_answer(fd, ans, sizeof(ans), 2000) && !strcmp(ans, "ok"),
	      "checkpoint answer '%s'", ans);
	CHECK(!status_of(&d, ans, sizeof(ans)), "no status answer");
	CHECK(strstr(ans, "checkpoints=1 ") && strstr(ans, "requested=1 ") &&
	      strstr(ans, "last_pause_ms=12.345") && strstr(ans, "last_dirty_sync=7") &&
	      strstr(ans, "transfer=none"), "status '%s'", ans);
	/* a plain stop/cont (no RAM sync) is not a checkpoint */
	ev(&d, "STOP", NULL, t + 2000000);
	ev(&d, "RESUME", NULL, t + 2100000);
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "checkpoints=1 "),
	      "user stop counted: '%s'", ans);
	CHECK(!ctl_request(d.ctl, "bogus", ans, sizeof(ans), 1000) &&
	      !strcmp(ans, "error unknown command"), "bogus: '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	CHECK(log_has(&d, "checkpoint 1 reason=request pause=12.345 ms"), "no checkpoint log line");
	CHECK(log_has(&d, "summary: 1 checkpoints"), "no summary");
	return 0;
}

static int t_colod_qemu_dies_mid_checkpoint(void)
{
	struct daemon d;
	char ans[512];
	int64_t id, t0;
	int fd, code;

	daemon_start(&d, "die", "primary", "--attach --min-interval 0");
	CHECK(!wait_ctl(&d), "control socket never appeared");
	fd = ctl_send(d.ctl, "checkpoint");
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	CHECK(id > 0, "no trigger");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	ev(&d, "STOP", NULL, 5000000);
	usleep(100000);
	t0 = ms();
	close(d.f.fd);	/* QEMU gone */
	d.f.fd = -1;
	CHECK(!ctl_answer(fd, ans, sizeof(ans), 3000), "no answer");
	CHECK(!strncmp(ans, "error", 5), "answer '%s'", ans);
	CHECK(!daemon_end(&d, 3000, &code), "colod hangs after QEMU loss");
	CHECK(code == 3, "exit %d, want 3", code);
	CHECK(ms() - t0 < 2000, "took %lld ms", (long long)(ms() - t0));
	CHECK(log_has(&d, "QEMU gone during checkpoint 1"), "no clear log line");
	return 0;
}

static int t_colod_malformed_reply(void)
{
	struct daemon d;
	char ans[512];
	int64_t id;
	int fd, code;

	daemon_start(&d, "bad", "primary", "--attach");
	CHECK(!wait_ctl(&d), "control socket never appeared");
	fd = ctl_send(d.ctl, "checkpoint");
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	CHECK(id > 0, "no trigger");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld,}\n", (long long)id);
	CHECK(!ctl_answer(fd, ans, sizeof(ans), 3000) && !strncmp(ans, "error", 5),
	      "answer '%s'", ans);
	CHECK(!daemon_end(&d, 3000, &code) && code == 3, "exit %d", code);
	CHECK(log_has(&d, "malformed QMP message"), "no protocol error logged");
	return 0;
}

static int t_colod_refused(void)
{
	struct daemon d;
	char ans[512];
	int64_t id;
	int fd, code;

	daemon_start(&d, "ref", "primary", "--attach");
	CHECK(!wait_ctl(&d), "control socket never appeared");
	fd = ctl_send(d.ctl, "checkpoint");
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	fake_write(&d.f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}, \"id\": %lld}\n", (long long)id);
	CHECK(!ctl_answer(fd, ans, sizeof(ans), 3000) &&
	      !strcmp(ans, "error QEMU refused the checkpoint: nope"), "answer '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

static int t_colod_no_stop(void)
{
	struct daemon d;
	char ans[512];
	int64_t id, t0;
	int fd, code;

	daemon_start(&d, "nostop", "primary", "--attach --checkpoint-timeout 300");
	CHECK(!wait_ctl(&d), "control socket never appeared");
	fd = ctl_send(d.ctl, "checkpoint");
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	t0 = ms();
	CHECK(!ctl_answer(fd, ans, sizeof(ans), 3000) && !strncmp(ans, "error", 5),
	      "answer '%s'", ans);
	CHECK(ms() - t0 < 1500, "took %lld ms", (long long)(ms() - t0));
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "failed=1"), "status '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

static int t_colod_coalesce(void)
{
	struct daemon d;
	char ans[1024];
	int64_t id, id2, t = 2000000000LL * 1000;
	int fd[3], k, code;

	daemon_start(&d, "coal", "primary", "--attach --min-interval 50");
	CHECK(!wait_ctl(&d), "control socket never appeared");
	fd[0] = ctl_send(d.ctl, "checkpoint");
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	CHECK(id > 0, "no trigger");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	ev(&d, "STOP", NULL, t);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 3}", t + 10);
	usleep(50000);
	/* two more while the first runs: one more checkpoint covers both */
	fd[1] = ctl_send(d.ctl, "checkpoint");
	fd[2] = ctl_send(d.ctl, "checkpoint");
	usleep(50000);
	ev(&d, "RESUME", NULL, t + 5000);
	CHECK(!ctl_answer(fd[0], ans, sizeof(ans), 2000) && !strcmp(ans, "ok"), "first '%s'", ans);
	id2 = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	CHECK(id2 > 0, "no second trigger");
	/* events may overtake the reply (other QEMU thread) */
	ev(&d, "STOP", NULL, t + 100000);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 4}", t + 100010);
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id2);
	ev(&d, "RESUME", NULL, t + 105000);
	for (k = 1; k < 3; k++)
		CHECK(!ctl_answer(fd[k], ans, sizeof(ans), 2000) && !strcmp(ans, "ok"),
		      "client %d '%s'", k, ans);
	/* no third trigger */
	CHECK(serve(&d, NULL, NULL, 0, 300) < 0, "a third checkpoint was triggered");
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "checkpoints=2 ") &&
	      strstr(ans, "coalesced=1"), "status '%s'", ans);
	CHECK(!log_has(&d, "ignoring a reply"), "the late reply was not matched");
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

static int t_colod_failover(void)
{
	struct daemon d;
	char ans[1024];
	int64_t id;
	int fd, code;

	daemon_start(&d, "fo", "primary", "--attach");
	CHECK(!wait_ctl(&d), "control socket never appeared");
	fd = ctl_send(d.ctl, "failover");
	id = serve(&d, "x-colo-lost-heartbeat", NULL, 0, 2000);
	CHECK(id > 0, "no x-colo-lost-heartbeat");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	ev(&d, "COLO_EXIT", "{\"mode\": \"primary\", \"reason\": \"request\"}", 1);
	serve(&d, "never", NULL, 0, 300);	/* query-status after failover */
	CHECK(!ctl_answer(fd, ans, sizeof(ans), 2000) && !strcmp(ans, "ok"), "answer '%s'", ans);
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "state=failed-over"), "status '%s'", ans);
	CHECK(!ctl_request(d.ctl, "failover", ans, sizeof(ans), 1000) && !strcmp(ans, "ok"),
	      "second failover '%s'", ans);
	fd = ctl_send(d.ctl, "checkpoint");
	CHECK(!ctl_answer(fd, ans, sizeof(ans), 1000) && !strncmp(ans, "error not in COLO", 17),
	      "checkpoint after failover '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

static int t_colod_peer_lost(void)
{
	struct daemon d;
	char ans[1024];
	int64_t id;
	int code;

	daemon_start(&d, "peer", "primary", "--attach --failover auto");
	CHECK(!wait_ctl(&d), "control socket never appeared");
	ev(&d, "STOP", NULL, 1000);
	ev(&d, "COLO_EXIT", "{\"mode\": \"primary\", \"reason\": \"error\"}", 2000);
	id = serve(&d, "x-colo-lost-heartbeat", NULL, 0, 2000);
	CHECK(id > 0, "no automatic failover");
	fake_write(&d.f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"The feature 'colo' is not enabled\"}, \"id\": %lld}\n", (long long)id);
	d.colo_mode = 0;
	serve(&d, "never", NULL, 0, 300);
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "state=failed-over"), "status '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	CHECK(log_has(&d, "failover: peer lost"), "no log line");
	return 0;
}

static int t_colod_not_colo(void)
{
	struct daemon d;
	int code;

	daemon_start(&d, "nocolo", "primary", "--attach");
	d.colo_mode = 0;
	serve(&d, "never", NULL, 0, 500);
	CHECK(!daemon_end(&d, 3000, &code) && code == 2, "exit %d, want 2", code);
	CHECK(log_has(&d, "not in COLO"), "no reason logged");
	return 0;
}

static int t_colod_garbage_greeting(void)
{
	struct daemon d;
	int code;

	daemon_start(&d, "gg", "primary", "--attach --qmp-timeout 1000");
	fake_write(&d.f, "{\"QMP\": [\n");
	CHECK(!daemon_end(&d, 3000, &code) && code == 1, "exit %d, want 1", code);
	CHECK(log_has(&d, "malformed"), "no reason logged");
	return 0;
}

/* kernel notices become checkpoints; BEGIN/DONE bracket them correctly */
static int t_colod_nl_needed(void)
{
	struct daemon d;
	char ans[1024], args[64];
	const char *l;
	int64_t id, t = 3000000000LL * 1000;
	int k, code;

	daemon_start2(&d, "nl", "primary", "--attach --min-interval 0", true);
	CHECK(!wait_ctl(&d), "control socket never appeared");
	l = nl_line(&d, 1000);
	CHECK(!strcmp(l, "INIT 5 1 0 0 0 0"), "proxy init '%s'", l);

	/* attached with a fresh registration: a checkpoint first */
	id = serve(&d, "migrate-set-parameters", args, sizeof(args), 3000);
	CHECK(id > 0, "no checkpoint after attaching");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	ev(&d, "STOP", NULL, t - 1000000);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 1}", t - 999000);
	ev(&d, "RESUME", NULL, t - 990000);
	l = nl_line(&d, 1000);
	CHECK(!strcmp(l, "BEGIN 5 2999999000000000"), "attach checkpoint: '%s'", l);
	CHECK(!strcmp(nl_line(&d, 1000), "DONE 5"), "attach checkpoint: no DONE");
	usleep(100000);
	CHECK(log_has(&d, "reason=attach"), "attach reason not logged");

	/* a notice for another VM is ignored */
	nl_send(&d, "NEEDED 6 1 1\n");
	CHECK(serve(&d, NULL, NULL, 0, 300) < 0, "checkpoint for another VM's notice");

	/* a storm before the STOP: one checkpoint */
	for (k = 0; k < 5; k++)
		nl_send(&d, "NEEDED 5 1 2\n");
	id = serve(&d, "migrate-set-parameters", args, sizeof(args), 2000);
	CHECK(id > 0 && !strcmp(args, "delay=200"), "no trigger for NEEDED");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	usleep(100000);
	ev(&d, "STOP", NULL, t);
	l = nl_line(&d, 200);
	CHECK(!l[0], "'%s' before the RAM sync", l);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 5}", t + 10);
	l = nl_line(&d, 1000);
	/* cut at the guest's stop (QMP timestamp in ns), not when colod acts */
	CHECK(!strcmp(l, "BEGIN 5 3000000000000000"), "after PASS: '%s'", l);
	l = nl_line(&d, 200);
	CHECK(!l[0], "'%s' before RESUME (released before the checkpoint completed)", l);
	ev(&d, "RESUME", NULL, t + 30000);
	l = nl_line(&d, 1000);
	CHECK(!strcmp(l, "DONE 5"), "after RESUME: '%s'", l);
	CHECK(serve(&d, NULL, NULL, 0, 300) < 0, "storm gave a second checkpoint");
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "needed=2 ") &&
	      strstr(ans, "coalesced=4") && strstr(ans, "last_reason=needed:mismatch"),
	      "status '%s'", ans);

	/* lost notifications: checkpoint anyway */
	nl_send(&d, "ENOBUFS\n");
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	CHECK(id > 0, "no checkpoint after an overrun");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	ev(&d, "STOP", NULL, t + 1000000);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 6}", t + 1000010);
	ev(&d, "RESUME", NULL, t + 1020000);
	CHECK(!strcmp(nl_line(&d, 1000), "BEGIN 5 3000001000000000") &&
	      !strcmp(nl_line(&d, 1000), "DONE 5"),
	      "overrun checkpoint not bracketed");
	CHECK(!status_of(&d, ans, sizeof(ans)), "no status");	/* syncs */
	CHECK(log_has(&d, "reason=overrun"), "overrun reason not logged");

	/* failover: QEMU first; the kernel only once QEMU left COLO */
	{
		int fd = ctl_send(d.ctl, "failover");

		id = serve(&d, "x-colo-lost-heartbeat", NULL, 0, 2000);
		CHECK(id > 0, "no x-colo-lost-heartbeat");
		l = nl_line(&d, 200);
		CHECK(!l[0], "'%s' before QEMU accepted the failover", l);
		fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
		l = nl_line(&d, 50);
		CHECK(!l[0], "'%s' before QEMU left COLO", l);
		ev(&d, "COLO_EXIT", "{\"mode\": \"primary\", \"reason\": \"request\"}", 1);
		l = nl_line(&d, 1000);
		CHECK(!strcmp(l, "FAILOVER 5"), "kernel not failed over: '%s'", l);
		serve(&d, "never", NULL, 0, 300);
		CHECK(!ctl_answer(fd, ans, sizeof(ans), 2000) && !strcmp(ans, "ok"),
		      "failover answer '%s'", ans);
	}
	/* STOP/RESUME after failover reach the kernel no more */
	ev(&d, "STOP", NULL, t + 5000000);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 7}", t + 5000010);
	ev(&d, "RESUME", NULL, t + 5020000);
	l = nl_line(&d, 300);
	CHECK(!l[0], "'%s' after failover", l);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

static int t_colod_nl_secondary(void)
{
	struct daemon d;
	char ans[1024];
	const char *l;
	int code;

	daemon_start2(&d, "nls", "secondary", "--attach", true);
	CHECK(!wait_ctl(&d), "control socket never appeared");
	l = nl_line(&d, 1000);
	CHECK(!strcmp(l, "INIT 5 2 0 0 0 0"), "proxy init '%s'", l);
	ev(&d, "STOP", NULL, 1000000);
	l = nl_line(&d, 1000);
	CHECK(!strcmp(l, "BEGIN 5 1000000000"), "after STOP: '%s'", l);
	ev(&d, "RESUME", NULL, 1008000);
	l = nl_line(&d, 1000);
	CHECK(!strcmp(l, "DONE 5"), "after RESUME: '%s'", l);
	nl_send(&d, "NEEDED 5 1 1\n");
	CHECK(serve(&d, NULL, NULL, 0, 300) < 0, "secondary triggered a checkpoint");
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "loads=1 ") &&
	      strstr(ans, "last_pause_ms=8.000"), "status '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

/* --------------------------------------------- what colod must not do */

static int t_colod_no_events(void)
{
	struct daemon d;
	int code;

	daemon_start(&d, "noev", "primary", "--attach");
	d.no_events = true;
	serve(&d, "never", NULL, 0, 500);
	CHECK(!daemon_end(&d, 3000, &code) && code == 2, "exit %d, want 2", code);
	CHECK(log_has(&d, "`events' migration capability is off"), "no reason logged");
	return 0;
}

/* fakenl daemon attached in COLO, its attach checkpoint done */
static int nl_attached(struct daemon *d, const char *name, const char *extra,
		       int64_t t)
{
	char args[64];
	const char *l;
	int64_t id;

	daemon_start2(d, name, "primary", extra, true);
	if (wait_ctl(d) || strcmp(nl_line(d, 1000), "INIT 5 1 0 0 0 0"))
		return -1;
	id = serve(d, "migrate-set-parameters", args, sizeof(args), 3000);
	if (id <= 0)
		return -1;
	fake_write(&d->f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	ev(d, "STOP", NULL, t);
	ev(d, "MIGRATION_PASS", "{\"pass\": 1}", t + 10);
	ev(d, "RESUME", NULL, t + 1000);
	l = nl_line(d, 1000);
	if (strncmp(l, "BEGIN 5 ", 8))
		return -1;
	return strcmp(nl_line(d, 1000), "DONE 5") ? -1 : 0;
}

/* a user's stop/cont: no cut, no release, no "stuck", the request survives */
static int t_colod_user_pause(void)
{
	struct daemon d;
	char ans[1024];
	const char *l;
	int64_t id, t = 4000000000LL * 1000;
	int code;

	CHECK(!nl_attached(&d, "pause", "--attach --min-interval 0 --checkpoint-timeout 300", t),
	      "attach checkpoint");
	ev(&d, "STOP", NULL, t + 1000000);
	nl_send(&d, "NEEDED 5 2 3\n");
	CHECK(serve(&d, NULL, NULL, 0, 700) < 0, "checkpoint asked while the user paused");
	l = nl_line(&d, 0);
	CHECK(!l[0], "'%s' during a user pause", l);
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "state=colo ") &&
	      strstr(ans, "step=stopped ") && strstr(ans, "stuck=0 ") &&
	      strstr(ans, "pending=yes"), "status '%s'", ans);
	ev(&d, "RESUME", NULL, t + 3000000);
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	CHECK(id > 0, "the pending request was lost in the pause");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	l = nl_line(&d, 200);
	CHECK(!l[0], "'%s' after a user cont", l);
	ev(&d, "STOP", NULL, t + 4000000);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 2}", t + 4000010);
	ev(&d, "RESUME", NULL, t + 4001000);
	CHECK(!strcmp(nl_line(&d, 1000), "BEGIN 5 4000004000000000") &&
	      !strcmp(nl_line(&d, 1000), "DONE 5"), "request not served");
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "user_pauses=1 ") &&
	      strstr(ans, "pending=no"), "status '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

/* a refused trigger and a refused BEGIN keep the request */
static int t_colod_failures_keep_request(void)
{
	struct daemon d;
	const char *l;
	int64_t id, t = 5000000000LL * 1000;
	int code;

	CHECK(!nl_attached(&d, "keep", "--attach --min-interval 0", t), "attach checkpoint");
	nl_send(&d, "NEEDED 5 1 3\n");
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	CHECK(id > 0, "no trigger");
	fake_write(&d.f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"busy\"}, \"id\": %lld}\n", (long long)id);
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2500);
	CHECK(id > 0, "a refused trigger dropped the request");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	nl_send(&d, "FAIL-NEXT\n");
	usleep(100000);
	ev(&d, "STOP", NULL, t + 1000000);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 2}", t + 1000010);
	l = nl_line(&d, 1000);
	CHECK(!strcmp(l, "FAILED BEGIN 5"), "'%s'", l);
	ev(&d, "RESUME", NULL, t + 1001000);
	l = nl_line(&d, 300);
	CHECK(!l[0], "'%s' without a cut", l);
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	CHECK(id > 0, "a refused BEGIN dropped the request");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	ev(&d, "STOP", NULL, t + 2000000);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 3}", t + 2000010);
	ev(&d, "RESUME", NULL, t + 2001000);
	CHECK(!strcmp(nl_line(&d, 1000), "BEGIN 5 5000002000000000") &&
	      !strcmp(nl_line(&d, 1000), "DONE 5"), "request not served");
	CHECK(serve(&d, NULL, NULL, 0, 300) < 0, "one more checkpoint than needed");
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

/* a slow checkpoint is "stuck", not a failover (manual policy), and ends */
static int t_colod_stuck_returns(void)
{
	struct daemon d;
	char ans[1024];
	const char *l;
	int64_t id, t = 6000000000LL * 1000;
	int code;

	CHECK(!nl_attached(&d, "stuck", "--attach --min-interval 0 --checkpoint-timeout 300", t),
	      "attach checkpoint");
	nl_send(&d, "NEEDED 5 1 3\n");
	id = serve(&d, "migrate-set-parameters", NULL, 0, 2000);
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	ev(&d, "STOP", NULL, t + 1000000);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 2}", t + 1000010);
	CHECK(!strncmp(nl_line(&d, 1000), "BEGIN 5 ", 8), "no BEGIN");
	CHECK(serve(&d, NULL, NULL, 0, 800) < 0, "failed over on its own (manual policy)");
	CHECK(log_has(&d, "checkpoint stuck"), "not reported stuck");
	l = nl_line(&d, 0);
	CHECK(!l[0], "'%s' while stuck", l);
	ev(&d, "RESUME", NULL, t + 2000000);
	CHECK(!strcmp(nl_line(&d, 1000), "DONE 5"), "stuck checkpoint not completed");
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "state=colo ") &&
	      strstr(ans, "stuck=1 ") && strstr(ans, "kernel_cut=no"), "status '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

/* QEMU refuses the failover while in COLO: the kernel stays as it was */
static int t_colod_failover_refused(void)
{
	struct daemon d;
	char ans[1024];
	const char *l;
	int64_t id, t = 7000000000LL * 1000;
	int fd, code;

	CHECK(!nl_attached(&d, "forefuse", "--attach --min-interval 0", t), "attach checkpoint");
	fd = ctl_send(d.ctl, "failover");
	id = serve(&d, "x-colo-lost-heartbeat", NULL, 0, 2000);
	CHECK(id > 0, "no x-colo-lost-heartbeat");
	fake_write(&d.f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}, \"id\": %lld}\n", (long long)id);
	serve(&d, "never", NULL, 0, 300);	/* query-colo-status: primary */
	CHECK(!ctl_answer(fd, ans, sizeof(ans), 2000) &&
	      !strcmp(ans, "error QEMU refused x-colo-lost-heartbeat and is still in COLO"),
	      "answer '%s'", ans);
	l = nl_line(&d, 200);
	CHECK(!l[0], "kernel touched: '%s'", l);
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "state=colo "), "status '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

/* a QEMU that does not answer a query does not delay the checkpoint's cut */
static int t_colod_not_blocked(void)
{
	struct daemon d;
	char ans[1024];
	const char *l;
	int64_t t0, t = 8000000000LL * 1000;
	int fd, code;

	CHECK(!nl_attached(&d, "noblock", "--attach --min-interval 0", t), "attach checkpoint");
	d.mute_migrate = true;
	fd = ctl_send(d.ctl, "status");
	serve(&d, "never", NULL, 0, 200);	/* query-migrate: no answer */
	t0 = ms();
	ev(&d, "STOP", NULL, t + 1000000);
	ev(&d, "MIGRATION_PASS", "{\"pass\": 2}", t + 1000010);
	l = nl_line(&d, 1000);
	CHECK(!strcmp(l, "BEGIN 5 8000001000000000") && ms() - t0 < 500,
	      "BEGIN '%s' after %lld ms", l, (long long)(ms() - t0));
	ev(&d, "RESUME", NULL, t + 1001000);
	CHECK(!strcmp(nl_line(&d, 1000), "DONE 5"), "no DONE");
	CHECK(!ctl_answer(fd, ans, sizeof(ans), 3000) && strstr(ans, "migration=? "),
	      "status '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

/* default policy: a lost peer waits for a failover request */
static int t_colod_peer_lost_manual(void)
{
	struct daemon d;
	char ans[1024];
	int64_t id;
	int fd, code;

	daemon_start(&d, "peerman", "primary", "--attach");
	CHECK(!wait_ctl(&d), "control socket never appeared");
	ev(&d, "COLO_EXIT", "{\"mode\": \"primary\", \"reason\": \"error\"}", 2000);
	CHECK(serve(&d, NULL, NULL, 0, 500) < 0, "automatic failover by default");
	CHECK(!status_of(&d, ans, sizeof(ans)) && strstr(ans, "state=peer-lost ") &&
	      strstr(ans, "failover=manual"), "status '%s'", ans);
	fd = ctl_send(d.ctl, "failover");
	id = serve(&d, "x-colo-lost-heartbeat", NULL, 0, 2000);
	CHECK(id > 0, "no x-colo-lost-heartbeat on request");
	fake_write(&d.f, "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	d.colo_mode = 0;
	serve(&d, "never", NULL, 0, 500);	/* query-colo-status: none */
	CHECK(!ctl_answer(fd, ans, sizeof(ans), 2000) && !strcmp(ans, "ok"), "answer '%s'", ans);
	kill(d.pid, SIGTERM);
	CHECK(!daemon_end(&d, 3000, &code) && code == 0, "exit %d", code);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--client-only")) {
		client_only = true;
		suite = argc > 2 ? argv[2] : "glue-qmp";
	}
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	run("json-valid", t_json_valid);
	run("json-malformed", t_json_malformed);
	run("json-hostile", t_json_hostile);
	run("qmp-send-escapes", t_qmp_send_escapes);
	run("qmp-classify", t_qmp_classify);
	run("qmp-classify-wrong-types", t_qmp_classify_types);
	run("qmp-handshake", t_qmp_handshake);
	run("qmp-no-greeting", t_qmp_no_greeting);
	run("qmp-greeting-timeout", t_qmp_greeting_timeout);
	run("qmp-malformed-line", t_qmp_malformed_line);
	run("qmp-truncated-eof", t_qmp_truncated);
	run("qmp-fragmented", t_qmp_fragments);
	run("qmp-oversize", t_qmp_oversize);
	run("qmp-hostile-lines", t_qmp_hostile_lines);
	run("qmp-call", t_qmp_call);
	run("colod-checkpoint", t_colod_checkpoint);
	run("colod-qemu-dies-mid-checkpoint", t_colod_qemu_dies_mid_checkpoint);
	run("colod-malformed-reply", t_colod_malformed_reply);
	run("colod-checkpoint-refused", t_colod_refused);
	run("colod-checkpoint-no-stop", t_colod_no_stop);
	run("colod-coalesce", t_colod_coalesce);
	run("colod-failover", t_colod_failover);
	run("colod-peer-lost", t_colod_peer_lost);
	run("colod-not-in-colo", t_colod_not_colo);
	run("colod-garbage-greeting", t_colod_garbage_greeting);
	run("colod-nl-needed", t_colod_nl_needed);
	run("colod-nl-secondary", t_colod_nl_secondary);
	run("colod-refuses-without-events", t_colod_no_events);
	run("colod-user-pause-keeps-request", t_colod_user_pause);
	run("colod-failures-keep-request", t_colod_failures_keep_request);
	run("colod-stuck-checkpoint-returns", t_colod_stuck_returns);
	run("colod-failover-refused-rollback", t_colod_failover_refused);
	run("colod-loop-not-blocked", t_colod_not_blocked);
	run("colod-peer-lost-manual", t_colod_peer_lost_manual);
	if (!n_fail) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd))
			printf("# could not remove %s\n", tmpdir);
	} else {
		printf("# logs in %s\n", tmpdir);
	}
	printf("# %s: %d passed, %d failed\n", suite, n_pass, n_fail);
	return n_fail ? 1 : 0;
}

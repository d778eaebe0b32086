// SPDX-License-Identifier: GPL-2.0
/*
 * qmp.c - a small QMP client with its own strict JSON parser (see qmp.h)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
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
 * JSON
 */

struct json_parser {
	const char *s;
	size_t len, pos;
	int depth;
	char *err;
	size_t errlen;
	bool nomem;
};

static int json_fail(struct json_parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int json_fail(struct json_parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err && p->errlen) {
		n = snprintf(p->err, p->errlen, "at byte %zu: ", p->pos);
		if (n >= 0 && (size_t)n < p->errlen) {
			va_start(ap, fmt);
			vsnprintf(p->err + n, p->errlen - n, fmt, ap);
			va_end(ap);
		}
	}
	return -EPROTO;
}

static int json_nomem(struct json_parser *p)
{
	p->nomem = true;
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "out of memory");
	return -ENOMEM;
}

void json_free(struct json *j)
{
	size_t k;

	if (!j)
		return;
	if (j->type == JSON_ARRAY || j->type == JSON_OBJECT) {
		for (k = 0; k < j->n; k++) {
			if (j->keys)
				free(j->keys[k]);
			json_free(j->v[k]);
		}
	}
	free(j->keys);
	free(j->v);
	free(j->str);
	free(j);
}

static void json_ws(struct json_parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int json_value(struct json_parser *p, struct json **out);

static int json_hex4(struct json_parser *p, unsigned int *v)
{
	unsigned int k, x = 0;

	if (p->len - p->pos < 4)
		return json_fail(p, "truncated \\u escape");
	for (k = 0; k < 4; k++) {
		char c = p->s[p->pos++];

		x <<= 4;
		if (c >= '0' && c <= '9')
			x |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			x |= (unsigned int)(c - 'A' + 10);
		else
			return json_fail(p, "bad hex digit in \\u escape");
	}
	*v = x;
	return 0;
}

static size_t utf8_put(char *d, unsigned int cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Validate one raw UTF-8 sequence starting at p->pos; returns its length. */
static int utf8_seq(struct json_parser *p)
{
	const unsigned char *u = (const unsigned char *)p->s + p->pos;
	size_t left = p->len - p->pos;
	unsigned int cp, need, k;

	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		need = 1;
		cp = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		need = 2;
		cp = u[0] & 0x0f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		need = 3;
		cp = u[0] & 0x07;
	} else {
		return json_fail(p, "invalid UTF-8 byte 0x%02x", u[0]);
	}
	if (left < need + 1)
		return json_fail(p, "truncated UTF-8 sequence");
	for (k = 1; k <= need; k++) {
		if ((u[k] & 0xc0) != 0x80)
			return json_fail(p, "invalid UTF-8 continuation");
		cp = (cp << 6) | (u[k] & 0x3f);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return json_fail(p, "overlong or invalid UTF-8 code point");
	return (int)need + 1;
}

static int json_string_raw(struct json_parser *p, char **out, size_t *outlen)
{
	size_t cap = 16, n = 0;
	char *buf, *nb;
	int ret;

	if (p->pos >= p->len || p->s[p->pos] != '"')
		return json_fail(p, "expected string");
	p->pos++;
	buf = malloc(cap);
	if (!buf)
		return json_nomem(p);
	for (;;) {
		unsigned char c;
		unsigned int cp;

		if (p->pos >= p->len) {
			ret = json_fail(p, "unterminated string");
			goto err;
		}
		if (cap - n < 8) {
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				ret = json_nomem(p);
				goto err;
			}
			buf = nb;
		}
		c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			ret = json_fail(p, "control character 0x%02x in string", c);
			goto err;
		}
		if (c != '\\') {
			ret = utf8_seq(p);
			if (ret < 0)
				goto err;
			memcpy(buf + n, p->s + p->pos, (size_t)ret);
			n += (size_t)ret;
			p->pos += (size_t)ret;
			continue;
		}
		p->pos++;
		if (p->pos >= p->len) {
			ret = json_fail(p, "truncated escape");
			goto err;
		}
		c = (unsigned char)p->s[p->pos++];
		switch (c) {
		case '"': buf[n++] = '"'; break;
		case '\\': buf[n++] = '\\'; break;
		case '/': buf[n++] = '/'; break;
		case 'b': buf[n++] = '\b'; break;
		case 'f': buf[n++] = '\f'; break;
		case 'n': buf[n++] = '\n'; break;
		case 'r': buf[n++] = '\r'; break;
		case 't': buf[n++] = '\t'; break;
		case 'u':
			ret = json_hex4(p, &cp);
			if (ret)
				goto err;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				ret = json_fail(p, "lone low surrogate");
				goto err;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				unsigned int lo;

				if (p->len - p->pos < 2 || p->s[p->pos] != '\\' ||
				    p->s[p->pos + 1] != 'u') {
					ret = json_fail(p, "lone high surrogate");
					goto err;
				}
				p->pos += 2;
				ret = json_hex4(p, &lo);
				if (ret)
					goto err;
				if (lo < 0xdc00 || lo > 0xdfff) {
					ret = json_fail(p, "bad surrogate pair");
					goto err;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0) {
				ret = json_fail(p, "\\u0000 in string");
				goto err;
			}
			n += utf8_put(buf + n, cp);
			break;
		default:
			p->pos--;
			ret = json_fail(p, "invalid escape \\%c",
					c >= 0x20 && c < 0x7f ? c : '?');
			goto err;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
err:
	free(buf);
	return ret;
}

static struct json *json_new(struct json_parser *p, enum json_type t)
{
	struct json *j = calloc(1, sizeof(*j));

	if (!j) {
		json_nomem(p);
		return NULL;
	}
	j->type = t;
	return j;
}

static int json_number(struct json_parser *p, struct json **out)
{
	size_t start = p->pos;
	bool integer = true;
	char tmp[64], *end;
	struct json *j;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len)
		return json_fail(p, "truncated number");
	if (p->s[p->pos] == '0') {
		p->pos++;
	} else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9') {
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	} else {
		return json_fail(p, "invalid number");
	}
	if (p->pos < p->len && p->s[p->pos] == '.') {
		integer = false;
		p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return json_fail(p, "digit expected after '.'");
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		integer = false;
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return json_fail(p, "digit expected in exponent");
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos - start >= sizeof(tmp))
		return json_fail(p, "number too long");
	memcpy(tmp, p->s + start, p->pos - start);
	tmp[p->pos - start] = '\0';
	j = json_new(p, JSON_NUMBER);
	if (!j)
		return -ENOMEM;
	j->num = strtod(tmp, NULL);
	if (integer) {
		long long v;

		errno = 0;
		v = strtoll(tmp, &end, 10);
		if (!errno && *end == '\0') {
			j->is_int = true;
			j->i = v;
		}
	}
	*out = j;
	return 0;
}

static int json_literal(struct json_parser *p, const char *word,
			enum json_type t, struct json **out)
{
	size_t l = strlen(word);

	if (p->len - p->pos < l || memcmp(p->s + p->pos, word, l))
		return json_fail(p, "invalid literal");
	p->pos += l;
	*out = json_new(p, t);
	return *out ? 0 : -ENOMEM;
}

static int json_grow(struct json_parser *p, struct json *j, size_t *cap,
		     bool keys)
{
	size_t nc = *cap ? *cap * 2 : 4;
	struct json **nv;
	char **nk;

	if (j->n < *cap)
		return 0;
	nv = realloc(j->v, nc * sizeof(*nv));
	if (!nv)
		return json_nomem(p);
	j->v = nv;
	if (keys) {
		nk = realloc(j->keys, nc * sizeof(*nk));
		if (!nk)
			return json_nomem(p);
		j->keys = nk;
	}
	*cap = nc;
	return 0;
}

static int json_container(struct json_parser *p, bool object,
			  struct json **out)
{
	char close = object ? '}' : ']';
	struct json *j;
	size_t cap = 0;
	int ret;

	if (++p->depth > JSON_MAX_DEPTH)
		return json_fail(p, "nesting deeper than %d", JSON_MAX_DEPTH);
	p->pos++;
	j = json_new(p, object ? JSON_OBJECT : JSON_ARRAY);
	if (!j)
		return -ENOMEM;
	json_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		goto done;
	}
	for (;;) {
		char *key = NULL;
		size_t klen;
		struct json *v;

		ret = json_grow(p, j, &cap, object);
		if (ret)
			goto err;
		json_ws(p);
		if (object) {
			ret = json_string_raw(p, &key, &klen);
			if (ret)
				goto err;
			json_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':') {
				free(key);
				ret = json_fail(p, "':' expected");
				goto err;
			}
			p->pos++;
		}
		ret = json_value(p, &v);
		if (ret) {
			free(key);
			goto err;
		}
		if (object)
			j->keys[j->n] = key;
		j->v[j->n++] = v;
		json_ws(p);
		if (p->pos >= p->len) {
			ret = json_fail(p, "unterminated %s",
					object ? "object" : "array");
			goto err;
		}
		if (p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == close) {
			p->pos++;
			break;
		}
		ret = json_fail(p, "',' or '%c' expected", close);
		goto err;
	}
done:
	p->depth--;
	*out = j;
	return 0;
err:
	json_free(j);
	return ret;
}

static int json_value(struct json_parser *p, struct json **out)
{
	struct json *j;
	int ret;

	json_ws(p);
	if (p->pos >= p->len)
		return json_fail(p, "value expected");
	switch (p->s[p->pos]) {
	case '{':
		return json_container(p, true, out);
	case '[':
		return json_container(p, false, out);
	case '"':
		j = json_new(p, JSON_STRING);
		if (!j)
			return -ENOMEM;
		ret = json_string_raw(p, &j->str, &j->n);
		if (ret) {
			free(j);
			return ret;
		}
		*out = j;
		return 0;
	case 't':
		return json_literal(p, "true", JSON_TRUE, out);
	case 'f':
		return json_literal(p, "false", JSON_FALSE, out);
	case 'n':
		return json_literal(p, "null", JSON_NULL, out);
	default:
		if (p->s[p->pos] == '-' ||
		    (p->s[p->pos] >= '0' && p->s[p->pos] <= '9'))
			return json_number(p, out);
		return json_fail(p, "unexpected character '%c'",
				 p->s[p->pos] >= 0x20 && p->s[p->pos] < 0x7f ?
				 p->s[p->pos] : '?');
	}
}

int json_parse(const char *text, size_t len, struct json **out,
	       char *err, size_t errlen)
{
	struct json_parser p = {
		.s = text, .len = len, .err = err, .errlen = errlen,
	};
	struct json *j;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	ret = json_value(&p, &j);
	if (ret)
		return p.nomem ? -ENOMEM : ret;
	json_ws(&p);
	if (p.pos != p.len) {
		json_free(j);
		return json_fail(&p, "trailing data after the JSON value");
	}
	*out = j;
	return 0;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	size_t k;

	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (k = 0; k < obj->n; k++)
		if (!strcmp(obj->keys[k], key))
			return obj->v[k];
	return NULL;
}

const char *json_get_str(const struct json *obj, const char *key)
{
	const struct json *v = json_get(obj, key);

	return v && v->type == JSON_STRING ? v->str : NULL;
}

bool json_get_int(const struct json *obj, const char *key, int64_t *out)
{
	const struct json *v = json_get(obj, key);

	if (!v || v->type != JSON_NUMBER || !v->is_int)
		return false;
	*out = v->i;
	return true;
}

bool json_get_bool(const struct json *obj, const char *key, bool *out)
{
	const struct json *v = json_get(obj, key);

	if (!v || (v->type != JSON_TRUE && v->type != JSON_FALSE))
		return false;
	*out = v->type == JSON_TRUE;
	return true;
}

size_t json_quote(char *buf, size_t size, const char *s)
{
	size_t n = 0;
	char esc[8];

#define PUT(c) do { if (n + 1 < size) buf[n] = (c); n++; } while (0)
	PUT('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *e = NULL;

		if (c == '"')
			e = "\\\"";
		else if (c == '\\')
			e = "\\\\";
		else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			e = esc;
		}
		if (e) {
			for (; *e; e++)
				PUT(*e);
		} else {
			PUT((char)c);
		}
	}
	PUT('"');
#undef PUT
	if (size)
		buf[n < size ? n : size - 1] = '\0';
	return n;
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

int qmp_msg_from_json(struct json *root, struct qmp_msg *m, char *err,
		      size_t errlen)
{
	const struct json *v, *ts;
	int64_t sec, usec;

	memset(m, 0, sizeof(*m));
	m->ts_us = -1;
	if (!root || root->type != JSON_OBJECT)
		return msg_fail(err, errlen, "QMP message is not a JSON object");
	v = json_get(root, "id");
	if (v) {
		if (v->type != JSON_NUMBER || !v->is_int)
			m->has_id = false;	/* not one of ours */
		else {
			m->has_id = true;
			m->id = v->i;
		}
	}
	if (json_get(root, "QMP")) {
		if (json_get(root, "QMP")->type != JSON_OBJECT)
			return msg_fail(err, errlen, "greeting: \"QMP\" is not an object");
		m->type = QMP_MSG_GREETING;
	} else if ((v = json_get(root, "event"))) {
		if (v->type != JSON_STRING)
			return msg_fail(err, errlen, "event: \"event\" is not a string");
		m->type = QMP_MSG_EVENT;
		m->event = v->str;
		m->data = json_get(root, "data");
		if (m->data && m->data->type != JSON_OBJECT)
			return msg_fail(err, errlen, "event: \"data\" is not an object");
		ts = json_get(root, "timestamp");
		if (ts && json_get_int(ts, "seconds", &sec) &&
		    json_get_int(ts, "microseconds", &usec) && sec >= 0 &&
		    usec >= 0 && usec < 1000000)
			m->ts_us = sec * 1000000 + usec;
	} else if ((v = json_get(root, "return"))) {
		m->type = QMP_MSG_RETURN;
		m->data = v;
	} else if ((v = json_get(root, "error"))) {
		m->type = QMP_MSG_ERROR;
		m->err_class = json_get_str(v, "class");
		m->err_desc = json_get_str(v, "desc");
		if (v->type != JSON_OBJECT || !m->err_desc)
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
	json_free(m->root);
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
		struct json *root;
		struct qmp_msg m;

		start += l + 1;
		/* blank lines (or a lone \r) carry nothing */
		while (l && (line[l - 1] == '\r' || line[l - 1] == ' '))
			l--;
		if (!l)
			continue;
		ret = json_parse(line, l, &root, perr, sizeof(perr));
		if (ret) {
			qmp_seterr(q, "malformed QMP message from QEMU (%s): %.80s%s",
				   perr, line, l > 80 ? "..." : "");
			break;
		}
		ret = qmp_msg_from_json(root, &m, perr, sizeof(perr));
		if (ret) {
			json_free(root);
			qmp_seterr(q, "invalid QMP message from QEMU (%s): %.80s%s",
				   perr, line, l > 80 ? "..." : "");
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

int qmp_send(struct qmp *q, const char *cmd, const char *args, int64_t *id)
{
	char qcmd[128], *line;
	int64_t myid;
	int ret, n;

	if (q->dead) {
		return q->dead;
	}
	if (json_quote(qcmd, sizeof(qcmd), cmd) >= sizeof(qcmd)) {
		qmp_seterr(q, "command name too long");
		return -EINVAL;
	}
	myid = q->next_id++;
	if (args)
		n = asprintf(&line, "{\"execute\": %s, \"arguments\": %s, \"id\": %lld}\n",
			     qcmd, args, (long long)myid);
	else
		n = asprintf(&line, "{\"execute\": %s, \"id\": %lld}\n", qcmd,
			     (long long)myid);
	if (n < 0) {
		qmp_seterr(q, "out of memory");
		return -ENOMEM;
	}
	ret = qmp_write(q, line, (size_t)n, 2000);
	free(line);
	if (ret)
		return ret;
	if (id)
		*id = myid;
	return 0;
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

int qmp_call(struct qmp *q, const char *cmd, const char *args, int timeout_ms,
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
	const struct json *ver;
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
	ver = json_get(json_get(json_get(m.root, "QMP"), "version"), "qemu");
	if (ver) {
		int64_t mi = 0, mic = 0;

		if (json_get_int(ver, "major", &v) &&
		    json_get_int(ver, "minor", &mi) &&
		    json_get_int(ver, "micro", &mic))
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

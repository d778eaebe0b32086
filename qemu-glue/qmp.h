/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qmp.h - a small QMP client; JSON is parsed and built by jansson
 *
 * QEMU writes one JSON object per line on its QMP socket. Every line must be
 * a complete, valid JSON text as jansson's decoder reads it (RFC 8259, strict:
 * no trailing garbage, no control characters in strings, well-formed \u
 * escapes and UTF-8, no \u0000, no duplicate keys, integers within int64),
 * nested at most QMP_MAX_DEPTH, and an object; anything else is a protocol
 * error (-EPROTO) after which the connection is unusable. A line longer than
 * QMP_MAX_LINE is -EMSGSIZE. Objects of a shape QMP does not define (neither
 * "event", "return", "error" nor "QMP") are reported as QMP_MSG_UNKNOWN and
 * may be ignored.
 *
 * Commands carry a numeric "id". qmp_call() waits for the reply with its id;
 * events and other replies read meanwhile are queued, in order, for
 * qmp_next(). Functions return 0 (or 1 where noted) on success and -errno on
 * failure; qmp_errmsg() then says what went wrong in words:
 *	-EPIPE		QEMU closed the socket (or died)
 *	-ETIMEDOUT	no complete reply within the timeout
 *	-EPROTO		malformed data from QEMU
 *	-EREMOTEIO	QEMU answered with an error (class and desc in the message)
 *	-EINVAL		a command that cannot be sent (name not UTF-8, arguments
 *			not an object)
 */
#ifndef COLO_QMP_H
#define COLO_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define QMP_MAX_DEPTH	64
#define QMP_MAX_LINE	(1u << 20)
#define QMP_MAX_CMD	100	/* bytes of a command name */

/*
 * Parse exactly one JSON text of @len bytes (NUL bytes count: a NUL is
 * malformed input, never an end). On error returns -EPROTO (or -ENOMEM) and,
 * if @err is given, a description with the byte offset. Free with
 * json_decref().
 */
int qmp_json_parse(const char *text, size_t len, json_t **out,
		   char *err, size_t errlen);

/*
 * Object member lookups; NULL/false when @obj is not an object, the member is
 * absent or of another type. Integers are JSON integers (no fraction, no
 * exponent); strings have no NUL inside (the parser refuses \u0000).
 */
const json_t *qmp_get(const json_t *obj, const char *key);
const char *qmp_get_str(const json_t *obj, const char *key);
bool qmp_get_int(const json_t *obj, const char *key, int64_t *v);
bool qmp_get_bool(const json_t *obj, const char *key, bool *v);

enum qmp_msg_type {
	QMP_MSG_GREETING,
	QMP_MSG_RETURN,
	QMP_MSG_ERROR,
	QMP_MSG_EVENT,
	QMP_MSG_UNKNOWN,
};

struct qmp_msg {
	enum qmp_msg_type type;
	json_t *root;			/* owned; everything below points in it */
	bool has_id;
	int64_t id;
	const char *event;		/* QMP_MSG_EVENT */
	const json_t *data;		/* event data (an object) or the return
					   value (any JSON value), if any */
	int64_t ts_us;			/* event timestamp (µs since epoch), -1 */
	const char *err_class, *err_desc;	/* QMP_MSG_ERROR */
};

/*
 * Classify a parsed message; -EPROTO if it breaks the QMP shapes it claims
 * (not an object, "event" not a string, event "data" not an object, "error"
 * not an object with a "desc" string, "QMP" not an object). On success *@m
 * owns @root.
 */
int qmp_msg_from_json(json_t *root, struct qmp_msg *m, char *err,
		      size_t errlen);
void qmp_msg_free(struct qmp_msg *m);

struct qmp;

/*
 * Connect to a unix socket, retrying while it does not exist or refuses
 * (QEMU starting) until @timeout_ms, then read the greeting and negotiate
 * capabilities. "fd:N" uses an already connected descriptor N. If the
 * handshake fails, *qp is set anyway (for qmp_errmsg()): qmp_close() it.
 */
int qmp_open(struct qmp **qp, const char *path, int timeout_ms);
/* Wrap a connected fd (taken over) without any I/O. */
int qmp_new(struct qmp **qp, int fd);
/* Greeting + qmp_capabilities. */
int qmp_handshake(struct qmp *q, int timeout_ms);
void qmp_close(struct qmp *q);

int qmp_fd(const struct qmp *q);
const char *qmp_errmsg(const struct qmp *q);
/* The greeting's QEMU version, "" before the handshake. */
const char *qmp_version(const struct qmp *q);

/*
 * Send a command; @args is a JSON object (borrowed: the caller keeps its
 * reference) or NULL for none. jansson writes the line: no value is pasted
 * into JSON text by hand. The command's id is
 * stored in *@id if given. Never blocks for long (the socket is non-blocking;
 * a full send buffer for more than the qmp's write timeout is -ETIMEDOUT).
 */
int qmp_send(struct qmp *q, const char *cmd, const json_t *args, int64_t *id);

/*
 * Read what is available (call when qmp_fd() is readable) and queue the
 * complete messages. 0 on success (even if nothing new), -errno on EOF or a
 * protocol error; messages queued before the error stay available.
 */
int qmp_input(struct qmp *q);

/* Pop the next queued message: 1 and *@m filled, 0 if none. */
int qmp_next(struct qmp *q, struct qmp_msg *m);
bool qmp_pending(const struct qmp *q);

/*
 * Send a command and wait up to @timeout_ms for its reply. On success the
 * reply is in *@reply (free with qmp_msg_free) if @reply is not NULL.
 * -EREMOTEIO if QEMU answered with an error.
 */
int qmp_call(struct qmp *q, const char *cmd, const json_t *args, int timeout_ms,
	     struct qmp_msg *reply);

#endif /* COLO_QMP_H */

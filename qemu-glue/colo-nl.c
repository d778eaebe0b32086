// SPDX-License-Identifier: GPL-2.0
/*
 * colo-nl.c - libmnl client of the colo-proxy generic netlink family
 *
 * One netlink socket per struct colo_nl. Requests are synchronous: the
 * request is sent with NLM_F_ACK and messages are read until the ack with
 * our sequence number arrives. Anything else that comes in meanwhile
 * (unicast CHECKPOINT_NEEDED, monitor multicasts) is parsed and queued for
 * colo_nl_recv_event(), so no notification is lost to a request.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <libmnl/libmnl.h>

#include "colo-nl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define COLO_NL_QUEUE_LEN	256
#define COLO_NL_ACK_TIMEOUT_MS	10000
#define COLO_NL_RCVBUF		(4 << 20)
#define COLO_NL_BUF_INIT	65536
#define COLO_NL_BUF_MAX		(64 << 20)
#define COLO_NL_REQ_SIZE	512

struct colo_nl_queued {
	int err;			/* 0, or -EPROTO for a malformed message */
	struct colo_nl_event ev;
};

/*
 * Transport. The real one is a netlink socket; the unit tests replace it to
 * feed crafted kernel messages to the parsers.
 * recv: read one datagram into nl->buf and return its length. timeout_ms < 0
 * honours the fd's own blocking mode, >= 0 polls first (-ETIMEDOUT).
 * *group is the multicast group it came through (0: unicast), *sender the
 * sending port (0: the kernel).
 */
struct colo_nl_io {
	int (*send)(struct colo_nl *nl, const void *buf, size_t len);
	ssize_t (*recv)(struct colo_nl *nl, int timeout_ms, uint32_t *group,
			uint32_t *sender);
};

struct colo_nl {
	struct mnl_socket *sock;
	const struct colo_nl_io *io;
	void *io_priv;			/* unit tests */
	uint32_t portid;
	uint32_t seq;
	uint16_t family_id;
	uint32_t family_version;
	uint32_t mcgrp_monitor;
	char *buf;
	size_t buflen;
	bool overrun;
	int ack_timeout_ms;
	unsigned int q_head, q_len;
	struct colo_nl_queued queue[COLO_NL_QUEUE_LEN];
	char last_msg[256];
};

/* A request waiting for its ack. */
struct colo_nl_req {
	uint32_t seq;
	uint16_t reply_type;
	int (*reply_cb)(const struct nlmsghdr *nlh, void *data);
	void *data;
	bool done;
	int err;
};

typedef int (*colo_nl_attr_cb)(const struct nlattr *attr, void *data);

/* ------------------------------------------------------------------------
 * Attribute parsing
 */

static const enum mnl_attr_data_type colo_attr_types[COLO_A_MAX + 1] = {
	[COLO_A_VM_ID]		= MNL_TYPE_U32,
	[COLO_A_MODE]		= MNL_TYPE_U8,
	[COLO_A_STATE]		= MNL_TYPE_U8,
	[COLO_A_EPOCH]		= MNL_TYPE_U32,
	[COLO_A_REASON]		= MNL_TYPE_U32,
	[COLO_A_SEQ]		= MNL_TYPE_U32,
	[COLO_A_HOLD_TIMEOUT]	= MNL_TYPE_U32,
	[COLO_A_QUEUE_LIMIT]	= MNL_TYPE_U32,
	[COLO_A_FLAGS]		= MNL_TYPE_U32,
	[COLO_A_PORTID]		= MNL_TYPE_U32,
	[COLO_A_STATS]		= MNL_TYPE_NESTED,
	[COLO_A_CONN]		= MNL_TYPE_NESTED,
	[COLO_A_STOP_TIME]	= MNL_TYPE_U64,
	[COLO_A_MEM_LIMIT]	= MNL_TYPE_U32,
	[COLO_A_CONN_LIMIT]	= MNL_TYPE_U32,
};

static const enum mnl_attr_data_type colo_conn_attr_types[COLO_CONN_A_MAX + 1] = {
	[COLO_CONN_A_FAMILY]	  = MNL_TYPE_U8,
	[COLO_CONN_A_PROTO]	  = MNL_TYPE_U8,
	[COLO_CONN_A_SRC]	  = MNL_TYPE_BINARY,
	[COLO_CONN_A_DST]	  = MNL_TYPE_BINARY,
	[COLO_CONN_A_SPORT]	  = MNL_TYPE_U16,
	[COLO_CONN_A_DPORT]	  = MNL_TYPE_U16,
	[COLO_CONN_A_HELD]	  = MNL_TYPE_U32,
	[COLO_CONN_A_SVM_QUEUED]  = MNL_TYPE_U32,
	[COLO_CONN_A_MATCHED_SEQ] = MNL_TYPE_U32,
	[COLO_CONN_A_OFFSET]	  = MNL_TYPE_U32,
};

/*
 * 1: a known attribute of the right type, 0: skip it (unknown to this
 * version, or padding), -EPROTO: a known attribute with a bad length.
 */
static int colo_nl_attr_check(const struct nlattr *attr, uint16_t max,
			      const enum mnl_attr_data_type *types)
{
	enum mnl_attr_data_type t;

	if (mnl_attr_type_valid(attr, max) < 0)
		return 0;
	t = types[mnl_attr_get_type(attr)];
	if (t == MNL_TYPE_UNSPEC)
		return 0;
	if (mnl_attr_validate(attr, t) < 0)
		return -EPROTO;
	return 1;
}

/*
 * Walk a block of attributes. Unlike mnl_attr_parse(), a truncated attribute
 * or trailing bytes are an error rather than the silent end of the walk.
 */
static int colo_nl_parse_attrs(const void *start, size_t len,
			       colo_nl_attr_cb cb, void *data)
{
	const struct nlattr *attr = start;
	int rem = (int)len;
	int ret;

	if (len > (size_t)INT32_MAX)
		return -EPROTO;
	while (mnl_attr_ok(attr, rem)) {
		ret = cb(attr, data);
		if (ret < 0)
			return ret;
		rem -= MNL_ALIGN(attr->nla_len);
		attr = mnl_attr_next(attr);
	}
	return rem > 0 ? -EPROTO : 0;
}

static int colo_nl_parse_nested(const struct nlattr *nest, colo_nl_attr_cb cb,
				void *data)
{
	return colo_nl_parse_attrs(mnl_attr_get_payload(nest),
				   mnl_attr_get_payload_len(nest), cb, data);
}

/* Attributes after the generic netlink header of one of our messages. */
static int colo_nl_parse_genl(const struct nlmsghdr *nlh, uint8_t *cmd,
			      colo_nl_attr_cb cb, void *data)
{
	const struct genlmsghdr *genl;

	if (mnl_nlmsg_get_payload_len(nlh) < GENL_HDRLEN)
		return -EPROTO;
	genl = mnl_nlmsg_get_payload(nlh);
	if (cmd)
		*cmd = genl->cmd;
	return colo_nl_parse_attrs(mnl_nlmsg_get_payload_offset(nlh, GENL_HDRLEN),
				   mnl_nlmsg_get_payload_len(nlh) - GENL_HDRLEN,
				   cb, data);
}

static int colo_nl_conn_attr_cb(const struct nlattr *attr, void *data)
{
	struct colo_nl_conn *conn = data;
	uint16_t len;
	int ret;

	ret = colo_nl_attr_check(attr, COLO_CONN_A_MAX, colo_conn_attr_types);
	if (ret <= 0)
		return ret;

	switch (mnl_attr_get_type(attr)) {
	case COLO_CONN_A_FAMILY:
		conn->family = mnl_attr_get_u8(attr);
		break;
	case COLO_CONN_A_PROTO:
		conn->proto = mnl_attr_get_u8(attr);
		break;
	case COLO_CONN_A_SRC:
	case COLO_CONN_A_DST:
		len = mnl_attr_get_payload_len(attr);
		if (len != 4 && len != 16)
			return -EPROTO;
		memcpy(mnl_attr_get_type(attr) == COLO_CONN_A_SRC ?
		       conn->src : conn->dst, mnl_attr_get_payload(attr), len);
		break;
	case COLO_CONN_A_SPORT:
		conn->sport = ntohs(mnl_attr_get_u16(attr));
		break;
	case COLO_CONN_A_DPORT:
		conn->dport = ntohs(mnl_attr_get_u16(attr));
		break;
	case COLO_CONN_A_HELD:
		conn->held = mnl_attr_get_u32(attr);
		break;
	case COLO_CONN_A_SVM_QUEUED:
		conn->svm_queued = mnl_attr_get_u32(attr);
		break;
	case COLO_CONN_A_MATCHED_SEQ:
		conn->matched_seq = mnl_attr_get_u32(attr);
		break;
	case COLO_CONN_A_OFFSET:
		conn->offset = mnl_attr_get_u32(attr);
		break;
	}
	return 0;
}

static int colo_nl_parse_conn(const struct nlattr *nest,
			      struct colo_nl_conn *conn)
{
	int ret;

	memset(conn, 0, sizeof(*conn));
	ret = colo_nl_parse_nested(nest, colo_nl_conn_attr_cb, conn);
	if (ret < 0)
		return ret;
	if (conn->family != AF_INET && conn->family != AF_INET6)
		return -EPROTO;
	return 0;
}

static int colo_nl_stats_attr_cb(const struct nlattr *attr, void *data)
{
	struct colo_nl_stats *stats = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, COLO_STAT_MAX) < 0 ||
	    type == COLO_STAT_UNSPEC || type == COLO_STAT_PAD)
		return 0;
	if (mnl_attr_validate(attr, MNL_TYPE_U64) < 0)
		return -EPROTO;
	stats->v[type] = mnl_attr_get_u64(attr);
	return 0;
}

static int colo_nl_event_attr_cb(const struct nlattr *attr, void *data)
{
	struct colo_nl_event *ev = data;
	int ret;

	ret = colo_nl_attr_check(attr, COLO_A_MAX, colo_attr_types);
	if (ret <= 0)
		return ret;

	switch (mnl_attr_get_type(attr)) {
	case COLO_A_VM_ID:
		ev->vm_id = mnl_attr_get_u32(attr);
		ev->has_vm_id = true;
		break;
	case COLO_A_REASON:
		ev->reason = mnl_attr_get_u32(attr);
		ev->has_reason = true;
		break;
	case COLO_A_EPOCH:
		ev->epoch = mnl_attr_get_u32(attr);
		ev->has_epoch = true;
		break;
	case COLO_A_SEQ:
		ev->seq = mnl_attr_get_u32(attr);
		ev->has_seq = true;
		break;
	case COLO_A_MODE:
		ev->mode = mnl_attr_get_u8(attr);
		ev->has_mode = true;
		break;
	case COLO_A_PORTID:
		ev->portid = mnl_attr_get_u32(attr);
		ev->has_portid = true;
		break;
	case COLO_A_CONN:
		ret = colo_nl_parse_conn(attr, &ev->conn);
		if (ret < 0)
			return ret;
		ev->has_conn = true;
		break;
	}
	return 0;
}

static int colo_nl_parse_event(const struct nlmsghdr *nlh,
			       struct colo_nl_event *ev)
{
	int ret;

	memset(ev, 0, sizeof(*ev));
	ret = colo_nl_parse_genl(nlh, &ev->cmd, colo_nl_event_attr_cb, ev);
	if (ret < 0)
		return ret;
	if (ev->cmd == COLO_CMD_UNSPEC || ev->cmd > COLO_CMD_MAX ||
	    !ev->has_vm_id)
		return -EPROTO;
	if (ev->cmd == COLO_CMD_CHECKPOINT_NEEDED && !ev->has_reason)
		return -EPROTO;
	return 0;
}

static int colo_nl_vm_attr_cb(const struct nlattr *attr, void *data)
{
	struct colo_nl_vm *vm = data;
	struct colo_nl_conn *conns;
	int ret;

	ret = colo_nl_attr_check(attr, COLO_A_MAX, colo_attr_types);
	if (ret <= 0)
		return ret;

	switch (mnl_attr_get_type(attr)) {
	case COLO_A_VM_ID:
		vm->vm_id = mnl_attr_get_u32(attr);
		break;
	case COLO_A_MODE:
		vm->mode = mnl_attr_get_u8(attr);
		break;
	case COLO_A_STATE:
		vm->state = mnl_attr_get_u8(attr);
		break;
	case COLO_A_EPOCH:
		vm->epoch = mnl_attr_get_u32(attr);
		break;
	case COLO_A_PORTID:
		vm->portid = mnl_attr_get_u32(attr);
		break;
	case COLO_A_HOLD_TIMEOUT:
		vm->hold_timeout_ms = mnl_attr_get_u32(attr);
		break;
	case COLO_A_QUEUE_LIMIT:
		vm->queue_limit = mnl_attr_get_u32(attr);
		break;
	case COLO_A_MEM_LIMIT:
		vm->mem_limit_kb = mnl_attr_get_u32(attr);
		break;
	case COLO_A_CONN_LIMIT:
		vm->conn_limit = mnl_attr_get_u32(attr);
		break;
	case COLO_A_STATS:
		return colo_nl_parse_nested(attr, colo_nl_stats_attr_cb,
					    &vm->stats);
	case COLO_A_CONN:
		/* Capacity: 16, then doubled whenever full. */
		if (!vm->n_conns ||
		    (vm->n_conns >= 16 && !(vm->n_conns & (vm->n_conns - 1)))) {
			conns = realloc(vm->conns,
					(vm->n_conns ? vm->n_conns * 2 : 16) *
					sizeof(*conns));
			if (!conns)
				return -ENOMEM;
			vm->conns = conns;
		}
		ret = colo_nl_parse_conn(attr, &vm->conns[vm->n_conns]);
		if (ret < 0)
			return ret;
		vm->n_conns++;
		break;
	}
	return 0;
}

static int colo_nl_parse_vm(const struct nlmsghdr *nlh, struct colo_nl_vm *vm)
{
	uint8_t cmd;
	int ret;

	ret = colo_nl_parse_genl(nlh, &cmd, colo_nl_vm_attr_cb, vm);
	if (ret < 0)
		return ret;
	if (cmd != COLO_CMD_GET || !vm->vm_id)
		return -EPROTO;
	return 0;
}

/* Extended ack: the message, or the missing attribute. */
static int colo_nl_extack_attr_cb(const struct nlattr *attr, void *data)
{
	struct colo_nl *nl = data;

	if (mnl_attr_type_valid(attr, NLMSGERR_ATTR_MAX) < 0)
		return 0;
	switch (mnl_attr_get_type(attr)) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return -EPROTO;
		snprintf(nl->last_msg, sizeof(nl->last_msg), "%s",
			 mnl_attr_get_str(attr));
		break;
	case NLMSGERR_ATTR_MISS_TYPE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return -EPROTO;
		if (!nl->last_msg[0])
			snprintf(nl->last_msg, sizeof(nl->last_msg),
				 "required attribute %u missing",
				 mnl_attr_get_u32(attr));
		break;
	}
	return 0;
}

/* Returns the (negative or zero) error of an NLMSG_ERROR, or -EPROTO. */
static int colo_nl_parse_error(struct colo_nl *nl, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e;
	size_t plen = mnl_nlmsg_get_payload_len(nlh), off;

	if (plen < sizeof(*e))
		return -EPROTO;
	e = mnl_nlmsg_get_payload(nlh);
	if (e->error > 0 || e->error < -4095)
		return -EPROTO;
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
			if (e->msg.nlmsg_len < sizeof(struct nlmsghdr))
				return -EPROTO;
			off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
		}
		off = MNL_ALIGN(off);
		/* A broken extack must not hide the error itself. */
		if (off <= plen)
			colo_nl_parse_attrs((const char *)e + off, plen - off,
					    colo_nl_extack_attr_cb, nl);
	}
	return e->error;
}

/* ------------------------------------------------------------------------
 * Event queue
 */

static void colo_nl_queue_push(struct colo_nl *nl, int err,
			       const struct colo_nl_event *ev)
{
	struct colo_nl_queued *q;

	if (nl->q_len == COLO_NL_QUEUE_LEN) {
		nl->overrun = true;
		return;
	}
	q = &nl->queue[(nl->q_head + nl->q_len++) % COLO_NL_QUEUE_LEN];
	q->err = err;
	if (ev)
		q->ev = *ev;
	else
		memset(&q->ev, 0, sizeof(q->ev));
}

static int colo_nl_queue_pop(struct colo_nl *nl, struct colo_nl_event *ev)
{
	struct colo_nl_queued *q = &nl->queue[nl->q_head];

	nl->q_head = (nl->q_head + 1) % COLO_NL_QUEUE_LEN;
	nl->q_len--;
	if (q->err) {
		memset(ev, 0, sizeof(*ev));
		return q->err;
	}
	*ev = q->ev;
	return 1;
}

/*
 * Dispatch every message of one datagram: notifications (sequence 0, or
 * anything that came through a multicast group) go to the queue, the reply
 * and the ack of the pending request to it, stale acks are dropped.
 */
static void colo_nl_process(struct colo_nl *nl, size_t len, uint32_t group,
			    uint32_t sender, struct colo_nl_req *req)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)nl->buf;
	struct colo_nl_event ev;
	int rem = (int)len;
	int ret;

	/* Only the kernel speaks this protocol; ignore other processes. */
	if (sender != 0)
		return;

	for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
		if (group || nlh->nlmsg_seq == 0) {
			if (!nl->family_id || nlh->nlmsg_type != nl->family_id)
				continue;
			ret = colo_nl_parse_event(nlh, &ev);
			if (ret == 0)
				ev.multicast = group != 0;
			colo_nl_queue_push(nl, ret, ret ? NULL : &ev);
			continue;
		}
		if (!req || nlh->nlmsg_seq != req->seq ||
		    nlh->nlmsg_pid != nl->portid || req->done)
			continue;

		if (nlh->nlmsg_type == NLMSG_ERROR) {
			ret = colo_nl_parse_error(nl, nlh);
			if (!req->err)
				req->err = ret;
			req->done = true;
		} else if (nlh->nlmsg_type == NLMSG_DONE) {
			req->done = true;
		} else if (nlh->nlmsg_type == req->reply_type && req->reply_cb) {
			ret = req->reply_cb(nlh, req->data);
			if (ret < 0 && !req->err)
				req->err = ret;
		}
	}
}

/* ------------------------------------------------------------------------
 * Socket transport
 */

static int colo_nl_sock_send(struct colo_nl *nl, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = mnl_socket_sendto(nl->sock, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int colo_nl_grow(struct colo_nl *nl, size_t need)
{
	size_t len = nl->buflen;
	char *buf;

	while (len < need)
		len *= 2;
	if (len > COLO_NL_BUF_MAX)
		return -EMSGSIZE;
	buf = realloc(nl->buf, len);
	if (!buf)
		return -ENOMEM;
	nl->buf = buf;
	nl->buflen = len;
	return 0;
}

static ssize_t colo_nl_sock_recv(struct colo_nl *nl, int timeout_ms,
				 uint32_t *group, uint32_t *sender)
{
	int fd = mnl_socket_get_fd(nl->sock);
	char cbuf[CMSG_SPACE(sizeof(struct nl_pktinfo))];
	struct sockaddr_nl addr;
	struct cmsghdr *cmsg;
	struct msghdr msg;
	struct iovec iov;
	struct pollfd pfd;
	int flags = 0;
	ssize_t n;
	int ret;

	if (timeout_ms >= 0) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		ret = poll(&pfd, 1, timeout_ms);
		if (ret < 0)
			return -errno;
		if (ret == 0)
			return -ETIMEDOUT;
		flags = MSG_DONTWAIT;
	}

	/* Peek at the length first: a GET with many connections is large. */
	for (;;) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = nl->buf;
		iov.iov_len = nl->buflen;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		n = recvmsg(fd, &msg, flags | MSG_PEEK | MSG_TRUNC);
		if (n < 0)
			return -errno;
		if ((size_t)n <= nl->buflen)
			break;
		ret = colo_nl_grow(nl, n);
		if (ret < 0) {
			/* Too big to ever read: consume and report it. */
			recv(fd, nl->buf, 0, MSG_DONTWAIT | MSG_TRUNC);
			return ret;
		}
	}

	memset(&msg, 0, sizeof(msg));
	memset(&addr, 0, sizeof(addr));
	iov.iov_base = nl->buf;
	iov.iov_len = nl->buflen;
	msg.msg_name = &addr;
	msg.msg_namelen = sizeof(addr);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	n = recvmsg(fd, &msg, flags | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	if ((msg.msg_flags & MSG_TRUNC) || msg.msg_namelen != sizeof(addr))
		return -EPROTO;

	*sender = addr.nl_pid;
	*group = 0;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_NETLINK &&
		    cmsg->cmsg_type == NETLINK_PKTINFO &&
		    cmsg->cmsg_len >= CMSG_LEN(sizeof(struct nl_pktinfo)))
			*group = ((struct nl_pktinfo *)CMSG_DATA(cmsg))->group;
	}
	return n;
}

static const struct colo_nl_io colo_nl_sock_io = {
	.send = colo_nl_sock_send,
	.recv = colo_nl_sock_recv,
};

/* ------------------------------------------------------------------------
 * Requests
 */

static struct nlmsghdr *colo_nl_put_genl(void *buf, uint16_t type, uint8_t cmd,
					 uint8_t version)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = version;
	return nlh;
}

static struct nlmsghdr *colo_nl_put_cmd(const struct colo_nl *nl, void *buf,
					uint8_t cmd, uint32_t vm_id)
{
	struct nlmsghdr *nlh;

	nlh = colo_nl_put_genl(buf, nl->family_id, cmd, COLO_GENL_VERSION);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, vm_id);
	return nlh;
}

static int colo_nl_check_vm_id(struct colo_nl *nl, uint32_t vm_id)
{
	if (vm_id >= 1 && vm_id <= COLO_VM_ID_MAX)
		return 0;
	snprintf(nl->last_msg, sizeof(nl->last_msg),
		 "VM id %u out of range 1..%u", vm_id, COLO_VM_ID_MAX);
	return -EINVAL;
}

static int colo_nl_request(struct colo_nl *nl, struct nlmsghdr *nlh,
			   uint16_t reply_type,
			   int (*reply_cb)(const struct nlmsghdr *, void *),
			   void *data)
{
	struct colo_nl_req req = {
		.reply_type = reply_type,
		.reply_cb = reply_cb,
		.data = data,
	};
	struct timespec start, now;
	uint32_t group, sender;
	long left;
	ssize_t n;
	int ret;

	if (++nl->seq == 0)
		++nl->seq;
	req.seq = nlh->nlmsg_seq = nl->seq;
	ret = nl->io->send(nl, nlh, nlh->nlmsg_len);
	if (ret < 0)
		return ret;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!req.done) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = nl->ack_timeout_ms -
		       ((now.tv_sec - start.tv_sec) * 1000 +
			(now.tv_nsec - start.tv_nsec) / 1000000);
		if (left < 0)
			left = 0;
		n = nl->io->recv(nl, (int)left, &group, &sender);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n == -ENOBUFS) {
			/* Notifications (perhaps our ack) were dropped. */
			nl->overrun = true;
			continue;
		}
		if (n < 0)
			return (int)n;
		colo_nl_process(nl, n, group, sender, &req);
	}
	return req.err;
}

static int colo_nl_simple(struct colo_nl *nl, uint8_t cmd, uint32_t vm_id)
{
	char buf[COLO_NL_REQ_SIZE];
	int ret;

	nl->last_msg[0] = '\0';
	ret = colo_nl_check_vm_id(nl, vm_id);
	if (ret < 0)
		goto out;
	ret = colo_nl_request(nl, colo_nl_put_cmd(nl, buf, cmd, vm_id), 0,
			      NULL, NULL);
out:
	errno = -ret;
	return ret;
}

static int colo_nl_build_proxy_init(struct colo_nl *nl, void *buf,
				    uint32_t vm_id, uint8_t mode,
				    const struct colo_nl_limits *lim,
				    struct nlmsghdr **nlhp)
{
	static const struct colo_nl_limits none;
	struct nlmsghdr *nlh;
	int ret;

	ret = colo_nl_check_vm_id(nl, vm_id);
	if (ret < 0)
		return ret;
	if (mode != COLO_MODE_PRIMARY && mode != COLO_MODE_SECONDARY) {
		snprintf(nl->last_msg, sizeof(nl->last_msg),
			 "mode must be primary or secondary");
		return -EINVAL;
	}
	nlh = colo_nl_put_cmd(nl, buf, COLO_CMD_PROXY_INIT, vm_id);
	mnl_attr_put_u8(nlh, COLO_A_MODE, mode);
	if (!lim)
		lim = &none;
	if (lim->hold_timeout_ms == COLO_NL_HOLD_TIMEOUT_NEVER)
		mnl_attr_put_u32(nlh, COLO_A_HOLD_TIMEOUT, 0);
	else if (lim->hold_timeout_ms)
		mnl_attr_put_u32(nlh, COLO_A_HOLD_TIMEOUT, lim->hold_timeout_ms);
	if (lim->queue_limit)
		mnl_attr_put_u32(nlh, COLO_A_QUEUE_LIMIT, lim->queue_limit);
	if (lim->mem_limit_kb)
		mnl_attr_put_u32(nlh, COLO_A_MEM_LIMIT, lim->mem_limit_kb);
	if (lim->conn_limit)
		mnl_attr_put_u32(nlh, COLO_A_CONN_LIMIT, lim->conn_limit);
	*nlhp = nlh;
	return 0;
}

int colo_nl_proxy_init(struct colo_nl *nl, uint32_t vm_id, uint8_t mode,
		       const struct colo_nl_limits *lim)
{
	char buf[COLO_NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	int ret;

	nl->last_msg[0] = '\0';
	ret = colo_nl_build_proxy_init(nl, buf, vm_id, mode, lim, &nlh);
	if (ret < 0)
		goto out;
	ret = colo_nl_request(nl, nlh, 0, NULL, NULL);
out:
	errno = -ret;
	return ret;
}

int colo_nl_checkpoint_begin(struct colo_nl *nl, uint32_t vm_id)
{
	return colo_nl_simple(nl, COLO_CMD_CHECKPOINT_BEGIN, vm_id);
}

int colo_nl_checkpoint_begin_at(struct colo_nl *nl, uint32_t vm_id,
				uint64_t stop_time_ns)
{
	char buf[COLO_NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	int ret;

	nl->last_msg[0] = '\0';
	ret = colo_nl_check_vm_id(nl, vm_id);
	if (ret < 0)
		goto out;
	nlh = colo_nl_put_cmd(nl, buf, COLO_CMD_CHECKPOINT_BEGIN, vm_id);
	if (stop_time_ns)
		mnl_attr_put_u64(nlh, COLO_A_STOP_TIME, stop_time_ns);
	ret = colo_nl_request(nl, nlh, 0, NULL, NULL);
out:
	errno = -ret;
	return ret;
}

void colo_nl_set_ack_timeout(struct colo_nl *nl, int timeout_ms)
{
	nl->ack_timeout_ms = timeout_ms > 0 ? timeout_ms :
			     COLO_NL_ACK_TIMEOUT_MS;
}

int colo_nl_checkpoint_done(struct colo_nl *nl, uint32_t vm_id)
{
	return colo_nl_simple(nl, COLO_CMD_CHECKPOINT_DONE, vm_id);
}

int colo_nl_failover(struct colo_nl *nl, uint32_t vm_id)
{
	return colo_nl_simple(nl, COLO_CMD_FAILOVER, vm_id);
}

int colo_nl_reset(struct colo_nl *nl, uint32_t vm_id)
{
	return colo_nl_simple(nl, COLO_CMD_RESET, vm_id);
}

struct colo_nl_get_ctx {
	struct colo_nl_vm *vm;
	bool seen;
};

static int colo_nl_get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct colo_nl_get_ctx *ctx = data;

	if (ctx->seen)
		return -EPROTO;
	ctx->seen = true;
	return colo_nl_parse_vm(nlh, ctx->vm);
}

static struct nlmsghdr *colo_nl_build_get(const struct colo_nl *nl, void *buf,
					  uint32_t vm_id, bool conns)
{
	struct nlmsghdr *nlh = colo_nl_put_cmd(nl, buf, COLO_CMD_GET, vm_id);

	if (conns)
		mnl_attr_put_u32(nlh, COLO_A_FLAGS, COLO_F_CONNS);
	return nlh;
}

int colo_nl_get(struct colo_nl *nl, uint32_t vm_id, bool conns,
		struct colo_nl_vm *vm)
{
	struct colo_nl_get_ctx ctx = { .vm = vm };
	char buf[COLO_NL_REQ_SIZE];
	int ret;

	memset(vm, 0, sizeof(*vm));
	nl->last_msg[0] = '\0';
	ret = colo_nl_check_vm_id(nl, vm_id);
	if (ret < 0)
		goto out;
	ret = colo_nl_request(nl, colo_nl_build_get(nl, buf, vm_id, conns),
			      nl->family_id, colo_nl_get_cb, &ctx);
	if (ret < 0)
		goto err_free;
	if (!ctx.seen || vm->vm_id != vm_id) {
		ret = -EPROTO;
		goto err_free;
	}
	return 0;

err_free:
	colo_nl_vm_free(vm);
out:
	errno = -ret;
	return ret;
}

void colo_nl_vm_free(struct colo_nl_vm *vm)
{
	if (!vm)
		return;
	free(vm->conns);
	vm->conns = NULL;
	vm->n_conns = 0;
}

/* ------------------------------------------------------------------------
 * Family resolution
 */

struct colo_nl_family {
	const char *mcgrp_name;		/* in: the group to look for */
	uint16_t id;
	uint32_t version;
	uint32_t mcgrp;
};

struct colo_nl_mcgrp {
	const char *name;
	uint32_t id;
};

static int colo_nl_mcgrp_attr_cb(const struct nlattr *attr, void *data)
{
	struct colo_nl_mcgrp *grp = data;

	if (mnl_attr_type_valid(attr, CTRL_ATTR_MCAST_GRP_MAX) < 0)
		return 0;
	switch (mnl_attr_get_type(attr)) {
	case CTRL_ATTR_MCAST_GRP_NAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return -EPROTO;
		grp->name = mnl_attr_get_str(attr);
		break;
	case CTRL_ATTR_MCAST_GRP_ID:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return -EPROTO;
		grp->id = mnl_attr_get_u32(attr);
		break;
	}
	return 0;
}

static int colo_nl_mcgrps_cb(const struct nlattr *attr, void *data)
{
	struct colo_nl_family *fam = data;
	struct colo_nl_mcgrp grp = { NULL, 0 };
	int ret;

	if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
		return -EPROTO;
	ret = colo_nl_parse_nested(attr, colo_nl_mcgrp_attr_cb, &grp);
	if (ret < 0)
		return ret;
	if (grp.name && fam->mcgrp_name && !strcmp(grp.name, fam->mcgrp_name))
		fam->mcgrp = grp.id;
	return 0;
}

static int colo_nl_family_attr_cb(const struct nlattr *attr, void *data)
{
	struct colo_nl_family *fam = data;

	if (mnl_attr_type_valid(attr, CTRL_ATTR_MAX) < 0)
		return 0;
	switch (mnl_attr_get_type(attr)) {
	case CTRL_ATTR_FAMILY_ID:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return -EPROTO;
		fam->id = mnl_attr_get_u16(attr);
		break;
	case CTRL_ATTR_VERSION:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return -EPROTO;
		fam->version = mnl_attr_get_u32(attr);
		break;
	case CTRL_ATTR_MCAST_GROUPS:
		return colo_nl_parse_nested(attr, colo_nl_mcgrps_cb, fam);
	}
	return 0;
}

static int colo_nl_family_cb(const struct nlmsghdr *nlh, void *data)
{
	return colo_nl_parse_genl(nlh, NULL, colo_nl_family_attr_cb, data);
}

static int colo_nl_resolve(struct colo_nl *nl, const char *name,
			   struct colo_nl_family *fam)
{
	char buf[COLO_NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	int ret;

	nlh = colo_nl_put_genl(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, name);
	ret = colo_nl_request(nl, nlh, GENL_ID_CTRL, colo_nl_family_cb, fam);
	if (ret < 0)
		return ret;
	return fam->id ? 0 : -EPROTO;
}

static int colo_nl_resolve_family(struct colo_nl *nl)
{
	struct colo_nl_family fam = { .mcgrp_name = COLO_GENL_MCGRP_MONITOR };
	int ret;

	ret = colo_nl_resolve(nl, COLO_GENL_NAME, &fam);
	if (ret < 0)
		return ret;
	nl->family_id = fam.id;
	nl->family_version = fam.version;
	nl->mcgrp_monitor = fam.mcgrp;
	return 0;
}

/* ------------------------------------------------------------------------
 * Socket life cycle
 */

static struct colo_nl *colo_nl_alloc(void)
{
	struct colo_nl *nl = calloc(1, sizeof(*nl));

	if (!nl)
		return NULL;
	nl->ack_timeout_ms = COLO_NL_ACK_TIMEOUT_MS;
	nl->buflen = COLO_NL_BUF_INIT;
	nl->buf = malloc(nl->buflen);
	if (!nl->buf) {
		free(nl);
		return NULL;
	}
	return nl;
}

int colo_nl_open(struct colo_nl **nlp)
{
	struct colo_nl *nl;
	int one = 1, rcvbuf = COLO_NL_RCVBUF;
	int ret;

	nl = colo_nl_alloc();
	if (!nl) {
		ret = -ENOMEM;
		goto err_alloc;
	}
	nl->io = &colo_nl_sock_io;

	nl->sock = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!nl->sock) {
		ret = -errno;
		goto err_socket_open;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto err_socket_bind;
	}
	if (mnl_socket_setsockopt(nl->sock, NETLINK_PKTINFO, &one,
				  sizeof(one)) < 0) {
		ret = -errno;
		goto err_socket_bind;
	}
	/* Best effort: older kernels lack extack, small buffers still work. */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	if (setsockopt(mnl_socket_get_fd(nl->sock), SOL_SOCKET, SO_RCVBUFFORCE,
		       &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(mnl_socket_get_fd(nl->sock), SOL_SOCKET, SO_RCVBUF,
			   &rcvbuf, sizeof(rcvbuf));

	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);

	ret = colo_nl_resolve_family(nl);
	if (ret < 0)
		goto err_family;

	*nlp = nl;
	return 0;

err_family:
err_socket_bind:
	mnl_socket_close(nl->sock);
err_socket_open:
	free(nl->buf);
	free(nl);
err_alloc:
	*nlp = NULL;
	errno = -ret;
	return ret;
}

void colo_nl_close(struct colo_nl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl->buf);
	free(nl);
}

int colo_nl_fd(const struct colo_nl *nl)
{
	return nl->sock ? mnl_socket_get_fd(nl->sock) : -1;
}

int colo_nl_join_monitor(struct colo_nl *nl)
{
	int grp = (int)nl->mcgrp_monitor;

	if (!grp) {
		snprintf(nl->last_msg, sizeof(nl->last_msg),
			 "family %s has no \"%s\" multicast group",
			 COLO_GENL_NAME, COLO_GENL_MCGRP_MONITOR);
		errno = EOPNOTSUPP;
		return -EOPNOTSUPP;
	}
	if (mnl_socket_setsockopt(nl->sock, NETLINK_ADD_MEMBERSHIP, &grp,
				  sizeof(grp)) < 0)
		return -errno;
	return 0;
}

int colo_nl_recv_event(struct colo_nl *nl, struct colo_nl_event *ev)
{
	uint32_t group, sender;
	ssize_t n;

	if (nl->overrun) {
		nl->overrun = false;
		errno = ENOBUFS;
		return -ENOBUFS;
	}
	if (!nl->q_len) {
		n = nl->io->recv(nl, -1, &group, &sender);
		if (n < 0) {
			errno = (int)-n;
			return (int)n;
		}
		colo_nl_process(nl, n, group, sender, NULL);
		if (nl->overrun && !nl->q_len) {
			nl->overrun = false;
			errno = ENOBUFS;
			return -ENOBUFS;
		}
		if (!nl->q_len)
			return 0;
	}
	return colo_nl_queue_pop(nl, ev);
}

unsigned int colo_nl_event_pending(const struct colo_nl *nl)
{
	return nl->q_len + (nl->overrun ? 1 : 0);
}

uint16_t colo_nl_family_id(const struct colo_nl *nl)
{
	return nl->family_id;
}

uint32_t colo_nl_portid(const struct colo_nl *nl)
{
	return nl->portid;
}

uint32_t colo_nl_monitor_group(const struct colo_nl *nl)
{
	return nl->mcgrp_monitor;
}

/* ------------------------------------------------------------------------
 * Names and messages
 */

const char *colo_nl_strerror(int err)
{
	switch (-err) {
	case ENOENT:
		return "module nfnetlink_colo not loaded (generic netlink family " COLO_GENL_NAME " not found)";
	case EPERM:
		return "operation not permitted (CAP_NET_ADMIN is required, and only the socket that registered a VM may command it)";
	case EACCES:
		return "permission denied (CAP_NET_ADMIN is required)";
	case EEXIST:
		return "VM id already registered by another process";
	case ENOBUFS:
		return "notifications lost (netlink receive buffer overrun)";
	case EPROTO:
		return "malformed netlink message from the kernel";
	case ETIMEDOUT:
		return "the kernel did not answer";
	case EPROTONOSUPPORT:
		return "generic netlink not supported by this kernel";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

const char *colo_nl_errmsg(const struct colo_nl *nl, int err)
{
	if (nl && nl->last_msg[0])
		return nl->last_msg;
	switch (-err) {
	case ENOENT:
		return "VM not registered";
	case EINVAL:
		return "invalid argument (rejected by the kernel)";
	default:
		return colo_nl_strerror(err);
	}
}

const char *colo_nl_last_msg(const struct colo_nl *nl)
{
	return nl->last_msg[0] ? nl->last_msg : NULL;
}

#define COLO_NL_NAME(tab, i) \
	((i) < sizeof(tab) / sizeof((tab)[0]) && (tab)[i] ? (tab)[i] : "unknown")

const char *colo_nl_cmd_name(uint8_t cmd)
{
	static const char *const names[] = {
		[COLO_CMD_UNSPEC]		= "unspec",
		[COLO_CMD_PROXY_INIT]		= "proxy-init",
		[COLO_CMD_CHECKPOINT_BEGIN]	= "checkpoint-begin",
		[COLO_CMD_CHECKPOINT_DONE]	= "checkpoint-done",
		[COLO_CMD_FAILOVER]		= "failover",
		[COLO_CMD_RESET]		= "reset",
		[COLO_CMD_GET]			= "get",
		[COLO_CMD_CHECKPOINT_NEEDED]	= "checkpoint-needed",
	};
	return COLO_NL_NAME(names, cmd);
}

const char *colo_nl_reason_name(uint32_t reason)
{
	static const char *const names[] = {
		[COLO_REASON_NONE]		= "none",
		[COLO_REASON_MISMATCH]		= "mismatch",
		[COLO_REASON_HOLD_TIMEOUT]	= "hold-timeout",
		[COLO_REASON_SVM_ONLY]		= "svm-only",
		[COLO_REASON_QUEUE_LIMIT]	= "queue-limit",
		[COLO_REASON_CONN_GONE]		= "conn-gone",
		[COLO_REASON_UNSYNCED]		= "unsynced",
	};
	return COLO_NL_NAME(names, reason);
}

const char *colo_nl_mode_name(uint8_t mode)
{
	static const char *const names[] = {
		[COLO_MODE_NONE]	= "none",
		[COLO_MODE_PRIMARY]	= "primary",
		[COLO_MODE_SECONDARY]	= "secondary",
	};
	return COLO_NL_NAME(names, mode);
}

const char *colo_nl_state_name(uint8_t state)
{
	static const char *const names[] = {
		[COLO_STATE_NONE]	= "none",
		[COLO_STATE_RUNNING]	= "running",
		[COLO_STATE_CHECKPOINT]	= "checkpoint",
		[COLO_STATE_FAILOVER]	= "failover",
	};
	return COLO_NL_NAME(names, state);
}

const char *colo_nl_stat_name(unsigned int stat)
{
	static const char *const names[] = {
		[COLO_STAT_PVM_PACKETS]		= "pvm_packets",
		[COLO_STAT_SVM_PACKETS]		= "svm_packets",
		[COLO_STAT_MATCHED_BYTES]	= "matched_bytes",
		[COLO_STAT_RELEASED_MATCH]	= "released_match",
		[COLO_STAT_RELEASED_CHECKPOINT]	= "released_checkpoint",
		[COLO_STAT_HELD]		= "held",
		[COLO_STAT_DROPPED]		= "dropped",
		[COLO_STAT_SVM_DROPPED]		= "svm_dropped",
		[COLO_STAT_MISMATCHES]		= "mismatches",
		[COLO_STAT_NOTIFIES]		= "notifies",
		[COLO_STAT_CHECKPOINTS]		= "checkpoints",
		[COLO_STAT_HOLD_TIMEOUTS]	= "hold_timeouts",
		[COLO_STAT_QUEUE_FULL]		= "queue_full",
		[COLO_STAT_CONNS]		= "conns",
		[COLO_STAT_SEQ_ADJUSTED]	= "seq_adjusted",
		[COLO_STAT_PASSED]		= "passed",
		[COLO_STAT_RELEASED_FAILOVER]	= "released_failover",
		[COLO_STAT_DROPPED_UNVERIFIABLE] = "dropped_unverifiable",
		[COLO_STAT_SVM_STALE]		= "svm_stale",
		[COLO_STAT_MEM_FULL]		= "mem_full",
		[COLO_STAT_MEM_BYTES]		= "mem_bytes",
		[COLO_STAT_CONNS_FULL]		= "conns_full",
	};
	return COLO_NL_NAME(names, stat);
}

int colo_nl_format_conn(const struct colo_nl_conn *conn, char *buf,
			size_t len)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], proto[16];
	bool v6 = conn->family == AF_INET6;
	int n;

	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, conn->src, src, sizeof(src)) ||
	    !inet_ntop(v6 ? AF_INET6 : AF_INET, conn->dst, dst, sizeof(dst)))
		return -EINVAL;
	switch (conn->proto) {
	case IPPROTO_TCP:
		snprintf(proto, sizeof(proto), "tcp");
		break;
	case IPPROTO_UDP:
		snprintf(proto, sizeof(proto), "udp");
		break;
	case IPPROTO_ICMP:
		snprintf(proto, sizeof(proto), "icmp");
		break;
	case IPPROTO_ICMPV6:
		snprintf(proto, sizeof(proto), "icmpv6");
		break;
	default:
		snprintf(proto, sizeof(proto), "proto-%u", conn->proto);
		break;
	}
	if (conn->proto == IPPROTO_TCP || conn->proto == IPPROTO_UDP)
		n = snprintf(buf, len, v6 ? "%s/[%s]:%u->[%s]:%u" :
			     "%s/%s:%u->%s:%u", proto, src, conn->sport,
			     dst, conn->dport);
	else
		n = snprintf(buf, len, "%s/%s->%s", proto, src, dst);
	if (n < 0)
		return -EINVAL;
	return (size_t)n < len ? 0 : -ENOSPC;
}

int colo_nl_control_path(uint32_t vm_id, char *buf, size_t len)
{
	const char *dir = getenv("COLO_RUN_DIR");
	int n;

	if (!dir || !*dir)
		dir = COLO_NL_RUN_DIR;
	n = snprintf(buf, len, "%s/vm%u.sock", dir, vm_id);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

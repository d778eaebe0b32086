// SPDX-License-Identifier: GPL-2.0
/*
 * genl-fuzz - structure-aware fuzzer of the COLO generic netlink family
 * (include/uapi/linux/colo_genl.h), run as root inside the test VM by
 * tests/vm/genl-fuzz.sh.
 *
 *   genl-fuzz [--seed N] [--messages N] [--seconds S] [--min-seconds S]
 *             [--racers N] [--model N]
 *
 * Runs until N messages were sent (a quarter of them by the structured fuzzer
 * itself) and at least --min-seconds passed; fails if --seconds pass first.
 *
 * Phases:
 *  1. policy: the family's policy is read from the kernel (CTRL_CMD_GETPOLICY)
 *     and compared with the copy below (drift is a finding); the kernel's is
 *     used to build attributes and to predict the validator's verdict.
 *  2. model: several sockets, sequential requests with exact expected errnos
 *     from a model of the VM registry (binding to the port, states, epochs,
 *     socket close = teardown); GET replies are compared with the model.
 *  3. fuzz: batches of structured messages (valid and boundary values,
 *     wrong lengths and types, NLA_F_NESTED garbage, truncated attributes,
 *     unknown attributes, trailing bytes, truncated genl headers, unknown
 *     commands, NLM_F_DUMP and other flags, requests without NLM_F_REQUEST),
 *     each with its predicted outcome, on several sockets that are closed and
 *     reopened with VMs bound. At the same time:
 *       racer processes (threads with their own sockets, one VM pool shared
 *       with everybody: PROXY_INIT/BEGIN/DONE/FAILOVER/RESET/GET/close, exact
 *       results for the VMs a thread owns, "refused" for the others), one
 *       process whose threads race BEGIN/DONE/FAILOVER/RESET on one shared
 *       bound socket, processes without CAP_NET_ADMIN (capability dropped
 *       before / after opening the socket, a user namespace) whose requests
 *       must all be refused, and children that bind VMs in a new netns and
 *       exit.
 *  4. after every socket is closed, no VM any process ever bound is still
 *     registered (GET answers ENOENT).
 *
 * Invariants checked on every message: a request with NLM_F_ACK gets exactly
 * one ack or error, one without gets at most one (and then an error); the
 * errno is the predicted one where it can be predicted, otherwise one of
 * {0, EINVAL, ENOENT, EPERM, EEXIST}; a data reply only for a successful GET;
 * no reply to an unknown sequence number; no receive queue overrun.
 *
 * Generation is deterministic per seed (each process and thread has its own
 * stream derived from it); interleaving of the concurrent parts is not.
 * Exit status: 0 no finding, 1 a finding, 2 setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <libmnl/libmnl.h>

#include "linux/colo_genl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define POOL_IDS	8		/* ids 1..8: shared by everybody */
#define SHARED_ID	9		/* the shared-socket process's VM */
#define NETNS_ID_BASE	20		/* netns children: 20..23 (their netns) */
#define NOCAP_ID_BASE	1000		/* only refused senders ask for these */
#define MAX_BATCH	32
#define BUF_SZ		(1 << 16)
#define RCVBUF		(8 << 20)
#define MAXERRNO	134

/* --- shared state (all processes) ----------------------------------------- */

struct shared {
	atomic_ulong sent, acks, data, silent, notices, echoes;
	atomic_ulong err[MAXERRNO + 1];		/* [0]: ack 0 */
	atomic_ulong violations, refused, closes_bound, netns_runs;
	atomic_ulong phase_sent[3];
	atomic_int stop;
	atomic_int vlines;
	uint8_t bound[(COLO_VM_ID_MAX + 1) / 8];	/* ids ever bound */
};

static struct shared *S;
static const char *who = "main";

static void violation(const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&S->violations, 1);
	if (atomic_fetch_add(&S->vlines, 1) >= 40)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "VIOLATION [%s]: ", who);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void mark_bound(uint32_t id)
{
	if (id <= COLO_VM_ID_MAX)
		__atomic_fetch_or(&S->bound[id / 8], 1u << (id % 8), __ATOMIC_RELAXED);
}

static void count_err(int e)
{
	if (e < 0 || e > MAXERRNO)
		e = MAXERRNO;
	atomic_fetch_add(&S->err[e], 1);
}

/* --- PRNG ------------------------------------------------------------------ */

struct rng { uint64_t s; };

static uint64_t rnd(struct rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint32_t rn(struct rng *r, uint32_t n) { return n ? rnd(r) % n : 0; }
static bool chance(struct rng *r, unsigned int pct) { return rn(r, 100) < pct; }

static void rng_init(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->s = (seed ^ (stream * 0x9e3779b97f4a7c15ULL)) | 1;
	for (int i = 0; i < 8; i++)
		rnd(r);
}

static uint64_t now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- sockets --------------------------------------------------------------- */

struct nl {
	int fd;
	uint32_t portid;
	uint32_t seq;
};

static uint16_t family_id;
static uint32_t monitor_grp;

static int nl_open(struct nl *s, bool ext_ack)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t sl = sizeof(sa);
	int one = 1, rb = RCVBUF;

	s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (s->fd < 0)
		return -errno;
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &sl) < 0) {
		close(s->fd);
		return -errno;
	}
	s->portid = sa.nl_pid;
	s->seq = 1000;
	setsockopt(s->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (ext_ack)
		setsockopt(s->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	/* privileged; the others fall back to rmem_max and small batches */
	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb)) < 0)
		setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
	return 0;
}

static void nl_close(struct nl *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static int nl_send(struct nl *s, const void *buf, size_t len)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (sendto(s->fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

/* recv with a timeout; -ETIMEDOUT if nothing came */
static int nl_recv(struct nl *s, void *buf, size_t len, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	int n;

	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(s->fd, buf, len, 0);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	return n;
}

/* --- family, policy ---------------------------------------------------------- */

struct pol {
	bool present;		/* absent: NLA_REJECT (or unknown) */
	uint32_t type;		/* NL_ATTR_TYPE_* */
	uint64_t min, max, mask;
	bool has_range, has_mask;
};

static struct pol pol[COLO_A_MAX + 1];

/* What nfnetlink_colo.c's colo_nl_policy says (compared with the kernel's). */
static void policy_mirror(struct pol *p)
{
	memset(p, 0, sizeof(*p) * (COLO_A_MAX + 1));
	p[COLO_A_VM_ID] = (struct pol){ true, NL_ATTR_TYPE_U32, 1, COLO_VM_ID_MAX, 0, true, false };
	p[COLO_A_MODE] = (struct pol){ true, NL_ATTR_TYPE_U8, COLO_MODE_PRIMARY,
				      COLO_MODE_SECONDARY, 0, true, false };
	p[COLO_A_HOLD_TIMEOUT] = (struct pol){ true, NL_ATTR_TYPE_U32, 0, UINT32_MAX, 0, true, false };
	p[COLO_A_QUEUE_LIMIT] = (struct pol){ true, NL_ATTR_TYPE_U32, 0, UINT32_MAX, 0, true, false };
	p[COLO_A_MEM_LIMIT] = (struct pol){ true, NL_ATTR_TYPE_U32, COLO_MIN_MEM_LIMIT_KB,
					    UINT32_MAX, 0, true, false };
	p[COLO_A_CONN_LIMIT] = (struct pol){ true, NL_ATTR_TYPE_U32, 1, UINT32_MAX, 0, true, false };
	p[COLO_A_FLAGS] = (struct pol){ true, NL_ATTR_TYPE_U32, 0, 0, COLO_F_ALL, false, true };
	p[COLO_A_STOP_TIME] = (struct pol){ true, NL_ATTR_TYPE_U64, 0, UINT64_MAX, 0, true, false };
}

struct cb_ctx {
	const struct nlattr *tb[CTRL_ATTR_MAX + 1];
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct cb_ctx *c = data;
	int t = mnl_attr_get_type(a);

	if (t <= CTRL_ATTR_MAX)
		c->tb[t] = a;
	return MNL_CB_OK;
}

/* One synchronous control request; calls @fn for each data message. */
static int ctrl_request(struct nl *s, uint8_t cmd, uint16_t flags,
			void (*put)(struct nlmsghdr *, void *),
			void (*fn)(const struct nlmsghdr *, void *), void *arg)
{
	static char buf[BUF_SZ];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	uint32_t seq = ++s->seq;
	int err;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = 1;
	put(nlh, arg);
	err = nl_send(s, buf, nlh->nlmsg_len);
	if (err)
		return err;
	for (;;) {
		int n = nl_recv(s, buf, sizeof(buf), 5000);

		if (n < 0)
			return n;
		for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, n);
		     nlh = mnl_nlmsg_next(nlh, &n)) {
			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->error;
			if (nlh->nlmsg_type == NLMSG_DONE) {
				if (flags & NLM_F_DUMP)	/* a dump ends here */
					return *(int *)mnl_nlmsg_get_payload(nlh);
				continue;
			}
			fn(nlh, arg);
		}
	}
}

static void put_family_name(struct nlmsghdr *nlh, void *arg)
{
	(void)arg;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, COLO_GENL_NAME);
}

static void put_family_id(struct nlmsghdr *nlh, void *arg)
{
	(void)arg;
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, family_id);
}

static void family_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct cb_ctx c = { 0 };
	const struct nlattr *g, *grp;

	(void)arg;
	mnl_attr_parse(nlh, GENL_HDRLEN, attr_cb, &c);
	if (c.tb[CTRL_ATTR_FAMILY_ID])
		family_id = mnl_attr_get_u16(c.tb[CTRL_ATTR_FAMILY_ID]);
	if (!c.tb[CTRL_ATTR_MCAST_GROUPS])
		return;
	mnl_attr_for_each_nested(g, c.tb[CTRL_ATTR_MCAST_GROUPS]) {
		const char *name = NULL;
		uint32_t id = 0;

		mnl_attr_for_each_nested(grp, g) {
			if (mnl_attr_get_type(grp) == CTRL_ATTR_MCAST_GRP_NAME)
				name = mnl_attr_get_str(grp);
			if (mnl_attr_get_type(grp) == CTRL_ATTR_MCAST_GRP_ID)
				id = mnl_attr_get_u32(grp);
		}
		if (name && !strcmp(name, COLO_GENL_MCGRP_MONITOR))
			monitor_grp = id;
	}
}

/* CTRL_ATTR_POLICY { policy idx { attr { NL_POLICY_TYPE_ATTR_* } } } */
static void policy_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct pol *kp = arg;
	struct cb_ctx c = { 0 };
	const struct nlattr *pi, *ai, *f;

	mnl_attr_parse(nlh, GENL_HDRLEN, attr_cb, &c);
	if (!c.tb[CTRL_ATTR_POLICY])
		return;
	mnl_attr_for_each_nested(pi, c.tb[CTRL_ATTR_POLICY]) {
		if (mnl_attr_get_type(pi) != 0)	/* only the top-level policy */
			continue;
		mnl_attr_for_each_nested(ai, pi) {
			unsigned int t = mnl_attr_get_type(ai);
			struct pol *p;

			if (t > COLO_A_MAX)
				continue;
			p = &kp[t];
			p->present = true;
			mnl_attr_for_each_nested(f, ai) {
				switch (mnl_attr_get_type(f)) {
				case NL_POLICY_TYPE_ATTR_TYPE:
					p->type = mnl_attr_get_u32(f);
					break;
				case NL_POLICY_TYPE_ATTR_MIN_VALUE_U:
					p->min = mnl_attr_get_u64(f);
					p->has_range = true;
					break;
				case NL_POLICY_TYPE_ATTR_MAX_VALUE_U:
					p->max = mnl_attr_get_u64(f);
					p->has_range = true;
					break;
				case NL_POLICY_TYPE_ATTR_MASK:
					p->mask = mnl_attr_get_u64(f);
					p->has_mask = true;
					break;
				}
			}
		}
	}
}

static int setup_family(void)
{
	struct pol mirror[COLO_A_MAX + 1], kp[COLO_A_MAX + 1];
	struct nl s;
	int err;

	if (nl_open(&s, true))
		return -1;
	err = ctrl_request(&s, CTRL_CMD_GETFAMILY, 0, put_family_name, family_cb, NULL);
	if (err || !family_id) {
		fprintf(stderr, "family %s: %s\n", COLO_GENL_NAME, strerror(-err));
		nl_close(&s);
		return -1;
	}
	policy_mirror(mirror);
	memset(kp, 0, sizeof(kp));
	err = ctrl_request(&s, CTRL_CMD_GETPOLICY, NLM_F_DUMP, put_family_id, policy_cb, kp);
	nl_close(&s);
	if (err) {
		printf("# policy: CTRL_CMD_GETPOLICY: %s, using the mirrored policy\n",
		       strerror(-err));
		memcpy(pol, mirror, sizeof(pol));
		return 0;
	}
	for (int t = 0; t <= COLO_A_MAX; t++) {
		struct pol *a = &kp[t], *b = &mirror[t];

		if (a->present != b->present || (a->present &&
		    (a->type != b->type || a->has_mask != b->has_mask ||
		     (a->has_mask && a->mask != b->mask) ||
		     (!a->has_mask && (a->min != b->min || a->max != b->max)))))
			violation("policy of attribute %d: kernel %s type %u [%" PRIu64 ",%" PRIu64
				  "] mask %#" PRIx64 ", expected %s type %u [%" PRIu64 ",%" PRIu64
				  "] mask %#" PRIx64, t, a->present ? "accepts" : "rejects",
				  a->type, a->min, a->max, a->mask,
				  b->present ? "accepts" : "rejects", b->type, b->min, b->max, b->mask);
	}
	memcpy(pol, kp, sizeof(pol));
	printf("# policy: read from the kernel (CTRL_CMD_GETPOLICY), family id %u, monitor group %u\n",
	       family_id, monitor_grp);
	return 0;
}

/* --- message building ---------------------------------------------------------- */

struct gattr {
	uint16_t type;		/* with NLA_F_* bits */
	int len_override;	/* -1: nla_len = 4 + plen; else as given (last attr only) */
	uint8_t p[40];
	int plen;
};

struct gmsg {
	uint16_t nltype, flags;
	uint8_t cmd, ver;
	uint16_t resv;
	int hdr_trunc;		/* nlmsg_len 16..19: genl header cut */
	int tail_trunc;		/* nlmsg_len larger than the datagram: last, silent */
	int nattr;
	struct gattr a[10];
	int ntrail;		/* 1..3 garbage bytes after the attributes */
	uint8_t trail[3];
};

enum expect_kind {
	X_ACK0,		/* not a request / control type: ack 0 iff NLM_F_ACK */
	X_SILENT,	/* dropped by netlink: no answer at all */
	X_ERR,		/* this error (xerr), or any error if xerr == -1 */
	X_ANY,		/* depends on the state: an allowed errno */
};

struct expect {
	enum expect_kind kind;
	int xerr, xerr2;	/* positive errno; xerr2: also accepted, or 0 */
	uint16_t flags;
	uint8_t cmd;
	/* filled when answers arrive */
	int acks, data, err;
	uint32_t init_id;	/* PROXY_INIT candidate: marked bound on success */
	char msg[80];		/* extack message of the answer */
	const uint8_t *raw;	/* the message as sent (for the report) */
	size_t rawlen;
};

static size_t msg_encode(const struct gmsg *m, uint32_t seq, uint32_t portid,
			 uint8_t *out)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)out;
	struct genlmsghdr *g = (struct genlmsghdr *)(out + NLMSG_HDRLEN);
	size_t off = NLMSG_HDRLEN + GENL_HDRLEN;

	nlh->nlmsg_type = m->nltype;
	nlh->nlmsg_flags = m->flags;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = portid;
	g->cmd = m->cmd;
	g->version = m->ver;
	g->reserved = m->resv;
	for (int i = 0; i < m->nattr; i++) {
		const struct gattr *a = &m->a[i];
		struct nlattr *na = (struct nlattr *)(out + off);

		na->nla_type = a->type;
		na->nla_len = a->len_override >= 0 ? a->len_override : 4 + a->plen;
		memcpy(out + off + 4, a->p, a->plen);
		off += 4 + a->plen;
		while (off % 4)
			out[off++] = 0;
	}
	memcpy(out + off, m->trail, m->ntrail);
	off += m->ntrail;
	nlh->nlmsg_len = off;
	if (m->hdr_trunc)	/* the datagram ends there too */
		nlh->nlmsg_len = off = m->hdr_trunc;
	if (m->tail_trunc)
		nlh->nlmsg_len = off + m->tail_trunc;
	while (off % 4)
		out[off++] = 0;
	return off;
}

static void a_put(struct gmsg *m, uint16_t type, const void *p, int len)
{
	struct gattr *a;

	if (m->nattr >= (int)(sizeof(m->a) / sizeof(m->a[0])))
		return;
	a = &m->a[m->nattr++];
	a->type = type;
	a->len_override = -1;
	a->plen = len;
	memcpy(a->p, p, len);
}

static void a_u8(struct gmsg *m, uint16_t t, uint8_t v) { a_put(m, t, &v, 1); }
static void a_u32(struct gmsg *m, uint16_t t, uint32_t v) { a_put(m, t, &v, 4); }
static void a_u64(struct gmsg *m, uint16_t t, uint64_t v) { a_put(m, t, &v, 8); }

static int pol_len(uint32_t type)
{
	switch (type) {
	case NL_ATTR_TYPE_U8: return 1;
	case NL_ATTR_TYPE_U16: return 2;
	case NL_ATTR_TYPE_U32: return 4;
	case NL_ATTR_TYPE_U64: return 8;
	}
	return 0;
}

static uint32_t pick_id(struct rng *r, uint32_t base)
{
	static const uint32_t edge[] = { 0, 1, COLO_VM_ID_MAX, COLO_VM_ID_MAX + 1,
					 UINT32_MAX, 0x800000 };

	if (chance(r, 85))
		return base + 1 + rn(r, POOL_IDS);
	if (chance(r, 60))
		return edge[rn(r, sizeof(edge) / sizeof(edge[0]))];
	return rnd(r);
}

/* A value for attribute @t from its policy: valid, boundary, or out of range. */
static uint64_t pick_value(struct rng *r, int t)
{
	const struct pol *p = &pol[t];
	uint64_t tmax = pol_len(p->type) == 8 ? UINT64_MAX :
			(1ULL << (8 * pol_len(p->type))) - 1;

	if (t == COLO_A_STOP_TIME) {
		switch (rn(r, 6)) {
		case 0: return 0;
		case 1: return UINT64_MAX;
		case 2: return now_real_ns() + 10ULL * 1000000000ULL;
		case 3: return 1;
		default: return now_real_ns() - rn(r, 1000000000);
		}
	}
	if (p->has_mask) {
		if (chance(r, 70))
			return rnd(r) & p->mask;
		return rnd(r) & tmax;
	}
	if (p->has_range) {
		switch (rn(r, 8)) {
		case 0: return p->min;
		case 1: return p->max;
		case 2: return p->min ? p->min - 1 : p->min;
		case 3: return p->max < tmax ? p->max + 1 : p->max;
		case 4: return rnd(r) & tmax;
		default: return p->min + rn(r, (uint32_t)(p->max - p->min + 1 > 1000 ?
							   1000 : p->max - p->min + 1));
		}
	}
	return rnd(r) & tmax;
}

static void a_value(struct gmsg *m, int t, uint64_t v)
{
	switch (pol_len(pol[t].type)) {
	case 1: a_u8(m, t, v); break;
	case 2: { uint16_t x = v; a_put(m, t, &x, 2); break; }
	case 8: a_u64(m, t, v); break;
	default: a_u32(m, t, v); break;
	}
}

/*
 * A structured request: a command (mostly valid), its attributes from the
 * policy, then mutations. @id_base: the id pool (0: 1..8).
 */
static void gen_msg(struct rng *r, struct gmsg *m, uint32_t id_base)
{
	memset(m, 0, sizeof(*m));
	m->nltype = family_id;
	m->flags = NLM_F_REQUEST | (chance(r, 80) ? NLM_F_ACK : 0);
	m->ver = chance(r, 95) ? COLO_GENL_VERSION : rn(r, 256);
	m->resv = chance(r, 95) ? 0 : rn(r, 65536);
	m->cmd = chance(r, 94) ? COLO_CMD_PROXY_INIT + rn(r, COLO_CMD_GET) :
		 (uint8_t)rn(r, 256);

	/* the attributes a command takes */
	if (chance(r, 95))
		a_u32(m, COLO_A_VM_ID, pick_id(r, id_base));
	if (m->cmd == COLO_CMD_PROXY_INIT ? chance(r, 92) : chance(r, 10))
		a_u8(m, COLO_A_MODE, chance(r, 90) ? 1 + rn(r, 2) : pick_value(r, COLO_A_MODE));
	if (m->cmd == COLO_CMD_PROXY_INIT && chance(r, 30))
		a_value(m, COLO_A_HOLD_TIMEOUT, pick_value(r, COLO_A_HOLD_TIMEOUT));
	if (m->cmd == COLO_CMD_PROXY_INIT && chance(r, 30))
		a_value(m, COLO_A_QUEUE_LIMIT, pick_value(r, COLO_A_QUEUE_LIMIT));
	if (m->cmd == COLO_CMD_PROXY_INIT && chance(r, 30))
		a_value(m, COLO_A_MEM_LIMIT, pick_value(r, COLO_A_MEM_LIMIT));
	if (m->cmd == COLO_CMD_PROXY_INIT && chance(r, 30))
		a_value(m, COLO_A_CONN_LIMIT, pick_value(r, COLO_A_CONN_LIMIT));
	if (m->cmd == COLO_CMD_GET && chance(r, 40))
		a_value(m, COLO_A_FLAGS, pick_value(r, COLO_A_FLAGS));
	if (m->cmd == COLO_CMD_CHECKPOINT_BEGIN ? chance(r, 40) : chance(r, 3))
		a_value(m, COLO_A_STOP_TIME, pick_value(r, COLO_A_STOP_TIME));

	/* mutations */
	if (chance(r, 6)) {		/* any attribute, any value */
		int t = rn(r, COLO_A_MAX + 1);

		if (pol[t].present)
			a_value(m, t, rnd(r));
		else
			a_u32(m, t, rnd(r));
	}
	if (chance(r, 5) && m->nattr) {	/* wrong length */
		struct gattr *a = &m->a[rn(r, m->nattr)];

		a->plen = rn(r, 13);
		for (int i = 0; i < a->plen; i++)
			a->p[i] = rnd(r);
	}
	if (chance(r, 3) && m->nattr)	/* NLA_F_NESTED on a scalar */
		m->a[rn(r, m->nattr)].type |= NLA_F_NESTED;
	if (chance(r, 3) && m->nattr)	/* byte order flag: ignored by the kernel */
		m->a[rn(r, m->nattr)].type |= NLA_F_NET_BYTEORDER;
	if (chance(r, 4)) {		/* nested garbage in a reply-only attribute */
		uint8_t g[24];
		int n = 4 * (1 + rn(r, 5));

		for (int i = 0; i < n; i++)
			g[i] = rnd(r);
		g[0] = n; g[1] = 0;	/* first inner nla_len = all */
		a_put(m, (chance(r, 50) ? COLO_A_CONN : COLO_A_STATS) |
		      (chance(r, 70) ? NLA_F_NESTED : 0), g, n);
	}
	if (chance(r, 3))		/* unknown attribute types */
		a_u32(m, chance(r, 50) ? 0 : COLO_A_MAX + 1 + rn(r, 0x3fff - COLO_A_MAX),
		      rnd(r));
	if (chance(r, 3) && m->nattr)	/* duplicate */
		m->a[m->nattr < 10 ? m->nattr++ : 9] = m->a[0];
	if (chance(r, 3) && m->nattr) {	/* truncated / undersized last attribute */
		struct gattr *a = &m->a[m->nattr - 1];

		a->len_override = chance(r, 50) ? (int)rn(r, 4) : 4 + a->plen + 4 + (int)rn(r, 64);
	}
	if (chance(r, 2)) {
		m->ntrail = 1 + rn(r, 3);
		for (int i = 0; i < m->ntrail; i++)
			m->trail[i] = rnd(r);
	}
	if (chance(r, 1))
		m->hdr_trunc = 16 + rn(r, 4);
	if (chance(r, 3))
		m->flags |= NLM_F_DUMP;
	if (chance(r, 3))
		m->flags |= (uint16_t)(rn(r, 16) << 8) | (chance(r, 50) ? NLM_F_ECHO : 0);
	if (chance(r, 2))
		m->flags &= ~NLM_F_REQUEST;
	if (chance(r, 1))
		m->nltype = rn(r, NLMSG_MIN_TYPE);
}

/*
 * The kernel's verdict where it is certain: netlink core (request flag,
 * control types), generic netlink (header length, command, permission,
 * dump), the strict attribute validator with the family's policy, then the
 * family's own checks that need no state.
 */
static void predict(const struct gmsg *m, bool nocap, struct expect *x)
{
	const struct gattr *last[COLO_A_MAX + 1] = { 0 };
	bool valid_cmd = m->cmd >= COLO_CMD_PROXY_INIT && m->cmd <= COLO_CMD_GET;
	int rem, err = 0;

	memset(x, 0, sizeof(*x));
	x->flags = m->flags;
	x->cmd = m->cmd;
	x->xerr = -1;
	if (m->tail_trunc) {
		x->kind = X_SILENT;
		return;
	}
	if (!(m->flags & NLM_F_REQUEST) || m->nltype < NLMSG_MIN_TYPE) {
		x->kind = X_ACK0;
		return;
	}
	x->kind = X_ERR;
	if (m->hdr_trunc) {
		x->xerr = EINVAL;
		return;
	}
	/*
	 * genl_header_check() (6.1+; the family sets no resv_start_op, so for
	 * every command): genlmsghdr.reserved must be 0 and nlmsg_flags may
	 * only hold REQUEST, ACK, ECHO and both DUMP bits together.
	 */
	if (m->resv || ((m->flags & NLM_F_DUMP) == NLM_F_DUMP ?
			m->flags & ~NLM_F_DUMP : m->flags) &
		       ~(NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO)) {
		x->xerr = EINVAL;
		return;
	}
	if (!valid_cmd) {
		x->xerr = EOPNOTSUPP;
		return;
	}
	if (nocap) {
		x->xerr = EPERM;
		if ((m->flags & NLM_F_DUMP) == NLM_F_DUMP)
			x->xerr2 = EOPNOTSUPP;	/* split ops (6.2+) look the dump op up first */
		return;
	}
	if ((m->flags & NLM_F_DUMP) == NLM_F_DUMP) {
		x->xerr = EOPNOTSUPP;
		return;
	}

	/* strict validation, in attribute order */
	rem = 0;
	for (int i = 0; i < m->nattr; i++)
		rem += 4 + ((m->a[i].plen + 3) & ~3);
	for (int i = 0; i < m->nattr && !err; i++) {
		const struct gattr *a = &m->a[i];
		int nla_len = a->len_override >= 0 ? a->len_override : 4 + a->plen;
		unsigned int t = a->type & NLA_TYPE_MASK;
		const struct pol *p;
		uint64_t v = 0;

		if (rem < 4 || nla_len < 4 || nla_len > rem)
			break;		/* leftover: checked below */
		rem -= (nla_len + 3) & ~3;
		if (t == 0 || t > COLO_A_MAX) {
			err = EINVAL;
			break;
		}
		p = &pol[t];
		if (!p->present) {	/* NLA_REJECT */
			err = EINVAL;
			break;
		}
		if (pol_len(p->type) && nla_len - 4 != pol_len(p->type)) {
			err = EINVAL;
			break;
		}
		if (a->type & NLA_F_NESTED) {
			err = EINVAL;
			break;
		}
		memcpy(&v, a->p, pol_len(p->type));
		if (p->has_mask && (v & ~p->mask)) {
			err = EINVAL;
			break;
		}
		if (p->has_range && (v < p->min || v > p->max)) {
			err = ERANGE;
			break;
		}
		last[t] = a;
	}
	if (!err && (rem > 0 || m->ntrail))
		err = EINVAL;
	if (err) {
		x->xerr = err;
		return;
	}

	/* the family's stateless checks (nfnetlink_colo.c) */
	if (m->cmd >= COLO_CMD_CHECKPOINT_BEGIN && m->cmd <= COLO_CMD_RESET &&
	    last[COLO_A_STOP_TIME]) {
		uint64_t st;

		memcpy(&st, last[COLO_A_STOP_TIME]->p, 8);
		if (m->cmd != COLO_CMD_CHECKPOINT_BEGIN || st == 0 ||
		    st > now_real_ns() + 100000000ULL) {
			/* a stop time at most 100 ms ahead could become valid
			 * in transit; only clearly bad ones are predicted */
			if (m->cmd != COLO_CMD_CHECKPOINT_BEGIN || st == 0 ||
			    st > now_real_ns() + 1000000000ULL) {
				x->xerr = EINVAL;
				return;
			}
		}
	}
	if (!last[COLO_A_VM_ID] ||
	    (m->cmd == COLO_CMD_PROXY_INIT && !last[COLO_A_MODE])) {
		x->xerr = EINVAL;
		return;
	}
	x->kind = X_ANY;
	if (m->cmd == COLO_CMD_PROXY_INIT)
		memcpy(&x->init_id, last[COLO_A_VM_ID]->p, 4);
}

static void check_expect1(const struct expect *x, uint32_t seq);

static bool allowed_any(int e)
{
	return e == 0 || e == EINVAL || e == ENOENT || e == EPERM || e == EEXIST;
}

/* --- batches ------------------------------------------------------------------ */

struct batch {
	uint32_t seq0;
	int n;
	struct expect x[MAX_BATCH + 2];
};

static void answer(struct batch *b, const struct nlmsghdr *nlh)
{
	uint32_t i = nlh->nlmsg_seq - b->seq0;

	if (nlh->nlmsg_seq == 0 && nlh->nlmsg_pid == 0) {
		atomic_fetch_add(&S->notices, 1);	/* CHECKPOINT_NEEDED unicast */
		return;
	}
	if (i >= (uint32_t)b->n) {
		violation("answer type %u for unknown seq %u (batch %u..%u)",
			  nlh->nlmsg_type, nlh->nlmsg_seq, b->seq0, b->seq0 + b->n - 1);
		return;
	}
	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		b->x[i].acks++;
		b->x[i].err = -e->error;
		if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
			size_t off = sizeof(*nlh) + sizeof(*e);	/* NETLINK_CAP_ACK */
			const struct nlattr *a;

			if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
				off = sizeof(*nlh) + sizeof(e->error) + e->msg.nlmsg_len;
			for (a = (const void *)((const uint8_t *)nlh + NLMSG_ALIGN(off));
			     mnl_attr_ok(a, (const uint8_t *)nlh + nlh->nlmsg_len - (const uint8_t *)a);
			     a = mnl_attr_next(a))
				if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG)
					snprintf(b->x[i].msg, sizeof(b->x[i].msg), "%s",
						 mnl_attr_get_str(a));
		}
		atomic_fetch_add(&S->acks, 1);
		count_err(-e->error);
	} else if (nlh->nlmsg_type == family_id) {
		const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);

		b->x[i].data++;
		atomic_fetch_add(&S->data, 1);
		if (g->cmd != COLO_CMD_GET)
			violation("seq %u: data reply with command %u", nlh->nlmsg_seq, g->cmd);
	} else {
		violation("seq %u: answer of type %u", nlh->nlmsg_seq, nlh->nlmsg_type);
	}
}

static void dump_msg(const struct expect *x)
{
	char hex[3 * 96 + 1] = "";

	if (atomic_load(&S->vlines) > 40 || !x->raw)
		return;
	for (size_t i = 0; i < x->rawlen && i < 96; i++)
		sprintf(hex + 3 * i, "%02x ", x->raw[i]);
	fprintf(stderr, "  message (%zu bytes): %s\n  extack: %s\n", x->rawlen, hex,
		x->msg[0] ? x->msg : "-");
}

static void check_expect(const struct expect *x, uint32_t seq)
{
	unsigned long v0 = atomic_load(&S->violations);

	check_expect1(x, seq);
	if (atomic_load(&S->violations) != v0)
		dump_msg(x);
}

static void check_expect1(const struct expect *x, uint32_t seq)
{
	bool ack = x->flags & NLM_F_ACK;

	if (x->data > 1 || (x->data && (x->cmd != COLO_CMD_GET || x->err ||
					x->kind != X_ANY)))
		violation("seq %u cmd %u: %d data replies (err %d)", seq, x->cmd,
			  x->data, x->err);
	if (x->acks > 1) {
		violation("seq %u cmd %u: %d acks", seq, x->cmd, x->acks);
		return;
	}
	switch (x->kind) {
	case X_SILENT:
		if (x->acks)
			violation("seq %u: truncated message answered (%d)", seq, x->err);
		else
			atomic_fetch_add(&S->silent, 1);
		return;
	case X_ACK0:
		if (ack && (x->acks != 1 || x->err))
			violation("seq %u: non-request: %d acks, err %d, expected one ack 0",
				  seq, x->acks, x->err);
		if (!ack && x->acks)
			violation("seq %u: non-request without NLM_F_ACK answered (%d)",
				  seq, x->err);
		return;
	case X_ERR:
		if (x->acks != 1) {
			violation("seq %u cmd %u flags %#x: no error answer (expected %d)",
				  seq, x->cmd, x->flags, x->xerr);
			return;
		}
		if (x->err == 0)
			violation("seq %u cmd %u flags %#x: accepted (0), expected error %d",
				  seq, x->cmd, x->flags, x->xerr);
		else if (x->xerr > 0 && x->err != x->xerr && x->err != x->xerr2)
			violation("seq %u cmd %u flags %#x: error %d, expected %d",
				  seq, x->cmd, x->flags, x->err, x->xerr);
		if (x->xerr == EPERM)
			atomic_fetch_add(&S->refused, 1);
		return;
	case X_ANY:
		if (ack && x->acks != 1)
			violation("seq %u cmd %u: %d acks for NLM_F_ACK", seq, x->cmd, x->acks);
		if (!ack && x->acks && !x->err)
			violation("seq %u cmd %u: ack 0 without NLM_F_ACK", seq, x->cmd);
		if (x->acks && !allowed_any(x->err))
			violation("seq %u cmd %u: unexpected error %d", seq, x->cmd, x->err);
		if (x->cmd == COLO_CMD_PROXY_INIT && x->acks && !x->err)
			mark_bound(x->init_id);
		if (x->cmd == COLO_CMD_PROXY_INIT && !ack && !x->acks)
			mark_bound(x->init_id);	/* may have succeeded */
		return;
	}
}

/*
 * Send @n generated messages in one datagram, then a barrier (no
 * NLM_F_REQUEST, NLM_F_ACK: the kernel acks it after everything before it),
 * collect and check the answers.
 */
static int run_batch(struct nl *s, struct rng *r, int n, bool nocap, uint32_t id_base,
		     int phase)
{
	static __thread uint8_t buf[BUF_SZ], rbuf[BUF_SZ];
	struct batch b;
	struct gmsg m;
	size_t off = 0;
	int len;
	int err;

	b.seq0 = s->seq + 1;
	b.n = 0;
	for (int i = 0; i < n; i++) {
		gen_msg(r, &m, id_base);
		if (i == n - 1 && chance(r, 3))
			m.tail_trunc = 4 + rn(r, 64);
		predict(&m, nocap, &b.x[b.n]);
		b.x[b.n].raw = buf + off;
		b.x[b.n].rawlen = msg_encode(&m, ++s->seq, s->portid, buf + off);
		off += b.x[b.n].rawlen;
		b.n++;
	}
	err = nl_send(s, buf, off);
	if (err) {
		violation("sendto %zu bytes: %s", off, strerror(-err));
		return -1;
	}
	memset(&m, 0, sizeof(m));
	m.nltype = family_id;
	m.flags = NLM_F_ACK;
	m.cmd = COLO_CMD_GET;
	m.ver = 1;
	b.x[b.n] = (struct expect){ .kind = X_ACK0, .flags = NLM_F_ACK };
	len = msg_encode(&m, ++s->seq, s->portid, buf + off);
	b.n++;
	atomic_fetch_add(&S->sent, n);
	atomic_fetch_add(&S->phase_sent[phase], n);
	if (nl_send(s, buf + off, len))
		return -1;

	while (!b.x[b.n - 1].acks) {
		len = nl_recv(s, rbuf, sizeof(rbuf), 10000);
		if (len < 0) {
			violation("recv: %s (batch at seq %u)", strerror(-len), b.seq0);
			return -1;
		}
		for (struct nlmsghdr *nlh = (struct nlmsghdr *)rbuf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			answer(&b, nlh);
	}
	for (int i = 0; i < b.n; i++)
		check_expect(&b.x[i], b.seq0 + i);
	return 0;
}

/* --- simple synchronous requests (model, racers) -------------------------------- */

struct reply {
	int err;
	bool got_data;
	uint8_t state, mode;
	uint32_t epoch, portid, hold, qlimit, id;
};

static int req(struct nl *s, uint8_t cmd, uint32_t id, int mode, int64_t hold,
	       int64_t ql, uint64_t stop, struct reply *rep)
{
	uint8_t buf[512], rbuf[BUF_SZ];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	uint32_t seq = ++s->seq;
	int acks = 0;

	memset(rep, 0, sizeof(*rep));
	nlh->nlmsg_type = family_id;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = COLO_GENL_VERSION;
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, id);
	if (mode >= 0)
		mnl_attr_put_u8(nlh, COLO_A_MODE, mode);
	if (hold >= 0)
		mnl_attr_put_u32(nlh, COLO_A_HOLD_TIMEOUT, hold);
	if (ql >= 0)
		mnl_attr_put_u32(nlh, COLO_A_QUEUE_LIMIT, ql);
	if (stop)
		mnl_attr_put_u64(nlh, COLO_A_STOP_TIME, stop);
	if (nl_send(s, buf, nlh->nlmsg_len)) {
		violation("send: %s", strerror(errno));
		return -1;
	}
	atomic_fetch_add(&S->sent, 1);
	for (;;) {
		int len = nl_recv(s, rbuf, sizeof(rbuf), 10000);

		if (len < 0) {
			violation("recv cmd %u id %u: %s", cmd, id, strerror(-len));
			return -1;
		}
		for (nlh = (struct nlmsghdr *)rbuf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq == 0 && nlh->nlmsg_pid == 0) {
				atomic_fetch_add(&S->notices, 1);
				continue;
			}
			if (nlh->nlmsg_seq != seq) {
				violation("cmd %u: answer for seq %u, expected %u",
					  cmd, nlh->nlmsg_seq, seq);
				continue;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				rep->err = -((struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->error;
				atomic_fetch_add(&S->acks, 1);
				count_err(rep->err);
				acks++;
				continue;
			}
			if (nlh->nlmsg_type == family_id) {
				const struct nlattr *a;

				if (rep->got_data)
					violation("cmd %u: two data replies", cmd);
				rep->got_data = true;
				atomic_fetch_add(&S->data, 1);
				mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
					switch (mnl_attr_get_type(a)) {
					case COLO_A_VM_ID: rep->id = mnl_attr_get_u32(a); break;
					case COLO_A_MODE: rep->mode = mnl_attr_get_u8(a); break;
					case COLO_A_STATE: rep->state = mnl_attr_get_u8(a); break;
					case COLO_A_EPOCH: rep->epoch = mnl_attr_get_u32(a); break;
					case COLO_A_PORTID: rep->portid = mnl_attr_get_u32(a); break;
					case COLO_A_HOLD_TIMEOUT: rep->hold = mnl_attr_get_u32(a); break;
					case COLO_A_QUEUE_LIMIT: rep->qlimit = mnl_attr_get_u32(a); break;
					}
				}
			}
		}
		if (acks) {
			if (rep->got_data && (cmd != COLO_CMD_GET || rep->err))
				violation("cmd %u err %d: unexpected data reply", cmd, rep->err);
			if (cmd == COLO_CMD_GET && !rep->err && !rep->got_data)
				violation("GET %u: ack 0 without a reply", id);
			if (cmd == COLO_CMD_GET && rep->got_data && rep->id != id)
				violation("GET %u: reply for VM %u", id, rep->id);
			return 0;
		}
	}
}

/* --- phase 2: the model ------------------------------------------------------- */

#define MSOCKS 3
#define MIDS 5

struct mvm {
	int owner;		/* socket index, -1: not registered */
	uint8_t mode, state;
	uint32_t epoch, hold, qlimit;
};

static const char *cmd_name(int c)
{
	static const char *n[] = { "unspec", "init", "begin", "done", "failover",
				   "reset", "get", "needed" };
	return c >= 0 && c <= COLO_CMD_MAX ? n[c] : "?";
}

static void model_phase(struct rng *r, unsigned long count)
{
	struct nl s[MSOCKS];
	struct mvm vm[MIDS + 1];
	struct reply rep;

	for (int i = 0; i < MSOCKS; i++)
		if (nl_open(&s[i], true))
			violation("open: %s", strerror(errno));
	for (int i = 0; i <= MIDS; i++)
		vm[i].owner = -1;

	for (unsigned long n = 0; n < count && !atomic_load(&S->violations); n++) {
		int si = rn(r, MSOCKS), id = 1 + rn(r, MIDS), cmd, mode = -1, want;
		int64_t hold = -1, ql = -1;
		uint64_t stop = 0;
		bool bad_stop = false;
		struct mvm *v = &vm[id];

		if (chance(r, 2)) {	/* close a socket: its VMs go away */
			bool had = false;

			for (int i = 1; i <= MIDS; i++)
				if (vm[i].owner == si) {
					vm[i].owner = -1;
					had = true;
				}
			nl_close(&s[si]);
			if (had)
				atomic_fetch_add(&S->closes_bound, 1);
			if (nl_open(&s[si], true))
				violation("reopen: %s", strerror(errno));
			continue;
		}
		cmd = COLO_CMD_PROXY_INIT + rn(r, COLO_CMD_GET);
		if (cmd == COLO_CMD_PROXY_INIT) {
			mode = 1 + rn(r, 2);
			if (chance(r, 50))
				hold = rn(r, 5000);
			if (chance(r, 50))
				ql = rn(r, 100000);
		} else if (chance(r, 10)) {
			mode = 1 + rn(r, 2);
		}
		if (cmd >= COLO_CMD_CHECKPOINT_BEGIN && cmd <= COLO_CMD_RESET && chance(r, 20)) {
			/* only BEGIN takes a stop time, and not one in the future */
			bad_stop = cmd != COLO_CMD_CHECKPOINT_BEGIN || chance(r, 30);
			stop = cmd == COLO_CMD_CHECKPOINT_BEGIN && bad_stop ?
			       now_real_ns() + 5000000000ULL : now_real_ns() - 1000;
		}

		/* the expected result */
		if (bad_stop) {
			want = EINVAL;
		} else if (cmd == COLO_CMD_PROXY_INIT) {
			if (v->owner < 0) {
				want = 0;
				*v = (struct mvm){ si, mode, COLO_STATE_RUNNING, 1, 0, 0 };
			} else if (v->owner != si) {
				want = EEXIST;
			} else if (v->mode != mode) {
				want = EINVAL;
			} else {
				want = 0;
			}
			if (!want) {
				v->hold = hold >= 0 ? hold : COLO_DEFAULT_HOLD_TIMEOUT_MS;
				v->qlimit = ql >= 0 ? ql : COLO_DEFAULT_QUEUE_LIMIT;
			}
		} else if (v->owner < 0) {
			want = ENOENT;
		} else if (mode >= 0 && mode != v->mode) {
			want = EINVAL;
		} else if (cmd == COLO_CMD_GET) {
			want = 0;
		} else if (v->owner != si) {
			want = EPERM;
		} else {
			want = 0;
			switch (cmd) {
			case COLO_CMD_CHECKPOINT_BEGIN:
				if (v->state != COLO_STATE_RUNNING)
					want = EINVAL;
				else
					v->state = COLO_STATE_CHECKPOINT, v->epoch++;
				break;
			case COLO_CMD_CHECKPOINT_DONE:
				if (v->state != COLO_STATE_CHECKPOINT)
					want = EINVAL;
				else
					v->state = COLO_STATE_RUNNING;
				break;
			case COLO_CMD_FAILOVER:
				v->state = COLO_STATE_FAILOVER;
				break;
			case COLO_CMD_RESET:
				v->state = COLO_STATE_RUNNING;
				v->epoch++;
				break;
			}
		}
		if (req(&s[si], cmd, id, mode, hold, ql, stop, &rep))
			break;
		atomic_fetch_add(&S->phase_sent[0], 1);
		if (rep.err != want)
			violation("model: %s id %u from socket %d: %d, expected %d",
				  cmd_name(cmd), id, si, rep.err, want);
		if (cmd == COLO_CMD_PROXY_INIT && !rep.err)
			mark_bound(id);
		if (cmd == COLO_CMD_GET && !rep.err && rep.got_data &&
		    (rep.state != v->state || rep.epoch != v->epoch ||
		     rep.portid != s[v->owner].portid || rep.mode != v->mode ||
		     rep.hold != v->hold || rep.qlimit != v->qlimit))
			violation("model: GET %u: state %u epoch %u port %u mode %u hold %u ql %u, "
				  "expected %u %u %u %u %u %u", id, rep.state, rep.epoch,
				  rep.portid, rep.mode, rep.hold, rep.qlimit, v->state,
				  v->epoch, s[v->owner].portid, v->mode, v->hold, v->qlimit);
	}
	for (int i = 0; i < MSOCKS; i++)
		nl_close(&s[i]);
}

/* --- racers -------------------------------------------------------------------- */

struct racer_arg {
	uint64_t seed, stream;
};

/* Own sockets; exact results for the VMs this thread owns. */
static void *racer_thread(void *p)
{
	struct racer_arg *ra = p;
	struct rng r;
	struct nl s;
	struct reply rep;
	struct { bool own; uint8_t mode, state; } v[POOL_IDS + 1] = { 0 };

	rng_init(&r, ra->seed, ra->stream);
	if (nl_open(&s, chance(&r, 50))) {
		violation("racer open: %s", strerror(errno));
		return NULL;
	}
	while (!atomic_load(&S->stop)) {
		int id = 1 + rn(&r, POOL_IDS), x = rn(&r, 100), cmd, want = -1;
		uint64_t stop = 0;

		if (x < 3) {
			bool had = false;

			for (int i = 1; i <= POOL_IDS; i++) {
				had |= v[i].own;
				v[i].own = false;
			}
			nl_close(&s);
			if (had)
				atomic_fetch_add(&S->closes_bound, 1);
			if (nl_open(&s, chance(&r, 50))) {
				violation("racer reopen: %s", strerror(errno));
				return NULL;
			}
			continue;
		}
		if (x < 25) {
			int mode = 1 + rn(&r, 2);

			if (req(&s, COLO_CMD_PROXY_INIT, id, mode, -1, -1, 0, &rep))
				break;
			if (v[id].own)
				want = v[id].mode == mode ? 0 : EINVAL;
			else if (rep.err == 0)
				v[id] = (typeof(v[0])){ true, mode, COLO_STATE_RUNNING };
			else if (rep.err != EEXIST)
				violation("racer: init %u (not ours): %d", id, rep.err);
			if (want >= 0 && rep.err != want)
				violation("racer: init %u (ours): %d, expected %d", id, rep.err, want);
			if (!rep.err)
				mark_bound(id);
			continue;
		}
		if (x < 85) {
			cmd = COLO_CMD_CHECKPOINT_BEGIN + rn(&r, 4);
			if (cmd == COLO_CMD_CHECKPOINT_BEGIN && chance(&r, 30))
				stop = now_real_ns() - 1000;
		} else {
			cmd = COLO_CMD_GET;
		}
		if (req(&s, cmd, id, -1, -1, -1, stop, &rep))
			break;
		if (!v[id].own) {
			if (cmd == COLO_CMD_GET ? (rep.err && rep.err != ENOENT) ||
			    (!rep.err && rep.portid == s.portid) :
			    rep.err != ENOENT && rep.err != EPERM)
				violation("racer: %s %u (not ours, port %u): %d (port %u)",
					  cmd_name(cmd), id, s.portid, rep.err, rep.portid);
			continue;
		}
		want = 0;
		switch (cmd) {
		case COLO_CMD_CHECKPOINT_BEGIN:
			if (v[id].state != COLO_STATE_RUNNING)
				want = EINVAL;
			else
				v[id].state = COLO_STATE_CHECKPOINT;
			break;
		case COLO_CMD_CHECKPOINT_DONE:
			if (v[id].state != COLO_STATE_CHECKPOINT)
				want = EINVAL;
			else
				v[id].state = COLO_STATE_RUNNING;
			break;
		case COLO_CMD_FAILOVER:
			v[id].state = COLO_STATE_FAILOVER;
			break;
		case COLO_CMD_RESET:
			v[id].state = COLO_STATE_RUNNING;
			break;
		case COLO_CMD_GET:
			if (!rep.err && (rep.portid != s.portid || rep.state != v[id].state))
				violation("racer: GET %u (ours): port %u state %u, expected %u %u",
					  id, rep.portid, rep.state, s.portid, v[id].state);
			break;
		}
		if (rep.err != want)
			violation("racer: %s %u (ours): %d, expected %d", cmd_name(cmd), id,
				  rep.err, want);
	}
	nl_close(&s);
	return NULL;
}

/* Threads racing commands on one bound socket; the main thread collects. */
struct shared_sock {
	struct nl s;
	atomic_uint seq;
	uint64_t seed;
	atomic_int live;
	uint32_t base;
	uint8_t acks[1 << 20];
	int errs[1 << 20];
};

static struct shared_sock *SS;

static void *shared_sender(void *p)
{
	struct rng r;
	uint8_t buf[256];

	rng_init(&r, SS->seed, (uintptr_t)p);
	while (!atomic_load(&S->stop)) {
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		struct genlmsghdr *g;
		uint32_t seq = atomic_fetch_add(&SS->seq, 1);

		if (seq - SS->base >= (1 << 20))
			break;
		nlh->nlmsg_type = family_id;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		nlh->nlmsg_seq = seq;
		g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
		g->cmd = COLO_CMD_PROXY_INIT + rn(&r, COLO_CMD_GET);
		g->version = 1;
		mnl_attr_put_u32(nlh, COLO_A_VM_ID, SHARED_ID);
		if (g->cmd == COLO_CMD_PROXY_INIT)
			mnl_attr_put_u8(nlh, COLO_A_MODE, COLO_MODE_PRIMARY);
		if (nl_send(&SS->s, buf, nlh->nlmsg_len)) {
			violation("shared send: %s", strerror(errno));
			break;
		}
		atomic_fetch_add(&S->sent, 1);
		if (rn(&r, 8) == 0)
			usleep(100);
	}
	atomic_fetch_sub(&SS->live, 1);
	return NULL;
}

static void shared_proc(uint64_t seed)
{
	pthread_t t[3];
	uint8_t rbuf[BUF_SZ];
	struct reply rep;
	uint32_t end;

	who = "shared-socket";
	SS = calloc(1, sizeof(*SS));
	SS->seed = seed;
	if (nl_open(&SS->s, true) ||
	    req(&SS->s, COLO_CMD_PROXY_INIT, SHARED_ID, COLO_MODE_PRIMARY, -1, -1, 0, &rep) ||
	    rep.err) {
		violation("shared: init: %d", rep.err);
		_exit(1);
	}
	mark_bound(SHARED_ID);
	SS->base = SS->s.seq + 1;
	atomic_store(&SS->seq, SS->base);
	atomic_store(&SS->live, 3);
	for (long i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, shared_sender, (void *)i);
	for (;;) {
		int len = nl_recv(&SS->s, rbuf, sizeof(rbuf), 200);

		if (len == -ETIMEDOUT) {
			if (!atomic_load(&SS->live))
				break;
			continue;
		}
		if (len < 0) {
			violation("shared recv: %s", strerror(-len));
			break;
		}
		for (struct nlmsghdr *nlh = (struct nlmsghdr *)rbuf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			uint32_t i = nlh->nlmsg_seq - SS->base;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;	/* GET replies */
			if (i >= (1 << 20)) {
				violation("shared: ack for seq %u", nlh->nlmsg_seq);
				continue;
			}
			SS->acks[i]++;
			SS->errs[i] = -((struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->error;
			atomic_fetch_add(&S->acks, 1);
			count_err(SS->errs[i]);
		}
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	end = atomic_load(&SS->seq);
	for (uint32_t s = SS->base; s != end && s - SS->base < (1 << 20); s++) {
		uint32_t i = s - SS->base;

		/* a sender may have taken a number and stopped before sending */
		if (SS->acks[i] > 1 || (SS->errs[i] && SS->errs[i] != EINVAL))
			violation("shared: seq %u: %d acks, err %d", s, SS->acks[i], SS->errs[i]);
	}
	nl_close(&SS->s);	/* VM SHARED_ID goes with it */
	_exit(0);
}

/* --- refused senders ---------------------------------------------------------- */

static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[0].effective &= ~(1u << CAP_NET_ADMIN);
	d[0].permitted &= ~(1u << CAP_NET_ADMIN);
	d[0].inheritable &= ~(1u << CAP_NET_ADMIN);
	if (syscall(SYS_capset, &h, d))
		return -1;
	prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN, 0, 0, 0);
	return 0;
}

/*
 * kind 0: CAP_NET_ADMIN dropped before the socket is opened, 1: after (the
 * socket's opener had it, the sender has not), 2: root of a new user
 * namespace (CAP_NET_ADMIN there, not in the initial one).
 */
static void nocap_proc(uint64_t seed, int kind)
{
	static const char *names[] = { "nocap-before", "nocap-after", "userns" };
	struct rng r;
	struct nl s;
	int err = 0;

	who = names[kind];
	rng_init(&r, seed, 100 + kind);
	if (kind == 0)
		err = drop_net_admin();
	if (kind == 2)
		err = unshare(CLONE_NEWUSER);
	if (err) {
		violation("cannot set up: %s", strerror(errno));
		_exit(1);
	}
	if (nl_open(&s, chance(&r, 50))) {
		violation("open: %s", strerror(errno));
		_exit(1);
	}
	if (kind == 1 && drop_net_admin()) {
		violation("capset: %s", strerror(errno));
		_exit(1);
	}
	if (monitor_grp &&
	    (!setsockopt(s.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &monitor_grp,
			 sizeof(monitor_grp)) || errno != EPERM))
		violation("joining the monitor group: %s, expected EPERM",
			  strerror(errno));
	while (!atomic_load(&S->stop)) {
		/* half on the refused senders' own ids, half on the shared pool */
		if (run_batch(&s, &r, 1 + rn(&r, 8), true,
			      chance(&r, 50) ? NOCAP_ID_BASE : 0, 2))
			break;
		usleep(1000);	/* leave the CPUs to the main fuzzer */
	}
	nl_close(&s);
	_exit(0);
}

/* VMs bound in a fresh netns, then the process exits with them bound. */
static void netns_proc(uint64_t seed, int round)
{
	struct reply rep;
	struct rng r;
	struct nl s;

	who = "netns";
	rng_init(&r, seed, 200 + round);
	if (unshare(CLONE_NEWNET) || nl_open(&s, true)) {
		violation("netns: %s", strerror(errno));
		_exit(1);
	}
	for (int i = 0; i < 4; i++) {
		if (req(&s, COLO_CMD_PROXY_INIT, NETNS_ID_BASE + i, 1 + rn(&r, 2), -1, -1, 0, &rep))
			_exit(1);
		if (rep.err)	/* a fresh netns has no VMs */
			violation("netns: init %u: %d", NETNS_ID_BASE + i, rep.err);
		if (req(&s, COLO_CMD_CHECKPOINT_BEGIN, NETNS_ID_BASE + i, -1, -1, -1, 0, &rep) ||
		    rep.err)
			violation("netns: begin %u: %d", NETNS_ID_BASE + i, rep.err);
	}
	for (int i = 0; i < 50; i++)
		if (run_batch(&s, &r, 1 + rn(&r, MAX_BATCH), false, NETNS_ID_BASE - 1, 1))
			break;
	atomic_fetch_add(&S->netns_runs, 1);
	_exit(0);	/* socket and netns go with the process */
}

/* --- main ---------------------------------------------------------------------- */

static pid_t spawn(void (*fn)(uint64_t, int), uint64_t seed, int arg)
{
	pid_t p = fork();

	if (p == 0) {
		fn(seed, arg);
		_exit(0);
	}
	return p;
}

static void racer_proc(uint64_t seed, int idx)
{
	pthread_t t[2];
	struct racer_arg a[2];
	char name[32];

	snprintf(name, sizeof(name), "racer%d", idx);
	who = strdup(name);
	for (int i = 0; i < 2; i++) {
		a[i] = (struct racer_arg){ seed, 10 + idx * 2 + i };
		pthread_create(&t[i], NULL, racer_thread, &a[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	_exit(0);
}

static void shared_proc_arg(uint64_t seed, int unused)
{
	(void)unused;
	shared_proc(seed);
}

static void drain_monitor(struct nl *mon)
{
	uint8_t buf[BUF_SZ];
	int n;

	while ((n = recv(mon->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, n);
		     nlh = mnl_nlmsg_next(nlh, &n)) {
			const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);

			if (nlh->nlmsg_type != family_id || g->cmd < COLO_CMD_PROXY_INIT ||
			    g->cmd > COLO_CMD_CHECKPOINT_NEEDED || g->cmd == COLO_CMD_GET)
				violation("monitor: type %u cmd %u", nlh->nlmsg_type, g->cmd);
			atomic_fetch_add(&S->echoes, 1);
		}
}

static int final_check(void)
{
	struct reply rep;
	struct nl s;
	int left = 0, checked = 0;

	if (nl_open(&s, true))
		return -1;
	for (uint32_t id = 1; id <= COLO_VM_ID_MAX; id++) {
		if (!(S->bound[id / 8] & (1u << (id % 8))) &&
		    !(id <= NETNS_ID_BASE + 4) &&
		    !(id >= NOCAP_ID_BASE && id <= NOCAP_ID_BASE + POOL_IDS))
			continue;
		if (req(&s, COLO_CMD_GET, id, -1, -1, -1, 0, &rep))
			return -1;
		checked++;
		if (rep.err != ENOENT) {
			violation("after the run VM %u is still there (GET: %d, port %u)",
				  id, rep.err, rep.portid);
			left++;
		}
	}
	nl_close(&s);
	printf("# final: %d ids checked with GET, %d VMs left\n", checked, left);
	return left;
}

int main(int argc, char **argv)
{
	uint64_t seed = 1;
	unsigned long target = 100000, model_n = 3000;
	double max_s = 90, min_s = 0, t0, t_model;
	int racers = 3, opt, nsock = 4;
	pid_t kids[16];
	int nkids = 0, netns_round = 0;
	struct nl socks[4], mon;
	struct rng r;
	int status;

	static const struct option lo[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "messages", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 't' },
		{ "racers", required_argument, NULL, 'r' },
		{ "min-seconds", required_argument, NULL, 'T' },
		{ "model", required_argument, NULL, 'm' },
		{ 0 }
	};
	while ((opt = getopt_long(argc, argv, "s:n:t:T:r:m:", lo, NULL)) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'n': target = strtoul(optarg, NULL, 0); break;
		case 't': max_s = atof(optarg); break;
		case 'T': min_s = atof(optarg); break;
		case 'r': racers = atoi(optarg); break;
		case 'm': model_n = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [--seed N] [--messages N] [--seconds S] "
				"[--min-seconds S] [--racers N] [--model N]\n", argv[0]);
			return 2;
		}
	}
	if (racers > 8)
		racers = 8;
	setvbuf(stdout, NULL, _IOLBF, 0);
	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED)
		return 2;
	printf("# genl-fuzz: seed %" PRIu64 ", target %lu messages, %.0f..%.0f s, %d racers\n",
	       seed, target, min_s, max_s, racers);
	if (setup_family())
		return 2;
	rng_init(&r, seed, 0);
	t0 = mono();

	model_phase(&r, model_n);
	t_model = mono() - t0;
	printf("# model: %lu requests, exact results, %.1f s\n",
	       atomic_load(&S->phase_sent[0]), t_model);

	for (int i = 0; i < racers; i++)
		kids[nkids++] = spawn(racer_proc, seed, i);
	kids[nkids++] = spawn(shared_proc_arg, seed, 0);
	for (int k = 0; k < 3; k++)
		kids[nkids++] = spawn(nocap_proc, seed, k);

	for (int i = 0; i < nsock; i++)
		if (nl_open(&socks[i], i != 3))	/* one without extended acks */
			return 2;
	if (!nl_open(&mon, false) && monitor_grp) {
		int one = 1;

		setsockopt(mon.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &monitor_grp,
			   sizeof(monitor_grp));
		setsockopt(mon.fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	}

	for (unsigned long b = 0;; b++) {
		int si = rn(&r, nsock);
		double el = mono() - t0;

		if ((atomic_load(&S->sent) >= target + model_n &&
		     atomic_load(&S->phase_sent[1]) >= target / 4 && el >= min_s) ||
		    el >= max_s || atomic_load(&S->violations) > 20)
			break;
		if (run_batch(&socks[si], &r, 1 + rn(&r, MAX_BATCH), false, 0, 1))
			break;
		if (b % 64 == 0)
			drain_monitor(&mon);
		if (chance(&r, 1)) {
			nl_close(&socks[si]);	/* often with VMs bound */
			atomic_fetch_add(&S->closes_bound, 1);
			if (nl_open(&socks[si], si != 3))
				return 2;
		}
		if (el >= 2.0 * (netns_round + 1) && netns_round < 8) {
			pid_t p = spawn(netns_proc, seed, netns_round++);

			waitpid(p, &status, 0);
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				violation("netns child: status %#x", status);
		}
	}
	atomic_store(&S->stop, 1);
	for (int i = 0; i < nkids; i++) {
		waitpid(kids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			violation("child %d: status %#x", i, status);
	}
	drain_monitor(&mon);
	for (int i = 0; i < nsock; i++)
		nl_close(&socks[i]);
	nl_close(&mon);
	double el = mono() - t0;

	final_check();

	printf("# messages: %lu sent in %.1f s (%.0f/s): model %lu, fuzz %lu, refused senders %lu\n",
	       atomic_load(&S->sent), el, atomic_load(&S->sent) / el,
	       atomic_load(&S->phase_sent[0]), atomic_load(&S->phase_sent[1]),
	       atomic_load(&S->phase_sent[2]));
	printf("# answers: %lu acks/errors, %lu data replies, %lu dropped as truncated, "
	       "%lu monitor echoes, %lu notices\n", atomic_load(&S->acks),
	       atomic_load(&S->data), atomic_load(&S->silent), atomic_load(&S->echoes),
	       atomic_load(&S->notices));
	printf("# refused (EPERM predicted and seen): %lu; sockets closed with VMs bound: %lu; "
	       "netns runs: %lu\n", atomic_load(&S->refused), atomic_load(&S->closes_bound),
	       atomic_load(&S->netns_runs));
	printf("# errors by errno:");
	for (int e = 0; e <= MAXERRNO; e++)
		if (atomic_load(&S->err[e]))
			printf(" %s=%lu", e ? strerrorname_np(e) ?: "?" : "0",
			       atomic_load(&S->err[e]));
	printf("\n");
	if (atomic_load(&S->sent) < target) {
		violation("only %lu messages in %.0f s (target %lu)",
			  atomic_load(&S->sent), el, target);
	}
	printf("# violations: %lu (seed %" PRIu64 ")\n", atomic_load(&S->violations), seed);
	return atomic_load(&S->violations) ? 1 : 0;
}

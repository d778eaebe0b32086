// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of qemu-glue/colo-nl.c without the kernel module: requests are
 * captured from a fake transport and crafted kernel messages (good and
 * malformed) are fed back. One test at the end talks to the real kernel's
 * nlctrl family to exercise the socket transport and extack parsing.
 *
 * Output: one "PASS: glue-nl/<case>" or "FAIL: glue-nl/<case> (why)" line per
 * case; exit status 1 if any failed.
 */
#include "../../../qemu-glue/colo-nl.c"

#include <stdarg.h>

static int failures;
static const char *cur_case;
static char cur_why[256];

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		if (!cur_why[0])					\
			snprintf(cur_why, sizeof(cur_why), "%s:%d: %s",	\
				 __func__, __LINE__, #cond);		\
		return;							\
	}								\
} while (0)

#define CHECK_EQ(a, b) do {						\
	long long _a = (long long)(a), _b = (long long)(b);		\
	if (_a != _b) {							\
		if (!cur_why[0])					\
			snprintf(cur_why, sizeof(cur_why),		\
				 "%s:%d: %s == %lld, expected %lld",	\
				 __func__, __LINE__, #a, _a, _b);	\
		return;							\
	}								\
} while (0)

/* ------------------------------------------------------------------------
 * Fake transport
 */

#define FAKE_DGRAMS	64
#define FAKE_SIZE	65536

struct fake_dgram {
	char data[FAKE_SIZE];
	size_t len;
	uint32_t group, sender;
	int err;		/* returned instead of the datagram */
};

struct fake {
	struct fake_dgram q[FAKE_DGRAMS];
	unsigned int head, n;
	char sent[4096];
	size_t sent_len;
	int nsent;
	/* Called on send to queue the kernel's answer. */
	void (*answer)(struct fake *f, const struct nlmsghdr *req);
	int answer_error;	/* for the default answer: error in the ack */
	const char *answer_msg;	/* and its extack message */
};

static struct fake_dgram *fake_push(struct fake *f)
{
	struct fake_dgram *d = &f->q[(f->head + f->n++) % FAKE_DGRAMS];

	memset(d, 0, sizeof(*d));
	return d;
}

static int fake_send(struct colo_nl *nl, const void *buf, size_t len)
{
	struct fake *f = nl->io_priv;

	memcpy(f->sent, buf, len);
	f->sent_len = len;
	f->nsent++;
	if (f->answer)
		f->answer(f, (const struct nlmsghdr *)f->sent);
	return 0;
}

static ssize_t fake_recv(struct colo_nl *nl, int timeout_ms, uint32_t *group,
			 uint32_t *sender)
{
	struct fake *f = nl->io_priv;
	struct fake_dgram *d;
	int ret;

	if (!f->n)
		return timeout_ms >= 0 ? -ETIMEDOUT : -EAGAIN;
	d = &f->q[f->head];
	f->head = (f->head + 1) % FAKE_DGRAMS;
	f->n--;
	if (d->err)
		return d->err;
	if (d->len > nl->buflen) {
		ret = colo_nl_grow(nl, d->len);
		if (ret < 0)
			return ret;
	}
	memcpy(nl->buf, d->data, d->len);
	*group = d->group;
	*sender = d->sender;
	return d->len;
}

static const struct colo_nl_io fake_io = {
	.send = fake_send,
	.recv = fake_recv,
};

#define FAMILY_ID	0x2a
#define PORTID		4242

static struct fake *fake;

static struct colo_nl *fake_nl(void)
{
	struct colo_nl *nl = colo_nl_alloc();

	fake = calloc(1, sizeof(*fake));
	if (!nl || !fake)
		abort();
	nl->io = &fake_io;
	nl->io_priv = fake;
	nl->portid = PORTID;
	nl->family_id = FAMILY_ID;
	nl->mcgrp_monitor = 7;
	nl->seq = 100;
	return nl;
}

static void fake_free(struct colo_nl *nl)
{
	colo_nl_close(nl);
	free(fake);
	fake = NULL;
}

/* ------------------------------------------------------------------------
 * Message crafting
 */

static struct nlmsghdr *craft_genl(void *buf, uint16_t type, uint8_t cmd,
				   uint32_t seq, uint32_t portid)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = type;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = portid;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = COLO_GENL_VERSION;
	return nlh;
}

/* An ack (error 0) or error for req, optionally with extack TLVs. */
static size_t craft_ack(void *buf, const struct nlmsghdr *req, int error,
			const char *msg, bool capped, int miss_type)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlmsgerr *e;
	size_t extra;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = req->nlmsg_seq;
	nlh->nlmsg_pid = PORTID;
	extra = capped ? sizeof(*e) :
		sizeof(*e) - sizeof(struct nlmsghdr) + req->nlmsg_len;
	e = mnl_nlmsg_put_extra_header(nlh, MNL_ALIGN(extra));
	e->error = error;
	if (capped) {
		e->msg = *req;
		nlh->nlmsg_flags |= NLM_F_CAPPED;
	} else {
		memcpy(&e->msg, req, req->nlmsg_len);
	}
	if (msg || miss_type) {
		nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
		if (msg)
			mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, msg);
		if (miss_type)
			mnl_attr_put_u32(nlh, NLMSGERR_ATTR_MISS_TYPE, miss_type);
	}
	return nlh->nlmsg_len;
}

static void answer_ack(struct fake *f, const struct nlmsghdr *req)
{
	struct fake_dgram *d = fake_push(f);

	d->len = craft_ack(d->data, req, f->answer_error, f->answer_msg,
			   true, 0);
}

static struct nlmsghdr *last_sent(void)
{
	return (struct nlmsghdr *)fake->sent;
}

/* Attributes of the captured request, by type (last wins). */
struct sent_attrs {
	const struct nlattr *a[COLO_A_MAX + 1];
	int count;
};

static int sent_attr_cb(const struct nlattr *attr, void *data)
{
	struct sent_attrs *sa = data;

	sa->count++;
	if (mnl_attr_get_type(attr) <= COLO_A_MAX)
		sa->a[mnl_attr_get_type(attr)] = attr;
	return 0;
}

static int parse_sent(struct sent_attrs *sa, uint8_t *cmd)
{
	memset(sa, 0, sizeof(*sa));
	return colo_nl_parse_genl(last_sent(), cmd, sent_attr_cb, sa);
}

/* Queue one event datagram built by the caller. */
static struct fake_dgram *event_dgram(struct nlmsghdr **nlh, uint8_t cmd,
				      uint32_t group)
{
	struct fake_dgram *d = fake_push(fake);

	*nlh = craft_genl(d->data, FAMILY_ID, cmd, 0, 0);
	d->group = group;
	return d;
}

static void put_conn4(struct nlmsghdr *nlh, uint16_t sport)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, COLO_A_CONN);
	uint8_t src[4] = { 10, 0, 0, 1 }, dst[4] = { 10, 0, 0, 2 };

	mnl_attr_put_u8(nlh, COLO_CONN_A_FAMILY, AF_INET);
	mnl_attr_put_u8(nlh, COLO_CONN_A_PROTO, IPPROTO_TCP);
	mnl_attr_put(nlh, COLO_CONN_A_SRC, 4, src);
	mnl_attr_put(nlh, COLO_CONN_A_DST, 4, dst);
	mnl_attr_put_u16(nlh, COLO_CONN_A_SPORT, htons(sport));
	mnl_attr_put_u16(nlh, COLO_CONN_A_DPORT, htons(4242));
	mnl_attr_put_u32(nlh, COLO_CONN_A_HELD, 3);
	mnl_attr_put_u32(nlh, COLO_CONN_A_SVM_QUEUED, 1);
	mnl_attr_put_u32(nlh, COLO_CONN_A_MATCHED_SEQ, 0xdeadbeef);
	mnl_attr_put_u32(nlh, COLO_CONN_A_OFFSET, 77);
	mnl_attr_nest_end(nlh, nest);
}

static void put_conn6(struct nlmsghdr *nlh)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, COLO_A_CONN);
	struct in6_addr a, b;

	inet_pton(AF_INET6, "fd00::1", &a);
	inet_pton(AF_INET6, "fd00::2", &b);
	mnl_attr_put_u8(nlh, COLO_CONN_A_FAMILY, AF_INET6);
	mnl_attr_put_u8(nlh, COLO_CONN_A_PROTO, IPPROTO_UDP);
	mnl_attr_put(nlh, COLO_CONN_A_SRC, 16, &a);
	mnl_attr_put(nlh, COLO_CONN_A_DST, 16, &b);
	mnl_attr_put_u16(nlh, COLO_CONN_A_SPORT, htons(53));
	mnl_attr_put_u16(nlh, COLO_CONN_A_DPORT, htons(5353));
	mnl_attr_nest_end(nlh, nest);
}

/* ------------------------------------------------------------------------
 * Request building
 */

static void t_proxy_init_request(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_limits lim = { 0 };
	struct sent_attrs sa;
	struct nlmsghdr *nlh;
	uint8_t cmd;

	fake->answer = answer_ack;
	lim.hold_timeout_ms = 250;
	lim.queue_limit = 99;
	lim.mem_limit_kb = 2048;
	lim.conn_limit = 77;
	CHECK_EQ(colo_nl_proxy_init(nl, 12, COLO_MODE_PRIMARY, &lim), 0);
	nlh = last_sent();
	CHECK_EQ(nlh->nlmsg_type, FAMILY_ID);
	CHECK_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	CHECK_EQ(nlh->nlmsg_seq, 101);
	CHECK_EQ(nlh->nlmsg_len, fake->sent_len);
	CHECK_EQ(((struct genlmsghdr *)mnl_nlmsg_get_payload(nlh))->version,
		 COLO_GENL_VERSION);
	CHECK_EQ(parse_sent(&sa, &cmd), 0);
	CHECK_EQ(cmd, COLO_CMD_PROXY_INIT);
	CHECK_EQ(sa.count, 6);
	CHECK(sa.a[COLO_A_VM_ID] && mnl_attr_get_u32(sa.a[COLO_A_VM_ID]) == 12);
	CHECK(sa.a[COLO_A_MODE] && mnl_attr_validate(sa.a[COLO_A_MODE], MNL_TYPE_U8) == 0);
	CHECK_EQ(mnl_attr_get_u8(sa.a[COLO_A_MODE]), COLO_MODE_PRIMARY);
	CHECK_EQ(mnl_attr_get_u32(sa.a[COLO_A_HOLD_TIMEOUT]), 250);
	CHECK_EQ(mnl_attr_get_u32(sa.a[COLO_A_QUEUE_LIMIT]), 99);
	CHECK_EQ(mnl_attr_get_u32(sa.a[COLO_A_MEM_LIMIT]), 2048);
	CHECK_EQ(mnl_attr_get_u32(sa.a[COLO_A_CONN_LIMIT]), 77);
	CHECK(!colo_nl_last_msg(nl));
	CHECK_EQ(colo_nl_event_pending(nl), 0);
	fake_free(nl);
}

static void t_proxy_init_defaults(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_limits never = { .hold_timeout_ms = COLO_NL_HOLD_TIMEOUT_NEVER };
	struct sent_attrs sa;

	fake->answer = answer_ack;
	CHECK_EQ(colo_nl_proxy_init(nl, COLO_VM_ID_MAX, COLO_MODE_SECONDARY, NULL), 0);
	CHECK_EQ(parse_sent(&sa, NULL), 0);
	CHECK_EQ(sa.count, 2);
	CHECK(!sa.a[COLO_A_HOLD_TIMEOUT] && !sa.a[COLO_A_QUEUE_LIMIT] &&
	      !sa.a[COLO_A_MEM_LIMIT] && !sa.a[COLO_A_CONN_LIMIT]);
	CHECK_EQ(mnl_attr_get_u8(sa.a[COLO_A_MODE]), COLO_MODE_SECONDARY);

	CHECK_EQ(colo_nl_proxy_init(nl, 1, COLO_MODE_PRIMARY, &never), 0);
	CHECK_EQ(parse_sent(&sa, NULL), 0);
	CHECK(sa.a[COLO_A_HOLD_TIMEOUT]);
	CHECK_EQ(mnl_attr_get_u32(sa.a[COLO_A_HOLD_TIMEOUT]), 0);
	fake_free(nl);
}

static void t_bad_arguments(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_vm vm;

	fake->answer = answer_ack;
	CHECK_EQ(colo_nl_proxy_init(nl, 0, COLO_MODE_PRIMARY, NULL), -EINVAL);
	CHECK(colo_nl_last_msg(nl) && strstr(colo_nl_last_msg(nl), "out of range"));
	CHECK_EQ(colo_nl_proxy_init(nl, COLO_VM_ID_MAX + 1, COLO_MODE_PRIMARY, NULL),
		 -EINVAL);
	CHECK_EQ(colo_nl_proxy_init(nl, 3, COLO_MODE_NONE, NULL), -EINVAL);
	CHECK(strstr(colo_nl_errmsg(nl, -EINVAL), "primary or secondary"));
	CHECK_EQ(colo_nl_proxy_init(nl, 3, 7, NULL), -EINVAL);
	CHECK_EQ(colo_nl_checkpoint_begin(nl, 0), -EINVAL);
	CHECK_EQ(colo_nl_get(nl, 0, false, &vm), -EINVAL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(fake->nsent, 0);
	fake_free(nl);
}

static void t_simple_commands(void)
{
	static const struct {
		int (*fn)(struct colo_nl *, uint32_t);
		uint8_t cmd;
	} cmds[] = {
		{ colo_nl_checkpoint_begin, COLO_CMD_CHECKPOINT_BEGIN },
		{ colo_nl_checkpoint_done, COLO_CMD_CHECKPOINT_DONE },
		{ colo_nl_failover, COLO_CMD_FAILOVER },
		{ colo_nl_reset, COLO_CMD_RESET },
	};
	struct colo_nl *nl = fake_nl();
	struct sent_attrs sa;
	unsigned int i;
	uint8_t cmd;

	fake->answer = answer_ack;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		CHECK_EQ(cmds[i].fn(nl, 5), 0);
		CHECK_EQ(parse_sent(&sa, &cmd), 0);
		CHECK_EQ(cmd, cmds[i].cmd);
		CHECK_EQ(sa.count, 1);
		CHECK_EQ(mnl_attr_get_u32(sa.a[COLO_A_VM_ID]), 5);
		CHECK_EQ(last_sent()->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	}
	fake_free(nl);
}

static void t_get_request(void)
{
	struct colo_nl *nl = fake_nl();
	char buf[COLO_NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	uint8_t cmd;
	struct sent_attrs sa;

	nlh = colo_nl_build_get(nl, buf, 9, true);
	memcpy(fake->sent, nlh, nlh->nlmsg_len);
	CHECK_EQ(parse_sent(&sa, &cmd), 0);
	CHECK_EQ(cmd, COLO_CMD_GET);
	CHECK_EQ(mnl_attr_get_u32(sa.a[COLO_A_FLAGS]), COLO_F_CONNS);
	nlh = colo_nl_build_get(nl, buf, 9, false);
	memcpy(fake->sent, nlh, nlh->nlmsg_len);
	CHECK_EQ(parse_sent(&sa, &cmd), 0);
	CHECK(!sa.a[COLO_A_FLAGS]);
	CHECK_EQ(sa.count, 1);
	fake_free(nl);
}

/* ------------------------------------------------------------------------
 * Acks and errors
 */

static void t_error_extack(void)
{
	struct colo_nl *nl = fake_nl();

	fake->answer = answer_ack;
	fake->answer_error = -EEXIST;
	fake->answer_msg = "VM 5 is bound to port 1234";
	CHECK_EQ(colo_nl_proxy_init(nl, 5, COLO_MODE_PRIMARY, NULL), -EEXIST);
	CHECK_EQ(errno, EEXIST);
	CHECK(colo_nl_last_msg(nl));
	CHECK(!strcmp(colo_nl_last_msg(nl), "VM 5 is bound to port 1234"));
	CHECK(!strcmp(colo_nl_errmsg(nl, -EEXIST), "VM 5 is bound to port 1234"));

	/* The message is per request. */
	fake->answer_error = 0;
	fake->answer_msg = NULL;
	CHECK_EQ(colo_nl_reset(nl, 5), 0);
	CHECK(!colo_nl_last_msg(nl));
	fake_free(nl);
}

static void answer_uncapped(struct fake *f, const struct nlmsghdr *req)
{
	struct fake_dgram *d = fake_push(f);

	d->len = craft_ack(d->data, req, -EINVAL, "no checkpoint pending",
			   false, 0);
}

static void t_error_uncapped(void)
{
	struct colo_nl *nl = fake_nl();

	fake->answer = answer_uncapped;
	CHECK_EQ(colo_nl_checkpoint_done(nl, 5), -EINVAL);
	CHECK(colo_nl_last_msg(nl) &&
	      !strcmp(colo_nl_last_msg(nl), "no checkpoint pending"));
	fake_free(nl);
}

static void answer_miss(struct fake *f, const struct nlmsghdr *req)
{
	struct fake_dgram *d = fake_push(f);

	d->len = craft_ack(d->data, req, -EINVAL, NULL, true, COLO_A_MODE);
}

static void t_error_missing_attr(void)
{
	struct colo_nl *nl = fake_nl();

	fake->answer = answer_miss;
	CHECK_EQ(colo_nl_failover(nl, 5), -EINVAL);
	CHECK(colo_nl_last_msg(nl) && strstr(colo_nl_last_msg(nl), "attribute 3"));
	fake_free(nl);
}

static void t_error_no_extack(void)
{
	struct colo_nl *nl = fake_nl();

	fake->answer = answer_ack;
	fake->answer_error = -ENOENT;
	CHECK_EQ(colo_nl_checkpoint_begin(nl, 5), -ENOENT);
	CHECK(!colo_nl_last_msg(nl));
	CHECK(!strcmp(colo_nl_errmsg(nl, -ENOENT), "VM not registered"));
	fake->answer_error = -EPERM;
	CHECK_EQ(colo_nl_checkpoint_begin(nl, 5), -EPERM);
	CHECK(strstr(colo_nl_errmsg(nl, -EPERM), "registered"));
	fake_free(nl);
}

static void answer_bad_error(struct fake *f, const struct nlmsghdr *req)
{
	struct fake_dgram *d = fake_push(f);
	struct nlmsghdr *nlh;

	d->len = craft_ack(d->data, req, 5, NULL, true, 0);	/* positive */
	d = fake_push(f);
	nlh = mnl_nlmsg_put_header(d->data);	/* too short for nlmsgerr */
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = req->nlmsg_seq;
	nlh->nlmsg_pid = PORTID;
	d->len = nlh->nlmsg_len;
}

static void t_error_malformed(void)
{
	struct colo_nl *nl = fake_nl();

	fake->answer = answer_bad_error;
	CHECK_EQ(colo_nl_reset(nl, 5), -EPROTO);
	fake_free(nl);
}

static void answer_broken_extack(struct fake *f, const struct nlmsghdr *req)
{
	struct fake_dgram *d = fake_push(f);
	struct nlmsghdr *nlh = (struct nlmsghdr *)d->data;

	d->len = craft_ack(d->data, req, -EBUSY, "xxxxxxxx", true, 0);
	/* Make the string attribute claim more than the message holds. */
	((struct nlattr *)((char *)nlh + MNL_NLMSG_HDRLEN +
			   MNL_ALIGN(sizeof(struct nlmsgerr))))->nla_len = 200;
}

static void t_error_broken_extack(void)
{
	struct colo_nl *nl = fake_nl();

	fake->answer = answer_broken_extack;
	CHECK_EQ(colo_nl_reset(nl, 5), -EBUSY);
	CHECK(!colo_nl_last_msg(nl));
	fake_free(nl);
}

static void answer_stale_then_ack(struct fake *f, const struct nlmsghdr *req)
{
	struct nlmsghdr stale = *req;
	struct fake_dgram *d;

	/* An old ack, an ack from another process, then ours. */
	stale.nlmsg_seq = req->nlmsg_seq - 1;
	d = fake_push(f);
	d->len = craft_ack(d->data, &stale, -EIO, NULL, true, 0);
	d = fake_push(f);
	d->len = craft_ack(d->data, req, -EIO, NULL, true, 0);
	d->sender = 999;
	d = fake_push(f);
	d->len = craft_ack(d->data, req, 0, NULL, true, 0);
}

static void t_stale_and_foreign_acks(void)
{
	struct colo_nl *nl = fake_nl();

	fake->answer = answer_stale_then_ack;
	CHECK_EQ(colo_nl_failover(nl, 5), 0);
	CHECK_EQ(fake->n, 0);
	fake_free(nl);
}

static void t_timeout(void)
{
	struct colo_nl *nl = fake_nl();

	/* No answer at all: the fake recv reports the poll timeout. */
	CHECK_EQ(colo_nl_failover(nl, 5), -ETIMEDOUT);
	CHECK(strstr(colo_nl_strerror(-ETIMEDOUT), "did not answer"));
	fake_free(nl);
}

static void answer_overrun(struct fake *f, const struct nlmsghdr *req)
{
	fake_push(f)->err = -ENOBUFS;
	answer_ack(f, req);
}

static void t_overrun_during_request(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_event ev;

	fake->answer = answer_overrun;
	CHECK_EQ(colo_nl_checkpoint_begin(nl, 5), 0);
	CHECK_EQ(colo_nl_event_pending(nl), 1);
	CHECK_EQ(colo_nl_recv_event(nl, &ev), -ENOBUFS);
	CHECK_EQ(colo_nl_event_pending(nl), 0);
	CHECK_EQ(colo_nl_recv_event(nl, &ev), -EAGAIN);
	fake_free(nl);
}

/* ------------------------------------------------------------------------
 * GET replies
 */

static void answer_get(struct fake *f, const struct nlmsghdr *req)
{
	struct fake_dgram *d = fake_push(f);
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	int i;

	nlh = craft_genl(d->data, FAMILY_ID, COLO_CMD_GET, req->nlmsg_seq, PORTID);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 5);
	mnl_attr_put_u8(nlh, COLO_A_MODE, COLO_MODE_PRIMARY);
	mnl_attr_put_u8(nlh, COLO_A_STATE, COLO_STATE_CHECKPOINT);
	mnl_attr_put_u32(nlh, COLO_A_EPOCH, 17);
	mnl_attr_put_u32(nlh, COLO_A_PORTID, 31337);
	mnl_attr_put_u32(nlh, COLO_A_HOLD_TIMEOUT, 1000);
	mnl_attr_put_u32(nlh, COLO_A_QUEUE_LIMIT, 8192);
	mnl_attr_put(nlh, COLO_A_PAD, 0, NULL);
	mnl_attr_put_u32(nlh, COLO_A_MAX + 3, 1);	/* from a newer kernel */
	nest = mnl_attr_nest_start(nlh, COLO_A_STATS);
	mnl_attr_put(nlh, COLO_STAT_PAD, 0, NULL);
	for (i = COLO_STAT_PVM_PACKETS; i <= COLO_STAT_MAX; i++)
		mnl_attr_put_u64(nlh, i, 1000 + i);
	mnl_attr_put_u64(nlh, COLO_STAT_MAX + 1, 5);	/* newer kernel */
	mnl_attr_nest_end(nlh, nest);
	put_conn4(nlh, 80);
	put_conn6(nlh);
	d->len = nlh->nlmsg_len;
	answer_ack(f, req);
}

static void t_get_reply(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_vm vm;
	char buf[128];
	int i;

	fake->answer = answer_get;
	CHECK_EQ(colo_nl_get(nl, 5, true, &vm), 0);
	CHECK_EQ(vm.vm_id, 5);
	CHECK_EQ(vm.mode, COLO_MODE_PRIMARY);
	CHECK_EQ(vm.state, COLO_STATE_CHECKPOINT);
	CHECK_EQ(vm.epoch, 17);
	CHECK_EQ(vm.portid, 31337);
	CHECK_EQ(vm.hold_timeout_ms, 1000);
	CHECK_EQ(vm.queue_limit, 8192);
	for (i = COLO_STAT_PVM_PACKETS; i <= COLO_STAT_MAX; i++)
		CHECK_EQ(vm.stats.v[i], 1000 + i);
	CHECK_EQ(vm.n_conns, 2);
	CHECK_EQ(vm.conns[0].family, AF_INET);
	CHECK_EQ(vm.conns[0].sport, 80);
	CHECK_EQ(vm.conns[0].dport, 4242);
	CHECK_EQ(vm.conns[0].held, 3);
	CHECK_EQ(vm.conns[0].svm_queued, 1);
	CHECK_EQ(vm.conns[0].matched_seq, 0xdeadbeef);
	CHECK_EQ(vm.conns[0].offset, 77);
	CHECK_EQ(colo_nl_format_conn(&vm.conns[0], buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "tcp/10.0.0.1:80->10.0.0.2:4242"));
	CHECK_EQ(colo_nl_format_conn(&vm.conns[1], buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "udp/[fd00::1]:53->[fd00::2]:5353"));
	CHECK_EQ(colo_nl_format_conn(&vm.conns[1], buf, 8), -ENOSPC);
	colo_nl_vm_free(&vm);
	CHECK(!vm.conns && !vm.n_conns);
	fake_free(nl);
}

static void answer_get_many(struct fake *f, const struct nlmsghdr *req)
{
	struct fake_dgram *d = fake_push(f);
	struct nlmsghdr *nlh;
	int i;

	nlh = craft_genl(d->data, FAMILY_ID, COLO_CMD_GET, req->nlmsg_seq, PORTID);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 5);
	for (i = 0; i < 300; i++)
		put_conn4(nlh, 1000 + i);
	d->len = nlh->nlmsg_len;
	answer_ack(f, req);
}

static void t_get_many_conns(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_vm vm;
	int i;

	fake->answer = answer_get_many;
	CHECK_EQ(colo_nl_get(nl, 5, true, &vm), 0);
	CHECK_EQ(vm.n_conns, 300);
	for (i = 0; i < 300; i++)
		CHECK_EQ(vm.conns[i].sport, 1000 + i);
	colo_nl_vm_free(&vm);
	fake_free(nl);
}

/* Variants of a broken GET reply, selected by fake->answer_error. */
static void answer_get_broken(struct fake *f, const struct nlmsghdr *req)
{
	struct fake_dgram *d = fake_push(f);
	struct nlmsghdr *nlh;
	struct nlattr *nest, *a;
	uint8_t addr[5] = { 0 };

	nlh = craft_genl(d->data, FAMILY_ID,
			 f->answer_error == 1 ? COLO_CMD_RESET : COLO_CMD_GET,
			 req->nlmsg_seq, PORTID);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, f->answer_error == 2 ? 6 : 5);
	switch (f->answer_error) {
	case 3:		/* u8 sent as u32 */
		mnl_attr_put_u32(nlh, COLO_A_MODE, 1);
		break;
	case 4:		/* u64 stat sent as u32 */
		nest = mnl_attr_nest_start(nlh, COLO_A_STATS);
		mnl_attr_put_u32(nlh, COLO_STAT_HELD, 1);
		mnl_attr_nest_end(nlh, nest);
		break;
	case 5:		/* 5-byte address */
		nest = mnl_attr_nest_start(nlh, COLO_A_CONN);
		mnl_attr_put_u8(nlh, COLO_CONN_A_FAMILY, AF_INET);
		mnl_attr_put(nlh, COLO_CONN_A_SRC, sizeof(addr), addr);
		mnl_attr_nest_end(nlh, nest);
		break;
	case 6:		/* connection without a family */
		nest = mnl_attr_nest_start(nlh, COLO_A_CONN);
		mnl_attr_put_u8(nlh, COLO_CONN_A_PROTO, IPPROTO_TCP);
		mnl_attr_nest_end(nlh, nest);
		break;
	case 7:		/* attribute longer than the message */
		a = mnl_nlmsg_get_payload_tail(nlh);
		mnl_attr_put_u32(nlh, COLO_A_EPOCH, 1);
		a->nla_len = 64;
		break;
	case 8:		/* 2 trailing bytes */
		memset(mnl_nlmsg_get_payload_tail(nlh), 0, 4);
		nlh->nlmsg_len += 2;
		break;
	case 9:		/* nest truncated inside */
		nest = mnl_attr_nest_start(nlh, COLO_A_STATS);
		a = mnl_nlmsg_get_payload_tail(nlh);
		mnl_attr_put_u64(nlh, COLO_STAT_HELD, 1);
		mnl_attr_nest_end(nlh, nest);
		a->nla_len = 40;
		break;
	case 10:	/* u16 port sent as u8 */
		nest = mnl_attr_nest_start(nlh, COLO_A_CONN);
		mnl_attr_put_u8(nlh, COLO_CONN_A_FAMILY, AF_INET);
		mnl_attr_put_u8(nlh, COLO_CONN_A_SPORT, 1);
		mnl_attr_nest_end(nlh, nest);
		break;
	case 11:	/* no reply at all, only the ack */
		f->n--;
		break;
	case 12:	/* stats is not a nest */
		mnl_attr_put_u8(nlh, COLO_A_STATS, 1);
		break;
	}
	d->len = nlh->nlmsg_len;
	d = fake_push(f);
	d->len = craft_ack(d->data, req, 0, NULL, true, 0);
}

static void t_get_malformed(void)
{
	static const char *const what[] = {
		NULL, "wrong cmd", "wrong vm id", "u8 as u32", "u64 as u32",
		"5-byte address", "conn without family", "attr past end",
		"trailing bytes", "truncated nested attr", "u16 as u8",
		"no reply", "stats not nested",
	};
	struct colo_nl *nl = fake_nl();
	struct colo_nl_vm vm;
	int v, ret;

	fake->answer = answer_get_broken;
	for (v = 1; v <= 12; v++) {
		fake->answer_error = v;
		ret = colo_nl_get(nl, 5, true, &vm);
		if (ret != -EPROTO) {
			snprintf(cur_why, sizeof(cur_why),
				 "variant %d (%s): got %d, expected -EPROTO",
				 v, what[v], ret);
			break;
		}
		CHECK(!vm.conns && !vm.n_conns);
		CHECK_EQ(fake->n, 0);
	}
	fake_free(nl);
}

/* ------------------------------------------------------------------------
 * Notifications
 */

static void t_event_checkpoint_needed(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_event ev;
	struct nlmsghdr *nlh;
	struct fake_dgram *d;
	char buf[128];

	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_NEEDED, 0);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 8);
	mnl_attr_put_u32(nlh, COLO_A_REASON, COLO_REASON_MISMATCH);
	mnl_attr_put_u32(nlh, COLO_A_EPOCH, 4);
	mnl_attr_put_u32(nlh, COLO_A_SEQ, 123456);
	put_conn4(nlh, 22);
	mnl_attr_put_u32(nlh, COLO_A_MAX + 1, 0);	/* unknown: ignored */
	d->len = nlh->nlmsg_len;

	CHECK_EQ(colo_nl_recv_event(nl, &ev), 1);
	CHECK_EQ(ev.cmd, COLO_CMD_CHECKPOINT_NEEDED);
	CHECK(ev.has_vm_id && ev.vm_id == 8);
	CHECK(ev.has_reason && ev.reason == COLO_REASON_MISMATCH);
	CHECK(ev.has_epoch && ev.epoch == 4);
	CHECK(ev.has_seq && ev.seq == 123456);
	CHECK(ev.has_conn && ev.conn.sport == 22);
	CHECK(!ev.has_mode && !ev.has_portid && !ev.multicast);
	CHECK_EQ(colo_nl_format_conn(&ev.conn, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "tcp/10.0.0.1:22->10.0.0.2:4242"));
	CHECK_EQ(colo_nl_recv_event(nl, &ev), -EAGAIN);
	fake_free(nl);
}

static void t_event_monitor_echo(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_event ev;
	struct nlmsghdr *nlh;
	struct fake_dgram *d;

	/* An echo carries the requester's seq: the group marks it as an event. */
	d = event_dgram(&nlh, COLO_CMD_PROXY_INIT, 7);
	nlh->nlmsg_seq = 555;
	nlh->nlmsg_pid = 1234;
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 3);
	mnl_attr_put_u32(nlh, COLO_A_PORTID, 1234);
	mnl_attr_put_u8(nlh, COLO_A_MODE, COLO_MODE_SECONDARY);
	d->len = nlh->nlmsg_len;

	CHECK_EQ(colo_nl_recv_event(nl, &ev), 1);
	CHECK_EQ(ev.cmd, COLO_CMD_PROXY_INIT);
	CHECK(ev.multicast);
	CHECK(ev.has_portid && ev.portid == 1234);
	CHECK(ev.has_mode && ev.mode == COLO_MODE_SECONDARY);
	CHECK(!ev.has_reason && !ev.has_conn);
	fake_free(nl);
}

static void answer_notice_then_ack(struct fake *f, const struct nlmsghdr *req)
{
	struct nlmsghdr *nlh;
	struct fake_dgram *d;

	(void)f;
	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_NEEDED, 0);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 5);
	mnl_attr_put_u32(nlh, COLO_A_REASON, COLO_REASON_HOLD_TIMEOUT);
	mnl_attr_put_u32(nlh, COLO_A_EPOCH, 9);
	d->len = nlh->nlmsg_len;
	/* Two messages in one datagram: an echo and our ack. */
	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_BEGIN, 0);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 5);
	mnl_attr_put_u32(nlh, COLO_A_EPOCH, 9);
	d->len = nlh->nlmsg_len;
	d->len += craft_ack(d->data + d->len, req, 0, NULL, true, 0);
}

static void t_event_queued_during_request(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_event ev;

	fake->answer = answer_notice_then_ack;
	CHECK_EQ(colo_nl_checkpoint_begin(nl, 5), 0);
	CHECK_EQ(colo_nl_event_pending(nl), 2);
	CHECK_EQ(colo_nl_recv_event(nl, &ev), 1);
	CHECK_EQ(ev.cmd, COLO_CMD_CHECKPOINT_NEEDED);
	CHECK_EQ(ev.reason, COLO_REASON_HOLD_TIMEOUT);
	CHECK_EQ(colo_nl_recv_event(nl, &ev), 1);
	CHECK_EQ(ev.cmd, COLO_CMD_CHECKPOINT_BEGIN);
	CHECK(ev.has_epoch && ev.epoch == 9);
	CHECK_EQ(colo_nl_event_pending(nl), 0);
	fake_free(nl);
}

static void t_event_malformed(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_event ev;
	struct nlmsghdr *nlh;
	struct fake_dgram *d;
	struct nlattr *a;

	/* 1: no VM id */
	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_NEEDED, 0);
	mnl_attr_put_u32(nlh, COLO_A_REASON, 1);
	d->len = nlh->nlmsg_len;
	/* 2: notice without a reason */
	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_NEEDED, 0);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 1);
	d->len = nlh->nlmsg_len;
	/* 3: VM id of 2 bytes */
	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_NEEDED, 0);
	mnl_attr_put_u16(nlh, COLO_A_VM_ID, 1);
	mnl_attr_put_u32(nlh, COLO_A_REASON, 1);
	d->len = nlh->nlmsg_len;
	/* 4: truncated attribute */
	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_NEEDED, 0);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 1);
	a = mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put_u32(nlh, COLO_A_REASON, 1);
	a->nla_len = 12;
	d->len = nlh->nlmsg_len;
	/* 5: header shorter than genlmsghdr */
	d = fake_push(fake);
	nlh = mnl_nlmsg_put_header(d->data);
	nlh->nlmsg_type = FAMILY_ID;
	d->len = nlh->nlmsg_len;
	/* 6: unknown command */
	d = event_dgram(&nlh, COLO_CMD_MAX + 1, 0);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 1);
	d->len = nlh->nlmsg_len;
	/* 7: broken conn nest */
	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_NEEDED, 0);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 1);
	mnl_attr_put_u32(nlh, COLO_A_REASON, 1);
	mnl_attr_put_u32(nlh, COLO_A_CONN, 1);
	d->len = nlh->nlmsg_len;
	/* 8: a datagram from another process: ignored, not an error */
	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_NEEDED, 0);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 1);
	mnl_attr_put_u32(nlh, COLO_A_REASON, 1);
	d->len = nlh->nlmsg_len;
	d->sender = 777;
	/* 9: another family: ignored */
	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_NEEDED, 0);
	nlh->nlmsg_type = FAMILY_ID + 1;
	d->len = nlh->nlmsg_len;
	/* 10: finally a good one */
	d = event_dgram(&nlh, COLO_CMD_CHECKPOINT_NEEDED, 0);
	mnl_attr_put_u32(nlh, COLO_A_VM_ID, 42);
	mnl_attr_put_u32(nlh, COLO_A_REASON, COLO_REASON_CONN_GONE);
	d->len = nlh->nlmsg_len;

	for (int i = 1; i <= 7; i++) {
		int ret = colo_nl_recv_event(nl, &ev);

		if (ret != -EPROTO) {
			snprintf(cur_why, sizeof(cur_why),
				 "malformed event %d: got %d, expected -EPROTO",
				 i, ret);
			fake_free(nl);
			return;
		}
	}
	CHECK_EQ(colo_nl_recv_event(nl, &ev), 0);
	CHECK_EQ(colo_nl_recv_event(nl, &ev), 0);
	CHECK_EQ(colo_nl_recv_event(nl, &ev), 1);
	CHECK_EQ(ev.vm_id, 42);
	CHECK(!strcmp(colo_nl_reason_name(ev.reason), "conn-gone"));
	fake_free(nl);
}

static void t_event_queue_overflow(void)
{
	struct colo_nl *nl = fake_nl();
	struct colo_nl_event ev;
	struct nlmsghdr *nlh;
	unsigned int i;
	int ret;

	/* Fill the library's queue directly, as a burst during a request would. */
	for (i = 0; i < COLO_NL_QUEUE_LEN + 10; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.vm_id = i;
		colo_nl_queue_push(nl, 0, &ev);
	}
	CHECK_EQ(colo_nl_event_pending(nl), COLO_NL_QUEUE_LEN + 1);
	CHECK_EQ(colo_nl_recv_event(nl, &ev), -ENOBUFS);
	for (i = 0; i < COLO_NL_QUEUE_LEN; i++) {
		ret = colo_nl_recv_event(nl, &ev);
		CHECK_EQ(ret, 1);
		CHECK_EQ(ev.vm_id, i);
	}
	CHECK_EQ(colo_nl_event_pending(nl), 0);
	/* And a socket overrun reported by recv itself. */
	fake_push(fake)->err = -ENOBUFS;
	CHECK_EQ(colo_nl_recv_event(nl, &ev), -ENOBUFS);
	(void)nlh;
	fake_free(nl);
}

/* ------------------------------------------------------------------------
 * Family resolution
 */

static void answer_family(struct fake *f, const struct nlmsghdr *req)
{
	struct fake_dgram *d = fake_push(f);
	struct nlmsghdr *nlh;
	struct nlattr *grps, *grp;

	if (f->answer_error) {
		d->len = craft_ack(d->data, req, f->answer_error, NULL, true, 0);
		return;
	}
	nlh = craft_genl(d->data, GENL_ID_CTRL, CTRL_CMD_NEWFAMILY,
			 req->nlmsg_seq, PORTID);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, COLO_GENL_NAME);
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 0x33);
	mnl_attr_put_u32(nlh, CTRL_ATTR_VERSION, 1);
	mnl_attr_put_u32(nlh, CTRL_ATTR_HDRSIZE, 0);
	grps = mnl_attr_nest_start(nlh, CTRL_ATTR_MCAST_GROUPS);
	grp = mnl_attr_nest_start(nlh, 1);
	mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME, "other");
	mnl_attr_put_u32(nlh, CTRL_ATTR_MCAST_GRP_ID, 11);
	mnl_attr_nest_end(nlh, grp);
	grp = mnl_attr_nest_start(nlh, 2);
	mnl_attr_put_u32(nlh, CTRL_ATTR_MCAST_GRP_ID, 12);
	mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME, COLO_GENL_MCGRP_MONITOR);
	mnl_attr_nest_end(nlh, grp);
	mnl_attr_nest_end(nlh, grps);
	d->len = nlh->nlmsg_len;
	answer_ack(f, req);
}

static void t_family_resolution(void)
{
	struct colo_nl *nl = fake_nl();
	struct sent_attrs sa;
	uint8_t cmd;

	nl->family_id = 0;
	nl->mcgrp_monitor = 0;
	fake->answer = answer_family;
	CHECK_EQ(colo_nl_resolve_family(nl), 0);
	CHECK_EQ(colo_nl_family_id(nl), 0x33);
	CHECK_EQ(colo_nl_monitor_group(nl), 12);
	CHECK_EQ(last_sent()->nlmsg_type, GENL_ID_CTRL);
	CHECK_EQ(last_sent()->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	CHECK_EQ(colo_nl_parse_genl(last_sent(), &cmd, sent_attr_cb, &sa), 0);
	CHECK_EQ(cmd, CTRL_CMD_GETFAMILY);

	nl->family_id = 0;
	fake->answer_error = -ENOENT;
	CHECK_EQ(colo_nl_resolve_family(nl), -ENOENT);
	CHECK(strstr(colo_nl_strerror(-ENOENT), "module nfnetlink_colo not loaded"));
	fake_free(nl);
}

static void t_join_monitor_missing(void)
{
	struct colo_nl *nl = fake_nl();

	nl->mcgrp_monitor = 0;
	CHECK_EQ(colo_nl_join_monitor(nl), -EOPNOTSUPP);
	CHECK(colo_nl_last_msg(nl) && strstr(colo_nl_last_msg(nl), "monitor"));
	fake_free(nl);
}

/* ------------------------------------------------------------------------
 * Names and helpers
 */

static void t_names(void)
{
	unsigned int i;

	CHECK(!strcmp(colo_nl_cmd_name(COLO_CMD_CHECKPOINT_NEEDED), "checkpoint-needed"));
	CHECK(!strcmp(colo_nl_cmd_name(COLO_CMD_MAX + 1), "unknown"));
	CHECK(!strcmp(colo_nl_cmd_name(255), "unknown"));
	CHECK(!strcmp(colo_nl_reason_name(COLO_REASON_SVM_ONLY), "svm-only"));
	CHECK(!strcmp(colo_nl_reason_name(1000000), "unknown"));
	CHECK(!strcmp(colo_nl_mode_name(COLO_MODE_SECONDARY), "secondary"));
	CHECK(!strcmp(colo_nl_mode_name(200), "unknown"));
	CHECK(!strcmp(colo_nl_state_name(COLO_STATE_FAILOVER), "failover"));
	for (i = COLO_STAT_PVM_PACKETS; i <= COLO_STAT_MAX; i++)
		CHECK(strcmp(colo_nl_stat_name(i), "unknown"));
	CHECK(!strcmp(colo_nl_stat_name(COLO_STAT_MAX + 1), "unknown"));
	for (i = 0; i <= COLO_CMD_MAX; i++)
		CHECK(strcmp(colo_nl_cmd_name(i), "unknown"));
	for (i = 0; i < __COLO_REASON_MAX; i++)
		CHECK(strcmp(colo_nl_reason_name(i), "unknown"));
}

static void t_control_path(void)
{
	volatile size_t small = 8;	/* hide the truncation from gcc */
	char buf[108];

	unsetenv("COLO_RUN_DIR");
	CHECK_EQ(colo_nl_control_path(5, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "/run/colo-proxy/vm5.sock"));
	setenv("COLO_RUN_DIR", "/tmp/x", 1);
	CHECK_EQ(colo_nl_control_path(16777215, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "/tmp/x/vm16777215.sock"));
	CHECK_EQ(colo_nl_control_path(1, buf, small), -ENAMETOOLONG);
	unsetenv("COLO_RUN_DIR");
}

static void t_format_conn_other(void)
{
	struct colo_nl_conn c = { .family = AF_INET, .proto = IPPROTO_ICMP,
				  .src = { 1, 2, 3, 4 }, .dst = { 5, 6, 7, 8 } };
	char buf[128];

	CHECK_EQ(colo_nl_format_conn(&c, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "icmp/1.2.3.4->5.6.7.8"));
	c.proto = 132;
	CHECK_EQ(colo_nl_format_conn(&c, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "proto-132/1.2.3.4->5.6.7.8"));
}

/* ------------------------------------------------------------------------
 * The real kernel, through its always-present nlctrl family
 */

static struct colo_nl *live_nl;

static void live_nlctrl(void)
{
	struct colo_nl_family fam = { .mcgrp_name = "notify" };
	struct colo_nl *nl;
	char buf[COLO_NL_REQ_SIZE];
	struct nlmsghdr *nlh;
	int ret, one = 1;

	nl = live_nl = colo_nl_alloc();
	CHECK(nl);
	nl->io = &colo_nl_sock_io;
	nl->sock = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(cur_why, sizeof(cur_why), "SKIP no generic netlink: %s",
			 strerror(errno));
		return;
	}
	mnl_socket_setsockopt(nl->sock, NETLINK_PKTINFO, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);

	ret = colo_nl_resolve(nl, "nlctrl", &fam);
	CHECK_EQ(ret, 0);
	CHECK_EQ(fam.id, GENL_ID_CTRL);
	CHECK(fam.mcgrp != 0);

	/* Our family is not there on the build host: ENOENT. */
	memset(&fam, 0, sizeof(fam));
	ret = colo_nl_resolve(nl, "COLOnosuchfam", &fam);
	CHECK_EQ(ret, -ENOENT);

	/* A policy violation (name longer than GENL_NAMSIZ): extack message. */
	nlh = colo_nl_put_genl(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "a-family-name-that-is-too-long");
	nl->last_msg[0] = '\0';
	ret = colo_nl_request(nl, nlh, GENL_ID_CTRL, NULL, NULL);
	CHECK_EQ(ret, -EINVAL);
	CHECK(colo_nl_last_msg(nl) != NULL);
}

static void t_live_nlctrl(void)
{
	live_nlctrl();
	colo_nl_close(live_nl);
	live_nl = NULL;
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "proxy-init-request", t_proxy_init_request },
	{ "proxy-init-defaults", t_proxy_init_defaults },
	{ "bad-arguments", t_bad_arguments },
	{ "simple-commands", t_simple_commands },
	{ "get-request", t_get_request },
	{ "error-extack", t_error_extack },
	{ "error-uncapped", t_error_uncapped },
	{ "error-missing-attr", t_error_missing_attr },
	{ "error-no-extack", t_error_no_extack },
	{ "error-malformed", t_error_malformed },
	{ "error-broken-extack", t_error_broken_extack },
	{ "stale-and-foreign-acks", t_stale_and_foreign_acks },
	{ "timeout", t_timeout },
	{ "overrun-during-request", t_overrun_during_request },
	{ "get-reply", t_get_reply },
	{ "get-many-conns", t_get_many_conns },
	{ "get-malformed", t_get_malformed },
	{ "event-checkpoint-needed", t_event_checkpoint_needed },
	{ "event-monitor-echo", t_event_monitor_echo },
	{ "event-queued-during-request", t_event_queued_during_request },
	{ "event-malformed", t_event_malformed },
	{ "event-queue-overflow", t_event_queue_overflow },
	{ "family-resolution", t_family_resolution },
	{ "join-monitor-missing", t_join_monitor_missing },
	{ "names", t_names },
	{ "control-path", t_control_path },
	{ "format-conn-other", t_format_conn_other },
	{ "live-nlctrl", t_live_nlctrl },
};

int main(int argc, char *argv[])
{
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name))
			continue;
		cur_case = cases[i].name;
		cur_why[0] = '\0';
		cases[i].fn();
		if (!cur_why[0]) {
			printf("PASS: glue-nl/%s\n", cur_case);
		} else if (!strncmp(cur_why, "SKIP ", 5)) {
			printf("SKIP: glue-nl/%s (%s)\n", cur_case, cur_why + 5);
		} else {
			printf("FAIL: glue-nl/%s (%s)\n", cur_case, cur_why);
			failures++;
		}
	}
	return failures ? 1 : 0;
}

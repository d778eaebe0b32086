// SPDX-License-Identifier: GPL-2.0
/*
 * tcp.c - a small TCP server for the COLO test guest (IPv4 and IPv6, port
 * SVC_PORT).
 *
 * - Handshake: the ISN comes from the TSC when the SYN is handled, so the
 *   two guests of a COLO pair choose different ISNs for the same SYN.
 *   MSS option read and sent (1460); no other options.
 * - Receive: in order only. A segment that starts beyond rcv_nxt is
 *   dropped and answered with an ACK for what we have; the part of a
 *   segment already received is trimmed. The window is the room left in
 *   the connection's line buffer (RBUF bytes).
 * - Send: what a connection sends is described, not buffered: a reply is a
 *   short text followed by a length of the pattern (svc.c), so any byte can
 *   be rebuilt for a retransmission. A new reply starts only when the last
 *   is fully acknowledged. On a TSC timer (RTO 400 ms doubling, up to
 *   3.2 s, RST after 12 timeouts, ~35 s) the first unacknowledged segment
 *   is sent alone, then go-back-N from what its ACK covers; three duplicate
 *   ACKs resend that segment. The peer window (unscaled, so at most 64 KiB)
 *   bounds what is in flight; a zero window is probed by the timer with one
 *   byte.
 * - Close both ways: FIN after a reply marked close, FIN from the peer
 *   answered by ours once the replies are out. TIME_WAIT 1 s (reused if
 *   the table is full). RST sent for segments of no connection.
 */
#include "net.h"

#define TCP_HLEN	20
#define TCP_MSS		(ETH_MTU - IP_HLEN - TCP_HLEN)
#define TCP_MSS6	(ETH_MTU - IP6_HLEN - TCP_HLEN)
#define RBUF		256
#define TXT_MAX		512
#define RTO_MS		400
#define RTO_MAX_MS	3200
#define MAX_RETRIES	12
#define TIME_WAIT_MS	1000

#define F_FIN	0x01
#define F_SYN	0x02
#define F_RST	0x04
#define F_PSH	0x08
#define F_ACK	0x10

#define SEQ_LT(a, b)	((int32_t)((a) - (b)) < 0)
#define SEQ_LEQ(a, b)	((int32_t)((a) - (b)) <= 0)

enum tcp_state {
	TCP_FREE,
	TCP_SYN_RCVD,
	TCP_ESTAB,
	TCP_CLOSE_WAIT,		/* peer's FIN in, ours not sent */
	TCP_FIN_WAIT,		/* our FIN sent, peer's not in */
	TCP_CLOSING,		/* both FINs; ours not acked yet */
	TCP_TIME_WAIT,
};

struct tcb {
	enum tcp_state state;
	struct tcp_addr a;
	uint16_t rport, lport;
	uint8_t rmac[6];
	uint32_t iss, irs;
	uint32_t snd_una, snd_nxt, snd_max, snd_wnd;
	uint32_t rcv_nxt;
	uint16_t mss;
	/* the reply being sent covers stream offsets [rsp_start, rsp_end) */
	uint32_t rsp_start, rsp_end;
	char txt[TXT_MAX];
	unsigned txt_len;
	int close_after;	/* FIN once the reply is out */
	int fin_out;		/* our FIN is part of the stream (at rsp_end) */
	int fin_in;		/* peer's FIN received */
	uint8_t rbuf[RBUF];
	unsigned rlen;
	uint64_t rto_at;	/* 0: timer off */
	uint32_t rto_ms;
	unsigned retries, dupacks;
};

static struct tcb tcbs[TCP_MAX_CONN];
static uint32_t tcp_rto_ms = RTO_MS;	/* rto=MS on the command line */
static uint64_t tcp_next_due;	/* earliest timer, 0: none armed */

void tcp_init(void)
{
	const char *arg = cmdline_get("rto");

	memset(tcbs, 0, sizeof(tcbs));
	if (arg && parse_dec(arg) >= 10 && parse_dec(arg) <= RTO_MAX_MS)
		tcp_rto_ms = parse_dec(arg);
}

unsigned tcp_active(void)
{
	unsigned i, n = 0;

	for (i = 0; i < TCP_MAX_CONN; i++)
		if (tcbs[i].state != TCP_FREE && tcbs[i].state != TCP_TIME_WAIT)
			n++;
	return n;
}

/* stream offset of a sequence number (data starts at iss + 1) */
static inline uint32_t tcp_off(const struct tcb *t, uint32_t seq)
{
	return seq - (t->iss + 1);
}

/*
 * One segment; with a connection, n bytes of its stream from offset off:
 * the part in the reply's text is copied behind the header, the pattern
 * part goes out from the pattern itself, its checksum from the table.
 */
static void tcp_emit(const uint8_t *dmac, const struct tcp_addr *a,
		     uint16_t sport,
		     uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
		     uint16_t win, const struct tcb *t, uint32_t off, unsigned n,
		     int mss_opt)
{
	uint8_t *f = a->v6 ? net6_begin(dmac, a->l6, a->r6, IPPROTO_TCP) :
			     net_ip_begin(dmac, a->ip, IPPROTO_TCP);
	uint8_t *s = f + ETH_HLEN + (a->v6 ? IP6_HLEN : IP_HLEN);
	unsigned hl = TCP_HLEN + (mss_opt ? 4 : 0), k = 0, m = 0;
	uint32_t sum, i0 = 0, p0 = 0;

	put16(s, sport);
	put16(s + 2, dport);
	put32(s + 4, seq);
	put32(s + 8, ack);
	s[12] = (uint8_t)(hl / 4 << 4);
	s[13] = flags;
	put16(s + 14, win);
	put16(s + 16, 0);
	put16(s + 18, 0);
	if (mss_opt) {
		s[20] = 2;
		s[21] = 4;
		put16(s + 22, a->v6 ? TCP_MSS6 : TCP_MSS);
	}
	if (n) {
		i0 = off - t->rsp_start;
		if (i0 < t->txt_len) {
			k = t->txt_len - i0 < n ? t->txt_len - i0 : n;
			memcpy(s + hl, t->txt + i0, k);
		}
		m = n - k;
		p0 = (i0 + k - t->txt_len) % PATTERN_PERIOD;
	}
	sum = (a->v6 ? net6_pseudo(a->l6, a->r6, IPPROTO_TCP, hl + n) :
		       net_pseudo(net_cfg.ip, a->ip, IPPROTO_TCP, hl + n)) +
	      net_sum(s, hl + k);
	if (m)
		sum += svc_pattern_sum(p0, m, hl + k);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(s + 16, (uint16_t)~sum);
	if (a->v6)
		net6_send2(f, hl + k, svc_pattern + p0, m);
	else
		net_ip_send2(f, hl + k, svc_pattern + p0, m);
}

static uint16_t tcp_win(const struct tcb *t)
{
	return (uint16_t)(RBUF - t->rlen);
}

static void tcp_send_ack(struct tcb *t)
{
	tcp_emit(t->rmac, &t->a, t->lport, t->rport, t->snd_nxt, t->rcv_nxt,
		 F_ACK, tcp_win(t), t, 0, 0, 0);
}

static void tcp_send_synack(struct tcb *t)
{
	tcp_emit(t->rmac, &t->a, t->lport, t->rport, t->iss, t->rcv_nxt,
		 F_SYN | F_ACK, tcp_win(t), t, 0, 0, 1);
}

static void tcp_free(struct tcb *t)
{
	t->state = TCP_FREE;
}

static void tcp_due(uint64_t at)
{
	if (!tcp_next_due || at < tcp_next_due)
		tcp_next_due = at;
}

static void tcp_timer_arm(struct tcb *t)
{
	if (!t->rto_at) {
		t->rto_at = rdtsc() + ms_to_tsc(t->rto_ms);
		tcp_due(t->rto_at);
	}
}

/*
 * Send what the window allows from snd_nxt: data of the reply, then our
 * FIN if it is due. force: an ACK even when there is nothing else to send;
 * probe: one byte into a zero window; max: at most this many segments
 * (0: no limit).
 */
static void tcp_output(struct tcb *t, int force, int probe, int max)
{
	uint32_t end_seq = t->iss + 1 + t->rsp_end;
	uint32_t wnd_end = t->snd_una + (t->snd_wnd ? t->snd_wnd :
					 (probe ? 1 : 0));
	int sent = 0;

	if (t->state == TCP_SYN_RCVD || t->state == TCP_FREE ||
	    t->state == TCP_TIME_WAIT)
		return;
	while (SEQ_LT(t->snd_nxt, end_seq) && SEQ_LT(t->snd_nxt, wnd_end) &&
	       (!max || sent < max)) {
		uint32_t n = end_seq - t->snd_nxt, room = wnd_end - t->snd_nxt;
		uint8_t flags = F_ACK;

		if (n > t->mss)
			n = t->mss;
		if (n > room)
			n = room;
		if (t->snd_nxt + n == end_seq)
			flags |= F_PSH;
		tcp_emit(t->rmac, &t->a, t->lport, t->rport, t->snd_nxt,
			 t->rcv_nxt, flags, tcp_win(t), t,
			 tcp_off(t, t->snd_nxt), n, 0);
		t->snd_nxt += n;
		sent++;
	}
	if (t->fin_out && t->snd_nxt == end_seq && (!max || sent < max)) {
		tcp_emit(t->rmac, &t->a, t->lport, t->rport, t->snd_nxt,
			 t->rcv_nxt, F_FIN | F_ACK, tcp_win(t), t, 0, 0, 0);
		t->snd_nxt++;
		sent++;
	}
	if (SEQ_LT(t->snd_max, t->snd_nxt))
		t->snd_max = t->snd_nxt;
	if (!sent && force)
		tcp_send_ack(t);
	if (t->snd_una != t->snd_max || (SEQ_LT(t->snd_nxt, end_seq) &&
					 !t->snd_wnd))
		tcp_timer_arm(t);
}

void tcp_reply(struct tcb *t, const char *txt, unsigned txt_len,
	       uint32_t pat_len, int close)
{
	if (txt_len > TXT_MAX)
		txt_len = TXT_MAX;
	memcpy(t->txt, txt, txt_len);
	t->txt_len = txt_len;
	t->rsp_start = t->rsp_end;
	t->rsp_end = t->rsp_start + txt_len + pat_len;
	t->close_after = close;
}

/* all of the current reply acknowledged: room for the next */
static int tcp_idle(const struct tcb *t)
{
	return t->snd_una == t->iss + 1 + t->rsp_end && !t->fin_out;
}

/* Hand complete request lines to the services, one reply at a time. */
static void tcp_serve(struct tcb *t)
{
	unsigned i;

	while (tcp_idle(t) && !t->close_after) {
		for (i = 0; i < t->rlen && t->rbuf[i] != '\n'; i++)
			;
		if (i == t->rlen) {
			if (t->rlen == RBUF) {	/* a line too long: refuse */
				t->rlen = 0;
				tcp_reply(t, "error line too long\n", 20, 0, 1);
			}
			break;
		}
		svc_tcp_line(t, (const char *)t->rbuf,
			     i && t->rbuf[i - 1] == '\r' ? i - 1 : i);
		memcpy(t->rbuf, t->rbuf + i + 1, t->rlen - i - 1);
		t->rlen -= i + 1;
	}
	/* FIN once the last reply is out: asked for, or the peer closed */
	if (!t->fin_out && (t->close_after || (t->fin_in && tcp_idle(t)))) {
		t->fin_out = 1;
		if (t->state == TCP_ESTAB)
			t->state = TCP_FIN_WAIT;
		else if (t->state == TCP_CLOSE_WAIT)
			t->state = TCP_CLOSING;
	}
}

static void tcp_rst_for(const uint8_t *smac, const struct tcp_addr *src,
			const uint8_t *s, unsigned dlen)
{
	uint8_t flags = s[13];
	uint32_t seq = get32(s + 4), ack = get32(s + 8);

	if (flags & F_RST)
		return;
	net_stats.tcp_rst_out++;
	if (flags & F_ACK)
		tcp_emit(smac, src, get16(s + 2), get16(s), ack, 0, F_RST, 0,
			 0, 0, 0, 0);
	else
		tcp_emit(smac, src, get16(s + 2), get16(s), 0,
			 seq + dlen + !!(flags & F_SYN) + !!(flags & F_FIN),
			 F_RST | F_ACK, 0, 0, 0, 0, 0);
}

static int tcp_addr_eq(const struct tcp_addr *x, const struct tcp_addr *y)
{
	if (x->v6 != y->v6)
		return 0;
	if (!x->v6)
		return x->ip == y->ip;
	return !memcmp(x->r6, y->r6, 16) && !memcmp(x->l6, y->l6, 16);
}

static struct tcb *tcp_lookup(const struct tcp_addr *src, uint16_t sport,
			      uint16_t dport)
{
	unsigned i;

	for (i = 0; i < TCP_MAX_CONN; i++) {
		struct tcb *t = &tcbs[i];

		if (t->state != TCP_FREE && tcp_addr_eq(&t->a, src) &&
		    t->rport == sport && t->lport == dport)
			return t;
	}
	return 0;
}

static struct tcb *tcp_alloc(void)
{
	unsigned i;

	for (i = 0; i < TCP_MAX_CONN; i++)
		if (tcbs[i].state == TCP_FREE)
			return &tcbs[i];
	for (i = 0; i < TCP_MAX_CONN; i++)
		if (tcbs[i].state == TCP_TIME_WAIT)
			return &tcbs[i];
	return 0;
}

static uint16_t tcp_opt_mss(const uint8_t *s, unsigned hl)
{
	unsigned i = TCP_HLEN;

	while (i < hl) {
		uint8_t kind = s[i];

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= hl || s[i + 1] < 2 || i + s[i + 1] > hl)
			break;
		if (kind == 2 && s[i + 1] == 4)
			return get16(s + i + 2);
		i += s[i + 1];
	}
	return 536;
}

static void tcp_listen_syn(const uint8_t *smac, const struct tcp_addr *src,
			   const uint8_t *s, unsigned hl)
{
	struct tcb *t = tcp_alloc();
	uint64_t tsc = rdtsc();

	if (!t) {
		tcp_rst_for(smac, src, s, 0);
		return;
	}
	memset(t, 0, sizeof(*t));
	t->state = TCP_SYN_RCVD;
	t->a = *src;
	t->rport = get16(s);
	t->lport = get16(s + 2);
	memcpy(t->rmac, smac, 6);
	/* from the TSC: differs between the guests of a COLO pair */
	t->iss = (uint32_t)tsc * 2654435761u ^ (uint32_t)(tsc >> 32) ^
		 (uint32_t)t->rport << 16;
	t->irs = get32(s + 4);
	t->rcv_nxt = t->irs + 1;
	t->snd_una = t->iss;
	t->snd_nxt = t->iss + 1;
	t->snd_max = t->snd_nxt;
	t->snd_wnd = get16(s + 14);
	t->mss = tcp_opt_mss(s, hl);
	if (t->mss > (src->v6 ? TCP_MSS6 : TCP_MSS))
		t->mss = src->v6 ? TCP_MSS6 : TCP_MSS;
	if (t->mss < 64)
		t->mss = 64;
	t->rto_ms = tcp_rto_ms;
	tcp_send_synack(t);
	tcp_timer_arm(t);
}

/* The peer acknowledged up to ack (acceptable, beyond snd_una). */
static void tcp_acked(struct tcb *t, uint32_t ack)
{
	t->snd_una = ack;
	if (SEQ_LT(t->snd_nxt, ack))
		t->snd_nxt = ack;
	t->retries = 0;
	t->dupacks = 0;
	t->rto_ms = tcp_rto_ms;
	t->rto_at = 0;
	if (t->state == TCP_SYN_RCVD)
		t->state = TCP_ESTAB;
	if (t->fin_out && ack == t->iss + 1 + t->rsp_end + 1 &&
	    t->state == TCP_CLOSING) {
		/*
		 * Both closed, ours acknowledged: a while in TIME_WAIT absorbs
		 * the peer's late duplicates (no RST for each).
		 */
		t->state = TCP_TIME_WAIT;
		t->rto_at = rdtsc() + ms_to_tsc(TIME_WAIT_MS);
		tcp_due(t->rto_at);
		return;
	}
	if (t->snd_una != t->snd_max)
		tcp_timer_arm(t);
}

/* src: the peer's address (and ours, IPv6); IPv6 checksums come verified */
void tcp_rx(const uint8_t *smac, const struct tcp_addr *src, const uint8_t *s,
	    unsigned len)
{
	struct tcb *t;
	unsigned hl, dlen, take;
	uint32_t seq, ack;
	uint8_t flags;
	const uint8_t *data;
	int need_ack = 0;

	if (len < TCP_HLEN)
		return;
	if (!src->v6 &&
	    net_csum(s, len, net_pseudo(src->ip, net_cfg.ip, IPPROTO_TCP, len))) {
		net_stats.bad_csum++;
		return;
	}
	hl = (s[12] >> 4) * 4u;
	if (hl < TCP_HLEN || hl > len)
		return;
	net_stats.tcp_in++;
	flags = s[13];
	seq = get32(s + 4);
	ack = get32(s + 8);
	data = s + hl;
	dlen = len - hl;

	t = tcp_lookup(src, get16(s), get16(s + 2));
	if (t && t->state == TCP_TIME_WAIT && (flags & F_SYN) &&
	    !(flags & F_ACK)) {
		tcp_free(t);	/* a new incarnation of the same pair */
		t = 0;
	}
	if (!t) {
		if ((flags & (F_SYN | F_ACK | F_RST)) == F_SYN &&
		    get16(s + 2) == SVC_PORT)
			tcp_listen_syn(smac, src, s, hl);
		else
			tcp_rst_for(smac, src, s, dlen);
		return;
	}
	memcpy(t->rmac, smac, 6);	/* the path may change (failover) */

	if (flags & F_RST) {
		/* only a RST inside the window counts */
		if (SEQ_LEQ(t->rcv_nxt, seq) &&
		    SEQ_LT(seq, t->rcv_nxt + tcp_win(t) + 1))
			tcp_free(t);
		return;
	}
	if (flags & F_SYN) {
		if (t->state == TCP_SYN_RCVD && seq == t->irs)
			tcp_send_synack(t);	/* our SYN-ACK was lost */
		else
			tcp_send_ack(t);
		return;
	}
	if (!(flags & F_ACK))
		return;

	if (SEQ_LT(t->snd_una, ack) && SEQ_LEQ(ack, t->snd_max)) {
		tcp_acked(t, ack);
		if (t->state == TCP_FREE)
			return;
	} else if (SEQ_LT(t->snd_max, ack)) {
		tcp_send_ack(t);	/* acks what we never sent */
		return;
	} else if (ack == t->snd_una && !dlen && !(flags & F_FIN) &&
		   t->snd_una != t->snd_max && get16(s + 14) == t->snd_wnd) {
		if (++t->dupacks == 3) {
			/* a loss: resend the first segment only */
			uint32_t nxt = t->snd_nxt;

			net_stats.tcp_rexmit++;
			t->snd_nxt = t->snd_una;
			tcp_output(t, 0, 0, 1);
			if (SEQ_LT(t->snd_nxt, nxt))
				t->snd_nxt = nxt;
		}
	}
	if (t->state == TCP_SYN_RCVD)
		return;		/* an ACK that does not complete the handshake */
	t->snd_wnd = get16(s + 14);

	/* receive in order only */
	if (SEQ_LT(seq, t->rcv_nxt)) {
		uint32_t skip = t->rcv_nxt - seq;

		if (skip > dlen) {
			tcp_send_ack(t);	/* wholly old (or keepalive) */
			goto out;
		}
		data += skip;
		dlen -= skip;
		seq = t->rcv_nxt;
		need_ack = 1;
	}
	if (seq != t->rcv_nxt) {
		tcp_send_ack(t);	/* out of order: ACK what we have */
		goto out;
	}
	if (dlen || (flags & F_FIN)) {
		need_ack = 1;
		if (t->fin_in)
			dlen = 0;	/* nothing after the FIN */
		take = RBUF - t->rlen;
		if (take > dlen)
			take = dlen;
		memcpy(t->rbuf + t->rlen, data, take);
		t->rlen += take;
		t->rcv_nxt += take;
		if ((flags & F_FIN) && take == dlen && !t->fin_in) {
			t->fin_in = 1;
			t->rcv_nxt++;
			if (t->state == TCP_ESTAB)
				t->state = TCP_CLOSE_WAIT;
			else if (t->state == TCP_FIN_WAIT)
				t->state = TCP_CLOSING;
		}
	}
	if (t->state == TCP_CLOSING && t->fin_out &&
	    t->snd_una == t->iss + 1 + t->rsp_end + 1) {
		/* both FINs done and ours acked */
		tcp_send_ack(t);
		t->state = TCP_TIME_WAIT;
		t->rto_at = rdtsc() + ms_to_tsc(TIME_WAIT_MS);
		tcp_due(t->rto_at);
		return;
	}
out:
	tcp_serve(t);
	tcp_output(t, need_ack, 0, 0);
}

/* Cheap when nothing is due: the CPU may be emulated. */
/* "tcp <lport>-<rport> st=<state> una=<n> nxt=<n> max=<n> end=<n> wnd=<n>
 *  rto=<0|1> retries=<n>" a connection, offsets relative to the ISN */
void tcp_dump(struct sbuf *b)
{
	unsigned i;

	for (i = 0; i < TCP_MAX_CONN; i++) {
		const struct tcb *t = &tcbs[i];

		if (t->state == TCP_FREE)
			continue;
		sb_str(b, "tcp ");
		sb_dec(b, t->rport);
		sb_str(b, " st=");
		sb_dec(b, t->state);
		sb_str(b, " una=");
		sb_dec(b, t->snd_una - t->iss);
		sb_str(b, " nxt=");
		sb_dec(b, t->snd_nxt - t->iss);
		sb_str(b, " max=");
		sb_dec(b, t->snd_max - t->iss);
		sb_str(b, " end=");
		sb_dec(b, t->rsp_end + 1);
		sb_str(b, " wnd=");
		sb_dec(b, t->snd_wnd);
		sb_str(b, " rto=");
		sb_dec(b, !!t->rto_at);
		sb_str(b, " retries=");
		sb_dec(b, t->retries);
		sb_str(b, "\n");
	}
}

void tcp_timer(uint64_t now)
{
	unsigned i;

	if (!tcp_next_due || now < tcp_next_due)
		return;
	tcp_next_due = 0;
	for (i = 0; i < TCP_MAX_CONN; i++) {
		struct tcb *t = &tcbs[i];

		if (t->state == TCP_FREE || !t->rto_at)
			continue;
		if (now < t->rto_at) {
			tcp_due(t->rto_at);
			continue;
		}
		t->rto_at = 0;
		if (t->state == TCP_TIME_WAIT) {
			tcp_free(t);
			continue;
		}
		if (++t->retries > MAX_RETRIES) {
			tcp_emit(t->rmac, &t->a, t->lport, t->rport,
				 t->snd_nxt, t->rcv_nxt, F_RST | F_ACK, 0, t,
				 0, 0, 0);
			net_stats.tcp_rst_out++;
			tcp_free(t);
			continue;
		}
		net_stats.tcp_rexmit++;
		t->rto_ms = t->rto_ms * 2 > RTO_MAX_MS ? RTO_MAX_MS :
							 t->rto_ms * 2;
		if (t->state == TCP_SYN_RCVD) {
			tcp_send_synack(t);
			tcp_timer_arm(t);
			continue;
		}
		if (t->snd_una == t->snd_max && t->snd_wnd) {
			t->retries = 0;	/* nothing outstanding after all */
			continue;
		}
		/*
		 * Go back to the first unacknowledged segment and send it alone:
		 * its ACK tells what the rest needs (a late ACK, not a loss,
		 * costs one segment, not a window).
		 */
		t->snd_nxt = t->snd_una;
		tcp_output(t, 0, 1, 1);
	}
}

// SPDX-License-Identifier: GPL-2.0
/*
 * net6.c - IPv6 for the COLO test guest: neighbour discovery (answers
 * neighbour solicitations for its addresses), ICMPv6 echo, UDP (port 7
 * echo, SVC_PORT services) and TCP (tcp.c). No extension headers (a
 * packet with one is dropped), no router discovery: replies go back to
 * the Ethernet source of what they answer.
 *
 * Addresses: the link-local fe80::/64 address from the MAC (EUI-64), and
 * ip6=ADDR from the command line when given (e.g. ip6=fd00:c010::2).
 */
#include "net.h"

#define ICMP6_ECHO_REQ	128
#define ICMP6_ECHO_REP	129
#define ICMP6_NS	135
#define ICMP6_NA	136

static uint8_t net6_ll[16], net6_global[16];
static int net6_has_global;

static int ip6_eq(const uint8_t *a, const uint8_t *b)
{
	return !memcmp(a, b, 16);
}

static int ip6_mine(const uint8_t *a)
{
	return ip6_eq(a, net6_ll) || (net6_has_global && ip6_eq(a, net6_global));
}

/* ours, all-nodes, or the solicited-node group of one of ours */
static int ip6_for_us(const uint8_t *a)
{
	static const uint8_t snm[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0,
					 0, 0, 0, 1, 0xff };

	if (ip6_mine(a))
		return 1;
	if (a[0] == 0xff && a[1] == 0x02 && !memcmp(a + 2, snm + 2, 13) &&
	    a[15] == 1 && !a[14])
		return 1;	/* ff02::1 */
	if (!memcmp(a, snm, 13))
		return !memcmp(a + 13, net6_ll + 13, 3) ||
		       (net6_has_global && !memcmp(a + 13, net6_global + 13, 3));
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* textual IPv6 (RFC 4291 2.2 forms 1 and 2, no embedded IPv4) */
static int parse_ip6(const char *s, uint8_t *out)
{
	uint16_t w[8];
	int n = 0, gap = -1, i;

	if (s[0] == ':' && s[1] == ':') {
		gap = 0;
		s += 2;
	}
	while (*s && *s != ' ' && n < 8) {
		uint32_t v = 0;
		int d = 0;

		while (hexval(*s) >= 0 && d < 4) {
			v = v << 4 | (uint32_t)hexval(*s++);
			d++;
		}
		if (!d)
			return -1;
		w[n++] = (uint16_t)v;
		if (*s == ':') {
			s++;
			if (*s == ':') {
				if (gap >= 0)
					return -1;
				gap = n;
				s++;
			}
		} else if (*s && *s != ' ') {
			return -1;
		}
	}
	if ((gap < 0 && n != 8) || n > 8 || (gap >= 0 && n > 7))
		return -1;
	memset(out, 0, 16);
	for (i = 0; i < n; i++) {
		int pos = (gap >= 0 && i >= gap) ? i + 8 - n : i;

		put16(out + 2 * pos, w[i]);
	}
	return 0;
}

static void con_ip6(const uint8_t *a)
{
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 16; i++) {
		con_putc(hx[a[i] >> 4]);
		con_putc(hx[a[i] & 0xf]);
		if (i % 2 && i < 15)
			con_putc(':');
	}
}

void net6_init(void)
{
	const char *arg = cmdline_get("ip6");

	memset(net6_ll, 0, 16);
	net6_ll[0] = 0xfe;
	net6_ll[1] = 0x80;
	net6_ll[8] = net_cfg.mac[0] ^ 0x02;
	net6_ll[9] = net_cfg.mac[1];
	net6_ll[10] = net_cfg.mac[2];
	net6_ll[11] = 0xff;
	net6_ll[12] = 0xfe;
	net6_ll[13] = net_cfg.mac[3];
	net6_ll[14] = net_cfg.mac[4];
	net6_ll[15] = net_cfg.mac[5];
	memcpy(net_cfg.ip6, net6_ll, 16);
	if (arg && !parse_ip6(arg, net6_global))
		net6_has_global = 1;
	con_puts("colo-guest net ip6=");
	con_ip6(net6_ll);
	if (net6_has_global) {
		con_puts(",");
		con_ip6(net6_global);
	}
	con_puts("\n");
}

uint32_t net6_pseudo(const uint8_t *src, const uint8_t *dst, uint8_t nh,
		     unsigned len)
{
	return net_sum(src, 16) + net_sum(dst, 16) + (len >> 16) +
	       (len & 0xffff) + nh;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* a frame to dmac with the IPv6 header; payload at +54 */
static uint8_t *ip6_begin(const uint8_t *dmac, const uint8_t *src,
			  const uint8_t *dst, uint8_t nh, uint8_t hops)
{
	uint8_t *f = nic_tx_buf(), *h = f + ETH_HLEN;

	memcpy(f, dmac, 6);
	memcpy(f + 6, net_cfg.mac, 6);
	put16(f + 12, ETYPE_IP6);
	put32(h, 0x60000000u);
	h[6] = nh;
	h[7] = hops;
	memcpy(h + 8, src, 16);
	memcpy(h + 24, dst, 16);
	return f;
}

uint8_t *net6_begin(const uint8_t *dmac, const uint8_t *src,
		    const uint8_t *dst, uint8_t nh)
{
	return ip6_begin(dmac, src, dst, nh, 64);
}

/* l4len bytes at +54 (checksum filled in by the caller), then n at p */
void net6_send2(uint8_t *f, unsigned l4len, const void *p, unsigned n)
{
	put16(f + ETH_HLEN + 4, (uint16_t)(l4len + n));
	if (n)
		nic_tx2(ETH_HLEN + IP6_HLEN + l4len, p, n);
	else
		nic_tx(ETH_HLEN + IP6_HLEN + l4len);
}

/* fill length and checksum (at csum_off in the payload), send */
static void ip6_send(uint8_t *f, unsigned plen, unsigned csum_off)
{
	uint8_t *h = f + ETH_HLEN, *p = h + IP6_HLEN;
	uint16_t c;

	put16(h + 4, (uint16_t)plen);
	put16(p + csum_off, 0);
	c = (uint16_t)~fold(net6_pseudo(h + 8, h + 24, h[6], plen) +
			    net_sum(p, plen));
	if (h[6] == IPPROTO_UDP && !c)
		c = 0xffff;
	put16(p + csum_off, c);
	nic_tx(ETH_HLEN + IP6_HLEN + plen);
}

static void icmp6_rx(const uint8_t *smac, const uint8_t *h, const uint8_t *m,
		     unsigned len)
{
	const uint8_t *src = h + 8, *dst = h + 24;
	uint8_t *f, *r;

	if (len < 8)
		return;
	if (m[0] == ICMP6_ECHO_REQ) {
		if (len > ETH_MTU - IP6_HLEN)
			return;
		net_stats.icmp6_echo++;
		f = ip6_begin(smac, ip6_mine(dst) ? dst : net6_ll, src,
			      IPPROTO_ICMP6, 64);
		r = f + ETH_HLEN + IP6_HLEN;
		memcpy(r, m, len);
		r[0] = ICMP6_ECHO_REP;
		ip6_send(f, len, 2);
	} else if (m[0] == ICMP6_NS && len >= 24 && h[7] == 255 && !m[1] &&
		   ip6_mine(m + 8)) {
		static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
		int dad = !memcmp(src, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);

		net_stats.nd_in++;
		f = ip6_begin(smac, m + 8, dad ? all_nodes : src,
			      IPPROTO_ICMP6, 255);
		r = f + ETH_HLEN + IP6_HLEN;
		memset(r, 0, 32);
		r[0] = ICMP6_NA;
		r[4] = dad ? 0x20 : 0x60;	/* (solicited,) override */
		memcpy(r + 8, m + 8, 16);
		r[24] = 2;			/* target link-layer address */
		r[25] = 1;
		memcpy(r + 26, net_cfg.mac, 6);
		ip6_send(f, 32, 2);
	}
}

static void udp6_rx(const uint8_t *smac, const uint8_t *h, const uint8_t *u,
		    unsigned len)
{
	uint16_t sport = get16(u), dport = get16(u + 2);
	uint8_t *f, *r;
	unsigned n;

	if (len < 8 || get16(u + 4) != len || !ip6_mine(h + 24))
		return;
	net_stats.udp_in++;
	f = ip6_begin(smac, h + 24, h + 8, IPPROTO_UDP, 64);
	r = f + ETH_HLEN + IP6_HLEN;
	if (dport == ECHO_PORT) {
		n = len - 8;
		if (n > ETH_MTU - IP6_HLEN - 8)
			return;
		memcpy(r + 8, u + 8, n);
	} else if (dport == SVC_PORT) {
		n = svc_udp(u + 8, len - 8, r + 8, ETH_MTU - IP6_HLEN - 8);
		if (!n)
			return;
	} else {
		return;
	}
	put16(r, dport);
	put16(r + 2, sport);
	put16(r + 4, (uint16_t)(8 + n));
	ip6_send(f, 8 + n, 6);
}

void net6_rx(const uint8_t *f, unsigned len)
{
	const uint8_t *h = f + ETH_HLEN, *p = h + IP6_HLEN;
	unsigned plen;

	if (len < ETH_HLEN + IP6_HLEN || (h[0] >> 4) != 6)
		return;
	plen = get16(h + 4);
	if (plen > len - ETH_HLEN - IP6_HLEN || !ip6_for_us(h + 24))
		return;
	if (h[6] != IPPROTO_ICMP6 && h[6] != IPPROTO_UDP &&
	    h[6] != IPPROTO_TCP)
		return;		/* extension headers: not here */
	if (fold(net6_pseudo(h + 8, h + 24, h[6], plen) + net_sum(p, plen)) !=
	    0xffff) {
		net_stats.bad_csum++;
		return;
	}
	if (h[6] == IPPROTO_ICMP6) {
		icmp6_rx(f + 6, h, p, plen);
	} else if (h[6] == IPPROTO_UDP) {
		udp6_rx(f + 6, h, p, plen);
	} else if (ip6_mine(h + 24)) {
		struct tcp_addr a = { .v6 = 1 };

		memcpy(a.r6, h + 8, 16);
		memcpy(a.l6, h + 24, 16);
		tcp_rx(f + 6, &a, p, plen);
	}
}

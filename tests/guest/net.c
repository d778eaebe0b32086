// SPDX-License-Identifier: GPL-2.0
/*
 * net.c - Ethernet, ARP (answer, resolve, a small cache), IPv4 (no options
 * sent, no fragments: a fragment is dropped), ICMP echo and UDP for the
 * COLO test guest. TCP is in tcp.c, IPv6 in net6.c, the services in svc.c.
 *
 * Replies go to the Ethernet source of what they answer: a server needs
 * no route. The ARP cache serves what the guest starts itself (the
 * gateway lookup at boot, printed on COM1) and is filled from every ARP
 * frame that names the guest.
 *
 * Configuration (multiboot command line, QEMU -append): ip=A.B.C.D
 * mask=A.B.C.D gw=A.B.C.D; defaults are QEMU user networking's 10.0.2.15/24
 * via 10.0.2.2. The MAC is the NIC's (-device e1000,mac=...): both guests of
 * a COLO pair must be given the same.
 */
#include "net.h"

struct net_cfg net_cfg;
struct net_stats net_stats;

static const uint8_t eth_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

#define ARP_N		8
static struct {
	uint32_t ip;
	uint8_t mac[6];
} arp_cache[ARP_N];
static unsigned arp_rr;

/*
 * The ones' complement sum of a buffer, folded to 16 bits, in host order.
 * Summed as little-endian 32-bit words and swapped once at the end (RFC
 * 1071): few instructions matter where the CPU is emulated.
 */
uint32_t net_sum(const void *p, unsigned len)
{
	const uint8_t *b = p;
	uint64_t s = 0;
	uint32_t r;

	for (; len >= 4; b += 4, len -= 4)
		s += *(const uint32_t *)b;
	if (len >= 2) {
		s += *(const uint16_t *)b;
		b += 2;
		len -= 2;
	}
	if (len)
		s += b[0];
	r = (uint32_t)(s >> 32) + (uint32_t)s;
	if (r < (uint32_t)s)
		r++;
	r = (r & 0xffff) + (r >> 16);
	r = (r & 0xffff) + (r >> 16);
	return (r >> 8 | r << 8) & 0xffff;
}

uint16_t net_csum(const void *p, unsigned len, uint32_t sum)
{
	sum += net_sum(p, len);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t net_pseudo(uint32_t src, uint32_t dst, uint8_t proto, unsigned len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
	       proto + len;
}

static void arp_learn(uint32_t ip, const uint8_t *mac)
{
	unsigned i;

	for (i = 0; i < ARP_N; i++) {
		if (arp_cache[i].ip == ip) {
			memcpy(arp_cache[i].mac, mac, 6);
			return;
		}
	}
	arp_cache[arp_rr].ip = ip;
	memcpy(arp_cache[arp_rr].mac, mac, 6);
	arp_rr = (arp_rr + 1) % ARP_N;
}

static const uint8_t *arp_lookup(uint32_t ip)
{
	unsigned i;

	for (i = 0; i < ARP_N; i++)
		if (arp_cache[i].ip == ip && ip)
			return arp_cache[i].mac;
	return 0;
}

static void arp_send(uint16_t op, const uint8_t *dmac, const uint8_t *tmac,
		     uint32_t tip)
{
	uint8_t *f = nic_tx_buf(), *a = f + ETH_HLEN;

	memcpy(f, dmac, 6);
	memcpy(f + 6, net_cfg.mac, 6);
	put16(f + 12, ETYPE_ARP);
	put16(a, 1);			/* Ethernet */
	put16(a + 2, ETYPE_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, net_cfg.mac, 6);
	put32(a + 14, net_cfg.ip);
	memcpy(a + 18, tmac, 6);
	put32(a + 24, tip);
	nic_tx(ETH_HLEN + 28);
}

static void arp_rx(const uint8_t *a, unsigned len)
{
	uint16_t op;
	uint32_t sip, tip;

	if (len < 28 || get16(a) != 1 || get16(a + 2) != ETYPE_IP ||
	    a[4] != 6 || a[5] != 4)
		return;
	op = get16(a + 6);
	sip = get32(a + 14);
	tip = get32(a + 24);
	if (tip != net_cfg.ip || !sip)
		return;
	net_stats.arp_in++;
	arp_learn(sip, a + 8);
	if (op == 1)
		arp_send(2, a + 8, a + 8, sip);
}

uint8_t *net_ip_begin(const uint8_t *dmac, uint32_t dst, uint8_t proto)
{
	uint8_t *f = nic_tx_buf(), *ip = f + ETH_HLEN;

	memcpy(f, dmac, 6);
	memcpy(f + 6, net_cfg.mac, 6);
	put16(f + 12, ETYPE_IP);
	ip[0] = 0x45;
	ip[1] = 0;
	/*
	 * DF and no ID (RFC 6864): a primary and its secondary that sent
	 * different numbers of frames (a retransmission) still agree.
	 */
	put16(ip + 4, 0);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, net_cfg.ip);
	put32(ip + 16, dst);
	return f;
}

/* l4len bytes at +34, then n bytes at p (not copied); p may be 0 */
void net_ip_send2(uint8_t *f, unsigned l4len, const void *p, unsigned n)
{
	uint8_t *ip = f + ETH_HLEN;

	put16(ip + 2, (uint16_t)(IP_HLEN + l4len + n));
	put16(ip + 10, 0);
	put16(ip + 10, net_csum(ip, IP_HLEN, 0));
	if (n)
		nic_tx2(ETH_HLEN + IP_HLEN + l4len, p, n);
	else
		nic_tx(ETH_HLEN + IP_HLEN + l4len);
}

void net_ip_send(uint8_t *f, unsigned l4len)
{
	net_ip_send2(f, l4len, 0, 0);
}

static void icmp_rx(const uint8_t *smac, uint32_t src, const uint8_t *m,
		    unsigned len)
{
	uint8_t *f, *r;

	if (len < 8 || net_csum(m, len, 0) != 0) {
		net_stats.bad_csum++;
		return;
	}
	if (m[0] != 8 || len > ETH_MTU - IP_HLEN)
		return;
	net_stats.icmp_echo++;
	f = net_ip_begin(smac, src, IPPROTO_ICMP);
	r = f + ETH_HLEN + IP_HLEN;
	memcpy(r, m, len);
	r[0] = 0;			/* echo reply, same id, seq, data */
	r[1] = 0;
	put16(r + 2, 0);
	put16(r + 2, net_csum(r, len, 0));
	net_ip_send(f, len);
}

static void udp_rx(const uint8_t *smac, uint32_t src, const uint8_t *u,
		   unsigned len)
{
	uint16_t sport, dport, ulen, csum;
	uint8_t *f, *r;
	unsigned n;

	if (len < 8)
		return;
	ulen = get16(u + 4);
	if (ulen < 8 || ulen > len)
		return;
	len = ulen;
	csum = get16(u + 6);
	if (csum && net_csum(u, len, net_pseudo(src, net_cfg.ip, IPPROTO_UDP,
						 len)) != 0) {
		net_stats.bad_csum++;
		return;
	}
	net_stats.udp_in++;
	sport = get16(u);
	dport = get16(u + 2);
	f = net_ip_begin(smac, src, IPPROTO_UDP);
	r = f + ETH_HLEN + IP_HLEN;
	if (dport == ECHO_PORT) {
		n = len - 8;
		if (n > ETH_MTU - IP_HLEN - 8)
			return;
		memcpy(r + 8, u + 8, n);
	} else if (dport == SVC_PORT) {
		n = svc_udp(u + 8, len - 8, r + 8, ETH_MTU - IP_HLEN - 8);
		if (!n)
			return;
	} else {
		return;	/* no ICMP port unreachable: nothing needs it */
	}
	put16(r, dport);
	put16(r + 2, sport);
	put16(r + 4, (uint16_t)(8 + n));
	put16(r + 6, 0);
	csum = net_csum(r, 8 + n, net_pseudo(net_cfg.ip, src, IPPROTO_UDP,
					     8 + n));
	put16(r + 6, csum ? csum : 0xffff);
	net_ip_send(f, 8 + n);
}

static void ip_rx(const uint8_t *smac, const uint8_t *ip, unsigned len)
{
	unsigned hl, tot;
	uint32_t src, dst;

	if (len < IP_HLEN || (ip[0] >> 4) != 4)
		return;
	hl = (ip[0] & 0xf) * 4u;
	tot = get16(ip + 2);
	if (hl < IP_HLEN || tot < hl || tot > len)
		return;
	if (net_csum(ip, hl, 0) != 0) {
		net_stats.bad_csum++;
		return;
	}
	if (get16(ip + 6) & 0x3fff) {	/* MF or an offset: a fragment */
		net_stats.rx_drop++;
		return;
	}
	src = get32(ip + 12);
	dst = get32(ip + 16);
	if (dst != net_cfg.ip)
		return;
	switch (ip[9]) {
	case IPPROTO_ICMP:
		icmp_rx(smac, src, ip + hl, tot - hl);
		break;
	case IPPROTO_UDP:
		udp_rx(smac, src, ip + hl, tot - hl);
		break;
	case IPPROTO_TCP: {
		struct tcp_addr a = { .v6 = 0, .ip = src };

		tcp_rx(smac, &a, ip + hl, tot - hl);
		break;
	}
	}
}

static void eth_rx(const uint8_t *f, unsigned len)
{
	uint16_t type;

	if (len < ETH_HLEN)
		return;
	net_stats.rx++;
	type = get16(f + 12);
	if (type == ETYPE_ARP)
		arp_rx(f + ETH_HLEN, len - ETH_HLEN);
	else if (type == ETYPE_IP)
		ip_rx(f + 6, f + ETH_HLEN, len - ETH_HLEN);
	else if (type == ETYPE_IP6)
		net6_rx(f, len);
}

void net_poll(void)
{
	const uint8_t *f;
	unsigned len, budget = 32;

	if (!net_cfg.up)
		return;
	while (budget-- && (f = nic_rx_peek(&len))) {
		eth_rx(f, len);
		nic_rx_done();
	}
	tcp_timer(rdtsc());
}

static void cfg_ip(const char *key, uint32_t *v)
{
	const char *s = cmdline_get(key);

	if (s && parse_ip(s, v))
		con_puts("colo-guest net bad address ignored\n");
}

void net_init(void)
{
	const uint8_t *gmac = 0;
	uint64_t until, t0;
	int tries;

	if (cmdline_get("net=off"))
		return;
	if (nic_init(net_cfg.mac)) {
		con_puts("colo-guest net none (no e1000 found)\n");
		return;
	}
	net_cfg.ip = 0x0a00020f;	/* 10.0.2.15 */
	net_cfg.mask = 0xffffff00u;
	net_cfg.gw = 0x0a000202;	/* 10.0.2.2 */
	cfg_ip("ip", &net_cfg.ip);
	cfg_ip("mask", &net_cfg.mask);
	cfg_ip("gw", &net_cfg.gw);
	if (cmdline_get("gw=none"))
		net_cfg.gw = 0;
	net_cfg.up = 1;
	tcp_init();
	net6_init();
	net_print_status();

	/*
	 * Resolve the gateway: announces the guest too (slirp learns it).
	 * Retried for 3 s: QEMU's e1000 delivers nothing for about a second
	 * after the receiver is enabled.
	 */
	t0 = rdtsc();
	for (tries = 0; net_cfg.gw && tries < 10 && !gmac; tries++) {
		arp_send(1, eth_bcast, (const uint8_t *)"\0\0\0\0\0\0",
			 net_cfg.gw);
		until = rdtsc() + ms_to_tsc(300);
		while (rdtsc() < until && !(gmac = arp_lookup(net_cfg.gw)))
			net_poll();
	}
	if (net_cfg.gw) {
		con_puts("colo-guest net gw ");
		con_ip(net_cfg.gw);
		if (gmac) {
			con_puts(" is-at ");
			con_mac(gmac);
			con_puts(" after ");
			con_dec((uint32_t)((rdtsc() - t0) / ms_to_tsc(1)));
			con_puts(" ms");
		} else {
			con_puts(" no-answer");
		}
		con_puts("\n");
		net_print_status();
	}
}

void net_print_status(void)
{
	if (!net_cfg.up)
		return;
	con_puts("colo-guest net nic=");
	con_puts(nic_name);
	con_puts(" mac=");
	con_mac(net_cfg.mac);
	con_puts(" ip=");
	con_ip(net_cfg.ip);
	con_puts(" mask=");
	con_ip(net_cfg.mask);
	con_puts(" tcp=");
	con_dec(SVC_PORT);
	con_puts(" udp=");
	con_dec(ECHO_PORT);
	con_puts(",");
	con_dec(SVC_PORT);
	con_puts(" rx=");
	con_dec(net_stats.rx);
	con_puts(" tx=");
	con_dec(net_stats.tx);
	con_puts(" arp=");
	con_dec(net_stats.arp_in);
	con_puts(" badcsum=");
	con_dec(net_stats.bad_csum);
	con_puts(" drop=");
	con_dec(net_stats.rx_drop);
	con_puts(" conns=");
	con_dec(tcp_active());
	con_puts(" tsc_mhz=");
	con_dec((uint32_t)(tsc_hz / 1000000));
	con_puts("\n");
}

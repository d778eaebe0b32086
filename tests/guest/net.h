/* SPDX-License-Identifier: GPL-2.0 */
/*
 * net.h - shared declarations of the COLO test guest: console and helpers
 * (lib.c), PCI and the e1000 driver (pci.c, e1000.c), the network stack
 * (net.c, tcp.c) and its services (svc.c).
 *
 * Packets are handled as byte buffers with big-endian accessors: no packed
 * structures, no alignment assumptions. Addresses are kept in host order.
 */
#ifndef COLO_GUEST_NET_H
#define COLO_GUEST_NET_H

#include <stddef.h>
#include <stdint.h>

/* --- lib.c ------------------------------------------------------------- */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void con_init(void);
void con_putc(char c);
void con_puts(const char *s);
void con_dec(uint32_t v);
void con_hex(uint32_t v);
void con_ip(uint32_t ip);
void con_mac(const uint8_t *mac);

/* a bounded string builder for replies */
struct sbuf {
	char *p;
	unsigned len, cap;
};
void sb_str(struct sbuf *b, const char *s);
void sb_dec(struct sbuf *b, uint32_t v);
void sb_hex(struct sbuf *b, uint64_t v, int digits);

extern uint64_t tsc_hz;
void tsc_calibrate(void);	/* after cmdline_set: tsc_mhz=N wins */
static inline uint64_t ms_to_tsc(uint32_t ms)
{
	return tsc_hz / 1000 * ms;
}

/* multiboot command line: "word" or "key=value" lookups */
void cmdline_set(const char *s);
const char *cmdline_get(const char *key);	/* value, "" for a bare word, 0 */
int parse_ip(const char *s, uint32_t *ip);
uint32_t parse_dec(const char *s);

/* --- guest.c ------------------------------------------------------------ */
extern uint32_t guest_nonce;
extern volatile uint32_t guest_tick;
extern uint64_t guest_boot_tsc;

/* --- pci.c, e1000.c -------------------------------------------------------- */
int pci_find(uint16_t vendor, uint16_t device, uint32_t *bdf);
uint32_t pci_read32(uint32_t bdf, uint8_t off);
void pci_write32(uint32_t bdf, uint8_t off, uint32_t v);

#define NIC_BUF		2048
int nic_init(uint8_t *mac);
const uint8_t *nic_rx_peek(unsigned *len);	/* next received frame or 0 */
void nic_rx_done(void);
uint8_t *nic_tx_buf(void);			/* room for one frame */
void nic_tx(unsigned len);			/* send what nic_tx_buf holds */
/* ... followed by n bytes at p, sent from where they lie (no copy) */
void nic_tx2(unsigned len, const void *p, unsigned n);
extern const char nic_name[];

/* --- net.c ------------------------------------------------------------- */
#define ETH_HLEN	14
#define IP_HLEN		20
#define IP6_HLEN	40
#define ETH_MTU		1500
#define ETYPE_IP	0x0800
#define ETYPE_ARP	0x0806
#define ETYPE_IP6	0x86dd
#define IPPROTO_ICMP	1
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17
#define IPPROTO_ICMP6	58

struct net_cfg {
	uint8_t mac[6];
	uint32_t ip, mask, gw;
	uint8_t ip6[16];	/* link-local, EUI-64 from the MAC */
	int up;
};
extern struct net_cfg net_cfg;

struct net_stats {
	uint32_t rx, tx, rx_drop, bad_csum, arp_in, icmp_echo, udp_in, tcp_in;
	uint32_t tcp_rst_out, tcp_rexmit, icmp6_echo, nd_in;
};
extern struct net_stats net_stats;

void net_init(void);
void net_poll(void);			/* receive and run the timers */
void net_print_status(void);
uint32_t net_sum(const void *p, unsigned len);	/* folded, not inverted */
uint16_t net_csum(const void *p, unsigned len, uint32_t sum);
uint32_t net_pseudo(uint32_t src, uint32_t dst, uint8_t proto, unsigned len);
/* frame with Ethernet and IPv4 headers filled in; L4 goes at +34 */
uint8_t *net_ip_begin(const uint8_t *dmac, uint32_t dst, uint8_t proto);
void net_ip_send(uint8_t *f, unsigned l4len);
void net_ip_send2(uint8_t *f, unsigned l4len, const void *p, unsigned n);

/* --- net6.c ----------------------------------------------------------- */
void net6_init(void);
void net6_rx(const uint8_t *f, unsigned len);
uint32_t net6_pseudo(const uint8_t *src, const uint8_t *dst, uint8_t nh,
		     unsigned len);
/* frame with Ethernet and IPv6 headers filled in; L4 goes at +54 */
uint8_t *net6_begin(const uint8_t *dmac, const uint8_t *src,
		    const uint8_t *dst, uint8_t nh);
void net6_send2(uint8_t *f, unsigned l4len, const void *p, unsigned n);

/* --- tcp.c ------------------------------------------------------------- */
#define TCP_MAX_CONN	8
struct tcb;
struct tcp_addr {
	int v6;
	uint32_t ip;		/* IPv4: the peer's */
	uint8_t r6[16], l6[16];	/* IPv6: the peer's and ours */
};
void tcp_init(void);
void tcp_rx(const uint8_t *smac, const struct tcp_addr *src,
	    const uint8_t *seg, unsigned len);
void tcp_timer(uint64_t now);
unsigned tcp_active(void);
void tcp_dump(struct sbuf *b);	/* one line a connection */
/* queue a reply: txt then pat_len bytes of the pattern; close: FIN after it */
void tcp_reply(struct tcb *t, const char *txt, unsigned txt_len,
	       uint32_t pat_len, int close);

/* --- svc.c -------------------------------------------------------------- */
#define SVC_PORT	5000	/* TCP and UDP: get N / state / clock / stats */
#define ECHO_PORT	7	/* UDP echo */
#define PATTERN_PERIOD	65521u
extern const uint8_t svc_pattern[2 * PATTERN_PERIOD];	/* pattern.S */
extern const uint32_t svc_pattern_csum[PATTERN_PERIOD + 1];
extern uint32_t svc_served;
/* one request line (without '\n'); for TCP, t is the connection */
void svc_tcp_line(struct tcb *t, const char *line, unsigned len);
unsigned svc_udp(const uint8_t *req, unsigned len, uint8_t *out, unsigned cap);
uint32_t svc_pattern_sum(uint32_t p0, uint32_t m, uint32_t pos);

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * svc.c - the services of the COLO test guest, on TCP and UDP port
 * SVC_PORT (5000), one request a line:
 *
 *	get N	N bytes of the pattern from its start (TCP: then FIN; UDP: N at
 *		most 1472 bytes in one datagram)
 *	state	"state nonce=<8 hex> boot=<16 hex> served=<n>\n": the boot nonce,
 *		the boot TSC and the number of requests served. The two guests of
 *		a COLO pair answer alike only once a checkpoint gave the secondary
 *		the primary's memory; two guests booted apart never do.
 *	clock	"clock nonce=<8 hex> tick=<8 hex> tsc=<16 hex>\n": the TSC now,
 *		so a primary and its secondary answer differently (divergence
 *		on demand), in replies of the same length (the streams stay
 *		aligned).
 *	stats	the guest's network counters
 *	conns	one line per TCP connection (state, sequence offsets, window)
 *	quit	(TCP) FIN now
 * and UDP port 7 echoes. Anything else is answered "error ...\n".
 *
 * The pattern is the one tests/vm/pmycolo-util.py streams: a SHA-256 chain
 * seeded with b"colo", cut to a period of 65521 bytes (a prime, so it never
 * lines up with segment sizes):
 *
 *	out = b""; seed = b"colo"
 *	while len(out) < 65521: seed = sha256(seed).digest(); out += seed
 *	byte(i) = out[i % 65521]
 *
 * gen-pattern.py makes it at build time with a checksum table: the guest
 * may run on an emulated CPU, where hashing it would take seconds and
 * checksumming every segment would bound the throughput.
 */
#include "net.h"

uint32_t svc_served;

/*
 * The ones' complement sum (folded, not inverted) of m pattern bytes from
 * pattern offset p0 (< PERIOD), placed at offset pos of a checksummed
 * buffer: from the prefix table, at most one wrap, O(1).
 */
static uint32_t svc_range_sum(uint32_t a, uint32_t n, uint32_t pos)
{
	uint32_t s = svc_pattern_csum[a + n] - svc_pattern_csum[a];

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	if ((a ^ pos) & 1)
		s = (s >> 8 | s << 8) & 0xffff;
	return s;
}

uint32_t svc_pattern_sum(uint32_t p0, uint32_t m, uint32_t pos)
{
	uint32_t first = PATTERN_PERIOD - p0;

	if (m <= first)
		return svc_range_sum(p0, m, pos);
	return svc_range_sum(p0, first, pos) +
	       svc_range_sum(0, m - first, pos + first);
}

static int word_is(const char *line, unsigned len, const char *w,
		   const char **arg)
{
	unsigned n = 0;

	while (w[n])
		n++;
	if (len < n || memcmp(line, w, n) || (len > n && line[n] != ' '))
		return 0;
	*arg = line + n;
	return 1;
}

/* the reply text of a request; *pat: pattern bytes after it, -1: unknown */
static unsigned svc_answer(const char *line, unsigned len, char *out,
			   unsigned cap, uint32_t *pat, int *close)
{
	struct sbuf b = { out, 0, cap };
	const char *arg;
	uint64_t tsc;

	*pat = 0;
	*close = 0;
	svc_served++;
	if (word_is(line, len, "get", &arg)) {
		char num[12];
		unsigned i = 0;

		while (arg < line + len && *arg == ' ')
			arg++;
		while (arg < line + len && i < sizeof(num) - 1)
			num[i++] = *arg++;
		num[i] = '\0';
		*pat = parse_dec(num);
		*close = 1;
	} else if (word_is(line, len, "state", &arg)) {
		sb_str(&b, "state nonce=");
		sb_hex(&b, guest_nonce, 8);
		sb_str(&b, " boot=");
		sb_hex(&b, guest_boot_tsc, 16);
		sb_str(&b, " served=");
		sb_dec(&b, svc_served);
		sb_str(&b, "\n");
	} else if (word_is(line, len, "clock", &arg)) {
		tsc = rdtsc();
		sb_str(&b, "clock nonce=");
		sb_hex(&b, guest_nonce, 8);
		sb_str(&b, " tick=");
		sb_hex(&b, guest_tick, 8);
		sb_str(&b, " tsc=");
		sb_hex(&b, tsc, 16);
		sb_str(&b, "\n");
	} else if (word_is(line, len, "stats", &arg)) {
		sb_str(&b, "stats rx=");
		sb_dec(&b, net_stats.rx);
		sb_str(&b, " tx=");
		sb_dec(&b, net_stats.tx);
		sb_str(&b, " drop=");
		sb_dec(&b, net_stats.rx_drop);
		sb_str(&b, " badcsum=");
		sb_dec(&b, net_stats.bad_csum);
		sb_str(&b, " tcp_in=");
		sb_dec(&b, net_stats.tcp_in);
		sb_str(&b, " rexmit=");
		sb_dec(&b, net_stats.tcp_rexmit);
		sb_str(&b, " rst=");
		sb_dec(&b, net_stats.tcp_rst_out);
		sb_str(&b, " conns=");
		sb_dec(&b, tcp_active());
		sb_str(&b, "\n");
	} else if (word_is(line, len, "conns", &arg)) {
		tcp_dump(&b);
		sb_str(&b, "end\n");
	} else if (word_is(line, len, "quit", &arg)) {
		*close = 1;
	} else {
		svc_served--;
		sb_str(&b, "error unknown request\n");
	}
	return b.len;
}

void svc_tcp_line(struct tcb *t, const char *line, unsigned len)
{
	char txt[512];
	uint32_t pat;
	int close;
	unsigned n = svc_answer(line, len, txt, sizeof(txt), &pat, &close);

	tcp_reply(t, txt, n, pat, close);
}

unsigned svc_udp(const uint8_t *req, unsigned len, uint8_t *out, unsigned cap)
{
	uint32_t pat;
	int close;
	unsigned n;

	while (len && (req[len - 1] == '\n' || req[len - 1] == '\r'))
		len--;
	n = svc_answer((const char *)req, len, (char *)out, cap, &pat, &close);
	if (pat > cap - n)
		pat = cap - n;
	memcpy(out + n, svc_pattern, pat);
	return n + pat;
}

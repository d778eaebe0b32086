// SPDX-License-Identifier: GPL-2.0
/*
 * bench_compare.c - native throughput of the compare engine
 *
 * Feeds a 16 MiB stream through colo_stream_add() (popping done segments
 * after each add, as the module does, and passing the client's ACK some
 * segments behind with colo_stream_acked()) in several shapes, and compares
 * 1400 byte datagrams. Times are this thread's CPU time (the build machine is
 * shared); each row runs for about 1 s of it, 3 s wall clock at most.
 * Prints a table.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "colo_compare.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define STREAM_BYTES	(16u << 20)
#define ROW_SECONDS	1.0
#define ROW_WALL_MAX	3.0
/*
 * The client acknowledges a PVM segment this many released segments later
 * (about one window of 1448-byte segments in flight): the SVM history the
 * engine keeps for retransmits is that long.
 */
#define ACK_LAG		64

struct bseg {
	struct colo_seg	seg;
	const u8	*buf;
};

static const void *b_data(const struct colo_seg *seg, u32 off, u32 len,
			  void *scratch)
{
	(void)len;
	(void)scratch;
	return container_of(seg, struct bseg, seg)->buf + off;
}

/* Like skb_header_pointer() on paged data: always copies. */
static const void *b_data_copy(const struct colo_seg *seg, u32 off, u32 len,
			       void *scratch)
{
	memcpy(scratch, container_of(seg, struct bseg, seg)->buf + off, len);
	return scratch;
}

static const struct colo_seg_ops ops_inplace = { .data = b_data };
static const struct colo_seg_ops ops_copy = { .data = b_data_copy };

static u8 *pbuf, *sbuf;

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static double wall0;

static bool row_over(double cpu)
{
	return cpu >= ROW_SECONDS ||
	       clock_s(CLOCK_MONOTONIC) - wall0 >= ROW_WALL_MAX;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		perror("calloc");
		exit(1);
	}
	return p;
}

/* Cut the stream into @mss-byte segments for one side. */
static struct bseg *cut(const u8 *buf, u32 base, u32 mss, u32 *n)
{
	u32 i, cnt = (STREAM_BYTES + mss - 1) / mss;
	struct bseg *s = xcalloc(cnt, sizeof(*s));

	for (i = 0; i < cnt; i++) {
		s[i].seg.seq = base + i * mss;
		s[i].seg.len = i == cnt - 1 ? STREAM_BYTES - i * mss : mss;
		s[i].buf = buf + (size_t)i * mss;
	}
	*n = cnt;
	return s;
}

struct arrival {
	struct bseg	*seg;
	int		side;
};

/*
 * Arrival order: both sides interleaved by stream position (each side's
 * segment goes in once the other side has reached about the same point).
 */
static struct arrival *schedule(struct bseg *p, u32 np, struct bseg *s,
				u32 ns, u32 *n)
{
	struct arrival *a = xcalloc(np + ns, sizeof(*a));
	u32 i = 0, j = 0, k = 0;

	while (i < np || j < ns) {
		if (j >= ns || (i < np && !colo_seq_after(p[i].seg.seq,
							   s[j].seg.seq)))
			a[k++] = (struct arrival){ &p[i++], COLO_PVM };
		else
			a[k++] = (struct arrival){ &s[j++], COLO_SVM };
	}
	*n = k;
	return a;
}

/*
 * After about @pct percent of the PVM's arrivals, a retransmit of the PVM
 * segment @back segments earlier (compared data the client has not
 * acknowledged yet: the engine compares it with the SVM history). The
 * copies are in @extra (np entries).
 */
static struct arrival *retransmits(struct arrival *a, u32 *n,
				   unsigned int pct, u32 back,
				   struct bseg *extra)
{
	struct arrival *b;
	u32 i, k = 0, e = 0, seed = 4711, pi = 0;

	if (!pct)
		return a;
	b = xcalloc(*n * 2, sizeof(*b));
	for (i = 0; i < *n; i++) {
		b[k++] = a[i];
		if (a[i].side != COLO_PVM)
			continue;
		seed = seed * 1103515245 + 12345;
		if (pi++ > back && (seed >> 16) % 100 < pct) {
			extra[e] = *(a[i].seg - back);
			extra[e].seg.next = extra[e].seg.prev = NULL;
			b[k++] = (struct arrival){ &extra[e++], COLO_PVM };
		}
	}
	free(a);
	*n = k;
	return b;
}

/* Swap about @pct percent of each side's segments with their successor. */
static void reorder(struct arrival *a, u32 n, unsigned int pct)
{
	u32 i, j, seed = 12345;
	struct arrival t;

	for (i = 0; i + 1 < n; i++) {
		seed = seed * 1103515245 + 12345;
		if ((seed >> 16) % 100 >= pct)
			continue;
		/* next arrival of the same side */
		for (j = i + 1; j < n && a[j].side != a[i].side; j++)
			;
		if (j >= n)
			continue;
		t = a[i];
		a[i] = a[j];
		a[j] = t;
		i = j;
	}
}

static void row(const char *name, double bytes, double segs, double secs)
{
	printf("%-34s %10.0f %10.1f %12.0f\n", name, bytes / secs / 1e6,
	       secs * 1e9 / segs, segs);
}

static void bench_stream(const char *name, u32 pmss, u32 smss,
			 unsigned int ooo_pct, unsigned int rtx_pct,
			 const struct colo_seg_ops *ops)
{
	const u32 base = 0xffff0000u;	/* wraps during the run */
	struct colo_stream st;
	struct bseg *p, *s, *extra;
	struct arrival *a;
	u32 np, ns, n, i, k;
	double t0, t, bytes = 0, segs = 0;
	struct colo_seg *seg;
	unsigned long done, nrel;
	static u32 rel[ACK_LAG];

	p = cut(pbuf, base, pmss, &np);
	s = cut(sbuf, base, smss, &ns);
	a = schedule(p, np, s, ns, &n);
	reorder(a, n, ooo_pct);
	extra = xcalloc(np, sizeof(*extra));
	a = retransmits(a, &n, rtx_pct, 20, extra);

	wall0 = clock_s(CLOCK_MONOTONIC);
	t0 = now();
	do {
		done = 0;
		nrel = 0;
		colo_stream_init(&st, ops);
		colo_stream_resync(&st, base);
		for (i = 0; i < n; i++) {
			colo_stream_add(&st, a[i].side, &a[i].seg->seg);
			while ((seg = colo_stream_pop_done(&st, COLO_PVM))) {
				done++;
				/* the client's ACK follows ACK_LAG segments behind */
				rel[nrel++ % ACK_LAG] = colo_seg_end(seg);
				if (nrel >= ACK_LAG)
					colo_stream_acked(&st,
						rel[nrel % ACK_LAG]);
			}
			while ((seg = colo_stream_pop_done(&st, COLO_SVM)))
				done++;
		}
		colo_stream_acked(&st, base + STREAM_BYTES);
		for (k = 0; k < COLO_SIDES; k++)
			while ((seg = colo_stream_pop_done(&st, k)))
				done++;
		if (st.mismatched || st.matched_bytes != STREAM_BYTES ||
		    done != n) {
			fprintf(stderr, "%s: wrong result (mismatch %d, %u bytes, %lu of %u done)\n",
				name, st.mismatched, st.matched_bytes, done, n);
			exit(1);
		}
		bytes += STREAM_BYTES;
		segs += n;
		t = now() - t0;
	} while (!row_over(t));
	row(name, bytes, segs, t);
	free(a);
	free(p);
	free(s);
	free(extra);
}

static void bench_datagram(u32 len)
{
	u32 cnt = STREAM_BYTES / len, i, diff;
	struct bseg *a = xcalloc(cnt, sizeof(*a)), *b = xcalloc(cnt, sizeof(*b));
	double t0, t, bytes = 0, segs = 0;
	char name[64];

	for (i = 0; i < cnt; i++) {
		a[i].seg.len = b[i].seg.len = len;
		a[i].buf = pbuf + (size_t)i * len;
		b[i].buf = sbuf + (size_t)i * len;
	}
	wall0 = clock_s(CLOCK_MONOTONIC);
	t0 = now();
	do {
		for (i = 0; i < cnt; i++) {
			if (!colo_cmp_datagram(&ops_inplace, &a[i].seg,
					       &b[i].seg, &diff)) {
				fprintf(stderr, "datagram %u differs at %u\n",
					i, diff);
				exit(1);
			}
		}
		bytes += (double)cnt * len;
		segs += cnt;
		t = now() - t0;
	} while (!row_over(t));
	snprintf(name, sizeof(name), "datagram %u B", len);
	row(name, bytes, segs, t);
	free(a);
	free(b);
}

int main(void)
{
	u32 i, x = 1;

	pbuf = malloc(STREAM_BYTES);
	sbuf = malloc(STREAM_BYTES);
	if (!pbuf || !sbuf) {
		perror("malloc");
		return 1;
	}
	for (i = 0; i < STREAM_BYTES; i++) {
		x = x * 1664525 + 1013904223;
		pbuf[i] = (u8)(x >> 24);
	}
	memcpy(sbuf, pbuf, STREAM_BYTES);

	printf("compare engine, %u MiB stream per pass, COLO_CMP_CHUNK %d\n",
	       STREAM_BYTES >> 20, COLO_CMP_CHUNK);
	printf("%-34s %10s %10s %12s\n", "case", "MB/s", "ns/seg", "segments");
	bench_stream("in-order 1448/1448", 1448, 1448, 0, 0, &ops_inplace);
	bench_stream("PVM 1448 / SVM 64KiB (GSO)", 1448, 65536, 0, 0,
		     &ops_inplace);
	bench_stream("out-of-order 10% 1448/1448", 1448, 1448, 10, 0,
		     &ops_inplace);
	bench_stream("PVM retransmits 5% 1448/1448", 1448, 1448, 0, 5,
		     &ops_inplace);
	bench_stream("small 100/100", 100, 100, 0, 0, &ops_inplace);
	bench_stream("in-order 1448/1448, copying data()", 1448, 1448, 0, 0,
		     &ops_copy);
	bench_datagram(1400);
	printf("(CPU time; MB/s: stream bytes compared per second, 1 MB = 10^6 B;\n"
	       " ns/seg: per colo_stream_add() incl. popping and the client's\n"
	       " ACK (colo_stream_acked() per released PVM segment), both sides;\n"
	       " datagram ns/seg: per colo_cmp_datagram() call)\n");
	free(pbuf);
	free(sbuf);
	return 0;
}

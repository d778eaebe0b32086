// SPDX-License-Identifier: GPL-2.0
/*
 * guest.c - freestanding 32-bit test guest for COLO under KVM.
 *
 * It counts, dirties DIRTY_PAGES pages of memory on every tick and prints a
 * line to COM1 every PRINT_TICKS ticks:
 *
 *	colo-guest nonce=<hex> count=<n> mark=<c> pages=ok
 *
 * <c> is the last character received on COM2 ('-' before any): a test feeds
 * it to the primary only, so a secondary printing it got it by a checkpoint.
 *
 * The nonce is taken from the TSC at boot, so only memory that came from the
 * booted (primary) guest can hold it: a secondary that prints the primary's
 * nonce and a count that continues the primary's has been given the
 * primary's state by the checkpoints. Every page of the dirty region holds
 * the tick number it was last written with; it is verified before each
 * write, so a checkpoint that lost a dirty page shows as
 *
 *	colo-guest nonce=<hex> BAD page=<i> want=<n> got=<m>
 *
 * The dirty region lies at 8 MiB, well away from the stack (in .bss near
 * 1 MiB), so the verification never reads memory the C code uses.
 */
#include <stdint.h>

#define COM1		0x3f8
#define COM2		0x2f8
#define DIRTY_BASE	0x00800000u	/* 8 MiB */
#define DIRTY_PAGES	1024u		/* 4 MiB */
#define PAGE_WORDS	1024u
#define TICK_CYCLES	(1ull << 24)	/* ~6 ms at 2.6 GHz */
#define PRINT_TICKS	16u		/* a line every ~100 ms */

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

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static void serial_init(void)
{
	outb(COM1 + 1, 0x00);	/* no interrupts */
	outb(COM1 + 3, 0x80);	/* DLAB */
	outb(COM1 + 0, 0x01);	/* 115200 */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);	/* 8n1 */
	outb(COM1 + 2, 0xc7);	/* FIFO */
}

static void putc_serial(char c)
{
	int spin = 100000;

	while (!(inb(COM1 + 5) & 0x20) && --spin)
		;
	outb(COM1, (uint8_t)c);
}

static void puts_serial(const char *s)
{
	while (*s)
		putc_serial(*s++);
}

static void put_dec(uint32_t v)
{
	char buf[11];
	int i = 10;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_serial(&buf[i]);
}

static void put_hex(uint32_t v)
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 28; i >= 0; i -= 4)
		putc_serial(digits[(v >> i) & 0xf]);
}

static volatile char mark = '-';

static void poll_com2(void)
{
	int budget = 16;
	uint8_t lsr;

	/*
	 * LSR bit 0: data ready; works without initialising the UART. With no
	 * COM2 at all the port reads 0xff: nothing there.
	 */
	while (budget-- && (lsr = inb(COM2 + 5)) != 0xff && (lsr & 0x01)) {
		char c = (char)inb(COM2);

		if (c > ' ' && c < 0x7f)
			mark = c;
	}
}

static volatile uint32_t *const dirty = (volatile uint32_t *)DIRTY_BASE;

/* Returns the first page not holding @want, or DIRTY_PAGES. */
static uint32_t check_and_write(uint32_t want, uint32_t next)
{
	uint32_t p, bad = DIRTY_PAGES;

	for (p = 0; p < DIRTY_PAGES; p++) {
		volatile uint32_t *w = dirty + p * PAGE_WORDS;

		/* two words per page: start and end, both must agree */
		if (bad == DIRTY_PAGES &&
		    (w[0] != want || w[PAGE_WORDS - 1] != want))
			bad = p;
		w[0] = next;
		w[PAGE_WORDS - 1] = next;
	}
	return bad;
}

void guest_main(void);

void guest_main(void)
{
	uint32_t nonce, tick = 0, p;
	uint64_t next;

	serial_init();
	nonce = (uint32_t)rdtsc() ^ (uint32_t)(rdtsc() >> 7) ^ 0x5a5a0000u;
	for (p = 0; p < DIRTY_PAGES; p++) {
		dirty[p * PAGE_WORDS] = 0;
		dirty[p * PAGE_WORDS + PAGE_WORDS - 1] = 0;
	}
	puts_serial("colo-guest start nonce=");
	put_hex(nonce);
	puts_serial("\n");

	next = rdtsc() + TICK_CYCLES;
	for (;;) {
		uint32_t bad;

		while (rdtsc() < next)
			__asm__ volatile("pause");
		next += TICK_CYCLES;
		/* after a long stop (checkpoint, migration) do not burst */
		if (rdtsc() > next + 8 * TICK_CYCLES)
			next = rdtsc() + TICK_CYCLES;

		poll_com2();
		bad = check_and_write(tick, tick + 1);
		tick++;
		if (bad != DIRTY_PAGES) {
			puts_serial("colo-guest nonce=");
			put_hex(nonce);
			puts_serial(" BAD page=");
			put_dec(bad);
			puts_serial(" want=");
			put_dec(tick - 1);
			puts_serial(" got=");
			put_dec(dirty[bad * PAGE_WORDS]);
			puts_serial("\n");
			/* resynchronise so one loss is reported once */
			for (p = 0; p < DIRTY_PAGES; p++) {
				dirty[p * PAGE_WORDS] = tick;
				dirty[p * PAGE_WORDS + PAGE_WORDS - 1] = tick;
			}
		}
		if (tick % PRINT_TICKS == 0) {
			puts_serial("colo-guest nonce=");
			put_hex(nonce);
			puts_serial(" count=");
			put_dec(tick / PRINT_TICKS);
			puts_serial(" mark=");
			putc_serial(mark);
			puts_serial(" pages=ok\n");
		}
	}
}

// SPDX-License-Identifier: GPL-2.0
/*
 * guest.c - freestanding 32-bit test guest for COLO under KVM.
 *
 * It counts, dirties dirty_pages (DIRTY_PAGES, or pages=N on the command
 * line, at most DIRTY_PAGES) pages of memory on every tick and prints a
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
 *
 * With an e1000 NIC (-device e1000,netdev=...,mac=...) the guest also runs
 * a small network stack (net.c, tcp.c, svc.c), polled between ticks and
 * while the pages are checked, and prints its configuration in lines that
 * start "colo-guest net " (never with "count="). The multiboot command line
 * (QEMU -append) configures it: ip=A.B.C.D mask=A.B.C.D gw=A.B.C.D|none
 * tsc_mhz=N rto=MS net=off, and pages=N the dirtying.
 */
#include "net.h"

#define COM2		0x2f8
#define DIRTY_BASE	0x00800000u	/* 8 MiB */
#define DIRTY_PAGES	1024u		/* 4 MiB */
#define PAGE_WORDS	1024u
#define TICK_CYCLES	(1ull << 24)	/* ~6 ms at 2.6 GHz */
#define PRINT_TICKS	16u		/* a line every ~100 ms */
#define NET_PRINT_LINES	64u		/* network status every 64 lines */
#define POLL_PAGES	64u		/* poll the NIC while checking pages */
#define MB_BOOT_MAGIC	0x2badb002u

static uint32_t dirty_pages = DIRTY_PAGES;
uint32_t guest_nonce;
volatile uint32_t guest_tick;
uint64_t guest_boot_tsc;

/* the first words of the multiboot information */
struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
};

#define putc_serial	con_putc
#define puts_serial	con_puts
#define put_dec		con_dec
#define put_hex		con_hex

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

	for (p = 0; p < dirty_pages; p++) {
		volatile uint32_t *w = dirty + p * PAGE_WORDS;

		/* two words per page: start and end, both must agree */
		if (bad == DIRTY_PAGES &&
		    (w[0] != want || w[PAGE_WORDS - 1] != want))
			bad = p;
		w[0] = next;
		w[PAGE_WORDS - 1] = next;
		if (p % POLL_PAGES == POLL_PAGES - 1)
			net_poll();
	}
	return bad;
}

void guest_main(uint32_t magic, const struct mb_info *mbi);

void guest_main(uint32_t magic, const struct mb_info *mbi)
{
	uint32_t nonce, tick = 0, p;
	uint64_t next;

	if (magic == MB_BOOT_MAGIC && (mbi->flags & 0x4) && mbi->cmdline)
		cmdline_set((const char *)(uintptr_t)mbi->cmdline);
	con_init();
	guest_boot_tsc = rdtsc();
	nonce = (uint32_t)rdtsc() ^ (uint32_t)(rdtsc() >> 7) ^ 0x5a5a0000u;
	guest_nonce = nonce;
	if (cmdline_get("pages") && parse_dec(cmdline_get("pages")) < DIRTY_PAGES)
		dirty_pages = parse_dec(cmdline_get("pages"));
	for (p = 0; p < dirty_pages; p++) {
		dirty[p * PAGE_WORDS] = 0;
		dirty[p * PAGE_WORDS + PAGE_WORDS - 1] = 0;
	}
	puts_serial("colo-guest start nonce=");
	put_hex(nonce);
	puts_serial("\n");
	tsc_calibrate();
	net_init();

	next = rdtsc() + TICK_CYCLES;
	for (;;) {
		uint32_t bad;

		while (rdtsc() < next) {
			net_poll();
			__asm__ volatile("pause");
		}
		next += TICK_CYCLES;
		/* after a long stop (checkpoint, migration) do not burst */
		if (rdtsc() > next + 8 * TICK_CYCLES)
			next = rdtsc() + TICK_CYCLES;

		poll_com2();
		bad = check_and_write(tick, tick + 1);
		tick++;
		guest_tick = tick;
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
			for (p = 0; p < dirty_pages; p++) {
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
			if (tick % (PRINT_TICKS * NET_PRINT_LINES) == 0)
				net_print_status();
		}
	}
}

// SPDX-License-Identifier: GPL-2.0
/*
 * lib.c - what a freestanding guest needs from a libc: mem* (gcc may emit
 * calls to them), a polled COM1 console, a string builder for replies, TSC
 * calibration against the PIT and the multiboot command line.
 */
#include "net.h"

#define COM1		0x3f8

/* string instructions: one instruction for an emulated CPU to decode */
void *memcpy(void *d, const void *s, size_t n)
{
	void *dp = d;
	size_t w = n >> 2, b = n & 3;

	__asm__ volatile("rep movsl" : "+D"(dp), "+S"(s), "+c"(w) : : "memory");
	__asm__ volatile("rep movsb" : "+D"(dp), "+S"(s), "+c"(b) : : "memory");
	return d;
}

void *memset(void *d, int c, size_t n)
{
	void *dp = d;

	__asm__ volatile("rep stosb" : "+D"(dp), "+c"(n) : "a"(c) : "memory");
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

void con_init(void)
{
	outb(COM1 + 1, 0x00);	/* no interrupts */
	outb(COM1 + 3, 0x80);	/* DLAB */
	outb(COM1 + 0, 0x01);	/* 115200 */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);	/* 8n1 */
	outb(COM1 + 2, 0xc7);	/* FIFO */
}

void con_putc(char c)
{
	int spin = 100000;

	while (!(inb(COM1 + 5) & 0x20) && --spin)
		;
	outb(COM1, (uint8_t)c);
}

void con_puts(const char *s)
{
	while (*s)
		con_putc(*s++);
}

void con_dec(uint32_t v)
{
	char buf[11];
	int i = 10;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	con_puts(&buf[i]);
}

static const char hex_digits[] = "0123456789abcdef";

void con_hex(uint32_t v)
{
	int i;

	for (i = 28; i >= 0; i -= 4)
		con_putc(hex_digits[(v >> i) & 0xf]);
}

void con_ip(uint32_t ip)
{
	int i;

	for (i = 24; i >= 0; i -= 8) {
		con_dec((ip >> i) & 0xff);
		if (i)
			con_putc('.');
	}
}

void con_mac(const uint8_t *mac)
{
	int i;

	for (i = 0; i < 6; i++) {
		con_putc(hex_digits[mac[i] >> 4]);
		con_putc(hex_digits[mac[i] & 0xf]);
		if (i < 5)
			con_putc(':');
	}
}

static void sb_putc(struct sbuf *b, char c)
{
	if (b->len < b->cap)
		b->p[b->len++] = c;
}

void sb_str(struct sbuf *b, const char *s)
{
	while (*s)
		sb_putc(b, *s++);
}

void sb_dec(struct sbuf *b, uint32_t v)
{
	char buf[11];
	int i = 10;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sb_str(b, &buf[i]);
}

void sb_hex(struct sbuf *b, uint64_t v, int digits)
{
	while (digits--)
		sb_putc(b, hex_digits[(v >> (digits * 4)) & 0xf]);
}

/*
 * TSC frequency from PIT channel 2 in mode 0 (one shot, OUT2 readable in
 * port 0x61 bit 5), over 10 ms. Without a PIT: assume 2 GHz.
 */
uint64_t tsc_hz = 2000000000ull;

static uint64_t tsc_pit_10ms(void)
{
	const uint16_t count = 11932;	/* 10 ms at 1.193182 MHz */
	uint64_t t0, t1;
	uint32_t spin = 0;

	outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
	outb(0x43, 0xb0);
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	t0 = rdtsc();
	while (!(inb(0x61) & 0x20))
		if (++spin > 1000000)
			return 0;
	t1 = rdtsc();
	return t1 - t0;
}

/*
 * The shortest of three: a vCPU that was not running while the PIT
 * counted only makes an interval longer. tsc_mhz=N on the command line
 * (the host's TSC rate) skips the measurement.
 */
void tsc_calibrate(void)
{
	const char *arg = cmdline_get("tsc_mhz");
	uint64_t best = 0, d;
	int i;

	if (arg && parse_dec(arg)) {
		tsc_hz = (uint64_t)parse_dec(arg) * 1000000;
		return;
	}
	for (i = 0; i < 3; i++) {
		d = tsc_pit_10ms();
		if (d && (!best || d < best))
			best = d;
	}
	if (best > 1000000)	/* 100 MHz at least: believable */
		tsc_hz = best * 100;
}

static char cmdline[256];

void cmdline_set(const char *s)
{
	unsigned i;

	for (i = 0; s && s[i] && i < sizeof(cmdline) - 1; i++)
		cmdline[i] = s[i];
	cmdline[i] = '\0';
}

/*
 * Value of key=value in the command line (up to the next blank, a pointer
 * into the line), "" for the bare word key, 0 when absent. The first word
 * is the kernel's file name (QEMU's multiboot loader puts it there).
 */
const char *cmdline_get(const char *key)
{
	const char *p = cmdline;
	unsigned n = 0;

	while (key[n])
		n++;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!memcmp(p, key, n) && (p[n] == '=' || p[n] == ' ' ||
					   p[n] == '\0'))
			return p[n] == '=' ? p + n + 1 : "";
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}

uint32_t parse_dec(const char *s)
{
	uint32_t v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint32_t)(*s++ - '0');
	return v;
}

int parse_ip(const char *s, uint32_t *ip)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		uint32_t b = 0;
		int digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 4) {
			b = b * 10 + (uint32_t)(*s++ - '0');
			digits++;
		}
		if (!digits || b > 255 || (i < 3 && *s++ != '.'))
			return -1;
		v = v << 8 | b;
	}
	*ip = v;
	return 0;
}

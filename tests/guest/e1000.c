// SPDX-License-Identifier: GPL-2.0
/*
 * e1000.c - polled driver for QEMU's e1000 (Intel 82540EM, 8086:100e).
 *
 * Legacy descriptors, one 2 KiB buffer per descriptor, no interrupts: the
 * receive ring is polled in memory (the DD bit), so an idle poll costs no VM
 * exit; a transmit is one register write (QEMU sends synchronously in it).
 * A frame may take a second descriptor pointing at data where it lies (the
 * stream pattern): no copy.
 * The MAC is the one QEMU was given (-device e1000,mac=...), read back from
 * the receive address registers QEMU fills at reset.
 */
#include "net.h"

#define E1000_VENDOR	0x8086
#define E1000_DEVICE	0x100e

#define REG_CTRL	0x0000
#define REG_STATUS	0x0008
#define REG_IMC		0x00d8
#define REG_RCTL	0x0100
#define REG_TCTL	0x0400
#define REG_TIPG	0x0410
#define REG_RDBAL	0x2800
#define REG_RDBAH	0x2804
#define REG_RDLEN	0x2808
#define REG_RDH		0x2810
#define REG_RDT		0x2818
#define REG_TDBAL	0x3800
#define REG_TDBAH	0x3804
#define REG_TDLEN	0x3808
#define REG_TDH		0x3810
#define REG_TDT		0x3818
#define REG_MTA		0x5200
#define REG_RAL		0x5400
#define REG_RAH		0x5404

#define CTRL_SLU	(1u << 6)
#define CTRL_ASDE	(1u << 5)
#define STATUS_LU	(1u << 1)
#define RCTL_EN		(1u << 1)
#define RCTL_UPE	(1u << 3)
#define RCTL_MPE	(1u << 4)
#define RCTL_BAM	(1u << 15)
#define RCTL_SECRC	(1u << 26)
#define TCTL_EN		(1u << 1)
#define TCTL_PSP	(1u << 3)
#define TX_CMD_EOP	0x01
#define TX_CMD_IFCS	0x02
#define TX_CMD_RS	0x08
#define DESC_DD		0x01
#define RX_EOP		0x02

#define RX_N		64
#define TX_N		32

struct rx_desc {
	uint64_t addr;
	uint16_t len;
	uint16_t csum;
	uint8_t status;
	uint8_t errors;
	uint16_t special;
};

struct tx_desc {
	uint64_t addr;
	uint16_t len;
	uint8_t cso;
	uint8_t cmd;
	uint8_t status;
	uint8_t css;
	uint16_t special;
};

const char nic_name[] = "e1000";

static volatile uint8_t *e1000_mmio;
static volatile struct rx_desc e1000_rx[RX_N] __attribute__((aligned(128)));
static volatile struct tx_desc e1000_tx[TX_N] __attribute__((aligned(128)));
static uint8_t e1000_rxbuf[RX_N][NIC_BUF] __attribute__((aligned(16)));
static uint8_t e1000_txbuf[TX_N][NIC_BUF] __attribute__((aligned(16)));
static unsigned e1000_rx_next, e1000_tx_next;

static inline uint32_t e1000_rd(uint32_t reg)
{
	return *(volatile uint32_t *)(e1000_mmio + reg);
}

static inline void e1000_wr(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(e1000_mmio + reg) = v;
}

int nic_init(uint8_t *mac)
{
	uint32_t bdf, bar, cmd, ral, rah;
	uint64_t until, next;
	unsigned i;

	if (pci_find(E1000_VENDOR, E1000_DEVICE, &bdf))
		return -1;
	bar = pci_read32(bdf, 0x10);
	if ((bar & ~0xfu) == 0) {
		/* firmware left it unassigned: take an address in the PCI hole */
		pci_write32(bdf, 0x10, 0xfebc0000u);
		bar = pci_read32(bdf, 0x10);
	}
	e1000_mmio = (volatile uint8_t *)(uintptr_t)(bar & ~0xfu);
	cmd = pci_read32(bdf, 0x04);
	pci_write32(bdf, 0x04, (cmd & 0xffff) | 0x0006);	/* memory, bus master */

	e1000_wr(REG_IMC, 0xffffffffu);
	e1000_wr(REG_CTRL, e1000_rd(REG_CTRL) | CTRL_SLU | CTRL_ASDE);

	ral = e1000_rd(REG_RAL);
	rah = e1000_rd(REG_RAH);
	for (i = 0; i < 4; i++)
		mac[i] = (uint8_t)(ral >> (8 * i));
	mac[4] = (uint8_t)rah;
	mac[5] = (uint8_t)(rah >> 8);
	e1000_wr(REG_RAH, rah | 0x80000000u);	/* address valid */
	for (i = 0; i < 128; i++)
		e1000_wr(REG_MTA + 4 * i, 0);

	for (i = 0; i < RX_N; i++) {
		e1000_rx[i].addr = (uintptr_t)e1000_rxbuf[i];
		e1000_rx[i].status = 0;
	}
	e1000_wr(REG_RDBAL, (uintptr_t)e1000_rx);
	e1000_wr(REG_RDBAH, 0);
	e1000_wr(REG_RDLEN, sizeof(e1000_rx));
	e1000_wr(REG_RDH, 0);
	e1000_wr(REG_RDT, RX_N - 1);
	e1000_rx_next = 0;
	/* multicast promiscuous: IPv6 neighbour discovery needs its groups */
	e1000_wr(REG_RCTL, RCTL_EN | RCTL_BAM | RCTL_MPE | RCTL_SECRC);

	for (i = 0; i < TX_N; i++) {
		e1000_tx[i].addr = 0;
		e1000_tx[i].status = DESC_DD;
		e1000_tx[i].cmd = 0;
	}
	e1000_wr(REG_TDBAL, (uintptr_t)e1000_tx);
	e1000_wr(REG_TDBAH, 0);
	e1000_wr(REG_TDLEN, sizeof(e1000_tx));
	e1000_wr(REG_TDH, 0);
	e1000_wr(REG_TDT, 0);
	e1000_tx_next = 0;
	e1000_wr(REG_TIPG, 10 | 8 << 10 | 6 << 20);
	e1000_wr(REG_TCTL, TCTL_EN | TCTL_PSP | 0x0f << 4 | 0x40 << 12);

	/*
	 * Link up (it is at once in QEMU, but a real 82540EM negotiates).
	 * Note: QEMU's model then holds what it receives for about a second
	 * after the RCTL write above (its flush_queue_timer), so nothing
	 * arrives before that; transmitting works at once.
	 */
	until = rdtsc() + ms_to_tsc(3000);

	while (!(e1000_rd(REG_STATUS) & STATUS_LU) && rdtsc() < until) {
		next = rdtsc() + ms_to_tsc(5);
		while (rdtsc() < next)
			__asm__ volatile("pause");
	}
	return 0;
}

/*
 * A frame spread over several descriptors (not possible with 2 KiB
 * buffers and a 1500 MTU) or with errors is handed back unread.
 */
const uint8_t *nic_rx_peek(unsigned *len)
{
	volatile struct rx_desc *d = &e1000_rx[e1000_rx_next];

	while (d->status & DESC_DD) {
		__asm__ volatile("" ::: "memory");
		if ((d->status & RX_EOP) && !d->errors) {
			*len = d->len;
			return e1000_rxbuf[e1000_rx_next];
		}
		net_stats.rx_drop++;
		nic_rx_done();
		d = &e1000_rx[e1000_rx_next];
	}
	return 0;
}

void nic_rx_done(void)
{
	unsigned i = e1000_rx_next;

	e1000_rx[i].status = 0;
	e1000_rx_next = (i + 1) % RX_N;
	/* RDT: the last descriptor the device may fill */
	e1000_wr(REG_RDT, i);
}

uint8_t *nic_tx_buf(void)
{
	volatile struct tx_desc *d = &e1000_tx[e1000_tx_next];
	uint32_t spin = 0;

	/* QEMU transmits in the TDT write; a real ring would wait here */
	while (!(d->status & DESC_DD) && ++spin < 10000000)
		__asm__ volatile("pause");
	return e1000_txbuf[e1000_tx_next];
}

static void e1000_desc(const void *p, unsigned len, uint8_t cmd)
{
	volatile struct tx_desc *d = &e1000_tx[e1000_tx_next];

	d->addr = (uintptr_t)p;
	d->len = (uint16_t)len;
	d->cmd = cmd | TX_CMD_IFCS | TX_CMD_RS;
	d->status = 0;
	d->cso = 0;
	d->css = 0;
	d->special = 0;
	e1000_tx_next = (e1000_tx_next + 1) % TX_N;
}

void nic_tx(unsigned len)
{
	uint8_t *buf = e1000_txbuf[e1000_tx_next];

	if (len < 60) {		/* pad to the Ethernet minimum */
		memset(buf + len, 0, 60 - len);
		len = 60;
	}
	e1000_desc(buf, len, TX_CMD_EOP);
	__asm__ volatile("" ::: "memory");
	e1000_wr(REG_TDT, e1000_tx_next);
	net_stats.tx++;
}

/* Two descriptors, one frame: the QEMU model gathers until EOP. */
void nic_tx2(unsigned len, const void *p, unsigned n)
{
	e1000_desc(e1000_txbuf[e1000_tx_next], len, 0);
	nic_tx_buf();		/* the second slot must be free too */
	e1000_desc(p, n, TX_CMD_EOP);
	__asm__ volatile("" ::: "memory");
	e1000_wr(REG_TDT, e1000_tx_next);
	net_stats.tx++;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * pci.c - PCI configuration space through mechanism #1 (ports 0xCF8/0xCFC),
 * bus 0 only: QEMU's pc machine puts its NICs there.
 */
#include "net.h"

#define PCI_ADDR	0xcf8
#define PCI_DATA	0xcfc

uint32_t pci_read32(uint32_t bdf, uint8_t off)
{
	outl(PCI_ADDR, 0x80000000u | bdf << 8 | (off & 0xfc));
	return inl(PCI_DATA);
}

void pci_write32(uint32_t bdf, uint8_t off, uint32_t v)
{
	outl(PCI_ADDR, 0x80000000u | bdf << 8 | (off & 0xfc));
	outl(PCI_DATA, v);
}

/* bdf = bus << 8 | device << 3 | function; 0 when found */
int pci_find(uint16_t vendor, uint16_t device, uint32_t *bdf)
{
	uint32_t dev, fn;

	for (dev = 0; dev < 32; dev++) {
		for (fn = 0; fn < 8; fn++) {
			uint32_t b = dev << 3 | fn;
			uint32_t id = pci_read32(b, 0x00);

			if ((id & 0xffff) == 0xffff) {
				if (!fn)
					break;	/* no device: skip its functions */
				continue;
			}
			if (id == ((uint32_t)device << 16 | vendor)) {
				*bdf = b;
				return 0;
			}
			/* header type bit 7: multi-function */
			if (!fn && !(pci_read32(b, 0x0c) & 0x00800000u))
				break;
		}
	}
	return -1;
}

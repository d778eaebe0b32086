// SPDX-License-Identifier: GPL-2.0
/* net6.c - IPv6: not yet. */
#include "net.h"

void net6_init(void)
{
}

void net6_rx(const uint8_t *f, unsigned len)
{
	(void)f;
	(void)len;
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * colo_compat.h - the one place that maps kernel API differences between the
 * kernels we build for, driven by COLO_HAVE_* macros that Kbuild probes from
 * the headers we build against (never from the version number). Force-included
 * into every kernel object. Tested kernels: Debian 12's 6.1 and 6.12 (README).
 */
#ifndef _COLO_COMPAT_H
#define _COLO_COMPAT_H

#include <linux/version.h>

/* The oldest kernel this is built and tested on (Debian 12's stock 6.1). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "colo-proxy needs Linux 6.1 or newer"
#endif

/*
 * get_unaligned_be32() and friends: <asm/unaligned.h> up to 6.11,
 * <linux/unaligned.h> from 6.12 on. Code includes neither and gets them here.
 */
#ifdef COLO_HAVE_LINUX_UNALIGNED_H
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

#endif /* _COLO_COMPAT_H */

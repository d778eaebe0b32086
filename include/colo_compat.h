/* SPDX-License-Identifier: GPL-2.0 */
/*
 * colo_compat.h - the one place that maps older kernel APIs onto the newest
 * upstream names, driven by COLO_HAVE_* macros that Kbuild probes from the
 * headers we build against. Force-included into every kernel object.
 */
#ifndef _COLO_COMPAT_H
#define _COLO_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 10, 0)
#error "colo-proxy needs Linux 5.10 or newer"
#endif

#if !defined(COLO_HAVE_TIMER_CONTAINER_OF)
#define timer_container_of(var, timer, field) from_timer(var, timer, field)
#endif

#endif /* _COLO_COMPAT_H */

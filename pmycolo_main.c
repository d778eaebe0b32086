// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kbuild cannot link an object named like its module into that module, so the
 * target's source, xt_PMYCOLO.c, is compiled as this object of xt_PMYCOLO.ko.
 */
#include "xt_PMYCOLO.c"

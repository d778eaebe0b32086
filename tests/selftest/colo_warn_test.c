// SPDX-License-Identifier: GPL-2.0
/*
 * colo_warn_test.c - provokes one kernel WARN at load time. Used only by the
 * test rig's self-test (tests/vm/rig-warn.sh) to prove that the kernel log scan
 * fails a run; never installed.
 */
#include <linux/module.h>
#include <linux/bug.h>

static int __init colo_warn_test_init(void)
{
	WARN(1, "colo_warn_test: provoked warning for the rig self-test\n");
	return 0;
}

static void __exit colo_warn_test_exit(void)
{
}

module_init(colo_warn_test_init);
module_exit(colo_warn_test_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("colo-proxy test rig self-test: provokes a WARN");

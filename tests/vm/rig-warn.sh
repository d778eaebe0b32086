#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Rig self-test: load a module that WARNs. The run must then be reported as
# failed by the kernel log scan (tests/qemu/run-vm --selftest checks that).
# tags: selftest
# timeout: 30
source "$COLO_SRC/tests/lib.sh"
insmod "$COLO_SRC/tests/selftest/colo_warn_test.ko" || exit 1
dmesg | grep -q 'provoked warning' || exit 1
exit 0

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Rig self-test: a test that hangs must be killed after its own timeout and be
# reported as failed, and the run must go on.
# tags: selftest
# timeout: 3
sleep 600

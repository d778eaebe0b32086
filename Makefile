# SPDX-License-Identifier: GPL-2.0
# colo-proxy: kernel modules (Kbuild), iptables plugins (libxt/), QEMU-side
# client (qemu-glue/). `make help` lists the targets.

KVER_RUNNING := $(shell uname -r)
# The running kernel's build dir, else the newest installed linux-headers.
KDIR ?= $(shell if [ -d /lib/modules/$(KVER_RUNNING)/build ]; then \
	echo /lib/modules/$(KVER_RUNNING)/build; else \
	ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n1; fi)
KVER = $(shell sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
DESTDIR ?=
PREFIX ?= /usr/local
INSTALL_MOD_DIR ?= updates
W ?= 1
T ?=

SRC := $(CURDIR)
MODULES := nf_conntrack_colo nfnetlink_colo xt_PMYCOLO xt_SECCOLO

.PHONY: all modules module-debug libxt qemu-glue deps deps-build install \
	clean check demo bench fuzz selftest-module guest print-kver help

all: modules libxt qemu-glue

help:
	@echo 'make [all]        build the modules (KDIR=$(KDIR)), libxt plugins, qemu-glue'
	@echo 'make modules      kernel modules only (W=1 by default)'
	@echo 'make module-debug modules with -DDEBUG (pr_debug, self-checks)'
	@echo 'make install      modules into /lib/modules/KVER/$(INSTALL_MOD_DIR) + depmod,'
	@echo '                  plugins into the xtables dir, programs, script, man pages'
	@echo 'make check [T=NAME...]  every test (unit, host, VM); T= runs only those named'
	@echo 'make demo         a primary/secondary COLO topology in a VM, with a client'
	@echo 'make bench        benchmarks (compare engine natively, proxy throughput in a VM)'
	@echo 'make fuzz [SECONDS=60]  libFuzzer run of the compare engine'
	@echo 'make clean'

deps-build:
	@$(SRC)/tests/install-deps.sh build

deps:
	@$(SRC)/tests/install-deps.sh all

modules: deps-build
	@test -n "$(KDIR)" -a -d "$(KDIR)" || { echo "no kernel build dir: apt-get install linux-headers-amd64 or set KDIR" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(SRC) W=$(W) modules

module-debug: deps-build
	$(MAKE) -C $(KDIR) M=$(SRC) W=$(W) DEBUG_CFLAGS=-DDEBUG modules

selftest-module: deps-build
	$(MAKE) -C $(KDIR) M=$(SRC)/tests/selftest W=$(W) modules

libxt: deps-build
	$(MAKE) -C libxt

qemu-glue: deps-build
	$(MAKE) -C qemu-glue

guest:
	@if [ -f tests/guest/Makefile ]; then $(MAKE) -C tests/guest; fi

print-kver:
	@echo $(KVER)

install: all
	$(MAKE) -C $(KDIR) M=$(SRC) INSTALL_MOD_DIR=$(INSTALL_MOD_DIR) \
		$(if $(DESTDIR),INSTALL_MOD_PATH=$(DESTDIR)) modules_install
	$(if $(DESTDIR),,depmod -a $(KVER))
	$(MAKE) -C libxt install DESTDIR=$(DESTDIR)
	$(MAKE) -C qemu-glue install DESTDIR=$(DESTDIR) PREFIX=$(PREFIX)
	install -D -m 0755 scripts/colo-proxy-script.sh $(DESTDIR)/etc/qemu/colo-proxy-script.sh
	install -D -m 0644 include/uapi/linux/colo_genl.h $(DESTDIR)$(PREFIX)/include/linux/colo_genl.h

clean:
	-$(MAKE) -C $(KDIR) M=$(SRC) clean
	-$(MAKE) -C $(KDIR) M=$(SRC)/tests/selftest clean
	-$(MAKE) -C libxt clean
	-$(MAKE) -C qemu-glue clean
	-for d in tests/unit/* tests/fuzz tests/bench tests/guest; do \
		[ -f $$d/Makefile ] && $(MAKE) -C $$d clean; done; true
	rm -rf tests/out

# One command runs every test; T=NAME runs only the named ones.
check: deps
	@$(SRC)/tests/run-all $(T)

demo: deps
	@mkdir -p tests/out; $(SRC)/tests/demo/run-demo

bench: deps
	@$(SRC)/tests/run-bench

fuzz: deps
	$(MAKE) -C tests/fuzz run SECONDS=$(or $(SECONDS),60)

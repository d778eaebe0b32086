# SPDX-License-Identifier: GPL-2.0
# colo-proxy: kernel modules (Kbuild), iptables plugins (libxt/), QEMU-side
# client (qemu-glue/). `make help` lists the targets.

KVER_RUNNING := $(shell uname -r)
# The running kernel's build dir, else the headers of the distribution's
# default kernel (what Debian's linux-headers-amd64 depends on: 6.1 on
# Debian 12, even with the 6.12 headers installed), else the newest installed.
KDIR ?= $(shell if [ -d /lib/modules/$(KVER_RUNNING)/build ]; then \
	echo /lib/modules/$(KVER_RUNNING)/build; else \
	$(CURDIR)/scripts/colo-kernels kdir default 2>/dev/null; fi)
KVER = $(shell sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
# One version for the package, the DKMS module and the programs: debian/changelog.
VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' $(CURDIR)/debian/changelog 2>/dev/null)
DKMS_NAME := colo-proxy
DKMS_SRCDIR ?= /usr/src/$(DKMS_NAME)-$(VERSION)
# Extra dkms options (private trees for tests: --dkmstree D --sourcetree S --installtree I).
DKMS_FLAGS ?=
DEB_OUT ?= $(CURDIR)/dist
DESTDIR ?=
PREFIX ?= /usr/local
INSTALL_MOD_DIR ?= updates
W ?= 1
T ?=

SRC := $(CURDIR)
MODULES := nf_conntrack_colo nfnetlink_colo xt_PMYCOLO xt_SECCOLO

.PHONY: all modules module-debug libxt qemu-glue deps deps-build install \
	clean check demo bench fuzz selftest-module guest print-kver help \
	dkms-src dkms-install dkms-uninstall deb print-version

all: modules libxt qemu-glue

help:
	@echo 'make [all]        build the modules (KDIR=$(KDIR)), libxt plugins, qemu-glue'
	@echo 'make modules      kernel modules only (W=1 by default)'
	@echo 'make module-debug modules with -DDEBUG (pr_debug, self-checks)'
	@echo 'make install      modules into /lib/modules/KVER/$(INSTALL_MOD_DIR) + depmod,'
	@echo '                  plugins into the xtables dir, programs, script, man pages'
	@echo 'make dkms-install [KVER=...]  module sources into $(DKMS_SRCDIR), dkms add/build/install'
	@echo 'make dkms-uninstall  dkms remove $(DKMS_NAME)/$(VERSION) from every kernel'
	@echo 'make deb          colo-proxy-dkms and colo-proxy-tools .debs (dpkg-buildpackage) + lintian, in $(DEB_OUT)'
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

print-version:
	@echo $(VERSION)

# The DKMS source tree: what Kbuild needs and dkms.conf, nothing else.
# (Every top-level .c/.h: the modules may be split into more files.)
dkms-src:
	@test -n "$(VERSION)" || { echo "no version: debian/changelog missing" >&2; exit 1; }
	install -d $(DESTDIR)$(DKMS_SRCDIR)
	cp -R --preserve=mode Kbuild $(filter-out %.mod.c,$(wildcard *.c)) $(wildcard *.h) include lib $(DESTDIR)$(DKMS_SRCDIR)/
	sed 's/#MODULE_VERSION#/$(VERSION)/' dkms.conf > $(DESTDIR)$(DKMS_SRCDIR)/dkms.conf
	chmod -R u=rwX,go=rX $(DESTDIR)$(DKMS_SRCDIR)

# Register the sources with dkms and build + install for KVER (default: the
# release of KDIR); dkms then rebuilds them for every kernel installed later.
dkms-install: dkms-src
	@command -v dkms >/dev/null || { echo "dkms missing: apt-get install dkms" >&2; exit 1; }
	@test -n "$(KVER)" || { echo "no kernel release: set KVER= or KDIR=" >&2; exit 1; }
	if dkms status $(DKMS_FLAGS) -m $(DKMS_NAME) -v $(VERSION) | grep -q .; then \
		dkms remove $(DKMS_FLAGS) -m $(DKMS_NAME) -v $(VERSION) --all; fi
	dkms add $(DKMS_FLAGS) -m $(DKMS_NAME) -v $(VERSION)
	dkms build $(DKMS_FLAGS) -m $(DKMS_NAME) -v $(VERSION) -k $(KVER)
	dkms install $(DKMS_FLAGS) -m $(DKMS_NAME) -v $(VERSION) -k $(KVER)

dkms-uninstall:
	dkms remove $(DKMS_FLAGS) -m $(DKMS_NAME) -v $(VERSION) --all

# Debian packages, built from a copy of the tree (dpkg-buildpackage writes
# into the parent directory and cleans the tree it runs in).
deb:
	@$(SRC)/tests/install-deps.sh deb
	rm -rf $(DEB_OUT)
	mkdir -p $(DEB_OUT)/$(DKMS_NAME)-$(VERSION)
	if git -C $(SRC) rev-parse --git-dir >/dev/null 2>&1; then \
		git -C $(SRC) ls-files -z --cached --others --exclude-standard | \
		tar -C $(SRC) --null --ignore-failed-read -cf - -T - ; \
	else tar -C $(SRC) --exclude=./dist --exclude=./tests/out -cf - . ; fi | \
		tar -C $(DEB_OUT)/$(DKMS_NAME)-$(VERSION) -xf -
	cd $(DEB_OUT)/$(DKMS_NAME)-$(VERSION) && dpkg-buildpackage -us -uc -b
	lintian --fail-on error $(DEB_OUT)/$(DKMS_NAME)_$(VERSION)_*.changes
	@ls -1 $(DEB_OUT)/*.deb

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
	rm -rf tests/out dist

# One command runs every test; T=NAME runs only the named ones.
# KERNELS="default 6.12" chooses the kernel series (default: both for a full
# run, the default kernel with T=).
check: deps
	@$(if $(KERNELS),COLO_KERNELS="$(KERNELS)") $(SRC)/tests/run-all $(T)

demo: deps
	@mkdir -p tests/out; $(SRC)/tests/demo/run-demo

bench: deps
	@$(SRC)/tests/run-bench

fuzz: deps
	$(MAKE) -C tests/fuzz run SECONDS=$(or $(SECONDS),60)

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# install-deps.sh build|deb|all: install the Debian packages colo-proxy needs
# when they are missing (apt-get; Debian's archive only).
#   build  compile the modules (default kernel's headers) and userspace
#   deb    build the .debs (dpkg-buildpackage) and check them (lintian)
#   all    everything make check needs: the above, both kernel series the VM
#          tests boot (Debian 12's default 6.1 and 6.12, images and headers),
#          dkms, QEMU and the test tools
set -eu -o pipefail

build_pkgs=(make gcc libc6-dev pkg-config linux-headers-amd64 libmnl-dev libxtables-dev libjansson-dev)
deb_pkgs=(build-essential dpkg-dev debhelper dh-dkms dkms fakeroot lintian pkg-config libmnl-dev libxtables-dev libjansson-dev)
test_pkgs=(linux-image-amd64 linux-image-6.12-amd64 linux-headers-6.12-amd64 qemu-system-x86 qemu-utils busybox-static iptables nftables kmod
	iproute2 cpio iperf3 conntrack socat python3 gcc-multilib clang libclang-rt-14-dev
	file procps util-linux libcap2-bin tcpdump iputils-ping xz-utils systemd)

case ${1:-all} in
build) want=("${build_pkgs[@]}") ;;
deb) want=("${deb_pkgs[@]}") ;;
all) want=("${build_pkgs[@]}" "${deb_pkgs[@]}" "${test_pkgs[@]}") ;;
*) echo "usage: $0 build|deb|all" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "colo-proxy needs these Debian packages: ${missing[*]}" >&2
	echo "run as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "# installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

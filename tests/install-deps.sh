#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# install-deps.sh build|all: install the Debian packages colo-proxy needs when
# they are missing (apt-get; Debian's archive only).
set -eu -o pipefail

build_pkgs=(make gcc libc6-dev pkg-config linux-headers-amd64 libmnl-dev libxtables-dev)
test_pkgs=(linux-image-amd64 qemu-system-x86 qemu-utils busybox-static iptables nftables kmod
	iproute2 cpio iperf3 conntrack socat python3 gcc-multilib clang libclang-rt-14-dev
	file procps util-linux libcap2-bin tcpdump iputils-ping)

case ${1:-all} in
build) want=("${build_pkgs[@]}") ;;
all) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
*) echo "usage: $0 build|all" >&2; exit 2 ;;
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

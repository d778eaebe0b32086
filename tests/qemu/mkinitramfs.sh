#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# mkinitramfs.sh KVER OUTFILE: a tiny initramfs that mounts the host's root file
# system read-only over virtio-9p and switches to it (tests/qemu/guest-init).
# Contents: busybox-static, the stock modules 9p needs (resolved from
# modules.dep with modprobe --show-depends) and tests/qemu/initramfs-init.
set -eu -o pipefail

kver=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
moddir=/lib/modules/$kver

[ -d "$moddir" ] || { echo "mkinitramfs: $moddir missing (install linux-image-$kver)" >&2; exit 1; }
busybox=$(command -v busybox) || { echo "mkinitramfs: busybox missing (apt-get install busybox-static)" >&2; exit 1; }
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || [ -x /bin/busybox ] || true

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,dev,proc,sys,newroot,lib/mod}
cp "$busybox" "$work/bin/busybox"
ln -s busybox "$work/bin/sh"

# Modules for virtio-pci + 9p, in load order, each once.
: > "$work/lib/mod/order"
for m in virtio_pci 9pnet_virtio 9p; do
	modprobe -S "$kver" --show-depends "$m"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r ko; do
	cp "$ko" "$work/lib/mod/"
	basename "$ko" >> "$work/lib/mod/order"
done

install -m 0755 "$here/initramfs-init" "$work/init"

(cd "$work" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"

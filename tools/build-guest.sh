#!/bin/bash
# Build the shadowvisor test guest from Debian packages:
#   build/guest/bzImage            the current Debian 12 linux-image-amd64 kernel
#   build/guest/initramfs.cpio.gz  busybox-static, storage + dm-crypt modules,
#                                  the guest/ test programs and scripts
# Re-running is fast: the kernel .deb is cached in ~/.cache/shadowvisor and the
# outputs are rebuilt only when an input (this script, guest/, the kernel
# package, busybox) changed.
#
# usage: tools/build-guest.sh [OUTDIR]        (default: build/guest)
# env:   SV_GUEST_KERNEL_DEB=FILE  use this linux-image .deb instead of apt
#        SV_CACHE=DIR              download cache (default ~/.cache/shadowvisor)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/build/guest}
CACHE=${SV_CACHE:-${HOME:-/root}/.cache/shadowvisor}
# Modules the guest needs; their dependencies come from the package's
# modules.dep (via modprobe --show-depends). aesni-intel is optional: it loads
# only where the CPU model has AES-NI, otherwise dm-crypt uses the built-in
# generic AES. ext4 also mounts ext2 (the fs system test).
MODULES=(ata_piix ahci nvme sd_mod dm-mod dm-crypt xts ecb aesni-intel ext4)
GUEST_PROGRAMS=(sv-cpuid sv-diskio sv-devmem sv-dmcrypt sv-simd sv-idehostile sv-sleepreq sv-facsmove)

log() { echo "build-guest: $*" >&2; }
die() { echo "build-guest: error: $*" >&2; exit 1; }

# --- tools --------------------------------------------------------------------
need=()
for pair in busybox:busybox-static cpio:cpio depmod:kmod xz:xz-utils zstd:zstd \
            gcc:gcc gzip:gzip dpkg-deb:dpkg; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -e /bin/busybox ] && busybox --help 2>&1 | head -1 | grep -q static \
    || dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
[ -e /usr/include/linux/dm-ioctl.h ] || need+=(linux-libc-dev)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    [ "$(id -u)" = 0 ] || die "missing packages ${need[*]} and not root"
    apt-get install -y --no-install-recommends "${need[@]}" >/dev/null \
        || { apt-get update -qq && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi
BUSYBOX=$(command -v busybox)
[ -e /bin/busybox ] && BUSYBOX=/bin/busybox
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
file_is_static "$BUSYBOX" || die "$BUSYBOX is not statically linked (install busybox-static)"

# --- kernel package -----------------------------------------------------------
mkdir -p "$CACHE" "$OUT"
if [ -n "${SV_GUEST_KERNEL_DEB:-}" ]; then
    DEB=$SV_GUEST_KERNEL_DEB
else
    # The package linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64.
    kpkg_of() { apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' | head -1; }
    KPKG=$(kpkg_of)
    if [ -z "$KPKG" ]; then
        log "apt lists empty: apt-get update"
        apt-get update -qq >/dev/null 2>&1 || true
        KPKG=$(kpkg_of)
    fi
    if [ -n "$KPKG" ]; then
        KVERS=$(apt-cache policy "$KPKG" | sed -n 's/^ *Candidate: //p')
        DEB=$(ls "$CACHE/${KPKG}_${KVERS//:/%3a}_amd64.deb" 2>/dev/null || true)
        if [ -z "$DEB" ]; then
            log "downloading $KPKG $KVERS"
            (cd "$CACHE" && apt-get download -o APT::Sandbox::User=root "$KPKG=$KVERS" >/dev/null) \
                || die "apt-get download $KPKG failed"
            DEB=$(ls "$CACHE/${KPKG}_"*"_amd64.deb" | sort -V | tail -1)
        fi
    else
        # Offline: fall back to the newest cached package.
        DEB=$(ls "$CACHE"/linux-image-6.1.*-amd64_*_amd64.deb 2>/dev/null | sort -V | tail -1 || true)
        [ -n "$DEB" ] || die "cannot find linux-image-amd64 (no apt lists, no cached .deb)"
        log "apt unavailable, using cached $DEB"
    fi
fi
[ -f "$DEB" ] || die "kernel package $DEB missing"

# --- cache check --------------------------------------------------------------
STAMP=$( { echo "$(basename "$DEB") $(stat -c %s "$DEB")"; sha256sum "${BASH_SOURCE[0]}";
           (cd "$ROOT/guest" && find . -type f | LC_ALL=C sort | xargs sha256sum);
           sha256sum "$BUSYBOX"; gcc --version | head -1; } | sha256sum | cut -d' ' -f1)
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] \
   && [ -f "$OUT/bzImage" ] && [ -f "$OUT/initramfs.cpio.gz" ]; then
    log "up to date ($OUT)"
    exit 0
fi
rm -f "$OUT/stamp"

# --- extract kernel + modules -------------------------------------------------
WORK=$OUT/work
rm -rf "$WORK"
mkdir -p "$WORK/pkg" "$WORK/root"
log "extracting $(basename "$DEB")"
dpkg-deb -x "$DEB" "$WORK/pkg"
KVER=$(ls "$WORK/pkg/lib/modules" | head -1)
[ -n "$KVER" ] || die "no /lib/modules in $DEB"
cp "$WORK/pkg/boot/vmlinuz-$KVER" "$OUT/bzImage.tmp"
# The .deb ships no modules.dep (postinst runs depmod): generate it.
depmod -b "$WORK/pkg" "$KVER"

# --- initramfs tree -----------------------------------------------------------
R=$WORK/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,lib/modules,tests,keys}
cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ -e "$R/bin/$applet" ] || ln -s busybox "$R/bin/$applet"
done
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3

# Modules in load order, decompressed (busybox insmod may not handle .xz/.zst).
: > "$R/lib/modules/order"
declare -A seen=()
for m in "${MODULES[@]}"; do
    deps=$(modprobe -d "$WORK/pkg" -S "$KVER" --show-depends "$m" 2>/dev/null) \
        || die "module $m not found in $KVER"
    while read -r kind path _; do
        [ "$kind" = insmod ] || continue
        rel=${path#"$WORK/pkg/lib/modules/$KVER/"}
        base=$(basename "$rel"); base=${base%.xz}; base=${base%.zst}
        [ -n "${seen[$base]:-}" ] && continue
        seen[$base]=1
        case "$path" in
            *.ko.xz)  xz -dc "$path" > "$R/lib/modules/$base" ;;
            *.ko.zst) zstd -qdc "$path" > "$R/lib/modules/$base" ;;
            *.ko)     cp "$path" "$R/lib/modules/$base" ;;
            *) die "unexpected module file $path" ;;
        esac
        echo "$base" >> "$R/lib/modules/order"
    done <<< "$deps"
done
log "modules: $(tr '\n' ' ' < "$R/lib/modules/order")"

# Guest programs, static.
for p in "${GUEST_PROGRAMS[@]}"; do
    gcc -static -O2 -Wall -Wextra -Werror -o "$R/bin/$p" "$ROOT/guest/$p.c"
done
install -m 755 "$ROOT/guest/init" "$R/init"
install -m 755 "$ROOT/guest/sv-diskdriver" "$R/bin/sv-diskdriver"
install -m 644 "$ROOT/guest/sv-lib.sh" "$R/lib/sv-lib.sh"
cp -r "$ROOT/guest/tests/." "$R/tests/"
chmod 755 "$R"/tests/*
echo "$KVER" > "$R/etc/kernel-version"

log "packing initramfs"
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -6n) > "$OUT/initramfs.cpio.gz.tmp"
mv "$OUT/bzImage.tmp" "$OUT/bzImage"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
echo "$KVER" > "$OUT/kernel-version"
rm -rf "$WORK"
echo "$STAMP" > "$OUT/stamp"
log "done: $OUT/bzImage ($KVER), $OUT/initramfs.cpio.gz ($(du -k "$OUT/initramfs.cpio.gz" | cut -f1) KiB)"

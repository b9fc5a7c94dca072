#!/bin/bash
# Install the Debian 12 packages shadowvisor needs to build, test and run.
#   tools/install-deps.sh                  apt-get update + install everything
#   tools/install-deps.sh --check-or-install   install only if something is missing
set -euo pipefail

PACKAGES=(cmake ninja-build g++ gcc libgtest-dev libssl-dev pkg-config
          qemu-system-x86 busybox-static cpio cryptsetup-bin e2fsprogs kmod
          zstd xz-utils gzip python3 libc6-dev linux-libc-dev binutils
          dpkg-dev ca-certificates grub-pc-bin grub-common xorriso mtools
          gcovr bochs bochs-term bochsbios vgabios)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${1:-}" = --check-or-install ] && [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    [ ${#missing[@]} -eq 0 ] && exit 0
    echo "install-deps: missing packages (run as root): ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ "${1:-}" != --check-or-install ] || [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]:-(all present; refreshing)}" >&2
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi

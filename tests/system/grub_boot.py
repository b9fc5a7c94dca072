#!/usr/bin/env python3
"""System tests: the hypervisor booted by GRUB instead of QEMU's built-in
multiboot 1 loader. Each test builds a BIOS GRUB rescue ISO with
tools/build-grub-iso.sh (hypervisor, guest kernel, initramfs and key as
multiboot modules) and boots it with `./shadowvisor run --iso`.

  multiboot2      GRUB `multiboot2`/`module2`: banner says (multiboot 2), the
                  guest command line reaches the guest intact (module string
                  "bzImage <cmdline>"), cpuid results PASS, clean power-off.
  multiboot1      the same with GRUB's `multiboot`/`module` (multiboot 1).
  multiboot2-key  the key as a third `module2 ... key`: the guest writes the
                  sv-diskio pattern to an IDE disk; the image must hold no
                  plaintext and decrypt with OpenSSL (aes-xts-plain64, same
                  key) to the pattern; the key is wiped at power-off.

Usage: grub_boot.py TEST [--build-dir DIR]
Exit status: 0 pass, 1 fail.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pattern  # noqa: E402
import svtest  # noqa: E402
import xts  # noqa: E402

BUILD_ISO = os.path.join(svtest.ROOT, "tools", "build-grub-iso.sh")
CPUID_APPEND = "sv.test=cpuid sv.expect=hv"
KEY_SEED = 5
KEY_REGION = (1024 << 10, 256 << 10, "4K")  # offset, size, request size


def build_iso(h, name, guest_append, multiboot1=False, key=None):
    iso = os.path.join(h.work, name)
    cmd = [BUILD_ISO, iso, "--guest-append", guest_append,
           "--hypervisor", os.path.join(h.build, "shadowvisor.elf"),
           "--kernel", os.path.join(h.guest, "bzImage"),
           "--initrd", os.path.join(h.guest, "initramfs.cpio.gz")]
    if multiboot1:
        cmd.append("--multiboot1")
    if key:
        cmd += ["--key", key]
    print("svtest: %s" % " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    sys.stdout.write(r.stderr)
    if r.returncode != 0:
        raise svtest.Fail("build-grub-iso.sh failed (status %d)" % r.returncode)
    return iso


def boot_iso(h, iso, disks=(), timeout=400):
    """Like Harness.boot, through `./shadowvisor run --iso`."""
    cmd = [os.path.join(svtest.ROOT, "shadowvisor"), "run", "--iso", iso,
           "--memory", str(svtest.VM_MEMORY_MIB), "--timeout", str(timeout)]
    for kind, path in disks:
        cmd += ["--disk", "%s:%s" % (kind, path)]
    h.boots += 1
    logpath = os.path.join(h.work, "console-%d.log" % h.boots)
    print("svtest: boot %d (GRUB ISO): %s" % (h.boots, " ".join(cmd)), flush=True)
    start = time.monotonic()
    with open(logpath, "wb") as logf:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        logf.write(r.stdout)
    # GRUB's serial terminal leaves carriage returns and escape sequences
    # before the hypervisor's first line: drop them so lines match.
    text = r.stdout.decode("utf-8", "replace").replace("\r", "")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc", "", text)
    b = svtest.Boot(r.returncode, text, time.monotonic() - start)
    print("svtest: boot %d exit %d after %.1f s, log %s" % (h.boots, r.returncode, b.elapsed, logpath))
    for line in text.splitlines():
        if line.startswith(("SV-RESULT", "SV-INFO", "shadowvisor run:", "[sv]", "  Booting")):
            print("  " + line.strip())
    return b


def require_line(b, regex, what):
    m = re.search(regex, b.log, re.M)
    if not m:
        raise svtest.Fail("%s: no line matching %r" % (what, regex))
    return m


def check_grub_boot(b, version, guest_append):
    """The hypervisor ran from GRUB's loader of this multiboot version and
    handed the guest exactly the command line given to build-grub-iso.sh."""
    if not re.search(r"^\s*Booting `shadowvisor \(multiboot %d\)'" % version, b.log, re.M):
        raise svtest.Fail("GRUB did not boot the 'shadowvisor (multiboot %d)' entry" % version)
    require_line(b, r"^\[sv\] info\s+shadowvisor \S+ \(multiboot %d\)$" % version,
                 "hypervisor banner for multiboot %d" % version)
    want = "console=ttyS0 " + guest_append
    m = require_line(b, r"^\[sv\] info\s+guest command line: (.*)$", "hypervisor guest command line")
    if m.group(1).strip() != want:
        raise svtest.Fail("guest command line %r, expected %r (module string convention)"
                          % (m.group(1), want))
    m = require_line(b, r"^\[\s*[0-9.]+\] Command line: (.*)$", "guest kernel command line")
    if m.group(1).strip() != want:
        raise svtest.Fail("guest kernel saw command line %r, expected %r" % (m.group(1), want))


def cpuid_boot(h, version):
    iso = build_iso(h, "grub-mb%d.iso" % version, CPUID_APPEND, multiboot1=(version == 1))
    b = boot_iso(h, iso)
    h.require_clean(b)
    check_grub_boot(b, version, CPUID_APPEND)
    b.expect(["cpuid-signature", "cpuid-hv-bit", "cpuid-svm-hidden"])
    if b.results["cpuid-signature"][1].split()[:1] != ["ShadowVisor"]:
        raise svtest.Fail("cpuid-signature detail %r, expected ShadowVisor" % b.results["cpuid-signature"][1])
    print("svtest: GRUB multiboot %d boot: banner, command line, cpuid ok" % version)


def t_multiboot2(h):
    cpuid_boot(h, 2)


def t_multiboot1(h):
    cpuid_boot(h, 1)


def t_multiboot2_key(h):
    # Deterministic, distinct XTS halves (AES-256-XTS).
    key = bytes((i * 53 + 7) & 0xFF for i in range(64))
    key_path = os.path.join(h.work, "disk.key")
    with open(key_path, "wb") as f:
        f.write(key)
    off, size, req = KEY_REGION
    append = "sv.test=disks sv.disks=ata_piix:%d sv.regions=%dK:%dK:%s" % (KEY_SEED, off >> 10, size >> 10, req)
    iso = build_iso(h, "grub-mb2-key.iso", append, key=key_path)
    img = h.disk("disk-ide.img")
    b = boot_iso(h, iso, disks=[("ide", img)])
    h.require_clean(b)
    check_grub_boot(b, 2, append)
    require_line(b, r"^\[sv\] info\s+disk encryption: AES-256-XTS", "key module taken (AES-256-XTS)")
    if "disk key wiped" not in b.log:
        raise svtest.Fail("the hypervisor did not report wiping the key at power-off")
    b.expect(["disk-ata_piix-%s" % req])
    if pattern.check_image(img, KEY_SEED, off, size) is None:
        raise svtest.Fail("plaintext pattern found on the image")
    err = xts.check_encrypted_image(img, key, KEY_SEED, off, size)
    if err:
        raise svtest.Fail("image is not aes-xts-plain64 of the pattern: %s" % err)
    for zoff in (off - 65536, off + size):
        err = pattern.check_zero(img, zoff, 65536)
        if err:
            raise svtest.Fail("guard at %d: %s" % (zoff, err))
    print("svtest: host decrypted the image with OpenSSL (aes-xts-plain64): pattern ok")


TESTS = {"multiboot2": t_multiboot2, "multiboot1": t_multiboot1, "multiboot2-key": t_multiboot2_key}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("test", choices=sorted(TESTS))
    p.add_argument("--build-dir", default=os.path.join(svtest.ROOT, "build"))
    args = p.parse_args()
    h = svtest.Harness(argparse.Namespace(no_hypervisor=False, build_dir=args.build_dir,
                                          test="grub-" + args.test))
    missing = [t for t in ("grub-mkrescue", "xorriso", "mformat") if shutil.which(t) is None]
    if missing or not os.path.isdir("/usr/lib/grub/i386-pc"):
        print("svtest: FAIL %s: GRUB ISO tools missing (%s): run tools/install-deps.sh"
              % (args.test, ", ".join(missing) or "/usr/lib/grub/i386-pc"))
        return 1
    for f in ("guest/bzImage", "guest/initramfs.cpio.gz", "shadowvisor.elf"):
        if not os.path.isfile(os.path.join(h.build, f)):
            print("svtest: FAIL %s: %s/%s missing" % (args.test, h.build, f))
            return 1
    try:
        TESTS[args.test](h)
    except svtest.Fail as e:
        print("svtest: FAIL grub %s: %s" % (args.test, e))
        return 1
    print("svtest: PASS grub %s" % args.test)
    return 0


if __name__ == "__main__":
    sys.exit(main())

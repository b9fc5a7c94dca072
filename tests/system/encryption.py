#!/usr/bin/env python3
"""System tests of transparent IDE encryption (issue 4), through the user
interface `./shadowvisor run --key-file`:

  ide-roundtrip   write a pattern through the guest's ata_piix driver with
                  O_DIRECT (4 KiB and 1 MiB requests) under the hypervisor with
                  a key; the image must hold no plaintext and must decrypt with
                  OpenSSL (an independent aes-xts-plain64) to the pattern; a
                  second boot under the hypervisor reads the data back; a bare
                  boot (--no-hypervisor) opens the disk with the guest's own
                  dm-crypt (aes-xts-plain64, same key) and reads it back too.
  ide-aes128      the same round trip with a 32-byte key (AES-128-XTS).
  bad-keys        missing, short, equal-halves key files: refused, no guest.

Usage: encryption.py TEST --build-dir DIR
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pattern  # noqa: E402
import svtest  # noqa: E402
import xts  # noqa: E402

REGIONS = [(1 << 20, 256 << 10, "4K"), (8 << 20, 4 << 20, "1M")]  # offset, size, request
SEED = 31


def regions_arg():
    return ",".join("%dK:%dK:%s" % (o >> 10, s >> 10, r) for o, s, r in REGIONS)


def write_key(h, nbytes):
    # Deterministic but with distinct halves; a real deployment uses random keys.
    key = bytes((i * 37 + 11) & 0xFF for i in range(nbytes))
    path = os.path.join(h.work, "disk-%d.key" % nbytes)
    with open(path, "wb") as f:
        f.write(key)
    return key, path


def roundtrip(h, key_bytes):
    key, key_path = write_key(h, key_bytes)
    img = h.disk("disk-ide.img")
    names = ["disk-ata_piix-%s" % r for _, _, r in REGIONS]

    b = h.boot("sv.test=disks sv.disks=ata_piix:%d sv.regions=%s sv.diskmode=both"
               % (SEED, regions_arg()), disks=[("ide", img)], extra=["--key-file", key_path])
    h.require_clean(b)
    b.expect(names)
    if "disk key wiped" not in b.log:
        raise svtest.Fail("the hypervisor did not report wiping the key at power-off")

    for off, size, _ in REGIONS:
        if pattern.check_image(img, SEED, off, min(size, 64 << 10)) is None:
            raise svtest.Fail("plaintext pattern found on the image at %d" % off)
        err = xts.check_encrypted_image(img, key, SEED, off, size)
        if err:
            raise svtest.Fail("image region at %d is not aes-xts-plain64 of the pattern: %s" % (off, err))
    print("svtest: image holds only ciphertext; OpenSSL decrypts it to the pattern")

    b = h.boot("sv.test=disks sv.disks=ata_piix:%d sv.regions=%s sv.diskmode=verify"
               % (SEED, regions_arg()), disks=[("ide", img)], extra=["--key-file", key_path])
    h.require_clean(b)
    b.expect(names)
    print("svtest: a second boot under the hypervisor reads the data back")

    b = h.boot("sv.test=disks sv.disks=ata_piix:%d sv.regions=%s sv.diskmode=verify sv.dmkey=%s"
               % (SEED, regions_arg(), key.hex()), disks=[("ide", img)], hypervisor=False)
    h.require_clean(b)
    b.expect(names)
    print("svtest: the guest's own dm-crypt (no hypervisor) opens the disk and reads the data")


def t_ide_roundtrip(h):
    roundtrip(h, 64)


def t_ide_aes128(h):
    roundtrip(h, 32)


def t_bad_keys(h):
    img = h.disk("disk-ide.img", mib=8)
    cases = {"missing": None, "short": b"\x01" * 20, "long": b"\x02" * 65,
             "equal-halves": b"\x03" * 64}
    for name, data in cases.items():
        path = os.path.join(h.work, "bad-%s.key" % name)
        if os.path.exists(path):
            os.unlink(path)
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        cmd = [os.path.join(svtest.ROOT, "shadowvisor"), "run",
               "--kernel", os.path.join(h.guest, "bzImage"),
               "--initrd", os.path.join(h.guest, "initramfs.cpio.gz"),
               "--append", "sv.test=cpuid", "--disk", "ide:%s" % img,
               "--key-file", path, "--timeout", "60",
               "--hypervisor", os.path.join(h.build, "shadowvisor.elf")]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        out = r.stdout + r.stderr
        if r.returncode == 0 or "SV-TEST-BEGIN" in out or "Linux version" in out:
            raise svtest.Fail("key file '%s' was not refused (status %d)" % (name, r.returncode))
        if "key" not in out.lower():
            raise svtest.Fail("refusal of key file '%s' does not explain itself: %s" % (name, out.strip()))
        print("svtest: %s key refused: %s" % (name, out.strip().splitlines()[-1]))
        if data is not None:
            hypervisor_refuses(h, path, name)


def hypervisor_refuses(h, bad_key, name):
    """The hypervisor checks the key module itself (the CLI is only a first
    line): boot QEMU directly with the bad module and expect a refusal."""
    good_key, good_path = write_key(h, 64)
    dry = subprocess.run([os.path.join(svtest.ROOT, "shadowvisor"), "run", "--dry-run",
                          "--kernel", os.path.join(h.guest, "bzImage"),
                          "--initrd", os.path.join(h.guest, "initramfs.cpio.gz"),
                          "--append", "sv.test=cpuid", "--key-file", good_path,
                          "--hypervisor", os.path.join(h.build, "shadowvisor.elf")],
                         capture_output=True, text=True, check=True)
    import shlex
    cmd = [a.replace(good_path + " key", bad_key + " key") for a in shlex.split(dry.stdout.strip())]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise svtest.Fail("hypervisor with key '%s' neither refused nor stopped" % name)
    out = r.stdout + r.stderr
    if r.returncode != 33 or "Linux version" in out or "refusing to start the guest" not in out:
        raise svtest.Fail("hypervisor did not refuse key module '%s' (status %d)" % (name, r.returncode))
    line = next(l for l in out.splitlines() if "key" in l and "[sv] ERROR" in l)
    print("svtest: hypervisor refuses %s key module: %s" % (name, line.strip()))


TESTS = {"ide-roundtrip": t_ide_roundtrip, "ide-aes128": t_ide_aes128, "bad-keys": t_bad_keys}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("test", choices=sorted(TESTS))
    p.add_argument("--build-dir", default=os.path.join(svtest.ROOT, "build"))
    args = p.parse_args()
    args.no_hypervisor = False
    h = svtest.Harness(argparse.Namespace(no_hypervisor=False, build_dir=args.build_dir,
                                          test="enc-" + args.test))
    try:
        TESTS[args.test](h)
    except svtest.Fail as e:
        print("svtest: FAIL %s: %s" % (args.test, e))
        return 1
    print("svtest: PASS %s" % args.test)
    return 0


if __name__ == "__main__":
    sys.exit(main())

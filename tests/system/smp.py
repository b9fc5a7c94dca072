#!/usr/bin/env python3
"""Multiprocessor guests (`./shadowvisor run --cpus N`): the hypervisor brings
every processor under SVM before the guest starts, the guest's INIT/STARTUP
IPIs start them as vCPUs, and each CPU answers CPUID with the ShadowVisor
signature; encrypted disk I/O still round-trips with several CPUs.

Usage: smp.py cpus2 --build-dir DIR
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import svtest  # noqa: E402
import xts  # noqa: E402

CPUS = 2
SEED = 61
REGION = (1 << 20, 1 << 20, "64K")


def t_cpus2(h):
    key = bytes((i * 53 + 7) & 0xFF for i in range(64))
    key_path = os.path.join(h.work, "disk.key")
    with open(key_path, "wb") as f:
        f.write(key)
    img = h.disk("disk-ide.img", mib=16)
    off, size, req = REGION
    b = h.boot("sv.test=smp,disks sv.disks=ata_piix:%d sv.regions=%dK:%dK:%s"
               % (SEED, off >> 10, size >> 10, req),
               disks=[("ide", img)], extra=["--cpus", str(CPUS), "--key-file", key_path])
    h.require_clean(b)
    b.expect(["smp", "disk-ata_piix-%s" % req])
    if b.info("smp-nproc") != str(CPUS):
        raise svtest.Fail("guest sees %s CPUs, expected %d" % (b.info("smp-nproc"), CPUS))
    if "%d application processors under the hypervisor" % (CPUS - 1) not in b.log:
        raise svtest.Fail("hypervisor did not report starting %d application processors" % (CPUS - 1))
    err = xts.check_encrypted_image(img, key, SEED, off, size)
    if err:
        raise svtest.Fail("image is not aes-xts-plain64 of the pattern: %s" % err)
    print("svtest: %d CPUs under the hypervisor; encrypted I/O ok" % CPUS)


TESTS = {"cpus2": t_cpus2}


if __name__ == "__main__":
    sys.exit(svtest.run_named_test(TESTS, "smp-"))

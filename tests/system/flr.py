#!/usr/bin/env python3
"""Resets of a mediated storage function behind the mediator's registers
(devices/pci/function_reset.hpp): the guest's PCI core resets the NVMe
function (`echo 1 > /sys/bus/pci/devices/BDF/reset` with reset_method
forced, guest/tests/flr) in the middle of a direct-I/O write stream and
once more idle, then rewrites and reads back a pattern.

usage: flr.py TEST [--no-hypervisor] [--machine q35|pc] [--build-dir DIR]
  nvme-flr   Function Level Reset (PCIe Device Control Initiate FLR; QEMU's
             nvme offers it on a PCI Express bus: --machine q35, where
             reset_method lists only "flr": QEMU 7.2's nvme has no PM
             capability, so the D3hot path is unit-tested only).
Under the keyed hypervisor: the resets succeed, the pattern reads back
after them, the image holds aes-xts-plain64 ciphertext of it (OpenSSL
decrypts it; no plaintext), the hypervisor counted the function resets and
powered off cleanly (key wiped). --no-hypervisor: the same guest steps on
bare QEMU (the plaintext pattern on the image): shows the reset method
exists and the guest test passes without the mediator.
Exit status: 0 pass, 1 fail, 77 skipped (hypervisor tests unless SV_HV_TESTS=1).
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import encryption  # noqa: E402
import nvme  # noqa: E402
import pattern  # noqa: E402
import svtest  # noqa: E402

SEED = 61
# A: written while the first reset runs (and rewritten after); B: after.
REGIONS = [(1 << 20, 2 << 20, "4K"), (8 << 20, 4 << 20, "1M")]
METHODS = {"nvme-flr": ("nvme", "flr")}
RESETS_RE = re.compile(r"(nvme\d+): interrupts delivered .* function-resets (\d+)")
RESET_LINE_RE = re.compile(r"(nvme\d+): PCI [0-9a-f:.]+: ([a-zA-Z0-9 >-]+): in-flight commands dropped")


def run(h, test):
    drv, method = METHODS[test]
    key, key_path = encryption.write_key(h, 64)
    img = h.disk("disk-flr.img", mib=16)
    append = "sv.test=flr sv.disks=%s:%d sv.regions=%s sv.flrmethod=%s" % (
        drv, SEED, pattern.regions_arg(REGIONS), method)
    extra = ["--key-file", key_path] if h.hv else []
    b = h.boot(append, disks=[(drv, img)], extra=extra, timeout=1500 if h.hv else 600)
    for i in b.infos:
        if i.startswith("flr-"):
            print("svtest: guest: %s" % i)
    h.require_clean(b)
    b.expect(["flr-reset", "flr-io-A", "flr-io-B"])
    if not h.hv:
        problems = pattern.check_regions(img, SEED, REGIONS, "image")
        if problems:
            raise svtest.Fail("; ".join(problems))
        print("svtest: bare QEMU: %d resets by %s, plaintext pattern on the image" % (2, method))
        return
    nvme.require_mediated(h, b)
    resets = RESETS_RE.findall(b.log)
    if not resets or int(resets[-1][1]) < 2:
        raise svtest.Fail("the hypervisor counted %s function resets of the NVMe function, expected 2 (line "
                          "'nvme0: interrupts delivered ... function-resets N')" % (resets[-1][1] if resets else "no"))
    m = RESET_LINE_RE.search(b.log)
    if not m:
        raise svtest.Fail("no 'nvme0: PCI ...: <reset>: in-flight commands dropped' line in the hypervisor log")
    print("svtest: hypervisor: %s saw %s resets (%s)" % (resets[-1][0], resets[-1][1], m.group(2)))
    nvme.require_traffic(h, b, sum(s for _, s, _ in REGIONS))
    nvme.check_ciphertext(img, key, SEED, REGIONS, 512, "NVMe image")
    print("svtest: the image holds only ciphertext after the resets; OpenSSL decrypts it to the pattern")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("test", choices=sorted(METHODS))
    p.add_argument("--no-hypervisor", action="store_true")
    p.add_argument("--machine", choices=("pc", "q35"), default="q35")
    p.add_argument("--build-dir", default=os.path.join(svtest.ROOT, "build"))
    args = p.parse_args()
    name = "flr-%s" % args.test
    h = svtest.Harness(argparse.Namespace(no_hypervisor=args.no_hypervisor, build_dir=args.build_dir, test=name,
                                          machine=args.machine))
    if h.hv and os.environ.get("SV_HV_TESTS", "").lower() not in ("1", "on", "true", "yes"):
        print("svtest: SKIP %s: hypervisor system tests are off (SV_HV_TESTS=1)" % name)
        return svtest.SKIP
    try:
        run(h, args.test)
    except svtest.Fail as e:
        print("svtest: FAIL %s: %s" % (name, e))
        return 1
    print("svtest: PASS %s (%s%s)" % (name, args.machine, "" if h.hv else ", no hypervisor"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

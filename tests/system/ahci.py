#!/usr/bin/env python3
"""System tests of SATA disks behind an AHCI HBA (issue #9), run through
`./shadowvisor run --disk ahci:IMAGE` (QEMU ICH9 AHCI: `-device ich9-ahci`
on pc, the built-in controller at 00:1f.2 on q35).

usage: ahci.py TEST [--no-hypervisor] [--machine pc|q35] [--build-dir DIR]
  io        (baseline, --no-hypervisor) two AHCI disks and one IDE disk in
            one VM; the Debian guest's `ahci` driver binds the HBA and a
            direct-I/O pattern with 4 KiB and 1 MiB requests goes through
            /dev/sdX; the host finds the plaintext pattern on each image at
            the offsets written and zeros around it. A second boot reads it
            back (readback after a reboot).
  blocked   (hypervisor, with a key) AHCI is not mediated yet, so the keyed
            hypervisor keeps the controller from DMA (Bus Master rule): the
            guest cannot read a pattern the host put on the disk, cannot
            write it, and the hypervisor log says why. Becomes the
            "encrypted" test when the AHCI mediator lands.
  hostile   (baseline, --no-hypervisor) control run of guest/sv-ahcihostile.c:
            with the ahci driver left out, a guest program drives the HBA
            itself and each attack reaches its target on bare QEMU
            (plaintext on the disk, a PRDT aimed at a physical page it
            names, ...). Next session the same scenarios run under the
            mediator and must fail.
Exit status: 0 pass, 1 fail, 77 skipped (hypervisor tests unless SV_HV_TESTS=1).
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pattern  # noqa: E402
import svtest  # noqa: E402

SEEDS = (31, 32)       # the two AHCI disks
IDE_SEED = 33
# offset, size, request size: small and large direct-I/O requests
REGIONS = [(1 << 20, 256 << 10, "4K"), (8 << 20, 4 << 20, "1M")]
BLOCKED_RE = re.compile(r"storage controller \(subclass (?:0x)?6\) is not mediated yet: DMA disabled")


def regions_arg():
    return ",".join("%dK:%dK:%s" % (o >> 10, s >> 10, r) for o, s, r in REGIONS)


def check_pattern(path, seed, what):
    problems = []
    for off, size, _ in REGIONS:
        err = pattern.check_image(path, seed, off, size)
        if err:
            problems.append("%s, region at %d: %s" % (what, off, err))
        for zoff in (off - 65536, off + size):
            err = pattern.check_zero(path, zoff, 65536)
            if err:
                problems.append("%s, guard at %d: %s" % (what, zoff, err))
    return problems


def expect_ahci_devices(b, n):
    """The guest named n distinct /dev/sdX behind the ahci driver."""
    devs = [i.split()[2] for i in b.infos if i.startswith("disk ahci ")]
    if len(set(devs)) != n:
        raise svtest.Fail("expected %d distinct AHCI block devices, the guest reported %s" % (n, devs))
    return devs


def pass_lines_per_disk(b, n):
    """Both AHCI disks report under the same result name: count the PASS
    lines themselves (Boot.results keeps only the last one)."""
    for _, _, r in REGIONS:
        got = len(re.findall(r"^SV-RESULT disk-ahci-%s PASS" % r, b.log, re.M))
        if got != n:
            raise svtest.Fail("%d of %d AHCI disks passed the %s region" % (got, n, r))


def t_io(h):
    if h.hv:
        raise svtest.Fail("io is the bare-QEMU baseline: run it with --no-hypervisor")
    ahci = [h.disk("disk-ahci%d.img" % i, mib=16) for i in range(len(SEEDS))]
    ide = h.disk("disk-ide.img", mib=16)
    disks = [("ahci", p) for p in ahci] + [("ide", ide)]
    spec = ",".join(["ahci:%d" % s for s in SEEDS] + ["ata_piix:%d" % IDE_SEED])
    names = ["disk-%s-%s" % (d, r) for d in ("ahci", "ata_piix") for _, _, r in REGIONS]
    b = h.boot("sv.test=disks sv.disks=%s sv.regions=%s sv.diskmode=write" % (spec, regions_arg()),
               disks=disks)
    h.require_clean(b)
    b.expect(names)
    pass_lines_per_disk(b, 2)
    devs = expect_ahci_devices(b, 2)
    problems = []
    for path, seed, dev in zip(ahci, SEEDS, devs):
        problems += check_pattern(path, seed, "AHCI image %s (%s)" % (os.path.basename(path), dev))
    problems += check_pattern(ide, IDE_SEED, "IDE image")
    if problems:
        raise svtest.Fail("; ".join(problems))
    print("svtest: %s: plaintext pattern on both AHCI images and the IDE image" % h.machine)

    r = h.boot("sv.test=disks sv.disks=%s sv.regions=%s sv.diskmode=verify" % (spec, regions_arg()),
               disks=disks)
    h.require_clean(r)
    r.expect(names)
    pass_lines_per_disk(r, 2)
    expect_ahci_devices(r, 2)
    print("svtest: %s: readback after a reboot matches on every disk" % h.machine)


def t_blocked(h):
    if not h.hv:
        raise svtest.Fail("blocked needs the hypervisor")
    key_path = os.path.join(h.work, "disk.key")
    with open(key_path, "wb") as f:
        f.write(bytes(range(64)))
    img = h.disk("disk-ahci.img", mib=16)
    off, size, req = REGIONS[0]
    with open(img, "r+b") as f:
        f.seek(off)
        f.write(pattern.pattern_bytes(SEEDS[0], off, size))
    with open(img, "rb") as f:
        before = f.read()
    b = h.boot("sv.test=disks sv.disks=ahci:%d sv.regions=%dK:%dK:%s sv.diskmode=verify"
               % (SEEDS[0], off >> 10, size >> 10, req),
               disks=[("ahci", img)], extra=["--key-file", key_path], timeout=900)
    h.require_clean(b)
    if not BLOCKED_RE.search(b.log):
        raise svtest.Fail("the hypervisor log does not say the AHCI controller's DMA is disabled")
    refused = re.search(r"\(0x8086:0x2922\): Bus Master Enable refused[^\n]*", b.log)
    if refused:
        print("svtest: hypervisor: %s" % refused.group(0).strip())
    res = b.results.get("disk-ahci-%s" % req) or b.results.get("disk-ahci")
    if res is None:
        raise svtest.Fail("the guest reported nothing about the AHCI disk")
    if res[0] == "PASS":
        raise svtest.Fail("the guest read the AHCI disk although the controller may not DMA: %s" % (res,))
    with open(img, "rb") as f:
        if f.read() != before:
            raise svtest.Fail("the AHCI image changed although the controller may not DMA")
    print("svtest: %s: keyed AHCI controller kept from DMA (guest: %s %s); image unchanged"
          % (h.machine, res[0], res[1][:120]))


HOSTILE_PLAIN = b"SV-AHCIHOSTILE-PLAINTEXT-PATTERN"
HOSTILE_VICTIM = b"SV-AHCIHOSTILE-VICTIM-PAGE-MARK"
# What each scenario of guest/sv-ahcihostile.c does on bare QEMU (the
# control: every attack reaches its target). None: reported, not judged
# (QEMU's own reaction, recorded for the mediator tests).
HOSTILE_BARE = {"write-plain": "done", "read-own": "reached", "fis-own": "reached",
                "phys-out": "done", "phys-in": "reached", "prdt-short": None, "odd-dbc": None,
                "unknown-op": None, "bad-fis": "timeout", "ncq-read": None, "tag-game": None}
# ncq-read is not judged yet: on QEMU 7.2 the program's READ FPDMA QUEUED ends
# in an SDB FIS with ERR/ABRT (TFD 0450h, PxIS TFES|SDBS), cause not yet
# found (Linux's own NCQ works: the io test runs through it).


def hostile_outcomes(b):
    out = {}
    for i in b.infos:
        w = i.split()
        if len(w) >= 3 and w[0] == "ahcihostile":
            out[w[1]] = (w[2], " ".join(w[3:]))
    return out


def t_hostile(h):
    """Control run on bare QEMU of the hostile AHCI guest program: with the
    ahci driver left out it drives the HBA itself, and every attack reaches
    its target (plaintext on the platter, DMA to and from a physical page
    named in a PRDT, FISes where PxFB says). Under the mediator (next
    session) the same scenarios must fail with an error status."""
    if h.hv:
        raise svtest.Fail("hostile is today's bare-QEMU control: run it with --no-hypervisor")
    img = h.disk("disk-ahci.img", mib=16)
    b = h.boot("iomem=relaxed sv.skipmod=ahci sv.test=ahcihostile", disks=[("ahci", img)])
    h.require_clean(b)
    b.expect(["ahcihostile-ran"])
    got = hostile_outcomes(b)
    bad = []
    for name, want in HOSTILE_BARE.items():
        if name not in got:
            bad.append("%s: not reported" % name)
        elif want is not None and got[name][0] != want:
            bad.append("%s: %s (expected %s on bare QEMU) %s" % (name, got[name][0], want, got[name][1]))
        print("svtest: ahcihostile %-11s %-8s %s" % (name, got.get(name, ("-",))[0],
                                                      got.get(name, ("", ""))[1]))
    with open(img, "rb") as f:
        raw = f.read()
    plain = raw[2048 * 512:2048 * 512 + 4096]
    if HOSTILE_PLAIN not in plain:
        bad.append("no plaintext pattern at LBA 2048 (the write-plain control did not reach the disk)")
    out = raw[4096 * 512:4096 * 512 + 4096]
    if HOSTILE_VICTIM not in out:
        bad.append("the victim page's marker is not at LBA 4096 (phys-out did not read the target)")
    if bad:
        raise svtest.Fail("; ".join(bad))
    print("svtest: %s: every hostile AHCI scenario reached its target on bare QEMU" % h.machine)


TESTS = {"io": t_io, "blocked": t_blocked, "hostile": t_hostile}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("test", choices=sorted(TESTS))
    p.add_argument("--no-hypervisor", action="store_true")
    p.add_argument("--machine", choices=("pc", "q35"), default="pc")
    p.add_argument("--build-dir", default=os.path.join(svtest.ROOT, "build"))
    args = p.parse_args()
    h = svtest.Harness(argparse.Namespace(no_hypervisor=args.no_hypervisor, build_dir=args.build_dir,
                                          test="ahci-" + args.test, machine=args.machine))
    if h.hv and os.environ.get("SV_HV_TESTS", "").lower() not in ("1", "on", "true", "yes"):
        print("svtest: SKIP ahci-%s: hypervisor system tests are off (SV_HV_TESTS=1)" % args.test)
        return svtest.SKIP
    try:
        TESTS[args.test](h)
    except svtest.Fail as e:
        print("svtest: FAIL ahci-%s: %s" % (args.test, e))
        return 1
    print("svtest: PASS ahci-%s (%s)" % (args.test, args.machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())

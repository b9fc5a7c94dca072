#!/usr/bin/env python3
"""System tests of NVMe namespaces (issue #10), run through
`./shadowvisor run --disk nvme:IMAGE[,lbs=4096][,namespaces=N]` (QEMU 7.2
`-device nvme`, one controller per disk, N `nvme-ns` namespaces).

usage: nvme.py TEST [--no-hypervisor | --stand-in] [--machine pc|q35] [--lbs 512|4096]
                    [--cpus 2|4] [--build-dir DIR]
  io        (baseline, --no-hypervisor) one NVMe disk next to one IDE disk;
            the Debian guest's `nvme` driver binds the controller, reports
            /dev/nvme0n1 with the logical block size asked for, and a
            direct-I/O pattern with 4 KiB and 1 MiB requests goes through
            it; the host finds the plaintext pattern on the image at the
            offsets written and zeros around it. A second boot reads it back.
  blocked   (hypervisor, with a key) an NVMe function the hypervisor does not
            mediate is kept from DMA by the Bus Master rule: no disk, image
            unchanged (the state before the mediator; kept for a build whose
            NVMe mediator fails to bind, not registered in CTest).
  hostile   --no-hypervisor: control run of guest/sv-nvmehostile.c: a guest
            program unbinds nvme and drives the controller itself; on bare
            QEMU every attack reaches its target (plaintext on the namespace,
            DMA to and from a physical page it names, queues at a physical
            address of its choice) and QEMU's answer to each malformed case
            is pinned. Under the keyed hypervisor (aimed at the hypervisor's
            heap): every bad command fails with an NVMe error status (or, for
            a doorbell beyond the queue, is ignored), the refusals are counted
            and logged, no plaintext and no hypervisor byte reaches the image,
            the hypervisor stays up.
  --- under the keyed hypervisor with the NVMe mediator (items 8, 9); with
      --stand-in the same test on bare QEMU with the guest's dm-crypt in the
      mediator's place (sector = LBA size, tweak = LBA), which validates the
      host-side checks without the mediator ---
  encrypted direct-I/O pattern (4 KiB and 1 MiB requests) on /dev/nvme0n1;
            the image holds no plaintext and OpenSSL decrypts it
            (aes-xts-plain64, sector = LBA size, tweak = LBA: with --lbs 4096
            that is cryptsetup --sector-size 4096 --iv-large-sectors); a
            second keyed boot reads it back; a bare boot opens it with the
            guest's own dm-crypt and reads it too.
  fs        an ext2 file system made and filled in the guest on the NVMe
            namespace; the host decrypts the image, e2fsck -fn finds it
            clean, debugfs extracts the files; no plaintext in the raw image.
  simd      the SIMD check (guest/tests/simd) with the I/O on the NVMe disk.
  smp       --cpus 2|4: the guest's driver makes one I/O queue per CPU and
            two O_DIRECT streams per CPU, pinned, issue concurrently; every
            stream passes on every CPU; the image decrypts to the pattern.
  poll      nvme.poll_queues=2 (2 CPUs): io_uring IOPOLL writes and reads (sv-diskqd)
            complete on the polled queues with (almost) no nvme interrupt;
            the image decrypts to the pattern.
  ns2       one controller with two namespaces (run --disk
            nvme:IMAGE,namespaces=2, each half of the image one namespace):
            both encrypted on their own LBAs, both read back by dm-crypt.
  mixed     IDE, AHCI and NVMe disks in one VM under one key: all three
            images decrypt with OpenSSL, dm-crypt reads all three bare.
Exit status: 0 pass, 1 fail, 77 skipped (hypervisor tests unless SV_HV_TESTS=1).
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import encryption  # noqa: E402
import pattern  # noqa: E402
import svtest  # noqa: E402
import xts  # noqa: E402

SEED = 41
IDE_SEED = 42
# offset, size, request size: small and large direct-I/O requests
REGIONS = [(1 << 20, 256 << 10, "4K"), (8 << 20, 4 << 20, "1M")]
BLOCKED_RE = re.compile(r"storage controller \(subclass (?:0x)?8\) is not mediated yet: DMA disabled")
# Linux's nvme driver gives up on an admin command after nvme_core.admin_timeout
# (60 s by default): shorten it so the blocked boot does not wait a minute.
ADMIN_TIMEOUT = "nvme_core.admin_timeout=5"


def regions_arg():
    return pattern.regions_arg(REGIONS)


def check_pattern(path, seed, what):
    return pattern.check_regions(path, seed, REGIONS, what)


def nvme_disk_info(b):
    """(device, logical block size) the guest reported for its NVMe disk."""
    for i in b.infos:
        w = i.split()
        if len(w) >= 3 and w[0] == "disk" and w[1] == "nvme":
            lbs = next((x[4:] for x in w[3:] if x.startswith("lbs=")), "?")
            return w[2], lbs
    raise svtest.Fail("the guest reported no disk behind the nvme driver")


def t_io(h, lbs):
    if h.hv:
        raise svtest.Fail("io is the bare-QEMU baseline: run it with --no-hypervisor")
    img = h.disk("disk-nvme.img", mib=16)
    ide = h.disk("disk-ide.img", mib=16)
    spec = "nvme:%d,ata_piix:%d" % (SEED, IDE_SEED)
    names = ["disk-%s-%s" % (d, r) for d in ("nvme", "ata_piix") for _, _, r in REGIONS]
    disks = [("nvme", "%s,lbs=%d" % (img, lbs)), ("ide", ide)]
    for mode in ("write", "verify"):
        b = h.boot("sv.test=disks sv.disks=%s sv.regions=%s sv.diskmode=%s" % (spec, regions_arg(), mode),
                   disks=disks)
        h.require_clean(b)
        b.expect(names)
        dev, got_lbs = nvme_disk_info(b)
        if not dev.startswith("/dev/nvme") or got_lbs != str(lbs):
            raise svtest.Fail("guest NVMe disk %s with logical block size %s (expected /dev/nvme*, %d)"
                              % (dev, got_lbs, lbs))
        if mode == "write":
            problems = check_pattern(img, SEED, "NVMe image") + check_pattern(ide, IDE_SEED, "IDE image")
            if problems:
                raise svtest.Fail("; ".join(problems))
            print("svtest: %s lbs=%d: plaintext pattern on the NVMe image (%s) and the IDE image"
                  % (h.machine, lbs, dev))
        else:
            print("svtest: %s lbs=%d: readback after a reboot matches on both disks" % (h.machine, lbs))


def t_blocked(h, lbs):
    if not h.hv:
        raise svtest.Fail("blocked needs the hypervisor")
    key_path = os.path.join(h.work, "disk.key")
    with open(key_path, "wb") as f:
        f.write(bytes(range(64)))
    img = h.disk("disk-nvme.img", mib=16)
    off, size, req = REGIONS[0]
    with open(img, "r+b") as f:
        f.seek(off)
        f.write(pattern.pattern_bytes(SEED, off, size))
    with open(img, "rb") as f:
        before = f.read()
    b = h.boot("%s sv.test=disks sv.disks=nvme:%d sv.regions=%dK:%dK:%s sv.diskmode=verify"
               % (ADMIN_TIMEOUT, SEED, off >> 10, size >> 10, req),
               disks=[("nvme", "%s,lbs=%d" % (img, lbs))], extra=["--key-file", key_path], timeout=900)
    h.require_clean(b)
    if not BLOCKED_RE.search(b.log):
        raise svtest.Fail("the hypervisor log does not say the NVMe controller's DMA is disabled")
    refused = re.search(r"Bus Master Enable refused[^\n]*", b.log)
    if refused:
        print("svtest: hypervisor: %s" % refused.group(0).strip())
    res = b.results.get("disk-nvme-%s" % req) or b.results.get("disk-nvme")
    if res is None:
        raise svtest.Fail("the guest reported nothing about the NVMe disk")
    if res[0] == "PASS":
        raise svtest.Fail("the guest read the NVMe disk although the controller may not DMA: %s" % (res,))
    with open(img, "rb") as f:
        if f.read() != before:
            raise svtest.Fail("the NVMe image changed although the controller may not DMA")
    # What the guest's driver makes of it today (Linux 6.1): the admin
    # Identify never completes, the driver times out, disables the controller
    # and removes it ("I/O n QID 0 timeout" ... "Removing after probe failure").
    for line in b.log.splitlines():
        if re.search(r"\bnvme nvme\d", line):
            print("svtest: guest: %s" % line.strip()[:160])
    if not re.search(r"nvme nvme\d+: (I/O \d+ QID 0 timeout|Identify Controller failed|Removing after probe failure)",
                     b.log):
        raise svtest.Fail("the guest's nvme driver did not report the failed probe (admin timeout)")
    print("svtest: %s: keyed NVMe controller kept from DMA (guest: %s %s); image unchanged"
          % (h.machine, res[0], res[1][:120]))


HOSTILE_PLAIN = b"SV-NVMEHOSTILE-PLAINTEXT-PATTERN"
HOSTILE_VICTIM = b"SV-NVMEHOSTILE-VICTIM-PAGE-MARK"
HOSTILE_CHANGED = b"SV-NVMEHOSTILE-CHANGED-AFTER-DB"
# What each scenario of guest/sv-nvmehostile.c does on bare QEMU 7.2 (the
# control). "done"/"reached": the attack reached its target; an "error ..."
# value is QEMU's status (SCT/SC) for a malformed command; None: reported,
# not judged (recorded for the mediator tests).
HOSTILE_BARE = {
    "write-plain": "done", "read-own": "reached", "phys-out": "done", "phys-in": "reached",
    "prp2-offset": ("error", "0/13"),  # PRP Offset Invalid
    "list-offset": ("error", "0/13"),
    "list-loop": "done",               # QEMU follows the loop within MDTS
    "past-mdts": ("error", "0/02"),    # Invalid Field (MDTS)
    "db-beyond": "timeout",            # invalid doorbell write ignored
    "dup-cid": "done",                 # both executed, same CID twice
    "changed-after": None,             # which SLBA QEMU fetched depends on timing
    "sq-phys": "reached", "cq-phys": "reached",
    # Commands the mediator must refuse or hide; on bare QEMU 7.2 they run:
    "write-zeroes": "done", "dsm": "done", "verify": "done", "sgl-read": "reached",
    "dbbuf": "done",                   # shadow doorbells in guest memory accepted
    "fw-download": ("error", "0/01"),  # not implemented by QEMU: Invalid Opcode
    "hmb": ("error", "0/02"),          # HMB feature not supported: Invalid Field
    "copy": None,                      # QEMU answers Internal Error (06h) to this Copy: not yet understood
}


def hostile_outcomes(b):
    out = {}
    for i in b.infos:
        w = i.split()
        if len(w) >= 3 and w[0] == "nvmehostile":
            st = next((x[7:] for x in w[3:] if x.startswith("status=")), "-")
            out[w[1]] = (w[2], st.split(",")[0], " ".join(w[3:]))
    return out


def t_hostile(h, lbs):
    """Control run on bare QEMU of the hostile NVMe guest program; under the
    keyed hypervisor, the mediator's answers to the same scenarios."""
    if h.hv:
        return hostile_under_hypervisor(h, lbs)
    img = h.disk("disk-nvme.img", mib=16)
    b = h.boot("sv.test=nvmehostile", disks=[("nvme", "%s,lbs=%d" % (img, lbs))])
    h.require_clean(b)
    b.expect(["nvmehostile-ran"])
    for i in b.infos:
        if i.startswith(("nvmehostile-ctrl", "nvmehostile-identify", "nvmehostile-namespace",
                         "nvmehostile-unbind", "nvmehostile-device", "nvmehostile-msix", "nvmehostile-caps")):
            print("svtest: %s" % i)
    got = hostile_outcomes(b)
    bad = []
    if not any(i.startswith("nvmehostile-msix ") for i in b.infos):
        bad.append("the program found no MSI-X capability on the NVMe function")
    for name, want in HOSTILE_BARE.items():
        g = got.get(name)
        print("svtest: nvmehostile %-13s %-8s %s" % (name, g[0] if g else "-", g[2] if g else ""))
        if g is None:
            bad.append("%s: not reported" % name)
        elif isinstance(want, tuple):
            if (g[0], g[1]) != want:
                bad.append("%s: %s status %s (expected %s %s on bare QEMU)" % (name, g[0], g[1], *want))
        elif want is not None and g[0] != want:
            bad.append("%s: %s (expected %s on bare QEMU) %s" % (name, g[0], want, g[2]))
    with open(img, "rb") as f:
        raw = f.read()
    if HOSTILE_PLAIN not in raw[2048 * 512:2048 * 512 + 4096]:
        bad.append("no plaintext pattern at LBA 2048 (write-plain did not reach the namespace)")
    if HOSTILE_VICTIM not in raw[4096 * 512:4096 * 512 + 4096]:
        bad.append("the victim page's marker is not at LBA 4096 (phys-out did not read the target)")
    chg = [HOSTILE_CHANGED in raw[lba * 512:lba * 512 + 4096] for lba in (6144, 6656)]
    print("svtest: changed-after: pattern at LBA 6144 %s, at LBA 6656 %s" % tuple("yes" if c else "no" for c in chg))
    if chg.count(True) != 1:
        bad.append("changed-after wrote %d copies of its pattern (expected exactly one)" % chg.count(True))
    if bad:
        raise svtest.Fail("; ".join(bad))
    print("svtest: %s lbs=%d: every hostile NVMe attack reached its target on bare QEMU" % (h.machine, lbs))


# --- under the keyed hypervisor with the NVMe mediator (issue #10 items 8, 9) ---
#
# Every test below also runs with --stand-in: a bare boot (no hypervisor)
# in which the guest's own dm-crypt (sector = the LBA size, tweak = LBA,
# guest/sv-dmcrypt.c) does what the mediator does, so the host-side checks
# (ciphertext, OpenSSL, e2fsck, namespace slices, per-CPU queues, polled
# queues) are exercised before, and independently of, the mediator. The
# mediator's own checks (boot line, statistics, refusals) need the hypervisor.

NVME_STATS_RE = re.compile(r"\[sv\] info\s+(nvme\d+): commands (\d+) admin (\d+) refused (\d+) waits (\d+) "
                           r"encrypted (\d+) B decrypted (\d+) B queues (\d+) resets (\d+) dropped (\d+)")
NVME_REFUSED_RE = re.compile(r"\[sv\] info\s+(nvme\d+): refused ([^:\n]+): (\d+)")
NVME_MEDIATED_RE = re.compile(r"(nvme\d+): PCI [0-9a-f]+:[0-9a-f]+\.[0-9a-f]+ BAR0 (?:0x)?[0-9a-f]+ \(\d+ KiB\) "
                              r"namespaces (\d+)[^\n]*MSI-X (\d+) vectors mediated")
QUEUES_RE = re.compile(r"nvme nvme\d+: (\d+)/(\d+)/(\d+) default/read/poll queues")
EXITS_TOTAL_RE = re.compile(r"\[sv\] info\s+exits: (\d+) total")


def stand_in(h):
    return getattr(h, "stand_in", False)


def keyed_boot(h, key, key_path, append, disks, lbs=512, extra=(), timeout=1200, dm_append=None):
    """A boot in which the NVMe disks are encrypted: under the keyed
    hypervisor, or (--stand-in) bare with the guest's dm-crypt doing the
    encryption (`dm_append`, default ` sv.dmkey=KEY`, tells the guest test
    to open its disks through it)."""
    if stand_in(h):
        return h.boot(append + (dm_append if dm_append is not None else " sv.dmkey=%s" % key.hex()),
                      disks=disks, extra=list(extra), timeout=timeout, hypervisor=False)
    return h.boot(append, disks=disks, extra=["--key-file", key_path] + list(extra), timeout=timeout)


def nvme_stats(b, name="nvme0"):
    """The power-off statistics of one mediated NVMe controller as a dict."""
    keys = ("commands", "admin", "refused", "waits", "encrypted", "decrypted", "queues", "resets", "dropped")
    for m in NVME_STATS_RE.finditer(b.log):
        if m.group(1) == name:
            st = dict(zip(keys, (int(g) for g in m.groups()[1:])))
            t = EXITS_TOTAL_RE.findall(b.log)
            if t:
                st["exits"] = int(t[-1])
            return st
    raise svtest.Fail("the hypervisor log has no '%s: commands N admin N ...' statistics line" % name)


def require_mediated(h, b, n=1, namespaces=None):
    """The hypervisor mediated n NVMe controllers (nothing to check in a
    stand-in run)."""
    if stand_in(h):
        return
    got = NVME_MEDIATED_RE.findall(b.log)
    if len(got) < n:
        raise svtest.Fail("the hypervisor mediated %d NVMe controllers, expected %d (no 'nvmeN: PCI ... mediated' "
                          "boot line)" % (len(got), n))
    for name, ns, vectors in got:
        print("svtest: hypervisor: %s mediated, %s namespaces, %s MSI-X vectors" % (name, ns, vectors))
        if namespaces is not None and int(ns) != namespaces:
            raise svtest.Fail("%s: the hypervisor found %s namespaces, expected %d" % (name, ns, namespaces))
    m = re.search(r"shadow pool: [^\n]*", b.log)
    if m:
        print("svtest: hypervisor: %s" % m.group(0).strip())
    if "disk key wiped" not in b.log:
        raise svtest.Fail("the hypervisor did not report wiping the key at power-off")


def require_traffic(h, b, nbytes, name="nvme0", queues=None):
    """The mediator encrypted and decrypted at least nbytes (and, with
    `queues`, created at least that many shadow I/O queues)."""
    if stand_in(h):
        return None
    st = nvme_stats(b, name)
    print("svtest: hypervisor %s statistics: %s" % (name, st))
    if st["commands"] == 0 or st["encrypted"] < nbytes or st["decrypted"] < nbytes:
        raise svtest.Fail("%s: the mediator did not encrypt and decrypt the traffic: %s" % (name, st))
    if queues is not None and st["queues"] < queues:
        raise svtest.Fail("%s: %d shadow I/O queues created, expected at least %d" % (name, st["queues"], queues))
    return st


def check_ciphertext(img, key, seed, regions, lbs, what, base=0):
    """Each region of `img` (offsets relative to `base`, the namespace's
    first byte in the image) is aes-xts-plain64 of sv-diskio's pattern with
    sector = lbs and tweak = the namespace's LBA, and no plaintext."""
    with open(img, "rb") as f:
        for off, size, _ in regions:
            f.seek(base + off)
            raw = f.read(size)
            want = pattern.pattern_bytes(seed, off, size)
            if want[:4096] in raw or raw[:4096] == want[:4096]:
                raise svtest.Fail("%s: plaintext pattern on the image at %d" % (what, base + off))
            plain = xts.decrypt_sectors(key, off // lbs, raw, lbs)
            if plain != want:
                i = next(k for k in range(size) if plain[k] != want[k])
                raise svtest.Fail("%s: region at %d does not decrypt (aes-xts-plain64, %d-byte sectors, tweak = "
                                  "LBA) to the pattern: first difference at byte %d" % (what, off, lbs, off + i))


def pass_lines(b, name):
    return len(re.findall(r"^SV-RESULT %s PASS" % re.escape(name), b.log, re.M))


def t_encrypted(h, lbs):
    key, key_path = encryption.write_key(h, 64)
    img = h.disk("disk-nvme.img", mib=16)
    names = ["disk-nvme-%s" % r for _, _, r in REGIONS]
    spec = "sv.test=disks sv.disks=nvme:%d sv.regions=%s" % (SEED, regions_arg())
    disks = [("nvme", "%s,lbs=%d" % (img, lbs))]
    b = keyed_boot(h, key, key_path, spec + " sv.diskmode=both", disks, lbs)
    h.require_clean(b)
    require_mediated(h, b)
    b.expect(names)
    dev, got_lbs = nvme_disk_info(b)
    if got_lbs != str(lbs):
        raise svtest.Fail("guest NVMe disk %s has %s-byte logical blocks, expected %d" % (dev, got_lbs, lbs))
    require_traffic(h, b, sum(s for _, s, _ in REGIONS))
    check_ciphertext(img, key, SEED, REGIONS, lbs, "NVMe image")
    print("svtest: %s lbs=%d: the image holds only ciphertext; OpenSSL decrypts it (%d-byte sectors, tweak = LBA)"
          % (h.machine, lbs, lbs))
    b = keyed_boot(h, key, key_path, spec + " sv.diskmode=verify", disks, lbs)
    h.require_clean(b)
    b.expect(names)
    print("svtest: a second encrypted boot reads the data back")
    b = h.boot(spec + " sv.diskmode=verify sv.dmkey=%s" % key.hex(), disks=disks, hypervisor=False)
    h.require_clean(b)
    b.expect(names)
    print("svtest: the guest's own dm-crypt (no hypervisor; --sector-size %d%s) opens the NVMe disk and reads it"
          % (lbs, " --iv-large-sectors" if lbs == 4096 else ""))


def t_fs(h, lbs):
    encryption.require_fs_tools()
    key, key_path = encryption.write_key(h, 64)
    img = h.disk("disk-nvme.img", mib=32)
    b = keyed_boot(h, key, key_path, "sv.test=fs sv.fsdriver=nvme sv.fsseed=%d sv.fskib=%d"
                   % (encryption.FS_SEED, encryption.FS_KIB), [("nvme", "%s,lbs=%d" % (img, lbs))], lbs)
    h.require_clean(b)
    require_mediated(h, b)
    b.expect(["fs-mkfs", "fs-write", "fs-reread"])
    require_traffic(h, b, encryption.FS_KIB * 1024)
    encryption.check_fs_image(h, b, img, key, "nvme", sector_size=lbs)


def t_simd(h, lbs):
    key, key_path = encryption.write_key(h, 64)
    img = h.disk("disk-nvme.img", mib=32)
    b = keyed_boot(h, key, key_path, "sv.test=simd sv.simddriver=nvme " + encryption.simd_append(),
                   [("nvme", "%s,lbs=%d" % (img, lbs))], lbs)
    h.require_clean(b)
    require_mediated(h, b)
    b.expect(["simd-io", "simd", "simd-control"])
    require_traffic(h, b, encryption.SIMD_IO[1])
    encryption.check_simd(b, img, key)


def smp_regions(cpus):
    """Two regions per CPU, alternately 4 KiB and 64 KiB requests, apart."""
    return [((1 + 2 * k) << 20, 512 << 10, "4K" if k % 2 == 0 else "64K") for k in range(2 * cpus)]


def guest_queues(b):
    """(default, read, poll) I/O queue counts the guest's nvme driver set up."""
    m = QUEUES_RE.findall(b.log)
    if not m:
        raise svtest.Fail("the guest's nvme driver did not log its 'N/N/N default/read/poll queues' line")
    return tuple(int(x) for x in m[-1])


def t_smp(h, lbs, cpus):
    key, key_path = encryption.write_key(h, 64)
    img = h.disk("disk-nvme.img", mib=32)
    regions = smp_regions(cpus)
    b = keyed_boot(h, key, key_path, "sv.test=diskpar sv.disks=nvme:%d sv.regions=%s sv.diskmode=both"
                   % (SEED, pattern.regions_arg(regions)), [("nvme", "%s,lbs=%d" % (img, lbs))], lbs,
                   extra=["--cpus", str(cpus)], timeout=1800)
    h.require_clean(b)
    require_mediated(h, b)
    if b.info("diskpar-cpus") != str(cpus):
        raise svtest.Fail("the guest runs on %s CPUs, expected %d" % (b.info("diskpar-cpus"), cpus))
    queues = guest_queues(b)
    print("svtest: guest nvme queues %d/%d/%d default/read/poll" % queues)
    if queues[0] != cpus:
        raise svtest.Fail("the guest's nvme driver made %d default I/O queues on %d CPUs (one per CPU expected)"
                          % (queues[0], cpus))
    reqs = sorted({r for _, _, r in regions})
    got = sum(pass_lines(b, "diskpar-nvme-%s" % r) for r in reqs)
    if got != len(regions):
        raise svtest.Fail("%d of %d concurrent streams passed" % (got, len(regions)))
    ran_on = set(re.findall(r"diskpar-nvme-\S+ PASS cpu (\d+)", b.log))
    if ran_on != {str(c) for c in range(cpus)}:
        raise svtest.Fail("the streams did not run on every CPU: %s" % sorted(ran_on))
    require_traffic(h, b, sum(s for _, s, _ in regions), queues=cpus)
    check_ciphertext(img, key, SEED, regions, lbs, "NVMe image")
    print("svtest: %s: %d concurrent streams on %d vCPUs through %d per-CPU queues; the image decrypts to the "
          "pattern" % (h.machine, len(regions), cpus, queues[0]))


POLL_QUEUES = 2
POLL_CPUS = 2  # Linux 6.1 refuses nvme.poll_queues above the number of possible CPUs
POLL_IO = (1 << 20, 1 << 20, "4K", 1)  # offset, size, request, queue depth


def t_poll(h, lbs):
    key, key_path = encryption.write_key(h, 64)
    img = h.disk("disk-nvme.img", mib=16)
    off, size, req, qd = POLL_IO
    # A dm-crypt mapping does not poll (bio-based: no IOPOLL), so
    # the stand-in runs the polled I/O on the raw namespace, in plaintext.
    b = keyed_boot(h, key, key_path, "nvme.poll_queues=%d sv.test=diskqd sv.disks=nvme:%d sv.qdio=%dK:%dK:%s:%d "
                   "sv.qdhipri=1 sv.diskmode=both" % (POLL_QUEUES, SEED, off >> 10, size >> 10, req, qd),
                   [("nvme", "%s,lbs=%d" % (img, lbs))], lbs, extra=["--cpus", str(POLL_CPUS)], dm_append="")
    h.require_clean(b)
    require_mediated(h, b)
    queues = guest_queues(b)
    print("svtest: guest nvme queues %d/%d/%d default/read/poll" % queues)
    if queues[2] != POLL_QUEUES:
        raise svtest.Fail("the guest's nvme driver made %d polled queues, expected %d" % (queues[2], POLL_QUEUES))
    poll = (b.info("diskqd-poll") or "").split()
    if len(poll) < 2 or poll[1] != "1":
        raise svtest.Fail("the NVMe disk does not poll (queue/io_poll %s)" % poll)
    name = "diskqd-nvme-%s-qd%d" % (req, qd)
    if pass_lines(b, name) != 2:
        raise svtest.Fail("polled write and read did not both pass: %s" % (b.results.get(name),))
    # Completions were found by polling: the driver's interrupts during the
    # polled reads stay far below one per request.
    irqs = [int(i.split()[2]) for i in b.infos if i.startswith("diskqd-irqs ")]
    requests = size // (4096 if req == "4K" else 65536)
    print("svtest: %d polled requests each way; nvme interrupts during them: %s" % (requests, irqs))
    if not irqs or max(irqs) * 4 > requests:
        raise svtest.Fail("polled I/O raised %s nvme interrupts for %d requests: it did not poll" % (irqs, requests))
    require_traffic(h, b, size)
    if stand_in(h):
        err = pattern.check_image(img, SEED, off, size)
        if err:
            raise svtest.Fail("stand-in: the polled writes did not reach the raw namespace: %s" % err)
        print("svtest: %s: polled (io_uring IOPOLL) I/O completed on %d polled queues (stand-in: plaintext, raw namespace)"
              % (h.machine, POLL_QUEUES))
        return
    check_ciphertext(img, key, SEED, [(off, size, req)], lbs, "NVMe image")
    print("svtest: %s: polled (io_uring IOPOLL) I/O completed on %d polled queues; the image decrypts to the pattern"
          % (h.machine, POLL_QUEUES))


NS_SEEDS = (43, 44)
NS_REGIONS = [(1 << 20, 256 << 10, "4K"), (4 << 20, 2 << 20, "1M")]


def t_ns2(h, lbs):
    """One controller, two namespaces (run --disk nvme:IMAGE,namespaces=2:
    each half of the image is one namespace), each encrypted on its own LBAs."""
    key, key_path = encryption.write_key(h, 64)
    img = h.disk("disk-nvme.img", mib=32)
    half = 16 << 20
    spec = "sv.test=disks sv.disks=nvme:%d,nvme:%d sv.regions=%s" % (NS_SEEDS + (pattern.regions_arg(NS_REGIONS),))
    disks = [("nvme", "%s,lbs=%d,namespaces=2" % (img, lbs))]
    b = keyed_boot(h, key, key_path, spec + " sv.diskmode=both", disks, lbs)
    h.require_clean(b)
    require_mediated(h, b, namespaces=2)
    devs = [i.split()[2] for i in b.infos if i.startswith("disk nvme ")]
    if len(set(devs)) != 2:
        raise svtest.Fail("expected two NVMe namespaces in the guest, it reported %s" % devs)
    for _, _, r in NS_REGIONS:
        if pass_lines(b, "disk-nvme-%s" % r) != 2:
            raise svtest.Fail("the %s region did not pass on both namespaces" % r)
    require_traffic(h, b, 2 * sum(s for _, s, _ in NS_REGIONS))
    for k, seed in enumerate(NS_SEEDS):
        check_ciphertext(img, key, seed, NS_REGIONS, lbs, "namespace %d" % (k + 1), base=k * half)
    print("svtest: %s: two namespaces (%s) on one controller, each aes-xts-plain64 on its own LBAs"
          % (h.machine, ", ".join(devs)))
    b = h.boot(spec + " sv.diskmode=verify sv.dmkey=%s" % key.hex(), disks=disks, hypervisor=False)
    h.require_clean(b)
    for _, _, r in NS_REGIONS:
        if pass_lines(b, "disk-nvme-%s" % r) != 2:
            raise svtest.Fail("dm-crypt without the hypervisor did not read the %s region of both namespaces" % r)
    print("svtest: the guest's own dm-crypt reads both namespaces without the hypervisor")


MIXED_SEEDS = {"nvme": 45, "ahci": 46, "ata_piix": 47}


def t_mixed(h, lbs):
    """IDE, AHCI and NVMe disks in one VM under one key."""
    key, key_path = encryption.write_key(h, 64)
    imgs = {d: h.disk("disk-%s.img" % d, mib=16) for d in MIXED_SEEDS}
    disks = [("nvme", "%s,lbs=%d" % (imgs["nvme"], lbs)), ("ahci", imgs["ahci"]), ("ide", imgs["ata_piix"])]
    spec = "sv.test=disks sv.disks=%s sv.regions=%s" % (",".join("%s:%d" % kv for kv in MIXED_SEEDS.items()),
                                                         regions_arg())
    names = ["disk-%s-%s" % (d, r) for d in MIXED_SEEDS for _, _, r in REGIONS]
    b = keyed_boot(h, key, key_path, spec + " sv.diskmode=both", disks, lbs, timeout=1800)
    h.require_clean(b)
    require_mediated(h, b)
    b.expect(names)
    require_traffic(h, b, sum(s for _, s, _ in REGIONS))
    if not stand_in(h):
        ide_st = encryption.ide_stats(b)
        if ide_st["dma"] == 0 or ide_st["encrypted"] == 0:
            raise svtest.Fail("the IDE disk's traffic was not encrypted: %s" % ide_st)
        if not re.search(r"ahci\d: commands [1-9]", b.log):
            raise svtest.Fail("the AHCI disk's traffic did not go through the AHCI mediator")
    for d, seed in MIXED_SEEDS.items():
        check_ciphertext(imgs[d], key, seed, REGIONS, lbs if d == "nvme" else 512, "%s image" % d)
    print("svtest: %s: IDE, AHCI and NVMe images all aes-xts-plain64 under the same key" % h.machine)
    b = h.boot(spec + " sv.diskmode=verify sv.dmkey=%s" % key.hex(), disks=disks, hypervisor=False)
    h.require_clean(b)
    b.expect(names)
    print("svtest: the guest's own dm-crypt reads all three disks without the hypervisor")


# What each scenario of guest/sv-nvmehostile.c must end in under the
# mediator (the set of allowed outcomes). "error": an NVMe error status;
# "done"/"reached": a valid command worked (on the guest's own memory);
# db-beyond can only be ignored (no command, no completion: as QEMU does).
HOSTILE_HV = {
    "write-plain": {"done"}, "read-own": {"reached"},
    "phys-out": {"error"},            # PRP1 = hypervisor memory
    "phys-in": {"reached"},           # the guest's own victim page: legitimate
    "prp2-offset": {"error"}, "list-offset": {"error"}, "list-loop": {"error"},
    "past-mdts": {"error", "skipped"},  # skipped when MDTS (what the pool serves) is >= 500 pages
    "db-beyond": {"timeout"},
    "dup-cid": {"done"},              # slot tags keep the two apart: both complete, harmless
    "changed-after": {"first"},       # copied at the doorbell write
    "sq-phys": {"error"}, "cq-phys": {"error"},  # queues in hypervisor memory
    "write-zeroes": {"error"}, "dsm": {"error"}, "verify": {"error"}, "sgl-read": {"error"},
    "dbbuf": {"error"}, "fw-download": {"error"}, "hmb": {"error"}, "copy": {"error"},
}
HV_HEAP_RE = re.compile(r"heap (\d+) KiB at (0x[0-9a-f]+)")


def hostile_under_hypervisor(h, lbs):
    key, key_path = encryption.write_key(h, 64)
    img = h.disk("disk-nvme.img", mib=16)
    disks = [("nvme", "%s,lbs=%d" % (img, lbs))]
    # Where the hypervisor's heap is (the same on every boot of this VM):
    # the program aims phys-out, sq-phys and cq-phys there.
    probe = h.boot("sv.test=cpuid", disks=disks, extra=["--key-file", key_path], timeout=900)
    h.require_clean(probe)
    m = HV_HEAP_RE.search(probe.log)
    if not m:
        raise svtest.Fail("the hypervisor log has no 'heap N KiB at X' line")
    target = int(m.group(2), 16) + 0x10000
    b = h.boot("sv.test=nvmehostile sv.target=%x" % target, disks=disks,
               extra=["--key-file", key_path], timeout=900)
    h.require_clean(b)  # the hypervisor stayed up: the guest powered off
    require_mediated(h, b)
    b.expect(["nvmehostile-ran"])
    got = hostile_outcomes(b)
    bad = []
    for name, want in HOSTILE_HV.items():
        g = got.get(name)
        print("svtest: nvmehostile %-13s %-8s %s" % (name, g[0] if g else "-", g[2] if g else ""))
        if g is None:
            bad.append("%s: not reported" % name)
        elif g[0] not in want:
            bad.append("%s: %s (expected %s)" % (name, g[0], "/".join(sorted(want))))
    st = nvme_stats(b)
    print("svtest: hypervisor nvme0 statistics: %s" % st)
    refused = NVME_REFUSED_RE.findall(b.log)
    for _, reason, n in refused:
        print("svtest: hypervisor refused %s: %s" % (reason, n))
    must = sum(1 for n, w in HOSTILE_HV.items() if w == {"error"})
    if st["refused"] < must:
        bad.append("the mediator refused %d commands, the guest sent %d it must refuse" % (st["refused"], must))
    if not refused:
        bad.append("no 'nvme0: refused <reason>: N' line in the power-off statistics")
    if not re.search(r"nvme: qid \d+ refused opcode [0-9a-fA-F]+h: ", b.log):
        bad.append("no 'nvme: qid N refused opcode XXh: reason' line was logged")
    with open(img, "rb") as f:
        raw = f.read()
    if HOSTILE_PLAIN in raw or HOSTILE_CHANGED in raw or HOSTILE_VICTIM in raw:
        bad.append("plaintext of a hostile write is on the image")
    scale = lbs // 512  # the program's LBAs are in 512-byte units, scaled by the block size

    def plain_at(lba512, n):
        lba = lba512 // scale
        return xts.decrypt_sectors(key, lba, raw[lba * lbs:lba * lbs + lbs], lbs)[:n]
    if plain_at(2048, len(HOSTILE_PLAIN)) != HOSTILE_PLAIN:
        bad.append("LBA 2048 does not decrypt to the write-plain pattern")
    if plain_at(6144, len(HOSTILE_CHANGED)) != HOSTILE_CHANGED:
        bad.append("changed-after: the SLBA validated at the doorbell does not decrypt to its pattern")
    lba2 = 6656 // scale
    if raw[lba2 * lbs:(lba2 + 1) * lbs] != bytes(lbs):
        bad.append("changed-after: the SLBA written after the doorbell holds data")
    for what, needle in encryption.elf_needles(os.path.join(h.build, "shadowvisor.elf")):
        if needle in raw:
            bad.append("the image holds the hypervisor's %s" % what)
            break
    if bad:
        raise svtest.Fail("; ".join(bad))
    print("svtest: %s lbs=%d: every hostile NVMe command failed with an NVMe error status or was harmless; no "
          "plaintext and no hypervisor bytes on the image" % (h.machine, lbs))


TESTS = {"io": t_io, "blocked": t_blocked, "hostile": t_hostile, "encrypted": t_encrypted, "fs": t_fs,
         "simd": t_simd, "smp": t_smp, "poll": t_poll, "ns2": t_ns2, "mixed": t_mixed}
# Tests that run with --stand-in (bare, the guest's dm-crypt in the mediator's place).
STAND_IN = ("encrypted", "fs", "simd", "smp", "poll", "ns2", "mixed")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("test", choices=sorted(TESTS))
    p.add_argument("--no-hypervisor", action="store_true")
    p.add_argument("--stand-in", action="store_true",
                   help="bare QEMU, the guest's dm-crypt in the mediator's place (%s)" % ", ".join(STAND_IN))
    p.add_argument("--machine", choices=("pc", "q35"), default="pc")
    p.add_argument("--lbs", type=int, choices=(512, 4096), default=512)
    p.add_argument("--cpus", type=int, choices=(2, 4), default=2, help="smp: vCPUs (one I/O queue each)")
    p.add_argument("--build-dir", default=os.path.join(svtest.ROOT, "build"))
    args = p.parse_args()
    if args.stand_in and args.test not in STAND_IN:
        p.error("--stand-in applies to %s" % ", ".join(STAND_IN))
    name = "nvme-%s-%d" % (args.test, args.lbs) + ("-%dcpu" % args.cpus if args.test == "smp" else "")
    h = svtest.Harness(argparse.Namespace(no_hypervisor=args.no_hypervisor or args.stand_in,
                                          build_dir=args.build_dir, test=name + ("-stand-in" if args.stand_in else ""),
                                          machine=args.machine))
    h.stand_in = args.stand_in
    if h.hv and os.environ.get("SV_HV_TESTS", "").lower() not in ("1", "on", "true", "yes"):
        print("svtest: SKIP %s: hypervisor system tests are off (SV_HV_TESTS=1)" % name)
        return svtest.SKIP
    if not h.hv and not args.stand_in and args.test in STAND_IN:
        p.error("%s needs the hypervisor (or --stand-in)" % args.test)
    try:
        if args.test == "smp":
            t_smp(h, args.lbs, args.cpus)
        else:
            TESTS[args.test](h, args.lbs)
    except svtest.Fail as e:
        print("svtest: FAIL %s: %s" % (name, e))
        return 1
    print("svtest: PASS %s (%s%s)" % (name, args.machine, ", stand-in: guest dm-crypt, no hypervisor"
                                      if args.stand_in else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

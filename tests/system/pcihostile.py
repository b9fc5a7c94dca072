#!/usr/bin/env python3
"""Hostile-guest system tests of the PCI configuration rules (issue 7,
classes 4 and 6), through `./shadowvisor run`:

  q35-hostile   q35 with a key, an IDE disk on an added PIIX3 IDE function and
                an e1000 NIC: guest/sv-pcihostile sets Bus Master Enable on
                an ICH9 EHCI USB controller and the NIC through ECAM (1, 2, 4,
                8-byte and STOS stores at the MCFG base, via /dev/mem with
                iomem=relaxed) and through 0xCF8/0xCFC (dword, word, byte,
                reserved CONFIG_ADDRESS bits, a word straddling 0xCFB/0xCFC,
                REP OUTSB); moves the ECAM window (PCIEXBAR) through 0xCFC and
                through ECAM itself and attacks through the new window; tries
                windows over RAM, over the hypervisor and with the reserved
                length (refused, old value kept); moves the IDE bus-master BAR
                through ECAM (the IDE mediator must follow). BME must stay
                off everywhere; the mediated IDE function keeps its BME; the
                hypervisor must count the refusals. (The unmediated target
                beside the NIC is an ICH9 EHCI USB controller: ICH9 AHCI is
                mediated since issue #9 and keeps its BME like IDE.)
  q35-control   the same attacks without the hypervisor: each one sets BME
                (the attacks are real), the window moves.
  pc-hostile    the 0xCF8/0xCFC attacks on the pc machine (no ECAM there) on
                an e1000 NIC with a key.
  pc-control    the same without the hypervisor.
  allow-dma     q35 with a key and --allow-dma 8086:100e: the NIC may master
                the bus, the boot log warns that it can reach all memory, the
                (unmediated) EHCI USB controller stays blocked.
  bad-allow-dma a malformed allow_dma= stops the hypervisor with a clear
                message before any guest runs.
  nic-dma       a real DMA attempt (guest/sv-nicdma.c), q35 with a key: the
                guest sets BME on an e1000 (attached to a user netdev with a
                QEMU filter-dump capture) and makes it transmit one packet from
                its own buffer (a known pattern) and one straight from the
                hypervisor's memory marker (address from the ELF symbol
                table). Neither may appear in the capture.
  nic-dma-control the same without the hypervisor: the guest pattern must be
                in the capture (the DMA path works).

Usage: pcihostile.py TEST --build-dir DIR
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import svtest  # noqa: E402

USB, NIC, IDE = "8086:293a", "8086:100e", "8086:7010"
NIC_ARGS = ["--qemu-arg=-device", "--qemu-arg=e1000"]
USB_ARGS = ["--qemu-arg=-device", "--qemu-arg=ich9-usb-ehci1"]
STATS_RE = {
    "bme_refused": re.compile(r"pci: bus master enable refused (\d+)"),
    "ecam_writes": re.compile(r"pci: ecam writes (\d+)"),
    "relocations": re.compile(r"pci: ecam writes \d+ refused \d+ relocations (\d+)"),
    "refused_relocations": re.compile(r"refused relocations (\d+)"),
    "ecam_refused": re.compile(r"pci: ecam writes \d+ refused (\d+)"),
    "config_refused": re.compile(r"pci: config writes \d+ changed \d+ refused (\d+)"),
}


def stat(b, name):
    m = STATS_RE[name].search(b.log)
    if not m:
        raise svtest.Fail("hypervisor log has no '%s' statistic" % name)
    return int(m.group(1))


def write_key(h):
    path = os.path.join(h.work, "disk.key")
    with open(path, "wb") as f:
        f.write(os.urandom(64))
    return path


def boot_attack(h, hv, targets, ide=None, ecam=False, allowed=(), extra=()):
    img = h.disk("disk-ide.img", mib=16)
    append = ("iomem=relaxed sv.skipmod=ata_piix,ahci sv.test=pcihostile sv.expect=%s sv.pcitargets=%s"
              % ("blocked" if hv else "open", ",".join(targets)))
    if ide:
        append += " sv.pciide=" + ide
    if ecam:
        append += " sv.ecam=1"
    if allowed:
        append += " sv.pciallowed=" + ",".join(allowed)
    args = list(NIC_ARGS) + list(extra)
    if hv:
        args += ["--key-file", write_key(h)]
    b = h.boot(append, disks=[("ide", img)], hypervisor=hv, extra=args, timeout=600 if hv else 400)
    h.require_clean(b)
    if "pci-hostile" not in b.results:
        raise svtest.Fail("the guest program did not finish (no pci-hostile result)")
    b.expect(["pci-hostile"])
    return b


def t_q35_hostile(h):
    b = boot_attack(h, True, [USB, NIC], ide=IDE, ecam=True, extra=USB_ARGS)
    names = ["pci-ide-bme-allowed", "pci-ide-bar-move-ecam", "pci-pciexbar-move-cf8", "pci-pciexbar-move-ecam",
             "pci-pciexbar-over-ram", "pci-pciexbar-over-hv", "pci-pciexbar-reserved-length",
             "pci-8086293a-ecam-word", "pci-8086100e-ecam-qword", "pci-8086100e-cf8-byte",
             "pci-moved-cf8-ecam-byte", "pci-moved-ecam-ecam-dword"]
    b.expect(names)
    counts = {k: stat(b, k) for k in STATS_RE}
    print("svtest: hypervisor counted %s" % counts)
    for k, least in (("bme_refused", 1), ("ecam_writes", 1), ("relocations", 4), ("refused_relocations", 3),
                     ("ecam_refused", 1), ("config_refused", 1)):
        if counts[k] < least:
            raise svtest.Fail("hypervisor counted %s = %d, expected >= %d" % (k, counts[k], least))
    if "Bus Master Enable refused" not in b.log:
        raise svtest.Fail("no 'Bus Master Enable refused' line in the hypervisor log")


def t_q35_control(h):
    b = boot_attack(h, False, [USB, NIC], ide=IDE, ecam=True, extra=USB_ARGS)
    b.expect(["pci-8086293a-ecam-dword", "pci-8086100e-ecam-qword", "pci-8086100e-cf8-word",
              "pci-pciexbar-move-cf8", "pci-moved-cf8-ecam-byte", "pci-ide-bar-move-ecam"])


def t_pc_hostile(h):
    b = boot_attack(h, True, [NIC])
    b.expect(["pci-8086100e-cf8-dword", "pci-8086100e-cf8-word", "pci-8086100e-cf8-byte",
              "pci-8086100e-cf8-reserved", "pci-8086100e-cf8-outsb"])
    if stat(b, "bme_refused") < 1:
        raise svtest.Fail("the hypervisor counted no refused Bus Master Enable")


def t_pc_control(h):
    b = boot_attack(h, False, [NIC])
    b.expect(["pci-8086100e-cf8-dword", "pci-8086100e-cf8-byte", "pci-8086100e-cf8-outsb"])


def t_allow_dma(h):
    b = boot_attack(h, True, [USB], allowed=[NIC], extra=["--allow-dma", NIC] + USB_ARGS)
    b.expect(["pci-allowed-8086100e", "pci-8086293a-ecam-byte", "pci-8086293a-cf8-word"])
    if not re.search(r"\[sv\] WARN\s+PCI 0:\d+\.0 0x8086:0x100e: DMA allowed by allow_dma: this device can "
                     r"read and write ALL memory", b.log):
        raise svtest.Fail("the boot log does not warn about the allowed e1000")


def t_bad_allow_dma(h):
    b = h.boot("sv.test=smoke", extra=["--hypervisor-append", "allow_dma=8086:100e,everything"], timeout=120)
    if b.status == 0 or "SV-RESULT" in b.log:
        raise svtest.Fail("the hypervisor started a guest with a malformed allow_dma=")
    if "hypervisor option 'allow_dma=8086:100e,everything' is unknown or malformed" not in b.log:
        raise svtest.Fail("no clear refusal message for the malformed allow_dma=")


def marker_address(h):
    """Physical address of the hypervisor's memory marker (the image is
    linked at its physical load address, identity-mapped)."""
    out = subprocess.run(["nm", os.path.join(h.build, "shadowvisor.elf")], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "memory_marker" in line:
            return int(line.split()[0], 16)
    raise svtest.Fail("no memory_marker symbol in shadowvisor.elf")


def nic_dma(h, hv):
    pcap = os.path.join(h.work, "wire.pcap")
    if os.path.exists(pcap):
        os.unlink(pcap)
    addr = marker_address(h)
    extra = ["--qemu-arg=-netdev", "--qemu-arg=user,id=n0", "--qemu-arg=-device", "--qemu-arg=e1000,netdev=n0",
             "--qemu-arg=-object", "--qemu-arg=filter-dump,id=f0,netdev=n0,file=%s" % pcap]
    if hv:
        extra += ["--key-file", write_key(h)]
    b = h.boot("iomem=relaxed sv.test=nicdma sv.hvaddr=%x" % addr, hypervisor=hv, extra=extra,
               timeout=600 if hv else 400)
    h.require_clean(b)
    b.expect(["nicdma-programmed"])
    wire = open(pcap, "rb").read() if os.path.exists(pcap) else b""
    m = svtest.HV_MARKER_RE.search(b.log)
    marker = m.group(1).encode() if m else None
    print("svtest: capture %d bytes; guest pattern %s; hypervisor marker %s"
          % (len(wire), "present" if b"SV-NICDMA-GUEST-PATTERN-" in wire else "absent",
             "n/a" if marker is None else ("PRESENT" if marker in wire else "absent")))
    return b, wire, marker


def t_nic_dma(h):
    b, wire, marker = nic_dma(h, True)
    if marker is None:
        raise svtest.Fail("no hypervisor memory marker in the log")
    if marker in wire:
        raise svtest.Fail("the hypervisor's memory marker left the machine in a packet")
    if b"SV-NICDMA-GUEST-PATTERN-" in wire:
        raise svtest.Fail("the e1000 transmitted by DMA while the disk key was loaded")
    if stat(b, "bme_refused") < 1:
        raise svtest.Fail("the hypervisor counted no refused Bus Master Enable")


def t_nic_dma_control(h):
    _, wire, _ = nic_dma(h, False)
    if b"SV-NICDMA-GUEST-PATTERN-" not in wire:
        raise svtest.Fail("without the hypervisor the e1000 did not transmit the guest's pattern: "
                          "the DMA attempt does not work")


TESTS = {"q35-hostile": t_q35_hostile, "q35-control": t_q35_control, "pc-hostile": t_pc_hostile,
         "pc-control": t_pc_control, "allow-dma": t_allow_dma, "bad-allow-dma": t_bad_allow_dma,
         "nic-dma": t_nic_dma, "nic-dma-control": t_nic_dma_control}
MACHINE = {"q35-hostile": "q35", "q35-control": "q35", "allow-dma": "q35", "nic-dma": "q35",
           "nic-dma-control": "q35"}


if __name__ == "__main__":
    test = next((a for a in sys.argv[1:] if a in TESTS), None)
    if test in MACHINE and "--machine" not in sys.argv:
        sys.argv += ["--machine", MACHINE[test]]
    sys.exit(svtest.run_named_test(TESTS, "pci-", __doc__))

#!/usr/bin/env python3
"""Issue #7 class 3: state a refused command leaves behind in the IDE mediator.

guest/sv-idehostile.c (--only packet, ata_piix not loaded) sends PACKET to
the ATA disk (the disk is no ATAPI device and aborts it), then puts the disk
into a data-out phase behind the hypervisor's back (a 16-bit OUT at the
Device register that also writes Command) and sends the known text: once
through the data port (PIO), once by bus-master DMA after the libata-style
PRD set-up that preceded the PACKET.

tests:
  packet-control  without the hypervisor: the known text lands on the disk in
                  plaintext (the attack is real; only the hypervisor stops it)
  packet          under the hypervisor with a key: no plaintext on the image,
                  the hypervisor refused the PACKET, and valid I/O still works
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import svtest  # noqa: E402
from encryption import describe_sectors, hostile_text, ide_stats, write_key, HOSTILE_TEXT  # noqa: E402

SCENARIOS = ["hostile-setup", "hostile-valid-write", "hostile-packet-to-ata-pio", "hostile-packet-to-ata-dma"]


def targets(b):
    out = []
    for i in b.infos:
        if i.startswith("hostile-noplain "):
            _, lba, n = i.split()
            out.append((int(lba), int(n)))
    if len(out) != 2:
        raise svtest.Fail("the guest reported %d PACKET leftover targets, expected 2" % len(out))
    return out


def t_packet_control(h):
    key, _ = write_key(h, 64)
    img = h.disk("disk-ide.img", mib=64)
    b = h.boot("sv.skipmod=ata_piix sv.test=idehostile sv.hostile=packet", disks=[("ide", img)],
               hypervisor=False)
    h.require_clean(b)
    b.expect(SCENARIOS)
    with open(img, "rb") as f:
        raw = f.read()
    for lba, n in targets(b):
        what = describe_sectors(key, raw, lba, n, hostile_text(lba, n))
        print("svtest: without the hypervisor, LBA %d x%d holds: %s" % (lba, n, what))
        if what != "PLAINTEXT":
            raise svtest.Fail("control: the attack did not put the known text on the disk at LBA %d "
                              "(%s): the scenario proves nothing" % (lba, what))
    print("svtest: control: both PACKET leftover attacks write plaintext on bare QEMU")


def t_packet(h):
    key, key_path = write_key(h, 64)
    img = h.disk("disk-ide.img", mib=64)
    b = h.boot("sv.skipmod=ata_piix sv.test=idehostile sv.hostile=packet", disks=[("ide", img)],
               extra=["--key-file", key_path])
    h.require_clean(b)
    b.expect(SCENARIOS)
    with open(img, "rb") as f:
        raw = f.read()
    bad = []
    for lba, n in targets(b):
        what = describe_sectors(key, raw, lba, n, hostile_text(lba, n))
        print("svtest: under the hypervisor, LBA %d x%d holds: %s" % (lba, n, what))
        if what == "PLAINTEXT":
            bad.append(lba)
    if bad or HOSTILE_TEXT in raw:
        raise svtest.Fail("plaintext of the known text on the image (PACKET leftover targets %s)" % bad)
    refusals = [l.strip() for l in b.log.splitlines() if l.startswith("[sv]") and "refused" in l]
    for l in refusals:
        print("svtest: hypervisor: %s" % l)
    if not any("PACKET to a device not identified as ATAPI" in l for l in refusals):
        raise svtest.Fail("the hypervisor did not log refusing the PACKET to the ATA disk")
    st = ide_stats(b)
    if st["aborted"] < 2:
        raise svtest.Fail("the hypervisor aborted %d commands, expected both PACKETs" % st["aborted"])
    print("svtest: no plaintext on the image; %d commands aborted by the hypervisor" % st["aborted"])


TESTS = {"packet-control": t_packet_control, "packet": t_packet}

if __name__ == "__main__":
    sys.exit(svtest.run_named_test(TESTS, "idephase-", __doc__))

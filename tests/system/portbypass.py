#!/usr/bin/env python3
"""Issue 7 classes 1 and 2: a hostile guest (guest/sv-portbypass.c, ata_piix
not loaded) tries to get around the IDE mediator with accesses that cover
more than one port and by moving the bus-master BAR where it might not be
trapped (see the program's header for the scenarios).

  bypass   under the hypervisor with a key: every scenario PASSes in the
           guest (multi-port commands were mediated, BAR moves to untrappable
           places refused, the legitimate move followed, the bus master never
           took the guest's own table), no plaintext is on the image, the
           sector written by the 16-bit OUT at 1F6h decrypts (aes-xts-plain64,
           OpenSSL) to the guest's text, and the hypervisor logged and counted
           both the split accesses and the refused placements.
  control  the same program without the hypervisor: the 16-bit OUT at 1F6h
           really issues the command (its text is on the disk in clear), and
           moving BAR4 to 40h hands the bus master the guest's own table
           (plaintext on disk, the guest's buffer written by the device): what
           the hypervisor stops.

Usage: portbypass.py bypass|control --build-dir DIR
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import svtest  # noqa: E402
import xts  # noqa: E402

TEXT = b"sv-portbypass plaintext "
CLASS2 = ["c2-outw-write", "c2-outw-read", "c2-outl-write", "c2-rep-outsw"]
CLASS1 = ["c1-bar4-0x40", "c1-bar4-zero", "c1-bar4-over-secondary", "c1-bar4-high-bits",
          "c1-bar4-word-0x80", "c1-bar4-byte-legit", "c1-bar4-byte-low", "c1-decode-toggle",
          "c1-bar4-legit-f000", "c1-bar4-over-pm", "c1-bar4-over-config"]
SPLIT_RE = re.compile(r"\[sv\] info\s+exits: port accesses split per owner (\d+), refused (\d+)")
PLACEMENT_RE = re.compile(r"\[sv\] info\s+ide0: guest register placements refused (\d+)")


def write_key(h):
    key = bytes((i * 41 + 3) & 0xFF for i in range(64))
    path = os.path.join(h.work, "disk.key")
    with open(path, "wb") as f:
        f.write(key)
    return key, path


def plaintext(name, lba):
    out = b""
    for line in range(8):
        s = ("sv-portbypass plaintext %s lba %u line %u " % (name, lba, line)).encode()[:63]
        out += s + b"." * (63 - len(s)) + b"\n"
    return out


def boot(h, hypervisor, img, extra=()):
    b = h.boot("sv.skipmod=ata_piix sv.test=portbypass", disks=[("ide", img)], hypervisor=hypervisor,
               extra=list(extra), timeout=600)
    h.require_clean(b)
    if "SV-INIT module ata_piix skipped" not in b.log:
        raise svtest.Fail("ata_piix was not skipped")
    if "portbypass-setup" in b.results:
        raise svtest.Fail("set-up failed: %s" % (b.results["portbypass-setup"],))
    if b.info("portbypass-done") is None:
        raise svtest.Fail("sv-portbypass did not finish")
    return b


def t_bypass(h):
    key, key_path = write_key(h)
    img = h.disk("disk-ide.img", mib=16)
    b = boot(h, True, img, ["--key-file", key_path])
    b.expect(["portbypass-" + n for n in CLASS2 + CLASS1])
    with open(img, "rb") as f:
        raw = f.read()
    if TEXT in raw:
        at = raw.index(TEXT)
        raise svtest.Fail("plaintext on the image at byte %d (sector %d): %r" % (at, at // 512, raw[at:at + 64]))
    # The command issued by `outw` at 1F6h went through the mediator: its
    # sector is aes-xts-plain64 of the guest's text under tweak = LBA.
    for name, lba in (("c2-outw-write", 100), ("c2-outl-write", 102)):
        got = xts.decrypt_sectors(key, lba, raw[lba * 512:(lba + 1) * 512])
        if got != plaintext(name, lba):
            raise svtest.Fail("sector %d (%s) does not decrypt to the guest's text: %r" % (lba, name, got[:64]))
    print("svtest: sectors 100 and 102 (written by 16/32-bit OUTs straddling 1F7h) decrypt to the guest's text")
    if "covers mediated ports: split byte-exactly" not in b.log:
        raise svtest.Fail("the hypervisor did not log the split port access")
    if "guest register placement refused" not in b.log:
        raise svtest.Fail("the hypervisor did not log a refused BAR placement")
    m = SPLIT_RE.search(b.log)
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise svtest.Fail("split/refused port access counters missing or zero: %s" % (m.groups() if m else None))
    p = PLACEMENT_RE.search(b.log)
    if not p or int(p.group(1)) == 0:
        raise svtest.Fail("refused placement counter missing or zero")
    print("svtest: hypervisor split %s and refused %s port accesses, refused %s placements"
          % (m.group(1), m.group(2), p.group(1)))


def t_control(h):
    img = h.disk("disk-ide-bare.img", mib=16)
    b = boot(h, False, img)
    with open(img, "rb") as f:
        raw = f.read()
    # Class 2: the 16-bit OUT at 1F6h issued WRITE DMA on the bare device.
    if raw[100 * 512:101 * 512] != plaintext("c2-outw-write", 100):
        raise svtest.Fail("bare: the outw at 1F6h did not issue the WRITE DMA (sector 100 lacks the text)")
    # Class 1: BAR4 at 40h; the bus master took the guest's own table.
    if b.results.get("portbypass-c1-bar4-0x40", ("?",))[0] != "FAIL":
        raise svtest.Fail("bare: moving BAR4 to 40h did not hand the bus master the guest's table: %s"
                          % (b.results.get("portbypass-c1-bar4-0x40"),))
    if raw[200 * 512:201 * 512] != plaintext("c1-bar4-0x40", 200):
        raise svtest.Fail("bare: the own-table WRITE DMA at BAR4=40h put no plaintext on sector 200")
    print("svtest: bare QEMU: the straddling outw issued WRITE DMA and BAR4 at 40h let the guest's own "
          "PRD table write plaintext: the attacks are real")


TESTS = {"bypass": t_bypass, "control": t_control}

if __name__ == "__main__":
    sys.exit(svtest.run_named_test(TESTS, "portbypass-", __doc__))

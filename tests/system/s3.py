#!/usr/bin/env python3
"""S3 suspend-to-RAM under the hypervisor (issue 7, class 8).

The VM runs with S3 enabled (`-global PIIX4_PM.disable_s3=0`) and a QEMU
monitor on a unix socket. The guest (guest/tests/s3) writes a pattern to the
encrypted IDE disk, says `SV-NEED s3` and suspends (`echo mem >
/sys/power/state`); the host polls `info status` until QEMU reports the VM
suspended and sends `system_wakeup`. After the resume the guest checks that
the old data reads back, writes and reads a new pattern, that CPUID shows the
ShadowVisor signature on every CPU, and (the devmem test, run after s3) that
the hypervisor's memory marker is still hidden. The host then decrypts both
regions of the image with OpenSSL: the post-resume data must be ciphertext.

  s3          one CPU, under the hypervisor with a key.
  cpus2       the same with two CPUs (the AP comes back under the hypervisor).
  baseline    the control: the same guest without the hypervisor suspends and
              resumes (so the test really exercises S3), and the post-resume
              data is plaintext on the image (what the old hypervisor let
              through after a resume).
  refuse      a hostile guest writes SLP_TYP | SLP_EN straight to PM1a control
              (guest/sv-sleepreq.c), bypassing the kernel: with S3 disabled
              (`PIIX4_PM.disable_s3=1`: the DSDT has no \\_S3) SLP_TYP 1,
              which QEMU still obeys as S3, \\_S4 (2) and an unnamed type (3);
              with S3 enabled, SLP_TYP 1 without a waking vector in the FACS.
              Every write is refused and logged, the guest keeps running under
              the hypervisor, the key is not wiped (encrypted I/O afterwards
              is ciphertext on the image).
  facsmove    a hostile guest forges a FACS and points the FADT at it
              (guest/sv-facsmove.c), then suspends through the kernel: the
              hypervisor refuses (the FADT no longer names the FACS the
              firmware set up), the kernel's sleep returns at once (WAK_STS),
              the guest runs on under the hypervisor with its disk working.
  facsmove-baseline  the control: without the hypervisor the firmware follows
              the forged FACS at wake-up and the guest never comes back.
  refuse-baseline  the control: without the hypervisor the same S4 write
              powers the VM off (the request really reaches the platform).

Usage: s3.py TEST --build-dir DIR
"""
import os
import re
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pattern  # noqa: E402
import svtest  # noqa: E402
import xts  # noqa: E402

BEFORE = (71, 1 << 20, 256 << 10)  # seed, offset, size
AFTER = (72, 4 << 20, 256 << 10)
S3_QEMU = ["--qemu-arg=-global", "--qemu-arg=PIIX4_PM.disable_s3=0"]


class Monitor:
    """Human monitor on a unix socket: one command at a time."""

    def __init__(self, path):
        self.path = path

    def command(self, cmd, timeout=10):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.path)
        data = b""
        try:
            while b"(qemu)" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.sendall((cmd + "\n").encode())
            data = b""
            end = time.monotonic() + timeout
            while data.count(b"(qemu)") < 1 and time.monotonic() < end:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        return data.decode("utf-8", "replace")


class Waker:
    """Started when the guest says SV-NEED s3: waits until QEMU says the VM
    is suspended, then wakes it up."""

    def __init__(self, monitor_path):
        self.monitor = Monitor(monitor_path)
        self.saw_suspended = False
        self.woke = False
        self.error = None
        self.thread = None

    def start(self, _log):
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return "go"

    def run(self):
        try:
            end = time.monotonic() + 300
            while time.monotonic() < end:
                if "suspended" in self.monitor.command("info status"):
                    self.saw_suspended = True
                    break
                time.sleep(0.5)
            if not self.saw_suspended:
                self.error = "QEMU never reported the VM suspended"
                return
            print("svtest: QEMU reports the VM suspended: system_wakeup", flush=True)
            time.sleep(1)
            self.monitor.command("system_wakeup")
            self.woke = True
        except OSError as e:
            self.error = "monitor: %s" % e


def boot_s3(h, hv, cpus=1, key=True, extra_tests="cpuid,devmem"):
    sock = os.path.join(h.work, "monitor-%d.sock" % (h.boots + 1))
    if os.path.exists(sock):
        os.unlink(sock)
    waker = Waker(sock)
    extra = S3_QEMU + ["--qemu-arg=-monitor", "--qemu-arg=unix:%s,server,nowait" % sock,
                       "--cpus", str(cpus)]
    keyb = None
    if key and hv:
        keyb = bytes((i * 29 + 5) & 0xFF for i in range(64))
        key_path = os.path.join(h.work, "disk.key")
        with open(key_path, "wb") as f:
            f.write(keyb)
        extra += ["--key-file", key_path]
    img = h.disk("disk-ide.img", mib=16)
    state = {}

    def marker(log):
        m = svtest.HV_MARKER_RE.search(log)
        state["marker"] = m.group(1) if m else ("missing" if hv else "0123456789abcdef")
        return state["marker"]

    s, o, z = BEFORE
    a_s, a_o, a_z = AFTER
    append = ("sv.test=s3%s sv.s3disk=ata_piix:%d:%dK:%dK sv.s3after=%d:%dK:%dK sv.expect=%s sv.gapend=%d"
              % ("," + extra_tests if extra_tests else "", s, o >> 10, z >> 10, a_s, a_o >> 10, a_z >> 10,
                 "hv" if hv else "none", svtest.VM_MEMORY_MIB + 16))
    b = h.boot(append, disks=[("ide", img)], hypervisor=hv, extra=extra, timeout=900,
               answers={"s3": waker.start, "marker": marker})
    if waker.thread:
        waker.thread.join(timeout=5)
    return b, waker, img, keyb


def check_suspended(b, waker):
    if waker.error:
        raise svtest.Fail(waker.error)
    if not (waker.saw_suspended and waker.woke):
        raise svtest.Fail("the VM was never seen suspended and woken (guest never asked?)")


def expect_hv(b, waker, img, key, cpus):
    h_names = ["s3-before", "s3-resume", "s3-kernel", "s3-old-data", "s3-new-data", "s3-cpuid",
               "cpuid-signature", "cpuid-hv-bit", "cpuid-svm-hidden", "hypercall",
               "devmem-marker", "devmem-control"]
    check_suspended(b, waker)
    if b.status != 0:
        tail = "\n".join(b.log.splitlines()[-60:])
        raise svtest.Fail("VM exited with status %d; log tail:\n%s" % (b.status, tail))
    b.expect(h_names)
    m = re.search(r"S3 resume (\d+): guest resumes at its waking vector", b.log)
    if not m or int(m.group(1)) < 1:
        raise svtest.Fail("the hypervisor did not log resuming the guest after S3")
    if "disk key wiped" in b.log.split("S3 resume")[0]:
        raise svtest.Fail("the key was wiped at the S3 request (a sleep must keep the disk usable)")
    if b.info("s3-cpus") != str(cpus):
        raise svtest.Fail("guest saw %s CPUs before suspend, expected %d" % (b.info("s3-cpus"), cpus))
    for seed, off, size in (BEFORE, AFTER):
        if pattern.check_image(img, seed, off, size) is None:
            raise svtest.Fail("plaintext pattern (seed %d) on the image at %d" % (seed, off))
        err = xts.check_encrypted_image(img, key, seed, off, size)
        if err:
            raise svtest.Fail("region at %d is not aes-xts-plain64 of the pattern: %s" % (off, err))
    print("svtest: S3 under the hypervisor: both regions are ciphertext (OpenSSL decrypts them)")


def t_s3(h):
    b, waker, img, key = boot_s3(h, True)
    expect_hv(b, waker, img, key, 1)


def t_cpus2(h):
    b, waker, img, key = boot_s3(h, True, cpus=2)
    expect_hv(b, waker, img, key, 2)
    # Linux idles its offlined AP in the guest: the hypervisor must have taken
    # it out before sleeping, and started it into SVM again after the wake-up.
    if not re.search(r"S3: 1 application processors taken out of the guest and parked", b.log):
        raise svtest.Fail("the hypervisor did not park the guest's offlined AP before sleeping")
    if "S3 resume: 1 application processors back under the hypervisor" not in b.log:
        raise svtest.Fail("the AP was not restarted under the hypervisor after the wake-up")


def t_baseline(h):
    b, waker, img, _ = boot_s3(h, False, extra_tests="")
    check_suspended(b, waker)
    h.require_clean(b)
    b.expect(["s3-before", "s3-resume", "s3-kernel", "s3-old-data", "s3-new-data", "s3-cpuid"])
    for seed, off, size in (BEFORE, AFTER):
        err = pattern.check_image(img, seed, off, size)
        if err:
            raise svtest.Fail("baseline: plaintext pattern %d not on the image: %s" % (seed, err))
    print("svtest: control: without the hypervisor S3 works and the data is plaintext on the image")


REFUSE_REGION = (73, 1 << 20, 256 << 10)


def t_refuse(h):
    key = bytes((i * 29 + 5) & 0xFF for i in range(64))
    key_path = os.path.join(h.work, "disk.key")
    with open(key_path, "wb") as f:
        f.write(key)
    seed, off, size = REFUSE_REGION
    for disable_s3, types, reason in (("1", "1,2,3", "sleeping state the hypervisor cannot survive"),
                                      ("0", "1", "the FACS holds no real-mode waking vector")):
        img = h.disk("disk-ide.img", mib=16)
        b = h.boot("sv.test=sleepreq,disks,cpuid sv.sleeptypes=%s sv.disks=ata_piix:%d sv.regions=%dK:%dK:4K"
                   % (types, seed, off >> 10, size >> 10), disks=[("ide", img)],
                   extra=["--key-file", key_path, "--qemu-arg=-global",
                          "--qemu-arg=PIIX4_PM.disable_s3=%s" % disable_s3], timeout=900)
        h.require_clean(b)
        b.expect(["sleepreq-%s" % t for t in types.split(",")] +
                 ["disk-ata_piix-4K", "cpuid-signature", "cpuid-hv-bit", "cpuid-svm-hidden", "hypercall"])
        if not re.search(r"sleep request refused: %s" % reason, b.log):
            raise svtest.Fail("disable_s3=%s: the hypervisor did not log refusing the sleep (%s)"
                              % (disable_s3, reason))
        for t in types.split(","):
            if b.info("sleepreq-%s wak_sts" % t) != "1":
                raise svtest.Fail("SLP_TYP %s: after the refusal PM1 status did not show WAK_STS" % t)
        if b.log.count("disk key wiped") != 1 or "guest requested power-off" not in b.log.split("disk key wiped")[0]:
            raise svtest.Fail("the key was wiped before the final power-off")
        if pattern.check_image(img, seed, off, size) is None:
            raise svtest.Fail("plaintext pattern on the image")
        err = xts.check_encrypted_image(img, key, seed, off, size)
        if err:
            raise svtest.Fail("image is not aes-xts-plain64 of the pattern: %s" % err)
        print("svtest: disable_s3=%s: SLP_TYP %s refused (%s); encrypted disk still works"
              % (disable_s3, types, reason))


def t_refuse_baseline(h):
    b = h.boot("sv.test=sleepreq sv.sleeptypes=2", hypervisor=False, timeout=300)
    if b.info("sleepreq-2 request") is None:
        raise svtest.Fail("sv-sleepreq did not run")
    if "sleepreq-2" in b.results or "SV-POWEROFF" in b.log:
        raise svtest.Fail("without the hypervisor the S4 write did not take effect")
    if b.status != 0:
        raise svtest.Fail("VM exited with status %d, expected QEMU's power-off on S4" % b.status)
    print("svtest: control: without the hypervisor the S4 write powers the VM off")


def boot_facsmove(h, hv, timeout):
    sock = os.path.join(h.work, "monitor-%d.sock" % (h.boots + 1))
    if os.path.exists(sock):
        os.unlink(sock)
    waker = Waker(sock)
    extra = S3_QEMU + ["--qemu-arg=-monitor", "--qemu-arg=unix:%s,server,nowait" % sock]
    key = bytes((i * 29 + 5) & 0xFF for i in range(64))
    img = h.disk("disk-ide.img", mib=16)
    if hv:
        key_path = os.path.join(h.work, "disk.key")
        with open(key_path, "wb") as f:
            f.write(key)
        extra += ["--key-file", key_path]
    seed, off, size = REFUSE_REGION
    b = h.boot("sv.test=facsmove,cpuid,disks sv.expect=%s sv.disks=ata_piix:%d sv.regions=%dK:%dK:4K"
               % ("hv" if hv else "none", seed, off >> 10, size >> 10), disks=[("ide", img)],
               hypervisor=hv, extra=extra, timeout=timeout, answers={"s3": waker.start})
    return b, waker, img, key


def t_facsmove(h):
    b, waker, img, key = boot_facsmove(h, True, 900)
    h.require_clean(b)
    b.expect(["facsmove-forge", "facsmove-survived", "cpuid-signature", "cpuid-hv-bit", "cpuid-svm-hidden",
              "hypercall", "disk-ata_piix-4K"])
    if waker.saw_suspended:
        raise svtest.Fail("the VM suspended with a forged FACS")
    if "sleep request refused: the ACPI tables that lead the firmware to the FACS changed since boot" not in b.log:
        raise svtest.Fail("the hypervisor did not log refusing the forged-FACS sleep")
    if b.log.count("disk key wiped") != 1:
        raise svtest.Fail("the key was wiped before the final power-off")
    seed, off, size = REFUSE_REGION
    err = xts.check_encrypted_image(img, key, seed, off, size)
    if err:
        raise svtest.Fail("image is not aes-xts-plain64 of the pattern: %s" % err)
    print("svtest: forged FACS: sleep refused, guest still under the hypervisor, disk encrypted")


def t_facsmove_baseline(h):
    b, waker, _, _ = boot_facsmove(h, False, 240)
    if "facsmove-forge" not in b.results or b.results["facsmove-forge"][0] != "PASS":
        raise svtest.Fail("the forgery itself failed: %s" % (b.results.get("facsmove-forge"),))
    check_suspended(b, waker)
    if "facsmove-survived" in b.results:
        raise svtest.Fail("without the hypervisor the guest resumed normally despite the forged FACS")
    print("svtest: control: without the hypervisor the firmware resumes at the forged vector "
          "(the guest never comes back, VM status %d)" % b.status)


TESTS = {"facsmove": t_facsmove, "facsmove-baseline": t_facsmove_baseline, "s3": t_s3, "cpus2": t_cpus2, "baseline": t_baseline, "refuse": t_refuse,
         "refuse-baseline": t_refuse_baseline}


if __name__ == "__main__":
    sys.exit(svtest.run_named_test(TESTS, "s3-"))

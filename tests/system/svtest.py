#!/usr/bin/env python3
"""System tests: boot the test guest through `./shadowvisor run` and judge
the SV-RESULT lines it prints (plus host-side checks of the disk images).

usage: svtest.py TEST [--no-hypervisor] [--machine pc|q35] [--build-dir DIR]
  TEST: cpuid | disks | memory | devmem | dmcrypt | nosvm
  --no-hypervisor   the bare-QEMU baseline variant
  --machine         QEMU machine (./shadowvisor run --machine; default pc)
Exit status: 0 pass, 1 fail, 77 skipped (hypervisor tests are skipped unless
SV_HV_TESTS=1, as ctest sets it unless cmake -DSV_SYSTEM_TESTS_HYPERVISOR=OFF).

A test fails when an expected SV-RESULT line is missing, not only when one
says FAIL.
"""
import argparse
import fcntl
import os
import re
import secrets
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import pattern  # noqa: E402
import xts  # noqa: E402

SKIP = 77
VM_MEMORY_MIB = 512
RESULT_RE = re.compile(r"^SV-RESULT (\S+) (PASS|FAIL)\b ?(.*)$")
INFO_RE = re.compile(r"^SV-INFO (.*)$")
HV_MEMORY_RE = re.compile(r"hypervisor memory: (\d+) KiB")
HV_MARKER_RE = re.compile(r"hypervisor memory marker: ([0-9A-Fa-f]{16})")


class Fail(Exception):
    pass


class Boot:
    """One VM boot: console text, exit status, parsed results and infos."""

    def __init__(self, status, log, elapsed):
        self.status, self.log, self.elapsed = status, log, elapsed
        self.results, self.infos = {}, []
        for line in log.splitlines():
            line = line.strip("\r")
            m = RESULT_RE.match(line)
            if m:
                self.results[m.group(1)] = (m.group(2), m.group(3))
            m = INFO_RE.match(line)
            if m:
                self.infos.append(m.group(1))

    def info(self, key):
        """Value of the first `SV-INFO key value` line, or None."""
        for i in self.infos:
            if i.startswith(key + " "):
                return i[len(key) + 1:]
        return None

    def expect(self, names):
        """Every name must be present and PASS."""
        bad = []
        for n in names:
            if n not in self.results:
                bad.append("%s: missing" % n)
            elif self.results[n][0] != "PASS":
                bad.append("%s: %s %s" % (n, self.results[n][0], self.results[n][1]))
        for n, (s, d) in self.results.items():
            if s != "PASS" and n not in names:
                bad.append("%s: %s %s" % (n, s, d))
        if bad:
            raise Fail("; ".join(bad))


class Harness:
    def __init__(self, args):
        self.hv = not args.no_hypervisor
        self.machine = getattr(args, "machine", None) or "pc"
        self.build = os.path.abspath(args.build_dir)
        self.guest = os.path.join(self.build, "guest")
        self.work = os.path.join(self.build, "system-tests",
                                 args.test + ("" if self.hv else "-baseline")
                                 + ("" if self.machine == "pc" else "-" + self.machine))
        os.makedirs(self.work, exist_ok=True)
        # Two runs of the same test (e.g. two engineers sharing build/) would
        # clobber each other's images and logs: the second waits.
        self.lock = open(os.path.join(self.work, ".lock"), "w")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("svtest: another run of this test is using %s: waiting" % self.work, flush=True)
            fcntl.flock(self.lock, fcntl.LOCK_EX)
        self.boots = 0

    def disk(self, name, mib=64):
        path = os.path.join(self.work, name)
        if os.path.exists(path):
            os.unlink(path)
        with open(path, "wb") as f:
            f.truncate(mib << 20)
        return path

    def boot(self, append, disks=(), hypervisor=None, extra=(), timeout=None, answers=None):
        """Boot via ./shadowvisor run; `answers` maps an `SV-NEED key` request
        from the guest to a function(log_so_far) -> line sent to the console."""
        hv = self.hv if hypervisor is None else hypervisor
        timeout = timeout or (300 if hv else 150)
        cmd = [os.path.join(ROOT, "shadowvisor"), "run",
               "--kernel", os.path.join(self.guest, "bzImage"),
               "--initrd", os.path.join(self.guest, "initramfs.cpio.gz"),
               "--append", append, "--memory", str(VM_MEMORY_MIB),
               "--timeout", str(timeout), "--machine", self.machine]
        if not hv:
            cmd.append("--no-hypervisor")
        else:
            cmd += ["--hypervisor", os.path.join(self.build, "shadowvisor.elf")]
        for kind, path in disks:
            cmd += ["--disk", "%s:%s" % (kind, path)]
        cmd += list(extra)
        self.boots += 1
        logpath = os.path.join(self.work, "console-%d.log" % self.boots)
        print("svtest: boot %d (%s): %s" % (self.boots, "hypervisor" if hv else "no hypervisor",
                                             " ".join(cmd)), flush=True)
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        text = []
        with open(logpath, "w", errors="replace") as logf:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                text.append(line)
                logf.write(line)
                m = re.search(r"SV-NEED (\S+)", line)
                if m and answers and m.group(1) in answers:
                    reply = answers[m.group(1)]("".join(text))
                    try:
                        proc.stdin.write((reply + "\n").encode())
                        proc.stdin.flush()
                    except BrokenPipeError:
                        pass
        status = proc.wait()
        b = Boot(status, "".join(text), time.monotonic() - start)
        print("svtest: boot %d exit %d after %.1f s, log %s" % (self.boots, status, b.elapsed, logpath))
        for line in b.log.splitlines():
            if line.startswith(("SV-RESULT", "SV-INFO", "shadowvisor run:", "[sv]")):
                print("  " + line.strip())
        return b

    def require_clean(self, b):
        if b.status != 0:
            tail = "\n".join(b.log.splitlines()[-40:])
            raise Fail("VM exited with status %d (expected a clean power-off); log tail:\n%s"
                       % (b.status, tail))


# --- tests ------------------------------------------------------------------

def t_cpuid(h):
    b = h.boot("sv.test=cpuid sv.expect=%s" % ("hv" if h.hv else "none"))
    h.require_clean(b)
    b.expect(["cpuid-signature", "cpuid-hv-bit", "cpuid-svm-hidden", "hypercall"] if h.hv else ["cpuid-signature"])


DISKS = [("ide", "ata_piix", 11), ("ahci", "ahci", 12), ("nvme", "nvme", 13)]
REGIONS = [(1 << 20, 256 << 10, "4K"), (8 << 20, 4 << 20, "1M")]  # offset, size, request size


def t_disks(h):
    images = [(kind, h.disk("disk-%s.img" % kind)) for kind, _, _ in DISKS]
    regions = ",".join("%dK:%dK:%s" % (o >> 10, s >> 10, r) for o, s, r in REGIONS)
    disks = ",".join("%s:%d" % (drv, seed) for _, drv, seed in DISKS)
    b = h.boot("sv.test=disks sv.disks=%s sv.regions=%s" % (disks, regions), disks=images)
    h.require_clean(b)
    b.expect(["disk-%s-%s" % (drv, r) for _, drv, _ in DISKS for _, _, r in REGIONS])
    # Pass-through without a key: the plaintext pattern must be on the image,
    # at exactly the offsets written, with zeros around it.
    problems = []
    for (kind, path), (_, drv, seed) in zip(images, DISKS):
        for off, size, _ in REGIONS:
            err = pattern.check_image(path, seed, off, size)
            if err:
                problems.append("%s image, region at %d: %s" % (kind, off, err))
            for zoff in (off - 65536, off + size):
                err = pattern.check_zero(path, zoff, 65536)
                if err:
                    problems.append("%s image, guard at %d: %s" % (kind, zoff, err))
        print("svtest: host check of %s image %s" % (kind, "failed" if problems else "ok"))
    if problems:
        raise Fail("; ".join(problems))


def e820_ram_kib(b):
    v = b.info("e820_ram_kib")
    if v is None:
        raise Fail("guest did not report e820_ram_kib")
    return int(v)


def t_memory(h):
    if not h.hv:
        b = h.boot("sv.test=meminfo")
        h.require_clean(b)
        b.expect(["meminfo"])
        ram = e820_ram_kib(b)
        vm = VM_MEMORY_MIB * 1024
        if not vm - 1024 <= ram <= vm:
            raise Fail("e820 System RAM %d KiB, VM has %d KiB" % (ram, vm))
        print("svtest: e820 System RAM %d KiB of %d KiB VM RAM" % (ram, vm))
        return
    base = h.boot("sv.test=meminfo", hypervisor=False)
    h.require_clean(base)
    base.expect(["meminfo"])
    b = h.boot("sv.test=meminfo")
    h.require_clean(b)
    b.expect(["meminfo"])
    m = HV_MEMORY_RE.search(b.log)
    if not m:
        raise Fail("hypervisor log has no 'hypervisor memory: N KiB' line")
    reserved = int(m.group(1))
    diff = e820_ram_kib(base) - e820_ram_kib(b)
    print("svtest: e820 RAM bare %d KiB, under hypervisor %d KiB, difference %d KiB, "
          "hypervisor reports %d KiB" % (e820_ram_kib(base), e820_ram_kib(b), diff, reserved))
    if diff != reserved:
        raise Fail("guest lost %d KiB of RAM but the hypervisor reports %d KiB" % (diff, reserved))


def t_devmem(h):
    state = {}

    def marker(log):
        m = HV_MARKER_RE.search(log)
        if m:
            state["marker"] = m.group(1)
        elif not h.hv:
            # Baseline: a fresh random marker (present nowhere) tests the plumbing.
            state["marker"] = secrets.token_hex(8)
        else:
            state["marker"] = "missing"
        return state["marker"]

    b = h.boot("sv.test=devmem sv.gapend=%d" % (VM_MEMORY_MIB + 16), answers={"marker": marker})
    h.require_clean(b)
    if h.hv and state.get("marker") in (None, "missing"):
        raise Fail("hypervisor log has no 'hypervisor memory marker: <16 hex>' line")
    b.expect(["devmem-marker", "devmem-control"])


def t_dmcrypt(h):
    img = h.disk("disk-ide.img")
    b = h.boot("sv.test=dmcrypt sv.dmdisk=ata_piix sv.dmkey=%s" % bytes(range(32)).hex(),
               disks=[("ide", img)])
    h.require_clean(b)
    b.expect(["dmcrypt-open", "dmcrypt-io", "dmcrypt-raw", "dmcrypt-reopen"])
    # The plaintext must not be on the image, and the ciphertext must be
    # standard aes-xts-plain64 (checked independently with OpenSSL).
    if pattern.check_image(img, 21, 1 << 20, 64 << 10) is None:
        raise Fail("plaintext pattern found on the image")
    err = xts.check_encrypted_image(img, bytes(range(32)), 21, 1 << 20, 1 << 20)
    if err:
        raise Fail("image is not aes-xts-plain64 of the pattern: %s" % err)
    print("svtest: host decrypted the image with OpenSSL: pattern ok")


def t_hvwrite(h):
    """The guest writes over the hypervisor image and the start of its heap
    (page tables) through /dev/mem: the writes are dropped (read back as
    zeros) and the hypervisor keeps working for the rest of the boot."""
    if not h.hv:
        raise Fail("hvwrite needs the hypervisor (a bare guest would corrupt its own RAM)")
    img = h.disk("disk-ide.img", mib=16)
    b = h.boot("sv.test=hvwrite,cpuid,disks sv.disks=ata_piix:17 sv.regions=1024K:64K:4K",
               disks=[("ide", img)])
    h.require_clean(b)
    b.expect(["hvwrite", "cpuid-signature", "cpuid-hv-bit", "cpuid-svm-hidden", "hypercall",
              "disk-ata_piix-4K"])
    if "guest wrote to hidden hypervisor memory" not in b.log:
        raise Fail("the hypervisor did not see the guest's writes to its memory")
    if pattern.check_image(img, 17, 1 << 20, 64 << 10):
        raise Fail("disk I/O after the writes did not land correctly")


def t_nosvm(h):
    if not h.hv:
        print("svtest: nosvm has no baseline variant")
        return SKIP
    b = h.boot("sv.test=smoke", extra=["--cpu-model", "qemu64"], timeout=120)
    if b.status == 0:
        raise Fail("the hypervisor ran on a CPU without NPT and the guest powered off normally")
    refusal = [line for line in b.log.splitlines()
               if re.search(r"\bNPT\b|nested pag", line, re.I)
               and re.search(r"refus|cannot|can't|require|missing|not (available|supported)|\bno\b",
                             line, re.I)
               and not line.startswith(("svtest", "shadowvisor run"))]
    if not refusal:
        raise Fail("run failed (status %d) but the log has no refusal mentioning NPT" % b.status)
    print("svtest: refused as expected: %s" % refusal[0].strip())


TESTS = {"hvwrite": t_hvwrite, "cpuid": t_cpuid, "disks": t_disks, "memory": t_memory, "devmem": t_devmem,
         "dmcrypt": t_dmcrypt, "nosvm": t_nosvm}


def run_named_test(tests, prefix, description=None):
    """main() for a test module holding a TESTS table: `NAME --build-dir DIR`,
    always under the hypervisor."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("test", choices=sorted(tests))
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    p.add_argument("--machine", choices=("pc", "q35"), default="pc")
    args = p.parse_args()
    h = Harness(argparse.Namespace(no_hypervisor=False, build_dir=args.build_dir, test=prefix + args.test,
                                   machine=args.machine))
    try:
        tests[args.test](h)
    except Fail as e:
        print("svtest: FAIL %s: %s" % (args.test, e))
        return 1
    print("svtest: PASS %s" % args.test)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("test", choices=sorted(TESTS))
    p.add_argument("--no-hypervisor", action="store_true")
    p.add_argument("--machine", choices=("pc", "q35"), default="pc")
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    args = p.parse_args()
    h = Harness(args)
    if h.hv and os.environ.get("SV_HV_TESTS", "").lower() not in ("1", "on", "true", "yes"):
        print("svtest: SKIP %s: hypervisor system tests are off "
              "(set SV_HV_TESTS=1 or cmake -DSV_SYSTEM_TESTS_HYPERVISOR=ON)" % args.test)
        return SKIP
    for f in ("bzImage", "initramfs.cpio.gz"):
        if not os.path.isfile(os.path.join(h.guest, f)):
            print("svtest: FAIL: %s/%s missing (run tools/build-guest.sh)" % (h.guest, f))
            return 1
    if h.hv and not os.path.isfile(os.path.join(h.build, "shadowvisor.elf")):
        print("svtest: FAIL: %s/shadowvisor.elf missing" % h.build)
        return 1
    try:
        rc = TESTS[args.test](h)
    except Fail as e:
        print("svtest: FAIL %s%s: %s" % (args.test, "" if h.hv else " (baseline)", e))
        return 1
    if rc == SKIP:
        return SKIP
    print("svtest: PASS %s%s" % (args.test, "" if h.hv else " (baseline)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

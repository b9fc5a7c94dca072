#!/usr/bin/env python3
"""System tests under Bochs (`./shadowvisor run --emulator bochs`), which
emulates VT-x and SVM with NRIP where QEMU's TCG has no VMX and no NRIP.

usage: bochs.py TEST [--build-dir DIR]
  bare-cpuid    the guest without the hypervisor, GRUB `linux` boot, on the
                Intel model (corei7_haswell_4770): the runner's baseline
  svm-cpuid     the hypervisor on Bochs's AMD model (ryzen: SVM, nested
                paging, NRIP): CPUID signature, SVM hidden, the hypercall
  vmx-starts    the hypervisor on the Intel model chooses the VT-x backend,
                computes its VMCS controls, enters the guest and the guest
                kernel runs under VMX (its first console line, then the test
                stops Bochs): the cheap check of the backend in the default set
  vmx-cpuid     under VT-x: CPUID signature, hypervisor bit, VMX and SVM
                hidden, the hypercall ABI through VMCALL; VMX hidden beyond
                CPUID (guest vmxhidden: IA32_FEATURE_CONTROL locked with VMX
                off, IA32_VMX_* #GP, VMXON/VMXOFF/VMPTRST #UD)
  vmx-features  issue #11's VT-x checks in two boots: one keyed VT-x boot
                runs the steps cpuid, vmxhidden, devmem, disks (each judged on
                its own: vmx-cpuid's checks; the hypervisor's memory hidden
                from a /dev/mem scan, the marker sent on the console; an IDE
                pattern written and read back through ata_piix, the image
                only ciphertext that OpenSSL decrypts to the pattern; the key
                wiped at power-off), then a bare boot (--no-hypervisor) whose
                own dm-crypt opens the image and reads the pattern
  vmx-memhidden vmx-features' devmem step alone
  vmx-ide       vmx-features' disks step and bare dm-crypt boot alone
  vmx-hostile   under VT-x: encryption.py's hostile IDE guest (PRD tables in
                hypervisor memory, bad PRDs, unknown opcodes) is refused
  vmx-smp       under VT-x with two CPUs (--cpus 2): the AP runs under VMX,
                CPUID on each CPU shows the ShadowVisor signature
Exit status: 0 pass, 1 fail, 77 skipped (no bochs installed).
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import encryption  # noqa: E402
import pattern  # noqa: E402
import svtest  # noqa: E402
import xts  # noqa: E402

INTEL = "corei7_haswell_4770"
AMD = "ryzen"


# Guest command line under Bochs:
# - loglevel=1: Bochs's UART drains at the emulated 115200 baud, so kernel
#   messages (printed at once) land inside the test's SV-RESULT lines still
#   queued in the tty and break them; only KERN_ALERT and worse (a panic)
#   reach the console.
# - libata.force=max_sec_128: at most 128 sectors per command, so libata
#   keeps to 28-bit commands on the small test disks. Bochs 2.7's IDE ignores
#   Device Control HOB when the task file is read back (iodev/harddrv.cc
#   returns the current Count/LBA bytes), so the mediator cannot learn a
#   48-bit command's high bytes there (devices/storage/ide/task_file.cpp) and
#   refuses its DMA as "PRD total short of transfer" (fail-safe: nothing
#   reaches the disk). Real ATA devices and QEMU implement HOB read-back.
BOCHS_APPEND = "loglevel=1 libata.force=max_sec_128"


HV_LINE_RE = re.compile(r"\[sv\] [^\n]*\n")


def deinterleave(log):
    """The console with each hypervisor line moved out of the guest line it
    landed in. Under Bochs the guest's tty drains at the emulated baud rate
    while the hypervisor writes its `[sv] ...` lines whole, at the exit that
    logs them, so one can land inside a guest line ("SV-RESULT[sv] WARN
    ...\n hostile-setup PASS ..."). Nothing is dropped: the hypervisor line
    follows the guest line it interrupted."""
    out = []
    pending = []  # hypervisor lines cut out of the current guest line
    pos = 0
    while pos < len(log):
        i = log.find("[sv] ", pos)
        nl = log.find("\n", pos)
        if i < 0 or (0 <= nl < i):
            # The rest of this physical line holds no hypervisor text.
            stop = len(log) if nl < 0 else nl + 1
            out.append(log[pos:stop])
            if nl >= 0 or stop == len(log):
                out.extend(pending)
                pending = []
            pos = stop
            continue
        m = HV_LINE_RE.match(log, i)
        if i == 0 or log[i - 1] == "\n" or not m:
            stop = len(log) if nl < 0 else nl + 1
            out.append(log[pos:stop])
            pos = stop
            continue
        out.append(log[pos:i])  # the guest's text before the interruption
        pending.append(m.group(0))
        pos = m.end()  # the guest line goes on after the hypervisor line
    out.extend(pending)
    return "".join(out)


class BochsHarness(svtest.Harness):
    def __init__(self, args, model):
        super().__init__(args)
        self.model = model

    def boot(self, append, disks=(), hypervisor=None, extra=(), timeout=None, answers=None):
        extra = list(extra) + ["--emulator", "bochs", "--cpu-model", self.model]
        append = BOCHS_APPEND + " " + append
        # Bochs is some 10x slower than TCG: a Linux boot takes minutes.
        b = super().boot(append, disks, hypervisor, extra, timeout or 3000, answers)
        self.last = svtest.Boot(b.status, deinterleave(b.log), b.elapsed)
        return self.last


def t_bare_cpuid(h):
    b = h.boot("sv.test=cpuid sv.expect=none")
    h.require_clean(b)
    b.expect(["cpuid-signature"])


# Bochs's DSDT gives \_S4 and \_S5 the same SLP_TYP (0); the hypervisor
# reads that tie as a power-off (devices/acpi/sleep_types.cpp), so the guest
# powers Bochs off under it as under QEMU.
def t_svm_cpuid(h):
    b = h.boot("sv.test=cpuid sv.expect=hv", timeout=2400)
    h.require_clean(b)
    b.expect(["cpuid-signature", "cpuid-hv-bit", "cpuid-svm-hidden", "hypercall"])
    if "virtualization backend: AMD SVM" not in b.log:
        raise svtest.Fail("the boot log does not show the SVM backend")


VMX_BACKEND = "virtualization backend: Intel VT-x"
VMX_CONTROLS_RE = re.compile(r"VMX controls: pin (?:0x)?[0-9a-f]+ primary (?:0x)?[0-9a-f]+ secondary (?:0x)?[0-9a-f]+")
GUEST_STARTED_RE = re.compile(r"Linux version \S+")


def require_vmx(b):
    if VMX_BACKEND not in b.log:
        raise svtest.Fail("the boot log does not show the VT-x backend")
    if not VMX_CONTROLS_RE.search(b.log):
        raise svtest.Fail("the VT-x backend did not log its VMCS controls")


def t_vmx_starts(h):
    """Up to the guest kernel's first console line under VMX, then stop:
    VMXON, the VMCS, VMLAUNCH with unrestricted guest, EPT, the exits of the
    Linux boot protocol entry and of the kernel's early start all worked."""
    cmd = [os.path.join(svtest.ROOT, "shadowvisor"), "run", "--emulator", "bochs", "--cpu-model", h.model,
           "--kernel", os.path.join(h.guest, "bzImage"), "--initrd", os.path.join(h.guest, "initramfs.cpio.gz"),
           # earlyprintk: the kernel's first lines reach the console at once,
           # long before its serial driver would print them.
           "--append", "earlyprintk=serial,ttyS0,115200 sv.test=smoke", "--memory", str(svtest.VM_MEMORY_MIB),
           "--timeout", "2400", "--hypervisor", os.path.join(h.build, "shadowvisor.elf")]
    print("bochs: %s" % " ".join(cmd), flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    text = []
    seen = None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace")
        text.append(line)
        if line.startswith("[sv]"):
            print("  " + line.rstrip(), flush=True)
        if re.search(r"\[sv\] ERROR", line):
            break
        m = GUEST_STARTED_RE.search(line)
        if m:
            seen = line.strip()
            break
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # tools/run_bochs.py ends Bochs with it
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log = "".join(text)
    elapsed = time.monotonic() - start
    b = svtest.Boot(proc.returncode, log, elapsed)
    require_vmx(b)
    errors = [l for l in log.splitlines() if l.startswith("[sv] ERROR")]
    if errors:
        raise svtest.Fail("the hypervisor failed under VT-x: %s" % errors[0])
    if not seen:
        raise svtest.Fail("the guest kernel printed nothing under VT-x (run status %d after %.0f s)"
                          % (proc.returncode, elapsed))
    print("bochs: the guest kernel runs under VT-x after %.0f s: %s" % (elapsed, seen))


CPUID_NAMES = ["cpuid-signature", "cpuid-hv-bit", "cpuid-svm-hidden", "cpuid-vmx-hidden", "hypercall"]
VMX_HIDDEN_NAMES = ["vmx-feature-control", "vmx-msrs-hidden", "vmx-insn-ud"]
DEVMEM_NAMES = ["devmem-marker", "devmem-control"]
# guest/tests/devmem's control scan: Bochs's BIOS (rombios) names itself
# "Bochs 2.7 BIOS" in f0000-fffff, where SeaBIOS would say "SeaBIOS".
DEVMEM_ARGS = "sv.gapend=%d sv.devmemctl=Bochs" % (svtest.VM_MEMORY_MIB + 16)


def expect_group(b, what, names):
    """One check of a multi-step boot: its own results present and PASS
    (b.expect would also judge the other steps' results)."""
    bad = ["%s: %s" % (n, "missing" if n not in b.results else " ".join(b.results[n])) for n in names
           if b.results.get(n, ("missing",))[0] != "PASS"]
    if bad:
        raise svtest.Fail("%s: %s" % (what, "; ".join(bad)))
    print("bochs: PASS %s (%s)" % (what, ", ".join(names)))


def marker_answer(state):
    """The devmem step's SV-NEED marker: the marker the hypervisor logged."""
    def marker(log):
        m = svtest.HV_MARKER_RE.search(log)
        state["marker"] = m.group(1) if m else "missing"
        return state["marker"]
    return marker


def check_marker(state):
    if state.get("marker") in (None, "missing"):
        raise svtest.Fail("hypervisor log has no 'hypervisor memory marker: <16 hex>' line "
                          "(or the guest never asked for it)")


def t_vmx_cpuid(h):
    b = h.boot("sv.test=cpuid,vmxhidden sv.expect=hv")
    h.require_clean(b)
    require_vmx(b)
    expect_group(b, "CPUID signature, VMX hidden from CPUID", CPUID_NAMES)
    expect_group(b, "VMX hidden: IA32_FEATURE_CONTROL, IA32_VMX_*, VMX instructions #UD", VMX_HIDDEN_NAMES)
    b.expect(CPUID_NAMES + VMX_HIDDEN_NAMES)


def t_vmx_memhidden(h):
    """The guest scans /dev/mem for the hypervisor's marker, which the test
    sends it on the console (SV-NEED marker; tools/run_bochs.py connects
    Bochs's com1 to the runner's stdin)."""
    state = {}
    b = h.boot("sv.test=devmem " + DEVMEM_ARGS, answers={"marker": marker_answer(state)})
    h.require_clean(b)
    require_vmx(b)
    check_marker(state)
    b.expect(DEVMEM_NAMES)


# Smaller than encryption.py's regions: every byte costs Bochs time. The
# second region's 1 MiB requests reach the disk as 64 KiB commands
# (BOCHS_APPEND's max_sec_128).
VMX_REGIONS = [(1 << 20, 128 << 10, "4K"), (4 << 20, 1 << 20, "1M")]
VMX_SEED = 41


def check_ide_image(b, img, key):
    """The keyed boot's IDE I/O went through the hypervisor's XTS and the
    image holds aes-xts-plain64 of the pattern (OpenSSL), no plaintext."""
    st = encryption.ide_stats(b)
    if st["dma"] == 0 or st["encrypted"] == 0 or st["decrypted"] == 0:
        raise svtest.Fail("the guest's I/O did not go through the hypervisor's XTS: %s" % st)
    for off, size, _ in VMX_REGIONS:
        if pattern.check_image(img, VMX_SEED, off, min(size, 64 << 10)) is None:
            raise svtest.Fail("plaintext pattern found on the image at %d" % off)
        err = xts.check_encrypted_image(img, key, VMX_SEED, off, size)
        if err:
            raise svtest.Fail("image region at %d is not aes-xts-plain64 of the pattern: %s" % (off, err))
    print("bochs: PASS encrypted IDE: ide0.0 %s; the image holds only ciphertext, "
          "OpenSSL decrypts it to the pattern" % st)


def check_key_wiped(b):
    if "disk key wiped" not in b.log:
        raise svtest.Fail("the hypervisor did not report wiping the key at power-off")
    wipe = b.log.index("disk key wiped")
    if "SV-POWEROFF" not in b.log[:wipe]:
        raise svtest.Fail("the key was wiped before the guest asked to power off")
    print("bochs: PASS key wiped at the guest's power-off")


def bare_dmcrypt_boot(h, img, key, regions, names):
    b = h.boot("sv.test=disks sv.disks=ata_piix:%d sv.regions=%s sv.diskmode=verify sv.dmkey=%s"
               % (VMX_SEED, regions, key.hex()), disks=[("ide", img)], hypervisor=False)
    h.require_clean(b)
    b.expect(names)
    print("bochs: PASS --no-hypervisor: the guest's own dm-crypt opens the disk and reads the data")


def t_vmx_ide(h):
    key, key_path = encryption.write_key(h, 64)
    img = h.disk("disk-ide.img", mib=16)
    regions = pattern.regions_arg(VMX_REGIONS)
    names = ["disk-ata_piix-%s" % r for _, _, r in VMX_REGIONS]
    b = h.boot("sv.test=disks sv.disks=ata_piix:%d sv.regions=%s sv.diskmode=both" % (VMX_SEED, regions),
               disks=[("ide", img)], extra=["--key-file", key_path])
    h.require_clean(b)
    require_vmx(b)
    b.expect(names)
    check_key_wiped(b)
    check_ide_image(b, img, key)
    bare_dmcrypt_boot(h, img, key, regions, names)


def t_vmx_features(h):
    """Issue #11's VT-x checks in two boots (each Linux boot under Bochs
    costs minutes). One keyed VT-x boot runs the guest steps cpuid,
    vmxhidden, devmem, disks in sequence, each judged on its own: CPUID
    signature and VMX hidden (CPUID, IA32_FEATURE_CONTROL, IA32_VMX_*,
    VMX instructions #UD); the hypervisor's memory hidden from a /dev/mem
    scan; an encrypted IDE pattern write + readback, the image checked on
    the host with OpenSSL; the key wiped at power-off. Then a bare boot
    (--no-hypervisor) opens the image with the guest's own dm-crypt."""
    key, key_path = encryption.write_key(h, 64)
    img = h.disk("disk-ide.img", mib=16)
    regions = pattern.regions_arg(VMX_REGIONS)
    disk_names = ["disk-ata_piix-%s" % r for _, _, r in VMX_REGIONS]
    state = {}
    b = h.boot("sv.test=cpuid,vmxhidden,devmem,disks sv.expect=hv %s sv.disks=ata_piix:%d sv.regions=%s "
               "sv.diskmode=both" % (DEVMEM_ARGS, VMX_SEED, regions),
               disks=[("ide", img)], extra=["--key-file", key_path], answers={"marker": marker_answer(state)})
    h.require_clean(b)
    require_vmx(b)
    expect_group(b, "CPUID signature, VMX hidden from CPUID, VMCALL hypercalls", CPUID_NAMES)
    expect_group(b, "VMX hidden: IA32_FEATURE_CONTROL, IA32_VMX_*, VMX instructions #UD", VMX_HIDDEN_NAMES)
    check_marker(state)
    expect_group(b, "hypervisor memory hidden from a /dev/mem scan", DEVMEM_NAMES)
    expect_group(b, "IDE pattern write + readback under the hypervisor's XTS", disk_names)
    check_ide_image(b, img, key)
    check_key_wiped(b)
    b.expect(CPUID_NAMES + VMX_HIDDEN_NAMES + DEVMEM_NAMES + disk_names)
    bare_dmcrypt_boot(h, img, key, regions, disk_names)


SMP_CPUS = 2


def t_vmx_smp(h):
    """Debian's Bochs has SMP (`cpu: count=N`, its log: "SMP support: yes"):
    the hypervisor brings the AP into VMX (VMXON and a VMCS on that CPU),
    the guest's INIT/STARTUP IPIs start it as a vCPU, and CPUID pinned to
    each CPU shows the ShadowVisor signature (guest/tests/smp)."""
    # Bochs emulates both CPUs in one thread (and the AP spins in the
    # hypervisor until the guest starts it): twice a one-CPU boot and more.
    b = h.boot("sv.test=smp", extra=["--cpus", str(SMP_CPUS)], timeout=6000)
    h.require_clean(b)
    require_vmx(b)
    b.expect(["smp"])
    if b.info("smp-nproc") != str(SMP_CPUS):
        raise svtest.Fail("guest sees %s CPUs, expected %d" % (b.info("smp-nproc"), SMP_CPUS))
    if "%d application processors under the hypervisor" % (SMP_CPUS - 1) not in b.log:
        raise svtest.Fail("hypervisor did not report starting %d application processors" % (SMP_CPUS - 1))
    print("bochs: %d CPUs under VT-x, each answers CPUID with the ShadowVisor signature" % SMP_CPUS)


def t_vmx_hostile(h):
    encryption.t_hostile(h)
    require_vmx(h.last)


TESTS = {"bare-cpuid": (t_bare_cpuid, INTEL, False), "svm-cpuid": (t_svm_cpuid, AMD, True),
         "vmx-starts": (t_vmx_starts, INTEL, True), "vmx-cpuid": (t_vmx_cpuid, INTEL, True),
         "vmx-memhidden": (t_vmx_memhidden, INTEL, True), "vmx-features": (t_vmx_features, INTEL, True),
         "vmx-smp": (t_vmx_smp, INTEL, True),
         "vmx-ide": (t_vmx_ide, INTEL, True), "vmx-hostile": (t_vmx_hostile, INTEL, True)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("test", choices=sorted(TESTS))
    p.add_argument("--build-dir", default=os.path.join(svtest.ROOT, "build"))
    args = p.parse_args()
    if shutil.which("bochs") is None:
        print("bochs: SKIP %s: bochs is not installed (tools/install-deps.sh)" % args.test)
        return svtest.SKIP
    fn, model, hv = TESTS[args.test]
    h = BochsHarness(argparse.Namespace(no_hypervisor=not hv, build_dir=args.build_dir,
                                        test="bochs-" + args.test, machine="pc"), model)
    try:
        fn(h)
    except svtest.Fail as e:
        print("bochs: FAIL %s: %s" % (args.test, e))
        return 1
    print("bochs: PASS %s" % args.test)
    return 0


if __name__ == "__main__":
    sys.exit(main())

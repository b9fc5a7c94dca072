#!/usr/bin/env python3
"""`./shadowvisor run`: boot a guest under QEMU (TCG), under the hypervisor
or directly (--no-hypervisor).

Stable interface (see ./shadowvisor help run):
  run --kernel FILE --initrd FILE [--append CMDLINE]
      [--disk ide|ahci:IMAGE | nvme:IMAGE[,lbs=4096][,namespaces=N]]...
      [--key-file FILE] [--no-hypervisor] [--cpus N] [--memory MIB]
      [--timeout SECONDS] [--hypervisor FILE] [--hypervisor-append OPTS]
      [--allow-dma ID[,ID...]] [--machine pc|q35] [--iommu [intel|amd]]
      [--cpu-model MODEL] [--qemu-arg ARG]... [--dry-run] [--emulator qemu|bochs]
  run --iso FILE [--disk ide|ahci|nvme:IMAGE]... [--cpus N] [--memory MIB]
      [--timeout SECONDS] [--cpu-model MODEL] [--qemu-arg ARG]... [--dry-run]
      boots a GRUB ISO from tools/build-grub-iso.sh (hypervisor, guest kernel,
      initramfs, command lines and key are inside it) from the IDE CD-ROM
      (secondary master, so --disk ide takes slots 0, 1 and 3).

--machine pc (default) is QEMU's i440FX + PIIX3 machine; --machine q35 is
QEMU's Q35 (MCH + ICH9) machine with PCI Express ECAM (ACPI MCFG) and its
built-in ICH9 AHCI controller at 00:1f.2 (--disk ahci uses that one; on pc,
--disk ahci adds one ICH9 AHCI function, -device ich9-ahci, and every AHCI
disk takes the next of its 6 ports). --disk ide and --disk ahci mix. On q35,
--disk ide adds one PIIX3 IDE controller (-device piix3-ide; it decodes the
legacy ports 1F0h/170h, which the AHCI controller leaves free) and puts the
disks on its four slots, so the IDE mediator and encryption work there too.
--emulator bochs boots the same VM under Bochs instead (tools/run_bochs.py:
a GRUB ISO, the pc machine, --disk ide only; --cpu-model is a Bochs CPU
model, default corei7_haswell_4770, which has VMX with EPT).
--allow-dma ID,... lets these bus masters keep Bus Master Enable while a key
is loaded (ID is VVVV:DDDD vendor:device or BB:DD.F, hex); it is passed on as
the hypervisor option allow_dma=... (same as --hypervisor-append).
--iommu (q35 only) adds QEMU's Intel VT-d model first among the devices
(-device intel-iommu,intremap=off: QEMU wants it before every PCI device;
interrupt remapping stays off because the hypervisor does not virtualize it,
so no split irqchip is needed, and under TCG there is no kernel irqchip).
The firmware then publishes an ACPI DMAR table; a bare guest
(--no-hypervisor) uses it with --append intel_iommu=on.
--iommu amd adds QEMU's AMD-Vi model instead (-device amd-iommu,intremap=off:
a PCI function of its own, class 08h/06h, registers at FED80000h; the
firmware publishes an ACPI IVRS). --iommu alone means intel.
--disk nvme:IMAGE[,lbs=4096] adds one QEMU NVMe controller (-device nvme) per
disk, one namespace each; lbs=4096 formats it with 4096-byte logical blocks
(logical_block_size/physical_block_size, a 4Kn namespace; default 512).
--disk nvme:IMAGE,namespaces=N (N = 1..8) gives that one controller N
namespaces (-device nvme-ns, NSID 1..N) that split IMAGE into N equal
consecutive slices (QEMU raw offset=/size=): namespace k holds bytes
[(k-1)*S, k*S) of IMAGE, S = size / N rounded down to 1 MiB, its own LBA 0 at
the slice's start. lbs= applies to every namespace of the controller.

Guest console and hypervisor log go to stdout; the standard input is passed
to the guest's serial console. Exit status:
  0   the guest powered off
  2   usage error
  3   hypervisor failure (it wrote to the isa-debug-exit port: QEMU status 33)
  4   guest kernel panic (seen on the console)
  5   QEMU failed or exited with an unexpected status
  124 timeout
"""
import argparse
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_outcome  # noqa: E402  tools/run_outcome.py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_HYPERVISOR = os.path.join(ROOT, "build", "shadowvisor.elf")
# AES-NI/PCLMULQDQ let the hypervisor (and the guest) use their fast XTS
# engines under TCG; the portable engine is covered by the unit tests.
DEFAULT_CPU = "qemu64,+svm,+npt,+aes,+pclmulqdq,+ssse3,+sse4.1,+sse4.2"
HV_FAILURE_STATUS = 33  # isa-debug-exit: (0x10 << 1) | 1
PANIC_RE = re.compile(rb"Kernel panic - not syncing")


def die(msg, code=2):
    print("shadowvisor run: error: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(code)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="shadowvisor run", description="Boot a guest under QEMU.")
    p.add_argument("--kernel", help="guest kernel (bzImage); required unless --iso")
    p.add_argument("--initrd", help="guest initramfs; required unless --iso")
    p.add_argument("--iso", metavar="FILE",
                   help="boot this GRUB ISO (tools/build-grub-iso.sh) from the CD-ROM instead")
    p.add_argument("--append", default="", help="guest kernel command line")
    p.add_argument("--disk", action="append", default=[], metavar="ide|ahci|nvme:IMAGE",
                   help="attach a raw disk image; nvme:IMAGE,lbs=4096 for 4096-byte logical blocks, "
                        "nvme:IMAGE,namespaces=N for one controller with N namespaces slicing IMAGE")
    p.add_argument("--key-file", help="disk encryption key: 64 raw bytes (AES-256-XTS) or 32 (AES-128-XTS)")
    p.add_argument("--no-hypervisor", action="store_true", help="boot the guest kernel directly")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--memory", type=int, default=512, metavar="MIB")
    p.add_argument("--timeout", type=float, default=300, metavar="SECONDS")
    p.add_argument("--hypervisor", default=DEFAULT_HYPERVISOR, metavar="FILE")
    p.add_argument("--hypervisor-append", default="", metavar="OPTIONS",
                   help="hypervisor command line (multiboot -append)")
    p.add_argument("--machine", choices=("pc", "q35"), default="pc",
                   help="QEMU machine: pc (i440FX/PIIX3, default) or q35 (MCH/ICH9, PCIe ECAM, AHCI)")
    p.add_argument("--iommu", nargs="?", const="intel", default=None, choices=("intel", "amd"),
                   help="add QEMU's intel-iommu (VT-d, ACPI DMAR; the default) or amd-iommu (AMD-Vi, "
                        "ACPI IVRS); needs --machine q35")
    p.add_argument("--allow-dma", action="append", default=[], metavar="ID[,ID...]",
                   help="with a key: let these unmediated bus masters DMA (VVVV:DDDD or BB:DD.F); "
                        "becomes the hypervisor option allow_dma=...")
    p.add_argument("--cpu-model", default=None,
                   help="QEMU -cpu (default %s); with --emulator bochs a Bochs CPU model "
                        "(default corei7_haswell_4770)" % DEFAULT_CPU)
    p.add_argument("--emulator", choices=("qemu", "bochs"), default="qemu",
                   help="QEMU TCG (default) or Bochs (tools/run_bochs.py)")
    p.add_argument("--bochs-ips", type=int, default=100_000_000, metavar="N",
                   help="Bochs emulated instructions per second (guest time base)")
    p.add_argument("--qemu-arg", action="append", default=[], metavar="ARG",
                   help="extra QEMU argument (repeatable)")
    p.add_argument("--qemu", default=os.environ.get("SV_QEMU", "qemu-system-x86_64"))
    p.add_argument("--dry-run", action="store_true", help="print the QEMU command and exit")
    a = p.parse_args(argv)
    if a.cpu_model is None and a.emulator == "qemu":
        a.cpu_model = DEFAULT_CPU
    if a.emulator == "bochs" and a.qemu_arg:
        p.error("--qemu-arg cannot be used with --emulator bochs")
    if a.iso is None:
        missing = [o for o, v in (("--kernel", a.kernel), ("--initrd", a.initrd)) if v is None]
        if missing:
            p.error("the following arguments are required: %s" % ", ".join(missing))
    else:
        # Everything the loader needs is inside the ISO (see build-grub-iso.sh).
        for opt, given in (("--kernel", a.kernel is not None), ("--initrd", a.initrd is not None),
                           ("--append", bool(a.append)), ("--key-file", a.key_file is not None),
                           ("--no-hypervisor", a.no_hypervisor),
                           ("--hypervisor", a.hypervisor != DEFAULT_HYPERVISOR),
                           ("--hypervisor-append", bool(a.hypervisor_append)),
                           ("--allow-dma", bool(a.allow_dma))):
            if given:
                p.error("%s cannot be used with --iso (build the ISO with "
                        "tools/build-grub-iso.sh instead)" % opt)
    if a.iommu and (a.machine != "q35" or a.emulator != "qemu"):
        p.error("--iommu needs --machine q35 (QEMU's intel-iommu and amd-iommu are q35 devices)")
    for spec in a.allow_dma:
        if not re.fullmatch(r"(?:[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}|[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])"
                            r"(?:,(?:[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}|[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]))*", spec):
            p.error("--allow-dma %s: expected VVVV:DDDD or BB:DD.F (hex), comma-separated" % spec)
    return a


def multiboot_module(path, args):
    """One entry of QEMU's multiboot -initrd list: a comma inside is doubled."""
    s = path if not args else "%s %s" % (path, args)
    return s.replace(",", ",,")


def qemu_command(a):
    files = ((a.iso, "--iso"),) if a.iso is not None else ((a.kernel, "--kernel"), (a.initrd, "--initrd"))
    for f, what in files:
        if not os.path.isfile(f):
            die("%s: no such file: %s" % (what, f))
    if a.cpus < 1 or a.memory < 64:
        die("--cpus must be >= 1 and --memory >= 64")
    cmdline = a.append.strip()
    if not re.search(r"(^|\s)console=", cmdline):
        cmdline = ("console=ttyS0 " + cmdline).strip()

    cmd = [a.qemu, "-machine", a.machine, "-accel", "tcg", "-cpu", a.cpu_model,
           "-m", str(a.memory), "-smp", str(a.cpus),
           "-nographic", "-serial", "stdio", "-monitor", "none", "-no-reboot",
           "-nic", "none"]
    if a.iommu:
        # Before every other device: QEMU 7.2 refuses intel-iommu after a PCI device.
        cmd += ["-device", "%s-iommu,intremap=off" % a.iommu]
    cmd += ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if a.iso is not None:
        # SeaBIOS boots GRUB from the CD-ROM; GRUB loads the hypervisor.
        cmd += ["-cdrom", os.path.abspath(a.iso).replace(",", ",,"), "-boot", "d"]
    elif a.no_hypervisor:
        cmd += ["-kernel", a.kernel, "-append", cmdline, "-initrd", a.initrd]
    else:
        if not os.path.isfile(a.hypervisor):
            die("hypervisor image %s not found (run ./shadowvisor build, or pass --no-hypervisor)"
                % a.hypervisor)
        # Module 1: the guest kernel, its string "<path> <guest cmdline>";
        # module 2: "<path> initrd"; module 3: "<path> key" (the hypervisor
        # copies it into its own memory and wipes this copy before the guest runs).
        modules = [multiboot_module(os.path.abspath(a.kernel), cmdline),
                   multiboot_module(os.path.abspath(a.initrd), "initrd")]
        if a.key_file is not None:
            modules.append(multiboot_module(os.path.abspath(a.key_file), "key"))
        hv_append = a.hypervisor_append
        if a.allow_dma:
            hv_append = (hv_append + " allow_dma=" + ",".join(a.allow_dma)).strip()
        cmd += ["-kernel", a.hypervisor, "-append", hv_append,
                "-initrd", ",".join(modules)]

    counts = {"ide": 0, "ahci": 0, "nvme": 0}
    for n, spec in enumerate(a.disk):
        kind, sep, image = spec.partition(":")
        lbs, namespaces = None, 1
        if kind == "nvme":
            # Options after the image, in any order: lbs=512|4096, namespaces=N.
            while True:
                m = re.match(r"^(.*),(lbs|namespaces)=(\d+)$", image)
                if not m:
                    break
                image = m.group(1)
                if m.group(2) == "lbs":
                    lbs = int(m.group(3))
                    if lbs not in (512, 4096):
                        die("--disk %s: lbs must be 512 or 4096" % spec)
                else:
                    namespaces = int(m.group(3))
                    if not 1 <= namespaces <= 8:
                        die("--disk %s: namespaces must be 1 to 8" % spec)
        if not sep or kind not in counts or not image:
            die("--disk %s: expected ide:IMAGE, ahci:IMAGE or nvme:IMAGE[,lbs=4096][,namespaces=N]" % spec)
        if not os.path.isfile(image):
            die("--disk %s: no such file: %s" % (spec, image))
        image = image.replace(",", ",,")
        i = counts[kind]
        counts[kind] += 1
        if kind == "ide":
            # The PIIX controller's 4 slots; 2 is where QEMU puts its default
            # CD-ROM (which holds the ISO with --iso, leaving 3 slots).
            slots = (0, 1, 3) if a.iso is not None and a.machine == "pc" else (0, 1, 2, 3)
            if i >= len(slots):
                die("at most %d IDE disks%s" % (len(slots), " with --iso" if a.iso is not None else ""))
            if a.machine == "pc":
                cmd += ["-drive", "file=%s,format=raw,if=ide,index=%d,cache=writeback" % (image, slots[i])]
            else:
                # q35's if=ide drives go to the ICH9 AHCI controller: add a
                # PIIX3 IDE function and attach the disk to its channel/unit.
                if i == 0:
                    cmd += ["-device", "piix3-ide,id=pide"]
                cmd += ["-drive", "if=none,id=d%d,file=%s,format=raw,cache=writeback" % (n, image),
                        "-device", "ide-hd,drive=d%d,bus=pide.%d,unit=%d" % (n, slots[i] // 2, slots[i] % 2)]
        elif kind == "ahci" and a.machine == "q35":
            # The built-in ICH9 AHCI (00:1f.2): its ports are buses ide.0-ide.5.
            if i >= 6:
                die("at most 6 AHCI disks on q35")
            cmd += ["-drive", "if=none,id=d%d,file=%s,format=raw,cache=writeback" % (n, image),
                    "-device", "ide-hd,drive=d%d,bus=ide.%d" % (n, i)]
        elif kind == "ahci":
            # pc has no AHCI: one ICH9 AHCI function (-device ich9-ahci, 6
            # ports, buses ahci0.0-ahci0.5) carries every --disk ahci:, so
            # the disks share one HBA as they do on q35.
            if i >= 6:
                die("at most 6 AHCI disks")
            if i == 0:
                cmd += ["-device", "ich9-ahci,id=ahci0"]
            cmd += ["-drive", "if=none,id=d%d,file=%s,format=raw,cache=writeback" % (n, image),
                    "-device", "ide-hd,drive=d%d,bus=ahci0.%d" % (n, i)]
        else:
            blocks = ",logical_block_size=%d,physical_block_size=%d" % (lbs, lbs) if lbs else ""
            if namespaces == 1:
                cmd += ["-drive", "if=none,id=d%d,file=%s,format=raw,cache=writeback" % (n, image),
                        "-device", "nvme,serial=svnvme%d,drive=d%d" % (i, n) + blocks]
            else:
                # One controller (its bus is named by its id) and N nvme-ns
                # devices, each a slice of the image through the raw format's
                # offset/size options (one file opened N times: QEMU's
                # image lock would refuse the second writer, the slices are
                # disjoint, so locking is off for them).
                size = slice_bytes(image.replace(",,", ","), namespaces)
                if size == 0:
                    die("--disk %s: the image is too small for %d namespaces of 1 MiB or more" % (spec, namespaces))
                cmd += ["-device", "nvme,id=nvme%d,serial=svnvme%d" % (i, i)]
                for k in range(namespaces):
                    cmd += ["-drive", "if=none,id=d%dn%d,file=%s,format=raw,cache=writeback,file.locking=off,offset=%d,size=%d"
                            % (n, k + 1, image, k * size, size),
                            "-device", "nvme-ns,drive=d%dn%d,bus=nvme%d,nsid=%d" % (n, k + 1, i, k + 1) + blocks]
    cmd += a.qemu_arg
    return cmd


def slice_bytes(image, namespaces):
    """Bytes of each of `namespaces` equal slices of `image` (1 MiB multiples)."""
    return (os.path.getsize(image) // namespaces) & ~((1 << 20) - 1)


def run(cmd, timeout):
    """Run QEMU, copy its output to stdout and our stdin to it; return
    (status, reason) where reason is None, 'timeout' or 'panic'."""
    stdin_is_tty = sys.stdin.isatty()
    proc = subprocess.Popen(cmd, stdin=None if stdin_is_tty else subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=not stdin_is_tty)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    if not stdin_is_tty:
        try:
            sel.register(sys.stdin, selectors.EVENT_READ, "in")
        except (ValueError, PermissionError, OSError):
            proc.stdin.close()  # stdin is a regular file or closed: nothing to forward
    deadline = time.monotonic() + timeout
    reason = None
    tail = b""
    out = sys.stdout.buffer
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            reason = "timeout"
            break
        events = sel.select(min(left, 1.0))
        done = False
        for key, _ in events:
            if key.data == "out":
                data = os.read(proc.stdout.fileno(), 65536)
                if not data:
                    done = True
                    break
                out.write(data)
                out.flush()
                tail = (tail + data)[-4096:]
                if PANIC_RE.search(tail):
                    # Let the panic message finish, then stop: the guest hangs.
                    time.sleep(0.5)
                    reason = "panic"
            else:
                data = os.read(sys.stdin.fileno(), 65536)
                if not data:
                    sel.unregister(sys.stdin)
                    proc.stdin.close()
                else:
                    try:
                        proc.stdin.write(data)
                        proc.stdin.flush()
                    except BrokenPipeError:
                        pass
        if done or reason:
            break
    if reason:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        # Drain what QEMU printed meanwhile.
        try:
            rest = proc.stdout.read()
            if rest:
                out.write(rest)
                out.flush()
        except (OSError, ValueError):
            pass
        return proc.wait(), reason
    return proc.wait(), None


def check_key_file(a):
    """Fail closed before anything starts: the hypervisor checks again."""
    if a.no_hypervisor:
        die("--key-file needs the hypervisor (it cannot be used with --no-hypervisor)")
    try:
        with open(a.key_file, "rb") as f:
            key = f.read(65)
    except OSError as e:
        die("--key-file %s: cannot read: %s" % (a.key_file, e.strerror))
    if len(key) not in (32, 64):
        die("--key-file %s: %d bytes; a key is 64 raw bytes (AES-256-XTS) or 32 (AES-128-XTS)"
            % (a.key_file, len(key) if len(key) <= 64 else 65))
    half = len(key) // 2
    if key[:half] == key[half:]:
        die("--key-file %s: the two XTS key halves are equal (IEEE 1619 forbids it)" % a.key_file)


def main(argv):
    a = parse_args(argv)
    if a.key_file is not None:
        check_key_file(a)
    if a.emulator == "bochs":
        import run_bochs  # tools/run_bochs.py, beside this file
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return run_bochs.main(a)
    if shutil.which(a.qemu) is None and not os.path.isfile(a.qemu):
        die("%s not found (install qemu-system-x86)" % a.qemu)
    cmd = qemu_command(a)
    if a.dry_run:
        print(" ".join("'%s'" % c if (" " in c or not c) else c for c in cmd))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    start = time.monotonic()
    status, reason = run(cmd, a.timeout)
    elapsed = time.monotonic() - start
    mode = ("directly" if a.no_hypervisor else
            "under the hypervisor, booted by GRUB from %s" % a.iso if a.iso is not None else
            "under the hypervisor")
    ended = run_outcome.timeout_or_panic(reason, elapsed, a.timeout)
    if ended is not None:
        return ended
    if status == 0:
        print("\nshadowvisor run: guest powered off after %.1f s (%s)" % (elapsed, mode),
              file=sys.stderr, flush=True)
        return 0
    if status == HV_FAILURE_STATUS and not a.no_hypervisor:
        print("\nshadowvisor run: error: hypervisor failure (debug-exit status %d) after %.1f s"
              % (status, elapsed), file=sys.stderr, flush=True)
        return 3
    print("\nshadowvisor run: error: QEMU exited with status %d after %.1f s" % (status, elapsed),
          file=sys.stderr, flush=True)
    return 5


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

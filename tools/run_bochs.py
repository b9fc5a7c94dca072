#!/usr/bin/env python3
"""`./shadowvisor run --emulator bochs`: the same VM shape as under QEMU, on
Bochs (Debian's bochs 2.7), which emulates Intel VT-x (VMX with EPT, VPID and
unrestricted guest on its Haswell-and-later CPU models) and AMD SVM (with
NRIP) where QEMU's TCG has no VMX.

Bochs has no multiboot loader: the runner builds a GRUB ISO with
tools/build-grub-iso.sh from --kernel/--initrd/--append/--key-file (with
--no-hypervisor, GRUB's own `linux` loader boots the guest kernel) or boots
the given --iso, from the IDE CD-ROM (secondary master). --disk ide:IMAGE
takes primary master, primary slave and secondary slave in that order.
Machine: Bochs's i440FX + PIIX3 (PIIX IDE with bus mastering, ACPI PM),
its BIOS, no display (the rfb library without waiting for a client), the
first serial port on stdout and our stdin: Bochs's com1 connects to a
loopback socket of this runner (mode=socket-client), which copies the
guest's output to stdout and stdin to the guest, as run_vm.py does for QEMU
(a test answers the guest's SV-NEED requests through it).

Exit status as for `run`: 0 the guest powered off (Bochs's ACPI S5),
3 hypervisor failure (its fatal stop message on the console: under Bochs
there is no isa-debug-exit port), 4 guest kernel panic, 5 Bochs failed,
124 timeout.
"""
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import run_outcome  # tools/run_outcome.py, beside this file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_ISO = os.path.join(ROOT, "tools", "build-grub-iso.sh")
BIOS = "/usr/share/bochs/BIOS-bochs-latest"
VGABIOS = "/usr/share/vgabios/vgabios.bin"
# VMX with EPT, VPID and unrestricted guest (Bochs cpudb corei7_haswell_4770).
DEFAULT_CPU_INTEL = "corei7_haswell_4770"
# SVM with nested paging and NRIP (Bochs cpudb ryzen).
DEFAULT_CPU_AMD = "ryzen"
POWER_OFF_RE = re.compile(rb"ACPI control: soft power off")
PANIC_RE = re.compile(rb"Kernel panic - not syncing")
# platform/panic_hw.cpp fatal_stop(): the line it prints before it halts.
HV_STOP_RE = re.compile(rb"\[sv\] ERROR hypervisor stopped")
IDE_SLOTS = ("ata0-master", "ata0-slave", "ata1-slave")  # ata1-master is the CD-ROM


def die(msg, code=2):
    print("shadowvisor run: error: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(code)


def build_iso(a, workdir):
    """A GRUB ISO for this run (hypervisor + guest, or the guest alone)."""
    iso = os.path.join(workdir, "boot.iso")
    cmd = [BUILD_ISO, iso, "--kernel", a.kernel, "--initrd", a.initrd]
    if a.append:
        cmd += ["--guest-append", a.append]
    if a.no_hypervisor:
        cmd += ["--no-hypervisor"]
    else:
        if not os.path.isfile(a.hypervisor):
            die("hypervisor image %s not found (run ./shadowvisor build, or pass --no-hypervisor)"
                % a.hypervisor)
        cmd += ["--hypervisor", a.hypervisor]
        hv_append = a.hypervisor_append
        if a.allow_dma:
            hv_append = (hv_append + " allow_dma=" + ",".join(a.allow_dma)).strip()
        if hv_append:
            cmd += ["--hypervisor-append", hv_append]
        if a.key_file is not None:
            cmd += ["--key", a.key_file]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.stderr.write(r.stderr.decode(errors="replace"))
        die("could not build the GRUB ISO for Bochs", 5)
    return iso


def bochsrc(a, iso, console_port, log_path):
    model = a.cpu_model
    lines = [
        "megs: %d" % a.memory,
        "romimage: file=%s, options=fastboot" % BIOS,
        "vgaromimage: file=%s" % VGABIOS,
        # No window: the rfb library serves nobody unless asked (timeout=0:
        # it does not wait for a VNC client).
        'display_library: rfb, options="timeout=0"',
        # reset_on_triple_fault: a triple fault resets, as real hardware does.
        "cpu: model=%s, count=%d, ips=%d, reset_on_triple_fault=1, ignore_bad_msrs=1"
        % (model, a.cpus, a.bochs_ips),
        "pci: enabled=1, chipset=i440fx",
        "ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14",
        "ata1: enabled=1, ioaddr1=0x170, ioaddr2=0x370, irq=15",
        "ata1-master: type=cdrom, path=%s, status=inserted" % iso,
        "boot: cdrom",
        # Bochs connects to the runner's console socket when it starts.
        "com1: enabled=1, mode=socket-client, dev=127.0.0.1:%d" % console_port,
        "log: %s" % log_path,
        "panic: action=fatal",
        "error: action=report",
        "info: action=report",
        "debug: action=ignore",
        # Guest time follows executed instructions (ips): runs are
        # reproducible and timer interrupts do not swamp a slow host.
        "clock: sync=none, time0=local",
    ]
    ide = [d for d in a.disk if d.startswith("ide:")]
    for d in a.disk:
        kind, _, image = d.partition(":")
        if kind != "ide" or not image:
            die("--disk %s: Bochs attaches only ide:IMAGE" % d)
        if not os.path.isfile(image):
            die("--disk %s: no such file: %s" % (d, image))
    if len(ide) > len(IDE_SLOTS):
        die("at most %d IDE disks under Bochs (the CD-ROM takes the fourth slot)" % len(IDE_SLOTS))
    for slot, d in zip(IDE_SLOTS, ide):
        # A flat raw image; Bochs derives the geometry from its size (16
        # heads, 63 sectors; a tail short of a whole cylinder is not used).
        image = os.path.abspath(d.partition(":")[2])
        lines.append("%s: type=disk, path=%s, mode=flat" % (slot, image))
    return "\n".join(lines) + "\n"


def console_listener():
    """The loopback socket Bochs's com1 connects to (socket-client mode)."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    return ls


def run_bochs(cmd, listener, serial_path, bochs_out, timeout):
    """Run Bochs; copy the serial console to stdout (and to serial_path) and
    our stdin to the guest; return (status, reason, log) with reason
    'poweroff', 'panic', 'hvstop', 'timeout' or None."""
    with open(bochs_out, "wb") as out_f:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out_f, stderr=subprocess.STDOUT,
                                start_new_session=True)

    # Bochs runs in its own session (the console is a socket, not our
    # terminal): a SIGTERM to this runner (ctest's timeout, a test that has
    # seen enough) must end it too, or it would run on unowned.
    def on_term(signum, frame):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    deadline = time.monotonic() + timeout
    tail = b""
    reason = None
    out = sys.stdout.buffer
    conn = None
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    try:
        sel.register(sys.stdin, selectors.EVENT_READ, "in")
    except (ValueError, PermissionError, OSError):
        pass  # stdin is a regular file or closed: nothing to forward
    pending = b""  # stdin read before Bochs connected
    with open(serial_path, "wb") as serial_f:
        def take(data):
            nonlocal tail
            out.write(data)
            out.flush()
            serial_f.write(data)
            serial_f.flush()  # SV_KEEP_BOCHS_DIR: a live copy of the console
            tail = (tail + data)[-8192:]

        def drain():
            if conn is None:
                return
            conn.setblocking(False)
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    take(data)
            except (BlockingIOError, OSError):
                pass

        while True:
            for key, _ in sel.select(0.2):
                if key.data == "accept":
                    conn, _ = listener.accept()
                    sel.unregister(listener)
                    sel.register(conn, selectors.EVENT_READ, "out")
                    if pending:
                        conn.sendall(pending)
                        pending = b""
                elif key.data == "out":
                    data = conn.recv(65536)
                    if data:
                        take(data)
                    else:
                        sel.unregister(conn)  # Bochs closed the console: it is exiting
                else:
                    data = os.read(sys.stdin.fileno(), 65536)
                    if not data:
                        sel.unregister(sys.stdin)
                    elif conn is None:
                        pending += data
                    else:
                        try:
                            conn.sendall(data)
                        except OSError:
                            pass
            if PANIC_RE.search(tail):
                reason = "panic"
            elif HV_STOP_RE.search(tail):
                reason = "hvstop"
            status = proc.poll()
            if status is not None or reason:
                break
            if time.monotonic() >= deadline:
                reason = "timeout"
                break
        if proc.poll() is None:
            time.sleep(0.5)
            drain()
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        status = proc.wait()
        drain()
    if conn is not None:
        conn.close()
    with open(bochs_out, "rb") as f:
        log = f.read()
    if reason is None and POWER_OFF_RE.search(log):
        reason = "poweroff"
    return status, reason, log


def main(a):
    """Called by tools/run_vm.py with its parsed arguments."""
    bochs = shutil.which("bochs") or "/usr/bin/bochs"
    if not os.path.isfile(bochs):
        die("bochs not found (install bochs, bochsbios and vgabios; tools/install-deps.sh does)")
    for f in (BIOS, VGABIOS):
        if not os.path.isfile(f):
            die("%s not found (install bochsbios and vgabios)" % f)
    if a.cpus < 1 or a.memory < 64:
        die("--cpus must be >= 1 and --memory >= 64")
    if a.machine != "pc":
        die("--emulator bochs has only the pc machine (i440FX + PIIX3)")
    if a.cpu_model is None:
        a.cpu_model = DEFAULT_CPU_INTEL
    workdir = tempfile.mkdtemp(prefix="sv-bochs.")
    try:
        if a.iso is not None:
            iso = os.path.abspath(a.iso)
        else:
            for f, what in ((a.kernel, "--kernel"), (a.initrd, "--initrd")):
                if not os.path.isfile(f):
                    die("%s: no such file: %s" % (what, f))
            iso = build_iso(a, workdir)
        serial = os.path.join(workdir, "serial.txt")
        log_path = os.path.join(workdir, "bochs.log")
        rc_path = os.path.join(workdir, "bochsrc")
        listener = console_listener()
        with open(rc_path, "w") as f:
            f.write(bochsrc(a, iso, listener.getsockname()[1], log_path))
        # Debian builds Bochs with its debugger, which stops at the first
        # instruction: the debugger command file says `continue`.
        dbg = os.path.join(workdir, "debugger.rc")
        with open(dbg, "w") as f:
            f.write("continue\n")
        cmd = [bochs, "-q", "-f", rc_path, "-rc", dbg]
        if a.dry_run:
            with open(rc_path) as f:
                sys.stdout.write(f.read())
            print(" ".join(cmd))
            return 0
        start = time.monotonic()
        status, reason, log = run_bochs(cmd, listener, serial, os.path.join(workdir, "bochs.out"), a.timeout)
        elapsed = time.monotonic() - start
        mode = "directly" if a.no_hypervisor else "under the hypervisor"
        if reason == "poweroff":
            print("\nshadowvisor run: guest powered off after %.1f s (%s, Bochs %s)"
                  % (elapsed, mode, a.cpu_model), file=sys.stderr, flush=True)
            return 0
        ended = run_outcome.timeout_or_panic(reason, elapsed, a.timeout)
        if ended is not None:
            return ended
        if reason == "hvstop" and not a.no_hypervisor:
            print("\nshadowvisor run: error: hypervisor failure after %.1f s" % elapsed,
                  file=sys.stderr, flush=True)
            return 3
        sys.stderr.write(log[-3000:].decode(errors="replace"))
        try:
            with open(log_path, "rb") as f:
                sys.stderr.write(f.read()[-3000:].decode(errors="replace"))
        except OSError:
            pass
        print("\nshadowvisor run: error: Bochs exited with status %d after %.1f s" % (status, elapsed),
              file=sys.stderr, flush=True)
        return 5
    finally:
        if os.environ.get("SV_KEEP_BOCHS_DIR"):
            print("shadowvisor run: Bochs files kept in %s" % workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

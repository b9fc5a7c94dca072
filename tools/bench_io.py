#!/usr/bin/env python3
"""`./shadowvisor bench io [--bus ide|ahci|nvme]`: sequential O_DIRECT reads
and writes with 4 KiB and 1 MiB requests through the guest's own driver
(ata_piix for --bus ide, the default; ahci for --bus ahci; nvme for --bus
nvme) on a disk the hypervisor encrypts; with --bus nvme also 4 KiB random
reads at queue depth 32 (guest/sv-diskqd.c, Linux AIO: `req=4K-qd32`).
Under QEMU TCG seconds are noisy, so the main figures are counts: VM exits
per command from the hypervisor's power-off statistics, minus an idle
boot's (IDE: I/O exits over DMA commands; AHCI: trapped ABAR reads and
writes over mediated commands; NVMe: trapped BAR0 accesses (doorbells,
registers, MSI-X) plus the device's NMIs over the mediator's commands; the
VM's total exit count is not used, its PCI-config and CPUID exits vary from
boot to boot by more than the I/O's).
Throughput is reported relative to the same workload without the hypervisor (vs_bare) and to the guest's own
dm-crypt aes-xts-plain64 with the same key without the hypervisor
(vs_dmcrypt), all run side by side in this one invocation. One line each:

  bench-io bus=ahci req=4K op=read exits_per_cmd=N.N vs_bare=R.RR vs_dmcrypt=R.RR

The IDE run prints its earlier "io ..." lines as well.
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SV_BUILD_DIR", os.path.join(ROOT, "build"))
CASES = [("4K", 4 << 20), ("1M", 16 << 20)]  # request size, bytes moved each way
OFFSET = 1 << 20
EXIT_RE = re.compile(r"\[sv\] info  exits: ([a-z-]+) (\d+)$")
DMA_RE = re.compile(r"\[sv\] info  ide0\.0: dma (\d+)")
AHCI_CMD_RE = re.compile(r"\[sv\] info\s+ahci0: commands (\d+) ")
AHCI_TRAP_RE = re.compile(r"\[sv\] info\s+ahci0: trapped reads (\d+) writes (\d+)")
CYCLES_RE = re.compile(r"\[sv\] info\s+exit cycles: exits (\d+) guest (\d+) handler (\d+) mmio (\d+) decode (\d+) "
                       r"emulate (\d+)")
REAL_RE = re.compile(r"\[sv\] info\s+ahci0: real register reads (\d+) writes (\d+)")
NVME_CMD_RE = re.compile(r"\[sv\] info\s+nvme0: commands (\d+) ")
NVME_TRAP_RE = re.compile(r"\[sv\] info\s+nvme0: trapped reads (\d+) writes (\d+)")
NVME_NMI_RE = re.compile(r"\[sv\] info\s+nvme0: interrupts delivered \d+ pended \d+ nmis (\d+)")
TIME_RE = re.compile(r"(wrote|verified) (\d+) bytes .*?\(([\d.]+) s\)")
BUSES = {"ide": ("ide", "ata_piix"), "ahci": ("ahci", "ahci"), "nvme": ("nvme", "nvme")}  # --disk kind, guest driver
QD_CASE = ("4K-qd32", 4 << 20, 32)  # NVMe only: random 4 KiB reads at queue depth 32


def boot(append, hypervisor, disk, key, bus):
    kind = BUSES[bus][0]
    cmd = [os.path.join(ROOT, "shadowvisor"), "run",
           "--kernel", os.path.join(BUILD, "guest", "bzImage"),
           "--initrd", os.path.join(BUILD, "guest", "initramfs.cpio.gz"),
           "--append", append, "--memory", "512", "--timeout", "1800", "--disk", kind + ":" + disk]
    if hypervisor:
        cmd += ["--key-file", key, "--hypervisor", os.path.join(BUILD, "shadowvisor.elf")]
    else:
        cmd += ["--no-hypervisor"]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench io: boot failed (status %d):\n%s" % (r.returncode, r.stdout[-3000:]))
    exits, commands, trapped, times, cycles, real = {}, 0, 0, {}, None, None
    for line in r.stdout.splitlines():
        line = line.strip()
        m = EXIT_RE.search(line)
        if m:
            exits[m.group(1)] = int(m.group(2))
        m = {"ide": DMA_RE, "ahci": AHCI_CMD_RE, "nvme": NVME_CMD_RE}[bus].search(line)
        if m:
            commands = int(m.group(1))
        # The mediator's exits: trapped register accesses (AHCI: ABAR; NVMe:
        # BAR0 incl. doorbells and MSI-X) and, for NVMe, the device's NMIs.
        m = AHCI_TRAP_RE.search(line) if bus == "ahci" else NVME_TRAP_RE.search(line) if bus == "nvme" else None
        if m:
            trapped += int(m.group(1)) + int(m.group(2))
        m = NVME_NMI_RE.search(line) if bus == "nvme" else None
        if m:
            trapped += int(m.group(1))
        m = CYCLES_RE.search(line)
        if m:
            cycles = [int(g) for g in m.groups()]
        m = REAL_RE.search(line)
        if m:
            real = int(m.group(1)) + int(m.group(2))
        for m in TIME_RE.finditer(line):  # a "both" run reports write and read on one line
            times[m.group(1)] = (int(m.group(2)), float(m.group(3)))
    if hypervisor and bus != "ide" and not commands:
        sys.exit("bench io: the hypervisor did not mediate the %s disk (no '%s0: commands' statistics):\n%s"
                 % (bus.upper(), bus, r.stdout[-3000:]))
    return {"exits": exits, "commands": commands, "trapped": trapped, "times": times, "cycles": cycles,
            "real": real}


def cost_line(r, idle, commands):
    """Where the time of the exits went, per command (TSC cycles, from the
    hypervisor's 'exit cycles' statistics, minus the idle boot's)."""
    if not commands or not r["cycles"] or not idle["cycles"]:
        return ""
    d = [a - b for a, b in zip(r["cycles"], idle["cycles"])]
    exits, guest, handler, mmio, decode, emulate = d
    text = "; per command: guest+switch %.0fk cycles, handler %.0fk (per exit %.1fk" % (
        guest / commands / 1e3, handler / commands / 1e3, handler / exits / 1e3 if exits else 0)
    if mmio:
        text += ", MMIO decode %.1fk emulate %.1fk" % (decode / mmio / 1e3, emulate / mmio / 1e3)
    text += ")"
    if r["real"] is not None and idle["real"] is not None:
        text += ", %.1f real register accesses" % ((r["real"] - idle["real"]) / commands)
    return text


def per_mib(delta, mib):
    return ", ".join("%s %.0f" % (k, v / mib) for k, v in sorted(delta.items()) if v > 0) or "none"


def rate(times, what):
    n, secs = times[what]
    return n / secs / 1e6 if secs > 0 else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bus", choices=sorted(BUSES), default="ide")
    args = p.parse_args()
    bus = args.bus
    driver = BUSES[bus][1]
    work = os.path.join(BUILD, "bench-io" if bus == "ide" else "bench-io-" + bus)
    os.makedirs(work, exist_ok=True)
    disk = os.path.join(work, "disk.img")
    key = os.path.join(work, "bench.key")
    key_bytes = os.urandom(64)
    with open(key, "wb") as f:
        f.write(key_bytes)
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    print("bench io: bus %s: idle boot under the hypervisor (reference counts)" % bus, flush=True)
    idle = boot("sv.test=cpuid", True, disk, key, bus)
    lines, summary = [], []
    cases = [(req, size, None) for req, size in CASES] + ([QD_CASE] if bus == "nvme" else [])
    for req, size, qd in cases:
        if qd:
            region = "sv.test=diskqd sv.disks=%s:7 sv.qdio=%dK:%dK:4K:%d" % (driver, OFFSET >> 10, size >> 10, qd)
        else:
            region = "sv.test=disks sv.disks=%s:7 sv.regions=%dK:%dK:%s" % (driver, OFFSET >> 10, size >> 10, req)
        mib = size / (1 << 20)
        print("bench io: %s requests, %d MiB: hypervisor write, hypervisor read, bare write+read, "
              "dm-crypt write+read" % (req, size >> 20), flush=True)
        hv_t, per_cmd = {}, {}
        for mode, label in (("write", "write"), ("verify", "read")):
            r = boot(region + " sv.diskmode=" + mode, True, disk, key, bus)
            hv_t.update(r["times"])
            delta = {k: r["exits"].get(k, 0) - idle["exits"].get(k, 0) for k in r["exits"] if k != "total"}
            commands = r["commands"] - idle["commands"]
            if bus == "ide":
                counted = delta.get("io", 0)
                lines.append("io %s %s: exits per MiB: %s; %.1f io exits per DMA command (%d commands%s)"
                             % (req, label, per_mib(delta, mib), counted / commands if commands else float("nan"),
                                commands, ", incl. the guest's cache flushes" if mode == "write" else ""))
            else:
                counted = r["trapped"] - idle["trapped"]
                what = "trapped ABAR accesses" if bus == "ahci" else "NVMe exits (trapped BAR0 accesses + device NMIs)"
                lines.append("io %s %s: exits per MiB: %s; %.1f %s per command (%d commands)%s"
                             % (req, label, per_mib(delta, mib), counted / commands if commands else float("nan"),
                                what, commands, cost_line(r, idle, commands)))
            per_cmd[label] = counted / commands if commands > 0 else float("nan")
        bare_t = boot(region + " sv.diskmode=both", False, disk, key, bus)["times"]
        dm_t = boot(region + " sv.diskmode=both sv.dmkey=" + key_bytes.hex(), False, disk, key, bus)["times"]
        for what, label in (("wrote", "write"), ("verified", "read")):
            if qd and label == "write":
                continue  # the queue-depth line is about random reads
            vs_bare = vs_dm = float("nan")
            if what in hv_t and what in bare_t:
                hv_rate, bare_rate = rate(hv_t, what), rate(bare_t, what)
                vs_bare = hv_rate / bare_rate
                if bus == "ide":
                    lines.append("io %s %s: %.1f MB/s encrypted, %.1f MB/s without hypervisor, ratio %.2f"
                                 % (req, label, hv_rate, bare_rate, vs_bare))
                if what in dm_t:
                    vs_dm = hv_rate / rate(dm_t, what)
            summary.append("bench-io bus=%s req=%s op=%s exits_per_cmd=%.1f vs_bare=%.2f vs_dmcrypt=%.2f"
                           % (bus, req, label, per_cmd[label], vs_bare, vs_dm))
    print()
    for line in lines + summary:
        print(line)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""`./shadowvisor bench io`: sequential O_DIRECT reads and writes through the
guest's ata_piix driver on an encrypted IDE disk, with 4 KiB and 1 MiB
requests. Under QEMU TCG seconds are noisy, so the main figures are counts:
VM exits per MiB by reason and exits per DMA command (from the hypervisor's
power-off statistics, minus an idle boot's). Throughput is reported relative
to the same workload without the hypervisor, run side by side in this run.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SV_BUILD_DIR", os.path.join(ROOT, "build"))
WORK = os.path.join(BUILD, "bench-io")
CASES = [("4K", 4 << 20), ("1M", 16 << 20)]  # request size, bytes moved each way
OFFSET = 1 << 20
EXIT_RE = re.compile(r"\[sv\] info  exits: ([a-z-]+) (\d+)$")
DMA_RE = re.compile(r"\[sv\] info  ide0\.0: dma (\d+)")
TIME_RE = re.compile(r"(wrote|verified) (\d+) bytes .*?\(([\d.]+) s\)")


def boot(append, hypervisor, disk, key):
    cmd = [os.path.join(ROOT, "shadowvisor"), "run",
           "--kernel", os.path.join(BUILD, "guest", "bzImage"),
           "--initrd", os.path.join(BUILD, "guest", "initramfs.cpio.gz"),
           "--append", append, "--memory", "512", "--timeout", "900", "--disk", "ide:" + disk]
    if hypervisor:
        cmd += ["--key-file", key, "--hypervisor", os.path.join(BUILD, "shadowvisor.elf")]
    else:
        cmd += ["--no-hypervisor"]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench io: boot failed (status %d):\n%s" % (r.returncode, r.stdout[-3000:]))
    exits, dma, times = {}, 0, {}
    for line in r.stdout.splitlines():
        line = line.strip()
        m = EXIT_RE.search(line)
        if m:
            exits[m.group(1)] = int(m.group(2))
        m = DMA_RE.search(line)
        if m:
            dma = int(m.group(1))
        for m in TIME_RE.finditer(line):  # a "both" run reports write and read on one line
            times[m.group(1)] = (int(m.group(2)), float(m.group(3)))
    return exits, dma, times


def per_mib(delta, mib):
    return ", ".join("%s %.0f" % (k, v / mib) for k, v in sorted(delta.items()) if v > 0) or "none"


def main():
    os.makedirs(WORK, exist_ok=True)
    disk = os.path.join(WORK, "disk.img")
    key = os.path.join(WORK, "bench.key")
    with open(key, "wb") as f:
        f.write(os.urandom(64))
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    print("bench io: idle boot under the hypervisor (reference exit counts)", flush=True)
    idle, idle_dma, _ = boot("sv.test=cpuid", True, disk, key)
    lines = []
    for req, size in CASES:
        region = "sv.test=disks sv.disks=ata_piix:7 sv.regions=%dK:%dK:%s" % (OFFSET >> 10, size >> 10, req)
        mib = size / (1 << 20)
        print("bench io: %s requests, %d MiB: hypervisor write, hypervisor read, bare write+read"
              % (req, size >> 20), flush=True)
        hv_t = {}
        for mode, label, what in (("write", "write", "wrote"), ("verify", "read", "verified")):
            exits, dma, times = boot(region + " sv.diskmode=" + mode, True, disk, key)
            hv_t.update(times)
            delta = {k: exits.get(k, 0) - idle.get(k, 0) for k in exits if k != "total"}
            commands = dma - idle_dma
            io = delta.get("io", 0)
            lines.append("io %s %s: exits per MiB: %s; %.1f io exits per DMA command (%d commands%s)"
                         % (req, label, per_mib(delta, mib), io / commands if commands else float("nan"),
                            commands, ", incl. the guest's cache flushes" if mode == "write" else ""))
        _, _, bare_t = boot(region + " sv.diskmode=both", False, disk, key)
        for what, label in (("wrote", "write"), ("verified", "read")):
            if what in hv_t and what in bare_t:
                hv_rate = hv_t[what][0] / hv_t[what][1] / 1e6
                bare_rate = bare_t[what][0] / bare_t[what][1] / 1e6
                lines.append("io %s %s: %.1f MB/s encrypted, %.1f MB/s without hypervisor, ratio %.2f"
                             % (req, label, hv_rate, bare_rate, hv_rate / bare_rate))
    print()
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()

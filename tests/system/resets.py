#!/usr/bin/env python3
"""Hostile-guest reset / power-off paths (issue #7 class 7): after each way
the guest ends the machine, a RAM dump (QEMU pmemsave) holds no 16-byte
window of the disk key or of its AES round keys.

usage: resets.py GROUP [--no-hypervisor] [--build-dir DIR] [--method M]...
  GROUP: kbd | cf9 | misc | acpi | all  (the methods of each: GROUPS below)

Each method is one boot with a fresh random key: the guest first asks for a
control dump while it runs (it must contain the key: the hypervisor's memory
is hidden from the guest, not from pmemsave, so this proves the scan works),
then performs the reset/power-off raw (guest/sv-reset.c) or through the
kernel (triple fault: reboot=t). QEMU runs with `-action
reboot=shutdown,shutdown=pause`, so the machine stops instead of rebooting;
the host then dumps all RAM through QMP and scans it.

--no-hypervisor (control): the same paths on bare QEMU (no key anywhere):
shows each method really stops the machine by itself.
"""
import argparse
import json
import mmap
import os
import secrets
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import svtest  # noqa: E402

GROUPS = {
    "kbd": ["kbd-fe", "kbd-pulse", "kbd-d1"],
    # cf9-word8 (outw at 0xCF8) is wiped for but is not a reset on QEMU
    # (unit-tested only).
    "cf9": ["cf9-byte", "cf9-word", "cf9-dword"],
    "misc": ["port92", "triple"],
    # pm-byte (SLP_EN by a byte write to PM1_CNT+1) is wiped for but QEMU
    # 7.2 does not power off on it: unit-tested only.
    "acpi": ["pm-moved", "fadt-reset"],
}
MEMORY_MIB = 256

# --- AES key schedule (FIPS-197 §5.2), to look for round keys too -----------


def _sbox():
    sbox = [0] * 256
    p = q = 1
    while True:
        p = p ^ ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5)) ^ ((q << 4) | (q >> 4))
        sbox[p] = (x ^ 0x63) & 0xFF
        if p == 1:
            break
    sbox[0] = 0x63
    return sbox


SBOX = _sbox()


def expand_key(key):
    nk = len(key) // 4
    rounds = nk + 6
    w = [list(key[4 * i:4 * i + 4]) for i in range(nk)]
    rcon = 1
    for i in range(nk, 4 * (rounds + 1)):
        t = list(w[i - 1])
        if i % nk == 0:
            t = t[1:] + t[:1]
            t = [SBOX[b] for b in t]
            t[0] ^= rcon
            rcon = ((rcon << 1) ^ (0x1B if rcon & 0x80 else 0)) & 0xFF
        elif nk > 6 and i % nk == 4:
            t = [SBOX[b] for b in t]
        w.append([a ^ b for a, b in zip(w[i - nk], t)])
    flat = bytes(b for word in w for b in word)
    return [flat[16 * r:16 * r + 16] for r in range(rounds + 1)]


def key_windows(key):
    """Every 16-byte window of the raw key, and every round key of both
    XTS halves' encryption schedules."""
    wins = {key[i:i + 16] for i in range(len(key) - 15)}
    half = len(key) // 2
    for k in (key[:half], key[half:]):
        wins.update(expand_key(k))
    return wins


def scan(path, windows):
    """Number of windows found in the file (0: the key is gone)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return sum(1 for w in windows if m.find(w) >= 0)


# --- QMP ---------------------------------------------------------------------


class Qmp:
    def __init__(self, path, deadline):
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.f = self.s.makefile("rwb")
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QMP closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        self.f.write((json.dumps({"execute": name, "arguments": args}) + "\n").encode())
        self.f.flush()
        return self._read()


class Monitor(threading.Thread):
    """Holds the QMP connection: takes the control dump when the guest asks,
    and the final dump once the machine has stopped (then quits QEMU)."""

    def __init__(self, sock, work, name, windows, timeout):
        super().__init__(daemon=True)
        self.sock, self.work, self.name, self.windows = sock, work, name, windows
        self.deadline = time.monotonic() + timeout
        self.want_control = threading.Event()
        self.control_done = threading.Event()
        self.control_found = None
        self.final_found = None
        self.final_status = None
        self.error = None

    def dump(self, q, tag):
        path = os.path.join(self.work, "ram-%s-%s.bin" % (self.name, tag))
        r = q.cmd("pmemsave", val=0, size=MEMORY_MIB << 20, filename=path)
        if "error" in r:
            raise RuntimeError("pmemsave: %s" % r["error"])
        n = scan(path, self.windows)
        os.unlink(path)
        return n

    def run(self):
        try:
            q = Qmp(self.sock, self.deadline)
            while time.monotonic() < self.deadline:
                if self.want_control.is_set() and not self.control_done.is_set():
                    self.control_found = self.dump(q, "running")
                    self.control_done.set()
                st = q.cmd("query-status")["return"]
                if not st["running"] and st["status"] != "prelaunch":
                    self.final_status = st["status"]
                    self.final_found = self.dump(q, "stopped")
                    q.cmd("quit")
                    return
                time.sleep(0.5)
            self.error = "timeout waiting for the machine to stop"
        except (EOFError, OSError) as e:
            self.error = "QEMU went away before the machine stopped and was dumped (%s)" % e
        except Exception as e:  # noqa: BLE001 - reported as a test failure
            self.error = "monitor: %r" % e
        finally:
            self.control_done.set()


def run_method(h, method):
    key = secrets.token_bytes(64)
    while key[:32] == key[32:]:
        key = secrets.token_bytes(64)
    key_path = os.path.join(h.work, "disk.key")
    with open(key_path, "wb") as f:
        f.write(key)
    windows = key_windows(key)
    sock = "/tmp/sv-resets-%d-%s.qmp" % (os.getpid(), method)
    if os.path.exists(sock):
        os.unlink(sock)
    mon = Monitor(sock, h.work, method, windows, timeout=900)
    mon.start()

    def control(_log):
        mon.want_control.set()
        mon.control_done.wait(600)
        return "dumped-%s" % ("?" if mon.control_found is None else mon.control_found)

    append = "sv.test=resets sv.reset=%s" % method
    if method == "triple":
        append += " reboot=t"
    elif method == "acpi-reboot":
        append += " reboot=a"
    extra = (["--key-file", key_path] if h.hv else []) + ["--memory", str(MEMORY_MIB), "--timeout", "900",
             "--qemu-arg=-qmp", "--qemu-arg=unix:%s,server=on,wait=off" % sock,
             "--qemu-arg=-action", "--qemu-arg=reboot=shutdown,shutdown=pause"]
    b = h.boot(append, extra=extra, timeout=900, answers={"dump": control})
    mon.join(60)
    if os.path.exists(sock):
        os.unlink(sock)
    problems = []
    if "no FADT reset register" in b.log:
        print("svtest: %s: SKIPPED: this machine's FADT has no reset register (QEMU pc: FADT revision 1)" % method)
        return None
    if "SV-INFO resets-method %s" % method not in b.log:
        problems.append("the guest never reached the attack")
    if mon.control_found is None or mon.control_found == 0:
        if h.hv:
            problems.append("control dump while running: %s windows of the key found (expected > 0: the "
                            "scan must see the key in hypervisor memory)" % mon.control_found)
    else:
        print("svtest: %s: control dump (guest running) holds %d of %d key windows"
              % (method, mon.control_found, len(windows)))
    if mon.is_alive():
        problems.append("QEMU exited or never stopped, no final dump (boot status %d)" % b.status)
    elif mon.error:
        problems.append(mon.error)
    elif mon.final_found:
        problems.append("after %s (machine %s) RAM still holds %d of %d key windows"
                        % (method, mon.final_status, mon.final_found, len(windows)))
    else:
        print("svtest: %s: machine %s, RAM dump holds no key window" % (method, mon.final_status))
    if "machine still running" in b.log:
        problems.append("the machine kept running after %s" % method)
    if h.hv and not problems and "disk key wiped" not in b.log:
        problems.append("the hypervisor did not log wiping the key")
    return problems


def main():
    p = argparse.ArgumentParser()
    p.add_argument("test", choices=sorted(GROUPS) + ["all"])
    p.add_argument("--no-hypervisor", action="store_true")
    p.add_argument("--build-dir", default=os.path.join(svtest.ROOT, "build"))
    p.add_argument("--method", action="append", default=[])
    p.add_argument("--machine", choices=("pc", "q35"), default="pc")
    a = p.parse_args()
    if not a.no_hypervisor and os.environ.get("SV_HV_TESTS", "").lower() not in ("1", "on", "true", "yes"):
        print("resets: hypervisor test skipped (set SV_HV_TESTS=1)")
        return svtest.SKIP
    h = svtest.Harness(argparse.Namespace(test="resets-" + a.test, no_hypervisor=a.no_hypervisor,
                                          build_dir=a.build_dir, machine=a.machine))
    methods = a.method or (sum(GROUPS.values(), []) if a.test == "all" else GROUPS[a.test])
    failed = {}
    skipped = []
    for m in methods:
        problems = run_method(h, m)
        if problems is None:
            skipped.append(m)
        elif problems:
            failed[m] = problems
            print("svtest: %s: FAIL: %s" % (m, "; ".join(problems)), flush=True)
        else:
            print("svtest: %s: PASS" % m, flush=True)
    if failed:
        print("FAIL: " + "; ".join("%s: %s" % (m, ", ".join(p)) for m, p in failed.items()))
        return 1
    passed = [m for m in methods if m not in skipped]
    if not passed:
        print("SKIPPED: %s (nothing ran)" % ", ".join(skipped))
        return svtest.SKIP
    print("PASS: %s%s" % (", ".join(passed), "; skipped: " + ", ".join(skipped) if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

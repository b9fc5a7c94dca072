#!/usr/bin/env python3
"""System tests under Bochs (`./shadowvisor run --emulator bochs`), which
emulates VT-x and SVM with NRIP where QEMU's TCG has no VMX and no NRIP.

usage: bochs.py TEST [--build-dir DIR]
  bare-cpuid    the guest without the hypervisor, GRUB `linux` boot, on the
                Intel model (corei7_haswell_4770): the runner's baseline
  svm-cpuid     the hypervisor on Bochs's AMD model (ryzen: SVM, nested
                paging, NRIP): CPUID signature, SVM hidden, the hypercall
  vmx-refused   the hypervisor on the Intel model: until the VMX backend is
                selected (issue #11) it must refuse with a message naming
                VT-x, and the runner must report a hypervisor failure (3)
Exit status: 0 pass, 1 fail, 77 skipped (no bochs installed).
"""
import argparse
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import svtest  # noqa: E402

INTEL = "corei7_haswell_4770"
AMD = "ryzen"


class BochsHarness(svtest.Harness):
    def __init__(self, args, model):
        super().__init__(args)
        self.model = model

    def boot(self, append, disks=(), hypervisor=None, extra=(), timeout=None, answers=None):
        extra = list(extra) + ["--emulator", "bochs", "--cpu-model", self.model]
        # Bochs is some 10x slower than TCG: a Linux boot takes minutes.
        return super().boot(append, disks, hypervisor, extra, timeout or 3000, answers)


def t_bare_cpuid(h):
    b = h.boot("sv.test=cpuid sv.expect=none")
    h.require_clean(b)
    b.expect(["cpuid-signature"])


# Bochs's DSDT gives \_S4 and \_S5 the same SLP_TYP (0, its only power-off
# value), which devices/acpi/sleep_types.cpp classifies as ambiguous: the
# hypervisor refuses the guest's power-off (key kept, guest halts) and the run
# ends by timeout. Until that classification treats an S4/S5 tie as power-off,
# this refusal is accepted here, loudly, after the guest's results are in.
BOCHS_S5_REFUSAL = re.compile(r"sleep request refused: .*unknown sleep type, SLP_TYP 0 ")


def t_svm_cpuid(h):
    b = h.boot("sv.test=cpuid sv.expect=hv", timeout=2400)
    b.expect(["cpuid-signature", "cpuid-hv-bit", "cpuid-svm-hidden", "hypercall"])
    if b.status != 0:
        if b.status == 124 and BOCHS_S5_REFUSAL.search(b.log):
            print("bochs: KNOWN: power-off refused (Bochs \\_S4 = \\_S5 = SLP_TYP 0 is ambiguous to "
                  "devices/acpi/sleep_types.cpp); the guest's results all passed")
        else:
            h.require_clean(b)
    if "virtualization backend: AMD SVM" not in b.log:
        raise svtest.Fail("the boot log does not show the SVM backend")


def t_vmx_refused(h):
    b = h.boot("sv.test=smoke", timeout=1200)
    if b.status != 3:
        raise svtest.Fail("expected the hypervisor to stop (run status 3), got %d" % b.status)
    if not re.search(r"\[sv\] ERROR .*Intel VT-x \(VMX\)", b.log):
        raise svtest.Fail("the hypervisor stopped without naming VT-x")
    if "SV-INIT" in b.log or "Linux version" in b.log:
        raise svtest.Fail("a guest ran although the hypervisor refused to start")


TESTS = {"bare-cpuid": (t_bare_cpuid, INTEL, False), "svm-cpuid": (t_svm_cpuid, AMD, True),
         "vmx-refused": (t_vmx_refused, INTEL, True)}


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

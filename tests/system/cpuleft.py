#!/usr/bin/env python3
"""Issue #7 class 9 (CPU leftovers) from inside the Debian guest
(guest/sv-cpuleft.c, guest/tests/cpuleft), on a CPU model with XSAVE and AVX
(QEMU 7.2 TCG needs +xsaveopt with +xsave):

  cpuleft          under the hypervisor with a key: CPUID.1:ECX.OSXSAVE follows
                   the guest's CR4 (the kernel enabled XSAVE), a user program
                   that checks OSXSAVE and XCR0 runs AVX, CPUID.(0Dh,0).EBX is
                   the size for the guest's XCR0, MSR writes that would change
                   how the host sees memory (TOP_MEM, SYSCFG, MTRRs, ...) are
                   virtual or refused, and afterwards encrypted IDE I/O (XTS in
                   the hypervisor, guest ymm registers live) still round-trips
                   and the image is aes-xts-plain64 of the pattern
  cpuleft-control  the same guest program without the hypervisor: its OSXSAVE/
                   AVX/leaf 0Dh expectations hold on bare QEMU
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import svtest  # noqa: E402
from encryption import check_simd, ide_stats, simd_append, write_key, SIMD_IO  # noqa: E402

CPU_MODEL = "qemu64,+svm,+npt,+aes,+pclmulqdq,+ssse3,+sse4.1,+sse4.2,+xsave,+xsaveopt,+avx,+avx2,+vaes,+vpclmulqdq"
CPULEFT = ["cpuleft-osxsave", "cpuleft-avx", "cpuleft-xsave-size", "cpuleft-msr"]


def t_cpuleft(h):
    key, key_path = write_key(h, 64)
    img = h.disk("disk-ide.img", mib=32)
    b = h.boot("sv.test=cpuleft,simd sv.cpuleft=xsave sv.cpuleftmode=hv " + simd_append(),
               disks=[("ide", img)], extra=["--key-file", key_path, "--cpu-model", CPU_MODEL], timeout=600)
    h.require_clean(b)
    b.expect(CPULEFT + ["simd-io", "simd", "simd-control"])
    m = re.search(r"disk encryption: .* engine (\S+)", b.log)
    print("svtest: hypervisor crypto engine: %s" % (m.group(1) if m else "?"))
    st = ide_stats(b)
    print("svtest: hypervisor ide0.0 statistics: %s" % st)
    if st["dma"] == 0 or st["encrypted"] < SIMD_IO[1] or st["decrypted"] < SIMD_IO[1]:
        raise svtest.Fail("the hypervisor did not encrypt and decrypt DMA after the MSR writes: %s" % st)
    check_simd(b, img, key)
    print("svtest: after the MSR writes the hypervisor still encrypts: OpenSSL decrypts the I/O region")


def t_cpuleft_control(h):
    b = h.boot("sv.test=cpuleft sv.cpuleft=xsave sv.cpuleftmode=bare", hypervisor=False,
               extra=["--cpu-model", CPU_MODEL.replace(",+svm,+npt", "")], timeout=300)
    h.require_clean(b)
    b.expect(CPULEFT)
    print("svtest: control: on bare QEMU the kernel enables XSAVE and CPUID says so")


TESTS = {"cpuleft": t_cpuleft, "cpuleft-control": t_cpuleft_control}

if __name__ == "__main__":
    sys.exit(svtest.run_named_test(TESTS, "cpu-", __doc__))

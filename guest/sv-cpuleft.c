// sv-cpuleft: issue #7 class 9 ("CPU leftovers") seen from guest user space.
//   SV-RESULT cpuleft-osxsave    CPUID.1:ECX.OSXSAVE says what the guest kernel
//                                did (CR4.OSXSAVE: /proc/cpuinfo "xsave")
//   SV-RESULT cpuleft-avx        a program that checks OSXSAVE + XCR0 (XGETBV)
//                                the documented way can use AVX (ymm) when the
//                                kernel enabled it
//   SV-RESULT cpuleft-xsave-size CPUID.(0Dh,0).EBX = size for the current XCR0
//   SV-RESULT cpuleft-msr        writes through /dev/cpu/0/msr to MSRs that
//                                change how the host sees memory (TOP_MEM,
//                                TOP_MEM2, SYSCFG, MTRRs, IORR, SMM) either
//                                fail (EIO: #GP) or land in a virtual copy
//                                that reads back; the firmware values are put
//                                back afterwards
// usage: sv-cpuleft xsave|none [hv|bare]
//   xsave: the CPU model has XSAVE and AVX, the kernel must have enabled them
//   hv: under the hypervisor (MSR writes must be refused or virtual)
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SV_RESULT_PREFIX "cpuleft-"
#include "sv-hw.h"

static void cpuid2(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static int cpuinfo_flag(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    int found = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5)) {
            char want[64];
            snprintf(want, sizeof want, " %s ", flag);
            line[strcspn(line, "\n")] = ' ';
            found = strstr(line, want) != NULL;
            break;
        }
    fclose(f);
    return found;
}

static sigjmp_buf ill_jmp;
static void on_sigill(int sig)
{
    (void)sig;
    siglongjmp(ill_jmp, 1);
}

// ymm0 + ymm0 -> ymm1, and checks the upper lane: real 256-bit AVX.
static int run_avx(void)
{
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigill;
    sigaction(SIGILL, &sa, &old);
    int ok = 0;
    if (!sigsetjmp(ill_jmp, 1)) {
        float in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8] = {0};
        __asm__ volatile("vmovups (%0), %%ymm0\n\t"
                         "vaddps %%ymm0, %%ymm0, %%ymm1\n\t"
                         "vmovups %%ymm1, (%1)\n\t"
                         "vzeroupper"
                         :
                         : "r"(in), "r"(out)
                         : "xmm0", "xmm1", "memory");
        ok = out[7] == 16.0f && out[0] == 2.0f;
    }
    sigaction(SIGILL, &old, NULL);
    return ok;
}

static uint32_t xsave_size(uint64_t xcr0)
{
    uint32_t size = 576;
    for (unsigned i = 2; i < 63; i++)
        if (xcr0 & (1ull << i)) {
            uint32_t r[4];
            cpuid2(0xd, i, r);
            if (r[1] + r[0] > size)
                size = r[1] + r[0];
        }
    return size;
}

static int msr_fd = -1;

static int msr_read(uint32_t msr, uint64_t *v)
{
    return pread(msr_fd, v, 8, msr) == 8 ? 0 : -errno;
}

static int msr_write(uint32_t msr, uint64_t v)
{
    return pwrite(msr_fd, &v, 8, msr) == 8 ? 0 : -errno;
}

struct msr_case {
    uint32_t msr;
    const char *name;
    int must_refuse; // #GP expected (read-only under the hypervisor)
};

static void check_msrs(int hv)
{
    if (access("/dev/cpu/0/msr", F_OK)) {
        sv_result("msr", 0, "no /dev/cpu/0/msr (msr module missing)");
        return;
    }
    msr_fd = open("/dev/cpu/0/msr", O_RDWR);
    if (msr_fd < 0) {
        sv_result("msr", 0, "open /dev/cpu/0/msr: %s", strerror(errno));
        return;
    }
    const struct msr_case cases[] = {
        {0xC001001A, "TOP_MEM", 0},      {0xC001001D, "TOP_MEM2", 0}, {0xC0010010, "SYSCFG", 0},
        {0x000002FF, "MTRRdefType", 0},  {0x00000200, "MTRRphysBase0", 0},
        {0x00000201, "MTRRphysMask0", 0}, {0x00000250, "MTRRfix64K", 0},
        {0xC0010016, "IORR_BASE0", 0},   {0xC0010015, "HWCR", 0},     {0xC0010112, "SMM_ADDR", 1},
    };
    char detail[2048] = "";
    int good = 1;
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct msr_case *c = &cases[i];
        uint64_t before = 0, after = 0;
        int rr = msr_read(c->msr, &before);
        // A hostile value: TOP_MEM/TOP_MEM2 lowered by 64 MiB (hypervisor
        // memory would decode as MMIO), SYSCFG/HWCR/MTRR bits flipped.
        uint64_t hostile = before ^ 0x4000000ull;
        if (c->msr == 0x2FF)
            hostile = 0; // MTRRs off: everything uncacheable
        int wr = msr_write(c->msr, hostile);
        int rb = msr_read(c->msr, &after);
        int virt = wr == 0 && rb == 0 && after == hostile;
        int refused = wr == -EIO;
        int ok = !hv || (c->must_refuse ? refused : (virt || refused));
        if (wr == 0)
            (void)msr_write(c->msr, before); // put the firmware's value back
        size_t l = strlen(detail);
        snprintf(detail + l, sizeof detail - l, "%s%s: read %s 0x%" PRIx64 ", write 0x%" PRIx64 " %s, reads %s 0x%" PRIx64 "%s",
                 l ? "; " : "", c->name, rr ? "FAILED" : "", before, hostile, wr ? strerror(-wr) : "ok",
                 rb ? "FAILED" : "", after, ok ? "" : " NOT VIRTUAL/REFUSED");
        good &= ok;
    }
    close(msr_fd);
    sv_result("msr", good, "%s", detail);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int want_xsave = argc > 1 && !strcmp(argv[1], "xsave");
    int hv = argc > 2 && !strcmp(argv[2], "hv");
    uint32_t r[4];
    cpuid2(1, 0, r);
    int has_xsave = (r[2] >> 26) & 1, osxsave = (r[2] >> 27) & 1, has_avx = (r[2] >> 28) & 1;
    int kernel_xsave = cpuinfo_flag("xsave"), kernel_avx = cpuinfo_flag("avx");
    int good = osxsave == (kernel_xsave == 1) && (!want_xsave || kernel_xsave == 1);
    sv_result("osxsave", good, "CPUID.1:ECX XSAVE=%d OSXSAVE=%d AVX=%d; kernel flags xsave=%d avx=%d%s", has_xsave,
           osxsave, has_avx, kernel_xsave, kernel_avx,
           good ? "" : (kernel_xsave == 1 ? " (the kernel enabled XSAVE but CPUID says it did not)"
                                          : " (expected the kernel to enable XSAVE)"));

    // The documented check (Intel SDM vol. 1 §14.3): OSXSAVE, then XCR0[2:1].
    uint64_t xcr0 = 0;
    int usable = 0, ran = 0;
    if (osxsave) {
        xcr0 = xgetbv0();
        usable = has_avx && (xcr0 & 6) == 6;
        ran = usable && run_avx();
    }
    good = want_xsave ? (usable && ran) : (usable == ran);
    sv_result("avx", good, "OSXSAVE=%d XCR0=0x%" PRIx64 ": AVX %s, ymm addition %s", osxsave, xcr0,
           usable ? "usable" : "not usable", ran ? "ran" : "not run");

    if (osxsave) {
        cpuid2(0xd, 0, r);
        uint32_t want = xsave_size(xcr0);
        sv_result("xsave-size", r[1] == want, "CPUID.(0Dh,0): EBX %u, size for XCR0 0x%" PRIx64 " %u (ECX max %u)",
               r[1], xcr0, want, r[2]);
    } else {
        sv_result("xsave-size", !want_xsave, "no OSXSAVE: leaf 0Dh not for this OS");
    }
    check_msrs(hv);
    return sv_failures ? 1 : 0;
}

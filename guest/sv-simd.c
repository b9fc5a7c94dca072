// sv-simd: check that the SIMD registers of a user process keep their values
// while the hypervisor runs its AES-NI engine (xmm0-xmm15, and the upper ymm
// halves with AVX) on exits taken during this process's time slices, e.g.
// interrupts of the IDE driver that complete DMA or PIO transfers.
//
// usage: sv-simd SECONDS [clobber]
//   Loads 16 distinct 128-bit values (256-bit with AVX) into xmm0-xmm15 (ymm)
//   and spins for SECONDS, comparing every register against its value in each
//   iteration. The whole spin loop is one inline-asm block: no call, no
//   compiler code in between that could legitimately use the registers. A
//   SIGALRM handler ends it (signal delivery saves and restores the registers).
//   clobber: negative control; the first SIGALRM changes xmm5 in the signal
//   frame, which sigreturn loads: the loop must notice it.
// Output: "sv-simd: PASS width=xmm|ymm iterations=N seconds=S" (exit 0), or
//   "sv-simd: CHANGED xmmR|ymmR ... iterations=N" (exit 1). Exit 2: bad usage.
#define _GNU_SOURCE
#include <cpuid.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "sv-pattern.h"

static uint64_t expected[16][4] __attribute__((aligned(32)));
static uint64_t observed[16][4] __attribute__((aligned(32)));
static uint64_t scratch[2] __attribute__((aligned(16)));
static volatile int stop;
static volatile int clobbered;
static int clobber_mode;
static unsigned seconds;

static void on_alarm(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    if (clobber_mode && !clobbered) {
        ucontext_t *uc = ctx;
        uc->uc_mcontext.fpregs->_xmm[5].element[0] ^= 0x1;  // restored by sigreturn
        clobbered = 1;
        alarm(seconds);  // end the run if the change went unnoticed
        return;
    }
    stop = 1;
}

static int have_avx(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & bit_OSXSAVE) || !(c & bit_AVX))
        return 0;
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;  // the OS saves XMM and YMM state
}

#define REGS "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"

// Returns the number of completed iterations; *changed = 1 if a register
// differed (observed[] then holds all registers at that moment).
static uint64_t spin_xmm(int *changed)
{
    uint64_t iters = 0;
    int diff = 0;
    __asm__ volatile(
        ".irp r," REGS "\n\t"
        "movdqa \\r*32(%[exp]), %%xmm\\r\n\t"
        ".endr\n"
        "1:\n\t"
        ".irp r," REGS "\n\t"
        "movq %%xmm\\r, %%rax\n\t"
        "cmp \\r*32(%[exp]), %%rax\n\t"
        "jne 2f\n\t"
        "pextrq $1, %%xmm\\r, %%rax\n\t"
        "cmp \\r*32+8(%[exp]), %%rax\n\t"
        "jne 2f\n\t"
        ".endr\n\t"
        "add $1, %[it]\n\t"
        "cmpl $0, %[stop]\n\t"
        "je 1b\n\t"
        "jmp 3f\n"
        "2:\n\t"
        "movl $1, %[diff]\n"
        "3:\n\t"
        ".irp r," REGS "\n\t"
        "movdqa %%xmm\\r, \\r*32(%[obs])\n\t"
        ".endr\n\t"
        : [it] "+r"(iters), [diff] "+m"(diff)
        : [exp] "r"(expected), [obs] "r"(observed), [stop] "m"(stop)
        : "rax", "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
          "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    *changed = diff;
    return iters;
}

static uint64_t spin_ymm(int *changed)
{
    uint64_t iters = 0;
    int diff = 0;
    __asm__ volatile(
        ".irp r," REGS "\n\t"
        "vmovdqa \\r*32(%[exp]), %%ymm\\r\n\t"
        ".endr\n"
        "1:\n\t"
        ".irp r," REGS "\n\t"
        "vmovq %%xmm\\r, %%rax\n\t"
        "cmp \\r*32(%[exp]), %%rax\n\t"
        "jne 2f\n\t"
        "vpextrq $1, %%xmm\\r, %%rax\n\t"
        "cmp \\r*32+8(%[exp]), %%rax\n\t"
        "jne 2f\n\t"
        "vextractf128 $1, %%ymm\\r, (%[tmp])\n\t"
        "mov (%[tmp]), %%rax\n\t"
        "cmp \\r*32+16(%[exp]), %%rax\n\t"
        "jne 2f\n\t"
        "mov 8(%[tmp]), %%rax\n\t"
        "cmp \\r*32+24(%[exp]), %%rax\n\t"
        "jne 2f\n\t"
        ".endr\n\t"
        "add $1, %[it]\n\t"
        "cmpl $0, %[stop]\n\t"
        "je 1b\n\t"
        "jmp 3f\n"
        "2:\n\t"
        "movl $1, %[diff]\n"
        "3:\n\t"
        ".irp r," REGS "\n\t"
        "vmovdqa %%ymm\\r, \\r*32(%[obs])\n\t"
        ".endr\n\t"
        "vzeroupper\n\t"
        : [it] "+r"(iters), [diff] "+m"(diff)
        : [exp] "r"(expected), [obs] "r"(observed), [tmp] "r"(scratch), [stop] "m"(stop)
        : "rax", "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
          "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    *changed = diff;
    return iters;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || atoi(argv[1]) <= 0 || (argc == 3 && strcmp(argv[2], "clobber"))) {
        fprintf(stderr, "usage: sv-simd SECONDS [clobber]\n");
        return 2;
    }
    seconds = (unsigned)atoi(argv[1]);
    clobber_mode = argc == 3;
    int ymm = have_avx();
    for (int r = 0; r < 16; r++)
        for (int q = 0; q < 4; q++)  // distinct, no zero lanes, differs per register and lane
            expected[r][q] = 0x5356000000000000ull ^ ((uint64_t)(r + 1) << 40) ^
                             ((uint64_t)(q + 1) << 32) ^ (0x9E3779B9u * (uint32_t)(r * 4 + q + 1));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_alarm;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    // clobber: change xmm5 after one second; otherwise stop after SECONDS.
    alarm(clobber_mode ? 1 : seconds);

    double t0 = now();
    int changed = 0;
    uint64_t iters = ymm ? spin_ymm(&changed) : spin_xmm(&changed);
    double t = now() - t0;
    const char *width = ymm ? "ymm" : "xmm";
    if (!changed) {
        printf("sv-simd: PASS width=%s iterations=%" PRIu64 " seconds=%.1f\n", width, iters, t);
        return 0;
    }
    int lanes = ymm ? 4 : 2, reported = 0;
    for (int r = 0; r < 16; r++) {
        for (int q = 0; q < lanes; q++) {
            if (observed[r][q] != expected[r][q]) {
                printf("sv-simd: CHANGED %s%d lane %d: got %016" PRIx64 " expected %016" PRIx64
                       " width=%s iterations=%" PRIu64 " seconds=%.1f\n",
                       q < 2 ? "xmm" : "ymm", r, q, observed[r][q], expected[r][q], width, iters, t);
                reported = 1;
            }
        }
    }
    if (!reported)
        printf("sv-simd: CHANGED (transiently) width=%s iterations=%" PRIu64 " seconds=%.1f\n", width, iters, t);
    return 1;
}

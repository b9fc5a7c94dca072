// sv-vmxhidden: what a guest sees of VMX besides CPUID (issue #11: VMX
// hidden). Under the VT-x backend the guest must find a CPU whose firmware
// locked VMX off and that has no VMX at all:
//   - IA32_FEATURE_CONTROL (MSR 3Ah) reads with the lock bit (0) set and
//     both VMX-enable bits (1: inside SMX, 2: outside SMX) clear, and a
//     write to the locked MSR raises #GP (Intel SDM vol. 4, "IA32_FEATURE_
//     CONTROL"; vol. 3C §24.7 "Enabling and Entering VMX Operation");
//   - IA32_VMX_BASIC (MSR 480h) raises #GP, as on a CPU with
//     CPUID.1:ECX.VMX = 0 (SDM vol. 4: the IA32_VMX_* MSRs exist only then);
//   - VMXON, VMXOFF and VMPTRST raise #UD (SIGILL): in VMX non-root operation
//     they exit to the hypervisor (SDM vol. 3C §26.1.2), which must reflect
//     #UD as a CPU without VMX would (SDM vol. 2 VMXON: #UD if CR4.VMXE = 0).
// MSRs through /dev/cpu/0/msr (the msr module; a #GP shows as EIO).
// Output "key value" lines for guest/tests/vmxhidden.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MSR_FEATURE_CONTROL 0x3a
#define MSR_VMX_BASIC 0x480

static sigjmp_buf jump;
static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
    caught = sig;
    siglongjmp(jump, 1);
}

// The signal one VMX instruction raised (0: none, it completed).
static int try_insn(int which)
{
    static uint64_t region[512] __attribute__((aligned(4096)));
    uint64_t ptr = 0;
    uint64_t addr = (uint64_t)(uintptr_t)region;
    caught = 0;
    if (sigsetjmp(jump, 1) == 0) {
        switch (which) {
        case 0:
            __asm__ volatile("vmxon %0" : : "m"(addr) : "memory", "cc");
            break;
        case 1:
            __asm__ volatile("vmxoff" : : : "memory", "cc");
            break;
        default:
            __asm__ volatile("vmptrst %0" : "=m"(ptr) : : "memory", "cc");
            break;
        }
    }
    return caught;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    int fd = open("/dev/cpu/0/msr", O_RDWR);
    if (fd < 0) {
        printf("msr_open_errno %d\n", errno);
    } else {
        uint64_t v = 0;
        if (pread(fd, &v, sizeof(v), MSR_FEATURE_CONTROL) == (ssize_t)sizeof(v))
            printf("feature_control 0x%llx\n", (unsigned long long)v);
        else
            printf("feature_control_errno %d\n", errno);
        uint64_t w = v | 0x5; // lock + VMX outside SMX: what a VMM would try
        errno = 0;
        if (pwrite(fd, &w, sizeof(w), MSR_FEATURE_CONTROL) == (ssize_t)sizeof(w))
            printf("feature_control_write accepted\n");
        else
            printf("feature_control_write errno %d\n", errno);
        uint64_t b = 0;
        errno = 0;
        if (pread(fd, &b, sizeof(b), MSR_VMX_BASIC) == (ssize_t)sizeof(b))
            printf("vmx_basic 0x%llx\n", (unsigned long long)b);
        else
            printf("vmx_basic errno %d\n", errno);
        close(fd);
    }
    static const char *const names[] = {"vmxon", "vmxoff", "vmptrst"};
    for (int i = 0; i < 3; i++) {
        int sig = try_insn(i);
        printf("%s_signal %s\n", names[i], sig == SIGILL ? "SIGILL" : sig == 0 ? "none" : sig == SIGSEGV ? "SIGSEGV" : "other");
    }
    return 0;
}

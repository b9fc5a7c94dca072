// sv-tlbkick: a vCPU that never exits must not keep a stale nested
// translation when the hypervisor starts trapping a page (issue 8 item 4:
// the nested-TLB shootdown).
//
// CPU 1 (pinned, a tight loop: it exits only at its timer ticks, whose
// local APIC EOI write is trapped) keeps writing Bus Master Enable into the
// command register of an unmediated function (an ICH9 EHCI USB controller
// the test adds at 00:10.0) through the ECAM window (/dev/mem at
// the MCFG base; boot with iomem=relaxed), timing each write with the TSC.
// CPU 0 disables the ECAM window (PCIEXBAR bit 0 through 0xCF8/0xCFC): the
// hypervisor releases the window's pages, CPU 1's writes go to unassigned
// memory without exits and its TLB holds a writable translation. CPU 0 then
// enables the window again: the hypervisor traps the pages and must kick
// CPU 1 out of the guest so that it flushes before the MCH decodes the
// window again; from then on every write of CPU 1 exits and is mediated, so
// BME stays off (the hypervisor has a key). Without the kick, CPU 1's writes
// until its next tick go straight to the real ECAM (fast, no exit) and set
// BME. (User-mode CLI cannot keep the ticks away: Linux emulates iopl(3)
// and turns CLI into a no-op.) Under QEMU TCG these checks pass even
// without the kick (QEMU flushes every vCPU's TLB when the MCH changes the
// memory map); the host side then checks the hypervisor's kick counts
// (tests/system/tlbkick.py). Prints SV-RESULT tlbkick-* lines; exit status
// 0 when all passed.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sv-hw.h"

#define BME 0x4u
// The unmediated bus master the test adds (tests/system/tlbkick.py).
#define TARGET_DEV 0x10
#define TARGET_FN 0

struct shared {
    volatile int ready, phase, stop;
    volatile uint64_t writes[3]; // per phase: 0 window on, 1 window off, 2 on again
    volatile uint64_t fast[3];   // of those, writes that cannot have exited
};

// A write that exits (NPF, decode, the config mediator) costs tens of
// microseconds under QEMU TCG, a direct one well under one: below this many
// TSC ticks (about 1 us) a write cannot have exited.
#define FAST_WRITE_TSC 3000

static int failures;
static void result(const char *name, int pass, const char *detail)
{
    printf("SV-RESULT %s %s %s\n", name, pass ? "PASS" : "FAIL", detail);
    fflush(stdout);
    if (!pass)
        failures++;
}


static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

// CPU 1: writes until told to stop (bounded by the TSC). The phase is read
// before each write, so a write counted in phase 2 began after CPU 0's
// re-enable had returned (and with it the hypervisor's kick).
static void spinner(struct shared *sh, volatile uint16_t *command, uint16_t value)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(1, &set);
    if (sched_setaffinity(0, sizeof set, &set))
        _exit(2);
    sh->ready = 1;
    const uint64_t start = rdtsc();
    while (!sh->stop && rdtsc() - start < 8000000000ull) {
        const int phase = sh->phase;
        const uint64_t t = rdtsc();
        *command = value;
        if (rdtsc() - t < FAST_WRITE_TSC)
            sh->fast[phase]++;
        sh->writes[phase]++;
    }
    _exit(0);
}

// Waits (at most `ms`) until CPU 1 made `more` writes in the current phase.
static int wait_writes(struct shared *sh, int phase, uint64_t more, long ms)
{
    const uint64_t from = sh->writes[phase];
    for (long t = 0; t < ms; t += 10) {
        if (sh->writes[phase] - from >= more)
            return 1;
        sleep_ms(10);
    }
    return 0;
}

int main(void)
{
    char d[200];
    if (iopl(3)) {
        result("tlbkick-setup", 0, "iopl failed");
        return 1;
    }
    const uint32_t pciexbar = sv_pci_read32(0, 0, 0, 0x60);
    const uint64_t base = sv_mcfg_base();
    if (!(pciexbar & 1) || !base || sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        snprintf(d, sizeof d, "needs q35 (PCIEXBAR %x, MCFG %llx) and 2 CPUs", pciexbar, (unsigned long long)base);
        result("tlbkick-setup", 0, d);
        return 1;
    }
    int fd = open("/dev/mem", O_RDWR | O_SYNC);
    volatile uint8_t *fn = fd < 0 ? MAP_FAILED
                                  : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                                         (off_t)(base + ((uint64_t)TARGET_DEV << 15 | TARGET_FN << 12)));
    struct shared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (fn == MAP_FAILED || sh == MAP_FAILED) {
        result("tlbkick-setup", 0, "cannot map the target function's ECAM page (iomem=relaxed?)");
        return 1;
    }
    const uint16_t command = (uint16_t)sv_pci_read32(0, TARGET_DEV, TARGET_FN, 4);
    const pid_t pid = fork();
    if (pid == 0)
        spinner(sh, (volatile uint16_t *)(fn + 4), (uint16_t)(command | BME));
    for (int i = 0; i < 500 && !sh->ready; i++)
        sleep_ms(10);
    int ok = sh->ready && wait_writes(sh, 0, 10, 5000);
    // Window off: the pages are released, CPU 1 caches a writable translation.
    sv_pci_write(0, 0, 0, 0x60, 4, pciexbar & ~1u);
    sh->phase = 1;
    ok = ok && wait_writes(sh, 1, 100000, 5000);
    // Window on again: trapped; CPU 1 must be kicked, flush, and exit from now on.
    sv_pci_write(0, 0, 0, 0x60, 4, pciexbar);
    sh->phase = 2;
    sleep_ms(20);
    const uint64_t phase2_start = sh->writes[2];
    ok = ok && wait_writes(sh, 2, 200, 5000);
    sh->stop = 1;
    int status = 0;
    waitpid(pid, &status, 0);
    const uint16_t after = (uint16_t)sv_pci_read32(0, TARGET_DEV, TARGET_FN, 4);
    snprintf(d, sizeof d, "CPU 1 wrote %llu/%llu/%llu times (window on/off/on), %llu after the re-enable settled",
             (unsigned long long)sh->writes[0], (unsigned long long)sh->writes[1],
             (unsigned long long)sh->writes[2], (unsigned long long)(sh->writes[2] - phase2_start));
    result("tlbkick-spinner", ok && WIFEXITED(status) && WEXITSTATUS(status) == 0, d);
    // Phase 1 shows the direct writes are fast (the measure works); in
    // phase 2 every write must have exited.
    snprintf(d, sizeof d, "writes that did not exit: %llu with the window off, %llu after it was trapped again",
             (unsigned long long)sh->fast[1], (unsigned long long)sh->fast[2]);
    result("tlbkick-no-direct-writes", sh->fast[1] > 0 && sh->fast[2] == 0, d);
    snprintf(d, sizeof d, "target command %04x -> %04x (BME must stay off)", command, after);
    result("tlbkick-bme-blocked", !(after & BME), d);
    snprintf(d, sizeof d, "PCIEXBAR %x", sv_pci_read32(0, 0, 0, 0x60));
    result("tlbkick-window-restored", sv_pci_read32(0, 0, 0, 0x60) == pciexbar, d);
    return failures ? 1 : 0;
}

// Helpers shared by the guest test programs (guest/sv-*.c), which drive the
// hardware from user space the way a hostile root can: time, PCI
// configuration mechanism #1 (ports 0xCF8/0xCFC, PCI 3.0 §3.2.2.3.2),
// physical addresses of locked user pages (/proc/self/pagemap), ATA status
// polling, and the SV-RESULT lines the system tests parse. Header-only
// (static inline): tools/build-guest.sh builds each program from one .c file.
// Port I/O needs iopl(3) first; pagemap needs root (else PFNs read as 0).
#pragma once

#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>
#include <time.h>
#include <unistd.h>

// Seconds on the monotonic clock.
static inline double sv_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

// First line of a (sysfs/proc) file without its newline; 0 on success.
static inline int sv_read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *r = fgets(buf, (int)len, f);
    fclose(f);
    if (!r)
        return -1;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

// --- SV-RESULT lines ------------------------------------------------------------
// "SV-RESULT <SV_RESULT_PREFIX><name> PASS|FAIL <detail>"; a program defines
// SV_RESULT_PREFIX before including this header and exits non-zero when
// sv_failures is set.
#ifndef SV_RESULT_PREFIX
#define SV_RESULT_PREFIX ""
#endif
static int sv_failures __attribute__((unused));

static inline void sv_result(const char *name, int pass, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void sv_result(const char *name, int pass, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("SV-RESULT %s%s %s %s\n", SV_RESULT_PREFIX, name, pass ? "PASS" : "FAIL", detail);
    fflush(stdout);
    if (!pass)
        sv_failures++;
}

// --- PCI configuration mechanism #1 --------------------------------------------
static inline uint32_t sv_pci_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static inline uint32_t sv_pci_read32(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    outl(sv_pci_addr(bus, dev, fn, reg), 0xcf8);
    return inl(0xcfc);
}

// A `size`-byte write (1, 2 or 4) at `reg`, on its byte lane of 0xCFC.
static inline void sv_pci_write(unsigned bus, unsigned dev, unsigned fn, unsigned reg, unsigned size,
                                uint32_t v)
{
    outl(sv_pci_addr(bus, dev, fn, reg), 0xcf8);
    if (size == 4)
        outl(v, 0xcfc);
    else if (size == 2)
        outw((uint16_t)v, 0xcfc + (reg & 2));
    else
        outb((uint8_t)v, 0xcfc + (reg & 3));
}

// The first MCFG allocation's ECAM base (PCI Firmware 3.0 §4.1.2: entries
// from byte 44, base address first), 0 without an MCFG.
static inline uint64_t sv_mcfg_base(void)
{
    unsigned char t[64];
    int fd = open("/sys/firmware/acpi/tables/MCFG", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, t, sizeof t);
    close(fd);
    if (n < 52)
        return 0;
    uint64_t base;
    memcpy(&base, t + 44, 8);
    return base;
}

// --- memory -----------------------------------------------------------------------
// /proc/self/pagemap, opened once; -1 if it cannot be.
static inline int sv_pagemap_fd(void)
{
    static int fd = -1;
    if (fd < 0)
        fd = open("/proc/self/pagemap", O_RDONLY);
    return fd;
}

// Physical address of a (locked, present) user address, 0 if unknown.
static inline uint64_t sv_phys_of(const void *p)
{
    const int fd = sv_pagemap_fd();
    uint64_t e = 0;
    if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)p / 4096) * 8) != 8 || !(e & (1ull << 63)))
        return 0;
    uint64_t pfn = e & ((1ull << 55) - 1);
    return pfn ? pfn * 4096 + ((uintptr_t)p & 4095) : 0;
}

// --- ATA --------------------------------------------------------------------------
// Polls the Status register at `status_port` until BSY clears (ATA8-ACS
// §6.1); returns the status, or -1 after `secs` seconds.
static inline int sv_ata_wait_not_busy(uint16_t status_port, double secs)
{
    double end = sv_now_s() + secs;
    for (;;) {
        uint8_t s = inb(status_port);
        if (!(s & 0x80))
            return s;
        if (sv_now_s() > end)
            return -1;
        usleep(50);
    }
}

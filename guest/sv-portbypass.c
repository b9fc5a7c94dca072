// sv-portbypass: a hostile guest for issue 7 classes 1 and 2. With ata_piix
// not loaded (sv.skipmod=ata_piix) it drives the primary IDE channel of the
// PIIX function from user space (iopl(3), config space through 0xCF8/0xCFC,
// DMA buffers whose physical addresses come from /proc/self/pagemap) and
// tries to get around the IDE mediator:
//
//  class 2 (accesses that cover more than one port):
//   c2-outw-write  WRITE DMA issued by a 16-bit OUT at 1F6h (Device in the
//                  low byte, the opcode in the high byte lands on 1F7h);
//                  read back through a normal READ DMA: the data must be what
//                  was written (the mediator saw the command, so the disk got
//                  the data through the shadow, encrypted).
//   c2-outw-read   READ DMA by a 16-bit OUT at 1F6h: the guest buffer must
//                  receive the (decrypted) sector.
//   c2-outl-write  WRITE DMA by a 32-bit OUT at 1F4h (LBA mid, LBA high,
//                  Device, Command). Bare QEMU drops such a dword; under the
//                  hypervisor it is split byte-exactly, so it is mediated.
//   c2-rep-outsw   `rep outsw` at 1F6h (elements straddle 1F6h/1F7h): the
//                  hypervisor refuses it (#GP, the process gets SIGSEGV).
//  class 1 (register blocks moved where they are not trapped): BAR4 (bus
//  master) written to 40h, 0, 80h (16-bit config write), a byte write that
//  moves it below 100h, over the secondary command block (170h), with bits
//  31:16 set, enabled after a move made while I/O decode was off, over the
//  ACPI PM block and over 0CF8h; plus a legitimate move (F000h) the mediator
//  must follow. After each attempt the program reads the BAR back and, at
//  wherever the bus master now is, points the real PRD register at a table of
//  its own: a WRITE DMA with known plaintext and a READ DMA into a buffer
//  filled with 5Ah. The device may only ever see shadow descriptors: the
//  buffer must stay 5Ah, no plaintext may reach the disk (host check).
//
// Prints SV-RESULT portbypass-NAME PASS|FAIL detail and SV-INFO facts.
// Known plaintext (host scans the image for "sv-portbypass plaintext"):
// 64-byte lines "sv-portbypass plaintext <case> lba <n> line <l>" padded '.'.
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SV_RESULT_PREFIX "portbypass-"
#include "sv-hw.h"

#define PAGE 4096u
#define SECTOR 512u

#define ATA_DATA 0x1f0
#define ATA_ERROR 0x1f1
#define ATA_COUNT 0x1f2
#define ATA_LBA0 0x1f3
#define ATA_LBA1 0x1f4
#define ATA_LBA2 0x1f5
#define ATA_DEVICE 0x1f6
#define ATA_STATUS 0x1f7
#define ATA_CTL 0x3f6
#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_BSY 0x80
#define BM_CMD 0
#define BM_STATUS 2
#define BM_PRD 4
#define BMC_START 0x01
#define BMC_TOMEM 0x08
#define BMS_INTR 0x04
#define BMS_ERROR 0x02
#define CMD_READ_DMA 0xc8
#define CMD_WRITE_DMA 0xca
#define PRD_EOT 0x8000u
#define CMD_IO 0x1

static int hv;           // running under shadowvisor (CPUID 0x40000000)
static unsigned pbus, pdev = 1, pfn = 1; // the IDE function
static uint16_t bm_orig; // BAR4 base as the firmware left it
static uint16_t pmba;    // ACPI PM block (PIIX4 PM function 00:01.3, 40h)

struct dma_page {
    uint8_t *p;
    uint32_t phys;
};
static struct dma_page tbl_v, buf_v, tbl_p, buf_p, tbl_r, buf_r;

// --- memory, config space --------------------------------------------------------

static int page_alloc(struct dma_page *d)
{
    uint8_t *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED || mlock(p, PAGE))
        return -1;
    memset(p, 0, PAGE);
    uint64_t pa = sv_phys_of(p);
    if (!pa || pa + PAGE > 0x100000000ull)
        return -1;
    d->p = p;
    d->phys = (uint32_t)pa;
    return 0;
}

static uint32_t cfg_read32(unsigned off) { return sv_pci_read32(pbus, pdev, pfn, off); }
static void cfg_write(unsigned off, unsigned size, uint32_t v) { sv_pci_write(pbus, pdev, pfn, off, size, v); }
static uint16_t command_reg(void) { return (uint16_t)cfg_read32(0x04); }
static uint32_t bar4(void) { return cfg_read32(0x20); }

// --- ATA ---------------------------------------------------------------------------

static void recover(uint16_t bm)
{
    outb(0x06, ATA_CTL);
    usleep(10000);
    outb(0x02, ATA_CTL);
    usleep(10000);
    sv_ata_wait_not_busy(ATA_STATUS, 10);
    outb(0, bm + BM_CMD);
    outb(BMS_INTR | BMS_ERROR, bm + BM_STATUS);
}

static void taskfile(uint32_t lba)
{
    outb(0xe0 | ((lba >> 24) & 0x0f), ATA_DEVICE);
    sv_ata_wait_not_busy(ATA_STATUS, 5);
    outb(0, ATA_ERROR);
    outb(1, ATA_COUNT);
    outb((uint8_t)lba, ATA_LBA0);
    outb((uint8_t)(lba >> 8), ATA_LBA1);
    outb((uint8_t)(lba >> 16), ATA_LBA2);
}

static void prd_one(struct dma_page *table, const struct dma_page *buf)
{
    uint32_t *e = (uint32_t *)table->p;
    e[0] = buf->phys;
    e[1] = SECTOR | (PRD_EOT << 16);
}

// How the command byte reaches 1F7h.
enum issue { ISSUE_OUTB, ISSUE_OUTW_1F6, ISSUE_OUTL_1F4 };

// One sector by DMA with the mediator's (trapped) PRD pointer = `table`.
// Returns the final ATA status, or -1 on timeout (channel reset).
static int dma(uint8_t op, uint32_t lba, struct dma_page *table, int to_memory, enum issue how)
{
    const uint16_t bm = bm_orig;
    const uint8_t dir = to_memory ? BMC_TOMEM : 0;
    const uint8_t dev = 0xe0 | ((lba >> 24) & 0x0f);
    outb(0, bm + BM_CMD);
    outb(BMS_INTR | BMS_ERROR, bm + BM_STATUS);
    outl(table->phys, bm + BM_PRD);
    outb(dir, bm + BM_CMD);
    taskfile(lba);
    if (how == ISSUE_OUTW_1F6)
        outw((uint16_t)(dev | op << 8), ATA_DEVICE);
    else if (how == ISSUE_OUTL_1F4)
        outl((uint32_t)((lba >> 8) & 0xff) | ((lba >> 16) & 0xff) << 8 | (uint32_t)dev << 16 |
                 (uint32_t)op << 24,
             ATA_LBA1);
    else
        outb(op, ATA_STATUS);
    outb(dir | BMC_START, bm + BM_CMD);
    int s = sv_ata_wait_not_busy(ATA_STATUS, 3);
    outb(dir, bm + BM_CMD);
    outb(BMS_INTR | BMS_ERROR, bm + BM_STATUS);
    if (s < 0) {
        recover(bm);
        return -1;
    }
    return inb(ATA_STATUS);
}

static void plaintext(uint8_t *p, const char *name, uint32_t lba)
{
    for (unsigned l = 0; l < SECTOR / 64; l++) {
        char line[65];
        int n = snprintf(line, sizeof line, "sv-portbypass plaintext %s lba %u line %u ", name, lba, l);
        if (n < 0 || n > 63)
            n = 63;
        memset(line + n, '.', 63 - n);
        line[63] = '\n';
        memcpy(p + l * 64, line, 64);
    }
}

// --- class 2 ------------------------------------------------------------------------

// Writes `name`'s plaintext at `lba` issuing the command `how`, then reads it
// back with a normal (outb) READ DMA: equal when the write was mediated
// (under the hypervisor) or reached the device (bare).
static void class2_write(const char *name, uint32_t lba, enum issue how, int must_match)
{
    plaintext(buf_v.p, name, lba);
    prd_one(&tbl_v, &buf_v);
    int sw = dma(CMD_WRITE_DMA, lba, &tbl_v, 0, how);
    memset(buf_v.p, 0x5a, SECTOR);
    int sr = dma(CMD_READ_DMA, lba, &tbl_v, 1, ISSUE_OUTB);
    uint8_t want[SECTOR];
    plaintext(want, name, lba);
    const int match = !memcmp(buf_v.p, want, SECTOR);
    memset(buf_v.p, 0, SECTOR);
    if (must_match)
        sv_result(name, match, "write status 0x%x, read-back status 0x%x, data %s", sw, sr,
               match ? "as written" : "NOT what was written (command bypassed the mediator)");
    else
        printf("SV-INFO portbypass-%s write status %d read-back %s\n", name, sw, match ? "as written" : "different");
}

static void class2_read(void)
{
    const char *name = "c2-outw-read";
    const uint32_t lba = 101;
    plaintext(buf_v.p, name, lba);
    prd_one(&tbl_v, &buf_v);
    int sw = dma(CMD_WRITE_DMA, lba, &tbl_v, 0, ISSUE_OUTB);
    memset(buf_v.p, 0x5a, SECTOR);
    int sr = dma(CMD_READ_DMA, lba, &tbl_v, 1, ISSUE_OUTW_1F6);
    uint8_t want[SECTOR];
    plaintext(want, name, lba);
    const int match = !memcmp(buf_v.p, want, SECTOR);
    memset(buf_v.p, 0, SECTOR);
    sv_result(name, match, "write status 0x%x, outw READ DMA status 0x%x, buffer %s", sw, sr,
           match ? "holds the sector" : "does NOT hold the sector (command bypassed the mediator)");
}

static void class2_rep_outsw(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        // Device E0h, then NOP (00h) to the Command register: harmless bare.
        static const uint16_t words[2] = {0x00e0, 0x00e0};
        outsw(ATA_DEVICE, words, 1);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    const int killed = WIFSIGNALED(st);
    if (hv)
        sv_result("c2-rep-outsw", killed, "child %s", killed ? "got a signal (#GP: refused)" : "exited: rep outsw performed");
    else
        printf("SV-INFO portbypass-c2-rep-outsw bare: child %s\n", killed ? "signalled" : "exited");
    recover(bm_orig);
}

// --- class 1 ------------------------------------------------------------------------

static void restore_bar4(void)
{
    const uint16_t cmd = command_reg();
    cfg_write(0x04, 2, cmd & ~CMD_IO);
    cfg_write(0x20, 4, bm_orig | 1u);
    cfg_write(0x04, 2, cmd | CMD_IO | 0x4);
    uint32_t now = bar4();
    if ((now & 0xfffc) != bm_orig || !(command_reg() & CMD_IO)) {
        printf("SV-INFO portbypass-restore FAILED bar4 0x%08x command 0x%04x\n", now, command_reg());
        sv_failures++;
    }
    recover(bm_orig);
}

// After a placement attempt: where the bus master is now, and the attack there.
// `target` is the base the attempt aimed at; `expect_moved` for a legitimate
// move (the mediator must follow it), otherwise the move must be refused.
static void attack_at_readback(const char *name, uint32_t target, uint32_t lba, int expect_moved)
{
    const uint32_t raw = bar4();
    const uint16_t cmd = command_reg();
    const int decoding = cmd & CMD_IO;
    const uint32_t base = raw & 0xfffffffc;
    const int moved = decoding && base == target;
    printf("SV-INFO portbypass-%s bar4 0x%08x command 0x%04x (aimed at 0x%x)\n", name, raw, cmd, target);
    int buf_untouched = 1;
    int wrote = -2, read = -2;
    if (decoding && base >= 0x10 && base <= 0xfff0) {
        const uint16_t loc = (uint16_t)base;
        // WRITE: the mediator validates its (virtual) table tbl_v; then the
        // real PRD register, wherever BAR4 now is, gets our own table.
        memset(buf_v.p, 'v', SECTOR);
        prd_one(&tbl_v, &buf_v);
        plaintext(buf_p.p, name, lba);
        prd_one(&tbl_p, &buf_p);
        outl(tbl_v.phys, bm_orig + BM_PRD);
        outb(0, loc + BM_CMD);
        outb(BMS_INTR | BMS_ERROR, loc + BM_STATUS);
        taskfile(lba);
        outb(CMD_WRITE_DMA, ATA_STATUS);
        outl(tbl_p.phys, loc + BM_PRD);
        outb(BMC_START, loc + BM_CMD);
        wrote = sv_ata_wait_not_busy(ATA_STATUS, 3);
        outb(0, loc + BM_CMD);
        if (wrote < 0)
            recover(loc);
        // READ into our own buffer (5Ah) through our own table.
        memset(buf_r.p, 0x5a, SECTOR);
        prd_one(&tbl_r, &buf_r);
        outl(tbl_v.phys, bm_orig + BM_PRD);
        outb(BMC_TOMEM, loc + BM_CMD);
        outb(BMS_INTR | BMS_ERROR, loc + BM_STATUS);
        taskfile(lba);
        outb(CMD_READ_DMA, ATA_STATUS);
        outl(tbl_r.phys, loc + BM_PRD);
        outb(BMC_TOMEM | BMC_START, loc + BM_CMD);
        read = sv_ata_wait_not_busy(ATA_STATUS, 3);
        outb(BMC_TOMEM, loc + BM_CMD);
        if (read < 0)
            recover(loc);
        for (unsigned i = 0; i < SECTOR; i++)
            if (buf_r.p[i] != 0x5a)
                buf_untouched = 0;
    }
    const int placement_ok = expect_moved ? moved : !moved;
    sv_result(name, placement_ok && buf_untouched, "%s; own-table READ %s (write status 0x%x, read status 0x%x)",
           moved ? (expect_moved ? "moved and followed" : "MOVED (placement taken)")
                 : (expect_moved ? "NOT moved" : "refused"),
           buf_untouched ? "left our buffer alone" : "WROTE our buffer (bus master took our table)", wrote, read);
    restore_bar4();
}

static void class1(void)
{
    // Dword BAR4 writes with I/O decode on.
    const struct {
        const char *name;
        uint32_t value;
        int hv_only;
    } dword_cases[] = {
        {"c1-bar4-0x40", 0x41, 0},
        {"c1-bar4-zero", 0x01, 0},
        {"c1-bar4-over-secondary", 0x171, 0},
        {"c1-bar4-high-bits", 0x10000u | 0xf001u, 0},
    };
    uint32_t lba = 200;
    for (unsigned i = 0; i < sizeof dword_cases / sizeof dword_cases[0]; i++, lba++) {
        cfg_write(0x20, 4, dword_cases[i].value);
        attack_at_readback(dword_cases[i].name, dword_cases[i].value & ~3u, lba, 0);
    }
    // 16-bit config write of BAR4's low word.
    cfg_write(0x20, 2, 0x0081);
    attack_at_readback("c1-bar4-word-0x80", 0x80, lba++, 0);
    // Byte writes: first a legitimate move within the same 256 ports (the
    // mediator must follow), then the high byte to 00h (below 100h).
    cfg_write(0x20, 1, (bm_orig & 0xf0) == 0x80 ? 0x91 : 0x81);
    const uint32_t legit = (bm_orig & 0xff00) | ((bm_orig & 0xf0) == 0x80 ? 0x90 : 0x80);
    attack_at_readback("c1-bar4-byte-legit", legit, lba++, 1);
    cfg_write(0x20, 1, 0x81);
    cfg_write(0x21, 1, 0x00);
    attack_at_readback("c1-bar4-byte-low", 0x80, lba++, 0);
    // Move while decode is off (allowed), then turn decode on.
    uint16_t cmd = command_reg();
    cfg_write(0x04, 2, cmd & ~CMD_IO);
    cfg_write(0x20, 4, 0x41);
    cfg_write(0x04, 2, cmd | CMD_IO);
    attack_at_readback("c1-decode-toggle", 0x40, lba++, 0);
    // A legitimate dword move far away.
    cfg_write(0x20, 4, 0xf001);
    attack_at_readback("c1-bar4-legit-f000", 0xf000, lba++, 1);
    // ProgIf: ask for native mode on both channels (PIIX: read-only).
    cfg_write(0x09, 1, 0x85);
    printf("SV-INFO portbypass-progif now 0x%02x\n", (cfg_read32(0x08) >> 8) & 0xff);
    if (((cfg_read32(0x08) >> 8) & 0x05) != 0) {
        sv_result("c1-progif-native", 0, "native mode with BAR0-3 %08x %08x: taken", cfg_read32(0x10), cfg_read32(0x18));
        cfg_write(0x09, 1, 0x80);
    }
    if (!hv)
        return; // below: would cut the bare guest off from ACPI / PCI config
    if (pmba) {
        cfg_write(0x20, 4, pmba | 1u);
        attack_at_readback("c1-bar4-over-pm", pmba, lba++, 0);
    }
    cfg_write(0x20, 4, 0xcf1);
    attack_at_readback("c1-bar4-over-config", 0xcf0, lba++, 0);
}

static int is_shadowvisor(void)
{
    unsigned a, b, c, d;
    __cpuid(0x40000000, a, b, c, d);
    char sig[13];
    memcpy(sig, &b, 4);
    memcpy(sig + 4, &c, 4);
    memcpy(sig + 8, &d, 4);
    sig[12] = 0;
    return !strcmp(sig, "ShadowVisor");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (iopl(3)) {
        printf("SV-RESULT portbypass-setup FAIL iopl(3): %s\n", strerror(errno));
        return 2;
    }
    hv = is_shadowvisor();
    if (sv_pagemap_fd() < 0 || page_alloc(&tbl_v) || page_alloc(&buf_v) || page_alloc(&tbl_p) ||
        page_alloc(&buf_p) || page_alloc(&tbl_r) || page_alloc(&buf_r)) {
        printf("SV-RESULT portbypass-setup FAIL no DMA pages below 4 GiB\n");
        return 2;
    }
    if ((cfg_read32(0x08) >> 16) != 0x0101) {
        printf("SV-RESULT portbypass-setup FAIL 00:01.1 is not an IDE controller (class %08x)\n", cfg_read32(0x08));
        return 2;
    }
    const uint32_t b4 = bar4();
    bm_orig = (uint16_t)(b4 & 0xfff0);
    // PIIX4 PM: PMBA at 40h of function 3 (PIIX4 datasheet §7.2.1).
    pmba = (uint16_t)(sv_pci_read32(0, 1, 3, 0x40) & 0xffc0);
    uint16_t cmd = command_reg();
    cfg_write(0x04, 2, cmd | CMD_IO | 0x4);
    printf("SV-INFO portbypass-setup hypervisor %s bar4 0x%08x command 0x%04x pmba 0x%x\n", hv ? "yes" : "no", b4,
           command_reg(), pmba);
    if (!(b4 & 1) || bm_orig < 0x100) {
        printf("SV-RESULT portbypass-setup FAIL BAR4 0x%08x unusable\n", b4);
        return 2;
    }
    recover(bm_orig);

    class2_write("c2-outw-write", 100, ISSUE_OUTW_1F6, 1);
    class2_read();
    class2_write("c2-outl-write", 102, ISSUE_OUTL_1F4, hv);
    class2_rep_outsw();
    class1();
    printf("SV-INFO portbypass-done failures %d\n", sv_failures);
    return sv_failures ? 1 : 0;
}

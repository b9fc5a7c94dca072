// sv-idehostile: a hostile guest. Drives the primary IDE channel of the PIIX
// controller directly from user space (iopl, bus-master DMA over memory whose
// physical addresses come from /proc/self/pagemap), with the ata_piix driver
// not loaded, and tries to make the controller DMA into the hypervisor's
// memory, past the encryption, or into a hang. Every scenario prints
//   SV-RESULT hostile-NAME PASS|FAIL detail
// and facts for the host as SV-INFO lines:
//   SV-INFO hostile-target START END      a reserved range used as a target
//   SV-INFO hostile-valid LBA SECTORS     a region written with known text
//   SV-INFO hostile-lba LBA SECTORS       a region a refused WRITE aimed at
//   SV-INFO hostile-expected-aborts N     commands the hypervisor must abort
//
// Known text (the host regenerates it): sector LBA, line l (0..7) is the
// 64-byte line "sv-idehostile known plaintext: lba %08u line %u " padded with
// '.' to 63 bytes and a '\n'.
//
// usage: sv-idehostile [--only packet] [PCI-ADDRESS]   (default: the first IDE function)
//   --only packet: just the valid write and the PACKET leftover scenarios
//   (safe without the hypervisor: the control run of tests/system/idephase.py)
// Exit status 0 when every scenario passed, 1 otherwise, 2 on set-up errors.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#define SV_RESULT_PREFIX "hostile-"
#include "sv-hw.h"

#define PAGE 4096u
#define SECTOR 512u
#define K64 0x10000u
#define HUGE (2u << 20)

// Primary channel, compatibility mode.
#define ATA_DATA 0x1f0
#define ATA_ERROR 0x1f1 // read: error, write: features
#define ATA_COUNT 0x1f2
#define ATA_LBA0 0x1f3
#define ATA_LBA1 0x1f4
#define ATA_LBA2 0x1f5
#define ATA_DEVICE 0x1f6
#define ATA_STATUS 0x1f7 // read: status, write: command
#define ATA_CTL 0x3f6

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DRDY 0x40
#define ST_BSY 0x80
#define ER_ABRT 0x04

#define BM_CMD 0
#define BM_STATUS 2
#define BM_PRD 4
#define BMC_START 0x01
#define BMC_TOMEM 0x08 // read from disk: the bus master writes memory
#define BMS_ACTIVE 0x01
#define BMS_ERROR 0x02
#define BMS_INTR 0x04

#define CMD_READ_DMA 0xc8
#define CMD_WRITE_DMA 0xca

#define PRD_EOT 0x8000u

struct prd {
    uint32_t base;
    uint16_t count;
    uint16_t flags;
} __attribute__((packed));

static uint16_t bm; // bus-master base of the primary channel
static unsigned expected_aborts;
static char logbuf[8192];         // failures of the current scenario
static const char *scenario = ""; // its name, for SV-INFO hostile-case
static unsigned cases;            // hostile commands it sent

// --- memory ---------------------------------------------------------------------

// One anonymous, locked page (4 KiB pages: separate physical frames).
static uint8_t *page_alloc(void)
{
    uint8_t *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mlock(p, PAGE)) {
        munmap(p, PAGE);
        return NULL;
    }
    memset(p, 0, PAGE);
    uint64_t pa = sv_phys_of(p);
    if (!pa || pa + PAGE > 0x100000000ull)
        return NULL;
    return p;
}

// A physically contiguous, 2 MiB aligned area (hugetlb, else a transparent
// huge page): PRD tables of 64 KiB and regions that reach 64 KiB boundaries.
static uint8_t *huge_base;
static uint64_t huge_phys;
static const char *huge_how = "none";

static int huge_contiguous(uint8_t *p)
{
    uint64_t pa = sv_phys_of(p);
    if (!pa || (pa & (HUGE - 1)) || pa + HUGE > 0x100000000ull)
        return 0;
    for (unsigned i = 1; i < HUGE / PAGE; i++)
        if (sv_phys_of(p + i * PAGE) != pa + i * PAGE)
            return 0;
    return 1;
}

static int huge_alloc(void)
{
    int fd = open("/proc/sys/vm/nr_hugepages", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "4\n", 2) < 0) { /* checked by mmap below */ }
        close(fd);
    }
    uint8_t *p = mmap(NULL, HUGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    if (p != MAP_FAILED) {
        memset(p, 0, HUGE);
        if (!mlock(p, HUGE) && huge_contiguous(p)) {
            huge_base = p;
            huge_how = "hugetlb";
            goto done;
        }
        munmap(p, HUGE);
    }
    // Transparent huge page: a 2 MiB aligned range with MADV_HUGEPAGE.
    for (int attempt = 0; attempt < 8 && !huge_base; attempt++) {
        uint8_t *raw = mmap(NULL, 2 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED)
            break;
        uint8_t *a = (uint8_t *)(((uintptr_t)raw + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
        madvise(a, HUGE, MADV_HUGEPAGE);
        memset(a, 0, HUGE);
        if (!mlock(a, HUGE) && huge_contiguous(a)) {
            huge_base = a;
            huge_how = "thp";
            goto done;
        }
    }
    return -1;
done:
    huge_phys = sv_phys_of(huge_base);
    return 0;
}

// Layout of the contiguous area (offsets; the area is 2 MiB aligned).
#define H_TABLE 0x000000u  // 64 KiB: PRD tables of up to 8192 entries
#define H_DATA 0x010000u   // 64 KiB: data for the PRD-shape scenarios
#define H_SENT 0x020000u   // 64 KiB: sentinel that refused reads must not touch

// --- reserved ranges (hypervisor memory) ------------------------------------------

struct range {
    uint64_t start, end; // inclusive
};
static struct range targets[16];
static int target_count;

// Reserved ranges of at least 1 MiB above 1 MiB and below the MMIO hole: the
// hypervisor's image and heap (firmware tables and the BIOS ROM are small or
// at the top of 4 GiB).
static void find_targets(void)
{
    for (int i = 0; i < 256 && target_count < 16; i++) {
        char path[128], buf[128];
        struct range r;
        snprintf(path, sizeof path, "/sys/firmware/memmap/%d/start", i);
        if (sv_read_line(path, buf, sizeof buf))
            break;
        r.start = strtoull(buf, NULL, 0);
        snprintf(path, sizeof path, "/sys/firmware/memmap/%d/end", i);
        if (sv_read_line(path, buf, sizeof buf))
            break;
        r.end = strtoull(buf, NULL, 0);
        snprintf(path, sizeof path, "/sys/firmware/memmap/%d/type", i);
        if (sv_read_line(path, buf, sizeof buf))
            break;
        if (strcmp(buf, "Reserved") || r.start < 0x100000 || r.end >= 0xfec00000ull ||
            r.end - r.start + 1 < (1u << 20))
            continue;
        targets[target_count++] = r;
        printf("SV-INFO hostile-target 0x%" PRIx64 " 0x%" PRIx64 "\n", r.start, r.end);
    }
    // The documented image range (16 MiB, boot/linker.ld), in case the map
    // did not list it.
    int have = 0;
    for (int i = 0; i < target_count; i++)
        have |= targets[i].start <= 0x1000000 && targets[i].end >= 0x11fffff;
    if (!have && target_count < 16)
        targets[target_count++] = (struct range){0x1000000, 0x11fffff};
}

// --- PCI ---------------------------------------------------------------------------

static char pci_dir[300];

static int find_ide(const char *want)
{
    if (want) {
        snprintf(pci_dir, sizeof pci_dir, "/sys/bus/pci/devices/%s", want);
        return access(pci_dir, F_OK);
    }
    snprintf(pci_dir, sizeof pci_dir, "/sys/bus/pci/devices/0000:00:01.1");
    char buf[64], path[340];
    snprintf(path, sizeof path, "%s/class", pci_dir);
    if (!sv_read_line(path, buf, sizeof buf) && !strncmp(buf, "0x0101", 6))
        return 0;
    DIR *d = opendir("/sys/bus/pci/devices");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/class", e->d_name);
        if (!sv_read_line(path, buf, sizeof buf) && !strncmp(buf, "0x0101", 6)) {
            snprintf(pci_dir, sizeof pci_dir, "/sys/bus/pci/devices/%s", e->d_name);
            closedir(d);
            return 0;
        }
    }
    if (d)
        closedir(d);
    return -1;
}

static int setup_pci(void)
{
    char path[340], line[128];
    snprintf(path, sizeof path, "%s/resource", pci_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    unsigned long long start = 0, end = 0, flags = 0;
    for (int i = 0; i <= 4; i++) {
        if (!fgets(line, sizeof line, f)) {
            fclose(f);
            return -1;
        }
        if (i == 4 && sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    if (!(flags & 0x100) || !start || start > 0xfff0) // IORESOURCE_IO
        return -1;
    bm = (uint16_t)start;

    // PCI command register: I/O space and bus master on.
    snprintf(path, sizeof path, "%s/config", pci_dir);
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return -1;
    uint16_t cmd = 0;
    if (pread(fd, &cmd, 2, 4) != 2) {
        close(fd);
        return -1;
    }
    uint16_t want = cmd | 0x5;
    if (want != cmd && pwrite(fd, &want, 2, 4) != 2) {
        close(fd);
        return -1;
    }
    uint16_t now = 0;
    if (pread(fd, &now, 2, 4) != 2) {
        close(fd);
        return -1;
    }
    close(fd);
    printf("SV-INFO hostile-pci %s bm=0x%x command 0x%04x -> 0x%04x\n", pci_dir, bm, cmd, now);
    return (now & 0x5) == 0x5 ? 0 : -1;
}

// --- ATA ---------------------------------------------------------------------------

// Waits until BSY is clear (bounded); returns the status or -1 on timeout.

struct outcome {
    int timeout;     // BSY never cleared (for DMA: BSY or DRQ)
    uint8_t status;  // ATA status after completion
    uint8_t error;   // ATA error register
    uint8_t bmstat;  // bus-master status before the stop
};

static int ok(const struct outcome *o)
{
    return !o->timeout && !(o->status & (ST_ERR | ST_DRQ)) && (o->status & ST_DRDY);
}

static int refused(const struct outcome *o)
{
    return !o->timeout && (o->status & ST_ERR);
}

static void describe(char *buf, size_t len, const struct outcome *o)
{
    if (o->timeout)
        snprintf(buf, len, "timeout (status 0x%02x)", o->status);
    else
        snprintf(buf, len, "status 0x%02x error 0x%02x%s bm 0x%02x", o->status, o->error,
                 (o->status & ST_ERR) && (o->error & ER_ABRT) ? " (ABRT)" : "", o->bmstat);
}

static void recover(void)
{
    // Software reset of the channel, then wait for the device.
    outb(0x06, ATA_CTL);
    usleep(10000);
    outb(0x02, ATA_CTL);
    usleep(10000);
    sv_ata_wait_not_busy(ATA_STATUS, 10);
    outb(0, bm + BM_CMD);
    outb(BMS_INTR | BMS_ERROR, bm + BM_STATUS);
}

static void taskfile(uint32_t lba, unsigned sectors, uint8_t features)
{
    outb(0xe0 | ((lba >> 24) & 0x0f), ATA_DEVICE);
    sv_ata_wait_not_busy(ATA_STATUS, 5);
    outb(features, ATA_ERROR);
    outb((uint8_t)sectors, ATA_COUNT);
    outb((uint8_t)lba, ATA_LBA0);
    outb((uint8_t)(lba >> 8), ATA_LBA1);
    outb((uint8_t)(lba >> 16), ATA_LBA2);
}

// The end of a DMA command: BSY and DRQ both clear (bounded; the status, or
// -1 on timeout). In the ATA DMA protocol (ATA8-APT §11.7) a device may show
// BSY or DRQ while the data moves: QEMU keeps BSY set; Bochs clears BSY at
// once and holds DRQ until the bus master is done (its iodev/harddrv.cc),
// so stopping the bus master at BSY clear would cut Bochs's transfer short.
static int wait_dma_done(double secs)
{
    double end = sv_now_s() + secs;
    for (;;) {
        uint8_t s = inb(ATA_STATUS);
        if (!(s & (ST_BSY | ST_DRQ)))
            return s;
        if (sv_now_s() > end)
            return -1;
        usleep(50);
    }
}

// The libata-sff sequence: PRD pointer, direction, task file, command, START;
// poll BSY and DRQ; stop the bus master. `starts` START writes (2 = start twice).
static struct outcome dma_command(uint8_t op, uint32_t lba, unsigned sectors, uint32_t table,
                                  int to_memory, int starts, uint8_t features)
{
    struct outcome o = {0};
    const uint8_t dir = to_memory ? BMC_TOMEM : 0;
    outb(0, bm + BM_CMD);
    outb(BMS_INTR | BMS_ERROR, bm + BM_STATUS);
    outl(table, bm + BM_PRD);
    outb(dir, bm + BM_CMD);
    taskfile(lba, sectors, features);
    outb(op, ATA_STATUS);
    for (int i = 0; i < starts; i++)
        outb(dir | BMC_START, bm + BM_CMD);
    int s = wait_dma_done(3);
    o.bmstat = inb(bm + BM_STATUS);
    outb(dir, bm + BM_CMD); // stop
    outb(BMS_INTR | BMS_ERROR, bm + BM_STATUS);
    if (s < 0) {
        o.timeout = 1;
        o.status = inb(ATA_STATUS);
        recover();
        return o;
    }
    o.status = inb(ATA_STATUS);
    o.error = inb(ATA_ERROR);
    return o;
}

static struct outcome nondata_command(uint8_t op, uint32_t lba, unsigned sectors, uint8_t features)
{
    struct outcome o = {0};
    taskfile(lba, sectors, features);
    outb(op, ATA_STATUS);
    int s = sv_ata_wait_not_busy(ATA_STATUS, 3);
    if (s < 0) {
        o.timeout = 1;
        o.status = inb(ATA_STATUS);
        recover();
        return o;
    }
    o.status = inb(ATA_STATUS);
    o.error = inb(ATA_ERROR);
    o.bmstat = inb(bm + BM_STATUS);
    if (o.status & ST_DRQ) // a PIO data phase we did not ask for: end it (DRQ stays in the report)
        recover();
    return o;
}

// --- known text ---------------------------------------------------------------------

static void fill_text(uint8_t *buf, uint32_t lba, unsigned sectors)
{
    for (unsigned s = 0; s < sectors; s++)
        for (unsigned l = 0; l < SECTOR / 64; l++) {
            char *line = (char *)buf + s * SECTOR + l * 64;
            char tmp[80];
            int n = snprintf(tmp, sizeof tmp, "sv-idehostile known plaintext: lba %08u line %u ",
                             lba + s, l);
            memset(line, '.', 63);
            memcpy(line, tmp, (size_t)n < 63 ? (size_t)n : 63);
            line[63] = '\n';
        }
}

// --- scenarios ------------------------------------------------------------------------

// Pages of the valid round trips: 16 data pages each way, one table page.
#define VPAGES 16
static uint8_t *wpages[VPAGES], *rpages[VPAGES], *vtable;

// WRITE DMA of known text then READ DMA back, one PRD entry per 4 KiB page
// (separate frames). Returns 0 when the text came back; `why` says otherwise.
static int roundtrip(uint32_t lba, unsigned sectors, char *why, size_t len)
{
    unsigned pages = (sectors * SECTOR + PAGE - 1) / PAGE;
    if (pages > VPAGES) {
        snprintf(why, len, "too many sectors");
        return -1;
    }
    struct prd *t = (struct prd *)vtable;
    uint8_t want[VPAGES * PAGE];
    fill_text(want, lba, sectors);
    unsigned left = sectors * SECTOR;
    for (unsigned i = 0; i < pages; i++) {
        unsigned n = left < PAGE ? left : PAGE;
        memcpy(wpages[i], want + i * PAGE, n);
        t[i] = (struct prd){(uint32_t)sv_phys_of(wpages[i]), (uint16_t)n, i + 1 == pages ? PRD_EOT : 0};
        left -= n;
    }
    char d[128];
    struct outcome o = dma_command(CMD_WRITE_DMA, lba, sectors, (uint32_t)sv_phys_of(vtable), 0, 1, 0);
    if (!ok(&o)) {
        describe(d, sizeof d, &o);
        snprintf(why, len, "WRITE DMA lba %u x%u failed: %s", lba, sectors, d);
        return -1;
    }
    left = sectors * SECTOR;
    for (unsigned i = 0; i < pages; i++) {
        unsigned n = left < PAGE ? left : PAGE;
        memset(rpages[i], 0xa5, PAGE);
        t[i] = (struct prd){(uint32_t)sv_phys_of(rpages[i]), (uint16_t)n, i + 1 == pages ? PRD_EOT : 0};
        left -= n;
    }
    o = dma_command(CMD_READ_DMA, lba, sectors, (uint32_t)sv_phys_of(vtable), 1, 1, 0);
    if (!ok(&o)) {
        describe(d, sizeof d, &o);
        snprintf(why, len, "READ DMA lba %u x%u failed: %s", lba, sectors, d);
        return -1;
    }
    left = sectors * SECTOR;
    for (unsigned i = 0; i < pages; i++) {
        unsigned n = left < PAGE ? left : PAGE;
        if (memcmp(rpages[i], want + i * PAGE, n)) {
            unsigned k = 0;
            while (k < n && rpages[i][k] == want[i * PAGE + k])
                k++;
            snprintf(why, len, "READ DMA lba %u x%u: data differs at byte %u", lba, sectors, i * PAGE + k);
            return -1;
        }
        left -= n;
    }
    printf("SV-INFO hostile-valid %u %u\n", lba, sectors);
    snprintf(why, len, "lba %u x%u written and read back over %u pages", lba, sectors, pages);
    return 0;
}

// After a hostile scenario: a valid round trip at a fresh LBA must still work.
static uint32_t next_valid_lba = 4096;

static int still_works(char *why, size_t len)
{
    uint32_t lba = next_valid_lba;
    next_valid_lba += 64;
    return roundtrip(lba, 8, why, len);
}

// Runs one hostile DMA command against the table at `table` (physical) and
// checks that it was refused; a refused READ must leave the sentinel alone.
// Appends a line to `log`; returns 1 when it was refused.
static int expect_refused(char *log, size_t len, const char *what, uint8_t op, uint32_t lba,
                          unsigned sectors, uint32_t table)
{
    int read = op == CMD_READ_DMA;
    uint8_t *sent = huge_base + H_SENT;
    if (read)
        memset(sent, 0x5a, K64);
    else
        printf("SV-INFO hostile-lba %u %u\n", lba, sectors ? sectors : 256);
    expected_aborts++;
    struct outcome o = dma_command(op, lba, sectors, table, read, 1, 0);
    char d[128];
    describe(d, sizeof d, &o);
    int good = refused(&o);
    if (read)
        for (unsigned i = 0; i < K64; i++)
            if (sent[i] != 0x5a) {
                good = 0;
                strncat(d, " SENTINEL CHANGED", sizeof d - strlen(d) - 1);
                break;
            }
    printf("SV-INFO hostile-case %s %s %s: %s%s\n", scenario, read ? "READ" : "WRITE", what, d,
           good ? "" : " NOT REFUSED");
    cases++;
    if (!good) {
        size_t l = strlen(log);
        snprintf(log + l, len - l, "%s%s %s: %s NOT REFUSED", l ? "; " : "", read ? "READ" : "WRITE", what, d);
    }
    return good;
}


// "N/N commands refused (ERR+ABRT...)" or the failures.
static const char *summary(const char *log, int good)
{
    static char buf[128];
    if (!good)
        return log;
    snprintf(buf, sizeof buf, "%u/%u hostile commands refused with ERR", cases, cases);
    return buf;
}

static void begin(const char *name)
{
    scenario = name;
    cases = 0;
    logbuf[0] = 0;
}

static struct prd *htable(void)
{
    struct prd *t = (struct prd *)(huge_base + H_TABLE);
    memset(t, 0, K64);
    return t;
}

static uint32_t hphys(uint32_t off)
{
    return (uint32_t)huge_phys + off;
}

static void s_valid_write(void)
{
    char why[256];
    char why2[256];
    int r = roundtrip(2048, 8, why, sizeof why);
    // And 64 sectors over 8 separate pages (one PRD entry per page).
    int r2 = r == 0 ? roundtrip(2560, 64, why2, sizeof why2) : -1;
    if (r)
        snprintf(why2, sizeof why2, "not tried");
    sv_result("valid-write", r == 0 && r2 == 0, "%s; %s", why, why2);
}

static uint32_t hostile_lba = 16384; // refused WRITEs aim here, 64 sectors apart

static void s_prd_into_hypervisor(void)
{
    int good = 1;
    begin("prd-into-hypervisor");
    for (int i = 0; i < target_count; i++) {
        const struct range *r = &targets[i];
        uint64_t size = r->end - r->start + 1;
        uint64_t at[3] = {r->start, (r->start + size / 2) & ~(uint64_t)0xffff, (r->end + 1) - PAGE};
        for (int k = 0; k < 3; k++) {
            char what[96];
            for (int rw = 0; rw < 2; rw++) {
                // Eight sectors straight into hypervisor memory.
                struct prd *t = htable();
                t[0] = (struct prd){(uint32_t)at[k], PAGE, PRD_EOT};
                snprintf(what, sizeof what, "one entry at 0x%" PRIx64, at[k]);
                good &= expect_refused(logbuf, sizeof logbuf, what, rw ? CMD_READ_DMA : CMD_WRITE_DMA,
                                       hostile_lba, 8, hphys(H_TABLE));
                hostile_lba += 64;
            }
        }
        // A valid entry (the sentinel) first, hypervisor memory second: every
        // entry is checked, not only the first.
        for (int rw = 0; rw < 2; rw++) {
            struct prd *t = htable();
            t[0] = (struct prd){hphys(H_SENT), PAGE, 0};
            t[1] = (struct prd){(uint32_t)r->start, PAGE, PRD_EOT};
            char what[96];
            snprintf(what, sizeof what, "sentinel then 0x%" PRIx64, r->start);
            good &= expect_refused(logbuf, sizeof logbuf, what, rw ? CMD_READ_DMA : CMD_WRITE_DMA,
                                   hostile_lba, 16, hphys(H_TABLE));
            hostile_lba += 64;
        }
        // The last guest page before the range, running into it.
        for (int rw = 0; rw < 2; rw++) {
            struct prd *t = htable();
            t[0] = (struct prd){(uint32_t)r->start - 2048, PAGE, PRD_EOT};
            char what[96];
            snprintf(what, sizeof what, "0x%" PRIx64 "-2048 running into it (crosses 64 KiB too)", r->start);
            good &= expect_refused(logbuf, sizeof logbuf, what, rw ? CMD_READ_DMA : CMD_WRITE_DMA,
                                   hostile_lba, 8, hphys(H_TABLE));
            hostile_lba += 64;
        }
    }
    char why[256];
    int after = still_works(why, sizeof why);
    sv_result("prd-into-hypervisor", good && after == 0 && target_count > 0, "%d reserved ranges: %s; after: %s",
           target_count, summary(logbuf, good), why);
}

static void s_prd_no_eot(void)
{
    begin("prd-no-eot");
    int good = 1;
    for (int rw = 0; rw < 2; rw++) {
        // 8192 entries of 2 bytes (16 KiB < the 32 KiB transfer), no EOT: the
        // whole 64 KiB table page without an end.
        struct prd *t = htable();
        for (unsigned i = 0; i < K64 / sizeof *t; i++)
            t[i] = (struct prd){hphys(H_DATA) + 2 * (i % 64), 2, 0};
        good &= expect_refused(logbuf, sizeof logbuf, "8192 entries, no EOT", rw ? CMD_READ_DMA : CMD_WRITE_DMA,
                               hostile_lba, 64, hphys(H_TABLE));
        hostile_lba += 64;
        // The same, but a table starting 8 bytes before a 64 KiB boundary
        // (one entry, no EOT; the next page's entries would be valid).
        t = htable();
        t[8191] = (struct prd){hphys(H_DATA), PAGE, 0};
        struct prd *next = (struct prd *)(huge_base + H_DATA); // the page after the table
        memset(next, 0, 64);
        next[0] = (struct prd){hphys(H_DATA) + PAGE, PAGE, PRD_EOT};
        good &= expect_refused(logbuf, sizeof logbuf, "no EOT before the 64 KiB boundary",
                               rw ? CMD_READ_DMA : CMD_WRITE_DMA, hostile_lba, 16,
                               hphys(H_TABLE) + K64 - 8);
        hostile_lba += 64;
    }
    char why[256];
    int after = still_works(why, sizeof why);
    sv_result("prd-no-eot", good && after == 0, "%s; after: %s", summary(logbuf, good), why);
}

static void s_prd_odd(void)
{
    begin("prd-odd");
    int good = 1;
    for (int rw = 0; rw < 2; rw++) {
        uint8_t op = rw ? CMD_READ_DMA : CMD_WRITE_DMA;
        struct prd *t;
        // Odd base address.
        t = htable();
        t[0] = (struct prd){hphys(H_DATA) + 1, PAGE, PRD_EOT};
        good &= expect_refused(logbuf, sizeof logbuf, "odd address", op, hostile_lba, 8, hphys(H_TABLE));
        hostile_lba += 64;
        // Odd byte count (two entries so the total could still be 4 KiB).
        t = htable();
        t[0] = (struct prd){hphys(H_DATA), 2047, 0};
        t[1] = (struct prd){hphys(H_DATA) + 2048, 2049, PRD_EOT};
        good &= expect_refused(logbuf, sizeof logbuf, "odd byte count", op, hostile_lba, 8, hphys(H_TABLE));
        hostile_lba += 64;
        // A region crossing a 64 KiB boundary (contiguous memory on both sides).
        t = htable();
        t[0] = (struct prd){hphys(H_DATA) + K64 - 2048, PAGE, PRD_EOT};
        good &= expect_refused(logbuf, sizeof logbuf, "crosses 64 KiB", op, hostile_lba, 8, hphys(H_TABLE));
        hostile_lba += 64;
        // Total shorter than the transfer: 7 sectors of table for 8.
        t = htable();
        t[0] = (struct prd){hphys(H_DATA), 7 * SECTOR, PRD_EOT};
        good &= expect_refused(logbuf, sizeof logbuf, "total 7 sectors for 8", op, hostile_lba, 8, hphys(H_TABLE));
        hostile_lba += 64;
        // Total longer than the transfer: 9 sectors of table for 8.
        t = htable();
        t[0] = (struct prd){hphys(H_DATA), PAGE, 0};
        t[1] = (struct prd){hphys(H_DATA) + PAGE, SECTOR, PRD_EOT};
        good &= expect_refused(logbuf, sizeof logbuf, "total 9 sectors for 8", op, hostile_lba, 8, hphys(H_TABLE));
        hostile_lba += 64;
        // Byte count 0 means 64 KiB: 128 sectors of table for 8.
        t = htable();
        t[0] = (struct prd){hphys(H_DATA), 0, PRD_EOT};
        good &= expect_refused(logbuf, sizeof logbuf, "count 0 (64 KiB) for 8 sectors", op, hostile_lba, 8,
                               hphys(H_TABLE));
        hostile_lba += 64;
        // Table pointer not 4-byte aligned (a valid table at +0 and +4).
        t = htable();
        t[0] = (struct prd){hphys(H_DATA), PAGE, PRD_EOT};
        t[1] = (struct prd){hphys(H_DATA), PAGE, PRD_EOT};
        good &= expect_refused(logbuf, sizeof logbuf, "table pointer misaligned (+2)", op, hostile_lba, 8,
                               hphys(H_TABLE) + 2);
        hostile_lba += 64;
    }
    char why[256];
    int after = still_works(why, sizeof why);
    sv_result("prd-odd", good && after == 0, "%s; after: %s", summary(logbuf, good), why);
}

static void s_prd_table_outside_ram(void)
{
    begin("prd-table-outside-ram");
    int good = 1;
    uint32_t ptrs[8];
    const char *names[8];
    int n = 0;
    ptrs[n] = 0xfec00000u, names[n++] = "0xfec00000 (I/O APIC MMIO)";
    ptrs[n] = 0xfee00000u, names[n++] = "0xfee00000 (local APIC MMIO)";
    ptrs[n] = 0xfffffff8u, names[n++] = "0xfffffff8 (top of 4 GiB)";
    ptrs[n] = 0x30000000u, names[n++] = "0x30000000 (beyond RAM)";
    static char tn[4][64];
    for (int i = 0; i < target_count && i < 2; i++) {
        snprintf(tn[2 * i], sizeof tn[0], "0x%" PRIx64 " (reserved)", targets[i].start);
        ptrs[n] = (uint32_t)targets[i].start, names[n++] = tn[2 * i];
        snprintf(tn[2 * i + 1], sizeof tn[0], "0x%" PRIx64 " (reserved, end)", targets[i].end + 1 - 8);
        ptrs[n] = (uint32_t)(targets[i].end + 1 - 8), names[n++] = tn[2 * i + 1];
    }
    for (int i = 0; i < n; i++)
        for (int rw = 0; rw < 2; rw++) {
            good &= expect_refused(logbuf, sizeof logbuf, names[i], rw ? CMD_READ_DMA : CMD_WRITE_DMA,
                                   hostile_lba, 8, ptrs[i]);
            hostile_lba += 64;
        }
    char why[256];
    int after = still_works(why, sizeof why);
    sv_result("prd-table-outside-ram", good && after == 0, "%s; after: %s", summary(logbuf, good), why);
}

static void s_unknown_opcode(void)
{
    begin("unknown-opcode");
    int good = 1;
    // Data-moving opcodes the hypervisor does not understand. DSM/TRIM gets a
    // DMA table with a range over the valid-write region (LBA 2048, 8 sectors).
    struct {
        uint8_t op;
        uint8_t features;
        unsigned sectors;
        int dma_out;
        const char *name;
    } ops[] = {
        {0x06, 0x01, 1, 1, "DATA SET MANAGEMENT (TRIM)"},
        {0xe8, 0x00, 1, 0, "WRITE BUFFER"},
        {0xeb, 0x00, 1, 1, "WRITE BUFFER DMA"},
        {0x92, 0x07, 1, 0, "DOWNLOAD MICROCODE"},
        {0x93, 0x07, 1, 1, "DOWNLOAD MICROCODE DMA"},
        {0x3a, 0x00, 8, 1, "WRITE STREAM DMA EXT"},
        {0xcc, 0x00, 8, 1, "WRITE DMA QUEUED"},
        {0x3e, 0x00, 8, 1, "WRITE DMA QUEUED FUA EXT"},
        {0x57, 0x00, 1, 1, "WRITE LOG DMA EXT"},
        {0xe4, 0x00, 1, 0, "READ BUFFER"},
        {0xc7, 0x00, 8, 1, "READ DMA QUEUED"},
    };
    uint8_t *data = huge_base + H_DATA;
    memset(data, 0, PAGE);
    uint64_t range = 2048 | (uint64_t)8 << 48; // DSM range entry: LBA, count
    memcpy(data, &range, 8);
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        struct prd *t = htable();
        t[0] = (struct prd){hphys(H_DATA), (uint16_t)(ops[i].sectors * SECTOR), PRD_EOT};
        struct outcome o;
        expected_aborts++;
        if (ops[i].dma_out)
            o = dma_command(ops[i].op, hostile_lba, ops[i].sectors, hphys(H_TABLE), 0, 1, ops[i].features);
        else
            o = nondata_command(ops[i].op, hostile_lba, ops[i].sectors, ops[i].features);
        printf("SV-INFO hostile-lba %u %u\n", hostile_lba, ops[i].sectors);
        hostile_lba += 64;
        char d[128];
        describe(d, sizeof d, &o);
        int r = refused(&o) && (o.error & ER_ABRT);
        good &= r;
        printf("SV-INFO hostile-case unknown-opcode 0x%02x %s: %s%s\n", ops[i].op, ops[i].name, d,
               r ? "" : " NOT ABORTED");
        cases++;
        if (!r) {
            size_t l = strlen(logbuf);
            snprintf(logbuf + l, sizeof logbuf - l, "%s0x%02x %s: %s NOT ABORTED", l ? "; " : "", ops[i].op,
                     ops[i].name, d);
        }
    }
    // The TRIM target still holds its text.
    char why[256];
    int intact = 1;
    {
        struct prd *t = (struct prd *)vtable;
        memset(rpages[0], 0, PAGE);
        t[0] = (struct prd){(uint32_t)sv_phys_of(rpages[0]), PAGE, PRD_EOT};
        struct outcome o = dma_command(CMD_READ_DMA, 2048, 8, (uint32_t)sv_phys_of(vtable), 1, 1, 0);
        uint8_t want[PAGE];
        fill_text(want, 2048, 8);
        intact = ok(&o) && !memcmp(rpages[0], want, PAGE);
    }
    int after = still_works(why, sizeof why);
    if (good)
        snprintf(logbuf, sizeof logbuf, "%u/%u opcodes aborted with ERR+ABRT", cases, cases);
    sv_result("unknown-opcode", good && intact && after == 0, "%s; valid-write region %s; after: %s", logbuf,
           intact ? "intact" : "CHANGED OR UNREADABLE", why);
}

static void s_start_without_command(void)
{
    // START with no command (a stale guest table pointing into hypervisor
    // memory, in case anything would follow it), with and without a stop in
    // between, in both directions.
    struct prd *t = htable();
    t[0] = (struct prd){(uint32_t)targets[0].start, PAGE, PRD_EOT};
    outb(0, bm + BM_CMD);
    outb(BMS_INTR | BMS_ERROR, bm + BM_STATUS);
    outl(hphys(H_TABLE), bm + BM_PRD);
    uint8_t st[4];
    for (int i = 0; i < 4; i++) {
        uint8_t dir = (i & 1) ? BMC_TOMEM : 0;
        outb(dir | BMC_START, bm + BM_CMD);
        usleep(20000);
        st[i] = inb(bm + BM_STATUS);
        if (i >= 2) // the second pair: stop in between
            outb(dir, bm + BM_CMD);
    }
    outb(0, bm + BM_CMD);
    outb(BMS_INTR | BMS_ERROR, bm + BM_STATUS);
    int s = sv_ata_wait_not_busy(ATA_STATUS, 3);
    char why[256];
    int after = still_works(why, sizeof why);
    sv_result("start-without-command", s >= 0 && after == 0,
           "bm status after START 0x%02x 0x%02x 0x%02x 0x%02x, ata status %d; after: %s", st[0], st[1], st[2],
           st[3], s, why);
}

static void s_start_twice(void)
{
    // A valid WRITE DMA and READ DMA with START written twice: the transfer
    // happens once and correctly.
    uint32_t lba = next_valid_lba;
    next_valid_lba += 64;
    uint8_t want[PAGE];
    fill_text(want, lba, 8);
    struct prd *t = (struct prd *)vtable;
    memcpy(wpages[0], want, PAGE);
    t[0] = (struct prd){(uint32_t)sv_phys_of(wpages[0]), PAGE, PRD_EOT};
    struct outcome w = dma_command(CMD_WRITE_DMA, lba, 8, (uint32_t)sv_phys_of(vtable), 0, 2, 0);
    memset(rpages[0], 0xa5, PAGE);
    t[0] = (struct prd){(uint32_t)sv_phys_of(rpages[0]), PAGE, PRD_EOT};
    struct outcome r = dma_command(CMD_READ_DMA, lba, 8, (uint32_t)sv_phys_of(vtable), 1, 2, 0);
    int same = !memcmp(rpages[0], want, PAGE);
    if (ok(&w) && ok(&r) && same)
        printf("SV-INFO hostile-valid %u 8\n", lba);
    char dw[128], dr[128], why[256];
    describe(dw, sizeof dw, &w);
    describe(dr, sizeof dr, &r);
    int after = still_works(why, sizeof why);
    sv_result("start-twice", ok(&w) && ok(&r) && same && after == 0,
           "lba %u: write %s, read %s, data %s; after: %s", lba, dw, dr, same ? "ok" : "DIFFERS", why);
}

// --- state a refused command leaves behind (issue #7 class 3) ------------------

// Device and Command in one 16-bit OUT at the Device register (low byte to
// 0x1F6, high byte to 0x1F7): a command the hypervisor may never see (issue
// #7 class 2, fixed separately). Whether it sees it or not, what follows must
// not put plaintext on the disk.
static void sneak_command(uint8_t device, uint8_t op)
{
    outw((uint16_t)(device | op << 8), ATA_DEVICE);
}

// Polls Alternate Status (no trapped Status read, which would let the
// hypervisor notice that the command is over) until BSY is clear.
static int wait_alt_not_busy(double secs)
{
    double end = sv_now_s() + secs;
    for (;;) {
        uint8_t s = inb(ATA_CTL);
        if (!(s & ST_BSY))
            return s;
        if (sv_now_s() > end)
            return -1;
        usleep(50);
    }
}

static void taskfile_alt(uint32_t lba, unsigned sectors, uint8_t features)
{
    outb(features, ATA_ERROR);
    outb((uint8_t)sectors, ATA_COUNT);
    outb((uint8_t)lba, ATA_LBA0);
    outb((uint8_t)(lba >> 8), ATA_LBA1);
    outb((uint8_t)(lba >> 16), ATA_LBA2);
}

// PACKET to the ATA disk (it is no ATAPI device: the disk aborts it), then a
// WRITE SECTORS behind the hypervisor's back and the known text through the
// data port. Before the fix the aborted PACKET left the data port in raw
// pass-through and the text reached the disk in plaintext.
static void s_packet_to_ata_pio(void)
{
    begin("packet-to-ata-pio");
    uint32_t lba = hostile_lba;
    hostile_lba += 64;
    printf("SV-INFO hostile-noplain %u 1\n", lba);
    taskfile(lba, 1, 0);
    outb(0xa0, ATA_STATUS); // PACKET
    int s = wait_alt_not_busy(3);
    uint8_t err = inb(ATA_ERROR);
    int aborted = s >= 0 && (s & ST_ERR);
    taskfile_alt(lba, 1, 0);
    sneak_command(0xe0 | ((lba >> 24) & 0x0f), 0x30); // WRITE SECTORS
    int d = wait_alt_not_busy(3);
    uint8_t text[SECTOR];
    fill_text(text, lba, 1);
    outsw(ATA_DATA, text, SECTOR / 2);
    int s2 = wait_alt_not_busy(3);
    int st = inb(ATA_STATUS);
    if (s2 < 0 || (st & ST_DRQ))
        recover();
    cases++;
    char why[256];
    int after = still_works(why, sizeof why);
    sv_result("packet-to-ata-pio", aborted && after == 0,
           "PACKET to the ATA disk: status 0x%02x error 0x%02x%s; sneaked WRITE SECTORS: status 0x%02x "
           "(%s), after the data 0x%02x; after: %s",
           s & 0xff, err, aborted ? " (aborted)" : " NOT ABORTED", d & 0xff,
           d >= 0 && (d & ST_DRQ) ? "data-out phase" : "no data phase", st, why);
}

// The same with DMA: libata's bmdma_setup order (PRD pointer to the known
// text, direction memory -> device) before a PACKET to the ATA disk, then a
// WRITE DMA behind the hypervisor's back and START. Before the fix the
// PACKET had the hypervisor copy the text into its shadow buffer for an
// unencrypted ATAPI data-out, and the disk took it from there.
static void s_packet_to_ata_dma(void)
{
    begin("packet-to-ata-dma");
    uint32_t lba = hostile_lba;
    hostile_lba += 64;
    printf("SV-INFO hostile-noplain %u 8\n", lba);
    uint8_t *data = huge_base + H_DATA;
    fill_text(data, lba, 8);
    struct prd *t = htable();
    t[0] = (struct prd){hphys(H_DATA), PAGE, PRD_EOT};
    outb(0, bm + BM_CMD);
    outb(BMS_INTR | BMS_ERROR, bm + BM_STATUS);
    outl(hphys(H_TABLE), bm + BM_PRD);
    outb(0, bm + BM_CMD); // memory -> device
    taskfile(lba, 8, 0x01); // Features: DMA (the ATAPI way)
    outb(0xa0, ATA_STATUS); // PACKET
    int s = wait_alt_not_busy(3);
    uint8_t err = inb(ATA_ERROR);
    int aborted = s >= 0 && (s & ST_ERR);
    taskfile_alt(lba, 8, 0);
    sneak_command(0xe0 | ((lba >> 24) & 0x0f), CMD_WRITE_DMA);
    outb(BMC_START, bm + BM_CMD);
    int s2 = wait_alt_not_busy(3);
    uint8_t bms = inb(bm + BM_STATUS);
    outb(0, bm + BM_CMD);
    outb(BMS_INTR | BMS_ERROR, bm + BM_STATUS);
    int st = inb(ATA_STATUS);
    if (s2 < 0 || (st & ST_DRQ))
        recover();
    cases++;
    char why[256];
    int after = still_works(why, sizeof why);
    sv_result("packet-to-ata-dma", aborted && after == 0,
           "PACKET to the ATA disk: status 0x%02x error 0x%02x%s; sneaked WRITE DMA + START: status 0x%02x "
           "bm 0x%02x; after: %s",
           s & 0xff, err, aborted ? " (aborted)" : " NOT ABORTED", st, bms, why);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (iopl(3)) {
        printf("SV-RESULT hostile-setup FAIL iopl(3): %s\n", strerror(errno));
        return 2;
    }
    int only_packet = 0;
    if (argc > 2 && !strcmp(argv[1], "--only") && !strcmp(argv[2], "packet")) {
        only_packet = 1;
        argc -= 2;
        argv += 2;
    }
    if (sv_pagemap_fd() < 0 || find_ide(argc > 1 ? argv[1] : NULL) || setup_pci()) {
        printf("SV-RESULT hostile-setup FAIL no IDE function / bus-master BAR / pagemap (%s)\n", pci_dir);
        return 2;
    }
    for (int i = 0; i < VPAGES; i++) {
        wpages[i] = page_alloc();
        rpages[i] = page_alloc();
        if (!wpages[i] || !rpages[i]) {
            printf("SV-RESULT hostile-setup FAIL cannot lock pages with known physical addresses\n");
            return 2;
        }
    }
    vtable = page_alloc();
    if (!vtable || huge_alloc()) {
        printf("SV-RESULT hostile-setup FAIL no physically contiguous 2 MiB area (hugetlb or THP)\n");
        return 2;
    }
    find_targets();
    printf("SV-INFO hostile-memory %s at 0x%" PRIx64 "\n", huge_how, huge_phys);
    // Interrupts off at the device (no driver handles IRQ 14).
    // Select the master first: the firmware may have left the (absent)
    // slave selected, which reads as status 0.
    outb(0x02, ATA_CTL);
    outb(0xe0, ATA_DEVICE);
    usleep(1000);
    int s = sv_ata_wait_not_busy(ATA_STATUS, 10);
    if (s < 0 || !(s & ST_DRDY)) {
        printf("SV-RESULT hostile-setup FAIL device not ready (status %d)\n", s);
        return 2;
    }
    printf("SV-RESULT hostile-setup PASS %s, bus master 0x%x, %d target ranges, %s memory\n", pci_dir, bm,
           target_count, huge_how);

    s_valid_write();
    if (only_packet) {
        s_packet_to_ata_pio();
        s_packet_to_ata_dma();
        return sv_failures ? 1 : 0;
    }
    s_prd_into_hypervisor();
    s_prd_no_eot();
    s_prd_odd();
    s_prd_table_outside_ram();
    s_unknown_opcode();
    s_start_without_command();
    s_start_twice();
    s_packet_to_ata_pio();
    s_packet_to_ata_dma();
    printf("SV-INFO hostile-expected-aborts %u\n", expected_aborts);
    return sv_failures ? 1 : 0;
}

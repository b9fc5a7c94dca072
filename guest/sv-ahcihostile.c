// sv-ahcihostile: a hostile guest root drives the AHCI HBA itself (issue #9
// item 6). With the ahci driver left out (sv.skipmod=ahci) it finds the AHCI
// function (class 01h/06h/01h) through 0xCF8/0xCFC, enables memory space and
// bus master, maps ABAR (BAR5) through /dev/mem (boot with iomem=relaxed),
// resets the HBA, brings port 0 up and runs one command per scenario from
// its own locked pages (physical addresses from /proc/self/pagemap):
//   write-plain   WRITE DMA EXT of a plaintext pattern to LBA 2048 (8 sectors)
//   read-own      READ DMA EXT of it back into its own buffer
//   fis-own       the D2H FIS the HBA wrote into its received FIS page
//   phys-out      WRITE DMA EXT to LBA 4096 from a PRDT aimed at physical
//                 TARGET (default: its own "victim" page, filled with a marker;
//                 pass the hypervisor's memory marker address to aim there)
//   phys-in       READ DMA EXT of LBA 2048 into the victim page by physical
//                 address (DMA into memory the PRDT was never meant to reach)
//   prdt-short    READ DMA EXT of 16 sectors over a 4 KiB PRDT
//   odd-dbc       a PRDT entry with an odd byte count
//   unknown-op    WRITE BUFFER (E8h) with a 512-byte PRDT
//   bad-fis       a command table whose FIS type is not 27h
//   ncq-read      READ FPDMA QUEUED, tag = slot 3 (the NCQ path works)
//   tag-game      READ FPDMA QUEUED with tag 9 issued from slot 4
// Each prints "SV-INFO ahcihostile NAME OUTCOME tfd=.. is=.." with OUTCOME
// done (PxCI cleared, no error), error (PxIS error bit), timeout, reached
// (the data arrived where aimed) or missed; the host judges (tests/system/
// ahci.py hostile). AHCI 1.3.1 §3 registers, §4.2 structures, §10.1.2/§10.4
// start-up and COMRESET.
//
// usage: sv-ahcihostile [TARGET_HEX]
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define NPAGES 16
#define PG_CL 0
#define PG_FIS 1
#define PG_TABLE 2
#define PG_DATA 3 // 8 pages: 32 KiB
#define PG_VICTIM 11
#define LBA_PLAIN 2048
#define LBA_OUT 4096
#define PLAIN "SV-AHCIHOSTILE-PLAINTEXT-PATTERN"
#define VICTIM "SV-AHCIHOSTILE-VICTIM-PAGE-MARK"

// ABAR offsets (AHCI 1.3.1 §3.1, §3.3), port 0.
#define GHC 0x04
#define P0 0x100
#define PCLB 0x00
#define PCLBU 0x04
#define PFB 0x08
#define PFBU 0x0c
#define PIS 0x10
#define PIE 0x14
#define PCMD 0x18
#define PTFD 0x20
#define PSSTS 0x28
#define PSCTL 0x2c
#define PSERR 0x30
#define PSACT 0x34
#define PCI_ 0x38
#define CMD_ST 0x1u
#define CMD_FRE 0x10u
#define CMD_FR 0x4000u
#define CMD_CR 0x8000u
#define IS_ERRORS 0x7d800010u // TFES HBFS HBDS IFS INFS OFS IPMS UFS

static uint8_t *page[NPAGES];
static uint64_t phys[NPAGES];
static volatile uint32_t *abar;

static uint32_t rd(unsigned off) { return abar[off / 4]; }
static void wr(unsigned off, uint32_t v) { abar[off / 4] = v; }

static void msleep(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint32_t cfg_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xFC);
}

static uint32_t cfg_read(unsigned b, unsigned d, unsigned f, unsigned reg)
{
    outl(cfg_addr(b, d, f, reg), 0xCF8);
    return inl(0xCFC);
}

static uint64_t phys_of(void *p)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint64_t e = 0;
    if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)p / 4096 * 8)) != 8 || !(e >> 63)) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    return (e & ((1ull << 55) - 1)) * 4096 + ((uintptr_t)p & 4095);
}

static int find_ahci(unsigned *bus, unsigned *dev, unsigned *fn)
{
    for (unsigned b = 0; b < 256; b++)
        for (unsigned d = 0; d < 32; d++)
            for (unsigned f = 0; f < 8; f++) {
                if ((cfg_read(b, d, f, 0) & 0xffff) == 0xffff)
                    continue;
                if ((cfg_read(b, d, f, 8) >> 8) == 0x010601) {
                    *bus = b, *dev = d, *fn = f;
                    return 0;
                }
            }
    return -1;
}

static void stop_port(void)
{
    wr(P0 + PCMD, rd(P0 + PCMD) & ~CMD_ST);
    for (int i = 0; i < 500 && (rd(P0 + PCMD) & CMD_CR); i++)
        msleep(1);
}

static void start_port(void)
{
    wr(P0 + PSERR, 0xffffffff);
    wr(P0 + PIS, 0xffffffff);
    wr(0x08, 0xffffffff);
    wr(P0 + PCMD, rd(P0 + PCMD) | CMD_ST);
}

static int port_up(void)
{
    wr(GHC, 0x80000000u);
    wr(GHC, 0x80000001u); // HBA reset (§10.4.3)
    for (int i = 0; i < 1000 && (rd(GHC) & 1); i++)
        msleep(1);
    wr(GHC, 0x80000000u);
    wr(P0 + PCLB, (uint32_t)phys[PG_CL]);
    wr(P0 + PCLBU, (uint32_t)(phys[PG_CL] >> 32));
    wr(P0 + PFB, (uint32_t)phys[PG_FIS]);
    wr(P0 + PFBU, (uint32_t)(phys[PG_FIS] >> 32));
    wr(P0 + PCMD, rd(P0 + PCMD) | CMD_FRE | 0x6u); // FRE, POD, SUD
    wr(P0 + PSCTL, 0x301);                          // COMRESET (§10.4.2)
    msleep(2);
    wr(P0 + PSCTL, 0x300);
    for (int i = 0; i < 1000 && (rd(P0 + PSSTS) & 0xf) != 3; i++)
        msleep(1);
    for (int i = 0; i < 1000 && (rd(P0 + PTFD) & 0x88); i++)
        msleep(1);
    wr(P0 + PIE, 0);
    start_port();
    return (rd(P0 + PSSTS) & 0xf) == 3 && (rd(P0 + PCMD) & CMD_CR) ? 0 : -1;
}

struct prd {
    uint64_t addr;
    uint32_t bytes;
};

// Builds command slot `slot` (header, CFIS, PRDT) and issues it; with
// ncq_tag >= 0 as READ/WRITE FPDMA QUEUED with that tag (PxSACT, then PxCI).
// Returns the outcome word.
static const char *issue_slot(unsigned slot, int ncq_tag, uint8_t fis_type, uint8_t op, uint64_t lba,
                              uint16_t count, int write, const struct prd *prdt, unsigned n,
                              uint32_t *tfd, uint32_t *is)
{
    uint8_t *t = page[PG_TABLE];
    memset(t, 0, 4096);
    t[0] = fis_type;
    t[1] = 0x80; // C: command
    t[2] = op;
    t[4] = (uint8_t)lba, t[5] = (uint8_t)(lba >> 8), t[6] = (uint8_t)(lba >> 16);
    t[7] = 0x40; // LBA mode
    t[8] = (uint8_t)(lba >> 24), t[9] = (uint8_t)(lba >> 32), t[10] = (uint8_t)(lba >> 40);
    t[12] = (uint8_t)count, t[13] = (uint8_t)(count >> 8);
    if (ncq_tag >= 0) { // ATA8-ACS §7.21: count in FEATURES, tag in COUNT 7:3
        t[3] = (uint8_t)count, t[11] = (uint8_t)(count >> 8);
        t[12] = (uint8_t)(ncq_tag << 3), t[13] = 0;
    }
    for (unsigned i = 0; i < n; i++) {
        uint32_t *e = (uint32_t *)(t + 0x80 + 16 * i);
        e[0] = (uint32_t)prdt[i].addr;
        e[1] = (uint32_t)(prdt[i].addr >> 32);
        e[3] = prdt[i].bytes - 1;
    }
    uint32_t *h = (uint32_t *)(page[PG_CL] + 32 * slot);
    memset(h, 0, 32);
    h[0] = n << 16 | (write ? 1u << 6 : 0) | 5;
    h[2] = (uint32_t)phys[PG_TABLE];
    h[3] = (uint32_t)(phys[PG_TABLE] >> 32);
    __sync_synchronize();
    const uint32_t bit = 1u << slot;
    const uint32_t sact = ncq_tag >= 0 ? bit | 1u << ncq_tag : 0;
    if (ncq_tag >= 0)
        wr(P0 + PSACT, bit);
    wr(P0 + PCI_, bit);
    const char *outcome = "timeout";
    for (int i = 0; i < 1000; i++) {
        const uint32_t s = rd(P0 + PIS);
        if (s & IS_ERRORS) {
            outcome = "error";
            break;
        }
        if (!(rd(P0 + PCI_) & bit) && !(rd(P0 + PSACT) & sact)) {
            outcome = "done";
            break;
        }
        msleep(1);
    }
    *tfd = rd(P0 + PTFD);
    *is = rd(P0 + PIS);
    if (strcmp(outcome, "done")) { // QEMU keeps PxCI until the port restarts
        stop_port();
        start_port();
    }
    wr(P0 + PIS, 0xffffffff);
    return outcome;
}

static const char *issue(uint8_t fis_type, uint8_t op, uint64_t lba, uint16_t count, int write,
                         const struct prd *prdt, unsigned n, uint32_t *tfd, uint32_t *is)
{
    return issue_slot(0, -1, fis_type, op, lba, count, write, prdt, n, tfd, is);
}

static void report(const char *name, const char *outcome, uint32_t tfd, uint32_t is)
{
    printf("SV-INFO ahcihostile %s %s tfd=%04x is=%08x\n", name, outcome, tfd & 0xffff, is);
}

static void fill(uint8_t *p, size_t n, const char *s)
{
    const size_t k = strlen(s);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)s[i % k];
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsigned bus, dev, fn;
    if (iopl(3) || find_ahci(&bus, &dev, &fn)) {
        printf("SV-INFO ahcihostile-error no AHCI function (or no iopl)\n");
        return 1;
    }
    const uint64_t bar5 = cfg_read(bus, dev, fn, 0x24) & ~0xfu;
    outl(cfg_addr(bus, dev, fn, 4), 0xCF8);
    outw((uint16_t)(inw(0xCFC) | 0x6), 0xCFC); // memory space + bus master
    const unsigned command = cfg_read(bus, dev, fn, 4) & 0xffff;
    printf("SV-INFO ahcihostile-device %02x:%02x.%x abar %llx command %04x bme %u\n", bus, dev, fn,
           (unsigned long long)bar5, command, (command >> 2) & 1);
    int mem = open("/dev/mem", O_RDWR | O_SYNC);
    abar = mem < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mem, (off_t)bar5);
    uint8_t *pages = mmap(NULL, NPAGES * 4096, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE, -1, 0);
    if (abar == MAP_FAILED || pages == MAP_FAILED) {
        printf("SV-INFO ahcihostile-error cannot map ABAR (iomem=relaxed?) or lock pages\n");
        return 1;
    }
    for (int i = 0; i < NPAGES; i++) {
        page[i] = pages + 4096 * i;
        memset(page[i], 0, 4096);
        phys[i] = phys_of(page[i]);
        if (!phys[i]) {
            printf("SV-INFO ahcihostile-error no physical address (pagemap)\n");
            return 1;
        }
    }
    const uint64_t target = argc > 1 ? strtoull(argv[1], NULL, 16) : phys[PG_VICTIM];
    fill(page[PG_VICTIM], 4096, VICTIM);
    if (port_up()) {
        printf("SV-INFO ahcihostile-error port 0 did not come up: ssts %x cmd %x tfd %x\n",
               rd(P0 + PSSTS), rd(P0 + PCMD), rd(P0 + PTFD));
        return 1;
    }
    printf("SV-INFO ahcihostile-layout cl %llx fis %llx table %llx victim %llx target %llx\n",
           (unsigned long long)phys[PG_CL], (unsigned long long)phys[PG_FIS],
           (unsigned long long)phys[PG_TABLE], (unsigned long long)phys[PG_VICTIM],
           (unsigned long long)target);
    uint32_t tfd, is;
    const char *o;

    fill(page[PG_DATA], 4096, PLAIN);
    struct prd out = {phys[PG_DATA], 4096};
    o = issue(0x27, 0x35, LBA_PLAIN, 8, 1, &out, 1, &tfd, &is);
    report("write-plain", o, tfd, is);
    printf("SV-INFO ahcihostile-lba plain %u 8\n", LBA_PLAIN);

    uint8_t *rb = page[PG_DATA + 1];
    struct prd in = {phys[PG_DATA + 1], 4096};
    o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, &in, 1, &tfd, &is);
    report("read-own", !strcmp(o, "done") && !memcmp(rb, page[PG_DATA], 4096) ? "reached" : o, tfd, is);
    report("fis-own", page[PG_FIS][0x40] == 0x34 ? "reached" : "missed", tfd, is);

    struct prd ph = {target, 4096};
    o = issue(0x27, 0x35, LBA_OUT, 8, 1, &ph, 1, &tfd, &is);
    report("phys-out", o, tfd, is);
    printf("SV-INFO ahcihostile-lba out %u 8\n", LBA_OUT);

    struct prd vin = {phys[PG_VICTIM], 4096};
    o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, &vin, 1, &tfd, &is);
    report("phys-in", !strcmp(o, "done") && !memcmp(page[PG_VICTIM], page[PG_DATA], 4096) ? "reached" : o,
           tfd, is);

    memset(page[PG_DATA + 2], 0, 8192);
    struct prd shortp = {phys[PG_DATA + 2], 4096};
    o = issue(0x27, 0x25, LBA_PLAIN, 16, 0, &shortp, 1, &tfd, &is);
    report("prdt-short", o, tfd, is);

    struct prd odd = {phys[PG_DATA + 3], 4095};
    o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, &odd, 1, &tfd, &is);
    report("odd-dbc", o, tfd, is);

    struct prd buf = {phys[PG_DATA + 4], 512};
    o = issue(0x27, 0xe8, 0, 1, 1, &buf, 1, &tfd, &is);
    report("unknown-op", o, tfd, is);

    o = issue(0x34, 0x25, LBA_PLAIN, 1, 0, &buf, 1, &tfd, &is);
    report("bad-fis", o, tfd, is);

    uint8_t *nb = page[PG_DATA + 5];
    memset(nb, 0, 4096);
    struct prd nq = {phys[PG_DATA + 5], 4096};
    o = issue_slot(3, 3, 0x27, 0x60, LBA_PLAIN, 8, 0, &nq, 1, &tfd, &is);
    report("ncq-read", !strcmp(o, "done") && !memcmp(nb, page[PG_DATA], 4096) ? "reached" : o, tfd, is);

    memset(nb, 0, 4096);
    o = issue_slot(4, 9, 0x27, 0x60, LBA_PLAIN, 8, 0, &nq, 1, &tfd, &is);
    report("tag-game", !strcmp(o, "done") && !memcmp(nb, page[PG_DATA], 4096) ? "reached" : o, tfd, is);
    printf("SV-INFO ahcihostile-note tag-game: FPDMA tag 9 issued from slot 4\n");
    stop_port();
    return 0;
}

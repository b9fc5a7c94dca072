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
// Against hypervisor memory (the reserved ranges of /sys/firmware/memmap of
// at least 1 MiB, as guest/sv-idehostile.c finds them; "skipped" when there
// are none, e.g. on bare QEMU, where such an address would be the guest's
// own kernel):
//   prdt-hv-in    READ DMA EXT into the first page of a reserved range
//   prdt-hv-out   WRITE DMA EXT from it to LBA 6144
//   prdt-straddle READ DMA EXT into 4 KiB straddling a reserved range's start
//   ctba-hv       the command header's CTBA in a reserved range
//   clb-hv        PxCLB in a reserved range (then restored)
//   fb-hv         PxFB in a reserved range, a valid READ (then restored)
// Shape and opcode games:
//   prdtl-absurd  PRDTL 65535 (only the first entry meaningful)
//   prdt-long     two 4 KiB entries for 8 sectors (valid: more than the count)
//   dsm           DATA SET MANAGEMENT (06h, TRIM) with a 512-byte range list
//   microcode     DOWNLOAD MICROCODE (92h) with a 512-byte PRDT
//   pmport        READ DMA EXT with port multiplier port 1 in the command FIS
//   changed-after WRITE DMA EXT of a pattern to LBA 2560, then right after
//                 PxCI its PRDT entry re-aimed at hypervisor memory (or the
//                 victim page) and the FIS's LBA changed to 6144
//   ncq-nosact    READ FPDMA QUEUED from slot 5 without its PxSACT bit
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
#define CHANGED "SV-AHCIHOSTILE-CHANGED-AFTER-ISSUE"
#define LBA_CHANGED 2560
#define LBA_HV 6144

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
static uint64_t hv_target; // first byte of a reserved range (hypervisor memory), 0: none

// The first reserved range of at least 1 MiB above 1 MiB and below the MMIO
// hole: under shadowvisor its image or heap (firmware tables are small).
static void find_hv_target(void)
{
    for (int i = 0; i < 256; i++) {
        char path[128], buf[128];
        uint64_t start, end;
        FILE *f;
        snprintf(path, sizeof path, "/sys/firmware/memmap/%d/start", i);
        if (!(f = fopen(path, "r")))
            break;
        start = fgets(buf, sizeof buf, f) ? strtoull(buf, NULL, 0) : 0;
        fclose(f);
        snprintf(path, sizeof path, "/sys/firmware/memmap/%d/end", i);
        if (!(f = fopen(path, "r")))
            break;
        end = fgets(buf, sizeof buf, f) ? strtoull(buf, NULL, 0) : 0;
        fclose(f);
        snprintf(path, sizeof path, "/sys/firmware/memmap/%d/type", i);
        if (!(f = fopen(path, "r")))
            break;
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
        if (strncmp(buf, "Reserved", 8) || start < 0x100000 || end >= 0xfec00000ull || end - start + 1 < (1u << 20))
            continue;
        hv_target = start;
        printf("SV-INFO ahcihostile-target %llx %llx\n", (unsigned long long)start, (unsigned long long)end);
        return;
    }
}
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
// Knobs of the shape games (reset after each command).
static unsigned opt_prdtl;        // non-zero: PRDTL in the header instead of n
static uint8_t opt_pmp;           // port multiplier port in the FIS (byte 1 bits 3:0)
static uint64_t opt_ctba;         // non-zero: CTBA instead of the table page
static int opt_no_sact;           // FPDMA without setting its PxSACT bit
static uint8_t opt_features;      // FEATURES 7:0 of a non-queued command
static void (*opt_after_issue)(void); // runs right after the PxCI write

static const char *issue_slot(unsigned slot, int ncq_tag, uint8_t fis_type, uint8_t op, uint64_t lba,
                              uint16_t count, int write, const struct prd *prdt, unsigned n,
                              uint32_t *tfd, uint32_t *is)
{
    uint8_t *t = page[PG_TABLE];
    memset(t, 0, 4096);
    t[0] = fis_type;
    t[1] = (uint8_t)(0x80 | (opt_pmp & 0xf)); // C: command; PM port
    t[2] = op;
    t[4] = (uint8_t)lba, t[5] = (uint8_t)(lba >> 8), t[6] = (uint8_t)(lba >> 16);
    t[7] = 0x40; // LBA mode
    t[8] = (uint8_t)(lba >> 24), t[9] = (uint8_t)(lba >> 32), t[10] = (uint8_t)(lba >> 40);
    t[12] = (uint8_t)count, t[13] = (uint8_t)(count >> 8);
    t[3] = opt_features;
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
    const uint64_t ctba = opt_ctba ? opt_ctba : phys[PG_TABLE];
    h[0] = (opt_prdtl ? opt_prdtl : n) << 16 | (write ? 1u << 6 : 0) | (uint32_t)(opt_pmp & 0xf) << 12 | 5;
    h[2] = (uint32_t)ctba;
    h[3] = (uint32_t)(ctba >> 32);
    __sync_synchronize();
    const uint32_t bit = 1u << slot;
    const uint32_t sact = ncq_tag >= 0 ? bit | 1u << ncq_tag : 0;
    if (ncq_tag >= 0 && !opt_no_sact)
        wr(P0 + PSACT, bit);
    wr(P0 + PCI_, bit);
    if (opt_after_issue)
        opt_after_issue();
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
    opt_prdtl = 0, opt_pmp = 0, opt_features = 0, opt_ctba = 0, opt_no_sact = 0, opt_after_issue = NULL;
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

static uint64_t changed_aim;

// changed-after: the guest's copy changes once the command is issued; the
// device must only ever see what was validated at the PxCI write.
static void change_after_issue(void)
{
    uint8_t *t = page[PG_TABLE];
    uint32_t *e = (uint32_t *)(t + 0x80);
    e[0] = (uint32_t)changed_aim;
    e[1] = (uint32_t)(changed_aim >> 32);
    t[4] = (uint8_t)LBA_HV, t[5] = (uint8_t)(LBA_HV >> 8), t[6] = 0;
    ((uint32_t *)page[PG_CL])[0] |= 0xffffu << 16; // PRDTL 65535
    __sync_synchronize();
}

// PxCLB/PxFB may only change while the port is stopped (AHCI 1.3.1 §3.3.1,
// §3.3.3: ST and FRE clear, CR and FR read back clear).
static void set_port_bases(uint64_t clb, uint64_t fb)
{
    stop_port();
    wr(P0 + PCMD, rd(P0 + PCMD) & ~CMD_FRE);
    for (int i = 0; i < 500 && (rd(P0 + PCMD) & CMD_FR); i++)
        msleep(1);
    wr(P0 + PCLB, (uint32_t)clb);
    wr(P0 + PCLBU, (uint32_t)(clb >> 32));
    wr(P0 + PFB, (uint32_t)fb);
    wr(P0 + PFBU, (uint32_t)(fb >> 32));
    wr(P0 + PCMD, rd(P0 + PCMD) | CMD_FRE);
    start_port();
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
    find_hv_target();
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

    // --- hypervisor memory -------------------------------------------------
    struct prd good = {phys[PG_DATA + 6], 4096};
    if (hv_target) {
        struct prd hv = {hv_target, 4096};
        o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, &hv, 1, &tfd, &is);
        report("prdt-hv-in", o, tfd, is);
        o = issue(0x27, 0x35, LBA_HV, 8, 1, &hv, 1, &tfd, &is);
        report("prdt-hv-out", o, tfd, is);
        printf("SV-INFO ahcihostile-lba hv %u 8\n", LBA_HV);
        struct prd st = {hv_target - 2048, 4096};
        o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, &st, 1, &tfd, &is);
        report("prdt-straddle", o, tfd, is);
        opt_ctba = hv_target;
        o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, &good, 1, &tfd, &is);
        report("ctba-hv", o, tfd, is);
        set_port_bases(hv_target, phys[PG_FIS]);
        o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, &good, 1, &tfd, &is);
        report("clb-hv", o, tfd, is);
        set_port_bases(phys[PG_CL], hv_target);
        o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, &good, 1, &tfd, &is);
        report("fb-hv", o, tfd, is);
        set_port_bases(phys[PG_CL], phys[PG_FIS]);
    } else {
        const char *hvs[] = {"prdt-hv-in", "prdt-hv-out", "prdt-straddle", "ctba-hv", "clb-hv", "fb-hv"};
        for (unsigned i = 0; i < sizeof hvs / sizeof hvs[0]; i++)
            report(hvs[i], "skipped", 0, 0);
    }

    // --- shapes and opcodes ------------------------------------------------
    opt_prdtl = 65535;
    o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, &good, 1, &tfd, &is);
    report("prdtl-absurd", o, tfd, is);
    memset(page[PG_DATA + 6], 0, 8192);
    struct prd two[2] = {{phys[PG_DATA + 6], 4096}, {phys[PG_DATA + 7], 4096}};
    o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, two, 2, &tfd, &is);
    report("prdt-long", !strcmp(o, "done") && !memcmp(page[PG_DATA + 6], page[PG_DATA], 4096) ? "reached" : o,
           tfd, is);
    memset(page[PG_DATA + 4], 0, 4096);
    uint64_t *range = (uint64_t *)page[PG_DATA + 4];
    range[0] = (uint64_t)LBA_PLAIN | (uint64_t)8 << 48; // ACS-2 §7.10 range entry: LBA, 8 sectors
    opt_features = 1; // TRIM
    o = issue(0x27, 0x06, 0, 1, 1, &buf, 1, &tfd, &is);
    report("dsm", o, tfd, is);
    o = issue(0x27, 0x92, 0, 1, 1, &buf, 1, &tfd, &is);
    report("microcode", o, tfd, is);
    opt_pmp = 1;
    o = issue(0x27, 0x25, LBA_PLAIN, 8, 0, &good, 1, &tfd, &is);
    report("pmport", o, tfd, is);
    fill(page[PG_DATA + 7], 4096, CHANGED);
    struct prd chg = {phys[PG_DATA + 7], 4096};
    changed_aim = hv_target ? hv_target : phys[PG_VICTIM];
    opt_after_issue = change_after_issue;
    o = issue(0x27, 0x35, LBA_CHANGED, 8, 1, &chg, 1, &tfd, &is);
    report("changed-after", o, tfd, is);
    printf("SV-INFO ahcihostile-lba changed %u 8\n", LBA_CHANGED);
    opt_no_sact = 1;
    o = issue_slot(5, 5, 0x27, 0x60, LBA_PLAIN, 8, 0, &good, 1, &tfd, &is);
    report("ncq-nosact", o, tfd, is);
    stop_port();
    return 0;
}

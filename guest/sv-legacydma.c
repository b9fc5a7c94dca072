// sv-legacydma: a hostile guest root drives the ISA floppy controller and
// 8237 DMA channel 2 itself (iopl(3), no floppy driver) to move data
// between the floppy and any physical address the 8237 can form: page
// register 0x81 (A16-A23) plus QEMU's high page register 0x481 (A24-A31).
//
// usage: sv-legacydma to-floppy PHYS LBA SECTORS    memory -> floppy (FDC WRITE DATA, 8237 read transfer)
//        sv-legacydma from-floppy PHYS LBA SECTORS  floppy -> memory (FDC READ DATA, 8237 write transfer)
// PHYS is hex; LBA must start a cylinder (multiple of 36, 1.44 MB geometry)
// and SECTORS <= 36 (one multi-track command); the transfer must not cross a
// 64 KiB boundary (8237 address counter wraps). Prints ST0-ST2; exit 0 when
// the FDC reported normal termination, 1 on an FDC error, 2 on usage/setup.
// Intel 82077AA data sheet (commands, MSR), Intel 8237A data sheet (mode,
// mask, flip-flop), QEMU hw/block/fdc.c and hw/dma/i8257.c.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <time.h>
#include <unistd.h>
#include "sv-hw.h"

enum { DOR = 0x3F2, MSR = 0x3F4, FIFO = 0x3F5, CCR = 0x3F7 };
enum { MSR_RQM = 0x80, MSR_DIO = 0x40 };
// 8237 #1 (channels 0-3)
enum { DMA_ADDR2 = 0x04, DMA_COUNT2 = 0x05, DMA_CMD = 0x08, DMA_MASK = 0x0A, DMA_MODE = 0x0B, DMA_FLIPFLOP = 0x0C };
enum { PAGE2 = 0x81, PAGE_HIGH2 = 0x481 };

static int wait_msr(uint8_t mask, uint8_t want, double seconds)
{
    double end = sv_now_s() + seconds;
    while (sv_now_s() < end) {
        if ((inb(MSR) & mask) == want)
            return 0;
        usleep(100);
    }
    fprintf(stderr, "sv-legacydma: FDC timeout (MSR %02x)\n", inb(MSR));
    return -1;
}

static int fdc_out(uint8_t b)
{
    if (wait_msr(MSR_RQM | MSR_DIO, MSR_RQM, 2))
        return -1;
    outb(b, FIFO);
    return 0;
}

static int fdc_in(uint8_t *b)
{
    if (wait_msr(MSR_RQM | MSR_DIO, MSR_RQM | MSR_DIO, 10))
        return -1;
    *b = inb(FIFO);
    return 0;
}

static int sense_interrupt(uint8_t *st0, uint8_t *pcn)
{
    if (fdc_out(0x08) || fdc_in(st0))
        return -1;
    if ((*st0 & 0xC0) == 0x80)
        return 0; // invalid command: nothing pending
    return fdc_in(pcn);
}

static int fdc_setup(unsigned cylinder)
{
    uint8_t st0, pcn;
    outb(0x00, DOR); // reset
    usleep(1000);
    outb(0x1C, DOR); // motor A, DMA/IRQ gate, not reset, drive 0
    usleep(10000);
    for (int i = 0; i < 4; ++i)
        sense_interrupt(&st0, &pcn);
    outb(0x00, CCR); // 500 kbit/s (1.44 MB)
    // SPECIFY: SRT/HUT, HLT, ND = 0 (DMA mode)
    if (fdc_out(0x03) || fdc_out(0xDF) || fdc_out(0x02))
        return -1;
    // RECALIBRATE drive 0, then SEEK to the cylinder.
    if (fdc_out(0x07) || fdc_out(0x00))
        return -1;
    usleep(20000);
    sense_interrupt(&st0, &pcn);
    if (fdc_out(0x0F) || fdc_out(0x00) || fdc_out((uint8_t)cylinder))
        return -1;
    usleep(20000);
    if (sense_interrupt(&st0, &pcn))
        return -1;
    if (pcn != cylinder) {
        fprintf(stderr, "sv-legacydma: seek to %u ended at %u (ST0 %02x)\n", cylinder, pcn, st0);
        return -1;
    }
    return 0;
}

// Channel 2, single mode: `to_device` = 8237 read transfer (memory -> FDC).
static void dma_setup(uint64_t phys, unsigned bytes, int to_device)
{
    unsigned count = bytes - 1;
    outb(0x06, DMA_MASK); // mask channel 2
    outb(0x00, DMA_CMD);  // controller enabled
    outb(0xFF, DMA_FLIPFLOP);
    outb(phys & 0xFF, DMA_ADDR2);
    outb((phys >> 8) & 0xFF, DMA_ADDR2);
    outb(0xFF, DMA_FLIPFLOP);
    outb(count & 0xFF, DMA_COUNT2);
    outb((count >> 8) & 0xFF, DMA_COUNT2);
    outb((phys >> 16) & 0xFF, PAGE2);
    outb((phys >> 24) & 0xFF, PAGE_HIGH2);
    outb(to_device ? 0x4A : 0x46, DMA_MODE); // single, read (mem->dev) / write (dev->mem), channel 2
    outb(0x02, DMA_MASK);                    // unmask channel 2
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sv-legacydma to-floppy|from-floppy PHYS LBA SECTORS\n");
        return 2;
    }
    int to_floppy = !strcmp(argv[1], "to-floppy");
    if (!to_floppy && strcmp(argv[1], "from-floppy")) {
        fprintf(stderr, "sv-legacydma: unknown direction %s\n", argv[1]);
        return 2;
    }
    uint64_t phys = strtoull(argv[2], NULL, 16);
    unsigned lba = (unsigned)strtoul(argv[3], NULL, 0);
    unsigned sectors = (unsigned)strtoul(argv[4], NULL, 0);
    unsigned bytes = sectors * 512;
    if (lba % 36 || sectors == 0 || sectors > 36 || (phys & 0xFFFF) + bytes > 0x10000 || phys >> 32) {
        fprintf(stderr, "sv-legacydma: bad transfer (LBA %u, %u sectors, phys %llx)\n", lba, sectors,
                (unsigned long long)phys);
        return 2;
    }
    if (iopl(3) != 0) {
        perror("iopl");
        return 2;
    }
    unsigned cylinder = lba / 36;
    if (fdc_setup(cylinder))
        return 2;
    dma_setup(phys, bytes, to_floppy);
    // READ/WRITE DATA: MT | MFM (| SK for read), head 0 drive 0, C, H 0,
    // R 1, N 2 (512 B), EOT 18, GPL 0x1B, DTL 0xFF. The 8237's terminal
    // count ends the transfer after `bytes`.
    uint8_t cmd[9] = {(uint8_t)(to_floppy ? 0xC5 : 0xE6), 0x00, (uint8_t)cylinder, 0, 1, 2, 18, 0x1B, 0xFF};
    for (int i = 0; i < 9; ++i)
        if (fdc_out(cmd[i]))
            return 2;
    uint8_t res[7];
    for (int i = 0; i < 7; ++i)
        if (fdc_in(&res[i]))
            return 2;
    outb(0x06, DMA_MASK);
    outb(0x00, PAGE_HIGH2);
    outb(0x0C, DOR); // motor off
    printf("sv-legacydma %s phys %llx lba %u sectors %u: ST0 %02x ST1 %02x ST2 %02x C %u H %u R %u\n", argv[1],
           (unsigned long long)phys, lba, sectors, res[0], res[1], res[2], res[3], res[4], res[5]);
    return (res[0] & 0xC0) == 0 ? 0 : 1;
}

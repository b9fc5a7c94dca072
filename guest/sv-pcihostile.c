// sv-pcihostile: a hostile guest root against the PCI configuration rules
// (issue 7, classes 4 and 6). Through the PCIe ECAM window (mmap /dev/mem at
// the ACPI MCFG base; boot the guest with iomem=relaxed) and through
// 0xCF8/0xCFC with every size and byte lane (iopl), it sets Bus Master
// Enable on functions the hypervisor must keep from DMA (e.g. the q35 AHCI
// controller and an e1000 NIC), then reads the command register back. It
// also moves the Q35 ECAM window (PCIEXBAR) through both mechanisms and
// attacks through the new window, tries to place the window over RAM, and
// moves the PIIX IDE bus-master BAR through ECAM to check that the IDE
// mediator followed (the virtual PRD pointer register is seen at the new
// ports).
//
// usage: sv-pcihostile --expect blocked|open [--target VVVV:DDDD]...
//                      [--allowed VVVV:DDDD]... [--ide VVVV:DDDD] [--hostile-relocation]
//                      [--need-ecam]
//   blocked  under the hypervisor with a key: BME must stay 0 everywhere
//   open     control (no hypervisor): every attack must set BME
// Prints SV-RESULT pci-* lines; exit status 0 when all passed.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <unistd.h>

#define SV_RESULT_PREFIX ""
#include "sv-hw.h"

#define BME 0x4u
#define MAX_TARGETS 8

struct bdf {
    unsigned bus, dev, fn;
};

static int expect_blocked;
static uint64_t ecam_base;
static uint64_t ecam_len = 256u << 20;
static volatile uint8_t *ecam; // mapping of the current window (buses 0..)
static int memfd = -1;

// --- mechanism #1 -----------------------------------------------------------
static uint32_t cfg_addr(struct bdf d, unsigned reg) { return sv_pci_addr(d.bus, d.dev, d.fn, reg); }
static uint32_t cf8_read32(struct bdf d, unsigned reg) { return sv_pci_read32(d.bus, d.dev, d.fn, reg); }
static uint16_t command_of(struct bdf d) { return (uint16_t)cf8_read32(d, 4); }
static void cf8_write32(struct bdf d, unsigned reg, uint32_t v)
{
    outl(cfg_addr(d, reg), 0xCF8);
    outl(v, 0xCFC);
}
// Writes the command register with a plain 16-bit access (allowed: used to clear BME).
static void set_command(struct bdf d, uint16_t v)
{
    outl(cfg_addr(d, 4), 0xCF8);
    outw(v, 0xCFC);
}

// --- ECAM -------------------------------------------------------------------
static int map_ecam(uint64_t base, uint64_t len)
{
    if (ecam)
        munmap((void *)ecam, ecam_len);
    ecam = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, (off_t)base);
    if (ecam == MAP_FAILED) {
        ecam = NULL;
        return -1;
    }
    ecam_base = base;
    ecam_len = len;
    return 0;
}
static volatile uint8_t *ecam_at(struct bdf d, unsigned reg)
{
    return ecam + ((uint64_t)d.bus << 20 | d.dev << 15 | d.fn << 12 | reg);
}


// --- sysfs ------------------------------------------------------------------
static unsigned read_hex(const char *dir, const char *file)
{
    char path[512], buf[32] = {0};
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/%s", dir, file);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0xFFFFFFFFu;
    if (read(fd, buf, sizeof buf - 1) < 0)
        buf[0] = 0;
    close(fd);
    return (unsigned)strtoul(buf, NULL, 0);
}
// First function with vendor:device `id` ("VVVV:DDDD").
static int find_function(const char *id, struct bdf *out)
{
    unsigned v, d;
    if (sscanf(id, "%x:%x", &v, &d) != 2)
        return -1;
    DIR *dir = opendir("/sys/bus/pci/devices");
    if (!dir)
        return -1;
    struct dirent *e;
    int found = -1;
    while ((e = readdir(dir))) {
        unsigned dom, b, dv, f;
        if (sscanf(e->d_name, "%x:%x:%x.%x", &dom, &b, &dv, &f) != 4)
            continue;
        if (read_hex(e->d_name, "vendor") == v && read_hex(e->d_name, "device") == d) {
            out->bus = b;
            out->dev = dv;
            out->fn = f;
            found = 0;
            break;
        }
    }
    closedir(dir);
    return found;
}

// --- BME attacks ------------------------------------------------------------
typedef void (*attack_fn)(struct bdf d, uint16_t cmd);

static void ecam_dword(struct bdf d, uint16_t cmd)
{
    uint32_t v = *(volatile uint32_t *)ecam_at(d, 4);
    *(volatile uint32_t *)ecam_at(d, 4) = (v & 0xFFFF0000u) | cmd | BME;
}
static void ecam_word(struct bdf d, uint16_t cmd) { *(volatile uint16_t *)ecam_at(d, 4) = cmd | BME; }
static void ecam_byte(struct bdf d, uint16_t cmd) { *(volatile uint8_t *)ecam_at(d, 4) = (uint8_t)(cmd | BME); }
// STOSL (no REP): another instruction form drivers use on MMIO.
static void ecam_stos(struct bdf d, uint16_t cmd)
{
    void *p = (void *)ecam_at(d, 4);
    uint32_t v = (*(volatile uint32_t *)p & 0xFFFF0000u) | cmd | BME;
    __asm__ volatile("stosl" : "+D"(p) : "a"(v) : "memory");
}
static void ecam_qword(struct bdf d, uint16_t cmd)
{
    // 8 bytes at offset 0: vendor/device (read-only) and command/status.
    volatile uint64_t *p = (volatile uint64_t *)ecam_at(d, 0);
    uint64_t v = *(volatile uint32_t *)ecam_at(d, 0) | (uint64_t)(cmd | BME) << 32;
    __asm__ volatile("movq %1, (%0)" : : "r"(p), "r"(v) : "memory");
}
static void port_dword(struct bdf d, uint16_t cmd)
{
    uint32_t v = cf8_read32(d, 4);
    cf8_write32(d, 4, (v & 0xFFFF0000u) | cmd | BME);
}
static void port_word(struct bdf d, uint16_t cmd)
{
    outl(cfg_addr(d, 4), 0xCF8);
    outw(cmd | BME, 0xCFC);
}
static void port_byte(struct bdf d, uint16_t cmd)
{
    outl(cfg_addr(d, 4), 0xCF8);
    outb((uint8_t)(cmd | BME), 0xCFC);
}
// CONFIG_ADDRESS bits 30-24 are reserved; QEMU ignores them.
static void port_reserved_bits(struct bdf d, uint16_t cmd)
{
    outl(cfg_addr(d, 4) | 0x7F000000u, 0xCF8);
    outw(cmd | BME, 0xCFC);
}
// A 16-bit OUT at 0xCFB, covering 0xCFB and 0xCFC (QEMU 7.2 drops it; a
// chipset that splits it would put the high byte on 0xCFC).
static void port_straddle(struct bdf d, uint16_t cmd)
{
    outl(cfg_addr(d, 4), 0xCF8);
    outw((uint16_t)((cmd | BME) << 8 | 0x00), 0xCFB);
}
// REP OUTSB of the command byte to 0xCFC.
static void port_outsb(struct bdf d, uint16_t cmd)
{
    uint8_t b = (uint8_t)(cmd | BME);
    outl(cfg_addr(d, 4), 0xCF8);
    const void *src = &b;
    unsigned long count = 1;
    __asm__ volatile("rep outsb" : "+S"(src), "+c"(count) : "d"(0xCFC) : "memory");
}

struct attack {
    const char *name;
    attack_fn fn;
    int needs_ecam;
    int counts; // 0: QEMU itself drops it, so the control does not expect BME
};
static const struct attack attacks[] = {
    {"ecam-dword", ecam_dword, 1, 1},     {"ecam-word", ecam_word, 1, 1},
    {"ecam-byte", ecam_byte, 1, 1},       {"ecam-stos", ecam_stos, 1, 1},
    {"ecam-qword", ecam_qword, 1, 1},     {"cf8-dword", port_dword, 0, 1},
    {"cf8-word", port_word, 0, 1},        {"cf8-byte", port_byte, 0, 1},
    {"cf8-reserved", port_reserved_bits, 0, 1}, {"cf8-straddle-cfb", port_straddle, 0, 0},
    {"cf8-outsb", port_outsb, 0, 1},
};

// (8-byte ECAM stores: QEMU splits them into two dword config writes.)

// One attack on one function: clear BME, attack, read back through 0xCFC.
static void attack_one(const char *tag, struct bdf d, const struct attack *a)
{
    char name[96];
    snprintf(name, sizeof name, "pci-%s-%s", tag, a->name);
    uint16_t cmd = command_of(d) & ~BME;
    set_command(d, cmd);
    if (command_of(d) & BME) {
        sv_result(name, 0, "cannot clear BME on %02x:%02x.%x first", d.bus, d.dev, d.fn);
        return;
    }
    a->fn(d, cmd);
    const int bme = !!(command_of(d) & BME);
    if (expect_blocked)
        sv_result(name, !bme, "%02x:%02x.%x command %04x after the attack: BME %s", d.bus, d.dev, d.fn, command_of(d),
               bme ? "SET (DMA possible)" : "kept off");
    else if (a->counts)
        sv_result(name, bme, "control %02x:%02x.%x: BME %s without the hypervisor", d.bus, d.dev, d.fn,
               bme ? "set" : "NOT set (the attack does not work?)");
    else
        printf("SV-INFO %s control bme=%d (not counted: QEMU does not forward it)\n", name, bme);
    set_command(d, cmd);
}

static void attack_all(const char *tag, struct bdf d, int with_ecam)
{
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++)
        if (with_ecam || !attacks[i].needs_ecam)
            attack_one(tag, d, &attacks[i]);
}

// --- ECAM window relocation (Q35 PCIEXBAR at 0:0.0 offset 60h) --------------
static const struct bdf mch = {0, 0, 0};
static uint64_t pciexbar(void) { return cf8_read32(mch, 0x60) | (uint64_t)cf8_read32(mch, 0x64) << 32; }
static void set_pciexbar_cf8(uint64_t v)
{
    cf8_write32(mch, 0x64, (uint32_t)(v >> 32));
    cf8_write32(mch, 0x60, (uint32_t)v);
}

static int io_range_free(unsigned base, unsigned len)
{
    FILE *f = fopen("/proc/ioports", "r");
    if (!f)
        return 0;
    char line[256];
    int ok = 1;
    while (fgets(line, sizeof line, f)) {
        unsigned s, e;
        if (strstr(line, "PCI Bus")) // the bridge windows that contain everything
            continue;
        if (sscanf(line, " %x-%x", &s, &e) == 2 && s < base + len && base <= e)
            ok = 0;
    }
    fclose(f);
    return ok;
}

// Moves the IDE bus-master BAR (BAR4) through ECAM; the mediator must follow:
// the virtual PRD table pointer (BM+4) shows the guest's value at the new
// ports (the real register holds the hypervisor's shadow table address).
static void ide_bar_move(struct bdf ide)
{
    const uint32_t bar4 = cf8_read32(ide, 0x20);
    const unsigned old = bar4 & 0xFFFC;
    unsigned target = 0;
    for (unsigned c = 0xF000; c >= 0x1000; c -= 0x100)
        if (io_range_free(c, 16)) {
            target = c;
            break;
        }
    if (!(bar4 & 1) || !old || !target) {
        sv_result("pci-ide-bar-move-ecam", 0, "no I/O BAR4 (%08x) or no free ports", bar4);
        return;
    }
    const uint32_t guest_prd = 0x00123450;
    outl(guest_prd, old + 4);
    const uint32_t before = inl(old + 4);
    *(volatile uint32_t *)ecam_at(ide, 0x20) = target | 1;
    const uint32_t moved = cf8_read32(ide, 0x20);
    const uint32_t seen = inl(target + 4);
    cf8_write32(ide, 0x20, bar4); // back where the kernel put it
    const uint32_t back = inl(old + 4);
    sv_result("pci-ide-bar-move-ecam", (moved & 0xFFFC) == target && seen == before && back == before,
           "BAR4 %04x -> %04x via ECAM (reads %08x); PRD pointer %08x before, %08x at the new ports, %08x back home",
           old, target, moved, before, seen, back);
}

// Relocates the window (via `how`), attacks through the new one, restores.
static void relocated_attack(const char *how, struct bdf target, uint64_t new_base)
{
    const uint64_t orig = pciexbar();
    const uint64_t orig_base = ecam_base, orig_len = ecam_len;
    const uint64_t value = new_base | (2u << 1) | 1; // 64 MiB, enabled
    if (!strcmp(how, "ecam")) {
        // Through the window itself: high dword, then low.
        *(volatile uint32_t *)ecam_at(mch, 0x64) = (uint32_t)(value >> 32);
        *(volatile uint32_t *)ecam_at(mch, 0x60) = (uint32_t)value;
    } else {
        set_pciexbar_cf8(value);
    }
    char name[96];
    snprintf(name, sizeof name, "pci-pciexbar-move-%s", how);
    const uint64_t now = pciexbar();
    sv_result(name, now == value, "PCIEXBAR %llx -> %llx (wanted %llx)", (unsigned long long)orig,
           (unsigned long long)now, (unsigned long long)value);
    if (now == value && map_ecam(new_base, 64u << 20) == 0) {
        char tag[64];
        snprintf(tag, sizeof tag, "moved-%s", how);
        for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++)
            if (attacks[i].needs_ecam && attacks[i].counts)
                attack_one(tag, target, &attacks[i]);
    }
    set_pciexbar_cf8(orig);
    if (map_ecam(orig_base, orig_len))
        sv_result("pci-ecam-remap", 0, "cannot map the original window again");
}

// A window over RAM (or hypervisor memory) must be refused: old value kept.
static void hostile_relocation(void)
{
    const uint64_t orig = pciexbar();
    const uint64_t cases[][2] = {
        {0x10000000u | 1, 0}, // 256 MiB at 256 MiB: guest RAM
        {0x00000000u | 1, 0}, // at 0: RAM, BIOS area, hypervisor image
        {(orig & ~7ull) | (3u << 1) | 1, 0}, // reserved length encoding (QEMU would abort)
    };
    const char *names[] = {"pci-pciexbar-over-ram", "pci-pciexbar-over-hv", "pci-pciexbar-reserved-length"};
    for (int i = 0; i < 3; i++) {
        set_pciexbar_cf8(cases[i][0]);
        const uint64_t now = pciexbar();
        sv_result(names[i], now == orig, "write %llx: PCIEXBAR now %llx (was %llx)", (unsigned long long)cases[i][0],
               (unsigned long long)now, (unsigned long long)orig);
        if (now != orig)
            set_pciexbar_cf8(orig);
    }
}

int main(int argc, char **argv)
{
    const char *targets[MAX_TARGETS];
    const char *allowed[MAX_TARGETS];
    int ntargets = 0, nallowed = 0, hostile_reloc = 0, need_ecam = 0;
    const char *ide_id = NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--expect") && i + 1 < argc)
            expect_blocked = !strcmp(argv[++i], "blocked");
        else if (!strcmp(argv[i], "--target") && i + 1 < argc && ntargets < MAX_TARGETS)
            targets[ntargets++] = argv[++i];
        else if (!strcmp(argv[i], "--allowed") && i + 1 < argc && nallowed < MAX_TARGETS)
            allowed[nallowed++] = argv[++i];
        else if (!strcmp(argv[i], "--ide") && i + 1 < argc)
            ide_id = argv[++i];
        else if (!strcmp(argv[i], "--need-ecam"))
            need_ecam = 1;
        else if (!strcmp(argv[i], "--hostile-relocation"))
            hostile_reloc = 1;
        else {
            fprintf(stderr, "usage: sv-pcihostile --expect blocked|open [--target VVVV:DDDD]... [--ide VVVV:DDDD] "
                            "[--hostile-relocation]\n");
            return 2;
        }
    }
    if (iopl(3)) {
        sv_result("pci-setup", 0, "iopl: %s", strerror(errno));
        return 1;
    }
    memfd = open("/dev/mem", O_RDWR | O_SYNC);
    const uint64_t base = sv_mcfg_base();
    int have_ecam = base && memfd >= 0 && map_ecam(base, 256u << 20) == 0;
    if (!have_ecam && (need_ecam || base))
        sv_result("pci-setup-ecam", 0, "no ECAM mapping (MCFG base %llx, /dev/mem %s): boot with iomem=relaxed on q35",
               (unsigned long long)base, memfd < 0 ? strerror(errno) : "ok");
    else if (have_ecam)
        printf("SV-INFO pci-ecam base %llx\n", (unsigned long long)base);
    else
        printf("SV-INFO pci-ecam none (no ACPI MCFG): mechanism #1 only\n");
    struct bdf first = {0, 0, 0};
    for (int t = 0; t < ntargets; t++) {
        struct bdf d;
        char tag[32];
        if (find_function(targets[t], &d)) {
            sv_result("pci-setup-target", 0, "no PCI function %s", targets[t]);
            continue;
        }
        if (t == 0)
            first = d;
        snprintf(tag, sizeof tag, "%.4s%.4s", targets[t], targets[t] + 5);
        printf("SV-INFO pci-target %s at %02x:%02x.%x command %04x\n", targets[t], d.bus, d.dev, d.fn, command_of(d));
        attack_all(tag, d, have_ecam);
    }
    // Functions the configuration allows (allow_dma=): BME must work.
    for (int t = 0; t < nallowed; t++) {
        struct bdf d;
        char name[64];
        snprintf(name, sizeof name, "pci-allowed-%.4s%.4s", allowed[t], allowed[t] + 5);
        if (find_function(allowed[t], &d)) {
            sv_result(name, 0, "no PCI function %s", allowed[t]);
            continue;
        }
        uint16_t c = command_of(d) & ~BME;
        set_command(d, c);
        port_word(d, c);
        const int bme = !!(command_of(d) & BME);
        sv_result(name, bme, "%02x:%02x.%x: BME %s (allowed by allow_dma)", d.bus, d.dev, d.fn, bme ? "set" : "REFUSED");
        set_command(d, c);
    }
    if (ide_id && have_ecam) {
        struct bdf ide;
        if (find_function(ide_id, &ide)) {
            sv_result("pci-setup-ide", 0, "no IDE function %s", ide_id);
        } else {
            // The mediated IDE function keeps its BME (the mediator owns its DMA).
            uint16_t c = command_of(ide);
            ecam_word(ide, c);
            sv_result("pci-ide-bme-allowed", (command_of(ide) & BME) != 0, "IDE command %04x after setting BME via ECAM",
                   command_of(ide));
            set_command(ide, c);
            ide_bar_move(ide);
        }
    }
    if (have_ecam && ntargets && (pciexbar() & 1)) {
        relocated_attack("cf8", first, 0xE0000000u);
        relocated_attack("ecam", first, 0xE0000000u);
        if (hostile_reloc)
            hostile_relocation();
    }
    printf("SV-INFO pci-failures %d\n", sv_failures);
    return sv_failures ? 1 : 0;
}

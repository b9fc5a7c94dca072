
#include "core/guest_loader.hpp"
#include "core/linux_boot.hpp"
#include "lib/log.hpp"

extern "C" void* memmove(void*, const void*, size_t);

namespace sv {
namespace {
constexpr uint64_t boot_gdt_address = 0x6000;
char guest_cmdline[4096];

size_t length(const char* s) {
    size_t n = 0;
    while (s[n]) ++n;
    return n;
}

bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) { return a < b + blen && b < a + alen; }
} // namespace

Result<GuestEntry> stage_linux_guest(const BootInfo& boot, HypervisorMemory& hv, GuestMemory& phys) {
    if (boot.module_count < 1) {
        log::error("no guest kernel: pass the bzImage as the first multiboot module");
        return fail(Error::NotFound);
    }
    const BootModule& kernel = boot.modules[0];
    const BootModule* initrd = boot.module_count >= 2 ? &boot.modules[1] : nullptr;

    const char* args = module_arguments(kernel.string);
    const size_t args_len = length(args);
    if (args_len >= sizeof guest_cmdline) {
        log::error("guest command line too long ({} bytes)", args_len);
        return fail(Error::OutOfRange);
    }
    for (size_t i = 0; i <= args_len; ++i) guest_cmdline[i] = args[i]; // before low memory is reused

    const uint8_t* image = phys.map(kernel.start, kernel.size());
    if (!image) return fail(Error::Protected);
    Result<BzImageInfo> info = inspect_bzimage(std::span<const uint8_t>(image, kernel.size()));
    if (!info.ok()) {
        log::error("module 1 is not a Linux bzImage with boot protocol 2.10+ ({})", to_string(info.error()));
        return fail(info.error());
    }
    if (info.value().cmdline_size && args_len > info.value().cmdline_size) {
        log::error("guest command line longer than the kernel accepts ({})", info.value().cmdline_size);
        return fail(Error::OutOfRange);
    }
    const uint64_t initrd_size = initrd ? initrd->size() : 0;
    Result<LinuxPlacement> placed = place_linux(info.value(), initrd_size, hv.guest_map(), 4ull << 30);
    if (!placed.ok()) {
        log::error("not enough guest RAM to place kernel and initramfs");
        return fail(placed.error());
    }
    const LinuxPlacement& p = placed.value();
    // Order matters: modules sit where the loader put them, possibly where
    // the kernel will go. The initramfs moves first (high, clear of every
    // module), then the kernel (memmove: its source may overlap its target).
    if (initrd) {
        if (overlap(p.initrd, initrd_size, kernel.start, kernel.size())) return fail(Error::OutOfMemory);
        uint8_t* dst = phys.map(p.initrd, initrd_size);
        const uint8_t* src = phys.map(initrd->start, initrd_size);
        if (!dst || !src) return fail(Error::Protected);
        memmove(dst, src, initrd_size);
    }
    // The zero page is built from the image before the kernel copy can
    // overwrite the setup header.
    static uint8_t zero_page[4096];
    TRY(build_boot_params(std::span<uint8_t, 4096>(zero_page), std::span<const uint8_t>(image, kernel.size()), p,
                          hv.guest_map()));
    uint8_t* kdst = phys.map(p.kernel, info.value().kernel_size);
    if (!kdst) return fail(Error::Protected);
    memmove(kdst, image + info.value().setup_size, info.value().kernel_size);

    uint8_t* zp = phys.map(p.boot_params, 4096);
    uint8_t* cl = phys.map(p.cmdline, args_len + 1);
    uint8_t* gdt = phys.map(boot_gdt_address, 32);
    if (!zp || !cl || !gdt) return fail(Error::Protected);
    for (size_t i = 0; i < 4096; ++i) zp[i] = zero_page[i];
    for (size_t i = 0; i <= args_len; ++i) cl[i] = static_cast<uint8_t>(guest_cmdline[i]);
    // boot.rst: __BOOT_CS = 0x10 (flat 4 GiB code), __BOOT_DS = 0x18 (data).
    const uint64_t descriptors[4] = {0, 0, 0x00CF9A000000FFFFull, 0x00CF92000000FFFFull};
    for (size_t i = 0; i < 32; ++i) gdt[i] = static_cast<uint8_t>(descriptors[i / 8] >> (8 * (i % 8)));

    log::info("guest kernel: protocol {:x}, {} KiB at {:x}; initramfs {} KiB at {:x}", info.value().protocol,
              info.value().kernel_size / 1024, p.kernel, initrd_size / 1024, p.initrd);
    log::info("guest command line: {}", static_cast<const char*>(guest_cmdline));
    return GuestEntry{p.kernel, p.boot_params, boot_gdt_address, 31};
}

} // namespace sv

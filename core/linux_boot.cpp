#include "core/linux_boot.hpp"

namespace sv {
namespace {
namespace off = boot_params_offset;

template <class T> T get(std::span<const uint8_t> b, size_t at) {
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(b[at + i]) << (8 * i));
    return v;
}
template <class T> void put(std::span<uint8_t> b, size_t at, T v) {
    for (size_t i = 0; i < sizeof(T); ++i) b[at + i] = static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i));
}

constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
constexpr uint64_t default_load_address = 0x1000000; // LOAD_PHYSICAL_ADDR of x86_64 defconfig

// Low-memory spots for the loader's own structures: below the EBDA, above
// the real-mode IVT/BDA, inside RAM on every PC.
constexpr uint64_t zero_page_address = 0x7000;
constexpr uint64_t cmdline_address = 0x8000;
constexpr uint64_t cmdline_area = 0x2000;
} // namespace

Result<BzImageInfo> inspect_bzimage(std::span<const uint8_t> image) {
    if (image.size() < 0x300) return fail(Error::Malformed);
    if (get<uint16_t>(image, off::boot_flag) != 0xAA55) return fail(Error::Malformed);
    if (get<uint32_t>(image, off::header) != 0x53726448) return fail(Error::Malformed); // "HdrS"
    BzImageInfo info;
    info.protocol = get<uint16_t>(image, off::version);
    if (info.protocol < 0x020a) return fail(Error::Unsupported);
    unsigned sects = image[off::setup_sects];
    if (sects == 0) sects = 4; // boot.rst: "If this field is 0, the real value is 4."
    info.setup_size = (sects + 1) * 512ull;
    if (info.setup_size >= image.size()) return fail(Error::Malformed);
    info.kernel_size = image.size() - info.setup_size;
    info.relocatable = image[off::relocatable_kernel] != 0;
    info.kernel_alignment = get<uint32_t>(image, off::kernel_alignment);
    info.pref_address = get<uint64_t>(image, off::pref_address);
    info.init_size = get<uint32_t>(image, off::init_size);
    info.initrd_addr_max = get<uint32_t>(image, off::initrd_addr_max);
    info.cmdline_size = get<uint32_t>(image, off::cmdline_size);
    if (!(image[off::loadflags] & 0x01)) return fail(Error::Unsupported); // LOADED_HIGH: a bzImage
    if (info.kernel_alignment == 0 || (info.kernel_alignment & (info.kernel_alignment - 1)))
        return fail(Error::Malformed);
    if (info.init_size < info.kernel_size) info.init_size = static_cast<uint32_t>(info.kernel_size);
    return info;
}

Result<LinuxPlacement> place_linux(const BzImageInfo& info, uint64_t initrd_size,
                                   const MemoryMap& guest_map, uint64_t limit) {
    LinuxPlacement p;
    p.boot_params = zero_page_address;
    p.cmdline = cmdline_address;
    if (!guest_map.is_ram(zero_page_address, 0x1000) || !guest_map.is_ram(cmdline_address, cmdline_area))
        return fail(Error::OutOfMemory);

    uint64_t load = info.pref_address ? info.pref_address : default_load_address;
    if (info.relocatable) load = align_up(load, info.kernel_alignment);
    if (!guest_map.is_ram(load, info.init_size)) {
        // The preferred range is not all guest RAM: the hypervisor image
        // sits at 16 MiB (LOAD_PHYSICAL_ADDR, out of ISA DMA reach, issue
        // 7 class 5). A relocatable kernel (boot.rst: relocatable_kernel)
        // goes to the next aligned RAM range above it; others are refused.
        if (!info.relocatable) return fail(Error::OutOfMemory);
        uint64_t a = load;
        while (a + info.init_size <= limit && !guest_map.is_ram(a, info.init_size)) a += info.kernel_alignment;
        if (a + info.init_size > limit) return fail(Error::OutOfMemory);
        load = a;
    }
    p.kernel = load;

    p.initrd_size = initrd_size;
    if (initrd_size) {
        uint64_t max = info.initrd_addr_max ? static_cast<uint64_t>(info.initrd_addr_max) + 1 : limit;
        if (max > limit) max = limit;
        p.initrd = guest_map.find_top_ram(align_up(initrd_size, 4096), 4096, max);
        if (p.initrd == 0 || p.initrd < load + info.init_size) return fail(Error::OutOfMemory);
    }
    return p;
}

Result<void> build_boot_params(std::span<uint8_t, 4096> zp, std::span<const uint8_t> image,
                               const LinuxPlacement& p, const MemoryMap& guest_map) {
    for (auto& b : zp) b = 0;
    if (image.size() < 0x202) return fail(Error::Malformed);
    // boot.rst: the setup header runs from 0x1f1 to 0x202 + the byte at 0x201.
    const size_t header_end = 0x202 + image[0x201];
    if (header_end > image.size() || header_end > 0x290) return fail(Error::Malformed);
    for (size_t i = off::setup_sects; i < header_end; ++i) zp[i] = image[i];

    zp[off::type_of_loader] = 0xFF; // "undefined" loader ID
    zp[off::loadflags] = static_cast<uint8_t>(zp[off::loadflags] | 0x01); // LOADED_HIGH
    put<uint32_t>(zp, off::code32_start, static_cast<uint32_t>(p.kernel));
    put<uint32_t>(zp, off::ramdisk_image, static_cast<uint32_t>(p.initrd));
    put<uint32_t>(zp, off::ramdisk_size, static_cast<uint32_t>(p.initrd_size));
    put<uint32_t>(zp, off::ext_ramdisk_image, static_cast<uint32_t>(p.initrd >> 32));
    put<uint32_t>(zp, off::ext_ramdisk_size, static_cast<uint32_t>(p.initrd_size >> 32));
    put<uint32_t>(zp, off::cmd_line_ptr, static_cast<uint32_t>(p.cmdline));
    put<uint32_t>(zp, off::ext_cmd_line_ptr, static_cast<uint32_t>(p.cmdline >> 32));

    if (guest_map.size() > off::e820_max_entries) return fail(Error::OutOfRange);
    for (size_t i = 0; i < guest_map.size(); ++i) {
        const size_t at = off::e820_table + 20 * i;
        put<uint64_t>(zp, at, guest_map[i].base);
        put<uint64_t>(zp, at + 8, guest_map[i].length);
        put<uint32_t>(zp, at + 16, static_cast<uint32_t>(guest_map[i].type));
    }
    zp[off::e820_entries] = static_cast<uint8_t>(guest_map.size());
    return {};
}

} // namespace sv

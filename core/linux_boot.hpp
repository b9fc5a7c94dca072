// Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 32-bit entry:
// the hypervisor is the boot loader. It copies the protected-mode kernel out
// of the bzImage, builds the "zero page" (struct boot_params) with the setup
// header, command line, initramfs location and the e820 map the guest may use,
// and starts the guest at code32_start in flat 32-bit protected mode with
// ESI = &boot_params.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/memory_map.hpp"
#include "lib/result.hpp"

namespace sv {

struct BzImageInfo {
    uint16_t protocol = 0;        // e.g. 0x020f
    size_t setup_size = 0;        // bytes before the protected-mode kernel
    size_t kernel_size = 0;       // protected-mode kernel bytes
    bool relocatable = false;
    uint32_t kernel_alignment = 0;
    uint64_t pref_address = 0;
    uint32_t init_size = 0;       // memory the kernel needs from its load address
    uint32_t initrd_addr_max = 0;
    uint32_t cmdline_size = 0;    // max command line length without the NUL
};

// Validates the setup header ("HdrS", boot.rst "The real-mode kernel header").
// Protocol 2.10+ is required (relocatable kernels, init_size).
[[nodiscard]] Result<BzImageInfo> inspect_bzimage(std::span<const uint8_t> image);

struct LinuxPlacement {
    uint64_t kernel = 0;      // where the protected-mode kernel is copied (code32_start)
    uint64_t initrd = 0;
    uint64_t initrd_size = 0;
    uint64_t cmdline = 0;     // physical address of the NUL-terminated command line
    uint64_t boot_params = 0; // physical address of the zero page
};

// Chooses where kernel and initramfs go in the guest's RAM: the kernel at its
// preferred address (aligned), the initramfs as high as allowed below `limit`.
[[nodiscard]] Result<LinuxPlacement> place_linux(const BzImageInfo& info, uint64_t initrd_size,
                                                 const MemoryMap& guest_map, uint64_t limit);

// Fills the 4 KiB zero page: setup header copied from the image, loader
// fields set, e820 table from `guest_map`.
[[nodiscard]] Result<void> build_boot_params(std::span<uint8_t, 4096> zero_page,
                                             std::span<const uint8_t> image,
                                             const LinuxPlacement& placement,
                                             const MemoryMap& guest_map);

namespace boot_params_offset { // boot.rst / zero-page.rst
constexpr size_t e820_entries = 0x1e8;
constexpr size_t setup_sects = 0x1f1;
constexpr size_t boot_flag = 0x1fe;
constexpr size_t header = 0x202;
constexpr size_t version = 0x206;
constexpr size_t type_of_loader = 0x210;
constexpr size_t loadflags = 0x211;
constexpr size_t code32_start = 0x214;
constexpr size_t ramdisk_image = 0x218;
constexpr size_t ramdisk_size = 0x21c;
constexpr size_t cmd_line_ptr = 0x228;
constexpr size_t initrd_addr_max = 0x22c;
constexpr size_t kernel_alignment = 0x230;
constexpr size_t relocatable_kernel = 0x234;
constexpr size_t cmdline_size = 0x238;
constexpr size_t pref_address = 0x258;
constexpr size_t init_size = 0x260;
constexpr size_t ext_ramdisk_image = 0x0c0;
constexpr size_t ext_ramdisk_size = 0x0c4;
constexpr size_t ext_cmd_line_ptr = 0x0c8;
constexpr size_t e820_table = 0x2d0;
constexpr size_t e820_max_entries = 128;
} // namespace boot_params_offset

} // namespace sv

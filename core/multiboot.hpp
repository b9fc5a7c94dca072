// Parses the boot information a Multiboot 1 or Multiboot 2 loader hands us:
// memory map, modules (guest kernel, initramfs, key) and our command line.
// Every pointer in the structures is physical; they are read through
// GuestMemory so a corrupt structure fails cleanly instead of faulting.
// Multiboot 0.6.96 §3.3; Multiboot2 2.0 §3.6.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/guest_memory.hpp"
#include "core/memory_map.hpp"
#include "lib/result.hpp"

namespace sv {

constexpr uint32_t multiboot1_boot_magic = 0x2BADB002;
constexpr uint32_t multiboot2_boot_magic = 0x36D76289;

// Module strings are "<name> <args...>" (QEMU puts the path first, a GRUB
// config repeats a name): the arguments start after the first word.
const char* module_arguments(const char* module_string);
// Does `text` start with the whole word `word` (followed by a space or NUL)?
bool starts_with_word(const char* text, const char* word);

struct BootModule {
    uint64_t start = 0;
    uint64_t end = 0;          // exclusive
    const char* string = "";   // loader's module string ("path args..."), NUL-terminated
    uint64_t size() const { return end - start; }
};

struct BootInfo {
    static constexpr size_t max_modules = 8;
    MemoryMap memory;
    BootModule modules[max_modules];
    size_t module_count = 0;
    const char* cmdline = "";
    uint64_t info_start = 0, info_end = 0; // the info structure itself
};

// `info` is the physical address from EBX. Strings are returned as pointers
// into the loader's memory (via GuestMemory::map) and must be copied before
// that memory is handed to the guest.
[[nodiscard]] Result<void> parse_multiboot(uint32_t magic, uint64_t info, GuestMemory& mem,
                                           BootInfo& out);

} // namespace sv

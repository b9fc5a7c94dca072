#include "platform/suspend.hpp"

namespace sv::suspend {
namespace {
constexpr uint64_t page_bytes = 4096;
constexpr uint64_t real_mode_limit = 1ull << 20;
constexpr uint64_t conventional_top = 0xA0000; // 640 KiB: EBDA/VGA/BIOS above
} // namespace

Result<RealModeEntry> guest_wake_entry(const acpi::WakingVectors& v) {
    // §5.2.10: a non-zero X_Firmware_Waking_Vector takes precedence and means
    // a 32-bit protected-mode (or, with 64BIT_WAKE_F, 64-bit) entry.
    if (v.version >= 1 && v.x_firmware) return fail(Error::Unsupported);
    if (!v.firmware) return fail(Error::NotFound);
    if (v.firmware >= real_mode_limit) return fail(Error::OutOfRange);
    return RealModeEntry{static_cast<uint16_t>(v.firmware >> 4), static_cast<uint16_t>(v.firmware & 0xF)};
}

uint64_t pick_trampoline_page(const MemoryMap& map) {
    for (uint64_t pa = page_bytes; pa + page_bytes <= conventional_top; pa += page_bytes)
        if (map.is_ram(pa, page_bytes)) return pa;
    return 0;
}

Result<void> BorrowedPage::borrow(GuestMemory& memory, uint64_t pa, std::span<const uint8_t> code) {
    if (borrowed_) return fail(Error::InvalidArgument); // one loan at a time
    if ((pa & (page_bytes - 1)) || code.size() > size) return fail(Error::InvalidArgument);
    uint8_t* page = memory.map(pa, size);
    if (!page) return fail(Error::Protected);
    for (size_t i = 0; i < size; ++i) saved_[i] = page[i];
    for (size_t i = 0; i < size; ++i) page[i] = i < code.size() ? code[i] : 0;
    pa_ = pa;
    borrowed_ = true;
    return {};
}

uint8_t* BorrowedPage::contents(GuestMemory& memory) const {
    return borrowed_ ? memory.map(pa_, size) : nullptr;
}

bool BorrowedPage::restore(GuestMemory& memory) {
    if (!borrowed_) return false;
    uint8_t* page = memory.map(pa_, size);
    if (page)
        for (size_t i = 0; i < size; ++i) page[i] = saved_[i];
    for (size_t i = 0; i < size; ++i) saved_[i] = 0;
    borrowed_ = false;
    return page != nullptr;
}

} // namespace sv::suspend

#include "virt/vmx/vmx_bitmaps.hpp"

namespace sv::vmx {
namespace {
constexpr uint32_t low_first = 0x00000000, low_last = 0x00001FFF;
constexpr uint32_t high_first = 0xC0000000, high_last = 0xC0001FFF;
constexpr size_t read_low = 0, read_high = 1024, write_low = 2048, write_high = 3072;

// Byte offset of `msr`'s bit within the read (or write) half, or -1.
long msr_offset(uint32_t msr, bool write) {
    if (msr <= low_last) return static_cast<long>((write ? write_low : read_low) + (msr - low_first) / 8);
    if (msr >= high_first && msr <= high_last)
        return static_cast<long>((write ? write_high : read_high) + (msr - high_first) / 8);
    return -1;
}
} // namespace

void trap_port(uint8_t* io_bitmaps, uint16_t port) {
    __atomic_fetch_or(&io_bitmaps[port / 8], static_cast<uint8_t>(1u << (port % 8)), __ATOMIC_SEQ_CST);
}

bool port_trapped(const uint8_t* io_bitmaps, uint16_t port) {
    return __atomic_load_n(&io_bitmaps[port / 8], __ATOMIC_SEQ_CST) & (1u << (port % 8));
}

bool trap_msr(uint8_t* msr_bitmap, uint32_t msr) {
    const long r = msr_offset(msr, false);
    if (r < 0) return false;
    const long w = msr_offset(msr, true);
    msr_bitmap[r] |= static_cast<uint8_t>(1u << (msr % 8));
    msr_bitmap[w] |= static_cast<uint8_t>(1u << (msr % 8));
    return true;
}

bool msr_trapped(const uint8_t* msr_bitmap, uint32_t msr, bool write) {
    const long o = msr_offset(msr, write);
    if (o < 0) return true; // outside the bitmap: always exits
    return msr_bitmap[o] & (1u << (msr % 8));
}

} // namespace sv::vmx

#include "virt/svm/permission_maps.hpp"

namespace sv::svm {
namespace {
struct MsrpmRange {
    uint32_t first_msr;
    uint32_t byte_offset;
};
constexpr MsrpmRange msrpm_ranges[] = {{0x00000000, 0x000}, {0xC0000000, 0x800}, {0xC0010000, 0x1000}};
constexpr uint32_t msrs_per_range = 0x2000; // 2 KiB * 8 bits / 2 bits per MSR
} // namespace

void trap_port(uint8_t* iopm, uint16_t port) {
    __atomic_fetch_or(&iopm[port / 8], static_cast<uint8_t>(1u << (port % 8)), __ATOMIC_RELAXED);
}

bool trap_msr(uint8_t* msrpm, uint32_t msr) {
    for (const MsrpmRange& r : msrpm_ranges) {
        if (msr < r.first_msr || msr - r.first_msr >= msrs_per_range) continue;
        const uint32_t bit = (msr - r.first_msr) * 2;
        msrpm[r.byte_offset + bit / 8] |= static_cast<uint8_t>(3u << (bit % 8));
        return true;
    }
    return false;
}

} // namespace sv::svm

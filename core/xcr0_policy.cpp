#include "core/xcr0_policy.hpp"

namespace sv {
namespace {
// All-or-nothing groups of XCR0 bits (SDM vol. 1 §13.3).
bool group_consistent(uint64_t value, uint64_t group) {
    const uint64_t bits = value & group;
    return bits == 0 || bits == group;
}
} // namespace

XsetbvFault check_xsetbv(uint64_t cr4, unsigned cpl, uint32_t ecx, uint64_t value,
                         uint64_t supported) {
    if (!(cr4 & kCr4Osxsave)) return XsetbvFault::InvalidOpcode;
    if (cpl != 0 || ecx != 0) return XsetbvFault::GeneralProtection;
    if (!(value & xcr0::kX87)) return XsetbvFault::GeneralProtection;
    if (value & ~supported) return XsetbvFault::GeneralProtection;
    if ((value & xcr0::kAvx) && !(value & xcr0::kSse)) return XsetbvFault::GeneralProtection;
    if (!group_consistent(value, xcr0::kAvx512)) return XsetbvFault::GeneralProtection;
    if ((value & xcr0::kAvx512) && (value & (xcr0::kSse | xcr0::kAvx)) != (xcr0::kSse | xcr0::kAvx))
        return XsetbvFault::GeneralProtection;
    if (!group_consistent(value, xcr0::kMpx)) return XsetbvFault::GeneralProtection;
    if (!group_consistent(value, xcr0::kAmx)) return XsetbvFault::GeneralProtection;
    return XsetbvFault::None;
}

} // namespace sv

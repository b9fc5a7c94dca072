// Segment access rights in the VMCS format (Intel SDM vol. 3C "Guest
// Register State": type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15,
// unusable 16) and the packed form VcpuState uses (AMD VMCB attributes:
// bits 7:0 the same, AVL/L/D/B/G in 11:8 instead of 15:12).
#pragma once

#include <cstdint>

namespace sv::vmx {

constexpr uint32_t access_rights_unusable = 1u << 16;

constexpr uint32_t to_vmx_access_rights(uint16_t packed) {
    return (packed & 0xffu) | (static_cast<uint32_t>(packed & 0xf00u) << 4);
}
constexpr uint16_t from_vmx_access_rights(uint32_t ar) {
    if (ar & access_rights_unusable) return 0;
    return static_cast<uint16_t>((ar & 0xffu) | ((ar >> 4) & 0xf00u));
}

// Real-mode segment registers after INIT / at a waking vector, for
// unrestricted guest (SDM vol. 3A Table 9-1; vol. 3C "Checks on Guest
// Segment Registers": accessed code/data, present, S=1).
constexpr uint32_t ar_real_code = 0x9b;
constexpr uint32_t ar_real_data = 0x93;
constexpr uint32_t ar_tss_busy32 = 0x8b;
constexpr uint32_t ar_ldt = 0x82;

} // namespace sv::vmx

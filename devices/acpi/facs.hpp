// The Firmware ACPI Control Structure (ACPI 6.4 §5.2.10): where the OS leaves
// its waking vector before it sleeps, and where the firmware looks for it on
// the way back from S3 (§7.4.2, §16.3). The FADT names it: FIRMWARE_CTRL at
// offset 36 (32-bit), X_FIRMWARE_CTRL at offset 132 (64-bit, preferred when
// non-zero, FADT revision 2+, §5.2.9 Table 5.9).
#pragma once

#include <cstdint>

#include "core/guest_memory.hpp"
#include "lib/result.hpp"

namespace sv::acpi {

namespace facs {
// ACPI 6.4 §5.2.10 Table 5.14, byte offsets.
constexpr uint32_t signature = 0;
constexpr uint32_t length = 4;
constexpr uint32_t firmware_waking_vector = 12; // u32, real-mode entry
constexpr uint32_t flags = 20;                  // u32
constexpr uint32_t x_firmware_waking_vector = 24; // u64, version 1+
constexpr uint32_t version = 32;                // u8
constexpr uint32_t ospm_flags = 36;             // u32, version 1+
constexpr uint32_t min_length = 64;
// Flags: S4BIOS_F (bit 0), 64BIT_WAKE_SUPPORTED_F (bit 1).
constexpr uint32_t flag_64bit_wake_supported = 1u << 1;
// OSPM flags: 64BIT_WAKE_F (bit 0): the OS wants the x vector in long mode.
constexpr uint32_t ospm_64bit_wake = 1u << 0;
} // namespace facs

struct WakingVectors {
    uint32_t firmware = 0;   // real mode: CS = firmware >> 4, IP = firmware & 0xF
    uint64_t x_firmware = 0; // 0: not used; else a 32-bit protected/64-bit entry
    uint32_t flags = 0;
    uint32_t ospm_flags = 0;
    uint8_t version = 0;
};

// Physical address of the FACS named by the FADT; refused when absent, not
// "FACS", or shorter than the 64 bytes ACPI requires.
[[nodiscard]] Result<uint64_t> find_facs(GuestMemory& memory);

[[nodiscard]] Result<WakingVectors> read_waking_vectors(GuestMemory& memory, uint64_t facs_address);
// Sets both vectors (x only on a version 1+ FACS) and returns what was there.
[[nodiscard]] Result<WakingVectors> exchange_waking_vectors(GuestMemory& memory, uint64_t facs_address,
                                                            const WakingVectors& install);

// Everything a BIOS's resume path may read to find the waking vector: the
// RSDP, the RSDT and its entries (address and signature of each), and the
// FADT's FACS pointers. SeaBIOS takes the first RSDT entry signed "FACP"
// without a checksum test and jumps to its FIRMWARE_CTRL's vector, so the
// guest could redirect it by editing any of these (they live in guest-
// writable memory). Taken at boot, before the guest ran, and compared at
// the sleep request: any difference and S3 is refused.
struct WakePath {
    static constexpr size_t max_entries = 32;
    uint64_t rsdp = 0;
    uint32_t rsdt = 0;
    uint32_t rsdt_length = 0;
    size_t count = 0;
    uint32_t entry[max_entries] = {};
    uint32_t signature[max_entries] = {};
    uint32_t firmware_ctrl = 0;   // of the first "FACP" entry
    uint64_t x_firmware_ctrl = 0; // ditto, 0 when the FADT is too short
    bool operator==(const WakePath&) const = default;
};
[[nodiscard]] Result<WakePath> read_wake_path(GuestMemory& memory);

} // namespace sv::acpi

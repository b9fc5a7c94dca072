// Guest page-table walker: translates a guest linear address to a
// guest-physical address by reading the guest's own paging structures through
// sv::GuestMemory, and copies bytes to/from guest linear ranges that may cross
// pages (instruction fetch, string I/O emulation).
//
// Pure logic, no privileged instructions: runs in the hypervisor and in host
// unit tests over a simulated RAM array. Every table pointer is a guest value
// and therefore hostile; each is bounds-checked by GuestMemory::map().
//
// References: Intel SDM vol. 3A ch. 4 "Paging" (4.3 32-bit, 4.4 PAE,
// 4.5 4-level and 5-level, 4.6 access rights, 4.8 accessed and dirty flags);
// AMD APM vol. 2 ch. 5 "Page Translation and Protection".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/guest_memory.hpp"
#include "lib/result.hpp"

namespace sv::x86 {

// The guest control registers that decide how linear addresses translate.
// efer is the guest's EFER MSR (LMA, NXE matter here).
struct GuestPagingState {
    uint64_t cr0, cr3, cr4, efer;
};

// SDM vol. 3A 4.1.1 table 4-1: which paging mode CR0/CR4/EFER select.
enum class PagingMode : uint8_t {
    Disabled,   // CR0.PG = 0: linear == physical
    Bits32,     // CR4.PAE = 0: 2-level, 4 KiB or 4 MiB (CR4.PSE) pages
    Pae,        // CR4.PAE = 1, EFER.LMA = 0: 3-level, 4 KiB or 2 MiB pages
    FourLevel,  // EFER.LMA = 1, CR4.LA57 = 0: 4 KiB, 2 MiB, 1 GiB pages
    FiveLevel,  // EFER.LMA = 1, CR4.LA57 = 1
};

[[nodiscard]] PagingMode paging_mode(const GuestPagingState& state);

// Result of a successful walk. Rights are the combination over all levels
// (SDM vol. 3A 4.6.1): writable/user only if every level allows it,
// no_execute if any level sets XD (and EFER.NXE is on).
struct Translation {
    uint64_t gpa = 0;
    uint64_t page_size = 0; // 4 KiB, 2 MiB, 4 MiB or 1 GiB
    bool present = false;
    bool writable = false;
    bool user = false;
    bool no_execute = false;
};

// Widest guest-physical address the walker accepts; bits above it in a paging
// entry are reserved (SDM vol. 3A 4.1.4: MAXPHYADDR, at most 52).
inline constexpr unsigned kDefaultMaxPhysAddrBits = 52;

// Walk the guest's tables without side effects.
// Errors:
//   NotFound        - an entry on the path is not present (guest #PF, P=0)
//   Malformed       - reserved bit set in an entry or CR3 (guest #PF, RSVD=1)
//   Protected       - a paging structure lies outside guest RAM
//   InvalidArgument - non-canonical linear address in long mode (guest #GP)
[[nodiscard]] Result<Translation> translate(const GuestPagingState& state, GuestMemory& memory,
                                            uint64_t linear,
                                            unsigned max_phys_bits = kDefaultMaxPhysAddrBits);

enum class AccessType : uint8_t { Read, Write, Execute };

// What the emulated instruction is doing: the access type and whether it runs
// at CPL 3 (user) or CPL 0-2 (supervisor).
struct AccessIntent {
    AccessType type = AccessType::Read;
    bool user_mode = false;
};

// SDM vol. 3A 4.6.1: does the translation permit this access? Supervisor
// writes to read-only pages are allowed only when CR0.WP = 0; user accesses
// need U/S at every level; fetches need XD clear. SMEP/SMAP are not modelled
// (the emulated accesses are the guest's own explicit ones).
[[nodiscard]] bool permits(const Translation& translation, const AccessIntent& intent,
                           const GuestPagingState& state);

// translate() + permits() + set the accessed (and, for writes, dirty) flags in
// the guest's entries as the CPU would (SDM vol. 3A 4.8), atomically so a
// second vCPU editing the same entry loses nothing.
// Extra error: InvalidArgument when the rights refuse the access.
[[nodiscard]] Result<Translation> translate_for_access(
    const GuestPagingState& state, GuestMemory& memory, uint64_t linear, const AccessIntent& intent,
    unsigned max_phys_bits = kDefaultMaxPhysAddrBits);

// Largest single linear copy; larger requests are refused (OutOfRange) so a
// guest-chosen count cannot keep the hypervisor busy. Callers split bigger
// string I/O into chunks.
inline constexpr size_t kMaxLinearCopy = 64 * 1024;

// Copy guest linear [linear, linear + out.size()) into out, page by page.
// All or nothing: on error the contents of out are unspecified and no guest
// byte was changed. A data page outside guest RAM (e.g. MMIO) gives Protected.
[[nodiscard]] Result<void> read_linear(const GuestPagingState& state, GuestMemory& memory,
                                       uint64_t linear, std::span<uint8_t> out,
                                       const AccessIntent& intent = {});

// Copy in into guest linear memory. Every page is translated and checked for
// write permission before the first byte is written, so a fault on the second
// page leaves the first untouched (as a faulting instruction would).
[[nodiscard]] Result<void> write_linear(const GuestPagingState& state, GuestMemory& memory,
                                        uint64_t linear, std::span<const uint8_t> in,
                                        bool user_mode = false);

// Instruction fetch: copy up to out.size() bytes (at most 15 are ever needed)
// and stop at the first page that cannot be fetched. Returns how many bytes
// were copied; fails only when not even the first byte is readable. The
// decoder then reports a truncated instruction if the bytes were not enough.
[[nodiscard]] Result<size_t> fetch_linear(const GuestPagingState& state, GuestMemory& memory,
                                          uint64_t linear, std::span<uint8_t> out,
                                          bool user_mode = false);

} // namespace sv::x86

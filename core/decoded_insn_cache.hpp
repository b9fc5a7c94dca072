// A small per-vCPU cache of the instructions trapped MMIO accesses fault on.
// Without decode assists (QEMU TCG) every trapped access re-fetches its
// instruction: a four-level guest page walk (setting accessed bits), the
// fetch, the decode. A driver touches its registers from a handful of
// instructions, so the cache keeps the decoded form keyed by the guest's CR3,
// the linear RIP and the CPU mode, and validates a hit by comparing the
// instruction's bytes at the guest-physical address they were fetched from.
//
// Why this is safe (docs/design.md §3.3): the cache only decides *which*
// instruction is emulated, never where it goes. Every memory operand is still
// translated through the guest's page tables at emulation time, and every
// access still goes through the trapped range's mediator or GuestMemory
// (guest RAM only). A guest that remaps its own code page under the same CR3
// while the old page keeps the old bytes gets the old instruction emulated:
// it can only confuse itself. Only supervisor-mode (CPL 0) code is cached,
// so a user program's instruction is always fetched through the page tables
// as they are now (one process cannot make the kernel emulate stale code on
// its behalf), and only instructions wholly inside one page.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/guest_memory.hpp"
#include "core/vcpu_state.hpp"
#include "arch/x86/insn_decoder.hpp"
#include "lib/result.hpp"

namespace sv {

struct DecodedInsnCacheStats {
    uint64_t hits = 0, misses = 0;
};

class DecodedInsnCache {
  public:
    static constexpr size_t kEntries = 8;

    // The instruction at CS:RIP: a validated cache entry, else fetched and
    // decoded (guest_cpu::decode_at_rip semantics) and, when it qualifies,
    // cached.
    Result<x86::Instruction> decode_at_rip(const VcpuState& s, GuestMemory& memory);
    void clear();
    const DecodedInsnCacheStats& stats() const { return stats_; }

  private:
    struct Entry {
        bool valid = false;
        uint8_t mode = 0;
        uint64_t cr3 = 0, linear = 0, gpa = 0;
        uint8_t bytes[x86::kMaxInstructionLength] = {};
        x86::Instruction insn;
    };
    Entry entries_[kEntries];
    size_t next_ = 0; // round-robin replacement
    DecodedInsnCacheStats stats_;
};

} // namespace sv

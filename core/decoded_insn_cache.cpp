// Decoded-instruction cache for trapped MMIO (see decoded_insn_cache.hpp).
#include "core/decoded_insn_cache.hpp"

#include <cstring>

#include "core/guest_cpu.hpp"
#include "arch/x86/guest_page_walk.hpp"

namespace sv {
namespace {
constexpr uint64_t kPageSize = 4096;
}

void DecodedInsnCache::clear() {
    for (Entry& e : entries_) e.valid = false;
}

Result<x86::Instruction> DecodedInsnCache::decode_at_rip(const VcpuState& s, GuestMemory& memory) {
    const uint64_t linear = s.cs.base + s.rip;
    const x86::CpuMode mode = guest_cpu::cpu_mode(s);
    const bool user = guest_cpu::user_mode(s);
    const uint8_t mode_key = static_cast<uint8_t>(mode);
    if (!user) {
        for (Entry& e : entries_) {
            if (!e.valid || e.linear != linear || e.cr3 != s.cr3 || e.mode != mode_key) continue;
            const uint8_t* now = memory.map(e.gpa, e.insn.length);
            if (now && std::memcmp(now, e.bytes, e.insn.length) == 0) {
                ++stats_.hits;
                return e.insn;
            }
            e.valid = false; // the code changed: decode afresh below
            break;
        }
    }
    ++stats_.misses;
    uint8_t bytes[x86::kMaxInstructionLength];
    const x86::GuestPagingState ps = guest_cpu::paging(s);
    const size_t got = TRY(x86::fetch_linear(ps, memory, linear, bytes, user));
    Result<x86::Instruction> insn = x86::decode(std::span<const uint8_t>(bytes, got), mode);
    if (!insn.ok() || user) return insn;
    const uint8_t length = insn.value().length;
    if (length == 0 || length > sizeof(bytes) || (linear & (kPageSize - 1)) + length > kPageSize) return insn;
    // Where those bytes live (no side effects: fetch_linear set the accessed
    // bits already); an instruction not wholly in one page is not cached.
    Result<x86::Translation> t = x86::translate(ps, memory, linear);
    if (!t.ok()) return insn;
    const uint64_t gpa = t.value().gpa;
    const uint8_t* at = memory.map(gpa, length);
    if (!at || std::memcmp(at, bytes, length) != 0) return insn;
    Entry& e = entries_[next_];
    next_ = (next_ + 1) % kEntries;
    e.valid = true;
    e.mode = mode_key;
    e.cr3 = s.cr3;
    e.linear = linear;
    e.gpa = gpa;
    std::memcpy(e.bytes, bytes, length);
    e.insn = insn.value();
    return insn;
}

} // namespace sv

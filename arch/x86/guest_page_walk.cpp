// Guest page-table walker (see guest_page_walk.hpp). One generic walk over a
// per-mode list of levels; the differences between 32-bit, PAE, 4-level and
// 5-level paging are data (entry size, index width, reserved-bit masks).
// Intel SDM vol. 3A ch. 4; AMD APM vol. 2 §5.2-5.6.
#include "arch/x86/guest_page_walk.hpp"

namespace sv::x86 {
namespace {

// Control-register and EFER bits (SDM vol. 3A 2.5, 2.2.1; APM vol. 2 §3.1).
constexpr uint64_t kCr0WriteProtect = 1ull << 16;
constexpr uint64_t kCr0Paging = 1ull << 31;
constexpr uint64_t kCr4PageSizeExt = 1ull << 4;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kCr4La57 = 1ull << 12;
constexpr uint64_t kEferLongActive = 1ull << 10;
constexpr uint64_t kEferNoExecuteEnable = 1ull << 11;

// Paging-entry bits common to all modes (SDM vol. 3A tables 4-4 .. 4-20).
constexpr uint64_t kEntryPresent = 1ull << 0;
constexpr uint64_t kEntryWritable = 1ull << 1;
constexpr uint64_t kEntryUser = 1ull << 2;
constexpr uint8_t kEntryAccessed = 1u << 5;
constexpr uint8_t kEntryDirty = 1u << 6;
constexpr uint64_t kEntryPageSize = 1ull << 7;
constexpr uint64_t kEntryNoExecute = 1ull << 63;

constexpr uint64_t kPage4K = 1ull << 12;
constexpr uint64_t kLegacyLinearMask = 0xffff'ffffull; // non-long modes: 32-bit linear

constexpr uint64_t bits(unsigned high, unsigned low) { // mask of bits high..low inclusive
    return (high >= 63 ? ~0ull : ((1ull << (high + 1)) - 1)) & ~((1ull << low) - 1);
}

// One level of a paging hierarchy.
struct Level {
    uint8_t index_shift;      // linear-address bit where this level's index starts
    uint8_t index_bits;       // 10 (32-bit paging), 9 (PAE/long), 2 (PAE PDPT)
    uint8_t entry_size;       // 4 or 8 bytes
    bool may_map_page;        // PS=1 allowed here (size = 1 << index_shift)
    bool has_rights;          // R/W, U/S, XD, A present (not PAE PDPTEs)
    uint64_t reserved;        // bits that must be 0 for a table pointer / 4K leaf
    uint64_t reserved_large;  // bits that must be 0 when PS=1
};

struct LevelList {
    Level level[5];
    unsigned count = 0;
    uint64_t root = 0; // guest-physical address of the top table
};

// Where an entry lives, so translate_for_access can set A/D afterwards.
struct VisitedEntries {
    uint8_t* entry[5] = {};
    unsigned count = 0;
};

uint64_t read_entry(const uint8_t* host, unsigned size) {
    uint64_t value = 0; // little-endian, byte loop: no alignment/aliasing assumptions
    for (unsigned i = 0; i < size; ++i) value |= uint64_t{host[i]} << (8 * i);
    return value;
}

// SDM vol. 3A 4.5 (long mode), tables 4-15 .. 4-20.
LevelList long_mode_levels(const GuestPagingState& s, unsigned levels, unsigned maxphys) {
    const uint64_t above_maxphys = maxphys >= 52 ? 0 : bits(51, maxphys);
    const uint64_t no_exec = (s.efer & kEferNoExecuteEnable) ? 0 : kEntryNoExecute;
    const uint64_t base = above_maxphys | no_exec;
    LevelList list;
    if (levels == 5) list.level[list.count++] = {48, 9, 8, false, true, base | kEntryPageSize, 0};
    list.level[list.count++] = {39, 9, 8, false, true, base | kEntryPageSize, 0};   // PML4E
    list.level[list.count++] = {30, 9, 8, true, true, base, base | bits(29, 13)};   // PDPTE
    list.level[list.count++] = {21, 9, 8, true, true, base, base | bits(20, 13)};   // PDE
    list.level[list.count++] = {12, 9, 8, false, true, base, 0};                    // PTE
    list.root = s.cr3 & bits(51, 12);
    return list;
}

// SDM vol. 3A 4.4 (PAE), tables 4-8 .. 4-11.
LevelList pae_levels(const GuestPagingState& s, unsigned maxphys) {
    const uint64_t above_maxphys = bits(62, maxphys >= 63 ? 62 : maxphys);
    const uint64_t no_exec = (s.efer & kEferNoExecuteEnable) ? 0 : kEntryNoExecute;
    const uint64_t entry = above_maxphys | no_exec;
    LevelList list;
    // PDPTE: only P; bits 2:1, 8:5 and 63:MAXPHYADDR reserved.
    list.level[list.count++] = {30, 2, 8, false, false,
                                bits(2, 1) | bits(8, 5) | above_maxphys | kEntryNoExecute, 0};
    list.level[list.count++] = {21, 9, 8, true, true, entry, entry | bits(20, 13)}; // PDE
    list.level[list.count++] = {12, 9, 8, false, true, entry, 0};                   // PTE
    list.root = s.cr3 & 0xffff'ffe0ull; // CR3[31:5], 32-byte aligned PDPT
    return list;
}

// SDM vol. 3A 4.3 (32-bit paging), tables 4-4 .. 4-6. A 4 MiB PDE carries
// physical bits 39:32 in bits 20:13 (PSE-36); bit 21 is reserved.
LevelList legacy_levels(const GuestPagingState& s) {
    const bool pse = (s.cr4 & kCr4PageSizeExt) != 0;
    LevelList list;
    list.level[list.count++] = {22, 10, 4, pse, true, 0, 1ull << 21};
    list.level[list.count++] = {12, 10, 4, false, true, 0, 0};
    list.root = s.cr3 & 0xffff'f000ull;
    return list;
}

// Physical base of a large page or the next table, per mode (SDM table 4-4:
// the 32-bit 4 MiB PDE stores address bits 39:32 in entry bits 20:13).
uint64_t frame_address(uint64_t entry, const Level& level, bool large_page) {
    if (level.entry_size == 4) {
        if (!large_page) return entry & 0xffff'f000ull;
        return (entry & 0xffc0'0000ull) | (((entry >> 13) & 0xff) << 32);
    }
    const uint64_t page_mask = large_page ? (1ull << level.index_shift) - 1 : kPage4K - 1;
    return entry & bits(51, 0) & ~page_mask;
}

bool is_canonical(uint64_t linear, unsigned width) {
    const uint64_t upper = linear >> (width - 1); // all ones or all zeros
    return upper == 0 || upper == (~0ull >> (width - 1));
}

Result<Translation> walk(const GuestPagingState& s, GuestMemory& memory, uint64_t linear,
                         unsigned maxphys, VisitedEntries* visited) {
    if (maxphys < 32 || maxphys > 52) return fail(Error::InvalidArgument);
    const PagingMode mode = paging_mode(s);
    if (mode == PagingMode::Disabled) {
        // SDM vol. 3A 4.1.1: without paging a linear address is the physical one.
        return Translation{linear & kLegacyLinearMask, kPage4K, true, true, true, false};
    }

    LevelList list;
    switch (mode) {
    case PagingMode::Bits32: list = legacy_levels(s); break;
    case PagingMode::Pae: list = pae_levels(s, maxphys); break;
    case PagingMode::FourLevel: list = long_mode_levels(s, 4, maxphys); break;
    default: list = long_mode_levels(s, 5, maxphys); break;
    }
    if (mode == PagingMode::FourLevel || mode == PagingMode::FiveLevel) {
        const unsigned width = mode == PagingMode::FiveLevel ? 57 : 48;
        if (!is_canonical(linear, width)) return fail(Error::InvalidArgument);
        if (maxphys < 52 && (s.cr3 & bits(51, maxphys))) return fail(Error::Malformed);
    } else {
        linear &= kLegacyLinearMask;
    }

    Translation result{0, 0, true, true, true, false};
    uint64_t table = list.root;
    for (unsigned i = 0; i < list.count; ++i) {
        const Level& level = list.level[i];
        const uint64_t index = (linear >> level.index_shift) & ((1ull << level.index_bits) - 1);
        uint8_t* host = memory.map(table + index * level.entry_size, level.entry_size);
        if (!host) return fail(Error::Protected);
        const uint64_t entry = read_entry(host, level.entry_size);

        if (!(entry & kEntryPresent)) return fail(Error::NotFound);
        const bool last = i + 1 == list.count;
        const bool large = !last && level.may_map_page && (entry & kEntryPageSize);
        if (entry & (large ? level.reserved_large : level.reserved)) return fail(Error::Malformed);

        if (level.has_rights) {
            result.writable = result.writable && (entry & kEntryWritable);
            result.user = result.user && (entry & kEntryUser);
            result.no_execute = result.no_execute || (entry & kEntryNoExecute);
            if (visited) visited->entry[visited->count++] = host;
        }
        const uint64_t frame = frame_address(entry, level, large);
        if (large || last) {
            result.page_size = large ? 1ull << level.index_shift : kPage4K;
            if (large && level.entry_size == 4 && frame >> maxphys) return fail(Error::Malformed);
            result.gpa = frame | (linear & (result.page_size - 1));
            return result;
        }
        table = frame;
    }
    // Unreachable: the last level always returns above.
    return fail(Error::Malformed);
}

// Next linear address, as the CPU forms it: 32-bit wrap outside long mode.
// In long mode crossing into the non-canonical hole is a #GP (InvalidArgument,
// reported by translate()).
uint64_t advance(const GuestPagingState& s, uint64_t linear, uint64_t by) {
    const PagingMode mode = paging_mode(s);
    const bool long_mode = mode == PagingMode::FourLevel || mode == PagingMode::FiveLevel;
    return long_mode ? linear + by : (linear + by) & kLegacyLinearMask;
}

size_t bytes_left_in_page(const Translation& t, uint64_t remaining) {
    const uint64_t in_page = kPage4K - (t.gpa & (kPage4K - 1)); // 4 KiB steps suffice
    return static_cast<size_t>(remaining < in_page ? remaining : in_page);
}

} // namespace

PagingMode paging_mode(const GuestPagingState& s) {
    if (!(s.cr0 & kCr0Paging)) return PagingMode::Disabled;
    if (!(s.cr4 & kCr4Pae)) return PagingMode::Bits32;
    if (!(s.efer & kEferLongActive)) return PagingMode::Pae;
    return (s.cr4 & kCr4La57) ? PagingMode::FiveLevel : PagingMode::FourLevel;
}

Result<Translation> translate(const GuestPagingState& state, GuestMemory& memory, uint64_t linear,
                              unsigned max_phys_bits) {
    return walk(state, memory, linear, max_phys_bits, nullptr);
}

bool permits(const Translation& t, const AccessIntent& intent, const GuestPagingState& state) {
    if (!t.present) return false;
    if (intent.user_mode && !t.user) return false;
    switch (intent.type) {
    case AccessType::Read: return true;
    case AccessType::Write:
        // SDM vol. 3A 4.6.1: supervisor writes ignore R/W when CR0.WP = 0.
        return t.writable || (!intent.user_mode && !(state.cr0 & kCr0WriteProtect));
    case AccessType::Execute: return !t.no_execute;
    }
    return false;
}

Result<Translation> translate_for_access(const GuestPagingState& state, GuestMemory& memory,
                                         uint64_t linear, const AccessIntent& intent,
                                         unsigned max_phys_bits) {
    VisitedEntries visited;
    const Translation t = TRY(walk(state, memory, linear, max_phys_bits, &visited));
    if (!permits(t, intent, state)) return fail(Error::InvalidArgument);
    // SDM vol. 3A 4.8: A on every entry used, D on the leaf for a write. Both
    // flags live in the entry's low byte, so a byte-wide atomic OR suffices.
    for (unsigned i = 0; i < visited.count; ++i) {
        uint8_t flags = kEntryAccessed;
        if (i + 1 == visited.count && intent.type == AccessType::Write) flags |= kEntryDirty;
        __atomic_fetch_or(visited.entry[i], flags, __ATOMIC_SEQ_CST);
    }
    return t;
}

Result<void> read_linear(const GuestPagingState& state, GuestMemory& memory, uint64_t linear,
                         std::span<uint8_t> out, const AccessIntent& intent) {
    if (out.size() > kMaxLinearCopy) return fail(Error::OutOfRange);
    size_t done = 0;
    while (done < out.size()) {
        const Translation t = TRY(translate_for_access(state, memory, linear, intent));
        const size_t chunk = bytes_left_in_page(t, out.size() - done);
        const uint8_t* src = memory.map(t.gpa, chunk);
        if (!src) return fail(Error::Protected);
        for (size_t i = 0; i < chunk; ++i) out[done + i] = src[i];
        done += chunk;
        linear = advance(state, linear, chunk);
    }
    return {};
}

Result<void> write_linear(const GuestPagingState& state, GuestMemory& memory, uint64_t linear,
                          std::span<const uint8_t> in, bool user_mode) {
    if (in.size() > kMaxLinearCopy) return fail(Error::OutOfRange);
    const AccessIntent intent{AccessType::Write, user_mode};
    // Pass 1: every page must translate, permit the write and be guest RAM.
    uint64_t cursor = linear;
    for (size_t done = 0; done < in.size();) {
        const Translation t = TRY(translate(state, memory, cursor));
        if (!permits(t, intent, state)) return fail(Error::InvalidArgument);
        const size_t chunk = bytes_left_in_page(t, in.size() - done);
        if (!memory.map(t.gpa, chunk)) return fail(Error::Protected);
        done += chunk;
        cursor = advance(state, cursor, chunk);
    }
    // Pass 2: write. Re-translating (and setting A/D) keeps this correct even
    // if the guest edits its tables between the passes; it can then only make
    // the copy stop early with an error, never write where it is not allowed.
    for (size_t done = 0; done < in.size();) {
        const Translation t = TRY(translate_for_access(state, memory, linear, intent));
        const size_t chunk = bytes_left_in_page(t, in.size() - done);
        uint8_t* dst = memory.map(t.gpa, chunk);
        if (!dst) return fail(Error::Protected);
        for (size_t i = 0; i < chunk; ++i) dst[i] = in[done + i];
        done += chunk;
        linear = advance(state, linear, chunk);
    }
    return {};
}

Result<size_t> fetch_linear(const GuestPagingState& state, GuestMemory& memory, uint64_t linear,
                            std::span<uint8_t> out, bool user_mode) {
    if (out.size() > kMaxLinearCopy) return fail(Error::OutOfRange);
    const AccessIntent intent{AccessType::Execute, user_mode};
    size_t done = 0;
    while (done < out.size()) {
        Result<Translation> t = translate_for_access(state, memory, linear, intent);
        const uint8_t* src = nullptr;
        size_t chunk = 0;
        if (t.ok()) {
            chunk = bytes_left_in_page(t.value(), out.size() - done);
            src = memory.map(t.value().gpa, chunk);
        }
        if (!src) {
            if (done > 0) break; // the bytes we have may already hold the instruction
            return fail(t.ok() ? Error::Protected : t.error());
        }
        for (size_t i = 0; i < chunk; ++i) out[done + i] = src[i];
        done += chunk;
        linear = advance(state, linear, chunk);
    }
    return done;
}

} // namespace sv::x86

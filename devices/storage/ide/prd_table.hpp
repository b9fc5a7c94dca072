// Physical Region Descriptor tables of bus-master IDE (SFF-8038i rev 1.0 §1.2,
// Intel PIIX4 datasheet §2.7.3 / §5.6.1): the guest's table is hostile input,
// walked entry by entry with every region checked through GuestMemory::map;
// the shadow table the controller really sees is built here too.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/guest_memory.hpp"
#include "lib/result.hpp"

namespace sv::ide {

// SFF-8038i §1.2 figure 2: one 8-byte descriptor, little-endian.
struct [[gnu::packed]] PrdEntry {
    uint32_t base;       // physical memory region base; bit 0 must be zero
    uint16_t byte_count; // region size in bytes; bit 0 zero; 0 means 64 KiB
    uint16_t flags;      // bit 15: EOT (last descriptor); others reserved
};
static_assert(sizeof(PrdEntry) == 8);
static_assert(__builtin_offsetof(PrdEntry, base) == 0);
static_assert(__builtin_offsetof(PrdEntry, byte_count) == 4);
static_assert(__builtin_offsetof(PrdEntry, flags) == 6);

constexpr uint16_t kPrdEot = 0x8000;
// A region and the table itself may not cross a 64 KiB boundary (§1.2), so a
// table holds at most 64 KiB / 8 = 8192 descriptors.
constexpr uint64_t kPrdBoundary = 0x10000;
constexpr uint32_t kPrdMaxEntries = kPrdBoundary / sizeof(PrdEntry);

// Why a guest PRD table was refused (counted per reason in IdeStats).
enum class PrdFault : uint8_t {
    None,
    TableMisaligned, // pointer not dword aligned
    TableNotRam,     // a descriptor lies outside guest RAM
    EntryNotRam,     // a region lies outside guest RAM (e.g. hypervisor memory)
    EntryOddAddress, // base bit 0 set
    EntryOddLength,  // byte count bit 0 set
    EntryCrosses64K, // region crosses a 64 KiB boundary
    NoEot,           // no EOT before the table's 64 KiB page ends
    TooLong,         // regions add up to more than the transfer
    LengthMismatch,  // regions add up to less than the transfer
};
constexpr unsigned kPrdFaultCount = 10;
const char* to_string(PrdFault f);

// A validated guest region, already translated to a host pointer.
struct PrdSegment {
    uint8_t* host = nullptr;
    uint32_t bytes = 0;
    bool last = false;
};

// Reads and validates descriptor `index` of the table at `table_gpa`.
[[nodiscard]] Result<PrdSegment> read_guest_prd_entry(GuestMemory& mem, uint32_t table_gpa,
                                                      uint32_t index, PrdFault& fault);

// Number of descriptors the table at `table_gpa` can hold before crossing
// its 64 KiB page (the walk limit).
constexpr uint32_t prd_table_capacity(uint32_t table_gpa) {
    return static_cast<uint32_t>((kPrdBoundary - (table_gpa & (kPrdBoundary - 1))) / sizeof(PrdEntry));
}

// Walks the guest table, calling visit(const PrdSegment&) for each validated
// region in order. Each descriptor is read exactly once (the guest may change
// the table concurrently). Stops with an error on the first bad descriptor,
// when the regions exceed `max_total` bytes, or without EOT within the table
// limit; returns the total byte count otherwise. Visited regions before an
// error are not undone: callers only ever write hypervisor-owned shadow memory
// or guest RAM the guest itself pointed at.
template <class Visit>
[[nodiscard]] Result<uint64_t> walk_guest_prd_table(GuestMemory& mem, uint32_t table_gpa,
                                                    uint64_t max_total, PrdFault& fault,
                                                    Visit&& visit) {
    fault = PrdFault::None;
    if (table_gpa & 0x3) {
        fault = PrdFault::TableMisaligned;
        return fail(Error::Malformed);
    }
    uint64_t total = 0;
    const uint32_t limit = prd_table_capacity(table_gpa);
    for (uint32_t i = 0; i < limit; ++i) {
        PrdSegment seg = TRY(read_guest_prd_entry(mem, table_gpa, i, fault));
        if (total + seg.bytes > max_total) {
            fault = PrdFault::TooLong;
            return fail(Error::OutOfRange);
        }
        total += seg.bytes;
        visit(seg);
        if (seg.last) return total;
    }
    fault = PrdFault::NoEot;
    return fail(Error::Malformed);
}

// Fills `table` (capacity `capacity` descriptors, hypervisor memory) so it
// describes `bytes` bytes of the physically contiguous buffer at `phys`, in
// 64 KiB regions. `phys` must be 64 KiB aligned and `phys + bytes` below
// 4 GiB (the bus master takes 32-bit addresses). Returns the descriptor count.
[[nodiscard]] Result<uint32_t> build_shadow_prd_table(PrdEntry* table, uint32_t capacity,
                                                      uint64_t phys, uint64_t bytes);

// For a shadow table whose bases were set once (descriptor i names the i-th
// 64 KiB shadow chunk, ide_channel.hpp): sets only byte count and EOT of the
// descriptors that describe `bytes` bytes, never a base, so a bus master
// fetching concurrently still sees a shadow region. Returns the count.
[[nodiscard]] Result<uint32_t> size_shadow_prd_table(volatile PrdEntry* table, uint32_t capacity,
                                                     uint64_t bytes);

} // namespace sv::ide

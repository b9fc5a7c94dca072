// Guest PRD descriptor validation and shadow PRD table construction
// (SFF-8038i §1.2). See prd_table.hpp.
#include "devices/storage/ide/prd_table.hpp"

namespace sv::ide {

const char* to_string(PrdFault f) {
    switch (f) {
    case PrdFault::None: return "none";
    case PrdFault::TableMisaligned: return "PRD table pointer misaligned";
    case PrdFault::TableNotRam: return "PRD table outside guest RAM";
    case PrdFault::EntryNotRam: return "PRD region outside guest RAM";
    case PrdFault::EntryOddAddress: return "PRD region base odd";
    case PrdFault::EntryOddLength: return "PRD byte count odd";
    case PrdFault::EntryCrosses64K: return "PRD region crosses 64 KiB";
    case PrdFault::NoEot: return "PRD table without EOT";
    case PrdFault::TooLong: return "PRD total exceeds transfer";
    case PrdFault::LengthMismatch: return "PRD total short of transfer";
    }
    return "?";
}

Result<PrdSegment> read_guest_prd_entry(GuestMemory& mem, uint32_t table_gpa, uint32_t index,
                                        PrdFault& fault) {
    const uint64_t gpa = uint64_t{table_gpa} + uint64_t{index} * sizeof(PrdEntry);
    const uint8_t* raw = mem.map(gpa, sizeof(PrdEntry));
    if (!raw) {
        fault = PrdFault::TableNotRam;
        return fail(Error::Protected);
    }
    // One volatile read of each byte: the guest may rewrite the descriptor
    // while we look at it, so never re-read it after validation.
    const volatile uint8_t* v = raw;
    uint8_t b[sizeof(PrdEntry)];
    for (size_t i = 0; i < sizeof b; ++i) b[i] = v[i];
    const uint32_t base = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 |
                          uint32_t{b[3]} << 24;
    const uint16_t count = static_cast<uint16_t>(b[4] | b[5] << 8);
    const uint16_t flags = static_cast<uint16_t>(b[6] | b[7] << 8);

    const uint32_t bytes = count ? count : static_cast<uint32_t>(kPrdBoundary);
    if (base & 1) {
        fault = PrdFault::EntryOddAddress;
        return fail(Error::Malformed);
    }
    if (bytes & 1) {
        fault = PrdFault::EntryOddLength;
        return fail(Error::Malformed);
    }
    if ((base & (kPrdBoundary - 1)) + bytes > kPrdBoundary) {
        fault = PrdFault::EntryCrosses64K;
        return fail(Error::Malformed);
    }
    uint8_t* host = mem.map(base, bytes);
    if (!host) {
        fault = PrdFault::EntryNotRam;
        return fail(Error::Protected);
    }
    return PrdSegment{host, bytes, (flags & kPrdEot) != 0};
}

Result<uint32_t> build_shadow_prd_table(PrdEntry* table, uint32_t capacity, uint64_t phys,
                                        uint64_t bytes) {
    if (!table || bytes == 0 || (bytes & 1) || (phys & (kPrdBoundary - 1)))
        return fail(Error::InvalidArgument);
    if (phys + bytes > (uint64_t{1} << 32)) return fail(Error::OutOfRange);
    const uint64_t needed = (bytes + kPrdBoundary - 1) / kPrdBoundary;
    if (needed > capacity) return fail(Error::OutOfRange);
    uint64_t done = 0;
    uint32_t i = 0;
    while (done < bytes) {
        const uint64_t chunk = bytes - done < kPrdBoundary ? bytes - done : kPrdBoundary;
        table[i].base = static_cast<uint32_t>(phys + done);
        table[i].byte_count = static_cast<uint16_t>(chunk); // 64 KiB encodes as 0
        done += chunk;
        table[i].flags = done == bytes ? kPrdEot : 0;
        ++i;
    }
    return i;
}

Result<uint32_t> size_shadow_prd_table(volatile PrdEntry* table, uint32_t capacity, uint64_t bytes) {
    if (!table || bytes == 0 || (bytes & 1)) return fail(Error::InvalidArgument);
    const uint64_t needed = (bytes + kPrdBoundary - 1) / kPrdBoundary;
    if (needed > capacity) return fail(Error::OutOfRange);
    uint64_t done = 0;
    uint32_t i = 0;
    while (done < bytes) {
        const uint64_t chunk = bytes - done < kPrdBoundary ? bytes - done : kPrdBoundary;
        table[i].byte_count = static_cast<uint16_t>(chunk); // 64 KiB encodes as 0
        done += chunk;
        table[i].flags = done == bytes ? kPrdEot : 0;
        ++i;
    }
    return i;
}

} // namespace sv::ide

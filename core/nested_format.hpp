// The entry formats of nested (second-level) page tables: what a leaf and a
// table reference look like, so one walker/builder (core/nested_paging.hpp)
// serves AMD NPT and Intel EPT. Both are 4-level tables of 512 64-bit entries
// with the physical address in bits 51:12 and the page-size bit 7; they differ
// in the permission and memory-type bits:
//
//   NPT  AMD APM vol. 2 §15.25.5 "Nested Table Walk": the ordinary long-mode
//        format (APM vol. 2 §5.3 "Long-Mode Page Translation"). P (bit 0)
//        makes an entry present and readable, R/W (bit 1) writable, NX
//        (bit 63; honoured because the host runs with EFER.NXE) takes execute
//        away, and U/S (bit 2) must be set on every level: nested walks are
//        user accesses. No memory type is recorded here: PWT/PCD/PAT stay 0,
//        selecting host PAT entry 0 (write-back at reset, APM vol. 2 §7.8.2),
//        so the host MTRRs and the guest's PAT decide the type (APM vol. 2
//        §15.25.8 "Combining Memory Types, MTRRs").
//   EPT  Intel SDM vol. 3C "EPT Translation Mechanism" (the EPT entry format
//        tables): read (bit 0), write (bit 1), execute (bit 2); an entry with
//        bits 2:0 all clear is not present. Leaves hold the memory type in
//        bits 5:3 and "ignore PAT" in bit 6 (SDM vol. 3C "Memory Type Used for
//        Translated Guest-Physical Addresses"); EPT replaces the MTRRs, so the
//        table must say UC for MMIO itself.
//
// A format is a runtime value: one binary serves both vendors and the backend
// chosen at boot picks the format.
#pragma once

#include <cstdint>

namespace sv {

// x86 memory-type encodings (Intel SDM vol. 3A "Memory Type Range Registers";
// the same numbers in EPT leaves, the PAT and the MTRRs; 2, 3 and 7 are reserved).
enum class CacheType : uint8_t {
    Uncacheable = 0,
    WriteCombining = 1,
    WriteThrough = 4,
    WriteProtected = 5,
    WriteBack = 6,
};

constexpr bool valid_cache_type(CacheType t) {
    const uint8_t v = static_cast<uint8_t>(t);
    return v == 0 || v == 1 || (v >= 4 && v <= 6);
}

// What a guest may do with a nested mapping, and its memory type.
struct NestedAccess {
    static constexpr uint8_t read = 1u << 0;
    static constexpr uint8_t write = 1u << 1;
    static constexpr uint8_t execute = 1u << 2;

    uint8_t rights = 0;                    // read | write | execute; 0: not mapped
    CacheType cache = CacheType::WriteBack; // recorded only by formats with a memory-type field
    bool ignore_guest_pat = false;          // EPT IPAT: `cache` is final (NPT always combines)

    constexpr bool mapped() const { return rights != 0; }
    constexpr bool writable() const { return rights & write; }
    constexpr bool executable() const { return rights & execute; }
    constexpr NestedAccess with(CacheType type) const {
        NestedAccess a = *this;
        a.cache = type;
        return a;
    }
    constexpr bool operator==(const NestedAccess&) const = default;

    // The three the hypervisor uses (write-back; `with()` changes the type).
    static const NestedAccess None;             // not present: reads and writes exit
    static const NestedAccess ReadExecute;      // writes exit
    static const NestedAccess ReadWriteExecute; // the identity map
};
inline constexpr NestedAccess NestedAccess::None{};
inline constexpr NestedAccess NestedAccess::ReadExecute{NestedAccess::read | NestedAccess::execute};
inline constexpr NestedAccess NestedAccess::ReadWriteExecute{NestedAccess::read | NestedAccess::write |
                                                             NestedAccess::execute};

struct NestedFormat {
    static constexpr uint64_t address_mask = 0x000FFFFFFFFFF000ull; // bits 51:12, both formats
    static constexpr uint64_t large_page = 1ull << 7;               // PS in PDPTE/PDE, both formats

    const char* name;
    uint64_t present;          // any of these set: the entry is present
    uint64_t readable;         // leaf: reads allowed
    uint64_t writable;         // leaf: writes allowed
    uint64_t executable;       // leaf: execute allowed (0: executable unless no_execute)
    uint64_t no_execute;       // leaf: execute denied (0: format has an execute bit instead)
    uint64_t every_level;      // set on every entry, table references and leaves
    uint64_t table_reference;  // the permission bits of an entry pointing at a table
    uint64_t memory_type_mask; // leaf memory-type field (0: not recorded)
    unsigned memory_type_shift;
    uint64_t ignore_pat;       // leaf "ignore PAT" bit (0: none)

    constexpr bool records_memory_type() const { return memory_type_mask != 0; }
    constexpr bool is_present(uint64_t entry) const { return entry & present; }
    constexpr bool is_large(uint64_t entry) const { return entry & large_page; }

    // Every attribute bit a leaf carries: a split copies exactly these.
    constexpr uint64_t leaf_attributes() const {
        return present | readable | writable | executable | no_execute | every_level | memory_type_mask | ignore_pat;
    }

    constexpr uint64_t table_entry(uint64_t table_pa) const {
        return (table_pa & address_mask) | table_reference | every_level;
    }

    // A leaf mapping `hpa` (aligned to the page size); 0 for NestedAccess::None.
    constexpr uint64_t leaf_entry(uint64_t hpa, NestedAccess a, bool large) const {
        if (!a.mapped()) return 0;
        uint64_t e = (hpa & address_mask) | every_level | readable;
        if (a.writable()) e |= writable;
        e |= a.executable() ? executable : no_execute;
        if (records_memory_type()) {
            e |= (static_cast<uint64_t>(a.cache) << memory_type_shift) & memory_type_mask;
            if (a.ignore_guest_pat) e |= ignore_pat;
        }
        return e | (large ? large_page : 0);
    }

    // The access a present leaf grants (inverse of leaf_entry).
    constexpr NestedAccess leaf_access(uint64_t e) const {
        NestedAccess a;
        if (!is_present(e)) return a;
        const bool exec = executable ? (e & executable) != 0 : (e & no_execute) == 0;
        a.rights = static_cast<uint8_t>(((e & readable) ? NestedAccess::read : 0) |
                                        ((e & writable) ? NestedAccess::write : 0) |
                                        (exec ? NestedAccess::execute : 0));
        if (records_memory_type()) {
            a.cache = static_cast<CacheType>((e & memory_type_mask) >> memory_type_shift);
            a.ignore_guest_pat = (e & ignore_pat) != 0;
        }
        return a;
    }
};

// AMD NPT (and the hypervisor's own host page tables: the same long-mode
// format). Table references are present, writable and user, as today's
// tables have always been.
inline constexpr NestedFormat nested_format_npt{
    .name = "npt",
    .present = 1ull << 0,          // P
    .readable = 1ull << 0,         // P: present means readable
    .writable = 1ull << 1,         // R/W
    .executable = 0,
    .no_execute = 1ull << 63,      // NX
    .every_level = 1ull << 2,      // U/S, APM vol. 2 §15.25.5
    .table_reference = (1ull << 0) | (1ull << 1),
    .memory_type_mask = 0,
    .memory_type_shift = 0,
    .ignore_pat = 0,
};

// Intel EPT. Table references allow everything (the leaf decides); bits 7:3
// of a table reference are reserved and stay 0. Accessed/dirty flags (bits
// 8, 9) are not used (EPTP bit 6 clear).
inline constexpr NestedFormat nested_format_ept{
    .name = "ept",
    .present = 0x7,                // bits 2:0 all clear: not present
    .readable = 1ull << 0,
    .writable = 1ull << 1,
    .executable = 1ull << 2,
    .no_execute = 0,
    .every_level = 0,
    .table_reference = 0x7,        // R, W, X
    .memory_type_mask = 0x7ull << 3, // EPT memory type, bits 5:3
    .memory_type_shift = 3,
    .ignore_pat = 1ull << 6,       // IPAT
};

} // namespace sv

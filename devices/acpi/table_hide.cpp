#include "devices/acpi/table_hide.hpp"

#include "devices/acpi/acpi_tables.hpp"

namespace sv::acpi {
namespace {
uint64_t load(const uint8_t* p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}
void fix_checksum(uint8_t* t, uint32_t length) {
    t[9] = 0; // §5.2.6: checksum at offset 9
    uint8_t sum = 0;
    for (uint32_t i = 0; i < length; ++i) sum = static_cast<uint8_t>(sum + t[i]);
    t[9] = static_cast<uint8_t>(-sum);
}

// Cuts every `entry`-byte address naming a `signature` table out of the root
// table at `pa` (already checked by map_checked_table).
size_t cut(GuestMemory& mem, uint64_t pa, const char* root_signature, unsigned entry, const char* signature) {
    const uint8_t* checked = map_checked_table(mem, pa);
    if (!checked || __builtin_memcmp(checked, root_signature, 4) != 0) return 0;
    uint32_t length = static_cast<uint32_t>(load(checked + 4, 4));
    uint8_t* t = mem.map(pa, length);
    if (!t) return 0;
    size_t removed = 0;
    for (uint32_t off = 36; off + entry <= length;) {
        const uint8_t* target = map_checked_table(mem, load(t + off, entry));
        if (!target || __builtin_memcmp(target, signature, 4) != 0) {
            off += entry;
            continue;
        }
        for (uint32_t i = off; i + entry < length; ++i) t[i] = t[i + entry];
        for (uint32_t i = length - entry; i < length; ++i) t[i] = 0;
        length -= entry;
        ++removed;
    }
    if (removed) {
        for (unsigned i = 0; i < 4; ++i) t[4 + i] = static_cast<uint8_t>(length >> (8 * i));
        fix_checksum(t, length);
    }
    return removed;
}
} // namespace

Result<size_t> hide_table(GuestMemory& mem, const char* signature) {
    const uint64_t rsdp_pa = rsdp_address(mem);
    const uint8_t* rsdp = rsdp_pa ? mem.map(rsdp_pa, 36) : nullptr;
    if (!rsdp) return fail(Error::NotFound);
    size_t removed = cut(mem, load(rsdp + 16, 4), "RSDT", 4, signature);
    // RSDP revision (offset 15) >= 2: XsdtAddress at 24 (ACPI 6.4 §5.2.5.3).
    if (rsdp[15] >= 2) {
        const uint64_t xsdt = load(rsdp + 24, 8);
        if (xsdt) removed += cut(mem, xsdt, "XSDT", 8, signature);
    }
    return removed;
}

} // namespace sv::acpi

#include "devices/acpi/acpi_tables.hpp"

namespace sv::acpi {
namespace {
bool checksum_ok(const uint8_t* p, uint32_t n) {
    uint8_t sum = 0;
    for (uint32_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
    return sum == 0;
}
template <class T> T load(const uint8_t* p) {
    T v = 0;
    for (unsigned i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(p[i]) << (8 * i));
    return v;
}
bool signature_is(const uint8_t* p, const char* sig, unsigned n) {
    for (unsigned i = 0; i < n; ++i)
        if (p[i] != static_cast<uint8_t>(sig[i])) return false;
    return true;
}

// A whole table (header length checked, checksum verified).
const uint8_t* map_table(GuestMemory& mem, uint64_t pa) {
    const uint8_t* h = mem.map(pa, 36);
    if (!h) return nullptr;
    const uint32_t length = load<uint32_t>(h + 4);
    if (length < 36 || length > (1u << 20)) return nullptr;
    const uint8_t* t = mem.map(pa, length);
    return t && checksum_ok(t, length) ? t : nullptr;
}

const uint8_t* find_rsdp(GuestMemory& mem) {
    for (uint64_t pa = 0xE0000; pa < 0x100000; pa += 16) {
        const uint8_t* p = mem.map(pa, 20);
        if (p && signature_is(p, "RSD PTR ", 8) && checksum_ok(p, 20)) return p;
    }
    return nullptr;
}

} // namespace

// The first table with `signature` listed in the RSDT. The RSDT (32-bit
// entries) exists on every BIOS system; an XSDT-only firmware (UEFI) is
// future work, like UEFI boot itself.
const uint8_t* find_table(GuestMemory& mem, const char* signature) {
    const uint8_t* rsdp = find_rsdp(mem);
    if (!rsdp) return nullptr;
    const uint8_t* root = map_table(mem, load<uint32_t>(rsdp + 16));
    if (!root || !signature_is(root, "RSDT", 4)) return nullptr;
    const uint32_t length = load<uint32_t>(root + 4);
    for (uint32_t off = 36; off + 4 <= length; off += 4) {
        const uint8_t* t = map_table(mem, load<uint32_t>(root + off));
        if (t && signature_is(t, signature, 4)) return t;
    }
    return nullptr;
}

const uint8_t* map_checked_table(GuestMemory& mem, uint64_t pa) { return map_table(mem, pa); }

uint64_t rsdp_address(GuestMemory& mem) {
    const uint8_t* p = find_rsdp(mem);
    return p ? 0xE0000 + static_cast<uint64_t>(p - mem.map(0xE0000, 20)) : 0;
}

Result<PowerControlPorts> find_power_control(GuestMemory& mem) {
    const uint8_t* t = find_table(mem, "FACP");
    if (!t) return fail(Error::NotFound);
    if (load<uint32_t>(t + 4) < 90) return fail(Error::Malformed);
    PowerControlPorts ports;
    ports.pm1a_control = static_cast<uint16_t>(load<uint32_t>(t + 64));
    ports.pm1b_control = static_cast<uint16_t>(load<uint32_t>(t + 68));
    if (!ports.pm1a_control) return fail(Error::NotFound);
    return ports;
}

Result<size_t> find_processor_apic_ids(GuestMemory& mem, uint8_t* ids, size_t max) {
    const uint8_t* madt = find_table(mem, "APIC");
    if (!madt) return fail(Error::NotFound);
    const uint32_t length = load<uint32_t>(madt + 4);
    size_t n = 0;
    // Entries follow the 44-byte header: u8 type, u8 length, body.
    for (uint32_t off = 44; off + 2 <= length;) {
        const uint8_t type = madt[off], len = madt[off + 1];
        if (len < 2 || off + len > length) return fail(Error::Malformed);
        if (type == 0 && len >= 8 && (load<uint32_t>(madt + off + 4) & 1)) {
            if (n == max) return fail(Error::OutOfRange);
            ids[n++] = madt[off + 3];
        }
        off += len;
    }
    return n;
}

} // namespace sv::acpi

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

namespace {
constexpr uint32_t fadt_reset_reg_sup = 1u << 10;

// An I/O-space GAS (§5.2.3.2: u8 space, u8 bit width, u8 bit offset, u8
// access size, u64 address) naming other ports than `legacy`, else 0.
uint16_t extra_io_port(const uint8_t* gas, uint16_t legacy) {
    if (gas[0] != static_cast<uint8_t>(AddressSpace::Io)) return 0;
    const uint64_t a = load<uint64_t>(gas + 4);
    if (a == 0 || a > 0xFFFF || a == legacy) return 0;
    return static_cast<uint16_t>(a);
}
} // namespace

Result<PowerControlPorts> find_power_control(GuestMemory& mem) {
    const uint8_t* t = find_table(mem, "FACP");
    if (!t) return fail(Error::NotFound);
    const uint32_t length = load<uint32_t>(t + 4);
    if (length < 90) return fail(Error::Malformed);
    PowerControlPorts ports;
    ports.pm1a_control = static_cast<uint16_t>(load<uint32_t>(t + 64));
    ports.pm1b_control = static_cast<uint16_t>(load<uint32_t>(t + 68));
    ports.pm1a_status = static_cast<uint16_t>(load<uint32_t>(t + 56));
    ports.dsdt = load<uint32_t>(t + 40);
    if (length >= 129 && (load<uint32_t>(t + 112) & fadt_reset_reg_sup)) {
        const uint8_t* gas = t + 116;
        const uint8_t space = gas[0];
        if (space == static_cast<uint8_t>(AddressSpace::Io) || space == static_cast<uint8_t>(AddressSpace::Memory)) {
            ports.reset.space = static_cast<AddressSpace>(space);
            ports.reset.address = load<uint64_t>(gas + 4);
            ports.reset.width = gas[1] >= 8 && gas[1] <= 32 ? static_cast<uint8_t>(gas[1] / 8) : 1;
            ports.reset.value = t[128];
            if (!ports.reset.address) ports.reset.space = AddressSpace::Other;
        }
    }
    if (length >= 148 && load<uint64_t>(t + 140)) ports.dsdt = load<uint64_t>(t + 140);
    if (length >= 160) ports.x_pm1a_status = extra_io_port(t + 148, ports.pm1a_status);
    if (length >= 184) ports.x_pm1a_control = extra_io_port(t + 172, ports.pm1a_control);
    if (length >= 196) ports.x_pm1b_control = extra_io_port(t + 184, ports.pm1b_control);
    if (!ports.pm1a_control && ports.x_pm1a_control) {
        ports.pm1a_control = ports.x_pm1a_control;
        ports.x_pm1a_control = 0;
        if (!ports.pm1a_status) {
            ports.pm1a_status = ports.x_pm1a_status;
            ports.x_pm1a_status = 0;
        }
    }
    if (!ports.pm1a_control) return fail(Error::NotFound);
    return ports;
}

Result<SleepTypes> find_sleep_types(GuestMemory& mem) {
    SleepTypes types;
    size_t found = 0;
    Result<PowerControlPorts> fadt = find_power_control(mem);
    if (fadt.ok() && fadt.value().dsdt) {
        const uint8_t* dsdt = map_table(mem, fadt.value().dsdt);
        if (dsdt && signature_is(dsdt, "DSDT", 4))
            found += scan_sleep_types(std::span<const uint8_t>(dsdt + 36, load<uint32_t>(dsdt + 4) - 36), types);
    }
    // SSDTs may define \_Sx too.
    const uint8_t* rsdp = find_rsdp(mem);
    const uint8_t* root = rsdp ? map_table(mem, load<uint32_t>(rsdp + 16)) : nullptr;
    if (root && signature_is(root, "RSDT", 4)) {
        const uint32_t length = load<uint32_t>(root + 4);
        for (uint32_t off = 36; off + 4 <= length; off += 4) {
            const uint8_t* t = map_table(mem, load<uint32_t>(root + off));
            if (t && signature_is(t, "SSDT", 4))
                found += scan_sleep_types(std::span<const uint8_t>(t + 36, load<uint32_t>(t + 4) - 36), types);
        }
    }
    if (!found) return fail(Error::NotFound);
    return types;
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

namespace sv::acpi {

Result<size_t> find_ecam_segments(GuestMemory& mem, EcamSegment* out, size_t max) {
    const uint8_t* mcfg = find_table(mem, "MCFG");
    if (!mcfg) return fail(Error::NotFound);
    const uint32_t length = load<uint32_t>(mcfg + 4);
    size_t n = 0;
    for (uint32_t off = 44; off + 16 <= length; off += 16) {
        if (n == max) return fail(Error::OutOfRange);
        EcamSegment& s = out[n++];
        s.base = load<uint64_t>(mcfg + off);
        s.segment = load<uint16_t>(mcfg + off + 8);
        s.start_bus = mcfg[off + 10];
        s.end_bus = mcfg[off + 11];
        if (s.end_bus < s.start_bus) return fail(Error::Malformed);
    }
    return n;
}

} // namespace sv::acpi

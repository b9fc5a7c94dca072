#include "devices/acpi/facs.hpp"

#include "devices/acpi/acpi_tables.hpp"

namespace sv::acpi {
namespace {
constexpr uint32_t fadt_firmware_ctrl = 36;
constexpr uint32_t fadt_x_firmware_ctrl = 132;

template <class T> T load(const uint8_t* p) {
    T v = 0;
    for (unsigned i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(p[i]) << (8 * i));
    return v;
}
template <class T> void store(uint8_t* p, T v) {
    for (unsigned i = 0; i < sizeof(T); ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint8_t* map_facs(GuestMemory& mem, uint64_t pa) {
    uint8_t* f = mem.map(pa, facs::min_length);
    if (!f) return nullptr;
    if (f[0] != 'F' || f[1] != 'A' || f[2] != 'C' || f[3] != 'S') return nullptr;
    if (load<uint32_t>(f + facs::length) < facs::min_length) return nullptr;
    return f;
}
} // namespace

Result<uint64_t> find_facs(GuestMemory& mem) {
    const uint8_t* fadt = find_table(mem, "FACP");
    if (!fadt) return fail(Error::NotFound);
    const uint32_t length = load<uint32_t>(fadt + 4);
    if (length < fadt_firmware_ctrl + 4) return fail(Error::Malformed);
    uint64_t pa = load<uint32_t>(fadt + fadt_firmware_ctrl);
    // §5.2.9: X_FIRMWARE_CTRL, when non-zero, is the one to use.
    if (length >= fadt_x_firmware_ctrl + 8 && load<uint64_t>(fadt + fadt_x_firmware_ctrl))
        pa = load<uint64_t>(fadt + fadt_x_firmware_ctrl);
    if (!pa) return fail(Error::NotFound);
    if (!map_facs(mem, pa)) return fail(Error::Malformed);
    return pa;
}

Result<WakingVectors> read_waking_vectors(GuestMemory& mem, uint64_t pa) {
    const uint8_t* f = map_facs(mem, pa);
    if (!f) return fail(Error::Malformed);
    WakingVectors v;
    v.firmware = load<uint32_t>(f + facs::firmware_waking_vector);
    v.flags = load<uint32_t>(f + facs::flags);
    v.version = f[facs::version];
    if (v.version >= 1) {
        v.x_firmware = load<uint64_t>(f + facs::x_firmware_waking_vector);
        v.ospm_flags = load<uint32_t>(f + facs::ospm_flags);
    }
    return v;
}

Result<WakingVectors> exchange_waking_vectors(GuestMemory& mem, uint64_t pa, const WakingVectors& install) {
    const WakingVectors old = TRY(read_waking_vectors(mem, pa));
    uint8_t* f = map_facs(mem, pa);
    store<uint32_t>(f + facs::firmware_waking_vector, install.firmware);
    if (old.version >= 1) store<uint64_t>(f + facs::x_firmware_waking_vector, install.x_firmware);
    return old;
}

Result<WakePath> read_wake_path(GuestMemory& mem) {
    WakePath w;
    w.rsdp = rsdp_address(mem);
    if (!w.rsdp) return fail(Error::NotFound);
    w.rsdt = load<uint32_t>(mem.map(w.rsdp, 20) + 16);
    const uint8_t* h = mem.map(w.rsdt, 36);
    if (!h) return fail(Error::Malformed);
    w.rsdt_length = load<uint32_t>(h + 4);
    if (w.rsdt_length < 36 || (w.rsdt_length - 36) / 4 > WakePath::max_entries) return fail(Error::Malformed);
    const uint8_t* rsdt = mem.map(w.rsdt, w.rsdt_length);
    if (!rsdt) return fail(Error::Malformed);
    bool fadt_seen = false;
    for (uint32_t off = 36; off + 4 <= w.rsdt_length; off += 4) {
        const uint32_t pa = load<uint32_t>(rsdt + off);
        const uint8_t* t = mem.map(pa, 36);
        w.entry[w.count] = pa;
        w.signature[w.count] = t ? load<uint32_t>(t) : 0;
        ++w.count;
        if (!t || fadt_seen || t[0] != 'F' || t[1] != 'A' || t[2] != 'C' || t[3] != 'P') continue;
        fadt_seen = true;
        const uint32_t length = load<uint32_t>(t + 4);
        const uint8_t* fadt = mem.map(pa, length >= fadt_x_firmware_ctrl + 8 ? fadt_x_firmware_ctrl + 8 : 40);
        if (!fadt) return fail(Error::Malformed);
        w.firmware_ctrl = load<uint32_t>(fadt + fadt_firmware_ctrl);
        if (length >= fadt_x_firmware_ctrl + 8) w.x_firmware_ctrl = load<uint64_t>(fadt + fadt_x_firmware_ctrl);
    }
    if (!fadt_seen) return fail(Error::NotFound);
    return w;
}

} // namespace sv::acpi

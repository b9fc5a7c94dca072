#include "devices/iommu/vtd/dmar.hpp"

namespace sv::vtd {
namespace {
constexpr uint64_t page_mask = 4095;

template <class T> T load(std::span<const uint8_t> bytes, size_t offset) {
    T v;
    __builtin_memcpy(&v, bytes.data() + offset, sizeof v);
    return v;
}

// The device scopes in [offset, end) of a remapping structure (§8.3.1).
Result<size_t> parse_scopes(std::span<const uint8_t> t, size_t offset, size_t end, DeviceScope* out, size_t max) {
    size_t n = 0;
    while (offset < end) {
        if (end - offset < sizeof(DeviceScopeEntry)) return fail(Error::Malformed);
        const auto e = load<DeviceScopeEntry>(t, offset);
        if (e.length < sizeof(DeviceScopeEntry) || e.length > end - offset || (e.length - sizeof e) % 2)
            return fail(Error::Malformed);
        const size_t hops = (e.length - sizeof e) / 2;
        if (hops > DeviceScope::max_hops || n == max) return fail(Error::OutOfRange);
        DeviceScope& s = out[n++];
        s.type = static_cast<ScopeType>(e.type);
        s.enumeration_id = e.enumeration_id;
        s.start_bus = e.start_bus;
        s.hops = static_cast<uint8_t>(hops);
        for (size_t h = 0; h < hops; ++h) {
            s.device[h] = t[offset + sizeof e + 2 * h];
            s.function[h] = t[offset + sizeof e + 2 * h + 1];
            if (s.device[h] > 31 || s.function[h] > 7) return fail(Error::Malformed);
        }
        offset += e.length;
    }
    return n;
}

Result<void> parse_drhd(std::span<const uint8_t> t, size_t offset, size_t length, DmarInfo& out) {
    if (length < sizeof(DrhdEntry)) return fail(Error::Malformed);
    if (out.unit_count == DmarInfo::max_units) return fail(Error::OutOfRange);
    const auto e = load<DrhdEntry>(t, offset);
    if (e.register_base == 0 || (e.register_base & page_mask)) return fail(Error::Malformed);
    RemapUnit& u = out.units[out.unit_count];
    u = RemapUnit{};
    u.register_base = e.register_base;
    u.register_bytes = 4096ull << (e.size & 0xF);
    u.segment = e.segment;
    u.include_pci_all = e.flags & drhd_flag_include_pci_all;
    u.scope_count = TRY(parse_scopes(t, offset + sizeof e, offset + length, u.scopes, RemapUnit::max_scopes));
    ++out.unit_count;
    return {};
}

Result<void> parse_rmrr(std::span<const uint8_t> t, size_t offset, size_t length, DmarInfo& out) {
    if (length < sizeof(RmrrEntry)) return fail(Error::Malformed);
    if (out.reserved_count == DmarInfo::max_reserved) return fail(Error::OutOfRange);
    const auto e = load<RmrrEntry>(t, offset);
    // §8.4: base 4 KiB aligned, limit + 1 4 KiB aligned, limit >= base.
    if ((e.base & page_mask) || ((e.limit + 1) & page_mask) || e.limit < e.base || e.limit + 1 == 0)
        return fail(Error::Malformed);
    ReservedRegion& r = out.reserved[out.reserved_count];
    r = ReservedRegion{};
    r.base = e.base;
    r.end = e.limit + 1;
    r.segment = e.segment;
    r.scope_count = TRY(parse_scopes(t, offset + sizeof e, offset + length, r.scopes, ReservedRegion::max_scopes));
    ++out.reserved_count;
    return {};
}

bool same_bdf(const DeviceScope& s, BridgeBuses& bridges, uint8_t bus, uint8_t dev, uint8_t fn) {
    uint8_t b, d, f;
    return resolve_scope(s, bridges, b, d, f) && b == bus && d == dev && f == fn;
}

bool under_bridge(const DeviceScope& s, BridgeBuses& bridges, uint8_t bus, uint8_t dev, uint8_t fn) {
    uint8_t b, d, f, secondary, subordinate;
    if (!resolve_scope(s, bridges, b, d, f)) return false;
    if (b == bus && d == dev && f == fn) return true;
    return bridges.buses(b, d, f, secondary, subordinate) && secondary <= bus && bus <= subordinate;
}
} // namespace

Result<void> parse_dmar(std::span<const uint8_t> t, DmarInfo& out) {
    out = DmarInfo{};
    if (t.size() < sizeof(DmarHeader)) return fail(Error::Malformed);
    const auto h = load<DmarHeader>(t, 0);
    if (__builtin_memcmp(h.signature, "DMAR", 4) != 0 || h.length < sizeof h || h.length > t.size())
        return fail(Error::Malformed);
    out.address_width = static_cast<uint8_t>(h.host_address_width + 1);
    out.interrupt_remapping = h.flags & dmar_flag_intr_remap;
    out.x2apic_opt_out = h.flags & dmar_flag_x2apic_opt_out;
    const size_t end = h.length;
    for (size_t off = sizeof h; off < end;) {
        if (end - off < sizeof(RemapStructHeader)) return fail(Error::Malformed);
        const auto s = load<RemapStructHeader>(t, off);
        if (s.length < sizeof s || s.length > end - off) return fail(Error::Malformed);
        switch (static_cast<RemapType>(s.type)) {
        case RemapType::Drhd: TRY(parse_drhd(t, off, s.length, out)); break;
        case RemapType::Rmrr: TRY(parse_rmrr(t, off, s.length, out)); break;
        default: ++out.other_structures; break;
        }
        off += s.length;
    }
    // §8.3: an INCLUDE_PCI_ALL unit is the last DRHD listed for its segment
    // (so "every device no earlier unit names" is well defined).
    for (size_t i = 0; i < out.unit_count; ++i) {
        if (!out.units[i].include_pci_all) continue;
        for (size_t j = i + 1; j < out.unit_count; ++j)
            if (out.units[j].segment == out.units[i].segment) return fail(Error::Malformed);
    }
    return {};
}

bool resolve_scope(const DeviceScope& s, BridgeBuses& bridges, uint8_t& bus, uint8_t& dev, uint8_t& fn) {
    if (s.hops == 0) return false;
    uint8_t b = s.start_bus;
    for (uint8_t h = 0; h + 1 < s.hops; ++h) {
        uint8_t secondary, subordinate;
        if (!bridges.buses(b, s.device[h], s.function[h], secondary, subordinate)) return false;
        b = secondary;
    }
    bus = b;
    dev = s.device[s.hops - 1];
    fn = s.function[s.hops - 1];
    return true;
}

const RemapUnit* unit_for(const DmarInfo& info, uint16_t segment, uint8_t bus, uint8_t dev, uint8_t fn,
                          BridgeBuses& bridges) {
    const RemapUnit* catch_all = nullptr;
    for (size_t i = 0; i < info.unit_count; ++i) {
        const RemapUnit& u = info.units[i];
        if (u.segment != segment) continue;
        if (u.include_pci_all) catch_all = &u;
        for (size_t k = 0; k < u.scope_count; ++k) {
            const DeviceScope& s = u.scopes[k];
            if (s.type == ScopeType::PciEndpoint && same_bdf(s, bridges, bus, dev, fn)) return &u;
            if (s.type == ScopeType::PciSubHierarchy && under_bridge(s, bridges, bus, dev, fn)) return &u;
        }
    }
    return catch_all;
}

} // namespace sv::vtd

#include "devices/iommu/amdvi/ivrs.hpp"

namespace sv::amdvi {
namespace {
constexpr uint64_t mmio_align_mask = 16 * 1024 - 1; // §3.1: the register block is 16 KiB aligned
constexpr uint64_t page_mask = 4095;

template <class T> T load(std::span<const uint8_t> bytes, size_t offset) {
    T v;
    __builtin_memcpy(&v, bytes.data() + offset, sizeof v);
    return v;
}
uint16_t load16(std::span<const uint8_t> t, size_t at) { return load<uint16_t>(t, at); }

// Length of the device entry starting with `type` at `at` (§5.2.2.2);
// 0: unknown type (its length cannot be known), or a truncated F0h.
size_t entry_length(std::span<const uint8_t> t, size_t at, size_t end) {
    const uint8_t type = t[at];
    if (type < 0x80) return size_t{4} << (type >> 6);
    if (type == entry::acpi_hid) {
        if (end - at < entry::acpi_hid_fixed_bytes) return 0;
        return entry::acpi_hid_fixed_bytes + t[at + entry::acpi_hid_fixed_bytes - 1];
    }
    return 0;
}

Result<void> add_range(IommuUnit& u, uint16_t first, uint16_t last, bool aliased, uint16_t alias) {
    if (u.range_count == IommuUnit::max_ranges) return fail(Error::OutOfRange);
    u.ranges[u.range_count++] = DeviceRange{first, last, alias, aliased};
    return {};
}

// The device entries in [at, end) of one IVHD.
Result<void> parse_entries(std::span<const uint8_t> t, size_t at, size_t end, IommuUnit& u) {
    bool open = false; // a start-of-range entry waits for its end
    uint16_t start = 0, alias = 0;
    bool aliased = false;
    while (at < end) {
        const size_t len = entry_length(t, at, end);
        if (len == 0 || len > end - at) return fail(Error::Malformed);
        const uint8_t type = t[at];
        const uint16_t id = load16(t, at + 1);
        if (open && type != entry::range_end && type != entry::pad4 && type != entry::pad8)
            return fail(Error::Malformed); // §5.2.2.2: a range's end follows its start
        switch (type) {
        case entry::all: TRY(add_range(u, 0, 0xFFFF, false, 0)); break;
        case entry::select:
        case entry::extended_select: TRY(add_range(u, id, id, false, 0)); break;
        case entry::alias_select: TRY(add_range(u, id, id, true, load16(t, at + 5))); break;
        case entry::range_start:
        case entry::extended_range_start:
        case entry::alias_range_start:
            open = true;
            start = id;
            aliased = type == entry::alias_range_start;
            alias = aliased ? load16(t, at + 5) : 0;
            break;
        case entry::range_end:
            if (!open || id < start) return fail(Error::Malformed);
            TRY(add_range(u, start, id, aliased, alias));
            open = false;
            break;
        case entry::special: {
            if (u.special_count == IommuUnit::max_specials) return fail(Error::OutOfRange);
            SpecialDevice& s = u.specials[u.special_count++];
            s.handle = t[at + 4];
            s.device_id = load16(t, at + 5);
            s.variety = static_cast<SpecialVariety>(t[at + 7]);
            break;
        }
        case entry::acpi_hid:
            ++u.acpi_devices;
            TRY(add_range(u, id, id, false, 0));
            break;
        default: break; // pads and reserved types of a known length: nothing to record
        }
        at += len;
    }
    return open ? fail(Error::Malformed) : Result<void>{};
}

Result<void> parse_ivhd(std::span<const uint8_t> t, size_t at, size_t length, IvrsInfo& out) {
    const uint8_t type = t[at];
    const size_t header = type == block::ivhd_10h ? ivhd_10h_bytes : ivhd_11h_bytes;
    if (length < header) return fail(Error::Malformed);
    const auto h = load<IvhdHeader>(t, at);
    if (h.base_address == 0 || (h.base_address & mmio_align_mask)) return fail(Error::Malformed);
    IommuUnit u;
    u.type = type;
    u.flags = h.flags;
    u.device_id = h.device_id;
    u.capability_offset = h.capability_offset;
    u.base = h.base_address;
    u.segment = h.segment;
    if (type != block::ivhd_10h) u.efr_image = load<uint64_t>(t, at + ivhd_10h_bytes);
    TRY(parse_entries(t, at + header, at + length, u));
    ++out.ivhd_blocks;
    // The same IOMMU described again by another IVHD type: keep the highest.
    for (size_t i = 0; i < out.unit_count; ++i) {
        IommuUnit& other = out.units[i];
        if (other.segment != u.segment || other.device_id != u.device_id) continue;
        if (other.base != u.base) return fail(Error::Malformed); // one IOMMU, two register blocks
        if (u.type > other.type) other = u;
        return {};
    }
    if (out.unit_count == IvrsInfo::max_units) return fail(Error::OutOfRange);
    out.units[out.unit_count++] = u;
    return {};
}

Result<void> parse_ivmd(std::span<const uint8_t> t, size_t at, size_t length, IvrsInfo& out) {
    if (length < sizeof(IvmdEntry)) return fail(Error::Malformed);
    if (out.block_count == IvrsInfo::max_blocks) return fail(Error::OutOfRange);
    const auto e = load<IvmdEntry>(t, at);
    if ((e.start & page_mask) || (e.bytes & page_mask) || e.start + e.bytes < e.start) return fail(Error::Malformed);
    MemoryBlock& b = out.blocks[out.block_count];
    b = MemoryBlock{e.type, e.flags, 0, 0xFFFF, e.start, e.bytes};
    if (e.type == block::ivmd_select) b.first = b.last = e.device_id;
    if (e.type == block::ivmd_range) {
        if (e.aux < e.device_id) return fail(Error::Malformed);
        b.first = e.device_id;
        b.last = e.aux;
    }
    ++out.block_count;
    return {};
}
} // namespace

Result<void> parse_ivrs(std::span<const uint8_t> t, IvrsInfo& out) {
    out = IvrsInfo{};
    if (t.size() < sizeof(IvrsHeader)) return fail(Error::Malformed);
    const auto h = load<IvrsHeader>(t, 0);
    if (__builtin_memcmp(h.signature, "IVRS", 4) != 0 || h.length < sizeof h || h.length > t.size())
        return fail(Error::Malformed);
    out.iv_info = h.iv_info;
    const size_t end = h.length;
    for (size_t at = sizeof h; at < end;) {
        // Every IVDB starts with type, flags, length (§5.2.2, §5.2.3).
        if (end - at < 4) return fail(Error::Malformed);
        const uint16_t length = load16(t, at + 2);
        if (length < 4 || length > end - at) return fail(Error::Malformed);
        switch (t[at]) {
        case block::ivhd_10h:
        case block::ivhd_11h:
        case block::ivhd_40h: TRY(parse_ivhd(t, at, length, out)); break;
        case block::ivmd_all:
        case block::ivmd_select:
        case block::ivmd_range: TRY(parse_ivmd(t, at, length, out)); break;
        default: ++out.other_blocks; break;
        }
        at += length;
    }
    return {};
}

const IommuUnit* unit_for(const IvrsInfo& info, uint16_t segment, uint16_t id) {
    for (size_t i = 0; i < info.unit_count; ++i) {
        const IommuUnit& u = info.units[i];
        if (u.segment != segment) continue;
        for (size_t k = 0; k < u.range_count; ++k)
            if (u.ranges[k].first <= id && id <= u.ranges[k].last) return &u;
    }
    return nullptr;
}

uint16_t requester_id(const IommuUnit& u, uint16_t id) {
    // The most specific entry wins (a select or alias inside an "all" range).
    const DeviceRange* best = nullptr;
    for (size_t k = 0; k < u.range_count; ++k) {
        const DeviceRange& r = u.ranges[k];
        if (r.first <= id && id <= r.last && (!best || r.last - r.first < best->last - best->first)) best = &r;
    }
    return best && best->aliased ? best->alias : id;
}

} // namespace sv::amdvi

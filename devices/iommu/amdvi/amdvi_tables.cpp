#include "devices/iommu/amdvi/amdvi_tables.hpp"

namespace sv::amdvi {
namespace {
// Counts every table the builder takes (the boot log prints the cost).
struct Counting final : PageTableMemory {
    PageTableMemory& inner;
    size_t pages = 0;
    explicit Counting(PageTableMemory& m) : inner(m) {}
    Result<uint64_t> allocate_table() override {
        ++pages;
        return inner.allocate_table();
    }
    uint64_t* table(uint64_t phys) override { return inner.table(phys); }
};
} // namespace

// Rewrites the core's tree into the AMD-Vi encoding (see the header): table
// references get Next Level = the level below, leaves Next Level 0 without
// bit 7, empty entries the not-present form.
void AmdviTables::finish(uint64_t table, unsigned level) {
    uint64_t* e = memory_.table(table);
    for (size_t i = 0; i < 512; ++i) {
        if (!(e[i] & pte::present)) {
            e[i] = pte::not_present;
            continue;
        }
        const bool leaf = level == 1 || nested_format_amdvi.is_large(e[i]);
        if (leaf) {
            e[i] &= ~(NestedFormat::large_page | pte::next_level_mask);
            continue;
        }
        finish(e[i] & NestedFormat::address_mask, level - 1);
        e[i] = (e[i] & ~pte::next_level_mask) | static_cast<uint64_t>(level - 1) << pte::next_level_shift;
    }
}

Result<uint64_t> AmdviTables::build_domain(const TableInputs& in, bool mediated, uint64_t& bytes, size_t& pages) {
    Counting counting(memory_);
    NestedPageTable t(counting, nested_format_amdvi);
    TRY(t.init());
    bytes = TRY(iommu::build_domain(t, in.domain, mediated));
    finish(t.root(), dte::levels);
    pages += counting.pages;
    return t.root();
}

Result<TableStats> AmdviTables::build(const TableInputs& in) {
    if (!in.domain.guest_map || !devices_ || (devices_phys_ & 0xFFF)) return fail(Error::InvalidArgument);
    for (size_t i = 0; i < in.domain.device_dma_count; ++i)
        if (!in.domain.device_dma[i].length) return fail(Error::InvalidArgument);
    TableStats s;
    s.device_table = devices_phys_;
    s.guest_root = TRY(build_domain(in, false, s.guest_bytes, s.table_pages));
    s.mediated_root = s.guest_root;
    if (in.mediated_count) {
        uint64_t mediated_bytes = 0;
        s.mediated_root = TRY(build_domain(in, true, mediated_bytes, s.table_pages));
        s.mediated_extra = mediated_bytes - s.guest_bytes;
    }
    const DeviceTableEntry guest = make_dte(s.guest_root, guest_domain_id);
    const DeviceTableEntry mediated = make_dte(s.mediated_root, mediated_domain_id);
    for (size_t id = 0; id < device_ids; ++id) devices_[id] = guest;
    for (size_t i = 0; i < in.mediated_count; ++i) devices_[in.mediated[i]] = mediated;
    return s;
}

} // namespace sv::amdvi

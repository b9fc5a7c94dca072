#include "devices/iommu/vtd/vtd_tables.hpp"

namespace sv::vtd {

// The mapping rules are the vendor-neutral ones (devices/iommu/dma_domain.hpp,
// shared with AMD-Vi): every whole page of guest memory 1:1, the RMRRs, and for
// the mediated domain the shadow windows; a map that overlaps the hypervisor is
// refused. What is VT-d's own is the 3-level root below.
Result<uint64_t> VtdTables::build_domain(NestedPageTable& t, const DomainInputs& in, bool mediated,
                                         uint64_t& bytes) {
    TRY(t.init());
    iommu::DomainInputs d;
    d.guest_map = in.guest_map;
    d.reserved = in.reserved;
    d.reserved_count = in.reserved_count;
    d.device_dma = in.device_dma;
    d.device_dma_count = in.device_dma_count;
    d.hypervisor = in.hypervisor;
    d.hypervisor_count = in.hypervisor_count;
    bytes += TRY(iommu::build_domain(t, d, mediated));
    if (levels_ == 4) return t.root();
    // 3 levels: the table under entry 0 is the root, so nothing may sit in
    // entries 1..511 (at or above 512 GiB).
    const uint64_t* top = memory_.table(t.root());
    for (size_t i = 1; i < 512; ++i)
        if (top[i]) return fail(Error::Unsupported);
    if (!nested_format_vtd.is_present(top[0])) return fail(Error::NotFound);
    return top[0] & NestedFormat::address_mask;
}

ContextEntry VtdTables::make_context(uint16_t did) const {
    ContextEntry c;
    c.lo = (domain_root(did) & context_address_mask) | context_present; // TT = 00b, FPD = 0: faults recorded
    c.hi = static_cast<uint64_t>(levels_ == 3 ? context_aw_39 : context_aw_48) |
           static_cast<uint64_t>(did) << context_did_shift;
    return c;
}

// A context table for `bus` (-1: the table every other bus shares).
Result<uint64_t> VtdTables::fill_context_table(const DomainInputs& in, int bus) {
    const uint64_t pa = TRY(memory_.allocate_table());
    auto* entries = reinterpret_cast<ContextEntry*>(memory_.table(pa));
    const ContextEntry guest = make_context(guest_domain_id);
    const ContextEntry mediated = make_context(mediated_domain_id);
    for (size_t devfn = 0; devfn < entries_per_table; ++devfn) entries[devfn] = guest;
    for (size_t i = 0; i < in.mediated_count; ++i)
        if (in.mediated[i].bus == bus) entries[in.mediated[i].devfn()] = mediated;
    return pa;
}

Result<TableStats> VtdTables::build(const DomainInputs& in, const WalkCapabilities& walk) {
    if (!in.guest_map) return fail(Error::InvalidArgument);
    if (walk.levels != 3 && walk.levels != 4) return fail(Error::Unsupported);
    if (!walk.pages_2m) return fail(Error::Unsupported);
    for (size_t i = 0; i < in.device_dma_count; ++i)
        if (!in.device_dma[i].length) return fail(Error::InvalidArgument);
    levels_ = walk.levels;
    TableStats stats;

    // Count pages by the allocator's own measure: every table comes through allocate_table.
    struct Counting final : PageTableMemory {
        PageTableMemory& inner;
        size_t pages = 0;
        explicit Counting(PageTableMemory& m) : inner(m) {}
        Result<uint64_t> allocate_table() override {
            ++pages;
            return inner.allocate_table();
        }
        uint64_t* table(uint64_t phys) override { return inner.table(phys); }
    } counting(memory_);

    NestedPageTable guest(counting, nested_format_vtd), mediated(counting, nested_format_vtd);
    guest_root_ = TRY(build_domain(guest, in, false, stats.guest_bytes));
    uint64_t mediated_bytes = 0;
    mediated_root_ = in.mediated_count ? TRY(build_domain(mediated, in, true, mediated_bytes)) : guest_root_;
    stats.mediated_extra = in.mediated_count ? mediated_bytes - stats.guest_bytes : 0;

    root_ = TRY(counting.allocate_table());
    auto* roots = reinterpret_cast<RootEntry*>(memory_.table(root_));
    const uint64_t shared = TRY(fill_context_table(in, -1));
    ++counting.pages;
    stats.context_tables = 1;
    for (size_t bus = 0; bus < entries_per_table; ++bus) {
        uint64_t table = shared;
        for (size_t i = 0; i < in.mediated_count; ++i) {
            if (in.mediated[i].bus != bus) continue;
            table = TRY(fill_context_table(in, static_cast<int>(bus)));
            ++counting.pages;
            ++stats.context_tables;
            break;
        }
        roots[bus].lo = (table & context_address_mask) | root_present;
        roots[bus].hi = 0;
    }
    stats.root = root_;
    stats.table_pages = counting.pages;
    return stats;
}

RootEntry VtdTables::root_entry(uint8_t bus) const {
    if (!root_) return {};
    return reinterpret_cast<const RootEntry*>(memory_.table(root_))[bus];
}

ContextEntry VtdTables::context_entry(uint8_t bus, uint8_t devfn) const {
    const RootEntry r = root_entry(bus);
    if (!(r.lo & root_present)) return {};
    return reinterpret_cast<const ContextEntry*>(memory_.table(r.lo & context_address_mask))[devfn];
}

} // namespace sv::vtd

#include "core/nested_identity.hpp"

namespace sv {
namespace {
constexpr uint64_t page = NestedPageTable::page_4k;

bool is_memory(MemoryType t) {
    return t == MemoryType::Ram || t == MemoryType::AcpiReclaimable || t == MemoryType::AcpiNvs;
}
} // namespace

CacheType identity_cache_type(const MemoryMap& map, uint64_t base, uint64_t length) {
    const uint64_t end = base + length;
    if (length == 0 || end < base) return CacheType::Uncacheable;
    // Walk forward through memory regions that cover `reached`; the map need
    // not be sorted, so rescan until no region extends the covered prefix.
    uint64_t reached = base;
    for (bool progress = true; progress && reached < end;) {
        progress = false;
        for (size_t i = 0; i < map.size(); ++i) {
            const MemoryRegion& r = map[i];
            if (is_memory(r.type) && r.base <= reached && reached < r.end()) {
                reached = r.end();
                progress = true;
            }
        }
    }
    return reached >= end ? CacheType::WriteBack : CacheType::Uncacheable;
}

Result<void> build_identity_map(NestedPageTable& table, const MemoryMap& map, uint64_t top,
                                const PhysRange* hidden, size_t hidden_count, uint64_t zero_page) {
    const bool typed = table.format().records_memory_type();
    // Untyped (NPT): one write-back identity map, large pages throughout.
    // Typed (EPT): uncacheable first, then the memory regions write-back
    // (whole pages only: a partial page at a region's edge stays uncacheable).
    const CacheType base_type = typed ? CacheType::Uncacheable : CacheType::WriteBack;
    TRY(table.map(0, 0, top, NestedAccess::ReadWriteExecute.with(base_type)));
    if (typed) {
        for (size_t i = 0; i < map.size(); ++i) {
            const MemoryRegion& r = map[i];
            if (!is_memory(r.type)) continue;
            const uint64_t from = (r.base + page - 1) & ~(page - 1);
            const uint64_t to = (r.end() < top ? r.end() : top) & ~(page - 1);
            if (from < to) TRY(table.map(from, from, to - from, NestedAccess::ReadWriteExecute));
        }
    }
    // The zero page is hypervisor RAM: write-back. Execute stays allowed, as
    // it always has been under NPT (executing zeros reaches nothing of ours).
    for (size_t i = 0; i < hidden_count; ++i)
        TRY(table.map_all_to(hidden[i].base, hidden[i].length, zero_page, NestedAccess::ReadExecute));
    return {};
}

} // namespace sv

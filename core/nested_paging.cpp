#include "core/nested_paging.hpp"

namespace sv {
namespace {
unsigned index(uint64_t gpa, int level) { return (gpa >> (12 + 9 * (level - 1))) & 511; }
constexpr uint64_t level_size(int level) { return 1ull << (12 + 9 * (level - 1)); }

bool valid_access(NestedAccess a) {
    if (!a.mapped()) return true;
    constexpr uint8_t all = NestedAccess::read | NestedAccess::write | NestedAccess::execute;
    // Write- or execute-only leaves: NPT cannot express them, and in EPT a
    // writable, unreadable entry is a misconfiguration (SDM vol. 3C "EPT
    // Misconfigurations").
    return (a.rights & NestedAccess::read) && !(a.rights & ~all) && valid_cache_type(a.cache);
}
} // namespace

Result<void> NestedPageTable::init() {
    root_ = TRY(memory_->allocate_table());
    return {};
}

Result<uint64_t*> NestedPageTable::walk_to(uint64_t gpa, int level) {
    const NestedFormat& f = *format_;
    uint64_t* table = memory_->table(root_);
    for (int l = 4; l > level; --l) {
        uint64_t& e = table[index(gpa, l)];
        if (!f.is_present(e)) {
            e = f.table_entry(TRY(memory_->allocate_table()));
        } else if (f.is_large(e)) {
            // Split a large page into 512 entries of the next size down that
            // keep the same mapping and attributes, then descend.
            const uint64_t child = TRY(memory_->allocate_table());
            uint64_t* entries = memory_->table(child);
            const uint64_t step = level_size(l - 1);
            const uint64_t base = e & NestedFormat::address_mask & ~(level_size(l) - 1);
            const uint64_t attributes = e & f.leaf_attributes();
            for (uint64_t i = 0; i < 512; ++i)
                entries[i] = (base + i * step) | attributes | (l - 1 > 1 ? NestedFormat::large_page : 0);
            e = f.table_entry(child);
        }
        table = memory_->table(e & NestedFormat::address_mask);
    }
    return &table[index(gpa, level)];
}

Result<void> NestedPageTable::map_page(uint64_t gpa, uint64_t hpa, uint64_t size, NestedAccess access) {
    const NestedFormat& f = *format_;
    const int level = size == page_2m ? 2 : 1;
    uint64_t* e = TRY(walk_to(gpa, level));
    if (level == 2 && f.is_present(*e) && !f.is_large(*e)) {
        // A 4 KiB table sits here already: map through it page by page.
        for (uint64_t off = 0; off < page_2m; off += page_4k) TRY(map_page(gpa + off, hpa + off, page_4k, access));
        return {};
    }
    *e = f.leaf_entry(hpa, access, level == 2);
    return {};
}

Result<void> NestedPageTable::map_pages(uint64_t gpa, uint64_t hpa, uint64_t size, NestedAccess access) {
    while (size) {
        const bool big = !((gpa | hpa) & (page_2m - 1)) && size >= page_2m;
        const uint64_t step = big ? page_2m : page_4k;
        TRY(map_page(gpa, hpa, step, access));
        gpa += step;
        hpa += step;
        size -= step;
    }
    return {};
}

Result<void> NestedPageTable::map_pages_to(uint64_t gpa, uint64_t size, uint64_t hpa, NestedAccess access) {
    for (uint64_t off = 0; off < size; off += page_4k) TRY(map_page(gpa + off, hpa, page_4k, access));
    return {};
}

Result<void> NestedPageTable::map(uint64_t gpa, uint64_t hpa, uint64_t size, NestedAccess access) {
    if (((gpa | hpa | size) & (page_4k - 1)) || !valid_access(access)) return fail(Error::InvalidArgument);
    if (gpa + size < gpa || gpa + size > max_address || hpa + size > max_address)
        return fail(Error::OutOfRange);
    const Result<void> done = map_pages(gpa, hpa, size, access);
    changed(gpa, size); // also after a failure part-way: some entries may have changed
    return done;
}

Result<void> NestedPageTable::map_all_to(uint64_t gpa, uint64_t size, uint64_t hpa, NestedAccess access) {
    if (((gpa | hpa | size) & (page_4k - 1)) || !valid_access(access)) return fail(Error::InvalidArgument);
    if (gpa + size < gpa || gpa + size > max_address || hpa >= max_address) return fail(Error::OutOfRange);
    const Result<void> done = map_pages_to(gpa, size, hpa, access);
    changed(gpa, size);
    return done;
}

NestedMapping NestedPageTable::lookup(uint64_t gpa) {
    const NestedFormat& f = *format_;
    uint64_t* table = memory_->table(root_);
    for (int l = 4; l >= 1; --l) {
        const uint64_t e = table[index(gpa, l)];
        if (!f.is_present(e)) return {};
        if (l == 1 || f.is_large(e)) {
            const uint64_t size = level_size(l);
            const uint64_t base = e & NestedFormat::address_mask & ~(size - 1);
            return NestedMapping{base + (gpa & (size - 1)), f.leaf_access(e), size};
        }
        table = memory_->table(e & NestedFormat::address_mask);
    }
    return {};
}

} // namespace sv

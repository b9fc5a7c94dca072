#include "core/nested_paging.hpp"

namespace sv {
namespace {
constexpr uint64_t present = 1ull << 0;
constexpr uint64_t writable = 1ull << 1;
constexpr uint64_t user = 1ull << 2;
constexpr uint64_t large = 1ull << 7;
constexpr uint64_t address_mask = 0x000FFFFFFFFFF000ull;
constexpr uint64_t table_flags = present | writable | user;

uint64_t leaf_flags(NestedAccess a) {
    switch (a) {
    case NestedAccess::None: return 0;
    case NestedAccess::ReadOnly: return present | user;
    case NestedAccess::ReadWrite: return present | writable | user;
    }
    return 0;
}
unsigned index(uint64_t gpa, int level) { return (gpa >> (12 + 9 * (level - 1))) & 511; }
} // namespace

Result<void> NestedPageTable::init() {
    root_ = TRY(memory_.allocate_table());
    return {};
}

Result<uint64_t*> NestedPageTable::walk_to(uint64_t gpa, int level) {
    uint64_t* table = memory_.table(root_);
    for (int l = 4; l > level; --l) {
        uint64_t& e = table[index(gpa, l)];
        if (!(e & present)) {
            e = TRY(memory_.allocate_table()) | table_flags;
        } else if (e & large) {
            // Split a large page into 512 entries of the next size down that
            // keep the same mapping, then descend.
            const uint64_t child = TRY(memory_.allocate_table());
            uint64_t* entries = memory_.table(child);
            const uint64_t step = 1ull << (12 + 9 * (l - 2));
            const uint64_t base = e & address_mask & ~((1ull << (12 + 9 * (l - 1))) - 1);
            const uint64_t flags = e & (present | writable | user);
            for (uint64_t i = 0; i < 512; ++i)
                entries[i] = (base + i * step) | flags | (l - 1 > 1 ? large : 0);
            e = child | table_flags;
        }
        table = memory_.table(e & address_mask);
    }
    return &table[index(gpa, level)];
}

Result<void> NestedPageTable::map_page(uint64_t gpa, uint64_t hpa, uint64_t size,
                                       NestedAccess access) {
    const int level = size == page_2m ? 2 : 1;
    uint64_t* e = TRY(walk_to(gpa, level));
    if (level == 2 && (*e & present) && !(*e & large)) {
        // A 4 KiB table sits here already: map through it page by page.
        for (uint64_t off = 0; off < page_2m; off += page_4k) TRY(map_page(gpa + off, hpa + off, page_4k, access));
        return {};
    }
    const uint64_t flags = leaf_flags(access);
    *e = flags ? ((hpa & address_mask) | flags | (level == 2 ? large : 0)) : 0;
    return {};
}

Result<void> NestedPageTable::map(uint64_t gpa, uint64_t hpa, uint64_t size, NestedAccess access) {
    if ((gpa | hpa | size) & (page_4k - 1)) return fail(Error::InvalidArgument);
    if (gpa + size < gpa || gpa + size > max_address || hpa + size > max_address)
        return fail(Error::OutOfRange);
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

Result<void> NestedPageTable::map_all_to(uint64_t gpa, uint64_t size, uint64_t hpa,
                                         NestedAccess access) {
    if ((gpa | hpa | size) & (page_4k - 1)) return fail(Error::InvalidArgument);
    if (gpa + size < gpa || gpa + size > max_address || hpa >= max_address) return fail(Error::OutOfRange);
    for (uint64_t off = 0; off < size; off += page_4k) TRY(map_page(gpa + off, hpa, page_4k, access));
    return {};
}

NestedMapping NestedPageTable::lookup(uint64_t gpa) {
    uint64_t* table = memory_.table(root_);
    for (int l = 4; l >= 1; --l) {
        const uint64_t e = table[index(gpa, l)];
        if (!(e & present)) return {};
        if (l == 1 || (e & large)) {
            const uint64_t size = 1ull << (12 + 9 * (l - 1));
            const uint64_t base = e & address_mask & ~(size - 1);
            return NestedMapping{base + (gpa & (size - 1)),
                                 (e & writable) ? NestedAccess::ReadWrite : NestedAccess::ReadOnly, size};
        }
        table = memory_.table(e & address_mask);
    }
    return {};
}

} // namespace sv

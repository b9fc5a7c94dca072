#include "core/memory_map.hpp"

namespace sv {
namespace {
// Priority when regions overlap: RAM is the weakest claim.
int rank(MemoryType t) { return t == MemoryType::Ram ? 0 : static_cast<int>(t); }
} // namespace

Result<void> MemoryMap::add(uint64_t base, uint64_t length, MemoryType type) {
    if (length == 0) return {};
    if (base + length < base) return fail(Error::InvalidArgument);
    if (count_ == capacity) return fail(Error::OutOfMemory);
    regions_[count_++] = MemoryRegion{base, length, type};
    return {};
}

Result<void> MemoryMap::carve(uint64_t base, uint64_t length, MemoryType type) {
    if (length == 0) return {};
    if (base + length < base) return fail(Error::InvalidArgument);
    // Cut every region around [base, end), then insert the carved range.
    const uint64_t end = base + length;
    MemoryRegion* out = scratch_;
    size_t n = 0;
    for (size_t i = 0; i < count_; ++i) {
        const MemoryRegion r = regions_[i];
        if (r.end() <= base || r.base >= end) {
            if (n == capacity) return fail(Error::OutOfMemory);
            out[n++] = r;
            continue;
        }
        if (r.base < base) {
            if (n == capacity) return fail(Error::OutOfMemory);
            out[n++] = MemoryRegion{r.base, base - r.base, r.type};
        }
        if (r.end() > end) {
            if (n == capacity) return fail(Error::OutOfMemory);
            out[n++] = MemoryRegion{end, r.end() - end, r.type};
        }
    }
    if (n == capacity) return fail(Error::OutOfMemory);
    out[n++] = MemoryRegion{base, length, type};
    for (size_t i = 0; i < n; ++i) regions_[i] = out[i];
    count_ = n;
    return normalize();
}

Result<void> MemoryMap::normalize() {
    // Resolve overlaps by carving each stronger region over the weaker ones:
    // process regions from weakest to strongest so the strongest wins.
    MemoryRegion* input = scratch_;
    const size_t n = count_;
    for (size_t i = 0; i < n; ++i) input[i] = regions_[i];
    // Insertion sort by (rank, base): small n, no allocation.
    for (size_t i = 1; i < n; ++i) {
        MemoryRegion key = input[i];
        size_t j = i;
        while (j > 0 && (rank(input[j - 1].type) > rank(key.type) ||
                         (rank(input[j - 1].type) == rank(key.type) && input[j - 1].base > key.base))) {
            input[j] = input[j - 1];
            --j;
        }
        input[j] = key;
    }
    count_ = 0;
    for (size_t i = 0; i < n; ++i) {
        // Remove overlap with what is already placed, then place.
        const MemoryRegion r = input[i];
        MemoryRegion* kept = kept_;
        size_t k = 0;
        for (size_t p = 0; p < count_; ++p) {
            const MemoryRegion q = regions_[p];
            // A region that splits around r adds one entry: check every push.
            if (k == capacity) return fail(Error::OutOfMemory);
            if (q.end() <= r.base || q.base >= r.end()) {
                kept[k++] = q;
                continue;
            }
            if (q.base < r.base) kept[k++] = MemoryRegion{q.base, r.base - q.base, q.type};
            if (q.end() > r.end()) {
                if (k == capacity) return fail(Error::OutOfMemory);
                kept[k++] = MemoryRegion{r.end(), q.end() - r.end(), q.type};
            }
        }
        if (k == capacity) return fail(Error::OutOfMemory);
        kept[k++] = r;
        for (size_t p = 0; p < k; ++p) regions_[p] = kept[p];
        count_ = k;
    }
    // Sort by base and merge touching regions of one type.
    for (size_t i = 1; i < count_; ++i) {
        MemoryRegion key = regions_[i];
        size_t j = i;
        while (j > 0 && regions_[j - 1].base > key.base) {
            regions_[j] = regions_[j - 1];
            --j;
        }
        regions_[j] = key;
    }
    size_t merged = 0;
    for (size_t i = 0; i < count_; ++i) {
        if (merged && regions_[merged - 1].type == regions_[i].type &&
            regions_[merged - 1].end() == regions_[i].base) {
            regions_[merged - 1].length += regions_[i].length;
        } else {
            regions_[merged++] = regions_[i];
        }
    }
    count_ = merged;
    return {};
}

uint64_t MemoryMap::find_top_ram(uint64_t size, uint64_t align, uint64_t limit) const {
    uint64_t best = 0;
    for (size_t i = 0; i < count_; ++i) {
        const MemoryRegion& r = regions_[i];
        if (r.type != MemoryType::Ram) continue;
        uint64_t top = r.end() < limit ? r.end() : limit;
        if (top < size || top - size < r.base) continue;
        uint64_t start = (top - size) & ~(align - 1);
        if (start < r.base || start == 0) continue;
        if (start > best) best = start;
    }
    return best;
}

bool MemoryMap::is_ram(uint64_t base, uint64_t length) const {
    if (base + length < base) return false;
    for (size_t i = 0; i < count_; ++i) {
        const MemoryRegion& r = regions_[i];
        if (r.type == MemoryType::Ram && base >= r.base && base + length <= r.end()) return true;
    }
    return false;
}

uint64_t MemoryMap::total(MemoryType type) const {
    uint64_t sum = 0;
    for (size_t i = 0; i < count_; ++i)
        if (regions_[i].type == type) sum += regions_[i].length;
    return sum;
}

uint64_t MemoryMap::highest_end() const {
    uint64_t top = 0;
    for (size_t i = 0; i < count_; ++i)
        if (regions_[i].end() > top) top = regions_[i].end();
    return top;
}

} // namespace sv

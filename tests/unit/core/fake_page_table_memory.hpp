// A fake PageTableMemory for the nested paging tests: 4 KiB tables from the
// host heap at made-up physical addresses, with a table limit.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/nested_paging.hpp"

namespace sv {

// Page tables from a std::vector of 4 KiB pages at physical base + index * 4096.
class FakePageTableMemory final : public PageTableMemory {
  public:
    static constexpr uint64_t base = 0x7f000000;
    explicit FakePageTableMemory(size_t max_tables) : max_(max_tables) {}

    Result<uint64_t> allocate_table() override {
        if (pages_.size() == max_) return fail(Error::OutOfMemory);
        // Separately allocated pages: a table never moves once handed out.
        pages_.push_back(std::make_unique<std::array<uint64_t, 512>>());
        pages_.back()->fill(0);
        return base + (pages_.size() - 1) * 4096;
    }
    uint64_t* table(uint64_t phys) override {
        EXPECT_EQ(phys % 4096, 0u);
        EXPECT_GE(phys, base);
        const size_t i = (phys - base) / 4096;
        EXPECT_LT(i, pages_.size()) << "walk into a table that was never allocated";
        return i < pages_.size() ? pages_[i]->data() : nullptr;
    }
    size_t used() const { return pages_.size(); }
    void set_limit(size_t max_tables) { max_ = max_tables; }

  private:
    size_t max_;
    std::vector<std::unique_ptr<std::array<uint64_t, 512>>> pages_;
};

// Raw entries along the 4-level walk for `gpa`, root first, down to the leaf
// or the first entry with none of `present` set (NPT: P; EPT: R|W|X).
inline std::vector<uint64_t> raw_walk(FakePageTableMemory& mem, uint64_t root, uint64_t gpa, uint64_t present) {
    constexpr uint64_t large = 1ull << 7;
    constexpr uint64_t address = 0x000FFFFFFFFFF000ull;
    std::vector<uint64_t> out;
    uint64_t* table = mem.table(root);
    for (int l = 4; l >= 1; --l) {
        const uint64_t e = table[(gpa >> (12 + 9 * (l - 1))) & 511];
        out.push_back(e);
        if (!(e & present) || l == 1 || (e & large)) break;
        table = mem.table(e & address);
    }
    return out;
}

} // namespace sv

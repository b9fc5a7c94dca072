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

} // namespace sv

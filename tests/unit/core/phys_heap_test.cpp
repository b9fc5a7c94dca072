// PhysHeap keeps DMA memory (allocate) apart from page-table pages
// (allocate_table), so the IOMMU maps for mediated controllers only their
// shadow memory (issue #12 item 4).
#include <gtest/gtest.h>

#include <vector>

#include "core/phys_heap.hpp"

namespace sv {
namespace {

constexpr uint64_t kBase = 0x4000'0000;

class PhysHeapTest : public ::testing::Test {
  protected:
    void SetUp() override { heap.init(buffer.data(), kBase, buffer.size()); }
    std::vector<uint8_t> buffer = std::vector<uint8_t>(4 << 20);
    PhysHeap heap;
};

TEST_F(PhysHeapTest, TablePagesAreNotDmaMemory) {
    ASSERT_TRUE(heap.allocate(4096 * 2, 4096).ok());    // [0, 8K)
    ASSERT_TRUE(heap.allocate(100, 64).ok());           // [8K, 8K+100): same extent
    const uint64_t table = heap.allocate_table().value(); // 12K
    EXPECT_EQ(table, kBase + 0x3000);
    ASSERT_TRUE(heap.allocate(4096, 4096).ok());        // 16K: a new extent
    ASSERT_EQ(heap.dma_extent_count(), 2u);
    EXPECT_TRUE(heap.dma_extents_complete());
    EXPECT_EQ(heap.dma_extents()[0].phys, kBase);
    EXPECT_EQ(heap.dma_extents()[0].bytes, 0x3000u); // 8K + a partial page, rounded up
    EXPECT_EQ(heap.dma_extents()[1].phys, kBase + 0x4000);
    EXPECT_EQ(heap.dma_extents()[1].bytes, 0x1000u);
    for (size_t i = 0; i < heap.dma_extent_count(); ++i) {
        const HeapExtent& e = heap.dma_extents()[i];
        EXPECT_FALSE(table >= e.phys && table < e.phys + e.bytes) << "a table page is in DMA extent " << i;
    }
}

TEST_F(PhysHeapTest, RestartForgetsEarlierExtents) {
    ASSERT_TRUE(heap.allocate(4096, 4096).ok());
    heap.restart_dma_extents();
    EXPECT_EQ(heap.dma_extent_count(), 0u);
    ASSERT_TRUE(heap.allocate(64, 64).ok());
    ASSERT_EQ(heap.dma_extent_count(), 1u);
    EXPECT_EQ(heap.dma_extents()[0].phys, kBase + 0x1000);
}

TEST_F(PhysHeapTest, TooManyExtentsIsReportedNotHidden) {
    for (size_t i = 0; i <= PhysHeap::max_dma_extents; ++i) {
        ASSERT_TRUE(heap.allocate(64, 64).ok());
        ASSERT_TRUE(heap.allocate_table().ok()); // breaks adjacency every time
    }
    EXPECT_EQ(heap.dma_extent_count(), PhysHeap::max_dma_extents);
    EXPECT_FALSE(heap.dma_extents_complete());
}

} // namespace
} // namespace sv

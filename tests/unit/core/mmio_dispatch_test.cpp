// core/mmio_dispatch: shared MMIO ranges, moves (trap new before releasing
// old), removal, overlap refusal, generation counter.
#include <gtest/gtest.h>

#include <vector>

#include "core/mmio_dispatch.hpp"

namespace sv {
namespace {

struct Handler final : MmioWriteHandler {
    void mmio_write(uint64_t, uint8_t, uint64_t) override {}
};
struct Mapper final : MmioMapper {
    std::vector<std::pair<uint64_t, bool>> calls;
    bool fail = false;
    std::vector<MmioTrap> modes;
    Result<void> set_trap(uint64_t base, uint64_t, MmioTrap trap) override {
        if (fail) return sv::fail(Error::OutOfMemory);
        calls.emplace_back(base, trap != MmioTrap::Released);
        modes.push_back(trap);
        return {};
    }
};

TEST(CoreMmioDispatch, FindAddMoveRemove) {
    MmioDispatcher d;
    Mapper m;
    d.set_mapper(&m);
    Handler apic, ecam;
    ASSERT_TRUE(d.add(0xFEE00000, 4096, apic).ok());
    ASSERT_TRUE(d.add(0xB0000000, 256ull << 20, ecam).ok());
    EXPECT_EQ(d.find(0xFEE00300)->handler, &apic);
    EXPECT_EQ(d.find(0xBFFFFFFF)->handler, &ecam);
    EXPECT_EQ(d.find(0xC0000000), nullptr);
    EXPECT_EQ(d.find(0xAFFFFFFF), nullptr);
    const uint64_t g = d.generation();
    ASSERT_TRUE(d.move(ecam, 0xB8000000, 256ull << 20).ok()); // overlapping move
    EXPECT_GT(d.generation(), g);
    EXPECT_EQ(d.find(0xB4000000), nullptr);
    EXPECT_EQ(d.find(0xC4000000)->handler, &ecam);
    // Trap the new range, then release only the old part it does not cover.
    ASSERT_EQ(m.calls.size(), 4u);
    EXPECT_EQ(m.calls[2], std::make_pair(uint64_t{0xB8000000}, true));
    EXPECT_EQ(m.calls[3], std::make_pair(uint64_t{0xB0000000}, false));
    d.remove(ecam);
    EXPECT_EQ(d.find(0xC4000000), nullptr);
    EXPECT_EQ(d.size(), 1u);
    EXPECT_EQ(m.calls.back(), std::make_pair(uint64_t{0xB8000000}, false));
}

TEST(CoreMmioDispatch, RefusesOverlapsMisalignmentAndFailedTraps) {
    MmioDispatcher d;
    Mapper m;
    d.set_mapper(&m);
    Handler a, b, c;
    ASSERT_TRUE(d.add(0xFEE00000, 4096, a).ok());
    EXPECT_FALSE(d.add(0xFE000000, 32ull << 20, b).ok());
    EXPECT_FALSE(d.add(0x1000, 100, b).ok());
    EXPECT_FALSE(d.add(0x1800, 4096, b).ok());
    EXPECT_FALSE(d.add(0x1000, 0, b).ok());
    EXPECT_FALSE(d.add(0x2000, 4096, a).ok()); // one range per handler
    ASSERT_TRUE(d.add(0x10000, 4096, b).ok());
    EXPECT_FALSE(d.move(b, 0xFEE00000, 4096).ok());
    EXPECT_EQ(d.find(0x10000)->handler, &b);
    m.fail = true;
    EXPECT_FALSE(d.add(0x20000, 4096, c).ok());
    EXPECT_FALSE(d.move(b, 0x30000, 4096).ok());
    EXPECT_EQ(d.find(0x10000)->handler, &b); // a failed move keeps the old range
    EXPECT_EQ(d.find(0x20000), nullptr);
}

struct Reader final : MmioReadHandler {
    uint64_t mmio_read(uint64_t gpa, uint8_t) override { return gpa; }
};

TEST(CoreMmioDispatch, ReadHandlersTrapReadsAndKeepTheirModeWhenMoved) {
    MmioDispatcher d;
    Mapper m;
    d.set_mapper(&m);
    Handler h;
    Reader r;
    ASSERT_TRUE(d.add(0xFEB00000, 0x4000, h, &r).ok());
    EXPECT_EQ(d.find(0xFEB01000)->reader, &r);
    ASSERT_TRUE(d.move(h, 0xFEC00000, 0x4000).ok());
    EXPECT_EQ(d.find(0xFEC00000)->reader, &r);
    ASSERT_EQ(m.modes.size(), 3u);
    EXPECT_EQ(m.modes[0], MmioTrap::ReadsAndWrites);
    EXPECT_EQ(m.modes[1], MmioTrap::ReadsAndWrites);
    EXPECT_EQ(m.modes[2], MmioTrap::Released);
}

} // namespace
} // namespace sv

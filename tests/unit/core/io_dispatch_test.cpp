// Unit tests for core/io_dispatch: port ranges -> mediators.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/io_dispatch.hpp"

namespace sv {
namespace {

class NullHandler final : public IoHandler {
  public:
    uint32_t io_in(uint16_t, uint8_t) override { return 0; }
    void io_out(uint16_t, uint8_t, uint32_t) override {}
};

TEST(CoreIoDispatch, FindsOwnerOfEachPort) {
    IoDispatcher d;
    NullHandler ide_primary, ide_control, serial;
    ASSERT_TRUE(d.add(0x1f0, 8, ide_primary).ok());
    ASSERT_TRUE(d.add(0x3f6, 1, ide_control).ok());
    ASSERT_TRUE(d.add(0x3f8, 8, serial).ok());
    EXPECT_EQ(d.find(0x1f0), &ide_primary);
    EXPECT_EQ(d.find(0x1f7), &ide_primary);
    EXPECT_EQ(d.find(0x1f8), nullptr);
    EXPECT_EQ(d.find(0x1ef), nullptr);
    EXPECT_EQ(d.find(0x3f6), &ide_control);
    EXPECT_EQ(d.find(0x3f7), nullptr);
    EXPECT_EQ(d.find(0x3ff), &serial);
    EXPECT_EQ(d.find(0x400), nullptr);
}

TEST(CoreIoDispatch, OverlapIsRejected) {
    IoDispatcher d;
    NullHandler a, b;
    ASSERT_TRUE(d.add(0x1f0, 8, a).ok());
    for (auto [first, count] : {std::pair<uint16_t, uint16_t>{0x1f0, 8}, {0x1e9, 8}, {0x1f7, 1}, {0x1f3, 2},
                                {0x100, 0x200}}) {
        Result<void> r = d.add(first, count, b);
        ASSERT_FALSE(r.ok()) << std::hex << first;
        EXPECT_EQ(r.error(), Error::InvalidArgument);
    }
    // Touching ranges are fine.
    EXPECT_TRUE(d.add(0x1e8, 8, b).ok());
    EXPECT_TRUE(d.add(0x1f8, 1, b).ok());
    EXPECT_EQ(d.find(0x1f0), &a);
    EXPECT_EQ(d.find(0x1ef), &b);
}

TEST(CoreIoDispatch, EmptyOrPastTopRangeIsRejected) {
    IoDispatcher d;
    NullHandler a;
    EXPECT_EQ(d.add(0x80, 0, a).error(), Error::InvalidArgument);
    EXPECT_EQ(d.add(0xfff0, 0x11, a).error(), Error::InvalidArgument);
    ASSERT_TRUE(d.add(0xfff0, 0x10, a).ok()); // up to and including 0xffff
    EXPECT_EQ(d.find(0xffff), &a);
}

TEST(CoreIoDispatch, RemoveDropsAllRangesOfAHandler) {
    IoDispatcher d;
    NullHandler ide, serial;
    ASSERT_TRUE(d.add(0x1f0, 8, ide).ok());
    ASSERT_TRUE(d.add(0x3f8, 8, serial).ok());
    ASSERT_TRUE(d.add(0x3f6, 1, ide).ok());
    d.remove(ide);
    EXPECT_EQ(d.find(0x1f0), nullptr);
    EXPECT_EQ(d.find(0x3f6), nullptr);
    EXPECT_EQ(d.find(0x3f8), &serial);
    // The ports are free again, e.g. for a moved BAR.
    EXPECT_TRUE(d.add(0x1f0, 8, serial).ok());
    NullHandler never_added;
    d.remove(never_added);
    EXPECT_EQ(d.find(0x1f0), &serial);
}

TEST(CoreIoDispatch, CapacityIsBounded) {
    IoDispatcher d;
    NullHandler a;
    for (uint16_t i = 0; i < IoDispatcher::max_ranges; ++i) ASSERT_TRUE(d.add(0x1000 + i * 0x10, 4, a).ok());
    Result<void> r = d.add(0x8000, 4, a);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
}

TEST(CoreIoDispatch, ForEachPortVisitsEveryTrappedPortOnce) {
    IoDispatcher d;
    NullHandler a, b;
    ASSERT_TRUE(d.add(0x1f0, 8, a).ok());
    ASSERT_TRUE(d.add(0xfffe, 2, b).ok()); // must not loop forever at the top
    std::vector<uint16_t> ports;
    d.for_each_port([&](uint16_t p) { ports.push_back(p); });
    const std::vector<uint16_t> expected = {0x1f0, 0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5, 0x1f6, 0x1f7, 0xfffe, 0xffff};
    EXPECT_EQ(ports, expected);
}

} // namespace
} // namespace sv

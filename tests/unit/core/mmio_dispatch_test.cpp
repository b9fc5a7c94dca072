// core/mmio_dispatch: shared, intrusive MMIO ranges (no fixed limit), moves
// (trap new before releasing old, a shootdown between), removal, overlap
// refusal, generation counter.
#include <gtest/gtest.h>

#include <deque>
#include <string>
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
    MmioRange apic_r, ecam_r;
    ASSERT_TRUE(d.add(apic_r, 0xFEE00000, 4096, apic).ok());
    ASSERT_TRUE(d.add(ecam_r, 0xB0000000, 256ull << 20, ecam).ok());
    EXPECT_EQ(d.find(0xFEE00300)->handler, &apic);
    EXPECT_EQ(d.find(0xBFFFFFFF)->handler, &ecam);
    EXPECT_EQ(d.find(0xC0000000), nullptr);
    EXPECT_EQ(d.find(0xAFFFFFFF), nullptr);
    const uint64_t g = d.generation();
    ASSERT_TRUE(d.move(ecam_r, 0xB8000000, 256ull << 20).ok()); // overlapping move
    EXPECT_GT(d.generation(), g);
    EXPECT_EQ(d.find(0xB4000000), nullptr);
    EXPECT_EQ(d.find(0xC4000000)->handler, &ecam);
    // Trap the new range, then release only the old part it does not cover.
    ASSERT_EQ(m.calls.size(), 4u);
    EXPECT_EQ(m.calls[2], std::make_pair(uint64_t{0xB8000000}, true));
    EXPECT_EQ(m.calls[3], std::make_pair(uint64_t{0xB0000000}, false));
    d.remove(ecam_r);
    EXPECT_FALSE(ecam_r.linked);
    EXPECT_EQ(d.find(0xC4000000), nullptr);
    EXPECT_EQ(d.size(), 1u);
    EXPECT_EQ(m.calls.back(), std::make_pair(uint64_t{0xB8000000}, false));
    // A removed node moves back in with the handler it kept.
    ASSERT_TRUE(d.move(ecam_r, 0xE0000000, 4096).ok());
    EXPECT_EQ(d.find(0xE0000000)->handler, &ecam);
}

TEST(CoreMmioDispatch, RefusesOverlapsMisalignmentAndFailedTraps) {
    MmioDispatcher d;
    Mapper m;
    d.set_mapper(&m);
    Handler a, b, c;
    MmioRange ra, rb, rc;
    ASSERT_TRUE(d.add(ra, 0xFEE00000, 4096, a).ok());
    EXPECT_FALSE(d.add(rb, 0xFE000000, 32ull << 20, b).ok());
    EXPECT_FALSE(d.add(rb, 0x1000, 100, b).ok());
    EXPECT_FALSE(d.add(rb, 0x1800, 4096, b).ok());
    EXPECT_FALSE(d.add(rb, 0x1000, 0, b).ok());
    EXPECT_FALSE(d.add(rb, 0xFFFFFFFFFFFFF000ull, 0x2000, b).ok()); // wraps
    EXPECT_FALSE(d.add(ra, 0x2000, 4096, a).ok()); // a node is linked once
    ASSERT_TRUE(d.add(rb, 0x10000, 4096, b).ok());
    EXPECT_FALSE(d.move(rb, 0xFEE00000, 4096).ok());
    EXPECT_FALSE(d.move(rb, 0xFEDFF000, 0x2000).ok()); // its tail on the APIC page
    EXPECT_EQ(d.find(0x10000)->handler, &b);
    m.fail = true;
    EXPECT_FALSE(d.add(rc, 0x20000, 4096, c).ok());
    EXPECT_FALSE(rc.linked);
    EXPECT_FALSE(d.move(rb, 0x30000, 4096).ok());
    EXPECT_EQ(d.find(0x10000)->handler, &b); // a failed move keeps the old range
    EXPECT_EQ(d.find(0x20000), nullptr);
    EXPECT_EQ(d.find(0x30000), nullptr);
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
    MmioRange range;
    ASSERT_TRUE(d.add(range, 0xFEB00000, 0x4000, h, &r).ok());
    EXPECT_EQ(d.find(0xFEB01000)->reader, &r);
    ASSERT_TRUE(d.move(range, 0xFEC00000, 0x4000).ok());
    EXPECT_EQ(d.find(0xFEC00000)->reader, &r);
    ASSERT_EQ(m.modes.size(), 3u);
    EXPECT_EQ(m.modes[0], MmioTrap::ReadsAndWrites);
    EXPECT_EQ(m.modes[1], MmioTrap::ReadsAndWrites);
    EXPECT_EQ(m.modes[2], MmioTrap::Released);
}

// More ranges than the old fixed table held (16), added in scrambled order,
// moved past each other: every lookup still finds exactly its owner.
TEST(CoreMmioDispatch, AnyNumberOfRangesStaySortedThroughMoves) {
    MmioDispatcher d;
    Mapper m;
    d.set_mapper(&m);
    constexpr size_t n = 100;
    std::deque<Handler> handlers(n);
    std::deque<MmioRange> nodes(n);
    for (size_t k = 0; k < n; ++k) {
        const size_t i = (k * 37) % n; // a permutation of 0..99
        ASSERT_TRUE(d.add(nodes[i], 0x100000000ull + i * 0x10000, 0x2000, handlers[i]).ok()) << i;
    }
    EXPECT_EQ(d.size(), n);
    for (size_t i = 0; i < n; ++i) {
        EXPECT_EQ(d.find(0x100000000ull + i * 0x10000 + 0x1FFF)->handler, &handlers[i]);
        EXPECT_EQ(d.find(0x100000000ull + i * 0x10000 + 0x2000), nullptr);
    }
    // Range 0 jumps over all others, range 99 below all.
    ASSERT_TRUE(d.move(nodes[0], 0x200000000ull, 0x1000).ok());
    ASSERT_TRUE(d.move(nodes[99], 0x80000000ull, 0x1000).ok());
    EXPECT_EQ(d.find(0x200000000ull)->handler, &handlers[0]);
    EXPECT_EQ(d.find(0x80000000ull)->handler, &handlers[99]);
    EXPECT_EQ(d.find(0x100000000ull), nullptr);
    EXPECT_TRUE(d.overlaps(0x100010000ull, 0x1000));
    EXPECT_FALSE(d.overlaps(0x100010000ull, 0x1000, &nodes[1]));
    for (size_t i = 1; i < n - 1; ++i) EXPECT_EQ(d.find(0x100000000ull + i * 0x10000)->handler, &handlers[i]);
    for (size_t i = 0; i < n; i += 2) d.remove(nodes[i]);
    EXPECT_EQ(d.size(), n / 2);
    for (size_t i = 1; i < n; i += 2) EXPECT_NE(d.find(nodes[i].base), nullptr);
    for (size_t i = 0; i < n; i += 2) EXPECT_EQ(d.find(nodes[i].base), nullptr);
}

// Every mapping change reaches the shootdown; a move shoots down after the
// new pages are trapped and before the old ones are released.
struct OrderMapper final : MmioMapper {
    std::vector<std::string>* log;
    Result<void> set_trap(uint64_t, uint64_t, MmioTrap trap) override {
        log->push_back(trap == MmioTrap::Released ? "release" : "trap");
        return {};
    }
};
struct LoggingKicker final : VcpuKicker {
    std::vector<std::string>* log;
    TlbShootdown* sd;
    size_t vcpu;
    void kick(uint32_t) override {
        log->push_back("kick");
        sd->left_guest(vcpu); // the vCPU answers at once
    }
};

TEST(CoreMmioDispatch, MappingChangesShootDownEveryOtherVcpu) {
    std::vector<std::string> log;
    TlbShootdown sd;
    const size_t other = sd.add_vcpu(7).value();
    LoggingKicker kicker;
    kicker.log = &log;
    kicker.sd = &sd;
    kicker.vcpu = other;
    sd.set_kicker(&kicker);
    sd.set_clock([] { return uint64_t{0}; }, 1);
    OrderMapper m;
    m.log = &log;
    MmioDispatcher d;
    d.set_mapper(&m);
    d.set_shootdown(&sd);
    Handler h;
    MmioRange r;
    (void)sd.entering_guest(other);
    ASSERT_TRUE(d.add(r, 0xFEB00000, 0x1000, h).ok());
    (void)sd.entering_guest(other);
    ASSERT_TRUE(d.move(r, 0xFEC00000, 0x1000).ok());
    (void)sd.entering_guest(other);
    d.remove(r);
    // The release inside the move needs no second kick: the vCPU left the
    // guest for the first one and has not entered since.
    const std::vector<std::string> want{"trap", "kick", "trap", "kick", "release", "release", "kick"};
    EXPECT_EQ(log, want);
    EXPECT_EQ(sd.stats().kicks, 3u);
    EXPECT_EQ(sd.stats().shootdowns, 4u);
    EXPECT_EQ(sd.stats().timeouts, 0u);
}

} // namespace
} // namespace sv

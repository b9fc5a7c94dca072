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

// --- route(): accesses that cover more than one port (issue 7 class 2) ---

// Owner of byte b of a routed access, and the piece it travels in.
const IoPiece* piece_of(const IoRoute& r, uint8_t byte) {
    for (uint8_t i = 0; i < r.count; ++i)
        if (byte >= r.pieces[i].offset && byte < r.pieces[i].offset + r.pieces[i].size) return &r.pieces[i];
    return nullptr;
}

TEST(CoreIoDispatchRoute, EveryByteGoesToItsOwnerForEverySizeAndOffset) {
    IoDispatcher d;
    NullHandler command;
    ASSERT_TRUE(d.add(0x1f7, 1, command).ok()); // one owned port in the middle of nothing
    for (uint8_t size : {1, 2, 4}) {
        for (uint32_t port = 0x1f7 - 3; port <= 0x1f7 + 1; ++port) {
            const IoRoute r = d.route(static_cast<uint16_t>(port), size);
            // Pieces are disjoint, cover the access exactly, in order.
            uint8_t next = 0;
            for (uint8_t i = 0; i < r.count; ++i) {
                ASSERT_EQ(r.pieces[i].offset, next) << std::hex << port << " size " << int(size);
                ASSERT_EQ(r.pieces[i].port, port + next);
                ASSERT_TRUE(r.pieces[i].size == 1 || r.pieces[i].size == 2 || r.pieces[i].size == 4);
                if (r.split()) {
                    ASSERT_EQ(r.pieces[i].port % r.pieces[i].size, 0u) << "piece not naturally aligned";
                }
                next = static_cast<uint8_t>(next + r.pieces[i].size);
            }
            ASSERT_EQ(next, size);
            for (uint8_t b = 0; b < size; ++b) {
                const IoPiece* p = piece_of(r, b);
                ASSERT_NE(p, nullptr);
                const bool owned = port + b == 0x1f7;
                EXPECT_EQ(p->handler, owned ? &command : nullptr)
                    << "port " << std::hex << port << " size " << int(size) << " byte " << int(b);
                if (owned) {
                    EXPECT_EQ(p->size, 1) << "the owned byte travels alone";
                }
            }
            const bool touches = port <= 0x1f7 && 0x1f7 < port + size;
            EXPECT_EQ(r.split(), touches && size > 1) << std::hex << port << " size " << int(size);
        }
    }
}

TEST(CoreIoDispatchRoute, WordAt1F6SplitsIntoDeviceAndCommand) {
    IoDispatcher d;
    NullHandler command;
    ASSERT_TRUE(d.add(0x1f7, 1, command).ok());
    const IoRoute r = d.route(0x1f6, 2);
    ASSERT_EQ(r.count, 2);
    EXPECT_EQ(r.pieces[0].port, 0x1f6);
    EXPECT_EQ(r.pieces[0].handler, nullptr);
    EXPECT_EQ(r.pieces[1].port, 0x1f7);
    EXPECT_EQ(r.pieces[1].offset, 1);
    EXPECT_EQ(r.pieces[1].handler, &command);
}

TEST(CoreIoDispatchRoute, RunsOfOneOwnerStayTogetherWhenAligned) {
    IoDispatcher d;
    NullHandler prd, other;
    ASSERT_TRUE(d.add(0xc044, 4, prd).ok()); // a PRD pointer
    ASSERT_TRUE(d.add(0xc048, 1, other).ok());
    // Dword at C042: C042-C043 nobody (one word), C044-C045 the PRD owner (one word).
    IoRoute r = d.route(0xc042, 4);
    ASSERT_EQ(r.count, 2);
    EXPECT_EQ(r.pieces[0].size, 2);
    EXPECT_EQ(r.pieces[0].handler, nullptr);
    EXPECT_EQ(r.pieces[1].size, 2);
    EXPECT_EQ(r.pieces[1].handler, &prd);
    // Dword at C045: three PRD bytes (1 + 2, naturally aligned) and one of `other`.
    r = d.route(0xc045, 4);
    ASSERT_EQ(r.count, 3);
    EXPECT_EQ(r.pieces[0].port, 0xc045);
    EXPECT_EQ(r.pieces[0].size, 1);
    EXPECT_EQ(r.pieces[1].port, 0xc046);
    EXPECT_EQ(r.pieces[1].size, 2);
    EXPECT_EQ(r.pieces[1].handler, &prd);
    EXPECT_EQ(r.pieces[2].port, 0xc048);
    EXPECT_EQ(r.pieces[2].handler, &other);
    // Wholly owned by one handler: one piece, as before.
    r = d.route(0xc044, 4);
    ASSERT_EQ(r.count, 1);
    EXPECT_EQ(r.pieces[0].handler, &prd);
    EXPECT_EQ(r.pieces[0].size, 4);
}

TEST(CoreIoDispatchRoute, WideRangeTakesAccessesThatStartAtItsFirstPort) {
    IoDispatcher d;
    NullHandler data, command, config, reset;
    ASSERT_TRUE(d.add(0x1f0, 1, data, io_whole::any).ok()); // IDE data port
    ASSERT_TRUE(d.add(0x1f7, 1, command).ok());
    ASSERT_TRUE(d.add(0xcf8, 1, config, io_whole::dword).ok()); // CONFIG_ADDRESS
    ASSERT_TRUE(d.add(0xcf9, 1, reset).ok());
    ASSERT_TRUE(d.add(0xcfa, 6, config).ok());
    for (uint8_t size : {1, 2, 4}) {
        const IoRoute r = d.route(0x1f0, size);
        ASSERT_EQ(r.count, 1);
        EXPECT_EQ(r.pieces[0].handler, &data);
        EXPECT_EQ(r.pieces[0].size, size);
    }
    // Starting below the data port: not a data transfer; bytes split.
    IoRoute r = d.route(0x1ef, 2);
    ASSERT_EQ(r.count, 2);
    EXPECT_EQ(r.pieces[1].handler, &data);
    EXPECT_EQ(r.pieces[1].size, 1);
    // A dword at 0CF8h is CONFIG_ADDRESS, even though 0CF9h has another owner.
    r = d.route(0xcf8, 4);
    ASSERT_EQ(r.count, 1);
    EXPECT_EQ(r.pieces[0].handler, &config);
    // A word at 0CF8h is not: 0CF9h's byte goes to the reset handler.
    r = d.route(0xcf8, 2);
    ASSERT_EQ(r.count, 2);
    EXPECT_EQ(r.pieces[0].handler, &config);
    EXPECT_EQ(r.pieces[1].handler, &reset);
    r = d.route(0xcf9, 2);
    ASSERT_EQ(r.count, 2);
    EXPECT_EQ(r.pieces[0].handler, &reset);
    EXPECT_EQ(r.pieces[1].handler, &config);
}

TEST(CoreIoDispatchRoute, BytesPastFFFFhDecodeNowhere) {
    IoDispatcher d;
    NullHandler top;
    ASSERT_TRUE(d.add(0xffff, 1, top).ok());
    const IoRoute r = d.route(0xffff, 2);
    ASSERT_EQ(r.count, 2);
    EXPECT_EQ(r.pieces[0].handler, &top);
    EXPECT_FALSE(r.pieces[0].beyond_64k);
    EXPECT_EQ(r.pieces[1].handler, nullptr);
    EXPECT_TRUE(r.pieces[1].beyond_64k);
    // Not the port at 0 (no wrap): 0 stays unowned even if someone owned it.
    ASSERT_TRUE(d.add(0x0, 1, top).ok());
    EXPECT_EQ(d.route(0xffff, 2).pieces[1].handler, nullptr);
}

TEST(CoreIoDispatch, OwnedByOtherIgnoresTheExceptedHandlers) {
    IoDispatcher d;
    NullHandler ch0, ch1, config;
    ASSERT_TRUE(d.add(0x1f0, 8, ch0).ok());
    ASSERT_TRUE(d.add(0x170, 8, ch1).ok());
    ASSERT_TRUE(d.add(0xcf8, 8, config).ok());
    EXPECT_FALSE(d.owned_by_other(0x1f0, 16, &ch0, &ch1));
    EXPECT_FALSE(d.owned_by_other(0x170, 1, &ch0, &ch1));
    EXPECT_TRUE(d.owned_by_other(0x170, 1, &ch0));
    EXPECT_TRUE(d.owned_by_other(0xcf0, 16, &ch0, &ch1));
    EXPECT_TRUE(d.owned_by_other(0xcff, 1, &ch0, &ch1));
    EXPECT_FALSE(d.owned_by_other(0xd00, 16, &ch0, &ch1));
}

TEST(CoreIoDispatch, TrapNowCallsTheBackendHook) {
    static std::vector<std::pair<uint16_t, uint32_t>> trapped;
    trapped.clear();
    IoDispatcher d;
    d.trap_now(0x40, 4); // no hook yet: counted only
    d.set_trap_hook([](uint16_t first, uint32_t count) { trapped.emplace_back(first, count); });
    d.trap_now(0xc044, 4);
    EXPECT_EQ(d.early_traps(), 2u);
    ASSERT_EQ(trapped.size(), 1u);
    EXPECT_EQ(trapped[0].first, 0xc044);
    EXPECT_EQ(trapped[0].second, 4u);
}

} // namespace
} // namespace sv

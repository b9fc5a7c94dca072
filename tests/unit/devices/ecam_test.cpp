// ECAM decode and the Q35 PCIEXBAR tracker: accepted relocations move the
// trapped range (and bump the dispatcher's generation), refused ones keep
// the old value; the decoders for both mechanisms.
#include <gtest/gtest.h>

#include <vector>

#include "core/mmio_dispatch.hpp"
#include "devices/fake_chipset.hpp"
#include "devices/pci/config_decode.hpp"
#include "devices/pci/ecam.hpp"

namespace sv::pci {
namespace {
using test::FakeChipset;

TEST(ConfigDecode, EcamAddressesAndSizes) {
    ConfigWrite w;
    ASSERT_EQ(decode_ecam_write(ecam_offset(Address{3, 31, 7}, 0x104), 256ull << 20, 4, 0x11223344, w),
              DecodeResult::Config);
    EXPECT_EQ(w.address, (Address{3, 31, 7}));
    EXPECT_EQ(w.offset, 0x104);
    EXPECT_EQ(w.size, 4);
    EXPECT_EQ(w.value, 0x11223344u);
    ASSERT_EQ(decode_ecam_write(0x0FFFFFFF, 256ull << 20, 1, 0x1FF, w), DecodeResult::Config);
    EXPECT_EQ(w.address, (Address{255, 31, 7}));
    EXPECT_EQ(w.offset, 0xFFF);
    EXPECT_EQ(w.value, 0xFFu);
    ASSERT_EQ(decode_ecam_write(0x1006, 64ull << 20, 2, 0xABCD1234, w), DecodeResult::Config);
    EXPECT_EQ(w.value, 0x1234u);
    EXPECT_EQ(decode_ecam_write(0x1004, 1ull << 20, 8, 0, w), DecodeResult::Refused);
    EXPECT_EQ(decode_ecam_write(0x1005, 1ull << 20, 2, 0, w), DecodeResult::Refused);
    EXPECT_EQ(decode_ecam_write(0x1006, 1ull << 20, 4, 0, w), DecodeResult::Refused);
    EXPECT_EQ(decode_ecam_write(0x1004, 1ull << 20, 3, 0, w), DecodeResult::Refused);
    EXPECT_EQ(decode_ecam_write(64ull << 20, 64ull << 20, 1, 0, w), DecodeResult::Refused);
}

TEST(ConfigDecode, PortLanesReservedBitsAndEnable) {
    ConfigWrite w;
    const uint32_t latch = 0x80000000u | 2u << 16 | 3u << 11 | 1u << 8 | 0x40;
    ASSERT_EQ(decode_port_write(latch, 0xCFE, 2, 0xFFFF1234, w), DecodeResult::Config);
    EXPECT_EQ(w.address, (Address{2, 3, 1}));
    EXPECT_EQ(w.offset, 0x42);
    EXPECT_EQ(w.value, 0x1234u);
    EXPECT_EQ(decode_port_write(latch & ~0x80000000u, 0xCFC, 4, 0, w), DecodeResult::NotConfig);
    EXPECT_EQ(decode_port_write(latch | 2, 0xCFC, 4, 0, w), DecodeResult::Refused);
    EXPECT_EQ(decode_port_write(latch | 0x40000000u, 0xCFC, 4, 0, w), DecodeResult::Refused);
    EXPECT_EQ(decode_port_write(latch, 0xCFD, 2, 0, w), DecodeResult::Refused);
    EXPECT_EQ(decode_port_write(latch, 0xCFB, 2, 0, w), DecodeResult::Refused);
    EXPECT_EQ(decode_port_write(latch, 0xCFF, 2, 0, w), DecodeResult::Refused);
    EXPECT_EQ(decode_port_write(latch, 0xCFC, 3, 0, w), DecodeResult::Refused);
}

TEST(Pciexbar, DecodesLengthsAndBases) {
    EcamWindow w = decode_pciexbar(0xB0000001);
    EXPECT_TRUE(w.valid && w.enabled);
    EXPECT_EQ(w.base, 0xB0000000u);
    EXPECT_EQ(w.length, 256ull << 20);
    w = decode_pciexbar(0x0000000FEC000005ull); // 64 MiB at bits 35:26
    EXPECT_EQ(w.base, 0xFEC000000ull & 0xFFC000000ull);
    EXPECT_EQ(w.length, 64ull << 20);
    w = decode_pciexbar(0xB8000003); // 128 MiB: bit 27 counts
    EXPECT_EQ(w.base, 0xB8000000u);
    w = decode_pciexbar(0xB4000001); // 256 MiB: bits 27:26 ignored
    EXPECT_EQ(w.base, 0xB0000000u);
    EXPECT_FALSE(decode_pciexbar(0xB0000007).valid); // 11b reserved
    EXPECT_FALSE(decode_pciexbar(0xB0000000).enabled);
}

struct RecordingMapper final : MmioMapper {
    struct Call {
        uint64_t base, length;
        bool trapped;
    };
    std::vector<Call> calls;
    Result<void> set_trap(uint64_t base, uint64_t length, MmioTrap trap) override {
        calls.push_back(Call{base, length, trap != MmioTrap::Released});
        return {};
    }
};

struct NotBelow final : EcamPlacement {
    uint64_t ram_end = 0x20000000; // 512 MiB of RAM at 0
    bool placement_ok(uint64_t base, uint64_t length) override {
        return base >= ram_end && base + length <= (32ull << 30); // a machine whose nested map ends at 32 GiB
    }
};

struct Q35 {
    FakeChipset chipset;
    ConfigSpace config{chipset};
    ConfigMediator mediator{chipset};
    MmioDispatcher mmio;
    RecordingMapper mapper;
    NotBelow placement;
    EcamMediator ecam{mediator, config, mmio, chipset, placement};
    static constexpr Address mch{0, 0, 0};
    Q35() {
        chipset.add(mch, 0x8086, 0x29C0);
        chipset.put(mch, 0x60, 4, 0xB0000001);
        mmio.set_mapper(&mapper);
    }
    void port_write(uint16_t offset, uint8_t size, uint32_t value) {
        mediator.io_out(0xCF8, 4, FakeChipset::at(mch, static_cast<uint8_t>(offset & 0xFC)));
        mediator.io_out(static_cast<uint16_t>(0xCFC + (offset & 3)), size, value);
    }
    uint64_t pciexbar() { return chipset.get(mch, 0x60, 4) | uint64_t{chipset.get(mch, 0x64, 4)} << 32; }
};

TEST(EcamTracker, TrapsTheBootWindowAndFollowsAcceptedMoves) {
    Q35 q;
    ASSERT_TRUE(q.ecam.track_q35(Q35::mch).ok());
    ASSERT_NE(q.mmio.find(0xB0000000), nullptr);
    ASSERT_EQ(q.mapper.calls.size(), 1u);
    EXPECT_TRUE(q.mapper.calls[0].trapped);
    const uint64_t g0 = q.mmio.generation();
    q.port_write(0x60, 4, 0xE0000005); // 64 MiB at 0xE0000000, through 0xCFC
    EXPECT_EQ(q.pciexbar(), 0xE0000005u);
    EXPECT_EQ(q.mmio.find(0xB0000000), nullptr);
    const MmioRange* r = q.mmio.find(0xE0000000);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->length, 64ull << 20);
    EXPECT_GT(q.mmio.generation(), g0);
    EXPECT_EQ(q.ecam.stats().relocations, 1u);
    // The new window is trapped first, then the old one is released.
    ASSERT_GE(q.mapper.calls.size(), 3u);
    EXPECT_TRUE(q.mapper.calls[1].trapped);
    EXPECT_EQ(q.mapper.calls[1].base, 0xE0000000u);
    EXPECT_FALSE(q.mapper.calls[2].trapped);
    EXPECT_EQ(q.mapper.calls[2].base, 0xB0000000u);
    // Through the (moved) window itself: its high dword goes above 4 GiB.
    q.chipset.ecam_base = 0xE0000000;
    q.ecam.mmio_write(0xE0000000 + ecam_offset(Q35::mch, 0x64), 4, 0x1);
    EXPECT_EQ(q.pciexbar(), 0x1E0000005ull);
    EXPECT_NE(q.mmio.find(0x1E0000000ull), nullptr);
    // Disabled: nothing trapped any more.
    q.chipset.ecam_base = 0x1E0000000ull;
    q.ecam.mmio_write(0x1E0000000ull + ecam_offset(Q35::mch, 0x60), 1, 0x04);
    EXPECT_FALSE(q.ecam.window().enabled);
    EXPECT_EQ(q.mmio.size(), 0u);
    q.port_write(0x64, 4, 0);
    q.port_write(0x60, 4, 0xB0000001); // enabled again where it was
    EXPECT_NE(q.mmio.find(0xB0000000), nullptr);
}

TEST(EcamTracker, RefusesWindowsOverRamReservedLengthsAndOtherRanges) {
    Q35 q;
    ASSERT_TRUE(q.ecam.track_q35(Q35::mch).ok());
    struct Other final : MmioWriteHandler {
        void mmio_write(uint64_t, uint8_t, uint64_t) override {}
    } apic;
    MmioRange apic_range;
    ASSERT_TRUE(q.mmio.add(apic_range, 0xFEE00000, 4096, apic).ok());
    q.port_write(0x60, 4, 0x10000001); // over RAM
    q.port_write(0x60, 1, 0x07);       // reserved length
    q.port_write(0x60, 4, 0xFC000005); // 64 MiB window over the APIC page
    q.port_write(0x64, 4, 0x8);        // 0x8B0000000: above what the nested tables map
    EXPECT_EQ(q.pciexbar(), 0xB0000001u);
    EXPECT_NE(q.mmio.find(0xB0000000), nullptr);
    EXPECT_EQ(q.ecam.stats().refused_relocations, 4u);
    EXPECT_EQ(q.mediator.stats().refused, 4u);
    // A write to other MCH registers is untouched by the tracker.
    q.port_write(0x90, 1, 0x30);
    EXPECT_EQ(q.chipset.get(Q35::mch, 0x90, 1), 0x30u);
}

TEST(EcamTracker, RefusesABootWindowOverRam) {
    Q35 q;
    q.chipset.put(Q35::mch, 0x60, 4, 0x10000001);
    EXPECT_FALSE(q.ecam.track_q35(Q35::mch).ok());
}


// The window is trapped before the MCH decodes it at its new place (the
// fake chipset checks at every config write it performs), and released
// only after the MCH stopped decoding it.
TEST(EcamTracker, TheNewWindowIsTrappedBeforeTheMchDecodesIt) {
    Q35 q;
    ASSERT_TRUE(q.ecam.track_q35(Q35::mch).ok());
    std::vector<uint64_t> untrapped;
    q.chipset.after_write = [&] {
        const EcamWindow w = decode_pciexbar(q.pciexbar());
        if (w.valid && w.enabled && (!q.mmio.find(w.base) || !q.mmio.find(w.base + w.length - 1)))
            untrapped.push_back(w.base);
    };
    q.port_write(0x60, 4, 0xE0000005); // move, 256 -> 64 MiB
    q.port_write(0x60, 4, 0xD8000003); // 128 MiB, overlapping nothing old
    q.port_write(0x60, 1, 0x02);       // off
    q.port_write(0x60, 4, 0xB0000001); // on again
    EXPECT_TRUE(untrapped.empty());
    EXPECT_EQ(q.ecam.stats().relocations, 4u);
    ASSERT_NE(q.mmio.find(0xB0000000), nullptr);
    EXPECT_EQ(q.mmio.find(0xD8000000), nullptr);
    EXPECT_EQ(q.mmio.size(), 1u); // no old pages left trapped
}

// A later rule refuses the PCIEXBAR write after the tracker trapped the new
// window: the MCH keeps the old one, so the trap goes back there.
TEST(EcamTracker, AWriteALaterRuleDropsKeepsTheOldWindowTrapped) {
    Q35 q;
    ASSERT_TRUE(q.ecam.track_q35(Q35::mch).ok());
    struct RefusePciexbar final : ConfigRule {
        bool filter(ConfigWrite& w) override { return !w.overlaps(0x60, 8); }
    } later;
    ASSERT_TRUE(q.mediator.add_rule(later));
    q.port_write(0x60, 4, 0xE0000005);
    EXPECT_EQ(q.pciexbar(), 0xB0000001u);
    ASSERT_NE(q.mmio.find(0xB0000000), nullptr);
    ASSERT_NE(q.mmio.find(0xBFFFFFFF), nullptr);
    EXPECT_EQ(q.mmio.find(0xE0000000), nullptr);
    EXPECT_EQ(q.mmio.size(), 1u);
    EXPECT_FALSE(q.mapper.calls.back().trapped); // the prepared window released again
    EXPECT_EQ(q.mapper.calls.back().base, 0xE0000000u);
}

} // namespace
} // namespace sv::pci

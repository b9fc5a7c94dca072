// Unit tests for devices/storage/ide/ide_placement and the IDE PCI function's
// config-write veto (issue 7 class 1): wherever the guest puts the blocks,
// they stay trappable, or the write is changed before it reaches the device.
#include <gtest/gtest.h>

#include <map>

#include "devices/pci/pci_config.hpp"
#include "devices/storage/ide/ide_pci_function.hpp"
#include "devices/storage/ide/ide_placement.hpp"
#include "core/fake_guest_memory.hpp"

namespace sv::ide {
namespace {

class NullHandler final : public IoHandler {
  public:
    uint32_t io_in(uint16_t, uint8_t) override { return 0; }
    void io_out(uint16_t, uint8_t, uint32_t) override {}
};

// PIIX IDE as QEMU shows it: compatibility mode, BAR0-3 absent, BAR4 a
// 16-byte I/O BAR at C040h, I/O decode and bus master on.
FunctionImage piix() {
    FunctionImage f;
    f.command = 0x0005;
    f.prog_if = 0x80;
    f.bars[4] = 0xC041;
    f.bar_writable[4] = 0xFFFFFFF0;
    return f;
}

struct Platform {
    IoDispatcher io;
    NullHandler ch0, ch1, config, reset, pm, other_ide;
    Platform() {
        EXPECT_TRUE(io.add(0xCF8, 1, config, io_whole::dword).ok());
        EXPECT_TRUE(io.add(0xCF9, 1, reset).ok());
        EXPECT_TRUE(io.add(0xCFA, 6, config).ok());
        EXPECT_TRUE(io.add(0x604, 2, pm).ok()); // PM1a control
        EXPECT_TRUE(io.add(0x1F0, 1, ch0).ok());
        EXPECT_TRUE(io.add(0x1F7, 1, ch0).ok());
        EXPECT_TRUE(io.add(0xC044, 4, ch0).ok());
        EXPECT_TRUE(io.add(0x170, 1, ch1).ok());
        EXPECT_TRUE(io.add(0x177, 1, ch1).ok());
        EXPECT_TRUE(io.add(0xC04C, 4, ch1).ok());
        EXPECT_TRUE(io.add(0xD000, 8, other_ide).ok()); // a second IDE function
    }
    FilteredWrite write(const FunctionImage& f, uint16_t offset, uint8_t size, uint32_t value) {
        return filter_placement_write(f, offset, size, value, io, &ch0, &ch1);
    }
    Placement check(const FunctionImage& f) { return check_placement(f, io, &ch0, &ch1); }
};

TEST(IdePlacement, FirmwarePlacementIsFine) {
    Platform p;
    EXPECT_EQ(p.check(piix()), Placement::Ok);
}

TEST(IdePlacement, Bar4BelowFixedPlatformPortsIsRefusedAndKept) {
    Platform p;
    for (uint32_t bad : {0x41u, 0x01u, 0x81u, 0xF1u, 0x00u}) {
        const FilteredWrite w = p.write(piix(), 0x20, 4, bad);
        EXPECT_EQ(w.refused, Placement::FixedPlatformPorts) << std::hex << bad;
        EXPECT_EQ(w.value, 0xC041u) << "the old BAR value is written back";
        EXPECT_FALSE(w.decode_forced_off);
    }
    EXPECT_EQ(p.write(piix(), 0x20, 4, 0x101).refused, Placement::Ok);
}

TEST(IdePlacement, WordAndByteWritesAreMergedBeforeTheCheck) {
    Platform p;
    // Low word to 0081h: refused, the old low word kept.
    FilteredWrite w = p.write(piix(), 0x20, 2, 0x0081);
    EXPECT_EQ(w.refused, Placement::FixedPlatformPorts);
    EXPECT_EQ(w.value, 0xC041u);
    // Byte 21h (bits 15:8) to 00h: base 0040h: refused, old byte C0h kept.
    w = p.write(piix(), 0x21, 1, 0x00);
    EXPECT_EQ(w.refused, Placement::FixedPlatformPorts);
    EXPECT_EQ(w.value, 0xC0u);
    // Byte 20h to 81h: C080h, fine.
    w = p.write(piix(), 0x20, 1, 0x81);
    EXPECT_EQ(w.refused, Placement::Ok);
    EXPECT_EQ(w.value, 0x81u);
    // Word at 22h (bits 31:16) to 0001h: high address bits.
    w = p.write(piix(), 0x22, 2, 0x0001);
    EXPECT_EQ(w.refused, Placement::HighAddressBits);
    EXPECT_EQ(w.value, 0x0000u);
}

TEST(IdePlacement, UnimplementedBarBitsKeepTheirValueAsInTheDevice) {
    Platform p;
    FunctionImage f = piix();
    f.bar_writable[4] = 0x0000FFF0; // PIIX4: BMIBA bits 31:16 hardwired 0
    // 0001_0041h: the device keeps 0041h - refused for what it would decode.
    EXPECT_EQ(p.write(f, 0x20, 4, 0x10041).refused, Placement::FixedPlatformPorts);
    // 0001_C081h on such a device is C081h: fine.
    EXPECT_EQ(p.write(f, 0x20, 4, 0x1C081).refused, Placement::Ok);
    // Low bits below the BAR size are not writable: C04Fh is C040h.
    FunctionImage g = piix();
    apply_config_write(g, 0x20, 4, 0xC04F);
    EXPECT_EQ(g.bars[4], 0xC041u);
}

TEST(IdePlacement, OverlapsAreRefused) {
    Platform p;
    // Over the secondary command block (this function's own channel 1).
    EXPECT_EQ(p.write(piix(), 0x20, 4, 0x171).refused, Placement::SelfOverlap);
    EXPECT_EQ(p.write(piix(), 0x20, 4, 0x1F1).refused, Placement::SelfOverlap);
    EXPECT_EQ(p.write(piix(), 0x20, 4, 0x3F1).refused, Placement::SelfOverlap); // 3F6h control
    // Over other mediators: config ports, ACPI PM, the other IDE function.
    EXPECT_EQ(p.write(piix(), 0x20, 4, 0xCF1).refused, Placement::Taken);
    EXPECT_EQ(p.write(piix(), 0x20, 4, 0x601).refused, Placement::Taken);
    EXPECT_EQ(p.write(piix(), 0x20, 4, 0xD001).refused, Placement::Taken);
    // Onto its own current ports: they move along, fine.
    EXPECT_EQ(p.write(piix(), 0x20, 4, 0xC051).refused, Placement::Ok);
}

TEST(IdePlacement, DecodeOffAllowsAnythingUntilDecodeIsTurnedOn) {
    Platform p;
    FunctionImage f = piix();
    f.command = 0x0004; // I/O decode off (Linux sizes BARs this way)
    FilteredWrite w = p.write(f, 0x20, 4, 0xFFFFFFFF);
    EXPECT_EQ(w.refused, Placement::Ok);
    EXPECT_EQ(w.value, 0xFFFFFFFFu);
    w = p.write(f, 0x20, 4, 0x41);
    EXPECT_EQ(w.refused, Placement::Ok);
    apply_config_write(f, 0x20, 4, 0x41);
    // Turning decode on over BAR4 = 40h: decode stays off, BME still set.
    w = p.write(f, 0x04, 2, 0x0005);
    EXPECT_EQ(w.refused, Placement::FixedPlatformPorts);
    EXPECT_TRUE(w.decode_forced_off);
    EXPECT_EQ(w.value, 0x0004u);
    // The same as a dword write of command + status, and as a byte write.
    w = p.write(f, 0x04, 4, 0x02800005);
    EXPECT_TRUE(w.decode_forced_off);
    EXPECT_EQ(w.value, 0x02800004u);
    w = p.write(f, 0x04, 1, 0x05);
    EXPECT_EQ(w.value, 0x04u);
    // Back to a good BAR first: decode comes on.
    apply_config_write(f, 0x20, 4, 0xC041);
    w = p.write(f, 0x04, 2, 0x0005);
    EXPECT_EQ(w.refused, Placement::Ok);
    EXPECT_EQ(w.value, 0x0005u);
}

TEST(IdePlacement, ProgIfNativeNeedsPlaceableBars) {
    Platform p;
    FunctionImage f = piix();
    for (unsigned i = 0; i < 4; ++i) f.bar_writable[i] = i % 2 ? 0xFFFFFFFC : 0xFFFFFFF8;
    // Native primary with BAR0/1 unassigned: refused, old ProgIf kept.
    FilteredWrite w = p.write(f, 0x09, 1, 0x81);
    EXPECT_EQ(w.refused, Placement::FixedPlatformPorts);
    EXPECT_EQ(w.value, 0x80u);
    // The same inside a dword write at 08h (revision, ProgIf, class).
    w = p.write(f, 0x08, 4, 0x01018101);
    EXPECT_EQ(w.refused, Placement::FixedPlatformPorts);
    EXPECT_EQ(w.value, 0x01018001u);
    // With BAR0 = E000h, BAR1 = E008h: fine.
    f.bars[0] = 0xE001;
    f.bars[1] = 0xE009;
    EXPECT_EQ(p.write(f, 0x09, 1, 0x81).refused, Placement::Ok);
    // Native channel with BAR0 over the bus-master block: self overlap.
    f.bars[0] = 0xC041;
    EXPECT_EQ(p.write(f, 0x09, 1, 0x81).refused, Placement::SelfOverlap);
    // A native BAR the function does not implement: refused.
    f.bars[0] = 0xE001;
    f.bar_writable[1] = 0;
    EXPECT_EQ(p.write(f, 0x09, 1, 0x81).refused, Placement::FixedPlatformPorts);
}

TEST(IdePlacement, OtherRegistersPassUntouched) {
    Platform p;
    for (uint16_t off : {0x00, 0x0C, 0x24, 0x3C, 0x40, 0x100, 0xFFC}) {
        const FilteredWrite w = p.write(piix(), off, 4, 0x41);
        EXPECT_EQ(w.refused, Placement::Ok);
        EXPECT_EQ(w.value, 0x41u);
    }
    EXPECT_FALSE(touches_placement(0x06, 2)); // status register
    EXPECT_TRUE(touches_placement(0x03, 2));  // 03h-04h: covers the command register
    EXPECT_TRUE(touches_placement(0x08, 4));
    EXPECT_TRUE(touches_placement(0x23, 1));
    EXPECT_FALSE(touches_placement(0x24, 4));
}

TEST(IdePlacement, DecodedBlocksFollowProgIfAndDecode) {
    FunctionImage f = piix();
    PortBlock b[kMaxBlocks];
    ASSERT_EQ(decoded_blocks(f, b), 5u);
    EXPECT_EQ(b[0].first, 0x1F0u);
    EXPECT_EQ(b[0].count, 8u);
    EXPECT_EQ(b[1].first, 0x3F6u);
    EXPECT_EQ(b[2].first, 0x170u);
    EXPECT_EQ(b[3].first, 0x376u);
    EXPECT_EQ(b[4].first, 0xC040u);
    EXPECT_EQ(b[4].count, 16u);
    f.command = 0;
    EXPECT_EQ(decoded_blocks(f, b), 0u);
}

// --- the veto in the config path, end to end over a fake PIIX config space ---

// Config space of one PIIX IDE function with real BAR semantics (writable
// masks), behind 0xCF8/0xCFC; other ports are ignored.
struct FakePiixConfig final : PortIo {
    uint32_t address = 0;
    uint32_t regs[64] = {};
    uint32_t writable[64] = {};
    FakePiixConfig() {
        regs[0] = 0x70108086;
        regs[1] = 0x02800005;
        regs[2] = 0x01018000;
        regs[8] = 0xC041;
        writable[1] = 0x0000FFFF;
        writable[8] = 0xFFFFFFF0;
        writable[2] = 0; // ProgIf read-only, as on PIIX
    }
    bool ours() const { return (address & 0x80FFFF00u) == (0x80000000u | 1u << 11 | 1u << 8); }
    uint32_t in(uint16_t port, uint8_t size) override {
        if (port == 0xCF8) return address;
        if (port < 0xCFC || port > 0xCFF || !ours()) return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
        const uint32_t v = regs[(address & 0xFC) / 4] >> (8 * (port - 0xCFC));
        return size == 4 ? v : v & ((1u << (8 * size)) - 1);
    }
    void out(uint16_t port, uint8_t size, uint32_t value) override {
        if (port == 0xCF8 && size == 4) {
            address = value;
            return;
        }
        if (port < 0xCFC || port > 0xCFF || !ours()) return;
        const unsigned shift = 8 * (port - 0xCFC), i = (address & 0xFC) / 4;
        const uint32_t lanes = (size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1) << shift;
        const uint32_t w = writable[i] & lanes;
        regs[i] = (regs[i] & ~w) | ((value << shift) & w);
    }
};

struct NoDma final : DmaAllocator {
    Result<DmaBuffer> allocate(size_t, size_t) override { return fail(Error::OutOfMemory); }
};

struct Rig {
    FakePiixConfig bus;
    pci::ConfigSpace config{bus};
    pci::ConfigMediator mediator{bus};
    test::FakeGuestMemory ram{0, 1 << 20};
    NoDma dma;
    storage::ShadowPool pool; // never carved: the channels fail closed
    IoDispatcher io;
    NullHandler platform;
    IdePciFunction function{pci::Address{0, 1, 1}, config, bus, ram, dma, pool, nullptr, io};
    Rig() {
        EXPECT_TRUE(io.add(0xCF8, 1, mediator, io_whole::dword).ok());
        EXPECT_TRUE(io.add(0xCFA, 6, mediator).ok());
        EXPECT_TRUE(io.add(0x604, 2, platform).ok());
        EXPECT_TRUE(function.init().ok());
        EXPECT_TRUE(mediator.watch(function.address(), function));
        EXPECT_TRUE(mediator.add_rule(function));
    }
    void guest_write(uint8_t offset, uint8_t size, uint32_t value) {
        mediator.io_out(0xCF8, 4, 0x80000000u | 1u << 11 | 1u << 8 | (offset & 0xFC));
        mediator.io_out(static_cast<uint16_t>(0xCFC + (offset & 3)), size, value);
    }
};

TEST(IdePciFunctionPlacement, BusMasterMovesBelow100hAreRefusedAndPortsStayTrapped) {
    Rig r;
    const IoHandler* ch0 = &r.function.channel(0);
    EXPECT_EQ(r.io.find(0xC044), ch0); // PRD pointer trapped at the firmware's place
    r.guest_write(0x20, 4, 0x41);
    EXPECT_EQ(r.bus.regs[8], 0xC041u) << "the device never saw 40h";
    EXPECT_EQ(r.io.find(0xC044), ch0);
    EXPECT_EQ(r.io.find(0x44), nullptr);
    EXPECT_EQ(r.function.channel(0).stats().dma_transfers, 0u);
    EXPECT_GT(r.function.placements_refused(), 0u);
    // Byte write of bits 15:8 = 0: refused too.
    r.guest_write(0x21, 1, 0x00);
    EXPECT_EQ(r.bus.regs[8], 0xC041u);
}

TEST(IdePciFunctionPlacement, LegitimateMoveIsFollowedAndTrappedBeforeTheDeviceDecodesIt) {
    Rig r;
    const uint64_t early = r.io.early_traps();
    r.guest_write(0x20, 4, 0xE001);
    EXPECT_EQ(r.bus.regs[8], 0xE001u);
    EXPECT_GT(r.io.early_traps(), early) << "new PRD ports trapped before the write was forwarded";
    EXPECT_EQ(r.io.find(0xE004), &r.function.channel(0));
    EXPECT_EQ(r.io.find(0xE00C), &r.function.channel(1));
    EXPECT_EQ(r.io.find(0xC044), nullptr);
    EXPECT_EQ(r.function.placements_refused(), 0u);
}

TEST(IdePciFunctionPlacement, MoveWhileDecodeOffThenEnableKeepsDecodeOff) {
    Rig r;
    r.guest_write(0x04, 2, 0x0004); // I/O decode off
    r.guest_write(0x20, 4, 0x41);   // allowed: nothing decodes it
    EXPECT_EQ(r.bus.regs[8], 0x41u);
    EXPECT_EQ(r.io.find(0xC044), &r.function.channel(0)) << "old ports kept while decode is off";
    r.guest_write(0x04, 2, 0x0005); // decode on over 40h: refused
    EXPECT_EQ(r.bus.regs[1] & 1, 0u);
    EXPECT_GT(r.function.placements_refused(), 0u);
    // Sizing with decode off, then back to a good place and decode on.
    r.guest_write(0x20, 4, 0xFFFFFFFF);
    EXPECT_EQ(r.bus.regs[8], 0xFFFFFFF1u);
    r.guest_write(0x20, 4, 0xC081);
    r.guest_write(0x04, 2, 0x0005);
    EXPECT_EQ(r.bus.regs[1] & 1, 1u);
    EXPECT_EQ(r.io.find(0xC084), &r.function.channel(0));
}

TEST(IdePciFunctionPlacement, MoveOverAnotherMediatorIsRefused) {
    Rig r;
    r.guest_write(0x20, 4, 0x601); // over PM1a control at 604h
    EXPECT_EQ(r.bus.regs[8], 0xC041u);
    r.guest_write(0x20, 4, 0xCF1); // over CONFIG_ADDRESS/DATA
    EXPECT_EQ(r.bus.regs[8], 0xC041u);
    r.guest_write(0x20, 4, 0x171); // over the secondary command block
    EXPECT_EQ(r.bus.regs[8], 0xC041u);
}

TEST(IdePciFunctionPlacement, FirmwareBar4BelowTheLimitTurnsDecodeOffAtBoot) {
    FakePiixConfig bus;
    bus.regs[8] = 0x0001; // unassigned
    pci::ConfigSpace config{bus};
    test::FakeGuestMemory ram{0, 1 << 20};
    NoDma dma;
    storage::ShadowPool pool; // never carved: the channels fail closed
    IoDispatcher io;
    IdePciFunction function{pci::Address{0, 1, 1}, config, bus, ram, dma, pool, nullptr, io};
    ASSERT_TRUE(function.init().ok());
    EXPECT_EQ(bus.regs[1] & 1, 0u);
    EXPECT_EQ(io.find(0x4), nullptr) << "nothing trapped over the 8237";
    EXPECT_EQ(io.find(0x1F7), &function.channel(0));
}

TEST(IdePciFunctionPlacement, NativeModeWithUnassignedBarsNeverTrapsTheFixedPorts) {
    FakePiixConfig bus;
    bus.regs[2] = 0x01018500; // native on both channels, BAR0-3 present but 0
    for (unsigned i = 4; i < 8; ++i) bus.writable[i] = i % 2 ? 0xFFFFFFFC : 0xFFFFFFF8;
    for (unsigned i = 4; i < 8; ++i) bus.regs[i] = 1;
    pci::ConfigSpace config{bus};
    test::FakeGuestMemory ram{0, 1 << 20};
    NoDma dma;
    storage::ShadowPool pool; // never carved: the channels fail closed
    IoDispatcher io;
    IdePciFunction function{pci::Address{0, 1, 1}, config, bus, ram, dma, pool, nullptr, io};
    ASSERT_TRUE(function.init().ok());
    EXPECT_EQ(bus.regs[1] & 1, 0u);
    for (uint16_t p = 0; p < 0x100; ++p) EXPECT_EQ(io.find(p), nullptr) << std::hex << p;
}

} // namespace
} // namespace sv::ide

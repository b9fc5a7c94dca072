// Guest page walker over page tables built in a simulated RAM array, one
// group per paging mode (SDM vol. 3A 4.3-4.5), plus access rights, A/D
// updates, hostile tables (outside RAM, reserved bits, self-references) and
// page-crossing linear copies.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "arch/x86/guest_page_walk.hpp"
#include "arch/x86/insn_decoder.hpp"
#include "tests/unit/x86/sim_guest_ram.hpp"

namespace sv::x86 {
namespace {

using namespace test;
using Kind = PageTableBuilder::Kind;

constexpr size_t kRamSize = 8 << 20;

GuestPagingState long_mode(uint64_t cr3, bool la57 = false) {
    return {kCr0Pg | kCr0Pe | kCr0Wp, cr3, kCr4Pae | (la57 ? kCr4La57 : 0),
            kEferLme | kEferLma | kEferNxe};
}
GuestPagingState pae_mode(uint64_t cr3, bool nxe = true) {
    return {kCr0Pg | kCr0Pe | kCr0Wp, cr3, kCr4Pae, nxe ? kEferNxe : 0};
}
GuestPagingState legacy_mode(uint64_t cr3, bool pse = true) {
    return {kCr0Pg | kCr0Pe | kCr0Wp, cr3, pse ? kCr4Pse : 0, 0};
}

Translation must_translate(const GuestPagingState& s, SimGuestRam& ram, uint64_t linear) {
    const Result<Translation> t = translate(s, ram, linear);
    EXPECT_TRUE(t.ok()) << std::hex << linear << ": " << (t.ok() ? "" : to_string(t.error()));
    return t.ok() ? t.value() : Translation{};
}

Error walk_error(const GuestPagingState& s, SimGuestRam& ram, uint64_t linear,
                 unsigned maxphys = kDefaultMaxPhysAddrBits) {
    const Result<Translation> t = translate(s, ram, linear, maxphys);
    EXPECT_FALSE(t.ok()) << std::hex << linear << " -> " << (t.ok() ? t.value().gpa : 0);
    return t.ok() ? Error::OutOfMemory : t.error();
}

TEST(PageWalkModes, SelectedFromControlRegisters) {
    EXPECT_EQ(paging_mode({kCr0Pe, 0, kCr4Pae, kEferLme}), PagingMode::Disabled);
    EXPECT_EQ(paging_mode(legacy_mode(0)), PagingMode::Bits32);
    EXPECT_EQ(paging_mode(pae_mode(0)), PagingMode::Pae);
    EXPECT_EQ(paging_mode(long_mode(0)), PagingMode::FourLevel);
    EXPECT_EQ(paging_mode(long_mode(0, true)), PagingMode::FiveLevel);
}

TEST(PageWalkModes, PagingDisabledIsIdentityWithin4GiB) {
    SimGuestRam ram(kRamSize);
    const GuestPagingState real{0, 0, 0, 0};
    const Translation t = must_translate(real, ram, 0x1'0000'1234);
    EXPECT_EQ(t.gpa, 0x1234u);
    EXPECT_TRUE(t.writable && t.user && !t.no_execute);
    EXPECT_EQ(ram.map_calls, 0u);
}

TEST(PageWalk32Bit, FourKiBAndFourMiBPages) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Bits32);
    pt.map(0x0040'1000, 0x0050'3000, k4K, kP | kRw | kUs);
    pt.map(0x0080'0000, 0x0000'0000, k4M, kP);  // 4 MiB, read-only, supervisor
    pt.map(0xc000'0000, 0x1'00c0'0000, k4M, kP | kRw); // PSE-36: above 4 GiB
    const GuestPagingState s = legacy_mode(pt.root);

    const Translation small = must_translate(s, ram, 0x0040'1234);
    EXPECT_EQ(small.gpa, 0x0050'3234u);
    EXPECT_EQ(small.page_size, k4K);
    EXPECT_TRUE(small.writable && small.user && !small.no_execute);

    const Translation large = must_translate(s, ram, 0x00ab'cdef);
    EXPECT_EQ(large.gpa, 0x002b'cdefu);
    EXPECT_EQ(large.page_size, k4M);
    EXPECT_FALSE(large.writable);
    EXPECT_FALSE(large.user);

    EXPECT_EQ(must_translate(s, ram, 0xc012'3456).gpa, 0x1'00d2'3456u);
    // Bit 21 of a 4 MiB PDE is reserved; PSE-36 bits above MAXPHYADDR too.
    EXPECT_EQ(walk_error(s, ram, 0xc000'0000, 32), Error::Malformed);
    ram.put(pt.entry_at(0x0080'0000, 2), kP | kPs | (1u << 21), 4);
    EXPECT_EQ(walk_error(s, ram, 0x0080'0000), Error::Malformed);
    // Not present.
    EXPECT_EQ(walk_error(s, ram, 0x0040'2000), Error::NotFound);
    EXPECT_EQ(walk_error(s, ram, 0x7000'0000), Error::NotFound);
}

TEST(PageWalk32Bit, PageSizeBitIgnoredWithoutPse) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Bits32);
    pt.map(0x0040'1000, 0x0050'3000, k4K, kP | kRw);
    const uint64_t pde = pt.entry_at(0x0040'1000, 2);
    ram.put(pde, ram.get(pde, 4) | kPs, 4);
    EXPECT_EQ(must_translate(legacy_mode(pt.root, false), ram, 0x0040'1010).gpa, 0x0050'3010u);
    EXPECT_EQ(must_translate(legacy_mode(pt.root, true), ram, 0x0040'1010).page_size, k4M);
}

TEST(PageWalkPae, FourKiBTwoMiBAndReservedBits) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Pae);
    pt.map(0xc000'1000, 0x0060'0000, k4K, kP | kRw | kNx);
    pt.map(0x4020'0000, 0x0040'0000, k2M, kP | kUs);
    const GuestPagingState s = pae_mode(pt.root);

    const Translation small = must_translate(s, ram, 0xc000'1abc);
    EXPECT_EQ(small.gpa, 0x0060'0abcu);
    EXPECT_TRUE(small.no_execute);
    EXPECT_FALSE(small.user);
    const Translation large = must_translate(s, ram, 0x4031'2345);
    EXPECT_EQ(large.gpa, 0x0051'2345u);
    EXPECT_EQ(large.page_size, k2M);
    EXPECT_FALSE(large.writable);

    // XD is reserved when EFER.NXE = 0.
    EXPECT_EQ(walk_error(pae_mode(pt.root, false), ram, 0xc000'1000), Error::Malformed);
    // PDPTE bits 2:1 are reserved (PDPTEs carry no rights).
    const uint64_t pdpte = pt.entry_at(0x4020'0000, 3);
    ram.put(pdpte, ram.get(pdpte, 8) | kRw, 8);
    EXPECT_EQ(walk_error(s, ram, 0x4020'0000), Error::Malformed);
    // 2 MiB PDE bits 20:13 are reserved.
    const uint64_t pde = pt.entry_at(0xc000'1000, 2);
    ram.put(pde, ram.get(pde, 8) | kPs | (1ull << 13), 8);
    EXPECT_EQ(walk_error(s, ram, 0xc000'1000), Error::Malformed);
    EXPECT_EQ(walk_error(s, ram, 0x8000'0000), Error::NotFound); // PDPTE 2 not present
}

TEST(PageWalkLongMode, FourKiBTwoMiBOneGiBPages) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long4);
    pt.map(0xffff'8000'0000'1000, 0x0040'2000, k4K, kP | kRw);
    pt.map(0xffff'ffff'8020'0000, 0x0060'0000, k2M, kP | kNx);
    pt.map(0x0000'0040'0000'0000, 0x0000'0000, k1G, kP | kRw | kUs);
    const GuestPagingState s = long_mode(pt.root);

    const Translation small = must_translate(s, ram, 0xffff'8000'0000'1ff8);
    EXPECT_EQ(small.gpa, 0x0040'2ff8u);
    EXPECT_EQ(small.page_size, k4K);
    const Translation medium = must_translate(s, ram, 0xffff'ffff'8021'0000);
    EXPECT_EQ(medium.gpa, 0x0061'0000u);
    EXPECT_TRUE(medium.no_execute);
    EXPECT_FALSE(medium.writable);
    const Translation huge = must_translate(s, ram, 0x0000'0040'1234'5678);
    EXPECT_EQ(huge.gpa, 0x1234'5678u);
    EXPECT_EQ(huge.page_size, k1G);
    EXPECT_TRUE(huge.user && huge.writable);

    EXPECT_EQ(walk_error(s, ram, 0xffff'8000'0000'2000), Error::NotFound);
    EXPECT_EQ(walk_error(s, ram, 0x0000'8000'0000'0000), Error::InvalidArgument); // non-canonical
}

TEST(PageWalkLongMode, ReservedBitsAreMalformed) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long4);
    pt.map(0x1000, 0x0040'2000, k4K, kP | kRw);
    pt.map(0x4000'0000, 0, k1G, kP);
    pt.map(0x8000'0000, 0x0020'0000, k2M, kP);
    const GuestPagingState s = long_mode(pt.root);
    ASSERT_TRUE(translate(s, ram, 0x1000).ok());

    // Bits above MAXPHYADDR (here 40) in a PTE.
    const uint64_t pte = pt.entry_at(0x1000, 1);
    ram.put(pte, ram.get(pte, 8) | (1ull << 45), 8);
    EXPECT_EQ(walk_error(s, ram, 0x1000, 40), Error::Malformed);
    EXPECT_TRUE(translate(s, ram, 0x1000, 52).ok()); // a valid address bit with MAXPHYADDR 52
    ram.put(pte, ram.get(pte, 8) & ~(1ull << 45), 8);
    EXPECT_TRUE(translate(s, ram, 0x1000, 40).ok());

    // PS in a PML4E is reserved.
    const uint64_t pml4e = pt.entry_at(0x1000, 4);
    ram.put(pml4e, ram.get(pml4e, 8) | kPs, 8);
    EXPECT_EQ(walk_error(s, ram, 0x1000), Error::Malformed);
    ram.put(pml4e, ram.get(pml4e, 8) & ~kPs, 8);

    // 1 GiB page: bits 29:13 reserved. 2 MiB page: bits 20:13 reserved.
    const uint64_t pdpte = pt.entry_at(0x4000'0000, 3);
    ram.put(pdpte, ram.get(pdpte, 8) | (1ull << 29), 8);
    EXPECT_EQ(walk_error(s, ram, 0x4000'0000), Error::Malformed);
    const uint64_t pde = pt.entry_at(0x8000'0000, 2);
    ram.put(pde, ram.get(pde, 8) | (1ull << 20), 8);
    EXPECT_EQ(walk_error(s, ram, 0x8000'0000), Error::Malformed);

    // XD with EFER.NXE = 0.
    GuestPagingState no_nxe = s;
    no_nxe.efer &= ~kEferNxe;
    ram.put(pte, ram.get(pte, 8) | kNx, 8);
    EXPECT_EQ(walk_error(no_nxe, ram, 0x1000), Error::Malformed);
    EXPECT_TRUE(translate(s, ram, 0x1000).value().no_execute);
}

TEST(PageWalkLongMode, FiveLevelPaging) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long5);
    pt.map(0xff00'1234'5678'9000, 0x0070'0000, k4K, kP | kRw);
    pt.map(0x0001'0000'0000'0000, 0x0040'0000, k2M, kP);
    const GuestPagingState s = long_mode(pt.root, true);
    EXPECT_EQ(must_translate(s, ram, 0xff00'1234'5678'9abc).gpa, 0x0070'0abcu);
    EXPECT_EQ(must_translate(s, ram, 0x0001'0000'0001'0000).gpa, 0x0041'0000u);
    // 57-bit canonical: bit 56 must be copied into 63:57.
    EXPECT_EQ(walk_error(s, ram, 0x0100'0000'0000'0000), Error::InvalidArgument);
    // The same linear address under 4-level paging is non-canonical.
    EXPECT_EQ(walk_error(long_mode(pt.root), ram, 0x0001'0000'0000'0000), Error::InvalidArgument);
}

TEST(PageWalkHostile, TablesOutsideRamAreProtected) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long4);
    pt.map(0x1000, 0x0040'2000, k4K, kP | kRw);
    const GuestPagingState s = long_mode(pt.root);
    // CR3 outside RAM.
    EXPECT_EQ(walk_error(long_mode(0x1'0000'0000), ram, 0x1000), Error::Protected);
    // PDE pointing at a page table beyond RAM (and at the last bytes of the address space).
    const uint64_t pde = pt.entry_at(0x1000, 2);
    ram.put(pde, 0x8000'0000 | kP | kRw, 8);
    EXPECT_EQ(walk_error(s, ram, 0x1000), Error::Protected);
    ram.put(pde, 0x000f'ffff'ffff'f000 | kP | kRw, 8);
    EXPECT_EQ(walk_error(s, ram, 0x1000), Error::Protected);
    // 32-bit paging with the page directory past RAM.
    EXPECT_EQ(walk_error(legacy_mode(0xffff'f000), ram, 0x1000), Error::Protected);
}

TEST(PageWalkHostile, SelfReferencingTablesTerminate) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long4);
    // Every PML4 entry points back at the PML4 ("recursive mapping").
    for (unsigned i = 0; i < 512; ++i) ram.put(pt.root + 8 * i, pt.root | kP | kRw, 8);
    const Translation t = must_translate(long_mode(pt.root), ram, 0x0000'7fff'ffff'f000);
    EXPECT_EQ(t.gpa, pt.root); // the walk ends after four levels, at the PML4 itself
}

TEST(PageWalkHostile, RandomTablesNeverCrash) {
    SimGuestRam ram(1 << 20);
    std::mt19937_64 rng(7);
    for (size_t i = 0; i < ram.size(); ++i) {
        // Mostly small frame numbers so walks go deep, with random flag bits.
        ram.byte(i) = static_cast<uint8_t>(rng());
        if (i % 8 >= 3 && i % 8 != 7) ram.byte(i) = 0;
        if (i % 8 == 2) ram.byte(i) &= 0x0f;
    }
    const GuestPagingState modes[] = {legacy_mode(0x3000), pae_mode(0x3020), long_mode(0x5000),
                                      long_mode(0x7000, true)};
    size_t ok = 0;
    for (int i = 0; i < 20'000; ++i) {
        const GuestPagingState& s = modes[i % 4];
        const uint64_t linear = rng();
        const Result<Translation> t = translate(s, ram, linear, 40);
        if (t.ok()) ++ok;
        uint8_t buffer[32];
        (void)read_linear(s, ram, linear, buffer);
        (void)write_linear(s, ram, linear, buffer);
        (void)fetch_linear(s, ram, linear, buffer);
    }
    EXPECT_GT(ok, 0u);
}

TEST(PageWalkRights, CombinedOverLevelsAndChecked) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long4);
    pt.map(0x1000, 0x0040'1000, k4K, kP | kRw | kUs, kP | kUs);  // PDEs etc. read-only
    pt.map(0x0080'0000'0000, 0x0040'2000, k4K, kP | kRw | kUs, kP | kRw); // PML4 slot 1: supervisor
    const GuestPagingState s = long_mode(pt.root);

    const Translation ro = must_translate(s, ram, 0x1000);
    EXPECT_FALSE(ro.writable);
    EXPECT_TRUE(ro.user);
    const Translation sup = must_translate(s, ram, 0x0080'0000'0000);
    EXPECT_TRUE(sup.writable);
    EXPECT_FALSE(sup.user);

    EXPECT_TRUE(permits(ro, {AccessType::Read, true}, s));
    EXPECT_FALSE(permits(ro, {AccessType::Write, true}, s));
    EXPECT_FALSE(permits(ro, {AccessType::Write, false}, s)); // CR0.WP = 1
    GuestPagingState no_wp = s;
    no_wp.cr0 &= ~kCr0Wp;
    EXPECT_TRUE(permits(ro, {AccessType::Write, false}, no_wp));
    EXPECT_FALSE(permits(ro, {AccessType::Write, true}, no_wp)); // user writes still refused
    EXPECT_FALSE(permits(sup, {AccessType::Read, true}, s));
    Translation nx = sup;
    nx.no_execute = true;
    EXPECT_FALSE(permits(nx, {AccessType::Execute, false}, s));
    EXPECT_TRUE(permits(nx, {AccessType::Read, false}, s));
}

TEST(PageWalkRights, AccessedAndDirtyFlags) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long4);
    pt.map(0x1000, 0x0040'1000, k4K, kP | kRw);
    pt.map(0x2000, 0x0040'2000, k4K, kP);
    const GuestPagingState s = long_mode(pt.root);

    ASSERT_TRUE(translate(s, ram, 0x1000).ok());
    EXPECT_EQ(ram.get(pt.entry_at(0x1000, 1), 8) & (kA | kD), 0u); // translate() is side-effect free

    ASSERT_TRUE(translate_for_access(s, ram, 0x1000, {AccessType::Read, false}).ok());
    for (unsigned level = 1; level <= 4; ++level)
        EXPECT_TRUE(ram.get(pt.entry_at(0x1000, level), 8) & kA) << level;
    EXPECT_FALSE(ram.get(pt.entry_at(0x1000, 1), 8) & kD);

    ASSERT_TRUE(translate_for_access(s, ram, 0x1000, {AccessType::Write, false}).ok());
    EXPECT_TRUE(ram.get(pt.entry_at(0x1000, 1), 8) & kD);
    EXPECT_FALSE(ram.get(pt.entry_at(0x1000, 2), 8) & kD); // D only on the leaf

    // A refused write sets nothing.
    const Result<Translation> refused = translate_for_access(s, ram, 0x2000, {AccessType::Write, false});
    EXPECT_EQ(refused.error(), Error::InvalidArgument);
    EXPECT_EQ(ram.get(pt.entry_at(0x2000, 1), 8) & (kA | kD), 0u);
}

TEST(PageWalkCopy, ReadAndWriteAcrossPages) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long4);
    // Virtually contiguous, physically swapped pages.
    pt.map(0x7000, 0x0050'0000, k4K, kP | kRw);
    pt.map(0x8000, 0x0040'0000, k4K, kP | kRw);
    const GuestPagingState s = long_mode(pt.root);
    for (unsigned i = 0; i < 8; ++i) {
        ram.byte(0x0050'0ff8 + i) = static_cast<uint8_t>(0xa0 + i);
        ram.byte(0x0040'0000 + i) = static_cast<uint8_t>(0xb0 + i);
    }
    uint8_t buffer[16];
    ASSERT_TRUE(read_linear(s, ram, 0x7ff8, buffer).ok());
    for (unsigned i = 0; i < 8; ++i) {
        EXPECT_EQ(buffer[i], 0xa0 + i);
        EXPECT_EQ(buffer[8 + i], 0xb0 + i);
    }

    const uint8_t data[6] = {1, 2, 3, 4, 5, 6};
    ASSERT_TRUE(write_linear(s, ram, 0x7ffd, data).ok());
    EXPECT_EQ(ram.byte(0x0050'0ffd), 1);
    EXPECT_EQ(ram.byte(0x0050'0fff), 3);
    EXPECT_EQ(ram.byte(0x0040'0000), 4);
    EXPECT_EQ(ram.byte(0x0040'0002), 6);
    EXPECT_TRUE(ram.get(pt.entry_at(0x8000, 1), 8) & kD);
}

TEST(PageWalkCopy, FaultOnSecondPageLeavesFirstUntouched) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long4);
    pt.map(0x7000, 0x0050'0000, k4K, kP | kRw);
    pt.map(0x8000, 0x0040'0000, k4K, kP); // read-only
    const GuestPagingState s = long_mode(pt.root);
    const uint8_t data[4] = {9, 9, 9, 9};

    EXPECT_EQ(write_linear(s, ram, 0x7ffe, data).error(), Error::InvalidArgument);
    EXPECT_EQ(ram.byte(0x0050'0ffe), 0);
    EXPECT_EQ(write_linear(s, ram, 0x8ffe, data).error(), Error::InvalidArgument);
    EXPECT_EQ(write_linear(s, ram, 0x0000'7fff'fffe, data).error(), Error::NotFound);

    uint8_t buffer[4];
    EXPECT_EQ(read_linear(s, ram, 0x8ffe, buffer).error(), Error::NotFound); // 0x9000 not mapped
    // A user-mode read of a supervisor page.
    EXPECT_EQ(read_linear(s, ram, 0x7000, buffer, {AccessType::Read, true}).error(),
              Error::InvalidArgument);
}

TEST(PageWalkCopy, DataOutsideRamAndLengthLimit) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long4);
    pt.map(0x7000, 0xfee0'0000, k4K, kP | kRw); // e.g. the local APIC: not RAM
    pt.map(0x0040'0000, 0x0020'0000, k2M, kP | kRw);
    const GuestPagingState s = long_mode(pt.root);
    uint8_t buffer[8];
    EXPECT_EQ(read_linear(s, ram, 0x7000, buffer).error(), Error::Protected);
    EXPECT_EQ(write_linear(s, ram, 0x7000, buffer).error(), Error::Protected);

    std::vector<uint8_t> big(kMaxLinearCopy + 1);
    EXPECT_EQ(read_linear(s, ram, 0x0040'0000, big).error(), Error::OutOfRange);
    big.resize(kMaxLinearCopy); // the limit itself is fine, across 16 4-KiB steps of a 2 MiB page
    EXPECT_TRUE(read_linear(s, ram, 0x0040'0000, big).ok());
}

TEST(PageWalkCopy, LegacyLinearAddressesWrapAt4GiB) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Bits32);
    pt.map(0xffff'f000, 0x0040'0000, k4K, kP | kRw);
    pt.map(0x0000'0000, 0x0050'0000, k4K, kP | kRw);
    const GuestPagingState s = legacy_mode(pt.root);
    ram.byte(0x0040'0fff) = 0x11;
    ram.byte(0x0050'0000) = 0x22;
    uint8_t buffer[2];
    ASSERT_TRUE(read_linear(s, ram, 0xffff'ffff, buffer).ok());
    EXPECT_EQ(buffer[0], 0x11);
    EXPECT_EQ(buffer[1], 0x22);
}

TEST(PageWalkCopy, InstructionFetchStopsAtUnmappedPage) {
    SimGuestRam ram(kRamSize);
    PageTableBuilder pt(ram, Kind::Long4);
    pt.map(0x7000, 0x0050'0000, k4K, kP);
    pt.map(0xa000, 0x0060'0000, k4K, kP | kNx);
    const GuestPagingState s = long_mode(pt.root);
    // "0f a2" (CPUID) in the last two bytes of the page; 0x8000 is not mapped.
    ram.byte(0x0050'0ffe) = 0x0f;
    ram.byte(0x0050'0fff) = 0xa2;

    uint8_t bytes[kMaxInstructionLength];
    const Result<size_t> fetched = fetch_linear(s, ram, 0x7ffe, bytes);
    ASSERT_TRUE(fetched.ok());
    EXPECT_EQ(fetched.value(), 2u);
    const Result<Instruction> cpuid =
        decode(std::span<const uint8_t>(bytes, fetched.value()), CpuMode::Long64);
    ASSERT_TRUE(cpuid.ok());
    EXPECT_EQ(cpuid.value().kind, InsnKind::Cpuid);

    // A longer instruction cut by the page end is reported as truncated.
    ram.byte(0x0050'0ffe) = 0x48;
    ram.byte(0x0050'0fff) = 0xb8;
    const Result<size_t> cut = fetch_linear(s, ram, 0x7ffe, bytes);
    ASSERT_TRUE(cut.ok());
    EXPECT_EQ(decode(std::span<const uint8_t>(bytes, cut.value()), CpuMode::Long64).error(),
              Error::OutOfRange);

    EXPECT_EQ(fetch_linear(s, ram, 0x8000, bytes).error(), Error::NotFound);
    EXPECT_EQ(fetch_linear(s, ram, 0xa000, bytes).error(), Error::InvalidArgument); // NX
}

} // namespace
} // namespace sv::x86

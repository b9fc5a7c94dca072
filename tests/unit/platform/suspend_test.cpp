// S3 engine bookkeeping (platform/suspend.hpp): the guest's waking vector as a
// real-mode entry, the trampoline page choice and the borrow/restore of that
// guest page. (Which SLP_TYP is S3, S4 or S5 is
// PowerControl's decision: tests/unit/devices/power_control_sleep_test.cpp.)
#include <gtest/gtest.h>

#include <vector>

#include "platform/suspend.hpp"
#include "core/fake_guest_memory.hpp"

namespace sv::suspend {
namespace {

TEST(SuspendWakeEntry, RealModeVector) {
    acpi::WakingVectors v;
    v.firmware = 0x9A123;
    Result<RealModeEntry> e = guest_wake_entry(v);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e.value().cs, 0x9A12);
    EXPECT_EQ(e.value().ip, 0x3);
}

TEST(SuspendWakeEntry, RefusesWhatIsNotImplemented) {
    acpi::WakingVectors v;
    v.firmware = 0x1000;
    v.version = 1;
    v.x_firmware = 0x100000; // 32/64-bit waking
    EXPECT_EQ(guest_wake_entry(v).error(), Error::Unsupported);
    v.version = 0; // a version 0 FACS has no x vector: ignored
    EXPECT_TRUE(guest_wake_entry(v).ok());
    acpi::WakingVectors none;
    EXPECT_EQ(guest_wake_entry(none).error(), Error::NotFound);
    acpi::WakingVectors high;
    high.firmware = 0x100000;
    EXPECT_EQ(guest_wake_entry(high).error(), Error::OutOfRange);
}

TEST(SuspendTrampolinePage, LowestRamPageBelow640K) {
    MemoryMap m;
    ASSERT_TRUE(m.add(0, 0x9FC00, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(0x100000, 64 << 20, MemoryType::Ram).ok());
    EXPECT_EQ(pick_trampoline_page(m), 0x1000u); // never page 0 (IVT, BDA)
    MemoryMap hole;
    ASSERT_TRUE(hole.add(0, 0x2000, MemoryType::Reserved).ok());
    ASSERT_TRUE(hole.add(0x2000, 0x3000, MemoryType::Ram).ok());
    EXPECT_EQ(pick_trampoline_page(hole), 0x2000u);
    MemoryMap high_only;
    ASSERT_TRUE(high_only.add(0x100000, 64 << 20, MemoryType::Ram).ok());
    EXPECT_EQ(pick_trampoline_page(high_only), 0u);
}

TEST(SuspendBorrowedPage, SavesAndRestoresTheGuestBytes) {
    test::FakeGuestMemory ram(0, 1 << 20);
    std::vector<uint8_t> guest(4096);
    for (size_t i = 0; i < guest.size(); ++i) guest[i] = static_cast<uint8_t>(i * 7 + 1);
    ram.write(0x3000, guest.data(), guest.size());
    const uint8_t code[3] = {0xFA, 0xFC, 0xF4};
    BorrowedPage page;
    ASSERT_TRUE(page.borrow(ram, 0x3000, code).ok());
    EXPECT_TRUE(page.borrowed());
    EXPECT_EQ(page.address(), 0x3000u);
    const uint8_t* p = ram.map(0x3000, 4096);
    EXPECT_EQ(p[0], 0xFA);
    EXPECT_EQ(p[2], 0xF4);
    EXPECT_EQ(p[3], 0); // rest of the page cleared: no guest bytes mixed into our code
    EXPECT_EQ(page.contents(ram), p);
    // A second loan while the first is out is a bug of ours: refused.
    EXPECT_FALSE(page.borrow(ram, 0x4000, code).ok());
    EXPECT_TRUE(page.restore(ram));
    EXPECT_FALSE(page.borrowed());
    EXPECT_EQ(std::vector<uint8_t>(p, p + 4096), guest);
    EXPECT_FALSE(page.restore(ram)); // idempotent
    EXPECT_EQ(std::vector<uint8_t>(p, p + 4096), guest);
    EXPECT_EQ(page.contents(ram), nullptr);
}

TEST(SuspendBorrowedPage, RefusesBadPages) {
    test::FakeGuestMemory ram(0x1000, 0x2000);
    const uint8_t code[1] = {0xF4};
    BorrowedPage page;
    EXPECT_FALSE(page.borrow(ram, 0x1800, code).ok()); // unaligned
    EXPECT_FALSE(page.borrow(ram, 0x8000, code).ok()); // not guest RAM
    std::vector<uint8_t> big(4097, 0);
    EXPECT_FALSE(page.borrow(ram, 0x1000, big).ok()); // code larger than a page
    EXPECT_FALSE(page.borrowed());
}

} // namespace
} // namespace sv::suspend

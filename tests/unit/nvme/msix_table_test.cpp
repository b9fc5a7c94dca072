// The virtual MSI-X table (msix_table.*): guest entries and PBA kept apart
// from the real table, masking and pending bits, delivery at unmask, the
// real entries programmed as NMIs to the guest's destination, and guest
// addresses that are no interrupt refused.
#include <gtest/gtest.h>

#include "devices/storage/nvme/msix_table.hpp"
#include "devices/storage/nvme/nvme_queues.hpp"
#include "nvme/nvme_fakes.hpp"
#include "nvme/sim_nvme.hpp"

namespace svtest {
namespace {
using namespace sv::nvme;
namespace msi = sv::msi;

constexpr uint64_t kRam = 16ull << 20, kHvBase = 0x2000000, kHvBytes = 1 << 20;

struct MsixTableTest : ::testing::Test {
    SimPhysMemory mem{kRam, kHvBase, kHvBytes};
    SimNvme dev{mem, 8, 9};
    RecordedInterrupts out;
    MsixTable t{dev, SimNvme::kMsixTable, 9, out, 7};

    // The guest programs entry v as Linux does (physical destination, fixed, vector).
    void program(uint16_t v, uint8_t apic, uint8_t vector, bool masked = false) {
        t.write_table(v * 16 + msix::kEntryAddrLo, 4, msi::kAddressWindow | uint64_t{apic} << 12);
        t.write_table(v * 16 + msix::kEntryAddrHi, 4, 0);
        t.write_table(v * 16 + msix::kEntryData, 4, vector);
        t.write_table(v * 16 + msix::kEntryControl, 4, masked ? 1 : 0);
    }
    uint32_t real(uint16_t v, uint32_t field) { return dev.read32(SimNvme::kMsixTable + v * 16 + field); }
};

TEST_F(MsixTableTest, GuestEntriesAreVirtual) {
    t.init_hardware();
    program(3, 2, 0x41);
    EXPECT_EQ(t.read_table(3 * 16 + msix::kEntryData, 4), 0x41u);
    EXPECT_EQ(t.read_table(3 * 16, 8), msi::kAddressWindow | 2u << 12);
    // The device's table never saw the guest's vector; its entries are masked.
    EXPECT_EQ(real(3, msix::kEntryData), 0u);
    EXPECT_EQ(real(3, msix::kEntryControl) & 1, 1u);
    // Entries start masked (PCI 3.0 §6.8.2.9); odd sizes are refused.
    EXPECT_EQ(t.read_table(4 * 16 + msix::kEntryControl, 4), 1u);
    EXPECT_EQ(t.read_table(1, 2), 0u);
    EXPECT_GT(t.stats().bad_accesses, 0u);
}

TEST_F(MsixTableTest, DeliversOnlyWhenEnabledAndUnmasked) {
    program(1, 3, 0x52);
    t.raise(1); // MSI-X still off: pending
    EXPECT_TRUE(out.sent.empty());
    EXPECT_TRUE(t.pending(1));
    EXPECT_EQ(t.read_pba(0, 8), 1u << 1);
    t.control_written(msix::kEnable | msix::kFunctionMask); // on, function masked: still pending
    EXPECT_TRUE(out.sent.empty());
    t.control_written(msix::kEnable); // unmasked: the pending vector goes
    ASSERT_EQ(out.sent.size(), 1u);
    EXPECT_EQ(out.sent[0].data, 0x52u);
    EXPECT_EQ(msi::destination(out.sent[0].address), 3);
    EXPECT_FALSE(t.pending(1));
    EXPECT_EQ(t.stats().delivered_at_unmask, 1u);
    t.raise(1);
    EXPECT_EQ(out.sent.size(), 2u);
    EXPECT_EQ(t.stats().delivered, 2u);
}

TEST_F(MsixTableTest, EntryMaskPendsAndUnmaskDelivers) {
    t.control_written(msix::kEnable);
    program(2, 1, 0x60, true);
    t.raise(2);
    t.raise(2); // one pending bit for both (PCI 3.0 §6.8.3.4)
    EXPECT_TRUE(out.sent.empty());
    EXPECT_EQ(t.stats().pended, 2u);
    t.write_table(2 * 16 + msix::kEntryControl, 4, 0);
    ASSERT_EQ(out.sent.size(), 1u);
    EXPECT_EQ(out.sent[0].data, 0x60u);
    EXPECT_EQ(t.read_pba(0, 4), 0u);
}

TEST_F(MsixTableTest, RealEntriesAreNmisToTheGuestsDestination) {
    t.init_hardware();
    program(0, 0, 0x30);
    program(2, 5, 0x31);
    const uint16_t used[] = {0, 2};
    t.use_vectors(used, 2);
    EXPECT_TRUE(t.real_in_use(0));
    EXPECT_TRUE(t.real_in_use(2));
    EXPECT_FALSE(t.real_in_use(1));
    EXPECT_EQ(real(2, msix::kEntryData) & msi::kDeliveryMask, msi::kDeliveryNmi);
    EXPECT_EQ(real(2, msix::kEntryData) & msi::kVectorMask, 0u); // the guest's vector never reaches the device
    EXPECT_EQ(real(2, msix::kEntryAddrLo), msi::kAddressWindow | 5u << 12);
    EXPECT_EQ(real(2, msix::kEntryControl), 0u);
    EXPECT_EQ(real(1, msix::kEntryControl), 1u);
    // The guest moves vector 2 to CPU 6 (irq affinity): the NMI follows.
    t.write_table(2 * 16 + msix::kEntryAddrLo, 4, msi::kAddressWindow | 6u << 12);
    EXPECT_EQ(real(2, msix::kEntryAddrLo), msi::kAddressWindow | 6u << 12);
    // A vector no longer used is masked again.
    const uint16_t only0[] = {0};
    t.use_vectors(only0, 1);
    EXPECT_EQ(real(2, msix::kEntryControl), 1u);
    EXPECT_EQ(real(0, msix::kEntryControl), 0u);
    EXPECT_GE(t.stats().real_programmed, 3u);
}

TEST_F(MsixTableTest, UnprogrammedEntryGetsTheFallbackDestination) {
    const uint16_t used[] = {4};
    t.use_vectors(used, 1);
    EXPECT_EQ(real(4, msix::kEntryAddrLo), msi::kAddressWindow | 7u << 12); // fallback APIC 7
    EXPECT_EQ(t.stats().refused_addresses, 0u);
}

TEST_F(MsixTableTest, AddressOutsideTheInterruptWindowIsRefused) {
    t.control_written(msix::kEnable);
    t.write_table(1 * 16 + msix::kEntryAddrLo, 4, 0x00100000); // ordinary RAM: an MSI would write it
    t.write_table(1 * 16 + msix::kEntryData, 4, 0x41);
    t.write_table(1 * 16 + msix::kEntryControl, 4, 0);
    t.raise(1);
    EXPECT_TRUE(out.sent.empty());
    EXPECT_EQ(t.stats().refused_addresses, 1u);
    const uint16_t used[] = {1};
    t.use_vectors(used, 1);
    EXPECT_EQ(real(1, msix::kEntryAddrLo), msi::kAddressWindow | 7u << 12); // never the guest's address
    EXPECT_EQ(real(1, msix::kEntryAddrHi), 0u);
    // 64-bit addresses above 4 GiB are not interrupts either.
    t.write_table(1 * 16 + msix::kEntryAddrLo, 4, msi::kAddressWindow);
    t.write_table(1 * 16 + msix::kEntryAddrHi, 4, 1);
    t.raise(1);
    EXPECT_TRUE(out.sent.empty());
    EXPECT_EQ(real(1, msix::kEntryAddrHi), 0u);
}

TEST_F(MsixTableTest, VectorsBeyondTheTableAreCountedNotDelivered) {
    t.control_written(msix::kEnable);
    t.raise(9);
    t.raise(500);
    EXPECT_TRUE(out.sent.empty());
    EXPECT_EQ(t.stats().out_of_table, 2u);
    EXPECT_EQ(t.read_table(9 * 16, 4), 0u);
}

TEST(MsixIpi, IcrFromMessage) {
    const sv::IpiCommand phys = sv::ipi_for({msi::kAddressWindow | 3u << 12, 0x4d});
    EXPECT_EQ(phys.destination, 3);
    EXPECT_EQ(phys.low, 0x4du | sv::icr::kLevelAssert);
    const sv::IpiCommand logical = sv::ipi_for({msi::kAddressWindow | 0x0fu << 12 | msi::kDestinationLogical,
                                                0x4d | msi::kDeliveryLowest});
    EXPECT_EQ(logical.destination, 0x0f);
    EXPECT_EQ(logical.low, 0x4du | msi::kDeliveryLowest | sv::icr::kLevelAssert | sv::icr::kDestinationLogical);
    // Whatever mode the guest wrote (NMI, SMI, INIT), the IPI is a fixed interrupt.
    EXPECT_EQ(sv::ipi_for({msi::kAddressWindow, 0x4d | msi::kDeliveryNmi}).low & msi::kDeliveryMask,
              msi::kDeliveryFixed);
}

} // namespace
} // namespace svtest

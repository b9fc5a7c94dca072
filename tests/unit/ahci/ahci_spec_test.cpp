// AHCI register map and memory structure layouts against AHCI 1.3.1 (§3.1,
// §3.3, §4.2) and the SATA FIS layouts (SATA 3.x §10.5): offsets the static
// asserts do not already pin, and the helpers that unpack fields.
#include <gtest/gtest.h>

#include <cstring>

#include "devices/storage/ahci/ahci_fis.hpp"
#include "devices/storage/ahci/ahci_memory.hpp"
#include "devices/storage/ahci/ahci_registers.hpp"

namespace sv::ahci {
namespace {

TEST(AhciRegisters, PortBlockPlacement) {
    EXPECT_EQ(port_base(0), 0x100u);
    EXPECT_EQ(port_base(1), 0x180u);
    EXPECT_EQ(port_base(31) + kPortStride, 0x1100u); // SerenityOS-style check of §3
    EXPECT_EQ(kAbarMinSize, 0x1100u);
    EXPECT_EQ(preg::kCi, 0x38u);
    EXPECT_EQ(preg::kSact, 0x34u);
    EXPECT_EQ(preg::kDevslp, 0x44u);
    EXPECT_EQ(reg::kBohc, 0x28u);
}

TEST(AhciRegisters, CapFieldsOfQemuIch9) {
    // QEMU's ICH9 AHCI reports CAP c0141f05 (docs/design.md §5).
    constexpr uint32_t c = 0xc0141f05;
    EXPECT_EQ(cap::ports(c), 6u);
    EXPECT_EQ(cap::command_slots(c), 32u);
    EXPECT_TRUE(c & cap::kS64a);
    EXPECT_TRUE(c & cap::kSncq);
    EXPECT_TRUE(c & cap::kSam);
    EXPECT_FALSE(c & cap::kSpm);
    EXPECT_FALSE(c & cap::kFbss);
    EXPECT_EQ((c & cap::kIssMask) >> cap::kIssShift, 1u); // Gen 1
}

TEST(AhciMemory, CommandHeaderFields) {
    CommandHeader h{};
    h.dw0 = (3u << hdr::kPrdtlShift) | (2u << hdr::kPmpShift) | hdr::kW | hdr::kC | 5u;
    h.ctba = 0x12345680 | 0x7f; // reserved low bits are ignored
    h.ctbau = 0x1;
    EXPECT_EQ(hdr::cfl(h.dw0), 5u);
    EXPECT_EQ(hdr::prdtl(h.dw0), 3u);
    EXPECT_EQ(hdr::pmp(h.dw0), 2u);
    EXPECT_EQ(command_table_address(h), 0x112345680ull);
    EXPECT_EQ(command_table_size(0), 0x80u);
    EXPECT_EQ(command_table_size(0xffff), 0x80u + 0xffffull * 16);
    uint8_t raw[32];
    std::memcpy(raw, &h, sizeof h);
    EXPECT_EQ(raw[0], 0x05 | 0x40); // CFL and W in byte 0 (little endian)
    EXPECT_EQ(raw[2], 3);           // PRDTL low byte at byte 2
}

TEST(AhciMemory, PrdtEntryFields) {
    PrdtEntry e{};
    e.dba = 0x1000 | 1; // bit 0 reserved
    e.dbau = 0;
    e.dw3 = prd::kInterrupt | (4096 - 1);
    EXPECT_EQ(data_address(e), 0x1000u);
    EXPECT_EQ(prd::byte_count(e.dw3), 4096u);
    EXPECT_TRUE(prd::even_byte_count(e.dw3));
    EXPECT_FALSE(prd::even_byte_count(4096 - 2)); // DBC 4094 = 4095 bytes, odd
    EXPECT_EQ(prd::byte_count(prd::kDbcMask | prd::kInterrupt), 4u << 20);
    // Bits 30:22 are reserved: they never count.
    EXPECT_EQ(prd::byte_count(0x7fc00000u | 511), 512u);
}

TEST(AhciMemory, ReceivedFisAreaFits) {
    EXPECT_LE(rfis::kDsfis + sizeof(DmaSetupFis), rfis::kPsfis);
    EXPECT_LE(rfis::kPsfis + sizeof(PioSetupFis), rfis::kRfis);
    EXPECT_LE(rfis::kRfis + sizeof(RegisterD2hFis), rfis::kSdbfis);
    EXPECT_LE(rfis::kSdbfis + sizeof(SetDeviceBitsFis), rfis::kUfis);
    EXPECT_LE(rfis::kUfis + rfis::kUfisSize, rfis::kSize);
}

TEST(AhciRegisters, InterruptBitsAreDistinct) {
    const uint32_t bits[] = {pis::kDhrs, pis::kPss, pis::kDss, pis::kSdbs, pis::kUfs, pis::kDps,
                             pis::kPcs, pis::kDmps, pis::kPrcs, pis::kIpms, pis::kOfs, pis::kInfs,
                             pis::kIfs, pis::kHbds, pis::kHbfs, pis::kTfes, pis::kCpds};
    uint32_t all = 0;
    for (uint32_t b : bits) {
        EXPECT_EQ(all & b, 0u);
        all |= b;
    }
    EXPECT_EQ(all & (1u << 25), 0u); // bit 25 reserved in §3.3.5
    EXPECT_EQ(pis::kFatalMask & (pis::kDhrs | pis::kSdbs), 0u);
}

} // namespace
} // namespace sv::ahci

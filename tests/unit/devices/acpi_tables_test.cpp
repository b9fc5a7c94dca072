// ACPI lookups over a fake physical memory: RSDP in the BIOS area, RSDT, FADT
// (PM1 control ports) and MADT (enabled processors); corrupt tables refused.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/guest_memory.hpp"
#include "devices/acpi/acpi_tables.hpp"

namespace sv::acpi {
namespace {

struct FakeMemory final : GuestMemory {
    std::vector<uint8_t> ram = std::vector<uint8_t>(2 << 20, 0);
    uint8_t* map(uint64_t gpa, uint64_t len) override {
        if (gpa + len < gpa || gpa + len > ram.size()) return nullptr;
        return ram.data() + gpa;
    }
    void put32(uint64_t at, uint32_t v) { std::memcpy(&ram[at], &v, 4); }
    void fix_checksum(uint64_t at, uint32_t length, uint32_t checksum_offset) {
        ram[at + checksum_offset] = 0;
        uint8_t sum = 0;
        for (uint32_t i = 0; i < length; ++i) sum = static_cast<uint8_t>(sum + ram[at + i]);
        ram[at + checksum_offset] = static_cast<uint8_t>(-sum);
    }
    void table(uint64_t at, const char* sig, uint32_t length) {
        std::memcpy(&ram[at], sig, 4);
        put32(at + 4, length);
    }
};

constexpr uint64_t rsdp = 0xF5000, rsdt = 0x100000, fadt = 0x101000, madt = 0x102000;

void build(FakeMemory& m, bool two_cpus_enabled = true) {
    std::memcpy(&m.ram[rsdp], "RSD PTR ", 8);
    m.put32(rsdp + 16, rsdt);
    m.fix_checksum(rsdp, 20, 8);
    m.table(rsdt, "RSDT", 44);
    m.put32(rsdt + 36, fadt);
    m.put32(rsdt + 40, madt);
    m.fix_checksum(rsdt, 44, 9);
    m.table(fadt, "FACP", 116);
    m.put32(fadt + 64, 0x604);
    m.fix_checksum(fadt, 116, 9);
    // MADT: header 44, LAPIC (8) x3 (one disabled), IOAPIC (12).
    uint32_t off = 44;
    const uint8_t ids[3] = {0, 1, 7};
    for (int i = 0; i < 3; ++i, off += 8) {
        m.ram[madt + off] = 0;
        m.ram[madt + off + 1] = 8;
        m.ram[madt + off + 3] = ids[i];
        m.put32(madt + off + 4, (i == 2 || (i == 1 && !two_cpus_enabled)) ? 0 : 1);
    }
    m.ram[madt + off] = 1;
    m.ram[madt + off + 1] = 12;
    off += 12;
    m.table(madt, "APIC", off);
    m.fix_checksum(madt, off, 9);
}

TEST(AcpiTables, FindsPm1ControlInTheFadt) {
    FakeMemory m;
    build(m);
    Result<PowerControlPorts> p = find_power_control(m);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p.value().pm1a_control, 0x604);
    EXPECT_EQ(p.value().pm1b_control, 0);
}

TEST(AcpiTables, ListsOnlyEnabledProcessors) {
    FakeMemory m;
    build(m);
    uint8_t ids[8];
    Result<size_t> n = find_processor_apic_ids(m, ids, 8);
    ASSERT_TRUE(n.ok());
    ASSERT_EQ(n.value(), 2u);
    EXPECT_EQ(ids[0], 0);
    EXPECT_EQ(ids[1], 1);
    EXPECT_EQ(find_processor_apic_ids(m, ids, 1).error(), Error::OutOfRange);
}

TEST(AcpiTables, CorruptTablesAreRefused) {
    FakeMemory m;
    build(m);
    m.ram[fadt + 64] ^= 1; // checksum now wrong
    EXPECT_FALSE(find_power_control(m).ok());
    FakeMemory n;
    build(n);
    n.ram[madt + 44 + 1] = 0; // zero-length entry would loop forever
    n.fix_checksum(madt, 44 + 3 * 8 + 12, 9);
    uint8_t ids[8];
    EXPECT_EQ(find_processor_apic_ids(n, ids, 8).error(), Error::Malformed);
    FakeMemory empty;
    EXPECT_EQ(find_power_control(empty).error(), Error::NotFound);
}

// A revision-6 FADT (276 bytes) with a DSDT, the reset register and X_ blocks.
constexpr uint64_t dsdt = 0x103000;
void build_full_fadt(FakeMemory& m, uint8_t reset_space, uint64_t reset_address) {
    build(m);
    m.table(fadt, "FACP", 276);
    m.put32(fadt + 40, static_cast<uint32_t>(dsdt));
    m.put32(fadt + 64, 0xB004);
    m.put32(fadt + 112, 1u << 10); // RESET_REG_SUP
    m.ram[fadt + 116] = reset_space;
    m.ram[fadt + 117] = 8;
    const uint64_t ra = reset_address;
    std::memcpy(&m.ram[fadt + 120], &ra, 8);
    m.ram[fadt + 128] = 0x06;
    m.ram[fadt + 172] = 1; // X_PM1a_CNT_BLK: I/O, another port than PM1a_CNT_BLK
    const uint64_t x = 0x1804;
    std::memcpy(&m.ram[fadt + 176], &x, 8);
    m.fix_checksum(fadt, 276, 9);
    // DSDT: header + Name(_S5_, Package(4){0,0,0,0}) + Name(_S3_, Package(4){1,1,0,0}).
    const uint8_t aml[] = {0x08, '_', 'S', '5', '_', 0x12, 6, 4, 0, 0, 0, 0,
                           0x08, '_', 'S', '3', '_', 0x12, 6, 4, 1, 1, 0, 0};
    m.table(dsdt, "DSDT", 36 + sizeof aml);
    std::memcpy(&m.ram[dsdt + 36], aml, sizeof aml);
    m.fix_checksum(dsdt, 36 + sizeof aml, 9);
}

TEST(AcpiTables, FindsTheResetRegisterAndXBlocks) {
    FakeMemory m;
    build_full_fadt(m, 1, 0xCF9);
    Result<PowerControlPorts> p = find_power_control(m);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p.value().pm1a_control, 0xB004);
    EXPECT_EQ(p.value().x_pm1a_control, 0x1804);
    EXPECT_EQ(p.value().reset.space, AddressSpace::Io);
    EXPECT_EQ(p.value().reset.address, 0xCF9u);
    EXPECT_EQ(p.value().reset.value, 6);
    EXPECT_EQ(p.value().dsdt, dsdt);
    FakeMemory mm;
    build_full_fadt(mm, 0, 0xFEC00F00);
    Result<PowerControlPorts> q = find_power_control(mm);
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q.value().reset.space, AddressSpace::Memory);
    EXPECT_EQ(q.value().reset.address, 0xFEC00F00u);
    FakeMemory pcc;
    build_full_fadt(pcc, 0x0A, 0x1234); // PCC space: not a register we can trap
    EXPECT_EQ(find_power_control(pcc).value().reset.space, AddressSpace::Other);
}

TEST(AcpiTables, SleepTypesFromTheDsdt) {
    FakeMemory m;
    build_full_fadt(m, 1, 0xCF9);
    Result<SleepTypes> t = find_sleep_types(m);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t.value().classify(0), SleepKind::PowerOff);
    EXPECT_EQ(t.value().classify(1), SleepKind::SuspendToRam);
    EXPECT_EQ(t.value().classify(2), SleepKind::Unknown);
    FakeMemory plain;
    build(plain); // no DSDT
    EXPECT_EQ(find_sleep_types(plain).error(), Error::NotFound);
}

} // namespace
} // namespace sv::acpi

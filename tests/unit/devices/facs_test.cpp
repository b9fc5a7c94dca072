// FACS lookup and waking vectors (devices/acpi/facs.hpp) and the \_Sx sleep
// types (devices/acpi/sleep_types.hpp) over fake firmware memory: the
// layout QEMU/SeaBIOS builds, plus absent and corrupt tables (refused).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/guest_memory.hpp"
#include "devices/acpi/acpi_tables.hpp"
#include "devices/acpi/facs.hpp"
#include "devices/acpi/sleep_types.hpp"

namespace sv::acpi {
namespace {

struct Firmware final : GuestMemory {
    std::vector<uint8_t> ram = std::vector<uint8_t>(2 << 20, 0);
    uint8_t* map(uint64_t gpa, uint64_t len) override {
        if (gpa + len < gpa || gpa + len > ram.size()) return nullptr;
        return ram.data() + gpa;
    }
    void put32(uint64_t at, uint32_t v) { std::memcpy(&ram[at], &v, 4); }
    void put64(uint64_t at, uint64_t v) { std::memcpy(&ram[at], &v, 8); }
    uint32_t get32(uint64_t at) const {
        uint32_t v;
        std::memcpy(&v, &ram[at], 4);
        return v;
    }
    void checksum(uint64_t at, uint32_t length, uint32_t offset) {
        ram[at + offset] = 0;
        uint8_t sum = 0;
        for (uint32_t i = 0; i < length; ++i) sum = static_cast<uint8_t>(sum + ram[at + i]);
        ram[at + offset] = static_cast<uint8_t>(-sum);
    }
    void table(uint64_t at, const char* sig, uint32_t length) {
        std::memcpy(&ram[at], sig, 4);
        put32(at + 4, length);
    }
};

constexpr uint64_t rsdp = 0xF5000, rsdt = 0x100000, fadt = 0x101000, facs_pa = 0x102000, dsdt = 0x103000;

// QEMU's DSDT fragment: Scope (\) { Name (_S3, Package (4) {One, One, Zero,
// Zero}) Name (_S4, Package (4) {0x02, 0x02, Zero, Zero}) Name (_S5, ...Zero) }
const uint8_t qemu_aml[] = {
    0x10, 0x29, 0x5C,                                      // ScopeOp, PkgLength, "\"
    0x08, '_', 'S', '3', '_', 0x12, 0x06, 0x04, 0x01, 0x01, 0x00, 0x00,
    0x08, '_', 'S', '4', '_', 0x12, 0x08, 0x04, 0x0A, 0x02, 0x0A, 0x02, 0x00, 0x00,
    0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
};

void build(Firmware& m, uint32_t fadt_length = 244) {
    std::memcpy(&m.ram[rsdp], "RSD PTR ", 8);
    m.put32(rsdp + 16, rsdt);
    m.checksum(rsdp, 20, 8);
    m.table(rsdt, "RSDT", 40);
    m.put32(rsdt + 36, fadt);
    m.checksum(rsdt, 40, 9);
    m.table(fadt, "FACP", fadt_length);
    m.put32(fadt + 36, facs_pa);
    m.put32(fadt + 40, dsdt);
    m.put32(fadt + 64, 0x604);
    m.checksum(fadt, fadt_length, 9);
    m.table(facs_pa, "FACS", 64);
    m.ram[facs_pa + 32] = 1; // version 1
    m.table(dsdt, "DSDT", 36 + sizeof qemu_aml);
    std::memcpy(&m.ram[dsdt + 36], qemu_aml, sizeof qemu_aml);
    m.checksum(dsdt, 36 + sizeof qemu_aml, 9);
}

TEST(Facs, FoundThroughTheFadt) {
    Firmware m;
    build(m);
    Result<uint64_t> f = find_facs(m);
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f.value(), facs_pa);
}

TEST(Facs, XFirmwareCtrlWinsWhenSet) {
    Firmware m;
    build(m);
    const uint64_t other = 0x104000;
    m.table(other, "FACS", 64);
    m.put64(fadt + 132, other);
    m.checksum(fadt, 244, 9);
    EXPECT_EQ(find_facs(m).value(), other);
}

TEST(Facs, AbsentOrCorruptIsRefused) {
    {
        Firmware m; // no ACPI at all
        EXPECT_FALSE(find_facs(m).ok());
    }
    {
        Firmware m;
        build(m);
        m.put32(fadt + 36, 0);
        m.checksum(fadt, 244, 9);
        EXPECT_EQ(find_facs(m).error(), Error::NotFound);
    }
    {
        Firmware m;
        build(m);
        m.ram[facs_pa] = 'X'; // wrong signature
        EXPECT_EQ(find_facs(m).error(), Error::Malformed);
    }
    {
        Firmware m;
        build(m);
        m.put32(facs_pa + 4, 32); // shorter than ACPI's 64 bytes
        EXPECT_EQ(find_facs(m).error(), Error::Malformed);
    }
    {
        Firmware m;
        build(m);
        m.put32(fadt + 36, 0x1FFFF0); // FACS runs off the end of memory
        m.checksum(fadt, 244, 9);
        EXPECT_FALSE(find_facs(m).ok());
    }
    {
        Firmware m;
        build(m);
        m.ram[fadt + 20] ^= 1; // FADT checksum broken
        EXPECT_FALSE(find_facs(m).ok());
    }
}

TEST(Facs, WakingVectorsReadAndExchanged) {
    Firmware m;
    build(m);
    m.put32(facs_pa + 12, 0x9A000);
    m.put32(facs_pa + 20, 0x2);
    Result<WakingVectors> v = read_waking_vectors(m, facs_pa);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v.value().firmware, 0x9A000u);
    EXPECT_EQ(v.value().x_firmware, 0u);
    EXPECT_EQ(v.value().flags, 0x2u);
    EXPECT_EQ(v.value().version, 1);
    WakingVectors ours;
    ours.firmware = 0x1000;
    Result<WakingVectors> old = exchange_waking_vectors(m, facs_pa, ours);
    ASSERT_TRUE(old.ok());
    EXPECT_EQ(old.value().firmware, 0x9A000u);
    EXPECT_EQ(m.get32(facs_pa + 12), 0x1000u);
    ASSERT_TRUE(exchange_waking_vectors(m, facs_pa, old.value()).ok());
    EXPECT_EQ(m.get32(facs_pa + 12), 0x9A000u);
    EXPECT_FALSE(read_waking_vectors(m, facs_pa + 8).ok()); // not a FACS
}

TEST(WakePath, AnyEditOnTheFirmwaresWayToTheFacsIsSeen) {
    Firmware m;
    build(m);
    Result<WakePath> boot = read_wake_path(m);
    ASSERT_TRUE(boot.ok());
    EXPECT_EQ(boot.value().rsdp, rsdp);
    EXPECT_EQ(boot.value().count, 1u);
    EXPECT_EQ(boot.value().firmware_ctrl, facs_pa);
    EXPECT_TRUE(read_wake_path(m).value() == boot.value());
    {
        Firmware f = m; // FIRMWARE_CTRL moved, checksum broken: SeaBIOS would still follow it
        f.put32(fadt + 36, 0x104000);
        EXPECT_FALSE(read_wake_path(f).value() == boot.value());
    }
    {
        Firmware f = m; // X_FIRMWARE_CTRL set
        f.put64(fadt + 132, 0x104000);
        EXPECT_FALSE(read_wake_path(f).value() == boot.value());
    }
    {
        Firmware f = m; // an RSDT entry re-pointed (a forged FACP first)
        f.put32(rsdt + 36, 0x104000);
        f.table(0x104000, "FACP", 244);
        EXPECT_FALSE(read_wake_path(f).ok() && read_wake_path(f).value() == boot.value());
    }
    {
        Firmware f = m; // the FADT renamed: a firmware would look further
        f.ram[fadt] = 'X';
        EXPECT_FALSE(read_wake_path(f).ok());
    }
    {
        Firmware f = m; // the RSDT grew an entry
        f.put32(rsdt + 4, 44);
        f.put32(rsdt + 40, 0x104000);
        EXPECT_FALSE(read_wake_path(f).value() == boot.value());
    }
    {
        Firmware f = m; // an absurd RSDT length: refused, not read past
        f.put32(rsdt + 4, 0x7FFFFFFF);
        EXPECT_FALSE(read_wake_path(f).ok());
    }
}

// The integration's \_Sx reader (acpi::find_sleep_types, sleep_types.hpp)
// over the same firmware the S3 engine sees.
TEST(SleepTypesInFirmware, QemuDsdt) {
    Firmware m;
    build(m);
    Result<SleepTypes> t = find_sleep_types(m);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t.value().slp_typ_a(3), 1);
    EXPECT_EQ(t.value().slp_typ_a(4), 2);
    EXPECT_EQ(t.value().slp_typ_a(5), 0);
    EXPECT_FALSE(t.value().has(1));
    EXPECT_EQ(t.value().state_of(1), 3);
    EXPECT_EQ(t.value().state_of(2), 4);
    EXPECT_EQ(t.value().state_of(0), 5);
    EXPECT_EQ(t.value().state_of(6), -1);
}

TEST(SleepTypesInFirmware, TruncatedAndOddAmlIsUnknownNotACrash) {
    for (size_t n = 0; n <= sizeof qemu_aml; ++n) {
        SleepTypes t;
        (void)scan_sleep_types(std::span<const uint8_t>(qemu_aml, n), t);
        for (unsigned s = 0; s < SleepTypes::states; ++s) {
            if (t.has(s)) {
                EXPECT_LT(t.slp_typ_a(s), 8);
            }
        }
    }
    const uint8_t empty_package[] = {0x08, '_', 'S', '3', '_', 0x12, 0x01, 0x00};
    SleepTypes e;
    EXPECT_EQ(scan_sleep_types(empty_package, e), 0u);
    EXPECT_FALSE(e.has(3));
    const uint8_t not_integer[] = {0x08, '_', 'S', '3', '_', 0x12, 0x03, 0x01, 0x0D, 'x'};
    SleepTypes n;
    EXPECT_EQ(scan_sleep_types(not_integer, n), 0u);
    EXPECT_FALSE(n.has(3));
}

TEST(SleepTypesInFirmware, NoDsdtIsNotFound) {
    Firmware m;
    build(m);
    m.put32(fadt + 40, 0);
    m.checksum(fadt, 244, 9);
    EXPECT_FALSE(find_sleep_types(m).ok());
}

} // namespace
} // namespace sv::acpi

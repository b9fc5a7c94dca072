// Hiding an ACPI table (the DMAR) from the guest: cut out of the RSDT and
// the XSDT in place, lengths and checksums rewritten, other tables kept.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/guest_memory.hpp"
#include "devices/acpi/acpi_tables.hpp"
#include "devices/acpi/table_hide.hpp"

namespace sv::acpi {
namespace {

struct FakeMemory final : GuestMemory {
    std::vector<uint8_t> ram = std::vector<uint8_t>(2 << 20, 0);
    uint8_t* map(uint64_t gpa, uint64_t len) override {
        if (gpa + len < gpa || gpa + len > ram.size()) return nullptr;
        return ram.data() + gpa;
    }
    void put(uint64_t at, uint64_t v, unsigned n) {
        for (unsigned i = 0; i < n; ++i) ram[at + i] = static_cast<uint8_t>(v >> (8 * i));
    }
    uint32_t get32(uint64_t at) {
        uint32_t v;
        std::memcpy(&v, &ram[at], 4);
        return v;
    }
    void checksum(uint64_t at, uint32_t length, uint32_t offset) {
        ram[at + offset] = 0;
        uint8_t s = 0;
        for (uint32_t i = 0; i < length; ++i) s = static_cast<uint8_t>(s + ram[at + i]);
        ram[at + offset] = static_cast<uint8_t>(-s);
    }
    bool sums_to_zero(uint64_t at, uint32_t length) {
        uint8_t s = 0;
        for (uint32_t i = 0; i < length; ++i) s = static_cast<uint8_t>(s + ram[at + i]);
        return s == 0;
    }
    void table(uint64_t at, const char* sig, uint32_t length) {
        std::memcpy(&ram[at], sig, 4);
        put(at + 4, length, 4);
        checksum(at, length, 9);
    }
};

constexpr uint64_t rsdp = 0xF5000, rsdt = 0x100000, xsdt = 0x100800;
constexpr uint64_t facp = 0x101000, dmar = 0x102000, mcfg = 0x103000;

void build(FakeMemory& m, bool with_xsdt) {
    m.table(facp, "FACP", 244);
    m.table(dmar, "DMAR", 48);
    m.table(mcfg, "MCFG", 60);
    std::memcpy(&m.ram[rsdp], "RSD PTR ", 8);
    m.ram[rsdp + 15] = with_xsdt ? 2 : 0;
    m.put(rsdp + 16, rsdt, 4);
    m.put(rsdp + 24, with_xsdt ? xsdt : 0, 8);
    m.checksum(rsdp, 20, 8);
    std::memcpy(&m.ram[rsdt], "RSDT", 4);
    m.put(rsdt + 36, facp, 4), m.put(rsdt + 40, dmar, 4), m.put(rsdt + 44, mcfg, 4);
    m.put(rsdt + 4, 48, 4);
    m.checksum(rsdt, 48, 9);
    std::memcpy(&m.ram[xsdt], "XSDT", 4);
    m.put(xsdt + 36, facp, 8), m.put(xsdt + 44, dmar, 8), m.put(xsdt + 52, mcfg, 8);
    m.put(xsdt + 4, 60, 4);
    m.checksum(xsdt, 60, 9);
}

TEST(AcpiTableHide, DmarLeavesRsdtAndXsdt) {
    FakeMemory m;
    build(m, true);
    ASSERT_NE(find_table(m, "DMAR"), nullptr);
    const Result<size_t> n = hide_table(m, "DMAR");
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n.value(), 2u);
    EXPECT_EQ(find_table(m, "DMAR"), nullptr);
    EXPECT_NE(find_table(m, "FACP"), nullptr);
    EXPECT_NE(find_table(m, "MCFG"), nullptr); // the entry after the cut one moved up
    EXPECT_EQ(m.get32(rsdt + 4), 44u);
    EXPECT_EQ(m.get32(rsdt + 40), mcfg);
    EXPECT_TRUE(m.sums_to_zero(rsdt, 44));
    EXPECT_EQ(m.get32(xsdt + 4), 52u);
    EXPECT_EQ(m.get32(xsdt + 44), mcfg);
    EXPECT_TRUE(m.sums_to_zero(xsdt, 52));
    EXPECT_NE(map_checked_table(m, dmar), nullptr); // the table itself stays for the hypervisor
    EXPECT_EQ(hide_table(m, "DMAR").value(), 0u);   // idempotent
}

TEST(AcpiTableHide, RsdtOnlyAndNothingToHide) {
    FakeMemory m;
    build(m, false);
    EXPECT_EQ(hide_table(m, "IVRS").value(), 0u);
    EXPECT_EQ(m.get32(rsdt + 4), 48u);
    EXPECT_EQ(hide_table(m, "DMAR").value(), 1u);
    EXPECT_EQ(find_table(m, "DMAR"), nullptr);
    FakeMemory empty;
    EXPECT_EQ(hide_table(empty, "DMAR").error(), Error::NotFound);
}

} // namespace
} // namespace sv::acpi

// IVRS parsing (AMD IOMMU Specification 48882 §5.2) from hand-built tables:
// QEMU's shape (IVHD 10h and 11h for one IOMMU, one "all" entry), selects,
// ranges, aliases, extended and special entries, ACPI HID devices, IVMD
// blocks, and every malformed shape refused.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "devices/iommu/amdvi/ivrs.hpp"

namespace sv::amdvi {
namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v));
    b.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(Bytes& b, uint32_t v) {
    put16(b, static_cast<uint16_t>(v));
    put16(b, static_cast<uint16_t>(v >> 16));
}
void put64(Bytes& b, uint64_t v) {
    put32(b, static_cast<uint32_t>(v));
    put32(b, static_cast<uint32_t>(v >> 32));
}

Bytes e4(uint8_t type, uint16_t id, uint8_t dte = 0) {
    Bytes b{type};
    put16(b, id);
    b.push_back(dte);
    return b;
}
Bytes alias(uint8_t type, uint16_t id, uint16_t to) {
    Bytes b = e4(type, id);
    b.push_back(0);
    put16(b, to);
    b.push_back(0);
    return b;
}
Bytes special(uint8_t handle, uint16_t id, uint8_t variety) {
    Bytes b = e4(entry::special, 0, 0xD7);
    b.push_back(handle);
    put16(b, id);
    b.push_back(variety);
    return b;
}
Bytes extended(uint8_t type, uint16_t id) {
    Bytes b = e4(type, id);
    put32(b, 1u << 31); // ATS disabled
    return b;
}
Bytes acpi_hid(uint16_t id, const char* uid) {
    Bytes b = e4(entry::acpi_hid, id);
    const char hid[8] = {'A', 'M', 'D', 'I', '0', '0', '2', '0'};
    b.insert(b.end(), hid, hid + 8);
    b.insert(b.end(), 8, 0); // CID
    b.push_back(2);          // UID: a string
    b.push_back(static_cast<uint8_t>(std::strlen(uid)));
    b.insert(b.end(), uid, uid + std::strlen(uid));
    return b;
}

Bytes ivhd(uint8_t type, uint16_t iommu_id, uint64_t base, std::vector<Bytes> entries, uint16_t segment = 0) {
    Bytes b{type, 0xB0};
    put16(b, 0); // length, below
    put16(b, iommu_id);
    put16(b, 0x40);
    put64(b, base);
    put16(b, segment);
    put16(b, 0);
    put32(b, 0);
    if (type != block::ivhd_10h) {
        put64(b, 0x29d0ull);
        put64(b, 0);
    }
    for (const Bytes& e : entries) b.insert(b.end(), e.begin(), e.end());
    b[2] = static_cast<uint8_t>(b.size());
    b[3] = static_cast<uint8_t>(b.size() >> 8);
    return b;
}

Bytes ivmd(uint8_t type, uint8_t flags, uint16_t first, uint16_t last, uint64_t start, uint64_t bytes) {
    Bytes b{type, flags};
    put16(b, 32);
    put16(b, first);
    put16(b, last);
    put64(b, 0);
    put64(b, start);
    put64(b, bytes);
    return b;
}

Bytes ivrs_table(std::vector<Bytes> blocks) {
    Bytes t{'I', 'V', 'R', 'S'};
    put32(t, 0);
    t.push_back(2);
    t.push_back(0);
    t.insert(t.end(), 6 + 8, 'Q');
    put32(t, 1);
    put32(t, 0);
    put32(t, 1);
    put32(t, 0x00203040); // IVinfo
    put64(t, 0);
    for (const Bytes& b : blocks) t.insert(t.end(), b.begin(), b.end());
    const uint32_t n = static_cast<uint32_t>(t.size());
    std::memcpy(&t[4], &n, 4);
    return t;
}

Result<void> parse(const Bytes& t, IvrsInfo& out) { return parse_ivrs(std::span<const uint8_t>(t.data(), t.size()), out); }

constexpr uint64_t base = 0xFED80000;

TEST(Ivrs, QemuShapeOneIommuTwoTypesTheHigherWins) {
    // QEMU's acpi-build: one IOMMU at 00:05.0 described by IVHD 10h and 11h,
    // each with a single "all" entry.
    const Bytes t = ivrs_table({ivhd(0x10, 0x0028, base, {e4(entry::all, 0)}),
                                ivhd(0x11, 0x0028, base, {e4(entry::all, 0)})});
    IvrsInfo info;
    ASSERT_TRUE(parse(t, info).ok());
    EXPECT_EQ(info.iv_info, 0x00203040u);
    EXPECT_EQ(info.ivhd_blocks, 2u);
    ASSERT_EQ(info.unit_count, 1u);
    const IommuUnit& u = info.units[0];
    EXPECT_EQ(u.type, 0x11);
    EXPECT_EQ(u.device_id, 0x28);
    EXPECT_EQ(u.capability_offset, 0x40);
    EXPECT_EQ(u.base, base);
    EXPECT_EQ(u.efr_image, 0x29d0u);
    ASSERT_EQ(u.range_count, 1u);
    EXPECT_EQ(u.ranges[0].first, 0u);
    EXPECT_EQ(u.ranges[0].last, 0xFFFFu);
    EXPECT_EQ(unit_for(info, 0, device_id(0, 2, 0)), &info.units[0]);
    EXPECT_EQ(unit_for(info, 0, device_id(0xFF, 31, 7)), &info.units[0]);
    EXPECT_EQ(unit_for(info, 1, device_id(0, 2, 0)), nullptr) << "another segment";
}

TEST(Ivrs, SelectsRangesAliasesExtendedSpecialsAndAcpiDevices) {
    const Bytes t = ivrs_table({ivhd(
        0x10, 0x0002, base,
        {e4(entry::select, device_id(0, 3, 0)), e4(entry::pad4, 0), e4(entry::range_start, device_id(1, 0, 0)),
         e4(entry::range_end, device_id(1, 31, 7)), alias(entry::alias_select, device_id(2, 0, 0), device_id(0, 0x1e, 0)),
         alias(entry::alias_range_start, device_id(3, 0, 0), device_id(0, 0x1c, 0)),
         e4(entry::range_end, device_id(3, 31, 7)), extended(entry::extended_select, device_id(0, 4, 0)),
         extended(entry::extended_range_start, device_id(4, 0, 0)), e4(entry::range_end, device_id(4, 1, 7)),
         special(0x21, device_id(0, 0x14, 0), 1), special(0, device_id(0, 0x14, 0), 2),
         acpi_hid(device_id(0, 0x14, 5), "UART0")})});
    IvrsInfo info;
    ASSERT_TRUE(parse(t, info).ok());
    ASSERT_EQ(info.unit_count, 1u);
    const IommuUnit& u = info.units[0];
    EXPECT_EQ(u.range_count, 7u);
    EXPECT_EQ(u.special_count, 2u);
    EXPECT_EQ(u.acpi_devices, 1u);
    EXPECT_EQ(u.specials[0].variety, SpecialVariety::IoApic);
    EXPECT_EQ(u.specials[0].handle, 0x21);
    EXPECT_EQ(u.specials[0].device_id, device_id(0, 0x14, 0));
    EXPECT_EQ(u.specials[1].variety, SpecialVariety::Hpet);

    EXPECT_NE(unit_for(info, 0, device_id(0, 3, 0)), nullptr);
    EXPECT_EQ(unit_for(info, 0, device_id(0, 3, 1)), nullptr) << "a select is one function";
    EXPECT_NE(unit_for(info, 0, device_id(1, 17, 3)), nullptr);
    EXPECT_NE(unit_for(info, 0, device_id(0, 4, 0)), nullptr);
    EXPECT_NE(unit_for(info, 0, device_id(4, 1, 7)), nullptr);
    EXPECT_EQ(unit_for(info, 0, device_id(4, 2, 0)), nullptr) << "past the extended range's end";
    EXPECT_NE(unit_for(info, 0, device_id(0, 0x14, 5)), nullptr) << "ACPI HID device";
    EXPECT_EQ(unit_for(info, 0, device_id(5, 0, 0)), nullptr) << "no entry lists bus 5";

    EXPECT_EQ(requester_id(u, device_id(2, 0, 0)), device_id(0, 0x1e, 0));
    EXPECT_EQ(requester_id(u, device_id(3, 9, 1)), device_id(0, 0x1c, 0));
    EXPECT_EQ(requester_id(u, device_id(1, 9, 1)), device_id(1, 9, 1)) << "no alias: its own DeviceID";
}

TEST(Ivrs, TheMostSpecificEntryDecidesTheAlias) {
    const Bytes t = ivrs_table({ivhd(0x10, 2, base, {e4(entry::all, 0), alias(entry::alias_select, 0x0300, 0x00e0)})});
    IvrsInfo info;
    ASSERT_TRUE(parse(t, info).ok());
    EXPECT_EQ(requester_id(info.units[0], 0x0300), 0x00e0);
    EXPECT_EQ(requester_id(info.units[0], 0x0301), 0x0301);
}

TEST(Ivrs, TwoIommusAndMemoryBlocks) {
    const Bytes t = ivrs_table({ivhd(0x10, 0x0002, base, {e4(entry::range_start, 0), e4(entry::range_end, 0x7FFF)}),
                                ivhd(0x10, 0x8002, base + 0x80000, {e4(entry::range_start, 0x8000),
                                                                    e4(entry::range_end, 0xFFFF)}),
                                ivmd(block::ivmd_all, ivmd_flag::unity | ivmd_flag::read, 0, 0, 0x9d000, 0x2000),
                                ivmd(block::ivmd_range, ivmd_flag::unity, 0x10, 0x17, 0xa0000000, 0x1000),
                                ivmd(block::ivmd_select, ivmd_flag::exclusion, 0x18, 0, 0xb0000000, 0x4000)});
    IvrsInfo info;
    ASSERT_TRUE(parse(t, info).ok());
    ASSERT_EQ(info.unit_count, 2u);
    EXPECT_EQ(unit_for(info, 0, 0x7FFF), &info.units[0]);
    EXPECT_EQ(unit_for(info, 0, 0x8000), &info.units[1]);
    ASSERT_EQ(info.block_count, 3u);
    EXPECT_EQ(info.blocks[0].first, 0u);
    EXPECT_EQ(info.blocks[0].last, 0xFFFFu);
    EXPECT_EQ(info.blocks[0].base, 0x9d000u);
    EXPECT_EQ(info.blocks[0].bytes, 0x2000u);
    EXPECT_EQ(info.blocks[1].first, 0x10u);
    EXPECT_EQ(info.blocks[1].last, 0x17u);
    EXPECT_EQ(info.blocks[2].first, 0x18u);
    EXPECT_EQ(info.blocks[2].last, 0x18u);
    EXPECT_EQ(info.blocks[2].flags, ivmd_flag::exclusion);
}

TEST(Ivrs, UnknownBlockTypesAreSkippedByTheirLength) {
    Bytes other{0x30, 0};
    put16(other, 8);
    put32(other, 0);
    const Bytes t = ivrs_table({other, ivhd(0x10, 2, base, {e4(entry::all, 0)})});
    IvrsInfo info;
    ASSERT_TRUE(parse(t, info).ok());
    EXPECT_EQ(info.other_blocks, 1u);
    EXPECT_EQ(info.unit_count, 1u);
}

void expect_refused(const Bytes& t, Error e, const char* why) {
    IvrsInfo info;
    const Result<void> r = parse(t, info);
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_EQ(r.error(), e) << why;
}

TEST(Ivrs, MalformedTablesAreRefused) {
    Bytes bad_sig = ivrs_table({ivhd(0x10, 2, base, {e4(entry::all, 0)})});
    bad_sig[0] = 'X';
    expect_refused(bad_sig, Error::Malformed, "signature");
    expect_refused(Bytes(20, 0), Error::Malformed, "shorter than the header");
    expect_refused(ivrs_table({ivhd(0x10, 2, base, {e4(entry::range_end, 5)})}), Error::Malformed, "end, no start");
    expect_refused(ivrs_table({ivhd(0x10, 2, base, {e4(entry::range_start, 5)})}), Error::Malformed, "start, no end");
    expect_refused(ivrs_table({ivhd(0x10, 2, base, {e4(entry::range_start, 9), e4(entry::range_end, 5)})}),
                   Error::Malformed, "end before start");
    expect_refused(ivrs_table({ivhd(0x10, 2, base, {e4(entry::range_start, 1), e4(entry::select, 3),
                                                   e4(entry::range_end, 5)})}),
                   Error::Malformed, "a select inside a range");
    expect_refused(ivrs_table({ivhd(0x10, 2, base, {e4(0x81, 0)})}), Error::Malformed, "unknown long type");
    expect_refused(ivrs_table({ivhd(0x10, 2, base + 0x1000, {e4(entry::all, 0)})}), Error::Malformed,
                   "base not 16 KiB aligned");
    expect_refused(ivrs_table({ivhd(0x10, 2, 0, {e4(entry::all, 0)})}), Error::Malformed, "base 0");
    expect_refused(ivrs_table({ivhd(0x10, 2, base, {e4(entry::all, 0)}), ivhd(0x11, 2, base + 0x4000, {})}),
                   Error::Malformed, "one IOMMU, two register blocks");
    expect_refused(ivrs_table({ivmd(block::ivmd_all, 1, 0, 0, 0x9d010, 0x1000)}), Error::Malformed, "IVMD unaligned");
    expect_refused(ivrs_table({ivmd(block::ivmd_all, 1, 0, 0, ~0xFFFull, 0x2000)}), Error::Malformed, "IVMD wraps");
    expect_refused(ivrs_table({ivmd(block::ivmd_range, 1, 9, 5, 0x1000, 0x1000)}), Error::Malformed,
                   "IVMD range backwards");

    // An entry running past its IVHD, an IVHD past the table, a cut F0h.
    Bytes overrun = ivrs_table({ivhd(0x10, 2, base, {alias(entry::alias_select, 1, 2)})});
    overrun[48 + 2] -= 4; // the IVHD now ends inside the 8-byte alias entry
    overrun.resize(overrun.size() - 4);
    const uint32_t cut = static_cast<uint32_t>(overrun.size());
    std::memcpy(&overrun[4], &cut, 4);
    expect_refused(overrun, Error::Malformed, "entry overruns its IVHD");
    Bytes long_block = ivrs_table({ivhd(0x10, 2, base, {e4(entry::all, 0)})});
    long_block[48 + 2] += 8;
    expect_refused(long_block, Error::Malformed, "IVHD overruns the table");
    Bytes hid = acpi_hid(0x10, "UART0");
    hid[21] = 40; // a UID longer than the IVHD
    expect_refused(ivrs_table({ivhd(0x10, 2, base, {hid})}), Error::Malformed, "ACPI HID UID overruns");
    Bytes short_header = ivhd(0x11, 2, base, {});
    short_header.resize(24);
    short_header[2] = 24;
    expect_refused(ivrs_table({short_header}), Error::Malformed, "IVHD 11h shorter than its 40-byte header");
}

TEST(Ivrs, BoundsAreRefusedNotTruncated) {
    std::vector<Bytes> many;
    for (uint16_t i = 0; i <= IvrsInfo::max_units; ++i)
        many.push_back(ivhd(0x10, static_cast<uint16_t>(i + 1), base + i * 0x4000ull, {e4(entry::select, i)}));
    expect_refused(ivrs_table(many), Error::OutOfRange, "too many units");
    std::vector<Bytes> selects;
    for (uint16_t i = 0; i <= IommuUnit::max_ranges; ++i) selects.push_back(e4(entry::select, i));
    expect_refused(ivrs_table({ivhd(0x10, 2, base, selects)}), Error::OutOfRange, "too many ranges");
}

} // namespace
} // namespace sv::amdvi

// SLP_TYP decoding from synthetic AML: QEMU-style \_S3/\_S4/\_S5 packages,
// prefixes and integer encodings, malformed packages, fail-safe ambiguity.
#include <gtest/gtest.h>

#include <vector>

#include "devices/acpi/sleep_types.hpp"

namespace sv::acpi {
namespace {

// Name(_Sx_, Package(4){a, b, 0, 0}) as QEMU's aml-build encodes it.
std::vector<uint8_t> name_sx(char x, std::vector<uint8_t> elements, uint8_t count = 4, bool root = false) {
    std::vector<uint8_t> v{0x08};
    if (root) v.push_back('\\');
    v.insert(v.end(), {'_', 'S', static_cast<uint8_t>(x), '_', 0x12});
    v.push_back(static_cast<uint8_t>(elements.size() + 2)); // PkgLength (1 byte form) covers itself + count
    v.push_back(count);
    v.insert(v.end(), elements.begin(), elements.end());
    return v;
}

std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
    std::vector<uint8_t> out{0x10, 0x20, 0x5C, 0x00}; // some unrelated AML first
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    out.insert(out.end(), {0x14, 0x08, 'X', 'Y', 'Z', 'W'});
    return out;
}

TEST(SleepTypes, DecodesQemuPackages) {
    const std::vector<uint8_t> aml = cat({name_sx('3', {0x01, 0x01, 0x00, 0x00}),
                                          name_sx('4', {0x0A, 0x02, 0x0A, 0x02, 0x00, 0x00}),
                                          name_sx('5', {0x00, 0x00, 0x00, 0x00})});
    SleepTypes t;
    EXPECT_EQ(scan_sleep_types(aml, t), 3u);
    EXPECT_EQ(t.classify(0), SleepKind::PowerOff);
    EXPECT_EQ(t.classify(1), SleepKind::SuspendToRam);
    EXPECT_EQ(t.classify(2), SleepKind::Hibernate);
    EXPECT_EQ(t.classify(5), SleepKind::Unknown);
    EXPECT_EQ(t.state_of(1), 3);
    EXPECT_TRUE(ends_guest(t.classify(0)));
    EXPECT_FALSE(ends_guest(t.classify(2))); // S4: refused, not wiped (issue 7 class 8)
    EXPECT_FALSE(ends_guest(t.classify(7))); // unnamed: refused
    EXPECT_FALSE(ends_guest(t.classify(1)));
    EXPECT_TRUE(may_suspend(t.classify(1)));
    EXPECT_FALSE(may_suspend(t.classify(2)));
}

TEST(SleepTypes, WithoutS3TheSuspendValueIsUnknown) {
    const std::vector<uint8_t> aml = cat({name_sx('5', {0x00, 0x00, 0x00, 0x00})});
    SleepTypes t;
    EXPECT_EQ(scan_sleep_types(aml, t), 1u);
    EXPECT_EQ(t.classify(0), SleepKind::PowerOff);
    EXPECT_EQ(t.classify(1), SleepKind::Unknown);
}

TEST(SleepTypes, SeparatePm1bValuesAndPrefixes) {
    const std::vector<uint8_t> aml =
        cat({name_sx('5', {0x0A, 0x07, 0x0B, 0x03, 0x00}, 2, /*root=*/true), name_sx('1', {0x01, 0x0C, 4, 0, 0, 0}, 2)});
    SleepTypes t;
    EXPECT_EQ(scan_sleep_types(aml, t), 2u);
    EXPECT_EQ(t.classify(7, false), SleepKind::PowerOff);
    EXPECT_EQ(t.classify(3, true), SleepKind::PowerOff);
    EXPECT_EQ(t.classify(3, false), SleepKind::Unknown);
    EXPECT_EQ(t.classify(1, false), SleepKind::Standby);
    EXPECT_EQ(t.classify(4, true), SleepKind::Standby);
}

TEST(SleepTypes, OneElementPackageCoversBothRegisters) {
    SleepTypes t;
    EXPECT_EQ(scan_sleep_types(cat({name_sx('5', {0x0A, 0x05}, 1)}), t), 1u);
    EXPECT_EQ(t.classify(5, false), SleepKind::PowerOff);
    EXPECT_EQ(t.classify(5, true), SleepKind::PowerOff);
}

TEST(SleepTypes, AmbiguousValuesFailSafe) {
    SleepTypes t;
    t.set(3, 1, 1);
    t.set(5, 1, 1); // firmware bug: S3 and S5 share a value
    EXPECT_EQ(t.classify(1), SleepKind::Unknown);
    EXPECT_FALSE(ends_guest(t.classify(1))); // refused: neither wiped nor forwarded
    EXPECT_FALSE(may_suspend(t.classify(1)));
    SleepTypes u;
    u.set(2, 1, 1);
    u.set(3, 1, 1); // S2 and S3 are of one kind: fine
    EXPECT_EQ(u.classify(1), SleepKind::SuspendToRam);
}

TEST(SleepTypes, S4AndS5SharingAValueIsPowerOff) {
    // Bochs's DSDT: \_S4 = \_S5 = SLP_TYP 0 (its only power-off value).
    SleepTypes t;
    t.set(1, 1, 1);
    t.set(4, 0, 0);
    t.set(5, 0, 0);
    EXPECT_EQ(t.state_of(0), 5);
    EXPECT_EQ(t.classify(0), SleepKind::PowerOff);
    EXPECT_TRUE(ends_guest(t.classify(0))); // the key is wiped before it passes
    EXPECT_EQ(t.classify(1), SleepKind::Standby);
    // A third state of another kind on the same value stays ambiguous.
    SleepTypes u = t;
    u.set(3, 0, 0);
    EXPECT_EQ(u.classify(0), SleepKind::Unknown);
    SleepTypes w = t;
    w.set(0, 0, 0);
    EXPECT_EQ(w.classify(0), SleepKind::Unknown);
    // S4 alone on a value is still hibernate (refused).
    SleepTypes h;
    h.set(4, 2, 2);
    h.set(5, 0, 0);
    EXPECT_EQ(h.classify(2), SleepKind::Hibernate);
}

TEST(SleepTypes, MalformedPackagesAreSkipped) {
    SleepTypes t;
    // Truncated: PkgLength says 20 bytes, the buffer ends first.
    std::vector<uint8_t> cut{0x08, '_', 'S', '5', '_', 0x12, 20, 4, 0x00};
    EXPECT_EQ(scan_sleep_types(cut, t), 0u);
    // Not an integer (a string) as first element.
    std::vector<uint8_t> str{0x08, '_', 'S', '5', '_', 0x12, 5, 1, 0x0D, 'a', 0};
    EXPECT_EQ(scan_sleep_types(str, t), 0u);
    // Not a package (a method-like byte) and an out-of-range state digit.
    std::vector<uint8_t> other{0x08, '_', 'S', '5', '_', 0x0A, 0x00, 0x08, '_', 'S', '9', '_', 0x12, 3, 1, 0};
    EXPECT_EQ(scan_sleep_types(other, t), 0u);
    EXPECT_FALSE(t.has(5));
    EXPECT_EQ(t.classify(0), SleepKind::Unknown);
    // Empty and tiny inputs.
    EXPECT_EQ(scan_sleep_types({}, t), 0u);
    std::vector<uint8_t> one{0x08};
    EXPECT_EQ(scan_sleep_types(one, t), 0u);
}

TEST(SleepTypes, MultiBytePkgLength) {
    // PkgLength with one following byte: lead 0x40 | low nibble, then high bits.
    std::vector<uint8_t> v{0x08, '_', 'S', '4', '_', 0x12, 0x40 | 0x07, 0x00, 2, 0x0A, 6, 0x0A, 6, 0, 0};
    // total length 7 = 2 (PkgLength) + 1 (count) + 4 (two BytePrefix consts)
    SleepTypes t;
    EXPECT_EQ(scan_sleep_types(v, t), 1u);
    EXPECT_EQ(t.classify(6), SleepKind::Hibernate);
}

TEST(SleepTypes, QemuDefaults) {
    const SleepTypes t = SleepTypes::qemu_defaults();
    EXPECT_EQ(t.classify(0), SleepKind::PowerOff);
    EXPECT_EQ(t.classify(1), SleepKind::SuspendToRam);
    EXPECT_EQ(t.classify(2), SleepKind::Hibernate);
    EXPECT_EQ(t.classify(3), SleepKind::Unknown);
}

} // namespace
} // namespace sv::acpi

#include "devices/acpi/sleep_types.hpp"

#include "devices/acpi/acpi_tables.hpp"

namespace sv::acpi {
namespace {
constexpr uint8_t name_op = 0x08, package_op = 0x12, root_char = 0x5C;
constexpr uint8_t zero_op = 0x00, one_op = 0x01, byte_prefix = 0x0A;
constexpr uint32_t fadt_dsdt = 40, fadt_x_dsdt = 140, header_bytes = 36;

template <class T> T load(const uint8_t* p) {
    T v = 0;
    for (unsigned i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(p[i]) << (8 * i));
    return v;
}

// The first element of the package that starts at `p` (PackageOp already
// seen), or unknown. §20.2.4: PkgLength's lead byte bits 7-6 count the
// follow bytes; then NumElements; then the elements.
int16_t first_package_integer(const uint8_t* p, const uint8_t* end) {
    if (p >= end) return SleepTypes::unknown;
    const size_t follow = p[0] >> 6;
    p += 1 + follow;
    if (p + 2 > end) return SleepTypes::unknown;
    if (p[0] == 0) return SleepTypes::unknown; // no elements
    ++p;
    if (p[0] == zero_op) return 0;
    if (p[0] == one_op) return 1;
    if (p[0] == byte_prefix && p + 1 < end) return p[1];
    return SleepTypes::unknown;
}
} // namespace

unsigned SleepTypes::state_of(uint8_t slp_typ) const {
    unsigned found = 0;
    for (unsigned s = 1; s <= 5; ++s) {
        if (pm1a[s] != static_cast<int16_t>(slp_typ)) continue;
        if (found) return 0;
        found = s;
    }
    return found;
}

SleepTypes parse_sleep_types(const uint8_t* aml, size_t length) {
    SleepTypes t;
    const uint8_t* end = aml + length;
    for (const uint8_t* p = aml; p + 6 <= end; ++p) {
        if (p[0] != name_op) continue;
        const uint8_t* name = p + 1;
        if (name[0] == root_char) ++name;
        if (name + 5 > end || name[0] != '_' || name[1] != 'S' || name[3] != '_') continue;
        if (name[2] < '0' || name[2] > '5' || name[4] != package_op) continue;
        const unsigned state = static_cast<unsigned>(name[2] - '0');
        if (t.pm1a[state] == SleepTypes::unknown) t.pm1a[state] = first_package_integer(name + 5, end);
    }
    return t;
}

Result<SleepTypes> find_sleep_types(GuestMemory& mem) {
    const uint8_t* fadt = find_table(mem, "FACP");
    if (!fadt) return fail(Error::NotFound);
    const uint32_t length = load<uint32_t>(fadt + 4);
    if (length < fadt_dsdt + 4) return fail(Error::Malformed);
    uint64_t pa = load<uint32_t>(fadt + fadt_dsdt);
    if (length >= fadt_x_dsdt + 8 && load<uint64_t>(fadt + fadt_x_dsdt)) pa = load<uint64_t>(fadt + fadt_x_dsdt);
    const uint8_t* dsdt = pa ? map_checked_table(mem, pa) : nullptr;
    if (!dsdt || dsdt[0] != 'D' || dsdt[1] != 'S' || dsdt[2] != 'D' || dsdt[3] != 'T') return fail(Error::NotFound);
    return parse_sleep_types(dsdt + header_bytes, load<uint32_t>(dsdt + 4) - header_bytes);
}

} // namespace sv::acpi

#include "devices/acpi/sleep_types.hpp"

namespace sv::acpi {
namespace {
// AML opcodes (ACPI 6.4 §20.3).
constexpr uint8_t name_op = 0x08;
constexpr uint8_t package_op = 0x12;
constexpr uint8_t zero_op = 0x00;
constexpr uint8_t one_op = 0x01;
constexpr uint8_t ones_op = 0xFF;
constexpr uint8_t byte_prefix = 0x0A;
constexpr uint8_t word_prefix = 0x0B;
constexpr uint8_t dword_prefix = 0x0C;
constexpr uint8_t qword_prefix = 0x0E;
constexpr uint8_t slp_typ_mask = 0x7; // PM1_CNT bits 10-12

SleepKind kind_of_state(unsigned state) {
    switch (state) {
    case 0: return SleepKind::Working;
    case 1: return SleepKind::Standby;
    case 2:
    case 3: return SleepKind::SuspendToRam;
    case 4: return SleepKind::Hibernate;
    case 5: return SleepKind::PowerOff;
    }
    return SleepKind::Unknown;
}

// PkgLength (§20.2.4): bits 7-6 of the lead byte count the bytes that
// follow; with none, bits 5-0 are the length, else bits 3-0 are its low
// nibble. Returns the encoding's size, 0 when truncated.
size_t pkg_length(std::span<const uint8_t> p, uint32_t& length) {
    if (p.empty()) return 0;
    const unsigned follow = p[0] >> 6;
    if (p.size() < 1 + follow) return 0;
    if (follow == 0) {
        length = p[0] & 0x3F;
        return 1;
    }
    length = p[0] & 0x0F;
    for (unsigned i = 0; i < follow; ++i) length |= static_cast<uint32_t>(p[1 + i]) << (4 + 8 * i);
    return 1 + follow;
}

// One integer data object (§20.2.3 ComputationalData); returns its size, 0
// when it is not an integer constant.
size_t integer(std::span<const uint8_t> p, uint64_t& value) {
    if (p.empty()) return 0;
    unsigned bytes;
    switch (p[0]) {
    case zero_op: value = 0; return 1;
    case one_op: value = 1; return 1;
    case ones_op: value = ~0ull; return 1;
    case byte_prefix: bytes = 1; break;
    case word_prefix: bytes = 2; break;
    case dword_prefix: bytes = 4; break;
    case qword_prefix: bytes = 8; break;
    default: return 0;
    }
    if (p.size() < 1 + bytes) return 0;
    value = 0;
    for (unsigned i = 0; i < bytes; ++i) value |= static_cast<uint64_t>(p[1 + i]) << (8 * i);
    return 1 + bytes;
}

// `p` starts right after the NameSeg "_Sx_": PackageOp PkgLength
// NumElements elements.
bool parse_package(std::span<const uint8_t> p, uint8_t& a, uint8_t& b) {
    if (p.empty() || p[0] != package_op) return false;
    uint32_t length = 0;
    const size_t n = pkg_length(p.subspan(1), length);
    if (!n || length < n + 1 || 1 + length > p.size()) return false;
    std::span<const uint8_t> body = p.subspan(1 + n, length - n); // NumElements + elements
    const uint8_t elements = body[0];
    body = body.subspan(1);
    uint64_t first = 0, second = 0;
    const size_t s1 = elements >= 1 ? integer(body, first) : 0;
    if (!s1) return false;
    // A one-element package (seen in old firmware) gives both registers
    // the same value.
    second = first;
    if (elements >= 2) {
        const size_t s2 = integer(body.subspan(s1), second);
        if (!s2) return false;
    }
    a = static_cast<uint8_t>(first & slp_typ_mask);
    b = static_cast<uint8_t>(second & slp_typ_mask);
    return true;
}
} // namespace

const char* to_string(SleepKind k) {
    switch (k) {
    case SleepKind::Working: return "S0 (working)";
    case SleepKind::Standby: return "S1 (standby)";
    case SleepKind::SuspendToRam: return "S3 (suspend to RAM)";
    case SleepKind::Hibernate: return "S4 (hibernate)";
    case SleepKind::PowerOff: return "S5 (power-off)";
    case SleepKind::Unknown: return "unknown sleep type";
    }
    return "?";
}

void SleepTypes::set(unsigned state, uint8_t slp_typ_a, uint8_t slp_typ_b) {
    if (state >= states) return;
    present_[state] = true;
    typ_a_[state] = slp_typ_a & slp_typ_mask;
    typ_b_[state] = slp_typ_b & slp_typ_mask;
}

int SleepTypes::state_of(uint8_t slp_typ, bool pm1b) const {
    int found = -1;
    bool hibernate = false, power_off = false;
    for (unsigned s = 0; s < states; ++s) {
        if (!present_[s] || (pm1b ? typ_b_[s] : typ_a_[s]) != (slp_typ & slp_typ_mask)) continue;
        hibernate |= s == 4;
        power_off |= s == 5;
        if (found < 0) found = static_cast<int>(s);
    }
    if (found < 0) return -1;
    // Two states sharing a value (S2 and S3 often do): fine when they are of
    // one kind, ambiguous otherwise; except \_S4 and \_S5 alone (Bochs's
    // DSDT gives both SLP_TYP 0): the write cannot say which one the guest
    // meant, and both remove power (ACPI 6.4 §16.1.4, §16.1.5), so it is a
    // power-off. That is the fail-safe reading: the key is wiped first.
    if (hibernate && power_off && found == 4) return 5;
    for (unsigned s = static_cast<unsigned>(found) + 1; s < states; ++s) {
        if (!present_[s] || (pm1b ? typ_b_[s] : typ_a_[s]) != (slp_typ & slp_typ_mask)) continue;
        if (kind_of_state(static_cast<unsigned>(found)) != kind_of_state(s)) return -1;
    }
    return found;
}

SleepKind SleepTypes::classify(uint8_t slp_typ, bool pm1b) const {
    const int s = state_of(slp_typ, pm1b);
    return s < 0 ? SleepKind::Unknown : kind_of_state(static_cast<unsigned>(s));
}

SleepTypes SleepTypes::qemu_defaults() {
    SleepTypes t;
    t.set(3, 1, 1);
    t.set(4, 2, 2);
    t.set(5, 0, 0);
    return t;
}

size_t scan_sleep_types(std::span<const uint8_t> aml, SleepTypes& out) {
    size_t found = 0;
    for (size_t i = 0; i + 6 <= aml.size(); ++i) {
        if (aml[i] != name_op) continue;
        // NameString: RootChar '\' or ParentPrefix '^'s, then the NameSeg.
        size_t j = i + 1;
        while (j < aml.size() && (aml[j] == '\\' || aml[j] == '^')) ++j;
        if (j + 4 > aml.size()) continue;
        if (aml[j] != '_' || aml[j + 1] != 'S' || aml[j + 2] < '0' || aml[j + 2] > '5' || aml[j + 3] != '_')
            continue;
        uint8_t a = 0, b = 0;
        if (!parse_package(aml.subspan(j + 4), a, b)) continue;
        out.set(static_cast<unsigned>(aml[j + 2] - '0'), a, b);
        ++found;
    }
    return found;
}

} // namespace sv::acpi

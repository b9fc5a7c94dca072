#include "devices/pci/dma_allow_list.hpp"

namespace sv::pci {
namespace {
int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
// Exactly `digits` hex digits at p.
bool hex(const char* p, size_t digits, uint32_t& out) {
    out = 0;
    for (size_t i = 0; i < digits; ++i) {
        const int d = hex_digit(p[i]);
        if (d < 0) return false;
        out = out << 4 | static_cast<uint32_t>(d);
    }
    return true;
}
// "VVVV:DDDD" (9 chars) or "BB:DD.F" (7 chars).
bool parse_entry(const char* p, size_t n, DmaAllowList::Entry& e) {
    uint32_t a, b, c;
    if (n == 9 && p[4] == ':' && hex(p, 4, a) && hex(p + 5, 4, b)) {
        e = DmaAllowList::Entry{false, {}, static_cast<uint16_t>(a), static_cast<uint16_t>(b)};
        return true;
    }
    if (n == 7 && p[2] == ':' && p[5] == '.' && hex(p, 2, a) && hex(p + 3, 2, b) && hex(p + 6, 1, c) && b < 32 &&
        c < 8) {
        e = DmaAllowList::Entry{true, Address{static_cast<uint8_t>(a), static_cast<uint8_t>(b), static_cast<uint8_t>(c)},
                                0, 0};
        return true;
    }
    return false;
}
} // namespace

bool DmaAllowList::parse(const char* text, size_t length) {
    if (!text || length == 0) return false;
    Entry parsed[capacity];
    size_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= length; ++i) {
        if (i < length && text[i] != ',') continue;
        if (count_ + n == capacity || !parse_entry(text + start, i - start, parsed[n])) return false;
        ++n;
        start = i + 1;
    }
    for (size_t i = 0; i < n; ++i) entries_[count_++] = parsed[i];
    return true;
}

bool DmaAllowList::allows(Address a, uint16_t vendor, uint16_t device) const {
    for (size_t i = 0; i < count_; ++i) {
        const Entry& e = entries_[i];
        if (e.by_address ? e.address == a : (e.vendor == vendor && e.device == device)) return true;
    }
    return false;
}

} // namespace sv::pci

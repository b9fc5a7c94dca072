#include "lib/format.hpp"

namespace sv::detail {

void format_unsigned(TextBuffer& out, uint64_t v, bool hex) {
    char digits[24];
    int n = 0;
    const unsigned base = hex ? 16 : 10;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (hex) out.put("0x");
    while (n) out.put(digits[--n]);
}

void format_signed(TextBuffer& out, int64_t v) {
    if (v < 0) {
        out.put('-');
        format_unsigned(out, 0 - static_cast<uint64_t>(v), false);
    } else {
        format_unsigned(out, static_cast<uint64_t>(v), false);
    }
}

bool next_field(TextBuffer& out, const char*& fmt, Spec& spec) {
    while (*fmt) {
        if (fmt[0] == '{' && fmt[1] == '{') {
            out.put('{');
            fmt += 2;
        } else if (fmt[0] == '}' && fmt[1] == '}') {
            out.put('}');
            fmt += 2;
        } else if (fmt[0] == '{') {
            spec = Spec{};
            ++fmt;
            while (*fmt && *fmt != '}') {
                if (*fmt == 'x') spec.hex = true;
                ++fmt;
            }
            if (*fmt == '}') ++fmt;
            return true;
        } else {
            out.put(*fmt++);
        }
    }
    return false;
}

} // namespace sv::detail

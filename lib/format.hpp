// Tiny type-safe formatter for the console log: "{}" prints a value in
// decimal (integers), as text (const char*), "{:x}" in hex with 0x prefix.
// No allocation, no floating point, works freestanding and hosted.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace sv {

// Fixed-size text buffer; silently truncates (a log line must never fail).
class TextBuffer {
  public:
    TextBuffer(char* data, size_t capacity) : data_(data), capacity_(capacity) { terminate(); }
    void put(char c) {
        if (size_ + 1 < capacity_) data_[size_++] = c;
        terminate();
    }
    void put(const char* s) {
        while (s && *s) put(*s++);
    }
    const char* c_str() const { return data_; }
    size_t size() const { return size_; }

  private:
    void terminate() {
        if (capacity_) data_[size_ < capacity_ ? size_ : capacity_ - 1] = 0;
    }
    char* data_;
    size_t capacity_;
    size_t size_ = 0;
};

namespace detail {
void format_unsigned(TextBuffer& out, uint64_t v, bool hex);
void format_signed(TextBuffer& out, int64_t v);

struct Spec {
    bool hex = false;
};

template <class T> void format_one(TextBuffer& out, Spec spec, const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
        out.put(v ? "true" : "false");
    } else if constexpr (std::is_enum_v<T>) {
        format_unsigned(out, static_cast<uint64_t>(v), spec.hex);
    } else if constexpr (std::is_same_v<T, char>) {
        out.put(v);
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
        if (spec.hex) format_unsigned(out, static_cast<uint64_t>(v), true);
        else format_signed(out, v);
    } else if constexpr (std::is_integral_v<T>) {
        format_unsigned(out, v, spec.hex);
    } else if constexpr (std::is_convertible_v<T, const char*>) {
        out.put(static_cast<const char*>(v));
    } else if constexpr (std::is_pointer_v<T>) {
        format_unsigned(out, reinterpret_cast<uintptr_t>(v), true);
    } else {
        static_assert(sizeof(T) == 0, "no formatter for this type");
    }
}

// Copies literal text up to the next "{...}"; returns the spec it found, or
// false at the end of the format string.
bool next_field(TextBuffer& out, const char*& fmt, Spec& spec);
} // namespace detail

inline void format_to(TextBuffer& out, const char* fmt) {
    detail::Spec spec;
    while (detail::next_field(out, fmt, spec)) out.put("{?}");
}

template <class First, class... Rest>
void format_to(TextBuffer& out, const char* fmt, const First& first, const Rest&... rest) {
    detail::Spec spec;
    if (!detail::next_field(out, fmt, spec)) return;
    detail::format_one(out, spec, first);
    format_to(out, fmt, rest...);
}

} // namespace sv

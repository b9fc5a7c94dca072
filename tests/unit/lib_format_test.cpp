#include <gtest/gtest.h>

#include "lib/format.hpp"
#include "lib/result.hpp"

namespace {

std::string fmt_str(auto... args) {
    char storage[128];
    sv::TextBuffer out(storage, sizeof storage);
    sv::format_to(out, args...);
    return out.c_str();
}

TEST(Format, DecimalHexAndText) {
    EXPECT_EQ(fmt_str("a {} b {:x} c {}", 42u, 255u, "str"), "a 42 b 0xff c str");
    EXPECT_EQ(fmt_str("{}", -7), "-7");
    EXPECT_EQ(fmt_str("{{}}"), "{}");
}

TEST(Format, TruncatesInsteadOfOverflowing) {
    char storage[8];
    sv::TextBuffer out(storage, sizeof storage);
    sv::format_to(out, "0123456789");
    EXPECT_STREQ(out.c_str(), "0123456");
}

sv::Result<int> half(int v) {
    if (v % 2) return sv::fail(sv::Error::InvalidArgument);
    return v / 2;
}

sv::Result<int> quarter(int v) {
    int h = TRY(half(v));
    return TRY(half(h));
}

TEST(Result, TryPropagatesErrors) {
    EXPECT_EQ(quarter(8).value(), 2);
    EXPECT_FALSE(quarter(6).ok());
    EXPECT_EQ(quarter(6).error(), sv::Error::InvalidArgument);
}

} // namespace

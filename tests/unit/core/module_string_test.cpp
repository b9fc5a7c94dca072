// Module string helpers shared by the Linux loader and the key lookup.
#include <gtest/gtest.h>

#include "core/multiboot.hpp"

namespace sv {
namespace {

TEST(CoreModuleString, ArgumentsFollowTheFirstWord) {
    EXPECT_STREQ(module_arguments("/boot/bzImage console=ttyS0 quiet"), "console=ttyS0 quiet");
    EXPECT_STREQ(module_arguments("  disk.key   key"), "key");
    EXPECT_STREQ(module_arguments("key"), "");
    EXPECT_STREQ(module_arguments(""), "");
}

TEST(CoreModuleString, WholeWordsOnly) {
    EXPECT_TRUE(starts_with_word("key", "key"));
    EXPECT_TRUE(starts_with_word("key extra", "key"));
    EXPECT_FALSE(starts_with_word("keys", "key"));
    EXPECT_FALSE(starts_with_word("ke", "key"));
    EXPECT_FALSE(starts_with_word("", "key"));
}

} // namespace
} // namespace sv

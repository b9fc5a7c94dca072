// Unit tests for core/boot_options: the hypervisor's own command line.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "platform/boot_options.hpp"

namespace sv {
namespace {

struct Parsed {
    Result<BootOptions> result;
    std::string bad;
};

Parsed parse(const char* cmdline) {
    const char* bad = nullptr;
    size_t bad_len = 0;
    Result<BootOptions> r = parse_boot_options(cmdline, &bad, &bad_len);
    return Parsed{r, bad ? std::string(bad, bad_len) : std::string()};
}

TEST(CoreBootOptions, EmptyAndNullGiveDefaults) {
    for (const char* c : {static_cast<const char*>(nullptr), "", "   "}) {
        Parsed p = parse(c);
        ASSERT_TRUE(p.result.ok());
        EXPECT_EQ(p.result.value().log_level, log::Level::Info);
    }
}

TEST(CoreBootOptions, AllLogLevels) {
    const std::pair<const char*, log::Level> cases[] = {
        {"loglevel=debug", log::Level::Debug},
        {"loglevel=info", log::Level::Info},
        {"loglevel=warn", log::Level::Warn},
        {"loglevel=error", log::Level::Error},
    };
    for (auto [cmdline, level] : cases) {
        Parsed p = parse(cmdline);
        ASSERT_TRUE(p.result.ok()) << cmdline;
        EXPECT_EQ(p.result.value().log_level, level) << cmdline;
    }
}

TEST(CoreBootOptions, PathFirstWordIsSkipped) {
    Parsed p = parse("/boot/shadowvisor.elf loglevel=error");
    ASSERT_TRUE(p.result.ok());
    EXPECT_EQ(p.result.value().log_level, log::Level::Error);
    p = parse("shadowvisor");
    ASSERT_TRUE(p.result.ok());
    EXPECT_EQ(p.result.value().log_level, log::Level::Info);
}

TEST(CoreBootOptions, ExtraSpacesAreFine) {
    Parsed p = parse("  /boot/sv   loglevel=warn  ");
    ASSERT_TRUE(p.result.ok());
    EXPECT_EQ(p.result.value().log_level, log::Level::Warn);
}

TEST(CoreBootOptions, LastSettingWins) {
    Parsed p = parse("loglevel=debug loglevel=error");
    ASSERT_TRUE(p.result.ok());
    EXPECT_EQ(p.result.value().log_level, log::Level::Error);
}

TEST(CoreBootOptions, BareWordAfterPathIsRejected) {
    // Only the first word may be a path.
    Parsed p = parse("/boot/sv quiet");
    ASSERT_FALSE(p.result.ok());
    EXPECT_EQ(p.result.error(), Error::InvalidArgument);
    EXPECT_EQ(p.bad, "quiet");
}

TEST(CoreBootOptions, UnknownKeyIsRejectedWithItsWord) {
    Parsed p = parse("/boot/sv loglevel=debug encrypt=off loglevel=info");
    ASSERT_FALSE(p.result.ok());
    EXPECT_EQ(p.result.error(), Error::InvalidArgument);
    EXPECT_EQ(p.bad, "encrypt=off");
}

TEST(CoreBootOptions, BadValuesAreRejectedWithTheirWord) {
    for (const char* word : {"loglevel=verbose", "loglevel=", "loglevel=DEBUG", "loglevel=debugx",
                             "loglevel=deb", "loglevel", "loglevelx=debug", "LOGLEVEL=debug", "=debug"}) {
        const std::string cmdline = std::string("sv ") + word + " loglevel=info";
        Parsed p = parse(cmdline.c_str());
        ASSERT_FALSE(p.result.ok()) << word;
        EXPECT_EQ(p.result.error(), Error::InvalidArgument) << word;
        EXPECT_EQ(p.bad, word);
    }
}

TEST(CoreBootOptions, BadWordPointsIntoTheCmdline) {
    const char* cmdline = "/boot/sv loglevel=loud";
    const char* bad = nullptr;
    size_t bad_len = 0;
    Result<BootOptions> r = parse_boot_options(cmdline, &bad, &bad_len);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(bad, cmdline + 9);
    EXPECT_EQ(bad_len, std::strlen("loglevel=loud"));
    // Null out-pointers are allowed.
    EXPECT_FALSE(parse_boot_options(cmdline, nullptr, nullptr).ok());
}

TEST(CoreBootOptions, FirstWordWithEqualsIsAnOption) {
    Parsed p = parse("loglevel=warn");
    ASSERT_TRUE(p.result.ok());
    EXPECT_EQ(p.result.value().log_level, log::Level::Warn);
    p = parse("color=yes");
    ASSERT_FALSE(p.result.ok());
    EXPECT_EQ(p.bad, "color=yes");
}

} // namespace
} // namespace sv

namespace sv {
namespace {

TEST(CoreBootOptions, AllowDmaListsAccumulate) {
    Parsed p = parse("/boot/sv.elf allow_dma=8086:100e,00:03.0 loglevel=warn allow_dma=01:00.1");
    ASSERT_TRUE(p.result.ok());
    const pci::DmaAllowList& l = p.result.value().allow_dma;
    ASSERT_EQ(l.size(), 3u);
    EXPECT_TRUE(l.allows(pci::Address{0, 7, 0}, 0x8086, 0x100E));
    EXPECT_TRUE(l.allows(pci::Address{0, 3, 0}, 0, 0));
    EXPECT_TRUE(l.allows(pci::Address{1, 0, 1}, 0, 0));
}

TEST(CoreBootOptions, MalformedAllowDmaIsRefused) {
    for (const char* bad : {"allow_dma", "allow_dma=", "allow_dma=8086", "allow_dma=00:03.0,", "allow_dma=all"}) {
        Parsed p = parse((std::string("/boot/sv.elf ") + bad).c_str());
        EXPECT_FALSE(p.result.ok()) << bad;
        EXPECT_EQ(p.bad, bad);
    }
}

} // namespace
} // namespace sv

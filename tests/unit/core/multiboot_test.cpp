// Unit tests for core/multiboot: Multiboot 1 and 2 boot information parsed
// from a simulated physical memory, including hostile/corrupt structures.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/multiboot.hpp"
#include "fake_guest_memory.hpp"

namespace sv {
namespace {

using test::FakeGuestMemory;

constexpr uint64_t MiB = 1024 * 1024;
constexpr uint64_t mem_size = 2 * MiB;
constexpr uint64_t info_at = 0x10000;
constexpr uint64_t strings_at = 0x11000;
constexpr uint64_t mods_at = 0x12000;
constexpr uint64_t mmap_at = 0x13000;

struct E820 {
    uint64_t base, length;
    uint32_t type;
};

// What QEMU's multiboot loader reports for -m 128M.
const std::vector<E820> qemu_map = {
    {0x0, 0x9fc00, 1},        {0x9fc00, 0x400, 2},          {0xf0000, 0x10000, 2},
    {0x100000, 0x7ee0000, 1}, {0x7fe0000, 0x20000, 2},      {0xfffc0000, 0x40000, 2},
};

// ---------------------------------------------------------------- Multiboot 1

class CoreMultiboot1 : public ::testing::Test {
  protected:
    FakeGuestMemory mem{0, mem_size};
    std::unique_ptr<BootInfo> info = std::make_unique<BootInfo>();

    void set_flags(uint32_t flags) { mem.write32(info_at, flags); }
    uint32_t flags() { uint32_t f; std::memcpy(&f, mem.map(info_at, 4), 4); return f; }
    void add_flags(uint32_t f) { set_flags(flags() | f); }

    void set_cmdline(uint64_t at, const char* s) {
        if (s) mem.write_string(at, s);
        mem.write32(info_at + 16, static_cast<uint32_t>(at));
        add_flags(1u << 2);
    }
    // Entries with the given `size` field (20 is what GRUB and QEMU use).
    void set_mmap(const std::vector<E820>& entries, uint32_t entry_size = 20) {
        uint64_t at = mmap_at;
        for (const E820& e : entries) {
            mem.write32(at, entry_size);
            mem.write64(at + 4, e.base);
            mem.write64(at + 12, e.length);
            mem.write32(at + 20, e.type);
            at += entry_size + 4;
        }
        mem.write32(info_at + 44, static_cast<uint32_t>(at - mmap_at));
        mem.write32(info_at + 48, static_cast<uint32_t>(mmap_at));
        add_flags(1u << 6);
    }
    void set_modules(uint32_t count, uint32_t addr = mods_at) {
        mem.write32(info_at + 20, count);
        mem.write32(info_at + 24, addr);
        add_flags(1u << 3);
    }
    void write_module(uint32_t i, uint32_t start, uint32_t end, uint64_t string_at, const char* s) {
        const uint64_t m = mods_at + 16 * i;
        mem.write32(m, start);
        mem.write32(m + 4, end);
        mem.write32(m + 8, static_cast<uint32_t>(string_at));
        if (s) mem.write_string(string_at, s);
    }
    Result<void> parse(uint64_t at = info_at) {
        return parse_multiboot(multiboot1_boot_magic, at, mem, *info);
    }
};

TEST_F(CoreMultiboot1, ParsesCmdlineModulesAndMemoryMap) {
    set_flags(1u << 0 | 1u << 1); // mem_lower/upper, boot_device: present but unused
    set_cmdline(strings_at, "/boot/shadowvisor.elf loglevel=debug");
    set_modules(2);
    write_module(0, 0x200000, 0x9a3000, strings_at + 0x100, "/boot/bzImage console=ttyS0 quiet");
    write_module(1, 0x9a3000, 0x1c00000, strings_at + 0x200, "/boot/initramfs.cpio.gz");
    set_mmap(qemu_map);

    ASSERT_TRUE(parse().ok());
    EXPECT_STREQ(info->cmdline, "/boot/shadowvisor.elf loglevel=debug");
    ASSERT_EQ(info->module_count, 2u);
    EXPECT_EQ(info->modules[0].start, 0x200000u);
    EXPECT_EQ(info->modules[0].end, 0x9a3000u);
    EXPECT_EQ(info->modules[0].size(), 0x7a3000u);
    EXPECT_STREQ(info->modules[0].string, "/boot/bzImage console=ttyS0 quiet");
    EXPECT_EQ(info->modules[1].start, 0x9a3000u);
    EXPECT_STREQ(info->modules[1].string, "/boot/initramfs.cpio.gz");
    EXPECT_EQ(info->info_start, info_at);
    EXPECT_EQ(info->info_end, info_at + 88);

    ASSERT_EQ(info->memory.size(), qemu_map.size());
    for (size_t i = 0; i < qemu_map.size(); ++i) {
        EXPECT_EQ(info->memory[i].base, qemu_map[i].base);
        EXPECT_EQ(info->memory[i].length, qemu_map[i].length);
        EXPECT_EQ(static_cast<uint32_t>(info->memory[i].type), qemu_map[i].type);
    }
    EXPECT_EQ(info->memory.total(MemoryType::Ram), 0x9fc00u + 0x7ee0000u);
}

TEST_F(CoreMultiboot1, UnsortedOverlappingMapIsNormalized) {
    set_mmap({{0x100000, 0x7f00000, 1}, {0x0, 0xa0000, 1}, {0x9fc00, 0x400, 2}, {0x7fe0000, 0x20000, 2}});
    ASSERT_TRUE(parse().ok());
    ASSERT_EQ(info->memory.size(), 4u);
    EXPECT_EQ(info->memory[0].length, 0x9fc00u);
    EXPECT_EQ(info->memory[1].type, MemoryType::Reserved);
    EXPECT_EQ(info->memory[2].base, 0x100000u);
    EXPECT_EQ(info->memory[2].length, 0x7ee0000u);
}

TEST_F(CoreMultiboot1, AcpiAndUnknownTypesMapToE820Types) {
    set_mmap({{0x0, 0x9fc00, 1}, {0x7fe0000, 0x10000, 3}, {0x7ff0000, 0x8000, 4},
              {0x7ff8000, 0x4000, 5}, {0x7ffc000, 0x4000, 12}}); // 12: PRAM, unknown to us
    ASSERT_TRUE(parse().ok());
    ASSERT_EQ(info->memory.size(), 5u);
    EXPECT_EQ(info->memory[1].type, MemoryType::AcpiReclaimable);
    EXPECT_EQ(info->memory[2].type, MemoryType::AcpiNvs);
    EXPECT_EQ(info->memory[3].type, MemoryType::Unusable);
    EXPECT_EQ(info->memory[4].type, MemoryType::Reserved); // unknown types are not RAM
}

TEST_F(CoreMultiboot1, LargerEntrySizeIsHonoured) {
    set_mmap(qemu_map, 24); // entries 28 bytes apart; the extra 4 bytes are skipped
    ASSERT_TRUE(parse().ok());
    ASSERT_EQ(info->memory.size(), qemu_map.size());
    EXPECT_EQ(info->memory[3].base, 0x100000u);
    EXPECT_EQ(info->memory[3].length, 0x7ee0000u);
}

TEST_F(CoreMultiboot1, NoCmdlineFlagLeavesEmptyCmdline) {
    set_mmap(qemu_map);
    mem.write32(info_at + 16, 0xdeadbeef); // ignored: flag bit 2 clear
    ASSERT_TRUE(parse().ok());
    EXPECT_STREQ(info->cmdline, "");
    EXPECT_EQ(info->module_count, 0u);
}

TEST_F(CoreMultiboot1, InfoOutsideMemoryIsProtected) {
    Result<void> r = parse(mem_size - 40); // 88-byte struct runs off the end
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Protected);
    r = parse(0x80000000);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Protected);
}

TEST_F(CoreMultiboot1, CmdlinePointerOutsideMemoryIsProtected) {
    set_mmap(qemu_map);
    set_cmdline(0xfee00000, nullptr);
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Protected);
}

TEST_F(CoreMultiboot1, CmdlineRunningOffTheEndOfMemoryIsProtected) {
    set_mmap(qemu_map);
    const char tail[8] = {'c', 'o', 'n', 's', 'o', 'l', 'e', '='}; // no NUL before the end
    mem.write(mem_size - 8, tail, 8);
    set_cmdline(mem_size - 8, nullptr);
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Protected);
}

TEST_F(CoreMultiboot1, CmdlineLongerThan4KiBIsMalformed) {
    set_mmap(qemu_map);
    std::string long_line(5000, 'x');
    mem.write_string(0x40000, long_line.c_str()); // NUL only after 5000 bytes
    set_cmdline(0x40000, nullptr);
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot1, ModuleTableOutsideMemoryIsProtected) {
    set_mmap(qemu_map);
    set_modules(1, 0xfffff000);
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Protected);
}

TEST_F(CoreMultiboot1, ModuleStringOutsideMemoryIsProtected) {
    set_mmap(qemu_map);
    set_modules(1);
    write_module(0, 0x200000, 0x300000, 0x7ffff000, nullptr);
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Protected);
}

TEST_F(CoreMultiboot1, ModuleEndBeforeStartIsMalformed) {
    set_mmap(qemu_map);
    set_modules(1);
    write_module(0, 0x300000, 0x200000, strings_at, "bzImage");
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot1, TooManyModulesIsOutOfRange) {
    set_mmap(qemu_map);
    set_modules(BootInfo::max_modules + 1);
    for (uint32_t i = 0; i <= BootInfo::max_modules; ++i)
        write_module(i, 0x200000 + i * 0x1000, 0x201000 + i * 0x1000, strings_at, "m");
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfRange);
    EXPECT_EQ(info->module_count, 0u);
}

TEST_F(CoreMultiboot1, MaxModulesAccepted) {
    set_mmap(qemu_map);
    set_modules(BootInfo::max_modules);
    for (uint32_t i = 0; i < BootInfo::max_modules; ++i)
        write_module(i, 0x200000 + i * 0x1000, 0x201000 + i * 0x1000, strings_at, "m");
    ASSERT_TRUE(parse().ok());
    EXPECT_EQ(info->module_count, BootInfo::max_modules);
    EXPECT_EQ(info->modules[7].start, 0x207000u);
}

TEST_F(CoreMultiboot1, MissingMemoryMapIsNotFound) {
    set_flags(1u << 0);
    set_cmdline(strings_at, "shadowvisor");
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::NotFound);
}

TEST_F(CoreMultiboot1, MemoryMapOutsideMemoryIsProtected) {
    set_mmap(qemu_map);
    mem.write32(info_at + 48, 0xffff0000);
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Protected);
}

TEST_F(CoreMultiboot1, MapEntrySizeBelow20IsMalformed) {
    set_mmap(qemu_map);
    mem.write32(mmap_at + 24, 16); // second entry claims 16 bytes
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
    mem.write32(mmap_at + 24, 0);
    r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot1, HugeMapEntrySizeDoesNotReadPastTheMap) {
    // size + 4 wraps the 32-bit offset: the next "entry" would be read ~4 GiB
    // past the mapped buffer if the offset arithmetic wrapped.
    set_mmap(qemu_map);
    mem.write32(mmap_at, 0xFFFFFFF0);
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot1, EntryRunningPastMapLengthIsMalformed) {
    set_mmap(qemu_map);
    mem.write32(mmap_at + 5 * 24, 64); // last entry claims 64 bytes, only 24 left
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot1, WrappingMapEntryIsRejected) {
    set_mmap({{0x0, 0x9fc00, 1}, {0xFFFFFFFFFFFFF000ull, 0x2000, 1}});
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::InvalidArgument);
}

TEST_F(CoreMultiboot1, MoreEntriesThanTheMapHoldsIsOutOfMemory) {
    std::vector<E820> many;
    for (uint64_t i = 0; i <= MemoryMap::capacity; ++i) many.push_back({i * 0x200000, 0x100000, 1});
    set_mmap(many);
    Result<void> r = parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
}

TEST(CoreMultibootMagic, UnknownMagicIsUnsupported) {
    FakeGuestMemory mem{0, 0x10000};
    auto info = std::make_unique<BootInfo>();
    Result<void> r = parse_multiboot(0x1BADB002 /* header magic, not boot magic */, 0x1000, mem, *info);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Unsupported);
}

// ---------------------------------------------------------------- Multiboot 2

// Builds a Multiboot2 information structure: u32 total_size, u32 reserved,
// then tags {u32 type, u32 size, payload} padded to 8 bytes.
class Mb2Builder {
  public:
    Mb2Builder() { bytes_.resize(8, 0); }
    Mb2Builder& tag(uint32_t type, const std::vector<uint8_t>& payload, uint32_t size_override = 0) {
        put32(type);
        put32(size_override ? size_override : static_cast<uint32_t>(8 + payload.size()));
        bytes_.insert(bytes_.end(), payload.begin(), payload.end());
        while (bytes_.size() % 8) bytes_.push_back(0);
        return *this;
    }
    Mb2Builder& cmdline(const std::string& s) { return tag(1, with_nul(s)); }
    Mb2Builder& module(uint32_t start, uint32_t end, const std::string& s) {
        std::vector<uint8_t> p;
        append32(p, start);
        append32(p, end);
        std::vector<uint8_t> str = with_nul(s);
        p.insert(p.end(), str.begin(), str.end());
        return tag(3, p);
    }
    Mb2Builder& mmap(const std::vector<E820>& entries, uint32_t entry_size = 24) {
        std::vector<uint8_t> p;
        append32(p, entry_size);
        append32(p, 0); // entry_version
        for (const E820& e : entries) {
            std::vector<uint8_t> entry(entry_size, 0);
            std::memcpy(entry.data(), &e.base, 8);
            std::memcpy(entry.data() + 8, &e.length, 8);
            std::memcpy(entry.data() + 16, &e.type, 4);
            p.insert(p.end(), entry.begin(), entry.end());
        }
        return tag(6, p);
    }
    Mb2Builder& end() { return tag(0, {}); }
    std::vector<uint8_t> build() {
        std::vector<uint8_t> out = bytes_;
        const uint32_t total = static_cast<uint32_t>(out.size());
        std::memcpy(out.data(), &total, 4);
        return out;
    }

    static std::vector<uint8_t> with_nul(const std::string& s) {
        std::vector<uint8_t> v(s.begin(), s.end());
        v.push_back(0);
        return v;
    }
    static void append32(std::vector<uint8_t>& v, uint32_t x) {
        for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
    }

  private:
    void put32(uint32_t x) { append32(bytes_, x); }
    std::vector<uint8_t> bytes_;
};

class CoreMultiboot2 : public ::testing::Test {
  protected:
    FakeGuestMemory mem{0, mem_size};
    std::unique_ptr<BootInfo> info = std::make_unique<BootInfo>();

    Result<void> parse(const std::vector<uint8_t>& blob, uint64_t at = info_at) {
        mem.write(at, blob.data(), blob.size());
        return parse_multiboot(multiboot2_boot_magic, at, mem, *info);
    }
};

std::vector<uint8_t> loader_name_payload() { return Mb2Builder::with_nul("GRUB 2.12"); }

TEST_F(CoreMultiboot2, ParsesCmdlineModulesAndMemoryMap) {
    auto blob = Mb2Builder()
                    .cmdline("loglevel=info")
                    .tag(2, loader_name_payload()) // boot loader name: skipped
                    .module(0x200000, 0x9a3000, "/boot/bzImage console=ttyS0")
                    .module(0x9a3000, 0x1c00000, "/boot/initramfs.cpio.gz")
                    .tag(4, {0x7f, 0x02, 0, 0, 0x00, 0xfc, 0x01, 0}) // basic meminfo: skipped
                    .mmap(qemu_map)
                    .end()
                    .build();
    ASSERT_TRUE(parse(blob).ok());
    EXPECT_STREQ(info->cmdline, "loglevel=info");
    ASSERT_EQ(info->module_count, 2u);
    EXPECT_EQ(info->modules[0].start, 0x200000u);
    EXPECT_EQ(info->modules[0].end, 0x9a3000u);
    EXPECT_STREQ(info->modules[0].string, "/boot/bzImage console=ttyS0");
    EXPECT_EQ(info->modules[1].end, 0x1c00000u);
    EXPECT_STREQ(info->modules[1].string, "/boot/initramfs.cpio.gz");
    EXPECT_EQ(info->info_start, info_at);
    EXPECT_EQ(info->info_end, info_at + blob.size());
    ASSERT_EQ(info->memory.size(), qemu_map.size());
    for (size_t i = 0; i < qemu_map.size(); ++i) {
        EXPECT_EQ(info->memory[i].base, qemu_map[i].base);
        EXPECT_EQ(info->memory[i].length, qemu_map[i].length);
        EXPECT_EQ(static_cast<uint32_t>(info->memory[i].type), qemu_map[i].type);
    }
}

TEST_F(CoreMultiboot2, StringsPointIntoLoaderMemory) {
    auto blob = Mb2Builder().cmdline("abc").mmap(qemu_map).end().build();
    ASSERT_TRUE(parse(blob).ok());
    // The cmdline tag is the first one: its string starts at info + 8 + 8.
    EXPECT_EQ(reinterpret_cast<const uint8_t*>(info->cmdline), mem.map(info_at + 16, 1));
}

TEST_F(CoreMultiboot2, RamAbove4GAndLargerEntrySize) {
    std::vector<E820> map = {{0x0, 0x9fc00, 1}, {0x100000, 0xbfee0000, 1}, {0xfffc0000, 0x40000, 2},
                             {0x100000000, 0x140000000, 1}};
    auto blob = Mb2Builder().mmap(map, 32).end().build(); // future-proof entry size
    ASSERT_TRUE(parse(blob).ok());
    ASSERT_EQ(info->memory.size(), 4u);
    EXPECT_EQ(info->memory[3].base, 0x100000000u);
    EXPECT_EQ(info->memory.highest_end(), 0x240000000u);
}

TEST_F(CoreMultiboot2, NoEndTagStopsAtTotalSize) {
    auto blob = Mb2Builder().mmap(qemu_map).build();
    ASSERT_TRUE(parse(blob).ok());
    EXPECT_EQ(info->memory.size(), qemu_map.size());
}

TEST_F(CoreMultiboot2, TagsAfterEndTagAreIgnored) {
    auto blob = Mb2Builder().mmap(qemu_map).end().cmdline("ignored").build();
    ASSERT_TRUE(parse(blob).ok());
    EXPECT_STREQ(info->cmdline, "");
}

TEST_F(CoreMultiboot2, UnterminatedCmdlineIsIgnored) {
    auto blob = Mb2Builder().tag(1, {'a', 'b', 'c', 'd'}).mmap(qemu_map).end().build();
    ASSERT_TRUE(parse(blob).ok());
    EXPECT_STREQ(info->cmdline, "");
}

TEST_F(CoreMultiboot2, MissingMemoryMapIsNotFound) {
    auto blob = Mb2Builder().cmdline("x").module(0x200000, 0x300000, "k").end().build();
    Result<void> r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::NotFound);
}

TEST_F(CoreMultiboot2, InfoOutsideMemoryIsProtected) {
    Result<void> r = parse_multiboot(multiboot2_boot_magic, 0x40000000, mem, *info);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Protected);
    // Header inside memory, but total_size reaches past its end.
    auto blob = Mb2Builder().mmap(qemu_map).end().build();
    const uint64_t at = mem_size - 16;
    mem.write(at, blob.data(), 16);
    r = parse_multiboot(multiboot2_boot_magic, at, mem, *info);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Protected);
}

TEST_F(CoreMultiboot2, BadTotalSizeIsMalformed) {
    auto blob = Mb2Builder().mmap(qemu_map).end().build();
    uint32_t total = 8;
    std::memcpy(blob.data(), &total, 4);
    Result<void> r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
    total = (1u << 20) + 8;
    std::memcpy(blob.data(), &total, 4);
    r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot2, TagSizeBelowHeaderIsMalformed) {
    auto blob = Mb2Builder().tag(2, loader_name_payload(), 4).mmap(qemu_map).end().build();
    Result<void> r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot2, TagRunningPastTotalSizeIsMalformed) {
    auto blob = Mb2Builder().mmap(qemu_map).cmdline("console=ttyS0").build();
    // Make the last (cmdline) tag claim 64 bytes more than remain.
    const size_t last = blob.size() - 24; // 8 header + 14 string, padded to 24
    const uint32_t size = 24 + 64;
    std::memcpy(blob.data() + last + 4, &size, 4);
    Result<void> r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot2, TagSizeThatWrapsIsMalformed) {
    // off + size wraps to 0 in 32 bits: must not pass the "fits in total"
    // check and read the cmdline's "last byte" 4 GiB away.
    auto blob = Mb2Builder().tag(1, Mb2Builder::with_nul("loglevel=debug"), 0xFFFFFFF8).mmap(qemu_map).end().build();
    Result<void> r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot2, MmapEntrySizeBelow24IsMalformed) {
    auto blob = Mb2Builder().mmap(qemu_map, 20).end().build();
    Result<void> r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot2, MmapTagTooShortForItsHeaderIsMalformed) {
    // A type-6 tag of 8 bytes has no entry_size field; placed at the very end
    // of memory, reading one would run past it.
    auto blob = Mb2Builder().tag(6, {}).build();
    Result<void> r = parse(blob, mem_size - blob.size());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot2, HugeMmapEntrySizeReadsNoEntries) {
    // entry_size wraps the 32-bit entry offset back inside the tag; the
    // "entry" it then reads lies past the 16-byte tag, which ends memory.
    std::vector<uint8_t> p;
    Mb2Builder::append32(p, 0xFFFFFFF0);
    Mb2Builder::append32(p, 0);
    auto blob = Mb2Builder().tag(6, p).build();
    Result<void> r = parse(blob, mem_size - blob.size());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(info->memory.size(), 0u);
}

TEST_F(CoreMultiboot2, ModuleTagTooShortOrUnterminatedIsMalformed) {
    auto blob = Mb2Builder().tag(3, {0, 0, 0x20, 0, 0, 0, 0x30, 0}).mmap(qemu_map).end().build();
    Result<void> r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);

    info = std::make_unique<BootInfo>();
    blob = Mb2Builder().tag(3, {0, 0, 0x20, 0, 0, 0, 0x30, 0, 'b', 'z'}).mmap(qemu_map).end().build();
    r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot2, ModuleEndBeforeStartIsMalformed) {
    auto blob = Mb2Builder().module(0x300000, 0x200000, "k").mmap(qemu_map).end().build();
    Result<void> r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST_F(CoreMultiboot2, TooManyModulesIsOutOfRange) {
    Mb2Builder b;
    for (uint32_t i = 0; i <= BootInfo::max_modules; ++i) b.module(0x200000 + i * 0x1000, 0x201000 + i * 0x1000, "m");
    auto blob = b.mmap(qemu_map).end().build();
    Result<void> r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfRange);
    EXPECT_EQ(info->module_count, BootInfo::max_modules);
}

TEST_F(CoreMultiboot2, MapWithTooManyOverlapsFailsCleanly) {
    // A hostile loader map: two RAM ranges and 64 holes punched into the first
    // resolves to more regions than an e820 table holds.
    std::vector<E820> map = {{0x0, 0x40000000, 1}, {0x80000000, 0x40000000, 1}};
    for (uint64_t i = 0; i < 64; ++i) map.push_back({(i + 1) * 0x400000, 0x1000, 2});
    auto blob = Mb2Builder().mmap(map).end().build();
    Result<void> r = parse(blob);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
    EXPECT_LE(info->memory.size(), MemoryMap::capacity);
}

} // namespace
} // namespace sv

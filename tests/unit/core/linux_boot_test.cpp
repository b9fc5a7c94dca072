// Unit tests for core/linux_boot: bzImage header validation, kernel/initrd
// placement and the zero page (boot.rst, zero-page.rst).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "core/linux_boot.hpp"

namespace sv {
namespace {

namespace off = boot_params_offset;
constexpr uint64_t MiB = 1024 * 1024, GiB = 1024 * MiB;

template <class T> void put(std::vector<uint8_t>& b, size_t at, T v) { std::memcpy(b.data() + at, &v, sizeof v); }
template <class T> T get(const uint8_t* b, size_t at) {
    T v;
    std::memcpy(&v, b + at, sizeof v);
    return v;
}

// A synthetic bzImage with the header of a Debian 6.1 x86_64 kernel.
struct BzImageSpec {
    uint8_t setup_sects = 39;
    uint16_t version = 0x020f;
    uint8_t loadflags = 0x01; // LOADED_HIGH
    uint8_t relocatable = 1;
    uint32_t kernel_alignment = 0x200000;
    uint64_t pref_address = 0x1000000;
    uint32_t init_size = 0x03f98000;
    uint32_t initrd_addr_max = 0x7fffffff;
    uint32_t cmdline_size = 0x7ff;
    uint8_t jump = 0x6a; // header ends at 0x202 + 0x6a = 0x26c
    size_t kernel_bytes = 0x20000;
};

std::vector<uint8_t> make_bzimage(const BzImageSpec& s = {}) {
    const size_t setup = (s.setup_sects ? s.setup_sects + 1u : 5u) * 512;
    std::vector<uint8_t> img(setup + s.kernel_bytes, 0);
    for (size_t i = setup; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i * 7); // "kernel"
    img[0x1f1] = s.setup_sects;
    put<uint16_t>(img, 0x1fe, 0xAA55);
    img[0x200] = 0xEB;
    img[0x201] = s.jump;
    put<uint32_t>(img, 0x202, 0x53726448); // "HdrS"
    put<uint16_t>(img, 0x206, s.version);
    img[0x211] = s.loadflags;
    put<uint32_t>(img, 0x214, 0x100000); // code32_start default
    put<uint32_t>(img, 0x22c, s.initrd_addr_max);
    put<uint32_t>(img, 0x230, s.kernel_alignment);
    img[0x234] = s.relocatable;
    img[0x235] = 0x15; // min_alignment
    put<uint32_t>(img, 0x238, s.cmdline_size);
    put<uint64_t>(img, 0x258, s.pref_address);
    put<uint32_t>(img, 0x260, s.init_size);
    put<uint32_t>(img, 0x264, 0x7c8db0); // handover_offset: copied, not interpreted
    return img;
}

// QEMU -m 256M as the guest sees it after the hypervisor carved its 16 MiB
// at the top of RAM.
void qemu_guest_map(MemoryMap& m) {
    ASSERT_TRUE(m.add(0x0, 0x9fc00, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(0x9fc00, 0x400, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0xf0000, 0x10000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0x100000, 0xfee0000, MemoryType::Ram).ok());
    ASSERT_TRUE(m.add(0xffe0000, 0x20000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.add(0xfffc0000, 0x40000, MemoryType::Reserved).ok());
    ASSERT_TRUE(m.normalize().ok());
    ASSERT_TRUE(m.carve(0xefe0000, 0x1000000, MemoryType::Reserved).ok());
}

// ------------------------------------------------------------ inspect_bzimage

TEST(CoreLinuxBootInspect, ReadsDebianLikeHeader) {
    auto img = make_bzimage();
    Result<BzImageInfo> r = inspect_bzimage(img);
    ASSERT_TRUE(r.ok());
    const BzImageInfo& i = r.value();
    EXPECT_EQ(i.protocol, 0x020f);
    EXPECT_EQ(i.setup_size, 40u * 512);
    EXPECT_EQ(i.kernel_size, 0x20000u);
    EXPECT_TRUE(i.relocatable);
    EXPECT_EQ(i.kernel_alignment, 0x200000u);
    EXPECT_EQ(i.pref_address, 0x1000000u);
    EXPECT_EQ(i.init_size, 0x03f98000u);
    EXPECT_EQ(i.initrd_addr_max, 0x7fffffffu);
    EXPECT_EQ(i.cmdline_size, 0x7ffu);
}

TEST(CoreLinuxBootInspect, ZeroSetupSectsMeansFour) {
    BzImageSpec s;
    s.setup_sects = 0;
    auto img = make_bzimage(s);
    Result<BzImageInfo> r = inspect_bzimage(img);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().setup_size, 5u * 512);
    EXPECT_EQ(r.value().kernel_size, s.kernel_bytes);
}

TEST(CoreLinuxBootInspect, InitSizeAtLeastKernelSize) {
    BzImageSpec s;
    s.init_size = 0x1000; // smaller than the payload: raised to it
    auto img = make_bzimage(s);
    Result<BzImageInfo> r = inspect_bzimage(img);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().init_size, s.kernel_bytes);
}

TEST(CoreLinuxBootInspect, Protocol210IsTheMinimum) {
    BzImageSpec s;
    s.version = 0x020a;
    auto img = make_bzimage(s);
    EXPECT_TRUE(inspect_bzimage(img).ok());
    s.version = 0x0209;
    img = make_bzimage(s);
    Result<BzImageInfo> r = inspect_bzimage(img);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Unsupported);
}

TEST(CoreLinuxBootInspect, BadBootFlagIsMalformed) {
    auto img = make_bzimage();
    put<uint16_t>(img, 0x1fe, 0x55AA);
    Result<BzImageInfo> r = inspect_bzimage(img);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST(CoreLinuxBootInspect, BadHeaderMagicIsMalformed) {
    auto img = make_bzimage();
    img[0x205] = 'X'; // "HdrX"
    Result<BzImageInfo> r = inspect_bzimage(img);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST(CoreLinuxBootInspect, TruncatedImageIsMalformed) {
    auto img = make_bzimage();
    // Shorter than the header area.
    Result<BzImageInfo> r = inspect_bzimage(std::span<const uint8_t>(img.data(), 0x2ff));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
    // Header intact, but the file ends inside the setup code: no kernel.
    r = inspect_bzimage(std::span<const uint8_t>(img.data(), 40 * 512));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
    r = inspect_bzimage(std::span<const uint8_t>(img.data(), 0x1000));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
    r = inspect_bzimage({});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

TEST(CoreLinuxBootInspect, ZImageWithoutLoadedHighIsUnsupported) {
    BzImageSpec s;
    s.loadflags = 0x80; // CAN_USE_HEAP only
    auto img = make_bzimage(s);
    Result<BzImageInfo> r = inspect_bzimage(img);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Unsupported);
}

TEST(CoreLinuxBootInspect, NonPowerOfTwoAlignmentIsMalformed) {
    for (uint32_t a : {0u, 0x300000u, 0x200001u}) {
        BzImageSpec s;
        s.kernel_alignment = a;
        auto img = make_bzimage(s);
        Result<BzImageInfo> r = inspect_bzimage(img);
        ASSERT_FALSE(r.ok()) << std::hex << a;
        EXPECT_EQ(r.error(), Error::Malformed) << std::hex << a;
    }
    BzImageSpec s;
    s.kernel_alignment = 0x1000;
    auto img = make_bzimage(s);
    EXPECT_TRUE(inspect_bzimage(img).ok());
}

TEST(CoreLinuxBootInspect, RealDebianBzImageWhenPresent) {
    const char* path = "/work/main/build/guest/bzImage";
    std::ifstream f(path, std::ios::binary);
    if (!f) GTEST_SKIP() << path << " not present (build the guest to run this test)";
    std::vector<uint8_t> img((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (img.size() < 1 * MiB) GTEST_SKIP() << path << " is only " << img.size() << " bytes (being rebuilt?)";
    Result<BzImageInfo> r = inspect_bzimage(img);
    ASSERT_TRUE(r.ok()) << to_string(r.error());
    const BzImageInfo& i = r.value();
    EXPECT_GE(i.protocol, 0x020a);
    EXPECT_TRUE(i.relocatable);
    EXPECT_EQ(i.kernel_alignment & (i.kernel_alignment - 1), 0u);
    EXPECT_GE(i.kernel_alignment, 0x1000u);
    EXPECT_EQ(i.setup_size + i.kernel_size, img.size());
    EXPECT_GE(i.init_size, i.kernel_size);
    EXPECT_GE(i.cmdline_size, 255u);
    EXPECT_EQ(i.setup_size, (static_cast<size_t>(img[0x1f1] ? img[0x1f1] : 4) + 1) * 512);

    // It places and boots on a 256 MiB guest.
    auto map = std::make_unique<MemoryMap>();
    qemu_guest_map(*map);
    Result<LinuxPlacement> p = place_linux(i, 8 * MiB, *map, 4 * GiB);
    ASSERT_TRUE(p.ok()) << to_string(p.error());
    EXPECT_EQ(p.value().kernel % i.kernel_alignment, 0u);
    std::array<uint8_t, 4096> zp{};
    ASSERT_TRUE(build_boot_params(zp, img, p.value(), *map).ok());
    EXPECT_EQ(get<uint32_t>(zp.data(), off::header), 0x53726448u);
    EXPECT_EQ(get<uint16_t>(zp.data(), off::version), i.protocol);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::code32_start), p.value().kernel);
}

// ---------------------------------------------------------------- place_linux

BzImageInfo debian_info() {
    auto img = make_bzimage();
    Result<BzImageInfo> r = inspect_bzimage(img);
    EXPECT_TRUE(r.ok());
    return r.value();
}

TEST(CoreLinuxBootPlace, KernelAtPreferredAddressInitrdAtTopOfRam) {
    auto map = std::make_unique<MemoryMap>();
    qemu_guest_map(*map);
    const BzImageInfo info = debian_info();
    const uint64_t initrd_size = 0x1234567;
    Result<LinuxPlacement> r = place_linux(info, initrd_size, *map, 4 * GiB);
    ASSERT_TRUE(r.ok());
    const LinuxPlacement& p = r.value();
    EXPECT_EQ(p.kernel, 0x1000000u);
    EXPECT_EQ(p.initrd_size, initrd_size);
    // Highest page-aligned spot for the rounded-up size below the carve at 0xefe0000.
    EXPECT_EQ(p.initrd, 0xefe0000u - 0x1235000u);
    EXPECT_TRUE(map->is_ram(p.initrd, initrd_size));
    EXPECT_GE(p.initrd, p.kernel + info.init_size);
    EXPECT_EQ(p.boot_params, 0x7000u);
    EXPECT_EQ(p.cmdline, 0x8000u);
    EXPECT_TRUE(map->is_ram(p.boot_params, 4096));
}

TEST(CoreLinuxBootPlace, RelocatableKernelIsAligned) {
    auto map = std::make_unique<MemoryMap>();
    qemu_guest_map(*map);
    BzImageInfo info = debian_info();
    info.pref_address = 0x1100000;
    Result<LinuxPlacement> r = place_linux(info, 0, *map, 4 * GiB);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().kernel, 0x1200000u);
    EXPECT_EQ(r.value().initrd, 0u);
    EXPECT_EQ(r.value().initrd_size, 0u);

    info.relocatable = false; // must load where it asks
    r = place_linux(info, 0, *map, 4 * GiB);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().kernel, 0x1100000u);

    info.pref_address = 0; // older header: LOAD_PHYSICAL_ADDR
    info.relocatable = true;
    r = place_linux(info, 0, *map, 4 * GiB);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().kernel, 0x1000000u);
}

TEST(CoreLinuxBootPlace, InitrdHonoursInitrdAddrMax) {
    auto map = std::make_unique<MemoryMap>();
    qemu_guest_map(*map);
    BzImageInfo info = debian_info();
    info.initrd_addr_max = 0x7fffffff;
    Result<LinuxPlacement> r = place_linux(info, 4 * MiB, *map, 0x8000000); // limit below RAM top
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().initrd, 0x8000000u - 4 * MiB);
    info.initrd_addr_max = 0x6ffffff; // tighter than the limit
    r = place_linux(info, 4 * MiB, *map, 4 * GiB);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().initrd, 0x7000000u - 4 * MiB);
    EXPECT_LE(r.value().initrd + 4 * MiB - 1, info.initrd_addr_max);
}

TEST(CoreLinuxBootPlace, NotEnoughRamForInitSize) {
    auto map = std::make_unique<MemoryMap>();
    ASSERT_TRUE(map->add(0, 0x9fc00, MemoryType::Ram).ok());
    ASSERT_TRUE(map->add(0x100000, 0x3000000, MemoryType::Ram).ok()); // 49 MiB total
    ASSERT_TRUE(map->normalize().ok());
    const BzImageInfo info = debian_info(); // needs 16 MiB + 0x3f98000
    Result<LinuxPlacement> r = place_linux(info, 0, *map, 4 * GiB);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
}

TEST(CoreLinuxBootPlace, KernelRangeOverlappingHypervisorMovesARelocatableKernel) {
    auto map = std::make_unique<MemoryMap>();
    qemu_guest_map(*map);
    ASSERT_TRUE(map->carve(0x3000000, 0x100000, MemoryType::Reserved).ok()); // inside init_size
    BzImageInfo info = debian_info();
    Result<LinuxPlacement> r = place_linux(info, 4 * MiB, *map, 4 * GiB);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().kernel, 0x3200000u); // next 2 MiB-aligned RAM range past the carve
    EXPECT_TRUE(map->is_ram(r.value().kernel, info.init_size));
    EXPECT_GE(r.value().initrd, r.value().kernel + info.init_size);
    info.relocatable = false; // must load where it asks: refused
    r = place_linux(info, 0, *map, 4 * GiB);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
}

TEST(CoreLinuxBootPlace, HypervisorImageAt16MiBMovesTheKernelAbove) {
    auto map = std::make_unique<MemoryMap>();
    qemu_guest_map(*map);
    ASSERT_TRUE(map->carve(0x1000000, 2 * MiB, MemoryType::Reserved).ok()); // the image
    const BzImageInfo info = debian_info();
    Result<LinuxPlacement> r = place_linux(info, 4 * MiB, *map, 4 * GiB);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().kernel, 0x1200000u);
    // Nowhere to go below the limit: refused.
    r = place_linux(info, 0, *map, 0x1200000 + info.init_size - 1);
    ASSERT_FALSE(r.ok());
}

TEST(CoreLinuxBootPlace, InitrdThatCannotFitIsRefused) {
    auto map = std::make_unique<MemoryMap>();
    qemu_guest_map(*map);
    const BzImageInfo info = debian_info();
    // Larger than all RAM above the kernel.
    Result<LinuxPlacement> r = place_linux(info, 200 * MiB, *map, 4 * GiB);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
    // Fits only below the kernel's end: refused rather than overlapping it.
    r = place_linux(info, 4 * MiB, *map, 0x1000000 + info.init_size + 2 * MiB);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
    // Just fits above it.
    r = place_linux(info, 4 * MiB, *map, 0x1000000 + info.init_size + 4 * MiB);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().initrd, 0x1000000u + info.init_size);
}

TEST(CoreLinuxBootPlace, LowMemoryForZeroPageMustBeRam) {
    auto map = std::make_unique<MemoryMap>();
    qemu_guest_map(*map);
    ASSERT_TRUE(map->carve(0x8000, 0x1000, MemoryType::Reserved).ok()); // cmdline area
    Result<LinuxPlacement> r = place_linux(debian_info(), 0, *map, 4 * GiB);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::OutOfMemory);
}

// ---------------------------------------------------------- build_boot_params

class CoreLinuxBootParams : public ::testing::Test {
  protected:
    std::vector<uint8_t> img = make_bzimage();
    std::unique_ptr<MemoryMap> map = std::make_unique<MemoryMap>();
    std::array<uint8_t, 4096> zp;
    LinuxPlacement placement;

    void SetUp() override {
        qemu_guest_map(*map);
        Result<LinuxPlacement> r = place_linux(debian_info(), 0x1234567, *map, 4 * GiB);
        ASSERT_TRUE(r.ok());
        placement = r.value();
        zp.fill(0xCC); // must be cleared
    }
};

TEST_F(CoreLinuxBootParams, LoaderFieldsAreSet) {
    ASSERT_TRUE(build_boot_params(zp, img, placement, *map).ok());
    EXPECT_EQ(zp[off::type_of_loader], 0xFF);
    EXPECT_EQ(zp[off::loadflags] & 0x01, 0x01);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::code32_start), 0x1000000u);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::ramdisk_image), placement.initrd);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::ramdisk_size), 0x1234567u);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::ext_ramdisk_image), 0u);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::ext_ramdisk_size), 0u);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::cmd_line_ptr), 0x8000u);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::ext_cmd_line_ptr), 0u);
}

TEST_F(CoreLinuxBootParams, SetupHeaderIsCopied) {
    ASSERT_TRUE(build_boot_params(zp, img, placement, *map).ok());
    const size_t header_end = 0x202 + img[0x201];
    for (size_t i = off::setup_sects; i < header_end; ++i) {
        if (i == off::type_of_loader || i == off::loadflags) continue;
        if (i >= off::code32_start && i < off::code32_start + 12) continue;  // code32, ramdisk
        if (i >= off::cmd_line_ptr && i < off::cmd_line_ptr + 4) continue;
        EXPECT_EQ(zp[i], img[i]) << "offset 0x" << std::hex << i;
    }
    EXPECT_EQ(get<uint16_t>(zp.data(), off::boot_flag), 0xAA55);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::header), 0x53726448u);
    EXPECT_EQ(get<uint16_t>(zp.data(), off::version), 0x020f);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::kernel_alignment), 0x200000u);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::init_size), 0x03f98000u);
    EXPECT_EQ(get<uint64_t>(zp.data(), off::pref_address), 0x1000000u);
    EXPECT_EQ(get<uint32_t>(zp.data(), 0x264), 0x7c8db0u);
    // Beyond the header (and before the e820 table) nothing is copied.
    for (size_t i = header_end; i < off::e820_table; ++i) EXPECT_EQ(zp[i], 0) << std::hex << i;
    for (size_t i = 0; i < off::ext_ramdisk_image; ++i) EXPECT_EQ(zp[i], 0) << std::hex << i;
}

TEST_F(CoreLinuxBootParams, E820TableEqualsGuestMap) {
    ASSERT_TRUE(build_boot_params(zp, img, placement, *map).ok());
    ASSERT_EQ(zp[off::e820_entries], map->size());
    ASSERT_EQ(map->size(), 6u); // carve merged with the reserved range above it
    for (size_t i = 0; i < map->size(); ++i) {
        const size_t at = off::e820_table + 20 * i;
        EXPECT_EQ(get<uint64_t>(zp.data(), at), (*map)[i].base) << i;
        EXPECT_EQ(get<uint64_t>(zp.data(), at + 8), (*map)[i].length) << i;
        EXPECT_EQ(get<uint32_t>(zp.data(), at + 16), static_cast<uint32_t>((*map)[i].type)) << i;
    }
    // The carved hypervisor range is reserved in the guest's view.
    EXPECT_EQ(get<uint64_t>(zp.data(), off::e820_table + 20 * 4), 0xefe0000u);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::e820_table + 20 * 4 + 16), 2u);
    // Nothing after the last entry.
    for (size_t i = off::e820_table + 20 * map->size(); i < zp.size(); ++i) EXPECT_EQ(zp[i], 0) << std::hex << i;
}

TEST_F(CoreLinuxBootParams, FullE820TableFits) {
    auto big = std::make_unique<MemoryMap>();
    for (uint64_t i = 0; i < MemoryMap::capacity; ++i)
        ASSERT_TRUE(big->add(i * 2 * MiB, MiB, i % 2 ? MemoryType::Reserved : MemoryType::Ram).ok());
    ASSERT_TRUE(big->normalize().ok());
    ASSERT_EQ(big->size(), 128u);
    ASSERT_TRUE(build_boot_params(zp, img, placement, *big).ok());
    EXPECT_EQ(zp[off::e820_entries], 128);
    const size_t last = off::e820_table + 20 * 127;
    EXPECT_EQ(get<uint64_t>(zp.data(), last), 127 * 2 * MiB);
    EXPECT_EQ(get<uint32_t>(zp.data(), last + 16), 2u);
}

TEST_F(CoreLinuxBootParams, InitrdAbove4GUsesExtFields) {
    LinuxPlacement p = placement;
    p.initrd = 0x1'2340'0000;
    p.initrd_size = 0x1'0000'1000;
    ASSERT_TRUE(build_boot_params(zp, img, p, *map).ok());
    EXPECT_EQ(get<uint32_t>(zp.data(), off::ramdisk_image), 0x23400000u);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::ext_ramdisk_image), 1u);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::ramdisk_size), 0x1000u);
    EXPECT_EQ(get<uint32_t>(zp.data(), off::ext_ramdisk_size), 1u);
}

TEST_F(CoreLinuxBootParams, HeaderLongerThanImageOrZeroPageIsMalformed) {
    img[0x201] = 0x90; // header would end at 0x292, past the setup header area
    Result<void> r = build_boot_params(zp, img, placement, *map);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);

    std::vector<uint8_t> small(img.begin(), img.begin() + 0x250);
    small[0x201] = 0x6a; // ends at 0x26c > 0x250
    r = build_boot_params(zp, small, placement, *map);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::Malformed);
}

} // namespace
} // namespace sv

// arch/x86/tss.hpp: the 64-bit TSS layout and its GDT descriptor, checked
// field by field against the SDM's figure (vol. 3A "TSS Descriptor in
// 64-bit Mode") and against a descriptor worked out by hand.
#include <gtest/gtest.h>

#include <cstddef>

#include "arch/x86/tss.hpp"

namespace sv::x86 {
namespace {

TEST(Tss64, LayoutMatchesTheSdm) {
    EXPECT_EQ(offsetof(Tss64, rsp), 4u);
    EXPECT_EQ(offsetof(Tss64, ist), 0x24u);
    EXPECT_EQ(offsetof(Tss64, io_map_base), 0x66u);
    EXPECT_EQ(Tss64{}.io_map_base, sizeof(Tss64)) << "no I/O permission bitmap";
}

TEST(SystemDescriptor64, SplitsBaseAndLimitOverTheFields) {
    const SystemDescriptor64 d = system_descriptor64(0x1122334455667788ull, 0xABCDE, system_type::tss64_busy);
    EXPECT_EQ(d.low & 0xFFFF, 0xBCDEu);                  // limit 15:0
    EXPECT_EQ((d.low >> 16) & 0xFFFFFF, 0x667788u);      // base 23:0
    EXPECT_EQ((d.low >> 40) & 0xF, 0xBu);                // type: busy 64-bit TSS
    EXPECT_EQ((d.low >> 44) & 1, 0u);                    // S = 0: system segment
    EXPECT_EQ((d.low >> 45) & 3, 0u);                    // DPL 0
    EXPECT_EQ((d.low >> 47) & 1, 1u);                    // present
    EXPECT_EQ((d.low >> 48) & 0xF, 0xAu);                // limit 19:16
    EXPECT_EQ((d.low >> 55) & 1, 0u);                    // G = 0: byte granularity
    EXPECT_EQ(d.low >> 56, 0x55u);                       // base 31:24
    EXPECT_EQ(d.high, 0x11223344u);                      // base 63:32, upper type 0
}

TEST(SystemDescriptor64, AHypervisorTssBelow4GiB) {
    // A 104-byte TSS at 0x01234560, the descriptor worked out by hand from
    // the SDM's figure: limit 0067, base 345600+01 split, type 9, P.
    const SystemDescriptor64 d = system_descriptor64(0x01234560, 103, system_type::tss64_available);
    EXPECT_EQ(d.low, 0x0100892345600067ull);
    EXPECT_EQ(d.high, 0u);
}

} // namespace
} // namespace sv::x86

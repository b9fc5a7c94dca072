#include "arch/x86/xsave.hpp"

#include "arch/x86/cpu.hpp"

namespace sv::x86 {
namespace {
constexpr uint32_t kLeaf1EcxXsave = 1u << 26;
constexpr uint64_t kCr4Osxsave = 1ull << 18;
constexpr uint64_t kXcr0ResetValue = 1; // x87
} // namespace

bool enable_xsave() {
    if (!(cpuid(1).ecx & kLeaf1EcxXsave)) return false;
    write_cr4(read_cr4() | kCr4Osxsave);
    xsetbv(0, kXcr0ResetValue);
    return true;
}

} // namespace sv::x86

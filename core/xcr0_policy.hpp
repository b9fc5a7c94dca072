// XSETBV from the guest (intercepted: AMD APM vol. 2 §15.9 instruction
// intercepts, exit code 8Dh). SVM does not switch XCR0 on VMRUN/#VMEXIT, so
// the guest's XCR0 is the real register while the guest runs; the hypervisor
// checks a new value the way the CPU would, then loads it. Its own SIMD
// crypto switches XCR0 to what it needs only for the length of a request
// (crypto/xcr0_switch.hpp) and gives the guest back exactly its value.
#pragma once

#include <cstdint>

namespace sv {

namespace xcr0 {
constexpr uint64_t kX87 = 1ull << 0;
constexpr uint64_t kSse = 1ull << 1;
constexpr uint64_t kAvx = 1ull << 2;
constexpr uint64_t kBndregs = 1ull << 3;
constexpr uint64_t kBndcsr = 1ull << 4;
constexpr uint64_t kOpmask = 1ull << 5;
constexpr uint64_t kZmmHi256 = 1ull << 6;
constexpr uint64_t kHi16Zmm = 1ull << 7;
constexpr uint64_t kPkru = 1ull << 9;
constexpr uint64_t kTileCfg = 1ull << 17;
constexpr uint64_t kTileData = 1ull << 18;
constexpr uint64_t kAvx512 = kOpmask | kZmmHi256 | kHi16Zmm;
constexpr uint64_t kMpx = kBndregs | kBndcsr;
constexpr uint64_t kAmx = kTileCfg | kTileData;
} // namespace xcr0

// CR4.OSXSAVE (bit 18): without it XSETBV/XGETBV raise #UD.
constexpr uint64_t kCr4Osxsave = 1ull << 18;
constexpr uint64_t kCr4Pke = 1ull << 22;

enum class XsetbvFault : uint8_t { None, InvalidOpcode, GeneralProtection };

// Intel SDM vol. 2D XSETBV "Operation"/"Protected Mode Exceptions" and AMD APM
// vol. 4 XSETBV, SDM vol. 1 §13.3: #UD if CR4.OSXSAVE = 0; #GP(0) if CPL != 0,
// ECX != 0, bit 0 (x87) clear, AVX without SSE, AVX-512 bits not all equal or
// without AVX|SSE, the MPX bits not equal, the AMX bits not equal, or any bit
// the processor does not support (CPUID.(EAX=0Dh,ECX=0):EDX:EAX).
XsetbvFault check_xsetbv(uint64_t cr4, unsigned cpl, uint32_t ecx, uint64_t value,
                         uint64_t supported);

} // namespace sv

// RAII guard that lets hypervisor code run the SIMD crypto while the guest's
// vector registers are live: it saves exactly the registers the AES-NI engine
// uses (xmm0-xmm15) on construction and restores them on destruction. Take
// one per request (around all the sectors/segments of a command), not one per
// sector, and never as a full XSAVE on every VM exit.
//
// Cost: 16 unaligned 16-byte stores + 16 loads to a 256-byte stack buffer,
// about 32 uops / ~20-30 cycles in all; an XSAVE/XRSTOR pair of the full
// state costs hundreds of cycles and ~1 KiB (more with AVX-512). For a 4 KiB
// sector (~3000 cycles of AES-256-XTS) the guard is below 1 %; for a 512-byte
// request it is a few percent, once.
//
// What is NOT saved, on purpose: MXCSR and x87/MMX state (AES-NI, PXOR,
// PCLMULQDQ and integer shifts neither read nor write them), and the upper
// halves of ymm/zmm: the engine uses only legacy-SSE (non-VEX) encodings,
// which leave bits 128+ of the guest's ymm/zmm registers untouched.
// Preconditions set by the boot code: CR0.TS = 0 and CR0.EM = 0 (else SSE
// raises #NM/#UD), CR4.OSFXSR = 1 (SSE enabled), CR4.OSXSAVE as the CPU
// supports it.
//
// Hypervisor build (SV_FREESTANDING): the compiler emits no vector
// instructions outside crypto's `#pragma GCC target` regions
// (-mgeneral-regs-only), so nothing of ours lives in xmm between the save and
// the restore; the asm cannot even name xmm clobbers there, and need not.
// Hosted build (unit tests, bench): the same save/restore, with the xmm
// registers declared clobbered on restore so the compiler reloads anything it
// kept there.
#pragma once

#include <cstdint>

namespace sv::crypto {

class SimdGuard {
  public:
    SimdGuard() {
        asm volatile("movdqu %%xmm0,   0(%0)\n\t"
                     "movdqu %%xmm1,  16(%0)\n\t"
                     "movdqu %%xmm2,  32(%0)\n\t"
                     "movdqu %%xmm3,  48(%0)\n\t"
                     "movdqu %%xmm4,  64(%0)\n\t"
                     "movdqu %%xmm5,  80(%0)\n\t"
                     "movdqu %%xmm6,  96(%0)\n\t"
                     "movdqu %%xmm7, 112(%0)\n\t"
                     "movdqu %%xmm8, 128(%0)\n\t"
                     "movdqu %%xmm9, 144(%0)\n\t"
                     "movdqu %%xmm10, 160(%0)\n\t"
                     "movdqu %%xmm11, 176(%0)\n\t"
                     "movdqu %%xmm12, 192(%0)\n\t"
                     "movdqu %%xmm13, 208(%0)\n\t"
                     "movdqu %%xmm14, 224(%0)\n\t"
                     "movdqu %%xmm15, 240(%0)"
                     :
                     : "r"(saved_)
                     : "memory");
    }

    ~SimdGuard() {
        asm volatile("movdqu   0(%0), %%xmm0\n\t"
                     "movdqu  16(%0), %%xmm1\n\t"
                     "movdqu  32(%0), %%xmm2\n\t"
                     "movdqu  48(%0), %%xmm3\n\t"
                     "movdqu  64(%0), %%xmm4\n\t"
                     "movdqu  80(%0), %%xmm5\n\t"
                     "movdqu  96(%0), %%xmm6\n\t"
                     "movdqu 112(%0), %%xmm7\n\t"
                     "movdqu 128(%0), %%xmm8\n\t"
                     "movdqu 144(%0), %%xmm9\n\t"
                     "movdqu 160(%0), %%xmm10\n\t"
                     "movdqu 176(%0), %%xmm11\n\t"
                     "movdqu 192(%0), %%xmm12\n\t"
                     "movdqu 208(%0), %%xmm13\n\t"
                     "movdqu 224(%0), %%xmm14\n\t"
                     "movdqu 240(%0), %%xmm15"
                     :
                     : "r"(saved_)
                     : "memory"
#ifndef SV_FREESTANDING
                       ,
                       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"
#endif
        );
    }

    SimdGuard(const SimdGuard&) = delete;
    SimdGuard& operator=(const SimdGuard&) = delete;

  private:
    // Guest register contents: not secret from the guest, but they may hold
    // the guest's own key material; the buffer dies with the stack frame.
    alignas(16) uint8_t saved_[16 * 16];
};

} // namespace sv::crypto

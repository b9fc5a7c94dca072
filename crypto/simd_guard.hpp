// RAII guard that lets hypervisor code run the SIMD crypto while the guest's
// vector registers are live: it saves exactly the registers the crypto
// engines on this CPU may use and restores them on destruction:
//   - CPUs with VAES (the ymm engine may run): ymm0-15 in full, because
//     VEX-encoded instructions write all 256 bits (VEX.128 zeroes 255:128);
//   - otherwise: xmm0-15 (the AES-NI engine uses legacy-SSE encodings, which
//     leave bits 255:128 of the guest's registers untouched).
// Take one per request (around all the sectors/segments of a command), not
// one per sector, and never a full XSAVE on every VM exit.
//
// Cost: 16 stores + 16 loads of 16 (or 32) bytes to a stack buffer, about 32
// uops / 20-40 cycles in all, plus a predictable branch; an XSAVE/XRSTOR pair
// of the full state costs hundreds of cycles and ~1 KiB (more with AVX-512).
// For a 4 KiB sector (~1500-3000 cycles of AES-XTS) that is ~1 %; for a
// 512-byte request a few percent, once per request.
//
// Not saved, on purpose: MXCSR and x87/MMX state (AES, PXOR, PCLMULQDQ and
// integer shifts neither read nor write them); zmm bits 511:256 and
// zmm16-31/k0-7 (no EVEX code here; VEX writes do zero zmm bits 511:256, but
// a CPU with AVX-512 state enabled would need those saved too: this engine
// has no AVX-512 path and the target CPU has none). No VZEROUPPER after the
// restore: it would destroy the guest's upper halves; the engines end with
// VZEROUPPER themselves (GCC emits it), before the restore.
//
// Preconditions set by the boot code: CR0.TS = 0 and CR0.EM = 0 (else SSE
// raises #NM/#UD), CR4.OSFXSR = 1, and for the ymm engine CR4.OSXSAVE = 1.
// XCR0 is the guest's while the hypervisor runs (SVM does not switch it):
// for the ymm engine the guard first loads XCR0.SSE|AVX if the guest's value
// lacks them and restores the guest's value last (crypto/xcr0_switch.hpp),
// once per guard, i.e. once per request.
//
// Hypervisor build (SV_FREESTANDING): the compiler emits no vector
// instructions outside crypto's `#pragma GCC target` regions
// (-mgeneral-regs-only), so nothing of ours lives in vector registers between
// save and restore; the asm cannot even name xmm clobbers there, and need
// not. Hosted build (unit tests, bench): the same save/restore, with the
// registers declared clobbered on restore so the compiler reloads anything
// it kept there.
#pragma once

#include <cstdint>

#include "crypto/cpu_features.hpp"
#include "crypto/xcr0_switch.hpp"

namespace sv::crypto {

class SimdGuard {
  public:
    SimdGuard() : wide_(detail::simd_state_is_wide()), xcr0_(wide_ ? kXcr0SseAvx : 0) {
        if (wide_) {
            save_ymm();
            return;
        }
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
        if (wide_) {
            restore_ymm();
            return;
        }
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
                       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"
#endif
        );
    }

    SimdGuard(const SimdGuard&) = delete;
    SimdGuard& operator=(const SimdGuard&) = delete;

  private:
    void save_ymm() {
        asm volatile("vmovdqu %%ymm0,    0(%0)\n\t"
                     "vmovdqu %%ymm1,   32(%0)\n\t"
                     "vmovdqu %%ymm2,   64(%0)\n\t"
                     "vmovdqu %%ymm3,   96(%0)\n\t"
                     "vmovdqu %%ymm4,  128(%0)\n\t"
                     "vmovdqu %%ymm5,  160(%0)\n\t"
                     "vmovdqu %%ymm6,  192(%0)\n\t"
                     "vmovdqu %%ymm7,  224(%0)\n\t"
                     "vmovdqu %%ymm8,  256(%0)\n\t"
                     "vmovdqu %%ymm9,  288(%0)\n\t"
                     "vmovdqu %%ymm10, 320(%0)\n\t"
                     "vmovdqu %%ymm11, 352(%0)\n\t"
                     "vmovdqu %%ymm12, 384(%0)\n\t"
                     "vmovdqu %%ymm13, 416(%0)\n\t"
                     "vmovdqu %%ymm14, 448(%0)\n\t"
                     "vmovdqu %%ymm15, 480(%0)"
                     :
                     : "r"(saved_)
                     : "memory");
    }

    void restore_ymm() {
        asm volatile("vmovdqu    0(%0), %%ymm0\n\t"
                     "vmovdqu   32(%0), %%ymm1\n\t"
                     "vmovdqu   64(%0), %%ymm2\n\t"
                     "vmovdqu   96(%0), %%ymm3\n\t"
                     "vmovdqu  128(%0), %%ymm4\n\t"
                     "vmovdqu  160(%0), %%ymm5\n\t"
                     "vmovdqu  192(%0), %%ymm6\n\t"
                     "vmovdqu  224(%0), %%ymm7\n\t"
                     "vmovdqu  256(%0), %%ymm8\n\t"
                     "vmovdqu  288(%0), %%ymm9\n\t"
                     "vmovdqu  320(%0), %%ymm10\n\t"
                     "vmovdqu  352(%0), %%ymm11\n\t"
                     "vmovdqu  384(%0), %%ymm12\n\t"
                     "vmovdqu  416(%0), %%ymm13\n\t"
                     "vmovdqu  448(%0), %%ymm14\n\t"
                     "vmovdqu  480(%0), %%ymm15"
                     :
                     : "r"(saved_)
                     : "memory"
#ifndef SV_FREESTANDING
                       ,
                       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"
#endif
        );
    }

    // Guest register contents: not secret from the guest, but they may hold
    // the guest's own key material; the buffer dies with the stack frame.
    static constexpr uint64_t kXcr0SseAvx = 0x6; // XCR0.SSE | XCR0.AVX
    alignas(32) uint8_t saved_[16 * 32];
    bool wide_;
    Xcr0Switch xcr0_; // after wide_: loaded before the save, restored after the restore
};

} // namespace sv::crypto

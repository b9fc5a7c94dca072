// The Virtual Machine Control Block, AMD APM vol. 2 Appendix B (Table B-1
// control area, Table B-2 state save area). Packed layout, offsets checked
// at compile time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sv::svm {

struct [[gnu::packed]] VmcbSegment {
    uint16_t selector;
    uint16_t attrib;
    uint32_t limit;
    uint64_t base;
};
static_assert(sizeof(VmcbSegment) == 16);

struct [[gnu::packed]] VmcbControl {
    uint32_t intercept_cr;        // 0x000: reads [15:0], writes [31:16]
    uint32_t intercept_dr;        // 0x004
    uint32_t intercept_exceptions; // 0x008
    uint32_t intercept_misc1;     // 0x00C
    uint32_t intercept_misc2;     // 0x010
    uint32_t intercept_misc3;     // 0x014
    uint8_t reserved1[0x3C - 0x18];
    uint16_t pause_filter_threshold; // 0x03C
    uint16_t pause_filter_count;     // 0x03E
    uint64_t iopm_base_pa;        // 0x040
    uint64_t msrpm_base_pa;       // 0x048
    uint64_t tsc_offset;          // 0x050
    uint32_t guest_asid;          // 0x058
    uint8_t tlb_control;          // 0x05C
    uint8_t reserved2[3];
    uint64_t vintr;               // 0x060
    uint64_t interrupt_shadow;    // 0x068
    uint64_t exit_code;           // 0x070
    uint64_t exit_info1;          // 0x078
    uint64_t exit_info2;          // 0x080
    uint64_t exit_int_info;       // 0x088
    uint64_t np_enable;           // 0x090
    uint64_t avic_apic_bar;       // 0x098
    uint64_t ghcb_pa;             // 0x0A0
    uint64_t event_inject;        // 0x0A8
    uint64_t n_cr3;               // 0x0B0
    uint64_t lbr_virt_enable;     // 0x0B8
    uint32_t clean_bits;          // 0x0C0
    uint32_t reserved3;
    uint64_t next_rip;            // 0x0C8
    uint8_t bytes_fetched;        // 0x0D0
    uint8_t guest_bytes[15];      // 0x0D1
    uint8_t reserved4[0x400 - 0xE0];
};
static_assert(sizeof(VmcbControl) == 0x400);
static_assert(offsetof(VmcbControl, iopm_base_pa) == 0x040);
static_assert(offsetof(VmcbControl, exit_code) == 0x070);
static_assert(offsetof(VmcbControl, np_enable) == 0x090);
static_assert(offsetof(VmcbControl, event_inject) == 0x0A8);
static_assert(offsetof(VmcbControl, n_cr3) == 0x0B0);
static_assert(offsetof(VmcbControl, next_rip) == 0x0C8);

struct [[gnu::packed]] VmcbStateSave {
    VmcbSegment es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr; // 0x400..0x49F
    uint8_t reserved1[0x4CB - 0x4A0];
    uint8_t cpl;                  // 0x4CB
    uint32_t reserved2;
    uint64_t efer;                // 0x4D0
    uint8_t reserved3[0x548 - 0x4D8];
    uint64_t cr4;                 // 0x548
    uint64_t cr3;                 // 0x550
    uint64_t cr0;                 // 0x558
    uint64_t dr7;                 // 0x560
    uint64_t dr6;                 // 0x568
    uint64_t rflags;              // 0x570
    uint64_t rip;                 // 0x578
    uint8_t reserved4[0x5D8 - 0x580];
    uint64_t rsp;                 // 0x5D8
    uint8_t reserved5[0x5F8 - 0x5E0];
    uint64_t rax;                 // 0x5F8
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base; // 0x600..0x620
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;   // 0x628..0x638
    uint64_t cr2;                 // 0x640
    uint8_t reserved6[0x668 - 0x648];
    uint64_t g_pat;               // 0x668
    uint8_t reserved7[0x1000 - 0x670];
};

struct Vmcb {
    VmcbControl control;
    VmcbStateSave save;
};
static_assert(sizeof(Vmcb) == 4096);
static_assert(offsetof(Vmcb, save) + offsetof(VmcbStateSave, cpl) == 0x4CB);
static_assert(offsetof(Vmcb, save) + offsetof(VmcbStateSave, efer) == 0x4D0);
static_assert(offsetof(Vmcb, save) + offsetof(VmcbStateSave, cr4) == 0x548);
static_assert(offsetof(Vmcb, save) + offsetof(VmcbStateSave, rip) == 0x578);
static_assert(offsetof(Vmcb, save) + offsetof(VmcbStateSave, rsp) == 0x5D8);
static_assert(offsetof(Vmcb, save) + offsetof(VmcbStateSave, rax) == 0x5F8);
static_assert(offsetof(Vmcb, save) + offsetof(VmcbStateSave, cr2) == 0x640);
static_assert(offsetof(Vmcb, save) + offsetof(VmcbStateSave, g_pat) == 0x668);

// Intercept bits, APM vol. 2 Table B-1.
namespace intercept1 { // offset 0x00C
constexpr uint32_t intr = 1u << 0;
constexpr uint32_t nmi = 1u << 1;
constexpr uint32_t init = 1u << 3;
constexpr uint32_t cpuid = 1u << 18;
constexpr uint32_t invlpga = 1u << 26; // SVM instruction: #UD for the guest (SVM hidden)
constexpr uint32_t ioio_prot = 1u << 27;
constexpr uint32_t msr_prot = 1u << 28;
constexpr uint32_t shutdown = 1u << 31;
} // namespace intercept1
namespace intercept2 { // offset 0x010
constexpr uint32_t vmrun = 1u << 0;
constexpr uint32_t vmmcall = 1u << 1;
constexpr uint32_t vmload = 1u << 2;
constexpr uint32_t vmsave = 1u << 3;
constexpr uint32_t stgi = 1u << 4;
constexpr uint32_t clgi = 1u << 5;
constexpr uint32_t skinit = 1u << 6;
constexpr uint32_t xsetbv = 1u << 13; // XCR0 is not switched by VMRUN/#VMEXIT (APM §15.5.1)
} // namespace intercept2

// Exit codes, APM vol. 2 Appendix C.
namespace exit_code {
constexpr uint64_t exception_base = 0x40;
constexpr uint64_t intr = 0x60;
constexpr uint64_t nmi = 0x61;
constexpr uint64_t init = 0x63;
constexpr uint64_t cpuid = 0x72;
constexpr uint64_t invlpga = 0x7A;
constexpr uint64_t ioio = 0x7B;
constexpr uint64_t msr = 0x7C;
constexpr uint64_t shutdown = 0x7F;
constexpr uint64_t vmrun = 0x80;
constexpr uint64_t vmmcall = 0x81;
constexpr uint64_t vmload = 0x82;
constexpr uint64_t vmsave = 0x83;
constexpr uint64_t stgi = 0x84;
constexpr uint64_t clgi = 0x85;
constexpr uint64_t skinit = 0x86;
constexpr uint64_t xsetbv = 0x8D;
constexpr uint64_t npf = 0x400;
// QEMU TCG reports VMEXIT_INVALID as 0x00000000ffffffff (docs/design.md §5 Platform facts).
constexpr uint64_t invalid = 0xFFFFFFFFFFFFFFFFull;
constexpr uint64_t invalid_tcg = 0x00000000FFFFFFFFull;
} // namespace exit_code

// EVENTINJ, APM vol. 2 §15.20.
namespace event_inject {
constexpr uint64_t type_nmi = 2ull << 8;
constexpr uint64_t type_exception = 3ull << 8;
constexpr uint64_t vector_nmi = 2;
constexpr uint64_t error_valid = 1ull << 11;
constexpr uint64_t valid = 1ull << 31;
} // namespace event_inject

constexpr size_t iopm_size = 12 * 1024; // APM §15.10.1: 3 pages
constexpr size_t msrpm_size = 8 * 1024; // APM §15.11: 2 pages

} // namespace sv::svm

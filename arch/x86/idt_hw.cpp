// Host IDT: every CPU exception in hypervisor context is a bug of ours, so
// the handler reports vector, error code and RIP and stops (fail closed).
#include <cstdint>

#include "lib/log.hpp"

namespace sv {
[[noreturn]] void fatal_stop();
}

extern "C" const uint64_t sv_exception_stubs[22];
extern "C" void sv_host_nmi(); // boot/exceptions.S: returns at once

namespace sv::x86 {
namespace {
struct [[gnu::packed]] IdtEntry {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type; // 0x8E: present, DPL 0, 64-bit interrupt gate
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};
static_assert(sizeof(IdtEntry) == 16);

struct [[gnu::packed]] IdtPointer {
    uint16_t limit;
    uint64_t base;
};

alignas(16) IdtEntry idt[32];
} // namespace

void install_idt() {
    for (unsigned v = 0; v < 22; ++v) {
        const uint64_t h = sv_exception_stubs[v];
        idt[v] = IdtEntry{static_cast<uint16_t>(h), 0x08, 0, 0x8E, static_cast<uint16_t>(h >> 16),
                          static_cast<uint32_t>(h >> 32), 0};
    }
    // Vector 2: an NMI is no bug of ours; the host only takes the NMIs that
    // made the guest exit (SVM: virt/svm/svm_kick.hpp; core/nmi_kicker.hpp).
    const uint64_t nmi = reinterpret_cast<uint64_t>(&sv_host_nmi);
    idt[2] = IdtEntry{static_cast<uint16_t>(nmi), 0x08, 0, 0x8E, static_cast<uint16_t>(nmi >> 16),
                      static_cast<uint32_t>(nmi >> 32), 0};
    IdtPointer p{sizeof(idt) - 1, reinterpret_cast<uint64_t>(&idt[0])};
    asm volatile("lidt %0" ::"m"(p));
}
} // namespace sv::x86

struct ExceptionFrame {
    uint64_t rdi, rsi, rdx, rcx, rax, vector, error, rip, cs, rflags;
};

extern "C" [[noreturn]] void sv_host_exception(const ExceptionFrame* f) {
    uint64_t cr2;
    asm volatile("mov %%cr2, %0" : "=r"(cr2));
    sv::log::error("PANIC: host exception {} error {:x} at rip {:x} cr2 {:x}", f->vector, f->error, f->rip, cr2);
    sv::fatal_stop();
}

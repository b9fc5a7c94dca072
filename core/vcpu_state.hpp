// Vendor-neutral guest CPU state. The SVM (and later VMX) backend copies the
// fields exit handlers need out of its VMCB/VMCS before dispatching an exit
// and writes back what a handler changed; nothing above virt/ sees a VMCB.
#pragma once

#include <cstdint>

namespace sv {

enum class Gpr : uint8_t { Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15 };

struct SegmentState {
    uint16_t selector = 0;
    uint16_t attributes = 0; // AMD VMCB packed form: type,S,DPL,P,AVL,L,D/B,G
    uint32_t limit = 0;
    uint64_t base = 0;
    bool long_mode() const { return attributes & (1u << 9); }
    bool default_32() const { return attributes & (1u << 10); }
};

struct PendingEvent {
    bool valid = false;
    uint8_t vector = 0;
    bool has_error_code = false;
    uint32_t error_code = 0;
};

namespace exception_vector {
constexpr uint8_t ud = 6;
constexpr uint8_t gp = 13;
constexpr uint8_t pf = 14;
} // namespace exception_vector

struct VcpuState {
    uint64_t gpr[16] = {};
    uint64_t rip = 0, rflags = 0;
    uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, efer = 0;
    SegmentState cs, ss, ds, es, fs, gs;
    PendingEvent inject; // exception to deliver on the next entry

    uint64_t& reg(Gpr r) { return gpr[static_cast<unsigned>(r)]; }
    void raise_exception(uint8_t vector) { inject = PendingEvent{true, vector, false, 0}; }
    void raise_exception(uint8_t vector, uint32_t error) { inject = PendingEvent{true, vector, true, error}; }
};

} // namespace sv

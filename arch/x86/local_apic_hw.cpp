#include "arch/x86/local_apic.hpp"

#include "arch/x86/cpu.hpp"

namespace sv::x86::lapic {
namespace {
constexpr uint32_t msr_apic_base = 0x1B;

volatile uint32_t* reg_ptr(uint32_t reg) { return reinterpret_cast<volatile uint32_t*>(base() + reg); }

// Busy-wait using the TSC; the rate is not known precisely this early, so
// assume a fast CPU (the SDM delays are minimums: longer is harmless).
void delay_us(uint64_t us) {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    const uint64_t start = (static_cast<uint64_t>(hi) << 32) | lo;
    const uint64_t cycles = us * 4000;
    for (;;) {
        asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
        if (((static_cast<uint64_t>(hi) << 32) | lo) - start >= cycles) return;
        __builtin_ia32_pause();
    }
}

void send_ipi(uint8_t apic_id, uint32_t low) {
    write(reg_icr_high, static_cast<uint32_t>(apic_id) << 24);
    write(reg_icr_low, low);
    for (int spin = 0; spin < 1000000 && (read(reg_icr_low) & icr_pending); ++spin) __builtin_ia32_pause();
}
} // namespace

uint64_t base() { return rdmsr(msr_apic_base) & 0xFFFFFF000ull; }
uint32_t read(uint32_t reg) { return *reg_ptr(reg); }
void write(uint32_t reg, uint32_t value) { *reg_ptr(reg) = value; }
uint8_t current_id() { return static_cast<uint8_t>(read(reg_id) >> 24); }

void send_init(uint8_t apic_id) { send_ipi(apic_id, delivery_init | icr_level_assert); }

void send_nmi(uint8_t apic_id) {
    for (int spin = 0; spin < 1000000 && (read(reg_icr_low) & icr_pending); ++spin) __builtin_ia32_pause();
    const uint32_t guest_high = read(reg_icr_high);
    send_ipi(apic_id, delivery_nmi | icr_level_assert);
    write(reg_icr_high, guest_high);
}

void start_processor(uint8_t apic_id, uint8_t vector) {
    send_ipi(apic_id, delivery_init | icr_level_assert);
    delay_us(10000);
    for (int i = 0; i < 2; ++i) {
        send_ipi(apic_id, delivery_startup | vector);
        delay_us(200);
    }
}

} // namespace sv::x86::lapic

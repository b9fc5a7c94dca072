// The local APIC in xAPIC (MMIO) mode: the hypervisor uses it to start the
// application processors (INIT-SIPI-SIPI, Intel SDM vol. 3A §10.6.1 ICR,
// §8.4.4.1 MP initialization example; AMD APM vol. 2 §16.5).
#pragma once

#include <cstdint>

namespace sv::x86::lapic {

constexpr uint64_t default_base = 0xFEE00000;
constexpr uint32_t reg_id = 0x20;
constexpr uint32_t reg_icr_low = 0x300;
constexpr uint32_t reg_icr_high = 0x310;

// ICR fields (SDM vol. 3A Figure 10-12).
constexpr uint32_t icr_vector_mask = 0xFF;
constexpr uint32_t icr_delivery_shift = 8;
constexpr uint32_t icr_delivery_mask = 7u << icr_delivery_shift;
constexpr uint32_t delivery_nmi = 4u << icr_delivery_shift;
constexpr uint32_t delivery_init = 5u << icr_delivery_shift;
constexpr uint32_t delivery_startup = 6u << icr_delivery_shift;
constexpr uint32_t icr_pending = 1u << 12;
constexpr uint32_t icr_level_assert = 1u << 14;
constexpr uint32_t icr_shorthand_shift = 18;

uint64_t base();
uint32_t read(uint32_t reg);
void write(uint32_t reg, uint32_t value);
uint8_t current_id();
// INIT, then two STARTUPs with `vector` (the 4 KiB page of the real-mode
// entry), with the delays the SDM's example uses.
void start_processor(uint8_t apic_id, uint8_t vector);
// INIT alone: a processor running a guest with the INIT intercept leaves the
// guest (AMD APM vol. 2 §15.13.1 "INIT Support").
void send_init(uint8_t apic_id);
// An NMI to `apic_id` (SDM vol. 3A §10.6.1, delivery mode 100b). ICR_HIGH
// is restored afterwards: the guest may be between its own ICR_HIGH and
// ICR_LOW writes on this processor.
void send_nmi(uint8_t apic_id);

} // namespace sv::x86::lapic

// Guest interrupts sent from the physical local APIC (core/guest_interrupts.hpp):
// the guest owns its LAPIC and IDT (para-passthrough), so an IPI with the
// guest's vector is exactly what the device's own MSI would have delivered.
#include "platform/guest_interrupts.hpp"

#include "arch/x86/cpu.hpp"
#include "arch/x86/local_apic.hpp"

namespace sv {
namespace {
constexpr uint32_t msr_apic_base = 0x1B;
constexpr uint64_t apic_base_x2apic = 1ull << 10; // SDM vol. 3A §10.12.1
constexpr uint32_t msr_x2apic_icr = 0x830;        // SDM vol. 3A §10.12.9: one 64-bit write

class LapicGuestInterrupts final : public GuestInterrupts {
  public:
    void deliver(const MsiMessage& m) override {
        const IpiCommand c = ipi_for(m);
        if (x86::rdmsr(msr_apic_base) & apic_base_x2apic) {
            x86::wrmsr(msr_x2apic_icr, uint64_t{c.destination} << 32 | c.low);
            return;
        }
        namespace l = x86::lapic;
        for (int spin = 0; spin < 1000000 && (l::read(l::reg_icr_low) & l::icr_pending); ++spin)
            __builtin_ia32_pause();
        // The guest may be between its own ICR_HIGH and ICR_LOW writes on
        // this processor (its APIC page is its own): put its ICR_HIGH back.
        const uint32_t guest_high = l::read(l::reg_icr_high);
        l::write(l::reg_icr_high, uint32_t{c.destination} << 24);
        l::write(l::reg_icr_low, c.low);
        l::write(l::reg_icr_high, guest_high);
    }
};
constinit LapicGuestInterrupts instance;
} // namespace

GuestInterrupts& lapic_guest_interrupts() { return instance; }

} // namespace sv

#include "arch/x86/local_apic.hpp"
#include "core/nmi_kicker.hpp"

namespace sv {
namespace {
void send_nmi_ipi(uint8_t apic_id) { x86::lapic::send_nmi(apic_id); }
NmiKicker kicker{send_nmi_ipi};
} // namespace

NmiKicker& nmi_kicker() { return kicker; }

} // namespace sv

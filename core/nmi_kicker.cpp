#include "core/nmi_kicker.hpp"

namespace sv {

void NmiKicker::kick(uint32_t target) {
    if (target > 0xFF) return;
    // The mark before the NMI: the target may exit and ask take() at once.
    __atomic_store_n(&pending_[target], uint8_t{1}, __ATOMIC_SEQ_CST);
    send_(static_cast<uint8_t>(target));
}

bool NmiKicker::take(uint32_t apic_id) {
    return apic_id <= 0xFF && __atomic_exchange_n(&pending_[apic_id], uint8_t{0}, __ATOMIC_SEQ_CST);
}

} // namespace sv

#include "core/nmi_sink.hpp"

namespace sv {

bool NmiSinks::add(NmiSink& sink) {
    if (count_ == kMax) return false;
    for (size_t i = 0; i < count_; ++i)
        if (sinks_[i] == &sink) return true;
    sinks_[count_++] = &sink;
    return true;
}

void NmiSinks::remove(NmiSink& sink) {
    for (size_t i = 0; i < count_; ++i) {
        if (sinks_[i] != &sink) continue;
        sinks_[i] = sinks_[--count_];
        sinks_[count_] = nullptr;
        return;
    }
}

bool NmiSinks::dispatch(uint32_t apic_id) {
    bool claimed = false;
    for (size_t i = 0; i < count_; ++i) claimed |= sinks_[i]->on_nmi(apic_id);
    return claimed;
}

namespace {
constinit NmiSinks registry; // constant-initialized: no guard, filled at boot
} // namespace

NmiSinks& nmi_sinks() { return registry; }

} // namespace sv

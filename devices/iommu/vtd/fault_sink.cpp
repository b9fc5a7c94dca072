#include "devices/iommu/vtd/fault_sink.hpp"

namespace sv::vtd {

bool FaultSink::add(VtdUnit& unit) {
    if (count_ == max_units) return false;
    units_[count_++] = &unit;
    return true;
}

bool FaultSink::drain_all() {
    bool found = false;
    for (size_t i = 0; i < count_; ++i) {
        const DrainResult r = units_[i]->drain_faults(log_);
        if (r.errors && errors_) errors_(*units_[i], r.errors);
        found |= r.found();
    }
    return found;
}

bool FaultSink::on_nmi(uint32_t apic_id) {
    if (apic_id != target_ || !count_) return false;
    ++stats_.nmis;
    const bool found = drain_all();
    if (found) ++stats_.nmis_claimed;
    return found;
}

} // namespace sv::vtd

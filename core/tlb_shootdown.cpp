#include "core/tlb_shootdown.hpp"

#include "lib/log.hpp"

namespace sv {
namespace {
uint64_t load(const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_SEQ_CST); }
void store(uint64_t& v, uint64_t x) { __atomic_store_n(&v, x, __ATOMIC_SEQ_CST); }
void bump(uint64_t& v) { __atomic_fetch_add(&v, 1, __ATOMIC_SEQ_CST); }
} // namespace

Result<size_t> TlbShootdown::add_vcpu(uint32_t target) {
    if (count_ == max_vcpus) return fail(Error::OutOfMemory);
    Vcpu& v = vcpus_[count_];
    v.target = target;
    v.flushed = load(generation_);
    // Published last: flush_all may already be looking at count_.
    __atomic_store_n(&count_, count_ + 1, __ATOMIC_SEQ_CST);
    return count_ - 1;
}

bool TlbShootdown::entering_guest(size_t vcpu) {
    Vcpu& v = vcpus_[vcpu];
    store(v.session, v.session | 1); // in the guest from here on (for flush_all)
    const uint64_t g = load(generation_);
    if (g == v.flushed) return false;
    v.flushed = g;
    return true;
}

void TlbShootdown::left_guest(size_t vcpu) {
    Vcpu& v = vcpus_[vcpu];
    store(v.session, (v.session | 1) + 1);
}

bool TlbShootdown::flush_all() {
    bump(generation_);
    bump(stats_.shootdowns);
    const size_t n = __atomic_load_n(&count_, __ATOMIC_SEQ_CST);
    size_t waiting = 0;
    for (size_t i = 0; i < n; ++i) {
        Vcpu& v = vcpus_[i];
        v.snapshot = load(v.session);
        if (!(v.snapshot & 1)) continue; // in the hypervisor: flushes before it enters
        ++waiting;
        bump(stats_.kicks);
        if (kicker_) kicker_->kick(v.target);
    }
    if (!waiting) return true;
    const uint64_t start = now_ ? now_() : 0;
    for (;;) {
        size_t still = 0;
        for (size_t i = 0; i < n; ++i)
            if ((vcpus_[i].snapshot & 1) && load(vcpus_[i].session) == vcpus_[i].snapshot) ++still;
        if (!still) return true;
        if (!now_ || now_() - start > timeout_) {
            __atomic_fetch_add(&stats_.timeouts, still, __ATOMIC_SEQ_CST);
            if (!warned_) {
                warned_ = true;
                log::error("nested TLB shootdown: {} vCPUs did not leave the guest in time (they flush at their "
                           "next exit; logged once)",
                           still);
            }
            return false;
        }
        __builtin_ia32_pause();
    }
}

TlbShootdownStats TlbShootdown::stats() const {
    return TlbShootdownStats{load(stats_.shootdowns), load(stats_.kicks), load(stats_.timeouts)};
}

} // namespace sv

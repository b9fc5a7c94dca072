#include "lib/cycle_profile.hpp"

namespace sv::profile {
namespace {
Clock clock_ = nullptr;
uint64_t totals[static_cast<unsigned>(Bucket::Count)] = {};
} // namespace

void set_clock(Clock clock) { clock_ = clock; }
uint64_t now() { return clock_ ? clock_() : 0; }
void add(Bucket bucket, uint64_t since) {
    if (!clock_) return;
    __atomic_fetch_add(&totals[static_cast<unsigned>(bucket)], clock_() - since, __ATOMIC_RELAXED);
}
uint64_t total(Bucket bucket) { return __atomic_load_n(&totals[static_cast<unsigned>(bucket)], __ATOMIC_RELAXED); }

} // namespace sv::profile

// core/tlb_shootdown: the vendor-neutral cross-vCPU flush protocol. A vCPU
// in the guest when the mapping changes is kicked and waited for; one in the
// hypervisor is not, and flushes at its next entry; a vCPU that never
// answers times out (counted), the changer never hangs. Real threads check
// the protocol under concurrency.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/tlb_shootdown.hpp"

namespace sv {
namespace {

struct RecordingKicker final : VcpuKicker {
    std::vector<uint32_t> kicked;
    TlbShootdown* sd = nullptr;
    std::vector<size_t> answer; // indices that leave the guest when kicked
    void kick(uint32_t target) override {
        kicked.push_back(target);
        for (size_t i : answer)
            if (i == target - 100) sd->left_guest(i);
    }
};

uint64_t fake_ticks = 0;
uint64_t ticking_clock() { return fake_ticks += 10; }

TEST(CoreTlbShootdown, VcpusInTheHypervisorAreNotKickedAndFlushOnEntry) {
    TlbShootdown sd;
    RecordingKicker k;
    sd.set_kicker(&k);
    sd.set_clock(ticking_clock, 1000);
    const size_t a = sd.add_vcpu(100).value(), b = sd.add_vcpu(101).value();
    EXPECT_FALSE(sd.entering_guest(a)); // nothing changed since it was added
    sd.left_guest(a);
    EXPECT_TRUE(sd.flush_all());
    EXPECT_TRUE(k.kicked.empty()); // both in the hypervisor
    EXPECT_TRUE(sd.entering_guest(a));
    sd.left_guest(a);
    EXPECT_FALSE(sd.entering_guest(a)); // flushed once per change
    sd.left_guest(a);
    EXPECT_TRUE(sd.entering_guest(b));
    sd.left_guest(b);
    const TlbShootdownStats st = sd.stats();
    EXPECT_EQ(st.shootdowns, 1u);
    EXPECT_EQ(st.kicks, 0u);
}

TEST(CoreTlbShootdown, VcpusInTheGuestAreKickedAndWaitedFor) {
    TlbShootdown sd;
    RecordingKicker k;
    k.sd = &sd;
    sd.set_kicker(&k);
    sd.set_clock(ticking_clock, 1000);
    const size_t a = sd.add_vcpu(100).value(), b = sd.add_vcpu(101).value(), c = sd.add_vcpu(102).value();
    k.answer = {a, b};
    (void)sd.entering_guest(a);
    (void)sd.entering_guest(b); // c stays in the hypervisor (e.g. the changer)
    EXPECT_TRUE(sd.flush_all());
    EXPECT_EQ(k.kicked, (std::vector<uint32_t>{100, 101}));
    EXPECT_EQ(sd.stats().kicks, 2u);
    EXPECT_EQ(sd.stats().timeouts, 0u);
    // Each flushes on its next entry, the changer too.
    EXPECT_TRUE(sd.entering_guest(a));
    EXPECT_TRUE(sd.entering_guest(b));
    EXPECT_TRUE(sd.entering_guest(c));
}

TEST(CoreTlbShootdown, AVcpuThatNeverLeavesTimesOutAndIsCounted) {
    TlbShootdown sd;
    RecordingKicker k;
    k.sd = &sd;
    sd.set_kicker(&k);
    fake_ticks = 0;
    sd.set_clock(ticking_clock, 1000);
    const size_t a = sd.add_vcpu(100).value(), b = sd.add_vcpu(101).value();
    k.answer = {a}; // b is stuck (e.g. the kick was lost)
    (void)sd.entering_guest(a);
    (void)sd.entering_guest(b);
    EXPECT_FALSE(sd.flush_all());
    EXPECT_GE(fake_ticks, 1000u); // it waited the bound, then gave up
    EXPECT_EQ(sd.stats().timeouts, 1u);
    EXPECT_EQ(sd.stats().kicks, 2u);
    // When b finally exits, its next entry flushes.
    sd.left_guest(b);
    EXPECT_TRUE(sd.entering_guest(b));
    // Without a clock the changer does not wait at all.
    TlbShootdown no_clock;
    const size_t x = no_clock.add_vcpu(1).value();
    (void)no_clock.entering_guest(x);
    EXPECT_FALSE(no_clock.flush_all());
    EXPECT_EQ(no_clock.stats().timeouts, 1u);
}

TEST(CoreTlbShootdown, ASessionThatEndsAndRestartsCountsAsAnswered) {
    TlbShootdown sd;
    struct Reenter final : VcpuKicker {
        TlbShootdown* sd;
        size_t v;
        bool flushed = false;
        void kick(uint32_t) override {
            sd->left_guest(v);
            flushed = sd->entering_guest(v); // straight back in: sees the new generation
        }
    } k;
    k.sd = &sd;
    sd.set_kicker(&k);
    sd.set_clock(ticking_clock, 1000);
    k.v = sd.add_vcpu(5).value();
    (void)sd.entering_guest(k.v);
    EXPECT_TRUE(sd.flush_all()); // still odd, but a different session
    EXPECT_TRUE(k.flushed);
    EXPECT_EQ(sd.stats().timeouts, 0u);
}

TEST(CoreTlbShootdown, RefusesMoreVcpusThanItHolds) {
    TlbShootdown sd;
    for (size_t i = 0; i < TlbShootdown::max_vcpus; ++i) ASSERT_TRUE(sd.add_vcpu(static_cast<uint32_t>(i)).ok());
    EXPECT_FALSE(sd.add_vcpu(99).ok());
}

uint64_t steady_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

// Threads as vCPUs: each loops enter -> "run guest" (spins until kicked or
// a while) -> leave, publishing the generation its current session runs
// with. Whenever flush_all returns, every vCPU that is in the guest must run
// with the new generation (it flushed on entry): none is left in a session
// that began before the change.
TEST(CoreTlbShootdown, ConcurrentVcpusNeverRunWithAStaleGenerationAfterTheFlush) {
    constexpr size_t n = 3;
    TlbShootdown sd;
    struct Kicker final : VcpuKicker {
        std::atomic<bool> kick_flag[n]{};
        void kick(uint32_t t) override { kick_flag[t].store(true); }
    } kicker;
    sd.set_kicker(&kicker);
    sd.set_clock(steady_ns, 5'000'000'000ull);
    std::atomic<uint64_t> running_with[n]{};
    std::atomic<bool> in_guest[n]{};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(sd.add_vcpu(static_cast<uint32_t>(i)).value(), i);
    for (size_t i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            uint64_t have = 0;
            while (!stop.load()) {
                if (sd.entering_guest(i)) have = sd.generation();
                running_with[i].store(have);
                in_guest[i].store(true);
                for (int spin = 0; spin < 2000 && !kicker.kick_flag[i].exchange(false); ++spin)
                    std::this_thread::yield();
                in_guest[i].store(false);
                sd.left_guest(i);
            }
        });
    }
    // Wait until every vCPU thread runs (a loaded host may start them late),
    // then flush at least 300 times, and until the check has met vCPUs in
    // the guest and kicked some (bounded).
    for (size_t i = 0; i < n; ++i)
        while (!in_guest[i].load()) std::this_thread::yield();
    uint64_t stale = 0, seen_in_guest = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int round = 0; round < 300 || ((!seen_in_guest || !sd.stats().kicks) &&
                                        std::chrono::steady_clock::now() < until);
         ++round) {
        ASSERT_TRUE(sd.flush_all());
        const uint64_t g = sd.generation();
        for (size_t i = 0; i < n; ++i) {
            if (!in_guest[i].load()) continue;
            ++seen_in_guest;
            if (running_with[i].load() < g) ++stale;
        }
    }
    stop.store(true);
    for (auto& t : threads) t.join();
    EXPECT_EQ(stale, 0u);
    EXPECT_GT(seen_in_guest, 0u); // the check met vCPUs in the guest
    EXPECT_EQ(sd.stats().timeouts, 0u);
    EXPECT_GE(sd.stats().shootdowns, 300u);
    EXPECT_GT(sd.stats().kicks, 0u);
}

} // namespace
} // namespace sv

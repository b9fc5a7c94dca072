// Cross-vCPU nested-TLB shootdown, vendor-neutral (docs/design.md §3, §4
// rule 1). When the hypervisor changes a nested page mapping at run time (a
// trapped MMIO range added, moved or released: a BAR or window the guest
// moved), a processor still running guest code may hold the old
// guest-physical translation in its TLB and keep reaching the device
// directly. The changer therefore makes every vCPU drop those translations
// before the guest's access that caused the change completes:
//
//   vCPU side (the backend's run loop, host context, nothing can interrupt):
//     entering_guest(i)  just before entering the guest: marks the vCPU "in
//                        guest" (odd session), then reads the generation;
//                        true when it changed since this vCPU's last entry:
//                        the backend flushes its nested TLB on this entry
//                        (SVM: VMCB TLB_CONTROL, AMD APM vol. 2 §15.16).
//     left_guest(i)      right after the guest exited (even session).
//   changer (holding the exit handler's io_lock, in host context):
//     flush_all()        bumps the generation, kicks every vCPU that is in
//                        the guest (VcpuKicker: it must leave guest mode
//                        without the guest noticing; SVM: NMI IPI with the
//                        NMI intercept / VMX NMI exiting, core/nmi_kicker.hpp) and waits,
//                        bounded, until each has left the session it was in.
//
// Why this is enough: both sides use sequentially consistent accesses, so
// either the vCPU's entering_guest sees the new generation (and flushes on
// that entry), or the changer sees its odd session and waits until it ends;
// any later entry sees the new generation. A vCPU that is in the hypervisor
// (e.g. waiting for io_lock) is not waited for: it flushes before it enters.
// A timeout (a CPU that does not answer) is counted and logged once; the
// change is then in force on every other vCPU and on that one at its next
// exit (never a hang).
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/result.hpp"

namespace sv {

// Makes vCPU `target` (the id given to add_vcpu, e.g. its APIC id) leave
// guest mode soon, without the guest seeing an event.
class VcpuKicker {
  public:
    virtual void kick(uint32_t target) = 0;

  protected:
    ~VcpuKicker() = default;
};

struct TlbShootdownStats {
    uint64_t shootdowns = 0; // flush_all calls
    uint64_t kicks = 0;      // vCPUs kicked out of the guest
    uint64_t timeouts = 0;   // vCPUs that did not leave the guest in time
};

class TlbShootdown {
  public:
    static constexpr size_t max_vcpus = 64;
    using Clock = uint64_t (*)();

    // `now`: a monotonic tick source; a kicked vCPU that has not left its
    // session after `timeout_ticks` is given up on.
    void set_clock(Clock now, uint64_t timeout_ticks) {
        now_ = now;
        timeout_ = timeout_ticks;
    }
    void set_kicker(VcpuKicker* kicker) { kicker_ = kicker; }

    // At boot, before the vCPU first enters: its index for the calls below.
    [[nodiscard]] Result<size_t> add_vcpu(uint32_t target);

    [[nodiscard]] bool entering_guest(size_t vcpu);
    void left_guest(size_t vcpu);

    // Returns false when a vCPU timed out (counted, logged once).
    bool flush_all();

    uint64_t generation() const { return __atomic_load_n(&generation_, __ATOMIC_SEQ_CST); }
    // A snapshot; counters only grow.
    TlbShootdownStats stats() const;

  private:
    struct Vcpu {
        uint32_t target = 0;
        uint64_t session = 0;   // odd while in the guest
        uint64_t flushed = 0;   // generation this vCPU last flushed for
        uint64_t snapshot = 0;  // flush_all's scratch
    };
    Vcpu vcpus_[max_vcpus]{};
    size_t count_ = 0;
    uint64_t generation_ = 0;
    VcpuKicker* kicker_ = nullptr;
    Clock now_ = nullptr;
    uint64_t timeout_ = 0;
    TlbShootdownStats stats_;
    bool warned_ = false;
};

} // namespace sv

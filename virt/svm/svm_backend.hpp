// AMD-V (SVM) backend: checks the CPU, enables SVM, builds the VMCB with the
// I/O and MSR permission maps and nested paging, and runs the guest, turning
// each #VMEXIT into a vendor-neutral VmExit for the core's ExitHandler.
#pragma once

#include <cstdint>

#include "core/exit_handler.hpp"
#include "core/guest_entry.hpp"
#include "core/io_dispatch.hpp"
#include "core/phys_heap.hpp"
#include "core/vcpu_state.hpp"
#include "lib/result.hpp"
#include "virt/svm/vmcb.hpp"

namespace sv::svm {

// Logs a clear reason and fails when SVM or nested paging is missing or
// disabled by firmware (AMD APM vol. 2 §15.4 "Enabling SVM").
[[nodiscard]] Result<void> check_support();

class SvmVcpu {
  public:
    [[nodiscard]] Result<void> init(PhysHeap& heap, uint64_t npt_root, const IoDispatcher& io,
                                    const GuestEntry& entry);
    // Runs the guest until the exit handler asks to stop.
    void run(ExitHandler& handler);

  private:
    void trap_port(uint16_t port);
    void sync_io_intercepts(const IoDispatcher& io);
    void trap_msr(uint32_t msr);

    Vmcb* vmcb_ = nullptr;
    uint64_t vmcb_pa_ = 0;
    uint8_t* iopm_ = nullptr;
    uint8_t* msrpm_ = nullptr;
    bool has_nrip_ = false;
    const IoDispatcher* io_ = nullptr;
    uint64_t io_generation_ = 0;
    VcpuState state_;
};

} // namespace sv::svm

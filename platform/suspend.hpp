// S3 (suspend to RAM) under the hypervisor: the portable half (decisions and
// bookkeeping; platform/suspend_hw.cpp does the privileged steps).
//
// The sequence (ACPI 6.4 §7.4.2 "\_Sx", §16.1.6/§16.3 "Waking and Sleeping",
// §5.2.10 FACS; AMD APM vol. 2 §15.4 enabling SVM):
//  1. Request. The guest writes PM1 control SLP_TYP=\_S3 | SLP_EN (on Linux
//     after it stored its real-mode wakeup code's address in
//     FACS.firmware_waking_vector and offlined every AP). The write traps on
//     the BSP inside ExitHandler::handle_io (io_lock held); PowerControl
//     decodes it with the firmware's \_Sx values (devices/acpi/sleep_types.hpp)
//     and asks the S3 engine, its SuspendHandler, about S1-S3 (S5 wipes the
//     key, everything else it refuses itself). We take \_S3 only, and refuse
//     - SLP_EN dropped, one log line, and PM1 status shows WAK_STS as if the
//     platform had woken at once (devices/acpi/wake_status.hpp), so the
//     guest's wait ends and it runs on, under us - if any of these fails:
//     the request comes from the BSP; the host page tables lie below 4 GiB;
//     every AP could be taken out of the guest (parked in the hypervisor,
//     so no guest code can edit memory behind us from here on); the way
//     the firmware finds the FACS (RSDP, RSDT entries, FADT FIRMWARE_CTRL,
//     acpi::WakePath) is exactly as at boot; the guest's vector is a
//     real-mode one (x_firmware_waking_vector 0: 32/64-bit waking is not
//     implemented); a guest RAM page below 1 MiB exists for our
//     trampoline. Then: save that page's guest
//     contents in hypervisor memory and put the resume trampoline
//     (boot/resume_trampoline.S) there (no hypervisor memory lives below
//     16 MiB: the page is borrowed while the guest sleeps); record what the
//     resume needs (host CR3, CR4, a fresh stack); save the mediated PCI
//     functions' configuration; exchange the FACS vectors for ours. The key
//     is NOT wiped: the guest resumes with a working disk.
//  2. Sleep. The write goes to the hardware; the platform powers down to S3
//     (RAM self-refreshed, CPUs and devices reset). Should it not sleep, we
//     undo step 1 and let the guest continue.
//  3. Wake. The firmware runs its S3 resume path and jumps to the FACS
//     waking vector in real mode on the BSP: our trampoline. It enters long
//     mode on the hypervisor's page tables (still in RAM) with a fresh stack
//     (the old one and every lock held on it were abandoned) and calls
//     sv_resume_main: IDT, CR4/XCR0, shared locks released, virtualization
//     re-enabled (SVM: EFER.SVME, VM_HSAVE_PA), the mediated functions' configuration
//     restored and their mediators re-synced with the reset controllers (the
//     IDE bus master's PRD register points at the shadow table again before
//     the guest can START), the APs started into the hypervisor's
//     wait-for-STARTUP loop through the borrowed page (the guest's later
//     INIT/STARTUP brings them up as at boot), the guest's page and FACS
//     vectors restored, and finally the guest's BSP vCPU resumes in real
//     mode at its own waking vector (CS = vector >> 4, IP = vector & 0xF).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/guest_memory.hpp"
#include "core/memory_map.hpp"
#include "devices/acpi/facs.hpp"
#include "lib/result.hpp"

namespace sv::suspend {

// The sleeping state PowerControl's SuspendHandler may take: S3 only (S1
// and S2 keep CPU or cache context the hypervisor does not save: refused).
constexpr unsigned survivable_state = 3;

// The real-mode entry the guest gets at wake-up (ACPI 6.4 §5.2.10).
struct RealModeEntry {
    uint16_t cs = 0;
    uint16_t ip = 0;
};
// Refused (Unsupported) when the guest asked for 32/64-bit waking through
// x_firmware_waking_vector, NotFound when there is no vector, OutOfRange
// when it is not below 1 MiB.
[[nodiscard]] Result<RealModeEntry> guest_wake_entry(const acpi::WakingVectors& vectors);

// The lowest 4 KiB guest RAM page in [4 KiB, 640 KiB): below 1 MiB for the
// real-mode trampoline, clear of the IVT/BDA page. 0 when there is none.
uint64_t pick_trampoline_page(const MemoryMap& guest_map);

// A guest page lent to the hypervisor while the guest sleeps: its contents
// are kept here and put back, byte for byte, before the guest runs again.
class BorrowedPage {
  public:
    static constexpr size_t size = 4096;
    // Saves the page and writes `code` at its start (the rest zeroed).
    [[nodiscard]] Result<void> borrow(GuestMemory& memory, uint64_t pa, std::span<const uint8_t> code);
    // Hypervisor-side view of the borrowed page (nullptr when not borrowed).
    uint8_t* contents(GuestMemory& memory) const;
    // Puts the guest's bytes back; returns false when nothing was borrowed.
    bool restore(GuestMemory& memory);
    bool borrowed() const { return borrowed_; }
    uint64_t address() const { return pa_; }

  private:
    uint64_t pa_ = 0;
    bool borrowed_ = false;
    uint8_t saved_[size] = {};
};

} // namespace sv::suspend

// S3 engine, privileged half: the request on the BSP and the resume entry
// (sequence and spec citations in platform/suspend.hpp). The backend
// (core/virt_backend.hpp) is platform/main_hw.cpp's, behind the Platform hooks.
#include "platform/stops.hpp"
#include "platform/suspend_hw.hpp"

#include "arch/x86/cpu.hpp"
#include "arch/x86/local_apic.hpp"
#include "platform/devices_setup.hpp"
#include "platform/iommu_setup.hpp"
#include "core/exit_handler.hpp"
#include "devices/acpi/acpi_tables.hpp"
#include "devices/acpi/power_control.hpp"
#include "lib/log.hpp"

extern "C" const uint8_t sv_resume_trampoline_start[], sv_resume_trampoline_end[];
extern "C" const uint8_t sv_resume_gdtr_offset[]; // absolute symbol: its address is the offset
extern "C" const uint8_t sv_boot_gdt_ptr[6];
extern "C" uint64_t sv_resume_cr3, sv_resume_stack;


namespace sv::suspend {
namespace {
constexpr uint64_t cr4_osxsave = 1ull << 18;
constexpr uint64_t resume_stack_bytes = 32 * 1024;
alignas(16) uint8_t resume_stack[resume_stack_bytes];

enum Refusal : unsigned {
    not_s3 = 0, no_facs, facs_moved, no_vector, wake_mode, not_bsp, aps_busy, no_page, high_cr3, refusal_kinds
};
const char* const refusal_text[refusal_kinds] = {
    "sleeping state the hypervisor cannot survive (S1/S2: only S3 is taken)",
    "no usable FACS",
    "the ACPI tables that lead the firmware to the FACS changed since boot",
    "the FACS holds no real-mode waking vector below 1 MiB",
    "the guest's waking vector is not a real-mode one (32/64-bit waking is not implemented)",
    "requested on an application processor",
    "an application processor could not be taken out of the guest",
    "no guest RAM page below 640 KiB for the resume trampoline",
    "the host page tables lie above 4 GiB (the 32-bit resume path loads CR3)",
};

struct State {
    GuestMemory* firmware = nullptr;
    GuestMemory* guest_ram = nullptr;
    const MemoryMap* guest_map = nullptr;
    Platform platform{};
    uint64_t boot_facs = 0; // the FACS the firmware set up (before the guest ran)
    acpi::WakePath boot_path; // and how the firmware finds it
    uint8_t bsp_apic_id = 0;
    // Per sleep:
    acpi::WakingVectors guest_vectors;
    RealModeEntry guest_entry;
    uint64_t host_cr4 = 0;
    uint64_t host_xcr0 = 0;
    unsigned resumes = 0;
    unsigned refusals[refusal_kinds] = {};
    BorrowedPage page;
};
State state;

uint64_t tsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

// PowerControl drops SLP_EN and shows WAK_STS (the guest's wait ends).
bool refuse(Refusal why) {
    if (state.refusals[why]++ == 0)
        log::warn("sleep request refused: {}; the guest keeps running under the hypervisor", refusal_text[why]);
    return false;
}

// Undo of the request (the platform did not sleep, or a later step failed).
void give_back() {
    if (state.boot_facs) (void)acpi::exchange_waking_vectors(*state.firmware, state.boot_facs, state.guest_vectors);
    state.page.restore(*state.guest_ram);
}

// PowerControl's SuspendHandler: it decoded the request with the firmware's
// \_Sx values and asks about S1-S3 only (S5 wipes, the rest it refuses).
class S3Engine final : public acpi::SuspendHandler {
  public:
    bool on_suspend_to_ram(unsigned sleep_state, uint16_t, bool, uint16_t, uint8_t, uint32_t) override {
        if (sleep_state != survivable_state) return refuse(not_s3);
        return prepare();
    }
    void sleep_write_returned() override {
        // The sleep takes effect within microseconds (QEMU stops the CPU at
        // the write). Still here a second later: the platform did not sleep.
        const uint64_t start = tsc();
        while (tsc() - start < 4'000'000'000ull) __builtin_ia32_pause();
        log::warn("S3: the platform did not sleep; the guest continues");
        give_back(); // PowerControl then shows WAK_STS: the guest's wait ends
    }

  private:
    bool prepare() {
        if (!state.boot_facs) return refuse(no_facs);
        if (x86::lapic::current_id() != state.bsp_apic_id) return refuse(not_bsp);
        if (x86::read_cr3() >> 32) return refuse(high_cr3);
        const uint64_t page = pick_trampoline_page(*state.guest_map);
        if (!page) return refuse(no_page);
        if (!state.page.borrow(*state.guest_ram, page, {}).ok()) return refuse(no_page);
        if (state.platform.park_other_cpus && !state.platform.park_other_cpus(page)) {
            state.page.restore(*state.guest_ram);
            return refuse(aps_busy);
        }
        // Now no guest code runs anywhere: what we read is what the firmware
        // will read at wake-up.
        Result<acpi::WakePath> path = acpi::read_wake_path(*state.firmware);
        if (!path.ok() || !(path.value() == state.boot_path)) {
            state.page.restore(*state.guest_ram);
            return refuse(facs_moved);
        }
        Result<acpi::WakingVectors> vectors = acpi::read_waking_vectors(*state.firmware, state.boot_facs);
        Result<RealModeEntry> entry = vectors.ok() ? guest_wake_entry(vectors.value()) : fail(vectors.error());
        if (!entry.ok()) {
            state.page.restore(*state.guest_ram);
            if (!vectors.ok()) return refuse(no_facs);
            return refuse(entry.error() == Error::Unsupported ? wake_mode : no_vector);
        }
        // The page becomes the resume trampoline.
        uint8_t* code = state.page.contents(*state.guest_ram);
        const size_t blob = static_cast<size_t>(sv_resume_trampoline_end - sv_resume_trampoline_start);
        for (size_t i = 0; i < BorrowedPage::size; ++i) code[i] = i < blob ? sv_resume_trampoline_start[i] : 0;
        const uintptr_t gdtr = reinterpret_cast<uintptr_t>(sv_resume_gdtr_offset);
        for (size_t i = 0; i < 6; ++i) code[gdtr + i] = sv_boot_gdt_ptr[i];

        state.guest_vectors = vectors.value();
        state.guest_entry = entry.value();
        state.host_cr4 = x86::read_cr4();
        state.host_xcr0 = (state.host_cr4 & cr4_osxsave) ? x86::xgetbv(0) : 0;
        sv_resume_cr3 = x86::read_cr3(); // host page tables: heap below 4 GiB (32-bit load)
        sv_resume_stack = reinterpret_cast<uint64_t>(resume_stack + resume_stack_bytes);
        save_devices_for_sleep();
        acpi::WakingVectors ours;
        ours.firmware = static_cast<uint32_t>(page);
        if (!acpi::exchange_waking_vectors(*state.firmware, state.boot_facs, ours).ok()) {
            state.page.restore(*state.guest_ram);
            return refuse(no_facs);
        }
        log::info("S3: suspend to RAM; guest waking vector {:x}:{:x}, the firmware returns to the "
                  "hypervisor at {:x}; the disk key is kept",
                  state.guest_entry.cs, state.guest_entry.ip, page);
        return true;
    }
};
S3Engine s3_engine;

} // namespace

void configure(GuestMemory& firmware, GuestMemory& guest_ram, const MemoryMap& guest_map, const Platform& platform) {
    state.firmware = &firmware;
    state.guest_ram = &guest_ram;
    state.guest_map = &guest_map;
    state.platform = platform;
    state.bsp_apic_id = x86::lapic::current_id();
    Result<uint64_t> facs = acpi::find_facs(firmware);
    Result<acpi::WakePath> path = acpi::read_wake_path(firmware);
    // The FACS both we and a firmware walking the RSDT find (SeaBIOS uses
    // FIRMWARE_CTRL): anything else and S3 stays off.
    state.boot_facs = facs.ok() && path.ok() && path.value().firmware_ctrl == facs.value() ? facs.value() : 0;
    if (path.ok()) state.boot_path = path.value();
    // PowerControl decodes \_Sx (QEMU's values when the DSDT has none).
    Result<acpi::SleepTypes> found = acpi::find_sleep_types(firmware);
    const acpi::SleepTypes types = found.ok() ? found.value() : acpi::SleepTypes::qemu_defaults();
    if (types.has(survivable_state) && state.boot_facs)
        log::info("ACPI: S3 (SLP_TYP {}) is survived under the hypervisor (FACS at {:x})",
                  types.slp_typ_a(survivable_state), state.boot_facs);
    else
        log::info("ACPI: S3 not offered by the firmware or no usable FACS: sleep requests other than S5 are refused");
    power_controls().set_suspend_handler(&s3_engine);
}

unsigned resume_count() { return state.resumes; }

} // namespace sv::suspend

// The firmware's S3 resume path lands here (boot/resume_trampoline.S), on the
// BSP, in long mode on the hypervisor's page tables and a fresh stack.
extern "C" [[noreturn]] void sv_resume_main() {
    using namespace sv;
    using namespace sv::suspend;
    x86::install_idt();
    // CR4 beyond what ENTER_LONG_MODE sets (e.g. OSXSAVE) and XCR0 as they were.
    x86::write_cr4(state.host_cr4);
    if (state.host_cr4 & cr4_osxsave) x86::xsetbv(0, state.host_xcr0);
    release_locks_after_resume();
    ++state.resumes;
    log::info("S3 resume {}: the hypervisor is back in control", state.resumes);
    state.platform.reenable_this_cpu();
    resume_iommu(); // before any device is given its configuration back
    resync_devices_after_resume();
    if (state.platform.restart_other_cpus) state.platform.restart_other_cpus(state.page.address());
    (void)acpi::exchange_waking_vectors(*state.firmware, state.boot_facs, state.guest_vectors);
    state.page.restore(*state.guest_ram);
    log::info("S3 resume {}: guest resumes at its waking vector {:x}:{:x}", state.resumes, state.guest_entry.cs,
              state.guest_entry.ip);
    state.platform.run_guest_at(state.guest_entry);
    log::error("S3 resume: the guest stopped");
    fatal_stop();
}

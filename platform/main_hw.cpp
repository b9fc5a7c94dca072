// Boot sequence of the hypervisor (called from boot/entry32.S in long mode):
// parse multiboot, reserve and hide our memory, stage the guest kernel, build
// nested paging, pick the virtualization backend (platform/backend_select.hpp),
// enable it and run the guest. Each step fails closed with a
// clear console message: no guest starts on bad input.
#include "arch/x86/cpu.hpp"
#include "platform/stops.hpp"
#include "platform/boot_options.hpp"
#include "platform/devices_setup.hpp"
#include "platform/iommu_setup.hpp"
#include "core/guest_entry.hpp"
#include "core/guest_loader.hpp"
#include "core/hypervisor_memory.hpp"
#include "core/linux_boot.hpp"
#include "core/multiboot.hpp"
#include "core/nested_paging.hpp"
#include "platform/smp.hpp"
#include "platform/suspend_hw.hpp"
#include "arch/x86/local_apic.hpp"
#include "arch/x86/xsave.hpp"
#include "crypto/cpu_features.hpp"
#include "crypto/xcr0_switch.hpp"
#include "core/phys_heap.hpp"
#include "core/tlb_shootdown.hpp"
#include "core/virt_backend.hpp"
#include "lib/cycle_profile.hpp"
#include "lib/log.hpp"
#include "platform/backend_select.hpp"

extern "C" void (*__init_array_start[])();
extern "C" void (*__init_array_end[])();


namespace sv {
namespace {

// Loader memory before we own any page tables: identity-mapped below 4 GiB.
class BootMemory final : public GuestMemory {
  public:
    uint8_t* map(uint64_t pa, uint64_t len) override {
        if (pa + len < pa || pa + len > (4ull << 30) || pa == 0) return nullptr;
        return reinterpret_cast<uint8_t*>(pa);
    }
};

BootInfo boot_info;
BootMemory boot_memory;
HypervisorMemory hv_memory;
GuestRam guest_ram;

// Reads of write-trapped-only MMIO ranges (the local APIC page) by the
// read-modify-write forms the MMIO emulator re-does (core/mmio_emulate.hpp):
// the host page tables map [0, map top) 1:1, and the guest reads those pages
// natively anyway. Never hypervisor memory.
class DeviceMemory final : public GuestMemory {
  public:
    uint8_t* map(uint64_t pa, uint64_t len) override {
        if (!hv_memory.nested_mapped(pa, len) || hv_memory.overlaps(pa, len)) return nullptr;
        return reinterpret_cast<uint8_t*>(pa);
    }
} device_memory;
IoDispatcher io_dispatcher;
MmioDispatcher mmio_dispatcher; // shared by all vCPUs, like io_dispatcher
VirtBackend* backend = nullptr; // chosen once, before any other use (select_backend)
Vcpu* vcpu0 = nullptr;           // the BSP's
constexpr size_t bsp_cpu = 0;    // host CPU index of the BSP (core/virt_backend.hpp)
// Nested-TLB shootdown on every vCPU when a trapped MMIO range changes
// (core/tlb_shootdown.hpp); the backend kicks (an NMI, core/nmi_kicker.hpp).
TlbShootdown tlb_shootdown;
constexpr uint64_t shootdown_timeout_tsc = 4'000'000'000ull; // ~1 s and more: a kick takes microseconds

uint64_t read_tsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

void log_shootdown_statistics() {
    const TlbShootdownStats s = tlb_shootdown.stats();
    log::info("nested TLB shootdowns {} vCPUs kicked {} timeouts {}", s.shootdowns, s.kicks, s.timeouts);
    backend->log_kick_statistics();
    log_iommu_statistics();
}

[[noreturn]] void refuse(const char* what) {
    log::error("refusing to start the guest: {}", what);
    fatal_stop();
}

CpuidValues host_cpuid(uint32_t leaf, uint32_t subleaf) {
    const x86::CpuidResult r = x86::cpuid(leaf, subleaf);
    return CpuidValues{r.eax, r.ebx, r.ecx, r.edx};
}

constexpr uint32_t hypervisor_version = 0x000100; // 0.1.0, reported by VMMCALL
bool xsave_on = false;

uint64_t read_xcr0() { return x86::xgetbv(0); }
void write_xcr0(uint64_t v) { x86::xsetbv(0, v); }

// What every vCPU's exit handler needs besides its constructor arguments.
void configure_exit_handler(ExitHandler& handler) {
    handler.set_passthrough(&hardware_ports());
    handler.set_host_msr([](uint32_t msr) { return x86::rdmsr(msr); },
                         [](uint32_t msr, uint64_t value) { x86::wrmsr(msr, value); });
    handler.set_mmio(&mmio_dispatcher);
    handler.set_mmio_device_memory(&device_memory);
    handler.set_vendor_msrs(backend->vendor_msrs());
    if (xsave_on) handler.set_xcr0(read_xcr0, write_xcr0);
    handler.set_clock(read_tsc); // exit timing (ExitCycles), logged at power-off
    profile::set_clock(read_tsc);
}

// S3 (platform/suspend.hpp): the backend's side of sleeping and waking.
ExitHandler* bsp_handler = nullptr;

const suspend::Platform s3_platform{
    .park_other_cpus = [](uint64_t page) { return smp::park_application_processors(guest_ram, page); },
    .reenable_this_cpu = [] { backend->enable_on_this_cpu(bsp_cpu); },
    .restart_other_cpus = [](uint64_t page) { (void)smp::restart_application_processors(guest_ram, page); },
    .run_guest_at =
        [](const suspend::RealModeEntry& entry) {
            vcpu0->start_at_waking_vector(entry.cs, entry.ip);
            if (vcpu0->run(*bsp_handler) == ExitHandler::Action::ResetPlatform) reset_platform("triple fault");
        },
};

void run_constructors() {
    for (auto* f = __init_array_start; f != __init_array_end; ++f) (*f)();
}

} // namespace
} // namespace sv

extern "C" [[noreturn]] void sv_main(uint32_t magic, uint64_t info) {
    using namespace sv;
    x86::install_idt();
    run_constructors();
    log::info("shadowvisor {} (multiboot {})", SV_VERSION, magic == multiboot2_boot_magic ? 2 : 1);

    if (!parse_multiboot(magic, info, boot_memory, boot_info).ok())
        refuse("no usable multiboot information (need a memory map)");
    const char* bad = nullptr;
    size_t bad_len = 0;
    Result<BootOptions> opts = parse_boot_options(boot_info.cmdline, &bad, &bad_len);
    if (!opts.ok()) {
        char word[80];
        const size_t n = bad_len < sizeof word - 1 ? bad_len : sizeof word - 1;
        for (size_t i = 0; i < n; ++i) word[i] = bad[i];
        word[n] = 0;
        log::error("hypervisor option '{}' is unknown or malformed (known: loglevel=debug|info|warn|error, "
                   "allow_dma=VVVV:DDDD|BB:DD.F[,...] in hex)",
                   static_cast<const char*>(word));
        refuse("unknown or malformed hypervisor option on the command line");
    }
    log::set_level(opts.value().log_level);

    backend = select_backend();
    if (!backend) refuse("no usable hardware virtualization");
    // XCR0 from here on is the guest's (no backend switches it); the crypto
    // switches to its own bits per request. Detect the engines after that.
    xsave_on = x86::enable_xsave();
    if (xsave_on) crypto::set_xcr0_access({read_xcr0, write_xcr0});
    (void)crypto::detail::cpu_features();

    const StorageInventory storage = scan_storage();
    if (!hv_memory.reserve(boot_info, HypervisorMemory::default_heap_bytes + storage.shadow_bytes()).ok())
        refuse("cannot reserve hypervisor memory");
    hv_memory.log_summary();
    if (!load_disk_key(boot_info, boot_memory).ok()) refuse("bad disk key");

    Result<GuestEntry> entry = stage_linux_guest(boot_info, hv_memory, boot_memory);
    if (!entry.ok()) refuse("cannot load the guest kernel (see above)");

    Result<uint64_t> npt_root = hv_memory.build_nested_paging(backend->nested_format(), backend->nested_tlb_flush());
    if (!npt_root.ok()) refuse("cannot build nested page tables");
    guest_ram.init(hv_memory.guest_map());
    io_dispatcher.set_trap_hook([](uint16_t first, uint32_t count) { backend->trap_ports_now(first, count); });
    mmio_dispatcher.set_mapper(&hv_memory);
    tlb_shootdown.set_clock(read_tsc, shootdown_timeout_tsc);
    tlb_shootdown.set_kicker(&backend->vcpu_kicker());
    mmio_dispatcher.set_shootdown(&tlb_shootdown);
    set_extra_statistics(log_shootdown_statistics);
    const size_t heap_before_devices = hv_memory.heap().used();
    hv_memory.heap().restart_dma_extents(); // the IOMMU maps the mediators' DMA memory alone
    if (!setup_devices(hv_memory, guest_ram, boot_memory, io_dispatcher, mmio_dispatcher, opts.value().allow_dma).ok())
        refuse("cannot set up the device mediators");
    if (!setup_iommu(hv_memory, boot_memory, mmio_dispatcher, heap_before_devices).ok())
        refuse("cannot take the IOMMU from the guest");
    suspend::configure(boot_memory, guest_ram, hv_memory.guest_map(), s3_platform);

    if (!backend->set_intercepts(hv_memory.heap(), io_dispatcher).ok()) refuse("out of hypervisor memory");
    if (!backend->prepare_cpu(bsp_cpu, hv_memory.heap()).ok()) refuse("out of hypervisor memory");
    backend->enable_on_this_cpu(bsp_cpu);
    const smp::VcpuFactory factory{host_cpuid, hypervisor_version, configure_exit_handler, &tlb_shootdown};
    const Result<size_t> aps = smp::start_application_processors(hv_memory, boot_memory, guest_ram, *backend,
                                                                 npt_root.value(), io_dispatcher, factory);
    if (!aps.ok()) refuse("cannot bring the other processors under the hypervisor");
    // The APs wait for the guest's STARTUP (they run no guest code yet), so
    // the APIC write trap is in the shared dispatcher before any vCPU could
    // write the page.
    static MmioRange apic_range;
    if (MmioWriteHandler* apic = smp::apic_write_handler())
        if (!mmio_dispatcher.add(apic_range, x86::lapic::base(), 4096, *apic).ok())
            refuse("cannot trap the local APIC page");
    Result<Vcpu*> bsp_vcpu = backend->create_vcpu(hv_memory.heap(), npt_root.value(), io_dispatcher, entry.value());
    if (!bsp_vcpu.ok()) refuse("cannot set up the virtual CPU");
    vcpu0 = bsp_vcpu.value();
    if (aps.value() > 0) { // one CPU: nothing to shoot down, no NMI intercept
        const uint8_t bsp = x86::lapic::current_id();
        const Result<size_t> index = tlb_shootdown.add_vcpu(bsp);
        if (!index.ok()) refuse("too many processors for the nested TLB shootdown");
        vcpu0->set_shootdown(tlb_shootdown, index.value(), bsp);
    }
    static ExitHandler handler(io_dispatcher, guest_ram, host_cpuid, hypervisor_version);
    configure_exit_handler(handler);
    set_exit_counters_source(&handler.counters());
    bsp_handler = &handler;
    log::info("starting guest at {:x}", entry.value().rip);
    if (vcpu0->run(handler) == ExitHandler::Action::ResetPlatform) reset_platform("triple fault");
    log::error("guest stopped unexpectedly");
    fatal_stop();
}

#include "platform/smp.hpp"
#include "platform/stops.hpp"

#include <new>

#include "arch/x86/cpu.hpp"
#include "arch/x86/local_apic.hpp"
#include "arch/x86/xsave.hpp"
#include "devices/acpi/acpi_tables.hpp"
#include "devices/apic/apic_mediator.hpp"
#include "lib/log.hpp"
#include "lib/spinlock.hpp"

extern "C" const uint8_t sv_ap_trampoline_start[], sv_ap_trampoline_end[];
extern "C" const uint8_t sv_boot_gdt_ptr[6]; // lgdt operand: u16 limit, u32 base
extern "C" const uint8_t sv_ap_gdtr_offset[]; // absolute symbol: its address is the offset
extern "C" uint64_t sv_ap_cr3, sv_ap_stack;


namespace sv::smp {
namespace {
// A free page below 1 MiB for the real-mode trampoline: clear of the BIOS
// data area and of the loader's structures at 0x6000-0x9FFF (linux_boot.cpp).
constexpr uint64_t trampoline_page = 0x3000;
constexpr uint64_t ap_stack_bytes = 16 * 1024;

struct Processor {
    uint8_t apic_id = 0xFF;
    bool online = false;          // the AP reached its wait loop
    bool waiting = false;         // in wait-for-STARTUP
    bool startup_pending = false; // a virtual STARTUP arrived
    uint8_t vector = 0;
    size_t cpu = 0;               // host CPU index for the backend (BSP: 0)
    uint64_t stack_top = 0;
    Vcpu* vcpu = nullptr;         // the backend's
    ExitHandler* handler = nullptr;
};

VirtBackend* backend = nullptr;
Processor processors[max_application_processors];
size_t processor_count = 0;
alignas(ExitHandler) uint8_t handler_storage[max_application_processors][sizeof(ExitHandler)];

Processor* find(uint8_t apic_id) {
    for (size_t i = 0; i < processor_count; ++i)
        if (processors[i].apic_id == apic_id) return &processors[i];
    return nullptr;
}

template <class T> T load(const T& v) { return __atomic_load_n(&v, __ATOMIC_ACQUIRE); }
template <class T> void store(T& v, T x) { __atomic_store_n(&v, x, __ATOMIC_RELEASE); }

class HardwareApicRegisters final : public apic::ApicRegisters {
  public:
    uint32_t read(uint32_t reg) override { return x86::lapic::read(reg); }
    void write(uint32_t reg, uint32_t value) override { x86::lapic::write(reg, value); }
};

// Virtual INIT/STARTUP: only an AP waiting for STARTUP starts (SDM vol. 3A
// §8.4: a STARTUP is ignored by a running processor, so the second STARTUP
// of the usual INIT-STARTUP-STARTUP sequence has no effect).
class ApControl final : public apic::ProcessorControl {
  public:
    void init(uint8_t apic_id) override {
        Processor* p = find(apic_id);
        // An INIT to the bootstrap processor would restart the guest on a
        // machine that still holds the key: never delivered (issue 7 class
        // 7). Without an AP the APIC page is not trapped; then the INIT
        // exits (#VMEXIT INIT) and the BSP's fatal stop wipes the key.
        if (!p && !warned_bsp_) {
            log::warn("INIT to processor {} (the bootstrap processor) ignored", apic_id);
            warned_bsp_ = true;
        }
        if (p && !load(p->waiting) && !warned_) {
            log::warn("INIT to running processor {} ignored (CPU hot-unplug is not supported)", apic_id);
            warned_ = true;
        }
    }
    void startup(uint8_t apic_id, uint8_t vector) override {
        Processor* p = find(apic_id);
        if (!p || !load(p->waiting)) return;
        p->vector = vector;
        store(p->startup_pending, true);
    }
    void for_each_other(uint8_t self, void (*fn)(ProcessorControl&, uint8_t, uint8_t), uint8_t vector) override {
        for (size_t i = 0; i < processor_count; ++i)
            if (processors[i].apic_id != self) fn(*this, processors[i].apic_id, vector);
    }

  private:
    bool warned_ = false;
    bool warned_bsp_ = false;
};

HardwareApicRegisters apic_registers;
ApControl ap_control;
apic::ApicMediator apic_mediator(apic_registers, ap_control);
SpinLock apic_lock;

class ApicMmio final : public MmioWriteHandler {
  public:
    void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) override {
        LockGuard guard(apic_lock);
        apic_mediator.guest_write(static_cast<uint32_t>(gpa & (apic::page_size - 1)), size,
                                  static_cast<uint32_t>(value));
    }
};
ApicMmio apic_mmio;
bool apic_trapped = false;

bool wait_for(const bool& flag) {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    const uint64_t start = (static_cast<uint64_t>(hi) << 32) | lo;
    while (!load(flag)) {
        asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
        if (((static_cast<uint64_t>(hi) << 32) | lo) - start > 20'000'000'000ull) return false;
        __builtin_ia32_pause();
    }
    return true;
}
bool wait_online(const Processor& p) { return wait_for(p.online); }

// The real-mode blob and our GDT pointer into a page below 1 MiB.
bool install_trampoline(uint8_t* page) {
    const size_t blob = static_cast<size_t>(sv_ap_trampoline_end - sv_ap_trampoline_start);
    if (!page || blob > 4096) return false;
    for (size_t i = 0; i < blob; ++i) page[i] = sv_ap_trampoline_start[i];
    const uintptr_t gdtr = reinterpret_cast<uintptr_t>(sv_ap_gdtr_offset);
    for (size_t i = 0; i < 6; ++i) page[gdtr + i] = sv_boot_gdt_ptr[i];
    return true;
}
} // namespace

MmioWriteHandler* apic_write_handler() { return apic_trapped ? &apic_mmio : nullptr; }

Result<size_t> start_application_processors(HypervisorMemory& hv, GuestMemory& firmware, GuestMemory& guest_ram,
                                            VirtBackend& virt, uint64_t npt_root, IoDispatcher& io,
                                            const VcpuFactory& factory) {
    uint8_t ids[64];
    Result<size_t> listed = acpi::find_processor_apic_ids(firmware, ids, sizeof ids);
    if (!listed.ok()) {
        log::warn("no usable MADT ({}): starting no other processors", to_string(listed.error()));
        return size_t{0};
    }
    log::info("MADT lists {} processors", listed.value());
    if (listed.value() <= 1) return size_t{0};
    backend = &virt;
    const uint8_t bsp = x86::lapic::current_id();
    if (listed.value() - 1 > max_application_processors) {
        log::error("{} processors: at most {} are supported", listed.value(), max_application_processors + 1);
        return fail(Error::Unsupported);
    }
    // From now on the guest's APIC writes are watched, so it cannot start a
    // processor behind our back (even one that fails to come up below).
    TRY(hv.trap_writes(x86::lapic::base()));
    apic_trapped = true;

    uint8_t* page = guest_ram.map(trampoline_page, 4096);
    if (!install_trampoline(page)) return fail(Error::OutOfMemory);

    size_t online = 0;
    for (size_t i = 0; i < listed.value(); ++i) {
        if (ids[i] == bsp) continue;
        Processor& p = processors[processor_count];
        p.apic_id = ids[i];
        p.cpu = processor_count + 1;
        TRY(virt.prepare_cpu(p.cpu, hv.heap()));
        const DmaBuffer stack = TRY(hv.heap().allocate(ap_stack_bytes, 16));
        p.vcpu = TRY(virt.create_vcpu(hv.heap(), npt_root, io, GuestEntry{}));
        if (factory.shootdown) {
            const size_t index = TRY(factory.shootdown->add_vcpu(p.apic_id));
            p.vcpu->set_shootdown(*factory.shootdown, index, p.apic_id);
        }
        p.handler = new (handler_storage[processor_count]) ExitHandler(io, guest_ram, factory.host_cpuid, factory.version);
        factory.configure(*p.handler);
        ++processor_count;
        sv_ap_cr3 = x86::read_cr3();
        p.stack_top = stack.phys + stack.size;
        sv_ap_stack = p.stack_top;
        x86::lapic::start_processor(p.apic_id, static_cast<uint8_t>(trampoline_page >> 12));
        if (wait_online(p)) {
            ++online;
        } else {
            log::error("processor {} did not start: the guest cannot use it", p.apic_id);
        }
    }
    for (size_t i = 0; i < 4096; ++i) page[i] = 0; // guest RAM again
    log::info("{} application processors under the hypervisor, waiting for the guest's STARTUP", online);
    return online;
}

bool park_application_processors(GuestMemory& guest_ram, uint64_t trampoline_page) {
    bool trampoline = false;
    bool all = true;
    size_t parked = 0;
    for (size_t i = 0; i < processor_count; ++i) {
        Processor& p = processors[i];
        if (!load(p.online) || load(p.waiting)) continue;
        if (!trampoline && !(trampoline = install_trampoline(guest_ram.map(trampoline_page, 4096)))) return false;
        sv_ap_cr3 = x86::read_cr3();
        sv_ap_stack = p.stack_top; // the frames of its guest run are abandoned
        x86::lapic::start_processor(p.apic_id, static_cast<uint8_t>(trampoline_page >> 12));
        if (!wait_for(p.waiting)) {
            log::error("processor {} did not leave the guest for the sleep", p.apic_id);
            all = false;
        } else {
            ++parked;
        }
    }
    if (parked) log::info("S3: {} application processors taken out of the guest and parked", parked);
    return all;
}

size_t restart_application_processors(GuestMemory& guest_ram, uint64_t trampoline_page) {
    if (!processor_count) return 0;
    if (!install_trampoline(guest_ram.map(trampoline_page, 4096))) {
        log::error("S3 resume: no trampoline page: the application processors stay off");
        return 0;
    }
    size_t online = 0;
    for (size_t i = 0; i < processor_count; ++i) {
        Processor& p = processors[i];
        store(p.online, false);
        store(p.waiting, false);
        store(p.startup_pending, false);
        sv_ap_cr3 = x86::read_cr3();
        sv_ap_stack = p.stack_top;
        x86::lapic::start_processor(p.apic_id, static_cast<uint8_t>(trampoline_page >> 12));
        if (wait_online(p)) ++online;
        else log::error("processor {} did not restart after S3: the guest cannot use it", p.apic_id);
    }
    log::info("S3 resume: {} application processors back under the hypervisor, waiting for the guest's STARTUP",
              online);
    return online;
}

} // namespace sv::smp

// Each AP lands here from boot/ap_trampoline.S, in long mode on its own stack.
extern "C" [[noreturn]] void sv_ap_main() {
    using namespace sv;
    using namespace sv::smp;
    x86::install_idt();
    Processor* p = find(x86::lapic::current_id());
    if (!p) x86::halt_forever();
    backend->enable_on_this_cpu(p->cpu);
    (void)x86::enable_xsave(); // same CPUs: the BSP's answer holds here too
    store(p->waiting, true);
    store(p->online, true);
    for (;;) {
        while (!load(p->startup_pending)) __builtin_ia32_pause();
        store(p->waiting, false);
        store(p->startup_pending, false);
        p->vcpu->start_in_real_mode(p->vector);
        const ExitHandler::Action action = p->vcpu->run(*p->handler);
        if (action == ExitHandler::Action::ResetPlatform) reset_platform("triple fault");
        if (action == ExitHandler::Action::StopGuest) {
            log::error("processor {}: guest stopped", p->apic_id);
            fatal_stop();
        }
        store(p->waiting, true); // INIT: back to wait-for-STARTUP
    }
}

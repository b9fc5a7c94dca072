#include "platform/iommu_setup.hpp"

#include <new>

#include "devices/acpi/acpi_tables.hpp"
#include "devices/acpi/table_hide.hpp"
#include "arch/x86/local_apic.hpp"
#include "core/nmi_sink.hpp"
#include "devices/iommu/vtd/dmar.hpp"
#include "devices/iommu/vtd/fault_sink.hpp"
#include "devices/iommu/vtd/register_guard.hpp"
#include "devices/iommu/vtd/vtd_tables.hpp"
#include "devices/iommu/vtd/vtd_unit.hpp"
#include "lib/log.hpp"
#include "devices/pci/pci_config.hpp"
#include "platform/amdvi_setup.hpp"
#include "platform/devices_setup.hpp"
#include "platform/stops.hpp"

namespace sv {
namespace {

// A unit's register page through the host's identity map (MMIO below the
// map top, uncached per the MTRRs), accessed at the register's own size.
class MappedRegisters final : public vtd::VtdRegisterIo {
  public:
    void init(uint64_t base) { base_ = base; }
    uint32_t read32(uint32_t off) override { return *reinterpret_cast<volatile uint32_t*>(base_ + off); }
    uint64_t read64(uint32_t off) override { return *reinterpret_cast<volatile uint64_t*>(base_ + off); }
    void write32(uint32_t off, uint32_t v) override { *reinterpret_cast<volatile uint32_t*>(base_ + off) = v; }
    void write64(uint32_t off, uint64_t v) override { *reinterpret_cast<volatile uint64_t*>(base_ + off) = v; }

  private:
    uint64_t base_ = 0;
};

constexpr size_t max_units = vtd::DmarInfo::max_units;
vtd::DmarInfo dmar;
MappedRegisters registers[max_units];
// Constructed in place once the registers are known (VtdUnit holds a reference).
alignas(vtd::VtdUnit) unsigned char unit_storage[max_units][sizeof(vtd::VtdUnit)];
vtd::VtdUnit* units[max_units];
bool unit_on[max_units];
size_t units_on = 0;
vtd::RegisterGuard guard;
MmioRange guarded[max_units];
size_t guarded_count = 0;

uint64_t root_table = 0;

// Config reads for the DMAR scope paths and the class code.
class Bridges final : public vtd::BridgeBuses {
  public:
    bool buses(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t& secondary, uint8_t& subordinate) override {
        pci::ConfigSpace config(hardware_ports());
        const pci::Address a{bus, dev, fn};
        if (static_cast<uint16_t>(config.read32(a, 0)) == 0xFFFF) return false;
        if ((config.read8(a, 0x0E) & 0x7F) != pci::header_type_bridge) return false;
        secondary = config.read8(a, 0x19);   // PCI-PCI Bridge 1.2 §3.2.5.4
        subordinate = config.read8(a, 0x1A); // §3.2.5.5
        return true;
    }
};

// A function is confined when every unit is translating and one of them
// covers it (its DMAR scope, or INCLUDE_PCI_ALL). Storage controllers are
// never: an unmediated one could put the guest's plaintext on its disk with
// a key loaded, IOMMU or not (devices_setup keeps them from DMA).
class VtdConfinement final : public pci::DmaConfinement {
  public:
    bool confines(pci::Address a) const override {
        if (!units_on || units_on != dmar.unit_count) return false;
        pci::ConfigSpace config(hardware_ports());
        constexpr uint8_t class_mass_storage = 0x01; // PCI 3.0 Appendix D
        if ((config.read32(a, 0x08) >> 24) == class_mass_storage) return false;
        Bridges bridges;
        return vtd::unit_for(dmar, 0, a.bus, a.device, a.function, bridges) != nullptr;
    }
} confinement;

void write_back_caches() { asm volatile("wbinvd" ::: "memory"); }

void log_fault(const vtd::Fault& f) {
    log::warn("iommu: blocked DMA {} at {:x} from PCI {}:{}.{} (VT-d fault reason {}; further faults of this "
              "device are only counted)",
              f.read ? "read" : "write", f.address, f.source >> 8, (f.source >> 3) & 31, f.source & 7, f.reason);
}

// First time per unit and kind; every time counted by the unit.
void log_unit_error(const vtd::VtdUnit& u, uint32_t errors) {
    static uint32_t logged[max_units];
    size_t unit = 0;
    while (unit + 1 < dmar.unit_count && units[unit] != &u) ++unit;
    const uint32_t fresh = errors & ~logged[unit];
    if (!fresh) return;
    logged[unit] |= fresh;
    log::error("iommu: VT-d unit at {:x} reports{}{}{} (the hypervisor queues no invalidations: cleared, counted)",
               dmar.units[unit].register_base,
               fresh & vtd::fsts::invalidation_queue_error ? " an invalidation queue error (IQE)" : "",
               fresh & vtd::fsts::invalidation_completion_error ? " an invalidation completion error (ICE)" : "",
               fresh & vtd::fsts::invalidation_timeout ? " an invalidation time-out (ITE)" : "");
}

// Every unit's fault event is an NMI to the BSP (set_up_fault_events).
static_assert(vtd::FaultSink::max_units >= max_units);
alignas(vtd::FaultSink) unsigned char sink_storage[sizeof(vtd::FaultSink)];
vtd::FaultSink* fault_sink = nullptr; // registered with nmi_sinks()

// Routes every translating unit's fault event to this CPU (the BSP, at
// boot and at the S3 resume) as an NMI and registers the sink; a unit that
// refuses is drained at the statistics only (and said so).
void set_up_fault_events() {
    const uint8_t bsp = x86::lapic::current_id();
    if (!fault_sink) {
        auto* sink = new (sink_storage) vtd::FaultSink(bsp, log_fault, log_unit_error);
        for (size_t i = 0; i < dmar.unit_count; ++i)
            if (unit_on[i]) (void)sink->add(*units[i]); // room for every unit (static_assert)
        if (!nmi_sinks().add(*sink)) {
            log::error("iommu: no NMI sink left: VT-d faults are collected at power-off only");
            return;
        }
        fault_sink = sink;
    }
    size_t routed = 0;
    for (size_t i = 0; i < dmar.unit_count; ++i) {
        if (!unit_on[i]) continue;
        if (units[i]->route_fault_events(vtd::fault_event_nmi(bsp)).ok()) ++routed;
        else log::error("iommu: VT-d unit at {:x}: fault event not routed", dmar.units[i].register_base);
    }
    log::info("iommu: fault events of {} VT-d units are NMIs to APIC {} (blocked DMA logged when it happens)",
              routed, bsp);
}

// Hides the DMAR (RSDT/XSDT) and traps every unit's register pages, whatever
// happens to translation: a guest that could program the unit could point
// a mediated controller's shadow DMA at its own pages.
Result<void> hide_from_guest(GuestMemory& firmware, MmioDispatcher& mmio) {
    const Result<size_t> cut = acpi::hide_table(firmware, "DMAR");
    if (!cut.ok() || cut.value() == 0) {
        log::error("iommu: cannot remove the DMAR from the guest's ACPI tables");
        return fail(Error::Protected);
    }
    for (size_t i = 0; i < dmar.unit_count; ++i) {
        const vtd::RemapUnit& u = dmar.units[i];
        if (!mmio.add(guarded[i], u.register_base, u.register_bytes, guard, &guard).ok()) {
            log::error("iommu: cannot trap the VT-d registers at {:x}", u.register_base);
            return fail(Error::Protected);
        }
        ++guarded_count;
    }
    log::info("iommu: DMAR removed from the guest's RSDT/XSDT ({} entries), {} register pages trapped (reads "
              "all-ones, writes dropped)",
              cut.value(), guarded_count);
    return {};
}

// The mediators' DMA memory, whole pages: the heap's DMA extents since
// setup_devices began (core/phys_heap.hpp), which leave out the page-table
// pages split meanwhile. Taken before anything else here allocates. Should
// the heap have run out of extents, the whole of [heap used before
// setup_devices, now) instead, with a warning (what was mapped before the
// extents were kept).
iommu::PhysWindow shadow_windows[PhysHeap::max_dma_extents];
size_t shadow_window_count = 0;

void collect_shadow_windows(HypervisorMemory& hv, size_t heap_before) {
    constexpr uint64_t page = 4096;
    const PhysHeap& heap = hv.heap();
    shadow_window_count = 0;
    if (heap.dma_extents_complete()) {
        for (size_t i = 0; i < heap.dma_extent_count(); ++i)
            shadow_windows[shadow_window_count++] = {heap.dma_extents()[i].phys, heap.dma_extents()[i].bytes};
        return;
    }
    const uint64_t from = (heap.phys_base() + heap_before) & ~(page - 1);
    const uint64_t to = (heap.phys_base() + heap.used() + page - 1) & ~(page - 1);
    log::warn("iommu: more than {} separate shadow allocations: the mediated functions reach the whole heap "
              "range the mediators used ({} KiB)",
              PhysHeap::max_dma_extents, (to - from) >> 10);
    if (to > from) shadow_windows[shadow_window_count++] = {from, to - from};
}

uint64_t shadow_bytes() {
    uint64_t n = 0;
    for (size_t i = 0; i < shadow_window_count; ++i) n += shadow_windows[i].length;
    return n;
}

Result<vtd::TableStats> build_tables(HypervisorMemory& hv,
                                     const vtd::WalkCapabilities& walk) {
    static pci::Address mediated_pci[16];
    static vtd::PciFunction mediated[16];
    const size_t n = mediated_pci_functions(mediated_pci, 16);
    for (size_t i = 0; i < n; ++i)
        mediated[i] = {mediated_pci[i].bus, mediated_pci[i].device, mediated_pci[i].function};
    const PhysRange image = hv.image(), heap_range = hv.heap_range();
    const vtd::PhysWindow hypervisor[2] = {{image.base, image.length}, {heap_range.base, heap_range.length}};
    static vtd::PhysWindow reserved[vtd::DmarInfo::max_reserved];
    for (size_t i = 0; i < dmar.reserved_count; ++i)
        reserved[i] = {dmar.reserved[i].base, dmar.reserved[i].end - dmar.reserved[i].base};

    vtd::DomainInputs in;
    in.guest_map = &hv.guest_map();
    in.reserved = reserved;
    in.reserved_count = dmar.reserved_count;
    in.device_dma = shadow_windows;
    in.device_dma_count = shadow_window_count;
    in.hypervisor = hypervisor;
    in.hypervisor_count = 2;
    in.mediated = mediated;
    in.mediated_count = shadow_window_count ? n : 0;
    static vtd::VtdTables tables(hv.heap());
    const vtd::TableStats s = TRY(tables.build(in, walk));
    log::info("iommu: tables {} KiB ({} pages, {} context tables): guest domain {} MiB 1:1, {} mediated "
              "functions also reach {} KiB of shadow memory in {} extents",
              s.table_pages * 4, s.table_pages, s.context_tables, s.guest_bytes >> 20, in.mediated_count,
              shadow_bytes() >> 10, shadow_window_count);
    return s;
}

} // namespace

Result<void> setup_iommu(HypervisorMemory& hv, GuestMemory& firmware, MmioDispatcher& mmio, size_t heap_before) {
    collect_shadow_windows(hv, heap_before);
    const uint8_t* table = acpi::find_table(firmware, "DMAR");
    if (!table) // no VT-d: AMD-Vi, or none
        return setup_amdvi(hv, firmware, mmio, std::span<const iommu::PhysWindow>(shadow_windows, shadow_window_count));
    const uint32_t length = *reinterpret_cast<const uint32_t*>(table + 4);
    if (const Result<void> r = vtd::parse_dmar(std::span<const uint8_t>(table, length), dmar); !r.ok()) {
        log::error("iommu: the ACPI DMAR is malformed ({}): the Bus Master rule stays the only confinement",
                   to_string(r.error()));
        return fail(Error::Malformed); // a unit we cannot even locate cannot be hidden: stop
    }
    log::info("iommu: DMAR lists {} VT-d units, {} RMRRs, {}-bit DMA addresses{}", dmar.unit_count,
              dmar.reserved_count, dmar.address_width,
              dmar.interrupt_remapping ? " (firmware offers interrupt remapping: left off)" : "");
    TRY(hide_from_guest(firmware, mmio));

    vtd::WalkCapabilities walk;
    for (size_t i = 0; i < dmar.unit_count; ++i) {
        const vtd::RemapUnit& u = dmar.units[i];
        registers[i].init(u.register_base);
        units[i] = new (unit_storage[i]) vtd::VtdUnit(registers[i]);
        const Result<vtd::UnitFacts> f = units[i]->probe();
        if (!f.ok() || u.segment != 0) {
            log::error("iommu: VT-d unit at {:x} (segment {}) cannot be used: the Bus Master rule stays the only "
                       "confinement",
                       u.register_base, u.segment);
            return {};
        }
        log::info("iommu: VT-d unit at {:x} version {}.{} cap {:x} ecap {:x}: {}-level walk{}{}", u.register_base,
                  (f.value().version >> 4) & 0xF, f.value().version & 0xF, f.value().capability,
                  f.value().ext_capability, f.value().walk.levels, f.value().walk.pages_2m ? ", 2 MiB pages" : "",
                  f.value().translation_was_on ? ", firmware left translation on" : "");
        // One table set for every unit: the walk every unit can do.
        if (i == 0 || f.value().walk.levels < walk.levels) walk.levels = f.value().walk.levels;
        walk.pages_2m = (i == 0 || walk.pages_2m) && f.value().walk.pages_2m;
    }
    const Result<vtd::TableStats> stats = build_tables(hv, walk);
    if (!stats.ok()) {
        log::error("iommu: cannot build the VT-d tables ({}): the Bus Master rule stays the only confinement",
                   to_string(stats.error()));
        return {};
    }
    for (size_t i = 0; i < dmar.unit_count; ++i) {
        if (!units[i]->enable(stats.value().root, write_back_caches).ok()) {
            log::error("iommu: VT-d unit at {:x} did not take the tables", dmar.units[i].register_base);
            continue;
        }
        unit_on[i] = true;
        ++units_on;
    }
    log::info("iommu: DMA remapping on in {} of {} VT-d units (root table {:x}); interrupt remapping off",
              units_on, dmar.unit_count, stats.value().root);
    root_table = stats.value().root;
    if (units_on) set_up_fault_events();
    if (units_on == dmar.unit_count) {
        confine_bus_masters(&confinement);
        log::info("iommu: unmediated bus masters in the units' scope (storage controllers excepted) keep Bus "
                  "Master Enable with a key: their DMA reaches guest RAM only");
    } else {
        log::error("iommu: not every unit translates: the Bus Master rule keeps unmediated bus masters from DMA");
    }
    return {};
}

void resume_iommu() {
    resume_amdvi();
    if (!units_on) return;
    for (size_t i = 0; i < dmar.unit_count; ++i) {
        if (!unit_on[i]) continue;
        if (!units[i]->probe().ok() || !units[i]->enable(root_table, write_back_caches).ok()) {
            log::error("iommu: VT-d unit at {:x} cannot be programmed again after S3", dmar.units[i].register_base);
            fatal_stop();
        }
    }
    log::info("iommu: DMA remapping on again in {} VT-d units after S3", units_on);
    set_up_fault_events(); // enable() masked them
}

void log_iommu_statistics() {
    log_amdvi_statistics();
    if (!dmar.unit_count) return;
    uint64_t faults = 0, overflows = 0, errors = 0, drains = 0, unsettled = 0;
    for (size_t i = 0; i < dmar.unit_count; ++i) {
        if (!unit_on[i]) continue;
        const vtd::DrainResult r = units[i]->drain_faults(log_fault); // what came after the last NMI
        if (r.errors) log_unit_error(*units[i], r.errors);
        const vtd::FaultStats& s = units[i]->fault_stats();
        faults += s.faults;
        overflows += s.overflows;
        errors += s.queue_errors + s.completion_errors + s.timeouts;
        drains += s.drains;
        unsettled += s.unsettled;
    }
    log::info("iommu: {} DMA faults ({} record overflows, {} invalidation errors); guest register reads {} writes "
              "dropped {}",
              faults, overflows, errors, guard.reads(), guard.writes_dropped());
    if (fault_sink)
        log::info("iommu: fault NMIs {} claimed {}; drains {} unsettled {}", fault_sink->stats().nmis,
                  fault_sink->stats().nmis_claimed, drains, unsettled);
}

} // namespace sv

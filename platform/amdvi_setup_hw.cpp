#include "platform/amdvi_setup.hpp"

#include <new>

#include "devices/acpi/acpi_tables.hpp"
#include "devices/acpi/table_hide.hpp"
#include "devices/iommu/amdvi/amdvi_tables.hpp"
#include "devices/iommu/amdvi/amdvi_unit.hpp"
#include "devices/iommu/amdvi/function_guard.hpp"
#include "devices/iommu/amdvi/ivrs.hpp"
#include "devices/iommu/vtd/register_guard.hpp"
#include "devices/pci/pci_config.hpp"
#include "lib/log.hpp"
#include "platform/devices_setup.hpp"
#include "platform/stops.hpp"

namespace sv {
namespace {

// A unit's register block through the host's identity map (MMIO, uncached
// per the MTRRs), 64-bit accesses (§3.4: the registers are 64 bits wide).
class MappedRegisters final : public amdvi::RegisterIo {
  public:
    void init(uint64_t base) { base_ = base; }
    uint64_t read64(uint32_t off) override { return *reinterpret_cast<volatile uint64_t*>(base_ + off); }
    void write64(uint32_t off, uint64_t v) override { *reinterpret_cast<volatile uint64_t*>(base_ + off) = v; }

  private:
    uint64_t base_ = 0;
};

constexpr size_t max_units = amdvi::IvrsInfo::max_units;
amdvi::IvrsInfo ivrs;
MappedRegisters registers[max_units];
alignas(amdvi::AmdviUnit) unsigned char unit_storage[max_units][sizeof(amdvi::AmdviUnit)];
amdvi::AmdviUnit* units[max_units];
bool unit_on[max_units];
size_t units_on = 0;
uint64_t device_table = 0;
vtd::RegisterGuard guard; // the same all-ones / dropped-writes view as VT-d's register pages
MmioRange guarded[max_units];
amdvi::FunctionGuard function_guard;
constexpr uint16_t domains[] = {amdvi::guest_domain_id, amdvi::mediated_domain_id};

// DeviceIDs (alias-resolved) whose DTE points at the mediated domain.
constexpr size_t max_mediated = 16;
uint16_t mediated_ids[2 * max_mediated];
size_t mediated_id_count = 0;
pci::Address mediated_pci[max_mediated];
size_t mediated_pci_count = 0;

bool is_mediated(pci::Address a) {
    for (size_t i = 0; i < mediated_pci_count; ++i)
        if (mediated_pci[i] == a) return true;
    return false;
}
bool mediated_requester(uint16_t id) {
    for (size_t i = 0; i < mediated_id_count; ++i)
        if (mediated_ids[i] == id) return true;
    return false;
}

// A function is confined when every unit translates, one lists its DeviceID,
// and its requests do not carry a mediated function's DeviceID (an alias
// shared with a mediated function would reach the shadow window). Storage
// controllers never are (an unmediated one could write the guest's plaintext
// to its disk with a key loaded). Functions no IVHD lists keep the Bus
// Master rule: nothing says their DMA passes an IOMMU.
class AmdviConfinement final : public pci::DmaConfinement {
  public:
    bool confines(pci::Address a) const override {
        if (!units_on || units_on != ivrs.unit_count) return false;
        pci::ConfigSpace config(hardware_ports());
        constexpr uint8_t class_mass_storage = 0x01; // PCI 3.0 Appendix D
        if ((config.read32(a, 0x08) >> 24) == class_mass_storage) return false;
        const uint16_t id = amdvi::device_id(a.bus, a.device, a.function);
        const amdvi::IommuUnit* u = amdvi::unit_for(ivrs, 0, id);
        if (!u) return false;
        return is_mediated(a) || !mediated_requester(amdvi::requester_id(*u, id));
    }
} confinement;

void write_back_caches() { asm volatile("wbinvd" ::: "memory"); }

const char* event_name(unsigned code) {
    switch (code) {
    case amdvi::event::io_page_fault: return "IO_PAGE_FAULT";
    case amdvi::event::illegal_dev_table_entry: return "ILLEGAL_DEV_TABLE_ENTRY";
    case amdvi::event::dev_tab_hardware_error: return "DEV_TAB_HARDWARE_ERROR";
    case amdvi::event::page_tab_hardware_error: return "PAGE_TAB_HARDWARE_ERROR";
    case amdvi::event::illegal_command: return "ILLEGAL_COMMAND_ERROR";
    case amdvi::event::command_hardware_error: return "COMMAND_HARDWARE_ERROR";
    default: return "event";
    }
}

void log_event(const amdvi::Event& e) {
    const uint16_t id = e.device_id();
    log::warn("iommu: blocked DMA {} at {:x} from PCI {}:{}.{} (AMD-Vi {}; further events of this device are "
              "only counted)",
              (e.flags() & amdvi::event::fault_flag_write) ? "write" : "read", e.address(), id >> 8, (id >> 3) & 31,
              id & 7, event_name(e.code()));
}

Result<void> hide_from_guest(GuestMemory& firmware, MmioDispatcher& mmio) {
    const Result<size_t> cut = acpi::hide_table(firmware, "IVRS");
    if (!cut.ok() || cut.value() == 0) {
        log::error("iommu: cannot remove the IVRS from the guest's ACPI tables");
        return fail(Error::Protected);
    }
    for (size_t i = 0; i < ivrs.unit_count; ++i) {
        const amdvi::IommuUnit& u = ivrs.units[i];
        if (!mmio.add(guarded[i], u.base, amdvi::register_block_bytes, guard, &guard).ok()) {
            log::error("iommu: cannot trap the AMD-Vi registers at {:x}", u.base);
            return fail(Error::Protected);
        }
        if (!function_guard.add({static_cast<uint8_t>(u.device_id >> 8), static_cast<uint8_t>((u.device_id >> 3) & 31),
                                 static_cast<uint8_t>(u.device_id & 7)}))
            return fail(Error::OutOfMemory);
    }
    if (!add_config_rule(function_guard)) {
        log::error("iommu: cannot guard the AMD-Vi PCI functions' configuration");
        return fail(Error::Protected);
    }
    log::info("iommu: IVRS removed from the guest's RSDT/XSDT ({} entries), {} AMD-Vi register blocks trapped "
              "(reads all-ones, writes dropped), their PCI functions' config writes refused",
              cut.value(), ivrs.unit_count);
    return {};
}

void collect_mediated() {
    pci::Address found[max_mediated];
    mediated_pci_count = mediated_pci_functions(found, max_mediated);
    for (size_t i = 0; i < mediated_pci_count; ++i) {
        mediated_pci[i] = found[i];
        const uint16_t id = amdvi::device_id(found[i].bus, found[i].device, found[i].function);
        mediated_ids[mediated_id_count++] = id;
        const amdvi::IommuUnit* u = amdvi::unit_for(ivrs, 0, id);
        const uint16_t requester = u ? amdvi::requester_id(*u, id) : id;
        if (requester != id) {
            mediated_ids[mediated_id_count++] = requester;
            log::warn("iommu: mediated PCI {}:{}.{} reaches the IOMMU as {}:{}.{} (IVHD alias): functions sharing "
                      "that alias keep the Bus Master rule",
                      found[i].bus, found[i].device, found[i].function, requester >> 8, (requester >> 3) & 31,
                      requester & 7);
        }
    }
}

Result<amdvi::TableStats> build_tables(HypervisorMemory& hv, std::span<const iommu::PhysWindow> shadow) {
    const Result<DmaBuffer> table = hv.heap().allocate(amdvi::device_table_bytes, 4096);
    if (!table.ok()) return fail(table.error());
    device_table = table.value().phys;
    const PhysRange image = hv.image(), heap_range = hv.heap_range();
    const iommu::PhysWindow hypervisor[2] = {{image.base, image.length}, {heap_range.base, heap_range.length}};
    // IVMD unity and exclusion ranges (§5.2.3): memory firmware's devices
    // keep using; mapped 1:1 for every device (no exclusion range is
    // programmed: it would bypass translation altogether).
    static iommu::PhysWindow reserved[amdvi::IvrsInfo::max_blocks];
    size_t reserved_count = 0;
    for (size_t i = 0; i < ivrs.block_count; ++i)
        if (ivrs.blocks[i].flags & (amdvi::ivmd_flag::unity | amdvi::ivmd_flag::exclusion))
            reserved[reserved_count++] = {ivrs.blocks[i].base, ivrs.blocks[i].bytes};
    uint64_t shadow_bytes = 0;
    for (const iommu::PhysWindow& w : shadow) shadow_bytes += w.length;
    collect_mediated();

    amdvi::TableInputs in;
    in.domain.guest_map = &hv.guest_map();
    in.domain.reserved = reserved;
    in.domain.reserved_count = reserved_count;
    in.domain.device_dma = shadow.data();
    in.domain.device_dma_count = shadow.size();
    in.domain.hypervisor = hypervisor;
    in.domain.hypervisor_count = 2;
    in.mediated = mediated_ids;
    in.mediated_count = shadow.empty() ? 0 : mediated_id_count;
    static amdvi::AmdviTables tables(hv.heap(), reinterpret_cast<amdvi::DeviceTableEntry*>(table.value().host),
                                     device_table);
    const amdvi::TableStats s = TRY(tables.build(in));
    log::info("iommu: tables {} KiB (device table {} KiB at {:x}, {} I/O page-table pages, 3 pages per unit for "
              "command buffer, event log and completion store): guest domain {} MiB 1:1, {} mediated functions "
              "also reach {} KiB of shadow memory in {} extents",
              (amdvi::device_table_bytes >> 10) + s.table_pages * 4 + ivrs.unit_count * 12,
              amdvi::device_table_bytes >> 10, device_table, s.table_pages, s.guest_bytes >> 20, in.mediated_count,
              shadow_bytes >> 10, shadow.size());
    return s;
}

Result<void> allocate_unit(HypervisorMemory& hv, size_t i) {
    amdvi::UnitMemory m;
    const DmaBuffer commands = TRY(hv.heap().allocate(4096, 4096));
    const DmaBuffer events = TRY(hv.heap().allocate(4096, 4096));
    const DmaBuffer wait = TRY(hv.heap().allocate(4096, 4096));
    m.commands = reinterpret_cast<amdvi::Command*>(commands.host);
    m.commands_phys = commands.phys;
    m.events = reinterpret_cast<amdvi::Event*>(events.host);
    m.events_phys = events.phys;
    m.wait = reinterpret_cast<volatile uint64_t*>(wait.host);
    m.wait_phys = wait.phys;
    registers[i].init(ivrs.units[i].base);
    units[i] = new (unit_storage[i]) amdvi::AmdviUnit(registers[i], m);
    return {};
}

} // namespace

Result<void> setup_amdvi(HypervisorMemory& hv, GuestMemory& firmware, MmioDispatcher& mmio,
                         std::span<const iommu::PhysWindow> shadow) {
    const uint8_t* table = acpi::find_table(firmware, "IVRS");
    if (!table) {
        log::info("iommu: no ACPI DMAR or IVRS (no VT-d, no AMD-Vi): bus masters are confined by the Bus Master "
                  "rule alone");
        return {};
    }
    const uint32_t length = *reinterpret_cast<const uint32_t*>(table + 4);
    if (const Result<void> r = amdvi::parse_ivrs(std::span<const uint8_t>(table, length), ivrs); !r.ok()) {
        log::error("iommu: the ACPI IVRS is malformed ({}): its units cannot be hidden", to_string(r.error()));
        return fail(Error::Malformed);
    }
    log::info("iommu: IVRS lists {} AMD-Vi units ({} IVHD blocks), {} IVMD ranges", ivrs.unit_count,
              ivrs.ivhd_blocks, ivrs.block_count);
    TRY(hide_from_guest(firmware, mmio));

    for (size_t i = 0; i < ivrs.unit_count; ++i) {
        const amdvi::IommuUnit& u = ivrs.units[i];
        if (u.segment != 0 || !allocate_unit(hv, i).ok()) {
            log::error("iommu: AMD-Vi unit at {:x} (segment {}) cannot be used: the Bus Master rule stays the only "
                       "confinement",
                       u.base, u.segment);
            return {};
        }
        const amdvi::UnitFacts f = units[i]->probe();
        log::info("iommu: AMD-Vi unit at {:x} PCI {}:{}.{} (IVHD type {:x}, {} device ranges, {} special devices): "
                  "EFR {:x}{}",
                  u.base, u.device_id >> 8, (u.device_id >> 3) & 31, u.device_id & 7, u.type, u.range_count,
                  u.special_count, f.features, f.was_enabled ? ", firmware left translation on" : "");
    }
    const Result<amdvi::TableStats> stats = build_tables(hv, shadow);
    if (!stats.ok()) {
        log::error("iommu: cannot build the AMD-Vi tables ({}): the Bus Master rule stays the only confinement",
                   to_string(stats.error()));
        return {};
    }
    for (size_t i = 0; i < ivrs.unit_count; ++i) {
        if (!units[i]->enable(device_table, domains, 2, write_back_caches).ok()) {
            log::error("iommu: AMD-Vi unit at {:x} did not take the tables", ivrs.units[i].base);
            continue;
        }
        unit_on[i] = true;
        ++units_on;
    }
    log::info("iommu: DMA remapping on in {} of {} AMD-Vi units (device table {:x}, {} commands); interrupt "
              "remapping off",
              units_on, ivrs.unit_count, device_table, units_on ? units[0]->commands_sent() : 0);
    if (units_on == ivrs.unit_count) {
        confine_bus_masters(&confinement);
        log::info("iommu: unmediated bus masters the IVHDs list (storage controllers excepted) keep Bus Master "
                  "Enable with a key: their DMA reaches guest RAM only; functions no IVHD lists keep the Bus "
                  "Master rule");
    } else {
        log::error("iommu: not every unit translates: the Bus Master rule keeps unmediated bus masters from DMA");
    }
    return {};
}

void resume_amdvi() {
    if (!units_on) return;
    for (size_t i = 0; i < ivrs.unit_count; ++i) {
        if (!unit_on[i]) continue;
        (void)units[i]->probe();
        if (!units[i]->enable(device_table, domains, 2, write_back_caches).ok()) {
            log::error("iommu: AMD-Vi unit at {:x} cannot be programmed again after S3", ivrs.units[i].base);
            fatal_stop();
        }
    }
    log::info("iommu: DMA remapping on again in {} AMD-Vi units after S3", units_on);
}

void log_amdvi_statistics() {
    if (!ivrs.unit_count) return;
    uint64_t faults = 0, illegal = 0, other = 0, overflows = 0;
    for (size_t i = 0; i < ivrs.unit_count; ++i) {
        if (!unit_on[i]) continue;
        (void)units[i]->poll_events(log_event);
        faults += units[i]->event_stats().faults;
        illegal += units[i]->event_stats().illegal_entries;
        other += units[i]->event_stats().other;
        overflows += units[i]->event_stats().overflows;
    }
    log::info("iommu: {} DMA faults ({} illegal device-table entries, {} other events, {} log overflows); guest "
              "register reads {} writes dropped {}; IOMMU function config writes refused {}",
              faults, illegal, other, overflows, guard.reads(), guard.writes_dropped(), function_guard.refused());
    // A second witness of blocked DMA: the IOMMU function's Signaled Target
    // Abort (PCI 3.0 §6.2.3, status bit 11), which QEMU's model sets on every
    // IO_PAGE_FAULT. QEMU 7.2 writes no event-log entry at all (its
    // amdvi_log_event returns early on every event), so there this is the
    // only trace of a block.
    pci::ConfigSpace config(hardware_ports());
    for (size_t i = 0; i < ivrs.unit_count; ++i) {
        const uint16_t id = ivrs.units[i].device_id;
        const pci::Address a{static_cast<uint8_t>(id >> 8), static_cast<uint8_t>((id >> 3) & 31),
                             static_cast<uint8_t>(id & 7)};
        constexpr uint16_t signaled_target_abort = 1u << 11;
        const uint16_t status = config.read16(a, 0x06);
        if (status != 0xFFFF && (status & signaled_target_abort))
            log::warn("iommu: AMD-Vi unit PCI {}:{}.{} signalled a target abort (PCI status {:x}): it blocked DMA{}",
                      a.bus, a.device, a.function, status,
                      faults ? "" : " (its event log holds no entry: a unit that does not log, as QEMU 7.2's)");
    }
}

} // namespace sv

#include "platform/devices_setup.hpp"

#include <new>

#include "arch/x86/port_io.hpp"
#include "core/hypercall.hpp"
#include "crypto/secure_wipe.hpp"
#include "crypto/xts.hpp"
#include "devices/acpi/acpi_tables.hpp"
#include "devices/acpi/pm_base.hpp"
#include "devices/acpi/power_control.hpp"
#include "devices/pci/bus_master_rule.hpp"
#include "devices/pci/ecam.hpp"
#include "devices/isa/isa_dma_guard.hpp"
#include "devices/pci/pci_config.hpp"
#include "devices/storage/ahci/ahci_pci_function.hpp"
#include "devices/storage/ahci/ahci_controller.hpp"
#include "devices/storage/common/shadow_pool.hpp"
#include "devices/storage/ide/ide_pci_function.hpp"
#include "devices/storage/nvme/nvme_controller.hpp"
#include "devices/storage/nvme/nvme_pci_function.hpp"
#include "platform/guest_interrupts.hpp"
#include "lib/cycle_profile.hpp"
#include "lib/log.hpp"


namespace sv {
namespace {
constexpr size_t max_ide_functions = 2;
// Shadow pool share of one IDE channel: its largest request (reserved for it),
// and what it takes from the heap besides (shadow PRD table + alignment slack).
constexpr uint64_t pool_per_ide_channel = ide::kShadowBufferBytes;
constexpr uint64_t heap_per_ide_channel = 64 << 10;
// Every mediated controller's shadow buffers (devices/storage/common/shadow_pool.hpp).
storage::ShadowPool shadow_pool;

x86::HardwarePortIo hardware_io;
pci::ConfigSpace config_space(hardware_io);
pci::ConfigMediator config_mediator(hardware_io);
pci::BusMasterRule bus_master_rule(config_space);
crypto::Xts disk_cipher; // in hypervisor memory only; wiped at power-off/reset
alignas(16) uint8_t key_bytes[64];

pci::Address ide_addresses[max_ide_functions];
size_t ide_count = 0;
// AHCI HBAs (class 01h/06h/01h): q35's built-in one and any added.
constexpr size_t max_ahci_functions = 4;
constexpr const char* ahci_names[max_ahci_functions] = {"ahci0", "ahci1", "ahci2", "ahci3"};
pci::Address ahci_addresses[max_ahci_functions];
unsigned ahci_ports_at_boot[max_ahci_functions] = {};
size_t ahci_count = 0;
// NVMe controllers (class 01h/08h/02h, devices/storage/nvme/): one mediator
// each, sized at scan time (NvmeController::heap_bytes/pool_bytes).
constexpr size_t max_nvme_functions = 4;
constexpr const char* nvme_names[max_nvme_functions] = {"nvme0", "nvme1", "nvme2", "nvme3"};
pci::Address nvme_addresses[max_nvme_functions];
size_t nvme_count = 0;
// Storage controllers without a mediator (other subclasses, NVMe beyond
// max_nvme_functions or whose binding failed): no DMA with a key.
constexpr size_t max_other_storage = 8;
pci::Address other_storage[max_other_storage];
uint8_t other_storage_subclass[max_other_storage];
size_t other_storage_count = 0;
alignas(ide::IdePciFunction) uint8_t ide_storage[max_ide_functions][sizeof(ide::IdePciFunction)];
ide::IdePciFunction* ide_functions[max_ide_functions] = {};
const ExitCounters* exit_counters = nullptr;
// The chipset function that holds the ACPI PM base (PIIX4 00:01.3, ICH LPC).
pci::Address pm_function{};
uint64_t reset_register_page = 0; // a memory-mapped FADT reset register's page, 0: none
acpi::PmChipset pm_chipset = acpi::PmChipset::None;

// The real ECAM: the host page tables map all physical memory 1:1 (MMIO
// included), so a volatile store of the access size reaches the chipset.
class HardwareMmio final : public pci::PhysicalMmio {
  public:
    void write(uint64_t pa, uint8_t size, uint32_t value) override {
        switch (size) {
        case 1: *reinterpret_cast<volatile uint8_t*>(pa) = static_cast<uint8_t>(value); break;
        case 2: *reinterpret_cast<volatile uint16_t*>(pa) = static_cast<uint16_t>(value); break;
        default: *reinterpret_cast<volatile uint32_t*>(pa) = value; break;
        }
    }
};

// An ECAM window may go anywhere the nested page tables map except RAM
// (guest or firmware-listed) and hypervisor memory.
class TrappablePlacement final : public pci::EcamPlacement {
  public:
    void init(HypervisorMemory& hv, const MemoryMap& firmware_map) {
        hv_ = &hv;
        map_ = &firmware_map;
    }
    bool placement_ok(uint64_t base, uint64_t length) override {
        if (!hv_ || length == 0 || !hv_->nested_mapped(base, length) || hv_->overlaps(base, length)) return false;
        for (size_t i = 0; i < map_->size(); ++i) {
            const MemoryRegion& r = (*map_)[i];
            if (r.type == MemoryType::Ram && base < r.end() && r.base < base + length) return false;
        }
        return true;
    }

  private:
    HypervisorMemory* hv_ = nullptr;
    const MemoryMap* map_ = nullptr;
};

// A BAR's real registers (pci::BarRegisters): DWORD volatile accesses at the
// physical address, through the same 1:1 map.
class HardwareRegisters final : public pci::PhysicalRegisters {
  public:
    uint32_t read32(uint64_t pa) override { return *reinterpret_cast<volatile uint32_t*>(pa); }
    void write32(uint64_t pa, uint32_t value) override { *reinterpret_cast<volatile uint32_t*>(pa) = value; }
};

HardwareMmio hardware_mmio;
HardwareRegisters hardware_registers;
// Where trapped MMIO (the ECAM window, AHCI ABARs) may be placed.
TrappablePlacement ecam_placement;
alignas(pci::EcamMediator) uint8_t ecam_storage[sizeof(pci::EcamMediator)];
pci::EcamMediator* ecam = nullptr;

alignas(ahci::AhciPciFunction) uint8_t ahci_function_storage[max_ahci_functions][sizeof(ahci::AhciPciFunction)];
ahci::AhciPciFunction* ahci_functions[max_ahci_functions] = {};
using AhciClient = ahci::ControllerClient<ahci::AhciController>;
alignas(ahci::AhciController) uint8_t ahci_controller_storage[max_ahci_functions][sizeof(ahci::AhciController)];
alignas(AhciClient) uint8_t ahci_client_storage[max_ahci_functions][sizeof(AhciClient)];
ahci::AhciController* ahci_controllers[max_ahci_functions] = {};
uint64_t ahci_pool_bytes(unsigned ports) { return ahci::AhciController::pool_bytes(ports); }
uint64_t ahci_heap_bytes(unsigned ports) { return ahci::AhciController::heap_bytes(ports); }

alignas(nvme::NvmePciFunction) uint8_t nvme_function_storage[max_nvme_functions][sizeof(nvme::NvmePciFunction)];
nvme::NvmePciFunction* nvme_functions[max_nvme_functions] = {};
alignas(nvme::NvmeController) uint8_t nvme_controller_storage[max_nvme_functions][sizeof(nvme::NvmeController)];
nvme::NvmeController* nvme_controllers[max_nvme_functions] = {};

// Calls fn(identity) for every present PCI function (PCI 3.0 §3.2.2.3.2
// enumeration: function 0 absent or single-function ends the device).
template <class Fn> void for_each_function(Fn&& fn) {
    for (unsigned bus = 0; bus < 256; ++bus) {
        for (uint8_t dev = 0; dev < 32; ++dev) {
            for (uint8_t f = 0; f < 8; ++f) {
                const pci::Address a{static_cast<uint8_t>(bus), dev, f};
                const uint32_t id = config_space.read32(a, pci::reg::vendor_id);
                if ((id & 0xFFFF) == 0xFFFF) {
                    if (f == 0) break;
                    continue;
                }
                fn(bus_master_rule.identify(a));
                if (f == 0 && !(config_space.read8(a, pci::reg::header_type) & 0x80)) break;
            }
        }
    }
}

// Class 6: default-deny bus mastering while a key is loaded.
Result<void> restrict_bus_masters(const pci::DmaAllowList& allow) {
    for (size_t i = 0; i < ide_count; ++i)
        if (!bus_master_rule.add_mediated(ide_addresses[i])) return fail(Error::OutOfMemory);
    bus_master_rule.set_allow_list(&allow);
    bus_master_rule.set_enforcing(disk_cipher.has_key());
    if (!config_mediator.add_rule(bus_master_rule)) return fail(Error::OutOfMemory);
    if (!disk_cipher.has_key()) {
        if (allow.size()) log::info("allow_dma= has no effect without a disk key (no DMA is restricted)");
        return {};
    }
    size_t blocked = 0;
    for_each_function([&](const pci::FunctionIdentity& f) {
        const pci::MasterDecision d = bus_master_rule.apply_at_boot(f);
        if (d == pci::MasterDecision::Allowed)
            log::warn("PCI {}:{}.{} {:x}:{:x}: DMA allowed by allow_dma: this device can read and write ALL "
                      "memory, including the hypervisor and the disk key",
                      f.address.bus, f.address.device, f.address.function, f.vendor, f.device);
        else if (d == pci::MasterDecision::Blocked) ++blocked;
    });
    log::info("bus mastering: {} unmediated PCI functions kept from DMA while the disk key is loaded ({} cleared "
              "at boot); bridge bus numbers pinned",
              blocked, bus_master_rule.stats().cleared_at_boot);
    return {};
}

// Class 4: the PCIe ECAM window goes through the same config mediator.
Result<void> trap_ecam(HypervisorMemory& hv, GuestMemory& firmware, MmioDispatcher& mmio) {
    constexpr pci::Address host_bridge{0, 0, 0};
    ecam_placement.init(hv, hv.guest_map());
    ecam = new (ecam_storage) pci::EcamMediator(config_mediator, config_space, mmio, hardware_mmio, ecam_placement);
    if (config_space.read32(host_bridge, pci::reg::vendor_id) == pci::q35_mch_id) return ecam->track_q35(host_bridge);
    acpi::EcamSegment segments[4];
    Result<size_t> found = acpi::find_ecam_segments(firmware, segments, 4);
    if (!found.ok() || found.value() == 0) return {}; // no ECAM: mechanism #1 only
    if (found.value() > 1 || segments[0].segment != 0) {
        log::error("ACPI MCFG lists {} ECAM windows / segment {}: only one window on segment 0 is supported",
                   found.value(), segments[0].segment);
        return fail(Error::Unsupported);
    }
    const acpi::EcamSegment& s = segments[0];
    const uint64_t length = (static_cast<uint64_t>(s.end_bus) + 1 - s.start_bus) << 20;
    return ecam->trap_fixed(s.base + (static_cast<uint64_t>(s.start_bus) << 20), length);
}


void (*extra_statistics)() = nullptr;

void log_statistics() {
    if (extra_statistics) extra_statistics();
    if (exit_counters) {
        log::info("exits: {} total", exit_counters->total());
        for (unsigned r = 0; r < static_cast<unsigned>(ExitReason::Count); ++r)
            if (exit_counters->by_reason[r])
                log::info("exits: {} {}", to_string(static_cast<ExitReason>(r)), exit_counters->by_reason[r]);
        for (size_t i = 0; i < exit_counters->ports; ++i)
            log::info("exits: port {:x} {}", exit_counters->by_port[i].port, exit_counters->by_port[i].count);
        if (exit_counters->other_ports) log::info("exits: port other {}", exit_counters->other_ports);
        const ExitCycles& c = exit_counters->cycles;
        log::info("exit cycles: exits {} guest {} handler {} mmio {} decode {} emulate {}", c.exits, c.guest,
                  c.handler, c.mmio_exits, c.mmio_decode, c.mmio_emulate);
        log::info("exits: MMIO instructions decoded {} from the cache {}", exit_counters->insn_cache_misses,
                  exit_counters->insn_cache_hits);
        log::info("exit cycles: real registers {} cipher {}", profile::total(profile::Bucket::RealRegisters),
                  profile::total(profile::Bucket::Cipher));
        log::info("exits: port accesses split per owner {}, refused {}; MMIO writes refused {}, reads refused {}",
                  exit_counters->split_port_accesses, exit_counters->refused_port_accesses,
                  exit_counters->refused_mmio_writes, exit_counters->refused_mmio_reads);
    }
    const pci::ConfigStats& cs = config_mediator.stats();
    log::info("pci: config writes {} changed {} refused {}", cs.writes, cs.changed, cs.refused);
    const pci::BusMasterStats& bm = bus_master_rule.stats();
    log::info("pci: bus master enable refused {} bridge bus numbers pinned {} cleared at boot {}", bm.bme_cleared,
              bm.bus_numbers_pinned, bm.cleared_at_boot);
    if (ecam) {
        const pci::EcamStats& es = ecam->stats();
        log::info("pci: ecam writes {} refused {} relocations {} refused relocations {}", es.writes, es.refused,
                  es.relocations, es.refused_relocations);
    }
    if (shadow_pool.ready()) {
        const storage::PoolStats ps = shadow_pool.stats();
        log::info("shadow pool: {} of {} chunks free, peak {} out, borrows {} returns {} waits {}",
                  shadow_pool.free_chunks(), shadow_pool.total_chunks(), ps.peak_chunks, ps.borrows, ps.returns,
                  ps.waits);
    }
    for (size_t f = 0; f < ahci_count; ++f) {
        if (!ahci_controllers[f]) continue;
        ahci_controllers[f]->log_statistics(ahci_names[f]);
        // Trapped ABAR accesses (every one is a VM exit): the bench's exits per command.
        const ahci::ControllerStats& s = ahci_controllers[f]->stats();
        const ahci::AhciBindingStats& b = ahci_functions[f]->stats();
        log::info("{}: trapped reads {} writes {} outside the ABAR {} placements refused {}", ahci_names[f],
                  s.guest_reads, s.guest_writes, b.outside_abar, ahci_functions[f]->abar().stats().refused);
        log::info("{}: real register reads {} writes {}", ahci_names[f], ahci_functions[f]->registers_stats().reads(),
                  ahci_functions[f]->registers_stats().writes());
    }
    for (size_t f = 0; f < nvme_count; ++f) {
        if (!nvme_controllers[f]) continue;
        nvme_controllers[f]->log_statistics(nvme_names[f]);
        log::info("{}: BAR placements refused {}", nvme_names[f], nvme_functions[f]->bar0().stats().refused);
    }
    for (size_t f = 0; f < ide_count; ++f) {
        log::info("ide{}: guest register placements refused {}", f, ide_functions[f]->placements_refused());
        for (unsigned c = 0; c < 2; ++c) {
            const ide::IdeStats& s = ide_functions[f]->channel(c).stats();
            log::info("ide{}.{}: dma {} encrypted {} B decrypted {} B copied {} B aborted {}", f, c,
                      s.dma_transfers, s.bytes_encrypted, s.bytes_decrypted, s.bytes_copied, s.aborted);
        }
    }
}

void wipe_for(const char* why) {
    log::info("guest requested {}", why);
    log_statistics();
    wipe_secrets();
}

acpi::PowerControl power_control(hardware_io, wipe_for);

// A memory-mapped FADT reset register: the write goes on to the hardware.
class PhysicalMemoryWriter final : public acpi::MemoryWriter {
  public:
    void write(uint64_t pa, uint8_t size, uint64_t value) override {
        // The hypervisor's page tables identity-map all physical memory.
        switch (size) {
        case 1: *reinterpret_cast<volatile uint8_t*>(pa) = static_cast<uint8_t>(value); break;
        case 2: *reinterpret_cast<volatile uint16_t*>(pa) = static_cast<uint16_t>(value); break;
        case 4: *reinterpret_cast<volatile uint32_t*>(pa) = static_cast<uint32_t>(value); break;
        default: *reinterpret_cast<volatile uint64_t*>(pa) = value; break;
        }
    }
};
PhysicalMemoryWriter physical_memory_writer;
isa::IsaDmaGuard isa_dma_guard(hardware_io);
acpi::TcoGuard tco_guard(hardware_io); // ICH only (q35)
alignas(acpi::PmBaseTracker) uint8_t pm_tracker_storage[sizeof(acpi::PmBaseTracker)];
acpi::PmBaseTracker* pm_tracker = nullptr;

} // namespace

Result<void> setup_power_control(HypervisorMemory& hv, GuestMemory& firmware_memory, IoDispatcher& io);

namespace {
// Every AHCI function found: ABAR trapped, controller set up with bus
// mastering off, then mediated (bus-master rule). One that fails stays
// unmediated: with a key it is kept from DMA like any unmediated function.
void setup_ahci(GuestMemory& guest_ram, DmaAllocator& heap, MmioDispatcher& mmio, const crypto::Xts* cipher) {
    for (size_t i = 0; i < ahci_count; ++i) {
        const pci::Address a = ahci_addresses[i];
        ahci_functions[i] = new (ahci_function_storage[i])
            ahci::AhciPciFunction(a, config_mediator, config_space, mmio, ecam_placement, hardware_registers);
        if (!ahci_functions[i]->attach(ahci_names[i]).ok()) continue;
        if (!shadow_pool.ready()) {
            log::error("{}: no shadow pool: not mediated", ahci_names[i]);
            continue;
        }
        ahci::AhciController* c = new (ahci_controller_storage[i])
            ahci::AhciController(guest_ram, shadow_pool, cipher, ahci_functions[i]->registers());
        AhciClient* client = new (ahci_client_storage[i]) AhciClient(*c);
        if (ahci_functions[i]->bind(*client, heap, bus_master_rule).ok()) ahci_controllers[i] = c;
    }
}

void remember_unmediated(pci::Address a, uint8_t subclass) {
    if (other_storage_count == max_other_storage) return;
    other_storage_subclass[other_storage_count] = subclass;
    other_storage[other_storage_count++] = a;
}

// Binds every NVMe function found: BAR0 and the MSI-X table trapped, the
// controller's boot identify and shadows set up with bus mastering off,
// then the function is mediated (bus-master rule) and its controller an NMI
// sink (NvmePciFunction::bind). A function that cannot be bound stays
// unmediated: with a key it may not master the bus (restrict_bus_masters).
void setup_nvme(GuestMemory& guest_ram, DmaAllocator& heap, MmioDispatcher& mmio, const crypto::Xts* cipher) {
    for (size_t i = 0; i < nvme_count; ++i) {
        const pci::Address a = nvme_addresses[i];
        nvme_functions[i] = new (nvme_function_storage[i])
            nvme::NvmePciFunction(a, config_mediator, config_space, mmio, ecam_placement, hardware_registers);
        if (!nvme_functions[i]->attach(nvme_names[i]).ok()) { // logged by attach()
            remember_unmediated(a, nvme::kPciSubclassNvm);
            continue;
        }
        if (!shadow_pool.ready()) {
            log::error("{}: no shadow pool: not mediated", nvme_names[i]);
            remember_unmediated(a, nvme::kPciSubclassNvm);
            continue;
        }
        nvme::NvmeController* c = new (nvme_controller_storage[i]) nvme::NvmeController(
            guest_ram, shadow_pool, cipher, nvme_functions[i]->registers(), nvme_functions[i]->msix(),
            nvme_functions[i]->msix_registers(), lapic_guest_interrupts());
        // bind() logs "nvme0: PCI b:d.f BAR0 ... mediated" or why not.
        if (!nvme_functions[i]->bind(*c, heap, bus_master_rule).ok()) {
            remember_unmediated(a, nvme::kPciSubclassNvm);
            continue;
        }
        nvme_controllers[i] = c;
    }
}
} // namespace

uint64_t StorageInventory::shadow_pool_bytes() const {
    return ide_functions * 2 * pool_per_ide_channel + ahci_pool + nvme_pool;
}

uint64_t StorageInventory::shadow_bytes() const {
    return storage::pool_heap_bytes(shadow_pool_bytes()) + ide_functions * 2 * heap_per_ide_channel + ahci_heap +
           nvme_heap;
}

namespace {
StorageInventory scanned; // what scan_storage() sized the heap for
} // namespace

StorageInventory scan_storage() {
    StorageInventory inv;
    for (unsigned bus = 0; bus < 256; ++bus) {
        for (uint8_t dev = 0; dev < 32; ++dev) {
            for (uint8_t fn = 0; fn < 8; ++fn) {
                const pci::Address a{static_cast<uint8_t>(bus), dev, fn};
                const uint32_t id = config_space.read32(a, pci::reg::vendor_id);
                if ((id & 0xFFFF) == 0xFFFF) {
                    if (fn == 0) break;
                    continue;
                }
                const uint8_t cls = config_space.read8(a, pci::reg::class_code);
                const uint8_t sub = config_space.read8(a, pci::reg::subclass);
                const acpi::PmChipset pm = acpi::pm_chipset_of(id, cls, sub);
                if (pm != acpi::PmChipset::None && pm_chipset == acpi::PmChipset::None) {
                    pm_function = a;
                    pm_chipset = pm;
                }
                if (cls == 0x01 && sub == 0x01 && ide_count < max_ide_functions) {
                    log::info("PCI {}:{}.{}: IDE controller {:x}", bus, dev, fn, id);
                    ide_addresses[ide_count++] = a;
                } else if (ahci::is_ahci_function(cls, sub, config_space.read8(a, pci::reg::prog_if)) &&
                           ahci_count < max_ahci_functions) {
                    const unsigned ports = ahci::AhciPciFunction::ports_at_boot(config_space, a, hardware_registers);
                    log::info("PCI {}:{}.{}: AHCI controller {:x}, {} ports", bus, dev, fn, id, ports);
                    ahci_ports_at_boot[ahci_count] = ports;
                    ahci_addresses[ahci_count++] = a;
                    inv.ahci_pool += ahci_pool_bytes(ports);
                    inv.ahci_heap += ahci_heap_bytes(ports);
                } else if (nvme::is_nvme_function(cls, sub, config_space.read8(a, pci::reg::prog_if)) &&
                           nvme_count < max_nvme_functions) {
                    log::info("PCI {}:{}.{}: NVMe controller {:x}", bus, dev, fn, id);
                    nvme_addresses[nvme_count++] = a;
                    inv.nvme_pool += nvme::NvmeController::pool_bytes();
                    inv.nvme_heap += nvme::NvmeController::heap_bytes();
                } else if (cls == 0x01 && other_storage_count < max_other_storage) {
                    log::info("PCI {}:{}.{}: storage controller {:x} (class 01h, subclass {:x}), not mediated", bus, dev, fn,
                              id, sub);
                    other_storage_subclass[other_storage_count] = sub;
                    other_storage[other_storage_count++] = a;
                }
                if (fn == 0 && !(config_space.read8(a, pci::reg::header_type) & 0x80)) break;
            }
        }
    }
    inv.ide_functions = ide_count;
    inv.ahci_functions = ahci_count;
    inv.nvme_functions = nvme_count;
    scanned = inv;
    return inv;
}

// Module 1 is the kernel, module 2 the initramfs; every further module must
// be a key, written "<name> key" (QEMU gives "<path> key"; GRUB gives the
// words after the file, so grub.cfg says `module2 /boot/disk.key disk.key key`).
// A bare "key" is accepted too. Anything else is refused: a typo must never
// quietly boot with encryption off.
bool is_key_module(const char* string) {
    return starts_with_word(module_arguments(string), "key") || starts_with_word(string, "key");
}

Result<void> load_disk_key(const BootInfo& boot, GuestMemory& loader_memory) {
    const BootModule* key = nullptr;
    for (size_t i = 2; i < boot.module_count; ++i) {
        if (!is_key_module(boot.modules[i].string) || key) {
            log::error("boot module {} ('{}') is not understood: expected one '<name> key' module", i + 1,
                       boot.modules[i].string);
            return fail(Error::InvalidArgument);
        }
        key = &boot.modules[i];
    }
    if (!key) {
        log::info("disk encryption: off (no key module); storage DMA still goes through shadow descriptors");
        return {};
    }
    uint8_t* p = loader_memory.map(key->start, key->size());
    if (!p) return fail(Error::Protected);
    const uint64_t n = key->size();
    if (n != 32 && n != 64) {
        crypto::secure_wipe(p, n);
        log::error("key module is {} bytes: it must be 32 (AES-128-XTS) or 64 (AES-256-XTS) raw bytes", n);
        return fail(Error::InvalidArgument);
    }
    for (size_t k = 0; k < n; ++k) key_bytes[k] = p[k];
    crypto::secure_wipe(p, n); // the loader's copy lies in what becomes guest RAM
    Result<void> set = disk_cipher.set_key(std::span<const uint8_t>(key_bytes, n));
    crypto::secure_wipe(key_bytes, sizeof key_bytes);
    if (!set.ok()) {
        log::error("disk key refused: {} (the two XTS key halves must differ)", to_string(set.error()));
        return fail(set.error());
    }
    const crypto::XtsImpl impl = disk_cipher.implementation();
    log::info("disk encryption: AES-{}-XTS (dm-crypt aes-xts-plain64, 512-byte sectors), engine {}",
              n == 64 ? 256 : 128,
              impl == crypto::XtsImpl::Portable ? "portable constant-time"
              : impl == crypto::XtsImpl::AesNi  ? "AES-NI"
                                                : "VAES");
    return {};
}

Result<void> setup_devices(HypervisorMemory& hv, GuestMemory& guest_ram, GuestMemory& firmware_memory,
                           IoDispatcher& io, MmioDispatcher& mmio, const pci::DmaAllowList& allow_dma) {
    const crypto::Xts* cipher = disk_cipher.has_key() ? &disk_cipher : nullptr;
    // The platform's mediated ports first: the IDE placement check (BARs
    // may not land on another mediator's ports) sees them.
    // CONFIG_ADDRESS is a dword register (PCI 3.0 §3.2.2.3.2): a dword at
    // 0xCF8 goes to the config mediator whole. 0xCF9 (reset control) has its
    // own handler (PowerControl) and gets its byte of any other access that
    // covers it (IoDispatcher splits such accesses byte-exactly).
    TRY(io.add(0xCF8, 1, config_mediator, io_whole::dword));
    TRY(io.add(0xCFA, 6, config_mediator));
    TRY(setup_power_control(hv, firmware_memory, io));
    uint64_t reset_page = 0;
    if (MmioWriteHandler* reset = reset_register_handler(reset_page)) {
        static MmioRange reset_range;
        TRY(mmio.add(reset_range, reset_page, 4096, *reset));
    }
    TRY(isa_dma_guard.install(io));
    log::info("ISA DMA: high page registers 0x480-0x48F pinned to 0 (legacy DMA stays below 16 MiB)");
    const StorageInventory& inventory = scanned;
    if (inventory.shadow_pool_bytes()) {
        // Sized for the controllers found; on failure every channel fails
        // closed (aborts DMA) as before.
        if (shadow_pool.init(hv.heap(), inventory.shadow_pool_bytes()).ok())
            log::info("shadow pool: {} KiB in {} KiB chunks below 4 GiB ({} IDE channels, {} KiB reserved each; "
                      "{} AHCI controllers, {} KiB; {} NVMe controllers, {} KiB)",
                      shadow_pool.total_bytes() >> 10, shadow_pool.chunk_bytes() >> 10, ide_count * 2,
                      pool_per_ide_channel >> 10, ahci_count, inventory.ahci_pool >> 10, nvme_count,
                      inventory.nvme_pool >> 10);
        else
            log::error("shadow pool: cannot carve {} KiB from the hypervisor heap: storage DMA is refused",
                       inventory.shadow_pool_bytes() >> 10);
    }
    for (size_t i = 0; i < ide_count; ++i) {
        ide_functions[i] = new (ide_storage[i]) ide::IdePciFunction(ide_addresses[i], config_space, hardware_io,
                                                                    guest_ram, hv.heap(), shadow_pool, cipher, io);
        TRY(ide_functions[i]->init());
        if (!config_mediator.watch(ide_addresses[i], *ide_functions[i]) || !config_mediator.add_rule(*ide_functions[i]))
            return fail(Error::OutOfMemory);
    }
    ecam_placement.init(hv, hv.guest_map());
    setup_ahci(guest_ram, hv.heap(), mmio, cipher);
    setup_nvme(guest_ram, hv.heap(), mmio, cipher);
    // With a key loaded, a storage controller we do not mediate could write
    // plaintext to its disks and DMA into hypervisor memory (the key!): it
    // may not master the bus at all (fail closed), like every other
    // unmediated bus master that allow_dma does not name.
    TRY(restrict_bus_masters(allow_dma));
    TRY(trap_ecam(hv, firmware_memory, mmio));
    if (disk_cipher.has_key()) {
        for (size_t i = 0; i < other_storage_count; ++i) {
            if (bus_master_rule.decide(bus_master_rule.identify(other_storage[i])) != pci::MasterDecision::Blocked)
                continue;
            log::warn("PCI {}:{}.{}: storage controller (subclass {:x}) is not mediated yet: DMA disabled "
                      "while disk encryption is on",
                      other_storage[i].bus, other_storage[i].device, other_storage[i].function,
                      other_storage_subclass[i]);
        }
    }
    return {};
}

// Every reset / power-off / sleep source (devices/acpi/reset_decoders.hpp)
// is trapped before the guest runs.
Result<void> setup_power_control(HypervisorMemory&, GuestMemory& firmware_memory, IoDispatcher& io) {
    Result<acpi::PowerControlPorts> pm = acpi::find_power_control(firmware_memory);
    if (pm.ok()) {
        const acpi::ResetRegister& r = pm.value().reset;
        if (r.space == acpi::AddressSpace::Memory) {
            reset_register_page = r.address & ~0xFFFull;
            power_control.set_reset_register(r, &physical_memory_writer);
            log::info("FADT reset register: memory {:x} (trapped)", r.address);
        } else if (r.space == acpi::AddressSpace::Io) {
            power_control.set_reset_register(r, nullptr);
            log::info("FADT reset register: port {:x} value {:x}", r.address, r.value);
        }
    }
    TRY(power_control.register_fixed_ports(io));
    uint16_t chipset_port = 0;
    if (pm_chipset != acpi::PmChipset::None) {
        pm_tracker = new (pm_tracker_storage) acpi::PmBaseTracker(config_space, hardware_io, power_control, io);
        pm_tracker->set_tco_guard(&tco_guard);
        chipset_port = TRY(pm_tracker->track(pm_function, pm_chipset, 0));
        if (tco_guard.tco1_cnt()) log::info("ICH TCO watchdog halted (TCO1_CNT at port {:x} trapped)", tco_guard.tco1_cnt());
        if (!config_mediator.watch(pm_function, *pm_tracker)) return fail(Error::OutOfMemory);
        log::info("ACPI PM block of PCI {}:{}.{} followed: PM1 control at port {:x}", pm_function.bus,
                  pm_function.device, pm_function.function, chipset_port);
    }
    if (pm.ok()) {
        // The FADT's own ports too, unless they are the chipset block above
        // (that one moves with the chipset's PM base).
        // PM1a blocks bring their status register (refused-sleep WAK_STS).
        const uint16_t fadt_ports[4] = {pm.value().pm1a_control, pm.value().pm1b_control, pm.value().x_pm1a_control,
                                        pm.value().x_pm1b_control};
        const uint16_t fadt_status[4] = {pm.value().pm1a_status, 0, pm.value().x_pm1a_status, 0};
        for (size_t i = 0; i < 4; ++i) {
            if (!fadt_ports[i] || fadt_ports[i] == chipset_port) continue;
            TRY(power_control.move_pm1(1 + i, fadt_ports[i], i % 2 == 1, io, fadt_status[i]));
        }
        log::info("ACPI PM1 control at port {:x}: power-off wipes the disk key; other sleeps are refused unless "
                  "the S3 engine takes them (PM1 status at {:x} shows WAK_STS after a refusal)",
                  pm.value().pm1a_control, chipset_port ? power_control.pm1_status_port(0) : pm.value().pm1a_status);
    } else if (disk_cipher.has_key() && !chipset_port) {
        log::warn("no ACPI FADT found: cannot wipe the key at power-off");
    }
    Result<acpi::SleepTypes> types = acpi::find_sleep_types(firmware_memory);
    if (types.ok()) {
        power_control.set_sleep_types(types.value());
        for (unsigned s = 0; s < acpi::SleepTypes::states; ++s)
            if (types.value().has(s))
                log::info("ACPI \\_S{}: SLP_TYP {}/{}", s, types.value().slp_typ_a(s), types.value().slp_typ_b(s));
    } else {
        log::warn("no \\_Sx sleep types in the DSDT: assuming QEMU's (S5 = 0, S3 = 1, S4 = 2)");
    }
    return {};
}

void wipe_secrets() {
    const bool had_key = disk_cipher.has_key();
    disk_cipher.clear();
    if (had_key) log::info("disk key wiped");
}

MmioWriteHandler* reset_register_handler(uint64_t& page) {
    page = reset_register_page;
    return reset_register_page ? &power_control : nullptr;
}

acpi::PowerControl& power_controls() { return power_control; }

PortIo& hardware_ports() { return hardware_io; }

namespace {
// Configuration a mediated IDE function loses in the S3 reset and that its
// mediator depends on (PCI 3.0 §6.2: command, BARs, interrupt line; PIIX4
// datasheet §3.3 IDETIM/SIDETIM/UDMACTL/UDMATIM at 40h-4Bh). Restored as
// firmware restores chipset state, BARs before the command register.
constexpr uint8_t saved_dwords[] = {0x10, 0x14, 0x18, 0x1C, 0x20, 0x3C, 0x40, 0x44, 0x48, 0x04};
uint32_t ide_saved_config[max_ide_functions][sizeof saved_dwords];
// An AHCI function's (PCI 3.0 §6.2: ABAR, interrupt line, command last).
constexpr uint8_t ahci_saved_dwords[] = {0x24, 0x3C, 0x04};
uint32_t ahci_saved_config[max_ahci_functions][sizeof ahci_saved_dwords];
// An NVMe function's (PCI 3.0 §6.2: BAR0/BAR1 (64-bit), interrupt line,
// command last; the MSI-X Message Control is the mediator's and is set
// again by resync()).
constexpr uint8_t nvme_saved_dwords[] = {0x10, 0x14, 0x3C, 0x04};
uint32_t nvme_saved_config[max_nvme_functions][sizeof nvme_saved_dwords];
} // namespace

void save_devices_for_sleep() {
    for (size_t f = 0; f < ide_count; ++f)
        for (size_t i = 0; i < sizeof saved_dwords; ++i)
            ide_saved_config[f][i] = config_space.read32(ide_addresses[f], saved_dwords[i]);
    for (size_t f = 0; f < ahci_count; ++f)
        for (size_t i = 0; i < sizeof ahci_saved_dwords; ++i)
            ahci_saved_config[f][i] = config_space.read32(ahci_addresses[f], ahci_saved_dwords[i]);
    for (size_t f = 0; f < nvme_count; ++f)
        for (size_t i = 0; i < sizeof nvme_saved_dwords; ++i)
            nvme_saved_config[f][i] = config_space.read32(nvme_addresses[f], nvme_saved_dwords[i]);
}

void resync_devices_after_resume() {
    // The PM block (and with it PM1 control/status and the ICH TCO trap)
    // wherever the firmware's resume path put it.
    if (pm_tracker) pm_tracker->resync();
    for (size_t f = 0; f < ide_count; ++f) {
        for (size_t i = 0; i < sizeof saved_dwords; ++i) {
            uint32_t v = ide_saved_config[f][i];
            if (saved_dwords[i] == 0x04) v &= 0xFFFF; // command only: status bits are write-1-to-clear
            config_space.write32(ide_addresses[f], saved_dwords[i], v);
        }
        ide_functions[f]->platform_reset();
        log::info("IDE {}:{}.{}: configuration restored, mediators re-synced after the S3 reset",
                  ide_addresses[f].bus, ide_addresses[f].device, ide_addresses[f].function);
    }
    for (size_t f = 0; f < ahci_count; ++f) {
        if (!ahci_controllers[f]) continue;
        for (size_t i = 0; i < sizeof ahci_saved_dwords; ++i) {
            uint32_t v = ahci_saved_config[f][i];
            if (ahci_saved_dwords[i] == 0x04) v &= 0xFFFF;
            config_space.write32(ahci_addresses[f], ahci_saved_dwords[i], v);
        }
        ahci_controllers[f]->resync();
        log::info("{}: configuration restored, mediator re-synced after the S3 reset", ahci_names[f]);
    }
    for (size_t f = 0; f < nvme_count; ++f) {
        if (!nvme_controllers[f]) continue;
        for (size_t i = 0; i < sizeof nvme_saved_dwords; ++i) {
            uint32_t v = nvme_saved_config[f][i];
            if (nvme_saved_dwords[i] == 0x04) v &= 0xFFFF;
            config_space.write32(nvme_addresses[f], nvme_saved_dwords[i], v);
        }
        nvme_controllers[f]->resync();
        log::info("{}: configuration restored, mediator re-synced after the S3 reset", nvme_names[f]);
    }
}

void set_exit_counters_source(const ExitCounters* counters) { exit_counters = counters; }
void set_extra_statistics(void (*log_more)()) { extra_statistics = log_more; }

void confine_bus_masters(const pci::DmaConfinement* iommu) { bus_master_rule.set_confinement(iommu); }

bool add_config_rule(pci::ConfigRule& rule) { return config_mediator.add_rule(rule); }

size_t mediated_pci_functions(pci::Address* out, size_t max) {
    size_t n = 0;
    for (; n < bus_master_rule.mediated_count() && n < max; ++n) out[n] = bus_master_rule.mediated(n);
    return n;
}

} // namespace sv

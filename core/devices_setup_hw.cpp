#include "core/devices_setup.hpp"

#include <new>

#include "arch/x86/port_io.hpp"
#include "core/hypercall.hpp"
#include "crypto/secure_wipe.hpp"
#include "crypto/xts.hpp"
#include "devices/acpi/acpi_tables.hpp"
#include "devices/acpi/power_control.hpp"
#include "devices/pci/pci_config.hpp"
#include "devices/storage/ide/ide_pci_function.hpp"
#include "lib/log.hpp"

namespace sv {
namespace {
constexpr size_t max_ide_functions = 2;
constexpr uint64_t shadow_per_channel = ide::kShadowBufferBytes + (64 << 10); // buffer + table + slack

x86::HardwarePortIo hardware_io;
pci::ConfigSpace config_space(hardware_io);
pci::ConfigMediator config_mediator(hardware_io);
crypto::Xts disk_cipher; // in hypervisor memory only; wiped at power-off/reset
alignas(16) uint8_t key_bytes[64];

pci::Address ide_addresses[max_ide_functions];
size_t ide_count = 0;
// Storage controllers without a mediator yet (AHCI, NVMe, ...).
constexpr size_t max_other_storage = 8;
pci::Address other_storage[max_other_storage];
uint8_t other_storage_subclass[max_other_storage];
size_t other_storage_count = 0;
alignas(ide::IdePciFunction) uint8_t ide_storage[max_ide_functions][sizeof(ide::IdePciFunction)];
ide::IdePciFunction* ide_functions[max_ide_functions] = {};
const ExitCounters* exit_counters = nullptr;


void log_statistics() {
    if (exit_counters) {
        log::info("exits: {} total", exit_counters->total());
        for (unsigned r = 0; r < static_cast<unsigned>(ExitReason::Count); ++r)
            if (exit_counters->by_reason[r])
                log::info("exits: {} {}", to_string(static_cast<ExitReason>(r)), exit_counters->by_reason[r]);
        for (size_t i = 0; i < exit_counters->ports; ++i)
            log::info("exits: port {:x} {}", exit_counters->by_port[i].port, exit_counters->by_port[i].count);
        if (exit_counters->other_ports) log::info("exits: port other {}", exit_counters->other_ports);
    }
    for (size_t f = 0; f < ide_count; ++f) {
        for (unsigned c = 0; c < 2; ++c) {
            const ide::IdeStats& s = ide_functions[f]->channel(c).stats();
            log::info("ide{}.{}: dma {} encrypted {} B decrypted {} B copied {} B aborted {}", f, c,
                      s.dma_transfers, s.bytes_encrypted, s.bytes_decrypted, s.bytes_copied, s.aborted);
        }
    }
}

acpi::PowerControl power_control(hardware_io, [](const char* why) {
    log::info("guest requested {}", why);
    log_statistics();
    const bool had_key = disk_cipher.has_key();
    disk_cipher.clear();
    if (had_key) log::info("disk key wiped");
});

} // namespace

uint64_t StorageInventory::shadow_bytes() const { return ide_functions * 2 * shadow_per_channel; }

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
                if (cls == 0x01 && sub == 0x01 && ide_count < max_ide_functions) {
                    log::info("PCI {}:{}.{}: IDE controller {:x}", bus, dev, fn, id);
                    ide_addresses[ide_count++] = a;
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
                           IoDispatcher& io) {
    const crypto::Xts* cipher = disk_cipher.has_key() ? &disk_cipher : nullptr;
    for (size_t i = 0; i < ide_count; ++i) {
        ide_functions[i] = new (ide_storage[i]) ide::IdePciFunction(ide_addresses[i], config_space, hardware_io,
                                                                    guest_ram, hv.heap(), cipher, io);
        TRY(ide_functions[i]->init());
        if (!config_mediator.watch(ide_addresses[i], *ide_functions[i])) return fail(Error::OutOfMemory);
    }
    // With a key loaded, a storage controller we do not mediate could write
    // plaintext to its disks and DMA into hypervisor memory (the key!):
    // it may not master the bus at all (fail closed).
    if (disk_cipher.has_key()) {
        for (size_t i = 0; i < other_storage_count; ++i) {
            if (!config_mediator.block_bus_mastering(other_storage[i])) return fail(Error::OutOfMemory);
            log::warn("PCI {}:{}.{}: storage controller (subclass {:x}) is not mediated yet: DMA disabled "
                      "while disk encryption is on",
                      other_storage[i].bus, other_storage[i].device, other_storage[i].function,
                      other_storage_subclass[i]);
        }
    }
    // 0xCF9 (reset control) sits inside CONFIG_ADDRESS: its own handler.
    TRY(io.add(0xCF8, 1, config_mediator));
    TRY(io.add(0xCFA, 6, config_mediator));
    TRY(io.add(acpi::PowerControl::reset_control_port, 1, power_control));
    Result<acpi::PowerControlPorts> pm = acpi::find_power_control(firmware_memory);
    if (pm.ok()) {
        TRY(io.add(pm.value().pm1a_control, 2, power_control));
        if (pm.value().pm1b_control) TRY(io.add(pm.value().pm1b_control, 2, power_control));
        log::info("ACPI PM1 control at port {:x}: power-off wipes the disk key", pm.value().pm1a_control);
    } else if (disk_cipher.has_key()) {
        log::warn("no ACPI FADT found: cannot wipe the key at power-off");
    }
    return {};
}

PortIo& hardware_ports() { return hardware_io; }

void set_sleep_control(acpi::SleepControl* sleep) { power_control.set_sleep_control(sleep); }

namespace {
// Configuration a mediated IDE function loses in the S3 reset and that its
// mediator depends on (PCI 3.0 §6.2: command, BARs, interrupt line; PIIX4
// datasheet §3.3 IDETIM/SIDETIM/UDMACTL/UDMATIM at 40h-4Bh). Restored as
// firmware restores chipset state, BARs before the command register.
constexpr uint8_t saved_dwords[] = {0x10, 0x14, 0x18, 0x1C, 0x20, 0x3C, 0x40, 0x44, 0x48, 0x04};
uint32_t ide_saved_config[max_ide_functions][sizeof saved_dwords];

uint32_t config_address(pci::Address a, uint8_t offset) {
    return 0x80000000u | uint32_t{a.bus} << 16 | uint32_t{a.device} << 11 | uint32_t{a.function} << 8 | offset;
}
void config_write32(pci::Address a, uint8_t offset, uint32_t value) {
    hardware_io.out(0xCF8, 4, config_address(a, offset));
    hardware_io.out(0xCFC, 4, value);
}
} // namespace

void save_devices_for_sleep() {
    for (size_t f = 0; f < ide_count; ++f)
        for (size_t i = 0; i < sizeof saved_dwords; ++i)
            ide_saved_config[f][i] = config_space.read32(ide_addresses[f], saved_dwords[i]);
}

void resync_devices_after_resume() {
    for (size_t f = 0; f < ide_count; ++f) {
        for (size_t i = 0; i < sizeof saved_dwords; ++i) {
            uint32_t v = ide_saved_config[f][i];
            if (saved_dwords[i] == 0x04) v &= 0xFFFF; // command only: status bits are write-1-to-clear
            config_write32(ide_addresses[f], saved_dwords[i], v);
        }
        ide_functions[f]->platform_reset();
        log::info("IDE {}:{}.{}: configuration restored, mediators re-synced after the S3 reset",
                  ide_addresses[f].bus, ide_addresses[f].device, ide_addresses[f].function);
    }
}

void set_exit_counters_source(const ExitCounters* counters) { exit_counters = counters; }

} // namespace sv

// AMD IOMMU MMIO registers, commands and event-log entries (AMD IOMMU
// Specification 48882 rev 3.x §3.4 MMIO registers, §2.4 commands, §2.5
// events): the few the hypervisor programs. Offsets and bits as the spec
// numbers them. The register block is 16 KiB (§3.4: 0000h-1FFFh and the
// head/tail pointers at 2000h-3FFFh; performance counters beyond it are an
// optional feature the hypervisor neither uses nor exposes).
#pragma once

#include <cstdint>

namespace sv::amdvi {

constexpr uint64_t register_block_bytes = 16 * 1024;

namespace reg {
constexpr uint32_t device_table_base = 0x0000;  // §3.4.1: 51:12 base, 8:0 size (4 KiB pages - 1)
constexpr uint32_t command_buffer_base = 0x0008; // §3.4.2: 51:12 base, 59:56 ComLen (2^n entries)
constexpr uint32_t event_log_base = 0x0010;     // §3.4.3: 51:12 base, 59:56 EventLen
constexpr uint32_t control = 0x0018;            // §3.4.4
constexpr uint32_t exclusion_base = 0x0020;     // §3.4.5: bit 0 ExEn, bit 1 Allow
constexpr uint32_t exclusion_limit = 0x0028;
constexpr uint32_t extended_features = 0x0030;  // §3.4.6 EFR
constexpr uint32_t command_head = 0x2000;       // §3.4.9: 18:4 byte offset
constexpr uint32_t command_tail = 0x2008;
constexpr uint32_t event_head = 0x2010;
constexpr uint32_t event_tail = 0x2018;
constexpr uint32_t status = 0x2020;             // §3.4.10
} // namespace reg

constexpr uint64_t address_mask = 0x000FFFFFFFFFF000ull; // bits 51:12 of the base registers
constexpr uint64_t pointer_mask = 0x7FFF0ull;            // head/tail: bits 18:4
constexpr unsigned length_shift = 56;                    // ComLen / EventLen, bits 59:56
constexpr uint64_t device_table_size_mask = 0x1FF;       // bits 8:0
constexpr uint64_t device_table_full = 0x1FF;            // 512 pages: DeviceIDs 0-FFFFh

// §3.4.4 IOMMU Control Register.
namespace ctl {
constexpr uint64_t iommu_enable = 1ull << 0;
constexpr uint64_t ht_tunnel = 1ull << 1;
constexpr uint64_t event_log_enable = 1ull << 2;
constexpr uint64_t event_interrupt = 1ull << 3;
constexpr uint64_t completion_interrupt = 1ull << 4;
constexpr uint64_t command_buffer_enable = 1ull << 12;
constexpr uint64_t ppr_log_enable = 1ull << 13;
constexpr uint64_t ppr_interrupt = 1ull << 14;
constexpr uint64_t ppr_enable = 1ull << 15;
constexpr uint64_t guest_translation = 1ull << 16;
constexpr uint64_t ga_enable = 1ull << 17;         // guest virtual APIC
constexpr uint64_t interrupt_remapping_x2apic = 1ull << 50; // XTEn
// What the hypervisor turns off before programming the unit: every engine
// and interrupt it does not use (firmware or a previous owner may have left
// them on).
constexpr uint64_t owned_off = iommu_enable | event_log_enable | event_interrupt | completion_interrupt |
                               command_buffer_enable | ppr_log_enable | ppr_interrupt | ppr_enable |
                               guest_translation | ga_enable;
} // namespace ctl

// §3.4.10 IOMMU Status Register (the low bits are RW1C).
namespace sts {
constexpr uint64_t event_overflow = 1ull << 0;
constexpr uint64_t event_interrupt = 1ull << 1;
constexpr uint64_t completion_wait_interrupt = 1ull << 2;
constexpr uint64_t event_log_running = 1ull << 3;
constexpr uint64_t command_buffer_running = 1ull << 4;
constexpr uint64_t write_one_to_clear = event_overflow | event_interrupt | completion_wait_interrupt;
} // namespace sts

// §3.4.6 Extended Feature Register.
namespace efr {
constexpr uint64_t invalidate_all = 1ull << 6; // IASup: INVALIDATE_IOMMU_ALL
} // namespace efr

// §2.4 commands: 128 bits, opcode in bits 63:60 of the first quadword.
struct Command {
    uint64_t lo = 0, hi = 0;
};
static_assert(sizeof(Command) == 16);
constexpr unsigned opcode_shift = 60;
namespace op {
constexpr uint64_t completion_wait = 0x1;
constexpr uint64_t invalidate_devtab_entry = 0x2;
constexpr uint64_t invalidate_iommu_pages = 0x3;
constexpr uint64_t invalidate_iommu_all = 0x8;
} // namespace op

// §2.4.1 COMPLETION_WAIT: S (bit 0) stores `data` at the 8-byte aligned
// `store` when every earlier command has completed.
constexpr Command completion_wait(uint64_t store, uint64_t data) {
    return {(store & 0x000FFFFFFFFFFFF8ull) | 1u | op::completion_wait << opcode_shift, data};
}
// §2.4.2 INVALIDATE_DEVTAB_ENTRY: DeviceID in bits 15:0.
constexpr Command invalidate_devtab_entry(uint16_t device_id) {
    return {device_id | op::invalidate_devtab_entry << opcode_shift, 0};
}
// §2.4.3 INVALIDATE_IOMMU_PAGES of a whole domain: DomainID in bits 47:32,
// S = 1 and PDE = 1 with address 7FFF_FFFF_FFFF_F000h (every page, every
// cached page-directory entry).
constexpr uint64_t pages_size = 1u << 0, pages_pde = 1u << 1;
constexpr uint64_t all_pages_address = 0x7FFFFFFFFFFFF000ull;
constexpr Command invalidate_domain(uint16_t domain) {
    return {static_cast<uint64_t>(domain) << 32 | op::invalidate_iommu_pages << opcode_shift,
            all_pages_address | pages_pde | pages_size};
}
// §2.4.6 INVALIDATE_IOMMU_ALL (EFR.IASup).
constexpr Command invalidate_all() { return {op::invalidate_iommu_all << opcode_shift, 0}; }

// §2.5 event log entries: 128 bits; DeviceID 15:0, event code 63:60, the
// flags 59:48 of the first quadword; the address in the second.
struct Event {
    uint64_t lo = 0, hi = 0;
    constexpr uint16_t device_id() const { return static_cast<uint16_t>(lo); }
    constexpr unsigned code() const { return static_cast<unsigned>(lo >> 60); }
    constexpr unsigned flags() const { return static_cast<unsigned>(lo >> 48) & 0xFFF; }
    constexpr uint64_t address() const { return hi; }
};
static_assert(sizeof(Event) == 16);
namespace event {
constexpr unsigned illegal_dev_table_entry = 0x1;
constexpr unsigned io_page_fault = 0x2;
constexpr unsigned dev_tab_hardware_error = 0x3;
constexpr unsigned page_tab_hardware_error = 0x4;
constexpr unsigned illegal_command = 0x5;
constexpr unsigned command_hardware_error = 0x6;
constexpr unsigned fault_flag_write = 1u << 5;  // IO_PAGE_FAULT RW (bit 53 of the quadword)
} // namespace event

} // namespace sv::amdvi

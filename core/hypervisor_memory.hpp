// The hypervisor's memory: its image (where the loader put it) and one heap
// carved from the top of RAM below 4 GiB (shadow DMA buffers need 32-bit bus
// addresses for IDE PRDs). Both are removed from the guest's e820 map and,
// in the nested page tables, replaced by a read-only page of zeros, so a
// guest read (e.g. /dev/mem) shows zeros and a write is dropped.
#pragma once

#include <cstdint>

#include "core/guest_memory.hpp"
#include "core/memory_map.hpp"
#include "core/mmio_dispatch.hpp"
#include "core/multiboot.hpp"
#include "core/nested_format.hpp"
#include "core/nested_identity.hpp"
#include "core/nested_paging.hpp"
#include "core/nested_tlb.hpp"
#include "core/phys_heap.hpp"
#include "lib/result.hpp"

namespace sv {

// The ISA DMA controller (8237A) forms 24-bit addresses (page register +
// 16-bit address, Intel 8237A data sheet; PIIX4 datasheet §4.7, "DMA
// addresses above 16 Mbyte are not supported"): no hypervisor memory may lie
// below this, so legacy DMA can never reach it (the high page registers
// QEMU adds at 0x481-0x48F are pinned to 0: devices/isa/isa_dma_guard.hpp).
constexpr uint64_t isa_dma_limit = 16ull << 20;

// True when [base, base+length) lies at or above isa_dma_limit.
constexpr bool above_isa_dma_reach(uint64_t base, uint64_t length) {
    return length == 0 || base >= isa_dma_limit;
}

class HypervisorMemory final : public MmioMapper {
  public:
    static constexpr uint64_t default_heap_bytes = 16ull << 20;

    // Picks the heap, builds the guest map, switches to our own host page
    // tables (identity map of all physical memory).
    [[nodiscard]] Result<void> reserve(const BootInfo& boot, uint64_t heap_bytes = default_heap_bytes);
    void log_summary() const;
    // Identity nested page tables in the backend's `format` with hypervisor
    // ranges hidden (core/nested_identity.hpp); returns the root (nCR3 or
    // the EPTP address). Every later change (trap_writes, set_trap) ends
    // with flush.nested_mapping_changed() so vCPUs drop stale translations.
    [[nodiscard]] Result<uint64_t> build_nested_paging(const NestedFormat& format, NestedTlbFlush& flush);
    // Guest writes to this 4 KiB page exit (NPF) so a mediator sees them.
    [[nodiscard]] Result<void> trap_writes(uint64_t gpa);
    // MmioMapper: [base, base+length) read-only (writes trapped), not
    // present (reads and writes trapped) or back to the identity read-write
    // mapping. Never touches hypervisor memory.
    [[nodiscard]] Result<void> set_trap(uint64_t base, uint64_t length, MmioTrap trap) override;
    // Whether the nested page tables map [base, base+length) 1:1.
    bool nested_mapped(uint64_t base, uint64_t length) const {
        return base + length >= base && base + length <= map_top_;
    }

    const MemoryMap& guest_map() const { return guest_map_; }
    PhysHeap& heap() { return heap_; }
    bool overlaps(uint64_t base, uint64_t length) const;
    // The image and the heap (what no device but a mediated one may reach).
    PhysRange image() const { return {image_start_, image_end_ - image_start_}; }
    PhysRange heap_range() const { return {heap_base_, heap_size_}; }
    uint64_t reserved_bytes() const { return (image_end_ - image_start_) + heap_size_; }

  private:
    MemoryMap guest_map_;
    PhysHeap heap_;
    NestedPageTable npt_{heap_, nested_format_npt}; // rebuilt in the backend's format by build_nested_paging
    uint64_t image_start_ = 0, image_end_ = 0;
    uint64_t heap_base_ = 0, heap_size_ = 0;
    uint64_t map_top_ = 0; // nested/host maps cover [0, map_top_)
};

// Guest-physical access for mediators and the exit handler: only guest RAM
// (per the e820 map handed to the guest) maps; hypervisor memory, MMIO and
// holes give nullptr.
class GuestRam final : public GuestMemory {
  public:
    void init(const MemoryMap& guest_map) { map_ = &guest_map; }
    uint8_t* map(uint64_t gpa, uint64_t len) override;

  private:
    const MemoryMap* map_ = nullptr;
};

} // namespace sv

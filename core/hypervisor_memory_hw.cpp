#include "arch/x86/cpu.hpp"
#include "core/hypervisor_memory.hpp"
#include "core/nested_identity.hpp"
#include "lib/log.hpp"

extern "C" char __load_start[], __bss_end[];

namespace sv {
namespace {
constexpr uint64_t mib = 1ull << 20;
constexpr uint64_t gib = 1ull << 30;
constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

// A random string that lives only in hypervisor memory. Tests scan guest-
// visible physical memory for it to prove our memory is hidden.
char memory_marker[17] = "0000000000000000";

uint64_t random64() {
    uint64_t v = 0;
    if (x86::cpuid(1).ecx & (1u << 30)) { // RDRAND
        for (int i = 0; i < 10; ++i) {
            unsigned char ok;
            asm volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok));
            if (ok) return v;
        }
    }
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    v = (static_cast<uint64_t>(hi) << 32 | lo) * 0x9E3779B97F4A7C15ull;
    return v ^ (v >> 29);
}

// Host page tables: identity map of [0, top) with 2 MiB pages, in the
// long-mode format NPT shares (the cache type comes from the MTRRs).
Result<void> build_host_page_tables(PhysHeap& heap, uint64_t top) {
    NestedPageTable host(heap, nested_format_npt);
    TRY(host.init());
    TRY(host.map(0, 0, top, NestedAccess::ReadWriteExecute));
    x86::write_cr3(host.root());
    return {};
}
} // namespace

Result<void> HypervisorMemory::reserve(const BootInfo& boot, uint64_t heap_bytes) {
    image_start_ = reinterpret_cast<uint64_t>(__load_start) & ~(2 * mib - 1);
    image_end_ = align_up(reinterpret_cast<uint64_t>(__bss_end), 2 * mib);
    heap_size_ = align_up(heap_bytes, 2 * mib);

    guest_map_ = boot.memory;
    heap_base_ = guest_map_.find_top_ram(heap_size_, 2 * mib, 4 * gib);
    if (!heap_base_) {
        log::error("not enough RAM below 4 GiB for the {} MiB hypervisor heap", heap_size_ / mib);
        return fail(Error::OutOfMemory);
    }
    // Refuse to start with any hypervisor range inside legacy DMA reach.
    if (!above_isa_dma_reach(image_start_, image_end_ - image_start_) || !above_isa_dma_reach(heap_base_, heap_size_)) {
        log::error("hypervisor memory below 16 MiB (image {:x}, heap {:x}): the ISA DMA controller could reach it",
                   image_start_, heap_base_);
        return fail(Error::Protected);
    }
    for (size_t i = 0; i < boot.module_count; ++i) {
        const BootModule& m = boot.modules[i];
        if (m.start < heap_base_ + heap_size_ && heap_base_ < m.end) {
            log::error("boot module {} overlaps the hypervisor heap", i);
            return fail(Error::OutOfMemory);
        }
    }
    TRY(guest_map_.carve(image_start_, image_end_ - image_start_, MemoryType::Reserved));
    TRY(guest_map_.carve(heap_base_, heap_size_, MemoryType::Reserved));
    heap_.init(reinterpret_cast<uint8_t*>(heap_base_), heap_base_, heap_size_);

    // Map everything the guest could address: RAM plus a generous MMIO
    // window (64-bit BARs above RAM), at least 64 GiB.
    map_top_ = align_up(guest_map_.highest_end(), gib);
    if (map_top_ < 64 * gib) map_top_ = 64 * gib;
    TRY(build_host_page_tables(heap_, map_top_));

    const uint64_t r = random64();
    for (int i = 0; i < 16; ++i) memory_marker[i] = "0123456789abcdef"[(r >> (60 - 4 * i)) & 15];
    DmaBuffer copy = TRY(heap_.allocate(sizeof memory_marker, 16));
    for (size_t i = 0; i < sizeof memory_marker; ++i) copy.host[i] = static_cast<uint8_t>(memory_marker[i]);
    return {};
}

void HypervisorMemory::log_summary() const {
    log::info("hypervisor memory: {} KiB (image {} KiB at {:x}, heap {} KiB at {:x})",
              reserved_bytes() / 1024, (image_end_ - image_start_) / 1024, image_start_,
              heap_size_ / 1024, heap_base_);
    log::info("hypervisor memory marker: {}", static_cast<const char*>(memory_marker));
    log::info("guest RAM: {} KiB in the e820 map handed to the guest", guest_map_.total(MemoryType::Ram) / 1024);
}

Result<uint64_t> HypervisorMemory::build_nested_paging(const NestedFormat& format, NestedTlbFlush& flush) {
    npt_ = NestedPageTable(heap_, format);
    TRY(npt_.init());
    DmaBuffer zero = TRY(heap_.allocate(4096, 4096));
    const PhysRange hidden[] = {{image_start_, image_end_ - image_start_}, {heap_base_, heap_size_}};
    TRY(build_identity_map(npt_, guest_map_, map_top_, hidden, sizeof hidden / sizeof hidden[0], zero.phys));
    npt_.set_tlb_flush(&flush);
    return npt_.root();
}

Result<void> HypervisorMemory::trap_writes(uint64_t gpa) {
    const uint64_t page = gpa & ~0xFFFull;
    return npt_.map(page, page, 4096, NestedAccess::ReadExecute.with(identity_cache_type(guest_map_, page, 4096)));
}

Result<void> HypervisorMemory::set_trap(uint64_t base, uint64_t length, MmioTrap trap) {
    if (overlaps(base, length) || !nested_mapped(base, length)) return fail(Error::Protected);
    // The table's NestedTlbFlush hook makes every vCPU drop its cached
    // translations of the range before its next entry (core/nested_tlb.hpp);
    // the caller (MmioDispatcher) then shoots down the vCPUs running guest
    // code (core/tlb_shootdown.hpp) before it relies on the change. The
    // memory type stays the one build_nested_paging gave the range.
    const NestedAccess access = trap == MmioTrap::Released ? NestedAccess::ReadWriteExecute
                                : trap == MmioTrap::Writes ? NestedAccess::ReadExecute
                                                           : NestedAccess::None;
    return npt_.map(base, base, length, access.with(identity_cache_type(guest_map_, base, length)));
}

bool HypervisorMemory::overlaps(uint64_t base, uint64_t length) const {
    const uint64_t end = base + length;
    return (base < image_end_ && image_start_ < end) || (base < heap_base_ + heap_size_ && heap_base_ < end);
}

uint8_t* GuestRam::map(uint64_t gpa, uint64_t len) {
    if (!map_ || len == 0) return nullptr;
    if (!map_->is_ram(gpa, len)) return nullptr;
    return reinterpret_cast<uint8_t*>(gpa);
}

} // namespace sv

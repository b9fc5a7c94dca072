// One AMD IOMMU, programmed by the hypervisor before the guest runs (AMD
// IOMMU Specification 48882 rev 3.x §3.3.1 enabling, §2.4 command buffer,
// §2.5 event log): turn off whatever firmware left on, point the unit at the
// device table, a command buffer and an event log, enable them and the
// IOMMU, then invalidate every cached device-table entry and page
// translation (INVALIDATE_IOMMU_ALL where EFR.IASup, else every DeviceID's
// INVALIDATE_DEVTAB_ENTRY and both domains' INVALIDATE_IOMMU_PAGES) and wait
// for a COMPLETION_WAIT store. Events (IO_PAGE_FAULT, ILLEGAL_DEV_TABLE_ENTRY,
// ...) are collected by polling: each device is logged once and every event
// counted; the event and completion interrupts stay off (the hypervisor
// takes no interrupts of its own). Every wait is bounded: a unit that never
// answers is an error, never a hang.
#pragma once

#include <cstddef>
#include <cstdint>

#include "devices/iommu/amdvi/amdvi_registers.hpp"
#include "lib/result.hpp"

namespace sv::amdvi {

// 64-bit accesses to the unit's register block (the hardware, or a model).
class RegisterIo {
  public:
    virtual uint64_t read64(uint32_t offset) = 0;
    virtual void write64(uint32_t offset, uint64_t value) = 0;

  protected:
    ~RegisterIo() = default;
};

// Hypervisor memory the unit reads and writes itself: 4 KiB each, zeroed,
// 4 KiB aligned (host view and physical address).
struct UnitMemory {
    static constexpr size_t ring_entries = 256; // 4 KiB of 16-byte entries: ComLen/EventLen = 8
    Command* commands = nullptr;
    uint64_t commands_phys = 0;
    Event* events = nullptr;
    uint64_t events_phys = 0;
    volatile uint64_t* wait = nullptr; // COMPLETION_WAIT store target
    uint64_t wait_phys = 0;
};

struct UnitFacts {
    uint64_t features = 0;       // EFR
    uint64_t control_before = 0; // what firmware left in the control register
    bool was_enabled = false;
};

struct EventStats {
    uint64_t faults = 0;         // IO_PAGE_FAULT
    uint64_t illegal_entries = 0; // ILLEGAL_DEV_TABLE_ENTRY
    uint64_t other = 0;          // every other event code
    uint64_t overflows = 0;
    uint64_t sources_logged = 0;
    uint64_t past_tail = 0; // entries found in memory beyond the tail register (QEMU's model keeps its tail internal)
};

class AmdviUnit {
  public:
    static constexpr uint32_t default_spin_limit = 10'000'000;
    static constexpr size_t max_logged_sources = 64;

    AmdviUnit(RegisterIo& io, const UnitMemory& memory, uint32_t spin_limit = default_spin_limit)
        : io_(io), mem_(memory), spins_(spin_limit) {}

    UnitFacts probe();
    // `device_table` is 4 KiB aligned and covers every DeviceID (2 MiB).
    // DeviceError: the unit did not take a command within the spin limit.
    [[nodiscard]] Result<void> enable(uint64_t device_table, const uint16_t* domains, size_t domain_count,
                                      void (*write_back_caches)() = nullptr);
    // Collects the events logged since the last call, `log` once per new
    // source (bounded: after max_logged_sources new sources only counted).
    size_t poll_events(void (*log)(const Event&));
    bool translating();
    const EventStats& event_stats() const { return stats_; }
    uint64_t commands_sent() const { return sent_; }

  private:
    Result<void> submit(const Command& c);
    Result<void> wait_for_completion();
    bool first_time(uint16_t source);
    void account(const Event& e, void (*log)(const Event&));
    void clear_log();

    RegisterIo& io_;
    UnitMemory mem_;
    uint32_t spins_;
    UnitFacts facts_;
    EventStats stats_;
    uint32_t tail_ = 0;   // next command slot, bytes
    uint32_t cursor_ = 0; // next event-log slot to read, bytes
    uint64_t sequence_ = 0;
    uint64_t sent_ = 0;
    uint16_t logged_[max_logged_sources]{};
    size_t logged_count_ = 0;
};

} // namespace sv::amdvi

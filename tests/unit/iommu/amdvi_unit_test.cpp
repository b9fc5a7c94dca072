// The AMD-Vi programming sequence (AMD IOMMU Specification 48882 §3.3.1,
// §2.4 commands, §2.5 event log) against a simulated IOMMU: a register file
// plus the command buffer, event log and completion store in memory. The
// model runs commands only while IommuEn and CmdBufEn are set, checks their
// reserved bits like QEMU's model does, and stores COMPLETION_WAIT data.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "devices/iommu/amdvi/amdvi_unit.hpp"

namespace sv::amdvi {
namespace {

constexpr uint64_t device_table = 0x40000000;
constexpr uint64_t commands_phys = 0x41000000, events_phys = 0x41001000, wait_phys = 0x41002000;

struct Memory {
    alignas(4096) Command commands[256]{};
    alignas(4096) Event events[256]{};
    alignas(4096) uint64_t wait[512]{};
    UnitMemory unit() {
        UnitMemory m;
        m.commands = commands;
        m.commands_phys = commands_phys;
        m.events = events;
        m.events_phys = events_phys;
        m.wait = wait;
        m.wait_phys = wait_phys;
        return m;
    }
};

class Model final : public RegisterIo {
  public:
    explicit Model(Memory& m) : mem_(m) {}
    uint64_t features = efr::invalidate_all;
    bool responsive = true;
    bool stuck_running = false;
    bool moves_tail = true; // false: QEMU 7.2, which writes entries but never its tail register
    std::map<uint32_t, uint64_t> regs;
    std::vector<std::pair<uint32_t, uint64_t>> writes;
    std::vector<uint64_t> opcodes;
    std::multiset<uint16_t> devtab_ids;
    std::vector<uint16_t> domains;
    size_t reserved_violations = 0;

    uint64_t read64(uint32_t off) override {
        if (off == reg::extended_features) return features;
        if (off == reg::status) {
            uint64_t s = regs[reg::status];
            const uint64_t c = regs[reg::control];
            if (stuck_running || ((c & ctl::iommu_enable) && (c & ctl::command_buffer_enable)))
                s |= sts::command_buffer_running;
            if ((c & ctl::iommu_enable) && (c & ctl::event_log_enable)) s |= sts::event_log_running;
            return s;
        }
        return regs[off];
    }
    void write64(uint32_t off, uint64_t v) override {
        writes.emplace_back(off, v);
        if (off == reg::status) {
            regs[off] &= ~(v & sts::write_one_to_clear);
            return;
        }
        regs[off] = v;
        if (off == reg::event_tail) tail_ = v;
        if (off == reg::control || off == reg::command_tail) run();
    }
    // Firmware-side: the unit appends an event at the log's tail.
    void log_event(uint16_t id, unsigned code, uint64_t address, unsigned flags = 0) {
        if (moves_tail) tail_ = regs[reg::event_tail];
        if ((tail_ + 16) % 4096 == regs[reg::event_head]) {
            regs[reg::status] |= sts::event_overflow;
            return;
        }
        mem_.events[tail_ / 16] = Event{id | static_cast<uint64_t>(flags) << 48 | static_cast<uint64_t>(code) << 60,
                                        address};
        tail_ = (tail_ + 16) % 4096;
        if (moves_tail) regs[reg::event_tail] = tail_;
    }

  private:
    void run() {
        const uint64_t c = regs[reg::control];
        if (!responsive || !(c & ctl::iommu_enable) || !(c & ctl::command_buffer_enable)) return;
        EXPECT_EQ(regs[reg::command_buffer_base] & address_mask, commands_phys);
        EXPECT_EQ(regs[reg::command_buffer_base] >> length_shift & 0xF, 8u);
        while (regs[reg::command_head] != regs[reg::command_tail]) {
            const Command cmd = mem_.commands[regs[reg::command_head] / 16];
            const uint64_t op = cmd.lo >> 60;
            opcodes.push_back(op);
            switch (op) {
            case op::completion_wait:
                if ((cmd.lo >> 52) & 0xFF) ++reserved_violations;
                if (cmd.lo & 1) {
                    EXPECT_EQ(cmd.lo & 0x000FFFFFFFFFFFF8ull, wait_phys);
                    mem_.wait[0] = cmd.hi;
                }
                break;
            case op::invalidate_devtab_entry:
                if (((cmd.lo >> 16) & ((1ull << 44) - 1)) || cmd.hi) ++reserved_violations;
                devtab_ids.insert(static_cast<uint16_t>(cmd.lo));
                break;
            case op::invalidate_iommu_pages:
                if (((cmd.lo >> 20) & 0xFFF) || ((cmd.lo >> 48) & 0xFFF) || ((cmd.hi >> 3) & 0x1FF))
                    ++reserved_violations;
                EXPECT_EQ(cmd.hi & ~0xFFFull, all_pages_address);
                EXPECT_EQ(cmd.hi & 3, 3u) << "S and PDE";
                domains.push_back(static_cast<uint16_t>(cmd.lo >> 32));
                break;
            case op::invalidate_iommu_all:
                if ((cmd.lo & ((1ull << 60) - 1)) || cmd.hi) ++reserved_violations;
                break;
            default: ADD_FAILURE() << "unexpected opcode " << op;
            }
            regs[reg::command_head] = (regs[reg::command_head] + 16) % 4096;
        }
    }
    Memory& mem_;
    uint64_t tail_ = 0;
};

constexpr uint16_t domains[] = {1, 2};

TEST(AmdviCommands, EncodingsMatchTheSpec) {
    const Command w = completion_wait(0x123456788, 0xABCD);
    EXPECT_EQ(w.lo >> 60, 1u);
    EXPECT_EQ(w.lo & 1, 1u) << "S: store";
    EXPECT_EQ(w.lo & 6, 0u) << "no interrupt, no flush";
    EXPECT_EQ(w.lo & 0x000FFFFFFFFFFFF8ull, 0x123456788u);
    EXPECT_EQ(w.hi, 0xABCDu);
    EXPECT_EQ(invalidate_devtab_entry(0x1234).lo, 0x2000000000001234ull);
    EXPECT_EQ(invalidate_devtab_entry(0x1234).hi, 0u);
    EXPECT_EQ(invalidate_domain(7).lo, 0x3000000700000000ull);
    EXPECT_EQ(invalidate_domain(7).hi, 0x7FFFFFFFFFFFF003ull);
    EXPECT_EQ(invalidate_all().lo, 0x8000000000000000ull);
    const Event e{0x2020'0000'0000'0010ull | (1ull << 53), 0x1f541040};
    EXPECT_EQ(e.code(), event::io_page_fault);
    EXPECT_EQ(e.device_id(), 0x10);
    EXPECT_TRUE(e.flags() & event::fault_flag_write);
    EXPECT_EQ(e.address(), 0x1f541040u);
}

TEST(AmdviUnit, EnableProgramsTablesThenEnablesThenInvalidatesAll) {
    Memory mem;
    Model m(mem);
    AmdviUnit unit(m, mem.unit(), 1000);
    EXPECT_FALSE(unit.probe().was_enabled);
    ASSERT_TRUE(unit.enable(device_table, domains, 2).ok());
    EXPECT_EQ(m.regs[reg::device_table_base], device_table | 0x1FF) << "2 MiB: every DeviceID";
    EXPECT_EQ(m.regs[reg::event_log_base], events_phys | 8ull << 56);
    const uint64_t c = m.regs[reg::control];
    EXPECT_TRUE(c & ctl::iommu_enable);
    EXPECT_TRUE(c & ctl::command_buffer_enable);
    EXPECT_TRUE(c & ctl::event_log_enable);
    EXPECT_FALSE(c & (ctl::event_interrupt | ctl::completion_interrupt | ctl::ppr_enable | ctl::guest_translation));
    EXPECT_TRUE(unit.translating());
    EXPECT_EQ(m.opcodes, (std::vector<uint64_t>{op::invalidate_iommu_all, op::completion_wait}));
    EXPECT_EQ(m.reserved_violations, 0u);
    EXPECT_EQ(unit.commands_sent(), 2u);
    // Every base register was written while the IOMMU was off.
    bool on = false;
    for (const auto& [off, v] : m.writes) {
        if (off == reg::control) on = v & ctl::iommu_enable;
        if (off == reg::device_table_base || off == reg::command_buffer_base || off == reg::event_log_base ||
            off == reg::exclusion_base) {
            EXPECT_FALSE(on) << std::hex << off;
        }
    }
    EXPECT_TRUE(on);
}

TEST(AmdviUnit, WhatFirmwareLeftOnIsTurnedOffFirstAndTheExclusionRangeCleared) {
    Memory mem;
    Model m(mem);
    m.regs[reg::control] = ctl::iommu_enable | ctl::command_buffer_enable | ctl::ppr_enable | ctl::event_interrupt |
                           ctl::guest_translation | ctl::ht_tunnel;
    m.regs[reg::exclusion_base] = 0x3; // ExEn + Allow: everything untranslated
    m.regs[reg::exclusion_limit] = 0xFFFFFFFFF000;
    AmdviUnit unit(m, mem.unit(), 1000);
    EXPECT_TRUE(unit.probe().was_enabled);
    ASSERT_TRUE(unit.enable(device_table, domains, 2).ok());
    ASSERT_FALSE(m.writes.empty());
    EXPECT_EQ(m.writes[0].first, reg::control);
    EXPECT_EQ(m.writes[0].second & ctl::owned_off, 0u) << "first write turns everything off";
    EXPECT_EQ(m.regs[reg::exclusion_base], 0u);
    EXPECT_EQ(m.regs[reg::exclusion_limit], 0u);
    EXPECT_FALSE(m.regs[reg::control] & (ctl::ppr_enable | ctl::event_interrupt | ctl::guest_translation));
    EXPECT_TRUE(m.regs[reg::control] & ctl::ht_tunnel) << "bits the hypervisor does not own are kept";
}

TEST(AmdviUnit, WithoutInvalidateAllEveryDeviceIdAndBothDomains) {
    Memory mem;
    Model m(mem);
    m.features = 0;
    AmdviUnit unit(m, mem.unit(), 1000);
    (void)unit.probe();
    ASSERT_TRUE(unit.enable(device_table, domains, 2).ok());
    EXPECT_EQ(m.devtab_ids.size(), 65536u);
    EXPECT_EQ(m.devtab_ids.count(0), 1u);
    EXPECT_EQ(m.devtab_ids.count(0xFFFF), 1u);
    EXPECT_EQ(m.domains, (std::vector<uint16_t>{1, 2}));
    EXPECT_EQ(m.opcodes.back(), op::completion_wait);
    EXPECT_EQ(m.reserved_violations, 0u);
    EXPECT_EQ(unit.commands_sent(), 65536u + 3);
}

TEST(AmdviUnit, AnUnresponsiveUnitIsAnErrorNotAHang) {
    {
        Memory mem;
        Model m(mem);
        m.responsive = false;
        AmdviUnit unit(m, mem.unit(), 1000);
        (void)unit.probe();
        const Result<void> r = unit.enable(device_table, domains, 2);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error(), Error::DeviceError);
    }
    {
        Memory mem;
        Model m(mem);
        m.responsive = false;
        m.features = 0; // the ring fills and never drains
        AmdviUnit unit(m, mem.unit(), 1000);
        (void)unit.probe();
        EXPECT_FALSE(unit.enable(device_table, domains, 2).ok());
    }
    {
        Memory mem;
        Model m(mem);
        m.stuck_running = true; // the command buffer never reports stopped
        AmdviUnit unit(m, mem.unit(), 1000);
        EXPECT_FALSE(unit.enable(device_table, domains, 2).ok());
    }
}

std::vector<Event> logged;
void record(const Event& e) { logged.push_back(e); }

TEST(AmdviUnit, EventsAreLoggedOncePerDeviceAndCounted) {
    Memory mem;
    Model m(mem);
    AmdviUnit unit(m, mem.unit(), 1000);
    (void)unit.probe();
    m.log_event(0x10, event::io_page_fault, 0x7777000); // before enable: start-up noise
    ASSERT_TRUE(unit.enable(device_table, domains, 2).ok());
    logged.clear();
    m.log_event(0x10, event::io_page_fault, 0x1f541040);
    m.log_event(0x10, event::io_page_fault, 0x1f542040, event::fault_flag_write);
    m.log_event(0x18, event::io_page_fault, 0x1f541000);
    m.log_event(0x0300, event::illegal_dev_table_entry, device_table + 0x0300 * 32);
    m.log_event(0x0300, event::page_tab_hardware_error, 0);
    EXPECT_EQ(unit.poll_events(record), 5u);
    ASSERT_EQ(logged.size(), 3u);
    EXPECT_EQ(logged[0].device_id(), 0x10);
    EXPECT_EQ(logged[0].address(), 0x1f541040u);
    EXPECT_EQ(logged[1].device_id(), 0x18);
    EXPECT_EQ(logged[2].code(), event::illegal_dev_table_entry);
    EXPECT_EQ(unit.event_stats().faults, 3u);
    EXPECT_EQ(unit.event_stats().illegal_entries, 1u);
    EXPECT_EQ(unit.event_stats().other, 1u);
    EXPECT_EQ(unit.event_stats().sources_logged, 3u);
    EXPECT_EQ(m.regs[reg::event_head], m.regs[reg::event_tail]) << "the log was consumed";
    EXPECT_EQ(unit.poll_events(record), 0u);
    m.log_event(0x10, event::io_page_fault, 0x1f541040);
    EXPECT_EQ(unit.poll_events(record), 1u);
    EXPECT_EQ(logged.size(), 3u) << "a device is logged once";
    EXPECT_EQ(unit.event_stats().faults, 4u);
}

TEST(AmdviUnit, EntriesPastAStuckTailRegisterAreReadToo) {
    Memory mem;
    Model m(mem);
    m.moves_tail = false;
    AmdviUnit unit(m, mem.unit(), 1000);
    (void)unit.probe();
    ASSERT_TRUE(unit.enable(device_table, domains, 2).ok());
    logged.clear();
    m.log_event(0x18, event::io_page_fault, 0x1050020);
    m.log_event(0x18, event::io_page_fault, 0x1050024);
    EXPECT_EQ(m.regs[reg::event_tail], 0u);
    EXPECT_EQ(unit.poll_events(record), 2u);
    ASSERT_EQ(logged.size(), 1u);
    EXPECT_EQ(logged[0].address(), 0x1050020u);
    EXPECT_EQ(unit.event_stats().faults, 2u);
    EXPECT_EQ(unit.event_stats().past_tail, 2u);
    EXPECT_EQ(unit.poll_events(record), 0u) << "consumed entries are zeroed: never counted twice";
    m.log_event(0x20, event::io_page_fault, 0x1051000);
    EXPECT_EQ(unit.poll_events(record), 1u);
    EXPECT_EQ(logged.size(), 2u);
}

TEST(AmdviUnit, AnOverflowedLogIsCountedAndRestarted) {
    Memory mem;
    Model m(mem);
    AmdviUnit unit(m, mem.unit(), 1000);
    (void)unit.probe();
    ASSERT_TRUE(unit.enable(device_table, domains, 2).ok());
    for (int i = 0; i < 300; ++i) m.log_event(static_cast<uint16_t>(i), event::io_page_fault, 0x1000);
    ASSERT_TRUE(m.regs[reg::status] & sts::event_overflow);
    logged.clear();
    EXPECT_EQ(unit.poll_events(record), 255u);
    EXPECT_EQ(unit.event_stats().overflows, 1u);
    EXPECT_FALSE(m.regs[reg::status] & sts::event_overflow) << "cleared";
    EXPECT_TRUE(m.regs[reg::control] & ctl::event_log_enable) << "and the log on again";
    EXPECT_EQ(m.regs[reg::event_head], 0u);
    EXPECT_EQ(logged.size(), AmdviUnit::max_logged_sources) << "bounded logging";
    m.log_event(0x10, event::io_page_fault, 0x1000);
    EXPECT_EQ(unit.poll_events(record), 1u);
}

} // namespace
} // namespace sv::amdvi

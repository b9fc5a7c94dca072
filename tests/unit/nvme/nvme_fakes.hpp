// Test doubles for the NVMe controller side: a queue engine that records
// what the register emulation asks of it, and guest interrupts that record
// every message sent.
#pragma once

#include <cstdint>
#include <vector>

#include "core/guest_interrupts.hpp"
#include "devices/storage/nvme/nvme_controller.hpp"

namespace svtest {

struct RecordedInterrupts final : sv::GuestInterrupts {
    std::vector<sv::MsiMessage> sent;
    void deliver(const sv::MsiMessage& m) override { sent.push_back(m); }
};

struct FakeEngine final : sv::nvme::EngineSide {
    sv::nvme::ControllerPort* port = nullptr;
    uint16_t mqes = 1023;
    bool accept = true;
    sv::nvme::RealAdminQueues real{0x2000000, 0x2001000, 0x003f003f};
    struct Enable {
        uint32_t aqa;
        uint64_t asq, acq;
        uint32_t page;
    };
    std::vector<Enable> enables;
    unsigned resets = 0;
    std::vector<std::pair<uint16_t, uint32_t>> sq_tails, cq_heads;
    unsigned harvests = 0;
    // Work the next harvest finds: guest CQs (cqid, vector) it posts to.
    std::vector<std::pair<uint16_t, uint16_t>> work;
    std::vector<uint16_t> vectors;

    uint16_t guest_mqes() const override { return mqes; }
    bool enable(uint32_t aqa, uint64_t asq, uint64_t acq, uint32_t page, sv::nvme::RealAdminQueues& out) override {
        enables.push_back({aqa, asq, acq, page});
        if (accept) out = real;
        return accept;
    }
    void reset() override { ++resets; vectors.clear(); }
    void sq_tail_written(uint16_t q, uint32_t v) override { sq_tails.push_back({q, v}); }
    void cq_head_written(uint16_t q, uint32_t v) override { cq_heads.push_back({q, v}); }
    bool harvest() override {
        ++harvests;
        if (work.empty()) return false;
        for (auto [cq, v] : work) port->guest_interrupt(cq, v);
        work.clear();
        return true;
    }
    uint32_t vectors_in_use(uint16_t* out, uint32_t max) const override {
        uint32_t n = 0;
        for (uint16_t v : vectors) if (n < max) out[n++] = v;
        return n;
    }
    void log_statistics(const char*) const override {}
};

} // namespace svtest

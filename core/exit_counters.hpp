// Exit statistics: counts by vendor-neutral reason, and trapped port I/O by
// port (to see which register costs what: `./shadowvisor bench io` reports
// both per MiB). Fixed size, no allocation; read by the VMMCALL interface and
// logged at power-off.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/vm_exit.hpp"

namespace sv {

struct PortCount {
    uint16_t port = 0;
    uint64_t count = 0;
};

// Where the time of exits goes, in TSC cycles (all 0 without a clock,
// ExitHandler::set_clock): `guest` from VMRUN to the next exit (the world
// switch both ways plus the guest's own work), `handler` from the exit to the
// next VMRUN; for trapped MMIO (`mmio_exits` of them) the instruction decode
// (fetch at RIP: guest page walk + decoder) and the emulation (operand
// translation, mediator, real device accesses). Logged at power-off, read by
// `./shadowvisor bench io`.
struct ExitCycles {
    uint64_t exits = 0, guest = 0, handler = 0;
    uint64_t mmio_exits = 0, mmio_decode = 0, mmio_emulate = 0;
};

struct ExitCounters {
    static constexpr size_t max_ports = 48;
    ExitCycles cycles;

    uint64_t by_reason[static_cast<unsigned>(ExitReason::Count)] = {};
    PortCount by_port[max_ports] = {};
    size_t ports = 0;
    uint64_t other_ports = 0; // ports beyond the table
    // IN/OUT whose bytes went to more than one owner (issue 7 class 2), and
    // accesses refused for it (string I/O straddling owners, MMIO writes
    // straddling a trapped range's edge; MMIO reads likewise).
    uint64_t split_port_accesses = 0;
    uint64_t refused_port_accesses = 0;
    uint64_t refused_mmio_writes = 0;
    uint64_t refused_mmio_reads = 0;
    // Trapped MMIO instructions found in the decoded-instruction cache
    // (core/decoded_insn_cache.hpp), and fetched and decoded afresh.
    uint64_t insn_cache_hits = 0, insn_cache_misses = 0;

    void count(ExitReason r) { ++by_reason[static_cast<unsigned>(r)]; }
    void count_port(uint16_t port) {
        for (size_t i = 0; i < ports; ++i) {
            if (by_port[i].port == port) {
                ++by_port[i].count;
                return;
            }
        }
        if (ports < max_ports) by_port[ports++] = PortCount{port, 1};
        else ++other_ports;
    }
    uint64_t total() const {
        uint64_t t = 0;
        for (uint64_t v : by_reason) t += v;
        return t;
    }
};

} // namespace sv

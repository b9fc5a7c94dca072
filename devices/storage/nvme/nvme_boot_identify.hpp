// What the mediator learns about an NVMe controller before the guest runs
// (nvme_facts.hpp): with bus mastering reserved for it (the guest has not
// started), the hypervisor resets the controller (CC.EN = 0, CSTS.RDY = 0
// within CAP.TO, NVMe 1.4 §7.6.1 / §3.1.1), gives it a private admin queue
// from hypervisor DMA memory, enables it, reads Identify Controller (CNS
// 01h), the active namespace list (CNS 02h; a controller that refuses it:
// NSIDs 1..NN) and Identify Namespace (CNS 00h) for each, by polling the
// admin CQ's phase tag, and disables it again. Every wait is bounded: a
// controller that does not answer fails the boot identify, and the
// function then stays unmediated (fail closed, bus mastering off).
#pragma once

#include <cstdint>

#include "core/dma_memory.hpp"
#include "core/mmio_registers.hpp"
#include "devices/storage/nvme/nvme_facts.hpp"
#include "lib/result.hpp"

namespace sv::nvme {

// Microseconds since some fixed point (nullptr: waits bounded by register reads).
using BootClock = uint64_t (*)();

// Register reads one wait may take without a clock. Under QEMU TCG a read
// of an emulated register takes microseconds: a few seconds in all.
constexpr uint32_t kBootPollReads = 2'000'000;

// Heap a boot identify takes: its admin SQ, CQ and one data page.
constexpr uint64_t kBootIdentifyHeapBytes = 3 * 4096 + 4096;

// Why it failed (logged by the caller with the function's name).
enum class BootFailure : uint8_t { None, NotPresent, NotReadyOff, NotReadyOn, Fatal, CommandTimeout, CommandFailed, NoNamespaces };
const char* to_string(BootFailure f);

struct BootIdentifyResult {
    BootFailure failure = BootFailure::None;
    uint16_t status = 0; // the failed command's CQE status (CommandFailed)
};

// Fills `out`; the controller is left disabled (CC.EN = 0, CSTS.RDY = 0)
// whatever happens (as far as it answers).
[[nodiscard]] Result<void> boot_identify(MmioRegisters& regs, DmaAllocator& dma, ControllerFacts& out,
                                         BootClock clock = nullptr, BootIdentifyResult* why = nullptr);

// CC.EN = 0 (CC.SHN kept clear) and wait for CSTS.RDY = 0, within CAP.TO.
// false: the controller did not get there.
bool disable_and_wait(MmioRegisters& regs, uint64_t cap, BootClock clock);

} // namespace sv::nvme

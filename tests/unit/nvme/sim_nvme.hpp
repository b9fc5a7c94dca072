// Test double for the NVMe mediator: a simulated NVMe 1.4 controller (the
// BAR0 register file, doorbells and MSI-X table behind sv::MmioRegisters)
// with namespaces of 512- or 4096-byte logical blocks, doing its DMA in a
// SimPhysMemory (guest RAM + a hypervisor region, shared with the IDE and
// AHCI simulators). It does what the hardware does: CC.EN/CSTS.RDY, the
// admin queue at ASQ/ACQ, Create/Delete I/O SQ/CQ, SQ entries fetched from
// wherever the queue base says when the tail doorbell is written, PRP1/PRP2
// and PRP lists walked (its own walk, not the mediator's prp_walk, so that it
// stays an independent model), completions posted with the phase tag, and
// MSI-X vectors "signalled" (recorded) per completion queue. Every bus-master
// access is logged, so a test can assert which memory the controller touched.
//
// Timing: admin commands run inside the doorbell write. I/O commands are
// fetched at the doorbell write (as QEMU's submission bottom half does) and
// run at once, unless `hold_io`: then they wait for complete_held(), in the
// order the test chooses.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "core/mmio_registers.hpp"
#include "devices/storage/nvme/nvme_queues.hpp"
#include "devices/storage/nvme/nvme_registers.hpp"
#include "ide/sim_piix.hpp"

namespace svtest {

struct SimNvmeNamespace {
    uint32_t lba_bytes = 512;
    std::vector<uint8_t> media;
    uint64_t blocks() const { return media.size() / lba_bytes; }
};

struct SimNvmeAccess {
    enum class What : uint8_t { SqEntry, CqEntry, PrpList, Data, AdminData };
    uint64_t addr = 0;
    uint64_t len = 0;
    bool to_memory = false; // the controller wrote memory
    What what = What::Data;
    bool ok = true;         // false: not backed (a bus error)
};

class SimNvme final : public sv::MmioRegisters {
  public:
    // BAR0 layout as QEMU 7.2's nvme device: registers and doorbells, then the
    // MSI-X table and PBA on their own 4 KiB pages.
    static constexpr uint32_t kMsixTable = 0x2000;
    static constexpr uint32_t kMsixPba = 0x3000;
    static constexpr uint32_t kBarBytes = 0x4000;

    explicit SimNvme(SimPhysMemory& mem, unsigned io_queue_pairs = 64, unsigned msix_vectors = 65);

    // Namespace IDs are 1-based in order of creation.
    void add_namespace(uint64_t blocks, uint32_t lba_bytes = 512);
    SimNvmeNamespace& ns(uint32_t nsid) { return namespaces_[nsid - 1]; }

    uint32_t read32(uint32_t offset) override;
    void write32(uint32_t offset, uint32_t value) override;

    // The function's MSI-X Message Control as config space would have it.
    void set_msix(bool enable, bool function_mask = false);
    // A PCI function reset (FLR, D3hot -> D0 without NoSoftReset): the
    // controller as at power-on (queues and held commands gone, CC, CSTS,
    // AQA, ASQ, ACQ 0), MSI-X disabled with every entry masked, PBA clear.
    void function_reset();
    uint64_t function_resets = 0;
    // INTx line: pending completions on a CQ with IEN and INTMS clear (MSI-X off).
    bool intx() const;

    enum class Order : uint8_t { InOrder, Reversed, Random };
    void complete_held(Order order = Order::InOrder, uint32_t seed = 1);
    // Completes held command `index` (position in the held list) only.
    void complete_held_one(size_t index);
    size_t held() const { return held_.size(); }
    bool hold_io = false;
    // A controller that never sets CSTS.RDY after CC.EN 0->1 (boot identify's timeout).
    bool never_ready = false;

    // Identity the tests may change before the driver reads Identify.
    uint64_t cap;
    uint8_t mdts = 7; // 2^7 * 4 KiB = 512 KiB, as QEMU's default
    uint16_t oacs = sv::nvme::oacs::kFormatNvm | sv::nvme::oacs::kFirmware | sv::nvme::oacs::kDoorbellBuffer;
    uint16_t oncs = sv::nvme::oncs::kDsm | sv::nvme::oncs::kWriteZeroes | sv::nvme::oncs::kVerify |
                    sv::nvme::oncs::kCopy | sv::nvme::oncs::kTimestamp;
    uint32_t sgls = 1;
    uint32_t cmbsz = 0, cmbloc = 0, pmrcap = 0;
    uint8_t vwc = 1;

    std::vector<SimNvmeAccess> accesses;
    std::vector<unsigned> signalled;   // MSI-X vectors raised, in order
    std::vector<uint8_t> opcodes_io;   // every I/O opcode executed
    std::vector<uint8_t> opcodes_admin;
    uint64_t bus_errors = 0;
    uint64_t bad_doorbells = 0;        // doorbell values beyond the queue, or for no queue
    uint64_t firmware_downloads = 0;   // Firmware Image Download executed (data taken)
    uint64_t formats = 0;

    bool only_touched(const std::vector<std::pair<uint64_t, uint64_t>>& regions) const;
    uint64_t count(SimNvmeAccess::What w) const;
    bool ready() const { return csts_ & sv::nvme::csts::kRdy; }
    uint32_t cq_tail(uint16_t qid) const { return cqs_[qid].tail; }

  private:
    struct Sq {
        bool valid = false;
        uint64_t base = 0;
        uint32_t entries = 0, head = 0, tail = 0;
        uint16_t cqid = 0;
    };
    struct Cq {
        bool valid = false;
        uint64_t base = 0;
        uint32_t entries = 0, head = 0, tail = 0;
        bool phase = true, ien = false;
        uint16_t vector = 0;
        std::deque<sv::nvme::CompletionEntry> overflow; // the CQ was full: posted when head moves
    };
    struct Held {
        uint16_t sqid;
        sv::nvme::SubmissionEntry e;
    };

    void reset();
    void enable();
    void doorbell(uint32_t offset, uint32_t value);
    void run_sq(uint16_t sqid);
    void admin(const sv::nvme::SubmissionEntry& e, uint32_t& dw0, uint16_t& status);
    uint16_t io(const sv::nvme::SubmissionEntry& e);
    void post(uint16_t sqid, const sv::nvme::SubmissionEntry& e, uint16_t status, uint32_t dw0 = 0);
    void write_cqe(Cq& cq, const sv::nvme::CompletionEntry& c);
    void interrupt(uint16_t vector);
    // Walks the PRPs of `e` for `bytes` and moves data to/from `buf`.
    uint16_t transfer(const sv::nvme::SubmissionEntry& e, uint8_t* buf, uint64_t bytes, bool to_memory,
                      SimNvmeAccess::What what = SimNvmeAccess::What::Data);
    uint8_t* bus(uint64_t addr, uint64_t len, bool to_memory, SimNvmeAccess::What w);
    void identify_controller(uint8_t* id) const;
    void identify_namespace(uint32_t nsid, uint8_t* id) const;
    uint32_t page_bytes() const { return sv::nvme::cc::page_bytes(cc_); }

    SimPhysMemory& mem_;
    unsigned io_pairs_, vectors_;
    uint32_t cc_ = 0, csts_ = 0, aqa_ = 0, intms_ = 0;
    uint64_t asq_ = 0, acq_ = 0;
    bool msix_enabled_ = false, msix_masked_ = false;
    std::vector<SimNvmeNamespace> namespaces_;
    std::vector<Sq> sqs_;
    std::vector<Cq> cqs_;
    std::vector<Held> held_;
    std::vector<uint8_t> msix_table_; // vectors_ * 16 bytes
    std::vector<uint64_t> pba_;
};

} // namespace svtest

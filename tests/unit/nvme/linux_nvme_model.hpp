// A model of Linux's nvme driver (drivers/nvme/host/pci.c, core.c, 6.1): the
// MMIO sequences it performs to enable the controller (nvme_pci_enable,
// nvme_pci_configure_admin_queue: disable, AQA/ASQ/ACQ with lo_hi_writeq,
// nvme_enable_ctrl), Identify, Set Features Number of Queues, one I/O queue
// pair per CPU (nvme_create_queue: CQ then SQ, vector = qid; polled queues
// without IEN), command submission (nvme_setup_prps, nvme_sq_copy_cmd +
// nvme_write_sq_db, batched through commit_rqs) and the interrupt handler
// (nvme_irq -> nvme_poll_cq: consume CQEs while the phase matches, then one
// CQ head doorbell write), against any sv::MmioRegisters: the simulated
// controller directly today, the NVMe mediator in front of it next. Queues,
// PRP lists and buffers live in guest RAM. Every register access is counted,
// so a test can state the accesses (and, with BAR0 trapped, the VM exits) per
// command.
#pragma once

#include <cstdint>
#include <vector>

#include "core/mmio_registers.hpp"
#include "devices/storage/nvme/nvme_queues.hpp"
#include "ide/sim_piix.hpp"

namespace svtest {

struct NvmeDone {
    uint16_t qid = 0, cid = 0, status = 0; // status without the phase bit
    uint32_t dw0 = 0;
};

class LinuxNvme {
  public:
    // Guest RAM from `base`: admin SQ/CQ, then per queue pair 1 MiB for its SQ,
    // CQ and PRP list pages.
    static constexpr uint64_t kQueueArea = 0x100000;
    LinuxNvme(sv::MmioRegisters& regs, SimPhysMemory& mem, uint64_t base = 0x400000);

    // nvme_pci_enable + nvme_pci_configure_admin_queue. False if CSTS.RDY
    // does not come (or CFS).
    bool enable(uint32_t admin_depth = 32);
    // nvme_disable_ctrl with shutdown (CC.SHN normal, wait CSTS.SHST complete).
    bool shutdown();
    // Identify Controller and Namespace 1..n into `id_buf`, recording MDTS,
    // the namespaces' LBA sizes and sizes.
    bool identify();
    // Set Features Number of Queues, then `n` pairs of depth `depth`; the last
    // `polled` of them without interrupts (nvme.poll_queues).
    bool create_io_queues(unsigned n, uint32_t depth, unsigned polled = 0);
    bool delete_io_queues();

    // Queues a Read/Write of `blocks` at `lba` over [buf, buf + bytes)
    // (PRPs as nvme_setup_prps) on I/O queue qid; rings the doorbell unless
    // `defer_doorbell` (a batch: ring() later, as commit_rqs does). Returns
    // the command identifier.
    uint16_t rw(uint16_t qid, bool write, uint32_t nsid, uint64_t lba, uint32_t blocks, uint64_t buf,
                bool defer_doorbell = false);
    uint16_t flush(uint16_t qid, uint32_t nsid);
    // Any entry (the caller's opcode and fields; CID assigned here).
    uint16_t submit(uint16_t qid, sv::nvme::SubmissionEntry e, bool defer_doorbell = false);
    void ring(uint16_t qid);
    // The interrupt handler of the queue's vector (or the poll of a polled
    // queue): every new completion, then one head doorbell write if any.
    std::vector<NvmeDone> interrupt(uint16_t qid);
    // Admin command, run synchronously (submit + poll the admin CQ).
    NvmeDone admin(sv::nvme::SubmissionEntry e, uint64_t data = 0);

    uint64_t sq_base(uint16_t qid) const;
    uint64_t cq_base(uint16_t qid) const;
    uint64_t id_buf() const { return base_ + 0x3000; }
    // Every guest page this driver owns (queues, lists, identify buffer).
    std::pair<uint64_t, uint64_t> driver_area() const { return {base_, (queues_ + 1) * kQueueArea}; }

    uint64_t cap = 0;
    uint32_t page_bytes = 4096, stride = 4;
    uint32_t mdts_bytes = 0; // 0: no limit
    std::vector<uint32_t> lba_bytes, ns_blocks; // per namespace (index nsid - 1)
    uint64_t reads = 0, writes = 0;             // register accesses
    uint64_t doorbell_writes = 0;
    uint64_t accesses() const { return reads + writes; }
    unsigned queues() const { return queues_; }

  private:
    struct Queue {
        uint32_t depth = 0, sq_tail = 0, cq_head = 0;
        bool phase = true, polled = false;
        uint16_t next_cid = 0;
        uint32_t lists_used = 0; // PRP list pages handed out (one per command, recycled)
    };
    uint32_t rd(uint32_t off);
    void wr(uint32_t off, uint32_t v);
    bool wait_csts(uint32_t mask, uint32_t value);
    uint64_t prp_list_page(uint16_t qid);

    sv::MmioRegisters& regs_;
    SimPhysMemory& mem_;
    uint64_t base_;
    unsigned queues_ = 0;
    std::vector<Queue> q_;
};

} // namespace svtest

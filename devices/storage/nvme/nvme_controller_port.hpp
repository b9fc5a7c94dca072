// The queue engine's (nvme_queue_engine.hpp) view of the controller side
// (nvme_controller.hpp): the real doorbells it rings and the guest interrupt
// it asks for. Kept to an interface so the engine is unit-tested without
// register emulation, and the register emulation without queues.
#pragma once

#include <cstdint>

namespace sv::nvme {

class ControllerPort {
  public:
    // Real doorbells (§3.1.24/§3.1.25) of the shadow queue with this id (the
    // shadow queues keep the guest's queue ids).
    virtual void ring_sq_tail(uint16_t qid, uint16_t tail) = 0;
    virtual void ring_cq_head(uint16_t qid, uint16_t head) = 0;
    // New entries were posted to guest CQ `cqid`, which the guest created
    // with interrupt vector `vector` and interrupts enabled. The controller
    // side delivers the guest's MSI-X vector (or marks it pending when the
    // guest masked it). Not called for CQs the guest created with IEN = 0
    // (polled queues: the guest finds the entries by polling).
    virtual void guest_interrupt(uint16_t cqid, uint16_t vector) = 0;

  protected:
    ~ControllerPort() = default;
};

} // namespace sv::nvme

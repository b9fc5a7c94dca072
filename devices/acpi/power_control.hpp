// Watches every guest write that ends or restarts the guest, so secrets die
// with it (reset_decoders.hpp lists the sources and how each is decoded):
// ACPI PM1a/PM1b control (SLP_EN, any size and byte lane, at the FADT's
// ports and wherever the chipset's PM base is moved: pm_base.hpp), the FADT
// reset register (I/O or memory), 0xCF9 of any size, the 8042's reset
// commands and port 92h. The hook runs first (wipe keys, log statistics),
// then the write goes to the hardware, which powers off or resets.
//
// Sleep requests are decoded with the firmware's \_Sx values
// (sleep_types.hpp). Only power-off (S5) wipes (issue 7 class 7: only a real
// power-off or reset ends the guest). S1-S3 (states the hypervisor could
// survive) go to the SuspendHandler (the S3 engine, platform/suspend.hpp), which
// says whether the write may reach the hardware. Everything else - S4 (the
// platform boots afresh on resume: the guest would come back without the
// hypervisor), S0, values no \_Sx names, and S1-S3 the handler refuses or no
// handler takes - is refused (issue 7 class 8): the write goes on with SLP_EN
// cleared, logged once per kind and counted, the key is kept and the guest
// keeps running under the hypervisor. So that it does not wait forever for
// a wake-up that never comes (OSPM spins on WAK_STS after SLP_EN, ACPI 6.4
// §16.1.6), the PM1a status register of every PM1a block then reads with
// WAK_STS set until the guest clears it (wake_status.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/io.hpp"
#include "core/io_dispatch.hpp"
#include "core/mmio.hpp"
#include "devices/acpi/acpi_tables.hpp"
#include "devices/acpi/reset_decoders.hpp"
#include "devices/acpi/sleep_types.hpp"
#include "devices/acpi/wake_status.hpp"
#include "lib/result.hpp"

namespace sv::acpi {

// The S3 support (resume into the hypervisor) plugs in here.
class SuspendHandler {
  public:
    // The guest asked for sleep state `state` (1, 2 or 3) with this PM1
    // control write (`pm1_cnt` is the register it targets, `pm1b` whether
    // it is PM1b_CNT). Return true to let the write reach the hardware (the
    // handler has prepared the resume path); false refuses it.
    virtual bool on_suspend_to_ram(unsigned state, uint16_t pm1_cnt, bool pm1b, uint16_t port, uint8_t size,
                                   uint32_t value) = 0;
    // The allowed write reached the hardware and this CPU is still here: the
    // platform did not sleep (S3 resumes through the FACS waking vector, not
    // here) or woke from S1. The handler undoes its preparation; PowerControl
    // then shows WAK_STS so the guest's wait for the wake ends.
    virtual void sleep_write_returned() {}

  protected:
    ~SuspendHandler() = default;
};

// Physical memory writes for a memory-mapped reset register (hardware, or
// a fake in tests).
class MemoryWriter {
  public:
    virtual void write(uint64_t pa, uint8_t size, uint64_t value) = 0;

  protected:
    ~MemoryWriter() = default;
};

struct PowerControlStats {
    uint64_t wipes = 0;           // hook calls (every detected reset / power-off)
    uint64_t refused_sleeps = 0;  // SLP_EN writes refused (everything but S5 and allowed S1-S3)
    uint64_t allowed_sleeps = 0;  // S1-S3 requests the suspend handler let through
};

class PowerControl final : public IoHandler, public MmioWriteHandler {
  public:
    using Hook = void (*)(const char* why);
    static constexpr size_t max_pm1_blocks = 6;
    static constexpr uint16_t pm1_control_length = 2; // PM1_CNT_LEN (ACPI 6.4 §4.8.3.2.1)
    static constexpr uint16_t pm1_status_length = 2;  // PM1_EVT_LEN / 2 (ACPI 6.4 §4.8.3.1)

    PowerControl(PortIo& io, Hook before_power_loss);

    void set_sleep_types(const SleepTypes& types) { types_ = types; }
    void set_suspend_handler(SuspendHandler* handler) { suspend_ = handler; }
    // The FADT reset register; a memory one also needs `memory` (the write
    // is forwarded) and the page trapped by the caller.
    void set_reset_register(const ResetRegister& reg, MemoryWriter* memory);
    const ResetRegister& reset_register() const { return reset_reg_; }

    // PM1 control block `slot` (0 .. max_pm1_blocks-1) is now at `pm1_cnt`
    // (0: none): its ports are (re)registered with `io`. Fails (and the slot
    // is left empty) when the ports are owned by another mediator.
    // `pm1_sts` (PM1a only, 0: none) is the block's PM1 status register,
    // trapped with it for the refused-sleep WAK_STS; that trap is best
    // effort (a status register we cannot trap is logged and left alone:
    // the refusal still holds, the guest may only wait longer).
    [[nodiscard]] Result<void> move_pm1(size_t slot, uint16_t pm1_cnt, bool pm1b, IoDispatcher& io,
                                        uint16_t pm1_sts = 0);
    uint16_t pm1_port(size_t slot) const { return slot < max_pm1_blocks ? pm1_[slot].cnt : 0; }
    uint16_t pm1_status_port(size_t slot) const { return slot < max_pm1_blocks ? pm1_[slot].status.port() : 0; }
    // Whether a PM1a status register shows the refused sleep's WAK_STS.
    bool wake_status_pending() const;

    // The ports this handler must own (besides the PM1 blocks and an I/O
    // reset register): 0x60, 0x64, 0x92 and 0xCF9 (0xCF8 is CONFIG_ADDRESS,
    // the PCI mediator's; the port dispatcher hands us the 0xCF9 byte of any
    // access that covers it).
    [[nodiscard]] Result<void> register_fixed_ports(IoDispatcher& io);

    uint32_t io_in(uint16_t port, uint8_t size) override;
    void io_out(uint16_t port, uint8_t size, uint32_t value) override;
    void mmio_write(uint64_t gpa, uint8_t size, uint64_t value) override;

    const PowerControlStats& stats() const { return stats_; }

  private:
    class Pm1Block final : public IoHandler {
      public:
        PowerControl* owner = nullptr;
        uint16_t cnt = 0;
        bool pm1b = false;
        RefusedSleepStatus status; // registered when status.port() != 0
        uint32_t io_in(uint16_t port, uint8_t size) override { return owner->io_.in(port, size); }
        void io_out(uint16_t port, uint8_t size, uint32_t value) override { owner->pm1_write(*this, port, size, value); }
    };

    void pm1_write(const Pm1Block& block, uint16_t port, uint8_t size, uint32_t value);
    void refuse_sleep(const Pm1Block& block, uint16_t port, uint8_t size, uint32_t value, SleepKind kind,
                      uint8_t slp_typ, bool handler_logged);
    void show_wake_status();
    void wipe(const char* why);

    PortIo& io_;
    Hook hook_;
    SleepTypes types_ = SleepTypes::qemu_defaults();
    SuspendHandler* suspend_ = nullptr;
    ResetRegister reset_reg_;
    MemoryWriter* memory_ = nullptr;
    Kbc8042 kbc_;
    Pm1Block pm1_[max_pm1_blocks];
    PowerControlStats stats_;
    uint32_t warned_refused_ = 0; // one bit per SleepKind already logged
};

} // namespace sv::acpi

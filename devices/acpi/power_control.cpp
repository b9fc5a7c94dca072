#include "devices/acpi/power_control.hpp"

#include "lib/log.hpp"

namespace sv::acpi {

PowerControl::PowerControl(PortIo& io, Hook before_power_loss) : io_(io), hook_(before_power_loss) {
    for (Pm1Block& b : pm1_) {
        b.owner = this;
        b.status.set_io(io);
    }
}

void PowerControl::wipe(const char* why) {
    ++stats_.wipes;
    hook_(why);
}

void PowerControl::set_reset_register(const ResetRegister& reg, MemoryWriter* memory) {
    reset_reg_ = reg;
    memory_ = memory;
}

Result<void> PowerControl::register_fixed_ports(IoDispatcher& io) {
    TRY(io.add(kbc_data_port, 1, *this));
    TRY(io.add(kbc_command_port, 1, *this));
    TRY(io.add(system_control_a_port, 1, *this));
    // 0xCF9 alone: 0xCF8 is CONFIG_ADDRESS (the PCI mediator's, dword-wide);
    // the dispatcher hands us the 0xCF9 byte of any access that covers it.
    TRY(io.add(reset_control_port, 1, *this));
    if (reset_reg_.space == AddressSpace::Io && reset_reg_.address != reset_control_port &&
        reset_reg_.address != config_address_port)
        TRY(io.add(static_cast<uint16_t>(reset_reg_.address), reset_reg_.width, *this));
    return {};
}

Result<void> PowerControl::move_pm1(size_t slot, uint16_t pm1_cnt, bool pm1b, IoDispatcher& io, uint16_t pm1_sts) {
    if (slot >= max_pm1_blocks) return fail(Error::OutOfRange);
    Pm1Block& b = pm1_[slot];
    if (pm1b) pm1_sts = 0; // WAK_STS is read from PM1a status (ACPI 6.4 §4.8.3.1)
    if (b.cnt == pm1_cnt && b.pm1b == pm1b && b.status.port() == pm1_sts) return {};
    if (b.status.port()) io.remove(b.status);
    b.status.set_port(0);
    if (b.cnt) io.remove(b);
    b.cnt = 0;
    if (!pm1_cnt) return {};
    TRY(io.add(pm1_cnt, pm1_control_length, b));
    b.cnt = pm1_cnt;
    b.pm1b = pm1b;
    if (pm1_sts) {
        if (io.add(pm1_sts, pm1_status_length, b.status).ok())
            b.status.set_port(pm1_sts);
        else
            log::warn("PM1 status at port {:x} is owned by another mediator: a refused sleep cannot show WAK_STS there",
                      pm1_sts);
    }
    return {};
}

bool PowerControl::wake_status_pending() const {
    for (const Pm1Block& b : pm1_)
        if (b.status.port() && b.status.pending()) return true;
    return false;
}

void PowerControl::show_wake_status() {
    for (Pm1Block& b : pm1_)
        if (b.status.port()) b.status.sleep_refused();
}

uint32_t PowerControl::io_in(uint16_t port, uint8_t size) {
    return io_.in(port, size);
}

void PowerControl::io_out(uint16_t port, uint8_t size, uint32_t value) {
    if (resets_via_cf9(port, size, value)) wipe("reset (0xCF9)");
    else if (kbc_.write(port, size, value)) wipe("reset (8042 keyboard controller)");
    else if (resets_via_port92(port, size, value)) wipe("reset (port 92h fast reset)");
    else if (reset_reg_.space == AddressSpace::Io && reset_reg_.address <= 0xFFFF &&
             covers(port, size, static_cast<uint16_t>(reset_reg_.address)))
        wipe("reset (FADT reset register)");
    io_.out(port, size, value);
}

void PowerControl::mmio_write(uint64_t gpa, uint8_t size, uint64_t value) {
    if (reset_reg_.space == AddressSpace::Memory && gpa <= reset_reg_.address && reset_reg_.address - gpa < size)
        wipe("reset (FADT reset register)");
    if (memory_) memory_->write(gpa, size, value);
}

void PowerControl::pm1_write(const Pm1Block& block, uint16_t port, uint8_t size, uint32_t value) {
    const SleepRequest r = decode_pm1_control(port, size, value, block.cnt);
    if (!r.requested) return io_.out(port, size, value);
    const SleepKind kind = types_.classify(r.slp_typ, block.pm1b);
    if (ends_guest(kind)) {
        log::info("PM1{} control {:x}: SLP_TYP {} is {}", block.pm1b ? "b" : "a", block.cnt, r.slp_typ,
                  to_string(kind));
        wipe("power-off");
        return io_.out(port, size, value);
    }
    if (may_suspend(kind) && suspend_) {
        const int state = types_.state_of(r.slp_typ, block.pm1b);
        if (suspend_->on_suspend_to_ram(static_cast<unsigned>(state), block.cnt, block.pm1b, port, size, value)) {
            ++stats_.allowed_sleeps;
            io_.out(port, size, value);
            // Still here: the platform did not sleep (or woke from S1).
            suspend_->sleep_write_returned();
            show_wake_status();
            return;
        }
        return refuse_sleep(block, port, size, value, kind, r.slp_typ, true);
    }
    refuse_sleep(block, port, size, value, kind, r.slp_typ, false);
}

// Issue 7 class 8: a sleep the hypervisor cannot survive is refused with the
// guest still under it. SLP_EN is dropped (the rest of the write goes on),
// the key is kept, and WAK_STS reads as after an immediate wake.
void PowerControl::refuse_sleep(const Pm1Block& block, uint16_t port, uint8_t size, uint32_t value, SleepKind kind,
                                uint8_t slp_typ, bool handler_logged) {
    ++stats_.refused_sleeps;
    const uint32_t bit = 1u << static_cast<unsigned>(kind);
    if (!handler_logged && !(warned_refused_ & bit)) {
        warned_refused_ |= bit;
        log::warn("sleep request refused: sleeping state the hypervisor cannot survive ({}, SLP_TYP {} at PM1{} "
                  "control {:x}); the guest keeps running under the hypervisor, the disk key is kept",
                  to_string(kind), slp_typ, block.pm1b ? "b" : "a", block.cnt);
    }
    io_.out(port, size, without_slp_en(port, size, value, block.cnt));
    show_wake_status();
}

} // namespace sv::acpi

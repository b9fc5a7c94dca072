#include "devices/acpi/power_control.hpp"

#include "lib/log.hpp"

namespace sv::acpi {

PowerControl::PowerControl(PortIo& io, Hook before_power_loss) : io_(io), hook_(before_power_loss) {
    for (Pm1Block& b : pm1_) b.owner = this;
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

Result<void> PowerControl::move_pm1(size_t slot, uint16_t pm1_cnt, bool pm1b, IoDispatcher& io) {
    if (slot >= max_pm1_blocks) return fail(Error::OutOfRange);
    Pm1Block& b = pm1_[slot];
    if (b.cnt == pm1_cnt && b.pm1b == pm1b) return {};
    if (b.cnt) io.remove(b);
    b.cnt = 0;
    if (!pm1_cnt) return {};
    TRY(io.add(pm1_cnt, pm1_control_length, b));
    b.cnt = pm1_cnt;
    b.pm1b = pm1b;
    return {};
}

uint32_t PowerControl::io_in(uint16_t port, uint8_t size) {
    if (port == config_address_port && config_address_) return config_address_->io_in(port, size);
    return io_.in(port, size);
}

void PowerControl::io_out(uint16_t port, uint8_t size, uint32_t value) {
    if (resets_via_cf9(port, size, value)) wipe("reset (0xCF9)");
    else if (kbc_.write(port, size, value)) wipe("reset (8042 keyboard controller)");
    else if (resets_via_port92(port, size, value)) wipe("reset (port 92h fast reset)");
    else if (reset_reg_.space == AddressSpace::Io && reset_reg_.address <= 0xFFFF &&
             covers(port, size, static_cast<uint16_t>(reset_reg_.address)))
        wipe("reset (FADT reset register)");
    if (port == config_address_port && size == 4 && config_address_) return config_address_->io_out(port, size, value);
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
    if (kind == SleepKind::Standby || kind == SleepKind::SuspendToRam) {
        const int state = types_.state_of(r.slp_typ, block.pm1b);
        if (suspend_ && suspend_->on_suspend_to_ram(static_cast<unsigned>(state), block.cnt, block.pm1b, port, size,
                                                    value)) {
            ++stats_.allowed_sleeps;
            return io_.out(port, size, value);
        }
        ++stats_.refused_sleeps;
        if (!warned_refused_) {
            log::warn("guest asked for sleep state S{} (SLP_TYP {}): not supported under the hypervisor, refused "
                      "(SLP_EN dropped)",
                      state, r.slp_typ);
            warned_refused_ = true;
        }
        return io_.out(port, size, without_slp_en(port, size, value, block.cnt));
    }
    // S4, S5, S0 and values no \_Sx names: the guest ends (fail safe).
    log::info("PM1{} control {:x}: SLP_TYP {} is {}", block.pm1b ? "b" : "a", block.cnt, r.slp_typ, to_string(kind));
    wipe(kind == SleepKind::Hibernate ? "hibernate (S4)" : "power-off");
    io_.out(port, size, value);
}

} // namespace sv::acpi

#include "devices/apic/apic_mediator.hpp"

namespace sv::apic {
namespace {
constexpr uint32_t reg_id = 0x20;
constexpr uint32_t reg_icr_low = 0x300;
constexpr uint32_t reg_icr_high = 0x310;
constexpr uint32_t delivery_mask = 7u << 8;
constexpr uint32_t delivery_init = 5u << 8;
constexpr uint32_t delivery_startup = 6u << 8;
constexpr uint32_t logical_destination = 1u << 11;
constexpr uint32_t level_assert = 1u << 14;
constexpr unsigned shorthand_shift = 18;
enum Shorthand : uint32_t { None = 0, Self = 1, AllIncludingSelf = 2, AllExcludingSelf = 3 };

void send_init(ProcessorControl& c, uint8_t id, uint8_t) { c.init(id); }
void send_startup(ProcessorControl& c, uint8_t id, uint8_t vector) { c.startup(id, vector); }
} // namespace

void ApicMediator::guest_write(uint32_t offset, uint8_t size, uint32_t value) {
    ++stats_.writes;
    if (size != 4 || (offset & 15) || offset >= page_size) {
        ++stats_.dropped; // SDM §10.4.1: only aligned 32-bit accesses are defined
        return;
    }
    if (offset == reg_icr_low) return icr_written(value);
    regs_.write(offset, value);
}

void ApicMediator::icr_written(uint32_t low) {
    const uint32_t mode = low & delivery_mask;
    if (mode != delivery_init && mode != delivery_startup) {
        regs_.write(reg_icr_low, low); // fixed, NMI, ...: the real APIC delivers it
        return;
    }
    const uint32_t shorthand = (low >> shorthand_shift) & 3;
    if (shorthand == Self) return; // INIT/STARTUP to self is invalid (SDM Table 10-3)
    if (mode == delivery_init && !(low & level_assert)) return; // INIT level de-assert: no effect
    if (low & logical_destination && shorthand == None) {
        ++stats_.dropped;
        return;
    }
    const uint8_t vector = static_cast<uint8_t>(low & 0xFF);
    auto* action = mode == delivery_init ? send_init : send_startup;
    if (mode == delivery_init) ++stats_.inits;
    else ++stats_.startups;
    if (shorthand == None) {
        action(cpus_, static_cast<uint8_t>(regs_.read(reg_icr_high) >> 24), vector);
    } else {
        cpus_.for_each_other(static_cast<uint8_t>(regs_.read(reg_id) >> 24), action, vector);
    }
}

} // namespace sv::apic

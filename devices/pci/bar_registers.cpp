#include "devices/pci/bar_registers.hpp"

#include "lib/cycle_profile.hpp"

namespace sv::pci {

bool BarRegisters::reachable(uint32_t offset) const {
    return ready_ && bar_.decoding() && (offset & 3) == 0 && uint64_t{offset} + 4 <= bar_.bar().size;
}

uint32_t BarRegisters::read32(uint32_t offset) {
    if (!reachable(offset)) {
        ++refused_;
        return 0xFFFFFFFFu;
    }
    ++reads_;
    profile::Scope timed(profile::Bucket::RealRegisters);
    return physical_.read32(bar_.address() + offset);
}

void BarRegisters::write32(uint32_t offset, uint32_t value) {
    if (!reachable(offset)) {
        ++refused_;
        return;
    }
    ++writes_;
    profile::Scope timed(profile::Bucket::RealRegisters);
    physical_.write32(bar_.address() + offset, value);
}

} // namespace sv::pci

#include "virt/vmx/vmx_cr.hpp"

namespace sv::vmx {
namespace {
constexpr uint64_t low32 = 0xffffffffull;
} // namespace

uint64_t cr_guest_host_mask(const FixedBits& fixed, uint64_t always) {
    return ((fixed.must_be_one | fixed.must_be_zero) & low32) | always;
}

CrRegister cr_for_guest_value(const FixedBits& fixed, uint64_t value) { return CrRegister{fixed.apply(value), value}; }

Result<CrRegister> guest_write_cr0(const FixedBits& fixed, uint64_t value) {
    if (value & ~low32) return fail(Error::InvalidArgument);
    if ((value & cr0_bit::pg) && !(value & cr0_bit::pe)) return fail(Error::InvalidArgument);
    if ((value & cr0_bit::nw) && !(value & cr0_bit::cd)) return fail(Error::InvalidArgument);
    // Bits VMX forbids in CR0 are reserved bits the CPU would refuse too.
    if (value & fixed.must_be_zero) return fail(Error::InvalidArgument);
    return cr_for_guest_value(fixed, value);
}

Result<CrRegister> guest_write_cr4(const FixedBits& fixed, uint64_t value) {
    if (value & ~low32) return fail(Error::InvalidArgument);
    if (value & cr4_bit::vmxe) return fail(Error::InvalidArgument);
    if (value & fixed.must_be_zero) return fail(Error::InvalidArgument);
    return cr_for_guest_value(fixed, value);
}

} // namespace sv::vmx

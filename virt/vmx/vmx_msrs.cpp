#include "virt/vmx/vmx_msrs.hpp"

#include "virt/vmx/vmcs_fields.hpp"

namespace sv::vmx {
namespace {
constexpr uint32_t kOwnMsrs[] = {
    msr::feature_control,    msr::vmx_basic,           msr::vmx_pinbased_ctls,      msr::vmx_procbased_ctls,
    msr::vmx_exit_ctls,      msr::vmx_entry_ctls,      msr::vmx_misc,               msr::vmx_cr0_fixed0,
    msr::vmx_cr0_fixed1,     msr::vmx_cr4_fixed0,      msr::vmx_cr4_fixed1,         msr::vmx_vmcs_enum,
    msr::vmx_procbased_ctls2, msr::vmx_ept_vpid_cap,   msr::vmx_true_pinbased_ctls, msr::vmx_true_procbased_ctls,
    msr::vmx_true_exit_ctls, msr::vmx_true_entry_ctls, msr::vmx_vmfunc,
};
static_assert(sizeof(kOwnMsrs) / sizeof(kOwnMsrs[0]) == 1 + (msr::last_vmx_capability - msr::first_vmx_capability + 1));

VendorMsrOutcome access(uint32_t index, bool write, uint64_t, uint64_t& result) {
    if (index == msr::feature_control) {
        // Locked, VMX off inside and outside SMX: Linux then reports "VMX
        // disabled by BIOS" and never tries VMXON. A write to the locked
        // MSR raises #GP (SDM vol. 4, IA32_FEATURE_CONTROL).
        if (write) return VendorMsrOutcome::Fault;
        result = feature_control::lock;
        return VendorMsrOutcome::Done;
    }
    if (index >= msr::first_vmx_capability && index <= msr::last_vmx_capability) return VendorMsrOutcome::Fault;
    return VendorMsrOutcome::NotVendors;
}

// Intel defines no EFER bits beyond SCE, LME, LMA, NXE (SDM vol. 3A §2.2.1),
// and VMX needs none kept set underneath the guest.
constexpr VendorMsrPolicy kPolicy{
    .efer_writable = 0,
    .efer_hidden = 0,
    .access = access,
};
} // namespace

const VendorMsrPolicy& vendor_msr_policy() { return kPolicy; }
std::span<const uint32_t> own_msr_intercepts() { return kOwnMsrs; }

} // namespace sv::vmx

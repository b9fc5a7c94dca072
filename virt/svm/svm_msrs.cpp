#include "virt/svm/svm_msrs.hpp"

namespace sv::svm {
namespace {
// EFER bits AMD defines beyond the ones every x86-64 CPU has (AMD APM vol. 2
// §3.1.7): LMSLE (13), FFXSR (14), TCE (15).
constexpr uint64_t efer_amd_writable = (1ull << 13) | (1ull << 14) | (1ull << 15);

constexpr uint32_t kOwnMsrs[] = {msr::vm_cr, msr::vm_hsave_pa};

VendorMsrOutcome access(uint32_t index, bool write, uint64_t, uint64_t& result) {
    if (index == msr::vm_cr) {
        if (write) return VendorMsrOutcome::Fault; // locked
        result = vm_cr_lock | vm_cr_svmdis;
        return VendorMsrOutcome::Done;
    }
    if (index == msr::vm_hsave_pa) return VendorMsrOutcome::Fault;
    return VendorMsrOutcome::NotVendors;
}

constexpr VendorMsrPolicy kPolicy{
    .efer_writable = efer_amd_writable,
    .efer_hidden = efer_svme,
    .access = access,
};
} // namespace

const VendorMsrPolicy& vendor_msr_policy() { return kPolicy; }
std::span<const uint32_t> own_msr_intercepts() { return kOwnMsrs; }

} // namespace sv::svm

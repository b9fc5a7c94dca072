// The MSR table (see msr_policy.hpp), AMD APM vol. 2 ch. 7 (memory types,
// MTRRs, IORRs, TOP_MEM), §10 (SMM), and appendix A (MSR list).
//
// Why each is intercepted:
//   - MTRRs (APM vol. 2 §7.7, Intel SDM vol. 3A §11.11): physical-address
//     memory types. They apply to the hypervisor's own accesses and to the
//     nested page walk; a guest could turn hypervisor memory UC or WC/WP, or,
//     with SYSCFG.MtrrFixDramModEn, route fixed-range accesses to MMIO with
//     the RdMem/WrMem bits (APM §7.9.1). Virtualized: Linux reads them at
//     boot and on APs writes the BSP's values back, which it then reads from
//     the same shared copy.
//   - SYSCFG (APM §7.9.1): MtrrFixDramEn/ModEn, MtrrVarDramEn (TOP_MEM
//     decoding), MtrrTom2En, SMEE (memory encryption): all decide whether an
//     address is DRAM. Linux clears MtrrFixDramModEn if the firmware left it
//     set (generic.c k8_check_syscfg_dram_mod_en): that lands in the copy.
//   - TOP_MEM/TOP_MEM2 (APM §7.9.2): below/above 4 GiB DRAM limit; lowered,
//     hypervisor memory (heap at the top of RAM below 4 GiB) would decode as
//     MMIO. Virtualized.
//   - IORR_BASE/MASK 0/1 (APM §7.9.3): send ranges to I/O (MMIO) instead of
//     DRAM. Virtualized.
//   - HWCR (APM vol. 2 appendix A, MSRC001_0015): SMMLOCK, cache/TLB controls
//     (e.g. disable cache, INVD-to-WBINVD, MCi_STATUS write enable).
//     Virtualized: Linux sets errata bits there with wrmsr; none needs to
//     reach the hardware under us.
//   - NB_CFG (MSRC001_001F, AMD BKDG fam10h+): EnableCf8ExtCfg changes how
//     the chipset decodes CONFIG_ADDRESS (extended register bits 27:24), and
//     the config mediator decodes CF8 the way the firmware left it.
//     Virtualized (Linux's amd_bus.c sets the bit with wrmsr).
//   - MMIO_CFG_BASE (MSRC001_0058, AMD BKDG fam10h+): base, size and enable
//     of the ECAM window, which the config mediator must trap where the
//     hardware decodes it. Virtualized: the window stays where the firmware
//     put it (and the ACPI MCFG says).
//   - SMM_BASE, SMM_ADDR/SMM_MASK (APM §10.2.5 "SMM ... TSEG"): where SMRAM is
//     and whether it is protected. Read-only: the firmware's values stay,
//     writes #GP(0) as on a CPU with HWCR.SMMLOCK = 1 (APM §10.2.5).
// Not in the table, and why that is harmless:
//   - PAT (0x277): with nested paging the guest's PAT is G_PAT in the VMCB,
//     loaded on VMRUN and saved on #VMEXIT; the host's PAT is untouched
//     (APM vol. 2 §15.25.8).
//   - MTRRcap (0xFE): read-only in hardware.
//   - EFER, APIC_BASE: intercepted with their own rules in
//     core/exit_handler.cpp; the vendor's own (SVM: VM_CR, VM_HSAVE_PA) in
//     the backend's VendorMsrPolicy (virt/svm/svm_msrs.cpp).
#include "core/msr_policy.hpp"

namespace sv {
namespace {
constexpr MsrPolicy kTable[] = {
    {0x00000200, 0x0000020F, MsrRule::Virtualize, "MTRRphysBase/Mask0-7"},
    {0x00000250, 0x00000250, MsrRule::Virtualize, "MTRRfix64K_00000"},
    {0x00000258, 0x00000259, MsrRule::Virtualize, "MTRRfix16K_80000/A0000"},
    {0x00000268, 0x0000026F, MsrRule::Virtualize, "MTRRfix4K_C0000-F8000"},
    {0x000002FF, 0x000002FF, MsrRule::Virtualize, "MTRRdefType"},
    {0xC0010010, 0xC0010010, MsrRule::Virtualize, "SYSCFG"},
    {0xC0010015, 0xC0010015, MsrRule::Virtualize, "HWCR"},
    {0xC0010016, 0xC0010019, MsrRule::Virtualize, "IORR_BASE/MASK0-1"},
    {0xC001001A, 0xC001001A, MsrRule::Virtualize, "TOP_MEM"},
    {0xC001001D, 0xC001001D, MsrRule::Virtualize, "TOP_MEM2"},
    {0xC001001F, 0xC001001F, MsrRule::Virtualize, "NB_CFG"},
    {0xC0010058, 0xC0010058, MsrRule::Virtualize, "MMIO_CFG_BASE"},
    {0xC0010111, 0xC0010111, MsrRule::ReadOnly, "SMM_BASE"},
    {0xC0010112, 0xC0010113, MsrRule::ReadOnly, "SMM_ADDR/SMM_MASK"},
};
constexpr size_t kCount = sizeof kTable / sizeof kTable[0];

constexpr size_t virtualized_msrs() {
    size_t n = 0;
    for (const MsrPolicy& p : kTable)
        if (p.rule == MsrRule::Virtualize) n += p.last - p.first + 1;
    return n;
}
static_assert(virtualized_msrs() <= VirtualMsrs::kCapacity, "every virtualized MSR has a slot");

struct NeutralIntercepts {
    MsrRange range[kCount + 2];
};
constexpr NeutralIntercepts kNeutralIntercepts = [] {
    NeutralIntercepts n{};
    n.range[0] = {msr_index::apic_base, msr_index::apic_base};
    n.range[1] = {msr_index::efer, msr_index::efer};
    for (size_t i = 0; i < kCount; ++i) n.range[i + 2] = {kTable[i].first, kTable[i].last};
    return n;
}();
} // namespace

std::span<const MsrRange> neutral_msr_intercepts() { return kNeutralIntercepts.range; }

const MsrPolicy* msr_policy(uint32_t msr) {
    for (const MsrPolicy& p : kTable)
        if (msr >= p.first && msr <= p.last) return &p;
    return nullptr;
}

size_t msr_policy_count() { return kCount; }
const MsrPolicy& msr_policy_at(size_t i) { return kTable[i]; }

uint64_t* VirtualMsrs::slot(uint32_t msr, HostRead host) {
    const MsrPolicy* p = msr_policy(msr);
    if (!p || p->rule != MsrRule::Virtualize) return nullptr;
    for (size_t i = 0; i < used_; ++i)
        if (msr_[i] == msr) return &value_[i];
    if (used_ == kCapacity) return nullptr; // cannot happen (static_assert above)
    msr_[used_] = msr;
    value_[used_] = host ? host(msr) : 0; // the firmware's value
    return &value_[used_++];
}

bool VirtualMsrs::read(uint32_t msr, HostRead host, uint64_t& value) {
    uint64_t* s = slot(msr, host);
    if (!s) return false;
    value = *s;
    return true;
}

bool VirtualMsrs::write(uint32_t msr, HostRead host, uint64_t value) {
    uint64_t* s = slot(msr, host);
    if (!s) return false;
    *s = value;
    return true;
}

} // namespace sv

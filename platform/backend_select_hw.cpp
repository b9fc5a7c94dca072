// The one place that knows the concrete backends (platform/backend_select.hpp).
#include "arch/x86/cpu.hpp"
#include "lib/log.hpp"
#include "platform/backend_select.hpp"
#include "virt/svm/svm_backend.hpp"
#include "virt/vmx/vmx_backend.hpp"

namespace sv {
namespace {
svm::SvmBackend svm_backend;
vmx::VmxBackend vmx_backend;

CpuidValues host_cpuid(uint32_t leaf, uint32_t subleaf) {
    const x86::CpuidResult r = x86::cpuid(leaf, subleaf);
    return CpuidValues{r.eax, r.ebx, r.ecx, r.edx};
}
} // namespace

VirtBackend* select_backend() {
    VirtBackend* backend = nullptr;
    switch (choose_backend(host_cpuid).kind) {
    case BackendKind::Svm: backend = &svm_backend; break;
    case BackendKind::Vmx: backend = &vmx_backend; break;
    case BackendKind::None:
        log::error("this CPU has no AMD-V (SVM) and no Intel VT-x (VMX): cannot run the hypervisor");
        return nullptr;
    }
    if (!backend->check_support().ok()) return nullptr;
    log::info("virtualization backend: {}", backend->name());
    return backend;
}

} // namespace sv

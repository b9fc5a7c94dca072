// XCR0 for the hypervisor's own SIMD crypto. SVM does not switch XCR0 on
// VMRUN/#VMEXIT (AMD APM vol. 2 §15.5.1 lists what it switches), so while
// the hypervisor handles an exit XCR0 holds the guest's value, which may lack
// the SSE|AVX state the ymm (VAES) engine needs: VEX instructions raise #UD
// unless XCR0[2:1] = 11b (Intel SDM vol. 1 §14.3). Xcr0Switch loads the bits
// crypto needs when they are missing, for the length of one request (it lives
// inside SimdGuard), and gives the guest back exactly its own value.
//
// The hypervisor's boot code installs the accessors (XGETBV/XSETBV are CPL0
// for the write); hosted builds (unit tests, bench) leave them unset: there
// the OS owns XCR0 and nothing is switched.
#pragma once

#include <cstdint>

namespace sv::crypto {

struct Xcr0Access {
    uint64_t (*read)() = nullptr;
    void (*write)(uint64_t value) = nullptr;
};

void set_xcr0_access(Xcr0Access access);
bool xcr0_switching_available();

namespace detail {
extern Xcr0Access g_xcr0_access;
}

class Xcr0Switch {
  public:
    explicit Xcr0Switch(uint64_t needed) {
        const Xcr0Access a = detail::g_xcr0_access;
        if (needed == 0 || !a.read || !a.write) return;
        saved_ = a.read();
        if ((saved_ & needed) == needed) return;
        a.write(saved_ | needed);
        switched_ = true;
    }
    ~Xcr0Switch() {
        if (switched_) detail::g_xcr0_access.write(saved_);
    }
    Xcr0Switch(const Xcr0Switch&) = delete;
    Xcr0Switch& operator=(const Xcr0Switch&) = delete;
    bool switched() const { return switched_; }

  private:
    uint64_t saved_ = 0;
    bool switched_ = false;
};

} // namespace sv::crypto

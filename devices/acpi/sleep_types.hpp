// What a PM1 control write with SLP_EN asks for. The SLP_TYP field (PM1_CNT
// bits 10-12, ACPI 6.4 §4.8.3.2.1) has no fixed meaning: the firmware says
// which value selects which sleep state in the DSDT's \_S0..\_S5 objects
// (ACPI 6.4 §7.4.2: Name(_Sx_, Package(){SLP_TYPa, SLP_TYPb, ...}), one value
// for PM1a_CNT and one for PM1b_CNT). QEMU pc: \_S5 = 0, \_S3 = 1 (when S3 is
// enabled), \_S4 = 2 (when S4 is enabled).
//
// The decision is fail-safe (issue 7 classes 7 and 8): only a real power-off
// (\_S5) wipes the key and reaches the hardware. A value that names no
// state, or names states of different kinds, is Unknown (one exception: a
// value that \_S4 and \_S5 alone share, as in Bochs's DSDT, is a power-off:
// both cut power and the write cannot tell them apart); Unknown, S0 and S4
// (the platform boots afresh on resume: the guest would come back without
// the hypervisor) are refused with the guest still under the hypervisor.
// S1-S3 are for the S3 engine (PowerControl's SuspendHandler) to take or refuse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lib/result.hpp"

namespace sv::acpi {

enum class SleepKind : uint8_t {
    Working,      // \_S0: no sleep at all
    Standby,      // \_S1: processor and RAM context kept (ACPI 6.4 §16.1.1)
    SuspendToRam, // \_S2, \_S3: CPU context lost, RAM kept, resume via the FACS waking vector
    Hibernate,    // \_S4: power off; the platform boots afresh on resume
    PowerOff,     // \_S5: soft off
    Unknown,      // no \_Sx names this value (or several disagree): refused
};

const char* to_string(SleepKind k);

// True when the request ends the guest: the key must die before the write
// reaches the hardware. Only a power-off does (ACPI 6.4 §16.1.5, S5).
constexpr bool ends_guest(SleepKind k) { return k == SleepKind::PowerOff; }
// True for the states a SuspendHandler may let through (RAM is kept; the
// handler prepares the return into the hypervisor). Everything else that is
// not a power-off is refused.
constexpr bool may_suspend(SleepKind k) { return k == SleepKind::Standby || k == SleepKind::SuspendToRam; }

class SleepTypes {
  public:
    static constexpr unsigned states = 6; // \_S0 .. \_S5

    // Declares \_Sx (x = state) with its PM1a and PM1b SLP_TYP values.
    void set(unsigned state, uint8_t slp_typ_a, uint8_t slp_typ_b);
    bool has(unsigned state) const { return state < states && present_[state]; }
    uint8_t slp_typ_a(unsigned state) const { return typ_a_[state]; }
    uint8_t slp_typ_b(unsigned state) const { return typ_b_[state]; }

    // What writing `slp_typ` (0-7) with SLP_EN to PM1a_CNT (pm1b = false)
    // or PM1b_CNT (pm1b = true) requests.
    SleepKind classify(uint8_t slp_typ, bool pm1b = false) const;
    // The sleep state number (0-5) `slp_typ` selects, or -1 when none or
    // more than one do.
    int state_of(uint8_t slp_typ, bool pm1b = false) const;

    // QEMU pc/q35 values, used when the DSDT cannot be parsed (S5 = 0,
    // S3 = 1, S4 = 2; whether S3/S4 are enabled there is unknown, so both
    // are declared and the S3 hook decides).
    static SleepTypes qemu_defaults();

  private:
    bool present_[states] = {};
    uint8_t typ_a_[states] = {};
    uint8_t typ_b_[states] = {};
};

// Scans AML (a DSDT or SSDT body, header included or not) for
// `Name(_Sx_, Package(){...})` definitions, x = 0..5 (AML: NameOp 0x08,
// optional root/parent prefixes, NameSeg "_Sx_", PackageOp 0x12, PkgLength,
// NumElements, then integer data objects; ACPI 6.4 §20.2.5.1, §20.2.3,
// §20.2.4). Adds what it finds to `out`; returns how many were found.
// Malformed packages are skipped (that state stays unknown).
size_t scan_sleep_types(std::span<const uint8_t> aml, SleepTypes& out);

} // namespace sv::acpi

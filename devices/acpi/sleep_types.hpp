// Which PM1 SLP_TYP value means which sleeping state: the DSDT's \_S1..\_S5
// objects (ACPI 6.4 §7.4.2: Name (_Sx, Package () {PM1a SLP_TYP, PM1b
// SLP_TYP, ...})). Just enough AML (§20.2: NameOp 08h, PackageOp 12h,
// PkgLength, ZeroOp/OneOp/BytePrefix) to read the first package element of
// a top-level name; anything else is "unknown", and an unknown state is
// never taken for S3 (the caller treats it as before: power loss).
// Superseded by the full FADT + DSDT decoding of the power-control rework.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/guest_memory.hpp"
#include "lib/result.hpp"

namespace sv::acpi {

struct SleepTypes {
    static constexpr int16_t unknown = -1;
    int16_t pm1a[6] = {unknown, unknown, unknown, unknown, unknown, unknown}; // index: S0..S5
    // The sleeping state (1..5) whose \_Sx names this SLP_TYP, or 0 when none
    // or when two states share it (ambiguous: not treated as a sleep).
    unsigned state_of(uint8_t slp_typ) const;
};

// The \_Sx values in one AML byte stream (a DSDT body).
SleepTypes parse_sleep_types(const uint8_t* aml, size_t length);
// The FADT's DSDT (offset 40, or X_DSDT at 140 when non-zero), parsed.
[[nodiscard]] Result<SleepTypes> find_sleep_types(GuestMemory& memory);

} // namespace sv::acpi

# Slow system tests: label `slow`. `./shadowvisor test` (and so CI) runs every
# other test; `./shadowvisor test --all` runs these too, as does
# `ctest --test-dir build -L slow` on its own. A test goes here when it takes
# minutes under TCG and what it proves is also shown, on another machine type,
# by a test that stays in the default set.
set(sv_slow_tests
  # ~3 min each on q35 (ICH9 PMBASE, FADT reset register, 8042 on q35); the
  # same reset paths on pc stay in the default set (system.hardening.resets-*).
  system.hardening.resets-acpi.q35
  system.hardening.resets-cf9.q35
  system.hardening.resets-kbd.q35
  # Bare-QEMU control that waits out its 240 s timeout by design (the guest
  # never comes back from the forged waking vector); system.s3.facsmove,
  # the hypervisor side, stays in the default set.
  system.s3.facsmove-baseline
)
foreach(t ${sv_slow_tests})
  if(TEST ${t})
    set_property(TEST ${t} APPEND PROPERTY LABELS slow)
  endif()
endforeach()

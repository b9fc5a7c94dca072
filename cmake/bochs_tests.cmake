# System tests under Bochs (tests/system/bochs.py, ./shadowvisor run
# --emulator bochs; needs bochs, bochs-term, bochsbios, vgabios from
# tools/install-deps.sh). Label `system;bochs`. A Bochs Linux boot takes many
# minutes, so those tests also carry `slow` (./shadowvisor test --all, or
# ctest -L bochs); vmx-refused stops before any guest runs and stays in the
# default set (and so in CI). Bochs runs share the emulator lock with QEMU:
# the machine has two cores.
# Measured on the shared 2-core machine (load average ~18, Bochs getting
# 10-25 % of a core): vmx-refused 119-168 s wall (~30 s of Bochs CPU: GRUB,
# multiboot2, the hypervisor up to the backend choice); a Linux boot did not
# reach power-off within 30 min wall (2.4 min of Bochs CPU, bare) or 40 min
# (10 min of Bochs CPU, under SVM): hence `slow`.
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  set(sv_bochs ${CMAKE_SOURCE_DIR}/tests/system/bochs.py)
  foreach(t bare-cpuid svm-cpuid vmx-refused)
    add_test(NAME system.bochs.${t}
             COMMAND ${SV_PYTHON3} ${sv_bochs} ${t} --build-dir ${CMAKE_BINARY_DIR})
    set(labels "system;bochs")
    if(NOT t STREQUAL "vmx-refused")
      list(APPEND labels slow)
    endif()
    set_tests_properties(system.bochs.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "${labels}" TIMEOUT 3600
      SKIP_RETURN_CODE 77)
    # Not yet seen to pass: both Linux boots under Bochs went silent after
    # the kernel's local APIC set-up (no Bochs log line, no console output
    # for 30 min wall) on this loaded machine. Disabled (listed by ctest as
    # "Not Run (Disabled)") until a boot completes; run by hand with
    # `python3 tests/system/bochs.py bare-cpuid`.
    if(NOT t STREQUAL "vmx-refused")
      set_tests_properties(system.bochs.${t} PROPERTIES DISABLED TRUE)
    endif()
  endforeach()
endif()

# System tests under Bochs (tests/system/bochs.py, ./shadowvisor run
# --emulator bochs; needs bochs, bochs-term, bochsbios, vgabios from
# tools/install-deps.sh). Label `system;bochs`. Bochs runs share the emulator
# lock with QEMU: the machine has two cores.
#
# Sizing (CI's whole run must stay under 90 min): only vmx-starts, which ends
# as soon as the guest kernel prints its first line under VT-x (GRUB, the
# hypervisor, VMXON/VMLAUNCH, the kernel's decompression), is in the default
# set; every test that boots Linux to its power-off under Bochs carries
# `slow` (./shadowvisor test --all, or ctest -L bochs).
# Measured on the shared 2-core machine (load average 20-25, Bochs getting
# ~20 % of a core): the bare guest (sv.test=cpuid) boots to power-off in
# 1385 s wall (~4.7 min of Bochs CPU, 44 s of guest time); under the VT-x
# backend (sv.test=smoke) in 1586 s wall; up to the guest kernel's first line
# under VT-x (vmx-starts) 816-980 s wall, ~3 min of Bochs CPU. On a dedicated
# core a Linux boot under Bochs takes about 5-6 min, vmx-starts about 3-4.
set(sv_bochs_default vmx-starts)
set(sv_bochs_slow bare-cpuid svm-cpuid vmx-cpuid vmx-memhidden vmx-ide vmx-hostile)
# Registered, not yet seen to pass on this machine (no run of them finished
# in the time available; vmx-memhidden needs console input, which the Bochs
# runner does not connect yet): listed by ctest as "Not Run (Disabled)"; run
# by hand with `python3 tests/system/bochs.py NAME`. Seen: vmx-starts passes (816 s wall);
# a VT-x boot with sv.test=cpuid,devmem reached power-off with every CPUID and
# hypercall result PASS (1872 s wall; devmem unanswered); the bare guest reached power-off
# (1385 s) before guest/init waited for the UART, which lost its results.
set(sv_bochs_unproven svm-cpuid vmx-memhidden vmx-ide vmx-hostile)
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  set(sv_bochs ${CMAKE_SOURCE_DIR}/tests/system/bochs.py)
  foreach(t ${sv_bochs_default} ${sv_bochs_slow})
    add_test(NAME system.bochs.${t}
             COMMAND ${SV_PYTHON3} ${sv_bochs} ${t} --build-dir ${CMAKE_BINARY_DIR})
    set(labels "system;bochs")
    if(t IN_LIST sv_bochs_slow)
      list(APPEND labels slow)
    endif()
    # Two boots (VT-x, then bare dm-crypt) for vmx-ide.
    set(timeout 3600)
    if(t STREQUAL "vmx-ide")
      set(timeout 7200)
    endif()
    set_tests_properties(system.bochs.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "${labels}" TIMEOUT ${timeout}
      SKIP_RETURN_CODE 77)
    if(t IN_LIST sv_bochs_unproven)
      set_tests_properties(system.bochs.${t} PROPERTIES DISABLED TRUE)
    endif()
  endforeach()
endif()

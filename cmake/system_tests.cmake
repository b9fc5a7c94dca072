# System tests: boot the Debian test guest under QEMU through
# `./shadowvisor run` (tests/system/svtest.py). Label `system`; the bare-QEMU
# variants carry `baseline`, the hypervisor ones `hypervisor`.
# The hypervisor variants skip (exit 77) when SV_SYSTEM_TESTS_HYPERVISOR is OFF
# (e.g. while bisecting a hypervisor that cannot boot Linux); by hand:
#   SV_HV_TESTS=1 python3 tests/system/svtest.py cpuid
# Every test boots VMs: RESOURCE_LOCK keeps `ctest -j` to one QEMU at a time.
enable_testing()
option(SV_SYSTEM_TESTS "Register the QEMU system tests" ON)
option(SV_SYSTEM_TESTS_HYPERVISOR "Run the system tests under the hypervisor (else skip them)" ON)

if(SV_SYSTEM_TESTS)
  find_program(SV_PYTHON3 NAMES python3 REQUIRED)
  set(sv_svtest ${CMAKE_SOURCE_DIR}/tests/system/svtest.py)

  add_test(NAME system.guest
           COMMAND ${CMAKE_SOURCE_DIR}/tools/build-guest.sh ${CMAKE_BINARY_DIR}/guest)
  set_tests_properties(system.guest PROPERTIES
    FIXTURES_SETUP sv_guest LABELS "system" TIMEOUT 900)

  foreach(t cpuid disks memory devmem dmcrypt)
    add_test(NAME system.baseline.${t}
             COMMAND ${SV_PYTHON3} ${sv_svtest} ${t} --no-hypervisor --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.baseline.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;baseline" TIMEOUT 400)
  endforeach()

  if(SV_SYSTEM_TESTS_HYPERVISOR)
    set(sv_hv_env SV_HV_TESTS=1)
  else()
    set(sv_hv_env SV_HV_TESTS=0)
  endif()
  foreach(t nosvm cpuid memory devmem disks hvwrite)
    add_test(NAME system.hv.${t}
             COMMAND ${SV_PYTHON3} ${sv_svtest} ${t} --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.hv.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor"
      ENVIRONMENT ${sv_hv_env} SKIP_RETURN_CODE 77 TIMEOUT 900)
    if(TARGET shadowvisor.elf)
      set_property(TEST system.hv.${t} APPEND PROPERTY DEPENDS system.guest)
    endif()
  endforeach()
endif()

# Hostile-guest reset / power-off paths (issue #7 class 7, tests/system/resets.py):
# after each path a QEMU RAM dump must hold no window of the disk key.
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  if(SV_SYSTEM_TESTS_HYPERVISOR)
    set(sv_resets_env SV_HV_TESTS=1)
  else()
    set(sv_resets_env SV_HV_TESTS=0)
  endif()
  foreach(g kbd cf9 misc acpi)
    add_test(NAME system.hardening.resets-${g}
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/resets.py ${g} --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.hardening.resets-${g} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor;hardening"
      ENVIRONMENT ${sv_resets_env} SKIP_RETURN_CODE 77 TIMEOUT 2400)
  endforeach()
  # q35 (ICH9): the PM block followed through PMBASE, the FADT reset register
  # (0xCF9 there), 0xCF9 and the 8042.
  foreach(g acpi cf9 kbd)
    add_test(NAME system.hardening.resets-${g}.q35
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/resets.py ${g} --machine q35
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.hardening.resets-${g}.q35 PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor;hardening;q35"
      ENVIRONMENT ${sv_resets_env} SKIP_RETURN_CODE 77 TIMEOUT 2400)
  endforeach()
  # Legacy DMA (issue #7 class 5, tests/system/legacydma.py): hostile run and bare-QEMU control.
  add_test(NAME system.hardening.legacydma
           COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/legacydma.py run --build-dir ${CMAKE_BINARY_DIR})
  add_test(NAME system.hardening.legacydma-baseline
           COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/legacydma.py run --no-hypervisor
                   --build-dir ${CMAKE_BINARY_DIR})
  set_tests_properties(system.hardening.legacydma system.hardening.legacydma-baseline PROPERTIES
    FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor;hardening"
    ENVIRONMENT ${sv_resets_env} SKIP_RETURN_CODE 77 TIMEOUT 1200)
endif()

# System tests of SATA disks behind AHCI (tests/system/ahci.py, issue #9):
# the bare-QEMU baseline on pc and q35 (label `system;baseline;ahci`) and,
# under the keyed hypervisor, the Bus Master rule that keeps the unmediated
# AHCI controller from DMA (label `system;hypervisor;ahci`). They share the
# QEMU resource lock and the guest fixture with cmake/system_tests.cmake.
if(SV_SYSTEM_TESTS)
  set(sv_ahci_py ${CMAKE_SOURCE_DIR}/tests/system/ahci.py)
  foreach(m pc q35)
    add_test(NAME system.baseline.ahci-io-${m}
             COMMAND ${SV_PYTHON3} ${sv_ahci_py} io --no-hypervisor --machine ${m}
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.baseline.ahci-io-${m} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;baseline;ahci" TIMEOUT 600)
  endforeach()
  # Control run of the hostile AHCI guest program (guest/sv-ahcihostile.c):
  # on bare QEMU every attack reaches its target.
  add_test(NAME system.baseline.ahci-hostile
           COMMAND ${SV_PYTHON3} ${sv_ahci_py} hostile --no-hypervisor --build-dir ${CMAKE_BINARY_DIR})
  set_tests_properties(system.baseline.ahci-hostile PROPERTIES
    FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;baseline;ahci;hardening" TIMEOUT 600)
  # The keyed hypervisor mediates the HBA (devices/storage/ahci/).
  if(TARGET shadowvisor.elf)
    set(sv_ahci_runs encrypted-pc encrypted-q35 hostile-pc mixed-pc fs-pc simd-pc smp-pc)
    foreach(run ${sv_ahci_runs})
      string(REGEX REPLACE "-(pc|q35)$" "" t ${run})
      string(REGEX MATCH "(pc|q35)$" m ${run})
      add_test(NAME system.ahci.${run}
               COMMAND ${SV_PYTHON3} ${sv_ahci_py} ${t} --machine ${m} --build-dir ${CMAKE_BINARY_DIR})
      set_tests_properties(system.ahci.${run} PROPERTIES
        FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor;ahci"
        ENVIRONMENT ${sv_hv_env} SKIP_RETURN_CODE 77 TIMEOUT 2400)
    endforeach()
  endif()
endif()

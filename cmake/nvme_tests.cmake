# System tests of NVMe namespaces (tests/system/nvme.py, issue #10
# groundwork): the bare-QEMU baseline with 512- and 4096-byte logical blocks
# (label `system;baseline;nvme`), the control run of the hostile NVMe guest
# program (guest/sv-nvmehostile.c) and, under the keyed hypervisor, the Bus
# Master rule that keeps the unmediated NVMe controller from DMA (label
# `system;hypervisor;nvme`). They share the QEMU resource lock and the guest
# fixture with cmake/system_tests.cmake.
if(SV_SYSTEM_TESTS)
  set(sv_nvme_py ${CMAKE_SOURCE_DIR}/tests/system/nvme.py)
  foreach(cfg pc:512 pc:4096 q35:4096)
    string(REPLACE ":" ";" parts ${cfg})
    list(GET parts 0 m)
    list(GET parts 1 lbs)
    add_test(NAME system.baseline.nvme-io-${m}-${lbs}
             COMMAND ${SV_PYTHON3} ${sv_nvme_py} io --no-hypervisor --machine ${m} --lbs ${lbs}
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.baseline.nvme-io-${m}-${lbs} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;baseline;nvme" TIMEOUT 600)
  endforeach()
  # Control run of the hostile NVMe guest program: on bare QEMU every attack
  # reaches its target and QEMU's status for each malformed case is pinned.
  foreach(lbs 512 4096)
    add_test(NAME system.baseline.nvme-hostile-${lbs}
             COMMAND ${SV_PYTHON3} ${sv_nvme_py} hostile --no-hypervisor --lbs ${lbs} --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.baseline.nvme-hostile-${lbs} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;baseline;nvme;hardening" TIMEOUT 600)
  endforeach()
  if(TARGET shadowvisor.elf)
    foreach(m pc q35)
      add_test(NAME system.nvme.blocked-${m}
               COMMAND ${SV_PYTHON3} ${sv_nvme_py} blocked --machine ${m} --build-dir ${CMAKE_BINARY_DIR})
      set_tests_properties(system.nvme.blocked-${m} PROPERTIES
        FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor;nvme"
        ENVIRONMENT ${sv_hv_env} SKIP_RETURN_CODE 77 TIMEOUT 1200)
    endforeach()
  endif()
endif()

# Issue 8 item 4 (MMIO dispatch): the cross-vCPU nested-TLB shootdown under
# QEMU with 2 CPUs on q35 (tests/system/tlbkick.py). The MMIO dispatcher and
# MmioBar are unit-tested (tests/unit/core, tests/unit/devices).
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  add_test(NAME system.mmio.tlbkick.cpus2
           COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/tlbkick.py cpus2 --machine q35
                   --build-dir ${CMAKE_BINARY_DIR})
  set_tests_properties(system.mmio.tlbkick.cpus2 PROPERTIES
    FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor;q35;smp" TIMEOUT 1200)
endif()

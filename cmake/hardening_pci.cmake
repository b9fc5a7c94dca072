# Issue 7, classes 4 and 6 (PCI config through ECAM, other bus masters):
# hostile-guest tests (tests/system/pcihostile.py) and q35 variants of
# representative existing system tests (the same drivers, --machine q35).
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  foreach(t q35-hostile q35-control pc-hostile pc-control allow-dma bad-allow-dma nic-dma nic-dma-control)
    add_test(NAME system.hardening.pci.${t}
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/pcihostile.py ${t}
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.hardening.pci.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu
      LABELS "system;hypervisor;hardening" TIMEOUT 1200)
  endforeach()

  foreach(t cpuid memory hvwrite)
    add_test(NAME system.hv.${t}.q35
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/svtest.py ${t} --machine q35
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.hv.${t}.q35 PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor;q35"
      ENVIRONMENT SV_HV_TESTS=1 SKIP_RETURN_CODE 77 TIMEOUT 900)
  endforeach()
  foreach(t ide-roundtrip unmediated-blocked)
    add_test(NAME system.encryption.${t}.q35
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/encryption.py ${t} --machine q35
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.encryption.${t}.q35 PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor;encryption;q35" TIMEOUT 1200)
  endforeach()
endif()

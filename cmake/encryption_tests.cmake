# System tests of transparent IDE encryption (tests/system/encryption.py),
# label `system;hypervisor;encryption`. They share the QEMU resource lock and
# the guest fixture with cmake/system_tests.cmake.
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  foreach(t ide-roundtrip ide-aes128 bad-keys ide-fs ide-pio ide-simd hostile unmediated-blocked)
    add_test(NAME system.encryption.${t}
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/encryption.py ${t}
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.encryption.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu
      LABELS "system;hypervisor;encryption" TIMEOUT 900)
  endforeach()
endif()

# Multiprocessor guests under the hypervisor (tests/system/smp.py).
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  add_test(NAME system.smp.cpus2
           COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/smp.py cpus2 --build-dir ${CMAKE_BINARY_DIR})
  set_tests_properties(system.smp.cpus2 PROPERTIES
    FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor;smp" TIMEOUT 900)
endif()

# Issue #7 class 3 (IDE state after refused commands): tests/system/idephase.py.
# The hostile scenarios also run in system.encryption.hostile.
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  foreach(t packet packet-control)
    add_test(NAME system.hardening.idephase.${t}
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/idephase.py ${t}
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.hardening.idephase.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu
      LABELS "system;hypervisor;hardening" TIMEOUT 900)
  endforeach()
endif()

# Issue #7 class 9 (CPU leftovers): tests/system/cpuleft.py.
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  foreach(t cpuleft cpuleft-control)
    add_test(NAME system.hardening.cpu.${t}
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/cpuleft.py ${t}
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.hardening.cpu.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu
      LABELS "system;hypervisor;hardening" TIMEOUT 900)
  endforeach()
endif()

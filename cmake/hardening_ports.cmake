# Issue 7 classes 1 and 2 (tests/system/portbypass.py): a hostile guest
# (guest/sv-portbypass.c) with multi-port accesses around the IDE mediator's
# registers and bus-master BAR moves; `control` runs it without the
# hypervisor to show the attacks are real.
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  foreach(t bypass control)
    add_test(NAME system.hardening.ports.${t}
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/portbypass.py ${t}
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.hardening.ports.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu
      LABELS "system;hypervisor;hardening" TIMEOUT 1500)
  endforeach()
endif()

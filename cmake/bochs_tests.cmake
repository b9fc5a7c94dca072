# System tests under Bochs (tests/system/bochs.py, ./shadowvisor run
# --emulator bochs; needs bochs, bochs-term, bochsbios, vgabios from
# tools/install-deps.sh). Label `system;bochs`. A Bochs Linux boot takes many
# minutes, so those tests also carry `slow` (./shadowvisor test --all, or
# ctest -L bochs); vmx-refused stops before any guest runs and stays in the
# default set (and so in CI). Bochs runs share the emulator lock with QEMU:
# the machine has two cores.
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  set(sv_bochs ${CMAKE_SOURCE_DIR}/tests/system/bochs.py)
  foreach(t bare-cpuid svm-cpuid vmx-refused)
    add_test(NAME system.bochs.${t}
             COMMAND ${SV_PYTHON3} ${sv_bochs} ${t} --build-dir ${CMAKE_BINARY_DIR})
    set(labels "system;bochs")
    if(NOT t STREQUAL "vmx-refused")
      list(APPEND labels slow)
    endif()
    set_tests_properties(system.bochs.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "${labels}" TIMEOUT 3600
      SKIP_RETURN_CODE 77)
  endforeach()
endif()

# Function resets of mediated storage functions (tests/system/flr.py): the
# guest's PCI core resets the NVMe function by FLR mid-I/O and idle (q35).
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  if(SV_SYSTEM_TESTS_HYPERVISOR)
    set(sv_flr_env SV_HV_TESTS=1)
  else()
    set(sv_flr_env SV_HV_TESTS=0)
  endif()
  add_test(NAME system.flr.nvme-flr.q35
           COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/flr.py nvme-flr --machine q35
                   --build-dir ${CMAKE_BINARY_DIR})
  add_test(NAME system.flr.nvme-flr-baseline.q35
           COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/flr.py nvme-flr --machine q35 --no-hypervisor
                   --build-dir ${CMAKE_BINARY_DIR})
  set_tests_properties(system.flr.nvme-flr.q35 PROPERTIES
    FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;hypervisor;hardening;nvme;q35"
    ENVIRONMENT ${sv_flr_env} SKIP_RETURN_CODE 77 TIMEOUT 2400)
  set_tests_properties(system.flr.nvme-flr-baseline.q35 PROPERTIES
    FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;nvme;q35"
    SKIP_RETURN_CODE 77 TIMEOUT 1200)
endif()

# System tests of NVMe namespaces (tests/system/nvme.py, issue #10): the
# bare-QEMU baselines with 512- and 4096-byte logical blocks and the control
# run of the hostile NVMe guest program (label `system;baseline;nvme`); the
# --stand-in runs, bare QEMU with the guest's dm-crypt in the mediator's
# place, which check the tests' own host-side logic (`slow`); and, under the
# keyed hypervisor, the NVMe mediator (label `system;hypervisor;nvme`). They
# share the QEMU resource lock and the guest fixture with
# cmake/system_tests.cmake. CI budget: the default set adds about 12 boots
# (~12 min); the rest carries `slow` (./shadowvisor test --all).
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

  # Runs: TEST-MACHINE-LBS[-CPUS]. Stand-in runs (bare, guest dm-crypt) of
  # every encrypted test: slow (what they check, the hypervisor runs check too).
  set(sv_nvme_standin encrypted-pc-4096 fs-pc-512 simd-pc-512 smp-pc-512-4 poll-pc-512 ns2-pc-4096 mixed-q35-512)
  # Under the keyed hypervisor; the default set and the slow rest.
  set(sv_nvme_hv encrypted-pc-512 encrypted-q35-4096 hostile-pc-512 smp-pc-512-2 ns2-pc-512 mixed-pc-512
                 poll-pc-512)
  set(sv_nvme_hv_slow encrypted-pc-4096 hostile-pc-4096 fs-pc-512 simd-pc-512 smp-q35-512-4 mixed-q35-4096
                      ns2-q35-4096)
  function(sv_nvme_run name run kind)
    string(REPLACE "-" ";" parts ${run})
    list(GET parts 0 t)
    list(GET parts 1 m)
    list(GET parts 2 lbs)
    set(args ${t} --machine ${m} --lbs ${lbs} --build-dir ${CMAKE_BINARY_DIR})
    list(LENGTH parts n)
    if(n GREATER 3)
      list(GET parts 3 cpus)
      list(APPEND args --cpus ${cpus})
    endif()
    if(kind STREQUAL "standin")
      add_test(NAME ${name} COMMAND ${SV_PYTHON3} ${sv_nvme_py} ${args} --stand-in)
      set_tests_properties(${name} PROPERTIES
        FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "system;baseline;nvme;slow" TIMEOUT 1800)
    else()
      set(labels "system;hypervisor;nvme")
      if(kind STREQUAL "slow")
        set(labels "system;hypervisor;nvme;slow")
      endif()
      add_test(NAME ${name} COMMAND ${SV_PYTHON3} ${sv_nvme_py} ${args})
      set_tests_properties(${name} PROPERTIES
        FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu LABELS "${labels}"
        ENVIRONMENT ${sv_hv_env} SKIP_RETURN_CODE 77 TIMEOUT 3600)
    endif()
  endfunction()
  foreach(run ${sv_nvme_standin})
    sv_nvme_run(system.baseline.nvme-standin-${run} ${run} standin)
  endforeach()
  if(TARGET shadowvisor.elf)
    foreach(run ${sv_nvme_hv})
      sv_nvme_run(system.nvme.${run} ${run} default)
    endforeach()
    foreach(run ${sv_nvme_hv_slow})
      sv_nvme_run(system.nvme.${run} ${run} slow)
    endforeach()
  endif()
endif()

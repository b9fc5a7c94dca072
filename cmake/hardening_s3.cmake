# Issue 7 class 8: S3 suspend/resume under the hypervisor (tests/system/s3.py).
# s3 / s3-cpus2: suspend with a key, system_wakeup from the QEMU monitor; the
# guest must come back under the hypervisor with its encrypted disk working.
# s3-baseline: the control without the hypervisor (S3 itself works; the data
# after the resume is plaintext on the image). refuse: sleep types the
# hypervisor cannot survive are refused (refuse-baseline: without it they act).
# facsmove: a forged FACS is refused (facsmove-baseline: without the
# hypervisor the firmware resumes at the forged vector).
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  foreach(t s3 cpus2 baseline refuse refuse-baseline facsmove facsmove-baseline)
    add_test(NAME system.s3.${t}
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/s3.py ${t} --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.s3.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu
      LABELS "system;hypervisor;hardening" TIMEOUT 1500)
  endforeach()
endif()

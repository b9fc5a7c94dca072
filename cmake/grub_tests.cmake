# System tests of the hypervisor booted by GRUB (tests/system/grub_boot.py):
# a BIOS GRUB rescue ISO from tools/build-grub-iso.sh, loaded with GRUB's
# multiboot2 and multiboot (1) loaders, booted by `./shadowvisor run --iso`.
# Label `system;hypervisor;grub`; they share the QEMU resource lock and the
# guest fixture with cmake/system_tests.cmake. Needs grub-pc-bin, grub-common,
# xorriso and mtools (tools/install-deps.sh).
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  foreach(t multiboot2 multiboot1 multiboot2-key)
    add_test(NAME system.grub.${t}
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/grub_boot.py ${t}
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.grub.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu
      LABELS "system;hypervisor;grub" TIMEOUT 900)
  endforeach()
endif()

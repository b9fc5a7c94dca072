# Issue 12, AMD-Vi: tests/system/iommu.py under QEMU's amd-iommu on q35
# (./shadowvisor run --iommu amd).
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  foreach(t nic-dma-amd nic-dma-key-amd ahci-encrypted-amd)
    add_test(NAME system.iommu.${t}
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/iommu.py ${t}
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.iommu.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu
      LABELS "system;hypervisor;iommu" TIMEOUT 1800)
  endforeach()
endif()

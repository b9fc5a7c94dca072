# Issue 12: the IOMMU (VT-d on QEMU q35, ./shadowvisor run --iommu):
# tests/system/iommu.py.
if(SV_SYSTEM_TESTS AND TARGET shadowvisor.elf)
  foreach(t nic-dma nic-dma-key nic-dma-no-iommu ahci-encrypted scsi-dma scsi-dma-no-iommu key-net-disks)
    add_test(NAME system.iommu.${t}
             COMMAND ${SV_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/system/iommu.py ${t}
                     --build-dir ${CMAKE_BINARY_DIR})
    set_tests_properties(system.iommu.${t} PROPERTIES
      FIXTURES_REQUIRED sv_guest RESOURCE_LOCK sv_qemu
      LABELS "system;hypervisor;iommu" TIMEOUT 1800)
  endforeach()
endif()

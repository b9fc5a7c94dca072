# The freestanding hypervisor image. Flags follow Hedron/NOVA: no exceptions,
# no RTTI, no red zone (interrupts/exits may use the stack below RSP), and no
# SSE outside crypto (-mgeneral-regs-only): the guest's XMM state is live while
# we run, so only code inside a SimdGuard may touch vector registers (crypto
# enables them per function with `#pragma GCC target`).
set(SV_FREESTANDING_FLAGS
  -ffreestanding -fno-exceptions -fno-rtti -fno-threadsafe-statics
  -fno-stack-protector -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only
  -fno-asynchronous-unwind-tables -fno-builtin -fno-common
  -Wframe-larger-than=2048 -O2 -g)

add_executable(shadowvisor.elf ${SV_BOOT_SOURCES} ${SV_HW_SOURCES} ${SV_PORTABLE_SOURCES})
set_target_properties(shadowvisor.elf PROPERTIES LINK_DEPENDS ${CMAKE_SOURCE_DIR}/boot/linker.ld)
target_include_directories(shadowvisor.elf PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_definitions(shadowvisor.elf PRIVATE SV_FREESTANDING=1
  SV_VERSION="${PROJECT_VERSION}")
target_compile_options(shadowvisor.elf PRIVATE
  $<$<COMPILE_LANGUAGE:CXX>:${SV_FREESTANDING_FLAGS} ${SV_WARNINGS}>
  $<$<COMPILE_LANGUAGE:ASM>:-fno-pic>)
target_link_options(shadowvisor.elf PRIVATE
  -nostdlib -static -no-pie -Wl,-T,${CMAKE_SOURCE_DIR}/boot/linker.ld
  -Wl,--build-id=none -Wl,-z,max-page-size=0x1000 -Wl,-z,noexecstack)
target_link_libraries(shadowvisor.elf PRIVATE gcc)

# Host benchmarks: portable sources optimised, without sanitizers.
add_library(sv_portable_fast STATIC ${SV_PORTABLE_SOURCES})
target_include_directories(sv_portable_fast PUBLIC ${CMAKE_SOURCE_DIR})
target_compile_definitions(sv_portable_fast PUBLIC SV_VERSION="${PROJECT_VERSION}")
target_compile_options(sv_portable_fast PUBLIC -O2 -g ${SV_WARNINGS})

file(GLOB SV_BENCH_SOURCES CONFIGURE_DEPENDS bench/*.cpp)
foreach(src ${SV_BENCH_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(sv_bench_${name} ${src} ${CMAKE_SOURCE_DIR}/tests/unit/support/host_platform.cpp)
  target_link_libraries(sv_bench_${name} PRIVATE sv_portable_fast OpenSSL::Crypto)
endforeach()

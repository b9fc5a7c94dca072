# Host unit tests: the portable sources plus tests/unit, under ASan/UBSan.
find_package(GTest REQUIRED)
set(SV_SANITIZE -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
if(SV_COVERAGE) # ./shadowvisor coverage: same tests, gcov counters (tools/coverage.sh)
  set(SV_SANITIZE --coverage)
endif()

add_library(sv_portable_asan STATIC ${SV_PORTABLE_SOURCES})
target_include_directories(sv_portable_asan PUBLIC ${CMAKE_SOURCE_DIR})
target_compile_definitions(sv_portable_asan PUBLIC SV_VERSION="${PROJECT_VERSION}")
target_compile_options(sv_portable_asan PUBLIC ${SV_SANITIZE} -g -O1 ${SV_WARNINGS})
target_link_options(sv_portable_asan PUBLIC ${SV_SANITIZE})

file(GLOB_RECURSE SV_UNIT_TEST_SOURCES CONFIGURE_DEPENDS tests/unit/*.cpp)
add_executable(sv_unit_tests ${SV_UNIT_TEST_SOURCES})
target_include_directories(sv_unit_tests PRIVATE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/tests/unit)
target_link_libraries(sv_unit_tests PRIVATE sv_portable_asan GTest::gtest GTest::gtest_main
  OpenSSL::Crypto)
include(GoogleTest)
gtest_discover_tests(sv_unit_tests DISCOVERY_TIMEOUT 60)

# Include rules between the source layers (tools/check-layering.py, docs/design.md
# "Layers and the backend interface"). Plain tests without QEMU: they run with the
# unit tests (`ctest -E '^system\.'`). unit.layering.selftest proves the checker
# reports a planted bad include of each kind.
enable_testing()
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME unit.layering
         COMMAND Python3::Interpreter ${CMAKE_SOURCE_DIR}/tools/check-layering.py ${CMAKE_SOURCE_DIR})
add_test(NAME unit.layering.selftest
         COMMAND Python3::Interpreter ${CMAKE_SOURCE_DIR}/tools/check-layering.py --self-test)
set_tests_properties(unit.layering unit.layering.selftest PROPERTIES LABELS "unit;layering" TIMEOUT 60)

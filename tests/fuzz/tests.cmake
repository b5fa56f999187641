# Included from tests/CMakeLists.txt (so test targets are in scope).
#
# 1. The parser tests and the CLI tests need the expression library and the
#    built `tapegrad` executable; without the tools they compile to nothing.
# 2. fuzz_expression_replay: the fuzz target driven by a plain main over the
#    committed corpus, built with the project's compiler, so both the normal
#    and the sanitizer builds replay it (ctest "fuzz_expression: corpus replay").
# 3. fuzz_expression: the real libFuzzer binary, built with clang++ when it
#    and its fuzzer runtime are installed (not in sanitizer builds, whose
#    g++ runtime would clash with clang's). Run it with
#      build/tests/fuzz/fuzz_expression -max_total_time=600 NEW_DIR tests/fuzz/corpus
#    and fold what it finds back into the corpus with -merge=1.
if(NOT TARGET tapegrad_expr)
  return()
endif()

foreach(test_name IN ITEMS test_cli test_cli_expression test_cli_scaling)
  if(TARGET ${test_name})
    target_link_libraries(${test_name} PRIVATE tapegrad_expr)
    target_compile_definitions(${test_name} PRIVATE TAPEGRAD_HAVE_EXPR=1)
  endif()
endforeach()
# The tests that run the tool read its JSON with nlohmann_json, which also
# checks that it is valid (UTF-8 included).
find_package(nlohmann_json 3 CONFIG REQUIRED)
foreach(test_name IN ITEMS test_cli test_cli_scaling)
  if(TARGET ${test_name} AND TARGET tapegrad)
    target_compile_definitions(${test_name} PRIVATE TAPEGRAD_CLI="$<TARGET_FILE:tapegrad>"
      TAPEGRAD_VERSION_TEXT="${PROJECT_VERSION}")
    target_link_libraries(${test_name} PRIVATE nlohmann_json::nlohmann_json)
    add_dependencies(${test_name} tapegrad)
  endif()
endforeach()

set(TAPEGRAD_FUZZ_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus)

add_executable(fuzz_expression_replay fuzz/replay.cpp fuzz/fuzz_expression.cpp)
target_link_libraries(fuzz_expression_replay PRIVATE tapegrad_expr fmt::fmt)
target_include_directories(fuzz_expression_replay PRIVATE ${PROJECT_SOURCE_DIR})
add_test(NAME "fuzz_expression: corpus replay" COMMAND fuzz_expression_replay ${TAPEGRAD_FUZZ_CORPUS})
set_tests_properties("fuzz_expression: corpus replay" PROPERTIES TIMEOUT 300)

option(TAPEGRAD_BUILD_FUZZER "Build the libFuzzer target for the expression parser when clang++ is installed" ON)
if(NOT TAPEGRAD_BUILD_FUZZER OR TAPEGRAD_SANITIZE)
  return()
endif()
find_program(TAPEGRAD_CLANGXX NAMES clang++ clang++-16 clang++-15 clang++-14)
if(NOT TAPEGRAD_CLANGXX)
  message(STATUS "tapegrad: clang++ not found; the libFuzzer target is not built (the corpus replay still runs)")
  return()
endif()
# clang without its fuzzer runtime (Debian: libclang-rt-NN-dev) cannot link one.
set(probe_dir ${CMAKE_CURRENT_BINARY_DIR}/fuzz/probe)
file(WRITE ${probe_dir}/probe.cpp
  "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n")
execute_process(COMMAND ${TAPEGRAD_CLANGXX} -fsanitize=fuzzer ${probe_dir}/probe.cpp -o ${probe_dir}/probe
  RESULT_VARIABLE probe_result OUTPUT_QUIET ERROR_QUIET)
if(NOT probe_result EQUAL 0)
  message(STATUS "tapegrad: ${TAPEGRAD_CLANGXX} cannot link -fsanitize=fuzzer; the libFuzzer target is not built")
  return()
endif()
message(STATUS "tapegrad: building the libFuzzer target fuzz_expression with ${TAPEGRAD_CLANGXX}")

# The fuzz binary is built from the real library targets (their own flags,
# per-file ones included) in a nested build of this project with clang and
# the fuzzer's coverage flags on every target (TAPEGRAD_FUZZ_BUILD, see the
# top-level CMakeLists.txt), which builds only what the target needs.
include(ExternalProject)
set(fuzz_build_dir ${CMAKE_CURRENT_BINARY_DIR}/fuzz/build)
ExternalProject_Add(fuzz_expression_build
  SOURCE_DIR ${PROJECT_SOURCE_DIR}
  BINARY_DIR ${fuzz_build_dir}
  CMAKE_ARGS -DCMAKE_CXX_COMPILER=${TAPEGRAD_CLANGXX} -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_FUZZ_BUILD=ON
  BUILD_COMMAND ${CMAKE_COMMAND} --build <BINARY_DIR> --target fuzz_expression
  INSTALL_COMMAND ""
  BUILD_ALWAYS ON  # the nested build decides what is out of date
  USES_TERMINAL_BUILD ON)
set(fuzz_binary ${fuzz_build_dir}/tests/fuzz/fuzz_expression)
# -runs=0: execute every corpus input once and stop.
add_test(NAME "fuzz_expression: libFuzzer corpus run" COMMAND ${fuzz_binary} -runs=0 ${TAPEGRAD_FUZZ_CORPUS})
set_tests_properties("fuzz_expression: libFuzzer corpus run" PROPERTIES TIMEOUT 300)

# The tree follows .clang-format: ctest runs clang-format --dry-run over
# every C++ file of the project's folders. Formatting differs between
# clang-format versions, so the check is made with the version the style
# was written for (14, Debian 12's), and not made, saying so, without it.
find_program(TAPEGRAD_CLANG_FORMAT NAMES clang-format-14 clang-format)
if(TAPEGRAD_CLANG_FORMAT)
  execute_process(COMMAND ${TAPEGRAD_CLANG_FORMAT} --version OUTPUT_VARIABLE clang_format_version)
endif()
if(NOT clang_format_version MATCHES "version 14\\.")
  message(STATUS "tapegrad: clang-format 14 not found; the formatting check is not run")
  return()
endif()
add_test(NAME "clang-format: every C++ file follows .clang-format"
  COMMAND ${CMAKE_COMMAND} -DCLANG_FORMAT=${TAPEGRAD_CLANG_FORMAT} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
          -P ${CMAKE_CURRENT_LIST_DIR}/check_format.cmake)
set_tests_properties("clang-format: every C++ file follows .clang-format" PROPERTIES TIMEOUT 300)

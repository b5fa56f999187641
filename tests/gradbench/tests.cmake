# Included from tests/CMakeLists.txt. The GradBench tool's tests
# (tests/test_gradbench_*.cpp) need the tool, which is built with the
# benchmarks; the sanitizer build turns the benchmarks off, so the tool is
# added here too (benchmarks/CMakeLists.txt then finds it already there).
if(NOT TARGET tapegrad-gradbench)
  add_subdirectory(${PROJECT_SOURCE_DIR}/benchmarks/gradbench ${PROJECT_BINARY_DIR}/benchmarks/gradbench)
endif()
foreach(test_name IN ITEMS test_gradbench_evals test_gradbench_session)
  if(TARGET ${test_name})
    target_link_libraries(${test_name} PRIVATE tapegrad_gradbench)
    target_compile_definitions(${test_name} PRIVATE TAPEGRAD_GRADBENCH="$<TARGET_FILE:tapegrad-gradbench>")
    add_dependencies(${test_name} tapegrad-gradbench)
  endif()
endforeach()

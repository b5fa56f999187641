# -DCLANG_FORMAT, -DSOURCE_DIR: fails naming every C++ file of the project's
# folders that clang-format would change.
set(files)
foreach(folder IN ITEMS autograd nn examples tools tests benchmarks)
  file(GLOB_RECURSE found ${SOURCE_DIR}/${folder}/*.cpp ${SOURCE_DIR}/${folder}/*.hpp)
  list(APPEND files ${found})
endforeach()
list(FILTER files EXCLUDE REGEX "/build[^/]*/")
list(LENGTH files count)
execute_process(COMMAND ${CLANG_FORMAT} --dry-run --Werror --style=file ${files}
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "files that do not follow .clang-format (format them with: "
                      "git ls-files '*.cpp' '*.hpp' | xargs clang-format -i):\n${err}")
endif()
message("${count} files follow .clang-format")

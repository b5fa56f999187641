# Builds one README block's program (-DTARGET in the build tree -DBUILD_DIR),
# runs it (-DPROGRAM) and checks that it exits 0 and prints each line of
# -DEXPECTED, whole and in order (other output may come between them).
# -DLINE is the block's line in README.md, for messages. With -DERROR, only
# fails with that message (a README that could not be split into blocks).
if(DEFINED ERROR)
  message(FATAL_ERROR "${ERROR}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --config ${CONFIG} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the C++ block at README.md line ${LINE} does not build (a README block must be a complete "
                      "program, warning-free):\n${out}\n${err}")
endif()
execute_process(COMMAND ${PROGRAM} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the C++ block at README.md line ${LINE} exited with ${rc}\nstdout:\n${out}\nstderr:\n${err}")
endif()
file(READ ${EXPECTED} expected)
# Strings, not lists (the output may hold ';'): walk both with string(FIND).
set(unread "\n${out}")
while(NOT expected STREQUAL "")
  string(FIND "${expected}" "\n" eol)
  string(SUBSTRING "${expected}" 0 ${eol} want)
  math(EXPR next "${eol} + 1")
  string(SUBSTRING "${expected}" ${next} -1 expected)
  string(FIND "${unread}" "\n${want}\n" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the C++ block at README.md line ${LINE} should print the line\n  ${want}\n"
                        "(from the comment on its print statement) after the lines before it, but printed:\n${out}")
  endif()
  string(LENGTH "\n${want}" skip)
  math(EXPR skip "${at} + ${skip}")
  string(SUBSTRING "${unread}" ${skip} -1 unread)
endwhile()
message("README.md line ${LINE}: exit 0, output:\n${out}")

# Runs one MPI test: COMMAND (mpirun, its flags, the program and its
# arguments, separated by "|"), then checks its exit status (EXPECT "success"
# or "failure"), that its output matches every regular expression in MATCH
# (separated by ",,"), and that it ended within MAX_SECONDS (the "no hang"
# of a failure).
string(REPLACE "|" ";" COMMAND "${COMMAND}")
string(REPLACE ",," ";" MATCH "${MATCH}")
string(TIMESTAMP start "%s")
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err
  TIMEOUT ${MAX_SECONDS})
string(TIMESTAMP end "%s")
math(EXPR seconds "${end} - ${start}")
message("${out}${err}")
message("-- exit status ${status} after ${seconds} s")
if(status MATCHES "timeout")
  message(FATAL_ERROR "did not end within ${MAX_SECONDS} s: a hang")
endif()
if(EXPECT STREQUAL "success" AND NOT status EQUAL 0)
  message(FATAL_ERROR "exit status ${status}, expected 0")
endif()
if(EXPECT STREQUAL "failure" AND status EQUAL 0)
  message(FATAL_ERROR "exit status 0, expected the job to fail")
endif()
foreach(pattern IN LISTS MATCH)
  if(NOT "${out}${err}" MATCHES "${pattern}")
    message(FATAL_ERROR "the output does not match '${pattern}'")
  endif()
endforeach()

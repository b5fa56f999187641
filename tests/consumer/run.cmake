# Configures tapegrad from scratch in a new build tree, builds and installs
# its libraries into a new prefix, then configures, builds and runs the
# consumer project against that install. From scratch, because a cached
# variable in an already-configured tree can hide a packaging bug (an empty
# CMAKE_INSTALL_INCLUDEDIR on a first configure did). Called by ctest with
# -D variables: TAPEGRAD_SOURCE_DIR, CONSUMER_DIR, WORK_DIR, GENERATOR, CXX,
# CXX_FLAGS.
file(REMOVE_RECURSE ${WORK_DIR})

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# Build type None (no optimisation flags): only the packaging is under
# test here, and -O0 halves the time this test takes.
set(common -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" -DCMAKE_BUILD_TYPE=None)
run("configuring tapegrad in a fresh build tree"
    ${CMAKE_COMMAND} -S ${TAPEGRAD_SOURCE_DIR} -B ${WORK_DIR}/tapegrad-build ${common}
    -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCHMARKS=OFF -DTAPEGRAD_BUILD_TOOLS=OFF)
run("building tapegrad" ${CMAKE_COMMAND} --build ${WORK_DIR}/tapegrad-build --parallel 2)
run("installing tapegrad" ${CMAKE_COMMAND} --install ${WORK_DIR}/tapegrad-build --prefix ${WORK_DIR}/prefix)

run("configuring the consumer"
    ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer-build ${common} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run("building the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build --parallel 2)
foreach(program IN ITEMS autograd_only nn_only both)
  run("running ${program}" ${WORK_DIR}/consumer-build/${program})
  message("${program}: ${run_output}")
endforeach()

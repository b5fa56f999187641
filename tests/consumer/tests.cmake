# find_package(tapegrad) from an installed tree, in a separate project: a
# fresh configure, build and install of the libraries (see run.cmake), then
# three programs linking tapegrad::autograd only, tapegrad::nn only, and both.
set(_consumer_flags "")
if(TAPEGRAD_SANITIZE)
  set(_consumer_flags "-fsanitize=address,undefined -fno-sanitize-recover=all")
endif()
add_test(NAME "consumer: find_package(tapegrad) from a fresh install, linking autograd, nn, or both"
  COMMAND ${CMAKE_COMMAND} -DTAPEGRAD_SOURCE_DIR=${PROJECT_SOURCE_DIR} -DCONSUMER_DIR=${CMAKE_CURRENT_LIST_DIR}
          -DWORK_DIR=${PROJECT_BINARY_DIR}/consumer-test "-DGENERATOR=${CMAKE_GENERATOR}" -DCXX=${CMAKE_CXX_COMPILER}
          "-DCXX_FLAGS=${_consumer_flags}" -P ${CMAKE_CURRENT_LIST_DIR}/run.cmake)
set_tests_properties("consumer: find_package(tapegrad) from a fresh install, linking autograd, nn, or both"
  PROPERTIES TIMEOUT 900)

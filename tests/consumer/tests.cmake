# find_package(tapegrad) from an installed tree, in a separate project.
set(_consumer_flags "")
if(TAPEGRAD_SANITIZE)
  set(_consumer_flags "-fsanitize=address,undefined -fno-sanitize-recover=all")
endif()
add_test(NAME "consumer: find_package(tapegrad) from an installed tree"
  COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR} -DSOURCE_DIR=${CMAKE_CURRENT_LIST_DIR}
          -DWORK_DIR=${PROJECT_BINARY_DIR}/consumer-test -DCXX=${CMAKE_CXX_COMPILER} "-DCXX_FLAGS=${_consumer_flags}"
          -P ${CMAKE_CURRENT_LIST_DIR}/run.cmake)
set_tests_properties("consumer: find_package(tapegrad) from an installed tree" PROPERTIES TIMEOUT 300)

# Data-parallel training through MPI: tests/mpi/mpi_training.cpp under
# mpirun with 2 and 3 ranks (3 on 2 cores: --oversubscribe), each scenario a
# ctest test with a time limit; the failure scenarios must end well inside
# it (run_mpi.cmake checks MAX_SECONDS). Built when TAPEGRAD_MPI is on.
if(NOT TAPEGRAD_MPI)
  return()
endif()
add_executable(mpi_training ${CMAKE_CURRENT_LIST_DIR}/mpi_training.cpp)
target_link_libraries(mpi_training PRIVATE tapegrad::nn_mpi)

# Open MPI refuses to run as root (CI does) without these, and needs
# --oversubscribe for more ranks than cores. Under the sanitizers, Open MPI's
# own allocations at exit are not ours to fix, and they cannot be suppressed
# by library name: many come from its plugins, unloaded in MPI_Finalize, so
# their stacks show "<unknown module>" (seen on a fresh CI clone). Leak
# detection is therefore off in these tests only (AddressSanitizer's and
# UndefinedBehaviorSanitizer's other checks stay on); the same distributed
# code runs with leak detection in test_nn_distributed (ranks as threads).
execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _mpiexec_version ERROR_QUIET)
set(_mpi_flags ${MPIEXEC_PREFLAGS})
set(_mpi_env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1)
if(_mpiexec_version MATCHES "Open MPI|OpenRTE")
  list(APPEND _mpi_flags --oversubscribe)
endif()
if(TAPEGRAD_SANITIZE)
  list(APPEND _mpi_env "ASAN_OPTIONS=detect_leaks=0")
endif()

# name | ranks | expected | seconds allowed | regular expressions (",,"-separated) | arguments
set(_mpi_tests
  "equal to one process, 2 ranks, batch 32|2|success|60|relative difference|equality 32"
  "equal to one process, 3 ranks, batch 30 (uneven shards)|3|success|60|relative difference|equality 30"
  "checkpoint and resume, 2 ranks|2|success|60|the same bits as uninterrupted|resume ${CMAKE_CURRENT_BINARY_DIR}"
  "a rank that throws stops every rank with its error|3|failure|20|rank 1 of 3: error: injected failure,,rank 0 of 3: error: average_gradients: rank 1 of 3 failed: injected failure,,rank 2 of 3: error: average_gradients: rank 1 of 3 failed: injected failure|throw"
  "a rank that dies ends the job|2|failure|20|Exit code: +3|die"
  "a rank that hangs: the others' timeout ends the job|3|failure|20|has waited [0-9.]+ s for the other ranks \\(timeout 2 s\\)|hang"
  "examples/digits_distributed, 2 ranks: the same model as one process|2|success|60|largest difference from one process|DIGITS")
foreach(entry IN LISTS _mpi_tests)
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 ranks)
  list(GET parts 2 expect)
  list(GET parts 3 seconds)
  list(GET parts 4 match)
  list(GET parts 5 args)
  separate_arguments(args UNIX_COMMAND "${args}")
  set(program $<TARGET_FILE:mpi_training>)
  if(args STREQUAL "DIGITS")
    if(NOT TARGET example_digits_distributed)
      continue()
    endif()
    set(program $<TARGET_FILE:example_digits_distributed>)
    set(args "")
  endif()
  # Lists travel to the script with "|" between items (";" would split here).
  set(command ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks} ${_mpi_flags} ${program} ${args})
  string(REPLACE ";" "|" command "${command}")
  math(EXPR timeout "${seconds} + 30")
  add_test(NAME "mpi: ${name}"
    COMMAND ${CMAKE_COMMAND} "-DCOMMAND=${command}" -DEXPECT=${expect} "-DMATCH=${match}" -DMAX_SECONDS=${seconds}
            -P ${CMAKE_CURRENT_LIST_DIR}/run_mpi.cmake)
  set_tests_properties("mpi: ${name}" PROPERTIES TIMEOUT ${timeout} ENVIRONMENT "${_mpi_env}" RUN_SERIAL ON)
endforeach()

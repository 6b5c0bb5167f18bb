# mpi_test_checks.cmake - the outcome checks shared by run_mpi_test.cmake and
# run_calibrate_test.cmake (included by both).

# Fails unless `path` is absent or an empty folder; `what` says which run left it.
function(expect_nothing_left path what)
  if(IS_DIRECTORY ${path})
    file(GLOB left ${path}/*)
  elseif(EXISTS ${path})
    set(left ${path})
  endif()
  if(left)
    message(FATAL_ERROR "${what} left ${left}")
  endif()
endfunction()

# Fails unless the exit code rc is what EXPECT_RC asks ("fail": non-zero, otherwise 0) and
# the output contains every substring of EXPECT; a failed job must leave nothing at `out`.
function(expect_outcome rc output out)
  if(EXPECT_RC STREQUAL "fail")
    if(rc EQUAL 0)
      message(FATAL_ERROR "expected a non-zero exit, got 0")
    endif()
    expect_nothing_left(${out} "a failed job")
  elseif(NOT rc EQUAL 0)
    message(FATAL_ERROR "job failed with ${rc}")
  endif()
  foreach(s ${EXPECT})
    string(FIND "${output}" "${s}" pos)
    if(pos EQUAL -1)
      message(FATAL_ERROR "output lacks \"${s}\"")
    endif()
  endforeach()
endfunction()

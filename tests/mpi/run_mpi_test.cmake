# run_mpi_test.cmake - runs mpi_calib_synth under mpiexec and checks the outcome.
#   MPIEXEC NPFLAG NP EXE WORK OUT  required
#   ARGS        extra program arguments (a list)
#   ENV         VAR=value list for the job
#   REF         compare WORK/OUT with WORK/REF byte for byte
#   EXPECT_RC   "fail": the job must exit non-zero (default: zero)
#   EXPECT      substrings the job's stderr must contain (a list)
#   RESUME      first run 2 ranks with --stop-after-pass 1 (exit 3), then the real run
include(${CMAKE_CURRENT_LIST_DIR}/mpi_test_checks.cmake)
set(mpi ${MPIEXEC} --allow-run-as-root --oversubscribe)
set(out ${WORK}/${OUT})
file(REMOVE ${out})

function(run_job np extra rc_var err_var)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env OMPI_MCA_rmaps_base_oversubscribe=1 ${ENV}
            ${mpi} ${NPFLAG} ${np} ${EXE} --out ${out} ${ARGS} ${extra}
    RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e TIMEOUT 100)
  message("${o}${e}")
  set(${rc_var} "${rc}" PARENT_SCOPE)
  set(${err_var} "${o}${e}" PARENT_SCOPE)
endfunction()

if(RESUME)
  list(GET ARGS -1 ckpt)
  file(REMOVE ${ckpt})
  run_job(2 "--stop-after-pass;1" rc err)
  if(NOT rc EQUAL 3)
    message(FATAL_ERROR "interrupted run: expected exit 3, got ${rc}")
  endif()
  if(NOT EXISTS ${ckpt} OR EXISTS ${out})
    message(FATAL_ERROR "interrupted run: expected ${ckpt} and no ${out}")
  endif()
endif()

run_job(${NP} "" rc err)
expect_outcome("${rc}" "${err}" ${out})
if(REF)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${out} ${WORK}/${REF} RESULT_VARIABLE d)
  if(NOT d EQUAL 0)
    message(FATAL_ERROR "${out} differs from ${WORK}/${REF}")
  endif()
endif()
if(RESUME)
  string(FIND "${err}" "pass 1/2" p1)
  if(NOT p1 EQUAL -1)
    message(FATAL_ERROR "the resumed run ran pass 1 again")
  endif()
endif()

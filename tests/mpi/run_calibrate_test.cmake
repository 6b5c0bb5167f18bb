# run_calibrate_test.cmake - runs `ppq-calib calibrate` on the digits example config under
# mpiexec and checks the outcome.
#   MPIEXEC NPFLAG NP EXE CONFIG WORK OUT PY COMPARE   required (OUT: the export folder name
#                                                      under WORK)
#   ALGO        calibration.activation
#   ENV         VAR=value list for the job
#   REF         compare WORK/OUT with WORK/REF (COMPARE script: QDQ ONNX bytes, JSON and
#               report apart from the world size and the export folder)
#   EXPECT_RC   "fail": the job must exit non-zero and leave no file in WORK/OUT
#   EXPECT      substrings the job's output must contain (a list)
#   MAX_SECONDS the job must end within this many seconds
#   RESUME      first run 2 ranks with --checkpoint and PQ_TEST_STOP_AFTER_PASS=1 (exit 3,
#               checkpoint left, no output), then the real run with --resume: it must not
#               run pass 1 again
include(${CMAKE_CURRENT_LIST_DIR}/mpi_test_checks.cmake)
set(mpi ${MPIEXEC} --allow-run-as-root --oversubscribe)
set(out ${WORK}/${OUT})
set(ckpt ${WORK}/${OUT}.ckpt.h5)
file(REMOVE_RECURSE ${out})
file(REMOVE ${ckpt})
set(args calibrate --config ${CONFIG} --set export.dir=${out})
if(ALGO)
  list(APPEND args --set calibration.activation=${ALGO})
endif()

function(run_job np env extra rc_var out_var secs_var)
  string(TIMESTAMP t0 "%s")
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env OMPI_MCA_rmaps_base_oversubscribe=1 ${env}
            ${mpi} ${NPFLAG} ${np} ${EXE} ${args} ${extra}
    RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e TIMEOUT 100)
  string(TIMESTAMP t1 "%s")
  math(EXPR secs "${t1} - ${t0}")
  message("${o}${e}(${secs} s)")
  set(${rc_var} "${rc}" PARENT_SCOPE)
  set(${out_var} "${o}${e}" PARENT_SCOPE)
  set(${secs_var} "${secs}" PARENT_SCOPE)
endfunction()

if(RESUME)
  run_job(2 "${ENV};PQ_TEST_STOP_AFTER_PASS=1" "--checkpoint;${ckpt}" rc o secs)
  if(NOT rc EQUAL 3)
    message(FATAL_ERROR "interrupted run: expected exit 3, got ${rc}")
  endif()
  if(NOT EXISTS ${ckpt})
    message(FATAL_ERROR "interrupted run: no checkpoint ${ckpt}")
  endif()
  expect_nothing_left(${out} "interrupted run")
  run_job(${NP} "${ENV}" "--resume;${ckpt}" rc o secs)
  string(FIND "${o}" "pass 1/" p1)
  if(NOT p1 EQUAL -1)
    message(FATAL_ERROR "the resumed run ran pass 1 again")
  endif()
  string(FIND "${o}" "resuming from ${ckpt}: 1 of 2" p2)
  if(p2 EQUAL -1)
    message(FATAL_ERROR "the resumed run did not say it resumed from pass 1")
  endif()
else()
  run_job(${NP} "${ENV}" "" rc o secs)
endif()

expect_outcome("${rc}" "${o}" ${out})
if(MAX_SECONDS AND secs GREATER MAX_SECONDS)
  message(FATAL_ERROR "the job took ${secs} s, more than ${MAX_SECONDS} s")
endif()
if(REF)
  execute_process(COMMAND ${PY} ${COMPARE} ${WORK}/${REF} ${out} ${NP} RESULT_VARIABLE d
                  OUTPUT_VARIABLE co ERROR_VARIABLE ce)
  message("${co}${ce}")
  if(NOT d EQUAL 0)
    message(FATAL_ERROR "${out} differs from ${WORK}/${REF}")
  endif()
endif()

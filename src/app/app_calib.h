/* app_calib.h - `ppq-calib calibrate`. */
#ifndef PQ_APP_CALIB_H
#define PQ_APP_CALIB_H

/* calibrate --config RUN.yaml [--set KEY=VALUE]... [--quiet] [--eval-input NAME=DATASET]...
 * [--labels DATASET] [--checkpoint CKPT.h5] [--resume CKPT.h5] [--params SAVED.json]: the
 * calibration pipeline (or, with --params, saved parameters re-applied instead)
 * from a run file on its HDF5 data, a summary table (per-output SNR and cosine, top-1
 * accuracy with labels) on stdout, and the outputs the config's export section asks for
 * (written only when everything succeeded). Under mpirun every rank runs it: the batches are
 * sharded over the ranks and the results are bitwise those of one process; rank 0 prints
 * and writes. Returns 0 on success, 1 on bad input or failure (message naming file and
 * place, the same on every rank), 2 for usage errors, 3 when stopped by the test hook
 * PQ_TEST_STOP_AFTER_PASS. */
int pq_cmd_calibrate(int argc, char **argv);

/* Before OpenBLAS and OpenMP read their environment (main.c calls it before re-executing
 * itself): under an MPI launcher, or with `threads:` set in the run file, sets the threads
 * per rank (pq_mpi_set_threads). A plain singleton with automatic threads is left alone.
 * Never prints; ignores any error (the command reports it later). */
void pq_cmd_calibrate_threads(int argc, char **argv);

#endif /* PQ_APP_CALIB_H */

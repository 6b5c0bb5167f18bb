/* app_calib.h - `ppq-calib calibrate`. */
#ifndef PQ_APP_CALIB_H
#define PQ_APP_CALIB_H

/* calibrate --config RUN.yaml [--set KEY=VALUE]... [--quiet] [--eval-input NAME=DATASET]...
 * [--labels DATASET]: the calibration pipeline from a run file on its HDF5 data, a summary
 * table (per-output SNR and cosine, top-1 accuracy with labels) on stdout, and the outputs
 * the config's export section asks for (written only when everything succeeded).
 * Returns 0 on success, 1 on bad input or failure (message naming file and place), 2 for
 * usage errors. The process is one rank (no MPI layer yet). */
int pq_cmd_calibrate(int argc, char **argv);

#endif /* PQ_APP_CALIB_H */

/* app_data.h - subcommands for calibration data and run configs (src/app/cmd_data_info.c,
 * src/app/cmd_config.c). Each takes the arguments after the program name (argv[0] is the
 * subcommand) and returns the exit code: 0 success, 1 bad input (message on stderr naming
 * the file and place), 2 usage error. */
#ifndef PQ_APP_DATA_H
#define PQ_APP_DATA_H

/* `ppq-calib data-info FILE.h5 [--samples N] [--layout nchw|nhwc]`: every dataset with
 * path, shape, dtype, chunking and compression, and per-channel mean/std of the first N
 * samples (default 1024; 0 = all) of numeric datasets. */
int pq_cmd_data_info(int argc, char **argv);

/* `ppq-calib config --print --config RUN.yaml [--set KEY=VALUE]... [--provenance]`:
 * loads and validates a run file and prints the effective config (defaults filled, paths
 * absolute) as YAML; --provenance prints the provenance record as JSON instead (hashes of
 * config, model and of the data the run would read). */
int pq_cmd_config(int argc, char **argv);

#endif /* PQ_APP_DATA_H */

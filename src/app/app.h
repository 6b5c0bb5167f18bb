/* app.h - the ppq-calib subcommands. Each returns the process exit code:
 * 0 success, 1 bad input or failure (message on stderr naming the file and place), 2 usage. */
#ifndef PQ_APP_H
#define PQ_APP_H

#define PQ_EXIT_OK 0
#define PQ_EXIT_FAIL 1
#define PQ_EXIT_USAGE 2

int pq_cmd_exec(int argc, char **argv);
int pq_cmd_inspect(int argc, char **argv);
/* calibrate --config RUN.yaml [--set KEY=VALUE]... [--quiet] */
int pq_cmd_calibrate(int argc, char **argv);
/* data-info FILE.h5: datasets, shapes, dtypes, chunking, per-channel statistics. */
int pq_cmd_data_info(int argc, char **argv);
/* config --print / --provenance --config RUN.yaml [--set KEY=VALUE]... */
int pq_cmd_config(int argc, char **argv);

/* Prints "ppq-calib: <msg>" to stderr. */
void pq_app_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* PQ_APP_H */

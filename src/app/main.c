/* main.c - the ppq-calib command line: picks the subcommand, makes sure OpenBLAS runs its
 * fastest kernels, reports errors and chooses the exit code. */
#include "app.h"
#include "app_calib.h"
#include "app_verify.h"
#include "pq_core.h"
#include "pq_exec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pq_app_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ppq-calib: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: ppq-calib <command> [options]\n"
            "\n"
            "commands:\n"
            "  calibrate --config RUN.yaml [--set KEY=VALUE]... [--quiet]\n"
            "                                     calibrate a model on HDF5 data and export the\n"
            "                                     quantization parameters (mpirun for many ranks)\n"
            "  inspect MODEL.onnx [--json]        model summary: inputs, outputs, opsets, operators\n"
            "  exec MODEL.onnx --input NAME=FILE... [--output NAME...] --out-dir DIR [--pb] [--summary]\n"
            "                                     run a model on .npy/.pb inputs, write .npy outputs\n"
            "  data-info FILE.h5 [--samples N]    datasets, shapes, dtypes, chunking, channel stats\n"
            "  config --print --config RUN.yaml [--set KEY=VALUE]...\n"
            "                                     the effective run configuration with defaults\n"
            "  verify OUT.json [--quiet]          are the config, model and data a calibration\n"
            "                                     recorded in OUT.json unchanged? (exit 0 yes,\n"
            "                                     1 changed or missing, 2 unusable OUT.json)\n"
            "\n"
            "options:\n"
            "  --help       this text\n"
            "  --version    the version\n"
            "\n"
            "exit codes: 0 success, 1 bad input or failure, 2 usage error\n");
}

/* Re-executes ppq-calib with OPENBLAS_CORETYPE set when OpenBLAS would otherwise run slower
 * kernels than this CPU supports (see pq_exec_blas_better_core); PQ_NO_REEXEC=1 or an
 * explicit OPENBLAS_CORETYPE turns this off. Returns when no re-exec happened. */
static void select_blas_kernels(char **argv)
{
    const char *core = pq_exec_blas_better_core();
    if (!core || setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    fflush(NULL);
    execv("/proc/self/exe", argv);
    /* If exec fails we go on with the kernels we have. */
    unsetenv("OPENBLAS_CORETYPE");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return PQ_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return PQ_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("ppq-calib %s\n", PQ_VERSION_STRING);
        return PQ_EXIT_OK;
    }
    if (strcmp(cmd, "exec") == 0) {
        select_blas_kernels(argv);
        return pq_cmd_exec(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "calibrate") == 0) {
        /* Threads per rank first: OpenBLAS and OpenMP read them when they load, which the
         * re-execution below makes happen again. */
        pq_cmd_calibrate_threads(argc - 1, argv + 1);
        select_blas_kernels(argv);
        return pq_cmd_calibrate(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "inspect") == 0) return pq_cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "data-info") == 0) return pq_cmd_data_info(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0) return pq_cmd_config(argc - 1, argv + 1);
    if (strcmp(cmd, "verify") == 0) return pq_cmd_verify(argc - 1, argv + 1);
    pq_app_error("unknown command '%s' (see ppq-calib --help)", cmd);
    return PQ_EXIT_USAGE;
}

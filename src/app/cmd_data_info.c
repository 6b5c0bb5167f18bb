/* cmd_data_info.c - `ppq-calib data-info FILE.h5 [--samples N] [--layout nchw|nhwc]`.
 *
 * For each dataset: path, shape, dtype, chunk shape and filters; then, for numeric
 * datasets, the per-channel mean and standard deviation of the first N samples (channel
 * axis 1 for rank-4 data, the last axis with --layout nhwc; one value over everything for
 * other ranks). */
#include "app.h"
#include "pq_core.h"
#include "pq_h5.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void data_info_usage(FILE *to)
{
    fprintf(to, "usage: ppq-calib data-info FILE.h5 [--samples N] [--layout nchw|nhwc]\n"
                "  lists every dataset (shape, dtype, chunks, compression) and the per-channel\n"
                "  mean/std of the first N samples (default 1024, 0 = all); the channel axis\n"
                "  is 1 for rank-4 data, or the last with --layout nhwc\n");
}

static void print_dims(const int64_t *d, int rank)
{
    putchar('[');
    for (int k = 0; k < rank; k++) printf("%s%" PRId64, k ? ", " : "", d[k]);
    putchar(']');
}

int pq_cmd_data_info(int argc, char **argv)
{
    const char *file = NULL;
    int64_t n_samples = 1024;
    pq_h5_layout layout = PQ_H5_LAYOUT_NCHW;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            data_info_usage(stdout);
            return PQ_EXIT_OK;
        } else if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            long long v = strtoll(argv[++i], &end, 10);
            if (*end || errno || v < 0) {
                pq_app_error("data-info: --samples wants a count >= 0, got '%s'", argv[i]);
                return PQ_EXIT_USAGE;
            }
            n_samples = v;
        } else if (strcmp(argv[i], "--layout") == 0 && i + 1 < argc) {
            const char *l = argv[++i];
            if (strcmp(l, "nchw") == 0)
                layout = PQ_H5_LAYOUT_NCHW;
            else if (strcmp(l, "nhwc") == 0)
                layout = PQ_H5_LAYOUT_NHWC;
            else {
                pq_app_error("data-info: --layout is nchw or nhwc, got '%s'", l);
                return PQ_EXIT_USAGE;
            }
        } else if (argv[i][0] == '-' || file) {
            pq_app_error("data-info: unexpected argument '%s'", argv[i]);
            data_info_usage(stderr);
            return PQ_EXIT_USAGE;
        } else {
            file = argv[i];
        }
    }
    if (!file) {
        data_info_usage(stderr);
        return PQ_EXIT_USAGE;
    }
    pq_err err = {0};
    pq_h5_dataset_info *list = NULL;
    int n = 0;
    if (pq_h5_list_datasets(file, &list, &n, &err) != PQ_OK) {
        pq_app_error("%s", err.msg);
        return PQ_EXIT_FAIL;
    }
    printf("%s: %d dataset%s\n", file, n, n == 1 ? "" : "s");
    int rc = PQ_EXIT_OK;
    for (int i = 0; i < n; i++) {
        const pq_h5_dataset_info *d = &list[i];
        printf("%s\n  shape ", d->path);
        print_dims(d->dims, d->rank);
        printf("  dtype %s  ", d->type_desc);
        if (d->chunked) {
            printf("chunks ");
            print_dims(d->chunk, d->rank);
        } else {
            printf("contiguous");
        }
        printf("  compression ");
        if (d->n_filters == 0) printf("none");
        for (int f = 0; f < d->n_filters; f++) printf("%s%s", f ? "+" : "", d->filters[f]);
        putchar('\n');
        if (d->dtype == PQ_DTYPE_UNDEFINED || d->rank < 1 || d->dims[0] == 0) continue;
        int C = 0;
        double *mean = NULL, *sd = NULL;
        pq_h5_layout lay = (d->rank == 4) ? layout : PQ_H5_LAYOUT_NCHW;
        if (pq_h5_channel_stats(file, d->path, n_samples, lay, &C, &mean, &sd, &err) != PQ_OK) {
            pq_app_error("%s", err.msg);
            rc = PQ_EXIT_FAIL;
            continue;
        }
        int64_t used = (n_samples == 0 || n_samples > d->dims[0]) ? d->dims[0] : n_samples;
        printf("  first %" PRId64 " samples, %s: mean [", used,
               d->rank == 4 ? (lay == PQ_H5_LAYOUT_NHWC ? "channel axis 3" : "channel axis 1")
                            : "all values");
        for (int c = 0; c < C; c++) printf("%s%.6g", c ? ", " : "", mean[c]);
        printf("]  std [");
        for (int c = 0; c < C; c++) printf("%s%.6g", c ? ", " : "", sd[c]);
        printf("]\n");
        pq_free(mean);
        pq_free(sd);
    }
    pq_h5_dataset_info_free(&list, n);
    return rc;
}

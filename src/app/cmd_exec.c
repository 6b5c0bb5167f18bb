/* cmd_exec.c - `ppq-calib exec`: run a model on given inputs and write the outputs. */
#include "app.h"
#include "pq_core.h"
#include "pq_exec.h"
#include "pq_npy.h"
#include "pq_onnx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_ARGS 256

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A file name for a variable name: path separators and odd characters become '_'. */
static void file_stem(const char *name, char *out, size_t cap)
{
    size_t k = 0;
    for (; name[k] && k + 1 < cap; k++) {
        char c = name[k];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        out[k] = ok ? c : '_';
    }
    out[k] = '\0';
    if (k == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0) snprintf(out, cap, "output");
}

/* Prints an output's shape, range and, for [N, C] outputs, the arg-max of every row. */
static void print_summary(const char *name, const pq_tensor *t)
{
    char desc[256];
    printf("%s: %s", name, pq_tensor_describe(t, desc, sizeof desc));
    if (t->dtype == PQ_DTYPE_STRING || t->numel == 0) {
        printf("\n");
        return;
    }
    double lo = pq_tensor_get_f64(t, 0), hi = lo;
    for (int64_t i = 1; i < t->numel; i++) {
        double v = pq_tensor_get_f64(t, i);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    printf(" min %.6g max %.6g\n", lo, hi);
    if (t->rank == 2 && t->dims[1] > 0) {
        printf("%s argmax per row:", name);
        for (int64_t r = 0; r < t->dims[0]; r++) {
            int64_t best = 0;
            for (int64_t c = 1; c < t->dims[1]; c++)
                if (pq_tensor_get_f64(t, r * t->dims[1] + c) > pq_tensor_get_f64(t, r * t->dims[1] + best))
                    best = c;
            printf(" %lld", (long long)best);
        }
        printf("\n");
    }
}

static int exec_usage(void)
{
    fprintf(stderr, "usage: ppq-calib exec MODEL.onnx --input NAME=FILE [--input ...] "
                    "[--output NAME ...] --out-dir DIR [--pb] [--summary] [--threads N]\n");
    return PQ_EXIT_USAGE;
}

int pq_cmd_exec(int argc, char **argv)
{
    const char *model = NULL, *out_dir = NULL;
    const char *in_names[MAX_ARGS], *in_files[MAX_ARGS], *out_names[MAX_ARGS];
    int n_in = 0, n_out = 0, write_pb = 0, summary = 0, threads = 0, rc = PQ_EXIT_FAIL;
    pq_tensor *feeds[MAX_ARGS] = {0}, *results[MAX_ARGS] = {0};
    char *owned_names[MAX_ARGS] = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_err err = {0};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--input") == 0 && i + 1 < argc && n_in < MAX_ARGS) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            if (!eq || eq == spec || !eq[1]) {
                pq_app_error("--input expects NAME=FILE, got '%s'", spec);
                return PQ_EXIT_USAGE;
            }
            owned_names[n_in] = strndup(spec, (size_t)(eq - spec));
            in_names[n_in] = owned_names[n_in];
            in_files[n_in++] = eq + 1;
        } else if (strcmp(a, "--output") == 0 && i + 1 < argc && n_out < MAX_ARGS) {
            out_names[n_out++] = argv[++i];
        } else if (strcmp(a, "--out-dir") == 0 && i + 1 < argc) {
            out_dir = argv[++i];
        } else if (strcmp(a, "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(a, "--pb") == 0) {
            write_pb = 1;
        } else if (strcmp(a, "--summary") == 0) {
            summary = 1;
        } else if (a[0] == '-' || model) {
            for (int k = 0; k < n_in; k++) free(owned_names[k]);
            return exec_usage();
        } else {
            model = a;
        }
    }
    if (!model || !out_dir) {
        for (int k = 0; k < n_in; k++) free(owned_names[k]);
        return exec_usage();
    }

    if (pq_onnx_load(model, &g, &err) != PQ_OK) goto fail;
    for (int k = 0; k < n_in; k++) {
        pq_var *v = pq_graph_find_var(g, in_names[k]);
        if (!v || !pq_graph_is_input(g, v)) {
            pq_err_set(&err, PQ_ERR_INVALID, "%s: '%s' is not an input of the model", model,
                       in_names[k]);
            goto fail;
        }
        pq_status st = ends_with(in_files[k], ".npy")
                           ? pq_npy_load(in_files[k], &feeds[k], &err)
                           : pq_onnx_load_tensor(in_files[k], &feeds[k], NULL, &err);
        if (st != PQ_OK) goto fail;
    }
    if (n_out == 0) {
        for (int64_t k = 0; k < g->outputs.n && k < MAX_ARGS; k++)
            out_names[n_out++] = ((pq_var *)g->outputs.items[k])->name;
    }
    pq_exec_options opts = {.threads = threads};
    if (pq_executor_create(g, &opts, &ex, &err) != PQ_OK) {
        pq_err_prefix(&err, "%s", model);
        goto fail;
    }
    if (pq_executor_run(ex, n_in, in_names, feeds, n_out, out_names, results, &err) != PQ_OK) {
        pq_err_prefix(&err, "%s", model);
        goto fail;
    }
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        pq_err_set(&err, PQ_ERR_IO, "%s: cannot create directory: %s", out_dir, strerror(errno));
        goto fail;
    }
    for (int k = 0; k < n_out; k++) {
        char stem[256], path[4096];
        file_stem(out_names[k], stem, sizeof stem);
        snprintf(path, sizeof path, "%s/%s.npy", out_dir, stem);
        int npy_ok = results[k]->dtype != PQ_DTYPE_STRING && results[k]->dtype != PQ_DTYPE_BFLOAT16;
        if (!npy_ok && !write_pb) {
            pq_err_set(&err, PQ_ERR_UNSUPPORTED, "output '%s' is %s, which .npy cannot hold: "
                       "use --pb", out_names[k], pq_dtype_name(results[k]->dtype));
            goto fail;
        }
        if (npy_ok && pq_npy_save(path, results[k], &err) != PQ_OK) goto fail;
        if (write_pb) {
            snprintf(path, sizeof path, "%s/%s.pb", out_dir, stem);
            if (pq_onnx_save_tensor(path, results[k], out_names[k], &err) != PQ_OK) goto fail;
        }
    }
    if (summary)
        for (int k = 0; k < n_out; k++) print_summary(out_names[k], results[k]);
    rc = PQ_EXIT_OK;
fail:
    if (rc != PQ_EXIT_OK) pq_app_error("%s", err.msg);
    for (int k = 0; k < MAX_ARGS; k++) {
        pq_tensor_destroy(&feeds[k]);
        pq_tensor_destroy(&results[k]);
        free(owned_names[k]);
    }
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    return rc;
}

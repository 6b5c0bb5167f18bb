/* bench_calib.c - observer overhead of the calibration pipeline (scripts/bench_calib.sh):
 *   bench_calib MODEL.onnx N_IMAGES BATCH ALGO...
 * The model goes through "format,fuse" and trt_int8 quantization; N_IMAGES synthetic images
 * (seeded normal, [N, 3, 224, 224]) in batches of BATCH. Times the float forward over all
 * batches (best of 2 after a warm-up), then pq_calib_run per algorithm (pass 1 and pass 2
 * separately, after a warm-up forward of one batch), and prints the overhead of each pass
 * over the float forward three ways:
 * - "wall": the pass's wall time against the separate float run;
 * - "hooks": the time inside the observer hooks against the rest of the same pass (both
 *   parts measured in the same run, so less sensitive to load from other processes);
 * - "cpu": the process CPU time of the pass against that of the float forward. Run with
 *   OMP_NUM_THREADS=1 (scripts/bench_calib.sh --threads 1) it is the figure least disturbed
 *   by other jobs on a shared machine (with more threads it also counts OpenMP spin-waits). */
#include "calib/pq_calib.h"
#include "pq_onnx.h"
#include "pq_passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int fail(const char *what, const pq_err *err)
{
    fprintf(stderr, "bench_calib: %s: %s\n", what, err->msg);
    return 1;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A memory source that records the process CPU time spent between the first batch of a pass
 * and its end (the forward passes and the observer hooks, not the reduction or the scales). */
typedef struct timed_source {
    pq_calib_source inner;
    int pass;        /* 0 before the first batch, then 1, 2 */
    int running;     /* a batch of the current pass was handed out */
    double t0, cpu[2];
} timed_source;

static pq_status timed_next(void *ctx, int64_t *batch_index, int n_inputs, pq_tensor **inputs,
                            int *done, pq_err *err)
{
    timed_source *ts = ctx;
    if (!ts->running) {
        ts->running = 1;
        ts->pass++;
        ts->t0 = cpu_now();
    }
    pq_status st = ts->inner.next(ts->inner.ctx, batch_index, n_inputs, inputs, done, err);
    if (st == PQ_OK && *done && ts->pass <= 2) {
        ts->cpu[ts->pass - 1] = cpu_now() - ts->t0;
        ts->running = 0;
    }
    return st;
}

static pq_status timed_rewind(void *ctx, pq_err *err)
{
    timed_source *ts = ctx;
    return ts->inner.rewind(ts->inner.ctx, err);
}

static pq_status load(const char *path, pq_graph **g, pq_err *err)
{
    pq_status st = pq_onnx_load(path, g, err);
    if (st == PQ_OK) st = pq_passes_run(*g, "format,fuse", NULL, err);
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_calib MODEL.onnx N_IMAGES BATCH ALGO...\n");
        return 2;
    }
    pq_err err = {0};
    int64_t n = atoll(argv[2]), bs = atoll(argv[3]), nb = (n + bs - 1) / bs;
    pq_tensor **batches = calloc((size_t)nb, sizeof *batches);
    pq_rng rng;
    pq_rng_seed(&rng, 0);
    for (int64_t b = 0; b < nb; b++) {
        int64_t rows = b * bs + bs <= n ? bs : n - b * bs;
        int64_t dims[4] = {rows, 3, 224, 224};
        if (pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, 4, dims, &batches[b], &err)) return fail("data", &err);
        for (int64_t i = 0; i < batches[b]->numel; i++)
            PQ_DATA(batches[b], float)[i] = (float)pq_rng_normal(&rng);
    }
    /* Float forward alone. */
    double t_float = 1e30, cpu_float = 1e30;
    {
        pq_graph *g = NULL;
        pq_executor *ex = NULL;
        pq_calib_options o;
        pq_calib_options_init(&o);
        if (load(argv[1], &g, &err) || pq_calib_quantize_graph(g, &o, &err) ||
            pq_executor_create(g, NULL, &ex, &err))
            return fail(argv[1], &err);
        const char *in = ((pq_var *)g->inputs.items[0])->name;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = pq_time_now(), c0 = cpu_now();
            for (int64_t b = 0; b < nb; b++)
                if (pq_executor_run(ex, 1, &in, &batches[b], 0, NULL, NULL, &err))
                    return fail("forward", &err);
            double t = pq_time_now() - t0, c = cpu_now() - c0;
            if (rep > 0 && t < t_float) t_float = t; /* rep 0 warms up */
            if (rep > 0 && c < cpu_float) cpu_float = c;
        }
        pq_executor_destroy(&ex);
        pq_graph_destroy(&g);
    }
    printf("model %s, %lld images, batch %lld: float forward %.3f s (%.1f images/s), "
           "CPU %.3f s\n", argv[1], (long long)n, (long long)bs, t_float, (double)n / t_float,
           cpu_float);
    printf("%-12s %9s | %8s %8s %8s %8s | %8s %8s %8s %8s\n", "algorithm", "observers",
           "pass1 s", "wall", "hooks", "cpu", "pass2 s", "wall", "hooks", "cpu");
    for (int a = 4; a < argc; a++) {
        pq_graph *g = NULL;
        pq_executor *ex = NULL;
        pq_calib_options o;
        pq_calib_stats st;
        pq_calib_memsource mem;
        pq_calib_source src;
        timed_source ts = {0};
        pq_calib_options_init(&o);
        o.activation_algo = argv[a];
        if (load(argv[1], &g, &err) || pq_calib_quantize_graph(g, &o, &err) ||
            pq_executor_create(g, NULL, &ex, &err))
            return fail(argv[1], &err);
        /* warm-up, as for the float forward (first-run allocations are not the observers') */
        const char *in = ((pq_var *)g->inputs.items[0])->name;
        if (pq_executor_run(ex, 1, &in, &batches[0], 0, NULL, NULL, &err))
            return fail("forward", &err);
        pq_calib_memsource_init(&mem, batches, NULL, nb, 1, &ts.inner);
        src = (pq_calib_source){timed_next, timed_rewind, &ts};
        if (pq_calib_run(g, ex, &o, &src, NULL, &st, &err)) return fail(argv[a], &err);
        printf("%-12s %9lld", argv[a], (long long)st.observers);
        for (int p = 0; p < 2; p++) {
            if (p >= st.n_passes) {
                printf(" | %8s %8s %8s %8s", "-", "-", "-", "-");
                continue;
            }
            double fwd = st.seconds[p] - st.observe_seconds[p];
            printf(" | %8.3f %7.1f%% %7.1f%% %7.1f%%", st.seconds[p],
                   100.0 * (st.seconds[p] / t_float - 1.0), 100.0 * st.observe_seconds[p] / fwd,
                   100.0 * (ts.cpu[p] / cpu_float - 1.0));
        }
        printf("\n");
        pq_executor_destroy(&ex);
        pq_graph_destroy(&g);
    }
    for (int64_t b = 0; b < nb; b++) pq_tensor_destroy(&batches[b]);
    free(batches);
    return 0;
}

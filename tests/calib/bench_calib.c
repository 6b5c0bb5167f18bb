/* bench_calib.c - observer overhead of the calibration pipeline (scripts/bench_calib.sh):
 *   bench_calib MODEL.onnx N_IMAGES BATCH ALGO...
 * The model goes through "format,fuse" and trt_int8 quantization; N_IMAGES synthetic images
 * (seeded normal, [N, 3, 224, 224]) in batches of BATCH. Times the float forward over all
 * batches (best of 2 after a warm-up), then pq_calib_run per algorithm (pass 1 and pass 2
 * separately), and prints the overhead of each pass over the float forward two ways: the
 * pass's wall time against the separate float run ("wall"), and the time inside the observer
 * hooks against the rest of the same pass ("hooks": robust to load from other processes on
 * a shared machine, since both parts are measured in the same run). */
#include "calib/pq_calib.h"
#include "pq_onnx.h"
#include "pq_passes.h"

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, const pq_err *err)
{
    fprintf(stderr, "bench_calib: %s: %s\n", what, err->msg);
    return 1;
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
    double t_float = 1e30;
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
            double t0 = pq_time_now();
            for (int64_t b = 0; b < nb; b++)
                if (pq_executor_run(ex, 1, &in, &batches[b], 0, NULL, NULL, &err))
                    return fail("forward", &err);
            double t = pq_time_now() - t0;
            if (rep > 0 && t < t_float) t_float = t; /* rep 0 warms up */
        }
        pq_executor_destroy(&ex);
        pq_graph_destroy(&g);
    }
    printf("model %s, %lld images, batch %lld: float forward %.3f s (%.1f images/s)\n", argv[1],
           (long long)n, (long long)bs, t_float, (double)n / t_float);
    printf("%-12s %9s | %8s %8s %8s | %8s %8s %8s\n", "algorithm", "observers", "pass1 s",
           "wall", "hooks", "pass2 s", "wall", "hooks");
    for (int a = 4; a < argc; a++) {
        pq_graph *g = NULL;
        pq_executor *ex = NULL;
        pq_calib_options o;
        pq_calib_stats st;
        pq_calib_memsource mem;
        pq_calib_source src;
        pq_calib_options_init(&o);
        o.activation_algo = argv[a];
        if (load(argv[1], &g, &err) || pq_calib_quantize_graph(g, &o, &err) ||
            pq_executor_create(g, NULL, &ex, &err))
            return fail(argv[1], &err);
        pq_calib_memsource_init(&mem, batches, NULL, nb, 1, &src);
        if (pq_calib_run(g, ex, &o, &src, NULL, &st, &err)) return fail(argv[a], &err);
        printf("%-12s %9lld", argv[a], (long long)st.observers);
        for (int p = 0; p < 2; p++) {
            if (p >= st.n_passes) {
                printf(" | %8s %8s %8s", "-", "-", "-");
                continue;
            }
            double fwd = st.seconds[p] - st.observe_seconds[p];
            printf(" | %8.3f %7.1f%% %7.1f%%", st.seconds[p], 100.0 * (st.seconds[p] / t_float - 1.0),
                   100.0 * st.observe_seconds[p] / fwd);
        }
        printf("\n");
        pq_executor_destroy(&ex);
        pq_graph_destroy(&g);
    }
    for (int64_t b = 0; b < nb; b++) pq_tensor_destroy(&batches[b]);
    free(batches);
    return 0;
}

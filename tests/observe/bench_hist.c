/* bench_hist.c - single-thread cost per element of every observer kernel (pass 1 min/max and
 * pass 2 histogram fill) on activation-like data, against a plain read of the same tensor.
 * Not a test: run tests/observe/bench_observe.sh (which builds it) or
 *   bench_hist [numel] [reps]
 * Data sets (seeded): relu = max(0, N(0,1)) (half exact zeros, as after Conv+Relu), normal =
 * N(0,1) (a conv output, a network input), runs = integers 0..255 in runs of mean length 5
 * (flat image regions), spike = 90% one value inside the range (the worst case for counting:
 * every increment hits the same counter). The timing is CPU time of this thread (best of
 * reps), so it is usable on a machine shared with other jobs; the data of the default size
 * (25 MB) does not stay in cache, as activations in a forward pass. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "observe/pq_observe.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile float sink;

static double time_read(const pq_tensor *t, int reps)
{
    double best = 1e30;
    const float *x = t->data;
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_now();
        float acc[16] = {0};
        for (int64_t i = 0; i + 16 <= t->numel; i += 16)
            for (int j = 0; j < 16; j++) acc[j] += x[i + j];
        float s = 0;
        for (int j = 0; j < 16; j++) s += acc[j];
        sink = s;
        double dt = cpu_now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

static double time_observe(pq_observer *o, const pq_tensor *t, int reps)
{
    double best = 1e30;
    pq_err err = {0};
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_now();
        if (pq_observer_observe(o, t, &err) != PQ_OK) {
            fprintf(stderr, "bench_hist: %s\n", err.msg);
            exit(1);
        }
        double dt = cpu_now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv)
{
    int64_t numel = argc > 1 ? atoll(argv[1]) : (int64_t)32 * 64 * 56 * 56;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    enum { ND = 4 };
    const char *dists[ND] = {"relu", "normal", "runs", "spike"};
    struct {
        const char *algo;
        int asym;
    } cases[] = {{"minmax", 0}, {"percentile", 0}, {"percentile", 1}, {"kl", 0}, {"kl_ppq", 0},
                 {"mse", 0}, {"mse", 1}};
    pq_tensor *t[ND] = {0};
    pq_err err = {0};
    for (int d = 0; d < ND; d++) {
        if (pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, 1, &numel, &t[d], &err) != PQ_OK) return 1;
        pq_rng r;
        pq_rng_seed(&r, 7);
        float *x = t[d]->data, run = 0;
        for (int64_t i = 0; i < numel; i++) {
            double v = pq_rng_normal(&r);
            if (d == 2 && pq_rng_uniform(&r) < 0.2) run = (float)(int)(256 * pq_rng_uniform(&r));
            x[i] = d == 0   ? (float)(v > 0 ? v : 0)
                 : d == 1   ? (float)v
                 : d == 2   ? run
                 : pq_rng_uniform(&r) < 0.9 ? 1.5f : (float)(4 * pq_rng_uniform(&r));
        }
    }
    printf("float32[%lld], 1 thread, CPU time per element (best of %d), ns\n", (long long)numel,
           reps);
    printf("%-22s", "kernel");
    for (int d = 0; d < ND; d++) printf(" %9s", dists[d]);
    printf("\n%-22s", "plain read");
    for (int d = 0; d < ND; d++) printf(" %9.3f", 1e9 * time_read(t[d], reps) / (double)numel);
    printf("\n");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double ns[2][ND] = {{0}};
        int passes = 1;
        for (int d = 0; d < ND; d++) {
            pq_tqc q;
            memset(&q, 0, sizeof q);
            q.policy = (cases[c].asym ? PQ_QPOLICY_ASYMMETRIC : PQ_QPOLICY_SYMMETRIC) |
                       PQ_QPOLICY_LINEAR | PQ_QPOLICY_PER_TENSOR;
            q.num_bits = 8;
            q.quant_min = cases[c].asym ? 0 : -128;
            q.quant_max = cases[c].asym ? 255 : 127;
            pq_observer_opts opts = {.threads = 1};
            pq_observer *o = NULL;
            if (pq_observer_create(cases[c].algo, &q, "bench", 0, &opts, &o, &err) != PQ_OK) {
                fprintf(stderr, "bench_hist: %s\n", err.msg);
                return 1;
            }
            ns[0][d] = 1e9 * time_observe(o, t[d], reps) / (double)numel;
            passes = pq_observer_n_passes(o);
            if (passes == 2) {
                if (pq_observer_end_pass(o, &err) != PQ_OK) return 1;
                ns[1][d] = 1e9 * time_observe(o, t[d], reps) / (double)numel;
            }
            pq_observer_destroy(&o);
        }
        for (int p = passes - 1; p < passes; p++) { /* pass 1 is minmax's kernel */
            char label[64];
            snprintf(label, sizeof label, "%s%s pass %d", cases[c].algo,
                     cases[c].asym ? " asym" : "", p + 1);
            printf("%-22s", label);
            for (int d = 0; d < ND; d++) printf(" %9.3f", ns[p][d]);
            printf("\n");
        }
    }
    for (int d = 0; d < ND; d++) pq_tensor_destroy(&t[d]);
    return 0;
}

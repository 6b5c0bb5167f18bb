/* bench_observe.c - observer throughput on a 16x64x112x112 float32 activation (ResNet's
 * first block) vs a plain memcpy of it. Not a test: run tests/observe/bench_observe.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observe/pq_observe.h"

static double best_of(int reps, double (*fn)(void *), void *arg)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = fn(arg);
        if (t < best) best = t;
    }
    return best;
}

typedef struct job {
    pq_tensor *t, *dst;
    pq_observer *o;
} job;

static double run_memcpy(void *p)
{
    job *j = p;
    double t0 = pq_time_now();
    memcpy(j->dst->data, j->t->data, j->t->nbytes);
    return pq_time_now() - t0;
}

static double run_observe(void *p)
{
    job *j = p;
    pq_err err = {0};
    double t0 = pq_time_now();
    if (pq_observer_observe(j->o, j->t, &err) != PQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return pq_time_now() - t0;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int64_t dims[4] = {16, 64, 112, 112};
    pq_err err = {0};
    job j = {0};
    if (pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, 4, dims, &j.t, &err) != PQ_OK ||
        pq_tensor_create(PQ_DTYPE_FLOAT32, 4, dims, &j.dst, &err) != PQ_OK)
        return 1;
    pq_rng r;
    pq_rng_seed(&r, 1);
    float *x = j.t->data;
    for (int64_t i = 0; i < j.t->numel; i++) {
        double v = pq_rng_normal(&r);
        x[i] = (float)(v > 0 ? v : 0.1 * v); /* leaky-ReLU-like */
    }
    double tm = best_of(7, run_memcpy, &j);
    printf("tensor float32[16, 64, 112, 112] (%.1f MB), %d thread(s)\n", j.t->nbytes / 1e6, threads);
    printf("%-34s %8.2f ms  %6.2f GB/s\n", "memcpy", tm * 1e3, j.t->nbytes / tm / 1e9);
    struct { const char *algo; unsigned pc; int bins; } cases[] = {
        {"minmax", 0, 0}, {"minmax", PQ_QPOLICY_PER_CHANNEL, 0},
        {"kl", 0, 2048}, {"percentile", 0, 4096}, {"mse", 0, 2048},
        {"kl", PQ_QPOLICY_PER_CHANNEL, 2048}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pq_tqc q;
        memset(&q, 0, sizeof q);
        q.policy = PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR |
                   (cases[c].pc ? PQ_QPOLICY_PER_CHANNEL : PQ_QPOLICY_PER_TENSOR);
        q.num_bits = 8;
        q.quant_min = -128;
        q.quant_max = 127;
        q.channel_axis = 1;
        pq_observer_opts opts = {.threads = threads};
        if (pq_observer_create(cases[c].algo, &q, "bench", 64, &opts, &j.o, &err) != PQ_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        char label[96];
        snprintf(label, sizeof label, "%s%s pass 1 (min/max)", cases[c].algo,
                 cases[c].pc ? " per-channel" : "");
        double t1 = best_of(7, run_observe, &j);
        printf("%-34s %8.2f ms  %6.2f GB/s  %5.2fx memcpy\n", label, t1 * 1e3,
               j.t->nbytes / t1 / 1e9, t1 / tm);
        if (pq_observer_n_passes(j.o) == 2) {
            if (pq_observer_end_pass(j.o, &err) != PQ_OK) return 1;
            snprintf(label, sizeof label, "%s%s pass 2 (histogram)", cases[c].algo,
                     cases[c].pc ? " per-channel" : "");
            double t2 = best_of(7, run_observe, &j);
            printf("%-34s %8.2f ms  %6.2f GB/s  %5.2fx memcpy\n", label, t2 * 1e3,
                   j.t->nbytes / t2 / 1e9, t2 / tm);
        }
        pq_observer_destroy(&j.o);
    }
    pq_tensor_destroy(&j.t);
    pq_tensor_destroy(&j.dst);
    return 0;
}

/* bench_exec.c - times ppq-calib's float executor on one model (compare with ort_bench.js).
 *
 *   bench_exec MODEL.onnx [--batch 16] [--iters 10] [--threads 1] [--seed 1]
 *              [--input X.npy] [--check Y.npy [--tol 1e-3]] [--passes SPEC] [--profile]
 *
 * Loads the model, feeds its first graph input a seeded standard-normal tensor (its leading
 * or symbolic dimension set to --batch) or the tensor in X.npy, runs once to warm up, then
 * times --iters runs and prints images/s, the peak resident set size and the model's
 * parameter bytes. With --check it compares the first graph output of the warm-up run with
 * Y.npy and fails (exit 1) when the error exceeds --tol:
 *   max abs err = max |y - ref|
 *   max rel err = max |y - ref| / max |ref|     (normalised by the output's range, so that
 *                                                near-zero reference values do not dominate)
 * --passes SPEC runs graph passes before the executor is built (pq_passes_run, e.g.
 * "format,fuse": constant folding, Conv+BN folding, ..., the graph that calibration runs),
 * with the input's shape fixed first so that shape subgraphs fold.
 * --profile adds a table of the time spent per operator type in the timed runs (measured
 * by executor hooks around each node, so it includes the hooks' small overhead).
 * Conv nodes are profiled by kind (depthwise, pointwise, kernel size and stride) and output
 * size, with the GFLOP/s they reach, so the table shows which convolutions cost the time.
 * --cpu-time measures the process's CPU time instead of wall time: with --threads 1 this
 * stays meaningful on a machine busy with other work (comparisons, not absolute speed).
 * The last line of stdout is machine-readable: "RESULT key=value ...".
 *
 * OpenBLAS picks its kernels once, when it loads. Debian's 0.3.21 does not recognise recent
 * AVX-512 CPUs (it reports Haswell on AMD Zen 4 and Prescott on Sapphire/Emerald Rapids) and
 * runs sgemm at half speed or worse, while ONNX Runtime uses AVX-512 kernels. So when the CPU
 * has AVX-512 and OPENBLAS_CORETYPE is unset, the benchmark sets OPENBLAS_CORETYPE=SkylakeX
 * and re-executes itself, like `ppq-calib exec` does (src/app/main.c). PQ_NO_REEXEC=1 or an
 * explicit OPENBLAS_CORETYPE turns this off (to measure the default kernels).
 */
#include "pq_core.h"
#include "pq_exec.h"
#include "pq_ir.h"
#include "pq_npy.h"
#include "pq_onnx.h"
#include "pq_passes.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Re-executes the program with OPENBLAS_CORETYPE=SkylakeX when that is faster than what
 * OpenBLAS picked. Returns only when no re-exec happened (or execv failed). */
static void select_blas_kernels(char **argv)
{
    const char *better = pq_exec_blas_better_core();
    const char *core = openblas_get_corename();
    if (!better || setenv("OPENBLAS_CORETYPE", better, 1) != 0) return;
    fflush(NULL);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "bench_exec: re-exec with OPENBLAS_CORETYPE=SkylakeX failed; "
                    "going on with OpenBLAS core %s\n", core ? core : "?");
    unsetenv("OPENBLAS_CORETYPE");
}

typedef struct bench_args {
    const char *model, *input, *check, *passes;
    int64_t batch;
    int iters, threads;
    uint64_t seed;
    double tol;
    int profile;
    int cpu_time;
    int micro_batch;
} bench_args;

static int usage(void)
{
    fprintf(stderr, "usage: bench_exec MODEL.onnx [--batch 16] [--iters 10] [--threads 1] "
                    "[--seed 1] [--input X.npy] [--check Y.npy [--tol 1e-3]] [--passes SPEC] "
                    "[--profile] [--cpu-time] [--micro-batch N]\n");
    return 2;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!s[0] || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int parse_args(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){.batch = 16, .iters = 10, .threads = 1, .seed = 1, .tol = 1e-3};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        if (strcmp(s, "--batch") == 0 && v && parse_int(v, 1, 1L << 20, &n)) {
            a->batch = n;
        } else if (strcmp(s, "--iters") == 0 && v && parse_int(v, 1, 1L << 20, &n)) {
            a->iters = (int)n;
        } else if (strcmp(s, "--threads") == 0 && v && parse_int(v, 1, 1024, &n)) {
            a->threads = (int)n;
        } else if (strcmp(s, "--micro-batch") == 0 && v && parse_int(v, -1, 1L << 20, &n)) {
            a->micro_batch = (int)n;
        } else if (strcmp(s, "--seed") == 0 && v && parse_int(v, 0, 1L << 30, &n)) {
            a->seed = (uint64_t)n;
        } else if (strcmp(s, "--input") == 0 && v) {
            a->input = v;
        } else if (strcmp(s, "--passes") == 0 && v) {
            a->passes = v;
        } else if (strcmp(s, "--check") == 0 && v) {
            a->check = v;
        } else if (strcmp(s, "--tol") == 0 && v) {
            char *end = NULL;
            a->tol = strtod(v, &end);
            if (*end || !(a->tol > 0)) return 0;
        } else if (strcmp(s, "--profile") == 0) {
            a->profile = 1;
            continue;
        } else if (strcmp(s, "--cpu-time") == 0) {
            a->cpu_time = 1;
            continue;
        } else if (s[0] != '-' && !a->model) {
            a->model = s;
            continue;
        } else {
            fprintf(stderr, "bench_exec: bad argument '%s'\n", s);
            return 0;
        }
        i++;
    }
    return a->model != NULL;
}

/* The first graph input that is not an initializer. */
static const pq_var *first_input(const pq_graph *g)
{
    for (int64_t i = 0; i < g->inputs.n; i++) {
        const pq_var *v = g->inputs.items[i];
        if (!v->value) return v;
    }
    return NULL;
}

/* Bytes of every parameter (initializer) in the graph. */
static size_t parameter_bytes(const pq_graph *g)
{
    size_t total = 0;
    for (int64_t i = 0; i < g->vars.n; i++) {
        const pq_var *v = g->vars.items[i];
        if (v->value) total += v->value->nbytes;
    }
    return total;
}

/* A standard-normal float32 tensor shaped like `in` with unknown dims: the first set to
 * batch; any other unknown dim is an error. */
static pq_status make_input(const pq_var *in, int64_t batch, uint64_t seed, pq_tensor **out,
                            pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *t = NULL;
    int64_t dims[PQ_MAX_RANK];
    PQ_CHECK(in->dtype == PQ_DTYPE_FLOAT32, PQ_ERR_UNSUPPORTED,
             "input '%s' is %s; the benchmark makes float32 inputs only (use --input)",
             in->name, pq_dtype_name(in->dtype));
    PQ_CHECK(in->rank >= 1, PQ_ERR_INVALID, "input '%s' has no known shape (use --input)",
             in->name);
    for (int d = 0; d < in->rank; d++) {
        if (d == 0) {
            dims[d] = batch;
            continue;
        }
        PQ_CHECK(in->dims[d] > 0, PQ_ERR_INVALID,
                 "input '%s' has an unknown dimension %d (use --input)", in->name, d);
        dims[d] = in->dims[d];
    }
    PQ_TRY(pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, in->rank, dims, &t, err));
    pq_rng rng;
    pq_rng_seed(&rng, seed);
    float *x = PQ_DATA(t, float);
    for (int64_t i = 0; i < t->numel; i++) x[i] = (float)pq_rng_normal(&rng);
    *out = t;
    return PQ_OK;
fail:
    pq_tensor_destroy(&t);
    return st;
}

/* Compares y with ref (same shape, float32); prints and returns the normalised error. */
static pq_status compare(const pq_tensor *y, const pq_tensor *ref, double *max_abs,
                         double *max_rel, pq_err *err)
{
    pq_status st = PQ_OK;
    char a[128], b[128];
    PQ_CHECK(y->dtype == PQ_DTYPE_FLOAT32 && ref->dtype == PQ_DTYPE_FLOAT32,
             PQ_ERR_INVALID, "output is %s, reference is %s: expected float32 both",
             pq_dtype_name(y->dtype), pq_dtype_name(ref->dtype));
    PQ_CHECK(y->numel == ref->numel, PQ_ERR_INVALID, "output %s, reference %s differ in size",
             pq_tensor_describe(y, a, sizeof a), pq_tensor_describe(ref, b, sizeof b));
    const float *p = y->data, *q = ref->data;
    double worst = 0.0, range = 0.0;
    int64_t bad = 0;
    for (int64_t i = 0; i < y->numel; i++) {
        double d = fabs((double)p[i] - (double)q[i]);
        if (!(d == d)) bad++; /* NaN in the output */
        else if (d > worst) worst = d;
        if (fabs(q[i]) > range) range = fabs(q[i]);
    }
    PQ_CHECK(bad == 0, PQ_ERR_NUMERIC, "output has %lld NaN values", (long long)bad);
    *max_abs = worst;
    *max_rel = range > 0 ? worst / range : worst;
    return PQ_OK;
fail:
    return st;
}

static int use_cpu_time;

/* Seconds on the chosen clock: wall time, or process CPU time with --cpu-time. */
static double bench_now(void)
{
    if (!use_cpu_time) return pq_time_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Time per operator type, from executor hooks (the executor runs one node at a time). */
#define PROFILE_MAX_TYPES 128
#define PROFILE_KEY 64
typedef struct profile {
    char type[PROFILE_MAX_TYPES][PROFILE_KEY];
    double seconds[PROFILE_MAX_TYPES];
    int64_t calls[PROFILE_MAX_TYPES];
    double flops[PROFILE_MAX_TYPES]; /* multiply-adds x 2, Conv only */
    int n_types;
    double start;
} profile;

static pq_status profile_before(const pq_op *op, int n_inputs, pq_tensor **inputs,
                                int n_outputs, pq_tensor **outputs, void *user, pq_err *err)
{
    (void)op, (void)n_inputs, (void)inputs, (void)n_outputs, (void)outputs, (void)err;
    ((profile *)user)->start = bench_now();
    return PQ_OK;
}

/* The profile key of a node: its type, and for a 2-D Conv the kind of convolution and its
 * output size; *flops gets the Conv's floating-point operations (0 for other types). */
static void profile_key(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                        pq_tensor **outputs, char *key, size_t cap, double *flops)
{
    *flops = 0.0;
    if (strcmp(op->type, "Conv") == 0 && n_inputs >= 2 && n_outputs >= 1 && inputs[0] &&
        inputs[1] && outputs[0] && inputs[1]->rank == 4 && inputs[0]->rank == 4) {
        const pq_tensor *x = inputs[0], *w = inputs[1], *y = outputs[0];
        int64_t stride = y->dims[2] > 0 ? x->dims[2] / y->dims[2] : 0;
        const char *kind = w->dims[1] == 1 && x->dims[1] > 1 ? "dw" : "";
        snprintf(key, cap, "Conv %s%lldx%lld s%lld -> %lld", kind, (long long)w->dims[2],
                 (long long)w->dims[3], (long long)stride, (long long)y->dims[2]);
        *flops = 2.0 * (double)pq_shape_numel(y->rank, y->dims) * (double)(w->dims[1] * w->dims[2] * w->dims[3]);
        return;
    }
    snprintf(key, cap, "%s", op->type);
}

static pq_status profile_after(const pq_op *op, int n_inputs, pq_tensor **inputs,
                               int n_outputs, pq_tensor **outputs, void *user, pq_err *err)
{
    (void)err;
    profile *p = user;
    double dt = bench_now() - p->start;
    char key[PROFILE_KEY];
    double flops;
    profile_key(op, n_inputs, inputs, n_outputs, outputs, key, sizeof key, &flops);
    int i = 0;
    while (i < p->n_types && strcmp(p->type[i], key) != 0) i++;
    if (i == p->n_types) {
        if (p->n_types == PROFILE_MAX_TYPES) return PQ_OK;
        snprintf(p->type[p->n_types++], PROFILE_KEY, "%s", key);
    }
    p->seconds[i] += dt;
    p->flops[i] += flops;
    p->calls[i]++;
    return PQ_OK;
}

static void profile_print(const profile *p, int iters, double total)
{
    int order[PROFILE_MAX_TYPES];
    for (int i = 0; i < p->n_types; i++) order[i] = i;
    for (int i = 1; i < p->n_types; i++) /* insertion sort by time, descending */
        for (int j = i; j > 0 && p->seconds[order[j]] > p->seconds[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    printf("profile:      %-26s %10s %7s %8s %8s\n", "operator", "ms/batch", "share", "nodes",
           "GFLOP/s");
    for (int k = 0; k < p->n_types; k++) {
        int i = order[k];
        printf("              %-26s %10.2f %6.1f%% %8lld", p->type[i],
               1e3 * p->seconds[i] / iters, 100.0 * p->seconds[i] / total,
               (long long)(p->calls[i] / iters));
        if (p->flops[i] > 0 && p->seconds[i] > 0)
            printf(" %8.1f", 1e-9 * p->flops[i] / p->seconds[i]);
        printf("\n");
    }
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    bench_args a;
    if (!parse_args(argc, argv, &a)) return usage();
    select_blas_kernels(argv);

    int rc = 1;
    pq_status st = PQ_OK;
    pq_err e = {0}, *err = &e;
    pq_graph *g = NULL;
    pq_executor *ex = NULL, *ex_whole = NULL;
    pq_tensor *x = NULL, *ref = NULL, *y = NULL, *y_last = NULL, *y_whole = NULL;
    double *times = NULL;
    double max_abs = -1, max_rel = -1;
    const char *stage = a.model;

    double t0 = pq_time_now();
    PQ_TRY(pq_onnx_load(a.model, &g, err));
    double t_load = pq_time_now() - t0;
    const pq_var *in = first_input(g);
    PQ_CHECK(in, PQ_ERR_INVALID, "the model has no graph input");
    PQ_CHECK(g->outputs.n >= 1, PQ_ERR_INVALID, "the model has no graph output");
    const char *in_name = in->name;
    const char *out_name = ((const pq_var *)g->outputs.items[0])->name;

    if (a.input) {
        stage = a.input;
        PQ_TRY(pq_npy_load(a.input, &x, err));
        PQ_CHECK(x->rank >= 1, PQ_ERR_INVALID, "input is a scalar");
        a.batch = x->dims[0];
    } else {
        stage = a.model;
        PQ_TRY(make_input(in, a.batch, a.seed, &x, err));
    }
    if (a.check) {
        stage = a.check;
        PQ_TRY(pq_npy_load(a.check, &ref, err));
    }
    int64_t ops_before = g->ops.n;
    double t_passes = 0;
    if (a.passes) {
        stage = a.model;
        t0 = pq_time_now();
        PQ_TRY(pq_passes_set_input_shape(g, in_name, x->rank, x->dims, err));
        PQ_TRY(pq_passes_run(g, a.passes, NULL, err));
        t_passes = pq_time_now() - t0;
        /* the passes may have replaced the output variables (same names) */
        out_name = ((const pq_var *)g->outputs.items[0])->name;
    }

    stage = a.model;
    pq_exec_options opts = {.registry = NULL, .threads = a.threads, .micro_batch = a.micro_batch};
    t0 = pq_time_now();
    PQ_TRY(pq_executor_create(g, &opts, &ex, err));
    double t_prepare = pq_time_now() - t0;

    char shape[128];
    printf("model:        %s (%lld ops, %.1f MB parameters, loaded in %.3f s, prepared in "
           "%.3f s)\n",
           a.model, (long long)ops_before, (double)parameter_bytes(g) / 1e6, t_load, t_prepare);
    if (a.passes)
        printf("passes:       %s: %lld -> %lld ops in %.3f s\n", a.passes, (long long)ops_before,
               (long long)g->ops.n, t_passes);
    printf("input:        %s %s (%s)\n", in_name, pq_tensor_describe(x, shape, sizeof shape),
           a.input ? a.input : "seeded random normal");
    printf("openblas:     core %s, %s\n", openblas_get_corename(), openblas_get_config());
    printf("threads:      %d (OPENBLAS_CORETYPE=%s)\n", a.threads,
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset");
    fflush(stdout);

    const char *feed_names[1] = {in_name};
    pq_tensor *feeds[1] = {x};
    const char *req[1] = {out_name};

    t0 = pq_time_now();
    PQ_TRY(pq_executor_run(ex, 1, feed_names, feeds, 1, req, &y, err));
    double t_warm = pq_time_now() - t0;
    printf("warm-up:      %.3f s, output %s %s\n", t_warm, out_name,
           pq_tensor_describe(y, shape, sizeof shape));
    if (ref) {
        stage = a.check;
        PQ_TRY(compare(y, ref, &max_abs, &max_rel, err));
        printf("check:        max abs err %.3g, max rel err %.3g (vs max |ref|), tol %.3g: %s\n",
               max_abs, max_rel, a.tol, max_rel <= a.tol ? "ok" : "FAILED");
        stage = a.model;
    }
    pq_tensor_destroy(&y);

    profile prof = {0};
    use_cpu_time = a.cpu_time;
    if (a.profile) pq_executor_set_hooks(ex, profile_before, profile_after, &prof);
    times = calloc((size_t)a.iters, sizeof *times);
    PQ_CHECK(times, PQ_ERR_NOMEM, "out of memory");
    double total = 0;
    for (int it = 0; it < a.iters; it++) {
        t0 = bench_now();
        PQ_TRY(pq_executor_run(ex, 1, feed_names, feeds, 1, req, &y, err));
        times[it] = bench_now() - t0;
        total += times[it];
        pq_tensor_destroy(&y_last); /* the last one is compared with a whole-batch run */
        y_last = y;
        y = NULL;
    }
    qsort(times, (size_t)a.iters, sizeof *times, cmp_double);
    double ips = (double)a.batch * a.iters / total;
    double rss = peak_rss_mib();
    printf("time:         %.4f s per batch of %lld (mean of %d; min %.4f, median %.4f, max "
           "%.4f)\n",
           total / a.iters, (long long)a.batch, a.iters, times[0], times[a.iters / 2],
           times[a.iters - 1]);
    printf("throughput:   %.2f images/s\n", ips);
    if (a.profile) profile_print(&prof, a.iters, total);
    printf("peak RSS:     %.1f MiB\n", rss);
    /* The same output, bit for bit, from the whole batch at once (after the peak RSS is
     * taken: this run's activations are larger). */
    if (a.micro_batch >= 0) {
        pq_exec_options whole = opts;
        whole.micro_batch = -1;
        PQ_TRY(pq_executor_create(g, &whole, &ex_whole, err));
        PQ_TRY(pq_executor_run(ex_whole, 1, feed_names, feeds, 1, req, &y_whole, err));
        int same = y_whole->nbytes == y_last->nbytes &&
                   !memcmp(y_whole->data, y_last->data, y_last->nbytes);
        printf("micro-batch:  %lld ops per sample, output %s the whole-batch run's\n",
               (long long)pq_executor_trunk_ops(ex),
               same ? "bitwise identical to" : "DIFFERS from");
        PQ_CHECK(same, PQ_ERR_INTERNAL, "micro-batched output differs from the whole batch");
        pq_executor_destroy(&ex_whole);
        pq_tensor_destroy(&y_whole);
    }
    printf("RESULT model=%s batch=%lld iters=%d threads=%d img_per_s=%.3f sec_per_batch=%.5f "
           "peak_rss_mib=%.1f param_bytes=%zu blas_core=%s max_abs=%.6g max_rel=%.6g passes=%s\n",
           a.model, (long long)a.batch, a.iters, a.threads, ips, total / a.iters, rss,
           parameter_bytes(g), openblas_get_corename(), max_abs, max_rel,
           a.passes ? a.passes : "none");
    rc = (ref && !(max_rel <= a.tol)) ? 1 : 0;
    goto done;
fail:
    pq_err_prefix(err, "%s", stage);
    fprintf(stderr, "bench_exec: %s\n", e.msg);
    (void)st;
done:
    free(times);
    pq_tensor_destroy(&y);
    pq_tensor_destroy(&y_last);
    pq_tensor_destroy(&y_whole);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&ref);
    pq_executor_destroy(&ex_whole);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    return rc;
}

/* test_observe_kernels.c - the observer kernels against scalar references written from the
 * formulas of docs/calibration.md: pass-1 min/max and every pass-2 histogram bin, on data
 * built to land on and next to every bin edge, with signed zeros, subnormals and the range
 * ends, in every code path (per tensor: shuffled data and sorted data (runs of one bin, the
 * four-sub-histogram path), 1 and 2 threads, lengths that are not multiples of the vector or
 * block width, batches of odd sizes; per channel, channels first and last), and the NaN/Inf
 * check at every lane position. */
#include <float.h>
#include <stdlib.h>

#include "observe/pq_observe.h"
#include "pq_test.h"

enum { ABS, SIGNED, RANGE };

typedef struct hcase {
    const char *algo, *policy;
    int kind;
} hcase;

static const hcase HC[] = {
    {"kl_trt", "sym", ABS},       {"percentile", "sym", ABS}, {"mse", "sym", SIGNED},
    {"percentile", "asym", RANGE}, {"mse", "asym", RANGE},
};

static pq_tqc tqc(const char *policy, int per_channel, int axis)
{
    pq_tqc q;
    memset(&q, 0, sizeof q);
    int asym = strcmp(policy, "asym") == 0;
    q.policy = (asym ? PQ_QPOLICY_ASYMMETRIC : PQ_QPOLICY_SYMMETRIC) | PQ_QPOLICY_LINEAR |
               (per_channel ? PQ_QPOLICY_PER_CHANNEL : PQ_QPOLICY_PER_TENSOR);
    q.num_bits = 8;
    q.quant_min = asym ? 0 : -128;
    q.quant_max = asym ? 255 : 127;
    q.channel_axis = axis;
    return q;
}

/* docs/calibration.md, "Histograms (pass 2)": the range from the pass-1 min and max. */
static void ref_range(int kind, double mn, double mx, double *lo, double *hi)
{
    double a = fmax(fabs(mn), fabs(mx));
    if (kind == ABS) {
        *lo = 0;
        *hi = a;
    } else if (kind == SIGNED) {
        *lo = -a;
        *hi = a;
    } else {
        *lo = fmin(mn, 0);
        *hi = fmax(mx, 0);
    }
}

/* inv = (float)(nb / (hi - lo)), t = (v - (float)lo) * inv in float32,
 * bin = min(max((int)t, 0), nb - 1). */
static int64_t ref_bin(float v, int kind, double lo, double hi, int64_t nb)
{
    float inv = hi > lo ? (float)((double)nb / (hi - lo)) : 0.0f;
    float u = kind == ABS ? fabsf(v) : v;
    volatile float t = (u - (float)lo) * inv; /* volatile: one float32 rounding, no excess */
    int64_t b = (int64_t)t;
    if (b < 0) b = 0;
    if (b > nb - 1) b = nb - 1;
    return b;
}

/* Data in [vmin, vmax] (both present) for one histogram: for every edge k, the float nearest
 * lo + k / inv and 3 floats either side; zeros of both signs, subnormals, FLT_MIN; the rest
 * normal values; shuffled so that edges fall into every lane and sub-histogram. */
static float *edge_data(int kind, int64_t nb, float vmin, float vmax, int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)n * sizeof *x);
    double lo, hi;
    ref_range(kind, vmin, vmax, &lo, &hi);
    float inv = (float)((double)nb / (hi - lo));
    pq_rng r;
    pq_rng_seed(&r, seed);
    int64_t m = 0;
    const float special[] = {vmin, vmax, 0.0f, -0.0f, 1e-45f, -1e-45f, 1e-39f, -1e-39f,
                             FLT_MIN, -FLT_MIN, 1e-30f, -1e-30f};
    for (size_t i = 0; i < sizeof special / sizeof special[0] && m < n; i++) x[m++] = special[i];
    for (int64_t k = 0; k <= nb && m < n; k++) {
        float e = (float)lo + (float)k / inv;
        for (int d = -3; d <= 3 && m < n; d++) {
            float v = e;
            for (int s = 0; s < abs(d); s++) v = nextafterf(v, d < 0 ? -INFINITY : INFINITY);
            if (kind == ABS && pq_rng_uniform(&r) < 0.5) v = -v;
            if (kind == ABS && !(v >= vmin && v <= vmax)) v = -v;
            if (v >= vmin && v <= vmax) x[m++] = v;
        }
    }
    while (m < n) {
        float v = (float)(0.25 * (double)(vmax - vmin) * pq_rng_normal(&r));
        if (pq_rng_uniform(&r) < 0.3) v = 0.0f; /* Relu-like runs of zeros */
        if (v >= vmin && v <= vmax) x[m++] = v;
    }
    for (int64_t i = n - 1; i > 1; i--) { /* keep vmin, vmax at 0 and 1 */
        int64_t j = 2 + (int64_t)(pq_rng_uniform(&r) * (double)(i - 1));
        float tmp = x[i];
        x[i] = x[j];
        x[j] = tmp;
    }
    return x;
}

static int cmp_float(const void *a, const void *b)
{
    float u = *(const float *)a, v = *(const float *)b;
    return (u > v) - (u < v);
}

static pq_tensor *tensor_of(const float *x, int rank, const int64_t *dims)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    if (pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, rank, dims, &t, &err) != PQ_OK) abort();
    memcpy(t->data, x, (size_t)t->numel * sizeof(float));
    return t;
}

/* Observes x[0..n) as 1-D batches of the given sizes (cycled) in the current pass. */
static void observe_batches(pq_observer *o, const float *x, int64_t n, const int64_t *sizes,
                            int n_sizes)
{
    pq_err err = {0};
    for (int64_t i = 0, s = 0; i < n; s++) {
        int64_t len = sizes[s % n_sizes];
        if (len > n - i) len = n - i;
        pq_tensor *t = tensor_of(x + i, 1, &len);
        PQ_EXPECT_OK(pq_observer_observe(o, t, &err), &err);
        pq_tensor_destroy(&t);
        i += len;
    }
}

PQ_TEST(histogram_bins_match_reference_per_tensor)
{
    const int64_t nbs[] = {8, 1000, 2048, 4096};
    const int64_t n = 200003; /* > 2^17: two threads split it; odd */
    const int64_t whole[] = {n}, odd[] = {7, 1, 4099, 129, 65536};
    for (size_t c = 0; c < sizeof HC / sizeof HC[0]; c++) {
        for (size_t b = 0; b < sizeof nbs / sizeof nbs[0]; b++) {
            const int64_t nb = nbs[b];
            const float vmin = HC[c].kind == ABS ? -3.1f : -1.37f, vmax = 2.7182817f;
            float *x = edge_data(HC[c].kind, nb, vmin, vmax, n, 100 + (uint64_t)(c * 10 + b));
            double lo, hi;
            ref_range(HC[c].kind, vmin, vmax, &lo, &hi);
            int64_t *ref = calloc((size_t)nb, sizeof *ref);
            for (int64_t i = 0; i < n; i++) ref[ref_bin(x[i], HC[c].kind, lo, hi, nb)]++;
            /* the data reaches every bin its range covers */
            int64_t b0 = HC[c].kind == ABS ? 0 : ref_bin(vmin, HC[c].kind, lo, hi, nb);
            int64_t b1 = ref_bin(HC[c].kind == ABS ? vmin : vmax, HC[c].kind, lo, hi, nb);
            int64_t edge_hits = 0;
            for (int64_t k = b0; k <= b1; k++) edge_hits += ref[k] > 0;
            if (edge_hits != b1 - b0 + 1 || b1 != nb - 1)
                PQ_FAIL_AT("%s %s nb %lld: the data reaches %lld of bins %lld..%lld", HC[c].algo,
                           HC[c].policy, (long long)nb, (long long)edge_hits, (long long)b0,
                           (long long)b1);
            /* the same values sorted: runs of one bin (the kernel's run-of-counters path) */
            float *sorted = malloc((size_t)n * sizeof *sorted);
            memcpy(sorted, x, (size_t)n * sizeof *sorted);
            qsort(sorted, (size_t)n, sizeof *sorted, cmp_float);
            for (int threads = 1; threads <= 2; threads++) {
                for (int split = 0; split < 3; split++) {
                    pq_err err = {0};
                    pq_tqc q = tqc(HC[c].policy, 0, 1);
                    pq_observer_opts opts = {.n_bins = nb, .threads = threads};
                    pq_observer *o = NULL;
                    PQ_EXPECT_OK(pq_observer_create(HC[c].algo, &q, "t", 0, &opts, &o, &err), &err);
                    const int64_t *sz = split == 1 ? odd : whole;
                    int nsz = split == 1 ? 5 : 1;
                    const float *data = split == 2 ? sorted : x;
                    observe_batches(o, data, n, sz, nsz);
                    pq_obs_segment seg[PQ_OBS_MAX_SEGMENTS];
                    PQ_EXPECT(pq_observer_state(o, seg) >= 2);
                    PQ_EXPECT(((double *)seg[0].data)[0] == (double)vmin);
                    PQ_EXPECT(((double *)seg[1].data)[0] == (double)vmax);
                    PQ_EXPECT_OK(pq_observer_end_pass(o, &err), &err);
                    observe_batches(o, data, n, sz, nsz);
                    PQ_EXPECT_EQ(pq_observer_state(o, seg), 2);
                    PQ_EXPECT_EQ(seg[0].count, nb);
                    const int64_t *h = seg[0].data;
                    int64_t bad = 0, first = -1;
                    for (int64_t k = 0; k < nb; k++)
                        if (h[k] != ref[k] && bad++ == 0) first = k;
                    if (bad)
                        PQ_FAIL_AT("%s %s nb %lld threads %d split %d: %lld bins differ, first %lld "
                                   "(%lld vs reference %lld)", HC[c].algo, HC[c].policy,
                                   (long long)nb, threads, split, (long long)bad, (long long)first,
                                   (long long)h[first], (long long)ref[first]);
                    PQ_EXPECT_OK(pq_observer_end_pass(o, &err), &err);
                    pq_observer_destroy(&o);
                    pq_tqc_clear(&q);
                }
            }
            free(ref);
            free(sorted);
            free(x);
        }
    }
}

/* A tensor longer than the kernel's int32 counting window (2^22 elements per thread), in one
 * piece and with long runs, on one thread. */
PQ_TEST(histogram_of_a_long_tensor)
{
    const int64_t n = ((int64_t)1 << 22) * 2 + 4099, nb = 2048;
    float *x = malloc((size_t)n * sizeof *x);
    pq_rng r;
    pq_rng_seed(&r, 11);
    for (int64_t i = 0; i < n; i++) {
        double u = pq_rng_uniform(&r);
        float v = u < 0.5 ? 0.0f : (float)(8.5 * (u - 0.5)); /* Relu-like, below x[0] */
        x[i] = i % 100000 < 30000 ? 0.75f : v;               /* and runs of one value */
    }
    x[0] = 4.5f;
    double lo, hi;
    ref_range(ABS, 0, 4.5, &lo, &hi);
    int64_t *ref = calloc((size_t)nb, sizeof *ref);
    for (int64_t i = 0; i < n; i++) ref[ref_bin(x[i], ABS, lo, hi, nb)]++;
    pq_err err = {0};
    pq_tqc q = tqc("sym", 0, 1);
    pq_observer_opts opts = {.n_bins = nb, .threads = 1};
    pq_observer *o = NULL;
    PQ_EXPECT_OK(pq_observer_create("kl_trt", &q, "t", 0, &opts, &o, &err), &err);
    pq_tensor *t = tensor_of(x, 1, &n);
    PQ_EXPECT_OK(pq_observer_observe(o, t, &err), &err);
    PQ_EXPECT_OK(pq_observer_end_pass(o, &err), &err);
    PQ_EXPECT_OK(pq_observer_observe(o, t, &err), &err);
    pq_obs_segment seg[PQ_OBS_MAX_SEGMENTS];
    PQ_EXPECT_EQ(pq_observer_state(o, seg), 2);
    const int64_t *h = seg[0].data;
    int64_t bad = 0;
    for (int64_t k = 0; k < nb; k++) bad += h[k] != ref[k];
    PQ_EXPECT_EQ(bad, 0);
    PQ_EXPECT_EQ(((int64_t *)seg[1].data)[0], n);
    pq_tensor_destroy(&t);
    pq_observer_destroy(&o);
    pq_tqc_clear(&q);
    free(ref);
    free(x);
}

/* Per channel: [N, C, L] on axis 1 (rows of L) and [N, L, C] on axis 2 (one element per row);
 * channel c spans a different range. */
PQ_TEST(histogram_bins_match_reference_per_channel)
{
    enum { N = 3, C = 4, L = 3001 };
    const int64_t nb = 2048;
    for (size_t c = 0; c < sizeof HC / sizeof HC[0]; c++) {
        float *xc[C];
        float vmin[C], vmax[C];
        for (int g = 0; g < C; g++) {
            vmin[g] = HC[c].kind == ABS ? -0.5f * (float)(g + 1) : -0.11f * (float)(g + 1);
            vmax[g] = 0.37f * (float)(g + 2);
            xc[g] = edge_data(HC[c].kind, nb, vmin[g], vmax[g], (int64_t)N * L, 300 + (uint64_t)g);
        }
        for (int last = 0; last < 2; last++) {
            int64_t dims[3] = {N, last ? L : C, last ? C : L};
            float *x = malloc(sizeof(float) * N * C * L);
            for (int64_t i = 0; i < N; i++)
                for (int g = 0; g < C; g++)
                    for (int64_t l = 0; l < L; l++)
                        x[last ? (i * L + l) * C + g : (i * C + g) * L + l] = xc[g][i * L + l];
            pq_err err = {0};
            pq_tqc q = tqc(HC[c].policy, 1, last ? 2 : 1);
            pq_observer_opts opts = {.n_bins = nb, .threads = 2};
            pq_observer *o = NULL;
            PQ_EXPECT_OK(pq_observer_create(HC[c].algo, &q, "t", C, &opts, &o, &err), &err);
            pq_tensor *t = tensor_of(x, 3, dims);
            PQ_EXPECT_OK(pq_observer_observe(o, t, &err), &err);
            PQ_EXPECT_OK(pq_observer_end_pass(o, &err), &err);
            PQ_EXPECT_OK(pq_observer_observe(o, t, &err), &err);
            pq_obs_segment seg[PQ_OBS_MAX_SEGMENTS];
            PQ_EXPECT_EQ(pq_observer_state(o, seg), 2);
            PQ_EXPECT_EQ(seg[0].count, C * nb);
            const int64_t *h = seg[0].data;
            for (int g = 0; g < C; g++) {
                double lo, hi;
                ref_range(HC[c].kind, vmin[g], vmax[g], &lo, &hi);
                int64_t *ref = calloc((size_t)nb, sizeof *ref);
                for (int64_t i = 0; i < (int64_t)N * L; i++)
                    ref[ref_bin(xc[g][i], HC[c].kind, lo, hi, nb)]++;
                int64_t bad = 0;
                for (int64_t k = 0; k < nb; k++) bad += h[g * nb + k] != ref[k];
                if (bad)
                    PQ_FAIL_AT("%s %s per channel (last %d) channel %d: %lld bins differ",
                               HC[c].algo, HC[c].policy, last, g, (long long)bad);
                free(ref);
            }
            pq_tensor_destroy(&t);
            pq_observer_destroy(&o);
            pq_tqc_clear(&q);
            free(x);
        }
        for (int g = 0; g < C; g++) free(xc[g]);
    }
}

/* Pass 1: min and max against a scalar fold, for lengths around the vector and block widths,
 * with signed zeros (normalised to +0). */
PQ_TEST(minmax_matches_reference)
{
    const int64_t lens[] = {1, 2, 15, 16, 17, 127, 128, 129, 255, 256, 257, 1000, 131073, 200003};
    pq_rng r;
    pq_rng_seed(&r, 5);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t n = lens[li];
        float *x = malloc((size_t)n * sizeof *x);
        for (int mode = 0; mode < 3; mode++) {
            for (int64_t i = 0; i < n; i++) {
                float v = (float)pq_rng_normal(&r);
                if (mode == 1) v = -fabsf(v);             /* max is -0 or below */
                if (mode == 2) v = v > 0 ? v : 0.0f;      /* Relu */
                if (pq_rng_uniform(&r) < 0.05) v = pq_rng_uniform(&r) < 0.5 ? 0.0f : -0.0f;
                x[i] = v;
            }
            /* the extremes at a random position, including the last element */
            int64_t p = (int64_t)(pq_rng_uniform(&r) * (double)n);
            x[p] = mode == 2 ? 0.0f : -7.5f;
            x[n - 1] = mode == 1 ? -0.0f : 9.25f;
            double mn = INFINITY, mx = -INFINITY;
            for (int64_t i = 0; i < n; i++) {
                mn = fmin(mn, (double)x[i]);
                mx = fmax(mx, (double)x[i]);
            }
            mn += 0.0;
            mx += 0.0;
            for (int threads = 1; threads <= 2; threads++) {
                pq_err err = {0};
                pq_tqc q = tqc("sym", 0, 1);
                pq_observer_opts opts = {.threads = threads};
                pq_observer *o = NULL;
                PQ_EXPECT_OK(pq_observer_create("minmax", &q, "t", 0, &opts, &o, &err), &err);
                pq_tensor *t = tensor_of(x, 1, &n);
                PQ_EXPECT_OK(pq_observer_observe(o, t, &err), &err);
                pq_obs_segment seg[PQ_OBS_MAX_SEGMENTS];
                pq_observer_state(o, seg);
                double gmn = ((double *)seg[0].data)[0], gmx = ((double *)seg[1].data)[0];
                if (memcmp(&gmn, &mn, sizeof mn) != 0 || memcmp(&gmx, &mx, sizeof mx) != 0)
                    PQ_FAIL_AT("n %lld mode %d threads %d: min/max %g %g, reference %g %g",
                               (long long)n, mode, threads, gmn, gmx, mn, mx);
                pq_tensor_destroy(&t);
                pq_observer_destroy(&o);
                pq_tqc_clear(&q);
            }
        }
        free(x);
    }
}

/* NaN, +Inf and -Inf at positions covering every lane of the vector loops, block boundaries
 * and tails are refused in both passes, naming the index, and leave the state unchanged. */
PQ_TEST(nonfinite_at_every_lane)
{
    const int64_t n = 1000;
    const float bads[3] = {NAN, INFINITY, -INFINITY};
    int64_t pos[40];
    int np = 0;
    for (int64_t p = 0; p < 20; p++) pos[np++] = p;
    const int64_t more[] = {31, 32, 127, 128, 129, 511, 512, 513, 767, 895, 896, 990, 997, 998, 999};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) pos[np++] = more[i];
    float *x = malloc((size_t)n * sizeof *x);
    pq_rng r;
    pq_rng_seed(&r, 9);
    for (int64_t i = 0; i < n; i++) x[i] = (float)pq_rng_normal(&r);
    pq_tensor *good = tensor_of(x, 1, &n);
    const char *algos[] = {"minmax", "kl_trt", "mse", "percentile"};
    for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++) {
        pq_err err = {0};
        pq_tqc q = tqc(a == 3 ? "asym" : "sym", 0, 1);
        pq_observer_opts opts = {.n_bins = 8};
        pq_observer *o = NULL;
        PQ_EXPECT_OK(pq_observer_create(algos[a], &q, "act", 0, &opts, &o, &err), &err);
        for (int pass = 1; pass <= pq_observer_n_passes(o); pass++) {
            PQ_EXPECT_OK(pq_observer_observe(o, good, &err), &err);
            pq_obs_segment seg[PQ_OBS_MAX_SEGMENTS];
            int ns = pq_observer_state(o, seg);
            unsigned char before[4096];
            size_t nbytes = 0;
            for (int s = 0; s < ns; s++) {
                memcpy(before + nbytes, seg[s].data, (size_t)seg[s].count * 8);
                nbytes += (size_t)seg[s].count * 8;
            }
            for (int b = 0; b < 3; b++) {
                for (int i = 0; i < np; i++) {
                    pq_tensor *t = tensor_of(x, 1, &n);
                    ((float *)t->data)[pos[i]] = bads[b];
                    char idx[32];
                    snprintf(idx, sizeof idx, "index %lld", (long long)pos[i]);
                    if (pq_observer_observe(o, t, &err) != PQ_ERR_NUMERIC)
                        PQ_FAIL_AT("%s pass %d: value %g at %lld was accepted", algos[a], pass,
                                   (double)bads[b], (long long)pos[i]);
                    else
                        PQ_EXPECT_CONTAINS(err.msg, idx);
                    pq_tensor_destroy(&t);
                }
            }
            size_t off = 0;
            for (int s = 0; s < ns; s++) {
                PQ_EXPECT(memcmp(before + off, seg[s].data, (size_t)seg[s].count * 8) == 0);
                off += (size_t)seg[s].count * 8;
            }
            PQ_EXPECT_OK(pq_observer_end_pass(o, &err), &err);
        }
        pq_observer_destroy(&o);
        pq_tqc_clear(&q);
    }
    pq_tensor_destroy(&good);
    free(x);
}

PQ_TEST_MAIN()

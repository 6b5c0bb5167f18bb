/* test_observe.c - calibration observers: scales against the numpy references of
 * tests/observe/make_reference.py (reference.json), batch-split/rank/thread invariance of
 * states and scales, degenerate inputs. */
#include <jansson.h>
#include <stdlib.h>

#include "observe/pq_observe.h"
#include "pq_npy.h"
#include "pq_test.h"

#define OBS_DIR PQ_SOURCE_DIR "/tests/observe"

static pq_tqc make_tqc(const char *policy, int bits, int64_t qmin, int64_t qmax, int per_channel,
                       int axis, int pow2)
{
    pq_tqc q;
    memset(&q, 0, sizeof q);
    q.policy = (strcmp(policy, "asym") == 0 ? PQ_QPOLICY_ASYMMETRIC : PQ_QPOLICY_SYMMETRIC) |
               (per_channel ? PQ_QPOLICY_PER_CHANNEL : PQ_QPOLICY_PER_TENSOR) |
               (pow2 ? PQ_QPOLICY_POWER_OF_2 : PQ_QPOLICY_LINEAR);
    q.num_bits = bits;
    q.quant_min = qmin;
    q.quant_max = qmax;
    q.channel_axis = axis;
    return q;
}

/* Rows [r0, r1) of t along axis 0 as a new tensor. */
static pq_tensor *slice0(const pq_tensor *t, int64_t r0, int64_t r1)
{
    pq_err err = {0};
    pq_tensor *s = NULL;
    int64_t dims[PQ_MAX_RANK];
    memcpy(dims, t->dims, sizeof dims);
    dims[0] = r1 - r0;
    if (pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, t->rank, dims, &s, &err) != PQ_OK) abort();
    int64_t row = t->numel / t->dims[0];
    memcpy(s->data, (const float *)t->data + r0 * row, (size_t)((r1 - r0) * row) * sizeof(float));
    return s;
}

/* Runs every pass over t in batches of `bs` rows (axis 0), then computes. */
static pq_status run_all(pq_observer *o, const pq_tensor *t, int64_t bs, pq_tqc *q, pq_err *err)
{
    pq_status st = PQ_OK;
    for (int p = 0; p < pq_observer_n_passes(o); p++) {
        for (int64_t r = 0; r < t->dims[0]; r += bs) {
            int64_t e = r + bs < t->dims[0] ? r + bs : t->dims[0];
            pq_tensor *s = slice0(t, r, e);
            st = pq_observer_observe(o, s, err);
            pq_tensor_destroy(&s);
            if (st != PQ_OK) return st;
        }
        if ((st = pq_observer_end_pass(o, err)) != PQ_OK) return st;
    }
    return pq_observer_compute(o, q, err);
}

static int close_rel(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b)) + 1e-300;
}

PQ_TEST(scales_match_numpy_reference)
{
    json_error_t jerr;
    json_t *root = json_load_file(OBS_DIR "/reference.json", 0, &jerr);
    PQ_EXPECT(root != NULL);
    if (!root) return;
    json_t *cases = json_object_get(root, "cases");
    PQ_EXPECT(json_array_size(cases) >= 20);
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *algo = json_string_value(json_object_get(c, "algo"));
        const char *data = json_string_value(json_object_get(c, "data"));
        const char *policy = json_string_value(json_object_get(c, "policy"));
        int per_channel = json_is_true(json_object_get(c, "per_channel"));
        int axis = (int)json_integer_value(json_object_get(c, "axis"));
        pq_tqc q = make_tqc(policy, (int)json_integer_value(json_object_get(c, "bits")),
                            json_integer_value(json_object_get(c, "qmin")),
                            json_integer_value(json_object_get(c, "qmax")), per_channel, axis,
                            json_is_true(json_object_get(c, "pow2")));
        pq_observer_opts opts = {0};
        opts.n_bins = json_integer_value(json_object_get(c, "n_bins"));
        if (json_object_get(c, "percentile"))
            opts.percentile = json_number_value(json_object_get(c, "percentile"));
        char path[512];
        snprintf(path, sizeof path, "%s/data/%s.npy", OBS_DIR, data);
        pq_err err = {0};
        pq_tensor *t = NULL;
        pq_observer *o = NULL;
        PQ_EXPECT_OK(pq_npy_load(path, &t, &err), &err);
        if (!t) continue;
        int64_t nch = per_channel ? t->dims[axis] : 0;
        PQ_EXPECT_OK(pq_observer_create(algo, &q, name, nch, &opts, &o, &err), &err);
        /* the data arrives in 3 uneven batches */
        int64_t bs = t->dims[0] / 3 + 1;
        PQ_EXPECT_OK(run_all(o, t, bs, &q, &err), &err);
        json_t *sc = json_object_get(c, "scale"), *of = json_object_get(c, "offset");
        json_t *cl = json_object_get(c, "clip_lo"), *ch = json_object_get(c, "clip_hi");
        PQ_EXPECT_EQ(q.n_channels, (int64_t)json_array_size(sc));
        for (int64_t g = 0; g < q.n_channels && g < (int64_t)json_array_size(sc); g++) {
            float es = (float)json_number_value(json_array_get(sc, (size_t)g));
            float eo = (float)json_number_value(json_array_get(of, (size_t)g));
            double lo = 0, hi = 0;
            PQ_EXPECT_OK(pq_observer_clip_range(o, g, &lo, &hi, &err), &err);
            double elo = json_number_value(json_array_get(cl, (size_t)g));
            double ehi = json_number_value(json_array_get(ch, (size_t)g));
            if (memcmp(&es, &q.scale[g], sizeof es) != 0 || eo != q.offset[g] ||
                !close_rel(lo, elo, 1e-12) || !close_rel(hi, ehi, 1e-12))
                PQ_FAIL_AT("%s channel %lld: scale %.9g (ref %.9g) offset %g (ref %g) clip "
                           "[%.12g, %.12g] (ref [%.12g, %.12g])", name, (long long)g,
                           q.scale[g], es, q.offset[g], eo, lo, hi, elo, ehi);
        }
        pq_observer_destroy(&o);
        pq_tqc_clear(&q);
        pq_tensor_destroy(&t);
    }
    json_decref(root);
}

/* ------------------------------------------------------------------ invariance */

#define NS 128
#define SC 8
#define SH 24

/* 128 samples [SC, SH, SH]: channel c ~ N(0.2 c - 0.5, 1 + c/4), with rare outliers. */
static pq_tensor *stream(void)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    int64_t dims[4] = {NS, SC, SH, SH};
    if (pq_tensor_create(PQ_DTYPE_FLOAT32, 4, dims, &t, &err) != PQ_OK) abort();
    pq_rng r;
    pq_rng_seed(&r, 12345);
    float *x = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t c = (i / (SH * SH)) % SC;
        double v = (0.2 * (double)c - 0.5) + (1.0 + (double)c / 4.0) * pq_rng_normal(&r);
        if (pq_rng_uniform(&r) < 1e-4) v *= 6;
        x[i] = (float)v;
    }
    return t;
}

typedef struct inv_case {
    const char *algo, *policy;
    int per_channel;
    int64_t n_bins, qmin, qmax;
} inv_case;

static const inv_case INV[] = {
    {"minmax", "sym", 0, 0, -128, 127},    {"minmax", "asym", 1, 0, 0, 255},
    {"percentile", "sym", 0, 0, -128, 127}, {"percentile", "asym", 1, 0, 0, 255},
    {"kl_trt", "sym", 0, 0, -127, 127},    {"kl_ppq", "sym", 0, 0, -128, 127},
    {"mse", "sym", 0, 0, -128, 127},       {"mse", "asym", 0, 256, 0, 255},
    {"isotone", "sym", 0, 0, -128, 127},
};

typedef struct snap {
    int64_t n_bytes;
    unsigned char *bytes; /* every segment of every pass, concatenated */
    float scale[SC], offset[SC];
    int64_t n;
} snap;

static void snap_state(pq_observer *o, snap *s)
{
    pq_obs_segment seg[PQ_OBS_MAX_SEGMENTS];
    int n = pq_observer_state(o, seg);
    for (int i = 0; i < n; i++) {
        size_t b = (size_t)seg[i].count * 8;
        s->bytes = realloc(s->bytes, (size_t)s->n_bytes + b);
        memcpy(s->bytes + s->n_bytes, seg[i].data, b);
        s->n_bytes += (int64_t)b;
    }
}

/* Observes the stream with `nobs` observers (batch b goes to observer b % nobs), all-reduces
 * their states through the generic segment descriptors after each pass, computes with
 * each and checks they agree; snapshot of observer 0. */
static void run_split(const inv_case *ic, const pq_tensor *t, int64_t bs, int nobs, int threads,
                      snap *out)
{
    pq_err err = {0};
    pq_observer *o[3] = {NULL, NULL, NULL};
    pq_tqc q[3];
    pq_observer_opts opts = {0};
    opts.n_bins = ic->n_bins;
    opts.threads = threads;
    memset(out, 0, sizeof *out);
    for (int k = 0; k < nobs; k++) {
        q[k] = make_tqc(ic->policy, 8, ic->qmin, ic->qmax, ic->per_channel, 1, 0);
        PQ_EXPECT_OK(pq_observer_create(ic->algo, &q[k], "act", SC, &opts, &o[k], &err), &err);
    }
    for (int p = 0; p < pq_observer_n_passes(o[0]); p++) {
        int64_t b = 0;
        for (int64_t r = 0; r < NS; r += bs, b++) {
            int64_t e = r + bs < NS ? r + bs : NS;
            pq_tensor *s = slice0(t, r, e);
            PQ_EXPECT_OK(pq_observer_observe(o[b % nobs], s, &err), &err);
            pq_tensor_destroy(&s);
        }
        /* all-reduce as the MPI layer will: combine segment-wise, write back to all */
        pq_obs_segment seg[3][PQ_OBS_MAX_SEGMENTS];
        int ns = pq_observer_state(o[0], seg[0]);
        for (int k = 1; k < nobs; k++) PQ_EXPECT_EQ(pq_observer_state(o[k], seg[k]), ns);
        for (int i = 0; i < ns; i++) {
            for (int64_t j = 0; j < seg[0][i].count; j++) {
                if (seg[0][i].type == PQ_OBS_F64) {
                    double acc = ((double *)seg[0][i].data)[j];
                    for (int k = 1; k < nobs; k++) {
                        double v = ((double *)seg[k][i].data)[j];
                        acc = seg[0][i].rule == PQ_OBS_RULE_MIN ? fmin(acc, v)
                            : seg[0][i].rule == PQ_OBS_RULE_MAX ? fmax(acc, v) : acc + v;
                    }
                    for (int k = 0; k < nobs; k++) ((double *)seg[k][i].data)[j] = acc;
                } else {
                    int64_t acc = ((int64_t *)seg[0][i].data)[j];
                    for (int k = 1; k < nobs; k++) {
                        int64_t v = ((int64_t *)seg[k][i].data)[j];
                        PQ_EXPECT(seg[0][i].rule == PQ_OBS_RULE_SUM);
                        acc += v;
                    }
                    for (int k = 0; k < nobs; k++) ((int64_t *)seg[k][i].data)[j] = acc;
                }
            }
        }
        snap_state(o[0], out);
        for (int k = 0; k < nobs; k++) PQ_EXPECT_OK(pq_observer_end_pass(o[k], &err), &err);
    }
    for (int k = 0; k < nobs; k++) {
        PQ_EXPECT_OK(pq_observer_compute(o[k], &q[k], &err), &err);
        PQ_EXPECT(memcmp(q[k].scale, q[0].scale, (size_t)q[0].n_channels * sizeof(float)) == 0);
        PQ_EXPECT(memcmp(q[k].offset, q[0].offset, (size_t)q[0].n_channels * sizeof(float)) == 0);
    }
    out->n = q[0].n_channels;
    memcpy(out->scale, q[0].scale, (size_t)out->n * sizeof(float));
    memcpy(out->offset, q[0].offset, (size_t)out->n * sizeof(float));
    for (int k = 0; k < nobs; k++) {
        pq_observer_destroy(&o[k]);
        pq_tqc_clear(&q[k]);
    }
}

PQ_TEST(batch_rank_thread_split_invariance)
{
    pq_tensor *t = stream();
    for (size_t i = 0; i < sizeof INV / sizeof INV[0]; i++) {
        const inv_case *ic = &INV[i];
        snap ref, s;
        run_split(ic, t, 128, 1, 1, &ref); /* whole stream at once, one thread */
        PQ_EXPECT(ref.n_bytes > 0);
        const struct { int64_t bs; int nobs, threads; } cfg[] = {
            {1, 1, 1}, {7, 1, 2}, {32, 1, 3}, {7, 3, 2}, {32, 3, 1}, {128, 1, 2}};
        for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
            run_split(ic, t, cfg[k].bs, cfg[k].nobs, cfg[k].threads, &s);
            int same = s.n_bytes == ref.n_bytes && memcmp(s.bytes, ref.bytes, (size_t)s.n_bytes) == 0 &&
                       s.n == ref.n && memcmp(s.scale, ref.scale, (size_t)s.n * sizeof(float)) == 0 &&
                       memcmp(s.offset, ref.offset, (size_t)s.n * sizeof(float)) == 0;
            if (!same)
                PQ_FAIL_AT("%s %s%s: batch %lld x %d observers x %d threads differs from the "
                           "whole stream (scale %.9g vs %.9g)", ic->algo, ic->policy,
                           ic->per_channel ? " per-channel" : "", (long long)cfg[k].bs,
                           cfg[k].nobs, cfg[k].threads, s.scale[0], ref.scale[0]);
            free(s.bytes);
        }
        /* the scales are sane: within the data's range */
        PQ_EXPECT(ref.scale[0] > 1e-4 && ref.scale[0] < 1.0);
        free(ref.bytes);
    }
    pq_tensor_destroy(&t);
}

/* Copies src's current-pass state into dst (an all-reduce's broadcast half). */
static void copy_state(pq_observer *dst, pq_observer *src)
{
    pq_obs_segment a[PQ_OBS_MAX_SEGMENTS], b[PQ_OBS_MAX_SEGMENTS];
    int n = pq_observer_state(dst, a);
    PQ_EXPECT_EQ(pq_observer_state(src, b), n);
    for (int i = 0; i < n; i++) memcpy(a[i].data, b[i].data, (size_t)a[i].count * 8);
}

PQ_TEST(merge_equals_whole)
{
    pq_tensor *t = stream();
    pq_err err = {0};
    pq_tqc q = make_tqc("sym", 8, -128, 127, 0, 1, 0), q2 = q;
    pq_observer *a = NULL, *b = NULL, *w = NULL, *c = NULL;
    PQ_EXPECT_OK(pq_observer_create("kl", &q, "x", 0, NULL, &a, &err), &err);
    PQ_EXPECT_OK(pq_observer_create("kl", &q, "x", 0, NULL, &b, &err), &err);
    PQ_EXPECT_OK(pq_observer_create("kl", &q, "x", 0, NULL, &c, &err), &err);
    PQ_EXPECT_OK(pq_observer_create("kl", &q, "x", 0, NULL, &w, &err), &err);
    pq_tensor *h1 = slice0(t, 0, 50), *h2 = slice0(t, 50, NS);
    for (int p = 0; p < 2; p++) {
        PQ_EXPECT_OK(pq_observer_observe(a, h1, &err), &err);
        PQ_EXPECT_OK(pq_observer_observe(b, h2, &err), &err);
        PQ_EXPECT_OK(pq_observer_observe(c, h2, &err), &err);
        PQ_EXPECT_OK(pq_observer_observe(w, t, &err), &err);
        if (p == 1) { /* c skipped the pass-1 merge: its histogram range differs */
            PQ_EXPECT(pq_observer_merge(a, c, &err) == PQ_ERR_INVALID);
            PQ_EXPECT_CONTAINS(err.msg, "different ranges");
        }
        PQ_EXPECT_OK(pq_observer_merge(a, b, &err), &err);
        copy_state(b, a);
        PQ_EXPECT_OK(pq_observer_end_pass(a, &err), &err);
        PQ_EXPECT_OK(pq_observer_end_pass(b, &err), &err);
        PQ_EXPECT_OK(pq_observer_end_pass(c, &err), &err);
        PQ_EXPECT_OK(pq_observer_end_pass(w, &err), &err);
    }
    PQ_EXPECT_OK(pq_observer_compute(a, &q, &err), &err);
    PQ_EXPECT_OK(pq_observer_compute(w, &q2, &err), &err);
    PQ_EXPECT(q.scale[0] == q2.scale[0]);
    double lo1, hi1, lo2, hi2;
    PQ_EXPECT_OK(pq_observer_clip_range(a, 0, &lo1, &hi1, &err), &err);
    PQ_EXPECT_OK(pq_observer_clip_range(w, 0, &lo2, &hi2, &err), &err);
    PQ_EXPECT(lo1 == lo2 && hi1 == hi2 && hi1 > 0);
    /* different algorithms refuse to merge */
    pq_observer *m = NULL;
    PQ_EXPECT_OK(pq_observer_create("minmax", &q, "x", 0, NULL, &m, &err), &err);
    PQ_EXPECT(pq_observer_merge(m, a, &err) == PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "tensor 'x'");
    pq_observer_destroy(&m);
    pq_observer_destroy(&a);
    pq_observer_destroy(&b);
    pq_observer_destroy(&c);
    pq_observer_destroy(&w);
    pq_tqc_clear(&q);
    pq_tqc_clear(&q2);
    pq_tensor_destroy(&h1);
    pq_tensor_destroy(&h2);
    pq_tensor_destroy(&t);
}

/* ------------------------------------------------------------------ degenerate inputs */

static const char *const ALGOS[] = {"minmax", "percentile", "kl_trt", "kl_ppq", "mse", "isotone"};

static pq_tensor *filled(int rank, const int64_t *dims, float v)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    if (pq_tensor_create(PQ_DTYPE_FLOAT32, rank, dims, &t, &err) != PQ_OK) abort();
    for (int64_t i = 0; i < t->numel; i++) ((float *)t->data)[i] = v;
    return t;
}

static pq_status observe_all(const char *algo, const char *policy, int64_t qmin, int64_t qmax,
                             const pq_tensor *t, pq_tqc *q, pq_err *err)
{
    pq_observer *o = NULL;
    *q = make_tqc(policy, 8, qmin, qmax, 0, 1, 0);
    pq_status st = pq_observer_create(algo, q, "deg", 0, NULL, &o, err);
    if (st == PQ_OK) st = run_all(o, t, t->dims[0], q, err);
    pq_observer_destroy(&o);
    return st;
}

PQ_TEST(all_zero_tensor_gives_min_scale)
{
    int64_t dims[3] = {4, 3, 5};
    pq_tensor *t = filled(3, dims, 0.0f);
    for (size_t a = 0; a < sizeof ALGOS / sizeof ALGOS[0]; a++) {
        for (int asym = 0; asym < 2; asym++) {
            pq_err err = {0};
            pq_tqc q;
            PQ_EXPECT_OK(observe_all(ALGOS[a], asym ? "asym" : "sym", asym ? 0 : -128,
                                     asym ? 255 : 127, t, &q, &err), &err);
            PQ_EXPECT(q.n_channels == 1 && q.scale[0] == (float)1e-8);
            PQ_EXPECT(q.n_channels == 1 && q.offset[0] == 0.0f);
            pq_tqc_clear(&q);
        }
    }
    pq_tensor_destroy(&t);
}

PQ_TEST(constant_tensor)
{
    int64_t dims[2] = {6, 7};
    pq_tensor *t = filled(2, dims, 2.5f);
    const float sym = (float)(2.0 * 2.5 / 255.0), asym = (float)(2.5 / 255.0);
    for (size_t a = 0; a < 4; a++) { /* minmax, percentile, kl_trt, kl_ppq: exact range */
        pq_err err = {0};
        pq_tqc q;
        PQ_EXPECT_OK(observe_all(ALGOS[a], "sym", -128, 127, t, &q, &err), &err);
        if (q.scale[0] != sym) PQ_FAIL_AT("%s: scale %.9g, expected %.9g", ALGOS[a], q.scale[0], sym);
        pq_tqc_clear(&q);
        PQ_EXPECT_OK(observe_all(ALGOS[a], "asym", 0, 255, t, &q, &err), &err);
        if (q.scale[0] != asym || q.offset[0] != 0.0f)
            PQ_FAIL_AT("%s asym: scale %.9g offset %g, expected %.9g, 0", ALGOS[a], q.scale[0],
                       q.offset[0], asym);
        pq_tqc_clear(&q);
    }
    {   /* mse: 2.5 must be (nearly) a level: error below a bin width */
        pq_err err = {0};
        pq_tqc q;
        PQ_EXPECT_OK(observe_all("mse", "sym", -128, 127, t, &q, &err), &err);
        double qv = fmin(rint(2.5 / q.scale[0]), 127) * q.scale[0];
        PQ_EXPECT(fabs(qv - 2.5) <= 5.0 / 1024); /* within 2 bins of 2.5 */
        pq_tqc_clear(&q);
    }
    {   /* isotone: ties in every row cannot be ordered; the scale still covers l2 */
        pq_err err = {0};
        pq_tqc q;
        PQ_EXPECT_OK(observe_all("isotone", "sym", -128, 127, t, &q, &err), &err);
        PQ_EXPECT(q.scale[0] * 126 >= 2.5f && q.scale[0] * 126 <= 2.5f * 1.01f);
        pq_tqc_clear(&q);
    }
    pq_tensor_destroy(&t);
}

PQ_TEST(single_sample)
{
    int64_t d1[1] = {1};
    pq_tensor *t = filled(1, d1, -3.0f);
    for (size_t a = 0; a < 5; a++) {
        pq_err err = {0};
        pq_tqc q;
        PQ_EXPECT_OK(observe_all(ALGOS[a], "asym", 0, 255, t, &q, &err), &err);
        if (a != 4 && (q.scale[0] != (float)(3.0 / 255.0) || q.offset[0] != 255.0f))
            PQ_FAIL_AT("%s: scale %.9g offset %g", ALGOS[a], q.scale[0], q.offset[0]);
        if (a == 4) /* mse: -3 lands on a level up to a bin */
            PQ_EXPECT(fabs((0 - q.offset[0]) * q.scale[0] + 3.0) <= 3.0 / 256);
        pq_tqc_clear(&q);
    }
    pq_tensor_destroy(&t);
    /* isotone: one row of two */
    int64_t d2[2] = {1, 2};
    t = filled(2, d2, 0.0f);
    ((float *)t->data)[0] = 0.75f;
    ((float *)t->data)[1] = 0.25f;
    pq_err err = {0};
    pq_tqc q;
    PQ_EXPECT_OK(observe_all("isotone", "asym", 0, 255, t, &q, &err), &err);
    /* keeps the row ordered: 0.25 / 254 <= s <= 2 * 0.5 (up to one grid bin, 2^-7) */
    PQ_EXPECT(q.scale[0] >= 0.25 / 254 * (1 - 1.0 / 128) && q.scale[0] <= 1.0);
    PQ_EXPECT(rint(0.75 / q.scale[0]) != rint(0.25 / q.scale[0]));
    pq_tqc_clear(&q);
    pq_tensor_destroy(&t);
}

PQ_TEST(nonfinite_values_name_the_tensor)
{
    int64_t dims[2] = {3, 50000};
    const float bad[2] = {NAN, INFINITY};
    for (size_t a = 0; a < sizeof ALGOS / sizeof ALGOS[0]; a++) {
        for (int k = 0; k < 2; k++) {
            pq_err err = {0};
            pq_tensor *good = filled(2, dims, 1.0f), *t = filled(2, dims, 1.0f);
            ((float *)t->data)[123457] = bad[k];
            pq_tqc q = make_tqc("sym", 8, -128, 127, 0, 1, 0);
            pq_observer *o = NULL;
            PQ_EXPECT_OK(pq_observer_create(ALGOS[a], &q, "conv1_out", 0, NULL, &o, &err), &err);
            for (int p = 0; p < pq_observer_n_passes(o); p++) {
                PQ_EXPECT_OK(pq_observer_observe(o, good, &err), &err);
                PQ_EXPECT(pq_observer_observe(o, t, &err) == PQ_ERR_NUMERIC);
                PQ_EXPECT_CONTAINS(err.msg, "conv1_out");
                PQ_EXPECT_CONTAINS(err.msg, k == 0 ? "NaN" : "Inf");
                PQ_EXPECT_CONTAINS(err.msg, "123457");
                PQ_EXPECT_OK(pq_observer_end_pass(o, &err), &err); /* state unchanged */
            }
            PQ_EXPECT_OK(pq_observer_compute(o, &q, &err), &err);
            PQ_EXPECT(q.scale[0] > 0 && q.scale[0] < 0.011f);
            pq_observer_destroy(&o);
            pq_tqc_clear(&q);
            pq_tensor_destroy(&t);
            pq_tensor_destroy(&good);
        }
    }
}

PQ_TEST(misuse_is_reported)
{
    pq_err err = {0};
    pq_tqc q = make_tqc("sym", 8, -128, 127, 0, 1, 0);
    pq_observer *o = NULL;
    PQ_EXPECT(pq_observer_create("entropy", &q, "t0", 0, NULL, &o, &err) == PQ_ERR_CONFIG);
    PQ_EXPECT_CONTAINS(err.msg, "t0");
    PQ_EXPECT(o == NULL);
    strcpy(q.observer, "percentile");
    PQ_EXPECT_OK(pq_observer_create(NULL, &q, "t0", 0, NULL, &o, &err), &err);
    PQ_EXPECT(pq_observer_algo(o) == PQ_OBS_PERCENTILE);
    PQ_EXPECT(pq_observer_compute(o, &q, &err) == PQ_ERR_INVALID);
    PQ_EXPECT(pq_observer_end_pass(o, &err) == PQ_ERR_INVALID); /* no data */
    PQ_EXPECT_CONTAINS(err.msg, "saw no data");
    int64_t dims[1] = {4};
    pq_tensor *ti = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_INT32, 1, dims, &ti, &err), &err);
    PQ_EXPECT(pq_observer_observe(o, ti, &err) == PQ_ERR_UNSUPPORTED);
    pq_tensor_destroy(&ti);
    pq_observer_destroy(&o);
    /* per channel: wrong channel count; isotone per channel unsupported */
    pq_tqc qc = make_tqc("sym", 8, -127, 127, 1, 1, 0);
    PQ_EXPECT(pq_observer_create("isotone", &qc, "t1", 4, NULL, &o, &err) == PQ_ERR_UNSUPPORTED);
    PQ_EXPECT_OK(pq_observer_create("minmax", &qc, "t1", 4, NULL, &o, &err), &err);
    int64_t d2[2] = {2, 3};
    pq_tensor *t = filled(2, d2, 1.0f);
    PQ_EXPECT(pq_observer_observe(o, t, &err) == PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "4 channels");
    pq_tensor_destroy(&t);
    pq_observer_destroy(&o);
    PQ_EXPECT(pq_observer_create("kl_ppq", &q, "t2", 0,
                                 &(pq_observer_opts){.n_bins = 1000}, &o, &err) == PQ_ERR_CONFIG);
}

PQ_TEST(range_to_scale_conventions)
{
    pq_tqc q = make_tqc("sym", 8, -127, 127, 0, 1, 0);
    float s, z;
    pq_obs_range_to_scale(-1.0, 2.54, &q, 1, &s, &z); /* TensorRT: amax / 127 */
    PQ_EXPECT(s == (float)(2.54 / 127.0) && z == 0);
    q.quant_min = -128; /* PPQ: amax / 127.5 */
    pq_obs_range_to_scale(-1.0, 2.54, &q, 1, &s, &z);
    PQ_EXPECT(s == (float)(5.08 / 255.0) && z == 0);
    q.policy |= PQ_QPOLICY_POWER_OF_2;
    pq_obs_range_to_scale(-1.0, 2.54, &q, 1, &s, &z);
    PQ_EXPECT(s == 0.03125f); /* 0.0199 rounded up */
    pq_obs_range_to_scale(-1.0, 2.54, &q, 0, &s, &z);
    PQ_EXPECT(s == 0.015625f); /* log2 = -5.65: nearest */
    q = make_tqc("asym", 8, -128, 127, 0, 1, 0);
    pq_obs_range_to_scale(0.5, 2.55, &q, 1, &s, &z); /* zero joins the range */
    PQ_EXPECT(s == (float)(2.55 / 255.0) && z == -128);
    pq_obs_range_to_scale(-2.55, -1, &q, 1, &s, &z);
    PQ_EXPECT(s == (float)(2.55 / 255.0) && z == 127);
    pq_obs_range_to_scale(0, 0, &q, 1, &s, &z);
    PQ_EXPECT(s == (float)1e-8 && z == -128);
}

PQ_TEST_MAIN()

/* test_ops_misc.c - misc family: paths the conformance data and fixtures do not reach
 * (threaded DFT/STFT/GridSample on large inputs against naive references, exact identity
 * sampling in every GridSample mode, numerically extreme losses, NaN and empty inputs of
 * Unique, empty Det and windows) and the errors users can trigger. */
#include "test_ops_reduce_graph.h"

#include <stdint.h>
#include <stdlib.h>

#define PI_D 3.14159265358979323846

static pq_tensor *f32_tensor(int rank, const int64_t *dims, uint64_t seed)
{
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, rank, dims);
    pq_rng r;
    pq_rng_seed(&r, seed);
    for (int64_t i = 0; i < x->numel; i++) PQ_DATA(x, float)[i] = (float)pq_rng_normal(&r);
    return x;
}

static pq_tensor *i64_scalar(int64_t v)
{
    pq_tensor *x = t1_tensor(PQ_DTYPE_INT64, 0, NULL);
    PQ_DATA(x, int64_t)[0] = v;
    return x;
}

/* Runs t on ins; returns output 0 and destroys the others (NULL on failure, reported). */
static pq_tensor *run1(t1_graph *t, pq_tensor **ins)
{
    pq_err err = {0};
    pq_tensor *outs[T1_MAX_IO] = {0};
    PQ_EXPECT_OK(t1_run(t, ins, outs, &err), &err);
    for (int i = 1; i < t->n_out; i++) pq_tensor_destroy(&outs[i]);
    return outs[0];
}

/* Expects running t on ins to fail with `code` and a message containing `needle`. */
static void expect_fail(t1_graph *t, pq_tensor **ins, pq_status code, const char *needle)
{
    pq_err err = {0};
    pq_tensor *outs[T1_MAX_IO] = {0};
    pq_status st = t1_run(t, ins, outs, &err);
    PQ_EXPECT_EQ(st, code);
    PQ_EXPECT_CONTAINS(err.msg, needle);
    for (int i = 0; i < t->n_out; i++) pq_tensor_destroy(&outs[i]);
}

/* ------------------------------------------------------------------ DFT / STFT */

/* Naive DFT of x[b, j, 0] (real) along axis 1, length n, into ref[b, k, 0..1]. */
static void naive_dft(const float *x, int64_t B, int64_t L, int64_t n, int64_t bins,
                      double *ref)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < bins; k++) {
            double re = 0, im = 0;
            for (int64_t j = 0; j < n && j < L; j++) {
                const double a = -2.0 * PI_D * (double)((j * k) % n) / (double)n;
                re += x[b * L + j] * cos(a);
                im += x[b * L + j] * sin(a);
            }
            ref[(b * bins + k) * 2] = re;
            ref[(b * bins + k) * 2 + 1] = im;
        }
}

PQ_TEST(dft_large_pow2_and_odd_threaded)
{
    const int64_t lens[2] = {1024, 243};
    for (int c = 0; c < 2; c++) {
        const int64_t B = 70, L = lens[c];
        const int64_t dims[3] = {B, L, 1};
        t1_graph t;
        t1_make(&t, "DFT", 17, 1, 1u, 1, 1u);
        pq_err err = {0};
        PQ_EXPECT_OK(pq_op_set_int(t.op, "onesided", 1, &err), &err);
        pq_tensor *x = f32_tensor(3, dims, 7 + (uint64_t)c);
        pq_tensor *ins[1] = {x};
        pq_tensor *y = run1(&t, ins);
        const int64_t bins = L / 2 + 1;
        double *ref = malloc((size_t)(B * bins * 2) * sizeof *ref);
        naive_dft(PQ_DATA(x, float), B, L, L, bins, ref);
        /* float32 output of sums of L terms of magnitude ~1: absolute tolerance on the
         * scale of sqrt(L) * eps */
        PQ_EXPECT_EQ(t1_compare("dft", y, ref, B * bins * 2, 1e-3, 1e-4), 0);
        free(ref);
        pq_tensor_destroy(&y);
        pq_tensor_destroy(&x);
        t1_free(&t);
    }
}

PQ_TEST(stft_matches_framewise_dft)
{
    const int64_t B = 3, L = 4000, flen = 400, step = 160;
    const int64_t dims[3] = {B, L, 1};
    t1_graph t;
    t1_make(&t, "STFT", 17, 4, 0xBu, 1, 1u); /* signal, step, (no window), frame_length */
    pq_tensor *x = f32_tensor(3, dims, 11);
    pq_tensor *st_ = i64_scalar(step), *fl = i64_scalar(flen);
    pq_tensor *ins[4] = {x, st_, NULL, fl};
    pq_tensor *y = run1(&t, ins);
    const int64_t frames = (L - flen) / step + 1, bins = flen / 2 + 1;
    const int64_t want[4] = {B, frames, bins, 2};
    PQ_EXPECT(y && y->rank == 4 && memcmp(y->dims, want, sizeof want) == 0);
    if (y && y->numel == B * frames * bins * 2) {
        /* frame f of batch b is the DFT of x[b, f * step .. f * step + flen) */
        const int64_t probes[3][2] = {{0, 0}, {1, 7}, {2, frames - 1}};
        for (int p = 0; p < 3; p++) {
            const int64_t b = probes[p][0], f = probes[p][1];
            double ref[2 * 201];
            naive_dft(PQ_DATA(x, float) + b * L + f * step, 1, flen, flen, bins, ref);
            pq_tensor *row = NULL;
            pq_err err = {0};
            const int64_t rd[1] = {bins * 2};
            PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 1, rd, &row, &err), &err);
            memcpy(row->data, PQ_DATA(y, float) + (b * frames + f) * bins * 2,
                   (size_t)(bins * 2) * sizeof(float));
            PQ_EXPECT_EQ(t1_compare("stft frame", row, ref, bins * 2, 1e-3, 1e-4), 0);
            pq_tensor_destroy(&row);
        }
    }
    pq_tensor_destroy(&y);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&st_);
    pq_tensor_destroy(&fl);
    t1_free(&t);
}

PQ_TEST(dft_errors)
{
    t1_graph t;
    const int64_t dims[3] = {1, 8, 2};
    t1_make(&t, "DFT", 17, 1, 1u, 1, 1u);
    pq_err err = {0};
    PQ_EXPECT_OK(pq_op_set_int(t.op, "onesided", 1, &err), &err);
    pq_tensor *x = f32_tensor(3, dims, 1);
    pq_tensor *ins[1] = {x};
    expect_fail(&t, ins, PQ_ERR_INVALID, "needs a real input");
    t1_free(&t);
    t1_make(&t, "DFT", 17, 1, 1u, 1, 1u);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "axis", 2, &err), &err);
    expect_fail(&t, ins, PQ_ERR_INVALID, "is not a signal axis");
    t1_free(&t);
    pq_tensor_destroy(&x);
}

/* ------------------------------------------------------------------ GridSample */

/* An identity grid (align_corners = 1 maps -1..1 onto the pixel centres) samples every
 * mode exactly; the image is large enough for the threaded path. */
PQ_TEST(gridsample_identity_exact_all_modes)
{
    const int64_t N = 2, C = 5, H = 60, W = 70;
    const int64_t xd[4] = {N, C, H, W}, gd[4] = {N, H, W, 2};
    pq_tensor *x = f32_tensor(4, xd, 3);
    pq_tensor *g = t1_tensor(PQ_DTYPE_FLOAT32, 4, gd);
    for (int64_t b = 0; b < N; b++)
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++) {
                float *p = PQ_DATA(g, float) + ((b * H + i) * W + j) * 2;
                p[0] = (float)(-1.0 + 2.0 * (double)j / (double)(W - 1));
                p[1] = (float)(-1.0 + 2.0 * (double)i / (double)(H - 1));
            }
    const char *modes[3] = {"bilinear", "nearest", "bicubic"};
    const char *pads[3] = {"zeros", "border", "reflection"};
    double *ref = malloc((size_t)x->numel * sizeof *ref);
    for (int64_t i = 0; i < x->numel; i++) ref[i] = PQ_DATA(x, float)[i];
    for (int m = 0; m < 3; m++)
        for (int p = 0; p < 3; p++) {
            t1_graph t;
            pq_err err = {0};
            t1_make(&t, "GridSample", 16, 2, 3u, 1, 1u);
            PQ_EXPECT_OK(pq_op_set_string(t.op, "mode", modes[m], &err), &err);
            PQ_EXPECT_OK(pq_op_set_string(t.op, "padding_mode", pads[p], &err), &err);
            PQ_EXPECT_OK(pq_op_set_int(t.op, "align_corners", 1, &err), &err);
            pq_tensor *ins[2] = {x, g};
            pq_tensor *y = run1(&t, ins);
            char what[64];
            snprintf(what, sizeof what, "%s/%s", modes[m], pads[p]);
            /* coordinates (g + 1) / 2 * (size - 1) round to within ~1e-5 of the centres */
            PQ_EXPECT_EQ(t1_compare(what, y, ref, x->numel, 1e-3, 1e-3), 0);
            pq_tensor_destroy(&y);
            t1_free(&t);
        }
    free(ref);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&g);
}

PQ_TEST(gridsample_far_and_nan_coordinates_read_zero)
{
    const int64_t xd[4] = {1, 1, 2, 2}, gd[4] = {1, 1, 3, 2};
    pq_tensor *x = f32_tensor(4, xd, 5);
    pq_tensor *g = t1_tensor(PQ_DTYPE_FLOAT32, 4, gd);
    const float gv[6] = {1e30f, -1e30f, NAN, 0.0f, 3.0f, 3.0f};
    memcpy(g->data, gv, sizeof gv);
    const char *modes[3] = {"bilinear", "nearest", "bicubic"};
    for (int m = 0; m < 3; m++) {
        t1_graph t;
        pq_err err = {0};
        t1_make(&t, "GridSample", 16, 2, 3u, 1, 1u);
        PQ_EXPECT_OK(pq_op_set_string(t.op, "mode", modes[m], &err), &err);
        pq_tensor *ins[2] = {x, g};
        pq_tensor *y = run1(&t, ins);
        const double ref[3] = {0, 0, 0};
        PQ_EXPECT_EQ(t1_compare(modes[m], y, ref, 3, 0, 0), 0);
        pq_tensor_destroy(&y);
        t1_free(&t);
    }
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&g);
}

PQ_TEST(gridsample_bad_mode)
{
    t1_graph t;
    pq_err err = {0};
    t1_make(&t, "GridSample", 16, 2, 3u, 1, 1u);
    PQ_EXPECT_OK(pq_op_set_string(t.op, "mode", "area", &err), &err);
    const int64_t xd[4] = {1, 1, 2, 2}, gd[4] = {1, 1, 1, 2};
    pq_tensor *x = f32_tensor(4, xd, 1), *g = f32_tensor(4, gd, 2);
    pq_tensor *ins[2] = {x, g};
    expect_fail(&t, ins, PQ_ERR_INVALID, "mode 'area'");
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&g);
    t1_free(&t);
}

/* ------------------------------------------------------------------ losses */

PQ_TEST(sce_extreme_logits_stay_finite)
{
    const int64_t xd[2] = {2, 3}, td[1] = {2};
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 2, xd);
    const float xv[6] = {1000.0f, 0.0f, -1000.0f, -1e38f, 1e38f, 0.0f};
    memcpy(x->data, xv, sizeof xv);
    pq_tensor *tg = t1_tensor(PQ_DTYPE_INT64, 1, td);
    PQ_DATA(tg, int64_t)[0] = 1; /* loss 1000 */
    PQ_DATA(tg, int64_t)[1] = 1; /* loss 0 */
    t1_graph t;
    pq_err err = {0};
    t1_make(&t, "SoftmaxCrossEntropyLoss", 13, 2, 3u, 2, 3u);
    PQ_EXPECT_OK(pq_op_set_string(t.op, "reduction", "none", &err), &err);
    pq_tensor *ins[2] = {x, tg};
    pq_tensor *outs[T1_MAX_IO] = {0};
    PQ_EXPECT_OK(t1_run(&t, ins, outs, &err), &err);
    const double loss[2] = {1000.0, 0.0};
    PQ_EXPECT_EQ(t1_compare("loss", outs[0], loss, 2, 1e-6, 1e-6), 0);
    const double lp[6] = {0.0, -1000.0, -2000.0, -2e38, 0.0, -1e38};
    PQ_EXPECT_EQ(t1_compare("log_prob", outs[1], lp, 6, 1e-6, 1e-6), 0);
    pq_tensor_destroy(&outs[0]);
    pq_tensor_destroy(&outs[1]);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&tg);
    t1_free(&t);
}

PQ_TEST(nllloss_target_out_of_range)
{
    const int64_t xd[2] = {2, 3}, td[1] = {2};
    pq_tensor *x = f32_tensor(2, xd, 4);
    pq_tensor *tg = t1_tensor(PQ_DTYPE_INT64, 1, td);
    PQ_DATA(tg, int64_t)[0] = 0;
    PQ_DATA(tg, int64_t)[1] = 3;
    t1_graph t;
    t1_make(&t, "NegativeLogLikelihoodLoss", 13, 2, 3u, 1, 1u);
    pq_tensor *ins[2] = {x, tg};
    expect_fail(&t, ins, PQ_ERR_INVALID, "target[1] = 3 is outside [0, 3)");
    t1_free(&t);
    /* ignoring it makes it valid: mean over the one remaining sample */
    pq_err err = {0};
    t1_make(&t, "NegativeLogLikelihoodLoss", 13, 2, 3u, 1, 1u);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "ignore_index", 3, &err), &err);
    pq_tensor *y = run1(&t, ins);
    const double ref[1] = {-PQ_DATA(x, float)[0]};
    PQ_EXPECT_EQ(t1_compare("nll", y, ref, 1, 0, 1e-6), 0);
    pq_tensor_destroy(&y);
    t1_free(&t);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&tg);
}

/* ------------------------------------------------------------------ Unique, Det, windows */

PQ_TEST(unique_nan_sorted_last_and_merged)
{
    const int64_t d[1] = {6};
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 1, d);
    const float xv[6] = {NAN, 2.0f, -1.0f, NAN, 2.0f, -INFINITY};
    memcpy(x->data, xv, sizeof xv);
    t1_graph t;
    t1_make(&t, "Unique", 11, 1, 1u, 4, 0xFu);
    pq_tensor *ins[1] = {x};
    pq_tensor *o[T1_MAX_IO] = {0};
    pq_err err = {0};
    PQ_EXPECT_OK(t1_run(&t, ins, o, &err), &err);
    const double y[4] = {-INFINITY, -1.0, 2.0, NAN};
    PQ_EXPECT_EQ(t1_compare("Y", o[0], y, 4, 0, 0), 0);
    if (o[1] && o[2] && o[3]) {
        const int64_t idx[4] = {5, 2, 1, 0}, inv[6] = {3, 2, 1, 3, 2, 0}, cnt[4] = {1, 1, 2, 2};
        PQ_EXPECT(memcmp(o[1]->data, idx, sizeof idx) == 0);
        PQ_EXPECT(memcmp(o[2]->data, inv, sizeof inv) == 0);
        PQ_EXPECT(memcmp(o[3]->data, cnt, sizeof cnt) == 0);
    }
    for (int i = 0; i < 4; i++) pq_tensor_destroy(&o[i]);
    pq_tensor_destroy(&x);
    t1_free(&t);
}

PQ_TEST(unique_empty_input)
{
    const int64_t d[2] = {0, 3};
    pq_tensor *x = t1_tensor(PQ_DTYPE_INT32, 2, d);
    t1_graph t;
    t1_make(&t, "Unique", 11, 1, 1u, 4, 0xFu);
    pq_tensor *ins[1] = {x};
    pq_tensor *o[T1_MAX_IO] = {0};
    pq_err err = {0};
    PQ_EXPECT_OK(t1_run(&t, ins, o, &err), &err);
    for (int i = 0; i < 4; i++) {
        PQ_EXPECT(o[i] && o[i]->rank == 1 && o[i]->numel == 0);
        pq_tensor_destroy(&o[i]);
    }
    pq_tensor_destroy(&x);
    t1_free(&t);
}

PQ_TEST(det_empty_matrix_is_one)
{
    const int64_t d[3] = {2, 0, 0};
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 3, d);
    t1_graph t;
    t1_make(&t, "Det", 11, 1, 1u, 1, 1u);
    pq_tensor *ins[1] = {x};
    pq_tensor *y = run1(&t, ins);
    const double ref[2] = {1.0, 1.0};
    PQ_EXPECT_EQ(t1_compare("det", y, ref, 2, 0, 0), 0);
    pq_tensor_destroy(&y);
    pq_tensor_destroy(&x);
    t1_free(&t);
}

PQ_TEST(window_size_zero_and_int_output)
{
    t1_graph t;
    pq_err err = {0};
    t1_make(&t, "HannWindow", 17, 1, 1u, 1, 1u);
    pq_tensor *s = i64_scalar(0);
    pq_tensor *ins[1] = {s};
    pq_tensor *y = run1(&t, ins);
    PQ_EXPECT(y && y->rank == 1 && y->numel == 0);
    pq_tensor_destroy(&y);
    t1_free(&t);
    /* an int32 window truncates: only the centre of a symmetric Hann window is 1 */
    t1_make(&t, "HannWindow", 17, 1, 1u, 1, 1u);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "periodic", 0, &err), &err);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "output_datatype", PQ_DTYPE_INT32, &err), &err);
    PQ_DATA(s, int64_t)[0] = 5;
    y = run1(&t, ins);
    PQ_EXPECT(y && y->dtype == PQ_DTYPE_INT32);
    if (y && y->numel == 5) {
        const int32_t want[5] = {0, 0, 1, 0, 0};
        PQ_EXPECT(memcmp(y->data, want, sizeof want) == 0);
    }
    pq_tensor_destroy(&y);
    t1_free(&t);
    t1_make(&t, "HannWindow", 17, 1, 1u, 1, 1u);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "output_datatype", PQ_DTYPE_STRING, &err), &err);
    expect_fail(&t, ins, PQ_ERR_INVALID, "output_datatype 8");
    t1_free(&t);
    pq_tensor_destroy(&s);
}

/* ------------------------------------------------------------------ user errors */

PQ_TEST(compress_and_reversesequence_errors)
{
    const int64_t xd[2] = {2, 3}, cd[1] = {4}, ld[1] = {3};
    pq_tensor *x = f32_tensor(2, xd, 9);
    pq_tensor *c = t1_tensor(PQ_DTYPE_BOOL, 1, cd);
    PQ_DATA(c, uint8_t)[3] = 1; /* index 3 of an axis of 3 */
    t1_graph t;
    pq_err err = {0};
    t1_make(&t, "Compress", 11, 2, 3u, 1, 1u);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "axis", 1, &err), &err);
    pq_tensor *ins[2] = {x, c};
    expect_fail(&t, ins, PQ_ERR_INVALID, "selects index 3");
    t1_free(&t);

    pq_tensor *lens = t1_tensor(PQ_DTYPE_INT64, 1, ld);
    PQ_DATA(lens, int64_t)[1] = 3; /* time axis has 2 */
    t1_make(&t, "ReverseSequence", 10, 2, 3u, 1, 1u);
    ins[1] = lens;
    expect_fail(&t, ins, PQ_ERR_INVALID, "sequence_lens[1] = 3 is outside [0, 2]");
    t1_free(&t);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&c);
    pq_tensor_destroy(&lens);
}

PQ_TEST(melweightmatrix_upper_edge_beyond_nyquist)
{
    t1_graph t;
    t1_make(&t, "MelWeightMatrix", 17, 5, 0x1Fu, 1, 1u);
    pq_tensor *a = i64_scalar(8), *b = i64_scalar(16), *c = i64_scalar(8000);
    pq_tensor *lo = t1_tensor(PQ_DTYPE_FLOAT32, 0, NULL), *hi = t1_tensor(PQ_DTYPE_FLOAT32, 0, NULL);
    PQ_DATA(hi, float)[0] = 7000.0f;
    pq_tensor *ins[5] = {a, b, c, lo, hi};
    expect_fail(&t, ins, PQ_ERR_INVALID, "maps beyond");
    t1_free(&t);
    pq_tensor_destroy(&a);
    pq_tensor_destroy(&b);
    pq_tensor_destroy(&c);
    pq_tensor_destroy(&lo);
    pq_tensor_destroy(&hi);
}

PQ_TEST(tfidf_bad_ngram_counts)
{
    t1_graph t;
    pq_err err = {0};
    t1_make(&t, "TfIdfVectorizer", 9, 1, 1u, 1, 1u);
    const int64_t pool[5] = {1, 2, 3, 4, 5}, counts[2] = {0, 2}, idx[3] = {0, 1, 2};
    PQ_EXPECT_OK(pq_op_set_ints(t.op, "pool_int64s", pool, 5, &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(t.op, "ngram_counts", counts, 2, &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(t.op, "ngram_indexes", idx, 3, &err), &err);
    PQ_EXPECT_OK(pq_op_set_string(t.op, "mode", "TF", &err), &err);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "max_gram_length", 2, &err), &err);
    const int64_t d[1] = {4};
    pq_tensor *x = t1_tensor(PQ_DTYPE_INT64, 1, d);
    pq_tensor *ins[1] = {x};
    /* 3 items after offset 2 are not whole 2-grams */
    expect_fail(&t, ins, PQ_ERR_INVALID, "does not delimit whole 2-grams");
    t1_free(&t);
    pq_tensor_destroy(&x);
}

PQ_TEST_MAIN()

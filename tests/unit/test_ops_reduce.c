/* test_ops_reduce.c - Reduce*, ArgMax/ArgMin, CumSum and TopK against naive references on
 * shapes large enough for the threaded and chunked paths of the reduction walker, and the
 * errors users can trigger. */
#include "test_ops_reduce_graph.h"

#include <stdint.h>
#include <stdlib.h>

static const char *const red_ops[] = {"ReduceSum",    "ReduceMean", "ReduceMax",
                                      "ReduceMin",    "ReduceProd", "ReduceL1",
                                      "ReduceL2",     "ReduceLogSum", "ReduceLogSumExp",
                                      "ReduceSumSquare"};

/* Naive reduction in double: every input element adds into its output slot. */
static void naive_reduce(int op, const pq_tensor *x, const uint8_t *mask, double *out,
                         int64_t n_out)
{
    double *mx = calloc((size_t)n_out + 1, sizeof *mx);
    int64_t *cnt = calloc((size_t)n_out + 1, sizeof *cnt);
    for (int64_t o = 0; o < n_out; o++) {
        out[o] = op == 4 ? 1.0 : op == 2 ? -INFINITY : op == 3 ? INFINITY : 0.0;
        mx[o] = -INFINITY;
    }
    int64_t idx[PQ_MAX_RANK] = {0};
    /* Pass 1 (max for LogSumExp), pass 2 accumulate. */
    for (int pass = 0; pass < 2; pass++) {
        memset(idx, 0, sizeof idx);
        for (int64_t i = 0; i < x->numel; i++) {
            int64_t o = 0;
            for (int a = 0; a < x->rank; a++)
                if (!mask[a]) o = o * x->dims[a] + idx[a];
            double v = pq_tensor_get_f64(x, i);
            if (pass == 0) {
                if (v > mx[o]) mx[o] = v;
            } else {
                cnt[o]++;
                switch (op) {
                case 0: case 1: case 7: out[o] += v; break;
                case 2: if (v > out[o]) out[o] = v; break;
                case 3: if (v < out[o]) out[o] = v; break;
                case 4: out[o] *= v; break;
                case 5: out[o] += fabs(v); break;
                case 6: case 9: out[o] += v * v; break;
                case 8: out[o] += exp(v - mx[o]); break;
                }
            }
            for (int a = x->rank - 1; a >= 0; a--) {
                if (++idx[a] < x->dims[a]) break;
                idx[a] = 0;
            }
        }
    }
    for (int64_t o = 0; o < n_out; o++) {
        if (op == 1) out[o] /= (double)cnt[o];
        if (op == 6) out[o] = sqrt(out[o]);
        if (op == 7) out[o] = log(out[o]);
        if (op == 8) out[o] = mx[o] + log(out[o]);
    }
    free(mx);
    free(cnt);
}

static pq_tensor *random_tensor(pq_dtype dt, int rank, const int64_t *dims, pq_rng *r,
                                double lo, double hi)
{
    pq_tensor *x = t1_tensor(dt, rank, dims);
    for (int64_t i = 0; i < x->numel; i++) {
        double v = lo + (hi - lo) * pq_rng_uniform(r);
        switch (dt) {
        case PQ_DTYPE_FLOAT32: PQ_DATA(x, float)[i] = (float)v; break;
        case PQ_DTYPE_FLOAT64: PQ_DATA(x, double)[i] = v; break;
        case PQ_DTYPE_FLOAT16: PQ_DATA(x, uint16_t)[i] = pq_f32_to_f16((float)v); break;
        case PQ_DTYPE_INT32: PQ_DATA(x, int32_t)[i] = (int32_t)floor(v); break;
        case PQ_DTYPE_INT64: PQ_DATA(x, int64_t)[i] = (int64_t)floor(v); break;
        case PQ_DTYPE_UINT8: PQ_DATA(x, uint8_t)[i] = (uint8_t)floor(v); break;
        default: break;
        }
    }
    return x;
}

/* Runs `op` at opset 11 (axes attribute) over x with the axes in mask, compares. */
static void check_reduce(int op, pq_tensor *x, const uint8_t *mask, int keepdims, double rtol)
{
    pq_err err = {0};
    t1_graph t;
    int64_t axes[PQ_MAX_RANK], n_axes = 0, odims[PQ_MAX_RANK];
    int orank = 0;
    for (int a = 0; a < x->rank; a++) {
        if (mask[a]) axes[n_axes++] = (a % 2) ? a - x->rank : a; /* mix negative axes in */
        if (!mask[a]) odims[orank++] = x->dims[a];
        else if (keepdims) odims[orank++] = 1;
    }
    t1_make(&t, red_ops[op], 11, 1, 1, 1, 1);
    PQ_EXPECT_OK(pq_op_set_ints(t.op, "axes", axes, n_axes, &err), &err);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "keepdims", keepdims, &err), &err);
    pq_tensor *y = NULL;
    PQ_EXPECT_OK(t1_run(&t, &x, &y, &err), &err);
    int64_t n_out = pq_shape_numel(orank, odims);
    double *ref = calloc((size_t)n_out + 1, sizeof *ref);
    naive_reduce(op, x, mask, ref, n_out);
    char what[128];
    snprintf(what, sizeof what, "%s(%s) mask %d%d%d%d%d keep %d", red_ops[op],
             pq_dtype_name(x->dtype), mask[0], x->rank > 1 && mask[1], x->rank > 2 && mask[2],
             x->rank > 3 && mask[3], x->rank > 4 && mask[4], keepdims);
    if (y) {
        PQ_EXPECT_EQ(y->rank, orank);
        for (int d = 0; d < orank && d < y->rank; d++) PQ_EXPECT_EQ(y->dims[d], odims[d]);
        if (pq_dtype_is_integer(x->dtype))
            for (int64_t i = 0; i < n_out; i++) ref[i] = trunc(ref[i]);
        t1_compare(what, y, ref, n_out, 1e-6, rtol);
    }
    free(ref);
    pq_tensor_destroy(&y);
    t1_free(&t);
}

PQ_TEST(reductions_match_naive_on_every_axis_subset)
{
    pq_rng r;
    pq_rng_seed(&r, 7);
    const int64_t dims[4] = {3, 5, 4, 6};
    pq_tensor *x = random_tensor(PQ_DTYPE_FLOAT32, 4, dims, &r, 0.1, 1.5);
    for (int op = 0; op < 10; op++)
        for (unsigned m = 1; m < 16; m++) {
            uint8_t mask[4] = {m & 1, (m >> 1) & 1, (m >> 2) & 1, (m >> 3) & 1};
            check_reduce(op, x, mask, (int)(m & 1), 1e-5);
        }
    pq_tensor_destroy(&x);
}

PQ_TEST(reductions_large_threaded_and_chunked)
{
    pq_rng r;
    pq_rng_seed(&r, 8);
    /* Small outer, long inner: the chunked split; and long rows: the contiguous sum. */
    const int64_t d1[3] = {3, 40, 3000}, d2[2] = {70, 5000}, d3[4] = {2, 50, 3, 700};
    pq_tensor *a = random_tensor(PQ_DTYPE_FLOAT32, 3, d1, &r, -1, 1);
    pq_tensor *b = random_tensor(PQ_DTYPE_FLOAT32, 2, d2, &r, -1, 1);
    pq_tensor *c = random_tensor(PQ_DTYPE_FLOAT32, 4, d3, &r, -1, 1);
    const uint8_t m1[3] = {1, 1, 0}, m2[2] = {0, 1}, m3[4] = {1, 0, 1, 0}, m4[2] = {1, 0};
    for (int op = 0; op < 10; op++) {
        if (op == 4 || op == 7) continue; /* products underflow, logs of negative sums */
        check_reduce(op, a, m1, 1, 1e-5);
        check_reduce(op, b, m2, 0, 1e-5);
        check_reduce(op, c, m3, 1, 1e-5);
        check_reduce(op, b, m4, 1, 1e-5);
    }
    pq_tensor_destroy(&a);
    pq_tensor_destroy(&b);
    pq_tensor_destroy(&c);
}

PQ_TEST(reductions_of_other_dtypes)
{
    pq_rng r;
    pq_rng_seed(&r, 9);
    const int64_t dims[3] = {4, 7, 5};
    pq_tensor *xi = random_tensor(PQ_DTYPE_INT32, 3, dims, &r, -100, 100);
    pq_tensor *xl = random_tensor(PQ_DTYPE_INT64, 3, dims, &r, -1e6, 1e6);
    pq_tensor *xu = random_tensor(PQ_DTYPE_UINT8, 3, dims, &r, 0, 250);
    pq_tensor *xd = random_tensor(PQ_DTYPE_FLOAT64, 3, dims, &r, 0.5, 1.5);
    pq_tensor *xh = random_tensor(PQ_DTYPE_FLOAT16, 3, dims, &r, 0.5, 1.5);
    const uint8_t mask[3] = {1, 0, 1};
    const int int_ops[] = {0, 1, 2, 3, 5, 9};
    for (size_t k = 0; k < sizeof int_ops / sizeof *int_ops; k++) {
        check_reduce(int_ops[k], xi, mask, 1, 0);
        check_reduce(int_ops[k], xl, mask, 0, 0);
    }
    check_reduce(2, xu, mask, 1, 0); /* ReduceMax-12 takes uint8 */
    check_reduce(3, xu, mask, 0, 0);
    for (int op = 0; op < 10; op++) {
        check_reduce(op, xd, mask, 1, 1e-12);
        check_reduce(op, xh, mask, 1, 2e-3); /* float16 output rounding */
    }
    pq_tensor_destroy(&xi);
    pq_tensor_destroy(&xl);
    pq_tensor_destroy(&xu);
    pq_tensor_destroy(&xd);
    pq_tensor_destroy(&xh);
}

PQ_TEST(reduce_errors)
{
    pq_err err = {0};
    t1_graph t;
    const int64_t dims[2] = {2, 3};
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 2, dims), *y = NULL;
    const int64_t dup[2] = {1, -1}, far[1] = {2};
    t1_make(&t, "ReduceMean", 13, 1, 1, 1, 1);
    PQ_EXPECT_OK(pq_op_set_ints(t.op, "axes", dup, 2, &err), &err);
    PQ_EXPECT_EQ(t1_run(&t, &x, &y, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "given twice");
    t1_free(&t);
    t1_make(&t, "ReduceMax", 13, 1, 1, 1, 1);
    PQ_EXPECT_OK(pq_op_set_ints(t.op, "axes", far, 1, &err), &err);
    PQ_EXPECT_EQ(t1_run(&t, &x, &y, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "out of range");
    t1_free(&t);
    pq_tensor *s = t1_tensor(PQ_DTYPE_STRING, 2, dims);
    t1_make(&t, "ReduceSum", 11, 1, 1, 1, 1);
    PQ_EXPECT_EQ(t1_run(&t, &s, &y, &err), PQ_ERR_UNSUPPORTED);
    t1_free(&t);
    pq_tensor_destroy(&s);
    pq_tensor_destroy(&x);
}

PQ_TEST(argmax_argmin_large)
{
    pq_err err = {0};
    pq_rng r;
    pq_rng_seed(&r, 10);
    const int64_t dims[3] = {20, 300, 40};
    pq_tensor *x = random_tensor(PQ_DTYPE_INT32, 3, dims, &r, -20, 20); /* many ties */
    for (int want_max = 0; want_max < 2; want_max++)
        for (int last = 0; last < 2; last++) {
            t1_graph t;
            pq_tensor *y = NULL;
            t1_make(&t, want_max ? "ArgMax" : "ArgMin", 13, 1, 1, 1, 1);
            PQ_EXPECT_OK(pq_op_set_int(t.op, "axis", 1, &err), &err);
            PQ_EXPECT_OK(pq_op_set_int(t.op, "select_last_index", last, &err), &err);
            PQ_EXPECT_OK(t1_run(&t, &x, &y, &err), &err);
            int bad = 0;
            for (int64_t a = 0; y && a < 20; a++)
                for (int64_t c = 0; c < 40; c++) {
                    int64_t best = 0;
                    for (int64_t b = 1; b < 300; b++) {
                        int32_t v = PQ_DATA(x, int32_t)[(a * 300 + b) * 40 + c];
                        int32_t w = PQ_DATA(x, int32_t)[(a * 300 + best) * 40 + c];
                        if (want_max ? (last ? v >= w : v > w) : (last ? v <= w : v < w))
                            best = b;
                    }
                    if (PQ_DATA(y, int64_t)[a * 40 + c] != best) bad++;
                }
            PQ_EXPECT(y && y->rank == 3 && y->dims[1] == 1);
            PQ_EXPECT_EQ(bad, 0);
            pq_tensor_destroy(&y);
            t1_free(&t);
        }
    pq_tensor_destroy(&x);
}

PQ_TEST(topk_errors_and_argmax_empty_axis)
{
    pq_err err = {0};
    t1_graph t;
    const int64_t dims[2] = {2, 3}, kd[1] = {1}, ed[2] = {2, 0};
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 2, dims), *k = t1_tensor(PQ_DTYPE_INT64, 1, kd);
    pq_tensor *ins[2] = {x, k}, *outs[2] = {0};
    PQ_DATA(k, int64_t)[0] = 4;
    t1_make(&t, "TopK", 11, 2, 3, 2, 3);
    PQ_EXPECT_EQ(t1_run(&t, ins, outs, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "K = 4");
    t1_free(&t);
    pq_tensor *e = t1_tensor(PQ_DTYPE_FLOAT32, 2, ed), *y = NULL;
    t1_make(&t, "ArgMax", 13, 1, 1, 1, 1);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "axis", 1, &err), &err);
    PQ_EXPECT_EQ(t1_run(&t, &e, &y, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "extent 0");
    t1_free(&t);
    pq_tensor_destroy(&e);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&k);
}

PQ_TEST(topk_large_matches_stable_order)
{
    pq_err err = {0};
    pq_rng r;
    pq_rng_seed(&r, 11);
    const int64_t dims[2] = {5, 1000}, kd[1] = {1};
    pq_tensor *x = random_tensor(PQ_DTYPE_INT32, 2, dims, &r, 0, 50);
    pq_tensor *k = t1_tensor(PQ_DTYPE_INT64, 1, kd);
    PQ_DATA(k, int64_t)[0] = 37;
    for (int largest = 0; largest < 2; largest++) {
        t1_graph t;
        pq_tensor *ins[2] = {x, k}, *outs[2] = {0};
        t1_make(&t, "TopK", 11, 2, 3, 2, 3);
        PQ_EXPECT_OK(pq_op_set_int(t.op, "largest", largest, &err), &err);
        PQ_EXPECT_OK(t1_run(&t, ins, outs, &err), &err);
        int bad = 0;
        for (int64_t row = 0; outs[0] && row < 5; row++) {
            const int32_t *xr = PQ_DATA(x, int32_t) + row * 1000;
            uint8_t used[1000] = {0};
            for (int64_t j = 0; j < 37; j++) {
                /* The j-th pick: best value, lowest index among equals, not used yet. */
                int64_t best = -1;
                for (int64_t i = 0; i < 1000; i++) {
                    if (used[i]) continue;
                    if (best < 0 || (largest ? xr[i] > xr[best] : xr[i] < xr[best])) best = i;
                }
                used[best] = 1;
                if (PQ_DATA(outs[1], int64_t)[row * 37 + j] != best ||
                    PQ_DATA(outs[0], int32_t)[row * 37 + j] != xr[best])
                    bad++;
            }
        }
        PQ_EXPECT_EQ(bad, 0);
        pq_tensor_destroy(&outs[0]);
        pq_tensor_destroy(&outs[1]);
        t1_free(&t);
    }
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&k);
}

PQ_TEST(cumsum_int64_and_float_axes)
{
    pq_err err = {0};
    pq_rng r;
    pq_rng_seed(&r, 12);
    const int64_t dims[3] = {3, 4, 5}, ad[1] = {1};
    pq_tensor *x = random_tensor(PQ_DTYPE_INT64, 3, dims, &r, -100, 100);
    pq_tensor *ax = t1_tensor(PQ_DTYPE_INT64, 1, ad);
    for (int axis = -3; axis < 3; axis++)
        for (int mode = 0; mode < 4; mode++) {
            t1_graph t;
            pq_tensor *ins[2] = {x, ax}, *y = NULL;
            PQ_DATA(ax, int64_t)[0] = axis;
            t1_make(&t, "CumSum", 14, 2, 3, 1, 1);
            PQ_EXPECT_OK(pq_op_set_int(t.op, "exclusive", mode & 1, &err), &err);
            PQ_EXPECT_OK(pq_op_set_int(t.op, "reverse", mode >> 1, &err), &err);
            PQ_EXPECT_OK(t1_run(&t, ins, &y, &err), &err);
            int a = axis < 0 ? axis + 3 : axis, bad = 0;
            int64_t stride = a == 0 ? 20 : a == 1 ? 5 : 1;
            for (int64_t i = 0; y && i < 60; i++) {
                int64_t pos = (i / stride) % dims[a], base = i - pos * stride, s = 0;
                for (int64_t j = 0; j < dims[a]; j++) {
                    int in = (mode >> 1) ? (j > pos || (!(mode & 1) && j == pos))
                                         : (j < pos || (!(mode & 1) && j == pos));
                    if (in) s += PQ_DATA(x, int64_t)[base + j * stride];
                }
                if (PQ_DATA(y, int64_t)[i] != s) bad++;
            }
            PQ_EXPECT_EQ(bad, 0);
            pq_tensor_destroy(&y);
            t1_free(&t);
        }
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&ax);
}

PQ_TEST_MAIN()

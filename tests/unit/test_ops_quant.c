/* test_ops_quant.c - the quantization arithmetic: round half to even on every tie in the
 * uint8/int8 ranges, saturation, NaN, per-axis layouts on large tensors (threaded path),
 * DequantizeLinear, DynamicQuantizeLinear corner cases, and the errors users can trigger. */
#include "test_ops_reduce_graph.h"

#include <fenv.h>
#include <stdlib.h>

static pq_tensor *scalar_f32(float v)
{
    pq_tensor *t = t1_tensor(PQ_DTYPE_FLOAT32, 0, NULL);
    PQ_DATA(t, float)[0] = v;
    return t;
}

static pq_tensor *scalar_q(pq_dtype dt, int v)
{
    pq_tensor *t = t1_tensor(dt, 0, NULL);
    if (dt == PQ_DTYPE_UINT8) PQ_DATA(t, uint8_t)[0] = (uint8_t)v;
    else PQ_DATA(t, int8_t)[0] = (int8_t)v;
    return t;
}

/* The reference rule, written differently from the kernel: nearbyint in round-to-nearest
 * mode is IEEE roundTiesToEven. */
static double ref_quant(float x, float s, int zp, int lo, int hi)
{
    float q = x / s;
    if (q != q) return zp;
    double r = nearbyint((double)q) + zp;
    return r < lo ? lo : r > hi ? hi : r;
}

PQ_TEST(quantize_every_tie_and_saturation)
{
    pq_err err = {0};
    PQ_EXPECT_EQ(fegetround(), FE_TONEAREST);
    const int64_t d[1] = {1207};
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 1, d);
    for (int64_t i = 0; i < 1201; i++) PQ_DATA(x, float)[i] = (float)(i - 600) * 0.5f;
    const float special[6] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, -0.0f};
    for (int i = 0; i < 6; i++) PQ_DATA(x, float)[1201 + i] = special[i];
    for (int signed_q = 0; signed_q < 2; signed_q++) {
        pq_dtype qt = signed_q ? PQ_DTYPE_INT8 : PQ_DTYPE_UINT8;
        int zp = signed_q ? -3 : 100, lo = signed_q ? -128 : 0, hi = signed_q ? 127 : 255;
        t1_graph t;
        pq_tensor *ins[3] = {x, scalar_f32(1.0f), scalar_q(qt, zp)}, *y = NULL;
        t1_make(&t, "QuantizeLinear", 13, 3, 7, 1, 1);
        PQ_EXPECT_OK(t1_run(&t, ins, &y, &err), &err);
        double ref[1207];
        for (int64_t i = 0; i < 1207; i++) ref[i] = ref_quant(PQ_DATA(x, float)[i], 1, zp, lo, hi);
        PQ_EXPECT(y && y->dtype == qt);
        t1_compare("QuantizeLinear ties", y, ref, 1207, 0, 0);
        /* Spot checks of the rule itself: 0.5 -> 0, 1.5 -> 2, -0.5 -> 0, -1.5 -> -2. */
        PQ_EXPECT_EQ(ref_quant(0.5f, 1, 0, -128, 127), 0);
        PQ_EXPECT_EQ(ref_quant(1.5f, 1, 0, -128, 127), 2);
        PQ_EXPECT_EQ(ref_quant(-1.5f, 1, 0, -128, 127), -2);
        PQ_EXPECT_EQ(pq_tensor_get_i64(y, 1201), zp); /* NaN -> zero point */
        PQ_EXPECT_EQ(pq_tensor_get_i64(y, 1202), hi);
        PQ_EXPECT_EQ(pq_tensor_get_i64(y, 1203), lo);
        pq_tensor_destroy(&ins[1]);
        pq_tensor_destroy(&ins[2]);
        pq_tensor_destroy(&y);
        t1_free(&t);
    }
    pq_tensor_destroy(&x);
}

PQ_TEST(quantize_dequantize_per_axis_large)
{
    pq_err err = {0};
    pq_rng r;
    pq_rng_seed(&r, 30);
    const int64_t xd[4] = {4, 32, 40, 40}, cd[1] = {32};
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 4, xd), *s = t1_tensor(PQ_DTYPE_FLOAT32, 1, cd);
    pq_tensor *z = t1_tensor(PQ_DTYPE_INT8, 1, cd);
    for (int64_t i = 0; i < x->numel; i++) PQ_DATA(x, float)[i] = (float)(pq_rng_normal(&r) * 3);
    for (int64_t c = 0; c < 32; c++) {
        PQ_DATA(s, float)[c] = (float)(0.01 + 0.05 * pq_rng_uniform(&r));
        PQ_DATA(z, int8_t)[c] = (int8_t)(c - 16);
    }
    t1_graph t;
    pq_tensor *ins[3] = {x, s, z}, *q = NULL, *y = NULL;
    t1_make(&t, "QuantizeLinear", 13, 3, 7, 1, 1);
    PQ_EXPECT_OK(t1_run(&t, ins, &q, &err), &err); /* axis defaults to 1 */
    t1_free(&t);
    double *ref = malloc((size_t)x->numel * sizeof *ref);
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t c = (i / 1600) % 32;
        ref[i] = ref_quant(PQ_DATA(x, float)[i], PQ_DATA(s, float)[c], c - 16, -128, 127);
    }
    t1_compare("QuantizeLinear per-axis", q, ref, x->numel, 0, 0);
    pq_tensor *dins[3] = {q, s, z};
    t1_make(&t, "DequantizeLinear", 13, 3, 7, 1, 1);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "axis", -3, &err), &err);
    PQ_EXPECT_OK(t1_run(&t, dins, &y, &err), &err);
    t1_free(&t);
    for (int64_t i = 0; q && i < x->numel; i++) {
        int64_t c = (i / 1600) % 32;
        ref[i] = (float)(PQ_DATA(q, int8_t)[i] - (c - 16)) * PQ_DATA(s, float)[c];
    }
    t1_compare("DequantizeLinear per-axis", y, ref, x->numel, 0, 0);
    free(ref);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&s);
    pq_tensor_destroy(&z);
    pq_tensor_destroy(&q);
    pq_tensor_destroy(&y);
}

PQ_TEST(quantize_float64_and_float16_inputs)
{
    pq_err err = {0};
    const int64_t d[1] = {5};
    const double v[5] = {0.5, 1.5, 2.5, -2.5, 300.0};
    pq_tensor *xd = t1_tensor(PQ_DTYPE_FLOAT64, 1, d), *xh = t1_tensor(PQ_DTYPE_FLOAT16, 1, d);
    for (int i = 0; i < 5; i++) {
        PQ_DATA(xd, double)[i] = v[i];
        PQ_DATA(xh, uint16_t)[i] = pq_f32_to_f16((float)v[i]);
    }
    const double ref[5] = {0, 2, 2, -2, 127};
    for (int k = 0; k < 2; k++) {
        t1_graph t;
        pq_tensor *ins[3] = {k ? xh : xd, scalar_f32(1.0f), scalar_q(PQ_DTYPE_INT8, 0)}, *y = NULL;
        t1_make(&t, "QuantizeLinear", 13, 3, 7, 1, 1);
        PQ_EXPECT_OK(t1_run(&t, ins, &y, &err), &err);
        t1_compare(k ? "QuantizeLinear float16" : "QuantizeLinear float64", y, ref, 5, 0, 0);
        pq_tensor_destroy(&ins[1]);
        pq_tensor_destroy(&ins[2]);
        pq_tensor_destroy(&y);
        t1_free(&t);
    }
    pq_tensor_destroy(&xd);
    pq_tensor_destroy(&xh);
}

PQ_TEST(quant_errors)
{
    pq_err err = {0};
    const int64_t xd[2] = {2, 3}, sd[1] = {3};
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 2, xd), *s = t1_tensor(PQ_DTYPE_FLOAT32, 1, sd);
    pq_tensor *z32 = t1_tensor(PQ_DTYPE_INT32, 0, NULL), *y = NULL;
    pq_tensor *ins[3] = {x, s, NULL};
    t1_graph t;
    /* Per-axis scale at opset 10. */
    t1_make(&t, "QuantizeLinear", 10, 3, 3, 1, 1);
    PQ_EXPECT_EQ(t1_run(&t, ins, &y, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "opset 13");
    t1_free(&t);
    /* Scale length does not match axis 0. */
    t1_make(&t, "QuantizeLinear", 13, 3, 3, 1, 1);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "axis", 0, &err), &err);
    PQ_EXPECT_EQ(t1_run(&t, ins, &y, &err), PQ_ERR_INVALID);
    t1_free(&t);
    /* int32 zero point for QuantizeLinear. */
    pq_tensor *one = scalar_f32(1.0f);
    pq_tensor *ins2[3] = {x, one, z32};
    t1_make(&t, "QuantizeLinear", 13, 3, 7, 1, 1);
    PQ_EXPECT_EQ(t1_run(&t, ins2, &y, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "uint8 or int8");
    t1_free(&t);
    /* DequantizeLinear of float data. */
    t1_make(&t, "DequantizeLinear", 13, 3, 3, 1, 1);
    pq_tensor *ins3[3] = {x, one, NULL};
    PQ_EXPECT_EQ(t1_run(&t, ins3, &y, &err), PQ_ERR_UNSUPPORTED);
    t1_free(&t);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&s);
    pq_tensor_destroy(&z32);
    pq_tensor_destroy(&one);
}

static void dyn_case(const float *v, int64_t n, float exp_scale, int exp_zp)
{
    pq_err err = {0};
    const int64_t d[1] = {n};
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 1, d), *outs[3] = {0};
    memcpy(x->data, v, (size_t)n * sizeof *v);
    t1_graph t;
    t1_make(&t, "DynamicQuantizeLinear", 11, 1, 1, 3, 7);
    PQ_EXPECT_OK(t1_run(&t, &x, outs, &err), &err);
    if (outs[1] && outs[2]) {
        PQ_EXPECT(outs[1]->rank == 0 && outs[2]->rank == 0);
        PQ_EXPECT_NEAR(PQ_DATA(outs[1], float)[0], exp_scale, 0);
        PQ_EXPECT_EQ(PQ_DATA(outs[2], uint8_t)[0], exp_zp);
        double *ref = malloc((size_t)n * sizeof *ref);
        for (int64_t i = 0; i < n; i++) ref[i] = ref_quant(v[i], exp_scale, exp_zp, 0, 255);
        t1_compare("DynamicQuantizeLinear y", outs[0], ref, n, 0, 0);
        free(ref);
    }
    for (int i = 0; i < 3; i++) pq_tensor_destroy(&outs[i]);
    pq_tensor_destroy(&x);
    t1_free(&t);
}

PQ_TEST(dynamic_quantize_corners)
{
    /* All zeros: the specification divides 0 by 0; we use scale 1 like onnxruntime. */
    const float zeros[4] = {0, 0, 0, 0};
    dyn_case(zeros, 4, 1.0f, 0);
    /* All negative: x_max is 0, the zero point saturates at 255. */
    const float neg[3] = {-1.0f, -2.55f, -0.5f};
    dyn_case(neg, 3, 2.55f / 255.0f, 255);
    /* NaN is left out of the range and quantizes to the zero point. */
    const float withnan[4] = {NAN, 1.0f, -1.0f, 0.25f};
    float sc = 2.0f / 255.0f;
    dyn_case(withnan, 4, sc, (int)nearbyint((double)(0.0f - -1.0f / sc)));
    /* Large: the threaded path. */
    pq_rng r;
    pq_rng_seed(&r, 31);
    int64_t n = 200000;
    float *big = malloc((size_t)n * sizeof *big), mn = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        big[i] = (float)(pq_rng_normal(&r) * 2 + 1);
        mn = big[i] < mn ? big[i] : mn;
        mx = big[i] > mx ? big[i] : mx;
    }
    float s = (mx - mn) / 255.0f;
    float zf = 0.0f - mn / s;
    dyn_case(big, n, s, (int)nearbyint(zf < 0 ? 0 : zf > 255 ? 255 : zf));
    free(big);
}

PQ_TEST_MAIN()

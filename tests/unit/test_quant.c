/* test_quant.c - quantization functions against hand-computed values (every rounding
 * policy, per-tensor, per-channel on axis 0 and 1, asymmetric uint8, symmetric int8,
 * power-of-two scales, degenerate tensors, NaN), bitwise agreement with the
 * QuantizeLinear/DequantizeLinear kernels, scale computation, dispatch of a shape
 * subgraph, parameter quantization, baking/dequantize/restore, simulation hooks,
 * simplify and alignment on small graphs. */
#include "pq_exec.h"
#include "pq_quant.h"
#include "pq_test.h"

#include <float.h>
#include <stdlib.h>

static pq_tqc make_tqc(unsigned policy, int64_t qmin, int64_t qmax, pq_rounding r, int64_t n,
                       const float *scales, const float *offsets, int axis)
{
    pq_tqc q;
    pq_err err = {0};
    memset(&q, 0, sizeof q);
    q.policy = policy;
    q.quant_min = qmin;
    q.quant_max = qmax;
    q.rounding = r;
    q.num_bits = 8;
    q.channel_axis = axis;
    q.state = PQ_TQC_STATE_ACTIVATED;
    PQ_EXPECT_OK(pq_tqc_set_channels(&q, n, &err), &err);
    for (int64_t c = 0; c < n; c++) {
        q.scale[c] = scales[c];
        q.offset[c] = offsets ? offsets[c] : 0.0f;
    }
    return q;
}

PQ_TEST(rounding_policies)
{
    static const float v[] = {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 0.49999997f, -2.6f, 2.4f,
                              8388609.0f};
    static const float want[7][10] = {
        /* half even */ {-2, -2, -0.0f, 0, 2, 2, 0, -3, 2, 8388609},
        /* half up */ {-2, -1, 0, 1, 2, 3, 0, -3, 2, 8388609},
        /* half down */ {-3, -2, -1, 0, 1, 2, 0, -3, 2, 8388609},
        /* half towards zero */ {-2, -1, 0, 0, 1, 2, 0, -3, 2, 8388609},
        /* half far from zero */ {-3, -2, -1, 1, 2, 3, 0, -3, 2, 8388609},
        /* up */ {-2, -1, 0, 1, 2, 3, 1, -2, 3, 8388609},
        /* down */ {-3, -2, -1, 0, 1, 2, 0, -3, 2, 8388609}};
    for (int r = 0; r < 7; r++)
        for (int i = 0; i < 10; i++) {
            float got = pq_quant_round(v[i], (pq_rounding)r);
            if (got != want[r][i])
                PQ_FAIL_AT("round(%.9g, %s) = %.9g, want %.9g", (double)v[i],
                           pq_rounding_name((pq_rounding)r), (double)got, (double)want[r][i]);
        }
}

PQ_TEST(fake_quant_symmetric_int8_every_rounding)
{
    /* scale 0.25: x / s = 4x exactly, so the rounding decides alone. */
    static const float x[] = {0.625f, 0.875f, -0.625f, 40.0f, -40.0f, 0.125f, 0.375f, -0.375f};
    static const int q_want[7][8] = {
        /* half even */ {2, 4, -2, 127, -127, 0, 2, -2},
        /* half up */ {3, 4, -2, 127, -127, 1, 2, -1},
        /* half down */ {2, 3, -3, 127, -127, 0, 1, -2},
        /* half towards zero */ {2, 3, -2, 127, -127, 0, 1, -1},
        /* half far from zero */ {3, 4, -3, 127, -127, 1, 2, -2},
        /* up */ {3, 4, -2, 127, -127, 1, 2, -1},
        /* down */ {2, 3, -3, 127, -127, 0, 1, -2}};
    float s = 0.25f;
    int64_t dims[1] = {8};
    for (int r = 0; r < 7; r++) {
        pq_err err = {0};
        pq_tqc q = make_tqc(PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR, -127,
                            127, (pq_rounding)r, 1, &s, NULL, 0);
        float y[8];
        int32_t qi[8];
        PQ_EXPECT_OK(pq_fake_quant(&q, 1, dims, x, y, &err), &err);
        PQ_EXPECT_OK(pq_quant_to_int(&q, 1, dims, x, qi, &err), &err);
        for (int i = 0; i < 8; i++) {
            if (y[i] != (float)q_want[r][i] * 0.25f)
                PQ_FAIL_AT("%s: fq(%g) = %g, want %g", pq_rounding_name((pq_rounding)r),
                           (double)x[i], (double)y[i], q_want[r][i] * 0.25);
            PQ_EXPECT_EQ(qi[i], q_want[r][i]);
        }
        pq_tqc_clear(&q);
    }
}

PQ_TEST(fake_quant_asymmetric_uint8)
{
    /* scale 0.5, zero point 10, [0, 255]. */
    static const float x[] = {-5.0f, -6.0f, 0.0f, 1.25f, 122.5f, 123.0f, 0.75f, 1.75f};
    static const float want[] = {-5.0f, -5.0f, 0.0f, 1.0f, 122.5f, 122.5f, 1.0f, 2.0f};
    static const int32_t qwant[] = {0, 0, 10, 12, 255, 255, 12, 14};
    float s = 0.5f, o = 10.0f;
    pq_err err = {0};
    pq_tqc q = make_tqc(PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_ASYMMETRIC | PQ_QPOLICY_LINEAR, 0, 255,
                        PQ_ROUND_HALF_EVEN, 1, &s, &o, 0);
    int64_t dims[1] = {8};
    float y[8];
    int32_t qi[8];
    PQ_EXPECT_OK(pq_fake_quant(&q, 1, dims, x, y, &err), &err);
    PQ_EXPECT_OK(pq_quant_to_int(&q, 1, dims, x, qi, &err), &err);
    for (int i = 0; i < 8; i++) {
        PQ_EXPECT_NEAR(y[i], want[i], 0);
        PQ_EXPECT_EQ(qi[i], qwant[i]);
    }
    pq_tqc_clear(&q);
}

PQ_TEST(fake_quant_per_channel_axis0_axis1)
{
    pq_err err = {0};
    int64_t dims[2] = {2, 3};
    /* axis 0: scales 0.5, 0.25 (int8 [-128, 127]) */
    float s0[2] = {0.5f, 0.25f};
    pq_tqc q0 = make_tqc(PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR, -128,
                         127, PQ_ROUND_HALF_EVEN, 2, s0, NULL, 0);
    float x0[6] = {1.25f, -0.75f, 100.0f, 1.25f, -0.375f, 100.0f};
    float w0[6] = {1.0f, -1.0f, 63.5f, 1.25f, -0.5f, 31.75f};
    float y[6];
    PQ_EXPECT_OK(pq_fake_quant(&q0, 2, dims, x0, y, &err), &err);
    for (int i = 0; i < 6; i++) PQ_EXPECT_NEAR(y[i], w0[i], 0);
    /* axis 1: scales 0.5, 0.25, 1 */
    float s1[3] = {0.5f, 0.25f, 1.0f};
    pq_tqc q1 = make_tqc(PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR, -128,
                         127, PQ_ROUND_HALF_EVEN, 3, s1, NULL, 1);
    float x1[6] = {0.25f, 0.25f, 0.5f, 1.0f, -1.0f, -0.5f};
    float w1[6] = {0.0f, 0.25f, 0.0f, 1.0f, -1.0f, 0.0f};
    PQ_EXPECT_OK(pq_fake_quant(&q1, 2, dims, x1, y, &err), &err);
    for (int i = 0; i < 6; i++) PQ_EXPECT_NEAR(y[i], w1[i], 0);
    /* a channel count that does not fit the axis is refused */
    PQ_EXPECT_EQ(pq_fake_quant(&q1, 2, (int64_t[]){3, 2}, x1, y, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "3 channels");
    pq_tqc_clear(&q0);
    pq_tqc_clear(&q1);
}

/* QuantizeLinear -> DequantizeLinear in the executor vs pq_fake_quant: bit for bit. */
static void qdq_case(int per_axis, pq_dtype zdt)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_tensor *x = NULL, *out = NULL;
    const int64_t C = 8, dims[4] = {3, 8, 5, 7};
    PQ_EXPECT_OK(pq_graph_create("qdq", &g, &err), &err);
    PQ_EXPECT_OK(pq_graph_set_opset(g, "", 13, &err), &err);
    pq_var *vx, *vs, *vz, *vq, *vy;
    pq_tensor *ts = NULL, *tz = NULL;
    int64_t n = per_axis ? C : 1;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, per_axis ? 1 : 0, &n, &ts, &err), &err);
    PQ_EXPECT_OK(pq_tensor_create(zdt, per_axis ? 1 : 0, &n, &tz, &err), &err);
    float scales[8], offs[8];
    for (int64_t c = 0; c < n; c++) {
        scales[c] = 0.0173f * (float)(c + 1) / 3.0f;
        offs[c] = zdt == PQ_DTYPE_UINT8 ? (float)(100 + 5 * c) : 0.0f;
        PQ_DATA(ts, float)[c] = scales[c];
        if (zdt == PQ_DTYPE_UINT8)
            PQ_DATA(tz, uint8_t)[c] = (uint8_t)offs[c];
    }
    PQ_EXPECT_OK(pq_graph_create_var(g, "x", &vx, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_parameter(g, "s", ts, &vs, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_parameter(g, "z", tz, &vz, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "q", &vq, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "y", &vy, &err), &err);
    pq_op *qo, *dq;
    PQ_EXPECT_OK(pq_graph_create_op(g, "QuantizeLinear", "Q", "", 13, &qo, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(g, "DequantizeLinear", "DQ", "", 13, &dq, &err), &err);
    pq_graph_add_input(g, qo, vx, &err);
    pq_graph_add_input(g, qo, vs, &err);
    pq_graph_add_input(g, qo, vz, &err);
    pq_graph_add_output(g, qo, vq, &err);
    pq_graph_add_input(g, dq, vq, &err);
    pq_graph_add_input(g, dq, vs, &err);
    pq_graph_add_input(g, dq, vz, &err);
    pq_graph_add_output(g, dq, vy, &err);
    pq_graph_mark_input(g, vx, &err);
    pq_graph_mark_output(g, vy, &err);
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 4, dims, &x, &err), &err);
    pq_rng rng;
    pq_rng_seed(&rng, 42);
    float *xd = x->data;
    for (int64_t i = 0; i < x->numel; i++) xd[i] = (float)(pq_rng_normal(&rng) * 1.5);
    /* exact ties: x = (k + 0.5) * s for a few elements of channel 0 */
    for (int k = 0; k < 5; k++) xd[k] = ((float)k + 0.5f) * scales[0];
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    const char *fn = "x", *rn = "y";
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &fn, &x, 1, &rn, &out, &err), &err);
    pq_tqc q = make_tqc((per_axis ? PQ_QPOLICY_PER_CHANNEL : PQ_QPOLICY_PER_TENSOR) |
                            (zdt == PQ_DTYPE_UINT8 ? PQ_QPOLICY_ASYMMETRIC : PQ_QPOLICY_SYMMETRIC),
                        zdt == PQ_DTYPE_UINT8 ? 0 : -128, zdt == PQ_DTYPE_UINT8 ? 255 : 127,
                        PQ_ROUND_HALF_EVEN, n, scales, offs, 1);
    float *y = malloc((size_t)x->numel * sizeof *y);
    PQ_EXPECT_OK(pq_fake_quant(&q, 4, dims, xd, y, &err), &err);
    int64_t mism = 0;
    for (int64_t i = 0; out && i < x->numel; i++)
        mism += memcmp(&y[i], &PQ_DATA(out, float)[i], sizeof(float)) != 0;
    PQ_EXPECT_EQ(mism, 0);
    free(y);
    pq_tqc_clear(&q);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&out);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
}

PQ_TEST(fake_quant_matches_quantize_linear_bitwise)
{
    qdq_case(0, PQ_DTYPE_UINT8);
    qdq_case(1, PQ_DTYPE_UINT8);
    qdq_case(0, PQ_DTYPE_INT8);
    qdq_case(1, PQ_DTYPE_INT8);
}

PQ_TEST(scale_from_range)
{
    pq_err err = {0};
    pq_tqc q;
    memset(&q, 0, sizeof q);
    float mn = -2.54f, mx = 1.0f;
    /* symmetric [-127, 127]: amax / 127 */
    q.policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR;
    q.quant_min = -127;
    q.quant_max = 127;
    PQ_EXPECT_OK(pq_tqc_set_range(&q, 1, &mn, &mx, &err), &err);
    PQ_EXPECT_NEAR(q.scale[0], (float)(2.54f / 127.0), 0);
    PQ_EXPECT_NEAR(q.offset[0], 0, 0);
    /* symmetric [-128, 127]: PPQ's amax / 127.5 */
    q.quant_min = -128;
    PQ_EXPECT_OK(pq_tqc_set_range(&q, 1, &mn, &mx, &err), &err);
    PQ_EXPECT_NEAR(q.scale[0], (float)((double)2.54f / 127.5), 0);
    /* power of two: 2.54 / 127.5 = 0.0199 -> 2^-5 */
    q.policy |= PQ_QPOLICY_POWER_OF_2;
    PQ_EXPECT_OK(pq_tqc_set_range(&q, 1, &mn, &mx, &err), &err);
    PQ_EXPECT_NEAR(q.scale[0], 0.03125, 0);
    /* an exact power of two stays: amax 2^-3 * 127.5 -> scale 2^-8 */
    float m2 = -0.125f * 127.5f / 16.0f, z = 0.0f;
    PQ_EXPECT_OK(pq_tqc_set_range(&q, 1, &m2, &z, &err), &err);
    PQ_EXPECT_NEAR(q.scale[0], 0.0078125 / 1.0, 0);
    /* asymmetric uint8 [-1, 3]: scale 4 / 255, zero point round(255 / 4) = 64 */
    q.policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_ASYMMETRIC | PQ_QPOLICY_LINEAR;
    q.quant_min = 0;
    q.quant_max = 255;
    float a = -1.0f, b = 3.0f;
    PQ_EXPECT_OK(pq_tqc_set_range(&q, 1, &a, &b, &err), &err);
    PQ_EXPECT_NEAR(q.scale[0], (float)(4.0 / 255.0), 0);
    PQ_EXPECT_NEAR(q.offset[0], 64, 0);
    /* a positive-only range is widened to 0: [2, 5] -> [0, 5], zero point 0 */
    a = 2.0f;
    b = 5.0f;
    PQ_EXPECT_OK(pq_tqc_set_range(&q, 1, &a, &b, &err), &err);
    PQ_EXPECT_NEAR(q.scale[0], (float)(5.0 / 255.0), 0);
    PQ_EXPECT_NEAR(q.offset[0], 0, 0);
    /* NaN bound */
    a = NAN;
    PQ_EXPECT_EQ(pq_tqc_set_range(&q, 1, &a, &b, &err), PQ_ERR_NUMERIC);
    pq_tqc_clear(&q);
}

PQ_TEST(degenerate_tensors)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    int64_t dims[2] = {2, 4};
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 2, dims, &t, &err), &err);
    float mins[2], maxs[2];
    pq_tqc q;
    memset(&q, 0, sizeof q);
    q.policy = PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR;
    q.quant_min = -127;
    q.quant_max = 127;
    q.channel_axis = 0;
    /* all zeros: minimum scale 1e-8, zeros stay zeros */
    PQ_EXPECT_OK(pq_quant_minmax(t, 0, mins, maxs, &err), &err);
    PQ_EXPECT_OK(pq_tqc_set_range(&q, 2, mins, maxs, &err), &err);
    PQ_EXPECT_NEAR(q.scale[0], 1e-8f, 0);
    PQ_EXPECT_OK(pq_fake_quant_tensor(&q, t, &err), &err);
    for (int i = 0; i < 8; i++) PQ_EXPECT_NEAR(PQ_DATA(t, float)[i], 0, 0);
    /* constant tensor (3.0 everywhere), asymmetric uint8: the constant is the top level */
    for (int i = 0; i < 8; i++) PQ_DATA(t, float)[i] = 3.0f;
    q.policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_ASYMMETRIC | PQ_QPOLICY_LINEAR;
    q.quant_min = 0;
    q.quant_max = 255;
    PQ_EXPECT_OK(pq_quant_minmax(t, -1, mins, maxs, &err), &err);
    PQ_EXPECT_NEAR(mins[0], 3.0, 0);
    PQ_EXPECT_OK(pq_tqc_set_range(&q, 1, mins, maxs, &err), &err);
    PQ_EXPECT_NEAR(q.offset[0], 0, 0);
    PQ_EXPECT_OK(pq_fake_quant_tensor(&q, t, &err), &err);
    PQ_EXPECT_NEAR(PQ_DATA(t, float)[5], 3.0, 3e-7);
    /* denormals: range below the minimum scale, everything becomes 0 */
    PQ_DATA(t, float)[0] = 1e-40f;
    PQ_DATA(t, float)[1] = -3e-41f;
    for (int i = 2; i < 8; i++) PQ_DATA(t, float)[i] = 0.0f;
    q.policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR;
    q.quant_min = -127;
    q.quant_max = 127;
    PQ_EXPECT_OK(pq_quant_minmax(t, -1, mins, maxs, &err), &err);
    PQ_EXPECT_OK(pq_tqc_set_range(&q, 1, mins, maxs, &err), &err);
    PQ_EXPECT_NEAR(q.scale[0], 1e-8f, 0);
    PQ_EXPECT_OK(pq_fake_quant_tensor(&q, t, &err), &err);
    PQ_EXPECT_NEAR(PQ_DATA(t, float)[0], 0, 0);
    /* NaN: an error from min/max and from fake quantization */
    PQ_DATA(t, float)[3] = NAN;
    PQ_EXPECT_EQ(pq_quant_minmax(t, -1, mins, maxs, &err), PQ_ERR_NUMERIC);
    PQ_EXPECT_CONTAINS(err.msg, "element 3");
    PQ_EXPECT_EQ(pq_fake_quant_tensor(&q, t, &err), PQ_ERR_NUMERIC);
    PQ_EXPECT_CONTAINS(err.msg, "NaN");
    /* inf saturates in fake quantization (as QuantizeLinear) but is refused as a range */
    PQ_DATA(t, float)[3] = INFINITY;
    q.scale[0] = 0.5f;
    PQ_EXPECT_OK(pq_fake_quant_tensor(&q, t, &err), &err);
    PQ_EXPECT_NEAR(PQ_DATA(t, float)[3], 63.5, 0);
    PQ_DATA(t, float)[3] = INFINITY;
    PQ_EXPECT_EQ(pq_quant_minmax(t, -1, mins, maxs, &err), PQ_ERR_NUMERIC);
    /* a zero scale is refused */
    q.scale[0] = 0.0f;
    PQ_EXPECT_EQ(pq_fake_quant_tensor(&q, t, &err), PQ_ERR_INVALID);
    pq_tqc_clear(&q);
    pq_tensor_destroy(&t);
}

PQ_TEST(large_tensor_parallel_equals_serial)
{
    /* Above the OpenMP threshold: per-tensor and per-channel results equal an element loop. */
    pq_err err = {0};
    const int64_t dims[4] = {4, 16, 40, 40};
    int64_t n = 4 * 16 * 40 * 40;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    pq_rng rng;
    pq_rng_seed(&rng, 7);
    for (int64_t i = 0; i < n; i++) x[i] = (float)pq_rng_normal(&rng);
    float sc[16], of[16];
    for (int c = 0; c < 16; c++) {
        sc[c] = 0.01f + 0.003f * (float)c;
        of[c] = (float)(120 + c);
    }
    pq_tqc q = make_tqc(PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_ASYMMETRIC, 0, 255, PQ_ROUND_HALF_UP,
                        16, sc, of, 1);
    PQ_EXPECT_OK(pq_fake_quant(&q, 4, dims, x, y, &err), &err);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = (i / 1600) % 16;
        float v = pq_quant_round(x[i] / sc[c], PQ_ROUND_HALF_UP) + of[c];
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        bad += y[i] != (v - of[c]) * sc[c];
    }
    PQ_EXPECT_EQ(bad, 0);
    pq_tqc_clear(&q);
    free(x);
    free(y);
}

/* ------------------------------------------------------------------ small graphs */

/* x[2,3] -> MatMul(W[3,2]) -> m -> Relu -> r; Shape(r) -> Gather(0) -> Unsqueeze -> Concat(-1)
 * -> Reshape(r, .) -> y */
static pq_graph *shape_graph(void)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    PQ_EXPECT_OK(pq_graph_create("sg", &g, &err), &err);
    pq_graph_set_opset(g, "", 13, &err);
    pq_tensor *w = NULL, *idx = NULL, *ax = NULL, *m1 = NULL;
    int64_t wd[2] = {3, 2}, one = 1;
    pq_tensor_create(PQ_DTYPE_FLOAT32, 2, wd, &w, &err);
    static const float wv[6] = {0.5f, -1.0f, 0.25f, 2.0f, -0.75f, 0.1f};
    memcpy(w->data, wv, sizeof wv);
    pq_tensor_create(PQ_DTYPE_INT64, 0, NULL, &idx, &err);
    pq_tensor_create(PQ_DTYPE_INT64, 1, &one, &ax, &err);
    pq_tensor_create(PQ_DTYPE_INT64, 1, &one, &m1, &err);
    PQ_DATA(m1, int64_t)[0] = -1;
    pq_var *x, *W, *m, *r, *s, *gi, *gv, *ua, *uv, *mv, *cv, *y;
    pq_graph_create_var(g, "x", &x, &err);
    pq_graph_create_parameter(g, "W", w, &W, &err);
    pq_graph_create_parameter(g, "idx", idx, &gi, &err);
    pq_graph_create_parameter(g, "axes", ax, &ua, &err);
    pq_graph_create_parameter(g, "minus1", m1, &mv, &err);
    pq_graph_create_var(g, "m", &m, &err);
    pq_graph_create_var(g, "r", &r, &err);
    pq_graph_create_var(g, "s", &s, &err);
    pq_graph_create_var(g, "gv", &gv, &err);
    pq_graph_create_var(g, "uv", &uv, &err);
    pq_graph_create_var(g, "cv", &cv, &err);
    pq_graph_create_var(g, "y", &y, &err);
    pq_op *mm, *relu, *sh, *ga, *un, *cat, *rs;
    pq_graph_create_op(g, "MatMul", "mm", NULL, 0, &mm, &err);
    pq_graph_create_op(g, "Relu", "relu", NULL, 0, &relu, &err);
    pq_graph_create_op(g, "Shape", "shape", NULL, 0, &sh, &err);
    pq_graph_create_op(g, "Gather", "gather", NULL, 0, &ga, &err);
    pq_graph_create_op(g, "Unsqueeze", "unsq", NULL, 0, &un, &err);
    pq_graph_create_op(g, "Concat", "cat", NULL, 0, &cat, &err);
    pq_graph_create_op(g, "Reshape", "reshape", NULL, 0, &rs, &err);
    pq_op_set_int(cat, "axis", 0, &err);
    pq_graph_add_input(g, mm, x, &err);
    pq_graph_add_input(g, mm, W, &err);
    pq_graph_add_output(g, mm, m, &err);
    pq_graph_add_input(g, relu, m, &err);
    pq_graph_add_output(g, relu, r, &err);
    pq_graph_add_input(g, sh, r, &err);
    pq_graph_add_output(g, sh, s, &err);
    pq_graph_add_input(g, ga, s, &err);
    pq_graph_add_input(g, ga, gi, &err);
    pq_graph_add_output(g, ga, gv, &err);
    pq_graph_add_input(g, un, gv, &err);
    pq_graph_add_input(g, un, ua, &err);
    pq_graph_add_output(g, un, uv, &err);
    pq_graph_add_input(g, cat, uv, &err);
    pq_graph_add_input(g, cat, mv, &err);
    pq_graph_add_output(g, cat, cv, &err);
    pq_graph_add_input(g, rs, r, &err);
    pq_graph_add_input(g, rs, cv, &err);
    pq_graph_add_output(g, rs, y, &err);
    pq_graph_mark_input(g, x, &err);
    pq_graph_mark_output(g, y, &err);
    PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
    return g;
}

PQ_TEST(dispatch_keeps_shape_subgraph_soi)
{
    pq_err err = {0};
    static const char *const names[] = {"pursus", "conservative", "aggressive", "allin"};
    const pq_platform *trt = pq_platform_find("trt_int8");
    PQ_EXPECT(trt != NULL);
    for (int d = 0; d < 4; d++) {
        pq_graph *g = shape_graph();
        PQ_EXPECT_OK(pq_dispatch(g, names[d], trt, NULL, 0, &err), &err);
        PQ_EXPECT_EQ(pq_graph_find_op(g, "mm")->platform, PQ_PLATFORM_TRT_INT8);
        PQ_EXPECT_EQ(pq_graph_find_op(g, "relu")->platform, PQ_PLATFORM_TRT_INT8);
        PQ_EXPECT_EQ(pq_graph_find_op(g, "reshape")->platform, PQ_PLATFORM_TRT_INT8);
        /* Concat is a TensorRT-quantized type, but here it computes a shape. */
        static const char *const soi[] = {"shape", "gather", "unsq", "cat"};
        for (int k = 0; k < 4; k++)
            if (pq_graph_find_op(g, soi[k])->platform != PQ_PLATFORM_SOI)
                PQ_FAIL_AT("%s: op %s dispatched to %s", names[d], soi[k],
                           pq_platform_id_name(pq_graph_find_op(g, soi[k])->platform));
        int64_t nq = 0;
        PQ_EXPECT_OK(pq_platform_quantize(trt, g, &nq, &err), &err);
        PQ_EXPECT_EQ(nq, 3);
        /* Reshape's shape input is never quantized. */
        pq_op *rs = pq_graph_find_op(g, "reshape");
        PQ_EXPECT_EQ(rs->qconfig->inputs[1].state, PQ_TQC_STATE_FP32);
        PQ_EXPECT_EQ(rs->qconfig->inputs[0].state, PQ_TQC_STATE_INITIAL);
        pq_graph_destroy(&g);
    }
    /* overrides: by name, unknown names refused */
    pq_graph *g = shape_graph();
    pq_dispatch_override ovr[1] = {{"relu", PQ_PLATFORM_FP32}};
    PQ_EXPECT_OK(pq_dispatch(g, "pursus", trt, ovr, 1, &err), &err);
    PQ_EXPECT_EQ(pq_graph_find_op(g, "relu")->platform, PQ_PLATFORM_FP32);
    pq_dispatch_override bad[1] = {{"nope", PQ_PLATFORM_FP32}};
    PQ_EXPECT_EQ(pq_dispatch(g, "pursus", trt, bad, 1, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "'nope'");
    PQ_EXPECT_EQ(pq_dispatch(g, "greedy", trt, NULL, 0, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "pursus");
    pq_graph_destroy(&g);
}

PQ_TEST(weights_bake_dequantize_restore_and_simulate)
{
    pq_err err = {0};
    pq_graph *g = shape_graph();
    const pq_platform *trt = pq_platform_find("trt_int8");
    PQ_EXPECT_OK(pq_dispatch(g, "pursus", trt, NULL, 0, &err), &err);
    PQ_EXPECT_OK(pq_platform_quantize(trt, g, NULL, &err), &err);
    pq_op *mm = pq_graph_find_op(g, "mm");
    pq_tqc *wq = &mm->qconfig->inputs[1];
    /* MatMul weight [3, 2]: per output channel = axis 1, symmetric [-127, 127] */
    PQ_EXPECT(wq->policy & PQ_QPOLICY_PER_CHANNEL);
    PQ_EXPECT_EQ(wq->channel_axis, 1);
    pq_qpass_stats stats = {0};
    PQ_EXPECT_OK(pq_quant_parameters(g, &stats, &err), &err);
    PQ_EXPECT_EQ(stats.changed, 1);
    PQ_EXPECT_EQ(wq->state, PQ_TQC_STATE_ACTIVATED);
    /* column maxima |.|: col0 max(0.5, 0.25, 0.75) = 0.75, col1 2.0 */
    PQ_EXPECT_NEAR(wq->scale[0], (float)(0.75 / 127.0), 0);
    PQ_EXPECT_NEAR(wq->scale[1], (float)(2.0 / 127.0), 0);

    /* simulation with weights only (activations INITIAL): y = relu(x @ fq(W)) */
    pq_executor *ex = NULL;
    pq_qsim *sim = NULL;
    pq_tensor *x = NULL, *y = NULL;
    int64_t xd[2] = {2, 3};
    pq_tensor_create(PQ_DTYPE_FLOAT32, 2, xd, &x, &err);
    static const float xv[6] = {1.0f, 2.0f, 3.0f, -1.0f, 0.5f, 0.25f};
    memcpy(x->data, xv, sizeof xv);
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    PQ_EXPECT_OK(pq_qsim_create(ex, &sim, &err), &err);
    const char *fn = "x", *rn = "y";
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &fn, &x, 1, &rn, &y, &err), &err);
    float wfq[6];
    PQ_EXPECT_OK(pq_fake_quant(wq, 2, (int64_t[]){3, 2},
                               PQ_DATA(pq_graph_find_var(g, "W")->value, float), wfq, &err),
                 &err);
    for (int i = 0; i < 2 && y; i++)
        for (int j = 0; j < 2; j++) {
            float acc = 0.0f;
            for (int k = 0; k < 3; k++) acc += xv[i * 3 + k] * wfq[k * 2 + j];
            acc = acc > 0 ? acc : 0;
            PQ_EXPECT_NEAR(PQ_DATA(y, float)[i * 2 + j], acc, 1e-6);
        }
    /* fq(W) differs from W (the test would not tell otherwise) */
    PQ_EXPECT(wfq[4] != -0.75f || wfq[1] != -1.0f || wfq[5] != 0.1f);
    PQ_EXPECT_EQ(pq_qsim_get_stats(sim).tensors, 1);
    pq_tensor_destroy(&y);

    /* bake: W's value becomes fq(W); simulation no longer touches it */
    pq_qstore *store = NULL;
    int64_t nb = 0;
    PQ_EXPECT_OK(pq_qstore_create(&store, &err), &err);
    PQ_EXPECT_OK(pq_quant_bake(g, store, &nb, &err), &err);
    PQ_EXPECT_EQ(nb, 1);
    PQ_EXPECT_EQ(wq->state, PQ_TQC_STATE_BAKED);
    const float *wv = PQ_DATA(pq_graph_find_var(g, "W")->value, float);
    for (int i = 0; i < 6; i++) PQ_EXPECT_NEAR(wv[i], wfq[i], 0);
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &fn, &x, 1, &rn, &y, &err), &err);
    PQ_EXPECT_EQ(pq_qsim_get_stats(sim).tensors, 1);
    pq_tensor_destroy(&y);
    /* dequantize: float weights and FP32 states; restore: back */
    PQ_EXPECT_OK(pq_quant_dequantize(g, store, &err), &err);
    PQ_EXPECT_EQ(wq->state, PQ_TQC_STATE_FP32);
    wv = PQ_DATA(pq_graph_find_var(g, "W")->value, float);
    PQ_EXPECT_NEAR(wv[5], 0.1f, 0);
    PQ_EXPECT_EQ(pq_quant_dequantize(g, store, &err), PQ_ERR_INVALID);
    PQ_EXPECT_OK(pq_quant_restore(g, store, &err), &err);
    PQ_EXPECT_EQ(wq->state, PQ_TQC_STATE_BAKED);
    wv = PQ_DATA(pq_graph_find_var(g, "W")->value, float);
    PQ_EXPECT_NEAR(wv[5], wfq[5], 0);
    PQ_EXPECT_EQ(pq_quant_restore(g, store, &err), PQ_ERR_INVALID);
    /* unbake: float weights and ACTIVATED for good */
    PQ_EXPECT_OK(pq_quant_unbake(g, store, &err), &err);
    PQ_EXPECT_EQ(wq->state, PQ_TQC_STATE_ACTIVATED);
    wv = PQ_DATA(pq_graph_find_var(g, "W")->value, float);
    PQ_EXPECT_NEAR(wv[5], 0.1f, 0);
    pq_qstore_destroy(&store);
    pq_qsim_destroy(&sim);
    pq_executor_destroy(&ex);
    pq_tensor_destroy(&x);
    pq_graph_destroy(&g);
}

PQ_TEST(simulation_replaces_inputs_and_quantizes_outputs)
{
    /* Activations with fixed scales: input x per-tensor asym uint8, relu output sym int8. */
    pq_err err = {0};
    pq_graph *g = shape_graph();
    const pq_platform *ort = pq_platform_find("ort_qdq_int8");
    PQ_EXPECT_OK(pq_dispatch(g, "pursus", ort, NULL, 0, &err), &err);
    PQ_EXPECT_OK(pq_platform_quantize(ort, g, NULL, &err), &err);
    pq_op *mm = pq_graph_find_op(g, "mm"), *relu = pq_graph_find_op(g, "relu");
    pq_tqc *xin = &mm->qconfig->inputs[0];
    PQ_EXPECT(xin->policy & PQ_QPOLICY_ASYMMETRIC);
    PQ_EXPECT_EQ(xin->quant_max, 255);
    float s = 0.5f, o = 3.0f;
    PQ_EXPECT_OK(pq_tqc_set_range(xin, 1, (float[]){-1.5f}, (float[]){126.0f}, &err), &err);
    PQ_EXPECT_NEAR(xin->scale[0], 0.5, 0);
    PQ_EXPECT_NEAR(xin->offset[0], o, 0);
    xin->state = PQ_TQC_STATE_ACTIVATED;
    pq_tqc *rout = &relu->qconfig->outputs[0];
    PQ_EXPECT_OK(pq_tqc_set_range(rout, 1, (float[]){0.0f}, (float[]){255.0f * 0.25f}, &err), &err);
    rout->state = PQ_TQC_STATE_ACTIVATED;
    pq_executor *ex = NULL;
    pq_qsim *sim = NULL;
    pq_tensor *x = NULL, *y = NULL;
    int64_t xd[2] = {2, 3};
    pq_tensor_create(PQ_DTYPE_FLOAT32, 2, xd, &x, &err);
    static const float xv[6] = {1.2f, 2.0f, 3.3f, -1.0f, 0.6f, 0.2f};
    memcpy(x->data, xv, sizeof xv);
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    PQ_EXPECT_OK(pq_qsim_create(ex, &sim, &err), &err);
    const char *fn = "x", *rn = "y";
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &fn, &x, 1, &rn, &y, &err), &err);
    /* the feed is untouched */
    PQ_EXPECT_NEAR(PQ_DATA(x, float)[0], 1.2f, 0);
    static const float W[6] = {0.5f, -1.0f, 0.25f, 2.0f, -0.75f, 0.1f};
    for (int i = 0; i < 2 && y; i++)
        for (int j = 0; j < 2; j++) {
            float acc = 0.0f;
            for (int k = 0; k < 3; k++) {
                float xq = (pq_quant_round(xv[i * 3 + k] / s, PQ_ROUND_HALF_EVEN) + o - o) * s;
                acc += xq * W[k * 2 + j];
            }
            acc = acc > 0 ? acc : 0;
            float yq = pq_quant_round(acc / 0.25f, PQ_ROUND_HALF_EVEN) * 0.25f;
            PQ_EXPECT_NEAR(PQ_DATA(y, float)[i * 2 + j], yq, 1e-6);
        }
    pq_tensor_destroy(&y);
    /* disabled: the float result */
    pq_qsim_enable(sim, 0);
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &fn, &x, 1, &rn, &y, &err), &err);
    float acc = 0.0f;
    for (int k = 0; k < 3; k++) acc += xv[k] * W[k * 2 + 1];
    PQ_EXPECT_NEAR(PQ_DATA(y, float)[1], acc > 0 ? acc : 0, 1e-6);
    pq_tensor_destroy(&y);
    /* NaN in the data: an error naming the input */
    pq_qsim_enable(sim, 1);
    PQ_DATA(x, float)[2] = NAN;
    PQ_EXPECT_EQ(pq_executor_run(ex, 1, &fn, &x, 1, &rn, &y, &err), PQ_ERR_NUMERIC);
    PQ_EXPECT_CONTAINS(err.msg, "input 0 ('x')");
    pq_qsim_destroy(&sim);
    pq_executor_destroy(&ex);
    pq_tensor_destroy(&x);
    pq_graph_destroy(&g);
}

PQ_TEST(simplify_overlaps)
{
    /* x -> MatMul -> m -> Relu -> r -> Reshape: on trt, Reshape's input reads the Relu's
     * output TQC and its output reads its input. */
    pq_err err = {0};
    pq_graph *g = shape_graph();
    const pq_platform *trt = pq_platform_find("trt_int8");
    PQ_EXPECT_OK(pq_dispatch(g, "pursus", trt, NULL, 0, &err), &err);
    PQ_EXPECT_OK(pq_platform_quantize(trt, g, NULL, &err), &err);
    pq_qpass_stats st = {0};
    PQ_EXPECT_OK(pq_quant_simplify(g, &st, &err), &err);
    pq_op *relu = pq_graph_find_op(g, "relu"), *rs = pq_graph_find_op(g, "reshape"),
          *mm = pq_graph_find_op(g, "mm");
    PQ_EXPECT_EQ(rs->qconfig->inputs[0].state, PQ_TQC_STATE_OVERLAPPED);
    PQ_EXPECT(pq_tqc_resolve(&rs->qconfig->inputs[0]) == &relu->qconfig->outputs[0]);
    PQ_EXPECT_EQ(rs->qconfig->outputs[0].state, PQ_TQC_STATE_OVERLAPPED);
    PQ_EXPECT(pq_tqc_resolve(&rs->qconfig->outputs[0]) == &relu->qconfig->outputs[0]);
    PQ_EXPECT(pq_tqc_resolve(&relu->qconfig->inputs[0]) == &mm->qconfig->outputs[0]);
    PQ_EXPECT_EQ(st.changed, 3);
    pq_graph_destroy(&g);
}

PQ_TEST(platform_table)
{
    int n = 0;
    const pq_platform *const *all = pq_platform_list(&n);
    PQ_EXPECT_EQ(n, 10);
    static const char *const names[] = {"fp32", "trt_int8", "ort_qdq_int8", "ppl_cuda_int8",
                                        "academic_int8", "dsp_int8", "nxp_int8", "snpe_int8",
                                        "ncnn_int8", "openvino_int8"};
    for (int k = 0; k < n && k < 10; k++) {
        PQ_EXPECT_STR(pq_platform_name(all[k]), names[k]);
        PQ_EXPECT(pq_platform_find(names[k]) == all[k]);
        PQ_EXPECT(pq_platform_by_id(pq_platform_id_of(all[k])) == all[k]);
    }
    PQ_EXPECT(pq_platform_find("tpu_int4") == NULL);
    PQ_EXPECT_EQ(pq_platform_id_of(pq_platform_find("fp32")), PQ_PLATFORM_FP32);
    PQ_EXPECT_STR(pq_platform_id_name(PQ_PLATFORM_SOI), "soi");
}

/* x1, x2 -> Concat -> c -> Clip(c, 0, 6) -> y, on dsp_int8 (asymmetric uint8, Concat
 * inputs aligned by max). */
PQ_TEST(alignment_and_passive_constants)
{
    pq_err err = {0};
    static const pq_align_mode modes[3] = {PQ_ALIGN_MAX, PQ_ALIGN_MIN, PQ_ALIGN_AVERAGE};
    /* input ranges [-1, 3] and [-2, 1]: union [-2, 3], intersection [-1, 1], mean [-1.5, 2] */
    static const double want_scale[3] = {5.0 / 255.0, 2.0 / 255.0, 3.5 / 255.0};
    for (int m = 0; m < 3; m++) {
        pq_graph *g = NULL;
        PQ_EXPECT_OK(pq_graph_create("al", &g, &err), &err);
        pq_graph_set_opset(g, "", 13, &err);
        pq_var *x1, *x2, *c, *lo, *hi, *y;
        pq_tensor *tl = NULL, *th = NULL;
        pq_tensor_create(PQ_DTYPE_FLOAT32, 0, NULL, &tl, &err);
        pq_tensor_create(PQ_DTYPE_FLOAT32, 0, NULL, &th, &err);
        PQ_DATA(th, float)[0] = 6.0f;
        pq_graph_create_var(g, "x1", &x1, &err);
        pq_graph_create_var(g, "x2", &x2, &err);
        pq_graph_create_var(g, "c", &c, &err);
        pq_graph_create_var(g, "y", &y, &err);
        pq_graph_create_parameter(g, "lo", tl, &lo, &err);
        pq_graph_create_parameter(g, "hi", th, &hi, &err);
        pq_op *cat, *clip;
        pq_graph_create_op(g, "Concat", "cat", NULL, 0, &cat, &err);
        pq_graph_create_op(g, "Clip", "clip", NULL, 0, &clip, &err);
        pq_op_set_int(cat, "axis", 0, &err);
        pq_graph_add_input(g, cat, x1, &err);
        pq_graph_add_input(g, cat, x2, &err);
        pq_graph_add_output(g, cat, c, &err);
        pq_graph_add_input(g, clip, c, &err);
        pq_graph_add_input(g, clip, lo, &err);
        pq_graph_add_input(g, clip, hi, &err);
        pq_graph_add_output(g, clip, y, &err);
        pq_graph_mark_input(g, x1, &err);
        pq_graph_mark_input(g, x2, &err);
        pq_graph_mark_output(g, y, &err);
        const pq_platform *dsp = pq_platform_find("dsp_int8");
        /* no computing op: pursus quantizes nothing, allin everything */
        PQ_EXPECT_OK(pq_dispatch(g, "pursus", dsp, NULL, 0, &err), &err);
        PQ_EXPECT_EQ(cat->platform, PQ_PLATFORM_FP32);
        PQ_EXPECT_OK(pq_dispatch(g, "allin", dsp, NULL, 0, &err), &err);
        PQ_EXPECT_OK(pq_platform_quantize(dsp, g, NULL, &err), &err);
        PQ_EXPECT_EQ(clip->qconfig->inputs[1].state, PQ_TQC_STATE_PASSIVE_INIT);
        PQ_EXPECT_OK(pq_quant_simplify(g, NULL, &err), &err);
        pq_tqc *i0 = &cat->qconfig->inputs[0], *i1 = &cat->qconfig->inputs[1];
        PQ_EXPECT(pq_tqc_resolve(&cat->qconfig->outputs[0]) == i0);
        PQ_EXPECT(pq_tqc_resolve(&clip->qconfig->inputs[0]) == i0);
        /* passive constants wait for their input */
        pq_qpass_stats ps = {0};
        PQ_EXPECT_OK(pq_quant_passive_parameters(g, &ps, &err), &err);
        PQ_EXPECT_EQ(ps.skipped, 2);
        PQ_EXPECT_OK(pq_tqc_set_range(i0, 1, (float[]){-1.0f}, (float[]){3.0f}, &err), &err);
        PQ_EXPECT_OK(pq_tqc_set_range(i1, 1, (float[]){-2.0f}, (float[]){1.0f}, &err), &err);
        i0->state = i1->state = PQ_TQC_STATE_ACTIVATED;
        /* the combined range is that of the quantization grids, close to the real one */
        float l0, h0, l1, h1, L, H;
        pq_tqc_range(i0, 0, &l0, &h0);
        pq_tqc_range(i1, 0, &l1, &h1);
        L = m == 0 ? fminf(l0, l1) : m == 1 ? fmaxf(l0, l1) : (l0 + l1) / 2.0f;
        H = m == 0 ? fmaxf(h0, h1) : m == 1 ? fminf(h0, h1) : (h0 + h1) / 2.0f;
        pq_qpass_stats as = {0};
        PQ_EXPECT_OK(pq_quant_align(g, modes[m], PQ_ALIGN_NONE, &as, &err), &err);
        PQ_EXPECT_EQ(as.changed, 2);
        PQ_EXPECT_NEAR(i0->scale[0], (float)(((double)H - (double)L) / 255.0), 0);
        PQ_EXPECT_NEAR(i0->scale[0], want_scale[m], 2e-3 * want_scale[m]);
        PQ_EXPECT_NEAR(i1->scale[0], i0->scale[0], 0);
        PQ_EXPECT_NEAR(i1->offset[0], i0->offset[0], 0);
        if (modes[m] == PQ_ALIGN_MAX) PQ_EXPECT_NEAR(i0->offset[0], 102, 0); /* 2 / (5/255) */
        float a, b;
        pq_tqc_range(&clip->qconfig->inputs[0], 0, &a, &b);
        PQ_EXPECT_NEAR(a, (0.0f - i0->offset[0]) * i0->scale[0], 0);
        ps.changed = ps.skipped = 0;
        PQ_EXPECT_OK(pq_quant_passive_parameters(g, &ps, &err), &err);
        PQ_EXPECT_EQ(ps.changed, 2);
        pq_tqc *ql = &clip->qconfig->inputs[1];
        PQ_EXPECT_EQ(ql->state, PQ_TQC_STATE_PASSIVE);
        PQ_EXPECT_NEAR(ql->scale[0], i0->scale[0], 0);
        PQ_EXPECT_NEAR(ql->offset[0], i0->offset[0], 0);
        pq_graph_destroy(&g);
    }
}

PQ_TEST(passive_bias_is_input_times_weight_scale)
{
    /* Conv with bias on ort_qdq_int8: bias scale[c] = s_x * s_w[c], offset 0, int32. */
    pq_err err = {0};
    pq_graph *g = NULL;
    PQ_EXPECT_OK(pq_graph_create("cb", &g, &err), &err);
    pq_graph_set_opset(g, "", 13, &err);
    pq_tensor *w = NULL, *b = NULL;
    int64_t wd[4] = {2, 1, 1, 1}, bd = 2;
    pq_tensor_create(PQ_DTYPE_FLOAT32, 4, wd, &w, &err);
    pq_tensor_create(PQ_DTYPE_FLOAT32, 1, &bd, &b, &err);
    PQ_DATA(w, float)[0] = 0.5f;
    PQ_DATA(w, float)[1] = -2.0f;
    PQ_DATA(b, float)[0] = 0.1f;
    PQ_DATA(b, float)[1] = -0.3f;
    pq_var *x, *W, *B, *y;
    pq_graph_create_var(g, "x", &x, &err);
    pq_graph_create_var(g, "y", &y, &err);
    pq_graph_create_parameter(g, "W", w, &W, &err);
    pq_graph_create_parameter(g, "B", b, &B, &err);
    pq_op *conv;
    pq_graph_create_op(g, "Conv", "conv", NULL, 0, &conv, &err);
    pq_graph_add_input(g, conv, x, &err);
    pq_graph_add_input(g, conv, W, &err);
    pq_graph_add_input(g, conv, B, &err);
    pq_graph_add_output(g, conv, y, &err);
    pq_graph_mark_input(g, x, &err);
    pq_graph_mark_output(g, y, &err);
    const pq_platform *ort = pq_platform_find("ort_qdq_int8");
    PQ_EXPECT_OK(pq_dispatch(g, "pursus", ort, NULL, 0, &err), &err);
    PQ_EXPECT_OK(pq_platform_quantize(ort, g, NULL, &err), &err);
    PQ_EXPECT_OK(pq_quant_parameters(g, NULL, &err), &err);
    pq_tqc *qx = &conv->qconfig->inputs[0], *qw = &conv->qconfig->inputs[1],
           *qb = &conv->qconfig->inputs[2];
    PQ_EXPECT_NEAR(qw->scale[0], (float)(0.5 / 127.0), 0);
    PQ_EXPECT_NEAR(qw->scale[1], (float)(2.0 / 127.0), 0);
    PQ_EXPECT_OK(pq_tqc_set_range(qx, 1, (float[]){-1.0f}, (float[]){1.55f}, &err), &err);
    qx->state = PQ_TQC_STATE_ACTIVATED;
    PQ_EXPECT_OK(pq_quant_passive_parameters(g, NULL, &err), &err);
    PQ_EXPECT_EQ(qb->state, PQ_TQC_STATE_PASSIVE);
    PQ_EXPECT_EQ(qb->n_channels, 2);
    PQ_EXPECT(qb->policy & PQ_QPOLICY_PER_CHANNEL);
    for (int c = 0; c < 2; c++) {
        PQ_EXPECT_NEAR(qb->scale[c], qx->scale[0] * qw->scale[c], 0);
        PQ_EXPECT_NEAR(qb->offset[c], 0, 0);
    }
    /* int32 values of the bias: round(b / (s_x s_w)) */
    int32_t qi[2];
    PQ_EXPECT_OK(pq_quant_to_int(qb, 1, &bd, PQ_DATA(b, float), qi, &err), &err);
    PQ_EXPECT_EQ(qi[0], (int32_t)lrint(0.1f / qb->scale[0]));
    PQ_EXPECT_EQ(qi[1], (int32_t)lrint(-0.3f / qb->scale[1]));
    pq_graph_destroy(&g);
}

PQ_TEST_MAIN()

/* quant.c - operator family: QuantizeLinear DequantizeLinear DynamicQuantizeLinear.
 *
 * These kernels pin the quantization arithmetic of ppq-calib; every rule below cites the
 * ONNX specification (opset 10/11/13):
 *
 * - QuantizeLinear: y = saturate(round(x / y_scale) + y_zero_point). x / y_scale is an
 *   IEEE division in float32 (float64 for float64 x), "rounding to nearest ties to even"
 *   (QuantizeLinear-10/13), then the zero point is added and the result saturated to
 *   [0, 255] for uint8 or [-128, 127] for int8. An omitted zero point means uint8 0.
 *   NaN has no integer image in the specification: it maps to the zero point (dequantizes
 *   to 0). +-inf saturate.
 * - DequantizeLinear: y = (x - x_zero_point) * x_scale in float32, the subtraction exact
 *   in integers.
 * - DynamicQuantizeLinear-11 (uint8): x_min = min(0, min(x)), x_max = max(0, max(x)),
 *   y_scale = (x_max - x_min) / 255, y_zero_point = round(saturate(0 - x_min / y_scale)),
 *   y = saturate(round(x / y_scale) + y_zero_point), all in float32 with ties to even.
 *   The specification divides by zero when x is all zeros (x_max == x_min == 0); like
 *   onnxruntime we then use y_scale = 1, which gives y = 0 and y_zero_point = 0. NaN
 *   elements are left out of min/max.
 * - Per-axis (opset 13): a 1-D y_scale/x_scale of length dims[axis] (axis default 1,
 *   negative counts from the back) applies per slice; a scalar or 1-element scale is
 *   per-tensor.
 */
#include "reduce_walk.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

/* Round half to even, as the ONNX quantization operators require ("rounding to nearest
 * ties to even", QuantizeLinear-10/13). For |v| <= 2^22, adding and subtracting 1.5 * 2^23
 * rounds v to an integer in the current rounding direction, which is round-to-nearest-even
 * (the C11 Annex F default; ppq-calib never changes it); larger magnitudes are integers
 * already. Unlike rintf this vectorises. It needs float expressions evaluated in float
 * (FLT_EVAL_METHOD 0, x86-64 SSE and AArch64), else we use nearbyint. */
#if FLT_EVAL_METHOD == 0
#define RHE_F32(v) (((v) + 0x1.8p23f) - 0x1.8p23f)
#define RHE_F64(v) (((v) + 0x1.8p52) - 0x1.8p52)
#else
#define RHE_F32(v) nearbyintf(v)
#define RHE_F64(v) nearbyint(v)
#endif

static inline float round_half_even_f32(float v)
{
    return fabsf(v) <= 0x1p22f ? RHE_F32(v) : v;
}

typedef struct quant_ctx {
    int64_t axis; /* opset 13: per-axis quantization axis */
} quant_ctx;

static void release_ctx(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

static pq_status prepare_axis(pq_exec_node *n, pq_err *err)
{
    quant_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing %s", n->def->name);
    n->ctx = c;
    c->axis = 1;
    if (n->def->since_version >= 13) {
        pq_status st = pq_op_get_int(n->op, "axis", 1, &c->axis, err);
        if (st != PQ_OK) {
            release_ctx(n);
            return st;
        }
    }
    return PQ_OK;
}

/* The (outer, channels, inner) view of x for a scale tensor: per-tensor when the scale
 * has one element, else per-axis along ctx->axis. Checks the zero point matches. */
typedef struct qlayout {
    int64_t outer, ch, inner;
} qlayout;

static pq_status quant_layout(const pq_exec_node *n, const pq_tensor *x, const pq_tensor *scale,
                              const pq_tensor *zp, qlayout *L, pq_err *err)
{
    const quant_ctx *c = n->ctx;
    const char *sname = strcmp(n->def->name, "DequantizeLinear") == 0 ? "x_scale" : "y_scale";
    if (scale->dtype != PQ_DTYPE_FLOAT32)
        return pq_err_set(err, PQ_ERR_INVALID, "%s has dtype %s, expected float32", sname,
                          pq_dtype_name(scale->dtype));
    if (scale->rank > 1)
        return pq_err_set(err, PQ_ERR_INVALID, "%s has rank %d, expected a scalar or 1-D",
                          sname, scale->rank);
    if (zp && zp->numel != scale->numel)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "zero point has %" PRId64 " elements, the scale %" PRId64, zp->numel,
                          scale->numel);
    L->outer = 1;
    L->ch = 1;
    L->inner = x->numel;
    if (scale->numel == 1) return PQ_OK;
    if (n->def->since_version < 13)
        return pq_err_set(err, PQ_ERR_INVALID, "%s-%d takes a scalar %s (per-axis needs opset 13)",
                          n->def->name, n->def->since_version, sname);
    int64_t axis = c->axis;
    if (axis < -x->rank || axis >= x->rank)
        return pq_err_set(err, PQ_ERR_INVALID, "axis %" PRId64 " is out of range for rank %d",
                          axis, x->rank);
    if (axis < 0) axis += x->rank;
    if (scale->numel != x->dims[axis])
        return pq_err_set(err, PQ_ERR_INVALID,
                          "%s has %" PRId64 " elements, axis %" PRId64 " of x has %" PRId64,
                          sname, scale->numel, axis, x->dims[axis]);
    L->ch = x->dims[axis];
    L->inner = 1;
    for (int d = 0; d < axis; d++) L->outer *= x->dims[d];
    for (int d = (int)axis + 1; d < x->rank; d++) L->inner *= x->dims[d];
    return PQ_OK;
}

/* ================================================================== QuantizeLinear */

/* Quantizes one run of values with one scale and zero point into [lo, hi]:
 * y = saturate(round_half_even(x / s) + zp). x / s is first clamped to
 * [lo - zp - 1, hi - zp + 1], which changes no result (rounding is monotone and anything
 * beyond saturates) and keeps it in the magic-number rounding's range; NaN (all
 * comparisons false) is then replaced by the zero point. Branch-free so that it
 * vectorises. */
#define DEF_QUANT_RUN(SUF, TX, TQ, TF, RHE)                                                \
    static void quant_run_##SUF(const TX *restrict x, TQ *restrict y, int64_t len, TF s,   \
                                TF zp, TF lo, TF hi)                                       \
    {                                                                                      \
        const TF dlo = lo - zp - 1, dhi = hi - zp + 1;                                     \
        PQ__SIMD                                                                           \
        for (int64_t i = 0; i < len; i++) {                                                \
            TF d = (TF)x[i] / s;                                                           \
            TF c = d < dlo ? dlo : d;                                                      \
            c = c > dhi ? dhi : c;                                                         \
            TF q = RHE(c) + zp;                                                            \
            q = q < lo ? lo : q;                                                           \
            q = q > hi ? hi : q;                                                           \
            q = d == d ? q : zp;                                                           \
            y[i] = (TQ)(int32_t)q;                                                         \
        }                                                                                  \
    }

DEF_QUANT_RUN(f32_u8, float, uint8_t, float, RHE_F32)
DEF_QUANT_RUN(f32_i8, float, int8_t, float, RHE_F32)
DEF_QUANT_RUN(i32_u8, int32_t, uint8_t, float, RHE_F32)
DEF_QUANT_RUN(i32_i8, int32_t, int8_t, float, RHE_F32)
DEF_QUANT_RUN(f64_u8, double, uint8_t, double, RHE_F64)
DEF_QUANT_RUN(f64_i8, double, int8_t, double, RHE_F64)

static pq_status run_quantize(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0], *scale = n->inputs[1], *zp = pq_node_input(n, 2);
    pq_tensor *y = NULL;
    float *xs = NULL;
    qlayout L;

    pq_dtype qt = zp ? zp->dtype : PQ_DTYPE_UINT8;
    PQ_CHECK(qt == PQ_DTYPE_UINT8 || qt == PQ_DTYPE_INT8, PQ_ERR_INVALID,
             "y_zero_point has dtype %s, expected uint8 or int8", pq_dtype_name(qt));
    pq_dtype xt = x->dtype;
    PQ_CHECK(xt == PQ_DTYPE_FLOAT32 || xt == PQ_DTYPE_INT32 || xt == PQ_DTYPE_FLOAT64 ||
                 xt == PQ_DTYPE_FLOAT16 || xt == PQ_DTYPE_BFLOAT16,
             PQ_ERR_UNSUPPORTED, "QuantizeLinear of %s data is not supported", pq_dtype_name(xt));
    PQ_TRY(quant_layout(n, x, scale, zp, &L, err));
    PQ_TRY(pq_node_output(n, 0, qt, x->rank, x->dims, 1, &y, err));
    const float lo = qt == PQ_DTYPE_UINT8 ? 0.0f : -128.0f;
    const float hi = qt == PQ_DTYPE_UINT8 ? 255.0f : 127.0f;
    const void *xd = x->data;
    if (xt == PQ_DTYPE_FLOAT16 || xt == PQ_DTYPE_BFLOAT16) {
        /* Half inputs (beyond ONNX 1.12, which takes float32 and int32) divide in float32. */
        xs = pq_malloc((size_t)(x->numel ? x->numel : 1) * sizeof *xs);
        PQ_CHECK(xs, PQ_ERR_NOMEM, "out of memory staging %s data", pq_dtype_name(xt));
        pq__half_to_f32(x, xs);
        xd = xs;
        xt = PQ_DTYPE_FLOAT32;
    }
    const float *sd = scale->data;
    int64_t blocks = L.outer * L.ch;
    PQ__PARALLEL_FOR(x->numel >= PQ__PARALLEL_MIN_WORK && blocks > 1)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t ch = b % L.ch, off = b * L.inner;
        float s = sd[ch];
        float z = zp ? (float)pq_tensor_get_i64(zp, ch) : 0.0f;
        if (xt == PQ_DTYPE_FLOAT64) {
            if (qt == PQ_DTYPE_UINT8)
                quant_run_f64_u8((const double *)xd + off, PQ_DATA(y, uint8_t) + off, L.inner, s,
                                 z, lo, hi);
            else
                quant_run_f64_i8((const double *)xd + off, PQ_DATA(y, int8_t) + off, L.inner, s,
                                 z, lo, hi);
        } else if (xt == PQ_DTYPE_FLOAT32) {
            if (qt == PQ_DTYPE_UINT8)
                quant_run_f32_u8((const float *)xd + off, PQ_DATA(y, uint8_t) + off, L.inner, s,
                                 z, lo, hi);
            else
                quant_run_f32_i8((const float *)xd + off, PQ_DATA(y, int8_t) + off, L.inner, s,
                                 z, lo, hi);
        } else {
            if (qt == PQ_DTYPE_UINT8)
                quant_run_i32_u8((const int32_t *)xd + off, PQ_DATA(y, uint8_t) + off, L.inner,
                                 s, z, lo, hi);
            else
                quant_run_i32_i8((const int32_t *)xd + off, PQ_DATA(y, int8_t) + off, L.inner,
                                 s, z, lo, hi);
        }
    }
fail:
    pq_free(xs);
    return st;
}

/* ================================================================== DequantizeLinear */

/* The subtraction is exact: in int32 for 8-bit data, in double for int32 data. */
#define DEF_DEQUANT_RUN(SUF, TQ, TD)                                                       \
    static void dequant_run_##SUF(const TQ *restrict x, float *restrict y, int64_t len,    \
                                  float s, int64_t zp)                                     \
    {                                                                                      \
        TD z = (TD)zp;                                                                     \
        PQ__SIMD                                                                           \
        for (int64_t i = 0; i < len; i++) y[i] = (float)((TD)x[i] - z) * s;                \
    }

DEF_DEQUANT_RUN(u8, uint8_t, int32_t)
DEF_DEQUANT_RUN(i8, int8_t, int32_t)
DEF_DEQUANT_RUN(i32, int32_t, double)

static pq_status run_dequantize(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0], *scale = n->inputs[1], *zp = pq_node_input(n, 2);
    pq_tensor *y = NULL;
    qlayout L;

    pq_dtype xt = x->dtype;
    PQ_CHECK(xt == PQ_DTYPE_UINT8 || xt == PQ_DTYPE_INT8 || xt == PQ_DTYPE_INT32,
             PQ_ERR_UNSUPPORTED, "DequantizeLinear of %s data is not supported",
             pq_dtype_name(xt));
    PQ_CHECK(!zp || zp->dtype == xt, PQ_ERR_INVALID,
             "x_zero_point has dtype %s, x has %s (they must match)", pq_dtype_name(zp->dtype),
             pq_dtype_name(xt));
    PQ_TRY(quant_layout(n, x, scale, zp, &L, err));
    PQ_TRY(pq_node_output(n, 0, PQ_DTYPE_FLOAT32, x->rank, x->dims, 1, &y, err));
    const float *sd = scale->data;
    float *yd = y->data;
    int64_t blocks = L.outer * L.ch;
    PQ__PARALLEL_FOR(x->numel >= PQ__PARALLEL_MIN_WORK && blocks > 1)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t ch = b % L.ch, off = b * L.inner;
        int64_t z = zp ? pq_tensor_get_i64(zp, ch) : 0;
        if (xt == PQ_DTYPE_UINT8)
            dequant_run_u8(PQ_DATA(x, uint8_t) + off, yd + off, L.inner, sd[ch], z);
        else if (xt == PQ_DTYPE_INT8)
            dequant_run_i8(PQ_DATA(x, int8_t) + off, yd + off, L.inner, sd[ch], z);
        else
            dequant_run_i32(PQ_DATA(x, int32_t) + off, yd + off, L.inner, sd[ch], z);
    }
fail:
    return st;
}

/* ================================================================== DynamicQuantizeLinear */

/* Folds the minimum and maximum of x[0..n) into *mn and *mx, leaving NaN out (every
 * comparison with NaN is false). Eight independent lanes per block vectorise. */
static void minmax_f32(const float *x, int64_t n, float *mn, float *mx)
{
    const int64_t blk = 8192;
    float lo = *mn, hi = *mx;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(min : lo) reduction(max : hi) \
    if (n >= PQ__PARALLEL_MIN_WORK)
#endif
    for (int64_t b = 0; b < (n + blk - 1) / blk; b++) {
        int64_t i = b * blk, end = n - i < blk ? n : i + blk;
        float l8[8], h8[8];
        for (int j = 0; j < 8; j++) l8[j] = h8[j] = 0.0f;
        for (; i + 8 <= end; i += 8) {
            PQ__SIMD
            for (int j = 0; j < 8; j++) {
                float v = x[i + j];
                l8[j] = v < l8[j] ? v : l8[j];
                h8[j] = v > h8[j] ? v : h8[j];
            }
        }
        for (; i < end; i++) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
        for (int j = 0; j < 8; j++) {
            lo = l8[j] < lo ? l8[j] : lo;
            hi = h8[j] > hi ? h8[j] : hi;
        }
    }
    *mn = lo;
    *mx = hi;
}

static pq_status run_dynquant(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL, *ys = NULL, *yz = NULL;

    PQ_CHECK(x->dtype == PQ_DTYPE_FLOAT32, PQ_ERR_UNSUPPORTED,
             "DynamicQuantizeLinear of %s data is not supported (float32 only)",
             pq_dtype_name(x->dtype));
    const float *xd = x->data;
    float mn = 0.0f, mx = 0.0f; /* the range always includes 0 */
    minmax_f32(xd, x->numel, &mn, &mx);
    float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
    float zpf = 0.0f - mn / scale;
    zpf = zpf < 0.0f ? 0.0f : zpf > 255.0f ? 255.0f : zpf;
    float zp = round_half_even_f32(zpf);

    PQ_TRY(pq_node_output(n, 0, PQ_DTYPE_UINT8, x->rank, x->dims, 1, &y, err));
    PQ__PARALLEL_FOR(x->numel >= PQ__PARALLEL_MIN_WORK)
    for (int64_t b = 0; b < (x->numel + 4095) / 4096; b++) {
        int64_t off = b * 4096, len = x->numel - off < 4096 ? x->numel - off : 4096;
        quant_run_f32_u8(xd + off, PQ_DATA(y, uint8_t) + off, len, scale, zp, 0.0f, 255.0f);
    }
    if (n->n_outputs > 1 && n->op->outputs[1]) {
        PQ_TRY(pq_node_output(n, 1, PQ_DTYPE_FLOAT32, 0, NULL, 1, &ys, err));
        PQ_DATA(ys, float)[0] = scale;
    }
    if (n->n_outputs > 2 && n->op->outputs[2]) {
        PQ_TRY(pq_node_output(n, 2, PQ_DTYPE_UINT8, 0, NULL, 1, &yz, err));
        PQ_DATA(yz, uint8_t)[0] = (uint8_t)zp;
    }
fail:
    return st;
}

/* ================================================================== table */

const pq_op_def pq_ops_quant[] = {
    /* 10: per-tensor; 13: per-axis with `axis`. */
    {"", "QuantizeLinear", 10, 2, 3, 1, 1, prepare_axis, run_quantize, release_ctx},
    {"", "QuantizeLinear", 13, 2, 3, 1, 1, prepare_axis, run_quantize, release_ctx},
    {"", "DequantizeLinear", 10, 2, 3, 1, 1, prepare_axis, run_dequantize, release_ctx},
    {"", "DequantizeLinear", 13, 2, 3, 1, 1, prepare_axis, run_dequantize, release_ctx},
    {"", "DynamicQuantizeLinear", 11, 1, 1, 3, 3, NULL, run_dynquant, NULL},
    PQ_OP_DEF_END,
};

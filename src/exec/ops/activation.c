/* activation.c - operator family: Relu LeakyRelu PRelu Elu Selu Celu Sigmoid HardSigmoid
 * HardSwish Tanh Softplus Softsign Mish Gelu ThresholdedRelu Clip Softmax LogSoftmax Hardmax.
 *
 * Pointwise activations are maps (pq__ew_map_run: blocked, parallel for large tensors,
 * float16/bfloat16 staged through float32) whose float32 loops vectorise: Relu, LeakyRelu,
 * Clip, HardSigmoid and HardSwish are compare/select/multiply, Sigmoid and the Softmax family
 * use the vectorisable expf of binary_ew.h. PRelu broadcasts its slope with the binary
 * family's iterator. Softmax/LogSoftmax/Hardmax view the input as outer x len x inner: opset
 * < 13 coerces to 2-D at `axis` (inner = 1, len = product of the trailing dims), opset 13
 * works along the single axis.
 *
 * Gelu: ai.onnx Gelu-20 (attribute approximate = "none" | "tanh") is registered from opset 1
 * because our fusion pass emits it into models of any opset; com.microsoft Gelu is the erf
 * form. Mish is ONNX opset 18 and likewise registered from 1.
 */
#include "binary_ew.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

typedef struct act_ctx {
    float alpha, beta, gamma;
    int gelu_tanh;       /* Gelu: approximate == "tanh" */
    int64_t axis;        /* Softmax family */
    int coerce_2d;       /* Softmax family, opset < 13 */
    float clip_min, clip_max; /* Clip-1/6 attributes */
} act_ctx;

static void release_ctx(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

static pq_status new_ctx(pq_exec_node *n, act_ctx **out, pq_err *err)
{
    *out = pq_calloc(1, sizeof **out);
    if (!*out) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing %s", n->def->name);
    n->ctx = *out;
    return PQ_OK;
}

/* ================================================================== pointwise kernels */

/* MAPA(name, T, EXPR): y[i] = EXPR(x) with alpha/beta/gamma of the context in T. */
#define MAPA(name, T, EXPR)                                                           \
    PQ__EW_NOTRAP static void name(int64_t n, const void *px, void *py, const void *ctx)            \
    {                                                                                 \
        const act_ctx *c = ctx;                                                       \
        const T alpha = c ? (T)c->alpha : (T)0, beta = c ? (T)c->beta : (T)0;         \
        const T gamma = c ? (T)c->gamma : (T)0;                                       \
        (void)alpha;                                                                  \
        (void)beta;                                                                   \
        (void)gamma;                                                                  \
        const T *restrict X = px;                                                     \
        T *restrict Y = py;                                                           \
        PQ__SIMD for (int64_t i = 0; i < n; i++)                                      \
        {                                                                             \
            const T x = X[i];                                                         \
            Y[i] = (T)(EXPR);                                                         \
        }                                                                             \
    }

typedef pq__ew_map_fn map_table[PQ_DTYPE_COUNT];
#define MAP_F(op, EF, ED) MAPA(op##_f32, float, EF) MAPA(op##_f64, double, ED)
#define TAB_F(op) [PQ_DTYPE_FLOAT32] = op##_f32, [PQ_DTYPE_FLOAT64] = op##_f64,

/* Numerically stable softplus: log(1 + e^x) without overflow for large x. */
static inline float softplus_f(float x)
{
    return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x));
}
static inline double softplus_d(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

#define SQRT1_2 0.70710678118654752440
#define SQRT_2_PI 0.79788456080286535588 /* sqrt(2 / pi) */

/* Relu as `x < 0 ? 0 : x` keeps NaN (numpy's maximum(x, 0) does). */
MAP_F(relu, x < 0 ? 0.0f : x, x < 0 ? 0.0 : x)
MAPA(relu_i8, int8_t, x < 0 ? 0 : x)
MAPA(relu_i16, int16_t, x < 0 ? 0 : x)
MAPA(relu_i32, int32_t, x < 0 ? 0 : x)
MAPA(relu_i64, int64_t, x < 0 ? 0 : x)
MAP_F(leaky, x < 0 ? alpha * x : x, x < 0 ? alpha * x : x)
MAP_F(elu, x < 0 ? alpha * expm1f(x) : x, x < 0 ? alpha * expm1(x) : x)
MAP_F(selu, x > 0 ? gamma * x : gamma * alpha * expm1f(x), x > 0 ? gamma * x : gamma * alpha * expm1(x))
MAP_F(celu, x > 0 ? x : alpha * expm1f(x / alpha), x > 0 ? x : alpha * expm1(x / alpha))
MAPA(sigmoid_f64, double, 1.0 / (1.0 + exp(-x)))
/* Clamps to [0, 1] as selects (NaN stays NaN like numpy's clip; fminf/fmaxf would drop it
 * and are library calls the loop cannot vectorise). */
#define CLAMP01(v) ((v) < 0 ? 0 : ((v) > 1 ? 1 : (v)))
MAP_F(hardsigmoid, CLAMP01(alpha * x + beta), CLAMP01(alpha * x + beta))
MAP_F(hardswish, x * CLAMP01(x * (1.0f / 6.0f) + 0.5f), x * CLAMP01(x * (1.0 / 6.0) + 0.5))
MAPA(tanh_f64, double, tanh(x))
MAP_F(softplus, softplus_f(x), softplus_d(x))
MAP_F(softsign, x / (1.0f + fabsf(x)), x / (1.0 + fabs(x)))
MAP_F(mish, x * tanhf(softplus_f(x)), x * tanh(softplus_d(x)))
MAP_F(thresholded, x > alpha ? x : 0.0f, x > alpha ? x : 0.0)
/* Gelu as 0.5 x erfc(-x / sqrt 2) (= 0.5 x (1 + erf(x / sqrt 2)) without the cancellation
 * of 1 + erf for negative x), and the tanh form as x * sigmoid(2u) (= 0.5 x (1 + tanh u)),
 * u = sqrt(2/pi) (x + 0.044715 x^3), for the same reason. */
MAPA(gelu_erf_f64, double, 0.5 * x * erfc(-x * SQRT1_2))
MAPA(gelu_tanh_f64, double, x / (1.0 + exp(-2.0 * SQRT_2_PI * (x + 0.044715 * x * x * x))))

/* tanh for |x| < 0.625 (Cephes tanhf's odd polynomial; the exp form would cancel). */
static inline float tanh_small(float x)
{
    const float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    return p * z * x + x;
}

#define GELU_U(x) ((float)SQRT_2_PI * ((x) + 0.044715f * (x) * (x) * (x)))
PQ__EW_EXP_MAP(sigmoid_f32, -x, 1.0f / (1.0f + e))
/* tanh |x| = (1 - e) / (1 + e) with e = exp(-2|x|), sign restored. */
PQ__EW_EXP_MAP(tanh_f32, -2.0f * fabsf(x),
            fabsf(x) < 0.625f ? tanh_small(x) : copysignf((1.0f - e) / (1.0f + e), x))
PQ__EW_EXP_MAP(gelu_tanh_f32, -2.0f * GELU_U(x), x / (1.0f + e))

/* float32 Gelu (erf form) through the vector expf: with z = |x| / sqrt 2,
 * 0.5 x erfc(-x / sqrt 2) = 0.5 x (x > 0 ? 2 - erfc(z) : erfc(z)), erfc(z) as in binary_ew.h. */
#define GELU_Z(x) (fabsf(x) * (float)SQRT1_2)
static inline float gelu_erf_out(float x, float e)
{
    const float r = PQ__EW_ERFC_T(GELU_Z(x)) * e; /* erfc(|x| / sqrt 2) */
    return 0.5f * x * (x > 0 ? 2.0f - r : r);
}
PQ__EW_EXP_MAP(gelu_erf_f32, pq__ew_erfc_arg(GELU_Z(x)), gelu_erf_out(x, e))

static const map_table relu_tab = {TAB_F(relu)[PQ_DTYPE_INT8] = relu_i8,
                                   [PQ_DTYPE_INT16] = relu_i16, [PQ_DTYPE_INT32] = relu_i32,
                                   [PQ_DTYPE_INT64] = relu_i64};
static const map_table leaky_tab = {TAB_F(leaky)};
static const map_table elu_tab = {TAB_F(elu)};
static const map_table selu_tab = {TAB_F(selu)};
static const map_table celu_tab = {TAB_F(celu)};
static const map_table sigmoid_tab = {TAB_F(sigmoid)};
static const map_table hardsigmoid_tab = {TAB_F(hardsigmoid)};
static const map_table hardswish_tab = {TAB_F(hardswish)};
static const map_table tanh_tab = {TAB_F(tanh)};
static const map_table softplus_tab = {TAB_F(softplus)};
static const map_table softsign_tab = {TAB_F(softsign)};
static const map_table mish_tab = {TAB_F(mish)};
static const map_table thresholded_tab = {TAB_F(thresholded)};
static const map_table gelu_erf_tab = {TAB_F(gelu_erf)};
static const map_table gelu_tanh_tab = {TAB_F(gelu_tanh)};

/* Applies the kernel for x's dtype (float32 for halves) into an output like x. */
static pq_status run_map(pq_exec_node *n, const map_table tab, const void *ctx, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *y = NULL;
    const pq_tensor *x = n->inputs[0];
    PQ_CHECK(x, PQ_ERR_INVALID, "input 0 is missing");
    const pq_dtype dt = x->dtype;
    const pq_dtype kdt = pq__ew_is_half(dt) ? PQ_DTYPE_FLOAT32 : dt;
    pq__ew_map_fn fn = (kdt > PQ_DTYPE_UNDEFINED && kdt < PQ_DTYPE_COUNT) ? tab[kdt] : NULL;
    PQ_CHECK(fn, PQ_ERR_UNSUPPORTED, "%s of %s data is not supported", n->def->name,
             pq_dtype_name(dt));
    PQ_TRY(pq_node_output(n, 0, dt, x->rank, x->dims, 1, &y, err));
    pq__ew_map_run(n, x, y, fn, ctx);
fail:
    return st;
}

/* ---------------------------------------------------------------- attribute parsing */

/* Parses alpha/beta/gamma with the operator's defaults (NAN = attribute not used). */
static pq_status prepare_params(pq_exec_node *n, float alpha, float beta, float gamma,
                                pq_err *err)
{
    pq_status st = PQ_OK;
    act_ctx *c;
    PQ_TRY(new_ctx(n, &c, err));
    if (!isnan(alpha)) PQ_TRY(pq_op_get_float(n->op, "alpha", alpha, &c->alpha, err));
    if (!isnan(beta)) PQ_TRY(pq_op_get_float(n->op, "beta", beta, &c->beta, err));
    if (!isnan(gamma)) PQ_TRY(pq_op_get_float(n->op, "gamma", gamma, &c->gamma, err));
fail:
    return st;
}

static pq_status prepare_leaky(pq_exec_node *n, pq_err *err)
{
    return prepare_params(n, 0.01f, NAN, NAN, err);
}
static pq_status prepare_alpha1(pq_exec_node *n, pq_err *err) /* Elu, Celu, ThresholdedRelu */
{
    return prepare_params(n, 1.0f, NAN, NAN, err);
}
static pq_status prepare_selu(pq_exec_node *n, pq_err *err)
{
    return prepare_params(n, 1.67326319217681884765625f, NAN, 1.05070102214813232421875f, err);
}
static pq_status prepare_hardsigmoid(pq_exec_node *n, pq_err *err)
{
    return prepare_params(n, 0.2f, 0.5f, NAN, err);
}

static pq_status prepare_celu(pq_exec_node *n, pq_err *err)
{
    pq_status st = prepare_alpha1(n, err);
    if (st == PQ_OK && ((act_ctx *)n->ctx)->alpha == 0.0f)
        st = pq_err_set(err, PQ_ERR_INVALID, "Celu: alpha must not be 0");
    return st;
}

static pq_status prepare_gelu(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    act_ctx *c;
    const char *approx = NULL;
    PQ_TRY(new_ctx(n, &c, err));
    if (strcmp(n->op->domain ? n->op->domain : "", "com.microsoft") == 0) return PQ_OK;
    PQ_TRY(pq_op_get_string(n->op, "approximate", "none", &approx, err));
    PQ_CHECK(strcmp(approx, "none") == 0 || strcmp(approx, "tanh") == 0, PQ_ERR_INVALID,
             "Gelu: approximate must be \"none\" or \"tanh\", got \"%s\"", approx);
    c->gelu_tanh = strcmp(approx, "tanh") == 0;
fail:
    return st;
}

#define DEF_RUN(fn_name, tab)                                  \
    static pq_status fn_name(pq_exec_node *n, pq_err *err)     \
    {                                                          \
        return run_map(n, tab, n->ctx, err);                   \
    }
DEF_RUN(run_relu, relu_tab)
DEF_RUN(run_leaky, leaky_tab)
DEF_RUN(run_elu, elu_tab)
DEF_RUN(run_selu, selu_tab)
DEF_RUN(run_celu, celu_tab)
DEF_RUN(run_sigmoid, sigmoid_tab)
DEF_RUN(run_hardsigmoid, hardsigmoid_tab)
DEF_RUN(run_hardswish, hardswish_tab)
DEF_RUN(run_tanh, tanh_tab)
DEF_RUN(run_softplus, softplus_tab)
DEF_RUN(run_softsign, softsign_tab)
DEF_RUN(run_mish, mish_tab)
DEF_RUN(run_thresholded, thresholded_tab)

static pq_status run_gelu(pq_exec_node *n, pq_err *err)
{
    const act_ctx *c = n->ctx;
    return run_map(n, c->gelu_tanh ? gelu_tanh_tab : gelu_erf_tab, c, err);
}

/* ================================================================== Clip */

/* Bounds in the element type's domain: floats use lo_f/hi_f (float32 and halves) or
 * lo_d/hi_d, signed integers lo_i/hi_i, unsigned lo_u/hi_u; absent bounds are the type's
 * limits (infinities for floats), so every kernel clamps both sides. */
typedef struct clip_bounds {
    float lo_f, hi_f;
    double lo_d, hi_d;
    int64_t lo_i, hi_i;
    uint64_t lo_u, hi_u;
} clip_bounds;

#define DEF_CLIP(name, T, LO, HI)                                                    \
    static void name(int64_t n, const void *px, void *py, const void *ctx)           \
    {                                                                                \
        const clip_bounds *b = ctx;                                                  \
        const T lo = (T)b->LO, hi = (T)b->HI;                                        \
        const T *restrict X = px;                                                    \
        T *restrict Y = py;                                                          \
        PQ__SIMD for (int64_t i = 0; i < n; i++)                                     \
        {                                                                            \
            T v = X[i];                                                              \
            v = v < lo ? lo : v;                                                     \
            Y[i] = v > hi ? hi : v;                                                  \
        }                                                                            \
    }
DEF_CLIP(clip_f32, float, lo_f, hi_f)
DEF_CLIP(clip_f64, double, lo_d, hi_d)
DEF_CLIP(clip_i8, int8_t, lo_i, hi_i)
DEF_CLIP(clip_i16, int16_t, lo_i, hi_i)
DEF_CLIP(clip_i32, int32_t, lo_i, hi_i)
DEF_CLIP(clip_i64, int64_t, lo_i, hi_i)
DEF_CLIP(clip_u8, uint8_t, lo_u, hi_u)
DEF_CLIP(clip_u16, uint16_t, lo_u, hi_u)
DEF_CLIP(clip_u32, uint32_t, lo_u, hi_u)
DEF_CLIP(clip_u64, uint64_t, lo_u, hi_u)
static const map_table clip_tab = {
    [PQ_DTYPE_FLOAT32] = clip_f32, [PQ_DTYPE_FLOAT64] = clip_f64, [PQ_DTYPE_INT8] = clip_i8,
    [PQ_DTYPE_INT16] = clip_i16,   [PQ_DTYPE_INT32] = clip_i32,   [PQ_DTYPE_INT64] = clip_i64,
    [PQ_DTYPE_UINT8] = clip_u8,    [PQ_DTYPE_UINT16] = clip_u16,  [PQ_DTYPE_UINT32] = clip_u32,
    [PQ_DTYPE_UINT64] = clip_u64};

/* The limits of dt as bounds (no clipping). */
static void clip_limits(pq_dtype dt, clip_bounds *b)
{
    b->lo_f = -INFINITY;
    b->hi_f = INFINITY;
    b->lo_d = -INFINITY;
    b->hi_d = INFINITY;
    b->lo_u = 0;
    switch (dt) {
    case PQ_DTYPE_INT8: b->lo_i = INT8_MIN; b->hi_i = INT8_MAX; break;
    case PQ_DTYPE_INT16: b->lo_i = INT16_MIN; b->hi_i = INT16_MAX; break;
    case PQ_DTYPE_INT32: b->lo_i = INT32_MIN; b->hi_i = INT32_MAX; break;
    case PQ_DTYPE_UINT8: b->hi_u = UINT8_MAX; break;
    case PQ_DTYPE_UINT16: b->hi_u = UINT16_MAX; break;
    case PQ_DTYPE_UINT32: b->hi_u = UINT32_MAX; break;
    case PQ_DTYPE_UINT64: b->hi_u = UINT64_MAX; break;
    default: b->lo_i = INT64_MIN; b->hi_i = INT64_MAX; break;
    }
}

/* Reads a Clip-11+ bound input (a scalar, or a 1-element tensor, of x's dtype). */
static pq_status clip_bound(const pq_tensor *t, pq_dtype dt, const char *which, int is_lo,
                            clip_bounds *b, pq_err *err)
{
    if (t->dtype != dt)
        return pq_err_set(err, PQ_ERR_INVALID, "%s is %s but input is %s", which,
                          pq_dtype_name(t->dtype), pq_dtype_name(dt));
    if (t->numel != 1)
        return pq_err_set(err, PQ_ERR_INVALID, "%s must be a scalar, has %" PRId64 " elements",
                          which, t->numel);
    if (pq_dtype_is_float(dt)) {
        double v = pq_tensor_get_f64(t, 0);
        *(is_lo ? &b->lo_d : &b->hi_d) = v;
        *(is_lo ? &b->lo_f : &b->hi_f) = (float)v;
    } else if (dt == PQ_DTYPE_UINT64) {
        *(is_lo ? &b->lo_u : &b->hi_u) = PQ_DATA(t, uint64_t)[0];
    } else if (dt == PQ_DTYPE_UINT8 || dt == PQ_DTYPE_UINT16 || dt == PQ_DTYPE_UINT32) {
        *(is_lo ? &b->lo_u : &b->hi_u) = (uint64_t)pq_tensor_get_i64(t, 0);
    } else {
        *(is_lo ? &b->lo_i : &b->hi_i) = pq_tensor_get_i64(t, 0);
    }
    return PQ_OK;
}

static pq_status run_clip_bounds(pq_exec_node *n, const clip_bounds *b, pq_err *err)
{
    return run_map(n, clip_tab, b, err);
}

/* Clip-1/6: float attributes min/max (absent = no bound). */
static pq_status prepare_clip6(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    act_ctx *c;
    PQ_TRY(new_ctx(n, &c, err));
    PQ_TRY(pq_op_get_float(n->op, "min", -INFINITY, &c->clip_min, err));
    PQ_TRY(pq_op_get_float(n->op, "max", INFINITY, &c->clip_max, err));
fail:
    return st;
}

static pq_status run_clip6(pq_exec_node *n, pq_err *err)
{
    const act_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    clip_bounds b;
    if (!x) return pq_err_set(err, PQ_ERR_INVALID, "input 0 is missing");
    if (!pq_dtype_is_float(x->dtype))
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "Clip-6 of %s data is not supported",
                          pq_dtype_name(x->dtype));
    clip_limits(x->dtype, &b);
    b.lo_f = c->clip_min;
    b.hi_f = c->clip_max;
    b.lo_d = c->clip_min;
    b.hi_d = c->clip_max;
    return run_clip_bounds(n, &b, err);
}

/* Clip-11+: optional inputs min (1) and max (2). */
static pq_status run_clip11(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0];
    const pq_tensor *lo = pq_node_input(n, 1), *hi = pq_node_input(n, 2);
    clip_bounds b;
    PQ_CHECK(x, PQ_ERR_INVALID, "input 0 is missing");
    clip_limits(x->dtype, &b);
    if (lo) PQ_TRY(clip_bound(lo, x->dtype, "min", 1, &b, err));
    if (hi) PQ_TRY(clip_bound(hi, x->dtype, "max", 0, &b, err));
    PQ_TRY(run_clip_bounds(n, &b, err));
fail:
    return st;
}

/* ================================================================== PRelu */

#define DEF_PRELU(name, T)                                                                 \
    PQ__EW_NOTRAP static void name(int64_t n, const void *pa, int64_t sa, const void *pb, int64_t sb,   \
                     const void *pc, int64_t sc, void *py)                                \
    {                                                                                      \
        (void)pc;                                                                          \
        (void)sc;                                                                          \
        const T *restrict X = pa;                                                          \
        const T *restrict S = pb;                                                          \
        T *restrict Y = py;                                                                \
        if (sa == 1 && sb == 1) {                                                          \
            PQ__SIMD for (int64_t i = 0; i < n; i++)                                       \
            {                                                                              \
                const T x = X[i];                                                          \
                Y[i] = x < 0 ? x * S[i] : x;                                               \
            }                                                                              \
        } else if (sa == 1) {                                                              \
            const T s = S[0];                                                              \
            PQ__SIMD for (int64_t i = 0; i < n; i++)                                       \
            {                                                                              \
                const T x = X[i];                                                          \
                Y[i] = x < 0 ? x * s : x;                                                  \
            }                                                                              \
        } else {                                                                           \
            for (int64_t i = 0; i < n; i++) {                                              \
                const T x = X[i * sa];                                                     \
                Y[i] = x < 0 ? x * S[i * sb] : x;                                          \
            }                                                                              \
        }                                                                                  \
    }
DEF_PRELU(prelu_f32, float)
DEF_PRELU(prelu_f64, double)
DEF_PRELU(prelu_i32, int32_t)
DEF_PRELU(prelu_i64, int64_t)

/* PRelu-7+: slope broadcasts unidirectionally to X; the output has X's shape. PRelu-1/6
 * (legacy) apply a 1-D slope of X's channel count (dim 1) per channel, as the Caffe2 and
 * PyTorch exporters of that time meant it; other slopes broadcast as in PRelu-7. */
static pq_status run_prelu_impl(pq_exec_node *n, int legacy, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *y = NULL;
    float *cx = NULL, *cs = NULL, *cy = NULL;
    pq__ew_bcast plan;
    pq_tensor slope_view;
    const pq_tensor *in[2] = {n->inputs[0], n->inputs[1]};

    PQ_CHECK(in[0] && in[1], PQ_ERR_INVALID, "PRelu needs 2 inputs");
    if (legacy && in[0]->rank >= 2 && in[1]->rank == 1 && in[1]->dims[0] == in[0]->dims[1] &&
        in[1]->dims[0] != 1) {
        slope_view = *in[1];
        slope_view.rank = in[0]->rank - 1;
        for (int d = 0; d < slope_view.rank; d++) slope_view.dims[d] = d == 0 ? in[1]->dims[0] : 1;
        in[1] = &slope_view;
    }
    const pq_dtype dt = in[0]->dtype;
    PQ_CHECK(in[1]->dtype == dt, PQ_ERR_INVALID, "slope is %s but X is %s",
             pq_dtype_name(in[1]->dtype), pq_dtype_name(dt));
    pq__ew_fn fn = NULL;
    const int is_unsigned = dt == PQ_DTYPE_UINT32 || dt == PQ_DTYPE_UINT64;
    switch (pq__ew_is_half(dt) ? PQ_DTYPE_FLOAT32 : dt) {
    case PQ_DTYPE_FLOAT32: fn = prelu_f32; break;
    case PQ_DTYPE_FLOAT64: fn = prelu_f64; break;
    case PQ_DTYPE_INT32: fn = prelu_i32; break;
    case PQ_DTYPE_INT64: fn = prelu_i64; break;
    default: break;
    }
    PQ_CHECK(fn || is_unsigned, PQ_ERR_UNSUPPORTED, "PRelu of %s data is not supported",
             pq_dtype_name(dt));
    PQ_TRY(pq__ew_bcast_plan(2, in, in[0]->rank, in[0]->dims, &plan, err));
    PQ_TRY(pq_node_output(n, 0, dt, in[0]->rank, in[0]->dims, 1, &y, err));
    if (is_unsigned) {
        /* Unsigned inputs are never negative: PRelu-16 of uint32/uint64 is the identity. */
        memcpy(y->data, in[0]->data, y->nbytes);
        return PQ_OK;
    }
    if (!pq__ew_is_half(dt)) {
        const void *ptr[2] = {in[0]->data, in[1]->data};
        const size_t sz[2] = {pq_dtype_size(dt), pq_dtype_size(dt)};
        pq__ew_bcast_run(&plan, fn, ptr, sz, y->data, sz[0], pq_node_threads(n));
        return PQ_OK;
    }
    cx = pq__ew_half_copy_f32(in[0]);
    cs = pq__ew_half_copy_f32(in[1]);
    cy = pq_malloc((size_t)(y->numel ? y->numel : 1) * sizeof *cy);
    PQ_CHECK(cx && cs && cy, PQ_ERR_NOMEM, "out of memory staging PRelu");
    {
        const void *ptr[2] = {cx, cs};
        const size_t sz[2] = {sizeof(float), sizeof(float)};
        pq__ew_bcast_run(&plan, fn, ptr, sz, cy, sizeof(float), pq_node_threads(n));
        pq__ew_f32_to_half(dt, cy, y->data, y->numel);
    }
fail:
    pq_free(cx);
    pq_free(cs);
    pq_free(cy);
    return st;
}

static pq_status run_prelu(pq_exec_node *n, pq_err *err)
{
    return run_prelu_impl(n, 0, err);
}
static pq_status run_prelu_legacy(pq_exec_node *n, pq_err *err)
{
    return run_prelu_impl(n, 1, err);
}

/* ================================================================== Softmax family */

enum { SM_SOFTMAX, SM_LOGSOFTMAX, SM_HARDMAX };

static pq_status prepare_softmax(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    act_ctx *c;
    PQ_TRY(new_ctx(n, &c, err));
    c->coerce_2d = n->opset < 13;
    PQ_TRY(pq_op_get_int(n->op, "axis", c->coerce_2d ? 1 : -1, &c->axis, err));
fail:
    return st;
}

/* One outer block: len x inner elements at x (row-major), results to y. m and s are
 * scratch rows of `inner` elements. The exponentials are taken in two loops, y = CLAMP(x -
 * max) then y = EXP(y), so that the float32 ones vectorise (see pq__ew_expf). */
#define DEF_SOFTMAX_BLOCK(name, T, CLAMP, EXP, LOG)                                          \
    CLONES static void name(int kind, int64_t len, int64_t inner, const T *restrict x,      \
                            T *restrict y, T *restrict m, T *restrict s)                    \
    {                                                                                        \
        if (inner == 1) {                                                                    \
            T mx = x[0];                                                                     \
            for (int64_t k = 1; k < len; k++) mx = x[k] > mx ? x[k] : mx;                    \
            PQ__SIMD for (int64_t k = 0; k < len; k++) y[k] = CLAMP(x[k] - mx);              \
            PQ__SIMD for (int64_t k = 0; k < len; k++) y[k] = EXP(y[k]);                     \
            T sum = 0;                                                                       \
            for (int64_t k = 0; k < len; k++) sum += y[k];                                   \
            if (kind == SM_SOFTMAX) {                                                        \
                const T inv = (T)1 / sum;                                                    \
                PQ__SIMD for (int64_t k = 0; k < len; k++) y[k] *= inv;                      \
            } else {                                                                         \
                const T off = mx + LOG(sum);                                                 \
                PQ__SIMD for (int64_t k = 0; k < len; k++) y[k] = x[k] - off;                \
            }                                                                                \
            return;                                                                          \
        }                                                                                    \
        for (int64_t j = 0; j < inner; j++) m[j] = x[j];                                     \
        for (int64_t k = 1; k < len; k++) {                                                  \
            const T *xr = x + k * inner;                                                     \
            PQ__SIMD for (int64_t j = 0; j < inner; j++) m[j] = xr[j] > m[j] ? xr[j] : m[j]; \
        }                                                                                    \
        for (int64_t j = 0; j < inner; j++) s[j] = 0;                                        \
        for (int64_t k = 0; k < len; k++) {                                                  \
            const T *xr = x + k * inner;                                                     \
            T *yr = y + k * inner;                                                           \
            PQ__SIMD for (int64_t j = 0; j < inner; j++) yr[j] = CLAMP(xr[j] - m[j]);        \
            PQ__SIMD for (int64_t j = 0; j < inner; j++)                                     \
            {                                                                                \
                yr[j] = EXP(yr[j]);                                                          \
                s[j] += yr[j];                                                               \
            }                                                                                \
        }                                                                                    \
        if (kind == SM_SOFTMAX) {                                                            \
            for (int64_t j = 0; j < inner; j++) s[j] = (T)1 / s[j];                          \
            for (int64_t k = 0; k < len; k++) {                                              \
                T *yr = y + k * inner;                                                       \
                PQ__SIMD for (int64_t j = 0; j < inner; j++) yr[j] *= s[j];                  \
            }                                                                                \
        } else {                                                                             \
            for (int64_t j = 0; j < inner; j++) s[j] = m[j] + LOG(s[j]);                     \
            for (int64_t k = 0; k < len; k++) {                                              \
                const T *xr = x + k * inner;                                                 \
                T *yr = y + k * inner;                                                       \
                PQ__SIMD for (int64_t j = 0; j < inner; j++) yr[j] = xr[j] - s[j];           \
            }                                                                                \
        }                                                                                    \
    }
#define NO_CLAMP(v) (v)
#define CLONES PQ__EW_CLONES
DEF_SOFTMAX_BLOCK(softmax_block_f32, float, pq__ew_exp_clamp, pq__ew_expf, logf)
#undef CLONES
#define CLONES
DEF_SOFTMAX_BLOCK(softmax_block_f64, double, NO_CLAMP, exp, log)
#undef CLONES

/* Hardmax: 1 at the first maximum along the axis, 0 elsewhere (y is zero-filled). */
#define DEF_HARDMAX_BLOCK(name, T)                                                     \
    static void name(int64_t len, int64_t inner, const T *x, T *y)                     \
    {                                                                                  \
        for (int64_t j = 0; j < inner; j++) {                                          \
            int64_t best = 0;                                                          \
            for (int64_t k = 1; k < len; k++)                                          \
                if (x[k * inner + j] > x[best * inner + j]) best = k;                  \
            y[best * inner + j] = 1;                                                   \
        }                                                                              \
    }
DEF_HARDMAX_BLOCK(hardmax_block_f32, float)
DEF_HARDMAX_BLOCK(hardmax_block_f64, double)

static pq_status run_softmax_kind(pq_exec_node *n, int kind, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *y = NULL;
    float *cx = NULL, *cy = NULL;
    const act_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];

    PQ_CHECK(x, PQ_ERR_INVALID, "input 0 is missing");
    const pq_dtype dt = x->dtype;
    PQ_CHECK(pq_dtype_is_float(dt), PQ_ERR_UNSUPPORTED, "%s of %s data is not supported",
             n->def->name, pq_dtype_name(dt));
    const int r = x->rank;
    int64_t axis = c->axis;
    PQ_CHECK((r == 0 && (axis == 0 || axis == -1)) || (axis >= -r && axis < r), PQ_ERR_INVALID,
             "axis %" PRId64 " is out of range for rank %d", axis, r);
    if (axis < 0) axis += r;
    if (r == 0) axis = 0;
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    if (c->coerce_2d) {
        for (int d = (int)axis; d < r; d++) len *= x->dims[d];
    } else {
        if (r > 0) len = x->dims[axis];
        for (int d = (int)axis + 1; d < r; d++) inner *= x->dims[d];
    }
    PQ_TRY(pq_node_output(n, 0, dt, r, x->dims, kind != SM_HARDMAX, &y, err));
    if (x->numel == 0) return PQ_OK;

    const int dbl = dt == PQ_DTYPE_FLOAT64;
    const void *xd = x->data;
    void *yd = y->data;
    if (pq__ew_is_half(dt)) {
        cx = pq__ew_half_copy_f32(x);
        cy = pq_calloc((size_t)x->numel, sizeof *cy);
        PQ_CHECK(cx && cy, PQ_ERR_NOMEM, "out of memory staging %s", n->def->name);
        xd = cx;
        yd = cy;
    }
    const size_t esz = dbl ? sizeof(double) : sizeof(float);
    const int64_t block = len * inner;
    if (kind == SM_HARDMAX) {
        for (int64_t o = 0; o < outer; o++) {
            if (dbl)
                hardmax_block_f64(len, inner, (const double *)xd + o * block,
                                  (double *)yd + o * block);
            else
                hardmax_block_f32(len, inner, (const float *)xd + o * block,
                                  (float *)yd + o * block);
        }
    } else {
        int threads = pq_node_threads(n);
        int nt = (threads > 1 && outer >= threads && x->numel >= 32768) ? threads : 1;
        /* Two scratch rows of `inner` per thread. */
        char *ws = pq_node_workspace(n, (size_t)nt * 2 * (size_t)inner * esz);
        PQ_CHECK(ws, PQ_ERR_NOMEM, "out of memory for %s scratch", n->def->name);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (int t = 0; t < nt; t++) {
            char *m = ws + (size_t)t * 2 * (size_t)inner * esz;
            char *s = m + (size_t)inner * esz;
            for (int64_t o = outer * t / nt; o < outer * (t + 1) / nt; o++) {
                if (dbl)
                    softmax_block_f64(kind, len, inner, (const double *)xd + o * block,
                                      (double *)yd + o * block, (double *)m, (double *)s);
                else
                    softmax_block_f32(kind, len, inner, (const float *)xd + o * block,
                                      (float *)yd + o * block, (float *)m, (float *)s);
            }
        }
    }
    if (cy) pq__ew_f32_to_half(dt, cy, y->data, y->numel);
fail:
    pq_free(cx);
    pq_free(cy);
    return st;
}

static pq_status run_softmax(pq_exec_node *n, pq_err *err)
{
    return run_softmax_kind(n, SM_SOFTMAX, err);
}
static pq_status run_logsoftmax(pq_exec_node *n, pq_err *err)
{
    return run_softmax_kind(n, SM_LOGSOFTMAX, err);
}
static pq_status run_hardmax(pq_exec_node *n, pq_err *err)
{
    return run_softmax_kind(n, SM_HARDMAX, err);
}

/* ================================================================== table */

const pq_op_def pq_ops_activation[] = {
    {"", "Relu", 1, 1, 1, 1, 1, NULL, run_relu, NULL},
    {"", "LeakyRelu", 1, 1, 1, 1, 1, prepare_leaky, run_leaky, release_ctx},
    {"", "PRelu", 1, 2, 2, 1, 1, NULL, run_prelu_legacy, NULL},
    {"", "PRelu", 7, 2, 2, 1, 1, NULL, run_prelu, NULL},
    {"", "Elu", 1, 1, 1, 1, 1, prepare_alpha1, run_elu, release_ctx},
    {"", "Selu", 1, 1, 1, 1, 1, prepare_selu, run_selu, release_ctx},
    {"", "Celu", 12, 1, 1, 1, 1, prepare_celu, run_celu, release_ctx},
    {"", "Sigmoid", 1, 1, 1, 1, 1, NULL, run_sigmoid, NULL},
    {"", "HardSigmoid", 1, 1, 1, 1, 1, prepare_hardsigmoid, run_hardsigmoid, release_ctx},
    {"", "HardSwish", 14, 1, 1, 1, 1, NULL, run_hardswish, NULL},
    {"", "Tanh", 1, 1, 1, 1, 1, NULL, run_tanh, NULL},
    {"", "Softplus", 1, 1, 1, 1, 1, NULL, run_softplus, NULL},
    {"", "Softsign", 1, 1, 1, 1, 1, NULL, run_softsign, NULL},
    {"", "Mish", 1, 1, 1, 1, 1, NULL, run_mish, NULL},
    {"", "ThresholdedRelu", 10, 1, 1, 1, 1, prepare_alpha1, run_thresholded, release_ctx},
    {"", "Clip", 1, 1, 1, 1, 1, prepare_clip6, run_clip6, release_ctx},
    {"", "Clip", 11, 1, 3, 1, 1, NULL, run_clip11, NULL},
    {"", "Softmax", 1, 1, 1, 1, 1, prepare_softmax, run_softmax, release_ctx},
    {"", "Softmax", 13, 1, 1, 1, 1, prepare_softmax, run_softmax, release_ctx},
    {"", "LogSoftmax", 1, 1, 1, 1, 1, prepare_softmax, run_logsoftmax, release_ctx},
    {"", "LogSoftmax", 13, 1, 1, 1, 1, prepare_softmax, run_logsoftmax, release_ctx},
    {"", "Hardmax", 1, 1, 1, 1, 1, prepare_softmax, run_hardmax, release_ctx},
    {"", "Hardmax", 13, 1, 1, 1, 1, prepare_softmax, run_hardmax, release_ctx},
    {"", "Gelu", 1, 1, 1, 1, 1, prepare_gelu, run_gelu, release_ctx},
    {"com.microsoft", "Gelu", 1, 1, 1, 1, 1, prepare_gelu, run_gelu, release_ctx},
    PQ_OP_DEF_END,
};

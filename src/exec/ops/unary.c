/* unary.c - operator family: Abs Neg Ceil Floor Round Sign Sqrt Reciprocal Exp Log Sin Cos Tan
 * Asin Acos Atan Sinh Cosh Asinh Acosh Atanh Erf Not IsNaN IsInf.
 *
 * Every operator is a map over the elements (pq__ew_map_run in binary_ew.h: blocked, in
 * parallel for large tensors, float16/bfloat16 staged through float32). Kernels exist per
 * element type the ONNX schema allows; integer Abs/Neg wrap like numpy (abs(INT_MIN) ==
 * INT_MIN). Round is half to even (rint under the default rounding mode, as ONNX Round-11
 * specifies). Opset-1 versions differ from later ones only by the legacy, ignored
 * consumed_inputs attribute, so one definition covers them.
 */
#include "binary_ew.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* MAP(name, TX, TY, EXPR): y[i] = EXPR(x) over a contiguous block. */
#define MAP(name, TX, TY, EXPR)                                                     \
    static void name(int64_t n, const void *px, void *py, const void *ctx)          \
    {                                                                               \
        (void)ctx;                                                                  \
        const TX *restrict X = px;                                                  \
        TY *restrict Y = py;                                                        \
        PQ__SIMD for (int64_t i = 0; i < n; i++)                                    \
        {                                                                           \
            const TX x = X[i];                                                      \
            Y[i] = (TY)(EXPR);                                                      \
        }                                                                           \
    }

typedef pq__ew_map_fn map_table[PQ_DTYPE_COUNT];

/* Float kernels from one float and one double expression. */
#define MAP_F(op, EF, ED)               \
    MAP(op##_f32, float, float, EF)     \
    MAP(op##_f64, double, double, ED)
#define TAB_F(op) [PQ_DTYPE_FLOAT32] = op##_f32, [PQ_DTYPE_FLOAT64] = op##_f64,

/* Integer kernels: E(T, U) with U unsigned and at least as wide as int. */
#define MAP_S(op, E)                                  \
    MAP(op##_i8, int8_t, int8_t, E(int8_t, unsigned))     \
    MAP(op##_i16, int16_t, int16_t, E(int16_t, unsigned)) \
    MAP(op##_i32, int32_t, int32_t, E(int32_t, uint32_t)) \
    MAP(op##_i64, int64_t, int64_t, E(int64_t, uint64_t))
#define MAP_U(op, E)                                      \
    MAP(op##_u8, uint8_t, uint8_t, E(uint8_t, unsigned))      \
    MAP(op##_u16, uint16_t, uint16_t, E(uint16_t, unsigned))  \
    MAP(op##_u32, uint32_t, uint32_t, E(uint32_t, uint32_t))  \
    MAP(op##_u64, uint64_t, uint64_t, E(uint64_t, uint64_t))
#define TAB_S(op) \
    [PQ_DTYPE_INT8] = op##_i8, [PQ_DTYPE_INT16] = op##_i16, [PQ_DTYPE_INT32] = op##_i32, \
    [PQ_DTYPE_INT64] = op##_i64,
#define TAB_U(op) \
    [PQ_DTYPE_UINT8] = op##_u8, [PQ_DTYPE_UINT16] = op##_u16, [PQ_DTYPE_UINT32] = op##_u32, \
    [PQ_DTYPE_UINT64] = op##_u64,

/* ---------------------------------------------------------------- kernels */

#define E_ABS_S(T, U) (x < 0 ? (T)(0u - (U)x) : x)
#define E_ABS_U(T, U) x
#define E_NEG(T, U) (T)(0u - (U)x)
#define E_SIGN_S(T, U) (T)((x > 0) - (x < 0))
#define E_SIGN_U(T, U) (T)(x > 0)

MAP_F(abs, fabsf(x), fabs(x))
MAP_S(abs, E_ABS_S)
MAP_U(abs, E_ABS_U)
MAP_F(neg, -x, -x)
MAP_S(neg, E_NEG)
/* Sign of NaN is NaN (numpy): x itself falls through both comparisons. */
MAP_F(sign, x > 0 ? 1.0f : x < 0 ? -1.0f : x, x > 0 ? 1.0 : x < 0 ? -1.0 : x)
MAP_S(sign, E_SIGN_S)
MAP_U(sign, E_SIGN_U)
MAP_F(ceil, ceilf(x), ceil(x))
MAP_F(floor, floorf(x), floor(x))
MAP_F(round, rintf(x), rint(x))
MAP_F(sqrt, sqrtf(x), sqrt(x))
MAP_F(recip, 1.0f / x, 1.0 / x)
MAP_F(exp, expf(x), exp(x))
MAP_F(log, logf(x), log(x))
MAP_F(sin, sinf(x), sin(x))
MAP_F(cos, cosf(x), cos(x))
MAP_F(tan, tanf(x), tan(x))
MAP_F(asin, asinf(x), asin(x))
MAP_F(acos, acosf(x), acos(x))
MAP_F(atan, atanf(x), atan(x))
MAP_F(sinh, sinhf(x), sinh(x))
MAP_F(cosh, coshf(x), cosh(x))
MAP_F(asinh, asinhf(x), asinh(x))
MAP_F(acosh, acoshf(x), acosh(x))
MAP_F(atanh, atanhf(x), atanh(x))
MAP(erf_f64, double, double, erf(x))
/* float32 Erf, vectorised: the odd Taylor polynomial of erf for |x| < 0.5 (terms to x^15,
 * below 1e-9 relative there), 1 - erfc(|x|) with the sign restored above (erfc through
 * pq__ew_expf, see binary_ew.h; 1 - erfc does not cancel there, erfc(0.5) = 0.48). */
static inline float erf_small(float x)
{
    const float z = x * x;
    float p = -1.0f / 75600.0f;
    p = p * z + 1.0f / 9360.0f;
    p = p * z - 1.0f / 1320.0f;
    p = p * z + 1.0f / 216.0f;
    p = p * z - 1.0f / 42.0f;
    p = p * z + 1.0f / 10.0f;
    p = p * z - 1.0f / 3.0f;
    p = p * z + 1.0f;
    return 1.12837916709551257390f * x * p; /* 2 / sqrt(pi) */
}
static inline float erf_out(float x, float e)
{
    const float a = fabsf(x);
    return a < 0.5f ? erf_small(x) : copysignf(1.0f - PQ__EW_ERFC_T(a) * e, x);
}
PQ__EW_EXP_MAP(erf_f32, pq__ew_erfc_arg(fabsf(x)), erf_out(x, e))
MAP(not_b, uint8_t, uint8_t, x == 0)
MAP(isnan_f32, float, uint8_t, x != x)
MAP(isnan_f64, double, uint8_t, x != x)

static const map_table abs_tab = {TAB_F(abs) TAB_S(abs) TAB_U(abs)};
static const map_table neg_tab = {TAB_F(neg) TAB_S(neg)};
static const map_table sign_tab = {TAB_F(sign) TAB_S(sign) TAB_U(sign)};
static const map_table ceil_tab = {TAB_F(ceil)};
static const map_table floor_tab = {TAB_F(floor)};
static const map_table round_tab = {TAB_F(round)};
static const map_table sqrt_tab = {TAB_F(sqrt)};
static const map_table recip_tab = {TAB_F(recip)};
static const map_table exp_tab = {TAB_F(exp)};
static const map_table log_tab = {TAB_F(log)};
static const map_table sin_tab = {TAB_F(sin)};
static const map_table cos_tab = {TAB_F(cos)};
static const map_table tan_tab = {TAB_F(tan)};
static const map_table asin_tab = {TAB_F(asin)};
static const map_table acos_tab = {TAB_F(acos)};
static const map_table atan_tab = {TAB_F(atan)};
static const map_table sinh_tab = {TAB_F(sinh)};
static const map_table cosh_tab = {TAB_F(cosh)};
static const map_table asinh_tab = {TAB_F(asinh)};
static const map_table acosh_tab = {TAB_F(acosh)};
static const map_table atanh_tab = {TAB_F(atanh)};
static const map_table erf_tab = {TAB_F(erf)};
static const map_table not_tab = {[PQ_DTYPE_BOOL] = not_b};
static const map_table isnan_tab = {TAB_F(isnan)};

/* IsInf-10: detect_positive / detect_negative select which infinities count. */
typedef struct isinf_ctx {
    int pos, neg;
} isinf_ctx;

#define DEF_ISINF(name, T)                                                           \
    static void name(int64_t n, const void *px, void *py, const void *ctx)           \
    {                                                                                \
        const isinf_ctx *c = ctx;                                                    \
        const T *restrict X = px;                                                    \
        uint8_t *restrict Y = py;                                                    \
        const T inf = (T)INFINITY;                                                   \
        const int pos = c->pos, neg = c->neg;                                        \
        PQ__SIMD for (int64_t i = 0; i < n; i++)                                     \
        {                                                                            \
            const T x = X[i];                                                        \
            Y[i] = (uint8_t)((pos && x == inf) || (neg && x == -inf));               \
        }                                                                            \
    }
DEF_ISINF(isinf_f32, float)
DEF_ISINF(isinf_f64, double)
static const map_table isinf_tab = {TAB_F(isinf)};

/* ---------------------------------------------------------------- runner */

/* Applies the kernel for x's dtype (float32 for halves) into a new output of x's shape and
 * either x's dtype or bool. */
static pq_status run_map(pq_exec_node *n, const map_table tab, int out_bool, const void *ctx,
                         pq_err *err)
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
    PQ_TRY(pq_node_output(n, 0, out_bool ? PQ_DTYPE_BOOL : dt, x->rank, x->dims, 1, &y, err));
    pq__ew_map_run(n, x, y, fn, ctx);
fail:
    return st;
}

#define DEF_RUN(fn_name, tab, out_bool)                        \
    static pq_status fn_name(pq_exec_node *n, pq_err *err)     \
    {                                                          \
        return run_map(n, tab, out_bool, NULL, err);           \
    }
DEF_RUN(run_abs, abs_tab, 0)
DEF_RUN(run_neg, neg_tab, 0)
DEF_RUN(run_sign, sign_tab, 0)
DEF_RUN(run_ceil, ceil_tab, 0)
DEF_RUN(run_floor, floor_tab, 0)
DEF_RUN(run_round, round_tab, 0)
DEF_RUN(run_sqrt, sqrt_tab, 0)
DEF_RUN(run_recip, recip_tab, 0)
DEF_RUN(run_exp, exp_tab, 0)
DEF_RUN(run_log, log_tab, 0)
DEF_RUN(run_sin, sin_tab, 0)
DEF_RUN(run_cos, cos_tab, 0)
DEF_RUN(run_tan, tan_tab, 0)
DEF_RUN(run_asin, asin_tab, 0)
DEF_RUN(run_acos, acos_tab, 0)
DEF_RUN(run_atan, atan_tab, 0)
DEF_RUN(run_sinh, sinh_tab, 0)
DEF_RUN(run_cosh, cosh_tab, 0)
DEF_RUN(run_asinh, asinh_tab, 0)
DEF_RUN(run_acosh, acosh_tab, 0)
DEF_RUN(run_atanh, atanh_tab, 0)
DEF_RUN(run_erf, erf_tab, 0)
DEF_RUN(run_not, not_tab, 0)
DEF_RUN(run_isnan, isnan_tab, 1)

static pq_status prepare_isinf(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t pos = 1, neg = 1;
    isinf_ctx *c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory preparing IsInf");
    n->ctx = c;
    PQ_TRY(pq_op_get_int(n->op, "detect_positive", 1, &pos, err));
    PQ_TRY(pq_op_get_int(n->op, "detect_negative", 1, &neg, err));
    c->pos = pos != 0;
    c->neg = neg != 0;
fail:
    return st;
}

static pq_status run_isinf(pq_exec_node *n, pq_err *err)
{
    return run_map(n, isinf_tab, 1, n->ctx, err);
}

static void release_ctx(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

const pq_op_def pq_ops_unary[] = {
    {"", "Abs", 1, 1, 1, 1, 1, NULL, run_abs, NULL},
    {"", "Neg", 1, 1, 1, 1, 1, NULL, run_neg, NULL},
    {"", "Ceil", 1, 1, 1, 1, 1, NULL, run_ceil, NULL},
    {"", "Floor", 1, 1, 1, 1, 1, NULL, run_floor, NULL},
    {"", "Round", 11, 1, 1, 1, 1, NULL, run_round, NULL},
    {"", "Sign", 9, 1, 1, 1, 1, NULL, run_sign, NULL},
    {"", "Sqrt", 1, 1, 1, 1, 1, NULL, run_sqrt, NULL},
    {"", "Reciprocal", 1, 1, 1, 1, 1, NULL, run_recip, NULL},
    {"", "Exp", 1, 1, 1, 1, 1, NULL, run_exp, NULL},
    {"", "Log", 1, 1, 1, 1, 1, NULL, run_log, NULL},
    {"", "Sin", 7, 1, 1, 1, 1, NULL, run_sin, NULL},
    {"", "Cos", 7, 1, 1, 1, 1, NULL, run_cos, NULL},
    {"", "Tan", 7, 1, 1, 1, 1, NULL, run_tan, NULL},
    {"", "Asin", 7, 1, 1, 1, 1, NULL, run_asin, NULL},
    {"", "Acos", 7, 1, 1, 1, 1, NULL, run_acos, NULL},
    {"", "Atan", 7, 1, 1, 1, 1, NULL, run_atan, NULL},
    {"", "Sinh", 9, 1, 1, 1, 1, NULL, run_sinh, NULL},
    {"", "Cosh", 9, 1, 1, 1, 1, NULL, run_cosh, NULL},
    {"", "Asinh", 9, 1, 1, 1, 1, NULL, run_asinh, NULL},
    {"", "Acosh", 9, 1, 1, 1, 1, NULL, run_acosh, NULL},
    {"", "Atanh", 9, 1, 1, 1, 1, NULL, run_atanh, NULL},
    {"", "Erf", 9, 1, 1, 1, 1, NULL, run_erf, NULL},
    {"", "Not", 1, 1, 1, 1, 1, NULL, run_not, NULL},
    {"", "IsNaN", 9, 1, 1, 1, 1, NULL, run_isnan, NULL},
    {"", "IsInf", 10, 1, 1, 1, 1, prepare_isinf, run_isinf, release_ctx},
    PQ_OP_DEF_END,
};

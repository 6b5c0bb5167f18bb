/* binary.c - operator family: Add Sub Mul Div Pow Min Max Sum Mean Mod And Or Xor Equal
 * Greater Less GreaterOrEqual LessOrEqual BitShift Where.
 *
 * Every operator runs through the one broadcast iterator of binary_ew.h; a kernel sees a
 * contiguous output run with each input either a full run (stride 1) or a repeated scalar
 * (stride 0), so the float32 loops vectorise. Variadic Sum/Mean/Max/Min fold their inputs
 * pairwise into the output shape (ping-ponging with the executor workspace).
 *
 * Semantics follow ONNX and its numpy reference: integer arithmetic wraps like the element
 * type (computed in unsigned arithmetic, so no C overflow); integer Div truncates toward zero
 * like C; Mod with fmod=0 takes the sign of the divisor (Python's %), with fmod=1 the sign of
 * the dividend (C's fmod); integer division or modulo by zero gives 0 (C would trap);
 * Min/Max propagate NaN like numpy's minimum/maximum; BitShift by at least the bit width
 * gives 0. float16/bfloat16 are computed through float32.
 */
#include "binary_ew.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* ================================================================== kernels */

/* EW2(name, TA, TB, TY, EXPR): y = EXPR(a, b) over a run; the three stride cases get their
 * own loops so that the compiler sees unit-stride or loop-invariant operands. */
#define EW2(name, TA, TB, TY, EXPR)                                                        \
    static void name(int64_t n, const void *pa, int64_t sa, const void *pb, int64_t sb,   \
                     const void *pc, int64_t sc, void *py)                                \
    {                                                                                      \
        (void)pc;                                                                          \
        (void)sc;                                                                          \
        const TA *restrict A = pa;                                                         \
        const TB *restrict B = pb;                                                         \
        TY *restrict Y = py;                                                               \
        if (sa == 1 && sb == 1) {                                                          \
            PQ__SIMD for (int64_t i = 0; i < n; i++)                                       \
            {                                                                              \
                const TA a = A[i];                                                         \
                const TB b = B[i];                                                         \
                Y[i] = (TY)(EXPR);                                                         \
            }                                                                              \
        } else if (sa == 1) {                                                              \
            const TB b = B[0];                                                             \
            PQ__SIMD for (int64_t i = 0; i < n; i++)                                       \
            {                                                                              \
                const TA a = A[i];                                                         \
                Y[i] = (TY)(EXPR);                                                         \
            }                                                                              \
        } else if (sb == 1) {                                                              \
            const TA a = A[0];                                                             \
            PQ__SIMD for (int64_t i = 0; i < n; i++)                                       \
            {                                                                              \
                const TB b = B[i];                                                         \
                Y[i] = (TY)(EXPR);                                                         \
            }                                                                              \
        } else {                                                                           \
            const TA a = A[0];                                                             \
            const TB b = B[0];                                                             \
            for (int64_t i = 0; i < n; i++) Y[i] = (TY)(EXPR);                             \
        }                                                                                  \
    }

/* Output type selectors. */
#define SAME(T) T
#define BOOLT(T) uint8_t

/* Kernel families per element type. E(T, U) is the expression for element type T with U an
 * unsigned type at least as wide as int (wrapping arithmetic without promotion to int). */
#define GEN_F(op, E, OT)                                 \
    EW2(op##_f32, float, float, OT(float), E(float, float)) \
    EW2(op##_f64, double, double, OT(double), E(double, double))
#define GEN_S(op, E, OT)                                           \
    EW2(op##_i8, int8_t, int8_t, OT(int8_t), E(int8_t, unsigned))     \
    EW2(op##_i16, int16_t, int16_t, OT(int16_t), E(int16_t, unsigned)) \
    EW2(op##_i32, int32_t, int32_t, OT(int32_t), E(int32_t, uint32_t)) \
    EW2(op##_i64, int64_t, int64_t, OT(int64_t), E(int64_t, uint64_t))
#define GEN_U(op, E, OT)                                              \
    EW2(op##_u8, uint8_t, uint8_t, OT(uint8_t), E(uint8_t, unsigned))     \
    EW2(op##_u16, uint16_t, uint16_t, OT(uint16_t), E(uint16_t, unsigned)) \
    EW2(op##_u32, uint32_t, uint32_t, OT(uint32_t), E(uint32_t, uint32_t)) \
    EW2(op##_u64, uint64_t, uint64_t, OT(uint64_t), E(uint64_t, uint64_t))
#define GEN_ALL(op, E, OT) GEN_F(op, E, OT) GEN_S(op, E, OT) GEN_U(op, E, OT)

#define TAB_F(op) [PQ_DTYPE_FLOAT32] = op##_f32, [PQ_DTYPE_FLOAT64] = op##_f64,
#define TAB_S(op) \
    [PQ_DTYPE_INT8] = op##_i8, [PQ_DTYPE_INT16] = op##_i16, [PQ_DTYPE_INT32] = op##_i32, \
    [PQ_DTYPE_INT64] = op##_i64,
#define TAB_U(op) \
    [PQ_DTYPE_UINT8] = op##_u8, [PQ_DTYPE_UINT16] = op##_u16, [PQ_DTYPE_UINT32] = op##_u32, \
    [PQ_DTYPE_UINT64] = op##_u64,
#define TAB_ALL(op) TAB_F(op) TAB_S(op) TAB_U(op)

typedef pq__ew_fn kernel_table[PQ_DTYPE_COUNT];

/* Arithmetic. */
#define E_ADD(T, U) (T)((U)a + (U)b)
#define E_SUB(T, U) (T)((U)a - (U)b)
#define E_MUL(T, U) (T)((U)a * (U)b)
#define E_DIVF(T, U) a / b
#define E_DIVS(T, U) div_trunc_##T(a, b)
#define E_DIVU(T, U) (b ? (T)(a / b) : (T)0)
/* NaN-propagating like numpy: a NaN a wins, else a NaN b falls through to the else arm. */
#define E_MAX(T, U) ((a > b || a != a) ? a : b)
#define E_MIN(T, U) ((a < b || a != a) ? a : b)

/* Signed division truncating toward zero; /0 gives 0 and MIN/-1 wraps (C would trap). */
#define DEF_DIVS(T, U)                                                  \
    static inline T div_trunc_##T(T a, T b)                             \
    {                                                                   \
        if (b == 0) return 0;                                           \
        if (b == -1) return (T)(0u - (U)a);                             \
        return (T)(a / b);                                              \
    }                                                                   \
    static inline T mod_c_##T(T a, T b)                                 \
    {                                                                   \
        if (b == 0 || b == -1) return 0;                                \
        return (T)(a % b);                                              \
    }                                                                   \
    static inline T mod_py_##T(T a, T b)                                \
    {                                                                   \
        T r = mod_c_##T(a, b);                                          \
        if (r != 0 && ((r < 0) != (b < 0))) r = (T)((U)r + (U)b);       \
        return r;                                                       \
    }
DEF_DIVS(int8_t, unsigned)
DEF_DIVS(int16_t, unsigned)
DEF_DIVS(int32_t, uint32_t)
DEF_DIVS(int64_t, uint64_t)

GEN_ALL(add, E_ADD, SAME)
GEN_ALL(sub, E_SUB, SAME)
GEN_ALL(mul, E_MUL, SAME)
GEN_F(div, E_DIVF, SAME)
GEN_S(div, E_DIVS, SAME)
GEN_U(div, E_DIVU, SAME)
GEN_ALL(max, E_MAX, SAME)
GEN_ALL(min, E_MIN, SAME)

static const kernel_table add_tab = {TAB_ALL(add)};
static const kernel_table sub_tab = {TAB_ALL(sub)};
static const kernel_table mul_tab = {TAB_ALL(mul)};
static const kernel_table div_tab = {TAB_ALL(div)};
static const kernel_table max_tab = {TAB_ALL(max)};
static const kernel_table min_tab = {TAB_ALL(min)};
/* Sum and Mean are defined for float types only. */
static const kernel_table sum_tab = {TAB_F(add)};

/* Mod: fmod=1 is C's fmod / %, fmod=0 Python's % (sign of the divisor). */
static inline float mod_py_f(float a, float b)
{
    float r = fmodf(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}
static inline double mod_py_d(double a, double b)
{
    double r = fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}
EW2(fmod_f32, float, float, float, fmodf(a, b))
EW2(fmod_f64, double, double, double, fmod(a, b))
EW2(pymod_f32, float, float, float, mod_py_f(a, b))
EW2(pymod_f64, double, double, double, mod_py_d(a, b))
#define E_FMODS(T, U) mod_c_##T(a, b)
#define E_PYMODS(T, U) mod_py_##T(a, b)
#define E_MODU(T, U) (b ? (T)(a % b) : (T)0)
GEN_S(fmod, E_FMODS, SAME)
GEN_S(pymod, E_PYMODS, SAME)
GEN_U(mod, E_MODU, SAME)
static const kernel_table fmod_tab = {TAB_F(fmod) TAB_S(fmod) TAB_U(mod)};
static const kernel_table pymod_tab = {TAB_F(pymod) TAB_S(pymod) TAB_U(mod)};

/* Logic on bool (stored as bytes 0/1; any non-zero byte reads as true). */
EW2(and_b, uint8_t, uint8_t, uint8_t, (a != 0) & (b != 0))
EW2(or_b, uint8_t, uint8_t, uint8_t, (a != 0) | (b != 0))
EW2(xor_b, uint8_t, uint8_t, uint8_t, (a != 0) ^ (b != 0))
static const kernel_table and_tab = {[PQ_DTYPE_BOOL] = and_b};
static const kernel_table or_tab = {[PQ_DTYPE_BOOL] = or_b};
static const kernel_table xor_tab = {[PQ_DTYPE_BOOL] = xor_b};

/* Comparisons (bool output). */
#define E_EQ(T, U) a == b
#define E_GT(T, U) a > b
#define E_LT(T, U) a < b
#define E_GE(T, U) a >= b
#define E_LE(T, U) a <= b
GEN_ALL(eq, E_EQ, BOOLT)
GEN_ALL(gt, E_GT, BOOLT)
GEN_ALL(lt, E_LT, BOOLT)
GEN_ALL(ge, E_GE, BOOLT)
GEN_ALL(le, E_LE, BOOLT)
EW2(eq_b, uint8_t, uint8_t, uint8_t, (a != 0) == (b != 0))
static const kernel_table eq_tab = {TAB_ALL(eq)[PQ_DTYPE_BOOL] = eq_b};
static const kernel_table gt_tab = {TAB_ALL(gt)};
static const kernel_table lt_tab = {TAB_ALL(lt)};
static const kernel_table ge_tab = {TAB_ALL(ge)};
static const kernel_table le_tab = {TAB_ALL(le)};

/* BitShift (unsigned types only): shifting by the bit width or more gives 0. */
#define E_SHL(T, U) (b >= 8 * sizeof(T) ? (T)0 : (T)((U)a << b))
#define E_SHR(T, U) (b >= 8 * sizeof(T) ? (T)0 : (T)(a >> b))
GEN_U(shl, E_SHL, SAME)
GEN_U(shr, E_SHR, SAME)
static const kernel_table shl_tab = {TAB_U(shl)};
static const kernel_table shr_tab = {TAB_U(shr)};

/* Where: copy by element size (any dtype; strings copy their pointers first). */
#define DEF_WHERE(name, T)                                                                 \
    static void name(int64_t n, const void *pc, int64_t sc, const void *pa, int64_t sa,   \
                     const void *pb, int64_t sb, void *py)                                \
    {                                                                                      \
        const uint8_t *restrict C = pc;                                                    \
        const T *restrict A = pa;                                                          \
        const T *restrict B = pb;                                                          \
        T *restrict Y = py;                                                                \
        if (sc == 1 && sa == 1 && sb == 1) {                                               \
            PQ__SIMD for (int64_t i = 0; i < n; i++)                                       \
            {                                                                              \
                const T a = A[i], b = B[i];                                                \
                Y[i] = C[i] ? a : b;                                                       \
            }                                                                              \
        } else {                                                                           \
            for (int64_t i = 0; i < n; i++) Y[i] = C[i * sc] ? A[i * sa] : B[i * sb];      \
        }                                                                                  \
    }
DEF_WHERE(where_1, uint8_t)
DEF_WHERE(where_2, uint16_t)
DEF_WHERE(where_4, uint32_t)
DEF_WHERE(where_8, uint64_t)

/* Pow kernels. Same-type float: powf/pow. Integer base and integer exponent: exact
 * repeated squaring with wrap-around (negative exponents give the truncated 1/a^-b: 0
 * unless |a| == 1). Everything else is computed in double (pow_mixed). */
static inline uint64_t ipow_u64(uint64_t a, uint64_t e)
{
    uint64_t r = 1;
    while (e) {
        if (e & 1) r *= a;
        a *= a;
        e >>= 1;
    }
    return r;
}
static inline int64_t ipow_i64(int64_t a, int64_t e)
{
    if (e < 0) {
        if (a == 1) return 1;
        if (a == -1) return (e & 1) ? -1 : 1;
        return 0;
    }
    return (int64_t)ipow_u64((uint64_t)a, (uint64_t)e);
}
EW2(pow_f32, float, float, float, powf(a, b))
EW2(pow_f64, double, double, double, pow(a, b))
EW2(square_f32, float, float, float, ((void)b, a * a))
EW2(square_f64, double, double, double, ((void)b, a * a))

/* ================================================================== operator contexts */

typedef struct bin_ctx {
    int fmod;       /* Mod */
    int shift_left; /* BitShift */
    int broadcast;  /* opset < 7 arithmetic/logic: legacy `broadcast` attribute */
    int has_axis;   /* ... and whether `axis` was given */
    int64_t axis;
} bin_ctx;

static void release_ctx(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

static pq_status prepare_mod(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t fm = 0;
    bin_ctx *c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory preparing Mod");
    n->ctx = c;
    PQ_TRY(pq_op_get_int(n->op, "fmod", 0, &fm, err));
    PQ_CHECK(fm == 0 || fm == 1, PQ_ERR_INVALID, "Mod: fmod must be 0 or 1, got %" PRId64, fm);
    c->fmod = (int)fm;
    return PQ_OK;
fail:
    return st;
}

static pq_status prepare_bitshift(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const char *dir = NULL;
    bin_ctx *c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory preparing BitShift");
    n->ctx = c;
    PQ_TRY(pq_op_get_string(n->op, "direction", NULL, &dir, err));
    PQ_CHECK(dir, PQ_ERR_INVALID, "BitShift: attribute 'direction' is required");
    PQ_CHECK(strcmp(dir, "LEFT") == 0 || strcmp(dir, "RIGHT") == 0, PQ_ERR_INVALID,
             "BitShift: direction must be \"LEFT\" or \"RIGHT\", got \"%s\"", dir);
    c->shift_left = strcmp(dir, "LEFT") == 0;
    return PQ_OK;
fail:
    return st;
}

/* Add/Sub/Mul/Div/Pow-1,6 (legacy broadcasting): attributes broadcast (0/1) and axis. */
static pq_status prepare_legacy(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t bc = 0;
    bin_ctx *c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory preparing %s", n->def->name);
    n->ctx = c;
    PQ_TRY(pq_op_get_int(n->op, "broadcast", 0, &bc, err));
    c->broadcast = bc != 0;
    c->has_axis = pq_op_find_attr(n->op, "axis") != NULL;
    PQ_TRY(pq_op_get_int(n->op, "axis", 0, &c->axis, err));
fail:
    return st;
}

/* B as the legacy (opset < 7) rules see it: with broadcast=1 its dims line up with A's from
 * `axis` on (default: B's trailing dims against A's) and the rest become 1, after which
 * numpy broadcasting gives the same result. *view shares b's data. Without broadcast the
 * shapes are taken as they are (numpy rules accept equal shapes). */
static pq_status legacy_view(const bin_ctx *c, const pq_tensor *a, const pq_tensor *b,
                             pq_tensor *view, pq_err *err)
{
    *view = *b;
    if (!c->broadcast) return PQ_OK;
    int64_t axis = c->has_axis ? c->axis : a->rank - b->rank;
    if (axis < 0) axis += a->rank;
    if (axis < 0 || axis + b->rank > a->rank)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "legacy broadcast of a rank-%d B at axis %" PRId64
                          " does not fit a rank-%d A",
                          b->rank, c->axis, a->rank);
    view->rank = a->rank;
    for (int d = 0; d < a->rank; d++)
        view->dims[d] = (d >= axis && d < axis + b->rank) ? b->dims[d - axis] : 1;
    return PQ_OK;
}

/* ================================================================== the generic runner */

/* Data pointers of n_in inputs, half inputs replaced by float32 copies (freed by
 * staged_free). */
typedef struct staged {
    const void *data[PQ__EW_MAX_IN];
    size_t size[PQ__EW_MAX_IN];
    float *copy[PQ__EW_MAX_IN];
} staged;

static void staged_free(staged *s)
{
    for (int k = 0; k < PQ__EW_MAX_IN; k++) pq_free(s->copy[k]);
}

static pq_status stage_inputs(int n_in, const pq_tensor *const *in, staged *s, pq_err *err)
{
    memset(s, 0, sizeof *s);
    for (int k = 0; k < n_in; k++) {
        if (pq__ew_is_half(in[k]->dtype)) {
            s->copy[k] = pq__ew_half_copy_f32(in[k]);
            if (!s->copy[k]) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory staging input %d", k);
            s->data[k] = s->copy[k];
            s->size[k] = sizeof(float);
        } else {
            s->data[k] = in[k]->data;
            s->size[k] = pq_dtype_size(in[k]->dtype);
        }
    }
    return PQ_OK;
}

static pq_status check_same_dtype(int N, const pq_tensor *const *ins, pq_err *err)
{
    for (int k = 1; k < N; k++)
        if (ins[k]->dtype != ins[0]->dtype)
            return pq_err_set(err, PQ_ERR_INVALID, "input %d is %s but input 0 is %s", k,
                              pq_dtype_name(ins[k]->dtype), pq_dtype_name(ins[0]->dtype));
    return PQ_OK;
}

/* The kernel for dt (halves use the float32 one) or an UNSUPPORTED error. */
static pq_status pick(const pq_exec_node *n, const kernel_table tab, pq_dtype dt, pq__ew_fn *fn,
                      pq_err *err)
{
    pq_dtype kdt = pq__ew_is_half(dt) ? PQ_DTYPE_FLOAT32 : dt;
    *fn = (dt > PQ_DTYPE_UNDEFINED && dt < PQ_DTYPE_COUNT) ? tab[kdt] : NULL;
    if (!*fn)
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "%s of %s inputs is not supported",
                          n->def->name, pq_dtype_name(dt));
    return PQ_OK;
}

/* y = fn(a, b, ...) for all inputs folded left to right: the first pair broadcast into the
 * output shape, each further input combined with the running result. out_bool selects a
 * bool output (comparisons); otherwise y has the inputs' dtype. mean (Mean) divides the
 * final sum by the number of inputs. */
static pq_status run_fold(pq_exec_node *n, int N, const pq_tensor *const *ins,
                          const kernel_table tab, int out_bool, int mean, pq_err *err)
{
    pq_status st = PQ_OK;
    staged s;
    float *acc_f32 = NULL;
    pq_tensor *y = NULL;
    const pq_tensor *in[PQ__EW_MAX_IN];
    int rank;
    int64_t dims[PQ_MAX_RANK];
    pq__ew_fn fn;

    memset(&s, 0, sizeof s);
    for (int k = 0; k < N; k++) PQ_CHECK(ins[k], PQ_ERR_INVALID, "input %d is missing", k);
    PQ_TRY(check_same_dtype(N, ins, err));
    const pq_dtype dt = ins[0]->dtype;
    PQ_TRY(pick(n, tab, dt, &fn, err));
    PQ_TRY(pq__ew_bcast_shape(N, ins, &rank, dims, err));
    const pq_dtype ydt = out_bool ? PQ_DTYPE_BOOL : dt;
    PQ_TRY(pq_node_output(n, 0, ydt, rank, dims, 1, &y, err));
    if (N == 1) {
        /* Variadic ops with a single input (Mean of one input is that input): a copy. */
        memcpy(y->data, ins[0]->data, y->nbytes);
        return PQ_OK;
    }
    const int half_out = pq__ew_is_half(ydt);
    const size_t ysz = half_out ? sizeof(float) : pq_dtype_size(ydt);
    void *acc = y->data;
    if (half_out) {
        acc_f32 = pq_malloc((size_t)(y->numel ? y->numel : 1) * sizeof(float));
        PQ_CHECK(acc_f32, PQ_ERR_NOMEM, "out of memory staging the output");
        acc = acc_f32;
    }
    const int threads = pq_node_threads(n);

    {
        /* The inputs are staged one pair at a time so halves never hold N float copies. */
        void *ws = NULL;
        if (N > 2) {
            ws = pq_node_workspace(n, (size_t)(y->numel ? y->numel : 1) * ysz);
            PQ_CHECK(ws, PQ_ERR_NOMEM, "out of memory for a %d-input %s", N, n->def->name);
        }
        for (int k = 1; k < N; k++) {
            /* Pass k writes the buffer that makes the last pass land in acc. */
            void *dst = ((N - 1 - k) % 2 == 0) ? acc : ws;
            const void *src = ((N - k) % 2 == 0) ? acc : ws;
            pq__ew_bcast plan;
            const void *ptr[2];
            size_t sz[2];
            if (k == 1) {
                in[0] = ins[0];
                in[1] = ins[1];
                PQ_TRY(stage_inputs(2, in, &s, err));
                ptr[0] = s.data[0];
                ptr[1] = s.data[1];
                sz[0] = s.size[0];
                sz[1] = s.size[1];
            } else {
                in[0] = y; /* the running result has the output shape */
                in[1] = ins[k];
                PQ_TRY(stage_inputs(1, in + 1, &s, err));
                ptr[0] = src;
                ptr[1] = s.data[0];
                sz[0] = ysz;
                sz[1] = s.size[0];
            }
            PQ_TRY(pq__ew_bcast_plan(2, in, rank, dims, &plan, err));
            pq__ew_bcast_run(&plan, fn, ptr, sz, dst, ysz, threads);
            staged_free(&s);
            memset(&s, 0, sizeof s);
        }
    }
    if (mean) {
        /* Mean: divide the sum (float types only: the table has no integer kernels). */
        if (dt == PQ_DTYPE_FLOAT64) {
            double *d = acc;
            for (int64_t i = 0; i < y->numel; i++) d[i] /= N;
        } else {
            float *f = acc;
            for (int64_t i = 0; i < y->numel; i++) f[i] /= (float)N;
        }
    }
    if (half_out) pq__ew_f32_to_half(ydt, acc_f32, y->data, y->numel);
fail:
    staged_free(&s);
    pq_free(acc_f32);
    return st;
}

/* ================================================================== operators */

#define DEF_FOLD(fn_name, tab, out_bool, mean)                      \
    static pq_status fn_name(pq_exec_node *n, pq_err *err)          \
    {                                                               \
        return run_fold(n, n->n_inputs, (const pq_tensor *const *)n->inputs, tab, out_bool, \
                        mean, err);                                 \
    }
DEF_FOLD(run_add, add_tab, 0, 0)
DEF_FOLD(run_sub, sub_tab, 0, 0)
DEF_FOLD(run_mul, mul_tab, 0, 0)
DEF_FOLD(run_div, div_tab, 0, 0)
DEF_FOLD(run_max, max_tab, 0, 0)
DEF_FOLD(run_min, min_tab, 0, 0)
DEF_FOLD(run_sum, sum_tab, 0, 0)
DEF_FOLD(run_mean, sum_tab, 0, 1)
DEF_FOLD(run_and, and_tab, 0, 0)
DEF_FOLD(run_or, or_tab, 0, 0)
DEF_FOLD(run_xor, xor_tab, 0, 0)
DEF_FOLD(run_equal, eq_tab, 1, 0)
DEF_FOLD(run_greater, gt_tab, 1, 0)
DEF_FOLD(run_less, lt_tab, 1, 0)
DEF_FOLD(run_greater_equal, ge_tab, 1, 0)
DEF_FOLD(run_less_equal, le_tab, 1, 0)

static pq_status run_mod(pq_exec_node *n, pq_err *err)
{
    const bin_ctx *c = n->ctx;
    return run_fold(n, 2, (const pq_tensor *const *)n->inputs, c->fmod ? fmod_tab : pymod_tab,
                    0, 0, err);
}

static pq_status run_bitshift(pq_exec_node *n, pq_err *err)
{
    const bin_ctx *c = n->ctx;
    return run_fold(n, 2, (const pq_tensor *const *)n->inputs, c->shift_left ? shl_tab : shr_tab,
                    0, 0, err);
}

static pq_status run_legacy(pq_exec_node *n, const kernel_table tab, int out_bool, pq_err *err)
{
    pq_tensor view;
    const pq_tensor *a = n->inputs[0], *b = n->inputs[1];
    if (!a || !b) return pq_err_set(err, PQ_ERR_INVALID, "%s needs 2 inputs", n->def->name);
    pq_status st = legacy_view(n->ctx, a, b, &view, err);
    if (st != PQ_OK) return st;
    const pq_tensor *ins[2] = {a, &view};
    return run_fold(n, 2, ins, tab, out_bool, 0, err);
}

#define DEF_LEGACY(fn_name, tab, out_bool)                     \
    static pq_status fn_name(pq_exec_node *n, pq_err *err)     \
    {                                                          \
        return run_legacy(n, tab, out_bool, err);              \
    }
DEF_LEGACY(run_add_legacy, add_tab, 0)
DEF_LEGACY(run_sub_legacy, sub_tab, 0)
DEF_LEGACY(run_mul_legacy, mul_tab, 0)
DEF_LEGACY(run_div_legacy, div_tab, 0)
DEF_LEGACY(run_and_legacy, and_tab, 0)
DEF_LEGACY(run_or_legacy, or_tab, 0)
DEF_LEGACY(run_xor_legacy, xor_tab, 0)
DEF_LEGACY(run_equal_legacy, eq_tab, 1)
DEF_LEGACY(run_greater_legacy, gt_tab, 1)
DEF_LEGACY(run_less_legacy, lt_tab, 1)

static pq_status run_where(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *y = NULL;
    int rank;
    int64_t dims[PQ_MAX_RANK];
    pq__ew_bcast plan;
    const pq_tensor *in[3] = {n->inputs[0], n->inputs[1], n->inputs[2]};

    PQ_CHECK(in[0] && in[1] && in[2], PQ_ERR_INVALID, "Where needs 3 inputs");
    PQ_CHECK(in[0]->dtype == PQ_DTYPE_BOOL, PQ_ERR_INVALID, "condition is %s, expected bool",
             pq_dtype_name(in[0]->dtype));
    PQ_CHECK(in[1]->dtype == in[2]->dtype, PQ_ERR_INVALID, "X is %s but Y is %s",
             pq_dtype_name(in[1]->dtype), pq_dtype_name(in[2]->dtype));
    const pq_dtype dt = in[1]->dtype;
    PQ_TRY(pq__ew_bcast_shape(3, in, &rank, dims, err));
    PQ_TRY(pq__ew_bcast_plan(3, in, rank, dims, &plan, err));
    const size_t sz = pq_dtype_size(dt);
    pq__ew_fn fn = sz == 1 ? where_1 : sz == 2 ? where_2 : sz == 4 ? where_4 : sz == 8 ? where_8
                                                                              : NULL;
    PQ_CHECK(fn, PQ_ERR_UNSUPPORTED, "Where of %s is not supported", pq_dtype_name(dt));
    const void *ptr[3] = {in[0]->data, in[1]->data, in[2]->data};
    const size_t sizes[3] = {1, sz, sz};
    if (dt == PQ_DTYPE_STRING) {
        /* Select the string pointers into a scratch array, then copy the strings. */
        PQ_TRY(pq_node_output(n, 0, dt, rank, dims, 0, &y, err));
        char **sel = pq_node_workspace(n, (size_t)(y->numel ? y->numel : 1) * sizeof(char *));
        PQ_CHECK(sel, PQ_ERR_NOMEM, "out of memory selecting strings");
        pq__ew_bcast_run(&plan, fn, ptr, sizes, sel, sz, 1);
        for (int64_t i = 0; i < y->numel; i++) PQ_TRY(pq_tensor_set_string(y, i, sel[i], err));
        return PQ_OK;
    }
    PQ_TRY(pq_node_output(n, 0, dt, rank, dims, 1, &y, err));
    pq__ew_bcast_run(&plan, fn, ptr, sizes, y->data, sz, pq_node_threads(n));
fail:
    return st;
}

/* ---------------------------------------------------------------- Pow */

/* Stores v as element i of t, cast like numpy's astype (Pow's mixed-type path). */
static void store_f64(pq_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case PQ_DTYPE_FLOAT32: PQ_DATA(t, float)[i] = (float)v; break;
    case PQ_DTYPE_FLOAT64: PQ_DATA(t, double)[i] = v; break;
    case PQ_DTYPE_FLOAT16: PQ_DATA(t, uint16_t)[i] = pq_f32_to_f16((float)v); break;
    case PQ_DTYPE_BFLOAT16: PQ_DATA(t, uint16_t)[i] = pq_f32_to_bf16((float)v); break;
    case PQ_DTYPE_INT32:
        /* numpy's astype: truncate toward zero; out-of-range and NaN saturate/zero here
         * instead of C's undefined conversion. */
        PQ_DATA(t, int32_t)[i] = v != v ? 0 : v >= 2147483647.0 ? INT32_MAX
                                 : v <= -2147483648.0 ? INT32_MIN : (int32_t)v;
        break;
    case PQ_DTYPE_INT64:
        PQ_DATA(t, int64_t)[i] = v != v ? 0 : v >= 9223372036854775807.0 ? INT64_MAX
                                 : v <= -9223372036854775808.0 ? INT64_MIN : (int64_t)v;
        break;
    default: break;
    }
}

EW2(pow_dd, double, double, double, pow(a, b))

EW2(ipow_i64k, int64_t, int64_t, int64_t, ipow_i64(a, b))

/* The elements of t as a new array of double or int64 (pq_malloc'd; NULL on failure). */
static double *copy_f64(const pq_tensor *t)
{
    double *d = pq_malloc((size_t)(t->numel ? t->numel : 1) * sizeof *d);
    if (d)
        for (int64_t i = 0; i < t->numel; i++) d[i] = pq_tensor_get_f64(t, i);
    return d;
}
static int64_t *copy_i64(const pq_tensor *t)
{
    int64_t *d = pq_malloc((size_t)(t->numel ? t->numel : 1) * sizeof *d);
    if (d)
        for (int64_t i = 0; i < t->numel; i++) d[i] = pq_tensor_get_i64(t, i);
    return d;
}

/* Pow-7..15: the output has the base's type. float32^float32 and float64^float64 run
 * directly; integer^integer exactly in int64; any other mix (opset 12+ lets the exponent
 * type differ) in double like numpy's promoted power, then cast to the base type. */
static pq_status pow_compute(pq_exec_node *n, const pq_tensor *a, const pq_tensor *b,
                             pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *y = NULL;
    void *ca = NULL, *cb = NULL, *cy = NULL;
    int rank;
    int64_t dims[PQ_MAX_RANK];
    pq__ew_bcast plan;
    const pq_tensor *in[2] = {a, b};

    PQ_CHECK(in[0] && in[1], PQ_ERR_INVALID, "Pow needs 2 inputs");
    const pq_dtype da = in[0]->dtype, db = in[1]->dtype;
    PQ_CHECK(pq_dtype_is_float(da) || da == PQ_DTYPE_INT32 || da == PQ_DTYPE_INT64,
             PQ_ERR_UNSUPPORTED, "Pow with a %s base is not supported", pq_dtype_name(da));
    PQ_CHECK(pq_dtype_is_float(db) || pq_dtype_is_integer(db), PQ_ERR_UNSUPPORTED,
             "Pow with a %s exponent is not supported", pq_dtype_name(db));
    PQ_TRY(pq__ew_bcast_shape(2, in, &rank, dims, err));
    PQ_TRY(pq__ew_bcast_plan(2, in, rank, dims, &plan, err));
    PQ_TRY(pq_node_output(n, 0, da, rank, dims, 1, &y, err));
    const int threads = pq_node_threads(n);
    if (da == db && (da == PQ_DTYPE_FLOAT32 || da == PQ_DTYPE_FLOAT64)) {
        const void *ptr[2] = {in[0]->data, in[1]->data};
        const size_t sz[2] = {pq_dtype_size(da), pq_dtype_size(da)};
        pq__ew_fn fn = da == PQ_DTYPE_FLOAT32 ? pow_f32 : pow_f64;
        /* x^2 (decomposed LayerNorm/variance) as x * x: the same correctly rounded value
         * pow gives, without a library call per element. */
        if (in[1]->numel == 1 && pq_tensor_get_f64(in[1], 0) == 2.0)
            fn = da == PQ_DTYPE_FLOAT32 ? square_f32 : square_f64;
        pq__ew_bcast_run(&plan, fn, ptr, sz, y->data, sz[0], threads);
        return PQ_OK;
    }
    const int ints = pq_dtype_is_integer(da) && pq_dtype_is_integer(db);
    if (ints) {
        ca = copy_i64(in[0]);
        cb = copy_i64(in[1]);
    } else {
        ca = copy_f64(in[0]);
        cb = copy_f64(in[1]);
    }
    cy = pq_malloc((size_t)(y->numel ? y->numel : 1) * 8);
    PQ_CHECK(ca && cb && cy, PQ_ERR_NOMEM, "out of memory computing Pow");
    const void *ptr[2] = {ca, cb};
    const size_t sz[2] = {8, 8};
    pq__ew_bcast_run(&plan, ints ? ipow_i64k : pow_dd, ptr, sz, cy, 8, threads);
    for (int64_t i = 0; i < y->numel; i++) {
        if (ints && da == PQ_DTYPE_INT32)
            PQ_DATA(y, int32_t)[i] = (int32_t)(uint32_t)((const uint64_t *)cy)[i];
        else if (ints)
            PQ_DATA(y, int64_t)[i] = ((const int64_t *)cy)[i];
        else
            store_f64(y, i, ((const double *)cy)[i]);
    }
fail:
    pq_free(ca);
    pq_free(cb);
    pq_free(cy);
    return st;
}

static pq_status run_pow(pq_exec_node *n, pq_err *err)
{
    return pow_compute(n, n->inputs[0], n->inputs[1], err);
}

static pq_status run_pow_legacy(pq_exec_node *n, pq_err *err)
{
    pq_tensor view;
    const pq_tensor *a = n->inputs[0], *b = n->inputs[1];
    if (!a || !b) return pq_err_set(err, PQ_ERR_INVALID, "Pow needs 2 inputs");
    pq_status st = legacy_view(n->ctx, a, b, &view, err);
    if (st != PQ_OK) return st;
    return pow_compute(n, a, &view, err);
}

/* ================================================================== table */

/* Semantics are identical across the opsets an entry covers. Add/Sub/Mul/Div/Pow-1,6 and
 * And/Or/Xor/Equal/Greater/Less-1 carry the legacy broadcast/axis attributes that opset 7
 * replaced by numpy broadcasting (the consumed_inputs attribute of opset 1 is ignored).
 * Max/Min/Sum/Mean-1,6 take equal shapes, which numpy broadcasting (8+) includes. */
const pq_op_def pq_ops_binary[] = {
    {"", "Add", 1, 2, 2, 1, 1, prepare_legacy, run_add_legacy, release_ctx},
    {"", "Sub", 1, 2, 2, 1, 1, prepare_legacy, run_sub_legacy, release_ctx},
    {"", "Mul", 1, 2, 2, 1, 1, prepare_legacy, run_mul_legacy, release_ctx},
    {"", "Div", 1, 2, 2, 1, 1, prepare_legacy, run_div_legacy, release_ctx},
    {"", "Pow", 1, 2, 2, 1, 1, prepare_legacy, run_pow_legacy, release_ctx},
    {"", "Add", 7, 2, 2, 1, 1, NULL, run_add, NULL},
    {"", "Sub", 7, 2, 2, 1, 1, NULL, run_sub, NULL},
    {"", "Mul", 7, 2, 2, 1, 1, NULL, run_mul, NULL},
    {"", "Div", 7, 2, 2, 1, 1, NULL, run_div, NULL},
    {"", "Pow", 7, 2, 2, 1, 1, NULL, run_pow, NULL},
    /* Max/Min/Sum/Mean-8 added multidirectional broadcasting (6 required equal shapes,
     * a special case of it). */
    {"", "Max", 1, 1, INT32_MAX, 1, 1, NULL, run_max, NULL},
    {"", "Min", 1, 1, INT32_MAX, 1, 1, NULL, run_min, NULL},
    {"", "Sum", 1, 1, INT32_MAX, 1, 1, NULL, run_sum, NULL},
    {"", "Mean", 1, 1, INT32_MAX, 1, 1, NULL, run_mean, NULL},
    {"", "Mod", 10, 2, 2, 1, 1, prepare_mod, run_mod, release_ctx},
    {"", "And", 1, 2, 2, 1, 1, prepare_legacy, run_and_legacy, release_ctx},
    {"", "Or", 1, 2, 2, 1, 1, prepare_legacy, run_or_legacy, release_ctx},
    {"", "Xor", 1, 2, 2, 1, 1, prepare_legacy, run_xor_legacy, release_ctx},
    {"", "Equal", 1, 2, 2, 1, 1, prepare_legacy, run_equal_legacy, release_ctx},
    {"", "Greater", 1, 2, 2, 1, 1, prepare_legacy, run_greater_legacy, release_ctx},
    {"", "Less", 1, 2, 2, 1, 1, prepare_legacy, run_less_legacy, release_ctx},
    {"", "And", 7, 2, 2, 1, 1, NULL, run_and, NULL},
    {"", "Or", 7, 2, 2, 1, 1, NULL, run_or, NULL},
    {"", "Xor", 7, 2, 2, 1, 1, NULL, run_xor, NULL},
    {"", "Equal", 7, 2, 2, 1, 1, NULL, run_equal, NULL},
    {"", "Greater", 7, 2, 2, 1, 1, NULL, run_greater, NULL},
    {"", "Less", 7, 2, 2, 1, 1, NULL, run_less, NULL},
    {"", "GreaterOrEqual", 12, 2, 2, 1, 1, NULL, run_greater_equal, NULL},
    {"", "LessOrEqual", 12, 2, 2, 1, 1, NULL, run_less_equal, NULL},
    {"", "BitShift", 11, 2, 2, 1, 1, prepare_bitshift, run_bitshift, release_ctx},
    {"", "Where", 9, 3, 3, 1, 1, NULL, run_where, NULL},
    PQ_OP_DEF_END,
};

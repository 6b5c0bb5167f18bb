/* reduce.c - operator family: ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd ReduceL1
 * ReduceL2 ReduceLogSum ReduceLogSumExp ReduceSumSquare ArgMax ArgMin CumSum TopK.
 *
 * Every Reduce* and ArgMax/ArgMin goes through one walker (reduce_walk.h): the reduced axes
 * are sorted, axes of extent 1 dropped, neighbours merged, and the input walked as
 * outer x reduced x inner with the inner (kept, contiguous) run vectorised.
 *
 * Arithmetic: float32/float64 data accumulate in double (float32 sums of many terms would
 * otherwise lose the 1e-3 relative accuracy the conformance tests ask for); float16 and
 * bfloat16 are staged through float32. Integer data accumulate in 64-bit two's complement
 * (sums and products wrap like the element type, then truncate to it); Mean/L2 of integers
 * truncate toward zero like numpy's astype.
 *
 * Reductions over an empty set give the identity of the operation, as ONNX 1.13 specifies
 * (1.12 leaves it open): Sum, SumSquare, L1, L2 -> 0; Prod -> 1; Max -> lowest value of the
 * type (-inf); Min -> highest (+inf); LogSum, LogSumExp -> -inf; Mean -> NaN (0/0; integers:
 * 0).
 */
#include "reduce_walk.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ================================================================== the walker */

pq_status pq__reduce_axes_mask(int rank, const int64_t *axes, int64_t n_axes, uint8_t *mask,
                               pq_err *err)
{
    for (int a = 0; a < rank; a++) mask[a] = 0;
    for (int64_t k = 0; k < n_axes; k++) {
        int64_t a = axes[k];
        if (a < -rank || a >= rank)
            return pq_err_set(err, PQ_ERR_INVALID, "axis %" PRId64 " is out of range for rank %d",
                              a, rank);
        if (a < 0) a += rank;
        if (mask[a])
            return pq_err_set(err, PQ_ERR_INVALID, "axis %" PRId64 " is given twice", axes[k]);
        mask[a] = 1;
    }
    return PQ_OK;
}

pq_status pq__reduce_plan_init(pq__reduce_plan *p, int rank, const int64_t *dims,
                               const uint8_t *reduced, int keepdims, pq_err *err)
{
    int64_t stride[PQ_MAX_RANK];
    int64_t g_ext[PQ_MAX_RANK], g_stride[PQ_MAX_RANK];
    uint8_t g_red[PQ_MAX_RANK];
    int n_g = 0;

    memset(p, 0, sizeof *p);
    int64_t s = 1;
    for (int a = rank - 1; a >= 0; a--) {
        stride[a] = s;
        s *= dims[a];
    }
    /* Groups of neighbouring axes of the same kind; extent-1 axes take no part. Walking
     * from the outermost axis, a group's stride is that of its innermost axis. */
    for (int a = 0; a < rank; a++) {
        if (dims[a] == 1) continue;
        uint8_t r = reduced[a] ? 1 : 0;
        if (n_g > 0 && g_red[n_g - 1] == r) {
            g_ext[n_g - 1] *= dims[a];
            g_stride[n_g - 1] = stride[a];
        } else {
            g_ext[n_g] = dims[a];
            g_stride[n_g] = stride[a];
            g_red[n_g] = r;
            n_g++;
        }
    }
    int last_red = -1;
    for (int g = 0; g < n_g; g++)
        if (g_red[g]) last_red = g;

    p->inner = 1;
    for (int g = last_red + 1; g < n_g; g++) p->inner *= g_ext[g];
    p->red_len = last_red >= 0 ? g_ext[last_red] : 1;
    p->n_rtab = 1;
    p->n_outer = 1;
    for (int g = 0; g < last_red; g++) {
        if (g_red[g]) {
            p->n_rtab *= g_ext[g];
        } else {
            p->kdims[p->n_kdims] = g_ext[g];
            p->kstrides[p->n_kdims] = g_stride[g];
            p->n_kdims++;
            p->n_outer *= g_ext[g];
        }
    }
    p->n_red = p->n_rtab * p->red_len;
    p->rtab = pq_malloc((size_t)(p->n_rtab > 0 ? p->n_rtab : 1) * sizeof *p->rtab);
    if (!p->rtab)
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory planning a reduction");
    /* Row-major enumeration of the outer reduced groups' offsets. */
    int64_t cnt = 1;
    p->rtab[0] = 0;
    for (int g = 0; g < last_red; g++) {
        if (!g_red[g]) continue;
        /* Each existing entry expands into g_ext[g] entries, the new group innermost. */
        for (int64_t e = cnt - 1; e >= 0; e--)
            for (int64_t j = g_ext[g] - 1; j >= 0; j--)
                p->rtab[e * g_ext[g] + j] = p->rtab[e] + j * g_stride[g];
        cnt *= g_ext[g];
    }

    p->out_rank = 0;
    for (int a = 0; a < rank; a++) {
        if (!reduced[a])
            p->out_dims[p->out_rank++] = dims[a];
        else if (keepdims)
            p->out_dims[p->out_rank++] = 1;
    }
    p->out_numel = p->n_outer * p->inner;
    return PQ_OK;
}

void pq__reduce_plan_free(pq__reduce_plan *p)
{
    pq_free(p->rtab);
    p->rtab = NULL;
}

void pq__half_to_f32(const pq_tensor *x, float *dst)
{
    const uint16_t *h = x->data;
    if (x->dtype == PQ_DTYPE_FLOAT16)
        for (int64_t i = 0; i < x->numel; i++) dst[i] = pq_f16_to_f32(h[i]);
    else
        for (int64_t i = 0; i < x->numel; i++) dst[i] = pq_bf16_to_f32(h[i]);
}

void pq__f32_to_half(const float *src, pq_tensor *y)
{
    uint16_t *h = y->data;
    if (y->dtype == PQ_DTYPE_FLOAT16)
        for (int64_t i = 0; i < y->numel; i++) h[i] = pq_f32_to_f16(src[i]);
    else
        for (int64_t i = 0; i < y->numel; i++) h[i] = pq_f32_to_bf16(src[i]);
}

/* ================================================================== Reduce* */

enum {
    RED_SUM,
    RED_MEAN,
    RED_MAX,
    RED_MIN,
    RED_PROD,
    RED_L1,
    RED_L2,
    RED_LOGSUM,
    RED_LOGSUMEXP,
    RED_SUMSQ
};

static const struct {
    const char *name;
    int op;
} red_names[] = {
    {"ReduceSum", RED_SUM},      {"ReduceMean", RED_MEAN},
    {"ReduceMax", RED_MAX},      {"ReduceMin", RED_MIN},
    {"ReduceProd", RED_PROD},    {"ReduceL1", RED_L1},
    {"ReduceL2", RED_L2},        {"ReduceLogSum", RED_LOGSUM},
    {"ReduceLogSumExp", RED_LOGSUMEXP}, {"ReduceSumSquare", RED_SUMSQ},
};

/* One context type for the whole family; each operator uses its own fields. */
typedef struct reduce_ctx {
    int op;                    /* RED_* */
    int keepdims;
    int noop_with_empty_axes;  /* ReduceSum-13 */
    int axes_from_input;       /* ReduceSum-13: axes is input 1 */
    int64_t n_axes;
    int64_t axes[PQ_MAX_RANK]; /* from the attribute */
    int64_t axis;              /* ArgMax/ArgMin, TopK */
    int select_last_index;     /* ArgMax/ArgMin-12 */
    int exclusive, reverse;    /* CumSum */
    int64_t k;                 /* TopK-1 attribute */
    int k_from_input;          /* TopK-10+ */
    int largest, sorted;       /* TopK-11 */
} reduce_ctx;

static void release_ctx(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

static pq_status new_ctx(pq_exec_node *n, reduce_ctx **out, pq_err *err)
{
    *out = pq_calloc(1, sizeof **out);
    if (!*out) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing %s", n->def->name);
    n->ctx = *out;
    return PQ_OK;
}

static pq_status prepare_reduce(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    reduce_ctx *c = NULL;
    int64_t v = 0;
    PQ_TRY(new_ctx(n, &c, err));
    c->op = -1;
    for (size_t i = 0; i < sizeof red_names / sizeof *red_names; i++)
        if (strcmp(n->def->name, red_names[i].name) == 0) c->op = red_names[i].op;
    PQ_CHECK(c->op >= 0, PQ_ERR_INTERNAL, "%s is not a reduction", n->def->name);
    PQ_TRY(pq_op_get_int(n->op, "keepdims", 1, &v, err));
    c->keepdims = v != 0;
    /* ONNX ReduceSum-13 moved axes to an optional input and added noop_with_empty_axes. */
    if (c->op == RED_SUM && n->def->since_version >= 13) {
        c->axes_from_input = 1;
        PQ_TRY(pq_op_get_int(n->op, "noop_with_empty_axes", 0, &v, err));
        c->noop_with_empty_axes = v != 0;
    } else {
        const int64_t *axes = NULL;
        PQ_TRY(pq_op_get_ints(n->op, "axes", &axes, &c->n_axes, err));
        PQ_CHECK(c->n_axes <= PQ_MAX_RANK, PQ_ERR_INVALID, "%" PRId64 " axes for rank <= %d",
                 c->n_axes, PQ_MAX_RANK);
        for (int64_t i = 0; i < c->n_axes; i++) c->axes[i] = axes[i];
    }
    return PQ_OK;
fail:
    release_ctx(n);
    return st;
}

/* Loops over the reduced elements of one output block (ni outputs starting at input
 * pointer `base`), accumulating in acc[0..ni). EXPR combines accumulator `a` and element
 * `v`. The single-output case walks a strided (often contiguous) row. */
#define RED_ACCUM(T, ACC_T, LOAD, acc, INIT, EXPR)                               \
    do {                                                                         \
        for (int64_t i_ = 0; i_ < ni; i_++) (acc)[i_] = (INIT);                 \
        for (int64_t t_ = 0; t_ < p->n_rtab; t_++) {                             \
            const T *pt_ = base + p->rtab[t_];                                   \
            if (ni == 1) {                                                       \
                ACC_T a = (acc)[0];                                              \
                const int64_t st_ = p->inner;                                    \
                for (int64_t l_ = 0; l_ < p->red_len; l_++) {                    \
                    ACC_T v = LOAD(pt_[l_ * st_]);                               \
                    a = (EXPR);                                                  \
                }                                                                \
                (acc)[0] = a;                                                    \
            } else {                                                             \
                ACC_T *restrict ac_ = (acc);                                     \
                for (int64_t l_ = 0; l_ < p->red_len; l_++) {                    \
                    const T *restrict q_ = pt_ + l_ * p->inner;                  \
                    PQ__SIMD                                                     \
                    for (int64_t i_ = 0; i_ < ni; i_++) {                        \
                        ACC_T v = LOAD(q_[i_]);                                  \
                        ACC_T a = ac_[i_];                                       \
                        ac_[i_] = (EXPR);                                        \
                    }                                                            \
                }                                                                \
            }                                                                    \
        }                                                                        \
    } while (0)

#ifdef _OPENMP
#define RED_PARALLEL_FOR \
    _Pragma("omp parallel for num_threads(sp.threads) schedule(static) if (sp.threads > 1)")
#else
#define RED_PARALLEL_FOR
#endif

/* RED_ACCUM for a self-combining EXPR (EXPR of two partial results is their combination:
 * max, min, products, plain sums): a contiguous row is folded into 8 independent lanes that
 * vectorise, then the lanes are combined. */
#define RED_ACCUM_SC(T, ACC_T, LOAD, acc, INIT, EXPR)                            \
    do {                                                                         \
        if (ni == 1 && p->inner == 1) {                                          \
            ACC_T a = (INIT);                                                    \
            for (int64_t t_ = 0; t_ < p->n_rtab; t_++) {                         \
                const T *restrict pt_ = base + p->rtab[t_];                      \
                ACC_T la_[8];                                                    \
                for (int j_ = 0; j_ < 8; j_++) la_[j_] = (INIT);                 \
                int64_t l_ = 0;                                                  \
                for (; l_ + 8 <= p->red_len; l_ += 8) {                          \
                    PQ__SIMD                                                     \
                    for (int j_ = 0; j_ < 8; j_++) {                             \
                        ACC_T v = LOAD(pt_[l_ + j_]);                            \
                        ACC_T a = la_[j_];                                       \
                        la_[j_] = (EXPR);                                        \
                    }                                                            \
                }                                                                \
                for (; l_ < p->red_len; l_++) {                                  \
                    ACC_T v = LOAD(pt_[l_]);                                     \
                    a = (EXPR);                                                  \
                }                                                                \
                for (int j_ = 0; j_ < 8; j_++) {                                 \
                    ACC_T v = la_[j_];                                           \
                    a = (EXPR);                                                  \
                }                                                                \
            }                                                                    \
            (acc)[0] = a;                                                        \
        } else {                                                                 \
            RED_ACCUM(T, ACC_T, LOAD, acc, INIT, EXPR);                          \
        }                                                                        \
    } while (0)

#define RED_SUM_ACCUM(T, LOAD, acc, TERM)                                        \
    do {                                                                         \
        if (ni == 1 && p->inner == 1) {                                          \
            double a = 0.0;                                                      \
            for (int64_t t_ = 0; t_ < p->n_rtab; t_++) {                         \
                const T *restrict pt_ = base + p->rtab[t_];                      \
                PQ__SIMD_SUM(a) /* a contiguous row: let the sum be reordered */ \
                for (int64_t l_ = 0; l_ < p->red_len; l_++) {                    \
                    double v = LOAD(pt_[l_]);                                    \
                    a += (TERM);                                                 \
                }                                                                \
            }                                                                    \
            (acc)[0] = a;                                                        \
        } else {                                                                 \
            RED_ACCUM(T, double, LOAD, acc, 0.0, a + (TERM));                    \
        }                                                                        \
    } while (0)

#define LOAD_F64(x) ((double)(x))

/* Float kernels: T in {float, double}, double accumulators, one output block. acc holds
 * 2 * ni doubles. */
#define DEF_REDUCE_FLOAT(SUF, T)                                                   \
    static void reduce_block_##SUF(const pq__reduce_plan *p, int op, const T *base,     \
                                   int64_t ni, double *acc, T *y)                       \
    {                                                                                   \
        switch (op) {                                                                   \
        case RED_SUM:                                                                   \
        case RED_MEAN:                                                                  \
        case RED_LOGSUM:                                                                \
            RED_SUM_ACCUM(T, LOAD_F64, acc, v);                                         \
            break;                                                                      \
        case RED_SUMSQ:                                                                 \
        case RED_L2:                                                                    \
            RED_SUM_ACCUM(T, LOAD_F64, acc, v * v);                                     \
            break;                                                                      \
        case RED_L1:                                                                    \
            RED_SUM_ACCUM(T, LOAD_F64, acc, fabs(v));                                   \
            break;                                                                      \
        case RED_PROD:                                                                  \
            RED_ACCUM_SC(T, double, LOAD_F64, acc, 1.0, a * v);                         \
            break;                                                                      \
        case RED_MAX: /* NaN propagates, as numpy's maximum */                          \
        case RED_LOGSUMEXP:                                                             \
            RED_ACCUM_SC(T, double, LOAD_F64, acc, -INFINITY, (v > a || v != v) ? v : a); \
            break;                                                                      \
        case RED_MIN:                                                                   \
            RED_ACCUM_SC(T, double, LOAD_F64, acc, INFINITY, (v < a || v != v) ? v : a); \
            break;                                                                      \
        }                                                                               \
        if (op == RED_LOGSUMEXP) {                                                      \
            /* log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the maximum. */       \
            double *m = acc, *s = acc + ni;                                             \
            for (int64_t i = 0; i < ni; i++) s[i] = 0.0;                                \
            for (int64_t t = 0; t < p->n_rtab; t++)                                     \
                for (int64_t l = 0; l < p->red_len; l++) {                              \
                    const T *q = base + p->rtab[t] + l * p->inner;                      \
                    PQ__SIMD                                                            \
                    for (int64_t i = 0; i < ni; i++) s[i] += exp((double)q[i] - m[i]);  \
                }                                                                       \
            for (int64_t i = 0; i < ni; i++)                                            \
                y[i] = (T)(isfinite(m[i]) ? m[i] + log(s[i]) : m[i]);                   \
            return;                                                                     \
        }                                                                               \
        for (int64_t i = 0; i < ni; i++) {                                              \
            double a = acc[i];                                                          \
            switch (op) {                                                               \
            case RED_MEAN: a = p->n_red ? a / (double)p->n_red : NAN; break;            \
            case RED_L2: a = sqrt(a); break;                                            \
            case RED_LOGSUM: a = log(a); break;                                         \
            default: break;                                                             \
            }                                                                           \
            y[i] = (T)a;                                                                \
        }                                                                               \
    }

DEF_REDUCE_FLOAT(f32, float)
DEF_REDUCE_FLOAT(f64, double)

#define LOAD_U64(x) ((uint64_t)(x))

/* Integer kernel: elements and accumulators are 64-bit two's complement patterns; `sgn`
 * says whether they are signed (comparisons, |x|, Mean/L2). lo/hi are the element type's
 * range (the empty Max/Min). acc holds ni values. */
static void reduce_block_int(const pq__reduce_plan *p, int op, int sgn, uint64_t lo, uint64_t hi,
                             const uint64_t *base, int64_t ni, uint64_t *acc, uint64_t *y)
{
    switch (op) {
    case RED_SUM:
    case RED_MEAN:
        RED_ACCUM_SC(uint64_t, uint64_t, LOAD_U64, acc, 0, a + v);
        break;
    case RED_SUMSQ:
    case RED_L2:
        RED_ACCUM(uint64_t, uint64_t, LOAD_U64, acc, 0, a + v * v);
        break;
    case RED_L1:
        RED_ACCUM(uint64_t, uint64_t, LOAD_U64, acc, 0,
                  a + ((sgn && (int64_t)v < 0) ? 0 - v : v));
        break;
    case RED_PROD:
        RED_ACCUM_SC(uint64_t, uint64_t, LOAD_U64, acc, 1, a * v);
        break;
    case RED_MAX:
        if (sgn)
            RED_ACCUM_SC(uint64_t, uint64_t, LOAD_U64, acc, lo, (int64_t)v > (int64_t)a ? v : a);
        else
            RED_ACCUM_SC(uint64_t, uint64_t, LOAD_U64, acc, lo, v > a ? v : a);
        break;
    case RED_MIN:
        if (sgn)
            RED_ACCUM_SC(uint64_t, uint64_t, LOAD_U64, acc, hi, (int64_t)v < (int64_t)a ? v : a);
        else
            RED_ACCUM_SC(uint64_t, uint64_t, LOAD_U64, acc, hi, v < a ? v : a);
        break;
    default:
        break;
    }
    for (int64_t i = 0; i < ni; i++) {
        uint64_t a = acc[i];
        if (op == RED_MEAN) {
            /* Integer division truncates toward zero like numpy's mean(...).astype(). */
            if (p->n_red == 0)
                a = 0;
            else if (sgn)
                a = (uint64_t)((int64_t)a / p->n_red);
            else
                a = a / (uint64_t)p->n_red;
        } else if (op == RED_L2) {
            /* A sum of squares that wrapped negative has no root: 0. */
            double d = sgn ? (double)(int64_t)a : (double)a;
            a = d > 0 ? (sgn ? (uint64_t)(int64_t)sqrt(d) : (uint64_t)sqrt(d)) : 0;
        }
        y[i] = a;
    }
}

/* Integer element types staged as 64-bit patterns: sign-extended or zero-extended. */
static int int_signed(pq_dtype dt)
{
    return dt == PQ_DTYPE_INT8 || dt == PQ_DTYPE_INT16 || dt == PQ_DTYPE_INT32 ||
           dt == PQ_DTYPE_INT64;
}

static void int_range(pq_dtype dt, uint64_t *lo, uint64_t *hi)
{
    switch (dt) {
    case PQ_DTYPE_INT8: *lo = (uint64_t)(int64_t)INT8_MIN; *hi = INT8_MAX; break;
    case PQ_DTYPE_INT16: *lo = (uint64_t)(int64_t)INT16_MIN; *hi = INT16_MAX; break;
    case PQ_DTYPE_INT32: *lo = (uint64_t)(int64_t)INT32_MIN; *hi = INT32_MAX; break;
    case PQ_DTYPE_INT64: *lo = (uint64_t)INT64_MIN; *hi = INT64_MAX; break;
    case PQ_DTYPE_UINT8: *lo = 0; *hi = UINT8_MAX; break;
    case PQ_DTYPE_UINT16: *lo = 0; *hi = UINT16_MAX; break;
    case PQ_DTYPE_UINT32: *lo = 0; *hi = UINT32_MAX; break;
    default: *lo = 0; *hi = UINT64_MAX; break;
    }
}

static void int_load(const pq_tensor *x, uint64_t *dst)
{
    const void *d = x->data;
    for (int64_t i = 0; i < x->numel; i++) {
        switch (x->dtype) {
        case PQ_DTYPE_INT8: dst[i] = (uint64_t)(int64_t)((const int8_t *)d)[i]; break;
        case PQ_DTYPE_INT16: dst[i] = (uint64_t)(int64_t)((const int16_t *)d)[i]; break;
        case PQ_DTYPE_INT32: dst[i] = (uint64_t)(int64_t)((const int32_t *)d)[i]; break;
        case PQ_DTYPE_UINT8: dst[i] = ((const uint8_t *)d)[i]; break;
        case PQ_DTYPE_UINT16: dst[i] = ((const uint16_t *)d)[i]; break;
        case PQ_DTYPE_UINT32: dst[i] = ((const uint32_t *)d)[i]; break;
        default: dst[i] = ((const uint64_t *)d)[i]; break;
        }
    }
}

/* Truncates 64-bit patterns to y's element type (two's complement wrap). */
static void int_store(const uint64_t *src, pq_tensor *y)
{
    void *d = y->data;
    for (int64_t i = 0; i < y->numel; i++) {
        switch (y->dtype) {
        case PQ_DTYPE_INT8: ((int8_t *)d)[i] = (int8_t)(uint8_t)src[i]; break;
        case PQ_DTYPE_INT16: ((int16_t *)d)[i] = (int16_t)(uint16_t)src[i]; break;
        case PQ_DTYPE_INT32: ((int32_t *)d)[i] = (int32_t)(uint32_t)src[i]; break;
        case PQ_DTYPE_UINT8: ((uint8_t *)d)[i] = (uint8_t)src[i]; break;
        case PQ_DTYPE_UINT16: ((uint16_t *)d)[i] = (uint16_t)src[i]; break;
        case PQ_DTYPE_UINT32: ((uint32_t *)d)[i] = (uint32_t)src[i]; break;
        default: ((uint64_t *)d)[i] = src[i]; break;
        }
    }
}

/* Work split: (outer block, chunk of the inner run) units, so that a reduction over the
 * leading axes of a large tensor still has parallelism. */
typedef struct red_split {
    int64_t chunk, n_chunks, units;
    int threads;
} red_split;

static red_split split_work(const pq__reduce_plan *p)
{
    red_split s;
    s.threads = 1;
#ifdef _OPENMP
    if (p->out_numel > 0 && p->out_numel * (p->n_red ? p->n_red : 1) >= PQ__PARALLEL_MIN_WORK)
        s.threads = omp_get_max_threads();
#endif
    /* At most 4096 accumulators per unit (32 KiB of doubles stay in cache), fewer when
     * that is what it takes to give every thread work. */
    s.chunk = p->inner > 0 ? p->inner : 1;
    if (s.chunk > 4096) s.chunk = 4096;
    if (s.threads > 1 && p->n_outer < 4 * (int64_t)s.threads && p->inner >= 1024) {
        int64_t c = (p->inner + 4 * (int64_t)s.threads - 1) / (4 * (int64_t)s.threads);
        c = c < 256 ? 256 : c;
        s.chunk = c < s.chunk ? c : s.chunk;
    }
    s.n_chunks = p->inner > 0 ? (p->inner + s.chunk - 1) / s.chunk : 0;
    s.units = p->n_outer * s.n_chunks;
    if (s.units < 2) s.threads = 1;
    return s;
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Runs one of the float kernels over the plan. x, y: float or double arrays. */
#define RUN_FLOAT(SUF, T, x, y)                                                           \
    do {                                                                                  \
        RED_PARALLEL_FOR                                                                  \
        for (int64_t u = 0; u < sp.units; u++) {                                          \
            int64_t o = u / sp.n_chunks, i0 = (u - o * sp.n_chunks) * sp.chunk;           \
            int64_t ni = p.inner - i0 < sp.chunk ? p.inner - i0 : sp.chunk;               \
            double *acc = dacc + (size_t)thread_id() * 2 * (size_t)sp.chunk;              \
            reduce_block_##SUF(&p, c->op, (x) + pq__reduce_outer_offset(&p, o) + i0, ni,  \
                               acc, (y) + o * p.inner + i0);                              \
        }                                                                                 \
    } while (0)

static pq_status run_reduce(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const reduce_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    pq__reduce_plan p = {0};
    uint8_t mask[PQ_MAX_RANK];
    int64_t axes_in[PQ_MAX_RANK];
    const int64_t *axes = c->axes;
    int64_t n_axes = c->n_axes;
    void *xs = NULL, *ys = NULL; /* staged input/output (half or narrow integer types) */
    double *dacc = NULL;
    uint64_t *iacc = NULL;
    pq_dtype dt = x->dtype;

    if (c->axes_from_input) {
        const pq_tensor *a = pq_node_input(n, 1);
        n_axes = a ? a->numel : 0;
        PQ_CHECK(!a || a->dtype == PQ_DTYPE_INT64 || a->dtype == PQ_DTYPE_INT32,
                 PQ_ERR_INVALID, "axes must be int64, not %s", pq_dtype_name(a->dtype));
        PQ_CHECK(n_axes <= x->rank, PQ_ERR_INVALID,
                 "%" PRId64 " axes given for an input of rank %d", n_axes, x->rank);
        for (int64_t i = 0; i < n_axes; i++) axes_in[i] = pq_tensor_get_i64(a, i);
        axes = axes_in;
    }
    if (n_axes == 0 && c->noop_with_empty_axes) {
        /* ONNX ReduceSum-13: with noop_with_empty_axes and no axes, the output is the
         * input. A copy, so that hooks may rewrite the output in place. */
        pq_tensor *cp = NULL;
        PQ_TRY(pq_tensor_clone(x, &cp, err));
        return pq_node_set_output(n, 0, cp, err);
    }
    if (n_axes == 0)
        memset(mask, 1, sizeof mask);
    else
        PQ_TRY(pq__reduce_axes_mask(x->rank, axes, n_axes, mask, err));
    PQ_TRY(pq__reduce_plan_init(&p, x->rank, x->dims, mask, c->keepdims, err));

    int is_float = dt == PQ_DTYPE_FLOAT32 || dt == PQ_DTYPE_FLOAT64 || dt == PQ_DTYPE_FLOAT16 ||
                   dt == PQ_DTYPE_BFLOAT16;
    int is_int = pq_dtype_is_integer(dt);
    PQ_CHECK(is_float || is_int, PQ_ERR_UNSUPPORTED, "%s of %s data is not supported",
             n->def->name, pq_dtype_name(dt));
    PQ_TRY(pq_node_output(n, 0, dt, p.out_rank, p.out_dims, 1, &y, err));
    if (p.out_numel == 0) goto done;

    red_split sp = split_work(&p);
    /* Integer LogSum/LogSumExp are computed on doubles and truncated. */
    int via_f64 = is_int && (c->op == RED_LOGSUM || c->op == RED_LOGSUMEXP);
    if (is_float || via_f64) {
        dacc = pq_malloc((size_t)sp.threads * 2 * (size_t)sp.chunk * sizeof *dacc);
        PQ_CHECK(dacc, PQ_ERR_NOMEM, "out of memory for reduction accumulators");
    }
    if (dt == PQ_DTYPE_FLOAT32) {
        RUN_FLOAT(f32, float, (const float *)x->data, (float *)y->data);
    } else if (dt == PQ_DTYPE_FLOAT64) {
        RUN_FLOAT(f64, double, (const double *)x->data, (double *)y->data);
    } else if (dt == PQ_DTYPE_FLOAT16 || dt == PQ_DTYPE_BFLOAT16) {
        xs = pq_malloc((size_t)x->numel * sizeof(float));
        ys = pq_malloc((size_t)y->numel * sizeof(float));
        PQ_CHECK(xs && ys, PQ_ERR_NOMEM, "out of memory staging %s data", pq_dtype_name(dt));
        pq__half_to_f32(x, xs);
        RUN_FLOAT(f32, float, (const float *)xs, (float *)ys);
        pq__f32_to_half(ys, y);
    } else if (via_f64) {
        double *xd = pq_malloc((size_t)x->numel * sizeof *xd);
        double *yd = pq_malloc((size_t)y->numel * sizeof *yd);
        xs = xd;
        ys = yd;
        PQ_CHECK(xd && yd, PQ_ERR_NOMEM, "out of memory staging %s data", pq_dtype_name(dt));
        int sgn = int_signed(dt);
        for (int64_t i = 0; i < x->numel; i++) xd[i] = pq_tensor_get_f64(x, i);
        RUN_FLOAT(f64, double, (const double *)xd, yd);
        uint64_t *yb = (uint64_t *)yd; /* same size: convert in place */
        for (int64_t i = 0; i < y->numel; i++) {
            double v = yd[i];
            /* NaN (log of a negative sum) and out-of-range values have no integer image:
             * saturate, NaN to 0. */
            if (v != v) yb[i] = 0;
            else if (sgn) yb[i] = (uint64_t)(v <= -9.2233720368547758e18 ? INT64_MIN
                                             : v >= 9.2233720368547758e18 ? INT64_MAX
                                                                          : (int64_t)v);
            else yb[i] = v <= 0 ? 0 : v >= 1.8446744073709552e19 ? UINT64_MAX : (uint64_t)v;
        }
        int_store(yb, y);
    } else {
        int sgn = int_signed(dt);
        uint64_t lo, hi;
        int_range(dt, &lo, &hi);
        const uint64_t *xb = x->data;
        uint64_t *yb = y->data;
        if (pq_dtype_size(dt) != 8) {
            xs = pq_malloc((size_t)x->numel * sizeof(uint64_t));
            ys = pq_malloc((size_t)y->numel * sizeof(uint64_t));
            PQ_CHECK(xs && ys, PQ_ERR_NOMEM, "out of memory staging %s data", pq_dtype_name(dt));
            int_load(x, xs);
            xb = xs;
            yb = ys;
        }
        iacc = pq_malloc((size_t)sp.threads * (size_t)sp.chunk * sizeof *iacc);
        PQ_CHECK(iacc, PQ_ERR_NOMEM, "out of memory for reduction accumulators");
        RED_PARALLEL_FOR
        for (int64_t u = 0; u < sp.units; u++) {
            int64_t o = u / sp.n_chunks, i0 = (u - o * sp.n_chunks) * sp.chunk;
            int64_t ni = p.inner - i0 < sp.chunk ? p.inner - i0 : sp.chunk;
            uint64_t *acc = iacc + (size_t)thread_id() * (size_t)sp.chunk;
            reduce_block_int(&p, c->op, sgn, lo, hi, xb + pq__reduce_outer_offset(&p, o) + i0,
                             ni, acc, yb + o * p.inner + i0);
        }
        if (yb != y->data) int_store(yb, y);
    }
done:
fail:
    pq_free(xs);
    pq_free(ys);
    pq_free(dacc);
    pq_free(iacc);
    pq__reduce_plan_free(&p);
    return st;
}

/* ================================================================== order keys */

/* Maps every element to a 64-bit key whose unsigned order is the element order, so that
 * ArgMax/ArgMin/TopK compare all dtypes exactly with one comparison. -0.0 and +0.0 get the
 * same key (they are equal); NaN gets nan_key (numpy treats NaN as the largest value in
 * sorts and returns the first NaN from argmax and argmin). */
static uint64_t float_key(double d, uint64_t nan_key)
{
    if (d != d) return nan_key;
    if (d == 0.0) d = 0.0;
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    /* Positive: set the sign bit (above all negatives); negative: flip all bits. Keys of
     * -inf and +inf are 0x000F.. and 0xFFF0.., so 0 and UINT64_MAX are free for NaN. */
    return (u >> 63) ? ~u : (u | (UINT64_C(1) << 63));
}

static pq_status make_keys(const pq_tensor *x, uint64_t nan_key, uint64_t **out, pq_err *err)
{
    uint64_t *k = pq_malloc((size_t)(x->numel ? x->numel : 1) * sizeof *k);
    *out = k;
    if (!k) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory sorting %" PRId64 " elements",
                              x->numel);
    const void *d = x->data;
    const uint64_t sb = UINT64_C(1) << 63;
    switch (x->dtype) {
    case PQ_DTYPE_FLOAT32:
        PQ__PARALLEL_FOR(x->numel >= PQ__PARALLEL_MIN_WORK)
        for (int64_t i = 0; i < x->numel; i++) k[i] = float_key(((const float *)d)[i], nan_key);
        break;
    case PQ_DTYPE_FLOAT64:
        PQ__PARALLEL_FOR(x->numel >= PQ__PARALLEL_MIN_WORK)
        for (int64_t i = 0; i < x->numel; i++) k[i] = float_key(((const double *)d)[i], nan_key);
        break;
    case PQ_DTYPE_FLOAT16:
        for (int64_t i = 0; i < x->numel; i++)
            k[i] = float_key(pq_f16_to_f32(((const uint16_t *)d)[i]), nan_key);
        break;
    case PQ_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < x->numel; i++)
            k[i] = float_key(pq_bf16_to_f32(((const uint16_t *)d)[i]), nan_key);
        break;
    default:
        if (!pq_dtype_is_integer(x->dtype)) {
            pq_free(k);
            *out = NULL;
            return pq_err_set(err, PQ_ERR_UNSUPPORTED, "%s data is not supported",
                              pq_dtype_name(x->dtype));
        }
        int_load(x, k);
        if (int_signed(x->dtype))
            for (int64_t i = 0; i < x->numel; i++) k[i] ^= sb;
        break;
    }
    return PQ_OK;
}

/* ================================================================== ArgMax, ArgMin */

static pq_status prepare_arg(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    reduce_ctx *c = NULL;
    int64_t v = 0;
    PQ_TRY(new_ctx(n, &c, err));
    c->op = strcmp(n->def->name, "ArgMax") == 0 ? RED_MAX : RED_MIN;
    PQ_TRY(pq_op_get_int(n->op, "axis", 0, &c->axis, err));
    PQ_TRY(pq_op_get_int(n->op, "keepdims", 1, &v, err));
    c->keepdims = v != 0;
    if (n->def->since_version >= 12) {
        PQ_TRY(pq_op_get_int(n->op, "select_last_index", 0, &v, err));
        c->select_last_index = v != 0;
    }
    return PQ_OK;
fail:
    release_ctx(n);
    return st;
}

/* One output block of ArgMax (want_max) or ArgMin over keys; ties keep the first index
 * unless last is set. best/bi: ni scratch values each. */
static void arg_block(const pq__reduce_plan *p, int want_max, int last, const uint64_t *base,
                      int64_t ni, uint64_t *best, int64_t *bi, int64_t *y)
{
    for (int64_t i = 0; i < ni; i++) {
        best[i] = base[i];
        bi[i] = 0;
    }
    for (int64_t l = 1; l < p->red_len; l++) {
        const uint64_t *q = base + l * p->inner;
        for (int64_t i = 0; i < ni; i++) {
            uint64_t k = q[i];
            int take = want_max ? (last ? k >= best[i] : k > best[i])
                                : (last ? k <= best[i] : k < best[i]);
            if (take) {
                best[i] = k;
                bi[i] = l;
            }
        }
    }
    for (int64_t i = 0; i < ni; i++) y[i] = bi[i];
}

static pq_status run_arg(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const reduce_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    pq__reduce_plan p = {0};
    uint8_t mask[PQ_MAX_RANK];
    uint64_t *keys = NULL, *best = NULL;
    int64_t *bi = NULL;
    int64_t axis = c->axis;

    PQ_CHECK(x->rank >= 1, PQ_ERR_INVALID, "%s needs an input of rank >= 1", n->def->name);
    PQ_TRY(pq__reduce_axes_mask(x->rank, &axis, 1, mask, err));
    if (axis < 0) axis += x->rank;
    PQ_TRY(pq__reduce_plan_init(&p, x->rank, x->dims, mask, c->keepdims, err));
    PQ_CHECK(x->dims[axis] > 0 || p.out_numel == 0, PQ_ERR_INVALID,
             "%s over axis %" PRId64 " of extent 0", n->def->name, axis);
    PQ_TRY(pq_node_output(n, 0, PQ_DTYPE_INT64, p.out_rank, p.out_dims, 1, &y, err));
    if (p.out_numel == 0) goto done;
    /* NaN wins both ArgMax and ArgMin, as in numpy. */
    PQ_TRY(make_keys(x, c->op == RED_MAX ? UINT64_MAX : 0, &keys, err));
    int nt = 1;
#ifdef _OPENMP
    if (p.n_outer > 1 && x->numel >= PQ__PARALLEL_MIN_WORK) nt = omp_get_max_threads();
#endif
    best = pq_malloc((size_t)nt * (size_t)p.inner * sizeof *best);
    bi = pq_malloc((size_t)nt * (size_t)p.inner * sizeof *bi);
    PQ_CHECK(best && bi, PQ_ERR_NOMEM, "out of memory in %s", n->def->name);
    /* A single reduced axis: n_rtab is 1 and the walker's red_len is its extent. */
    PQ__PARALLEL_FOR(nt > 1)
    for (int64_t o = 0; o < p.n_outer; o++) {
        size_t w = (size_t)thread_id() * (size_t)p.inner;
        arg_block(&p, c->op == RED_MAX, c->select_last_index,
                  keys + pq__reduce_outer_offset(&p, o), p.inner, best + w, bi + w,
                  PQ_DATA(y, int64_t) + o * p.inner);
    }
done:
fail:
    pq_free(keys);
    pq_free(best);
    pq_free(bi);
    pq__reduce_plan_free(&p);
    return st;
}

/* ================================================================== CumSum */

static pq_status prepare_cumsum(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    reduce_ctx *c = NULL;
    int64_t v = 0;
    PQ_TRY(new_ctx(n, &c, err));
    PQ_TRY(pq_op_get_int(n->op, "exclusive", 0, &v, err));
    c->exclusive = v != 0;
    PQ_TRY(pq_op_get_int(n->op, "reverse", 0, &v, err));
    c->reverse = v != 0;
    return PQ_OK;
fail:
    release_ctx(n);
    return st;
}

/* Running sums along an axis of extent len with stride inner, for every (outer, inner)
 * position; acc: inner accumulators. Exclusive sums leave out the element itself; reverse
 * runs from the end. */
#define DEF_CUMSUM(SUF, T, ACC_T)                                                           \
    static void cumsum_##SUF(const T *x, T *y, int64_t outer, int64_t len, int64_t inner,   \
                             int excl, int rev, ACC_T *acc)                                 \
    {                                                                                       \
        for (int64_t o = 0; o < outer; o++) {                                               \
            for (int64_t i = 0; i < inner; i++) acc[i] = 0;                                 \
            for (int64_t s = 0; s < len; s++) {                                             \
                int64_t l = rev ? len - 1 - s : s;                                          \
                const T *restrict xr = x + (o * len + l) * inner;                           \
                T *restrict yr = y + (o * len + l) * inner;                                 \
                if (excl) {                                                                 \
                    PQ__SIMD                                                                \
                    for (int64_t i = 0; i < inner; i++) {                                   \
                        yr[i] = (T)acc[i];                                                  \
                        acc[i] += (ACC_T)xr[i];                                             \
                    }                                                                       \
                } else {                                                                    \
                    PQ__SIMD                                                                \
                    for (int64_t i = 0; i < inner; i++) {                                   \
                        acc[i] += (ACC_T)xr[i];                                             \
                        yr[i] = (T)acc[i];                                                  \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

DEF_CUMSUM(f32, float, double)
DEF_CUMSUM(f64, double, double)
DEF_CUMSUM(u64, uint64_t, uint64_t)

static pq_status run_cumsum(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const reduce_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *ax = n->inputs[1];
    pq_tensor *y = NULL;
    void *xs = NULL, *ys = NULL, *acc = NULL;
    pq_dtype dt = x->dtype;

    PQ_CHECK(ax->numel == 1 && ax->rank <= 1 &&
                 (ax->dtype == PQ_DTYPE_INT32 || ax->dtype == PQ_DTYPE_INT64),
             PQ_ERR_INVALID, "axis must be an int32 or int64 scalar");
    PQ_CHECK(x->rank >= 1, PQ_ERR_INVALID, "CumSum needs an input of rank >= 1");
    int64_t axis = pq_tensor_get_i64(ax, 0);
    PQ_CHECK(axis >= -x->rank && axis < x->rank, PQ_ERR_INVALID,
             "axis %" PRId64 " is out of range for rank %d", axis, x->rank);
    if (axis < 0) axis += x->rank;
    int64_t outer = 1, inner = 1, len = x->dims[axis];
    for (int a = 0; a < axis; a++) outer *= x->dims[a];
    for (int a = (int)axis + 1; a < x->rank; a++) inner *= x->dims[a];

    int is_int = pq_dtype_is_integer(dt);
    PQ_CHECK(is_int || dt == PQ_DTYPE_FLOAT32 || dt == PQ_DTYPE_FLOAT64 || dt == PQ_DTYPE_FLOAT16 ||
                 dt == PQ_DTYPE_BFLOAT16,
             PQ_ERR_UNSUPPORTED, "CumSum of %s data is not supported", pq_dtype_name(dt));
    PQ_TRY(pq_node_output(n, 0, dt, x->rank, x->dims, 1, &y, err));
    if (x->numel == 0) goto fail;
    acc = pq_malloc((size_t)inner * 8);
    PQ_CHECK(acc, PQ_ERR_NOMEM, "out of memory in CumSum");
    if (dt == PQ_DTYPE_FLOAT32) {
        cumsum_f32(x->data, y->data, outer, len, inner, c->exclusive, c->reverse, acc);
    } else if (dt == PQ_DTYPE_FLOAT64) {
        cumsum_f64(x->data, y->data, outer, len, inner, c->exclusive, c->reverse, acc);
    } else if (!is_int) {
        xs = pq_malloc((size_t)x->numel * sizeof(float));
        ys = pq_malloc((size_t)x->numel * sizeof(float));
        PQ_CHECK(xs && ys, PQ_ERR_NOMEM, "out of memory in CumSum");
        pq__half_to_f32(x, xs);
        cumsum_f32(xs, ys, outer, len, inner, c->exclusive, c->reverse, acc);
        pq__f32_to_half(ys, y);
    } else if (pq_dtype_size(dt) == 8) {
        cumsum_u64(x->data, y->data, outer, len, inner, c->exclusive, c->reverse, acc);
    } else {
        xs = pq_malloc((size_t)x->numel * sizeof(uint64_t));
        ys = pq_malloc((size_t)x->numel * sizeof(uint64_t));
        PQ_CHECK(xs && ys, PQ_ERR_NOMEM, "out of memory in CumSum");
        int_load(x, xs);
        cumsum_u64(xs, ys, outer, len, inner, c->exclusive, c->reverse, acc);
        int_store(ys, y);
    }
fail:
    pq_free(xs);
    pq_free(ys);
    pq_free(acc);
    return st;
}

/* ================================================================== TopK */

static pq_status prepare_topk(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    reduce_ctx *c = NULL;
    int64_t v = 0;
    PQ_TRY(new_ctx(n, &c, err));
    PQ_TRY(pq_op_get_int(n->op, "axis", -1, &c->axis, err));
    c->largest = 1;
    c->sorted = 1;
    if (n->def->since_version >= 10) {
        c->k_from_input = 1;
    } else {
        PQ_CHECK(pq_op_find_attr(n->op, "k"), PQ_ERR_INVALID, "TopK-1 needs attribute k");
        PQ_TRY(pq_op_get_int(n->op, "k", 0, &c->k, err));
    }
    if (n->def->since_version >= 11) {
        PQ_TRY(pq_op_get_int(n->op, "largest", 1, &v, err));
        c->largest = v != 0;
        PQ_TRY(pq_op_get_int(n->op, "sorted", 1, &v, err));
        c->sorted = v != 0;
    }
    return PQ_OK;
fail:
    release_ctx(n);
    return st;
}

typedef struct key_idx {
    uint64_t key;
    int64_t idx;
} key_idx;

/* Ties keep the lower index first, for both directions (ONNX TopK-11). */
static int cmp_desc(const void *a, const void *b)
{
    const key_idx *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_asc(const void *a, const void *b)
{
    const key_idx *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static pq_status run_topk(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const reduce_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *vals = NULL, *idxs = NULL;
    uint64_t *keys = NULL;
    key_idx *buf = NULL;
    int64_t k = c->k, axis = c->axis;

    if (c->k_from_input) {
        const pq_tensor *kt = pq_node_input(n, 1);
        PQ_CHECK(kt && kt->numel == 1 && kt->dtype == PQ_DTYPE_INT64, PQ_ERR_INVALID,
                 "K must be a 1-element int64 tensor");
        k = pq_tensor_get_i64(kt, 0);
    }
    PQ_CHECK(x->rank >= 1, PQ_ERR_INVALID, "TopK needs an input of rank >= 1");
    PQ_CHECK(axis >= -x->rank && axis < x->rank, PQ_ERR_INVALID,
             "axis %" PRId64 " is out of range for rank %d", axis, x->rank);
    if (axis < 0) axis += x->rank;
    int64_t len = x->dims[axis];
    PQ_CHECK(k >= 0 && k <= len, PQ_ERR_INVALID,
             "K = %" PRId64 " is outside [0, %" PRId64 "] (the extent of axis %" PRId64 ")", k,
             len, axis);
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < axis; a++) outer *= x->dims[a];
    for (int a = (int)axis + 1; a < x->rank; a++) inner *= x->dims[a];
    int64_t odims[PQ_MAX_RANK];
    for (int a = 0; a < x->rank; a++) odims[a] = x->dims[a];
    odims[axis] = k;
    PQ_TRY(pq_node_output(n, 0, x->dtype, x->rank, odims, 1, &vals, err));
    PQ_TRY(pq_node_output(n, 1, PQ_DTYPE_INT64, x->rank, odims, 1, &idxs, err));
    if (vals->numel == 0) goto fail;

    /* NaN sorts as the largest value (numpy's sort), for largest and smallest alike. */
    PQ_TRY(make_keys(x, UINT64_MAX, &keys, err));
    buf = pq_malloc((size_t)len * sizeof *buf);
    PQ_CHECK(buf, PQ_ERR_NOMEM, "out of memory in TopK");
    size_t esz = pq_dtype_size(x->dtype);
    const char *xd = x->data;
    char *vd = vals->data;
    int64_t *id = idxs->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i;
            for (int64_t l = 0; l < len; l++) {
                buf[l].key = keys[base + l * inner];
                buf[l].idx = l;
            }
            /* sorted = 0 allows any order; a sorted result is one of them. */
            qsort(buf, (size_t)len, sizeof *buf, c->largest ? cmp_desc : cmp_asc);
            int64_t obase = o * k * inner + i;
            for (int64_t j = 0; j < k; j++) {
                int64_t src = base + buf[j].idx * inner, dst = obase + j * inner;
                memcpy(vd + (size_t)dst * esz, xd + (size_t)src * esz, esz);
                id[dst] = buf[j].idx;
            }
        }
    }
fail:
    pq_free(keys);
    pq_free(buf);
    return st;
}

/* ================================================================== table */

#define RED_DEF(name, ver) {"", name, ver, 1, 1, 1, 1, prepare_reduce, run_reduce, release_ctx}
#define RED_VERSIONS(name) RED_DEF(name, 1), RED_DEF(name, 11), RED_DEF(name, 13)

const pq_op_def pq_ops_reduce[] = {
    /* ReduceSum-13: axes is an optional input. */
    RED_DEF("ReduceSum", 1),
    RED_DEF("ReduceSum", 11),
    {"", "ReduceSum", 13, 1, 2, 1, 1, prepare_reduce, run_reduce, release_ctx},
    RED_VERSIONS("ReduceMean"),
    /* ReduceMax/ReduceMin-12 add int8/uint8. */
    RED_DEF("ReduceMax", 1), RED_DEF("ReduceMax", 11), RED_DEF("ReduceMax", 12),
    RED_DEF("ReduceMax", 13),
    RED_DEF("ReduceMin", 1), RED_DEF("ReduceMin", 11), RED_DEF("ReduceMin", 12),
    RED_DEF("ReduceMin", 13),
    RED_VERSIONS("ReduceProd"),
    RED_VERSIONS("ReduceL1"),
    RED_VERSIONS("ReduceL2"),
    RED_VERSIONS("ReduceLogSum"),
    RED_VERSIONS("ReduceLogSumExp"),
    RED_VERSIONS("ReduceSumSquare"),
    /* ArgMax/ArgMin-12 add select_last_index. */
    {"", "ArgMax", 1, 1, 1, 1, 1, prepare_arg, run_arg, release_ctx},
    {"", "ArgMax", 11, 1, 1, 1, 1, prepare_arg, run_arg, release_ctx},
    {"", "ArgMax", 12, 1, 1, 1, 1, prepare_arg, run_arg, release_ctx},
    {"", "ArgMax", 13, 1, 1, 1, 1, prepare_arg, run_arg, release_ctx},
    {"", "ArgMin", 1, 1, 1, 1, 1, prepare_arg, run_arg, release_ctx},
    {"", "ArgMin", 11, 1, 1, 1, 1, prepare_arg, run_arg, release_ctx},
    {"", "ArgMin", 12, 1, 1, 1, 1, prepare_arg, run_arg, release_ctx},
    {"", "ArgMin", 13, 1, 1, 1, 1, prepare_arg, run_arg, release_ctx},
    {"", "CumSum", 11, 2, 2, 1, 1, prepare_cumsum, run_cumsum, release_ctx},
    {"", "CumSum", 14, 2, 2, 1, 1, prepare_cumsum, run_cumsum, release_ctx},
    /* TopK-1: k attribute; TopK-10: K input; TopK-11: largest, sorted, more dtypes. */
    {"", "TopK", 1, 1, 1, 2, 2, prepare_topk, run_topk, release_ctx},
    {"", "TopK", 10, 2, 2, 2, 2, prepare_topk, run_topk, release_ctx},
    {"", "TopK", 11, 2, 2, 2, 2, prepare_topk, run_topk, release_ctx},
    PQ_OP_DEF_END,
};

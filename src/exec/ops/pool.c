/* pool.c - operator family: AveragePool MaxPool GlobalAveragePool GlobalMaxPool LpPool
 * GlobalLpPool MaxUnpool.
 *
 * X is [N, C, D1..Dr] with r = 1..3 spatial axes (padded to 3 internally with unit axes).
 * Windows: output o along an axis covers input positions o * s - pb + j * d, j in [0, k);
 * padded positions are skipped (MaxPool, LpPool, AveragePool with count_include_pad = 0) or
 * counted in the divisor (count_include_pad = 1, up to the end padding). Planes (n, c) run
 * in parallel. float32 and float64 natively, float16 widened to float32, MaxPool also on
 * int8 and uint8.
 */
#include "../exec_internal.h"
#include "window_attrs.h"

#include <float.h>
#include <math.h>
#include <string.h>

enum { POOL_MAX = 0, POOL_AVG, POOL_LP };

#define POOL_RANK 3

typedef struct pool_ctx {
    int kind;
    int auto_pad;
    int64_t n_kernel, kernel[PQ_MAX_RANK];
    int64_t n_strides, strides[PQ_MAX_RANK];
    int64_t n_dilations, dilations[PQ_MAX_RANK];
    int64_t n_pads, pads[2 * PQ_MAX_RANK];
    int64_t ceil_mode, count_include_pad, storage_order;
    double p;                                 /* LpPool exponent */
} pool_ctx;

/* Geometry with unit axes in front so that every pool is 3-D. */
typedef struct pool_geom {
    int r;                                    /* real spatial rank */
    int64_t N, C;
    int64_t in[POOL_RANK], out[POOL_RANK], k[POOL_RANK], s[POOL_RANK], d[POOL_RANK];
    int64_t pb[POOL_RANK], pe[POOL_RANK];
    int64_t P_in, P_out;
} pool_geom;

/* ------------------------------------------------------------------ attributes */

static pq_status pool_prepare_kind(pq_exec_node *n, int kind, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_op *op = n->op;
    pool_ctx *c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    c->kind = kind;
    PQ_TRY(pq__window_auto_pad(op, &c->auto_pad, err));
    PQ_TRY(pq__window_list(op, "kernel_shape", PQ_MAX_RANK, &c->n_kernel, c->kernel, err));
    PQ_CHECK(c->n_kernel >= 1, PQ_ERR_INVALID, "attribute kernel_shape is required");
    PQ_CHECK(c->n_kernel <= POOL_RANK, PQ_ERR_UNSUPPORTED,
             "pooling over %lld spatial axes (at most %d are supported)",
             (long long)c->n_kernel, POOL_RANK);
    PQ_TRY(pq__window_list(op, "strides", PQ_MAX_RANK, &c->n_strides, c->strides, err));
    PQ_TRY(pq__window_list(op, "dilations", PQ_MAX_RANK, &c->n_dilations, c->dilations, err));
    PQ_TRY(pq__window_list(op, "pads", 2 * PQ_MAX_RANK, &c->n_pads, c->pads, err));
    PQ_CHECK(!c->n_strides || c->n_strides == c->n_kernel, PQ_ERR_INVALID,
             "strides has %lld values, kernel_shape %lld", (long long)c->n_strides,
             (long long)c->n_kernel);
    PQ_CHECK(!c->n_dilations || c->n_dilations == c->n_kernel, PQ_ERR_INVALID,
             "dilations has %lld values, kernel_shape %lld", (long long)c->n_dilations,
             (long long)c->n_kernel);
    PQ_CHECK(!c->n_pads || c->n_pads == 2 * c->n_kernel, PQ_ERR_INVALID,
             "pads has %lld values, expected %lld", (long long)c->n_pads,
             (long long)(2 * c->n_kernel));
    for (int64_t i = 0; i < c->n_kernel; i++) {
        PQ_CHECK(c->kernel[i] >= 1, PQ_ERR_INVALID, "kernel_shape must be >= 1");
        PQ_CHECK(!c->n_strides || c->strides[i] >= 1, PQ_ERR_INVALID, "strides must be >= 1");
        PQ_CHECK(!c->n_dilations || c->dilations[i] >= 1, PQ_ERR_INVALID,
                 "dilations must be >= 1");
    }
    for (int64_t i = 0; i < c->n_pads; i++)
        PQ_CHECK(c->pads[i] >= 0, PQ_ERR_INVALID, "pads must be >= 0");
    PQ_TRY(pq_op_get_int(op, "ceil_mode", 0, &c->ceil_mode, err));
    PQ_TRY(pq_op_get_int(op, "count_include_pad", 0, &c->count_include_pad, err));
    PQ_TRY(pq_op_get_int(op, "storage_order", 0, &c->storage_order, err));
    PQ_CHECK(c->storage_order == 0 || c->storage_order == 1, PQ_ERR_INVALID,
             "storage_order must be 0 or 1");
    c->p = 2.0;
    if (kind == POOL_LP) {
        /* LpPool-1 has a float p, LpPool-2 and later an int p. */
        const pq_attr *a = pq_op_find_attr(op, "p");
        if (a && a->type == PQ_ATTR_FLOAT) c->p = a->f;
        else if (a && a->type == PQ_ATTR_INT) c->p = (double)a->i;
        else PQ_CHECK(!a, PQ_ERR_INVALID, "attribute p must be an int or a float");
        PQ_CHECK(c->p > 0, PQ_ERR_INVALID, "attribute p must be positive");
    }
    n->ctx = c;
    return PQ_OK;
fail:
    pq_free(c);
    return st;
}

static pq_status maxpool_prepare(pq_exec_node *n, pq_err *err)
{
    return pool_prepare_kind(n, POOL_MAX, err);
}
static pq_status avgpool_prepare(pq_exec_node *n, pq_err *err)
{
    return pool_prepare_kind(n, POOL_AVG, err);
}
static pq_status lppool_prepare(pq_exec_node *n, pq_err *err)
{
    return pool_prepare_kind(n, POOL_LP, err);
}

static void pool_release(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

static pq_status pool_geometry(const pool_ctx *c, const pq_tensor *x, pool_geom *g, pq_err *err)
{
    char b1[128];
    memset(g, 0, sizeof *g);
    int r = (int)c->n_kernel;
    if (x->rank != r + 2)
        return pq_err_set(err, PQ_ERR_INVALID, "input %s must have rank %d (kernel_shape has "
                          "%d values)", pq_tensor_describe(x, b1, sizeof b1), r + 2, r);
    g->r = r;
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->P_in = g->P_out = 1;
    for (int a = 0; a < POOL_RANK; a++) {
        int i = a - (POOL_RANK - r); /* attribute index, < 0 for the padding axes */
        if (i < 0) {
            g->in[a] = g->out[a] = g->k[a] = g->s[a] = g->d[a] = 1;
            continue;
        }
        int64_t in = x->dims[2 + i], k = c->kernel[i];
        int64_t s = c->n_strides ? c->strides[i] : 1;
        int64_t d = c->n_dilations ? c->dilations[i] : 1;
        int64_t pb = c->n_pads ? c->pads[i] : 0, pe = c->n_pads ? c->pads[r + i] : 0;
        int64_t ek = (k - 1) * d + 1, out;
        if (c->auto_pad == PAD_SAME_UPPER || c->auto_pad == PAD_SAME_LOWER) {
            out = (in + s - 1) / s;
            int64_t total = (out - 1) * s + ek - in;
            if (total < 0) total = 0;
            pb = c->auto_pad == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            pe = total - pb;
        } else if (c->auto_pad == PAD_VALID) {
            pb = pe = 0;
            out = in >= ek ? (in - ek) / s + 1 : 0;
        } else {
            int64_t span = in + pb + pe - ek;
            if (span < 0) {
                out = 0;
            } else if (c->ceil_mode) {
                out = (span + s - 1) / s + 1;
                /* The last window must start inside the input or the begin padding
                 * (PyTorch and onnxruntime). */
                if ((out - 1) * s >= in + pb) out--;
            } else {
                out = span / s + 1;
            }
        }
        if (out < 1)
            return pq_err_set(err, PQ_ERR_INVALID, "spatial axis %d: input %lld with padding "
                              "%lld+%lld is smaller than the kernel extent %lld", i,
                              (long long)in, (long long)pb, (long long)pe, (long long)ek);
        g->in[a] = in;
        g->out[a] = out;
        g->k[a] = k;
        g->s[a] = s;
        g->d[a] = d;
        g->pb[a] = pb;
        g->pe[a] = pe;
        g->P_in *= in;
        g->P_out *= out;
    }
    return PQ_OK;
}

/* Per axis and output position: the valid tap range [lo, hi) and the number of taps inside
 * the padded extent [-pb, in + pe). Layout: for axis a, 3 * out[a] values. */
static int64_t *pool_ranges(pq_exec_node *n, const pool_geom *g, int64_t *offs)
{
    int64_t total = 0;
    for (int a = 0; a < POOL_RANK; a++) {
        offs[a] = total;
        total += 3 * g->out[a];
    }
    int64_t *t = pq_node_workspace(n, (size_t)total * sizeof *t);
    if (!t) return NULL;
    for (int a = 0; a < POOL_RANK; a++) {
        int64_t *r = t + offs[a];
        for (int64_t o = 0; o < g->out[a]; o++) {
            int64_t start = o * g->s[a] - g->pb[a], lo = g->k[a], hi = 0, cnt = 0;
            for (int64_t j = 0; j < g->k[a]; j++) {
                int64_t pos = start + j * g->d[a];
                if (pos >= 0 && pos < g->in[a]) {
                    if (j < lo) lo = j;
                    hi = j + 1;
                }
                if (pos >= -g->pb[a] && pos < g->in[a] + g->pe[a]) cnt++;
            }
            if (lo > hi) lo = hi;
            r[3 * o] = lo;
            r[3 * o + 1] = hi;
            r[3 * o + 2] = cnt;
        }
    }
    return t;
}

/* Index of input element (z, y, x) of a plane, row-major or (storage_order 1) column-major
 * over the real spatial axes. */
static inline int64_t spatial_index(const pool_geom *g, int64_t z, int64_t y, int64_t x,
                                    int col_major)
{
    if (!col_major) return (z * g->in[1] + y) * g->in[2] + x;
    return (x * g->in[1] + y) * g->in[0] + z;
}

#define POOL_LOOP_BEGIN(T)                                                                    \
    const int64_t *R0 = ranges + offs[0], *R1 = ranges + offs[1], *R2 = ranges + offs[2];    \
    const int64_t planes = g->N * g->C;                                                      \
    _Pragma("omp parallel for num_threads(threads) schedule(static) if(planes * g->P_out > 16384)") \
    for (int64_t pl = 0; pl < planes; pl++) {                                                \
        const T *xp = x + pl * g->P_in;                                                      \
        int64_t yo = pl * g->P_out;                                                          \
        for (int64_t o0 = 0; o0 < g->out[0]; o0++) {                                         \
            int64_t s0 = o0 * g->s[0] - g->pb[0];                                            \
            for (int64_t o1 = 0; o1 < g->out[1]; o1++) {                                     \
                int64_t s1 = o1 * g->s[1] - g->pb[1];                                        \
                for (int64_t o2 = 0; o2 < g->out[2]; o2++, yo++) {                           \
                    int64_t s2 = o2 * g->s[2] - g->pb[2];                                    \
                    const int64_t lo0 = R0[3 * o0], hi0 = R0[3 * o0 + 1];                     \
                    const int64_t lo1 = R1[3 * o1], hi1 = R1[3 * o1 + 1];                     \
                    const int64_t lo2 = R2[3 * o2], hi2 = R2[3 * o2 + 1];

#define POOL_LOOP_END                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

#define DEFINE_MAXPOOL(T, SFX, LOWEST)                                                       \
    static void maxpool_##SFX(const pool_geom *g, const int64_t *ranges, const int64_t *offs, \
                              const T *restrict x, T *restrict y, int64_t *restrict ind,     \
                              int col_major, int threads)                                    \
    {                                                                                        \
        POOL_LOOP_BEGIN(T)                                                                   \
        T best = LOWEST;                                                                     \
        int64_t bi = -1;                                                                     \
        for (int64_t j0 = lo0; j0 < hi0; j0++) {                                             \
            int64_t i0 = s0 + j0 * g->d[0];                                                  \
            for (int64_t j1 = lo1; j1 < hi1; j1++) {                                         \
                int64_t i1 = s1 + j1 * g->d[1];                                              \
                const T *row = xp + (i0 * g->in[1] + i1) * g->in[2];                         \
                for (int64_t j2 = lo2; j2 < hi2; j2++) {                                     \
                    int64_t i2 = s2 + j2 * g->d[2];                                          \
                    T v = row[i2];                                                           \
                    if (bi < 0 || v > best) {                                                \
                        best = v;                                                            \
                        bi = spatial_index(g, i0, i1, i2, col_major);                        \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        y[yo] = best;                                                                        \
        if (ind) ind[yo] = bi < 0 ? -1 : pl * g->P_in + bi;                                  \
        POOL_LOOP_END                                                                        \
    }
DEFINE_MAXPOOL(float, f32, -INFINITY)
DEFINE_MAXPOOL(double, f64, -INFINITY)
DEFINE_MAXPOOL(int8_t, i8, INT8_MIN)
DEFINE_MAXPOOL(uint8_t, u8, 0)

/* The row kernels below are compiled for AVX-512, AVX2 and baseline x86-64 (the build
 * targets baseline x86-64); the loader picks the clone for the machine. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define POOL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define POOL_CLONES
#endif

#define ROW_TAPS_MAX 64

/* Row-vectorised float32 MaxPool / AveragePool of one plane: for each output row, every valid
 * input row and kernel column updates the whole output row (the inner loop runs along the
 * output columns). lo2/hi2: per kernel column, the output columns whose input column lies
 * inside the image. avg: 0 = max, 1 = average without padding, 2 = with padding. */
POOL_CLONES static void pool_plane_f32(const pool_geom *g, const int64_t *R0, const int64_t *R1,
                                       const int64_t *R2, const int64_t *lo2, const int64_t *hi2,
                                       int avg, const float *restrict xp, float *restrict yp)
{
    const int64_t OW = g->out[2], W = g->in[2], s2 = g->s[2], d2 = g->d[2], p2 = g->pb[2];
    for (int64_t o0 = 0; o0 < g->out[0]; o0++) {
        const int64_t s0 = o0 * g->s[0] - g->pb[0], lo0 = R0[3 * o0], hi0 = R0[3 * o0 + 1];
        for (int64_t o1 = 0; o1 < g->out[1]; o1++) {
            const int64_t s1 = o1 * g->s[1] - g->pb[1], lo1 = R1[3 * o1], hi1 = R1[3 * o1 + 1];
            float *restrict yr = yp + (o0 * g->out[1] + o1) * OW;
            const float init = avg ? 0.0f : -INFINITY;
#pragma omp simd
            for (int64_t ow = 0; ow < OW; ow++) yr[ow] = init;
            for (int64_t j0 = lo0; j0 < hi0; j0++) {
                const int64_t i0 = s0 + j0 * g->d[0];
                for (int64_t j1 = lo1; j1 < hi1; j1++) {
                    const int64_t i1 = s1 + j1 * g->d[1];
                    const float *restrict xr = xp + (i0 * g->in[1] + i1) * W;
                    for (int64_t kw = 0; kw < g->k[2]; kw++) {
                        const int64_t off = kw * d2 - p2, a = lo2[kw], b = hi2[kw];
                        /* Strides 1 and 2 as constants so that the loads vectorise. */
                        if (avg && s2 == 1) {
#pragma omp simd
                            for (int64_t ow = a; ow < b; ow++) yr[ow] += xr[ow + off];
                        } else if (avg && s2 == 2) {
#pragma omp simd
                            for (int64_t ow = a; ow < b; ow++) yr[ow] += xr[2 * ow + off];
                        } else if (avg) {
#pragma omp simd
                            for (int64_t ow = a; ow < b; ow++) yr[ow] += xr[ow * s2 + off];
                        } else if (s2 == 1) {
                            /* NaN propagates like the reference's max (fmaxf would drop it). */
#pragma omp simd
                            for (int64_t ow = a; ow < b; ow++) {
                                float v = xr[ow + off];
                                yr[ow] = (v > yr[ow] || v != v) ? v : yr[ow];
                            }
                        } else if (s2 == 2) {
#pragma omp simd
                            for (int64_t ow = a; ow < b; ow++) {
                                float v = xr[2 * ow + off];
                                yr[ow] = (v > yr[ow] || v != v) ? v : yr[ow];
                            }
                        } else {
#pragma omp simd
                            for (int64_t ow = a; ow < b; ow++) {
                                float v = xr[ow * s2 + off];
                                yr[ow] = (v > yr[ow] || v != v) ? v : yr[ow];
                            }
                        }
                    }
                }
            }
            if (avg) {
                const float rows = avg == 2 ? (float)(R0[3 * o0 + 2] * R1[3 * o1 + 2])
                                            : (float)((hi0 - lo0) * (hi1 - lo1));
                for (int64_t ow = 0; ow < OW; ow++) {
                    const float cols = avg == 2 ? (float)R2[3 * ow + 2]
                                                : (float)(R2[3 * ow + 1] - R2[3 * ow]);
                    yr[ow] = yr[ow] / (rows * cols);
                }
            }
        }
    }
}

/* float32 MaxPool (without indices) and AveragePool through pool_plane_f32, parallel over
 * planes. Returns 0 when the kernel is too wide for it (the caller falls back). */
static int pool_rows_f32(const pool_geom *g, const int64_t *ranges, const int64_t *offs,
                         int avg, const float *x, float *y, int threads)
{
    int64_t lo2[ROW_TAPS_MAX], hi2[ROW_TAPS_MAX];
    if (g->k[2] > ROW_TAPS_MAX) return 0;
    for (int64_t kw = 0; kw < g->k[2]; kw++) {
        /* output columns ow with 0 <= ow * s + kw * d - pb < W */
        int64_t off = kw * g->d[2] - g->pb[2], s = g->s[2], L = g->out[2], W = g->in[2];
        int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
        int64_t b = W - 1 - off < 0 ? 0 : (W - 1 - off) / s + 1;
        if (b > L) b = L;
        if (a > b) a = b;
        lo2[kw] = a;
        hi2[kw] = b;
    }
    const int64_t *R0 = ranges + offs[0], *R1 = ranges + offs[1], *R2 = ranges + offs[2];
    const int64_t planes = g->N * g->C;
#pragma omp parallel for num_threads(threads) schedule(static) if(planes * g->P_out > 16384)
    for (int64_t pl = 0; pl < planes; pl++)
        pool_plane_f32(g, R0, R1, R2, lo2, hi2, avg, x + pl * g->P_in, y + pl * g->P_out);
    return 1;
}

#define DEFINE_AVGPOOL(T, SFX)                                                               \
    static void avgpool_##SFX(const pool_geom *g, const int64_t *ranges, const int64_t *offs, \
                              const T *restrict x, T *restrict y, int include_pad,           \
                              int threads)                                                   \
    {                                                                                        \
        POOL_LOOP_BEGIN(T)                                                                   \
        double sum = 0;                                                                      \
        for (int64_t j0 = lo0; j0 < hi0; j0++) {                                             \
            int64_t i0 = s0 + j0 * g->d[0];                                                  \
            for (int64_t j1 = lo1; j1 < hi1; j1++) {                                         \
                int64_t i1 = s1 + j1 * g->d[1];                                              \
                const T *row = xp + (i0 * g->in[1] + i1) * g->in[2] + s2;                    \
                T acc = 0;                                                                   \
                for (int64_t j2 = lo2; j2 < hi2; j2++) acc += row[j2 * g->d[2]];             \
                sum += acc;                                                                  \
            }                                                                                \
        }                                                                                    \
        int64_t cnt = include_pad ? R0[3 * o0 + 2] * R1[3 * o1 + 2] * R2[3 * o2 + 2]         \
                                  : (hi0 - lo0) * (hi1 - lo1) * (hi2 - lo2);                 \
        y[yo] = (T)(sum / (double)cnt);                                                      \
        POOL_LOOP_END                                                                        \
    }
DEFINE_AVGPOOL(float, f32)
DEFINE_AVGPOOL(double, f64)

#define DEFINE_LPPOOL(T, SFX)                                                                \
    static void lppool_##SFX(const pool_geom *g, const int64_t *ranges, const int64_t *offs, \
                             const T *restrict x, T *restrict y, double p, int threads)      \
    {                                                                                        \
        POOL_LOOP_BEGIN(T)                                                                   \
        double sum = 0;                                                                      \
        for (int64_t j0 = lo0; j0 < hi0; j0++) {                                             \
            int64_t i0 = s0 + j0 * g->d[0];                                                  \
            for (int64_t j1 = lo1; j1 < hi1; j1++) {                                         \
                int64_t i1 = s1 + j1 * g->d[1];                                              \
                const T *row = xp + (i0 * g->in[1] + i1) * g->in[2] + s2;                    \
                for (int64_t j2 = lo2; j2 < hi2; j2++) {                                     \
                    double v = fabs((double)row[j2 * g->d[2]]);                              \
                    sum += p == 2.0 ? v * v : (p == 1.0 ? v : pow(v, p));                    \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        y[yo] = (T)(p == 2.0 ? sqrt(sum) : (p == 1.0 ? sum : pow(sum, 1.0 / p)));            \
        POOL_LOOP_END                                                                        \
    }
DEFINE_LPPOOL(float, f32)
DEFINE_LPPOOL(double, f64)

/* float16 input: widened copy of x (pq_free it). */
static float *widen_f16(const pq_tensor *t)
{
    float *w = pq_malloc((size_t)(t->numel + 1) * sizeof *w);
    if (!w) return NULL;
    const uint16_t *s = t->data;
    for (int64_t i = 0; i < t->numel; i++) w[i] = pq_f16_to_f32(s[i]);
    return w;
}

static void narrow_f16(const float *w, int64_t numel, void *dst)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < numel; i++) d[i] = pq_f32_to_f16(w[i]);
}

static pq_status run_pool(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pool_ctx *c = n->ctx;
    const pq_tensor *x = pq_node_input(n, 0);
    pq_tensor *y = NULL, *ind = NULL;
    float *wx = NULL, *wy = NULL;
    pool_geom g;
    int64_t offs[POOL_RANK];
    int threads = pq_node_threads(n);
    if (threads < 1) threads = 1;
    PQ_CHECK(x, PQ_ERR_INVALID, "input X is required");
    pq_dtype dt = x->dtype;
    int ok = dt == PQ_DTYPE_FLOAT32 || dt == PQ_DTYPE_FLOAT64 || dt == PQ_DTYPE_FLOAT16 ||
             (c->kind == POOL_MAX && (dt == PQ_DTYPE_INT8 || dt == PQ_DTYPE_UINT8));
    PQ_CHECK(ok, PQ_ERR_UNSUPPORTED, "input dtype %s is not supported", pq_dtype_name(dt));
    PQ_TRY(pool_geometry(c, x, &g, err));
    int64_t ydims[PQ_MAX_RANK];
    ydims[0] = g.N;
    ydims[1] = g.C;
    for (int i = 0; i < g.r; i++) ydims[2 + i] = g.out[POOL_RANK - g.r + i];
    PQ_TRY(pq_node_output(n, 0, dt, x->rank, ydims, 1, &y, err));
    int want_ind = c->kind == POOL_MAX && n->n_outputs > 1;
    if (want_ind) PQ_TRY(pq_node_output(n, 1, PQ_DTYPE_INT64, x->rank, ydims, 1, &ind, err));
    if (y->numel == 0) goto fail;
    const int64_t *ranges = pool_ranges(n, &g, offs);
    PQ_CHECK(ranges, PQ_ERR_NOMEM, "out of memory");
    const void *xd = x->data;
    void *yd = y->data;
    if (dt == PQ_DTYPE_FLOAT16) {
        wx = widen_f16(x);
        wy = pq_malloc((size_t)y->numel * sizeof *wy);
        PQ_CHECK(wx && wy, PQ_ERR_NOMEM, "out of memory");
        xd = wx;
        yd = wy;
        dt = PQ_DTYPE_FLOAT32;
    }
    int64_t *id = ind ? PQ_DATA(ind, int64_t) : NULL;
    int cm = c->storage_order == 1;
    switch (c->kind) {
    case POOL_MAX:
        if (dt == PQ_DTYPE_FLOAT32 && !id && pool_rows_f32(&g, ranges, offs, 0, xd, yd, threads))
            break;
        if (dt == PQ_DTYPE_FLOAT32) maxpool_f32(&g, ranges, offs, xd, yd, id, cm, threads);
        else if (dt == PQ_DTYPE_FLOAT64) maxpool_f64(&g, ranges, offs, xd, yd, id, cm, threads);
        else if (dt == PQ_DTYPE_INT8) maxpool_i8(&g, ranges, offs, xd, yd, id, cm, threads);
        else maxpool_u8(&g, ranges, offs, xd, yd, id, cm, threads);
        break;
    case POOL_AVG:
        if (dt == PQ_DTYPE_FLOAT32 &&
            pool_rows_f32(&g, ranges, offs, c->count_include_pad ? 2 : 1, xd, yd, threads))
            break;
        if (dt == PQ_DTYPE_FLOAT32)
            avgpool_f32(&g, ranges, offs, xd, yd, c->count_include_pad != 0, threads);
        else
            avgpool_f64(&g, ranges, offs, xd, yd, c->count_include_pad != 0, threads);
        break;
    default:
        if (dt == PQ_DTYPE_FLOAT32) lppool_f32(&g, ranges, offs, xd, yd, c->p, threads);
        else lppool_f64(&g, ranges, offs, xd, yd, c->p, threads);
        break;
    }
    if (wy) narrow_f16(wy, y->numel, y->data);
fail:
    pq_free(wx);
    pq_free(wy);
    return st;
}

/* ------------------------------------------------------------------ global pools */

typedef struct gpool_ctx {
    int kind;
    double p;
} gpool_ctx;

static pq_status gpool_prepare_kind(pq_exec_node *n, int kind, pq_err *err)
{
    pq_status st = PQ_OK;
    gpool_ctx *c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    c->kind = kind;
    c->p = 2.0;
    if (kind == POOL_LP) {
        const pq_attr *a = pq_op_find_attr(n->op, "p");
        if (a && a->type == PQ_ATTR_FLOAT) c->p = a->f;
        else if (a && a->type == PQ_ATTR_INT) c->p = (double)a->i;
        else PQ_CHECK(!a, PQ_ERR_INVALID, "attribute p must be an int or a float");
        PQ_CHECK(c->p > 0, PQ_ERR_INVALID, "attribute p must be positive");
    }
    n->ctx = c;
    return PQ_OK;
fail:
    pq_free(c);
    return st;
}

static pq_status gmaxpool_prepare(pq_exec_node *n, pq_err *err)
{
    return gpool_prepare_kind(n, POOL_MAX, err);
}
static pq_status gavgpool_prepare(pq_exec_node *n, pq_err *err)
{
    return gpool_prepare_kind(n, POOL_AVG, err);
}
static pq_status glppool_prepare(pq_exec_node *n, pq_err *err)
{
    return gpool_prepare_kind(n, POOL_LP, err);
}

#define DEFINE_GPOOL(T, SFX)                                                                 \
    static void gpool_##SFX(int kind, double p, int64_t planes, int64_t P,                   \
                            const T *restrict x, T *restrict y, int threads)                 \
    {                                                                                        \
        _Pragma("omp parallel for num_threads(threads) schedule(static) if(planes * P > 65536)") \
        for (int64_t pl = 0; pl < planes; pl++) {                                            \
            const T *xp = x + pl * P;                                                        \
            if (kind == POOL_MAX) {                                                          \
                T best = P ? xp[0] : (T)-INFINITY;                                           \
                for (int64_t i = 1; i < P; i++)                                              \
                    best = (xp[i] > best || xp[i] != xp[i]) ? xp[i] : best;                  \
                y[pl] = best;                                                                \
            } else if (kind == POOL_AVG) {                                                   \
                T acc[8] = {0};                                                              \
                int64_t i = 0;                                                               \
                for (; i + 8 <= P; i += 8)                                                   \
                    for (int q = 0; q < 8; q++) acc[q] += xp[i + q];                         \
                double sum = 0;                                                              \
                for (int q = 0; q < 8; q++) sum += acc[q];                                   \
                for (; i < P; i++) sum += xp[i];                                             \
                y[pl] = (T)(sum / (double)P);                                                \
            } else {                                                                         \
                double sum = 0;                                                              \
                for (int64_t i = 0; i < P; i++) {                                            \
                    double v = fabs((double)xp[i]);                                          \
                    sum += p == 2.0 ? v * v : pow(v, p);                                     \
                }                                                                            \
                y[pl] = (T)(p == 2.0 ? sqrt(sum) : pow(sum, 1.0 / p));                       \
            }                                                                                \
        }                                                                                    \
    }
DEFINE_GPOOL(float, f32)
DEFINE_GPOOL(double, f64)

static pq_status run_gpool(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const gpool_ctx *c = n->ctx;
    const pq_tensor *x = pq_node_input(n, 0);
    pq_tensor *y = NULL;
    float *wx = NULL, *wy = NULL;
    char b1[128];
    int threads = pq_node_threads(n);
    if (threads < 1) threads = 1;
    PQ_CHECK(x, PQ_ERR_INVALID, "input X is required");
    PQ_CHECK(x->rank >= 3, PQ_ERR_INVALID, "input %s must have rank >= 3",
             pq_tensor_describe(x, b1, sizeof b1));
    pq_dtype dt = x->dtype;
    PQ_CHECK(dt == PQ_DTYPE_FLOAT32 || dt == PQ_DTYPE_FLOAT64 || dt == PQ_DTYPE_FLOAT16,
             PQ_ERR_UNSUPPORTED, "input dtype %s is not supported", pq_dtype_name(dt));
    int64_t ydims[PQ_MAX_RANK];
    ydims[0] = x->dims[0];
    ydims[1] = x->dims[1];
    int64_t P = 1;
    for (int i = 2; i < x->rank; i++) {
        ydims[i] = 1;
        P *= x->dims[i];
    }
    PQ_TRY(pq_node_output(n, 0, dt, x->rank, ydims, 1, &y, err));
    int64_t planes = x->dims[0] * x->dims[1];
    if (planes == 0) goto fail;
    if (dt == PQ_DTYPE_FLOAT32) {
        gpool_f32(c->kind, c->p, planes, P, x->data, y->data, threads);
    } else if (dt == PQ_DTYPE_FLOAT64) {
        gpool_f64(c->kind, c->p, planes, P, x->data, y->data, threads);
    } else {
        wx = widen_f16(x);
        wy = pq_malloc((size_t)planes * sizeof *wy);
        PQ_CHECK(wx && wy, PQ_ERR_NOMEM, "out of memory");
        gpool_f32(c->kind, c->p, planes, P, wx, wy, threads);
        narrow_f16(wy, planes, y->data);
    }
fail:
    pq_free(wx);
    pq_free(wy);
    return st;
}

/* ------------------------------------------------------------------ MaxUnpool */

typedef struct unpool_ctx {
    int64_t n_kernel, kernel[PQ_MAX_RANK];
    int64_t n_strides, strides[PQ_MAX_RANK];
    int64_t n_pads, pads[2 * PQ_MAX_RANK];
} unpool_ctx;

static pq_status unpool_prepare(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    unpool_ctx *c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    PQ_TRY(pq__window_list(n->op, "kernel_shape", PQ_MAX_RANK, &c->n_kernel, c->kernel, err));
    PQ_TRY(pq__window_list(n->op, "strides", PQ_MAX_RANK, &c->n_strides, c->strides, err));
    PQ_TRY(pq__window_list(n->op, "pads", 2 * PQ_MAX_RANK, &c->n_pads, c->pads, err));
    PQ_CHECK(c->n_kernel >= 1, PQ_ERR_INVALID, "attribute kernel_shape is required");
    PQ_CHECK(!c->n_strides || c->n_strides == c->n_kernel, PQ_ERR_INVALID,
             "strides has %lld values, kernel_shape %lld", (long long)c->n_strides,
             (long long)c->n_kernel);
    PQ_CHECK(!c->n_pads || c->n_pads == 2 * c->n_kernel, PQ_ERR_INVALID,
             "pads has %lld values, expected %lld", (long long)c->n_pads,
             (long long)(2 * c->n_kernel));
    n->ctx = c;
    return PQ_OK;
fail:
    pq_free(c);
    return st;
}

/* ONNX MaxUnpool-9/11 (as the ONNX reference): X's values are scattered to the flat indices I
 * of a zero tensor of the inferred shape (in - 1) * stride - pads + kernel, which is then
 * placed at the origin of a zero tensor of output_shape when that input is given. */
static pq_status run_maxunpool(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const unpool_ctx *c = n->ctx;
    const pq_tensor *x = pq_node_input(n, 0), *ind = pq_node_input(n, 1);
    const pq_tensor *oshape = pq_node_input(n, 2);
    pq_tensor *y = NULL;
    char b1[128], b2[128];
    PQ_CHECK(x && ind, PQ_ERR_INVALID, "inputs X and I are required");
    int r = (int)c->n_kernel;
    PQ_CHECK(x->rank == r + 2, PQ_ERR_INVALID, "X %s must have rank %d",
             pq_tensor_describe(x, b1, sizeof b1), r + 2);
    PQ_CHECK(ind->dtype == PQ_DTYPE_INT64 && ind->numel == x->numel, PQ_ERR_INVALID,
             "indices I %s must be int64 with the shape of X %s",
             pq_tensor_describe(ind, b1, sizeof b1), pq_tensor_describe(x, b2, sizeof b2));
    PQ_CHECK(x->dtype != PQ_DTYPE_STRING, PQ_ERR_UNSUPPORTED, "string X is not supported");
    int64_t inf[PQ_MAX_RANK], yd[PQ_MAX_RANK];
    inf[0] = x->dims[0];
    inf[1] = x->dims[1];
    for (int i = 0; i < r; i++) {
        int64_t s = c->n_strides ? c->strides[i] : 1;
        int64_t pads = c->n_pads ? c->pads[i] + c->pads[r + i] : 0;
        inf[2 + i] = (x->dims[2 + i] - 1) * s - pads + c->kernel[i];
        PQ_CHECK(inf[2 + i] >= 0, PQ_ERR_INVALID, "negative inferred size on axis %d", 2 + i);
    }
    memcpy(yd, inf, sizeof yd);
    if (oshape) {
        PQ_CHECK(oshape->dtype == PQ_DTYPE_INT64 && oshape->numel == x->rank, PQ_ERR_INVALID,
                 "output_shape %s must be int64[%d]", pq_tensor_describe(oshape, b1, sizeof b1),
                 x->rank);
        for (int i = 0; i < x->rank; i++) {
            yd[i] = PQ_DATA(oshape, int64_t)[i];
            PQ_CHECK(yd[i] >= inf[i], PQ_ERR_INVALID,
                     "output_shape[%d] = %lld is smaller than the inferred size %lld", i,
                     (long long)yd[i], (long long)inf[i]);
        }
    }
    PQ_TRY(pq_node_output(n, 0, x->dtype, x->rank, yd, 0, &y, err));
    int64_t total = pq_shape_numel(x->rank, inf);
    size_t es = pq_dtype_size(x->dtype);
    const int64_t *iv = PQ_DATA(ind, int64_t);
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t f = iv[i];
        PQ_CHECK(f >= 0 && f < total, PQ_ERR_INVALID, "index %lld out of range [0, %lld)",
                 (long long)f, (long long)total);
        /* unravel f in the inferred shape, ravel in the output shape */
        int64_t o = 0, mul = 1;
        for (int a = x->rank - 1; a >= 0; a--) {
            o += (f % inf[a]) * mul;
            f /= inf[a];
            mul *= yd[a];
        }
        memcpy((char *)y->data + (size_t)o * es, (const char *)x->data + (size_t)i * es, es);
    }
fail:
    return st;
}

const pq_op_def pq_ops_pool[] = {
    {"", "MaxPool", 1, 1, 1, 1, 1, maxpool_prepare, run_pool, pool_release},
    {"", "MaxPool", 8, 1, 1, 1, 2, maxpool_prepare, run_pool, pool_release},
    {"", "MaxPool", 10, 1, 1, 1, 2, maxpool_prepare, run_pool, pool_release},
    {"", "MaxPool", 11, 1, 1, 1, 2, maxpool_prepare, run_pool, pool_release},
    {"", "MaxPool", 12, 1, 1, 1, 2, maxpool_prepare, run_pool, pool_release},
    {"", "AveragePool", 1, 1, 1, 1, 1, avgpool_prepare, run_pool, pool_release},
    {"", "AveragePool", 7, 1, 1, 1, 1, avgpool_prepare, run_pool, pool_release},
    {"", "AveragePool", 10, 1, 1, 1, 1, avgpool_prepare, run_pool, pool_release},
    {"", "AveragePool", 11, 1, 1, 1, 1, avgpool_prepare, run_pool, pool_release},
    {"", "LpPool", 1, 1, 1, 1, 1, lppool_prepare, run_pool, pool_release},
    {"", "LpPool", 2, 1, 1, 1, 1, lppool_prepare, run_pool, pool_release},
    {"", "LpPool", 11, 1, 1, 1, 1, lppool_prepare, run_pool, pool_release},
    {"", "GlobalAveragePool", 1, 1, 1, 1, 1, gavgpool_prepare, run_gpool, pool_release},
    {"", "GlobalMaxPool", 1, 1, 1, 1, 1, gmaxpool_prepare, run_gpool, pool_release},
    {"", "GlobalLpPool", 1, 1, 1, 1, 1, glppool_prepare, run_gpool, pool_release},
    {"", "GlobalLpPool", 2, 1, 1, 1, 1, glppool_prepare, run_gpool, pool_release},
    {"", "MaxUnpool", 9, 2, 3, 1, 1, unpool_prepare, run_maxunpool, pool_release},
    {"", "MaxUnpool", 11, 2, 3, 1, 1, unpool_prepare, run_maxunpool, pool_release},
    PQ_OP_DEF_END,
};

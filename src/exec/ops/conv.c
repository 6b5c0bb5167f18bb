/* conv.c - operator family: Conv ConvTranspose (im2col + sgemm, 1x1 as plain GEMM, depthwise
 * direct), ConvInteger and QLinearConv (exact integer sums through the float64 path).
 *
 * Layout: X is [N, C, D1..Dr] row-major; Conv W is [M, C/group, k1..kr], ConvTranspose W is
 * [C, M/group, k1..kr]; Y is [N, M, O1..Or]. Spatial rank r is 1..PQ_MAX_RANK-2.
 *
 * Conv: Y_g = W_g [M/g, C/g * K] x cols [C/g * K, P_out], the patch matrix (im2col). Work
 * items are (image, group, tile of output columns); each thread im2cols a tile of about 1 MB
 * (stays in L2) into its own slice of the executor workspace and runs a single-threaded
 * GEMM into Y (see gemm_blas.h for why BLAS never threads itself here). A 1x1 kernel with
 * stride 1 and no padding skips im2col (the image is the patch matrix); depthwise 2-D
 * convolution (group == C == M) runs a direct vectorised loop; dense 3x3 stride-1 convolutions
 * go through Winograd F(2x2, 3x3) (winograd.c). ConvTranspose:
 * cols [M/g * K, P_in] = W_g^T X_g, then col2im scatters the columns into Y. float32 goes through cblas_sgemm, float64 through cblas_dgemm, float16 and
 * bfloat16 through the float32 kernels on widened copies.
 */
#include "../exec_internal.h"
#include "conv_avx512.h"
#include "window_attrs.h"
#include "gemm_blas.h"
#include "winograd.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif


/* Attributes, parsed once (ONNX Conv-1/11, ConvTranspose-1/11). Lists have n_* entries;
 * n_* == 0 means the attribute is absent and the default applies. */
typedef struct conv_ctx {
    int transpose;
    int auto_pad;
    int64_t group;
    int64_t n_kernel, kernel[PQ_MAX_RANK];
    int64_t n_strides, strides[PQ_MAX_RANK];
    int64_t n_dilations, dilations[PQ_MAX_RANK];
    int64_t n_pads, pads[2 * PQ_MAX_RANK];          /* [x1_begin, x2_begin, ..., x1_end, ...] */
    int64_t n_out_pad, out_pad[PQ_MAX_RANK];        /* ConvTranspose output_padding */
    int64_t n_out_shape, out_shape[PQ_MAX_RANK + 2];/* ConvTranspose output_shape */
} conv_ctx;

/* Geometry of one call. For Conv, `img` is the input and `grid` the output spatial shape;
 * for ConvTranspose the other way round. In both, image coordinate = grid * s - pb + k * d. */
typedef struct conv_geom {
    int r;                                  /* spatial rank */
    int64_t N, C, M, G;                     /* batch, input channels, output channels, groups */
    int64_t in[PQ_MAX_RANK], out[PQ_MAX_RANK], k[PQ_MAX_RANK];
    int64_t s[PQ_MAX_RANK], d[PQ_MAX_RANK], pb[PQ_MAX_RANK], pe[PQ_MAX_RANK];
    int64_t P_in, P_out, K;                 /* products of in, out and k */
} conv_geom;

/* ------------------------------------------------------------------ attributes */

static pq_status conv_prepare_common(pq_exec_node *n, int transpose, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_op *op = n->op;
    conv_ctx *c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    c->transpose = transpose;
    PQ_TRY(pq__window_auto_pad(op, &c->auto_pad, err));
    PQ_TRY(pq_op_get_int(op, "group", 1, &c->group, err));
    PQ_CHECK(c->group >= 1, PQ_ERR_INVALID, "group must be >= 1, got %lld",
             (long long)c->group);
    PQ_TRY(pq__window_list(op, "kernel_shape", PQ_MAX_RANK, &c->n_kernel, c->kernel, err));
    PQ_TRY(pq__window_list(op, "strides", PQ_MAX_RANK, &c->n_strides, c->strides, err));
    PQ_TRY(pq__window_list(op, "dilations", PQ_MAX_RANK, &c->n_dilations, c->dilations, err));
    PQ_TRY(pq__window_list(op, "pads", 2 * PQ_MAX_RANK, &c->n_pads, c->pads, err));
    if (transpose) {
        PQ_TRY(pq__window_list(op, "output_padding", PQ_MAX_RANK, &c->n_out_pad, c->out_pad, err));
        PQ_TRY(pq__window_list(op, "output_shape", PQ_MAX_RANK + 2, &c->n_out_shape, c->out_shape,
                        err));
    }
    for (int64_t i = 0; i < c->n_strides; i++)
        PQ_CHECK(c->strides[i] >= 1, PQ_ERR_INVALID, "strides must be >= 1");
    for (int64_t i = 0; i < c->n_dilations; i++)
        PQ_CHECK(c->dilations[i] >= 1, PQ_ERR_INVALID, "dilations must be >= 1");
    for (int64_t i = 0; i < c->n_kernel; i++)
        PQ_CHECK(c->kernel[i] >= 1, PQ_ERR_INVALID, "kernel_shape must be >= 1");
    PQ_CHECK(c->n_pads % 2 == 0, PQ_ERR_INVALID, "pads has an odd number (%lld) of values",
             (long long)c->n_pads);
    if (!transpose)
        for (int64_t i = 0; i < c->n_pads; i++)
            PQ_CHECK(c->pads[i] >= 0, PQ_ERR_INVALID, "pads must be >= 0");
    n->ctx = c;
    return PQ_OK;
fail:
    pq_free(c);
    return st;
}

static pq_status conv_prepare(pq_exec_node *n, pq_err *err)
{
    n->epi.capable = 1; /* run_conv clamps float32 outputs (conv_f32_epi) */
    return conv_prepare_common(n, 0, err);
}

static pq_status convtranspose_prepare(pq_exec_node *n, pq_err *err)
{
    return conv_prepare_common(n, 1, err);
}

static void conv_release(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

/* Checks that an attribute list, when given, has `want` values. */
static pq_status check_len(const char *name, int64_t have, int64_t want, pq_err *err)
{
    if (have != 0 && have != want)
        return pq_err_set(err, PQ_ERR_INVALID, "%s has %lld values, expected %lld", name,
                          (long long)have, (long long)want);
    return PQ_OK;
}

/* Resolves the geometry from the attributes and the shapes of X and W. */
static pq_status conv_geometry(const conv_ctx *c, const pq_tensor *x, const pq_tensor *w,
                               conv_geom *g, pq_err *err)
{
    pq_status st = PQ_OK;
    char b1[128], b2[128];
    memset(g, 0, sizeof *g);
    PQ_CHECK(x->rank >= 3, PQ_ERR_INVALID, "input X %s must have rank >= 3",
             pq_tensor_describe(x, b1, sizeof b1));
    PQ_CHECK(w->rank == x->rank, PQ_ERR_INVALID, "weight W %s must have the rank of X %s",
             pq_tensor_describe(w, b1, sizeof b1), pq_tensor_describe(x, b2, sizeof b2));
    int r = x->rank - 2;
    g->r = r;
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->G = c->group;
    PQ_CHECK(g->C % g->G == 0, PQ_ERR_INVALID, "X has %lld channels, not divisible by group %lld",
             (long long)g->C, (long long)g->G);
    if (!c->transpose) {
        g->M = w->dims[0];
        PQ_CHECK(w->dims[1] * g->G == g->C && g->M % g->G == 0, PQ_ERR_INVALID,
                 "weight W %s does not fit X %s with group %lld",
                 pq_tensor_describe(w, b1, sizeof b1), pq_tensor_describe(x, b2, sizeof b2),
                 (long long)g->G);
    } else {
        g->M = w->dims[1] * g->G;
        PQ_CHECK(w->dims[0] == g->C, PQ_ERR_INVALID,
                 "weight W %s does not fit X %s (W[0] must equal the input channels)",
                 pq_tensor_describe(w, b1, sizeof b1), pq_tensor_describe(x, b2, sizeof b2));
    }
    PQ_TRY(check_len("kernel_shape", c->n_kernel, r, err));
    PQ_TRY(check_len("strides", c->n_strides, r, err));
    PQ_TRY(check_len("dilations", c->n_dilations, r, err));
    PQ_TRY(check_len("pads", c->n_pads, 2 * r, err));
    PQ_TRY(check_len("output_padding", c->n_out_pad, r, err));
    if (c->n_out_shape)
        PQ_CHECK(c->n_out_shape == r || c->n_out_shape == r + 2, PQ_ERR_INVALID,
                 "output_shape has %lld values, expected %d", (long long)c->n_out_shape, r);
    g->P_in = g->P_out = g->K = 1;
    for (int i = 0; i < r; i++) {
        int64_t in = x->dims[2 + i], k = w->dims[2 + i];
        int64_t s = c->n_strides ? c->strides[i] : 1;
        int64_t d = c->n_dilations ? c->dilations[i] : 1;
        int64_t pb = c->n_pads ? c->pads[i] : 0, pe = c->n_pads ? c->pads[r + i] : 0;
        PQ_CHECK(!c->n_kernel || c->kernel[i] == k, PQ_ERR_INVALID,
                 "kernel_shape[%d] = %lld but W has %lld", i, (long long)c->kernel[i],
                 (long long)k);
        PQ_CHECK(k >= 1, PQ_ERR_INVALID, "W has an empty kernel dimension");
        int64_t ek = (k - 1) * d + 1; /* dilated kernel extent */
        int64_t out;
        if (!c->transpose) {
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
                out = span >= 0 ? span / s + 1 : 0;
            }
            PQ_CHECK(out >= 1, PQ_ERR_INVALID,
                     "spatial axis %d: input %lld with padding %lld+%lld is smaller than the "
                     "dilated kernel %lld", i, (long long)in, (long long)pb, (long long)pe,
                     (long long)ek);
        } else {
            int64_t op = c->n_out_pad ? c->out_pad[i] : 0;
            int64_t want = -1;
            if (c->n_out_shape) want = c->out_shape[c->n_out_shape - r + i];
            else if (c->auto_pad == PAD_SAME_UPPER || c->auto_pad == PAD_SAME_LOWER)
                want = in * s;
            if (want >= 0) {
                /* ONNX ConvTranspose-11: total_padding = s*(in-1) + output_padding + ek -
                 * output_shape; SAME_UPPER puts the odd unit at the end, otherwise at the
                 * beginning. */
                int64_t total = s * (in - 1) + op + ek - want;
                /* Floor division: an output_shape larger than the natural size (negative
                 * total) extends the end, as in the ONNX reference. */
                int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
                if (c->auto_pad == PAD_SAME_UPPER) {
                    pb = half;
                    pe = total - half;
                } else {
                    pb = total - half;
                    pe = half;
                }
                out = want;
            } else {
                if (c->auto_pad == PAD_VALID) pb = pe = 0;
                out = s * (in - 1) + op + ek - pb - pe;
            }
            PQ_CHECK(out >= 1, PQ_ERR_INVALID, "spatial axis %d: output size %lld < 1", i,
                     (long long)out);
        }
        g->in[i] = in;
        g->out[i] = out;
        g->k[i] = k;
        g->s[i] = s;
        g->d[i] = d;
        g->pb[i] = pb;
        g->pe[i] = pe;
        g->P_in *= in;
        g->P_out *= out;
        g->K *= k;
    }
    return PQ_OK;
fail:
    return st;
}

/* ------------------------------------------------------------------ im2col / col2im */

static inline int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* For grid positions o in [0, L) along the last axis, image index = o * s + off. Returns in
 * [*lo, *hi) the positions whose image index lies in [0, W). */
static void valid_range(int64_t L, int64_t W, int64_t s, int64_t off, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = W - 1 - off < 0 ? 0 : (W - 1 - off) / s + 1;
    if (b > L) b = L;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* Walks one patch-matrix row: channel image `img` (dims img_dims) against the grid (dims
 * grid_dims) for kernel offsets kk. For each grid row (all axes but the last) calls the
 * body with the image row (NULL when outside the image) and the grid row offset. */
#define CONV_ROW_WALK(T, BODY)                                                               \
    do {                                                                                     \
        int64_t L_ = grid[r - 1], lo_, hi_;                                                  \
        int64_t off_ = kk[r - 1] * d[r - 1] - pb[r - 1];                                      \
        valid_range(L_, img_dims[r - 1], s[r - 1], off_, &lo_, &hi_);                         \
        int64_t npre_ = 1;                                                                   \
        for (int j_ = 0; j_ < r - 1; j_++) npre_ *= grid[j_];                                \
        int64_t o_[PQ_MAX_RANK] = {0};                                                       \
        for (int64_t p_ = 0; p_ < npre_; p_++) {                                             \
            int64_t ioff_ = 0;                                                               \
            int ok_ = 1;                                                                     \
            for (int j_ = 0; j_ < r - 1; j_++) {                                             \
                int64_t ij_ = o_[j_] * s[j_] - pb[j_] + kk[j_] * d[j_];                       \
                if (ij_ < 0 || ij_ >= img_dims[j_]) {                                        \
                    ok_ = 0;                                                                 \
                    break;                                                                   \
                }                                                                            \
                ioff_ = ioff_ * img_dims[j_] + ij_;                                          \
            }                                                                                \
            T *row_img = ok_ ? (T *)(img + ioff_ * img_dims[r - 1]) : NULL;                  \
            int64_t goff = p_ * L_, lo = lo_, hi = hi_, L = L_, st = s[r - 1], off = off_;   \
            BODY;                                                                            \
            for (int j_ = r - 2; j_ >= 0; j_--) {                                            \
                if (++o_[j_] < grid[j_]) break;                                              \
                o_[j_] = 0;                                                                  \
            }                                                                                \
        }                                                                                    \
    } while (0)

/* im2col of the patch-matrix columns [p0, p1) (grid positions, row-major):
 * cols[c * K + kidx][p - p0] = img[c][grid(p) * s - pb + k * d], or 0 in the padding. */
#define DEFINE_IM2COL(T, SFX)                                                                \
    static void im2col_##SFX(const T *restrict x, int64_t channels, int r,                   \
                             const int64_t *img_dims, const int64_t *grid, const int64_t *k, \
                             const int64_t *s, const int64_t *d, const int64_t *pb,          \
                             int64_t p0, int64_t p1, T *restrict cols)                       \
    {                                                                                        \
        int64_t K = 1, P_img = 1;                                                            \
        for (int i = 0; i < r; i++) {                                                        \
            K *= k[i];                                                                       \
            P_img *= img_dims[i];                                                            \
        }                                                                                    \
        const int64_t L = grid[r - 1], W = img_dims[r - 1], st = s[r - 1], n_cols = p1 - p0; \
        int64_t o0[PQ_MAX_RANK] = {0}, rem0 = p0 / L;                                        \
        for (int j = r - 2; j >= 0; j--) {                                                   \
            o0[j] = rem0 % grid[j];                                                          \
            rem0 /= grid[j];                                                                 \
        }                                                                                    \
        for (int64_t row = 0; row < channels * K; row++) {                                   \
            int64_t kk[PQ_MAX_RANK], rem = row % K;                                          \
            for (int i = r - 1; i >= 0; i--) {                                              \
                kk[i] = rem % k[i];                                                          \
                rem /= k[i];                                                                 \
            }                                                                                \
            const T *img = x + (row / K) * P_img;                                            \
            T *dst = cols + row * n_cols;                                                    \
            int64_t off = kk[r - 1] * d[r - 1] - pb[r - 1], lo, hi;                           \
            valid_range(L, W, st, off, &lo, &hi);                                            \
            int64_t o[PQ_MAX_RANK];                                                          \
            memcpy(o, o0, sizeof o);                                                         \
            int64_t q = p0 % L, left = n_cols;                                               \
            while (left > 0) {                                                               \
                int64_t e = q + left < L ? q + left : L; /* segment [q, e) of a grid row */   \
                int64_t ioff = 0;                                                            \
                int ok = 1;                                                                  \
                for (int j = 0; j < r - 1; j++) {                                            \
                    int64_t ij = o[j] * s[j] - pb[j] + kk[j] * d[j];                          \
                    if (ij < 0 || ij >= img_dims[j]) {                                       \
                        ok = 0;                                                              \
                        break;                                                               \
                    }                                                                        \
                    ioff = ioff * img_dims[j] + ij;                                          \
                }                                                                            \
                T *dq = dst - q; /* dq[q'] is the column of grid position q' */              \
                if (!ok) {                                                                   \
                    memset(dst, 0, (size_t)(e - q) * sizeof(T));                             \
                } else {                                                                     \
                    const T *ri = img + ioff * W;                                            \
                    int64_t a = lo > q ? lo : q, b = hi < e ? hi : e;                        \
                    if (a > e) a = e;                                                        \
                    if (b < a) b = a;                                                        \
                    for (int64_t t = q; t < a; t++) dq[t] = 0;                               \
                    if (st == 1) { /* short rows: a loop beats a memcpy call */            \
                        _Pragma("omp simd")                                                  \
                        for (int64_t t = a; t < b; t++) dq[t] = ri[t + off];                 \
                    } else if (st == 2) { /* constant stride: the loads vectorise */       \
                        _Pragma("omp simd")                                                  \
                        for (int64_t t = a; t < b; t++) dq[t] = ri[2 * t + off];             \
                    } else {                                                                 \
                        _Pragma("omp simd")                                                  \
                        for (int64_t t = a; t < b; t++) dq[t] = ri[t * st + off];            \
                    }                                                                        \
                    for (int64_t t = b; t < e; t++) dq[t] = 0;                               \
                }                                                                            \
                dst += e - q;                                                                \
                left -= e - q;                                                               \
                q = 0;                                                                       \
                for (int j = r - 2; j >= 0; j--) {                                           \
                    if (++o[j] < grid[j]) break;                                             \
                    o[j] = 0;                                                                \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

/* col2im: img[c][grid * s - pb + k * d] += cols[c * K + kidx][grid position]. Parallel over
 * channels so that no two threads write the same image element. */
#define DEFINE_COL2IM(T, SFX)                                                                \
    static void col2im_##SFX(const T *restrict cols, int64_t channels, int r,                \
                             const int64_t *img_dims, const int64_t *grid, const int64_t *k, \
                             const int64_t *s, const int64_t *d, const int64_t *pb,          \
                             T *restrict y, int threads)                                     \
    {                                                                                        \
        int64_t K = 1, P_img = 1, P_grid = 1;                                                \
        for (int i = 0; i < r; i++) {                                                        \
            K *= k[i];                                                                       \
            P_img *= img_dims[i];                                                            \
            P_grid *= grid[i];                                                               \
        }                                                                                    \
        _Pragma("omp parallel for num_threads(threads) schedule(static) if(channels * K * P_grid > 65536)") \
        for (int64_t ch = 0; ch < channels; ch++) {                                          \
            T *img = y + ch * P_img;                                                         \
            for (int64_t kidx = 0; kidx < K; kidx++) {                                       \
                int64_t kk[PQ_MAX_RANK], rem = kidx;                                         \
                for (int i = r - 1; i >= 0; i--) {                                           \
                    kk[i] = rem % k[i];                                                      \
                    rem /= k[i];                                                             \
                }                                                                            \
                const T *src = cols + (ch * K + kidx) * P_grid;                              \
                CONV_ROW_WALK(T, {                                                           \
                    (void)L;                                                                 \
                    if (row_img) {                                                           \
                        const T *c_ = src + goff;                                            \
                        for (int64_t q = lo; q < hi; q++) row_img[q * st + off] += c_[q];    \
                    }                                                                        \
                });                                                                          \
            }                                                                                \
        }                                                                                    \
    }

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)
DEFINE_COL2IM(float, f32)
DEFINE_COL2IM(double, f64)

/* ------------------------------------------------------------------ GEMM wrappers */

/* GEMM with alpha = 1; `threads` > 1 splits it over OpenMP threads (gemm_blas.h), 1 is
 * one BLAS call (inside a parallel loop BLAS is single-threaded already). */
static void gemm_f32(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                     int64_t ldc, int threads)
{
    pq__sgemm_par(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc, threads);
}

static void gemm_f64(int ta, int tb, int64_t m, int64_t n, int64_t k, const double *a,
                     int64_t lda, const double *b, int64_t ldb, double beta, double *c,
                     int64_t ldc, int threads)
{
    pq__dgemm_par(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc, threads);
}

/* BLAS takes int dimensions: refuse what does not fit. */
static pq_status check_blas_dims(const conv_geom *g, pq_err *err)
{
    int64_t lim = 0x7fffffff;
    int64_t big = g->C * g->K;
    if (g->M * g->K > big) big = g->M * g->K;
    if (g->P_in > big) big = g->P_in;
    if (g->P_out > big) big = g->P_out;
    if (big > lim)
        return pq_err_set(err, PQ_ERR_UNSUPPORTED,
                          "convolution too large for BLAS int dimensions (%lld)",
                          (long long)big);
    return PQ_OK;
}

/* ------------------------------------------------------------------ Conv */

/* Hot direct loops are compiled for AVX-512F, AVX2 and baseline x86-64; the loader picks
 * the clone for the machine (the build itself targets baseline x86-64). Results do not
 * depend on the clone: -std=c11 keeps multiply and add unfused. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CONV_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CONV_CLONES
#endif

/* y < lo ? lo : y, then > hi ? hi : y: the clamp of an epilogue (pq_exec_epilogue); with
 * lo = -inf and hi = +inf it is the identity (NaN and -0 kept). */
static inline float clampf(float v, float lo, float hi)
{
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* One output row of a depthwise 2-D convolution, for kernel rows whose input row lies in
 * the image (rows[j], weights wk[j], j < nk), at the output columns [a, b) where every
 * kernel column reads inside the image. Sums in the order of the generic path: bias, then
 * kernel rows, then kernel columns. */
CONV_CLONES static void dw_row_inner_f32(float *restrict yr, int64_t a, int64_t b, int nk,
                                         const float *const *rows, const float *const *wk,
                                         int64_t KW, int64_t sw, int64_t dw, int64_t pw,
                                         float b0, float lo, float hi)
{
    if (KW == 3 && nk == 3) {
        const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];
        const float w00 = wk[0][0], w01 = wk[0][1], w02 = wk[0][2];
        const float w10 = wk[1][0], w11 = wk[1][1], w12 = wk[1][2];
        const float w20 = wk[2][0], w21 = wk[2][1], w22 = wk[2][2];
        const int64_t o0 = -pw, o1 = dw - pw, o2 = 2 * dw - pw;
        if (sw == 1) {
#pragma omp simd
            for (int64_t ow = a; ow < b; ow++) {
                float acc = b0;
                acc += w00 * r0[ow + o0];
                acc += w01 * r0[ow + o1];
                acc += w02 * r0[ow + o2];
                acc += w10 * r1[ow + o0];
                acc += w11 * r1[ow + o1];
                acc += w12 * r1[ow + o2];
                acc += w20 * r2[ow + o0];
                acc += w21 * r2[ow + o1];
                acc += w22 * r2[ow + o2];
                yr[ow] = clampf(acc, lo, hi);
            }
            return;
        }
        if (sw == 2) {
#pragma omp simd
            for (int64_t ow = a; ow < b; ow++) {
                float acc = b0;
                acc += w00 * r0[2 * ow + o0];
                acc += w01 * r0[2 * ow + o1];
                acc += w02 * r0[2 * ow + o2];
                acc += w10 * r1[2 * ow + o0];
                acc += w11 * r1[2 * ow + o1];
                acc += w12 * r1[2 * ow + o2];
                acc += w20 * r2[2 * ow + o0];
                acc += w21 * r2[2 * ow + o1];
                acc += w22 * r2[2 * ow + o2];
                yr[ow] = clampf(acc, lo, hi);
            }
            return;
        }
    }
    /* Any other kernel: accumulate tap by tap in the output row, then clamp. */
#pragma omp simd
    for (int64_t ow = a; ow < b; ow++) yr[ow] = b0;
    for (int j = 0; j < nk; j++)
        for (int64_t kw = 0; kw < KW; kw++) {
            const float wv = wk[j][kw], *restrict xr = rows[j];
            const int64_t off = kw * dw - pw;
            if (sw == 1) {
#pragma omp simd
                for (int64_t ow = a; ow < b; ow++) yr[ow] += wv * xr[ow + off];
            } else if (sw == 2) {
#pragma omp simd
                for (int64_t ow = a; ow < b; ow++) yr[ow] += wv * xr[2 * ow + off];
            } else {
#pragma omp simd
                for (int64_t ow = a; ow < b; ow++) yr[ow] += wv * xr[ow * sw + off];
            }
        }
#pragma omp simd
    for (int64_t ow = a; ow < b; ow++) yr[ow] = clampf(yr[ow], lo, hi);
}

/* One (image, channel) plane of a depthwise 2-D convolution, clamped to [lo, hi]. lo/hi
 * (per kernel column): the output columns whose input column lies inside the image. The
 * columns where every kernel column is inside go through dw_row_inner_f32; the few at the
 * borders skip the taps that fall in the padding, in the same summation order. */
static void dw_plane_f32(const conv_geom *g, const float *restrict xp, const float *restrict wp,
                         float b0, float *restrict yp, const int64_t *lo, const int64_t *hi,
                         float clo, float chi)
{
    const int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    const int64_t KH = g->k[0], KW = g->k[1];
    const int64_t sh = g->s[0], sw = g->s[1], dh = g->d[0], dw = g->d[1];
    const int64_t ph = g->pb[0], pw = g->pb[1];
    int64_t a = 0, b = OW; /* columns where every kernel column reads inside the image */
    for (int64_t kw = 0; kw < KW; kw++) {
        if (lo[kw] > a) a = lo[kw];
        if (hi[kw] < b) b = hi[kw];
    }
    if (b < a) b = a;
    const float *rows[64], *wk[64];
    for (int64_t oh = 0; oh < OH; oh++) {
        float *restrict yr = yp + oh * OW;
        int nk = 0;
        for (int64_t kh = 0; kh < KH; kh++) {
            int64_t ih = oh * sh - ph + kh * dh;
            if (ih < 0 || ih >= H) continue;
            rows[nk] = xp + ih * W;
            wk[nk++] = wp + kh * KW;
        }
        for (int64_t ow = 0; ow < OW; ow++) {
            if (ow == a) ow = b; /* the inner columns are done below */
            if (ow >= OW) break;
            float acc = b0;
            for (int j = 0; j < nk; j++)
                for (int64_t kw = 0; kw < KW; kw++)
                    if (ow >= lo[kw] && ow < hi[kw])
                        acc += wk[j][kw] * rows[j][ow * sw + kw * dw - pw];
            yr[ow] = clampf(acc, clo, chi);
        }
        dw_row_inner_f32(yr, a, b, nk, rows, wk, KW, sw, dw, pw, b0, clo, chi);
    }
}

/* Stride-1 depthwise plane on a zero-padded copy xp (Hp x Wp, with slack after it): the
 * output is computed on the padded width as one flat loop, tmp[t] for t = oh * Wp + ow,
 * so that rows as narrow as 7 columns still fill whole vectors; the OW valid columns of
 * each row are then clamped into y. */
CONV_CLONES static void dw_flat_s1_f32(const float *restrict xp, int64_t Wp, int64_t OH,
                                       int64_t OW, const float *restrict wp, int64_t KH,
                                       int64_t KW, int64_t dh, int64_t dw, float b0,
                                       float *restrict tmp, float *restrict yp, float clo,
                                       float chi)
{
    const int64_t T = OH * Wp;
    if (KH == 3 && KW == 3) {
        const float w00 = wp[0], w01 = wp[1], w02 = wp[2], w10 = wp[3], w11 = wp[4];
        const float w12 = wp[5], w20 = wp[6], w21 = wp[7], w22 = wp[8];
        const float *restrict r0 = xp, *restrict r1 = xp + dh * Wp, *restrict r2 = xp + 2 * dh * Wp;
        const int64_t o1 = dw, o2 = 2 * dw;
#pragma omp simd
        for (int64_t t = 0; t < T; t++) {
            float acc = b0;
            acc += w00 * r0[t];
            acc += w01 * r0[t + o1];
            acc += w02 * r0[t + o2];
            acc += w10 * r1[t];
            acc += w11 * r1[t + o1];
            acc += w12 * r1[t + o2];
            acc += w20 * r2[t];
            acc += w21 * r2[t + o1];
            acc += w22 * r2[t + o2];
            tmp[t] = acc;
        }
    } else {
#pragma omp simd
        for (int64_t t = 0; t < T; t++) tmp[t] = b0;
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) {
                const float wv = wp[kh * KW + kw], *restrict xr = xp + kh * dh * Wp + kw * dw;
#pragma omp simd
                for (int64_t t = 0; t < T; t++) tmp[t] += wv * xr[t];
            }
    }
    for (int64_t oh = 0; oh < OH; oh++) {
        const float *restrict src = tmp + oh * Wp;
        float *restrict dst = yp + oh * OW;
#pragma omp simd
        for (int64_t ow = 0; ow < OW; ow++) dst[ow] = clampf(src[ow], clo, chi);
    }
}

/* Strided 3x3 depthwise plane on a zero-padded copy xp (Hp x Wp): one vector loop per
 * output row, no border cases. */
CONV_CLONES static void dw_rows_3x3_f32(const float *restrict xp, int64_t Wp, int64_t OH,
                                        int64_t OW, const float *restrict wp, int64_t sh,
                                        int64_t sw, int64_t dh, int64_t dw, float b0,
                                        float *restrict yp, float clo, float chi)
{
    const float w00 = wp[0], w01 = wp[1], w02 = wp[2], w10 = wp[3], w11 = wp[4];
    const float w12 = wp[5], w20 = wp[6], w21 = wp[7], w22 = wp[8];
    for (int64_t oh = 0; oh < OH; oh++) {
        const float *restrict r0 = xp + oh * sh * Wp, *restrict r1 = r0 + dh * Wp;
        const float *restrict r2 = r1 + dh * Wp;
        float *restrict yr = yp + oh * OW;
        if (sw == 2 && dw == 1) {
#pragma omp simd
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t q = 2 * ow;
                float acc = b0;
                acc += w00 * r0[q];
                acc += w01 * r0[q + 1];
                acc += w02 * r0[q + 2];
                acc += w10 * r1[q];
                acc += w11 * r1[q + 1];
                acc += w12 * r1[q + 2];
                acc += w20 * r2[q];
                acc += w21 * r2[q + 1];
                acc += w22 * r2[q + 2];
                yr[ow] = clampf(acc, clo, chi);
            }
            continue;
        }
#pragma omp simd
        for (int64_t ow = 0; ow < OW; ow++) {
            const int64_t q = ow * sw;
            float acc = b0;
            acc += w00 * r0[q];
            acc += w01 * r0[q + dw];
            acc += w02 * r0[q + 2 * dw];
            acc += w10 * r1[q];
            acc += w11 * r1[q + dw];
            acc += w12 * r1[q + 2 * dw];
            acc += w20 * r2[q];
            acc += w21 * r2[q + dw];
            acc += w22 * r2[q + 2 * dw];
            yr[ow] = clampf(acc, clo, chi);
        }
    }
}

/* Copies plane x (H x W) into xp (Hp x Wp) at (ph, pw), zeros around it. */
static void pad_plane_f32(const float *restrict x, int64_t H, int64_t W, float *restrict xp,
                          int64_t Hp, int64_t Wp, int64_t ph, int64_t pw)
{
    memset(xp, 0, (size_t)(ph * Wp) * sizeof *xp);
    for (int64_t h = 0; h < H; h++) {
        float *restrict row = xp + (ph + h) * Wp;
        for (int64_t w = 0; w < pw; w++) row[w] = 0.0f;
        memcpy(row + pw, x + h * W, (size_t)W * sizeof *x);
        for (int64_t w = pw + W; w < Wp; w++) row[w] = 0.0f;
    }
    memset(xp + (ph + H) * Wp, 0, (size_t)((Hp - ph - H) * Wp) * sizeof *xp);
}

/* Depthwise 2-D (group == C == M), float32: direct loop, parallel over (image, channel),
 * clamped to [clo, chi] (the identity for -inf, +inf). 3x3 kernels with stride 1 or 2 run
 * the AVX-512 planes of conv_avx512.c where the CPU has them. Otherwise stride 1 (dw_flat_s1_f32) and
 * strided 3x3 kernels (dw_rows_3x3_f32) run on zero-padded planes when the workspace is
 * available; anything else skips the taps that fall in the padding. The caller guarantees KH, KW <= 64. */
static void conv_depthwise2d_f32(pq_exec_node *n, const conv_geom *g, const float *restrict x,
                                 const float *restrict w, const float *restrict bias,
                                 float *restrict y, int threads, float clo, float chi)
{
    const int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    const int64_t HW = H * W, OHW = OH * OW, KHW = g->k[0] * g->k[1];
    const int64_t planes = g->N * g->C;
    if (planes * OHW * KHW <= 65536) threads = 1;
    if (pq__dw3x3_avx512_applies(g->k, g->s, g->d, g->pb)) {
#pragma omp parallel for num_threads(threads) schedule(static) if(threads > 1)
        for (int64_t pl = 0; pl < planes; pl++) {
            int64_t ch = pl % g->C;
            pq__dw3x3_plane_avx512(x + pl * HW, H, W, w + ch * KHW, bias ? bias[ch] : 0.0f,
                                   y + pl * OHW, OH, OW, (int)g->s[0], g->pb[0], g->pb[1], clo,
                                   chi);
        }
        return;
    }
    if (g->s[0] == 1 && g->s[1] == 1) {
        const int64_t Hp = H + g->pb[0] + g->pe[0], Wp = W + g->pb[1] + g->pe[1];
        const int64_t per = Hp * Wp + g->k[1] * g->d[1] + OH * Wp + 16; /* plane + slack + tmp */
        float *ws = pq_node_workspace(n, (size_t)(threads * per) * sizeof(float));
        if (ws && OH + (g->k[0] - 1) * g->d[0] == Hp && OW + (g->k[1] - 1) * g->d[1] == Wp) {
#pragma omp parallel for num_threads(threads) schedule(static) if(threads > 1)
            for (int64_t pl = 0; pl < planes; pl++) {
                int64_t ch = pl % g->C;
                float *xp = ws + (int64_t)thread_id() * per, *tmp = xp + Hp * Wp + g->k[1] * g->d[1];
                pad_plane_f32(x + pl * HW, H, W, xp, Hp, Wp, g->pb[0], g->pb[1]);
                memset(xp + Hp * Wp, 0, (size_t)(g->k[1] * g->d[1]) * sizeof *xp);
                dw_flat_s1_f32(xp, Wp, OH, OW, w + ch * KHW, g->k[0], g->k[1], g->d[0], g->d[1],
                               bias ? bias[ch] : 0.0f, tmp, y + pl * OHW, clo, chi);
            }
            return;
        }
    }
    if (g->k[0] == 3 && g->k[1] == 3) { /* strided 3x3 (MobileNet's downsampling layers) */
        const int64_t Hp = H + g->pb[0] + g->pe[0], Wp = W + g->pb[1] + g->pe[1];
        const int64_t per = Hp * Wp + 16;
        float *ws = pq_node_workspace(n, (size_t)(threads * per) * sizeof(float));
        if (ws && (OH - 1) * g->s[0] + 2 * g->d[0] < Hp && (OW - 1) * g->s[1] + 2 * g->d[1] < Wp) {
#pragma omp parallel for num_threads(threads) schedule(static) if(threads > 1)
            for (int64_t pl = 0; pl < planes; pl++) {
                int64_t ch = pl % g->C;
                float *xp = ws + (int64_t)thread_id() * per;
                pad_plane_f32(x + pl * HW, H, W, xp, Hp, Wp, g->pb[0], g->pb[1]);
                dw_rows_3x3_f32(xp, Wp, OH, OW, w + ch * KHW, g->s[0], g->s[1], g->d[0],
                                g->d[1], bias ? bias[ch] : 0.0f, y + pl * OHW, clo, chi);
            }
            return;
        }
    }
    int64_t lo[64], hi[64];
    for (int64_t kw = 0; kw < g->k[1]; kw++)
        valid_range(g->out[1], g->in[1], g->s[1], kw * g->d[1] - g->pb[1], &lo[kw], &hi[kw]);
#pragma omp parallel for num_threads(threads) schedule(static) if(threads > 1)
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t ch = pl % g->C;
        dw_plane_f32(g, x + pl * HW, w + ch * KHW, bias ? bias[ch] : 0.0f, y + pl * OHW, lo, hi,
                     clo, chi);
    }
}

/* Fills each [rows, P] block of y (one per (image, channel)) with the channel's bias. */
#define DEFINE_FILL_BIAS(T, SFX)                                                             \
    static void fill_bias_##SFX(T *y, int64_t N, int64_t M, int64_t P, const T *bias)        \
    {                                                                                        \
        for (int64_t i = 0; i < N * M; i++) {                                                \
            T v = bias ? bias[i % M] : (T)0;                                                 \
            T *p = y + i * P;                                                                \
            for (int64_t q = 0; q < P; q++) p[q] = v;                                        \
        }                                                                                    \
    }
DEFINE_FILL_BIAS(float, f32)
DEFINE_FILL_BIAS(double, f64)

/* Whether the convolution is 1x1, stride 1, no padding: the image is its patch matrix. */
static int is_pointwise(const conv_geom *g)
{
    for (int i = 0; i < g->r; i++)
        if (g->k[i] != 1 || g->s[i] != 1 || g->pb[i] != 0 || g->pe[i] != 0) return 0;
    return 1;
}

/* Patch-matrix columns per work item: about 1 MB of patches (stays in L2 while the GEMM
 * reads it), at least 64 columns, and enough items to keep every thread busy. */
static int64_t conv_tile(int64_t CK, int64_t P, int64_t blocks, int threads, size_t elem)
{
    int64_t tile = (int64_t)((1024u << 10) / ((size_t)CK * elem));
    tile = tile < 64 ? 64 : (tile / 16) * 16;
    if (tile > P) tile = P;
    int64_t want = (threads + blocks - 1) / blocks; /* tiles per (image, group) for balance */
    if (threads > 1 && (P + tile - 1) / tile < want) {
        tile = (P + want - 1) / want;
        if (tile < 16) tile = 16 < P ? 16 : P;
    }
    return tile < 1 ? 1 : tile;
}

/* Conv through GEMM. Work items are (image, group, column tile); each thread im2cols its
 * tile into its own slice of the workspace and runs a single-threaded GEMM into the output
 * (ldc = P_out), then adds the bias and, when `clamp` is set, clamps to [clo, chi] while
 * the tile is in cache. With one thread, OpenBLAS keeps its own threading. */
#define DEFINE_CONV_GEMM(T, SFX)                                                             \
    static pq_status conv_gemm_##SFX(pq_exec_node *n, const conv_geom *g, const T *x,        \
                                     const T *w, const T *bias, T *y, int clamp, T clo,      \
                                     T chi, pq_err *err)                                     \
    {                                                                                        \
        int threads = pq_node_threads(n);                                                    \
        if (threads < 1) threads = 1;                                                        \
        const int64_t Cg = g->C / g->G, Mg = g->M / g->G, CK = Cg * g->K, P = g->P_out;       \
        const int pointwise = is_pointwise(g);                                               \
        int64_t tile = conv_tile(CK, P, g->N * g->G, threads, sizeof(T));                    \
        int64_t n_tiles = (P + tile - 1) / tile, items = g->N * g->G * n_tiles;              \
        if (items < threads) threads = (int)items;                                           \
        T *ws = NULL;                                                                        \
        if (!pointwise) {                                                                    \
            ws = pq_node_workspace(n, (size_t)(threads * CK * tile) * sizeof(T));            \
            if (!ws)                                                                         \
                return pq_err_set(err, PQ_ERR_NOMEM, "out of memory for %d patch matrices "  \
                                  "of %lld x %lld", threads, (long long)CK, (long long)tile); \
        }                                                                                    \
        int blas_threads = threads > 1 ? pq__blas_single() : 1;                              \
        _Pragma("omp parallel for num_threads(threads) schedule(dynamic, 1) if(threads > 1)") \
        for (int64_t it = 0; it < items; it++) {                                             \
            int64_t b = it / (g->G * n_tiles), gr = (it / n_tiles) % g->G;                   \
            int64_t p0 = (it % n_tiles) * tile, p1 = p0 + tile < P ? p0 + tile : P;          \
            const T *xg = x + (b * g->C + gr * Cg) * g->P_in;                                \
            const T *src = xg + p0;                                                          \
            int64_t ldb = g->P_in;                                                           \
            if (!pointwise) {                                                                \
                T *cols = ws + (int64_t)thread_id() * CK * tile;                             \
                im2col_##SFX(xg, Cg, g->r, g->in, g->out, g->k, g->s, g->d, g->pb, p0, p1,   \
                             cols);                                                          \
                src = cols;                                                                  \
                ldb = p1 - p0;                                                               \
            }                                                                                \
            T *yt = y + (b * g->M + gr * Mg) * P + p0;                                       \
            gemm_##SFX(0, 0, Mg, p1 - p0, CK, w + gr * Mg * CK, CK, src, ldb, (T)0, yt, P,   \
                       1);                                                                   \
            for (int64_t m = 0; bias && m < Mg; m++) {                                       \
                T bv = bias[gr * Mg + m], *yr = yt + m * P;                                  \
                _Pragma("omp simd")                                                          \
                for (int64_t q = 0; q < p1 - p0; q++) {                                      \
                    T v = yr[q] + bv;                                                        \
                    v = v < clo ? clo : v;                                                   \
                    yr[q] = v > chi ? chi : v;                                               \
                }                                                                            \
            }                                                                                \
            for (int64_t m = 0; !bias && clamp && m < Mg; m++) {                             \
                T *yr = yt + m * P;                                                          \
                _Pragma("omp simd")                                                          \
                for (int64_t q = 0; q < p1 - p0; q++) {                                      \
                    T v = yr[q];                                                             \
                    v = v < clo ? clo : v;                                                   \
                    yr[q] = v > chi ? chi : v;                                               \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        pq__blas_restore(blas_threads);                                                      \
        return PQ_OK;                                                                        \
    }
DEFINE_CONV_GEMM(float, f32)
DEFINE_CONV_GEMM(double, f64)

static pq_status check_inputs(const pq_tensor *x, const pq_tensor *w, const pq_tensor *b,
                              int64_t M, pq_err *err)
{
    char b1[128], b2[128];
    if (x->dtype != PQ_DTYPE_FLOAT32 && x->dtype != PQ_DTYPE_FLOAT64 &&
        x->dtype != PQ_DTYPE_FLOAT16 && x->dtype != PQ_DTYPE_BFLOAT16)
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "input X has dtype %s (float32, float64, "
                          "float16 and bfloat16 are supported)", pq_dtype_name(x->dtype));
    if (w->dtype != x->dtype)
        return pq_err_set(err, PQ_ERR_INVALID, "weight W is %s but X is %s",
                          pq_dtype_name(w->dtype), pq_dtype_name(x->dtype));
    if (b && (b->dtype != x->dtype || b->rank != 1 || b->dims[0] != M))
        return pq_err_set(err, PQ_ERR_INVALID, "bias B %s must be %s[%lld] (X is %s)",
                          pq_tensor_describe(b, b1, sizeof b1), pq_dtype_name(x->dtype),
                          (long long)M, pq_tensor_describe(x, b2, sizeof b2));
    return PQ_OK;
}

/* float32 Conv with a small weight matrix (M/g x C/g * K within the AVX-512 kernel's bound)
 * through the AVX-512 kernel instead of sgemm: bias and clamp go into the single store of y.
 * Work items are (image, group, columns): a pointwise convolution reads its image directly
 * in runs of 512 columns, any other goes through im2col tiles as conv_gemm's (such as a
 * network's first convolution over 3 channels). */
static pq_status conv_avx512_small(pq_exec_node *n, const conv_geom *g, const float *x,
                                   const float *w, const float *bias, float *y, float clo,
                                   float chi, pq_err *err)
{
    int threads = pq_node_threads(n);
    if (threads < 1) threads = 1;
    const int pointwise = is_pointwise(g);
    const int64_t Cg = g->C / g->G, Mg = g->M / g->G, CK = Cg * g->K, P = g->P_out;
    int64_t tile = pointwise ? 512 : conv_tile(CK, P, g->N * g->G, threads, sizeof(float));
    int64_t n_tiles = (P + tile - 1) / tile, items = g->N * g->G * n_tiles;
    if (items < threads) threads = (int)items;
    float *ws = NULL;
    if (!pointwise) {
        ws = pq_node_workspace(n, (size_t)(threads * CK * tile) * sizeof(float));
        if (!ws)
            return pq_err_set(err, PQ_ERR_NOMEM, "out of memory for %d patch matrices of %lld "
                              "x %lld", threads, (long long)CK, (long long)tile);
    }
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if(threads > 1)
    for (int64_t it = 0; it < items; it++) {
        int64_t b = it / (g->G * n_tiles), gr = (it / n_tiles) % g->G;
        int64_t p0 = (it % n_tiles) * tile, p1 = p0 + tile < P ? p0 + tile : P;
        const float *xg = x + (b * g->C + gr * Cg) * g->P_in, *src = xg + p0;
        int64_t ld = P;
        if (!pointwise) {
            float *cols = ws + (int64_t)thread_id() * CK * tile;
            im2col_f32(xg, Cg, g->r, g->in, g->out, g->k, g->s, g->d, g->pb, p0, p1, cols);
            src = cols;
            ld = p1 - p0;
        }
        pq__conv1x1_avx512(w + gr * Mg * CK, Mg, CK, src, ld, bias ? bias + gr * Mg : NULL,
                           y + (b * g->M + gr * Mg) * P + p0, P, p1 - p0, clo, chi);
    }
    return PQ_OK;
}

/* float32 Conv: depthwise 2-D direct, everything else through im2col + GEMM. An active
 * epilogue of the node is applied (and marked applied) when epi is not NULL. */
static pq_status conv_f32_epi(pq_exec_node *n, const conv_geom *g, const float *x,
                              const float *w, const float *b, float *y,
                              pq_exec_epilogue *epi, pq_err *err)
{
    int clamp = epi && epi->active;
    float clo = clamp ? epi->lo : -INFINITY, chi = clamp ? epi->hi : INFINITY;
    if (clamp) epi->applied = 1;
    if (g->r == 2 && g->G == g->C && g->M == g->C && g->G > 1 && g->k[1] <= 64 &&
        g->k[0] <= 64) {
        int threads = pq_node_threads(n);
        conv_depthwise2d_f32(n, g, x, w, b, y, threads < 1 ? 1 : threads, clo, chi);
        return PQ_OK;
    }
    /* Small weights: the AVX-512 kernel; a dense 3x3 (stride 1) goes to Winograd first. */
    const int small = pq__conv1x1_avx512_applies(g->M / g->G, g->C / g->G * g->K);
    if (small && is_pointwise(g)) return conv_avx512_small(n, g, x, w, b, y, clo, chi, err);
    if (g->r == 2 && g->G == 1 && g->k[0] == 3 && g->k[1] == 3 && g->s[0] == 1 &&
        g->s[1] == 1 && g->d[0] == 1 && g->d[1] == 1) {
        pq_wino_shape ws = {g->N, g->C, g->in[0], g->in[1], g->M, g->out[0], g->out[1],
                            g->pb[0], g->pb[1]};
        if (pq__winograd_applies(&ws))
            return pq__conv3x3_winograd_f32(n, &ws, x, w, b, y, clo, chi, err);
    }
    if (small) return conv_avx512_small(n, g, x, w, b, y, clo, chi, err);
    return conv_gemm_f32(n, g, x, w, b, y, clamp, clo, chi, err);
}

static pq_status conv_f32(pq_exec_node *n, const conv_geom *g, const float *x, const float *w,
                          const float *b, float *y, pq_err *err)
{
    return conv_f32_epi(n, g, x, w, b, y, NULL, err);
}

typedef pq_status (*conv_f32_fn)(pq_exec_node *n, const conv_geom *g, const float *x,
                                 const float *w, const float *b, float *y, pq_err *err);

/* float16 / bfloat16 element i as float. */
static float half_get(const pq_tensor *t, int64_t i)
{
    uint16_t v = PQ_DATA(t, uint16_t)[i];
    return t->dtype == PQ_DTYPE_FLOAT16 ? pq_f16_to_f32(v) : pq_bf16_to_f32(v);
}

/* float16 / bfloat16: the float32 kernel on widened copies, the result rounded back. */
static pq_status conv_half(pq_exec_node *n, const conv_geom *g, const pq_tensor *x,
                           const pq_tensor *w, const pq_tensor *b, pq_tensor *y, conv_f32_fn fn,
                           pq_err *err)
{
    pq_status st = PQ_OK;
    float *wx = pq_malloc((size_t)(x->numel + 1) * sizeof *wx);
    float *ww = pq_malloc((size_t)(w->numel + 1) * sizeof *ww);
    float *wb = b ? pq_malloc((size_t)(b->numel + 1) * sizeof *wb) : NULL;
    float *wy = pq_malloc((size_t)(y->numel + 1) * sizeof *wy);
    PQ_CHECK(wx && ww && wy && (!b || wb), PQ_ERR_NOMEM, "out of memory widening %s",
             pq_dtype_name(x->dtype));
    for (int64_t i = 0; i < x->numel; i++) wx[i] = half_get(x, i);
    for (int64_t i = 0; i < w->numel; i++) ww[i] = half_get(w, i);
    for (int64_t i = 0; b && i < b->numel; i++) wb[i] = half_get(b, i);
    PQ_TRY(fn(n, g, wx, ww, wb, wy, err));
    for (int64_t i = 0; i < y->numel; i++)
        PQ_DATA(y, uint16_t)[i] = y->dtype == PQ_DTYPE_FLOAT16 ? pq_f32_to_f16(wy[i])
                                                               : pq_f32_to_bf16(wy[i]);
fail:
    pq_free(wx);
    pq_free(ww);
    pq_free(wb);
    pq_free(wy);
    return st;
}

static pq_status run_conv(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const conv_ctx *c = n->ctx;
    const pq_tensor *x = pq_node_input(n, 0), *w = pq_node_input(n, 1), *b = pq_node_input(n, 2);
    conv_geom g;
    pq_tensor *y = NULL;
    PQ_CHECK(x && w, PQ_ERR_INVALID, "inputs X and W are required");
    PQ_TRY(conv_geometry(c, x, w, &g, err));
    PQ_TRY(check_inputs(x, w, b, g.M, err));
    PQ_TRY(check_blas_dims(&g, err));
    int64_t ydims[PQ_MAX_RANK];
    ydims[0] = g.N;
    ydims[1] = g.M;
    for (int i = 0; i < g.r; i++) ydims[2 + i] = g.out[i];
    PQ_TRY(pq_node_output(n, 0, x->dtype, x->rank, ydims, 1, &y, err));
    if (g.N == 0) return PQ_OK;
    if (x->dtype == PQ_DTYPE_FLOAT32)
        PQ_TRY(conv_f32_epi(n, &g, PQ_DATA(x, float), PQ_DATA(w, float),
                            b ? PQ_DATA(b, float) : NULL, PQ_DATA(y, float), &n->epi, err));
    else if (x->dtype == PQ_DTYPE_FLOAT64)
        PQ_TRY(conv_gemm_f64(n, &g, PQ_DATA(x, double), PQ_DATA(w, double),
                             b ? PQ_DATA(b, double) : NULL, PQ_DATA(y, double), 0, -INFINITY,
                             INFINITY, err));
    else
        PQ_TRY(conv_half(n, &g, x, w, b, y, conv_f32, err));
    return PQ_OK;
fail:
    return st;
}

/* ------------------------------------------------------------------ ConvTranspose */

#define DEFINE_CONVT(T, SFX)                                                                 \
    static pq_status convt_##SFX(pq_exec_node *n, const conv_geom *g, const T *x,            \
                                 const T *w, const T *bias, T *y, pq_err *err)               \
    {                                                                                        \
        int threads = pq_node_threads(n);                                                    \
        if (threads < 1) threads = 1;                                                        \
        const int64_t Cg = g->C / g->G, Mg = g->M / g->G, MK = Mg * g->K;                     \
        int pointwise = 1;                                                                   \
        for (int i = 0; i < g->r; i++)                                                       \
            if (g->k[i] != 1 || g->s[i] != 1 || g->pb[i] != 0 || g->out[i] != g->in[i])      \
                pointwise = 0;                                                               \
        if (pointwise) {                                                                     \
            fill_bias_##SFX(y, g->N, g->M, g->P_out, bias);                                  \
            for (int64_t b = 0; b < g->N; b++)                                               \
                for (int64_t gr = 0; gr < g->G; gr++)                                        \
                    gemm_##SFX(1, 0, Mg, g->P_in, Cg, w + gr * Cg * MK, MK,                  \
                               x + (b * g->C + gr * Cg) * g->P_in, g->P_in,                  \
                               bias ? (T)1 : (T)0, y + (b * g->M + gr * Mg) * g->P_out,      \
                               g->P_out, threads);                                           \
            return PQ_OK;                                                                    \
        }                                                                                    \
        /* Items (image, group) run in parallel, each with its own column buffer and a      \
         * single-threaded GEMM, when there are enough of them; otherwise one at a time with \
         * a threaded GEMM and col2im. */                                                    \
        const int64_t items = g->N * g->G;                                                   \
        const int par = threads > 1 && items >= threads;                                     \
        const int nbuf = par ? threads : 1;                                                  \
        T *ws = pq_node_workspace(n, (size_t)(nbuf * MK * g->P_in) * sizeof(T));             \
        if (!ws)                                                                             \
            return pq_err_set(err, PQ_ERR_NOMEM, "out of memory for %d column matrices of "  \
                              "%lld x %lld", nbuf, (long long)MK, (long long)g->P_in);       \
        int blas_threads = par ? pq__blas_single() : 1;                                      \
        _Pragma("omp parallel for num_threads(threads) schedule(dynamic, 1) if(par)")        \
        for (int64_t it = 0; it < items; it++) {                                             \
            int64_t b = it / g->G, gr = it % g->G;                                           \
            T *cols = ws + (par ? (int64_t)thread_id() * MK * g->P_in : 0);                  \
            T *yb = y + (b * g->M + gr * Mg) * g->P_out;                                     \
            memset(yb, 0, (size_t)(Mg * g->P_out) * sizeof(T));                              \
            gemm_##SFX(1, 0, MK, g->P_in, Cg, w + gr * Cg * MK, MK,                          \
                       x + (b * g->C + gr * Cg) * g->P_in, g->P_in, (T)0, cols, g->P_in,     \
                       par ? 1 : threads);                                                   \
            col2im_##SFX(cols, Mg, g->r, g->out, g->in, g->k, g->s, g->d, g->pb, yb,         \
                         par ? 1 : threads);                                                 \
            if (bias)                                                                        \
                for (int64_t m = 0; m < Mg; m++) {                                           \
                    T v = bias[gr * Mg + m], *p = yb + m * g->P_out;                         \
                    _Pragma("omp simd")                                                      \
                    for (int64_t q = 0; q < g->P_out; q++) p[q] += v;                        \
                }                                                                            \
        }                                                                                    \
        pq__blas_restore(blas_threads);                                                      \
        return PQ_OK;                                                                        \
    }
DEFINE_CONVT(float, f32)
DEFINE_CONVT(double, f64)

static pq_status run_convtranspose(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const conv_ctx *c = n->ctx;
    const pq_tensor *x = pq_node_input(n, 0), *w = pq_node_input(n, 1), *b = pq_node_input(n, 2);
    conv_geom g;
    pq_tensor *y = NULL;
    PQ_CHECK(x && w, PQ_ERR_INVALID, "inputs X and W are required");
    PQ_TRY(conv_geometry(c, x, w, &g, err));
    PQ_TRY(check_inputs(x, w, b, g.M, err));
    PQ_TRY(check_blas_dims(&g, err));
    int64_t ydims[PQ_MAX_RANK];
    ydims[0] = g.N;
    ydims[1] = g.M;
    for (int i = 0; i < g.r; i++) ydims[2 + i] = g.out[i];
    PQ_TRY(pq_node_output(n, 0, x->dtype, x->rank, ydims, 1, &y, err));
    if (g.N == 0) return PQ_OK;
    if (x->dtype == PQ_DTYPE_FLOAT32)
        PQ_TRY(convt_f32(n, &g, PQ_DATA(x, float), PQ_DATA(w, float),
                         b ? PQ_DATA(b, float) : NULL, PQ_DATA(y, float), err));
    else if (x->dtype == PQ_DTYPE_FLOAT64)
        PQ_TRY(convt_f64(n, &g, PQ_DATA(x, double), PQ_DATA(w, double),
                         b ? PQ_DATA(b, double) : NULL, PQ_DATA(y, double), err));
    else
        PQ_TRY(conv_half(n, &g, x, w, b, y, convt_f32, err));
    return PQ_OK;
fail:
    return st;
}

/* ------------------------------------------------------------------ ConvInteger, QLinearConv */

static int is_int8_dtype(pq_dtype dt)
{
    return dt == PQ_DTYPE_UINT8 || dt == PQ_DTYPE_INT8;
}

/* (t - zero_point) as doubles; zp is NULL, a scalar, or (per_axis) one value per slice of
 * `inner` elements. Integer sums of such products stay exact in double (below 2^53). */
static pq_status shifted_f64(const pq_tensor *t, const pq_tensor *zp, int64_t slices,
                             const char *what, double **out, pq_err *err)
{
    *out = NULL;
    if (zp && zp->numel != 1 && zp->numel != slices)
        return pq_err_set(err, PQ_ERR_INVALID, "%s zero point has %lld values, expected 1 or "
                          "%lld", what, (long long)zp->numel, (long long)slices);
    if (zp && zp->dtype != t->dtype)
        return pq_err_set(err, PQ_ERR_INVALID, "%s zero point is %s but %s is %s", what,
                          pq_dtype_name(zp->dtype), what, pq_dtype_name(t->dtype));
    double *d = pq_malloc((size_t)(t->numel + 1) * sizeof *d);
    if (!d) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    int64_t inner = slices ? t->numel / slices : 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double z = 0;
        if (zp) z = (double)pq_tensor_get_i64(zp, zp->numel == 1 ? 0 : i / inner);
        d[i] = (double)pq_tensor_get_i64(t, i) - z;
    }
    *out = d;
    return PQ_OK;
}

/* Integer convolution into a double accumulator: X and W (8-bit) minus their zero points;
 * bias (int32, optional) added. *acc has N * M * P_out values (pq_free it). */
static pq_status conv_int_acc(pq_exec_node *n, const pq_tensor *x, const pq_tensor *xzp,
                              const pq_tensor *w, const pq_tensor *wzp, const pq_tensor *bias,
                              conv_geom *g, double **acc, pq_err *err)
{
    pq_status st = PQ_OK;
    double *xd = NULL, *wd = NULL, *bd = NULL, *yd = NULL;
    char b1[128];
    *acc = NULL;
    PQ_CHECK(is_int8_dtype(x->dtype) && is_int8_dtype(w->dtype), PQ_ERR_UNSUPPORTED,
             "X (%s) and W (%s) must be int8 or uint8", pq_dtype_name(x->dtype),
             pq_dtype_name(w->dtype));
    PQ_TRY(conv_geometry(n->ctx, x, w, g, err));
    PQ_TRY(check_blas_dims(g, err));
    PQ_CHECK(!xzp || xzp->numel == 1, PQ_ERR_INVALID, "x zero point must be a scalar");
    PQ_TRY(shifted_f64(x, xzp, 1, "x", &xd, err));
    PQ_TRY(shifted_f64(w, wzp, g->M, "w", &wd, err));
    if (bias) {
        PQ_CHECK(bias->dtype == PQ_DTYPE_INT32 && bias->rank == 1 && bias->dims[0] == g->M,
                 PQ_ERR_INVALID, "bias %s must be int32[%lld]",
                 pq_tensor_describe(bias, b1, sizeof b1), (long long)g->M);
        bd = pq_malloc((size_t)g->M * sizeof *bd);
        PQ_CHECK(bd, PQ_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < g->M; i++) bd[i] = PQ_DATA(bias, int32_t)[i];
    }
    yd = pq_malloc((size_t)(g->N * g->M * g->P_out + 1) * sizeof *yd);
    PQ_CHECK(yd, PQ_ERR_NOMEM, "out of memory");
    if (g->N > 0) PQ_TRY(conv_gemm_f64(n, g, xd, wd, bd, yd, 0, -INFINITY, INFINITY, err));
    *acc = yd;
    yd = NULL;
fail:
    pq_free(xd);
    pq_free(wd);
    pq_free(bd);
    pq_free(yd);
    return st;
}

static void conv_out_dims(const conv_geom *g, int64_t *ydims)
{
    ydims[0] = g->N;
    ydims[1] = g->M;
    for (int i = 0; i < g->r; i++) ydims[2 + i] = g->out[i];
}

/* ONNX ConvInteger-10: int32 Y = conv(X - x_zero_point, W - w_zero_point); padding adds 0. */
static pq_status run_convinteger(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = pq_node_input(n, 0), *w = pq_node_input(n, 1);
    pq_tensor *y = NULL;
    double *acc = NULL;
    conv_geom g;
    int64_t ydims[PQ_MAX_RANK];
    PQ_CHECK(x && w, PQ_ERR_INVALID, "inputs x and w are required");
    PQ_TRY(conv_int_acc(n, x, pq_node_input(n, 2), w, pq_node_input(n, 3), NULL, &g, &acc, err));
    conv_out_dims(&g, ydims);
    PQ_TRY(pq_node_output(n, 0, PQ_DTYPE_INT32, x->rank, ydims, 1, &y, err));
    for (int64_t i = 0; i < y->numel; i++) PQ_DATA(y, int32_t)[i] = (int32_t)acc[i];
fail:
    pq_free(acc);
    return st;
}

/* ONNX QLinearConv-10: Y = saturate(round(acc * x_scale * w_scale / y_scale) + y_zero_point)
 * with acc the integer convolution plus the int32 bias; rounding half to even in float32 (as
 * onnxruntime's requantization). w_scale/w_zero_point may be per output channel. */
static pq_status run_qlinearconv(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = pq_node_input(n, 0), *xs = pq_node_input(n, 1);
    const pq_tensor *w = pq_node_input(n, 3), *ws = pq_node_input(n, 4);
    const pq_tensor *ys = pq_node_input(n, 6), *yzp = pq_node_input(n, 7);
    pq_tensor *y = NULL;
    double *acc = NULL;
    conv_geom g;
    int64_t ydims[PQ_MAX_RANK];
    PQ_CHECK(x && xs && w && ws && ys, PQ_ERR_INVALID,
             "inputs x, x_scale, w, w_scale and y_scale are required");
    PQ_CHECK(xs->numel == 1 && ys->numel == 1 && xs->dtype == PQ_DTYPE_FLOAT32 &&
             ys->dtype == PQ_DTYPE_FLOAT32 && ws->dtype == PQ_DTYPE_FLOAT32, PQ_ERR_INVALID,
             "x_scale and y_scale must be float32 scalars, w_scale float32");
    PQ_TRY(conv_int_acc(n, x, pq_node_input(n, 2), w, pq_node_input(n, 5), pq_node_input(n, 8),
                        &g, &acc, err));
    PQ_CHECK(ws->numel == 1 || ws->numel == g.M, PQ_ERR_INVALID,
             "w_scale has %lld values, expected 1 or %lld", (long long)ws->numel,
             (long long)g.M);
    pq_dtype ydt = yzp ? yzp->dtype : x->dtype;
    PQ_CHECK(is_int8_dtype(ydt) && (!yzp || yzp->numel == 1), PQ_ERR_INVALID,
             "y_zero_point must be an int8 or uint8 scalar");
    conv_out_dims(&g, ydims);
    PQ_TRY(pq_node_output(n, 0, ydt, x->rank, ydims, 1, &y, err));
    float x_scale = PQ_DATA(xs, float)[0], y_scale = PQ_DATA(ys, float)[0];
    double zp = yzp ? (double)pq_tensor_get_i64(yzp, 0) : 0.0;
    double lo = ydt == PQ_DTYPE_UINT8 ? 0 : -128, hi = ydt == PQ_DTYPE_UINT8 ? 255 : 127;
    for (int64_t i = 0; i < y->numel; i++) {
        int64_t m = (i / g.P_out) % g.M;
        float mul = x_scale * PQ_DATA(ws, float)[ws->numel == 1 ? 0 : m] / y_scale;
        double v = (double)nearbyintf((float)acc[i] * mul) + zp;
        v = v < lo ? lo : (v > hi ? hi : v);
        if (ydt == PQ_DTYPE_UINT8) PQ_DATA(y, uint8_t)[i] = (uint8_t)v;
        else PQ_DATA(y, int8_t)[i] = (int8_t)v;
    }
fail:
    pq_free(acc);
    return st;
}

const pq_op_def pq_ops_conv[] = {
    {"", "Conv", 1, 2, 3, 1, 1, conv_prepare, run_conv, conv_release},
    {"", "Conv", 11, 2, 3, 1, 1, conv_prepare, run_conv, conv_release},
    {"", "ConvTranspose", 1, 2, 3, 1, 1, convtranspose_prepare, run_convtranspose, conv_release},
    {"", "ConvTranspose", 11, 2, 3, 1, 1, convtranspose_prepare, run_convtranspose,
     conv_release},
    {"", "ConvInteger", 10, 2, 4, 1, 1, conv_prepare, run_convinteger, conv_release},
    {"", "QLinearConv", 10, 8, 9, 1, 1, conv_prepare, run_qlinearconv, conv_release},
    PQ_OP_DEF_END,
};

/* misc_gridsample.c - GridSample-16.
 *
 * ONNX GridSample-16 refers to torch.nn.functional.grid_sample for its semantics (the
 * specification's tests are torch outputs); this follows torch's CPU kernel:
 * - X is [N, C, H, W], grid [N, Ho, Wo, 2] with grid[..., 0] = x (width) and
 *   grid[..., 1] = y (height) in [-1, 1]; Y is [N, C, Ho, Wo].
 * - Unnormalize: align_corners ? (g + 1) / 2 * (size - 1) : ((g + 1) * size - 1) / 2.
 * - padding_mode border clips the coordinate to [0, size - 1]; reflection reflects it about
 *   the borders (align_corners: [0, size - 1]; else [-0.5, size - 0.5]) then clips; zeros
 *   leaves it, and taps outside the image read 0.
 * - bilinear: the four neighbours floor(ix) + {0, 1} weighted by the distances; nearest:
 *   the neighbour at nearbyint (round half to even); bicubic: the 4x4 neighbours of the
 *   unnormalized (unpadded) coordinate with Keys' cubic convolution (A = -0.75), each tap
 *   coordinate mapped by the padding mode before reading.
 * Coordinates are computed in the input's precision (float for float32/float16/bfloat16,
 * double for float64), as torch does. Opset 20 spells the modes "linear" and "cubic"; they
 * are accepted as aliases for 4-D input.
 */
#include "misc_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

enum { GS_BILINEAR = 0, GS_NEAREST = 1, GS_BICUBIC = 2 };
enum { GS_ZEROS = 0, GS_BORDER = 1, GS_REFLECTION = 2 };

typedef struct gs_ctx {
    int mode, padding, align;
} gs_ctx;

pq_status pq__misc_gridsample_prepare(pq_exec_node *n, pq_err *err)
{
    gs_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing GridSample");
    n->ctx = c;
    const char *mode = NULL, *pad = NULL;
    int64_t align = 0;
    pq_status st = pq_op_get_string(n->op, "mode", "bilinear", &mode, err);
    if (st == PQ_OK) st = pq_op_get_string(n->op, "padding_mode", "zeros", &pad, err);
    if (st == PQ_OK) st = pq_op_get_int(n->op, "align_corners", 0, &align, err);
    if (st != PQ_OK) goto fail;
    if (strcmp(mode, "bilinear") == 0 || strcmp(mode, "linear") == 0)
        c->mode = GS_BILINEAR;
    else if (strcmp(mode, "nearest") == 0)
        c->mode = GS_NEAREST;
    else if (strcmp(mode, "bicubic") == 0 || strcmp(mode, "cubic") == 0)
        c->mode = GS_BICUBIC;
    else {
        st = pq_err_set(err, PQ_ERR_INVALID, "mode '%s' is not bilinear, nearest or bicubic",
                        mode);
        goto fail;
    }
    if (strcmp(pad, "zeros") == 0)
        c->padding = GS_ZEROS;
    else if (strcmp(pad, "border") == 0)
        c->padding = GS_BORDER;
    else if (strcmp(pad, "reflection") == 0)
        c->padding = GS_REFLECTION;
    else {
        st = pq_err_set(err, PQ_ERR_INVALID,
                        "padding_mode '%s' is not zeros, border or reflection", pad);
        goto fail;
    }
    c->align = align != 0;
    return PQ_OK;
fail:
    pq__misc_release_ctx(n);
    return st;
}

/* Coordinates beyond this magnitude (and NaN) are moved to -8, outside any image, so that
 * converting them to integers is defined; they sample as padding would far outside. */
#define GS_FAR 1e15

/* The kernel for one compute type T (float or double); x and g are T arrays. */
#define DEF_GS(SUF, T, FLOOR, NEARBYINT, FABS, FMOD)                                       \
    static T gs_unnorm_##SUF(T g, int64_t size, int align)                                 \
    {                                                                                      \
        return align ? ((g + 1) / 2) * (T)(size - 1) : ((g + 1) * (T)size - 1) / 2;        \
    }                                                                                      \
    static T gs_clip_##SUF(T v, int64_t size)                                              \
    {                                                                                      \
        v = v > 0 ? v : 0;                                                                 \
        return v < (T)(size - 1) ? v : (T)(size - 1);                                      \
    }                                                                                      \
    static T gs_reflect_##SUF(T v, T twice_low, T twice_high)                              \
    {                                                                                      \
        if (twice_low == twice_high) return 0;                                             \
        const T mn = twice_low / 2, span = (twice_high - twice_low) / 2;                   \
        v = FABS(v - mn);                                                                  \
        const T extra = FMOD(v, span);                                                     \
        const int64_t flips = (int64_t)FLOOR(v / span);                                    \
        return flips % 2 == 0 ? extra + mn : span - extra + mn;                            \
    }                                                                                      \
    /* torch's compute_coordinates: padding applied to an unnormalized coordinate */       \
    static T gs_pad_##SUF(T v, int64_t size, int padding, int align)                       \
    {                                                                                      \
        if (padding == GS_BORDER) {                                                        \
            v = gs_clip_##SUF(v, size);                                                    \
        } else if (padding == GS_REFLECTION) {                                             \
            v = align ? gs_reflect_##SUF(v, 0, (T)(2 * (size - 1)))                        \
                      : gs_reflect_##SUF(v, -1, (T)(2 * size - 1));                        \
            v = gs_clip_##SUF(v, size);                                                    \
        }                                                                                  \
        return FABS(v) < (T)GS_FAR ? v : (T)-8;                                            \
    }                                                                                      \
    static T gs_at_##SUF(const T *img, int64_t H, int64_t W, int64_t yy, int64_t xx)       \
    {                                                                                      \
        return (yy >= 0 && yy < H && xx >= 0 && xx < W) ? img[yy * W + xx] : (T)0;        \
    }                                                                                      \
    static T gs_cubic_##SUF(T x0, T x1, T x2, T x3, T t)                                   \
    {                                                                                      \
        const T A = (T)-0.75;                                                              \
        const T u = t + 1, v = 1 - t, w = 2 - t;                                           \
        const T c0 = ((A * u - 5 * A) * u + 8 * A) * u - 4 * A;                           \
        const T c1 = ((A + 2) * t - (A + 3)) * t * t + 1;                                  \
        const T c2 = ((A + 2) * v - (A + 3)) * v * v + 1;                                  \
        const T c3 = ((A * w - 5 * A) * w + 8 * A) * w - 4 * A;                            \
        return x0 * c0 + x1 * c1 + x2 * c2 + x3 * c3;                                      \
    }                                                                                      \
    static void gs_run_##SUF(const gs_ctx *c, const T *X, const T *G, T *Y, int64_t N,     \
                             int64_t C, int64_t H, int64_t W, int64_t P)                   \
    {                                                                                      \
        const int64_t total = N * P;                                                       \
        _Pragma("omp parallel for schedule(static) if (total * C > 65536)")                \
        for (int64_t np = 0; np < total; np++) {                                           \
            const int64_t b = np / P, p = np % P;                                          \
            const T gx = G[np * 2], gy = G[np * 2 + 1];                                    \
            const T *img0 = X + b * C * H * W;                                             \
            T *out = Y + b * C * P + p;                                                    \
            if (c->mode == GS_BICUBIC) {                                                   \
                T ix = gs_unnorm_##SUF(gx, W, c->align), iy = gs_unnorm_##SUF(gy, H, c->align); \
                if (!(FABS(ix) < (T)GS_FAR)) ix = -8;                                      \
                if (!(FABS(iy) < (T)GS_FAR)) iy = -8;                                      \
                const T fx = FLOOR(ix), fy = FLOOR(iy), tx = ix - fx, ty = iy - fy;        \
                int64_t xs[4], ys[4];                                                      \
                for (int k = 0; k < 4; k++) {                                              \
                    xs[k] = (int64_t)gs_pad_##SUF(fx - 1 + (T)k, W, c->padding, c->align); \
                    ys[k] = (int64_t)gs_pad_##SUF(fy - 1 + (T)k, H, c->padding, c->align); \
                }                                                                          \
                for (int64_t ch = 0; ch < C; ch++) {                                       \
                    const T *img = img0 + ch * H * W;                                      \
                    T rows[4];                                                             \
                    for (int k = 0; k < 4; k++)                                            \
                        rows[k] = gs_cubic_##SUF(gs_at_##SUF(img, H, W, ys[k], xs[0]),     \
                                                 gs_at_##SUF(img, H, W, ys[k], xs[1]),     \
                                                 gs_at_##SUF(img, H, W, ys[k], xs[2]),     \
                                                 gs_at_##SUF(img, H, W, ys[k], xs[3]), tx); \
                    out[ch * P] = gs_cubic_##SUF(rows[0], rows[1], rows[2], rows[3], ty);  \
                }                                                                          \
                continue;                                                                  \
            }                                                                              \
            const T ix = gs_pad_##SUF(gs_unnorm_##SUF(gx, W, c->align), W, c->padding,     \
                                      c->align);                                           \
            const T iy = gs_pad_##SUF(gs_unnorm_##SUF(gy, H, c->align), H, c->padding,     \
                                      c->align);                                           \
            if (c->mode == GS_NEAREST) {                                                   \
                const int64_t xx = (int64_t)NEARBYINT(ix), yy = (int64_t)NEARBYINT(iy);    \
                for (int64_t ch = 0; ch < C; ch++)                                         \
                    out[ch * P] = gs_at_##SUF(img0 + ch * H * W, H, W, yy, xx);            \
                continue;                                                                  \
            }                                                                              \
            const T fx = FLOOR(ix), fy = FLOOR(iy);                                        \
            const int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;                              \
            const T wx1 = ix - fx, wy1 = iy - fy, wx0 = 1 - wx1, wy0 = 1 - wy1;            \
            for (int64_t ch = 0; ch < C; ch++) {                                           \
                const T *img = img0 + ch * H * W;                                          \
                out[ch * P] = gs_at_##SUF(img, H, W, y0, x0) * wx0 * wy0 +                 \
                              gs_at_##SUF(img, H, W, y0, x0 + 1) * wx1 * wy0 +             \
                              gs_at_##SUF(img, H, W, y0 + 1, x0) * wx0 * wy1 +             \
                              gs_at_##SUF(img, H, W, y0 + 1, x0 + 1) * wx1 * wy1;          \
            }                                                                              \
        }                                                                                  \
    }

DEF_GS(f32, float, floorf, nearbyintf, fabsf, fmodf)
DEF_GS(f64, double, floor, nearbyint, fabs, fmod)

/* A float32 copy of a float16/bfloat16/float64 tensor (pq_free it). */
static float *to_f32(const pq_tensor *t)
{
    float *d = pq_malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *d);
    if (!d) return NULL;
    for (int64_t i = 0; i < t->numel; i++) d[i] = (float)pq_tensor_get_f64(t, i);
    return d;
}

pq_status pq__misc_run_gridsample(pq_exec_node *n, pq_err *err)
{
    const gs_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *g = n->inputs[1];
    pq_tensor *y = NULL;
    void *xb = NULL, *gb = NULL, *yb = NULL;
    pq_status st = PQ_OK;
    PQ_CHECK(pq__misc_is_float(x->dtype) && pq__misc_is_float(g->dtype), PQ_ERR_UNSUPPORTED,
             "GridSample takes float inputs, got X %s and grid %s", pq_dtype_name(x->dtype),
             pq_dtype_name(g->dtype));
    PQ_CHECK(x->rank == 4, PQ_ERR_UNSUPPORTED, "X has rank %d; only 4-D [N, C, H, W] is supported",
             x->rank);
    PQ_CHECK(g->rank == 4 && g->dims[0] == x->dims[0] && g->dims[3] == 2, PQ_ERR_INVALID,
             "grid must have shape [N, H_out, W_out, 2] with N = %" PRId64, x->dims[0]);
    const int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    const int64_t dims[4] = {N, C, g->dims[1], g->dims[2]};
    const int64_t P = dims[2] * dims[3];
    PQ_TRY(pq_node_output(n, 0, x->dtype, 4, dims, 1, &y, err));
    if (y->numel == 0) return PQ_OK;
    if (x->dtype == PQ_DTYPE_FLOAT64) {
        const double *G = g->data;
        if (g->dtype != PQ_DTYPE_FLOAT64) {
            gb = pq__misc_to_f64(g);
            PQ_CHECK(gb, PQ_ERR_NOMEM, "out of memory converting the grid");
            G = gb;
        }
        gs_run_f64(c, x->data, G, y->data, N, C, H, W, P);
    } else {
        const float *X = x->data, *G = g->data;
        float *Y = y->data;
        if (x->dtype != PQ_DTYPE_FLOAT32) {
            xb = to_f32(x);
            yb = pq_malloc((size_t)y->numel * sizeof(float));
            PQ_CHECK(xb && yb, PQ_ERR_NOMEM, "out of memory converting the input");
            X = xb;
            Y = yb;
        }
        if (g->dtype != PQ_DTYPE_FLOAT32) {
            gb = to_f32(g);
            PQ_CHECK(gb, PQ_ERR_NOMEM, "out of memory converting the grid");
            G = gb;
        }
        gs_run_f32(c, X, G, Y, N, C, H, W, P);
        if (yb)
            for (int64_t i = 0; i < y->numel; i++) pq__misc_store_f64(y, i, Y[i]);
    }
fail:
    pq_free(xb);
    pq_free(gb);
    pq_free(yb);
    return st;
}

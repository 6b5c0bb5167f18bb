/* resize.c - operator family: Resize Upsample RoiAlign NonMaxSuppression.
 *
 * Resize and Upsample share one engine. For every resized axis a table maps each output
 * coordinate to K input indices (already clamped, which is ONNX's "edge" padding) and K
 * weights (K = 1 nearest, 2 linear, 4 cubic), plus a flag for tf_crop_and_resize samples
 * outside the input. Nearest is one gather through per-axis offset tables; linear and cubic
 * are separable, one pass per resized axis (the ONNX reference interpolates axis by axis
 * too), so bilinear on NCHW is two passes of contiguous two-tap loops.
 *
 * RoiAlign and NonMaxSuppression live in resize_detect.c.
 */
#include "../exec_internal.h"
#include "resize_internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------ attributes */

typedef enum rs_mode { RS_NEAREST = 0, RS_LINEAR, RS_CUBIC } rs_mode;

typedef enum rs_ctm {
    CTM_HALF_PIXEL = 0,
    CTM_PYTORCH_HALF_PIXEL,
    CTM_ALIGN_CORNERS,
    CTM_ASYMMETRIC,
    CTM_TF_HALF_PIXEL_FOR_NN,
    CTM_TF_CROP_AND_RESIZE
} rs_ctm;

typedef enum rs_nearest {
    NR_ROUND_PREFER_FLOOR = 0,
    NR_ROUND_PREFER_CEIL,
    NR_FLOOR,
    NR_CEIL,
    NR_SIMPLE /* Resize-10 / Upsample: ceil when downsampling, floor otherwise (as ORT) */
} rs_nearest;

typedef enum rs_kind {
    RS_KIND_UPSAMPLE7 = 0, /* scales attribute */
    RS_KIND_UPSAMPLE9,     /* X, scales */
    RS_KIND_RESIZE10,      /* X, scales */
    RS_KIND_RESIZE11       /* X, roi, scales, sizes */
} rs_kind;

typedef struct rs_ctx {
    rs_kind kind;
    rs_mode mode;
    rs_ctm ctm;
    rs_nearest nearest;
    double cubic_a;
    int exclude_outside;
    double extrapolation;
    int64_t n_attr_scales; /* Upsample-7 */
    double *attr_scales;
} rs_ctx;

static pq_status parse_mode(const char *s, int allow_cubic, rs_mode *out, pq_err *err)
{
    if (!strcmp(s, "nearest")) *out = RS_NEAREST;
    else if (!strcmp(s, "linear") || !strcmp(s, "bilinear")) *out = RS_LINEAR;
    else if (allow_cubic && !strcmp(s, "cubic")) *out = RS_CUBIC;
    else return pq_err_set(err, PQ_ERR_UNSUPPORTED, "mode '%s' is not supported", s);
    return PQ_OK;
}

static pq_status resize_prepare_kind(pq_exec_node *n, rs_kind kind, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_op *op = n->op;
    rs_ctx *c = pq_calloc(1, sizeof *c);
    const char *s = NULL;
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    c->kind = kind;
    PQ_TRY(pq_op_get_string(op, "mode", "nearest", &s, err));
    PQ_TRY(parse_mode(s, kind == RS_KIND_RESIZE11, &c->mode, err));
    if (kind != RS_KIND_RESIZE11) {
        /* Upsample and Resize-10: x_original = x_resized / scale. */
        c->ctm = CTM_ASYMMETRIC;
        c->nearest = NR_SIMPLE;
    } else {
        float ff;
        int64_t i;
        PQ_TRY(pq_op_get_string(op, "coordinate_transformation_mode", "half_pixel", &s, err));
        if (!strcmp(s, "half_pixel")) c->ctm = CTM_HALF_PIXEL;
        else if (!strcmp(s, "pytorch_half_pixel")) c->ctm = CTM_PYTORCH_HALF_PIXEL;
        else if (!strcmp(s, "align_corners")) c->ctm = CTM_ALIGN_CORNERS;
        else if (!strcmp(s, "asymmetric")) c->ctm = CTM_ASYMMETRIC;
        else if (!strcmp(s, "tf_half_pixel_for_nn")) c->ctm = CTM_TF_HALF_PIXEL_FOR_NN;
        else if (!strcmp(s, "tf_crop_and_resize")) c->ctm = CTM_TF_CROP_AND_RESIZE;
        else
            PQ_CHECK(0, PQ_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported",
                     s);
        PQ_TRY(pq_op_get_string(op, "nearest_mode", "round_prefer_floor", &s, err));
        if (!strcmp(s, "round_prefer_floor")) c->nearest = NR_ROUND_PREFER_FLOOR;
        else if (!strcmp(s, "round_prefer_ceil")) c->nearest = NR_ROUND_PREFER_CEIL;
        else if (!strcmp(s, "floor")) c->nearest = NR_FLOOR;
        else if (!strcmp(s, "ceil")) c->nearest = NR_CEIL;
        else PQ_CHECK(0, PQ_ERR_UNSUPPORTED, "nearest_mode '%s' is not supported", s);
        PQ_TRY(pq_op_get_float(op, "cubic_coeff_a", -0.75f, &ff, err));
        c->cubic_a = ff;
        PQ_TRY(pq_op_get_int(op, "exclude_outside", 0, &i, err));
        c->exclude_outside = i != 0;
        PQ_TRY(pq_op_get_float(op, "extrapolation_value", 0.0f, &ff, err));
        c->extrapolation = ff;
    }
    if (kind == RS_KIND_UPSAMPLE7) {
        const float *sc = NULL;
        int64_t ns = 0;
        PQ_TRY(pq_op_get_floats(op, "scales", &sc, &ns, err));
        PQ_CHECK(sc && ns > 0, PQ_ERR_INVALID, "attribute 'scales' is required");
        c->attr_scales = pq_malloc((size_t)ns * sizeof *c->attr_scales);
        PQ_CHECK(c->attr_scales, PQ_ERR_NOMEM, "out of memory");
        for (int64_t k = 0; k < ns; k++) c->attr_scales[k] = sc[k];
        c->n_attr_scales = ns;
    }
    n->ctx = c;
    return PQ_OK;
fail:
    if (c) pq_free(c->attr_scales);
    pq_free(c);
    return st;
}

static pq_status prepare_upsample7(pq_exec_node *n, pq_err *err)
{
    return resize_prepare_kind(n, RS_KIND_UPSAMPLE7, err);
}
static pq_status prepare_upsample9(pq_exec_node *n, pq_err *err)
{
    return resize_prepare_kind(n, RS_KIND_UPSAMPLE9, err);
}
static pq_status prepare_resize10(pq_exec_node *n, pq_err *err)
{
    return resize_prepare_kind(n, RS_KIND_RESIZE10, err);
}
static pq_status prepare_resize11(pq_exec_node *n, pq_err *err)
{
    return resize_prepare_kind(n, RS_KIND_RESIZE11, err);
}

static void release_resize(pq_exec_node *n)
{
    rs_ctx *c = n->ctx;
    if (c) pq_free(c->attr_scales);
    pq_free(c);
    n->ctx = NULL;
}

/* ------------------------------------------------------------------ per-axis tables */

/* How output coordinates of one axis map to input coordinates. */
typedef struct axis_tab {
    int k;                 /* taps per output coordinate: 1, 2 or 4 */
    int identity;          /* output j is exactly input j (axis can be skipped) */
    int64_t in_n, out_n;
    int64_t *idx;          /* [out_n * k] clamped input indices */
    double *w;             /* [out_n * k] weights (NULL for nearest) */
    unsigned char *outside;/* [out_n] 1 = tf_crop_and_resize extrapolation; NULL if none */
} axis_tab;

static void axis_tab_free(axis_tab *t)
{
    pq_free(t->idx);
    pq_free(t->w);
    pq_free(t->outside);
    memset(t, 0, sizeof *t);
}

static int64_t clamp_i64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Cubic convolution weights for the four taps floor-1 .. floor+2 at fraction r in [0, 1)
 * (Keys 1981, equation 4, with coefficient a). */
static void cubic_weights(double r, double a, double w[4])
{
    double t0 = r + 1.0, t1 = r, t2 = 1.0 - r, t3 = 2.0 - r;
    w[0] = ((a * t0 - 5.0 * a) * t0 + 8.0 * a) * t0 - 4.0 * a;
    w[1] = ((a + 2.0) * t1 - (a + 3.0)) * t1 * t1 + 1.0;
    w[2] = ((a + 2.0) * t2 - (a + 3.0)) * t2 * t2 + 1.0;
    w[3] = ((a * t3 - 5.0 * a) * t3 + 8.0 * a) * t3 - 4.0 * a;
}

/* Maps output coordinate x to the input coordinate (ONNX Resize-13
 * coordinate_transformation_mode). out_len_f is scale * in_n as the ONNX reference uses
 * it; roi_start/roi_end only matter for tf_crop_and_resize. */
static double map_coord(rs_ctm ctm, double x, double scale, int64_t in_n, int64_t out_n,
                        double out_len_f, double roi_start, double roi_end)
{
    switch (ctm) {
    case CTM_HALF_PIXEL: return (x + 0.5) / scale - 0.5;
    case CTM_PYTORCH_HALF_PIXEL: return out_n > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case CTM_ALIGN_CORNERS:
        return (out_n <= 1 || out_len_f == 1.0) ? 0.0
                                                  : x * (double)(in_n - 1) / (out_len_f - 1.0);
    case CTM_ASYMMETRIC: return x / scale;
    case CTM_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / scale;
    case CTM_TF_CROP_AND_RESIZE:
        if (out_n > 1)
            return roi_start * (double)(in_n - 1) +
                   x * (roi_end - roi_start) * (double)(in_n - 1) / (double)(out_n - 1);
        return 0.5 * (roi_start + roi_end) * (double)(in_n - 1);
    }
    return x;
}

static int64_t nearest_index(rs_nearest m, double x, double scale)
{
    double fl = floor(x);
    if (m == NR_SIMPLE) return scale < 1.0 ? (int64_t)ceil(x) : (int64_t)fl;
    if (x == fl) return (int64_t)fl;
    double r = x - fl;
    int up;
    switch (m) {
    case NR_ROUND_PREFER_FLOOR: up = r > 0.5; break;
    case NR_ROUND_PREFER_CEIL: up = r >= 0.5; break;
    case NR_FLOOR: up = 0; break;
    default: up = 1; break;
    }
    return (int64_t)fl + up;
}

static pq_status axis_tab_build(const rs_ctx *c, int64_t in_n, int64_t out_n, double scale,
                                double roi_start, double roi_end, axis_tab *t, pq_err *err)
{
    int k = c->mode == RS_NEAREST ? 1 : (c->mode == RS_LINEAR ? 2 : 4);
    size_t cnt = (size_t)(out_n > 0 ? out_n : 1) * (size_t)k;
    memset(t, 0, sizeof *t);
    t->k = k;
    t->in_n = in_n;
    t->out_n = out_n;
    t->idx = pq_malloc(cnt * sizeof *t->idx);
    if (k > 1) t->w = pq_malloc(cnt * sizeof *t->w);
    if (c->ctm == CTM_TF_CROP_AND_RESIZE)
        t->outside = pq_calloc((size_t)(out_n > 0 ? out_n : 1), 1);
    if (!t->idx || (k > 1 && !t->w) || (c->ctm == CTM_TF_CROP_AND_RESIZE && !t->outside)) {
        axis_tab_free(t);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory building resize tables");
    }
    double out_len_f = scale * (double)in_n;
    int identity = out_n == in_n;
    for (int64_t j = 0; j < out_n; j++) {
        double x = map_coord(c->ctm, (double)j, scale, in_n, out_n, out_len_f, roi_start,
                             roi_end);
        int64_t *ix = t->idx + j * k;
        double *w = t->w ? t->w + j * k : NULL;
        if (x != (double)j) identity = 0;
        if (t->outside && (x < 0.0 || x > (double)(in_n - 1))) {
            t->outside[j] = 1;
            identity = 0;
            for (int q = 0; q < k; q++) {
                ix[q] = 0;
                if (w) w[q] = 0.0;
            }
            continue;
        }
        if (k == 1) {
            ix[0] = clamp_i64(nearest_index(c->nearest, x, scale), 0, in_n - 1);
            continue;
        }
        double fl = floor(x), r = x - fl;
        int64_t base = (int64_t)fl;
        if (k == 2) {
            ix[0] = clamp_i64(base, 0, in_n - 1);
            ix[1] = clamp_i64(base + 1, 0, in_n - 1);
            w[0] = 1.0 - r;
            w[1] = r;
        } else {
            cubic_weights(r, c->cubic_a, w);
            double sum = 0.0;
            for (int q = 0; q < 4; q++) {
                int64_t raw = base - 1 + q;
                if (c->exclude_outside && (raw < 0 || raw >= in_n)) w[q] = 0.0;
                sum += w[q];
                ix[q] = clamp_i64(raw, 0, in_n - 1);
            }
            if (c->exclude_outside && sum != 0.0)
                for (int q = 0; q < 4; q++) w[q] /= sum;
        }
    }
    t->identity = identity;
    return PQ_OK;
}

/* ------------------------------------------------------------------ kernels */

/* One separable pass over axis `t`: src is [outer, in_n, inner], dst [outer, out_n, inner].
 * With inner 1 (the last axis) each output is a K-tap gather along the row; otherwise each
 * output row blends K contiguous input rows (vectorised). */
#define RS_DEFINE_PASS(T, NAME)                                                              \
    static void NAME(const T *restrict src, T *restrict dst, int64_t outer, int64_t inner,   \
                     const axis_tab *t, T extrap)                                            \
    {                                                                                        \
        const int64_t in_n = t->in_n, out_n = t->out_n;                                      \
        const int k = t->k;                                                                  \
        if (inner == 1) {                                                                    \
            _Pragma("omp parallel for schedule(static) if (outer * out_n * k > 65536)")      \
            for (int64_t o = 0; o < outer; o++) {                                            \
                const T *restrict s = src + o * in_n;                                        \
                T *restrict d = dst + o * out_n;                                             \
                for (int64_t j = 0; j < out_n; j++) {                                        \
                    const int64_t *ix = t->idx + j * k;                                      \
                    const double *wd = t->w + j * k;                                         \
                    T acc = (T)wd[0] * s[ix[0]];                                             \
                    for (int q = 1; q < k; q++) acc += (T)wd[q] * s[ix[q]];                  \
                    d[j] = (t->outside && t->outside[j]) ? extrap : acc;                     \
                }                                                                            \
            }                                                                                \
            return;                                                                          \
        }                                                                                    \
        const int64_t rows = outer * out_n;                                                  \
        _Pragma("omp parallel for schedule(static) if (rows * inner * k > 65536)")           \
        for (int64_t r = 0; r < rows; r++) {                                                 \
            const int64_t o = r / out_n, j = r % out_n;                                      \
            const T *restrict s = src + o * in_n * inner;                                    \
            T *restrict d = dst + r * inner;                                                 \
            const int64_t *ix = t->idx + j * k;                                              \
            const double *wd = t->w + j * k;                                                 \
            if (t->outside && t->outside[j]) {                                               \
                for (int64_t i = 0; i < inner; i++) d[i] = extrap;                           \
                continue;                                                                    \
            }                                                                                \
            if (k == 2) {                                                                    \
                const T w0 = (T)wd[0], w1 = (T)wd[1];                                        \
                const T *restrict s0 = s + ix[0] * inner, *restrict s1 = s + ix[1] * inner;  \
                for (int64_t i = 0; i < inner; i++) d[i] = w0 * s0[i] + w1 * s1[i];          \
            } else {                                                                         \
                const T w0 = (T)wd[0], w1 = (T)wd[1], w2 = (T)wd[2], w3 = (T)wd[3];          \
                const T *restrict s0 = s + ix[0] * inner, *restrict s1 = s + ix[1] * inner;  \
                const T *restrict s2 = s + ix[2] * inner, *restrict s3 = s + ix[3] * inner;  \
                for (int64_t i = 0; i < inner; i++)                                          \
                    d[i] = (w0 * s0[i] + w1 * s1[i]) + (w2 * s2[i] + w3 * s3[i]);            \
            }                                                                                \
        }                                                                                    \
    }

RS_DEFINE_PASS(float, pass_f32)
RS_DEFINE_PASS(double, pass_f64)

/* Fused float32 2-D resize of the last two axes (linear or cubic). Work is split into
 * (plane, band of output rows) tasks. Each task keeps a small cache of horizontally
 * interpolated input rows (2K slots of out_w floats): source rows are monotonic in the
 * output row, so upsampling reuses cached rows and every row is filtered once per band;
 * each output row is then a K-tap blend of cached rows, contiguous and vectorised. Nothing
 * plane-sized is written between the two directions. */
typedef struct rs2d_plan {
    int k;
    int64_t in_h, in_w, out_h, out_w;
    const axis_tab *th, *tw;
    float *wx;        /* [k][out_w] horizontal weights, tap-major */
    int64_t *ix;      /* [k][out_w] horizontal indices, tap-major */
    float *slots;     /* [threads][2k][out_w] row cache */
    int64_t n_threads;
} rs2d_plan;

/* Horizontal K-tap filter of one input row into c. */
static void rs2d_filter_row(const rs2d_plan *p, const float *restrict row, float *restrict c,
                            float extrap)
{
    const int64_t ow = p->out_w;
    if (p->k == 2) {
        const float *restrict w0 = p->wx, *restrict w1 = p->wx + ow;
        const int64_t *restrict i0 = p->ix, *restrict i1 = p->ix + ow;
        for (int64_t j = 0; j < ow; j++) c[j] = w0[j] * row[i0[j]] + w1[j] * row[i1[j]];
    } else {
        const float *restrict w0 = p->wx, *restrict w1 = p->wx + ow, *restrict w2 = p->wx + 2 * ow,
                              *restrict w3 = p->wx + 3 * ow;
        const int64_t *restrict i0 = p->ix, *restrict i1 = p->ix + ow, *restrict i2 = p->ix + 2 * ow,
                                *restrict i3 = p->ix + 3 * ow;
        for (int64_t j = 0; j < ow; j++)
            c[j] = (w0[j] * row[i0[j]] + w1[j] * row[i1[j]]) +
                   (w2[j] * row[i2[j]] + w3[j] * row[i3[j]]);
    }
    if (p->tw->outside)
        for (int64_t j = 0; j < ow; j++)
            if (p->tw->outside[j]) c[j] = extrap;
}

static void rs2d_task(const rs2d_plan *p, const float *src, float *dst, int64_t y0, int64_t y1,
                      float *slots, float extrap)
{
    const int k = p->k;
    const int64_t ow = p->out_w;
    int64_t slot_row[8];
    for (int q = 0; q < 2 * k; q++) slot_row[q] = -1;
    for (int64_t oy = y0; oy < y1; oy++) {
        float *restrict d = dst + oy * ow;
        if (p->th->outside && p->th->outside[oy]) {
            for (int64_t j = 0; j < ow; j++) d[j] = extrap;
            continue;
        }
        const int64_t *iy = p->th->idx + oy * k;
        const double *wy = p->th->w + oy * k;
        const float *rows[4];
        for (int q = 0; q < k; q++) {
            int found = -1;
            for (int sl = 0; sl < 2 * k && found < 0; sl++)
                if (slot_row[sl] == iy[q]) found = sl;
            if (found < 0) {
                /* Evict the lowest row this output row does not use (rows only grow). */
                int64_t best = INT64_MAX;
                for (int sl = 0; sl < 2 * k; sl++) {
                    int used = 0;
                    for (int u = 0; u < k; u++) used |= slot_row[sl] == iy[u];
                    if (!used && slot_row[sl] < best) {
                        best = slot_row[sl];
                        found = sl;
                    }
                }
                slot_row[found] = iy[q];
                rs2d_filter_row(p, src + iy[q] * p->in_w, slots + found * ow, extrap);
            }
            rows[q] = slots + found * ow;
        }
        if (k == 2) {
            const float a0 = (float)wy[0], a1 = (float)wy[1];
            const float *restrict r0 = rows[0], *restrict r1 = rows[1];
            for (int64_t j = 0; j < ow; j++) d[j] = a0 * r0[j] + a1 * r1[j];
        } else {
            const float a0 = (float)wy[0], a1 = (float)wy[1], a2 = (float)wy[2], a3 = (float)wy[3];
            const float *restrict r0 = rows[0], *restrict r1 = rows[1], *restrict r2 = rows[2],
                                  *restrict r3 = rows[3];
            for (int64_t j = 0; j < ow; j++)
                d[j] = (a0 * r0[j] + a1 * r1[j]) + (a2 * r2[j] + a3 * r3[j]);
        }
    }
}

static pq_status resize2d_f32(pq_exec_node *n, const float *src, float *dst, int64_t planes,
                              const axis_tab *th, const axis_tab *tw, float extrap, pq_err *err)
{
    rs2d_plan p;
    memset(&p, 0, sizeof p);
    p.k = th->k;
    p.in_h = th->in_n;
    p.in_w = tw->in_n;
    p.out_h = th->out_n;
    p.out_w = tw->out_n;
    p.th = th;
    p.tw = tw;
#ifdef _OPENMP
    p.n_threads = omp_get_max_threads();
#else
    p.n_threads = 1;
#endif
    const int64_t ow = p.out_w, k = p.k;
    size_t bytes = (size_t)(k * ow) * (sizeof(float) + sizeof(int64_t)) +
                   (size_t)(p.n_threads * 2 * k * ow) * sizeof(float) + 256;
    unsigned char *ws = pq_node_workspace(n, bytes);
    if (!ws) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory (resize workspace)");
    p.ix = (int64_t *)ws;
    p.wx = (float *)(ws + (size_t)(k * ow) * sizeof(int64_t));
    p.slots = p.wx + k * ow;
    for (int64_t j = 0; j < ow; j++)
        for (int64_t q = 0; q < k; q++) {
            p.ix[q * ow + j] = tw->idx[j * k + q];
            p.wx[q * ow + j] = (float)tw->w[j * k + q];
        }
    /* Enough tasks to balance the threads; bands of at least 8 rows. */
    int64_t bands = (4 * p.n_threads + planes - 1) / planes;
    if (bands > (p.out_h + 7) / 8) bands = (p.out_h + 7) / 8;
    if (bands < 1) bands = 1;
    const int64_t tasks = planes * bands, in_plane = p.in_h * p.in_w, out_plane = p.out_h * ow;
    const rs2d_plan *pp = &p;
#pragma omp parallel for schedule(dynamic, 1) if (tasks > 1 && planes * out_plane * k > 65536)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t pl = t / bands, b = t % bands;
        int64_t y0 = pp->out_h * b / bands, y1 = pp->out_h * (b + 1) / bands;
#ifdef _OPENMP
        int tid = omp_get_thread_num();
#else
        int tid = 0;
#endif
        rs2d_task(pp, src + pl * in_plane, dst + pl * out_plane, y0, y1,
                  pp->slots + (int64_t)tid * 2 * k * ow, extrap);
    }
    return PQ_OK;
}

/* Nearest gather: out[..., j] = in[sum_a idx_a * stride_a], any element size. Rows of the
 * last axis are walked plane by plane (the second-to-last axis in the inner loop) so the
 * index decomposition happens once per plane. */
static void gather_row(unsigned char *restrict d, const unsigned char *restrict sb, size_t esz,
                       const axis_tab *tl, const unsigned char *extrap)
{
    const int64_t n = tl->out_n;
    const int64_t *restrict ix = tl->idx;
    switch (esz) {
    case 4: {
        for (int64_t j = 0; j < n; j++) memcpy(d + 4 * j, sb + 4 * ix[j], 4);
        break;
    }
    case 8:
        for (int64_t j = 0; j < n; j++) memcpy(d + 8 * j, sb + 8 * ix[j], 8);
        break;
    case 2:
        for (int64_t j = 0; j < n; j++) memcpy(d + 2 * j, sb + 2 * ix[j], 2);
        break;
    case 1:
        for (int64_t j = 0; j < n; j++) d[j] = sb[ix[j]];
        break;
    default:
        for (int64_t j = 0; j < n; j++) memcpy(d + (size_t)j * esz, sb + (size_t)ix[j] * esz, esz);
        break;
    }
    if (tl->outside)
        for (int64_t j = 0; j < n; j++)
            if (tl->outside[j]) memcpy(d + (size_t)j * esz, extrap, esz);
}

static void gather_nearest(const unsigned char *src, unsigned char *dst, size_t esz, int rank,
                           const int64_t *in_dims, const int64_t *out_dims, axis_tab *tabs,
                           const unsigned char *extrap)
{
    int64_t in_stride[PQ_MAX_RANK];
    int64_t s = 1;
    for (int a = rank - 1; a >= 0; a--) {
        in_stride[a] = s;
        s *= in_dims[a];
    }
    const int last = rank - 1, mid = rank - 2; /* mid < 0 for rank 1 */
    const int64_t out_last = out_dims[last], out_mid = mid >= 0 ? out_dims[mid] : 1;
    int64_t planes = 1;
    for (int a = 0; a < mid; a++) planes *= out_dims[a];
    const axis_tab *tl = &tabs[last];
    const size_t row_bytes = (size_t)out_last * esz;

#pragma omp parallel for schedule(static) if (planes * out_mid * out_last > 65536 && planes > 1)
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t rem = pl, base = 0;
        int outside = 0;
        for (int a = mid - 1; a >= 0; a--) {
            int64_t j = rem % out_dims[a];
            rem /= out_dims[a];
            if (tabs[a].outside && tabs[a].outside[j]) outside = 1;
            base += tabs[a].idx[j] * in_stride[a];
        }
        for (int64_t m = 0; m < out_mid; m++) {
            unsigned char *d = dst + (size_t)(pl * out_mid + m) * row_bytes;
            int64_t b = base;
            int out_m = outside;
            if (mid >= 0) {
                b += tabs[mid].idx[m] * in_stride[mid];
                if (tabs[mid].outside && tabs[mid].outside[m]) out_m = 1;
            }
            if (out_m) {
                for (int64_t j = 0; j < out_last; j++) memcpy(d + (size_t)j * esz, extrap, esz);
                continue;
            }
            gather_row(d, src + (size_t)b * esz, esz, tl, extrap);
        }
    }
}

/* Writes value v into one element of dtype dt (integers round to nearest and saturate). */
void pq__resize_store(pq_dtype dt, void *p, int64_t i, double v)
{
    switch (dt) {
    case PQ_DTYPE_FLOAT32: ((float *)p)[i] = (float)v; break;
    case PQ_DTYPE_FLOAT64: ((double *)p)[i] = v; break;
    case PQ_DTYPE_FLOAT16: ((uint16_t *)p)[i] = pq_f32_to_f16((float)v); break;
    case PQ_DTYPE_BFLOAT16: ((uint16_t *)p)[i] = pq_f32_to_bf16((float)v); break;
    case PQ_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
    default: {
        double r = nearbyint(v), lo, hi;
        switch (dt) {
        case PQ_DTYPE_INT8: lo = -128.0; hi = 127.0; break;
        case PQ_DTYPE_UINT8: lo = 0.0; hi = 255.0; break;
        case PQ_DTYPE_INT16: lo = -32768.0; hi = 32767.0; break;
        case PQ_DTYPE_UINT16: lo = 0.0; hi = 65535.0; break;
        case PQ_DTYPE_INT32: lo = -2147483648.0; hi = 2147483647.0; break;
        case PQ_DTYPE_UINT32: lo = 0.0; hi = 4294967295.0; break;
        case PQ_DTYPE_UINT64: lo = 0.0; hi = 18446744073709549568.0; break;
        default: lo = -9223372036854775808.0; hi = 9223372036854774784.0; break;
        }
        r = r < lo ? lo : (r > hi ? hi : r);
        switch (dt) {
        case PQ_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)r; break;
        case PQ_DTYPE_UINT8: ((uint8_t *)p)[i] = (uint8_t)r; break;
        case PQ_DTYPE_INT16: ((int16_t *)p)[i] = (int16_t)r; break;
        case PQ_DTYPE_UINT16: ((uint16_t *)p)[i] = (uint16_t)r; break;
        case PQ_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)r; break;
        case PQ_DTYPE_UINT32: ((uint32_t *)p)[i] = (uint32_t)r; break;
        case PQ_DTYPE_UINT64: ((uint64_t *)p)[i] = (uint64_t)r; break;
        default: ((int64_t *)p)[i] = (int64_t)r; break;
        }
    }
    }
}

/* ------------------------------------------------------------------ run */

/* Reads a 1-D float input (scales, roi) as doubles; *n = 0 when omitted or empty. */
static pq_status read_f64_vec(const pq_tensor *t, const char *what, double *out, int64_t cap,
                              int64_t *n, pq_err *err)
{
    *n = 0;
    if (!t || t->numel == 0) return PQ_OK;
    if (!pq_dtype_is_float(t->dtype))
        return pq_err_set(err, PQ_ERR_INVALID, "input '%s' has dtype %s, expected a float type",
                          what, pq_dtype_name(t->dtype));
    if (t->numel > cap)
        return pq_err_set(err, PQ_ERR_INVALID, "input '%s' has %lld elements, expected %lld",
                          what, (long long)t->numel, (long long)cap);
    for (int64_t i = 0; i < t->numel; i++) out[i] = pq_tensor_get_f64(t, i);
    *n = t->numel;
    return PQ_OK;
}

static pq_status run_resize(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const rs_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    axis_tab tabs[PQ_MAX_RANK];
    double scales[PQ_MAX_RANK], roi[2 * PQ_MAX_RANK];
    int64_t out_dims[PQ_MAX_RANK], n_scales = 0, n_roi = 0, n_sizes = 0;
    const pq_tensor *sizes_t = NULL;
    double *cvt = NULL;
    pq_tensor *y = NULL;
    memset(tabs, 0, sizeof tabs);

    PQ_CHECK(x, PQ_ERR_INVALID, "input X is missing");
    const int rank = x->rank;
    PQ_CHECK(x->dtype != PQ_DTYPE_STRING && pq_dtype_size(x->dtype) > 0, PQ_ERR_UNSUPPORTED,
             "dtype %s is not supported", pq_dtype_name(x->dtype));
    PQ_CHECK(c->mode == RS_NEAREST || x->dtype != PQ_DTYPE_BOOL, PQ_ERR_UNSUPPORTED,
             "interpolating bool tensors is not supported");

    switch (c->kind) {
    case RS_KIND_UPSAMPLE7:
        PQ_CHECK(c->n_attr_scales <= PQ_MAX_RANK, PQ_ERR_INVALID, "too many scales");
        for (int64_t i = 0; i < c->n_attr_scales; i++) scales[i] = c->attr_scales[i];
        n_scales = c->n_attr_scales;
        break;
    case RS_KIND_UPSAMPLE9:
    case RS_KIND_RESIZE10:
        PQ_TRY(read_f64_vec(pq_node_input(n, 1), "scales", scales, PQ_MAX_RANK, &n_scales, err));
        PQ_CHECK(n_scales > 0, PQ_ERR_INVALID, "input 'scales' is missing or empty");
        break;
    case RS_KIND_RESIZE11:
        PQ_TRY(read_f64_vec(pq_node_input(n, 1), "roi", roi, 2 * PQ_MAX_RANK, &n_roi, err));
        PQ_TRY(read_f64_vec(pq_node_input(n, 2), "scales", scales, PQ_MAX_RANK, &n_scales, err));
        sizes_t = pq_node_input(n, 3);
        if (sizes_t && sizes_t->numel == 0) sizes_t = NULL;
        PQ_CHECK(!(sizes_t && n_scales > 0), PQ_ERR_INVALID,
                 "only one of 'scales' and 'sizes' may be given");
        PQ_CHECK(sizes_t || n_scales > 0, PQ_ERR_INVALID, "one of 'scales' and 'sizes' is required");
        if (sizes_t) {
            PQ_CHECK(pq_dtype_is_integer(sizes_t->dtype), PQ_ERR_INVALID,
                     "input 'sizes' has dtype %s, expected int64", pq_dtype_name(sizes_t->dtype));
            n_sizes = sizes_t->numel;
            PQ_CHECK(n_sizes == rank, PQ_ERR_INVALID, "'sizes' has %lld elements, X has rank %d",
                     (long long)n_sizes, rank);
        }
        if (c->ctm == CTM_TF_CROP_AND_RESIZE)
            PQ_CHECK(n_roi == 2 * rank, PQ_ERR_INVALID,
                     "tf_crop_and_resize needs 'roi' with %d elements, got %lld", 2 * rank,
                     (long long)n_roi);
        break;
    }
    if (!sizes_t)
        PQ_CHECK(n_scales == rank, PQ_ERR_INVALID, "'scales' has %lld elements, X has rank %d",
                 (long long)n_scales, rank);

    int use_roi = c->ctm == CTM_TF_CROP_AND_RESIZE;
    for (int a = 0; a < rank; a++) {
        double rs = use_roi ? roi[a] : 0.0, re = use_roi ? roi[rank + a] : 1.0;
        if (sizes_t) {
            out_dims[a] = pq_tensor_get_i64(sizes_t, a);
            PQ_CHECK(out_dims[a] >= 0, PQ_ERR_INVALID, "sizes[%d] = %lld is negative", a,
                     (long long)out_dims[a]);
            scales[a] = x->dims[a] > 0 ? (double)out_dims[a] / (double)x->dims[a] : 1.0;
        } else {
            PQ_CHECK(scales[a] > 0.0 && isfinite(scales[a]), PQ_ERR_INVALID,
                     "scales[%d] = %g must be positive", a, scales[a]);
            /* ONNX Resize-13: floor(input_dimension * (roi_end - roi_start) * scale), in
             * float32 as onnxruntime does, so that a scale of 0.7f on 10 gives 7, not 6. */
            double od = floor((double)((float)x->dims[a] * (float)(re - rs) * (float)scales[a]));
            PQ_CHECK(od >= 0.0 && od < 9.0e15, PQ_ERR_INVALID, "output dim %d out of range", a);
            out_dims[a] = (int64_t)od;
        }
    }
    PQ_TRY(pq_node_output(n, 0, x->dtype, rank, out_dims, 1, &y, err));
    if (y->numel == 0) goto done;
    PQ_CHECK(x->numel > 0, PQ_ERR_INVALID, "cannot resize an empty tensor to a non-empty one");
    if (rank == 0) {
        memcpy(y->data, x->data, x->nbytes);
        goto done;
    }
    for (int a = 0; a < rank; a++) {
        double rs = use_roi ? roi[a] : 0.0, re = use_roi ? roi[rank + a] : 1.0;
        PQ_TRY(axis_tab_build(c, x->dims[a], out_dims[a], scales[a], rs, re, &tabs[a], err));
    }

    size_t esz = pq_dtype_size(x->dtype);
    if (c->mode == RS_NEAREST) {
        unsigned char ex[16];
        memset(ex, 0, sizeof ex);
        pq__resize_store(x->dtype, ex, 0, c->extrapolation);
        gather_nearest(x->data, y->data, esz, rank, x->dims, out_dims, tabs, ex);
        goto done;
    }

    int is_f32 = x->dtype == PQ_DTYPE_FLOAT32, is_f64 = x->dtype == PQ_DTYPE_FLOAT64;
    if (is_f32 && rank >= 2 && !tabs[rank - 1].identity && !tabs[rank - 2].identity) {
        /* Only the last two axes resized (NCHW images): the fused 2-D kernel. */
        int lead_identity = 1;
        int64_t planes = 1;
        for (int a = 0; a < rank - 2; a++) {
            lead_identity &= tabs[a].identity;
            planes *= x->dims[a];
        }
        if (lead_identity) {
            PQ_TRY(resize2d_f32(n, x->data, y->data, planes, &tabs[rank - 2], &tabs[rank - 1],
                                (float)c->extrapolation, err));
            goto done;
        }
    }

    /* Separable passes, last axis first; identity axes are skipped. */
    size_t tsz = is_f32 ? sizeof(float) : sizeof(double);
    int64_t cur[PQ_MAX_RANK], maxn = 0, n_pass = 0, pass_axes[PQ_MAX_RANK];
    memcpy(cur, x->dims, sizeof(int64_t) * (size_t)rank);
    for (int a = rank - 1; a >= 0; a--) {
        if (tabs[a].identity) continue;
        cur[a] = out_dims[a];
        int64_t nn = pq_shape_numel(rank, cur);
        if (nn > maxn) maxn = nn;
        pass_axes[n_pass++] = a;
    }
    const void *src = x->data;
    if (!is_f32 && !is_f64) {
        /* Other dtypes are interpolated in double. */
        cvt = pq_malloc((size_t)x->numel * sizeof(double));
        PQ_CHECK(cvt, PQ_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < x->numel; i++) cvt[i] = pq_tensor_get_f64(x, i);
        src = cvt;
    }
    unsigned char *ws = NULL;
    if (n_pass > 0) {
        ws = pq_node_workspace(n, 2 * (size_t)maxn * tsz + 128);
        PQ_CHECK(ws, PQ_ERR_NOMEM, "out of memory (resize workspace)");
    }
    unsigned char *bufs[2] = {ws, ws ? ws + (((size_t)maxn * tsz + 63) / 64) * 64 : NULL};
    memcpy(cur, x->dims, sizeof(int64_t) * (size_t)rank);
    int native = is_f32 || is_f64;
    for (int64_t p = 0; p < n_pass; p++) {
        int a = (int)pass_axes[p];
        int64_t outer = 1, inner = 1;
        for (int q = 0; q < a; q++) outer *= cur[q];
        for (int q = a + 1; q < rank; q++) inner *= cur[q];
        void *dst = (p == n_pass - 1 && native) ? y->data : bufs[p & 1];
        if (is_f32)
            pass_f32(src, dst, outer, inner, &tabs[a], (float)c->extrapolation);
        else
            pass_f64(src, dst, outer, inner, &tabs[a], c->extrapolation);
        cur[a] = out_dims[a];
        src = dst;
    }
    if (src != y->data) {
        /* No pass wrote the output (identity resize or a converted dtype). */
        if (native) {
            memcpy(y->data, src, y->nbytes);
        } else {
            const double *s = src;
            for (int64_t i = 0; i < y->numel; i++) pq__resize_store(y->dtype, y->data, i, s[i]);
        }
    }

done:
fail:
    for (int a = 0; a < PQ_MAX_RANK; a++) axis_tab_free(&tabs[a]);
    pq_free(cvt);
    return st;
}

/* ------------------------------------------------------------------ table */

const pq_op_def pq_ops_resize[] = {
    {"", "Upsample", 7, 1, 1, 1, 1, prepare_upsample7, run_resize, release_resize},
    {"", "Upsample", 9, 2, 2, 1, 1, prepare_upsample9, run_resize, release_resize},
    {"", "Resize", 10, 2, 2, 1, 1, prepare_resize10, run_resize, release_resize},
    {"", "Resize", 11, 1, 4, 1, 1, prepare_resize11, run_resize, release_resize},
    {"", "Resize", 13, 1, 4, 1, 1, prepare_resize11, run_resize, release_resize},
    {"", "RoiAlign", 10, 3, 3, 1, 1, pq__roialign_prepare10, pq__roialign_run,
     pq__roialign_release},
    {"", "RoiAlign", 16, 3, 3, 1, 1, pq__roialign_prepare16, pq__roialign_run,
     pq__roialign_release},
    {"", "NonMaxSuppression", 10, 2, 5, 1, 1, pq__nms_prepare, pq__nms_run, pq__nms_release},
    {"", "NonMaxSuppression", 11, 2, 5, 1, 1, pq__nms_prepare, pq__nms_run, pq__nms_release},
    PQ_OP_DEF_END,
};

/* qfunc.c - the quantization arithmetic: rounding policies, fake quantization per tensor
 * and per channel, integer quantization, min-max ranges and scale/offset computation.
 *
 * Fake quantization of x with scale s, offset o and range [lo, hi] is, in float32:
 *
 *     d = x / s                      (an IEEE division, as QuantizeLinear-13)
 *     q = clamp(round(d) + o, lo, hi)
 *     y = (q - o) * s                (as DequantizeLinear: the subtraction is exact)
 *
 * For ROUND_HALF_EVEN this is bit for bit what ONNX Runtime computes on a QDQ pair (and
 * what src/exec/ops/quant.c computes): d is clamped to [lo - o - 1, hi - o + 1] first,
 * which changes no result, so the magic-number rounding stays in its exact range.
 */
#include "quant_internal.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>

/* Round half to even: for |v| <= 2^22 adding and subtracting 1.5 * 2^23 rounds in the
 * current rounding direction (round-to-nearest-even, the C11 Annex F default); larger
 * magnitudes are integers already. Vectorises, unlike rintf. Needs float arithmetic in
 * float (FLT_EVAL_METHOD 0: x86-64 SSE, AArch64), else nearbyintf. */
#if FLT_EVAL_METHOD == 0
static inline float r_half_even(float v)
{
    float m = (v + 0x1.8p23f) - 0x1.8p23f;
    return fabsf(v) <= 0x1p22f ? m : v;
}
#else
static inline float r_half_even(float v) { return nearbyintf(v); }
#endif
/* The others are exact: v - floor(v) is exact for every float. */
static inline float r_half_up(float v)
{
    float f = floorf(v);
    return f + (v - f >= 0.5f ? 1.0f : 0.0f);
}
static inline float r_half_down(float v)
{
    float f = floorf(v);
    return f + (v - f > 0.5f ? 1.0f : 0.0f);
}
static inline float r_half_towards_zero(float v)
{
    float a = fabsf(v), f = floorf(a);
    return copysignf(f + (a - f > 0.5f ? 1.0f : 0.0f), v);
}
static inline float r_half_far_from_zero(float v)
{
    float a = fabsf(v), f = floorf(a);
    return copysignf(f + (a - f >= 0.5f ? 1.0f : 0.0f), v);
}
static inline float r_up(float v) { return ceilf(v); }
static inline float r_down(float v) { return floorf(v); }

float pq_quant_round(float v, pq_rounding r)
{
    switch (r) {
    case PQ_ROUND_HALF_EVEN: return r_half_even(v);
    case PQ_ROUND_HALF_UP: return r_half_up(v);
    case PQ_ROUND_HALF_DOWN: return r_half_down(v);
    case PQ_ROUND_HALF_TOWARDS_ZERO: return r_half_towards_zero(v);
    case PQ_ROUND_HALF_FAR_FROM_ZERO: return r_half_far_from_zero(v);
    case PQ_ROUND_UP: return r_up(v);
    case PQ_ROUND_DOWN: return r_down(v);
    }
    return r_half_even(v);
}

/* One run of fake quantization with one rounding function; returns nonzero when a NaN
 * was seen. Branch-free so that it vectorises. */
#define DEF_FQ_RUN(NAME, RF)                                                                   \
    static int NAME(const float *restrict x, float *restrict y, int64_t n, float s, float o,   \
                    float lo, float hi)                                                        \
    {                                                                                          \
        const float dlo = lo - o - 1.0f, dhi = hi - o + 1.0f;                                  \
        int bad = 0;                                                                           \
        PQ__QSIMD_OR(bad)                                                                      \
        for (int64_t i = 0; i < n; i++) {                                                      \
            float d = x[i] / s;                                                                \
            bad |= d != d;                                                                     \
            float c = d < dlo ? dlo : d;                                                       \
            c = c > dhi ? dhi : c;                                                             \
            float q = RF(c) + o;                                                               \
            q = q < lo ? lo : q;                                                               \
            q = q > hi ? hi : q;                                                               \
            y[i] = (q - o) * s;                                                                \
        }                                                                                      \
        return bad;                                                                            \
    }
DEF_FQ_RUN(fq_half_even, r_half_even)
DEF_FQ_RUN(fq_half_up, r_half_up)
DEF_FQ_RUN(fq_half_down, r_half_down)
DEF_FQ_RUN(fq_half_tz, r_half_towards_zero)
DEF_FQ_RUN(fq_half_afz, r_half_far_from_zero)
DEF_FQ_RUN(fq_up, r_up)
DEF_FQ_RUN(fq_down, r_down)

typedef int (*fq_fn)(const float *, float *, int64_t, float, float, float, float);

static fq_fn fq_pick(pq_rounding r)
{
    switch (r) {
    case PQ_ROUND_HALF_UP: return fq_half_up;
    case PQ_ROUND_HALF_DOWN: return fq_half_down;
    case PQ_ROUND_HALF_TOWARDS_ZERO: return fq_half_tz;
    case PQ_ROUND_HALF_FAR_FROM_ZERO: return fq_half_afz;
    case PQ_ROUND_UP: return fq_up;
    case PQ_ROUND_DOWN: return fq_down;
    case PQ_ROUND_HALF_EVEN: break;
    }
    return fq_half_even;
}

/* Integer bounds as floats. Bounds beyond what an int32 holds (32-bit biases) are cut to
 * the largest float below 2^31 so that the integer conversion stays defined. */
static void q_bounds(const pq_tqc *q, float *lo, float *hi)
{
    const int64_t lim = 2147483520; /* 2^31 - 128, the largest float32 below 2^31 */
    int64_t a = q->quant_min < -lim ? -lim : q->quant_min;
    int64_t b = q->quant_max > lim ? lim : q->quant_max;
    *lo = (float)a;
    *hi = (float)b;
}

typedef struct qlayout {
    int64_t outer, ch, inner;
} qlayout;

/* The (outer, channels, inner) view of the shape for q, with checks. */
static pq_status layout(const pq_tqc *q, int rank, const int64_t *dims, qlayout *L, pq_err *err)
{
    int64_t numel = pq_shape_numel(rank, dims);
    if (numel < 0) return pq_err_set(err, PQ_ERR_INVALID, "fake quantization: invalid shape");
    if (q->n_channels < 1 || !q->scale || !q->offset)
        return pq_err_set(err, PQ_ERR_INVALID, "fake quantization: the TQC has no scale");
    for (int64_t c = 0; c < q->n_channels; c++)
        if (!(q->scale[c] > 0.0f) || !isfinite(q->scale[c]) || !isfinite(q->offset[c]))
            return pq_err_set(err, PQ_ERR_INVALID,
                              "fake quantization: channel %" PRId64 " has scale %g offset %g "
                              "(the scale must be positive and finite)",
                              c, (double)q->scale[c], (double)q->offset[c]);
    if (q->quant_min > q->quant_max)
        return pq_err_set(err, PQ_ERR_INVALID, "fake quantization: quant_min %" PRId64
                          " > quant_max %" PRId64, q->quant_min, q->quant_max);
    L->outer = 1;
    L->ch = 1;
    L->inner = numel;
    if (!(q->policy & PQ_QPOLICY_PER_CHANNEL) && q->n_channels == 1) return PQ_OK;
    int axis = q->channel_axis;
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "fake quantization: channel axis %d is out of range for rank %d",
                          q->channel_axis, rank);
    if (dims[axis] != q->n_channels)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "fake quantization: the TQC has %" PRId64 " channels, axis %d of the "
                          "tensor has %" PRId64,
                          q->n_channels, axis, dims[axis]);
    L->ch = dims[axis];
    L->inner = 1;
    for (int d = 0; d < axis; d++) L->outer *= dims[d];
    for (int d = axis + 1; d < rank; d++) L->inner *= dims[d];
    return PQ_OK;
}

pq_status pq_fake_quant(const pq_tqc *q, int rank, const int64_t *dims, const float *x, float *y,
                        pq_err *err)
{
    qlayout L;
    pq_status st = layout(q, rank, dims, &L, err);
    if (st != PQ_OK) return st;
    float lo, hi;
    q_bounds(q, &lo, &hi);
    fq_fn fn = fq_pick(q->rounding);
    int64_t numel = L.outer * L.ch * L.inner;
    int bad = 0;
    if (L.ch == 1 && L.outer == 1) {
        const float s = q->scale[0], o = q->offset[0];
        const int64_t chunk = 16384, nchunks = (numel + chunk - 1) / chunk;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(| : bad) if (numel >= PQ__QPARALLEL_MIN)
#endif
        for (int64_t b = 0; b < nchunks; b++) {
            int64_t i0 = b * chunk, len = numel - i0 < chunk ? numel - i0 : chunk;
            bad |= fn(x + i0, y + i0, len, s, o, lo, hi);
        }
    } else {
        const int64_t blocks = L.outer * L.ch;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(| : bad) if (numel >= PQ__QPARALLEL_MIN)
#endif
        for (int64_t b = 0; b < blocks; b++) {
            int64_t c = b % L.ch;
            bad |= fn(x + b * L.inner, y + b * L.inner, L.inner, q->scale[c], q->offset[c], lo,
                      hi);
        }
    }
    if (bad)
        return pq_err_set(err, PQ_ERR_NUMERIC, "fake quantization: the tensor holds NaN");
    return PQ_OK;
}

pq_status pq_fake_quant_tensor(const pq_tqc *q, pq_tensor *t, pq_err *err)
{
    if (t->dtype != PQ_DTYPE_FLOAT32)
        return pq_err_set(err, PQ_ERR_INVALID, "fake quantization of %s data (float32 only)",
                          pq_dtype_name(t->dtype));
    return pq_fake_quant(q, t->rank, t->dims, t->data, t->data, err);
}

pq_status pq_quant_to_int(const pq_tqc *q, int rank, const int64_t *dims, const float *x,
                          int32_t *out, pq_err *err)
{
    qlayout L;
    pq_status st = layout(q, rank, dims, &L, err);
    if (st != PQ_OK) return st;
    float lo, hi;
    q_bounds(q, &lo, &hi);
    int64_t blocks = L.outer * L.ch;
    for (int64_t b = 0; b < blocks; b++) {
        int64_t c = b % L.ch;
        float s = q->scale[c], o = q->offset[c];
        for (int64_t i = b * L.inner; i < (b + 1) * L.inner; i++) {
            float d = x[i] / s;
            if (d != d)
                return pq_err_set(err, PQ_ERR_NUMERIC,
                                  "quantization: element %" PRId64 " is NaN", i);
            float c2 = d < lo - o - 1.0f ? lo - o - 1.0f : d;
            c2 = c2 > hi - o + 1.0f ? hi - o + 1.0f : c2;
            float v = pq_quant_round(c2, q->rounding) + o;
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            out[i] = (int32_t)v;
        }
    }
    return PQ_OK;
}

/* ------------------------------------------------------------------ ranges and scales */

pq_status pq_quant_minmax(const pq_tensor *t, int axis, float *mins, float *maxs, pq_err *err)
{
    if (t->dtype != PQ_DTYPE_FLOAT32)
        return pq_err_set(err, PQ_ERR_INVALID, "min/max of %s data (float32 only)",
                          pq_dtype_name(t->dtype));
    int64_t outer = 1, ch = 1, inner = t->numel;
    if (axis >= 0) {
        if (axis >= t->rank)
            return pq_err_set(err, PQ_ERR_INVALID, "min/max: axis %d is out of range for rank %d",
                              axis, t->rank);
        ch = t->dims[axis];
        inner = 1;
        for (int d = 0; d < axis; d++) outer *= t->dims[d];
        for (int d = axis + 1; d < t->rank; d++) inner *= t->dims[d];
    }
    for (int64_t c = 0; c < ch; c++) {
        mins[c] = INFINITY;
        maxs[c] = -INFINITY;
    }
    const float *x = t->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < ch; c++) {
            const float *p = x + (o * ch + c) * inner;
            float lo = mins[c], hi = maxs[c];
            int bad = 0;
            for (int64_t i = 0; i < inner; i++) {
                float v = p[i];
                bad |= !(v - v == 0.0f); /* NaN or inf */
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            if (bad) {
                for (int64_t i = 0; i < inner; i++)
                    if (!isfinite(p[i]))
                        return pq_err_set(err, PQ_ERR_NUMERIC, "element %" PRId64 " is %g",
                                          (o * ch + c) * inner + i, (double)p[i]);
            }
            mins[c] = lo;
            maxs[c] = hi;
        }
    if (t->numel == 0)
        for (int64_t c = 0; c < ch; c++) mins[c] = maxs[c] = 0.0f;
    return PQ_OK;
}

/* 2^ceil(log2(s)) for s > 0, exactly. */
static float pow2_ceil(float s)
{
    int e;
    float m = frexpf(s, &e); /* s = m * 2^e, m in [0.5, 1) */
    return m == 0.5f ? s : ldexpf(1.0f, e);
}

pq_status pq_tqc_set_range(pq_tqc *q, int64_t n, const float *mins, const float *maxs,
                           pq_err *err)
{
    pq_status st;
    if (n < 1) return pq_err_set(err, PQ_ERR_INVALID, "a range needs at least one channel");
    for (int64_t c = 0; c < n; c++)
        if (mins[c] != mins[c] || maxs[c] != maxs[c] || isinf(mins[c]) || isinf(maxs[c]))
            return pq_err_set(err, PQ_ERR_NUMERIC, "channel %" PRId64 " has range [%g, %g]", c,
                              (double)mins[c], (double)maxs[c]);
    if (q->quant_max <= q->quant_min)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "quant range [%" PRId64 ", %" PRId64 "] is empty", q->quant_min,
                          q->quant_max);
    if (q->n_channels != n || !q->scale || !q->offset) {
        st = pq_tqc_set_channels(q, n, err);
        if (st != PQ_OK) return st;
    }
    const double qmin = (double)q->quant_min, qmax = (double)q->quant_max;
    const int sym = (q->policy & PQ_QPOLICY_SYMMETRIC) != 0;
    for (int64_t c = 0; c < n; c++) {
        float lo = mins[c] > 0.0f ? 0.0f : mins[c];
        float hi = maxs[c] < 0.0f ? 0.0f : maxs[c];
        float s, o = 0.0f;
        if (sym) {
            float amax = fabsf(lo) > hi ? fabsf(lo) : hi;
            s = (float)((double)amax / ((qmax - qmin) / 2.0));
        } else {
            s = (float)(((double)hi - (double)lo) / (qmax - qmin));
        }
        /* PPQ's minimum scale (and the observers', PQ_OBS_MIN_SCALE): a zero range or a
         * range of denormals quantizes everything to the zero point. */
        if (!(s >= 1e-8f)) s = 1e-8f;
        if (q->policy & PQ_QPOLICY_POWER_OF_2) s = pow2_ceil(s);
        if (!sym) {
            double off = rint(qmin - (double)lo / (double)s);
            off = off < qmin ? qmin : off;
            off = off > qmax ? qmax : off;
            o = (float)off;
        }
        q->scale[c] = s;
        q->offset[c] = o;
    }
    return PQ_OK;
}

void pq_tqc_range(const pq_tqc *q, int64_t c, float *lo, float *hi)
{
    q = pq_tqc_resolve(q);
    if (!q || !q->scale || c >= q->n_channels) {
        *lo = *hi = 0.0f;
        return;
    }
    *lo = ((float)q->quant_min - q->offset[c]) * q->scale[c];
    *hi = ((float)q->quant_max - q->offset[c]) * q->scale[c];
}

/* ------------------------------------------------------------------ states and names */

int pq_tqc_is_active(const pq_tqc *q)
{
    if (!q) return 0;
    if (q->state == PQ_TQC_STATE_OVERLAPPED) {
        const pq_tqc *r = pq_tqc_resolve(q);
        if (r == q || r->state == PQ_TQC_STATE_OVERLAPPED) return 0;
        return pq_tqc_is_active(r);
    }
    return q->state == PQ_TQC_STATE_ACTIVATED || q->state == PQ_TQC_STATE_BAKED ||
           q->state == PQ_TQC_STATE_PASSIVE || q->state == PQ_TQC_STATE_PASSIVE_BAKED;
}

int pq_tqc_is_quantized(const pq_tqc *q)
{
    return q && q->state != PQ_TQC_STATE_FP32;
}

void pq_tqc_copy_policy(pq_tqc *dst, const pq_tqc *src)
{
    dst->policy = src->policy;
    dst->rounding = src->rounding;
    dst->num_bits = src->num_bits;
    dst->quant_min = src->quant_min;
    dst->quant_max = src->quant_max;
    dst->channel_axis = src->channel_axis;
    memcpy(dst->observer, src->observer, sizeof dst->observer);
    dst->visibility = src->visibility;
}

const char *pq_tqc_state_name(pq_tqc_state s)
{
    switch (s) {
    case PQ_TQC_STATE_INITIAL: return "INITIAL";
    case PQ_TQC_STATE_ACTIVATED: return "ACTIVATED";
    case PQ_TQC_STATE_BAKED: return "BAKED";
    case PQ_TQC_STATE_OVERLAPPED: return "OVERLAPPED";
    case PQ_TQC_STATE_PASSIVE_INIT: return "PASSIVE_INIT";
    case PQ_TQC_STATE_PASSIVE: return "PASSIVE";
    case PQ_TQC_STATE_PASSIVE_BAKED: return "PASSIVE_BAKED";
    case PQ_TQC_STATE_FP32: return "FP32";
    }
    return "unknown";
}

const char *pq_rounding_name(pq_rounding r)
{
    switch (r) {
    case PQ_ROUND_HALF_EVEN: return "half_even";
    case PQ_ROUND_HALF_UP: return "half_up";
    case PQ_ROUND_HALF_DOWN: return "half_down";
    case PQ_ROUND_HALF_TOWARDS_ZERO: return "half_towards_zero";
    case PQ_ROUND_HALF_FAR_FROM_ZERO: return "half_far_from_zero";
    case PQ_ROUND_UP: return "up";
    case PQ_ROUND_DOWN: return "down";
    }
    return "unknown";
}

const char *pq_qpolicy_str(unsigned policy, char *buf, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{PQ_QPOLICY_PER_TENSOR, "per_tensor"}, {PQ_QPOLICY_PER_CHANNEL, "per_channel"},
                 {PQ_QPOLICY_SYMMETRIC, "symmetric"},   {PQ_QPOLICY_ASYMMETRIC, "asymmetric"},
                 {PQ_QPOLICY_LINEAR, "linear"},         {PQ_QPOLICY_POWER_OF_2, "power_of_2"},
                 {PQ_QPOLICY_DYNAMIC, "dynamic"}};
    size_t used = 0;
    if (cap == 0) return buf;
    buf[0] = '\0';
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        if (!(policy & names[k].bit)) continue;
        int w = snprintf(buf + used, cap - used, "%s%s", used ? "|" : "", names[k].name);
        if (w < 0 || (size_t)w >= cap - used) break;
        used += (size_t)w;
    }
    return buf;
}

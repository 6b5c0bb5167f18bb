/* misc_signal.c - DFT-17, STFT-17, HannWindow/HammingWindow/BlackmanWindow-17 and
 * MelWeightMatrix-17.
 *
 * Transforms are computed in double: an iterative radix-2 FFT when the length is a power of
 * two, else the direct sum with a twiddle table (O(n * bins)). Forward
 * X[k] = sum_j x[j] e^(-2 pi i j k / n); inverse (DFT inverse = 1)
 * x[k] = 1/n sum_j X[j] e^(+2 pi i j k / n) (numpy.fft conventions, which the
 * specification's tests use).
 *
 * DFT-17: input [batch, s1, ..., sN, 1 | 2] (real or complex), attribute axis (default 1;
 * negative counts from the back as in DFT-20), optional input dft_length (the signal is
 * truncated or zero-padded to it), onesided returns bins [0, n/2] of a real input's
 * transform. Output [..., 2] of the input dtype.
 * STFT-17: signal [batch, length, 1 | 2], frame_step, optional window [frame_length],
 * optional frame_length (at least one of window and frame_length; equal when both are
 * given). frames = (length - frame_length) / frame_step + 1, each multiplied by the window
 * (ones when omitted) and transformed; onesided (default 1) keeps frame_length / 2 + 1
 * bins. Output [batch, frames, bins, 2].
 * Windows (the ONNX function bodies): N = size when periodic (default), size - 1 when
 * symmetric; w[k] = a0 - a1 cos(2 pi k / N) + a2 cos(4 pi k / N) with Hann (0.5, 0.5, 0),
 * Hamming (25/46, 21/46, 0), Blackman (0.42, 0.5, 0.08); cast to output_datatype. A
 * symmetric window of size 1 divides by zero there and gives NaN, as the function does.
 * MelWeightMatrix-17 follows the reference of the specification's test: num_mel_bins + 2
 * points equally spaced on the mel scale mel(f) = 2595 log10(1 + f / 700) from
 * lower_edge_hertz with step (mel(upper) - mel(lower)) / (num_mel_bins + 2), mapped back
 * to hertz and to spectrogram bins floor((dft_length + 1) * f / sample_rate); band i is the
 * triangle rising from bin b[i] to 1 at b[i + 1] and falling to 0 at b[i + 2] (a single 1
 * at b[i + 1] when b[i] == b[i + 1]). Output [dft_length / 2 + 1, num_mel_bins].
 */
#include "misc_internal.h"

#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#define MISC_PI 3.14159265358979323846

/* ================================================================== transform */

/* A transform of length n with `bins` outputs; cos_t/sin_t hold cos/sin(2 pi k / n), k < n. */
typedef struct dft_plan {
    int64_t n, bins;
    int inverse, pow2;
    double *cos_t, *sin_t;
} dft_plan;

static void plan_free(dft_plan *p)
{
    pq_free(p->cos_t);
    pq_free(p->sin_t);
    p->cos_t = p->sin_t = NULL;
}

static pq_status plan_make(dft_plan *p, int64_t n, int64_t bins, int inverse, pq_err *err)
{
    p->n = n;
    p->bins = bins;
    p->inverse = inverse;
    p->pow2 = n > 0 && (n & (n - 1)) == 0;
    p->cos_t = pq_malloc((size_t)n * sizeof(double));
    p->sin_t = pq_malloc((size_t)n * sizeof(double));
    if (!p->cos_t || !p->sin_t) {
        plan_free(p);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory for a transform of length %" PRId64,
                          n);
    }
    for (int64_t k = 0; k < n; k++) {
        const double a = 2.0 * MISC_PI * (double)k / (double)n;
        p->cos_t[k] = cos(a);
        p->sin_t[k] = sin(a);
    }
    return PQ_OK;
}

/* Transforms re/im (n values each, overwritten) into or_[0..bins), oi[0..bins). */
static void plan_run(const dft_plan *p, double *restrict re, double *restrict im,
                     double *restrict or_, double *restrict oi)
{
    const int64_t n = p->n;
    const double sgn = p->inverse ? 1.0 : -1.0;
    const double scale = p->inverse ? 1.0 / (double)n : 1.0;
    if (p->pow2) {
        /* bit-reversal permutation, then butterflies */
        for (int64_t i = 1, j = 0; i < n; i++) {
            int64_t bit = n >> 1;
            for (; j & bit; bit >>= 1) j ^= bit;
            j ^= bit;
            if (i < j) {
                double t = re[i];
                re[i] = re[j];
                re[j] = t;
                t = im[i];
                im[i] = im[j];
                im[j] = t;
            }
        }
        for (int64_t len = 2; len <= n; len <<= 1) {
            const int64_t half = len >> 1, step = n / len;
            for (int64_t s = 0; s < n; s += len)
                for (int64_t k = 0; k < half; k++) {
                    const double c = p->cos_t[k * step], sn = sgn * p->sin_t[k * step];
                    const int64_t a = s + k, b = a + half;
                    const double tr = re[b] * c - im[b] * sn, ti = re[b] * sn + im[b] * c;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
        }
        for (int64_t k = 0; k < p->bins; k++) {
            or_[k] = re[k] * scale;
            oi[k] = im[k] * scale;
        }
        return;
    }
    for (int64_t k = 0; k < p->bins; k++) {
        double sr = 0.0, si = 0.0;
        int64_t idx = 0;
        for (int64_t j = 0; j < n; j++) {
            const double c = p->cos_t[idx], sn = sgn * p->sin_t[idx];
            sr += re[j] * c - im[j] * sn;
            si += re[j] * sn + im[j] * c;
            idx += k;
            if (idx >= n) idx %= n;
        }
        or_[k] = sr * scale;
        oi[k] = si * scale;
    }
}

/* Stores the float64 array v into tensor t (any float dtype). */
static void store_all(pq_tensor *t, const double *v)
{
    if (t->dtype == PQ_DTYPE_FLOAT32) {
        float *restrict o = t->data;
        for (int64_t i = 0; i < t->numel; i++) o[i] = (float)v[i];
    } else {
        for (int64_t i = 0; i < t->numel; i++) pq__misc_store_f64(t, i, v[i]);
    }
}

/* ================================================================== DFT */

typedef struct dft_ctx {
    int64_t axis, inverse, onesided;
} dft_ctx;

pq_status pq__misc_dft_prepare(pq_exec_node *n, pq_err *err)
{
    dft_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing DFT");
    n->ctx = c;
    pq_status st = pq_op_get_int(n->op, "axis", 1, &c->axis, err);
    if (st == PQ_OK) st = pq_op_get_int(n->op, "inverse", 0, &c->inverse, err);
    if (st == PQ_OK) st = pq_op_get_int(n->op, "onesided", 0, &c->onesided, err);
    if (st != PQ_OK) pq__misc_release_ctx(n);
    return st;
}

pq_status pq__misc_run_dft(pq_exec_node *n, pq_err *err)
{
    const dft_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *len_t = pq_node_input(n, 1);
    pq_tensor *y = NULL;
    double *xv = NULL, *yv = NULL;
    dft_plan p = {0};
    pq_status st = PQ_OK;
    PQ_CHECK(pq__misc_is_float(x->dtype), PQ_ERR_UNSUPPORTED, "DFT does not take %s input",
             pq_dtype_name(x->dtype));
    PQ_CHECK(x->rank >= 3 && (x->dims[x->rank - 1] == 1 || x->dims[x->rank - 1] == 2),
             PQ_ERR_INVALID, "input must be [batch, signal dims..., 1 or 2], got rank %d",
             x->rank);
    const int64_t comps = x->dims[x->rank - 1];
    int64_t axis = c->axis < 0 ? c->axis + x->rank : c->axis;
    PQ_CHECK(axis >= 0 && axis <= x->rank - 2, PQ_ERR_INVALID,
             "axis %" PRId64 " is not a signal axis of a rank-%d input", c->axis, x->rank);
    const int64_t L = x->dims[axis];
    int64_t nlen = L;
    if (len_t) {
        PQ_TRY(pq__misc_scalar_i64(len_t, "dft_length", &nlen, err));
        PQ_CHECK(nlen > 0, PQ_ERR_INVALID, "dft_length %" PRId64 " must be positive", nlen);
    }
    PQ_CHECK(!(c->onesided && comps == 2), PQ_ERR_INVALID,
             "onesided output needs a real input, got a complex one");
    const int64_t bins = c->onesided ? nlen / 2 + 1 : nlen;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    for (int d = (int)axis + 1; d < x->rank - 1; d++) inner *= x->dims[d];
    int64_t dims[PQ_MAX_RANK];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    dims[axis] = bins;
    dims[x->rank - 1] = 2;
    PQ_TRY(pq_node_output(n, 0, x->dtype, x->rank, dims, 1, &y, err));
    if (y->numel == 0) goto fail;
    xv = pq__misc_to_f64(x);
    yv = pq_malloc((size_t)y->numel * sizeof(double));
    PQ_CHECK(xv && yv, PQ_ERR_NOMEM, "out of memory for DFT buffers");
    PQ_TRY(plan_make(&p, nlen, bins, (int)c->inverse, err));
    {
        const int threads = pq_node_threads(n) > 0 ? pq_node_threads(n) : 1;
        const int64_t lines = outer * inner;
        const size_t per = (size_t)(2 * nlen + 2 * bins);
        double *ws = pq_node_workspace(n, (size_t)threads * per * sizeof(double));
        PQ_CHECK(ws, PQ_ERR_NOMEM, "out of memory for DFT workspace");
#pragma omp parallel for num_threads(threads) schedule(static) if (lines * nlen > 65536)
        for (int64_t l = 0; l < lines; l++) {
            double *re = ws + (size_t)omp_get_thread_num() * per, *im = re + nlen;
            double *or_ = im + nlen, *oi = or_ + bins;
            const int64_t o = l / inner, i = l % inner;
            for (int64_t j = 0; j < nlen; j++) {
                if (j < L) {
                    const double *s = xv + ((o * L + j) * inner + i) * comps;
                    re[j] = s[0];
                    im[j] = comps == 2 ? s[1] : 0.0;
                } else {
                    re[j] = im[j] = 0.0;
                }
            }
            plan_run(&p, re, im, or_, oi);
            for (int64_t k = 0; k < bins; k++) {
                double *d = yv + ((o * bins + k) * inner + i) * 2;
                d[0] = or_[k];
                d[1] = oi[k];
            }
        }
    }
    store_all(y, yv);
fail:
    plan_free(&p);
    pq_free(xv);
    pq_free(yv);
    return st;
}

/* ================================================================== STFT */

typedef struct stft_ctx {
    int64_t onesided;
} stft_ctx;

pq_status pq__misc_stft_prepare(pq_exec_node *n, pq_err *err)
{
    stft_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing STFT");
    n->ctx = c;
    pq_status st = pq_op_get_int(n->op, "onesided", 1, &c->onesided, err);
    if (st != PQ_OK) pq__misc_release_ctx(n);
    return st;
}

pq_status pq__misc_run_stft(pq_exec_node *n, pq_err *err)
{
    const stft_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *step_t = n->inputs[1];
    const pq_tensor *win_t = pq_node_input(n, 2), *flen_t = pq_node_input(n, 3);
    pq_tensor *y = NULL;
    double *xv = NULL, *yv = NULL, *wv = NULL;
    dft_plan p = {0};
    pq_status st = PQ_OK;
    PQ_CHECK(pq__misc_is_float(x->dtype), PQ_ERR_UNSUPPORTED, "STFT does not take %s input",
             pq_dtype_name(x->dtype));
    PQ_CHECK(x->rank == 3 && (x->dims[2] == 1 || x->dims[2] == 2), PQ_ERR_INVALID,
             "signal must be [batch, length, 1 or 2], got rank %d", x->rank);
    const int64_t B = x->dims[0], L = x->dims[1], comps = x->dims[2];
    int64_t step = 0, flen = -1;
    PQ_TRY(pq__misc_scalar_i64(step_t, "frame_step", &step, err));
    PQ_CHECK(step > 0, PQ_ERR_INVALID, "frame_step %" PRId64 " must be positive", step);
    if (flen_t) PQ_TRY(pq__misc_scalar_i64(flen_t, "frame_length", &flen, err));
    if (win_t) {
        PQ_CHECK(win_t->rank == 1 && pq__misc_is_float(win_t->dtype), PQ_ERR_INVALID,
                 "window must be a 1-D float tensor");
        PQ_CHECK(flen < 0 || flen == win_t->dims[0], PQ_ERR_INVALID,
                 "frame_length %" PRId64 " differs from the window length %" PRId64, flen,
                 win_t->dims[0]);
        flen = win_t->dims[0];
    }
    PQ_CHECK(flen > 0, PQ_ERR_INVALID,
             "the frame length (frame_length or the window's length) must be given and positive");
    PQ_CHECK(flen <= L, PQ_ERR_INVALID,
             "frame length %" PRId64 " exceeds the signal length %" PRId64, flen, L);
    PQ_CHECK(!(c->onesided && comps == 2), PQ_ERR_INVALID,
             "onesided output needs a real signal, got a complex one");
    const int64_t frames = (L - flen) / step + 1;
    const int64_t bins = c->onesided ? flen / 2 + 1 : flen;
    const int64_t dims[4] = {B, frames, bins, 2};
    PQ_TRY(pq_node_output(n, 0, x->dtype, 4, dims, 1, &y, err));
    if (y->numel == 0) goto fail;
    xv = pq__misc_to_f64(x);
    yv = pq_malloc((size_t)y->numel * sizeof(double));
    PQ_CHECK(xv && yv, PQ_ERR_NOMEM, "out of memory for STFT buffers");
    if (win_t) {
        wv = pq__misc_to_f64(win_t);
        PQ_CHECK(wv, PQ_ERR_NOMEM, "out of memory for the window");
    }
    PQ_TRY(plan_make(&p, flen, bins, 0, err));
    {
        const int threads = pq_node_threads(n) > 0 ? pq_node_threads(n) : 1;
        const int64_t lines = B * frames;
        const size_t per = (size_t)(2 * flen + 2 * bins);
        double *ws = pq_node_workspace(n, (size_t)threads * per * sizeof(double));
        PQ_CHECK(ws, PQ_ERR_NOMEM, "out of memory for STFT workspace");
#pragma omp parallel for num_threads(threads) schedule(static) if (lines * flen > 65536)
        for (int64_t l = 0; l < lines; l++) {
            double *re = ws + (size_t)omp_get_thread_num() * per, *im = re + flen;
            double *or_ = im + flen, *oi = or_ + bins;
            const int64_t b = l / frames, f = l % frames;
            const double *s = xv + (b * L + f * step) * comps;
            for (int64_t j = 0; j < flen; j++) {
                const double w = wv ? wv[j] : 1.0;
                re[j] = s[j * comps] * w;
                im[j] = comps == 2 ? s[j * comps + 1] * w : 0.0;
            }
            plan_run(&p, re, im, or_, oi);
            double *d = yv + l * bins * 2;
            for (int64_t k = 0; k < bins; k++) {
                d[2 * k] = or_[k];
                d[2 * k + 1] = oi[k];
            }
        }
    }
    store_all(y, yv);
fail:
    plan_free(&p);
    pq_free(xv);
    pq_free(yv);
    pq_free(wv);
    return st;
}

/* ================================================================== windows */

typedef struct window_ctx {
    double a0, a1, a2;
    int64_t periodic;
    pq_dtype out_dtype;
} window_ctx;

/* Checks an output_datatype attribute names a numeric dtype. */
static pq_status get_out_dtype(const pq_exec_node *n, pq_dtype *out, pq_err *err)
{
    int64_t v = 1;
    pq_status st = pq_op_get_int(n->op, "output_datatype", 1, &v, err);
    if (st != PQ_OK) return st;
    if (v <= 0 || v >= PQ_DTYPE_COUNT || v == PQ_DTYPE_STRING || v == PQ_DTYPE_BOOL ||
        v == PQ_DTYPE_COMPLEX64 || v == PQ_DTYPE_COMPLEX128 || !pq_dtype_is_supported((pq_dtype)v))
        return pq_err_set(err, PQ_ERR_INVALID, "output_datatype %" PRId64 " is not a numeric type",
                          v);
    *out = (pq_dtype)v;
    return PQ_OK;
}

pq_status pq__misc_window_prepare(pq_exec_node *n, pq_err *err)
{
    window_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing %s", n->def->name);
    n->ctx = c;
    const char *name = n->def->name;
    if (strcmp(name, "HannWindow") == 0) {
        c->a0 = 0.5;
        c->a1 = 0.5;
    } else if (strcmp(name, "HammingWindow") == 0) {
        c->a0 = 25.0 / 46.0;
        c->a1 = 21.0 / 46.0;
    } else {
        c->a0 = 0.42;
        c->a1 = 0.5;
        c->a2 = 0.08;
    }
    pq_status st = pq_op_get_int(n->op, "periodic", 1, &c->periodic, err);
    if (st == PQ_OK) st = get_out_dtype(n, &c->out_dtype, err);
    if (st != PQ_OK) pq__misc_release_ctx(n);
    return st;
}

pq_status pq__misc_run_window(pq_exec_node *n, pq_err *err)
{
    const window_ctx *c = n->ctx;
    pq_tensor *y = NULL;
    int64_t size = 0;
    pq_status st = pq__misc_scalar_i64(n->inputs[0], "size", &size, err);
    if (st != PQ_OK) return st;
    if (size < 0) return pq_err_set(err, PQ_ERR_INVALID, "size %" PRId64 " is negative", size);
    st = pq_node_output(n, 0, c->out_dtype, 1, &size, 1, &y, err);
    if (st != PQ_OK) return st;
    const double N = (double)(c->periodic ? size : size - 1);
    const double inc = 2.0 * MISC_PI / N;
    for (int64_t k = 0; k < size; k++) {
        const double a = (double)k * inc;
        pq__misc_store_f64(y, k, c->a0 - c->a1 * cos(a) + c->a2 * cos(2.0 * a));
    }
    return PQ_OK;
}

/* ================================================================== MelWeightMatrix */

typedef struct mel_ctx {
    pq_dtype out_dtype;
} mel_ctx;

pq_status pq__misc_mel_prepare(pq_exec_node *n, pq_err *err)
{
    mel_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing MelWeightMatrix");
    n->ctx = c;
    pq_status st = get_out_dtype(n, &c->out_dtype, err);
    if (st != PQ_OK) pq__misc_release_ctx(n);
    return st;
}

pq_status pq__misc_run_mel(pq_exec_node *n, pq_err *err)
{
    const mel_ctx *c = n->ctx;
    pq_tensor *y = NULL;
    int64_t *fb = NULL;
    double *w = NULL;
    int64_t mels = 0, dft_len = 0, rate = 0;
    double lo = 0, hi = 0;
    pq_status st = PQ_OK;
    PQ_TRY(pq__misc_scalar_i64(n->inputs[0], "num_mel_bins", &mels, err));
    PQ_TRY(pq__misc_scalar_i64(n->inputs[1], "dft_length", &dft_len, err));
    PQ_TRY(pq__misc_scalar_i64(n->inputs[2], "sample_rate", &rate, err));
    PQ_TRY(pq__misc_scalar_f64(n->inputs[3], "lower_edge_hertz", &lo, err));
    PQ_TRY(pq__misc_scalar_f64(n->inputs[4], "upper_edge_hertz", &hi, err));
    PQ_CHECK(mels > 0 && dft_len > 0 && rate > 0, PQ_ERR_INVALID,
             "num_mel_bins, dft_length and sample_rate must be positive");
    PQ_CHECK(lo >= 0 && hi > lo, PQ_ERR_INVALID,
             "edges must satisfy 0 <= lower_edge_hertz < upper_edge_hertz, got %g and %g", lo,
             hi);
    const int64_t spec_bins = dft_len / 2 + 1;
    const int64_t dims[2] = {spec_bins, mels};
    fb = pq_malloc((size_t)(mels + 2) * sizeof *fb);
    w = pq_calloc((size_t)(spec_bins * mels), sizeof *w);
    PQ_CHECK(fb && w, PQ_ERR_NOMEM, "out of memory for a %" PRId64 "x%" PRId64 " matrix",
             spec_bins, mels);
    const double mlo = 2595.0 * log10(1.0 + lo / 700.0), mhi = 2595.0 * log10(1.0 + hi / 700.0);
    const double mstep = (mhi - mlo) / (double)(mels + 2);
    for (int64_t i = 0; i < mels + 2; i++) {
        const double hz = 700.0 * (pow(10.0, ((double)i * mstep + mlo) / 2595.0) - 1.0);
        fb[i] = (int64_t)floor((double)(dft_len + 1) * hz / (double)rate);
        PQ_CHECK(fb[i] >= 0 && fb[i] < spec_bins, PQ_ERR_INVALID,
                 "upper_edge_hertz %g maps beyond the %" PRId64
                 " spectrogram bins (at most sample_rate / 2)",
                 hi, spec_bins);
    }
    for (int64_t i = 0; i < mels; i++) {
        const int64_t l = fb[i], ctr = fb[i + 1], r = fb[i + 2];
        if (ctr == l)
            w[ctr * mels + i] = 1.0;
        else
            for (int64_t j = l; j <= ctr; j++) w[j * mels + i] = (double)(j - l) / (double)(ctr - l);
        for (int64_t j = ctr; j < r; j++) w[j * mels + i] = (double)(r - j) / (double)(r - ctr);
    }
    PQ_TRY(pq_node_output(n, 0, c->out_dtype, 2, dims, 1, &y, err));
    for (int64_t i = 0; i < y->numel; i++) pq__misc_store_f64(y, i, w[i]);
fail:
    pq_free(fb);
    pq_free(w);
    return st;
}

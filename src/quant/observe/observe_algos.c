/* observe_algos.c - clip ranges and scales from merged observer states: minmax,
 * percentile, KL (TensorRT and PPQ variants), MSE and isotone. docs/calibration.md gives
 * the formulas; tests/observe/reference.py implements each one independently in numpy. */
#include "observe_internal.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ percentile */

/* Histogram of group g: clip so that at most floor((1 - p) N) values lie beyond each
 * clipped tail; the clip is the outer edge of the bin holding the first kept value. */
static void percentile_range(const pq_observer *o, int64_t g, double *lo, double *hi)
{
    const int64_t *h = o->hist + g * o->nb, nb = o->nb;
    int64_t N = 0;
    for (int64_t i = 0; i < nb; i++) N += h[i];
    int64_t allowed = (int64_t)floor((1.0 - o->percentile) * (double)N);
    int64_t k = nb - 1, cum = 0;
    for (; k > 0; k--) {
        if (cum + h[k] > allowed) break;
        cum += h[k];
    }
    *hi = pq__hist_edge(o, g, (double)(k + 1));
    if (o->kind == PQ__HIST_ABS) {
        *lo = -*hi;
        return;
    }
    int64_t j = 0;
    cum = 0;
    for (; j < nb - 1; j++) {
        if (cum + h[j] > allowed) break;
        cum += h[j];
    }
    *lo = pq__hist_edge(o, g, (double)j);
}

/* ------------------------------------------------------------------ KL */

/* TensorRT's entropy calibration as NVIDIA's pytorch-quantization implements it
 * (calib/histogram.py, _compute_amax_entropy, stride 1, start_bin 128): for every
 * candidate i (bins kept), P = bins[:i] with the outliers added to bin i-1, Q = bins[:i]
 * merged into `levels` groups (bin j -> group floor(j * levels / i)) and expanded back
 * over the non-empty bins; KL(P || Q) with natural log; the LAST minimum wins; the
 * threshold is the upper edge of bin i-1. bins[0] is replaced by bins[1] first. */
static pq_status kl_trt_bin(const pq_observer *o, int64_t g, int64_t levels, int64_t *best_i,
                            pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t nb = o->nb;
    double *b = pq_malloc((size_t)nb * sizeof(double));
    double *suf = pq_malloc((size_t)(nb + 1) * sizeof(double));
    double *qs = pq_malloc((size_t)levels * sizeof(double));
    int64_t *qc = pq_malloc((size_t)levels * sizeof(int64_t));
    PQ_CHECK(b && suf && qs && qc, PQ_ERR_NOMEM, "tensor '%s': out of memory (kl)", o->name);
    for (int64_t j = 0; j < nb; j++) b[j] = (double)o->hist[g * nb + j];
    if (nb > 1) b[0] = b[1];
    suf[nb] = 0;
    for (int64_t j = nb - 1; j >= 0; j--) suf[j] = suf[j + 1] + b[j];
    double best = INFINITY;
    int64_t start = nb < 128 ? nb : 128;
    *best_i = nb;
    for (int64_t i = start; i <= nb; i++) {
        for (int64_t l = 0; l < levels; l++) {
            qs[l] = 0;
            qc[l] = 0;
        }
        double sum_q = 0, sum_p = 0;
        for (int64_t j = 0; j < i; j++) {
            if (b[j] != 0) {
                int64_t l = j * levels / i;
                qs[l] += b[j];
                qc[l]++;
            }
        }
        for (int64_t j = 0; j < i; j++)
            if (b[j] != 0) sum_q += qs[j * levels / i] / (double)qc[j * levels / i];
        sum_p = suf[0];
        double kl = 0;
        for (int64_t j = 0; j < i; j++) {
            double p = b[j] + (j == i - 1 ? suf[i] : 0.0);
            if (p == 0) continue;
            double q = b[j] != 0 ? qs[j * levels / i] / (double)qc[j * levels / i] : 0.0;
            if (q == 0) {
                kl = INFINITY;
                break;
            }
            double pn = p / sum_p, qn = q / sum_q;
            kl += pn * log(pn / qn);
        }
        if (kl <= best) {
            best = kl;
            *best_i = i;
        }
    }
fail:
    pq_free(b);
    pq_free(suf);
    pq_free(qs);
    pq_free(qc);
    return st;
}

/* PPQ's TorchHistObserver.hist_to_scale_offset: bins below int(nb * 0.002) are zeroed and
 * that bin set to 1; candidates are multiples of `levels` bins; P = bins[:r] (+ outliers
 * in bin r-1) / sum; Q = equal chunks of r / levels bins averaged over their non-empty
 * bins; KL = sum P (log10(P + 1e-30) - log10(Q + 1e-30)); the FIRST minimum wins; the
 * threshold is r bins. Computed in float64 (PPQ uses float32 tensors). */
static pq_status kl_ppq_bin(const pq_observer *o, int64_t g, int64_t levels, int64_t *best_r,
                            pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t nb = o->nb;
    double *h = pq_malloc((size_t)nb * sizeof(double));
    double *suf = pq_malloc((size_t)(nb + 1) * sizeof(double));
    PQ_CHECK(h && suf, PQ_ERR_NOMEM, "tensor '%s': out of memory (kl_ppq)", o->name);
    for (int64_t j = 0; j < nb; j++) h[j] = (double)o->hist[g * nb + j];
    int64_t z = (int64_t)((double)nb * 0.002);
    for (int64_t j = 0; j < z && j < nb; j++) h[j] = 0;
    if (z < nb) h[z] = 1;
    suf[nb] = 0;
    for (int64_t j = nb - 1; j >= 0; j--) suf[j] = suf[j + 1] + h[j];
    double hsum = suf[0], best = INFINITY;
    *best_r = nb;
    for (int64_t r = levels; r <= nb; r += levels) {
        int64_t ratio = r / levels;
        double sum_q = 0;
        for (int64_t l = 0; l < levels; l++) {
            double s = 0;
            int64_t c = 0;
            for (int64_t j = l * ratio; j < (l + 1) * ratio; j++) {
                s += h[j];
                c += h[j] > 0;
            }
            if (c > 0) sum_q += (s / (double)c) * (double)c;
        }
        double kl = 0;
        for (int64_t l = 0; l < levels; l++) {
            double s = 0;
            int64_t c = 0;
            for (int64_t j = l * ratio; j < (l + 1) * ratio; j++) {
                s += h[j];
                c += h[j] > 0;
            }
            double qv = c > 0 ? (s / (double)c) / sum_q : 0.0;
            for (int64_t j = l * ratio; j < (l + 1) * ratio; j++) {
                double p = (h[j] + (j == r - 1 ? suf[r] : 0.0)) / hsum;
                double q = h[j] > 0 ? qv : 0.0;
                kl += p * (log10(p + 1e-30) - log10(q + 1e-30));
            }
        }
        if (kl < best) {
            best = kl;
            *best_r = r;
        }
    }
fail:
    pq_free(h);
    pq_free(suf);
    return st;
}

/* ------------------------------------------------------------------ MSE */

typedef struct mse_ctx {
    int64_t nb;
    double lo, w;               /* bin b covers [lo + b w, lo + (b+1) w), center m_b */
    const double *S0, *S1, *S2; /* prefix sums of n, n m, n m^2 over bins */
} mse_ctx;

static double center(const mse_ctx *c, int64_t b) { return c->lo + ((double)b + 0.5) * c->w; }

/* Sum over bins [a, b) of n (m - v)^2. */
static double seg_err(const mse_ctx *c, int64_t a, int64_t b, double v)
{
    double n = c->S0[b] - c->S0[a];
    if (n == 0) return 0;
    return (c->S2[b] - c->S2[a]) - 2.0 * v * (c->S1[b] - c->S1[a]) + v * v * n;
}

/* Expected squared error of the grid {(q - z) s : q in [qmin, qmax]} with every bin's
 * values at its center m, quantized to (clamp(floor(m / s + 0.5) + z) - z) s. */
static double mse_err(const mse_ctx *c, double s, int64_t z, int64_t qmin, int64_t qmax)
{
    double ul = (double)(qmin - z), uh = (double)(qmax - z);
    double u0 = floor(center(c, 0) / s + 0.5), u1 = floor(center(c, c->nb - 1) / s + 0.5);
    u0 = u0 < ul ? ul : (u0 > uh ? uh : u0);
    u1 = u1 < ul ? ul : (u1 > uh ? uh : u1);
    double err = 0;
    int64_t prev = 0;
    for (double k = u0 + 1; k <= u1; k += 1) {
        /* first bin whose center reaches level k: m >= (k - 0.5) s */
        double bf = ceil(((k - 0.5) * s - c->lo) / c->w - 0.5);
        int64_t b = bf < (double)prev ? prev : (bf > (double)c->nb ? c->nb : (int64_t)bf);
        /* rounding of the division may misplace the boundary by one bin: fix it exactly */
        while (b > prev && floor(center(c, b - 1) / s + 0.5) >= k) b--;
        while (b < c->nb && floor(center(c, b) / s + 0.5) < k) b++;
        err += seg_err(c, prev, b, (k - 1) * s);
        prev = b;
    }
    err += seg_err(c, prev, c->nb, u1 * s);
    return err;
}

static pq_status mse_range(const pq_observer *o, int64_t g, const pq_tqc *tqc, double *lo,
                           double *hi, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t nb = o->nb, qmin = tqc->quant_min, qmax = tqc->quant_max;
    double *S = pq_malloc((size_t)(3 * (nb + 1)) * sizeof(double));
    PQ_CHECK(S != NULL, PQ_ERR_NOMEM, "tensor '%s': out of memory (mse)", o->name);
    mse_ctx c = {nb, o->h_lo[g], (o->h_hi[g] - o->h_lo[g]) / (double)nb, S, S + nb + 1,
                 S + 2 * (nb + 1)};
    double *S0 = S, *S1 = S + nb + 1, *S2 = S + 2 * (nb + 1);
    S0[0] = S1[0] = S2[0] = 0;
    for (int64_t b = 0; b < nb; b++) {
        double n = (double)o->hist[g * nb + b], m = center(&c, b);
        S0[b + 1] = S0[b] + n;
        S1[b + 1] = S1[b] + n * m;
        S2[b + 1] = S2[b] + n * m * m;
    }
    double qr = (double)(qmax - qmin), best = INFINITY;
    if (o->kind == PQ__HIST_SIGNED) {
        /* symmetric: T_k = k w, s = 2 T / (qmax - qmin), z = 0, for k = 1 .. K where K
         * lets the top positive level qmax s reach A (T slightly above A when
         * |qmin| > qmax) */
        double A = o->h_hi[g];
        int64_t K = (int64_t)ceil((double)(nb / 2) * qr / (2.0 * (double)qmax));
        int64_t bk = nb / 2;
        for (int64_t k = 1; k <= K; k++) {
            double T = 2.0 * A * ((double)k / (double)nb);
            double e = mse_err(&c, 2.0 * T / qr, 0, qmin, qmax);
            if (e < best) {
                best = e;
                bk = k;
            }
        }
        double T = 2.0 * A * ((double)bk / (double)nb);
        *lo = -T;
        *hi = T;
    } else {
        /* asymmetric: every width d w (d = 1 .. nb) and every zero point z */
        double span = o->h_hi[g] - o->h_lo[g];
        int64_t bd = nb, bz = qmin;
        for (int64_t d = 1; d <= nb; d++) {
            double s = span * ((double)d / (double)nb) / qr;
            for (int64_t z = qmin; z <= qmax; z++) {
                double e = mse_err(&c, s, z, qmin, qmax);
                if (e < best) {
                    best = e;
                    bd = d;
                    bz = z;
                }
            }
        }
        double s = span * ((double)bd / (double)nb) / qr;
        *lo = (double)(qmin - bz) * s;
        *hi = (double)(qmax - bz) * s;
    }
fail:
    pq_free(S);
    return st;
}

/* ------------------------------------------------------------------ isotone */

/* count(s) = #rows with upper bound >= s + #rows with lower bound < s, evaluated at the
 * grid edges; the scale is the middle of the first run of edges reaching the maximum (its
 * lowest edge when the run reaches the open top bin, e.g. rows of ties). */
static double isotone_scale(const pq_observer *o)
{
    const int64_t NB = PQ__ISO_NB;
    int64_t above = 0, below = 0, best = -1, a = 1, e = 1;
    for (int64_t j = 1; j < NB; j++) above += o->iso_hmax[j];
    int run = 0;
    for (int64_t b = 1; b < NB; b++) {
        below += o->iso_hmin[b - 1];
        if (b > 1) above -= o->iso_hmax[b - 1];
        int64_t cnt = above + below;
        if (cnt > best) {
            best = cnt;
            a = e = b;
            run = 1;
        } else if (cnt == best && run && e == b - 1) {
            e = b;
        } else {
            run = 0;
        }
    }
    if (e == NB - 1) return pq__iso_edge(a);
    return 0.5 * (pq__iso_edge(a) + pq__iso_edge(e));
}

/* ------------------------------------------------------------------ per group */

pq_status pq__compute_group(pq_observer *o, int64_t g, const pq_tqc *tqc, float *scale,
                            float *offset, pq_err *err)
{
    pq_status st = PQ_OK;
    double mn = o->mn[g], mx = o->mx[g], lo = mn, hi = mx;
    int round_up = 0;
    if (mn > mx) mn = mx = lo = hi = 0; /* channel never seen */
    /* a histogram of zero width (constant or all-zero data): the range is the answer */
    int degenerate = o->nb > 0 && !(o->h_hi[g] > o->h_lo[g]);
    switch (o->algo) {
    case PQ_OBS_MINMAX: round_up = 1; break;
    case PQ_OBS_PERCENTILE:
        if (!degenerate) percentile_range(o, g, &lo, &hi);
        break;
    case PQ_OBS_KL_TRT:
    case PQ_OBS_KL_PPQ:
        if (!degenerate) {
            int64_t levels = (int64_t)1 << (tqc->num_bits - 1), kb = 0;
            if (o->algo == PQ_OBS_KL_TRT) PQ_TRY(kl_trt_bin(o, g, levels, &kb, err));
            else {
                PQ_CHECK(o->nb % levels == 0, PQ_ERR_INVALID,
                         "tensor '%s': kl_ppq needs n_bins %% 2^(bits-1) == 0", o->name);
                PQ_TRY(kl_ppq_bin(o, g, levels, &kb, err));
            }
            double T = pq__hist_edge(o, g, (double)kb);
            if (o->symmetric) {
                lo = -T;
                hi = T;
            } else {
                lo = fmax(mn, -T);
                hi = fmin(mx, T);
            }
        }
        break;
    case PQ_OBS_MSE:
        if (!degenerate) PQ_TRY(mse_range(o, g, tqc, &lo, &hi, err));
        break;
    case PQ_OBS_ISOTONE: {
        PQ_CHECK(o->symmetric || mn >= 0, PQ_ERR_INVALID,
                 "tensor '%s': asymmetric isotone needs non-negative data (min %g)", o->name, mn);
        double s = isotone_scale(o);
        if (!(s >= PQ_OBS_MIN_SCALE)) s = PQ_OBS_MIN_SCALE;
        if (tqc->policy & PQ_QPOLICY_POWER_OF_2) s = exp2(floor(log2(s) + 0.5));
        float sf = (float)s;
        double z = o->symmetric ? 0.0 : (double)tqc->quant_min;
        *scale = sf;
        *offset = (float)(z + 0.0);
        o->clip_lo[g] = ((double)tqc->quant_min - z) * sf;
        o->clip_hi[g] = ((double)tqc->quant_max - z) * sf;
        return PQ_OK;
    }
    default: break;
    }
    o->clip_lo[g] = lo;
    o->clip_hi[g] = hi;
    pq_obs_range_to_scale(lo, hi, tqc, round_up, scale, offset);
fail:
    return st;
}

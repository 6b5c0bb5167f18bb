/* observe.c - observer life cycle, mergeable state, and the observe() kernels.
 *
 * Determinism: min/max are exact whatever the order (signed zeros are normalised to +0 so
 * that min(-0, +0) cannot depend on it); histograms are integer counts. Threads work on
 * fixed chunks and their partials are combined in thread order, which for these exact
 * operations gives bitwise the same state for any thread count and any batch split. */
#include "observe_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define LANES 16
#define BLOCK 512
/* Tensors below this many elements are observed on one thread. */
#define PAR_MIN ((int64_t)1 << 17)

static const char *const algo_names[PQ_OBS_ALGO_COUNT] = {
    "minmax", "percentile", "kl_trt", "kl_ppq", "mse", "isotone"};

const char *pq_obs_algo_name(pq_obs_algo algo)
{
    return (algo >= 0 && algo < PQ_OBS_ALGO_COUNT) ? algo_names[algo] : "unknown";
}

pq_status pq_obs_algo_parse(const char *name, pq_obs_algo *out, pq_err *err)
{
    if (name) {
        if (strcmp(name, "kl") == 0) {
            *out = PQ_OBS_KL_TRT;
            return PQ_OK;
        }
        for (int a = 0; a < PQ_OBS_ALGO_COUNT; a++)
            if (strcmp(name, algo_names[a]) == 0) {
                *out = (pq_obs_algo)a;
                return PQ_OK;
            }
    }
    return pq_err_set(err, PQ_ERR_CONFIG,
                      "unknown observer '%s' (expected minmax, percentile, kl, kl_trt, kl_ppq, "
                      "mse or isotone)", name ? name : "(null)");
}

/* ------------------------------------------------------------------ isotone grid */

int64_t pq__iso_bin(double v)
{
    const double lo = 0x1p-40, hi = 0x1p40;
    if (!(v >= lo)) return 0;
    if (v >= hi) return PQ__ISO_NB - 1;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int64_t e0 = (int64_t)(1023 - PQ__ISO_OCTAVES / 2) << PQ__ISO_SUB_BITS;
    return (int64_t)(bits >> (52 - PQ__ISO_SUB_BITS)) - e0 + 1;
}

double pq__iso_edge(int64_t b)
{
    int64_t e0 = (int64_t)(1023 - PQ__ISO_OCTAVES / 2) << PQ__ISO_SUB_BITS;
    uint64_t bits = (uint64_t)(b - 1 + e0) << (52 - PQ__ISO_SUB_BITS);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

double pq__hist_edge(const pq_observer *o, int64_t g, double k)
{
    return o->h_lo[g] + (o->h_hi[g] - o->h_lo[g]) * (k / (double)o->nb);
}

/* ------------------------------------------------------------------ create / destroy */

void pq_observer_destroy(pq_observer **pobs)
{
    if (!pobs || !*pobs) return;
    pq_observer *o = *pobs;
    pq_free(o->name);
    pq_free(o->mn);
    pq_free(o->mx);
    pq_free(o->h_lo);
    pq_free(o->h_hi);
    pq_free(o->h_lof);
    pq_free(o->h_inv);
    pq_free(o->hist);
    pq_free(o->iso_hmax);
    pq_free(o->iso_hmin);
    pq_free(o->clip_lo);
    pq_free(o->clip_hi);
    pq_free(o->scratch);
    pq_free(o->work);
    pq_free(o);
    *pobs = NULL;
}

static void reset_pass1(pq_observer *o)
{
    for (int64_t g = 0; g < o->G; g++) {
        o->mn[g] = INFINITY;
        o->mx[g] = -INFINITY;
    }
    o->count1 = 0;
}

pq_status pq_observer_create(const char *algorithm, const pq_tqc *tqc, const char *tensor_name,
                             int64_t n_channels, const pq_observer_opts *opts,
                             pq_observer **out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_observer *o = NULL;
    pq_observer_opts def = {0};
    const char *tname = tensor_name ? tensor_name : "(unnamed)";
    *out = NULL;
    if (!opts) opts = &def;
    PQ_CHECK(tqc != NULL, PQ_ERR_INVALID, "tensor '%s': observer needs a TQC", tname);
    if (!algorithm) algorithm = tqc->observer;
    o = pq_calloc(1, sizeof *o);
    PQ_CHECK(o != NULL, PQ_ERR_NOMEM, "tensor '%s': out of memory creating an observer", tname);
    o->name = pq_strdup(tname);
    PQ_CHECK(o->name != NULL, PQ_ERR_NOMEM, "tensor '%s': out of memory", tname);
    st = pq_obs_algo_parse(algorithm, &o->algo, err);
    if (st != PQ_OK) {
        pq_err_prefix(err, "tensor '%s'", tname);
        goto fail;
    }
    o->policy = tqc->policy;
    o->symmetric = (tqc->policy & PQ_QPOLICY_ASYMMETRIC) == 0;
    o->per_channel = (tqc->policy & PQ_QPOLICY_PER_CHANNEL) != 0;
    o->channel_axis = tqc->channel_axis;
    o->num_bits = tqc->num_bits;
    o->quant_min = tqc->quant_min;
    o->quant_max = tqc->quant_max;
    PQ_CHECK(tqc->num_bits >= 2 && tqc->num_bits <= 16, PQ_ERR_INVALID,
             "tensor '%s': TQC num_bits %d outside [2, 16]", tname, tqc->num_bits);
    PQ_CHECK(tqc->quant_max - tqc->quant_min >= 2 && tqc->quant_min <= 0 && tqc->quant_max > 0,
             PQ_ERR_INVALID, "tensor '%s': TQC quant range [%lld, %lld] must contain 0 and 3+ levels",
             tname, (long long)tqc->quant_min, (long long)tqc->quant_max);
    if (o->per_channel) {
        PQ_CHECK(n_channels > 0, PQ_ERR_INVALID,
                 "tensor '%s': per-channel observer needs n_channels > 0 (got %lld)", tname,
                 (long long)n_channels);
        PQ_CHECK(o->algo != PQ_OBS_ISOTONE, PQ_ERR_UNSUPPORTED,
                 "tensor '%s': the isotone observer is per-tensor only", tname);
        o->G = n_channels;
    } else {
        o->G = 1;
    }
    o->percentile = opts->percentile != 0 ? opts->percentile : 0.9999;
    PQ_CHECK(o->percentile > 0 && o->percentile <= 1, PQ_ERR_CONFIG,
             "tensor '%s': percentile %g outside (0, 1]", tname, o->percentile);
    o->iso_axis = opts->isotone_axis != 0 ? opts->isotone_axis : 1;
    o->threads = opts->threads;
    PQ_CHECK(opts->n_bins >= 0 && opts->n_bins <= ((int64_t)1 << 22), PQ_ERR_CONFIG,
             "tensor '%s': n_bins %lld outside [0, 4194304]", tname, (long long)opts->n_bins);

    switch (o->algo) {
    case PQ_OBS_MINMAX: o->nb = 0; o->kind = PQ__HIST_NONE; break;
    case PQ_OBS_PERCENTILE:
        o->nb = 4096;
        o->kind = o->symmetric ? PQ__HIST_ABS : PQ__HIST_RANGE;
        break;
    case PQ_OBS_KL_TRT: o->nb = 2048; o->kind = PQ__HIST_ABS; break;
    case PQ_OBS_KL_PPQ: o->nb = 4096; o->kind = PQ__HIST_ABS; break;
    case PQ_OBS_MSE:
        o->nb = 2048;
        o->kind = o->symmetric ? PQ__HIST_SIGNED : PQ__HIST_RANGE;
        break;
    case PQ_OBS_ISOTONE: o->nb = 0; o->kind = PQ__HIST_NONE; break;
    default: break;
    }
    if (o->nb > 0 && opts->n_bins > 0) o->nb = opts->n_bins;
    if (o->nb > 0) {
        PQ_CHECK(o->nb >= 8, PQ_ERR_CONFIG, "tensor '%s': %s needs at least 8 bins", tname,
                 algo_names[o->algo]);
        int64_t levels = (int64_t)1 << (o->num_bits - 1);
        PQ_CHECK(o->algo != PQ_OBS_KL_PPQ || o->nb % levels == 0, PQ_ERR_CONFIG,
                 "tensor '%s': kl_ppq needs n_bins (%lld) to be a multiple of 2^(bits-1) = %lld",
                 tname, (long long)o->nb, (long long)levels);
        PQ_CHECK(o->algo != PQ_OBS_MSE || o->kind != PQ__HIST_SIGNED || o->nb % 2 == 0,
                 PQ_ERR_CONFIG, "tensor '%s': symmetric mse needs an even n_bins", tname);
    }
    o->n_passes = o->nb > 0 ? 2 : 1;
    o->pass = 1;

    o->mn = pq_malloc((size_t)o->G * sizeof(double));
    o->mx = pq_malloc((size_t)o->G * sizeof(double));
    o->clip_lo = pq_calloc((size_t)o->G, sizeof(double));
    o->clip_hi = pq_calloc((size_t)o->G, sizeof(double));
    PQ_CHECK(o->mn && o->mx && o->clip_lo && o->clip_hi, PQ_ERR_NOMEM,
             "tensor '%s': out of memory creating an observer", tname);
    reset_pass1(o);
    if (o->nb > 0) {
        o->h_lo = pq_calloc((size_t)o->G, sizeof(double));
        o->h_hi = pq_calloc((size_t)o->G, sizeof(double));
        o->h_lof = pq_calloc((size_t)o->G, sizeof(float));
        o->h_inv = pq_calloc((size_t)o->G, sizeof(float));
        o->hist = pq_calloc((size_t)(o->G * o->nb), sizeof(int64_t));
        PQ_CHECK(o->h_lo && o->h_hi && o->h_lof && o->h_inv && o->hist, PQ_ERR_NOMEM,
                 "tensor '%s': out of memory for a %lld-bin histogram", tname, (long long)o->nb);
    }
    if (o->algo == PQ_OBS_ISOTONE) {
        o->iso_hmax = pq_calloc((size_t)PQ__ISO_NB, sizeof(int64_t));
        o->iso_hmin = pq_calloc((size_t)PQ__ISO_NB, sizeof(int64_t));
        PQ_CHECK(o->iso_hmax && o->iso_hmin, PQ_ERR_NOMEM, "tensor '%s': out of memory", tname);
        /* Symmetric: levels 1..quant_max above zero; asymmetric: zero sits at quant_min. */
        o->iso_levels = o->symmetric ? (double)o->quant_max
                                     : (double)(o->quant_max - o->quant_min);
        PQ_CHECK(o->iso_levels >= 2, PQ_ERR_INVALID,
                 "tensor '%s': isotone needs at least 2 positive levels", tname);
    }
    *out = o;
    return PQ_OK;
fail:
    pq_observer_destroy(&o);
    return st;
}

pq_obs_algo pq_observer_algo(const pq_observer *obs) { return obs->algo; }
int pq_observer_n_passes(const pq_observer *obs) { return obs->n_passes; }
int pq_observer_pass(const pq_observer *obs) { return obs->pass; }

/* ------------------------------------------------------------------ state */

int pq_observer_state(pq_observer *o, pq_obs_segment segs[PQ_OBS_MAX_SEGMENTS])
{
    int n = 0;
    if (o->pass == 1) {
        segs[n++] = (pq_obs_segment){o->mn, o->G, PQ_OBS_F64, PQ_OBS_RULE_MIN};
        segs[n++] = (pq_obs_segment){o->mx, o->G, PQ_OBS_F64, PQ_OBS_RULE_MAX};
        segs[n++] = (pq_obs_segment){&o->count1, 1, PQ_OBS_I64, PQ_OBS_RULE_SUM};
        if (o->algo == PQ_OBS_ISOTONE) {
            segs[n++] = (pq_obs_segment){&o->n_rows, 1, PQ_OBS_I64, PQ_OBS_RULE_SUM};
            segs[n++] = (pq_obs_segment){o->iso_hmax, PQ__ISO_NB, PQ_OBS_I64, PQ_OBS_RULE_SUM};
            segs[n++] = (pq_obs_segment){o->iso_hmin, PQ__ISO_NB, PQ_OBS_I64, PQ_OBS_RULE_SUM};
        }
    } else if (o->pass == 2) {
        segs[n++] = (pq_obs_segment){o->hist, o->G * o->nb, PQ_OBS_I64, PQ_OBS_RULE_SUM};
        segs[n++] = (pq_obs_segment){&o->count2, 1, PQ_OBS_I64, PQ_OBS_RULE_SUM};
    }
    return n;
}

pq_status pq_observer_merge(pq_observer *dst, const pq_observer *src, pq_err *err)
{
    pq_obs_segment a[PQ_OBS_MAX_SEGMENTS], b[PQ_OBS_MAX_SEGMENTS];
    if (dst->algo != src->algo || dst->G != src->G || dst->nb != src->nb ||
        dst->pass != src->pass || dst->kind != src->kind)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "tensor '%s': cannot merge observer states of different layouts "
                          "(%s pass %d vs %s pass %d)", dst->name, algo_names[dst->algo],
                          dst->pass, algo_names[src->algo], src->pass);
    if (dst->pass == 2) {
        for (int64_t g = 0; g < dst->G; g++)
            if (memcmp(&dst->h_lo[g], &src->h_lo[g], sizeof(double)) != 0 ||
                memcmp(&dst->h_hi[g], &src->h_hi[g], sizeof(double)) != 0)
                return pq_err_set(err, PQ_ERR_INVALID,
                                  "tensor '%s': cannot merge histograms over different ranges",
                                  dst->name);
    }
    int n = pq_observer_state(dst, a);
    pq_observer_state((pq_observer *)src, b);
    for (int s = 0; s < n; s++) {
        for (int64_t i = 0; i < a[s].count; i++) {
            if (a[s].type == PQ_OBS_F64) {
                double *x = (double *)a[s].data, y = ((const double *)b[s].data)[i];
                if (a[s].rule == PQ_OBS_RULE_MIN) x[i] = y < x[i] ? y : x[i];
                else if (a[s].rule == PQ_OBS_RULE_MAX) x[i] = y > x[i] ? y : x[i];
                else x[i] += y;
            } else {
                int64_t *x = (int64_t *)a[s].data, y = ((const int64_t *)b[s].data)[i];
                if (a[s].rule == PQ_OBS_RULE_MIN) x[i] = y < x[i] ? y : x[i];
                else if (a[s].rule == PQ_OBS_RULE_MAX) x[i] = y > x[i] ? y : x[i];
                else x[i] += y;
            }
        }
    }
    return PQ_OK;
}

pq_status pq_observer_end_pass(pq_observer *o, pq_err *err)
{
    if (o->pass == 0)
        return pq_err_set(err, PQ_ERR_INVALID, "tensor '%s': observer %s: every pass has ended",
                          o->name, algo_names[o->algo]);
    if (o->pass == 1) {
        if (o->count1 == 0)
            return pq_err_set(err, PQ_ERR_INVALID,
                              "tensor '%s': observer %s saw no data in pass 1", o->name,
                              algo_names[o->algo]);
        if (o->n_passes == 1) {
            o->pass = 0;
            return PQ_OK;
        }
        for (int64_t g = 0; g < o->G; g++) {
            double mn = o->mn[g], mx = o->mx[g], lo, hi;
            if (mn > mx) mn = mx = 0; /* a channel that never appeared */
            double a = fmax(fabs(mn), fabs(mx));
            switch (o->kind) {
            case PQ__HIST_ABS: lo = 0; hi = a; break;
            case PQ__HIST_SIGNED: lo = -a; hi = a; break;
            default: lo = fmin(mn, 0); hi = fmax(mx, 0); break;
            }
            o->h_lo[g] = lo + 0.0;
            o->h_hi[g] = hi + 0.0;
            o->h_lof[g] = (float)lo;
            o->h_inv[g] = hi > lo ? (float)((double)o->nb / (hi - lo)) : 0.0f;
        }
        memset(o->hist, 0, (size_t)(o->G * o->nb) * sizeof(int64_t));
        o->count2 = 0;
        o->pass = 2;
        return PQ_OK;
    }
    if (o->count2 != o->count1)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "tensor '%s': observer %s saw %lld values in pass 2 but %lld in pass 1 "
                          "(both passes must see the same data)", o->name, algo_names[o->algo],
                          (long long)o->count2, (long long)o->count1);
    o->pass = 0;
    return PQ_OK;
}

/* ------------------------------------------------------------------ kernels */

/* Compute-bound kernels are also compiled for AVX-512F and AVX2; the loader picks the clone
 * for the machine. Results do not depend on the clone: the same float32 operations run in the
 * same order on every element (-std=c11 keeps them unfused), and min/max are exact. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OBS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define OBS_CLONES
#endif

/* Min and max of x[0..n) folded into mn and mx (unchanged when n == 0); returns 1 when a value is
 * NaN or infinite. Lane-wise accumulators let the compiler vectorise without reassociating
 * floating-point reductions (no -ffast-math needed); the min of a set is exact anyway. The loop
 * over lanes is the vectorised one: each lane folds MM_DEPTH values of a block, so iterations
 * are independent. The finiteness test is a float accumulator too (v - v is 0 for finite v,
 * NaN otherwise), so that the whole body is float32. */
#define MM_DEPTH 8
OBS_CLONES static int minmax_run(const float *x, int64_t n, float *mn, float *mx)
{
    float a[LANES], b[LANES], c[LANES];
    for (int j = 0; j < LANES; j++) {
        a[j] = *mn;
        b[j] = *mx;
        c[j] = 0.0f;
    }
    int64_t i = 0;
    for (; i + LANES * MM_DEPTH <= n; i += LANES * MM_DEPTH) {
        const float *xb = x + i;
        for (int j = 0; j < LANES; j++) {
            float lo = a[j], hi = b[j], acc = c[j];
            for (int k = 0; k < MM_DEPTH; k++) {
                float v = xb[k * LANES + j];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
                acc += v - v;
            }
            a[j] = lo;
            b[j] = hi;
            c[j] = acc;
        }
    }
    for (; i < n; i++) {
        float v = x[i];
        a[0] = v < a[0] ? v : a[0];
        b[0] = v > b[0] ? v : b[0];
        c[0] += v - v;
    }
    int any = 0;
    for (int j = 0; j < LANES; j++) {
        *mn = a[j] < *mn ? a[j] : *mn;
        *mx = b[j] > *mx ? b[j] : *mx;
        any |= c[j] != 0.0f;
    }
    return any;
}

/* Histogram bin of v (already |x| for abs histograms), all in float32 as the reference
 * scripts compute it: clamp((int)((v - lo) * inv), 0, nb - 1), top = nb - 1. NaN goes to
 * bin 0 (callers detect it separately). */
static inline int32_t hist_bin(float v, float lo, float inv, float top)
{
    float t = (v - lo) * inv;
    t = t > 0.0f ? t : 0.0f; /* also maps NaN to 0 */
    t = t < top ? t : top;
    return (int32_t)t;
}

/* Hot bins: the bin of 0 (Relu outputs are half zeros) and the two end bins (values clipped at
 * the range ends, e.g. Relu6, saturated Sigmoid, the constant parts of a tensor). A run of one
 * bin makes every increment wait for the previous one to the same counter, so the counts of
 * each hot bin are spread over SPREAD extra counters after the nb bins. */
#define SPREAD 64
#define N_HOT 3

/* Counter positions of x[0..m) (|x| when absval): the bin b, or for hot bin k (b == hot[k],
 * first match) nb + k * SPREAD + (j mod SPREAD); returns 1 when a value is NaN or infinite. The
 * loop is branch-free, so that it vectorises. */
OBS_CLONES static int hist_index(const float *restrict x, int m, float lo, float inv, float top,
                                 int absval, const int32_t *restrict hot, int32_t nb,
                                 int32_t *restrict idx)
{
    const int32_t h0 = hot[0], h1 = hot[1], h2 = hot[2];
    int bad = 0;
    for (int j = 0; j < m; j++) { /* absval is loop-invariant: GCC unswitches the loop */
        float v = absval ? fabsf(x[j]) : x[j];
        int32_t b = hist_bin(v, lo, inv, top), s = nb + (j & (SPREAD - 1));
        idx[j] = b == h0 ? s : b == h1 ? s + SPREAD : b == h2 ? s + 2 * SPREAD : b;
        bad |= (v - v) != 0.0f;
    }
    return bad;
}

/* Elements counted into the int32 counters between two flushes into int64: far below 2^31, and
 * small enough that tests/unit/test_observe_kernels.c crosses it. */
#define SUB_FLUSH ((int64_t)1 << 22)
/* One sub-histogram: nb bins, N_HOT * SPREAD hot-bin slots, and a pad so that sub-histograms
 * do not alias modulo 4 KiB (a load from one would wait behind a store to another). */
#define SUB_STRIDE(nb) ((nb) + N_HOT * SPREAD + 48)
/* int32 counters hist_run needs: 4 sub-histograms. */
#define WORK_N(nb) (4 * SUB_STRIDE(nb))

/* Counts x[0..n) into the int64 histogram h[0..nb) (added to it). w: WORK_N(nb) int32 counters,
 * zero on entry and again on return. Blocks are counted into one sub-histogram (the smallest
 * cache footprint), unless neighbours often share a counter (runs of one value that is not a
 * hot bin, e.g. flat image regions): then consecutive elements go to 4 sub-histograms so that
 * increments of one counter do not wait for each other. Returns 1 on NaN/Inf (h is complete
 * anyway). */
static int hist_run(const float *x, int64_t n, float lo, float inv, int absval, int64_t nb,
                    int64_t *h, int32_t *w)
{
    int32_t idx[BLOCK];
    const float top = (float)(nb - 1);
    const int32_t hot[N_HOT] = {0, hist_bin(0.0f, lo, inv, top), (int32_t)(nb - 1)};
    const int64_t st = SUB_STRIDE(nb);
    int32_t *w0 = w, *w1 = w + st, *w2 = w + 2 * st, *w3 = w + 3 * st;
    int bad = 0, nsub = 1;
    for (int64_t s0 = 0; s0 < n; s0 += SUB_FLUSH) {
        int64_t s1 = n - s0 < SUB_FLUSH ? n : s0 + SUB_FLUSH;
        for (int64_t i0 = s0; i0 < s1; i0 += BLOCK) {
            int m = (int)(s1 - i0 < BLOCK ? s1 - i0 : BLOCK);
            bad |= hist_index(x + i0, m, lo, inv, top, absval, hot, (int32_t)nb, idx);
            /* neighbours sharing a counter, sampled at 32 places (runs are long or absent) */
            int rep = 0;
            for (int j = 0; j + 1 < m; j += BLOCK / 32) rep += idx[j] == idx[j + 1];
            int32_t *v1 = w0, *v2 = w0, *v3 = w0;
            if (rep >= 4) {
                nsub = 4;
                v1 = w1;
                v2 = w2;
                v3 = w3;
            }
            int j = 0;
            for (; j + 4 <= m; j += 4) {
                w0[idx[j]]++;
                v1[idx[j + 1]]++;
                v2[idx[j + 2]]++;
                v3[idx[j + 3]]++;
            }
            for (; j < m; j++) w0[idx[j]]++;
        }
        for (int k = 0; k < nsub; k++) {
            int32_t *wk = w + k * st;
            for (int64_t i = 0; i < nb; i++) {
                h[i] += wk[i];
                wk[i] = 0;
            }
            for (int r = 0; r < N_HOT; r++)
                for (int64_t i = nb + r * SPREAD; i < nb + (r + 1) * SPREAD; i++) {
                    h[hot[r]] += wk[i];
                    wk[i] = 0;
                }
        }
    }
    return bad;
}

/* Counts x[0..n) straight into the int64 histogram h (per-channel rows; no hot bin). */
static int hist_run64(const float *x, int64_t n, float lo, float inv, int absval, int64_t nb,
                      int64_t *h)
{
    int32_t idx[BLOCK];
    const float top = (float)(nb - 1);
    const int32_t no_hot[N_HOT] = {-1, -1, -1};
    int bad = 0;
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        int m = (int)(n - i0 < BLOCK ? n - i0 : BLOCK);
        bad |= hist_index(x + i0, m, lo, inv, top, absval, no_hot, 0, idx);
        for (int j = 0; j < m; j++) h[idx[j]]++;
    }
    return bad;
}

static int n_threads(const pq_observer *o, int64_t work)
{
#ifdef _OPENMP
    if (work < PAR_MIN) return 1;
    int t = o->threads > 0 ? o->threads : omp_get_max_threads();
    return t < 1 ? 1 : t;
#else
    (void)o;
    (void)work;
    return 1;
#endif
}

static pq_status ensure_scratch(pq_observer *o, size_t n, pq_err *err)
{
    if (o->scratch_n >= n) return PQ_OK;
    pq_free(o->scratch);
    o->scratch = pq_malloc(n * sizeof(int64_t));
    o->scratch_n = o->scratch ? n : 0;
    if (!o->scratch)
        return pq_err_set(err, PQ_ERR_NOMEM, "tensor '%s': out of memory for observer scratch",
                          o->name);
    return PQ_OK;
}

/* Zeroed int32 sub-histograms; hist_run leaves them zero again. */
static pq_status ensure_work(pq_observer *o, size_t n, pq_err *err)
{
    if (o->work_n >= n) return PQ_OK;
    pq_free(o->work);
    o->work = pq_calloc(n, sizeof(int32_t));
    o->work_n = o->work ? n : 0;
    if (!o->work)
        return pq_err_set(err, PQ_ERR_NOMEM, "tensor '%s': out of memory for observer scratch",
                          o->name);
    return PQ_OK;
}

static int64_t first_nonfinite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

static pq_status nonfinite_error(const pq_observer *o, const pq_tensor *t, pq_err *err)
{
    const float *x = (const float *)t->data;
    int64_t i = first_nonfinite(x, t->numel);
    char shp[128];
    pq_shape_str(t->rank, t->dims, shp, sizeof shp);
    return pq_err_set(err, PQ_ERR_NUMERIC,
                      "tensor '%s' %s: non-finite value (%s) at flat index %lld (observer %s)",
                      o->name, shp, i >= 0 && isnan(x[i]) ? "NaN" : "Inf", (long long)i,
                      algo_names[o->algo]);
}

/* [outer, G, inner] view of t for the per-channel layout. */
static pq_status channel_view(const pq_observer *o, const pq_tensor *t, int64_t *outer,
                              int64_t *inner, pq_err *err)
{
    if (!o->per_channel) {
        *outer = 1;
        *inner = t->numel;
        return PQ_OK;
    }
    int ax = o->channel_axis < 0 ? o->channel_axis + t->rank : o->channel_axis;
    char shp[128];
    if (ax < 0 || ax >= t->rank || t->dims[ax] != o->G)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "tensor '%s' %s: per-channel observer expects %lld channels on axis %d",
                          o->name, pq_shape_str(t->rank, t->dims, shp, sizeof shp),
                          (long long)o->G, o->channel_axis);
    int64_t a = 1, b = 1;
    for (int d = 0; d < ax; d++) a *= t->dims[d];
    for (int d = ax + 1; d < t->rank; d++) b *= t->dims[d];
    *outer = a;
    *inner = b;
    return PQ_OK;
}

static pq_status observe_minmax(pq_observer *o, const pq_tensor *t, pq_err *err)
{
    pq_status st = PQ_OK;
    const float *x = (const float *)t->data;
    int64_t outer, inner;
    PQ_TRY(channel_view(o, t, &outer, &inner, err));
    int64_t G = o->G;
    int nt = n_threads(o, t->numel);
    int bad = 0;
    if (G == 1) {
        float mn[256], mx[256];
        int bads[256];
        if (nt > 256) nt = 256;
        int64_t n = t->numel, chunk = (n + nt - 1) / nt;
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
        for (int k = 0; k < nt; k++) {
            int64_t a = k * chunk, b = a + chunk < n ? a + chunk : n;
            mn[k] = INFINITY;
            mx[k] = -INFINITY;
            bads[k] = a < b ? minmax_run(x + a, b - a, &mn[k], &mx[k]) : 0;
        }
        float fmn = INFINITY, fmx = -INFINITY;
        for (int k = 0; k < nt; k++) {
            fmn = mn[k] < fmn ? mn[k] : fmn;
            fmx = mx[k] > fmx ? mx[k] : fmx;
            bad |= bads[k];
        }
        if (bad) return nonfinite_error(o, t, err);
        double dmn = (double)fmn + 0.0, dmx = (double)fmx + 0.0; /* -0 -> +0 */
        if (dmn < o->mn[0]) o->mn[0] = dmn;
        if (dmx > o->mx[0]) o->mx[0] = dmx;
    } else {
        PQ_TRY(ensure_scratch(o, (size_t)G, err));
        float *cmn = pq_malloc((size_t)G * sizeof(float)), *cmx = pq_malloc((size_t)G * sizeof(float));
        if (!cmn || !cmx) {
            pq_free(cmn);
            pq_free(cmx);
            return pq_err_set(err, PQ_ERR_NOMEM, "tensor '%s': out of memory", o->name);
        }
        for (int64_t g = 0; g < G; g++) {
            cmn[g] = INFINITY;
            cmx[g] = -INFINITY;
        }
        if (inner == 1) {
            /* channels last: vectorise across channels */
            for (int64_t r = 0; r < outer; r++) {
                const float *row = x + r * G;
                int bb = 0;
                for (int64_t g = 0; g < G; g++) {
                    float v = row[g];
                    cmn[g] = v < cmn[g] ? v : cmn[g];
                    cmx[g] = v > cmx[g] ? v : cmx[g];
                    bb |= (v - v) != 0.0f;
                }
                bad |= bb;
            }
        } else {
            int red = 0;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1) reduction(| : red)
            for (int64_t g = 0; g < G; g++)
                for (int64_t r = 0; r < outer; r++)
                    red |= minmax_run(x + (r * G + g) * inner, inner, &cmn[g], &cmx[g]);
            bad = red;
        }
        if (!bad) {
            for (int64_t g = 0; g < G; g++) {
                double dmn = (double)cmn[g] + 0.0, dmx = (double)cmx[g] + 0.0;
                if (dmn < o->mn[g]) o->mn[g] = dmn;
                if (dmx > o->mx[g]) o->mx[g] = dmx;
            }
        }
        pq_free(cmn);
        pq_free(cmx);
        if (bad) return nonfinite_error(o, t, err);
    }
    o->count1 += t->numel;
    return PQ_OK;
fail:
    return st;
}

static pq_status observe_hist(pq_observer *o, const pq_tensor *t, pq_err *err)
{
    pq_status st = PQ_OK;
    const float *x = (const float *)t->data;
    int64_t outer, inner, nb = o->nb, G = o->G;
    PQ_TRY(channel_view(o, t, &outer, &inner, err));
    int absval = o->kind == PQ__HIST_ABS;
    int nt = n_threads(o, t->numel);
    int bad = 0;
    if (G == 1) {
        /* per thread: hist_run's int32 counters summed into an int64 partial, the partials
         * into the state in thread order, only when all values were finite (integer sums:
         * exact) */
        if (nt > 256) nt = 256;
        int64_t n = t->numel, chunk = (n + nt - 1) / nt;
        PQ_TRY(ensure_scratch(o, (size_t)nb * (size_t)nt, err));
        PQ_TRY(ensure_work(o, (size_t)WORK_N(nb) * (size_t)nt, err));
        int bads[256];
        int64_t *scr = o->scratch;
        float lo = o->h_lof[0], inv = o->h_inv[0];
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
        for (int k = 0; k < nt; k++) {
            int64_t *h = scr + (size_t)k * (size_t)nb;
            memset(h, 0, (size_t)nb * sizeof(int64_t));
            int64_t a = k * chunk, b = a + chunk < n ? a + chunk : n;
            bads[k] = a < b ? hist_run(x + a, b - a, lo, inv, absval, nb, h,
                                       o->work + (size_t)k * (size_t)WORK_N(nb))
                            : 0;
        }
        for (int k = 0; k < nt; k++) bad |= bads[k];
        if (bad) return nonfinite_error(o, t, err);
        for (int k = 0; k < nt; k++) {
            const int64_t *h = scr + (size_t)k * (size_t)nb;
            for (int64_t i = 0; i < nb; i++) o->hist[i] += h[i];
        }
    } else {
        /* one pending histogram per channel (disjoint writes), committed when all finite */
        PQ_TRY(ensure_scratch(o, (size_t)(G * nb), err));
        int64_t *pend = o->scratch;
        memset(pend, 0, (size_t)(G * nb) * sizeof(int64_t));
        int red = 0;
        if (inner == 1) {
            for (int64_t r = 0; r < outer; r++)
                for (int64_t g = 0; g < G; g++)
                    red |= hist_run64(x + r * G + g, 1, o->h_lof[g], o->h_inv[g], absval, nb,
                                      pend + g * nb);
        } else {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1) reduction(| : red)
            for (int64_t g = 0; g < G; g++)
                for (int64_t r = 0; r < outer; r++)
                    red |= hist_run64(x + (r * G + g) * inner, inner, o->h_lof[g], o->h_inv[g],
                                      absval, nb, pend + g * nb);
        }
        if (red) return nonfinite_error(o, t, err);
        for (int64_t i = 0; i < G * nb; i++) o->hist[i] += pend[i];
    }
    o->count2 += t->numel;
    return PQ_OK;
fail:
    return st;
}

/* Isotone: per row, the largest value l1 and the second largest l2 (l2 == l1 on a tie).
 * The row keeps its order under scale s when s <= 2 (l1 - l2) (the two round apart) and
 * s >= |l2| / (P - 1) (l2 is not clipped onto the top level). Both bounds are counted on
 * the fixed log grid. */
static pq_status observe_isotone(pq_observer *o, const pq_tensor *t, pq_err *err)
{
    pq_status st = PQ_OK;
    const float *x = (const float *)t->data;
    int ax = o->iso_axis < 0 ? o->iso_axis + t->rank : o->iso_axis;
    if (t->rank == 0 || t->rank == 1) ax = 0;
    char shp[128];
    PQ_CHECK(ax >= 0 && ax < (t->rank > 0 ? t->rank : 1), PQ_ERR_INVALID,
             "tensor '%s' %s: isotone row axis %d out of range", o->name,
             pq_shape_str(t->rank, t->dims, shp, sizeof shp), o->iso_axis);
    int64_t R = 1, L = 1;
    for (int d = 0; d < ax; d++) R *= t->dims[d];
    for (int d = ax; d < t->rank; d++) L *= t->dims[d];
    PQ_CHECK(L >= 2, PQ_ERR_INVALID,
             "tensor '%s' %s: isotone rows need at least 2 elements (axis %d)", o->name,
             pq_shape_str(t->rank, t->dims, shp, sizeof shp), o->iso_axis);
    int nt = n_threads(o, t->numel);
    if (nt > 256) nt = 256;
    size_t per = 2 * (size_t)PQ__ISO_NB;
    PQ_TRY(ensure_scratch(o, per * (size_t)nt, err));
    float mn[256], mx[256];
    int bads[256];
    int64_t *scr = o->scratch;
    int64_t chunk = (R + nt - 1) / nt;
    double den = o->iso_levels - 1;
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
    for (int k = 0; k < nt; k++) {
        int64_t *hmax = scr + (size_t)k * per, *hmin = hmax + PQ__ISO_NB;
        memset(hmax, 0, per * sizeof(int64_t));
        mn[k] = INFINITY;
        mx[k] = -INFINITY;
        bads[k] = 0;
        int64_t a = k * chunk, b = a + chunk < R ? a + chunk : R;
        for (int64_t r = a; r < b; r++) {
            const float *row = x + r * L;
            bads[k] |= minmax_run(row, L, &mn[k], &mx[k]);
            float l1 = -INFINITY, l2 = -INFINITY;
            for (int64_t i = 0; i < L; i++) {
                float v = row[i];
                if (v > l1) {
                    l2 = l1;
                    l1 = v;
                } else if (v > l2) {
                    l2 = v;
                }
            }
            hmax[pq__iso_bin(2.0 * ((double)l1 - (double)l2))]++;
            hmin[pq__iso_bin(fabs((double)l2) / den)]++;
        }
    }
    int bad = 0;
    float fmn = INFINITY, fmx = -INFINITY;
    for (int k = 0; k < nt; k++) {
        bad |= bads[k];
        fmn = mn[k] < fmn ? mn[k] : fmn;
        fmx = mx[k] > fmx ? mx[k] : fmx;
    }
    if (bad) return nonfinite_error(o, t, err);
    for (int k = 0; k < nt; k++) {
        const int64_t *hmax = scr + (size_t)k * per, *hmin = hmax + PQ__ISO_NB;
        for (int64_t i = 0; i < PQ__ISO_NB; i++) {
            o->iso_hmax[i] += hmax[i];
            o->iso_hmin[i] += hmin[i];
        }
    }
    double dmn = (double)fmn + 0.0, dmx = (double)fmx + 0.0;
    if (dmn < o->mn[0]) o->mn[0] = dmn;
    if (dmx > o->mx[0]) o->mx[0] = dmx;
    o->count1 += t->numel;
    o->n_rows += R;
    return PQ_OK;
fail:
    return st;
}

pq_status pq_observer_observe(pq_observer *o, const pq_tensor *t, pq_err *err)
{
    char buf[160];
    if (t->dtype != PQ_DTYPE_FLOAT32)
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "tensor '%s' %s: observers take float32",
                          o->name, pq_tensor_describe(t, buf, sizeof buf));
    if (t->numel <= 0)
        return pq_err_set(err, PQ_ERR_INVALID, "tensor '%s' %s: observing an empty tensor",
                          o->name, pq_tensor_describe(t, buf, sizeof buf));
    if (o->pass == 0)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "tensor '%s': observer %s: every pass has ended", o->name,
                          algo_names[o->algo]);
    o->computed = 0;
    if (o->algo == PQ_OBS_ISOTONE) return observe_isotone(o, t, err);
    if (o->pass == 1) return observe_minmax(o, t, err);
    return observe_hist(o, t, err);
}

/* ------------------------------------------------------------------ compute */

void pq_obs_range_to_scale(double lo, double hi, const pq_tqc *q, int round_up, float *scale,
                           float *offset)
{
    if (lo > 0) lo = 0;
    if (hi < 0) hi = 0;
    int asym = (q->policy & PQ_QPOLICY_ASYMMETRIC) != 0;
    double qr = (double)(q->quant_max - q->quant_min);
    double s = asym ? (hi - lo) / qr : 2.0 * fmax(-lo, hi) / qr;
    if (!(s >= PQ_OBS_MIN_SCALE)) s = PQ_OBS_MIN_SCALE;
    if (q->policy & PQ_QPOLICY_POWER_OF_2)
        s = round_up ? exp2(ceil(log2(s))) : exp2(floor(log2(s) + 0.5));
    float sf = (float)s;
    double off = 0;
    if (asym) {
        off = rint((double)q->quant_min - lo / (double)sf);
        if (off < (double)q->quant_min) off = (double)q->quant_min;
        if (off > (double)q->quant_max) off = (double)q->quant_max;
    }
    *scale = sf;
    *offset = (float)(off + 0.0);
}

pq_status pq_observer_compute(pq_observer *o, pq_tqc *tqc, pq_err *err)
{
    pq_status st = PQ_OK;
    float *sc = NULL, *of = NULL;
    PQ_CHECK(o->pass == 0, PQ_ERR_INVALID,
             "tensor '%s': observer %s: pass %d of %d has not ended", o->name,
             algo_names[o->algo], o->pass, o->n_passes);
    PQ_CHECK(o->count1 > 0, PQ_ERR_INVALID, "tensor '%s': observer %s saw no data", o->name,
             algo_names[o->algo]);
    PQ_CHECK(tqc->quant_max - tqc->quant_min >= 2 && tqc->quant_min <= 0 && tqc->quant_max > 0 &&
                 tqc->num_bits >= 2 && tqc->num_bits <= 16,
             PQ_ERR_INVALID, "tensor '%s': TQC quant range [%lld, %lld] / %d bits is invalid",
             o->name, (long long)tqc->quant_min, (long long)tqc->quant_max, tqc->num_bits);
    PQ_CHECK(((tqc->policy & PQ_QPOLICY_PER_CHANNEL) != 0) == (o->per_channel != 0),
             PQ_ERR_INVALID, "tensor '%s': TQC and observer disagree on per-channel", o->name);
    sc = pq_malloc((size_t)o->G * sizeof(float));
    of = pq_malloc((size_t)o->G * sizeof(float));
    PQ_CHECK(sc && of, PQ_ERR_NOMEM, "tensor '%s': out of memory", o->name);
    for (int64_t g = 0; g < o->G; g++) PQ_TRY(pq__compute_group(o, g, tqc, &sc[g], &of[g], err));
    PQ_TRY(pq_tqc_set_channels(tqc, o->G, err));
    memcpy(tqc->scale, sc, (size_t)o->G * sizeof(float));
    memcpy(tqc->offset, of, (size_t)o->G * sizeof(float));
    o->computed = 1;
fail:
    pq_free(sc);
    pq_free(of);
    return st;
}

pq_status pq_observer_clip_range(const pq_observer *o, int64_t c, double *lo, double *hi,
                                 pq_err *err)
{
    if (!o->computed || c < 0 || c >= o->G)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "tensor '%s': no clip range for channel %lld (computed: %d)", o->name,
                          (long long)c, o->computed);
    *lo = o->clip_lo[c];
    *hi = o->clip_hi[c];
    return PQ_OK;
}

pq_status pq_observer_histogram(const pq_observer *o, int64_t c, int64_t *n_bins,
                                const int64_t **counts, double *lo, double *hi, int *abs_values,
                                pq_err *err)
{
    *n_bins = 0;
    *counts = NULL;
    *lo = *hi = 0;
    *abs_values = 0;
    if (c < 0 || c >= o->G)
        return pq_err_set(err, PQ_ERR_INVALID, "tensor '%s': no channel %lld (%lld channels)",
                          o->name, (long long)c, (long long)o->G);
    /* The histogram is complete once pass 2 has ended (pass 0 = finished). */
    if (o->nb <= 0 || !o->hist || o->n_passes < 2 || o->pass != 0) return PQ_OK;
    *n_bins = o->nb;
    *counts = o->hist + c * o->nb;
    *lo = o->h_lo[c];
    *hi = o->h_hi[c];
    *abs_values = o->kind == PQ__HIST_ABS;
    return PQ_OK;
}

int64_t pq_observer_n_channels(const pq_observer *o) { return o->G; }

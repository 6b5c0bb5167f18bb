/* pq_observe.h - calibration observers: mergeable statistics of activations and the
 * scale/offset computation from them.
 *
 * An observer watches one activation TQC. It folds every float32 tensor it is shown into a
 * state made of flat double/int64 segments, each with a merge rule (MIN, MAX or SUM). States
 * are MERGEABLE: merging the states of any split of the data (batches, ranks) gives bitwise
 * the state of the whole, so an MPI layer can all-reduce them segment by segment without
 * knowing the algorithm (pq_observer_state), and every scale is a function of the merged
 * state only. See docs/calibration.md for the algorithms, statistics and formulas.
 *
 * Life cycle (collective steps are the caller's; nothing here talks to MPI):
 *
 *   pq_observer_create(...)
 *   for pass in 1 .. pq_observer_n_passes(obs):
 *       pq_observer_observe(obs, t) for every batch seen by this rank
 *       all-reduce the segments of pq_observer_state(obs)      (MPI layer)
 *       pq_observer_end_pass(obs)                               (every rank, same state)
 *   pq_observer_compute(obs, tqc)                               (writes scale/offset)
 *
 * Pass 1 of every algorithm collects min/max (per tensor or per channel); histogram
 * algorithms (percentile, kl*, mse) have a pass 2 that counts values into int64 bins over
 * a range fixed by the merged pass-1 min/max. pq_observer_state only exposes the segments
 * of the current pass, so a SUM segment is never reduced twice.
 *
 * Observers never keep tensor pointers. Not thread-safe per observer (one observer per
 * TQC; observe() may use OpenMP threads inside, with results independent of their count).
 */
#ifndef PQ_OBSERVE_H
#define PQ_OBSERVE_H

#include "pq_core.h"
#include "pq_ir.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pq_observer pq_observer;

typedef enum pq_obs_algo {
    PQ_OBS_MINMAX = 0,
    PQ_OBS_PERCENTILE,
    PQ_OBS_KL_TRT,     /* "kl", "kl_trt": TensorRT entropy calibration */
    PQ_OBS_KL_PPQ,     /* "kl_ppq": PPQ's variant of it */
    PQ_OBS_MSE,
    PQ_OBS_ISOTONE,
    PQ_OBS_ALGO_COUNT
} pq_obs_algo;

/* Element type and merge rule of one state segment. */
typedef enum pq_obs_type { PQ_OBS_F64 = 0, PQ_OBS_I64 = 1 } pq_obs_type;
typedef enum pq_obs_rule { PQ_OBS_RULE_MIN = 0, PQ_OBS_RULE_MAX = 1, PQ_OBS_RULE_SUM = 2 } pq_obs_rule;

/* One segment of an observer's state: `count` elements of `type` at `data` (double or
 * int64_t), merged element-wise by `rule`. The identity of each rule is the initial value
 * (MIN: +inf, MAX: -inf, SUM: 0), so a rank that saw no data merges as a no-op. */
typedef struct pq_obs_segment {
    void *data;        /* borrowed; valid until the next end_pass or destroy */
    int64_t count;
    pq_obs_type type;
    pq_obs_rule rule;
} pq_obs_segment;

#define PQ_OBS_MAX_SEGMENTS 8

/* Options; zero-initialised fields take the defaults. */
typedef struct pq_observer_opts {
    int64_t n_bins;      /* histogram bins: percentile 4096, kl_trt 2048, kl_ppq 4096, mse 2048 */
    double percentile;   /* percentile observer: fraction kept, default 0.9999 */
    int isotone_axis;    /* isotone: rows are the tensor flattened to [prod(dims[:axis]),
                            prod(dims[axis:])]; 0 = default 1 (PPQ: flatten(start_dim=1));
                            negative counts from the end (-1: last axis) */
    int threads;         /* OpenMP threads for observe(); 0 = omp_get_max_threads() */
} pq_observer_opts;

/* Parses an algorithm name ("minmax", "percentile", "kl", "kl_trt", "kl_ppq", "mse",
 * "isotone"); PQ_ERR_CONFIG for an unknown one. */
pq_status pq_obs_algo_parse(const char *name, pq_obs_algo *out, pq_err *err);
const char *pq_obs_algo_name(pq_obs_algo algo);

/* Creates an observer for the TQC of tensor `tensor_name` (copied, used in messages).
 * algorithm: a name as above; NULL takes tqc->observer. From the TQC it reads the policy
 * (symmetric/asymmetric, per-tensor/per-channel, channel_axis), num_bits, quant_min/max.
 * n_channels: the size of the channel axis for PER_CHANNEL (> 0), ignored per tensor.
 * opts may be NULL. Errors: PQ_ERR_CONFIG (unknown algorithm, invalid option),
 * PQ_ERR_UNSUPPORTED (isotone per channel), PQ_ERR_INVALID (bad TQC), PQ_ERR_NOMEM.
 * *out is NULL on failure. */
pq_status pq_observer_create(const char *algorithm, const pq_tqc *tqc, const char *tensor_name,
                             int64_t n_channels, const pq_observer_opts *opts,
                             pq_observer **out, pq_err *err);
/* Frees the observer; accepts NULL; sets *obs to NULL. */
void pq_observer_destroy(pq_observer **obs);

pq_obs_algo pq_observer_algo(const pq_observer *obs);
/* Channels of the observer: n_channels per channel, 1 per tensor. */
int64_t pq_observer_n_channels(const pq_observer *obs);
/* Number of passes over the calibration data: 1 (minmax, isotone) or 2 (histograms). */
int pq_observer_n_passes(const pq_observer *obs);
/* Current pass (1 or 2), or 0 once every pass has ended. */
int pq_observer_pass(const pq_observer *obs);

/* Folds a float32 tensor into the state of the current pass. Per channel, the tensor's
 * dims[channel_axis] must equal n_channels. Errors: PQ_ERR_UNSUPPORTED (not float32),
 * PQ_ERR_INVALID (shape, empty tensor, no pass running), PQ_ERR_NUMERIC (NaN/Inf: the
 * message names the tensor, its shape and the first flat index). On error the state is
 * unchanged (a tensor is folded entirely or not at all). */
pq_status pq_observer_observe(pq_observer *obs, const pq_tensor *t, pq_err *err);

/* Describes the state of the current pass: fills segs[0..n) and returns n (<=
 * PQ_OBS_MAX_SEGMENTS); 0 when no pass is running. The layout depends only on the
 * algorithm, options and TQC, never on the data, so it is the same on every rank. */
int pq_observer_state(pq_observer *obs, pq_obs_segment segs[PQ_OBS_MAX_SEGMENTS]);

/* dst = merge(dst, src) segment by segment (what an all-reduce does). Both must have the
 * same algorithm, layout and current pass; PQ_ERR_INVALID otherwise. */
pq_status pq_observer_merge(pq_observer *dst, const pq_observer *src, pq_err *err);

/* Ends the current pass. Call it once the pass's state has been merged over all data
 * (on every rank, with identical states). After pass 1 of a histogram observer it fixes
 * the histogram range from the merged min/max and starts pass 2. PQ_ERR_INVALID when no
 * pass is running; PQ_ERR_INVALID naming the tensor when pass 1 saw no data. */
pq_status pq_observer_end_pass(pq_observer *obs, pq_err *err);

/* Computes scale and offset from the merged final state and writes them into tqc
 * (pq_tqc_set_channels; n_channels = 1 per tensor). tqc->state is left to the caller.
 * Only policy, num_bits and quant_min/max of tqc are read. Errors: PQ_ERR_INVALID (passes
 * not finished, no data, TQC mismatch, negative data for asymmetric isotone), PQ_ERR_NOMEM.
 * The TQC is unchanged on failure. */
pq_status pq_observer_compute(pq_observer *obs, pq_tqc *tqc, pq_err *err);

/* The same result as plain numbers, for processes that split the computation: 4 doubles per
 * channel (scale, offset, clip low, clip high), pq_observer_result_len of them.
 * compute_result fills out without touching tqc; apply_result sets tqc's scales and offsets
 * and the clip range from such numbers, as pq_observer_compute would have. */
int64_t pq_observer_result_len(const pq_observer *o);
pq_status pq_observer_compute_result(pq_observer *o, const pq_tqc *tqc, double *out,
                                     pq_err *err);
pq_status pq_observer_apply_result(pq_observer *o, pq_tqc *tqc, const double *in, pq_err *err);

/* The clip range the algorithm chose for channel c (per tensor: c = 0), available after a
 * successful pq_observer_compute: [lo, hi] before the TQC grid is applied (isotone: the
 * range of its scale). For reports and tests. */
pq_status pq_observer_clip_range(const pq_observer *obs, int64_t c, double *lo, double *hi,
                                 pq_err *err);

/* The pass-2 histogram of channel c (per tensor: c = 0), for reports: *n_bins counts at
 * *counts (borrowed; valid until the observer is destroyed) over [*lo, *hi], bin k covering
 * [lo + k w, lo + (k+1) w), w = (hi - lo) / n_bins. *abs_values is 1 when the bins count
 * |x| (symmetric percentile, kl), 0 when they count x. *n_bins is 0 (and *counts NULL) for
 * algorithms without a histogram (minmax, isotone) or before pass 2 has ended.
 * PQ_ERR_INVALID for a channel out of range. */
pq_status pq_observer_histogram(const pq_observer *obs, int64_t c, int64_t *n_bins,
                                const int64_t **counts, double *lo, double *hi, int *abs_values,
                                pq_err *err);

/* Scale and offset of a clip range [lo, hi] under a TQC (docs/calibration.md, "Scale"):
 * zero is added to the range; symmetric: scale = 2*max(-lo, hi) / (quant_max - quant_min),
 * offset 0; asymmetric: scale = (hi - lo) / (quant_max - quant_min), offset =
 * clamp(rint(quant_min - lo / scale), quant_min, quant_max); scale >= 1e-8; with
 * POWER_OF_2 the scale is rounded to a power of two (up when round_up, else to the nearest
 * in log2, half up) before the offset is computed. */
void pq_obs_range_to_scale(double lo, double hi, const pq_tqc *tqc, int round_up,
                           float *scale, float *offset);

/* PPQ's minimum scale (OBSERVER_MIN_SCALE). */
#define PQ_OBS_MIN_SCALE 1e-8

#ifdef __cplusplus
}
#endif
#endif /* PQ_OBSERVE_H */

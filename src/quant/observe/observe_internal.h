/* observe_internal.h - the observer struct and helpers shared by the observer sources.
 * Never included from outside src/quant/observe. */
#ifndef PQ_OBSERVE_INTERNAL_H
#define PQ_OBSERVE_INTERNAL_H

#include "pq_observe.h"

/* Isotone log grid: bin 0 holds v < 2^-40 (and 0), bins 1 .. PQ__ISO_NB-2 are 128 bins per
 * octave over [2^-40, 2^40) (the top 7 mantissa bits of the double), the last bin holds
 * v >= 2^40. */
#define PQ__ISO_OCTAVES 80
#define PQ__ISO_SUB_BITS 7
#define PQ__ISO_NB ((int64_t)PQ__ISO_OCTAVES * (1 << PQ__ISO_SUB_BITS) + 2)

/* Histogram kind of pass 2. */
typedef enum pq__hist_kind {
    PQ__HIST_NONE = 0,
    PQ__HIST_ABS,     /* |x| over [0, A], A = max(|min|, |max|) */
    PQ__HIST_SIGNED,  /* x over [-A, A] */
    PQ__HIST_RANGE    /* x over [min(min, 0), max(max, 0)] */
} pq__hist_kind;

struct pq_observer {
    pq_obs_algo algo;
    char *name;                 /* tensor name, for messages */
    unsigned policy;
    int symmetric, per_channel, channel_axis, num_bits;
    int64_t quant_min, quant_max;
    int64_t G;                  /* groups: n_channels per channel, 1 per tensor */
    int64_t nb;                 /* histogram bins (0: no histogram) */
    double percentile;
    int iso_axis;               /* isotone row axis as given (negative from the end) */
    int threads;
    int n_passes, pass;         /* pass: 1, 2, or 0 when finished */

    /* pass 1 (MIN, MAX, SUM) */
    double *mn, *mx;            /* [G] */
    int64_t count1;             /* elements observed in pass 1 */
    /* pass 2 */
    pq__hist_kind kind;
    double *h_lo, *h_hi;        /* [G] histogram range, fixed at the end of pass 1 */
    float *h_lof, *h_inv;       /* [G] float32 binning constants */
    int64_t *hist;              /* [G][nb] */
    int64_t count2;
    /* isotone (pass 1 only) */
    int64_t *iso_hmax, *iso_hmin; /* [PQ__ISO_NB] upper / lower scale bounds per row */
    int64_t n_rows;
    double iso_levels;          /* positive levels P: scale >= l2 / (P - 1) */

    /* results of compute */
    double *clip_lo, *clip_hi;  /* [G] */
    int computed;

    /* scratch for observe (not state) */
    int64_t *scratch;
    size_t scratch_n;           /* elements */
    int32_t *work;              /* int32 sub-histograms of pass 2, zero between calls */
    size_t work_n;              /* elements */
};

/* Bin index of v >= 0 on the isotone log grid, and the lower edge of bin b (1..NB-1). */
int64_t pq__iso_bin(double v);
double pq__iso_edge(int64_t b);

/* Nominal histogram edge k (0..nb) of group g: lo + (hi - lo) * (k / nb). */
double pq__hist_edge(const pq_observer *o, int64_t g, double k);

/* Algorithms on the merged state; fill clip_lo/clip_hi[g] or scale directly. */
pq_status pq__compute_group(pq_observer *o, int64_t g, const pq_tqc *tqc, float *scale,
                            float *offset, pq_err *err);

#endif /* PQ_OBSERVE_INTERNAL_H */

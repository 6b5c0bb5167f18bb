/* reduce_walk.h - the reduction walker shared by Reduce*, ArgMax/ArgMin (reduce.c) and the
 * normalisations that reduce over arbitrary axes (norm.c). Internal to src/exec/ops.
 *
 * A plan describes a row-major input of shape dims with a set of reduced axes as
 *
 *     for o in [0, n_outer):                        kept axes before the last reduced one
 *         base = outer_offset(o)
 *         for t in [0, n_rtab):                     reduced axes except the last group
 *             for l in [0, red_len):                the last (innermost) reduced group
 *                 for i in [0, inner):              trailing kept axes, contiguous
 *                     x[base + rtab[t] + l * inner + i]   reduces into   y[o * inner + i]
 *
 * after dropping axes of extent 1 and merging neighbouring axes that are both kept or both
 * reduced. The output index o * inner + i is the row-major index over the kept axes, so the
 * output can be laid out with or without keepdims unchanged. rtab has one entry (0) unless
 * the reduced axes form several groups separated by kept axes.
 */
#ifndef PQ_REDUCE_WALK_H
#define PQ_REDUCE_WALK_H

#include "../exec_internal.h"

typedef struct pq__reduce_plan {
    int64_t n_outer;                 /* product of kept extents before the last reduced group */
    int64_t inner;                   /* product of kept extents after it (contiguous run) */
    int64_t red_len;                 /* extent of the last reduced group */
    int64_t n_rtab;                  /* entries in rtab */
    int64_t n_red;                   /* reduced elements per output: n_rtab * red_len */
    int64_t *rtab;                   /* input offsets (elements) of the outer reduced groups */
    int n_kdims;                     /* merged kept groups before the last reduced group */
    int64_t kdims[PQ_MAX_RANK];      /* their extents, outermost first */
    int64_t kstrides[PQ_MAX_RANK];   /* their input strides (elements) */
    int out_rank;                    /* output rank (with or without keepdims) */
    int64_t out_dims[PQ_MAX_RANK];
    int64_t out_numel;               /* n_outer * inner */
} pq__reduce_plan;

/* Builds a plan for an input of shape dims[0..rank) reducing the axes with reduced[a] != 0.
 * keepdims chooses the output shape only. Returns PQ_ERR_NOMEM or PQ_OK; free with
 * pq__reduce_plan_free (also after a failure). */
pq_status pq__reduce_plan_init(pq__reduce_plan *p, int rank, const int64_t *dims,
                               const uint8_t *reduced, int keepdims, pq_err *err);
void pq__reduce_plan_free(pq__reduce_plan *p);

/* Input offset (elements) of outer block o. */
static inline int64_t pq__reduce_outer_offset(const pq__reduce_plan *p, int64_t o)
{
    int64_t off = 0;
    for (int d = p->n_kdims - 1; d >= 0; d--) {
        int64_t q = o / p->kdims[d];
        off += (o - q * p->kdims[d]) * p->kstrides[d];
        o = q;
    }
    return off;
}

/* Normalises ONNX axes (negative counts from the back) into a mask over rank axes.
 * Fails with PQ_ERR_INVALID on an axis out of range or given twice. */
pq_status pq__reduce_axes_mask(int rank, const int64_t *axes, int64_t n_axes, uint8_t *mask,
                               pq_err *err);

/* float16/bfloat16 <-> float32 staging for kernels written for float and double:
 * pq__half_to_f32 reads x (FLOAT16 or BFLOAT16) into dst[0..numel); pq__f32_to_half writes
 * src into y (FLOAT16 or BFLOAT16), rounding to nearest even. */
void pq__half_to_f32(const pq_tensor *x, float *dst);
void pq__f32_to_half(const float *src, pq_tensor *y);

/* OpenMP helpers shared by the family files. The project builds at -O2, where GCC only
 * vectorises loops its "very cheap" cost model accepts; `omp simd` asks for the hot loops
 * explicitly (and lets sums be reassociated). Without OpenMP they expand to nothing. */
#ifdef _OPENMP
#define PQ__PRAGMA(x) _Pragma(#x)
#define PQ__SIMD PQ__PRAGMA(omp simd)
#define PQ__SIMD_SUM(v) PQ__PRAGMA(omp simd reduction(+ : v))
#define PQ__PARALLEL_FOR(cond) PQ__PRAGMA(omp parallel for schedule(static) if (cond))
#else
#define PQ__SIMD
#define PQ__SIMD_SUM(v)
#define PQ__PARALLEL_FOR(cond)
#endif

/* Whether a kernel loop over `work` elements is worth an OpenMP team. */
#define PQ__PARALLEL_MIN_WORK ((int64_t)1 << 16)

#endif /* PQ_REDUCE_WALK_H */

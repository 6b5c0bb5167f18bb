/* winograd.h - Winograd F(2x2, 3x3) convolution for the conv family (src/exec/ops only). */
#ifndef PQ_WINOGRAD_H
#define PQ_WINOGRAD_H

#include "../exec_internal.h"

/* Shape of a dense (group 1) 3x3 convolution with stride 1 and dilation 1: x is
 * [N, C, H, W], w [M, C, 3, 3], y [N, M, OH, OW] with OH = H + pt + pb - 2 (likewise OW);
 * pt/pl are the top/left pads (the bottom/right ones follow from OH/OW). */
typedef struct pq_wino_shape {
    int64_t N, C, H, W, M, OH, OW, pt, pl;
} pq_wino_shape;

/* Whether the Winograd path is used for this shape (large enough to pay for the
 * transforms, small enough for int BLAS dimensions). */
int pq__winograd_applies(const pq_wino_shape *s);

/* y = conv(x, w) + bias, each value clamped to [lo, hi] (-inf, +inf: no clamp), through
 * 16 GEMMs per chunk of 2x2 output tiles. Per output element the result does not depend on
 * N or on which chunk holds its tile (chunks are whole multiples of 16 tiles), so a sample
 * gives the same bits in any batch. */
pq_status pq__conv3x3_winograd_f32(pq_exec_node *n, const pq_wino_shape *s, const float *x,
                                   const float *w, const float *bias, float *y, float lo,
                                   float hi, pq_err *err);

#endif /* PQ_WINOGRAD_H */

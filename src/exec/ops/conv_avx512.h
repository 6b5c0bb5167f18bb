/* conv_avx512.h - AVX-512 depthwise 3x3 and pointwise convolution kernels for the conv family
 * (src/exec/ops only). */
#ifndef PQ_CONV_AVX512_H
#define PQ_CONV_AVX512_H

#include <stdint.h>

/* Whether pq__dw3x3_plane_avx512 can run a depthwise convolution with kernel k, strides s,
 * dilations d and begin pads pb (2-D): a 3x3 kernel, dilation 1, stride 1x1 or 2x2, begin
 * pads of at most 2, and a CPU with AVX-512F (PQ_NO_AVX512 set in the environment: never,
 * so that tests reach the portable loops on the same machine). */
int pq__dw3x3_avx512_applies(const int64_t k[2], const int64_t s[2], const int64_t d[2],
                             const int64_t pb[2]);

/* One (image, channel) plane: y [OH, OW] = clamp(bv + sum of w9 [3, 3] x the 3x3 window of
 * x [H, W] at (oh * stride - pt, ow * stride - pl)), the padding reading as zeros; the clamp
 * is v < lo ? lo : v, then v > hi ? hi : v (NaN kept; -inf, +inf: the identity). Taps are
 * summed in the order bias, kernel rows, kernel columns with fused multiply-adds. Reads and
 * writes no element outside x and y (masked loads and stores). */
void pq__dw3x3_plane_avx512(const float *x, int64_t H, int64_t W, const float *w9, float bv,
                            float *y, int64_t OH, int64_t OW, int stride, int64_t pt,
                            int64_t pl, float lo, float hi);

/* Pointwise weights (M x K floats) up to which pq__conv1x1_avx512 is used: the whole of W is
 * read for every 32 columns, so it must stay in the first cache levels. */
#ifndef PQ_CONV1X1_AVX512_MAX_WEIGHTS
#define PQ_CONV1X1_AVX512_MAX_WEIGHTS (16 * 1024)
#endif

/* Whether pq__conv1x1_avx512 runs a pointwise convolution of M output and K input channels
 * (a CPU with AVX-512F, PQ_NO_AVX512 unset, M x K within the bound above). */
int pq__conv1x1_avx512_applies(int64_t M, int64_t K);

/* y [M, ncols] (rows ldy apart) = clamp(bias + w [M, K] x [K, ncols] (rows ldx apart)),
 * bias NULL for none, the clamp as above. Each output is bias + w[m][0] x[0] + ... summed in
 * that order with fused multiply-adds, so a column's result does not depend on ncols or on
 * where the columns start. */
void pq__conv1x1_avx512(const float *w, int64_t M, int64_t K, const float *x, int64_t ldx,
                        const float *bias, float *y, int64_t ldy, int64_t ncols, float lo,
                        float hi);

#endif /* PQ_CONV_AVX512_H */

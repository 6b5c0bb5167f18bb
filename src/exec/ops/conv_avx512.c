/* conv_avx512.c - AVX-512 kernels of the conv family for MobileNet-style layers: depthwise
 * 3x3 planes and pointwise (1x1) convolutions with few input channels.
 *
 * Depthwise: a plane is computed 16 output columns at a time, straight from the unpadded
 * input: each kernel row contributes three masked loads (stride 1) or three masked loads
 * split into even and odd columns (stride 2), the lanes outside the image masked to zero, so
 * there is no padded copy and no border case, and rows as narrow as 7 columns cost one
 * vector. The 9 weights and the bias stay in registers for the whole plane; the clamp of a
 * fused Relu / Clip epilogue is applied before the single store.
 *
 * Pointwise: y = bias + W x as a register-blocked product, 12 output channels x 32 columns
 * of accumulators, each step of the input channels one load of two x vectors and 12
 * broadcasts of W. Unlike sgemm there is no separate pass to clear or scale y and none to
 * add the bias and clamp afterwards: y is written once, which is what the small-K layers of
 * MobileNet (16 to 192 input channels over 112x112 to 28x28 images) are bound by.
 */
#include "conv_avx512.h"

#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* 1 when the CPU has AVX-512F and PQ_NO_AVX512 is not set. */
static int have_avx512(void)
{
    static int cpu = -1;
    if (cpu < 0) cpu = __builtin_cpu_supports("avx512f") && !getenv("PQ_NO_AVX512");
    return cpu;
}

int pq__dw3x3_avx512_applies(const int64_t k[2], const int64_t s[2], const int64_t d[2],
                             const int64_t pb[2])
{
    return have_avx512() && k[0] == 3 && k[1] == 3 && d[0] == 1 && d[1] == 1 && s[0] == s[1] &&
           (s[0] == 1 || s[0] == 2) && pb[0] >= 0 && pb[0] <= 2 && pb[1] >= 0 && pb[1] <= 2;
}

/* The lanes [first, end) of a vector, clipped to 0..16. */
static inline __mmask16 lanes(int64_t first, int64_t end)
{
    if (first < 0) first = 0;
    if (end > 16) end = 16;
    if (end <= first) return 0;
    return (__mmask16)((((uint32_t)1 << end) - 1) & ~(((uint32_t)1 << first) - 1));
}

/* The three taps of input row ih (x is H x W, zero outside) for one block of output
 * columns: stride 1 loads the columns at p, p + 1, p + 2 (p = ow0 - pl) under the masks m0..m2
 * that keep every lane inside the row. */
AVX512 static inline void taps_s1(const float *x, int64_t H, int64_t W, int64_t ih, int64_t p,
                                  __mmask16 m0, __mmask16 m1, __mmask16 m2, __m512 *t0,
                                  __m512 *t1, __m512 *t2)
{
    if (ih < 0 || ih >= H) {
        *t0 = *t1 = *t2 = _mm512_setzero_ps();
        return;
    }
    const float *r = (const float *)((uintptr_t)x + (uintptr_t)((ih * W + p) * 4));
    *t0 = _mm512_maskz_loadu_ps(m0, r);
    *t1 = _mm512_maskz_loadu_ps(m1, r + 1);
    *t2 = _mm512_maskz_loadu_ps(m2, r + 2);
}

/* Stride 2 (p = 2 ow0 - pl): the 2n + 1 columns from p come in as three vectors under
 * ma..mc and are split into even columns (tap 0), odd columns (tap 1) and the even columns
 * one further on (tap 2). */
AVX512 static inline void taps_s2(const float *x, int64_t H, int64_t W, int64_t ih, int64_t p,
                                  __mmask16 ma, __mmask16 mb, __mmask16 mc, __m512i even,
                                  __m512i odd, __m512 *t0, __m512 *t1, __m512 *t2)
{
    if (ih < 0 || ih >= H) {
        *t0 = *t1 = *t2 = _mm512_setzero_ps();
        return;
    }
    const float *r = (const float *)((uintptr_t)x + (uintptr_t)((ih * W + p) * 4));
    __m512 a = _mm512_maskz_loadu_ps(ma, r);
    __m512 b = _mm512_maskz_loadu_ps(mb, r + 16);
    __m512 c = _mm512_maskz_loadu_ps(mc, r + 32);
    *t0 = _mm512_permutex2var_ps(a, even, b);
    *t1 = _mm512_permutex2var_ps(a, odd, b);
    *t2 = _mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_castps_si512(c), _mm512_castps_si512(*t0), 1));
}

/* acc = bias + the 9 taps of rows a, b, c, in that order, then the epilogue clamp:
 * max(lo, v) is v when v is NaN, min(hi, .) likewise (the selects of clampf in conv.c). */
#define DW_SUM9(acc)                                                                         \
    do {                                                                                     \
        acc = _mm512_fmadd_ps(w0, a0, bias);                                                 \
        acc = _mm512_fmadd_ps(w1, a1, acc);                                                  \
        acc = _mm512_fmadd_ps(w2, a2, acc);                                                  \
        acc = _mm512_fmadd_ps(w3, b0, acc);                                                  \
        acc = _mm512_fmadd_ps(w4, b1, acc);                                                  \
        acc = _mm512_fmadd_ps(w5, b2, acc);                                                  \
        acc = _mm512_fmadd_ps(w6, c0, acc);                                                  \
        acc = _mm512_fmadd_ps(w7, c1, acc);                                                  \
        acc = _mm512_fmadd_ps(w8, c2, acc);                                                  \
        acc = _mm512_min_ps(hiv, _mm512_max_ps(lov, acc));                                   \
    } while (0)

/* The weights, bias and clamp bounds of a plane, broadcast, and the even / odd lane
 * selections of stride 2. */
#define DW_SETUP                                                                             \
    const __m512 w0 = _mm512_set1_ps(w9[0]), w1 = _mm512_set1_ps(w9[1]);                     \
    const __m512 w2 = _mm512_set1_ps(w9[2]), w3 = _mm512_set1_ps(w9[3]);                     \
    const __m512 w4 = _mm512_set1_ps(w9[4]), w5 = _mm512_set1_ps(w9[5]);                     \
    const __m512 w6 = _mm512_set1_ps(w9[6]), w7 = _mm512_set1_ps(w9[7]);                     \
    const __m512 w8 = _mm512_set1_ps(w9[8]);                                                 \
    const __m512 bias = _mm512_set1_ps(bv), lov = _mm512_set1_ps(lo), hiv = _mm512_set1_ps(hi)

/* Stride 1: column blocks of 16 outputs; within a block the output rows run top to bottom
 * with the taps of the three input rows they read kept in registers, so each input row is
 * loaded once per block. */
AVX512 static void plane_s1(const float *x, int64_t H, int64_t W, const float *w9, float bv,
                            float *y, int64_t OH, int64_t OW, int64_t pt, int64_t pl, float lo,
                            float hi)
{
    DW_SETUP;
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
        const int64_t n = OW - ow0 < 16 ? OW - ow0 : 16, p = ow0 - pl;
        const __mmask16 mout = lanes(0, n);
        const __mmask16 m0 = lanes(-p, n < W - p ? n : W - p);
        const __mmask16 m1 = lanes(-p - 1, n < W - p - 1 ? n : W - p - 1);
        const __mmask16 m2 = lanes(-p - 2, n < W - p - 2 ? n : W - p - 2);
        __m512 a0, a1, a2, b0, b1, b2, c0, c1, c2, acc;
        taps_s1(x, H, W, -pt, p, m0, m1, m2, &a0, &a1, &a2);
        taps_s1(x, H, W, 1 - pt, p, m0, m1, m2, &b0, &b1, &b2);
        for (int64_t oh = 0; oh < OH; oh++) {
            taps_s1(x, H, W, oh - pt + 2, p, m0, m1, m2, &c0, &c1, &c2);
            DW_SUM9(acc);
            _mm512_mask_storeu_ps(y + oh * OW + ow0, mout, acc);
            a0 = b0, a1 = b1, a2 = b2;
            b0 = c0, b1 = c1, b2 = c2;
        }
    }
}

/* Stride 2 reads twice as many input rows as it writes: the plane is walked row by row,
 * which keeps the reads sequential (that matters more here than reusing a row's taps). */
AVX512 static void plane_s2(const float *x, int64_t H, int64_t W, const float *w9, float bv,
                            float *y, int64_t OH, int64_t OW, int64_t pt, int64_t pl, float lo,
                            float hi)
{
    DW_SETUP;
    const __m512i even =
        _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd =
        _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (int64_t oh = 0; oh < OH; oh++) {
        const int64_t ih = 2 * oh - pt;
        for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
            const int64_t n = OW - ow0 < 16 ? OW - ow0 : 16;
            const int64_t p = 2 * ow0 - pl, end = 2 * n + 1 < W - p ? 2 * n + 1 : W - p;
            const __mmask16 ma = lanes(-p, end), mb = lanes(-p - 16, end - 16);
            const __mmask16 mc = lanes(-p - 32, end - 32);
            __m512 a0, a1, a2, b0, b1, b2, c0, c1, c2, acc;
            taps_s2(x, H, W, ih, p, ma, mb, mc, even, odd, &a0, &a1, &a2);
            taps_s2(x, H, W, ih + 1, p, ma, mb, mc, even, odd, &b0, &b1, &b2);
            taps_s2(x, H, W, ih + 2, p, ma, mb, mc, even, odd, &c0, &c1, &c2);
            DW_SUM9(acc);
            _mm512_mask_storeu_ps(y + oh * OW + ow0, lanes(0, n), acc);
        }
    }
}

void pq__dw3x3_plane_avx512(const float *x, int64_t H, int64_t W, const float *w9, float bv,
                            float *y, int64_t OH, int64_t OW, int stride, int64_t pt,
                            int64_t pl, float lo, float hi)
{
    if (stride == 1) plane_s1(x, H, W, w9, bv, y, OH, OW, pt, pl, lo, hi);
    else plane_s2(x, H, W, w9, bv, y, OH, OW, pt, pl, lo, hi);
}

/* ------------------------------------------------------------------ pointwise */

int pq__conv1x1_avx512_applies(int64_t M, int64_t K)
{
    return have_avx512() && M >= 1 && K >= 1 && M * K <= PQ_CONV1X1_AVX512_MAX_WEIGHTS;
}

/* MR output channels x 32 columns (n0 + n1 of them, under masks m0 / m1): acc = bias, then
 * + w[r][k] x[k][.] for k = 0..K-1 in order, clamped, stored. */
#define DEFINE_PW_BLOCK(MR)                                                                  \
    AVX512 static void pw_block_##MR(const float *w, int64_t K, const float *x, int64_t ldx,  \
                                     const float *bias, float *y, int64_t ldy, __mmask16 m0,  \
                                     __mmask16 m1, __m512 lov, __m512 hiv)                    \
    {                                                                                        \
        __m512 a0[MR], a1[MR];                                                               \
        _Pragma("GCC unroll 12")                                                             \
        for (int r = 0; r < MR; r++)                                                         \
            a0[r] = a1[r] = bias ? _mm512_set1_ps(bias[r]) : _mm512_setzero_ps();            \
        for (int64_t k = 0; k < K; k++) {                                                    \
            const __m512 xa = _mm512_maskz_loadu_ps(m0, x + k * ldx);                        \
            const __m512 xb = _mm512_maskz_loadu_ps(m1, x + k * ldx + 16);                   \
            _Pragma("GCC unroll 12")                                                         \
            for (int r = 0; r < MR; r++) {                                                   \
                const __m512 wv = _mm512_set1_ps(w[r * K + k]);                              \
                a0[r] = _mm512_fmadd_ps(wv, xa, a0[r]);                                      \
                a1[r] = _mm512_fmadd_ps(wv, xb, a1[r]);                                      \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 12")                                                             \
        for (int r = 0; r < MR; r++) {                                                       \
            _mm512_mask_storeu_ps(y + r * ldy, m0,                                           \
                                  _mm512_min_ps(hiv, _mm512_max_ps(lov, a0[r])));            \
            _mm512_mask_storeu_ps(y + r * ldy + 16, m1,                                      \
                                  _mm512_min_ps(hiv, _mm512_max_ps(lov, a1[r])));            \
        }                                                                                    \
    }
DEFINE_PW_BLOCK(12)
DEFINE_PW_BLOCK(4)
DEFINE_PW_BLOCK(1)

AVX512 void pq__conv1x1_avx512(const float *w, int64_t M, int64_t K, const float *x,
                               int64_t ldx, const float *bias, float *y, int64_t ldy,
                               int64_t ncols, float lo, float hi)
{
    const __m512 lov = _mm512_set1_ps(lo), hiv = _mm512_set1_ps(hi);
    for (int64_t p0 = 0; p0 < ncols; p0 += 32) {
        const int64_t n = ncols - p0 < 32 ? ncols - p0 : 32;
        const __mmask16 m0 = lanes(0, n), m1 = lanes(0, n - 16);
        int64_t m = 0;
        for (; m + 12 <= M; m += 12)
            pw_block_12(w + m * K, K, x + p0, ldx, bias ? bias + m : NULL, y + m * ldy + p0,
                        ldy, m0, m1, lov, hiv);
        for (; m + 4 <= M; m += 4)
            pw_block_4(w + m * K, K, x + p0, ldx, bias ? bias + m : NULL, y + m * ldy + p0,
                       ldy, m0, m1, lov, hiv);
        for (; m < M; m++)
            pw_block_1(w + m * K, K, x + p0, ldx, bias ? bias + m : NULL, y + m * ldy + p0,
                       ldy, m0, m1, lov, hiv);
    }
}

#else /* not x86-64 GCC/Clang: the portable loops of conv.c run instead */

int pq__dw3x3_avx512_applies(const int64_t k[2], const int64_t s[2], const int64_t d[2],
                             const int64_t pb[2])
{
    (void)k, (void)s, (void)d, (void)pb;
    return 0;
}

void pq__dw3x3_plane_avx512(const float *x, int64_t H, int64_t W, const float *w9, float bv,
                            float *y, int64_t OH, int64_t OW, int stride, int64_t pt,
                            int64_t pl, float lo, float hi)
{
    (void)x, (void)H, (void)W, (void)w9, (void)bv, (void)y, (void)OH, (void)OW, (void)stride;
    (void)pt, (void)pl, (void)lo, (void)hi;
    abort(); /* unreachable: pq__dw3x3_avx512_applies is 0 */
}

int pq__conv1x1_avx512_applies(int64_t M, int64_t K)
{
    (void)M, (void)K;
    return 0;
}

void pq__conv1x1_avx512(const float *w, int64_t M, int64_t K, const float *x, int64_t ldx,
                        const float *bias, float *y, int64_t ldy, int64_t ncols, float lo,
                        float hi)
{
    (void)w, (void)M, (void)K, (void)x, (void)ldx, (void)bias, (void)y, (void)ldy;
    (void)ncols, (void)lo, (void)hi;
    abort(); /* unreachable: pq__conv1x1_avx512_applies is 0 */
}

#endif

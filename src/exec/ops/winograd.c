/* winograd.c - Winograd F(2x2, 3x3) convolution (Lavin and Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2016), float32.
 *
 * Each 2x2 block of outputs (a tile) of one image and output channel is
 *     Y = A^T [ sum_c (G g_c G^T) .* (B^T d_c B) ] A
 * where d_c is the 4x4 input patch of channel c under the tile and g_c the 3x3 kernel. With
 * U[xi][m][c] = (G g G^T)[xi] and V[xi][c][t] = (B^T d B)[xi] for the 16 positions xi of a
 * 4x4 matrix, the sum is 16 GEMMs Mx[xi] = U[xi] (M x C) * V[xi] (C x tiles): 16 multiplies
 * per tile and channel pair instead of the 36 of the direct form.
 *
 * Tiles of all images are numbered image by image, row by row, and processed in chunks of
 * a fixed number of tiles (a multiple of 16, the last chunk padded with zero tiles); every
 * chunk transforms its inputs, runs the 16 GEMMs and transforms the outputs while they are
 * in cache. Chunks run in parallel over the executor's threads, each with single-threaded
 * BLAS and its own slice of the workspace. Since every chunk has the same width, the BLAS
 * kernels treat every tile the same way, so an output does not depend on the batch size.
 */
#include "winograd.h"

#include "gemm_blas.h"

#include <cblas.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WINO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WINO_CLONES
#endif

/* Bytes of V and Mx per chunk that stay in the outer caches while the GEMMs run. */
#define WINO_CHUNK_BYTES (2u << 20)

int pq__winograd_applies(const pq_wino_shape *s)
{
    const int64_t lim = 0x7fffffff;
    if (s->C < 8 || s->M < 8 || s->OH < 2 || s->OW < 2) return 0;
    if (s->pt < 0 || s->pl < 0 || s->pt > 2 || s->pl > 2) return 0;
    if (16 * s->M * s->C > lim || 16 * s->C * 4096 > lim || 16 * s->M * 4096 > lim) return 0;
    return 1;
}

static inline int thread_index(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* U[xi][m][c] = G g G^T for every (m, c); G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. Blocks
 * of 16 kernels are transposed to [9][16] first so that the arithmetic runs across kernels
 * and each of the 16 outputs is one contiguous store of up to 16 values. */
WINO_CLONES static void transform_block(const float *restrict w, int64_t nb, float *restrict U,
                                        int64_t MC)
{
    float g[9][16], t[4][3][16];
    for (int64_t k = 0; k < 16; k++)
        for (int e = 0; e < 9; e++) g[e][k] = k < nb ? w[k * 9 + e] : 0.0f;
    for (int j = 0; j < 3; j++)
#pragma omp simd
        for (int k = 0; k < 16; k++) {
            t[0][j][k] = g[j][k];
            t[1][j][k] = 0.5f * (g[j][k] + g[3 + j][k] + g[6 + j][k]);
            t[2][j][k] = 0.5f * (g[j][k] - g[3 + j][k] + g[6 + j][k]);
            t[3][j][k] = g[6 + j][k];
        }
    for (int i = 0; i < 4; i++) {
        float *u0 = U + (i * 4 + 0) * MC, *u1 = U + (i * 4 + 1) * MC;
        float *u2 = U + (i * 4 + 2) * MC, *u3 = U + (i * 4 + 3) * MC;
        for (int64_t k = 0; k < nb; k++) {
            u0[k] = t[i][0][k];
            u1[k] = 0.5f * (t[i][0][k] + t[i][1][k] + t[i][2][k]);
            u2[k] = 0.5f * (t[i][0][k] - t[i][1][k] + t[i][2][k]);
            u3[k] = t[i][2][k];
        }
    }
}

static void transform_weights(const float *restrict w, int64_t M, int64_t C, float *restrict U,
                              int threads)
{
    const int64_t MC = M * C, blocks = (MC + 15) / 16;
#pragma omp parallel for num_threads(threads) schedule(static) if(threads > 1 && MC > 4096)
    for (int64_t bl = 0; bl < blocks; bl++) {
        int64_t k0 = bl * 16, nb = MC - k0 < 16 ? MC - k0 : 16;
        transform_block(w + k0 * 9, nb, U + k0, MC);
    }
}

/* V[xi][col + j] (stride vs between xi) = B^T d B for the tiles j < len of one tile row,
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. The four input rows under the tile row
 * come deinterleaved (row i at e + i rs and o + i rs: e[k] = row[2k], o[k] = row[2k + 1]),
 * so the patch columns of tile j are e[j], o[j], e[j + 1], o[j + 1]: unit-stride loads. */
WINO_CLONES static void input_tiles(const float *restrict e, const float *restrict o,
                                    int64_t rs, int64_t len, float *restrict v, int64_t vs)
{
#pragma omp simd
    for (int64_t j = 0; j < len; j++) {
        float d[4][4], t[4][4];
        for (int i = 0; i < 4; i++) {
            d[i][0] = e[i * rs + j];
            d[i][1] = o[i * rs + j];
            d[i][2] = e[i * rs + j + 1];
            d[i][3] = o[i * rs + j + 1];
        }
        for (int c = 0; c < 4; c++) {
            t[0][c] = d[0][c] - d[2][c];
            t[1][c] = d[1][c] + d[2][c];
            t[2][c] = d[2][c] - d[1][c];
            t[3][c] = d[1][c] - d[3][c];
        }
        for (int i = 0; i < 4; i++) {
            v[(i * 4 + 0) * vs + j] = t[i][0] - t[i][2];
            v[(i * 4 + 1) * vs + j] = t[i][1] + t[i][2];
            v[(i * 4 + 2) * vs + j] = t[i][2] - t[i][1];
            v[(i * 4 + 3) * vs + j] = t[i][1] - t[i][3];
        }
    }
}

/* The 2x2 outputs A^T Mx A + bias of len tiles of one tile row, A^T = [1 1 1 0;
 * 0 1 -1 -1]: row 2 th at columns 2j / 2j + 1 into e0[j] / o0[j], row 2 th + 1 into
 * e1[j] / o1[j]. */
WINO_CLONES static void output_tiles(const float *restrict mx, int64_t ms, int64_t len,
                                     float bias, float *restrict e0, float *restrict o0,
                                     float *restrict e1, float *restrict o1)
{
#pragma omp simd
    for (int64_t j = 0; j < len; j++) {
        float m[16], s[2][4];
        for (int k = 0; k < 16; k++) m[k] = mx[k * ms + j];
        for (int c = 0; c < 4; c++) {
            s[0][c] = m[c] + m[4 + c] + m[8 + c];
            s[1][c] = m[4 + c] - m[8 + c] - m[12 + c];
        }
        e0[j] = (s[0][0] + s[0][1] + s[0][2]) + bias;
        o0[j] = (s[0][1] - s[0][2] - s[0][3]) + bias;
        e1[j] = (s[1][0] + s[1][1] + s[1][2]) + bias;
        o1[j] = (s[1][1] - s[1][2] - s[1][3]) + bias;
    }
}

/* dst[k] for k < n: the values interleaved from e (even k) and o (odd k), clamped to
 * [lo, hi]. */
WINO_CLONES static void clamp_interleave(const float *restrict e, const float *restrict o,
                                         int64_t n, float lo, float hi, float *restrict dst)
{
    const int64_t pairs = n / 2;
#pragma omp simd
    for (int64_t j = 0; j < pairs; j++) {
        float a = e[j], b = o[j];
        a = a < lo ? lo : a;
        b = b < lo ? lo : b;
        dst[2 * j] = a > hi ? hi : a;
        dst[2 * j + 1] = b > hi ? hi : b;
    }
    if (n % 2) {
        float a = e[pairs];
        a = a < lo ? lo : a;
        dst[n - 1] = a > hi ? hi : a;
    }
}

/* Input row ih of a channel plane, zero-padded (the image's column k at k + pl) and
 * deinterleaved: e[k] = padded[2k], o[k] = padded[2k + 1] for k < nh. A row outside the
 * image is all zeros. */
static void padded_row(const float *restrict plane, int64_t H, int64_t W, int64_t ih,
                       int64_t pl, int64_t nh, float *restrict e, float *restrict o)
{
    if (ih < 0 || ih >= H) {
        memset(e, 0, (size_t)nh * sizeof *e);
        memset(o, 0, (size_t)nh * sizeof *o);
        return;
    }
    const float *restrict r = plane + ih * W - pl; /* r[c] = padded column c */
    int64_t a = (pl + 1) / 2, b = (W + pl) / 2;       /* k with 2k - pl >= 0, 2k + 1 - pl < W */
    if (b < a) b = a;
    if (b > nh) b = nh;
    for (int64_t k = 0; k < a && k < nh; k++) {
        int64_t c0 = 2 * k - pl, c1 = c0 + 1;
        e[k] = c0 >= 0 && c0 < W ? r[2 * k] : 0.0f;
        o[k] = c1 >= 0 && c1 < W ? r[2 * k + 1] : 0.0f;
    }
    for (int64_t k = a; k < b; k++) { /* both columns inside: a vectorised deinterleave */
        e[k] = r[2 * k];
        o[k] = r[2 * k + 1];
    }
    for (int64_t k = b; k < nh; k++) {
        int64_t c0 = 2 * k - pl, c1 = c0 + 1;
        e[k] = c0 >= 0 && c0 < W ? r[2 * k] : 0.0f;
        o[k] = c1 >= 0 && c1 < W ? r[2 * k + 1] : 0.0f;
    }
}

pq_status pq__conv3x3_winograd_f32(pq_exec_node *n, const pq_wino_shape *s, const float *x,
                                   const float *w, const float *bias, float *y, float lo,
                                   float hi, pq_err *err)
{
    const int64_t N = s->N, C = s->C, H = s->H, W = s->W, M = s->M, OH = s->OH, OW = s->OW;
    const int64_t TH = (OH + 1) / 2, TW = (OW + 1) / 2, Ti = TH * TW, T = N * Ti;
    const int64_t nh = TW + 1; /* halves of a padded row: columns up to 2 TW + 1 */
    int threads = pq_node_threads(n);
    if (threads < 1) threads = 1;

    int64_t tc = (int64_t)(WINO_CHUNK_BYTES / (64u * (size_t)(C + M)));
    tc = tc < 128 ? 128 : (tc / 16) * 16;
    if (tc > 4096) tc = 4096;
    int64_t t_pad = (T + 15) / 16 * 16;
    if (tc > t_pad) tc = t_pad;
    const int64_t chunks = (T + tc - 1) / tc;
    if (chunks < threads) threads = (int)chunks;

    /* workspace: U, then per thread V (16 matrices C x tc), Mx (16 matrices M x tc), 4
     * deinterleaved padded rows (8 halves of nh), 4 output half rows of TW. The 16 matrices
     * of V and of Mx are 32 floats further apart than their size: with power-of-two sizes
     * the 16 streams of a transform would otherwise map to the same cache sets. */
    const int64_t vs = C * tc + 32, mstr = M * tc + 32;
    const int64_t per = 16 * vs + 16 * mstr + 8 * nh + 4 * TW + 16;
    const int64_t u_len = (16 * M * C + 15) / 16 * 16;
    float *ws = pq_node_workspace(n, (size_t)(u_len + threads * per) * sizeof(float));
    if (!ws)
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory for the Winograd buffers of a "
                          "%lld x %lld x 3 x 3 convolution", (long long)M, (long long)C);
    float *U = ws;
    transform_weights(w, M, C, U, threads);

    int blas_threads = threads > 1 ? pq__blas_single() : 1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if(threads > 1)
    for (int64_t ch = 0; ch < chunks; ch++) {
        float *V = ws + u_len + (int64_t)thread_index() * per;
        float *Mx = V + 16 * vs;
        float *ev = Mx + 16 * mstr, *od = ev + 4 * nh; /* row halves, 4 rows each */
        float *oe0 = od + 4 * nh, *oo0 = oe0 + TW, *oe1 = oo0 + TW, *oo1 = oe1 + TW;
        const int64_t t0 = ch * tc, t1 = t0 + tc < T ? t0 + tc : T;

        /* input transform, one run of tiles of the same tile row at a time */
        for (int64_t t = t0; t < t1;) {
            const int64_t b = t / Ti, th = (t % Ti) / TW, tw0 = t % TW;
            const int64_t len = TW - tw0 < t1 - t ? TW - tw0 : t1 - t;
            for (int64_t c = 0; c < C; c++) {
                const float *plane = x + (b * C + c) * H * W;
                for (int i = 0; i < 4; i++)
                    padded_row(plane, H, W, 2 * th - s->pt + i, s->pl, nh, ev + i * nh,
                               od + i * nh);
                input_tiles(ev + tw0, od + tw0, nh, len, V + c * tc + (t - t0), vs);
            }
            t += len;
        }
        if (t1 - t0 < tc) /* zero tiles pad the last chunk to the common width */
            for (int64_t k = 0; k < 16 * C; k++)
                memset(V + (k / C) * vs + (k % C) * tc + (t1 - t0), 0,
                       (size_t)(tc - (t1 - t0)) * sizeof(float));

        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)tc, (int)C,
                        1.0f, U + xi * M * C, (int)C, V + xi * vs, (int)tc, 0.0f,
                        Mx + xi * mstr, (int)tc);

        /* output transform, bias, clamp */
        for (int64_t t = t0; t < t1;) {
            const int64_t b = t / Ti, th = (t % Ti) / TW, tw0 = t % TW;
            const int64_t len = TW - tw0 < t1 - t ? TW - tw0 : t1 - t;
            const int64_t oc0 = 2 * tw0, ncol = (2 * (tw0 + len) < OW ? 2 * (tw0 + len) : OW) - oc0;
            for (int64_t m = 0; m < M; m++) {
                output_tiles(Mx + m * tc + (t - t0), mstr, len, bias ? bias[m] : 0.0f, oe0,
                             oo0, oe1, oo1);
                float *yp = y + (b * M + m) * OH * OW;
                clamp_interleave(oe0, oo0, ncol, lo, hi, yp + 2 * th * OW + oc0);
                if (2 * th + 1 < OH)
                    clamp_interleave(oe1, oo1, ncol, lo, hi, yp + (2 * th + 1) * OW + oc0);
            }
            t += len;
        }
    }
    pq__blas_restore(blas_threads);
    return PQ_OK;
}

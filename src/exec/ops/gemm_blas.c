/* gemm_blas.c - GEMM split over OpenMP threads with single-threaded BLAS (see gemm_blas.h). */
#include "gemm_blas.h"

#include "pq_core.h"

#include <cblas.h>
#include <string.h>

/* Below this many multiply-adds a GEMM runs in one call. */
#define PAR_MIN_WORK ((int64_t)1 << 18)

int pq__blas_single(void)
{
    int previous = openblas_get_num_threads();
    if (previous != 1) openblas_set_num_threads(1);
    return previous;
}

void pq__blas_restore(int previous)
{
    if (previous != 1 && previous > 0) openblas_set_num_threads(previous);
}

/* Rows of C are computed in calls whose M is a multiple of ROW_BLOCK: a tail of fewer rows
 * goes through a zero-padded ROW_BLOCK-row copy of A. With OpenBLAS's SkylakeX kernels this
 * makes every row of C bitwise independent of how many rows the call had, so a sample's
 * result does not depend on the batch size it was run in (checked for M in 1..128 and
 * several N x K; the Haswell kernels differ by 1 ulp whatever the padding). */
#define ROW_BLOCK 16

/* C = alpha op(A) op(B) + beta C for m rows, in calls with M a multiple of ROW_BLOCK. */
#define DEFINE_GEMM_ROWS(T, SFX, GEMM)                                                       \
    static void SFX##_rows(CBLAS_TRANSPOSE TA, CBLAS_TRANSPOSE TB, int64_t m, int64_t n,     \
                           int64_t k, T alpha, const T *a, int64_t lda, const T *b,          \
                           int64_t ldb, T beta, T *c, int64_t ldc)                           \
    {                                                                                        \
        const int64_t full = m - m % ROW_BLOCK, tail = m - full;                             \
        if (full > 0)                                                                        \
            GEMM(CblasRowMajor, TA, TB, (blasint)full, (blasint)n, (blasint)k, alpha, a,     \
                 (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);                      \
        if (tail == 0) return;                                                               \
        T *ap = pq_calloc((size_t)(ROW_BLOCK * k), sizeof(T));                               \
        T *cp = pq_calloc((size_t)(ROW_BLOCK * n), sizeof(T));                               \
        if (!ap || !cp) {                                                                    \
            /* Out of memory: the plain call gives the same values up to rounding. */        \
            pq_free(ap);                                                                     \
            pq_free(cp);                                                                     \
            const T *at = TA == CblasTrans ? a + full : a + full * lda;                      \
            GEMM(CblasRowMajor, TA, TB, (blasint)tail, (blasint)n, (blasint)k, alpha, at,    \
                 (blasint)lda, b, (blasint)ldb, beta, c + full * ldc, (blasint)ldc);         \
            return;                                                                          \
        }                                                                                    \
        for (int64_t r = 0; r < tail; r++)                                                   \
            for (int64_t q = 0; q < k; q++)                                                  \
                ap[r * k + q] = TA == CblasTrans ? a[q * lda + full + r] : a[(full + r) * lda + q]; \
        if (beta != (T)0)                                                                    \
            for (int64_t r = 0; r < tail; r++)                                               \
                memcpy(cp + r * n, c + (full + r) * ldc, (size_t)n * sizeof(T));             \
        GEMM(CblasRowMajor, CblasNoTrans, TB, ROW_BLOCK, (blasint)n, (blasint)k, alpha, ap,  \
             (blasint)k, b, (blasint)ldb, beta, cp, (blasint)n);                             \
        for (int64_t r = 0; r < tail; r++)                                                   \
            memcpy(c + (full + r) * ldc, cp + r * n, (size_t)n * sizeof(T));                 \
        pq_free(ap);                                                                         \
        pq_free(cp);                                                                         \
    }

DEFINE_GEMM_ROWS(float, sgemm, cblas_sgemm)
DEFINE_GEMM_ROWS(double, dgemm, cblas_dgemm)

/* Splits C into `parts` blocks of columns (split_n) or rows, aligned to ROW_BLOCK rows or
 * 16 columns. */
#define DEFINE_GEMM_PAR(T, SFX, GEMM)                                                        \
    void pq__##SFX##_par(int ta, int tb, int64_t m, int64_t n, int64_t k, T alpha, const T *a, \
                         int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc,    \
                         int threads)                                                        \
    {                                                                                        \
        CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans;                                 \
        CBLAS_TRANSPOSE TB = tb ? CblasTrans : CblasNoTrans;                                 \
        if (m <= 0 || n <= 0) return;                                                        \
        if (threads <= 1 || m * n * k < PAR_MIN_WORK) {                                      \
            SFX##_rows(TA, TB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);                \
            return;                                                                          \
        }                                                                                    \
        const int split_n = n >= m;                                                          \
        const int64_t len = split_n ? n : m, align = split_n ? 16 : ROW_BLOCK;               \
        int64_t chunk = (len + threads - 1) / threads;                                       \
        chunk = (chunk + align - 1) / align * align;                                         \
        const int64_t parts = (len + chunk - 1) / chunk;                                     \
        int previous = pq__blas_single();                                                    \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                    \
        for (int64_t p = 0; p < parts; p++) {                                                \
            int64_t s = p * chunk, e = s + chunk < len ? s + chunk : len;                    \
            if (split_n) {                                                                   \
                const T *bp = tb ? b + s * ldb : b + s;                                      \
                SFX##_rows(TA, TB, m, e - s, k, alpha, a, lda, bp, ldb, beta, c + s, ldc);   \
            } else {                                                                         \
                const T *ap = ta ? a + s : a + s * lda;                                      \
                SFX##_rows(TA, TB, e - s, n, k, alpha, ap, lda, b, ldb, beta, c + s * ldc,   \
                           ldc);                                                             \
            }                                                                                \
        }                                                                                    \
        pq__blas_restore(previous);                                                          \
    }

DEFINE_GEMM_PAR(float, sgemm, cblas_sgemm)
DEFINE_GEMM_PAR(double, dgemm, cblas_dgemm)

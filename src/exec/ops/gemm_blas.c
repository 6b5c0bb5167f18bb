/* gemm_blas.c - GEMM split over OpenMP threads with single-threaded BLAS (see gemm_blas.h). */
#include "gemm_blas.h"

#include <cblas.h>

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

/* Splits C into `parts` blocks of columns (split_n) or rows, aligned to `align`. */
#define DEFINE_GEMM_PAR(T, SFX, GEMM)                                                        \
    void pq__##SFX##_par(int ta, int tb, int64_t m, int64_t n, int64_t k, T alpha, const T *a, \
                         int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc,    \
                         int threads)                                                        \
    {                                                                                        \
        CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans;                                 \
        CBLAS_TRANSPOSE TB = tb ? CblasTrans : CblasNoTrans;                                 \
        if (m <= 0 || n <= 0) return;                                                        \
        if (threads <= 1 || m * n * k < PAR_MIN_WORK) {                                      \
            GEMM(CblasRowMajor, TA, TB, (blasint)m, (blasint)n, (blasint)k, alpha, a,        \
                 (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);                      \
            return;                                                                          \
        }                                                                                    \
        const int split_n = n >= m;                                                          \
        const int64_t len = split_n ? n : m, align = split_n ? 16 : 4;                       \
        int64_t chunk = (len + threads - 1) / threads;                                       \
        chunk = (chunk + align - 1) / align * align;                                         \
        const int64_t parts = (len + chunk - 1) / chunk;                                     \
        int previous = pq__blas_single();                                                    \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                    \
        for (int64_t p = 0; p < parts; p++) {                                                \
            int64_t s = p * chunk, e = s + chunk < len ? s + chunk : len;                    \
            if (split_n) {                                                                   \
                const T *bp = tb ? b + s * ldb : b + s;                                      \
                GEMM(CblasRowMajor, TA, TB, (blasint)m, (blasint)(e - s), (blasint)k, alpha, \
                     a, (blasint)lda, bp, (blasint)ldb, beta, c + s, (blasint)ldc);          \
            } else {                                                                         \
                const T *ap = ta ? a + s : a + s * lda;                                      \
                GEMM(CblasRowMajor, TA, TB, (blasint)(e - s), (blasint)n, (blasint)k, alpha, \
                     ap, (blasint)lda, b, (blasint)ldb, beta, c + s * ldc, (blasint)ldc);    \
            }                                                                                \
        }                                                                                    \
        pq__blas_restore(previous);                                                          \
    }

DEFINE_GEMM_PAR(float, sgemm, cblas_sgemm)
DEFINE_GEMM_PAR(double, dgemm, cblas_dgemm)

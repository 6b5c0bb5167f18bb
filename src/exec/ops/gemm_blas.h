/* gemm_blas.h - GEMM split over OpenMP threads, shared by the conv and gemm families.
 *
 * OpenBLAS (pthreads build) keeps its worker threads spinning for a while after each
 * threaded call; in a process that also runs OpenMP loops those spinning workers steal the
 * cores the next OpenMP region needs. The kernels of these families therefore run BLAS
 * single-threaded and split the work themselves across the executor's threads.
 */
#ifndef PQ_GEMM_BLAS_H
#define PQ_GEMM_BLAS_H

#include <stdint.h>

/* C = alpha * op(A) op(B) + beta * C (row-major; op = transpose when ta / tb). With
 * threads > 1 the columns (or rows, when C is tall) of C are split over `threads` OpenMP
 * threads, each calling single-threaded BLAS; OpenBLAS's thread count is restored after.
 * With threads <= 1 one BLAS call with BLAS's own threading. Must not be called from inside
 * an OpenMP parallel region with threads > 1. Dimensions must fit in int (callers check). */
void pq__sgemm_par(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                   int threads);
void pq__dgemm_par(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha,
                   const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                   double *c, int64_t ldc, int threads);

/* Sets OpenBLAS to one thread and returns the previous count (for pq__blas_restore), so that
 * BLAS can be called from the threads of an OpenMP loop. */
int pq__blas_single(void);
void pq__blas_restore(int previous);

#endif /* PQ_GEMM_BLAS_H */

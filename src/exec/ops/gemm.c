/* gemm.c - operator family: Gemm MatMul Einsum MatMulInteger QLinearMatMul.
 *
 * Gemm and MatMul run float32 through cblas_sgemm and float64 through cblas_dgemm; float16
 * and bfloat16 are widened to float32 around sgemm; integer types use a plain loop with
 * wrap-around arithmetic. Einsum lives in gemm_einsum.c.
 */
#include "../exec_internal.h"
#include "gemm_blas.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* gemm_einsum.c */
pq_status pq__einsum_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__einsum_run(pq_exec_node *n, pq_err *err);
void pq__einsum_release(pq_exec_node *n);

/* ------------------------------------------------------------------ shared helpers */

static int is_int_dtype(pq_dtype dt)
{
    return dt == PQ_DTYPE_INT32 || dt == PQ_DTYPE_INT64 || dt == PQ_DTYPE_UINT32 ||
           dt == PQ_DTYPE_UINT64;
}

/* Widens a float16/bfloat16 tensor into a new float32 buffer (pq_free it). */
static float *widen_half(const pq_tensor *t)
{
    float *out = pq_malloc((size_t)(t->numel ? t->numel : 1) * sizeof *out);
    if (!out) return NULL;
    const uint16_t *src = t->data;
    if (t->dtype == PQ_DTYPE_FLOAT16)
        for (int64_t i = 0; i < t->numel; i++) out[i] = pq_f16_to_f32(src[i]);
    else
        for (int64_t i = 0; i < t->numel; i++) out[i] = pq_bf16_to_f32(src[i]);
    return out;
}

static void narrow_half(pq_dtype dt, const float *src, int64_t numel, void *dst)
{
    uint16_t *d = dst;
    if (dt == PQ_DTYPE_FLOAT16)
        for (int64_t i = 0; i < numel; i++) d[i] = pq_f32_to_f16(src[i]);
    else
        for (int64_t i = 0; i < numel; i++) d[i] = pq_f32_to_bf16(src[i]);
}

static pq_status check_blas_int(int64_t v, const char *what, pq_err *err)
{
    if (v > 0x7fffffff)
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "%s = %lld is too large for BLAS", what,
                          (long long)v);
    return PQ_OK;
}

/* ------------------------------------------------------------------ Gemm */

typedef struct gemm_ctx {
    int64_t trans_a, trans_b;
    float alpha, beta;
} gemm_ctx;

static pq_status gemm_prepare(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    gemm_ctx *c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    PQ_TRY(pq_op_get_int(n->op, "transA", 0, &c->trans_a, err));
    PQ_TRY(pq_op_get_int(n->op, "transB", 0, &c->trans_b, err));
    PQ_TRY(pq_op_get_float(n->op, "alpha", 1.0f, &c->alpha, err));
    PQ_TRY(pq_op_get_float(n->op, "beta", 1.0f, &c->beta, err));
    /* Gemm-1/6 'broadcast': C must then be [M, N] or broadcast with broadcast=1; the
     * unidirectional rule used for every opset accepts both, so the flag is not needed. */
    n->ctx = c;
    return PQ_OK;
fail:
    pq_free(c);
    return st;
}

static void free_ctx(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

/* Y[i][j] = beta * C[broadcast(i, j)], accumulating in double for the loop kernels. */
#define DEFINE_FILL_C(T, SFX)                                                                \
    static void fill_c_##SFX(T *y, int64_t M, int64_t N, const T *c, int64_t cr, int64_t cc, \
                             double beta)                                                    \
    {                                                                                        \
        for (int64_t i = 0; i < M; i++) {                                                    \
            const T *crow = c + (cr == 1 ? 0 : i) * cc;                                      \
            T *yr = y + i * N;                                                               \
            if (cc == 1)                                                                     \
                for (int64_t j = 0; j < N; j++) yr[j] = (T)(beta * (double)crow[0]);         \
            else                                                                             \
                for (int64_t j = 0; j < N; j++) yr[j] = (T)(beta * (double)crow[j]);         \
        }                                                                                    \
    }
DEFINE_FILL_C(float, f32)
DEFINE_FILL_C(double, f64)

/* Loop Gemm for integer types: Y = alpha * A' B' + beta * C with wrap-around products. */
#define DEFINE_GEMM_LOOP(T, SFX)                                                             \
    static void gemm_loop_##SFX(const T *a, const T *b, const T *c, T *y, int64_t M,         \
                                int64_t N, int64_t K, int ta, int tb, int64_t cr, int64_t cc, \
                                double alpha, double beta)                                   \
    {                                                                                        \
        for (int64_t i = 0; i < M; i++)                                                      \
            for (int64_t j = 0; j < N; j++) {                                                \
                T acc = 0;                                                                   \
                for (int64_t k = 0; k < K; k++) {                                            \
                    T av = ta ? a[k * M + i] : a[i * K + k];                                 \
                    T bv = tb ? b[j * K + k] : b[k * N + j];                                 \
                    acc = (T)(acc + (T)(av * bv));                                           \
                }                                                                            \
                T v = alpha == 1.0 ? acc : (T)(alpha * (double)acc);                         \
                if (c) {                                                                     \
                    T cv = c[(cr == 1 ? 0 : i) * cc + (cc == 1 ? 0 : j)];                    \
                    v = (T)(v + (beta == 1.0 ? cv : (T)(beta * (double)cv)));                \
                }                                                                            \
                y[i * N + j] = v;                                                            \
            }                                                                                \
    }
DEFINE_GEMM_LOOP(int32_t, i32)
DEFINE_GEMM_LOOP(int64_t, i64)
DEFINE_GEMM_LOOP(uint32_t, u32)
DEFINE_GEMM_LOOP(uint64_t, u64)

static pq_status run_gemm(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const gemm_ctx *ctx = n->ctx;
    const pq_tensor *a = pq_node_input(n, 0), *b = pq_node_input(n, 1), *c = pq_node_input(n, 2);
    pq_tensor *y = NULL;
    float *wa = NULL, *wb = NULL, *wc = NULL, *wy = NULL;
    char b1[128], b2[128];
    PQ_CHECK(a && b, PQ_ERR_INVALID, "inputs A and B are required");
    PQ_CHECK(a->rank == 2 && b->rank == 2, PQ_ERR_INVALID, "A %s and B %s must be matrices",
             pq_tensor_describe(a, b1, sizeof b1), pq_tensor_describe(b, b2, sizeof b2));
    PQ_CHECK(a->dtype == b->dtype && (!c || c->dtype == a->dtype), PQ_ERR_INVALID,
             "A, B and C must have the same dtype (A is %s, B is %s)", pq_dtype_name(a->dtype),
             pq_dtype_name(b->dtype));
    int ta = ctx->trans_a != 0, tb = ctx->trans_b != 0;
    int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
    int64_t Kb = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    PQ_CHECK(K == Kb, PQ_ERR_INVALID, "A %s (transA=%d) and B %s (transB=%d) do not multiply",
             pq_tensor_describe(a, b1, sizeof b1), ta, pq_tensor_describe(b, b2, sizeof b2), tb);
    int64_t cr = 1, cc = 1;
    if (c) {
        PQ_CHECK(c->rank <= 2, PQ_ERR_INVALID, "C %s has rank > 2",
                 pq_tensor_describe(c, b1, sizeof b1));
        if (c->rank == 2) cr = c->dims[0];
        if (c->rank >= 1) cc = c->dims[c->rank - 1];
        PQ_CHECK((cr == 1 || cr == M) && (cc == 1 || cc == N), PQ_ERR_INVALID,
                 "C %s does not broadcast to [%lld, %lld]", pq_tensor_describe(c, b1, sizeof b1),
                 (long long)M, (long long)N);
    }
    int64_t ydims[2] = {M, N};
    PQ_TRY(pq_node_output(n, 0, a->dtype, 2, ydims, 0, &y, err));
    if (M == 0 || N == 0) return PQ_OK;
    PQ_TRY(check_blas_int(M, "M", err));
    PQ_TRY(check_blas_int(N, "N", err));
    PQ_TRY(check_blas_int(K, "K", err));
    int64_t lda = ta ? M : K, ldb = tb ? K : N;
    int threads = pq_node_threads(n);
    switch (a->dtype) {
    case PQ_DTYPE_FLOAT32:
        if (c) fill_c_f32(PQ_DATA(y, float), M, N, PQ_DATA(c, float), cr, cc, ctx->beta);
        if (K > 0)
            pq__sgemm_par(ta, tb, M, N, K, ctx->alpha, PQ_DATA(a, float), lda, PQ_DATA(b, float),
                          ldb, c ? 1.0f : 0.0f, PQ_DATA(y, float), N, threads);
        break;
    case PQ_DTYPE_FLOAT64:
        if (c) fill_c_f64(PQ_DATA(y, double), M, N, PQ_DATA(c, double), cr, cc, ctx->beta);
        if (K > 0)
            pq__dgemm_par(ta, tb, M, N, K, ctx->alpha, PQ_DATA(a, double), lda,
                          PQ_DATA(b, double), ldb, c ? 1.0 : 0.0, PQ_DATA(y, double), N, threads);
        break;
    case PQ_DTYPE_FLOAT16:
    case PQ_DTYPE_BFLOAT16:
        wa = widen_half(a);
        wb = widen_half(b);
        wc = c ? widen_half(c) : NULL;
        wy = pq_calloc((size_t)(M * N), sizeof *wy);
        PQ_CHECK(wa && wb && wy && (!c || wc), PQ_ERR_NOMEM, "out of memory");
        if (c) fill_c_f32(wy, M, N, wc, cr, cc, ctx->beta);
        if (K > 0)
            pq__sgemm_par(ta, tb, M, N, K, ctx->alpha, wa, lda, wb, ldb, c ? 1.0f : 0.0f, wy, N,
                          threads);
        narrow_half(a->dtype, wy, M * N, y->data);
        break;
#define GEMM_INT_CASE(DT, T, SFX)                                                            \
    case DT:                                                                                 \
        gemm_loop_##SFX(PQ_DATA(a, T), PQ_DATA(b, T), c ? PQ_DATA(c, T) : NULL, PQ_DATA(y, T), \
                        M, N, K, ta, tb, cr, cc, ctx->alpha, ctx->beta);                     \
        break;
        GEMM_INT_CASE(PQ_DTYPE_INT32, int32_t, i32)
        GEMM_INT_CASE(PQ_DTYPE_INT64, int64_t, i64)
        GEMM_INT_CASE(PQ_DTYPE_UINT32, uint32_t, u32)
        GEMM_INT_CASE(PQ_DTYPE_UINT64, uint64_t, u64)
#undef GEMM_INT_CASE
    default:
        PQ_CHECK(0, PQ_ERR_UNSUPPORTED, "dtype %s is not supported", pq_dtype_name(a->dtype));
    }
fail:
    pq_free(wa);
    pq_free(wb);
    pq_free(wc);
    pq_free(wy);
    return st;
}

/* ------------------------------------------------------------------ MatMul */

/* numpy.matmul semantics: 1-D operands are promoted ([K] -> [1, K] for A, [K, 1] for B) and
 * the added axis removed from the result; batch axes broadcast. */
typedef struct mm_plan {
    int64_t M, N, K;
    int nb;                           /* output batch rank */
    int64_t bdims[PQ_MAX_RANK];       /* output batch dims */
    int64_t astr[PQ_MAX_RANK];        /* A batch strides in matrices (0 = broadcast) */
    int64_t bstr[PQ_MAX_RANK];
    int64_t batches;                  /* product of bdims */
    int a_flat;                       /* B has one matrix and A none broadcast: one GEMM */
    int yrank;
    int64_t ydims[PQ_MAX_RANK];
} mm_plan;

static pq_status mm_plan_make(const pq_tensor *a, const pq_tensor *b, mm_plan *p, pq_err *err)
{
    pq_status st = PQ_OK;
    char b1[128], b2[128];
    memset(p, 0, sizeof *p);
    PQ_CHECK(a->rank >= 1 && b->rank >= 1, PQ_ERR_INVALID, "MatMul of a scalar (A %s, B %s)",
             pq_tensor_describe(a, b1, sizeof b1), pq_tensor_describe(b, b2, sizeof b2));
    int64_t ad[PQ_MAX_RANK + 1], bd[PQ_MAX_RANK + 1];
    int ar = a->rank, br = b->rank;
    if (ar == 1) {
        ad[0] = 1;
        ad[1] = a->dims[0];
        ar = 2;
    } else {
        memcpy(ad, a->dims, (size_t)ar * sizeof *ad);
    }
    if (br == 1) {
        bd[0] = b->dims[0];
        bd[1] = 1;
        br = 2;
    } else {
        memcpy(bd, b->dims, (size_t)br * sizeof *bd);
    }
    p->M = ad[ar - 2];
    p->K = ad[ar - 1];
    p->N = bd[br - 1];
    PQ_CHECK(bd[br - 2] == p->K, PQ_ERR_INVALID, "A %s and B %s do not multiply",
             pq_tensor_describe(a, b1, sizeof b1), pq_tensor_describe(b, b2, sizeof b2));
    int an = ar - 2, bn = br - 2;
    p->nb = an > bn ? an : bn;
    int64_t as = 1, bs = 1;
    p->batches = 1;
    int b_single = 1, a_bcast = 0;
    for (int i = p->nb - 1; i >= 0; i--) {
        int ia = i - (p->nb - an), ib = i - (p->nb - bn);
        int64_t da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
        PQ_CHECK(da == db || da == 1 || db == 1, PQ_ERR_INVALID,
                 "batch axes of A %s and B %s do not broadcast",
                 pq_tensor_describe(a, b1, sizeof b1), pq_tensor_describe(b, b2, sizeof b2));
        int64_t d = da == 1 ? db : da;
        p->bdims[i] = d;
        p->astr[i] = da == 1 ? 0 : as;
        p->bstr[i] = db == 1 ? 0 : bs;
        if (db != 1) b_single = 0;
        if (da == 1 && d != 1) a_bcast = 1;
        as *= da;
        bs *= db;
        p->batches *= d;
    }
    p->a_flat = b_single && !a_bcast;
    p->yrank = 0;
    for (int i = 0; i < p->nb; i++) p->ydims[p->yrank++] = p->bdims[i];
    if (a->rank > 1) p->ydims[p->yrank++] = p->M;
    if (b->rank > 1) p->ydims[p->yrank++] = p->N;
    PQ_CHECK(p->yrank <= PQ_MAX_RANK, PQ_ERR_INVALID, "MatMul result rank too large");
    return PQ_OK;
fail:
    return st;
}

/* Offsets (in matrices) of A and B for output batch index bi. */
static void mm_offsets(const mm_plan *p, int64_t bi, int64_t *ao, int64_t *bo)
{
    int64_t a = 0, b = 0;
    for (int i = p->nb - 1; i >= 0; i--) {
        int64_t idx = bi % p->bdims[i];
        bi /= p->bdims[i];
        a += idx * p->astr[i];
        b += idx * p->bstr[i];
    }
    *ao = a;
    *bo = b;
}

#define DEFINE_MM_LOOP(T, SFX)                                                               \
    static void mm_loop_##SFX(const mm_plan *p, const T *a, const T *b, T *y)                \
    {                                                                                        \
        const int64_t M = p->M, N = p->N, K = p->K;                                          \
        for (int64_t bi = 0; bi < p->batches; bi++) {                                        \
            int64_t ao, bo;                                                                  \
            mm_offsets(p, bi, &ao, &bo);                                                     \
            const T *am = a + ao * M * K, *bm = b + bo * K * N;                              \
            T *ym = y + bi * M * N;                                                          \
            for (int64_t i = 0; i < M; i++) {                                                \
                T *yr = ym + i * N;                                                          \
                for (int64_t j = 0; j < N; j++) yr[j] = 0;                                   \
                for (int64_t k = 0; k < K; k++) {                                            \
                    T av = am[i * K + k];                                                    \
                    const T *br = bm + k * N;                                                \
                    for (int64_t j = 0; j < N; j++) yr[j] = (T)(yr[j] + (T)(av * br[j]));    \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }
DEFINE_MM_LOOP(int32_t, i32)
DEFINE_MM_LOOP(int64_t, i64)
DEFINE_MM_LOOP(uint32_t, u32)
DEFINE_MM_LOOP(uint64_t, u64)

/* Batched GEMM. One GEMM when A's batch folds into M; otherwise one per batch: with enough
 * batches they are spread over the threads (single-threaded BLAS each), else each GEMM is
 * split over the threads. */
#define DEFINE_MM_BLAS(T, SFX, GEMM)                                                         \
    static void mm_##SFX(const mm_plan *p, const T *a, const T *b, T *y, int threads)        \
    {                                                                                        \
        if (p->a_flat) {                                                                     \
            pq__##SFX##_par(0, 0, p->batches * p->M, p->N, p->K, (T)1, a, p->K, b, p->N,     \
                            (T)0, y, p->N, threads);                                         \
            return;                                                                          \
        }                                                                                    \
        if (threads <= 1 || p->batches < threads) {                                          \
            for (int64_t bi = 0; bi < p->batches; bi++) {                                    \
                int64_t ao, bo;                                                              \
                mm_offsets(p, bi, &ao, &bo);                                                 \
                pq__##SFX##_par(0, 0, p->M, p->N, p->K, (T)1, a + ao * p->M * p->K, p->K,    \
                                b + bo * p->K * p->N, p->N, (T)0, y + bi * p->M * p->N,      \
                                p->N, threads);                                              \
            }                                                                                \
            return;                                                                          \
        }                                                                                    \
        int previous = pq__blas_single();                                                    \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                    \
        for (int64_t bi = 0; bi < p->batches; bi++) {                                        \
            int64_t ao, bo;                                                                  \
            mm_offsets(p, bi, &ao, &bo);                                                     \
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)p->M, (blasint)p->N,    \
                 (blasint)p->K, (T)1, a + ao * p->M * p->K, (blasint)p->K,                   \
                 b + bo * p->K * p->N, (blasint)p->N, (T)0, y + bi * p->M * p->N,            \
                 (blasint)p->N);                                                             \
        }                                                                                    \
        pq__blas_restore(previous);                                                          \
    }
DEFINE_MM_BLAS(float, sgemm, cblas_sgemm)
DEFINE_MM_BLAS(double, dgemm, cblas_dgemm)

static pq_status run_matmul(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *a = pq_node_input(n, 0), *b = pq_node_input(n, 1);
    pq_tensor *y = NULL;
    float *wa = NULL, *wb = NULL, *wy = NULL;
    mm_plan p;
    int threads = pq_node_threads(n);
    PQ_CHECK(a && b, PQ_ERR_INVALID, "inputs A and B are required");
    PQ_CHECK(a->dtype == b->dtype, PQ_ERR_INVALID, "A is %s but B is %s",
             pq_dtype_name(a->dtype), pq_dtype_name(b->dtype));
    PQ_TRY(mm_plan_make(a, b, &p, err));
    PQ_TRY(pq_node_output(n, 0, a->dtype, p.yrank, p.ydims, 0, &y, err));
    if (y->numel == 0 || p.K == 0) return PQ_OK; /* zero-filled */
    if (!is_int_dtype(a->dtype)) {
        PQ_TRY(check_blas_int(p.a_flat ? p.batches * p.M : p.M, "M", err));
        PQ_TRY(check_blas_int(p.N, "N", err));
        PQ_TRY(check_blas_int(p.K, "K", err));
    }
    switch (a->dtype) {
    case PQ_DTYPE_FLOAT32:
        mm_sgemm(&p, PQ_DATA(a, float), PQ_DATA(b, float), PQ_DATA(y, float), threads);
        break;
    case PQ_DTYPE_FLOAT64:
        mm_dgemm(&p, PQ_DATA(a, double), PQ_DATA(b, double), PQ_DATA(y, double), threads);
        break;
    case PQ_DTYPE_FLOAT16:
    case PQ_DTYPE_BFLOAT16:
        wa = widen_half(a);
        wb = widen_half(b);
        wy = pq_malloc((size_t)y->numel * sizeof *wy);
        PQ_CHECK(wa && wb && wy, PQ_ERR_NOMEM, "out of memory");
        mm_sgemm(&p, wa, wb, wy, threads);
        narrow_half(a->dtype, wy, y->numel, y->data);
        break;
    case PQ_DTYPE_INT32:
        mm_loop_i32(&p, PQ_DATA(a, int32_t), PQ_DATA(b, int32_t), PQ_DATA(y, int32_t));
        break;
    case PQ_DTYPE_INT64:
        mm_loop_i64(&p, PQ_DATA(a, int64_t), PQ_DATA(b, int64_t), PQ_DATA(y, int64_t));
        break;
    case PQ_DTYPE_UINT32:
        mm_loop_u32(&p, PQ_DATA(a, uint32_t), PQ_DATA(b, uint32_t), PQ_DATA(y, uint32_t));
        break;
    case PQ_DTYPE_UINT64:
        mm_loop_u64(&p, PQ_DATA(a, uint64_t), PQ_DATA(b, uint64_t), PQ_DATA(y, uint64_t));
        break;
    default:
        PQ_CHECK(0, PQ_ERR_UNSUPPORTED, "dtype %s is not supported", pq_dtype_name(a->dtype));
    }
fail:
    pq_free(wa);
    pq_free(wb);
    pq_free(wy);
    return st;
}

/* ------------------------------------------------------------------ MatMulInteger, QLinearMatMul */

static int is_int8_dtype(pq_dtype dt)
{
    return dt == PQ_DTYPE_UINT8 || dt == PQ_DTYPE_INT8;
}

/* (t - zp) as doubles for an 8-bit operand of a matrix product. zp: NULL, a scalar, one value
 * per row of A (`per_row`: [M] or [..., M, 1]) or per column of B ([N] or [..., 1, N]). */
static pq_status mm_shift(const pq_tensor *t, const pq_tensor *zp, int per_row, const char *what,
                          double **out, pq_err *err)
{
    *out = NULL;
    if (!is_int8_dtype(t->dtype))
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "%s is %s (int8 and uint8 are supported)",
                          what, pq_dtype_name(t->dtype));
    if (zp && zp->dtype != t->dtype)
        return pq_err_set(err, PQ_ERR_INVALID, "%s zero point is %s but %s is %s", what,
                          pq_dtype_name(zp->dtype), what, pq_dtype_name(t->dtype));
    int64_t cols = t->rank >= 1 ? t->dims[t->rank - 1] : 1;
    int64_t rows = t->rank >= 2 ? t->dims[t->rank - 2] : 1;
    int64_t lines = per_row ? rows : cols;              /* zero points of one matrix */
    int64_t batch_lines = cols ? t->numel / cols : 0;   /* per_row: rows of all matrices */
    if (!per_row) batch_lines = (rows * cols != 0) ? t->numel / (rows * cols) * cols : 0;
    if (zp && zp->numel != 1 && zp->numel != lines && zp->numel != batch_lines)
        return pq_err_set(err, PQ_ERR_INVALID, "%s zero point has %lld values, expected 1, %lld "
                          "or %lld", what, (long long)zp->numel, (long long)lines,
                          (long long)batch_lines);
    double *d = pq_malloc((size_t)(t->numel + 1) * sizeof *d);
    if (!d) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < t->numel; i++) {
        double z = 0;
        if (zp) {
            int64_t zi = 0;
            if (zp->numel != 1) {
                int64_t line = per_row ? i / cols                       /* batch * M + m */
                                       : (i / (rows * cols)) * cols + i % cols; /* batch*N+n */
                zi = zp->numel == batch_lines ? line : line % lines;
            }
            z = (double)pq_tensor_get_i64(zp, zi);
        }
        d[i] = (double)pq_tensor_get_i64(t, i) - z;
    }
    *out = d;
    return PQ_OK;
}

/* Exact integer product of two 8-bit operands minus zero points, in double. */
static pq_status mm_int_acc(const pq_tensor *a, const pq_tensor *azp, const pq_tensor *b,
                            const pq_tensor *bzp, mm_plan *p, double **acc, pq_err *err)
{
    pq_status st = PQ_OK;
    double *ad = NULL, *bd = NULL, *yd = NULL;
    *acc = NULL;
    PQ_TRY(mm_plan_make(a, b, p, err));
    PQ_TRY(mm_shift(a, azp, 1, "A", &ad, err));
    PQ_TRY(mm_shift(b, bzp, 0, "B", &bd, err));
    int64_t numel = p->batches * p->M * p->N;
    yd = pq_calloc((size_t)(numel + 1), sizeof *yd);
    PQ_CHECK(yd, PQ_ERR_NOMEM, "out of memory");
    if (numel > 0 && p->K > 0) {
        PQ_TRY(check_blas_int(p->a_flat ? p->batches * p->M : p->M, "M", err));
        PQ_TRY(check_blas_int(p->N, "N", err));
        PQ_TRY(check_blas_int(p->K, "K", err));
        mm_dgemm(p, ad, bd, yd, 1);
    }
    *acc = yd;
    yd = NULL;
fail:
    pq_free(ad);
    pq_free(bd);
    pq_free(yd);
    return st;
}

/* ONNX MatMulInteger-10: int32 Y = (A - a_zero_point) x (B - b_zero_point), numpy matmul. */
static pq_status run_matmulinteger(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *a = pq_node_input(n, 0), *b = pq_node_input(n, 1);
    pq_tensor *y = NULL;
    double *acc = NULL;
    mm_plan p;
    PQ_CHECK(a && b, PQ_ERR_INVALID, "inputs A and B are required");
    PQ_TRY(mm_int_acc(a, pq_node_input(n, 2), b, pq_node_input(n, 3), &p, &acc, err));
    PQ_TRY(pq_node_output(n, 0, PQ_DTYPE_INT32, p.yrank, p.ydims, 1, &y, err));
    for (int64_t i = 0; i < y->numel; i++) PQ_DATA(y, int32_t)[i] = (int32_t)acc[i];
fail:
    pq_free(acc);
    return st;
}

/* ONNX QLinearMatMul-10: Y = saturate(round(acc * a_scale * b_scale / y_scale) + y_zero_point),
 * rounding half to even in float32 (as onnxruntime). a_scale may be per row of A, b_scale per
 * column of B (1-D). */
static pq_status run_qlinearmatmul(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *a = pq_node_input(n, 0), *as = pq_node_input(n, 1);
    const pq_tensor *b = pq_node_input(n, 3), *bs = pq_node_input(n, 4);
    const pq_tensor *ys = pq_node_input(n, 6), *yzp = pq_node_input(n, 7);
    pq_tensor *y = NULL;
    double *acc = NULL;
    mm_plan p;
    PQ_CHECK(a && as && b && bs && ys && yzp, PQ_ERR_INVALID,
             "inputs a, a_scale, b, b_scale, y_scale and y_zero_point are required");
    PQ_CHECK(as->dtype == PQ_DTYPE_FLOAT32 && bs->dtype == PQ_DTYPE_FLOAT32 &&
             ys->dtype == PQ_DTYPE_FLOAT32 && ys->numel == 1, PQ_ERR_INVALID,
             "scales must be float32 (y_scale a scalar)");
    PQ_CHECK(is_int8_dtype(yzp->dtype) && yzp->numel == 1, PQ_ERR_INVALID,
             "y_zero_point must be an int8 or uint8 scalar");
    PQ_TRY(mm_int_acc(a, pq_node_input(n, 2), b, pq_node_input(n, 5), &p, &acc, err));
    PQ_CHECK(as->numel == 1 || as->numel == p.M, PQ_ERR_INVALID,
             "a_scale has %lld values, expected 1 or %lld", (long long)as->numel,
             (long long)p.M);
    PQ_CHECK(bs->numel == 1 || bs->numel == p.N, PQ_ERR_INVALID,
             "b_scale has %lld values, expected 1 or %lld", (long long)bs->numel,
             (long long)p.N);
    PQ_TRY(pq_node_output(n, 0, yzp->dtype, p.yrank, p.ydims, 1, &y, err));
    float y_scale = PQ_DATA(ys, float)[0];
    double zp = (double)pq_tensor_get_i64(yzp, 0);
    double lo = yzp->dtype == PQ_DTYPE_UINT8 ? 0 : -128, hi = yzp->dtype == PQ_DTYPE_UINT8 ? 255 : 127;
    for (int64_t i = 0; i < y->numel; i++) {
        int64_t col = i % p.N, row = (i / p.N) % p.M;
        float mul = PQ_DATA(as, float)[as->numel == 1 ? 0 : row] *
                    PQ_DATA(bs, float)[bs->numel == 1 ? 0 : col] / y_scale;
        double v = (double)nearbyintf((float)acc[i] * mul) + zp;
        v = v < lo ? lo : (v > hi ? hi : v);
        if (yzp->dtype == PQ_DTYPE_UINT8) PQ_DATA(y, uint8_t)[i] = (uint8_t)v;
        else PQ_DATA(y, int8_t)[i] = (int8_t)v;
    }
fail:
    pq_free(acc);
    return st;
}

const pq_op_def pq_ops_gemm[] = {
    {"", "Gemm", 1, 3, 3, 1, 1, gemm_prepare, run_gemm, free_ctx},
    {"", "Gemm", 6, 3, 3, 1, 1, gemm_prepare, run_gemm, free_ctx},
    {"", "Gemm", 7, 3, 3, 1, 1, gemm_prepare, run_gemm, free_ctx},
    {"", "Gemm", 9, 3, 3, 1, 1, gemm_prepare, run_gemm, free_ctx},
    {"", "Gemm", 11, 2, 3, 1, 1, gemm_prepare, run_gemm, free_ctx},
    {"", "Gemm", 13, 2, 3, 1, 1, gemm_prepare, run_gemm, free_ctx},
    {"", "MatMul", 1, 2, 2, 1, 1, NULL, run_matmul, NULL},
    {"", "MatMul", 9, 2, 2, 1, 1, NULL, run_matmul, NULL},
    {"", "MatMul", 13, 2, 2, 1, 1, NULL, run_matmul, NULL},
    {"", "MatMulInteger", 10, 2, 4, 1, 1, NULL, run_matmulinteger, NULL},
    {"", "QLinearMatMul", 10, 8, 8, 1, 1, NULL, run_qlinearmatmul, NULL},
    {"", "Einsum", 12, 1, 2147483647, 1, 1, pq__einsum_prepare, pq__einsum_run,
     pq__einsum_release},
    PQ_OP_DEF_END,
};

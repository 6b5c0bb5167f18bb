/* binary_ew.h - elementwise machinery shared by the binary, unary and activation families:
 * the numpy broadcast iterator, the blocked unary map, half-precision staging and a
 * vectorisable expf. Internal to src/exec/ops.
 *
 * Broadcast iterator. The output shape is walked as rows: every input is aligned to the
 * output (numpy rules: trailing dims match, a dim of 1 repeats), output dims of extent 1
 * are dropped and neighbouring dims merged whenever every input stays linear across them.
 * What remains is `rows x inner`, where the inner run is contiguous in the output and has
 * element stride 1 (a full run) or 0 (a repeated scalar) in each input. Kernels therefore
 * see only those two cases and keep their float32 loops tight: equal shapes collapse to a
 * single run, per-channel bias ([N,C,H,W] + [C,1,1]) to rows of H*W against a scalar, and
 * suffix broadcasts ([N,C] + [C]) to rows against a full run.
 */
#ifndef PQ_BINARY_EW_H
#define PQ_BINARY_EW_H

#include "../exec_internal.h"

#include <stdint.h>
#include <string.h>

#define PQ__EW_MAX_IN 3

/* An elementwise kernel over one run of n elements: input k starts at its pointer and
 * advances by its stride (elements; 0 or 1) per element, the output is contiguous. Binary
 * kernels ignore c. */
typedef void (*pq__ew_fn)(int64_t n, const void *a, int64_t sa, const void *b, int64_t sb,
                          const void *c, int64_t sc, void *y);

/* A broadcast plan (see above). */
typedef struct pq__ew_bcast {
    int n_in;
    int rank;                                  /* iteration rank after merging, >= 1 */
    int64_t dims[PQ_MAX_RANK];                 /* iteration dims; dims[rank-1] is the run */
    int64_t strides[PQ__EW_MAX_IN][PQ_MAX_RANK]; /* element strides of each input */
    int64_t numel;                             /* output elements */
} pq__ew_bcast;

/* Multidirectional (numpy) broadcast of the shapes of n_in tensors into rank/dims. Fails
 * with PQ_ERR_INVALID naming the shapes when two dims differ and neither is 1. */
pq_status pq__ew_bcast_shape(int n_in, const pq_tensor *const *in, int *rank, int64_t *dims,
                          pq_err *err);

/* Plans the walk of an output of shape out_rank/out_dims over n_in (<= 3) inputs, each of
 * which must broadcast to it (PQ_ERR_INVALID otherwise). */
pq_status pq__ew_bcast_plan(int n_in, const pq_tensor *const *in, int out_rank,
                         const int64_t *out_dims, pq__ew_bcast *p, pq_err *err);

/* Runs fn over the plan: in[k] points at input k's data (elements of in_size[k] bytes), out
 * at the output (out_size bytes per element). Large outputs are split over `threads`. */
void pq__ew_bcast_run(const pq__ew_bcast *p, pq__ew_fn fn, const void *const *in,
                   const size_t *in_size, void *out, size_t out_size, int threads);

/* A unary map kernel over n contiguous elements; ctx is the operator's parsed attributes. */
typedef void (*pq__ew_map_fn)(int64_t n, const void *x, void *y, const void *ctx);

/* y[i] = fn(x[i]) over x->numel elements, in blocks, in parallel for large tensors. When x
 * (or y) is float16/bfloat16, fn is a float32 kernel and blocks are staged through float32;
 * otherwise fn reads x's and writes y's dtype directly. */
void pq__ew_map_run(const pq_exec_node *n, const pq_tensor *x, pq_tensor *y, pq__ew_map_fn fn,
                 const void *ctx);

/* Whether dt is float16 or bfloat16 (computed through float32). */
static inline int pq__ew_is_half(pq_dtype dt)
{
    return dt == PQ_DTYPE_FLOAT16 || dt == PQ_DTYPE_BFLOAT16;
}

/* Half <-> float32 conversion of n elements (dt float16 or bfloat16). */
void pq__ew_half_to_f32(pq_dtype dt, const uint16_t *src, float *dst, int64_t n);
void pq__ew_f32_to_half(pq_dtype dt, const float *src, uint16_t *dst, int64_t n);

/* A float32 copy of a half tensor's data (pq_malloc'd, caller frees); NULL on allocation
 * failure. */
float *pq__ew_half_copy_f32(const pq_tensor *t);

/* exp(x) for float32 in a form the compiler vectorises (Cephes' expf: range reduction by
 * ln 2 and a degree-6 polynomial; ~1 ulp), for x in [PQ__EW_EXP_LO, PQ__EW_EXP_HI] (or NaN).
 * Callers clamp the argument first with pq__ew_exp_clamp in a loop of its own: GCC (with
 * its default -ftrapping-math) vectorises a select whose result is stored, but not one whose
 * result feeds further arithmetic. Clamping makes very negative x give ~1e-38 instead of a
 * denormal or 0 and very large x a finite ~2e38 instead of inf: only for callers that
 * saturate anyway (Sigmoid, Tanh, Softmax of x - max). */
#define PQ__EW_EXP_LO (-87.3f)
#define PQ__EW_EXP_HI 88.3f

static inline float pq__ew_exp_clamp(float x)
{
    x = x < PQ__EW_EXP_LO ? PQ__EW_EXP_LO : x;
    return x > PQ__EW_EXP_HI ? PQ__EW_EXP_HI : x;
}

static inline float pq__ew_expf(float x)
{
    /* n = round(x / ln 2) by the 1.5 * 2^23 trick (round to nearest, no libm call). */
    float t = x * 1.44269504088896341f + 12582912.0f;
    float nf = t - 12582912.0f;
    float r = x - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)nf + 127) << 23;
    float s;
    memcpy(&s, &e, sizeof s);
    return p * s;
}

/* Compute-bound float32 loops are also compiled for AVX-512F and AVX2; the loader picks the
 * clone for the machine. Results do not depend on the clone: -std=c11 keeps multiply and
 * add unfused. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PQ__EW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PQ__EW_CLONES
#endif

/* For kernels whose selects pick computed floating-point values (LeakyRelu's alpha * x):
 * with -fno-trapping-math GCC may evaluate both sides and if-convert the loop, which it then
 * vectorises; the kernels never inspect floating-point exception flags, so results are
 * unchanged. */
#if defined(__GNUC__) && !defined(__clang__)
#define PQ__EW_NOTRAP __attribute__((optimize("no-trapping-math")))
#else
#define PQ__EW_NOTRAP
#endif

/* Pragmas: `omp simd` makes GCC vectorise loops the -O2 cost model would leave scalar. */
#ifdef _OPENMP
#define PQ__EW_PRAGMA(x) _Pragma(#x)
#define PQ__SIMD PQ__EW_PRAGMA(omp simd)
#else
#define PQ__SIMD
#endif

/* Float32 kernels built on the vectorisable expf: per block, the clamped exp arguments
 * ARG(x) go to a stack buffer in one loop, then y = OUT(x, e), e = exp(argument), in a
 * second (see pq__ew_expf for why two loops). */
#define PQ__EW_EXP_BLOCK 512
#define PQ__EW_EXP_MAP(name, ARG, OUT)                                                       \
    PQ__EW_CLONES static void name(int64_t n, const void *px, void *py, const void *ctx)     \
    {                                                                                        \
        (void)ctx;                                                                           \
        const float *restrict X = px;                                                        \
        float *restrict Y = py;                                                              \
        float buf[PQ__EW_EXP_BLOCK];                                                         \
        for (int64_t b = 0; b < n; b += PQ__EW_EXP_BLOCK) {                                  \
            const int64_t m = n - b < PQ__EW_EXP_BLOCK ? n - b : PQ__EW_EXP_BLOCK;           \
            const float *restrict xb = X + b;                                                \
            float *restrict yb = Y + b;                                                      \
            PQ__SIMD for (int64_t i = 0; i < m; i++)                                         \
            {                                                                                \
                const float x = xb[i];                                                       \
                (void)x;                                                                     \
                buf[i] = pq__ew_exp_clamp(ARG);                                              \
            }                                                                                \
            PQ__SIMD for (int64_t i = 0; i < m; i++)                                         \
            {                                                                                \
                const float x = xb[i];                                                       \
                (void)x;                                                                     \
                const float e = pq__ew_expf(buf[i]);                                         \
                yb[i] = OUT;                                                                 \
            }                                                                                \
        }                                                                                    \
    }

/* erfc(z) for z >= 0 as t exp(pq__ew_erfc_arg(z)), t = PQ__EW_ERFC_T(z) = 1 / (1 + z / 2):
 * the degree-9 Chebyshev fit of Numerical Recipes' erfcc (fractional error below 1.2e-7 in
 * exact arithmetic, a few 1e-7 in float32), whose exp goes through pq__ew_expf. */
#define PQ__EW_ERFC_T(z) (1.0f / (1.0f + 0.5f * (z)))
static inline float pq__ew_erfc_arg(float z)
{
    const float t = PQ__EW_ERFC_T(z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    return -z * z + (p * t - 1.26551223f);
}

#endif /* PQ_BINARY_EW_H */

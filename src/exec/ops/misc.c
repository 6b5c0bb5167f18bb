/* misc.c - operator family: operators outside the other families (losses, signal
 * processing, string and set operations). This file holds the family table, the helpers of
 * misc_internal.h and the small tensor operators Shrink, Compress, ReverseSequence and Det;
 * the others live in misc_loss.c (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss),
 * misc_unique.c (Unique), misc_gridsample.c (GridSample), misc_signal.c (DFT, STFT, the
 * window functions, MelWeightMatrix) and misc_text.c (StringNormalizer, TfIdfVectorizer).
 */
#include "misc_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* ================================================================== helpers */

void pq__misc_release_ctx(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

int pq__misc_is_float(pq_dtype dt)
{
    return dt == PQ_DTYPE_FLOAT32 || dt == PQ_DTYPE_FLOAT64 || dt == PQ_DTYPE_FLOAT16 ||
           dt == PQ_DTYPE_BFLOAT16;
}

pq_status pq__misc_scalar_i64(const pq_tensor *t, const char *what, int64_t *out, pq_err *err)
{
    if (!t) return pq_err_set(err, PQ_ERR_INVALID, "%s is missing", what);
    if (t->dtype != PQ_DTYPE_INT32 && t->dtype != PQ_DTYPE_INT64)
        return pq_err_set(err, PQ_ERR_INVALID, "%s has dtype %s, expected int32 or int64", what,
                          pq_dtype_name(t->dtype));
    if (t->numel != 1)
        return pq_err_set(err, PQ_ERR_INVALID, "%s has %" PRId64 " elements, expected a scalar",
                          what, t->numel);
    *out = pq_tensor_get_i64(t, 0);
    return PQ_OK;
}

pq_status pq__misc_scalar_f64(const pq_tensor *t, const char *what, double *out, pq_err *err)
{
    if (!t) return pq_err_set(err, PQ_ERR_INVALID, "%s is missing", what);
    if (t->dtype == PQ_DTYPE_STRING || !pq_dtype_is_supported(t->dtype))
        return pq_err_set(err, PQ_ERR_INVALID, "%s has dtype %s, expected a number", what,
                          pq_dtype_name(t->dtype));
    if (t->numel != 1)
        return pq_err_set(err, PQ_ERR_INVALID, "%s has %" PRId64 " elements, expected a scalar",
                          what, t->numel);
    *out = pq_tensor_get_f64(t, 0);
    return PQ_OK;
}

/* Truncates v toward zero and saturates it to [lo, hi]; NaN gives 0. */
static double sat(double v, double lo, double hi)
{
    if (v != v) return 0;
    v = trunc(v);
    return v < lo ? lo : v > hi ? hi : v;
}

void pq__misc_store_f64(pq_tensor *t, int64_t i, double v)
{
    void *d = t->data;
    switch (t->dtype) {
    case PQ_DTYPE_FLOAT32: ((float *)d)[i] = (float)v; break;
    case PQ_DTYPE_FLOAT64: ((double *)d)[i] = v; break;
    case PQ_DTYPE_FLOAT16: ((uint16_t *)d)[i] = pq_f32_to_f16((float)v); break;
    case PQ_DTYPE_BFLOAT16: ((uint16_t *)d)[i] = pq_f32_to_bf16((float)v); break;
    case PQ_DTYPE_UINT8: ((uint8_t *)d)[i] = (uint8_t)sat(v, 0, UINT8_MAX); break;
    case PQ_DTYPE_INT8: ((int8_t *)d)[i] = (int8_t)sat(v, INT8_MIN, INT8_MAX); break;
    case PQ_DTYPE_UINT16: ((uint16_t *)d)[i] = (uint16_t)sat(v, 0, UINT16_MAX); break;
    case PQ_DTYPE_INT16: ((int16_t *)d)[i] = (int16_t)sat(v, INT16_MIN, INT16_MAX); break;
    case PQ_DTYPE_UINT32: ((uint32_t *)d)[i] = (uint32_t)sat(v, 0, UINT32_MAX); break;
    case PQ_DTYPE_INT32: ((int32_t *)d)[i] = (int32_t)sat(v, INT32_MIN, INT32_MAX); break;
    /* 2^64 and 2^63 are the first doubles beyond the ranges. */
    case PQ_DTYPE_UINT64:
        ((uint64_t *)d)[i] = v >= 0x1p64 ? UINT64_MAX : (uint64_t)sat(v, 0, 0x1p64);
        break;
    case PQ_DTYPE_INT64:
        ((int64_t *)d)[i] = v >= 0x1p63 ? INT64_MAX : (int64_t)sat(v, -0x1p63, 0x1p63);
        break;
    case PQ_DTYPE_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    default: PQ_ASSERT(!"pq__misc_store_f64: dtype has no numeric value");
    }
}

pq_status pq__misc_copy_elems(pq_tensor *dst, int64_t di, const pq_tensor *src, int64_t si,
                              int64_t count, pq_err *err)
{
    PQ_ASSERT(dst->dtype == src->dtype);
    if (count <= 0) return PQ_OK;
    if (src->dtype == PQ_DTYPE_STRING) {
        char *const *s = src->data;
        for (int64_t k = 0; k < count; k++) {
            pq_status st = pq_tensor_set_string(dst, di + k, s[si + k], err);
            if (st != PQ_OK) return st;
        }
        return PQ_OK;
    }
    size_t esz = pq_dtype_size(src->dtype);
    memcpy((char *)dst->data + (size_t)di * esz, (const char *)src->data + (size_t)si * esz,
           (size_t)count * esz);
    return PQ_OK;
}

double *pq__misc_to_f64(const pq_tensor *t)
{
    double *d = pq_malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *d);
    if (!d) return NULL;
    if (t->dtype == PQ_DTYPE_FLOAT32) {
        const float *restrict s = t->data;
        for (int64_t i = 0; i < t->numel; i++) d[i] = s[i];
    } else {
        for (int64_t i = 0; i < t->numel; i++) d[i] = pq_tensor_get_f64(t, i);
    }
    return d;
}

/* ================================================================== Shrink */

/* ONNX Shrink-9: y = x + bias if x < -lambd, x - bias if x > lambd, else 0. Integer inputs
 * are compared and shifted in double and stored back saturated. */
typedef struct shrink_ctx {
    float lambd, bias;
} shrink_ctx;

static pq_status prepare_shrink(pq_exec_node *n, pq_err *err)
{
    shrink_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing Shrink");
    n->ctx = c;
    pq_status st = pq_op_get_float(n->op, "lambd", 0.5f, &c->lambd, err);
    if (st == PQ_OK) st = pq_op_get_float(n->op, "bias", 0.0f, &c->bias, err);
    if (st != PQ_OK) pq__misc_release_ctx(n);
    return st;
}

static pq_status run_shrink(pq_exec_node *n, pq_err *err)
{
    const shrink_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    if (x->dtype == PQ_DTYPE_STRING || x->dtype == PQ_DTYPE_BOOL)
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "Shrink does not take %s input",
                          pq_dtype_name(x->dtype));
    pq_status st = pq_node_output(n, 0, x->dtype, x->rank, x->dims, 1, &y, err);
    if (st != PQ_OK) return st;
    const int64_t len = x->numel;
    if (x->dtype == PQ_DTYPE_FLOAT32) {
        const float *restrict X = x->data;
        float *restrict Y = y->data;
        const float l = c->lambd, b = c->bias;
        for (int64_t i = 0; i < len; i++) {
            const float v = X[i];
            Y[i] = v < -l ? v + b : (v > l ? v - b : 0.0f);
        }
    } else if (x->dtype == PQ_DTYPE_FLOAT64) {
        const double *restrict X = x->data;
        double *restrict Y = y->data;
        const double l = c->lambd, b = c->bias;
        for (int64_t i = 0; i < len; i++) {
            const double v = X[i];
            Y[i] = v < -l ? v + b : (v > l ? v - b : 0.0);
        }
    } else {
        const double l = c->lambd, b = c->bias;
        for (int64_t i = 0; i < len; i++) {
            const double v = pq_tensor_get_f64(x, i);
            pq__misc_store_f64(y, i, v < -l ? v + b : (v > l ? v - b : 0.0));
        }
    }
    return PQ_OK;
}

/* ================================================================== Compress */

/* ONNX Compress-9/11: selects the slices along `axis` (or the elements of the flattened
 * input when axis is absent) whose condition entry is true. A condition shorter than the
 * axis selects nothing beyond its end; entries beyond the axis must be false (numpy.compress
 * fails on them). Compress-9 takes axis in [0, r-1], Compress-11 in [-r, r-1]. */
typedef struct compress_ctx {
    int has_axis;
    int64_t axis;
} compress_ctx;

static pq_status prepare_compress(pq_exec_node *n, pq_err *err)
{
    compress_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing Compress");
    n->ctx = c;
    c->has_axis = pq_op_find_attr(n->op, "axis") != NULL;
    pq_status st = pq_op_get_int(n->op, "axis", 0, &c->axis, err);
    if (st == PQ_OK && c->has_axis && c->axis < 0 && n->def->since_version < 11)
        st = pq_err_set(err, PQ_ERR_INVALID, "Compress-9 takes a non-negative axis, got %" PRId64,
                        c->axis);
    if (st != PQ_OK) pq__misc_release_ctx(n);
    return st;
}

static pq_status run_compress(pq_exec_node *n, pq_err *err)
{
    const compress_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *cond = n->inputs[1];
    pq_tensor *y = NULL;
    pq_status st = PQ_OK;
    if (cond->dtype != PQ_DTYPE_BOOL || cond->rank != 1)
        return pq_err_set(err, PQ_ERR_INVALID, "condition must be a 1-D bool tensor, got %s rank %d",
                          pq_dtype_name(cond->dtype), cond->rank);
    int64_t outer = 1, len = x->numel, inner = 1;
    int axis = 0;
    if (c->has_axis) {
        if (c->axis < -x->rank || c->axis >= x->rank)
            return pq_err_set(err, PQ_ERR_INVALID, "axis %" PRId64 " is out of range for rank %d",
                              c->axis, x->rank);
        axis = (int)(c->axis < 0 ? c->axis + x->rank : c->axis);
        len = x->dims[axis];
        for (int d = 0; d < axis; d++) outer *= x->dims[d];
        for (int d = axis + 1; d < x->rank; d++) inner *= x->dims[d];
    }
    const uint8_t *cv = cond->data;
    int64_t kept = 0;
    for (int64_t i = 0; i < cond->numel; i++) {
        if (!cv[i]) continue;
        if (i >= len)
            return pq_err_set(err, PQ_ERR_INVALID,
                              "condition selects index %" PRId64 " but the axis has %" PRId64
                              " entries",
                              i, len);
        kept++;
    }
    int64_t dims[PQ_MAX_RANK];
    int rank = 1;
    if (c->has_axis) {
        rank = x->rank;
        memcpy(dims, x->dims, sizeof(int64_t) * (size_t)rank);
        dims[axis] = kept;
    } else {
        dims[0] = kept;
    }
    st = pq_node_output(n, 0, x->dtype, rank, dims, x->dtype != PQ_DTYPE_STRING, &y, err);
    if (st != PQ_OK) return st;
    int64_t o = 0;
    for (int64_t b = 0; b < outer; b++)
        for (int64_t i = 0; i < cond->numel && i < len; i++) {
            if (!cv[i]) continue;
            st = pq__misc_copy_elems(y, o, x, (b * len + i) * inner, inner, err);
            if (st != PQ_OK) return st;
            o += inner;
        }
    return PQ_OK;
}

/* ================================================================== ReverseSequence */

/* ONNX ReverseSequence-10: for each batch entry b, reverses the first sequence_lens[b]
 * elements along time_axis and copies the rest. batch_axis and time_axis are 0 and 1 (in
 * either order); lengths must lie in [0, max_time]. */
typedef struct revseq_ctx {
    int64_t batch_axis, time_axis;
} revseq_ctx;

static pq_status prepare_revseq(pq_exec_node *n, pq_err *err)
{
    revseq_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing ReverseSequence");
    n->ctx = c;
    pq_status st = pq_op_get_int(n->op, "batch_axis", 1, &c->batch_axis, err);
    if (st == PQ_OK) st = pq_op_get_int(n->op, "time_axis", 0, &c->time_axis, err);
    if (st == PQ_OK &&
        !((c->batch_axis == 0 && c->time_axis == 1) || (c->batch_axis == 1 && c->time_axis == 0)))
        st = pq_err_set(err, PQ_ERR_INVALID,
                        "batch_axis %" PRId64 " and time_axis %" PRId64 " must be 0 and 1",
                        c->batch_axis, c->time_axis);
    if (st != PQ_OK) pq__misc_release_ctx(n);
    return st;
}

static pq_status run_revseq(pq_exec_node *n, pq_err *err)
{
    const revseq_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *lens = n->inputs[1];
    pq_tensor *y = NULL;
    if (x->rank < 2)
        return pq_err_set(err, PQ_ERR_INVALID, "input has rank %d, expected at least 2", x->rank);
    const int64_t T = x->dims[c->time_axis], B = x->dims[c->batch_axis];
    if ((lens->dtype != PQ_DTYPE_INT64 && lens->dtype != PQ_DTYPE_INT32) || lens->rank != 1 ||
        lens->dims[0] != B)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "sequence_lens must be an int64 (or int32) tensor of shape [%" PRId64 "]", B);
    int64_t inner = 1;
    for (int d = 2; d < x->rank; d++) inner *= x->dims[d];
    pq_status st = pq_node_output(n, 0, x->dtype, x->rank, x->dims, x->dtype != PQ_DTYPE_STRING,
                                  &y, err);
    if (st != PQ_OK) return st;
    /* element offset of (t, b) */
    const int64_t st_t = c->time_axis == 0 ? B * inner : inner;
    const int64_t st_b = c->time_axis == 0 ? inner : T * inner;
    for (int64_t b = 0; b < B; b++) {
        int64_t L = pq_tensor_get_i64(lens, b);
        if (L < 0 || L > T)
            return pq_err_set(err, PQ_ERR_INVALID,
                              "sequence_lens[%" PRId64 "] = %" PRId64 " is outside [0, %" PRId64 "]",
                              b, L, T);
        for (int64_t t = 0; t < T; t++) {
            const int64_t src = t < L ? L - 1 - t : t;
            st = pq__misc_copy_elems(y, t * st_t + b * st_b, x, src * st_t + b * st_b, inner, err);
            if (st != PQ_OK) return st;
        }
    }
    return PQ_OK;
}

/* ================================================================== Det */

/* ONNX Det-11: determinant of each trailing M x M matrix of [*, M, M], by LU decomposition
 * with partial pivoting in double precision. An empty matrix (M = 0) has determinant 1. */
static pq_status run_det(pq_exec_node *n, pq_err *err)
{
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    double *a = NULL;
    pq_status st = PQ_OK;
    PQ_CHECK(pq__misc_is_float(x->dtype), PQ_ERR_UNSUPPORTED, "Det does not take %s input",
             pq_dtype_name(x->dtype));
    PQ_CHECK(x->rank >= 2 && x->dims[x->rank - 1] == x->dims[x->rank - 2], PQ_ERR_INVALID,
             "input must have shape [*, M, M]");
    const int64_t M = x->dims[x->rank - 1];
    PQ_TRY(pq_node_output(n, 0, x->dtype, x->rank - 2, x->dims, 1, &y, err));
    a = pq_malloc((size_t)(M * M > 0 ? M * M : 1) * sizeof *a);
    PQ_CHECK(a, PQ_ERR_NOMEM, "out of memory for a %" PRId64 "x%" PRId64 " matrix", M, M);
    for (int64_t m = 0; m < y->numel; m++) {
        for (int64_t i = 0; i < M * M; i++) a[i] = pq_tensor_get_f64(x, m * M * M + i);
        double det = 1.0;
        for (int64_t k = 0; k < M && det != 0.0; k++) {
            int64_t p = k;
            for (int64_t i = k + 1; i < M; i++)
                if (fabs(a[i * M + k]) > fabs(a[p * M + k])) p = i;
            if (a[p * M + k] == 0.0) {
                det = 0.0;
                break;
            }
            if (p != k) {
                for (int64_t j = 0; j < M; j++) {
                    double t = a[k * M + j];
                    a[k * M + j] = a[p * M + j];
                    a[p * M + j] = t;
                }
                det = -det;
            }
            const double piv = a[k * M + k];
            det *= piv;
            for (int64_t i = k + 1; i < M; i++) {
                const double f = a[i * M + k] / piv;
                for (int64_t j = k + 1; j < M; j++) a[i * M + j] -= f * a[k * M + j];
            }
        }
        pq__misc_store_f64(y, m, det);
    }
fail:
    pq_free(a);
    return st;
}

/* ================================================================== table */

const pq_op_def pq_ops_misc[] = {
    {"", "Shrink", 9, 1, 1, 1, 1, prepare_shrink, run_shrink, pq__misc_release_ctx},
    {"", "Compress", 9, 2, 2, 1, 1, prepare_compress, run_compress, pq__misc_release_ctx},
    {"", "Compress", 11, 2, 2, 1, 1, prepare_compress, run_compress, pq__misc_release_ctx},
    {"", "ReverseSequence", 10, 2, 2, 1, 1, prepare_revseq, run_revseq, pq__misc_release_ctx},
    {"", "Det", 11, 1, 1, 1, 1, NULL, run_det, NULL},
    {"", "NegativeLogLikelihoodLoss", 12, 2, 3, 1, 1, pq__misc_loss_prepare,
     pq__misc_run_nllloss, pq__misc_release_ctx},
    {"", "NegativeLogLikelihoodLoss", 13, 2, 3, 1, 1, pq__misc_loss_prepare,
     pq__misc_run_nllloss, pq__misc_release_ctx},
    {"", "SoftmaxCrossEntropyLoss", 12, 2, 3, 1, 2, pq__misc_loss_prepare, pq__misc_run_sce,
     pq__misc_release_ctx},
    {"", "SoftmaxCrossEntropyLoss", 13, 2, 3, 1, 2, pq__misc_loss_prepare, pq__misc_run_sce,
     pq__misc_release_ctx},
    {"", "Unique", 11, 1, 1, 1, 4, pq__misc_unique_prepare, pq__misc_run_unique,
     pq__misc_release_ctx},
    {"", "GridSample", 16, 2, 2, 1, 1, pq__misc_gridsample_prepare, pq__misc_run_gridsample,
     pq__misc_release_ctx},
    {"", "DFT", 17, 1, 2, 1, 1, pq__misc_dft_prepare, pq__misc_run_dft, pq__misc_release_ctx},
    {"", "STFT", 17, 2, 4, 1, 1, pq__misc_stft_prepare, pq__misc_run_stft, pq__misc_release_ctx},
    {"", "HannWindow", 17, 1, 1, 1, 1, pq__misc_window_prepare, pq__misc_run_window,
     pq__misc_release_ctx},
    {"", "HammingWindow", 17, 1, 1, 1, 1, pq__misc_window_prepare, pq__misc_run_window,
     pq__misc_release_ctx},
    {"", "BlackmanWindow", 17, 1, 1, 1, 1, pq__misc_window_prepare, pq__misc_run_window,
     pq__misc_release_ctx},
    {"", "MelWeightMatrix", 17, 5, 5, 1, 1, pq__misc_mel_prepare, pq__misc_run_mel,
     pq__misc_release_ctx},
    {"", "StringNormalizer", 10, 1, 1, 1, 1, pq__misc_strnorm_prepare, pq__misc_run_strnorm,
     pq__misc_strnorm_release},
    {"", "TfIdfVectorizer", 9, 1, 1, 1, 1, pq__misc_tfidf_prepare, pq__misc_run_tfidf,
     pq__misc_tfidf_release},
    PQ_OP_DEF_END,
};

/* tensor.c - dense tensors with reference counting and views. */
#include "pq_core.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int64_t pq_shape_numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return -1;
        if (dims[i] != 0 && n > INT64_MAX / dims[i]) return -1;
        n *= dims[i];
    }
    return n;
}

const char *pq_shape_str(int rank, const int64_t *dims, char *buf, size_t cap)
{
    size_t off = 0;
    if (cap == 0) return buf;
    buf[0] = '\0';
    off += (size_t)snprintf(buf + off, cap - off, "[");
    for (int i = 0; i < rank && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%" PRId64, i ? ", " : "", dims[i]);
    if (off < cap) snprintf(buf + off, cap - off, "]");
    return buf;
}

const char *pq_tensor_describe(const pq_tensor *t, char *buf, size_t cap)
{
    char shape[256];
    snprintf(buf, cap, "%s%s", pq_dtype_name(t->dtype),
             pq_shape_str(t->rank, t->dims, shape, sizeof shape));
    return buf;
}

static pq_status tensor_alloc(pq_dtype dtype, int rank, const int64_t *dims, int zero,
                              pq_tensor **out, pq_err *err)
{
    *out = NULL;
    if (!pq_dtype_is_supported(dtype))
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "tensor dtype %d (%s) is not supported",
                          (int)dtype, pq_dtype_name(dtype));
    if (rank < 0 || rank > PQ_MAX_RANK)
        return pq_err_set(err, PQ_ERR_INVALID, "tensor rank %d is outside [0, %d]", rank,
                          PQ_MAX_RANK);
    int64_t numel = pq_shape_numel(rank, dims);
    if (numel < 0) {
        char s[256];
        return pq_err_set(err, PQ_ERR_INVALID, "invalid tensor shape %s",
                          pq_shape_str(rank, dims, s, sizeof s));
    }
    size_t esz = pq_dtype_size(dtype);
    if ((uint64_t)numel > SIZE_MAX / esz)
        return pq_err_set(err, PQ_ERR_INVALID, "tensor of %" PRId64 " elements is too large",
                          numel);
    pq_tensor *t = pq_calloc(1, sizeof *t);
    if (!t) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory allocating a tensor");
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    t->numel = numel;
    t->nbytes = (size_t)numel * esz;
    t->refcount = 1;
    t->data = (zero || dtype == PQ_DTYPE_STRING) ? pq_calloc(1, t->nbytes ? t->nbytes : 1)
                                                 : pq_malloc(t->nbytes ? t->nbytes : 1);
    if (!t->data) {
        pq_free(t);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory allocating %zu bytes for a tensor",
                          (size_t)numel * esz);
    }
    if (dtype == PQ_DTYPE_STRING) {
        char **s = t->data;
        for (int64_t i = 0; i < numel; i++) {
            s[i] = pq_strdup("");
            if (!s[i]) {
                pq_tensor_destroy(&t);
                return pq_err_set(err, PQ_ERR_NOMEM, "out of memory allocating strings");
            }
        }
    }
    *out = t;
    return PQ_OK;
}

pq_status pq_tensor_create(pq_dtype dtype, int rank, const int64_t *dims, pq_tensor **out,
                           pq_err *err)
{
    return tensor_alloc(dtype, rank, dims, 1, out, err);
}

pq_status pq_tensor_create_uninit(pq_dtype dtype, int rank, const int64_t *dims,
                                  pq_tensor **out, pq_err *err)
{
    return tensor_alloc(dtype, rank, dims, 0, out, err);
}

pq_status pq_tensor_view(pq_tensor *parent, int rank, const int64_t *dims, pq_tensor **out,
                         pq_err *err)
{
    *out = NULL;
    if (rank < 0 || rank > PQ_MAX_RANK)
        return pq_err_set(err, PQ_ERR_INVALID, "view rank %d is outside [0, %d]", rank,
                          PQ_MAX_RANK);
    int64_t numel = pq_shape_numel(rank, dims);
    if (numel != parent->numel) {
        char a[256], b[256];
        return pq_err_set(err, PQ_ERR_INVALID, "cannot view %s as %s",
                          pq_tensor_describe(parent, a, sizeof a),
                          pq_shape_str(rank, dims, b, sizeof b));
    }
    pq_tensor *t = pq_calloc(1, sizeof *t);
    if (!t) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory allocating a tensor view");
    *t = *parent;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    t->is_view = 1;
    t->parent = pq_tensor_retain(parent);
    t->refcount = 1;
    *out = t;
    return PQ_OK;
}

pq_status pq_tensor_clone(const pq_tensor *src, pq_tensor **out, pq_err *err)
{
    pq_status st = tensor_alloc(src->dtype, src->rank, src->dims, 0, out, err);
    if (st != PQ_OK) return st;
    if (src->dtype == PQ_DTYPE_STRING) {
        for (int64_t i = 0; i < src->numel; i++) {
            st = pq_tensor_set_string(*out, i, ((char *const *)src->data)[i], err);
            if (st != PQ_OK) {
                pq_tensor_destroy(out);
                return st;
            }
        }
    } else if (src->nbytes) {
        memcpy((*out)->data, src->data, src->nbytes);
    }
    return PQ_OK;
}

pq_tensor *pq_tensor_retain(pq_tensor *t)
{
    if (t) t->refcount++;
    return t;
}

void pq_tensor_destroy(pq_tensor **tp)
{
    if (!tp || !*tp) return;
    pq_tensor *t = *tp;
    *tp = NULL;
    if (--t->refcount > 0) return;
    if (t->is_view) {
        pq_tensor_destroy(&t->parent);
    } else {
        if (t->dtype == PQ_DTYPE_STRING && t->data) {
            char **s = t->data;
            for (int64_t i = 0; i < t->numel; i++) pq_free(s[i]);
        }
        pq_free(t->data);
    }
    pq_free(t);
}

pq_status pq_tensor_reshape(pq_tensor *t, int rank, const int64_t *dims, pq_err *err)
{
    if (rank < 0 || rank > PQ_MAX_RANK || pq_shape_numel(rank, dims) != t->numel) {
        char a[256], b[256];
        return pq_err_set(err, PQ_ERR_INVALID, "cannot reshape %s to %s",
                          pq_tensor_describe(t, a, sizeof a),
                          pq_shape_str(rank > PQ_MAX_RANK ? 0 : rank, dims, b, sizeof b));
    }
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    return PQ_OK;
}

pq_status pq_tensor_set_string(pq_tensor *t, int64_t i, const char *s, pq_err *err)
{
    PQ_ASSERT(t->dtype == PQ_DTYPE_STRING && i >= 0 && i < t->numel);
    char *d = pq_strdup(s ? s : "");
    if (!d) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory copying a string");
    char **arr = t->data;
    pq_free(arr[i]);
    arr[i] = d;
    return PQ_OK;
}

double pq_tensor_get_f64(const pq_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case PQ_DTYPE_FLOAT32: return ((const float *)d)[i];
    case PQ_DTYPE_FLOAT64: return ((const double *)d)[i];
    case PQ_DTYPE_FLOAT16: return pq_f16_to_f32(((const uint16_t *)d)[i]);
    case PQ_DTYPE_BFLOAT16: return pq_bf16_to_f32(((const uint16_t *)d)[i]);
    case PQ_DTYPE_UINT8: return ((const uint8_t *)d)[i];
    case PQ_DTYPE_INT8: return ((const int8_t *)d)[i];
    case PQ_DTYPE_UINT16: return ((const uint16_t *)d)[i];
    case PQ_DTYPE_INT16: return ((const int16_t *)d)[i];
    case PQ_DTYPE_INT32: return ((const int32_t *)d)[i];
    case PQ_DTYPE_INT64: return (double)((const int64_t *)d)[i];
    case PQ_DTYPE_UINT32: return ((const uint32_t *)d)[i];
    case PQ_DTYPE_UINT64: return (double)((const uint64_t *)d)[i];
    case PQ_DTYPE_BOOL: return ((const uint8_t *)d)[i] ? 1.0 : 0.0;
    default: return 0.0;
    }
}

int64_t pq_tensor_get_i64(const pq_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case PQ_DTYPE_INT64: return ((const int64_t *)d)[i];
    case PQ_DTYPE_INT32: return ((const int32_t *)d)[i];
    case PQ_DTYPE_INT16: return ((const int16_t *)d)[i];
    case PQ_DTYPE_INT8: return ((const int8_t *)d)[i];
    case PQ_DTYPE_UINT8: return ((const uint8_t *)d)[i];
    case PQ_DTYPE_UINT16: return ((const uint16_t *)d)[i];
    case PQ_DTYPE_UINT32: return ((const uint32_t *)d)[i];
    case PQ_DTYPE_UINT64: return (int64_t)((const uint64_t *)d)[i];
    case PQ_DTYPE_BOOL: return ((const uint8_t *)d)[i] ? 1 : 0;
    default: return (int64_t)pq_tensor_get_f64(t, i);
    }
}

/* gather.c - operator family: Gather GatherElements GatherND ScatterElements Scatter ScatterND
 * OneHot NonZero Trilu DepthToSpace SpaceToDepth Pad EyeLike.
 *
 * Indexing ops copy whole inner slices with memcpy where the layout allows it; element-wise
 * ones (GatherElements, Scatter*) walk the index tensor with an odometer. Every index is
 * checked against its dimension (negative ones count from the end) before anything is
 * written. Strings are moved as pointers and then duplicated (shape_common.h).
 */
#include "shape_common.h"

#include <inttypes.h>
#include <string.h>

static void release_ctx(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

static pq_status alloc_ctx(pq_exec_node *n, size_t size, pq_err *err)
{
    n->ctx = pq_calloc(1, size);
    if (!n->ctx) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing %s", n->op->type);
    return PQ_OK;
}

static inline void copy_elem(char *dst, const char *src, size_t esz)
{
    switch (esz) {
    case 1: *dst = *src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, esz);
    }
}

/* Index i of an int32/int64 tensor. */
static inline int64_t index_at(const pq_tensor *t, int64_t i)
{
    return t->dtype == PQ_DTYPE_INT64 ? PQ_DATA(t, int64_t)[i] : PQ_DATA(t, int32_t)[i];
}

static pq_status check_index_dtype(const pq_tensor *t, const char *what, pq_err *err)
{
    if (t->dtype != PQ_DTYPE_INT64 && t->dtype != PQ_DTYPE_INT32)
        return pq_err_set(err, PQ_ERR_INVALID, "%s has dtype %s, expected int32 or int64", what,
                          pq_dtype_name(t->dtype));
    return PQ_OK;
}

/* Normalises index v against dim (negative counts from the end); PQ_ERR_INVALID outside. */
static inline pq_status norm_index(int64_t v, int64_t dim, int64_t *out, pq_err *err)
{
    if (v < -dim || v >= dim)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "index %" PRId64 " is outside [%" PRId64 ", %" PRId64 ")", v, -dim, dim);
    *out = v < 0 ? v + dim : v;
    return PQ_OK;
}

/* An index already checked by norm_index. */
static inline int64_t wrap_index(int64_t v, int64_t dim)
{
    return v < 0 ? v + dim : v;
}

/* Creates output idx like `like` but with dtype dt and copies its data (strings too). */
static pq_status copy_to_output(pq_exec_node *n, int idx, const pq_tensor *x, pq_tensor **out,
                                pq_err *err)
{
    pq_status st = pq_node_output(n, idx, x->dtype, x->rank, x->dims, 1, out, err);
    if (st != PQ_OK) return st;
    if (x->dtype != PQ_DTYPE_STRING) {
        if (x->nbytes) memcpy((*out)->data, x->data, x->nbytes);
        return PQ_OK;
    }
    pq__shape_strings_clear(*out);
    if (x->numel) memcpy((*out)->data, x->data, x->nbytes);
    return pq__shape_strings_own(*out, err);
}

/* ------------------------------------------------------------------ Gather */

static pq_status prepare_axis(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(int64_t), err));
    PQ_TRY(pq_op_get_int(n->op, "axis", 0, n->ctx, err));
fail:
    return st;
}

static pq_status run_gather(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0], *ind = n->inputs[1];
    pq_tensor *y = NULL;
    int64_t dims[PQ_MAX_RANK], *idx = NULL;
    int ax = 0;
    PQ_TRY(check_index_dtype(ind, "indices", err));
    PQ_CHECK(x->rank > 0, PQ_ERR_INVALID, "data must have rank >= 1");
    PQ_TRY(pq__shape_norm_axis(*(const int64_t *)n->ctx, x->rank, "axis", &ax, err));
    int r = x->rank - 1 + ind->rank;
    PQ_CHECK(r <= PQ_MAX_RANK, PQ_ERR_UNSUPPORTED, "output rank %d exceeds %d", r, PQ_MAX_RANK);
    /* ONNX Gather: output shape = data[:axis] + indices.shape + data[axis+1:]. */
    int k = 0;
    for (int i = 0; i < ax; i++) dims[k++] = x->dims[i];
    for (int i = 0; i < ind->rank; i++) dims[k++] = ind->dims[i];
    for (int i = ax + 1; i < x->rank; i++) dims[k++] = x->dims[i];
    int64_t dim = x->dims[ax], outer = 1, inner = 1, ni = ind->numel;
    for (int i = 0; i < ax; i++) outer *= x->dims[i];
    for (int i = ax + 1; i < x->rank; i++) inner *= x->dims[i];
    idx = pq_malloc((size_t)(ni + 1) * sizeof *idx);
    PQ_CHECK(idx, PQ_ERR_NOMEM, "out of memory reading indices");
    for (int64_t j = 0; j < ni; j++) PQ_TRY(norm_index(index_at(ind, j), dim, &idx[j], err));
    PQ_TRY(pq_node_output(n, 0, x->dtype, r, dims, 1, &y, err));
    if (y->numel == 0) goto fail;
    pq__shape_strings_clear(y);
    size_t esz = pq_dtype_size(x->dtype), row = (size_t)inner * esz;
    const char *src = x->data;
    char *dst = y->data;
#pragma omp parallel for schedule(static) if (y->nbytes > (1 << 20))
    for (int64_t u = 0; u < outer * ni; u++) {
        int64_t o = u / ni, j = u % ni;
        memcpy(dst + (size_t)u * row, src + (size_t)(o * dim + idx[j]) * row, row);
    }
    PQ_TRY(pq__shape_strings_own(y, err));
fail:
    pq_free(idx);
    return st;
}

/* ------------------------------------------------------------------ GatherElements */

static pq_status run_gather_elements(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0], *ind = n->inputs[1];
    pq_tensor *y = NULL;
    int64_t xs[PQ_MAX_RANK], id[PQ_MAX_RANK] = {0};
    int ax = 0, r = x->rank;
    PQ_TRY(check_index_dtype(ind, "indices", err));
    PQ_CHECK(r > 0 && ind->rank == r, PQ_ERR_INVALID,
             "data (rank %d) and indices (rank %d) must have the same rank >= 1", r, ind->rank);
    PQ_TRY(pq__shape_norm_axis(*(const int64_t *)n->ctx, r, "axis", &ax, err));
    for (int i = 0; i < r; i++)
        PQ_CHECK(i == ax || ind->dims[i] <= x->dims[i], PQ_ERR_INVALID,
                 "indices dim %d (%" PRId64 ") exceeds data dim (%" PRId64 ")", i, ind->dims[i],
                 x->dims[i]);
    for (int64_t e = 0; e < ind->numel; e++) {
        int64_t v;
        PQ_TRY(norm_index(index_at(ind, e), x->dims[ax], &v, err));
    }
    pq__shape_strides(r, x->dims, xs);
    PQ_TRY(pq_node_output(n, 0, x->dtype, r, ind->dims, 1, &y, err));
    pq__shape_strings_clear(y);
    size_t esz = pq_dtype_size(x->dtype);
    int64_t base = 0; /* data offset of the index position without the axis coordinate */
    for (int64_t e = 0; e < ind->numel; e++) {
        int64_t v;
        v = wrap_index(index_at(ind, e), x->dims[ax]);
        copy_elem((char *)y->data + (size_t)e * esz,
                  (const char *)x->data + (size_t)(base + v * xs[ax]) * esz, esz);
        for (int i = r - 1; i >= 0; i--) {
            if (i != ax) base += xs[i];
            if (++id[i] < ind->dims[i]) break;
            if (i != ax) base -= xs[i] * ind->dims[i];
            id[i] = 0;
        }
    }
    PQ_TRY(pq__shape_strings_own(y, err));
fail:
    return st;
}

/* ------------------------------------------------------------------ GatherND */

static pq_status prepare_batch_dims(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(int64_t), err));
    PQ_TRY(pq_op_get_int(n->op, "batch_dims", 0, n->ctx, err));
fail:
    return st;
}

static pq_status run_gather_nd(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0], *ind = n->inputs[1];
    pq_tensor *y = NULL;
    int64_t b = n->ctx ? *(const int64_t *)n->ctx : 0;
    int64_t dims[PQ_MAX_RANK], xs[PQ_MAX_RANK];
    int r = x->rank, q = ind->rank;
    PQ_TRY(check_index_dtype(ind, "indices", err));
    PQ_CHECK(r >= 1 && q >= 1, PQ_ERR_INVALID, "data and indices must have rank >= 1");
    PQ_CHECK(b >= 0 && b < q && b < r, PQ_ERR_INVALID, "batch_dims %" PRId64 " is invalid", b);
    int64_t m = ind->dims[q - 1];
    PQ_CHECK(m >= 1 && m <= r - b, PQ_ERR_INVALID,
             "indices.shape[-1] = %" PRId64 " must be in [1, %" PRId64 "]", m, r - b);
    for (int i = 0; i < b; i++)
        PQ_CHECK(ind->dims[i] == x->dims[i], PQ_ERR_INVALID,
                 "batch dim %d differs between data and indices", i);
    /* ONNX GatherND: output shape = indices.shape[:-1] + data.shape[batch_dims + m:]. */
    int k = 0;
    for (int i = 0; i < q - 1; i++) dims[k++] = ind->dims[i];
    for (int64_t i = b + m; i < r; i++) dims[k++] = x->dims[i];
    PQ_CHECK(k <= PQ_MAX_RANK, PQ_ERR_UNSUPPORTED, "output rank %d exceeds %d", k, PQ_MAX_RANK);
    pq__shape_strides(r, x->dims, xs);
    int64_t nb = 1, slice = 1, per_batch = 1;
    for (int i = 0; i < b; i++) nb *= x->dims[i];
    for (int64_t i = b + m; i < r; i++) slice *= x->dims[i];
    for (int i = (int)b; i < q - 1; i++) per_batch *= ind->dims[i];
    int64_t bstride = b > 0 ? xs[b - 1] : 0;
    /* Validate every index before writing. */
    for (int64_t t = 0; t < nb * per_batch; t++)
        for (int64_t j = 0; j < m; j++) {
            int64_t v;
            PQ_TRY(norm_index(index_at(ind, t * m + j), x->dims[b + j], &v, err));
        }
    PQ_TRY(pq_node_output(n, 0, x->dtype, k, dims, 1, &y, err));
    pq__shape_strings_clear(y);
    size_t esz = pq_dtype_size(x->dtype);
    for (int64_t t = 0; t < nb * per_batch; t++) {
        int64_t off = (t / per_batch) * bstride, v;
        for (int64_t j = 0; j < m; j++) {
            v = wrap_index(index_at(ind, t * m + j), x->dims[b + j]);
            off += v * xs[b + j];
        }
        memcpy((char *)y->data + (size_t)(t * slice) * esz,
               (const char *)x->data + (size_t)off * esz, (size_t)slice * esz);
    }
    PQ_TRY(pq__shape_strings_own(y, err));
fail:
    return st;
}

/* ------------------------------------------------------------------ Scatter* */

typedef enum reduction { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } reduction;

typedef struct scatter_ctx {
    int64_t axis;
    reduction red;
} scatter_ctx;

static pq_status prepare_scatter(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const char *red = NULL;
    PQ_TRY(alloc_ctx(n, sizeof(scatter_ctx), err));
    scatter_ctx *c = n->ctx;
    PQ_TRY(pq_op_get_int(n->op, "axis", 0, &c->axis, err));
    PQ_TRY(pq_op_get_string(n->op, "reduction", "none", &red, err));
    if (strcmp(red, "none") == 0)
        c->red = RED_NONE;
    else if (strcmp(red, "add") == 0)
        c->red = RED_ADD;
    else if (strcmp(red, "mul") == 0)
        c->red = RED_MUL;
    else if (strcmp(red, "max") == 0)
        c->red = RED_MAX;
    else if (strcmp(red, "min") == 0)
        c->red = RED_MIN;
    else
        PQ_CHECK(0, PQ_ERR_INVALID, "reduction '%s' is not none, add, mul, max or min", red);
fail:
    return st;
}

static int reducible(pq_dtype dt)
{
    return dt != PQ_DTYPE_STRING && dt != PQ_DTYPE_BOOL;
}

/* dst = red(dst, src) for one element of dtype dt. */
static void combine(char *dst, const char *src, pq_dtype dt, reduction red)
{
    switch (dt) {
#define C(DT, T)                                                                                   \
    case DT: {                                                                                     \
        T a, b;                                                                                    \
        memcpy(&a, dst, sizeof a);                                                                 \
        memcpy(&b, src, sizeof b);                                                                 \
        a = red == RED_ADD   ? (T)(a + b)                                                          \
            : red == RED_MUL ? (T)(a * b)                                                          \
            : red == RED_MAX ? (a > b ? a : b)                                                     \
                             : (a < b ? a : b);                                                    \
        memcpy(dst, &a, sizeof a);                                                                 \
        break;                                                                                     \
    }
        C(PQ_DTYPE_FLOAT32, float)
        C(PQ_DTYPE_FLOAT64, double)
        C(PQ_DTYPE_INT8, int8_t)
        C(PQ_DTYPE_UINT8, uint8_t)
        C(PQ_DTYPE_INT16, int16_t)
        C(PQ_DTYPE_UINT16, uint16_t)
        C(PQ_DTYPE_INT32, int32_t)
        C(PQ_DTYPE_UINT32, uint32_t)
        C(PQ_DTYPE_INT64, int64_t)
        C(PQ_DTYPE_UINT64, uint64_t)
#undef C
    case PQ_DTYPE_FLOAT16:
    case PQ_DTYPE_BFLOAT16: {
        uint16_t ha, hb;
        memcpy(&ha, dst, 2);
        memcpy(&hb, src, 2);
        int h = dt == PQ_DTYPE_FLOAT16;
        float a = h ? pq_f16_to_f32(ha) : pq_bf16_to_f32(ha);
        float b = h ? pq_f16_to_f32(hb) : pq_bf16_to_f32(hb);
        a = red == RED_ADD   ? a + b
            : red == RED_MUL ? a * b
            : red == RED_MAX ? (a > b ? a : b)
                             : (a < b ? a : b);
        ha = h ? pq_f32_to_f16(a) : pq_f32_to_bf16(a);
        memcpy(dst, &ha, 2);
        break;
    }
    default: break;
    }
}

/* Writes src into dst (replacing a string, or reducing a number). */
static pq_status scatter_put(char *dst, const char *src, pq_dtype dt, reduction red, pq_err *err)
{
    if (dt == PQ_DTYPE_STRING) {
        char *c = pq_strdup(*(char *const *)src);
        if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory copying a string");
        pq_free(*(char **)dst);
        *(char **)dst = c;
        return PQ_OK;
    }
    if (red == RED_NONE)
        copy_elem(dst, src, pq_dtype_size(dt));
    else
        combine(dst, src, dt, red);
    return PQ_OK;
}

static pq_status run_scatter_elements(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const scatter_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *ind = n->inputs[1], *upd = n->inputs[2];
    pq_tensor *y = NULL;
    int64_t xs[PQ_MAX_RANK], id[PQ_MAX_RANK] = {0};
    int ax = 0, r = x->rank;
    PQ_TRY(check_index_dtype(ind, "indices", err));
    PQ_CHECK(upd->dtype == x->dtype, PQ_ERR_INVALID, "updates and data have different dtypes");
    PQ_CHECK(r > 0 && ind->rank == r && upd->rank == r, PQ_ERR_INVALID,
             "data, indices and updates must have the same rank >= 1");
    for (int i = 0; i < r; i++)
        PQ_CHECK(ind->dims[i] == upd->dims[i], PQ_ERR_INVALID,
                 "indices and updates have different shapes");
    PQ_CHECK(c->red == RED_NONE || reducible(x->dtype), PQ_ERR_UNSUPPORTED,
             "reduction over %s is not supported", pq_dtype_name(x->dtype));
    PQ_TRY(pq__shape_norm_axis(c->axis, r, "axis", &ax, err));
    for (int i = 0; i < r; i++)
        PQ_CHECK(i == ax || ind->dims[i] <= x->dims[i], PQ_ERR_INVALID,
                 "indices dim %d (%" PRId64 ") exceeds data dim (%" PRId64 ")", i, ind->dims[i],
                 x->dims[i]);
    for (int64_t e = 0; e < ind->numel; e++) {
        int64_t v;
        PQ_TRY(norm_index(index_at(ind, e), x->dims[ax], &v, err));
    }
    pq__shape_strides(r, x->dims, xs);
    PQ_TRY(copy_to_output(n, 0, x, &y, err));
    size_t esz = pq_dtype_size(x->dtype);
    int64_t base = 0;
    /* ONNX ScatterElements: updates apply in index order, so with reduction none a
     * duplicated index keeps the last update. */
    for (int64_t e = 0; e < ind->numel; e++) {
        int64_t v;
        v = wrap_index(index_at(ind, e), x->dims[ax]);
        PQ_TRY(scatter_put((char *)y->data + (size_t)(base + v * xs[ax]) * esz,
                           (const char *)upd->data + (size_t)e * esz, x->dtype, c->red, err));
        for (int i = r - 1; i >= 0; i--) {
            if (i != ax) base += xs[i];
            if (++id[i] < ind->dims[i]) break;
            if (i != ax) base -= xs[i] * ind->dims[i];
            id[i] = 0;
        }
    }
fail:
    return st;
}

static pq_status run_scatter_nd(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const scatter_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *ind = n->inputs[1], *upd = n->inputs[2];
    pq_tensor *y = NULL;
    int64_t xs[PQ_MAX_RANK];
    int r = x->rank, q = ind->rank;
    PQ_TRY(check_index_dtype(ind, "indices", err));
    PQ_CHECK(upd->dtype == x->dtype, PQ_ERR_INVALID, "updates and data have different dtypes");
    PQ_CHECK(r >= 1 && q >= 1, PQ_ERR_INVALID, "data and indices must have rank >= 1");
    int64_t k = ind->dims[q - 1];
    PQ_CHECK(k >= 1 && k <= r, PQ_ERR_INVALID, "indices.shape[-1] = %" PRId64 " must be in [1, %d]",
             k, r);
    /* ONNX ScatterND: updates.shape = indices.shape[:-1] + data.shape[k:]. */
    int ok = upd->rank == q - 1 + r - (int)k;
    for (int i = 0; ok && i < q - 1; i++) ok = upd->dims[i] == ind->dims[i];
    for (int i = (int)k; ok && i < r; i++) ok = upd->dims[q - 1 + i - k] == x->dims[i];
    PQ_CHECK(ok, PQ_ERR_INVALID, "updates shape does not match indices and data");
    PQ_CHECK(c->red == RED_NONE || reducible(x->dtype), PQ_ERR_UNSUPPORTED,
             "reduction over %s is not supported", pq_dtype_name(x->dtype));
    int64_t nt = ind->numel / k, slice = 1;
    for (int i = (int)k; i < r; i++) slice *= x->dims[i];
    for (int64_t e = 0; e < ind->numel; e++) {
        int64_t v;
        PQ_TRY(norm_index(index_at(ind, e), x->dims[e % k], &v, err));
    }
    pq__shape_strides(r, x->dims, xs);
    PQ_TRY(copy_to_output(n, 0, x, &y, err));
    size_t esz = pq_dtype_size(x->dtype);
    for (int64_t t = 0; t < nt; t++) {
        int64_t off = 0, v;
        for (int64_t j = 0; j < k; j++) {
            v = wrap_index(index_at(ind, t * k + j), x->dims[j]);
            off += v * xs[j];
        }
        char *dst = (char *)y->data + (size_t)off * esz;
        const char *src = (const char *)upd->data + (size_t)(t * slice) * esz;
        if (c->red == RED_NONE && x->dtype != PQ_DTYPE_STRING) {
            memcpy(dst, src, (size_t)slice * esz);
            continue;
        }
        for (int64_t i = 0; i < slice; i++)
            PQ_TRY(
                scatter_put(dst + (size_t)i * esz, src + (size_t)i * esz, x->dtype, c->red, err));
    }
fail:
    return st;
}

/* ------------------------------------------------------------------ OneHot */

static pq_status prepare_onehot(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(int64_t), err));
    PQ_TRY(pq_op_get_int(n->op, "axis", -1, n->ctx, err));
fail:
    return st;
}

static pq_status run_onehot(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *ind = n->inputs[0], *dep = n->inputs[1], *val = n->inputs[2];
    pq_tensor *y = NULL;
    int64_t dims[PQ_MAX_RANK];
    int r = ind->rank + 1, ax = 0;
    PQ_CHECK(r <= PQ_MAX_RANK, PQ_ERR_UNSUPPORTED, "output rank %d exceeds %d", r, PQ_MAX_RANK);
    PQ_CHECK(dep->numel == 1 && dep->dtype != PQ_DTYPE_STRING, PQ_ERR_INVALID,
             "depth must be a numeric scalar");
    PQ_CHECK(val->numel == 2, PQ_ERR_INVALID, "values must hold [off_value, on_value]");
    PQ_CHECK(ind->dtype != PQ_DTYPE_STRING, PQ_ERR_INVALID, "indices must be numeric");
    PQ_TRY(pq__shape_norm_axis(*(const int64_t *)n->ctx, r, "axis", &ax, err));
    int64_t depth = pq_tensor_get_i64(dep, 0);
    PQ_CHECK(depth >= 1, PQ_ERR_INVALID, "depth %" PRId64 " must be >= 1", depth);
    for (int i = 0, j = 0; i < r; i++) dims[i] = i == ax ? depth : ind->dims[j++];
    PQ_TRY(pq_node_output(n, 0, val->dtype, r, dims, 1, &y, err));
    pq__shape_strings_clear(y);
    size_t esz = pq_dtype_size(val->dtype);
    const char *off = val->data, *on = (const char *)val->data + esz;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < ax; i++) outer *= ind->dims[i];
    for (int i = ax; i < ind->rank; i++) inner *= ind->dims[i];
    for (int64_t e = 0; e < y->numel; e++) copy_elem((char *)y->data + (size_t)e * esz, off, esz);
    /* ONNX OneHot-11: indices in [-depth, depth) (negative add depth) are hot; others give an
     * all-off row. Non-integer indices are truncated. */
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t v = pq_tensor_get_i64(ind, o * inner + i);
            if (v < -depth || v >= depth) continue;
            if (v < 0) v += depth;
            copy_elem((char *)y->data + (size_t)((o * depth + v) * inner + i) * esz, on, esz);
        }
    PQ_TRY(pq__shape_strings_own(y, err));
fail:
    return st;
}

/* ------------------------------------------------------------------ NonZero */

static int is_nonzero(const pq_tensor *x, int64_t i)
{
    switch (x->dtype) {
    case PQ_DTYPE_FLOAT16: return (PQ_DATA(x, uint16_t)[i] & 0x7fff) != 0;
    case PQ_DTYPE_BFLOAT16: return (PQ_DATA(x, uint16_t)[i] & 0x7fff) != 0;
    case PQ_DTYPE_FLOAT32: return PQ_DATA(x, float)[i] != 0.0f;
    case PQ_DTYPE_FLOAT64: return PQ_DATA(x, double)[i] != 0.0;
    case PQ_DTYPE_STRING: return PQ_DATA(x, char *)[i][0] != '\0';
    default: return pq_tensor_get_i64(x, i) != 0;
    }
}

static pq_status run_nonzero(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    int64_t nnz = 0, id[PQ_MAX_RANK] = {0};
    for (int64_t i = 0; i < x->numel; i++) nnz += is_nonzero(x, i);
    int64_t dims[2] = {x->rank, nnz};
    PQ_TRY(pq_node_output(n, 0, PQ_DTYPE_INT64, 2, dims, 1, &y, err));
    int64_t *out = y->data, k = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        if (is_nonzero(x, i)) {
            for (int d = 0; d < x->rank; d++) out[d * nnz + k] = id[d];
            k++;
        }
        for (int d = x->rank - 1; d >= 0; d--) {
            if (++id[d] < x->dims[d]) break;
            id[d] = 0;
        }
    }
fail:
    return st;
}

/* ------------------------------------------------------------------ Trilu */

static pq_status prepare_trilu(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(int64_t), err));
    PQ_TRY(pq_op_get_int(n->op, "upper", 1, n->ctx, err));
fail:
    return st;
}

static pq_status run_trilu(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0], *kt = pq_node_input(n, 1);
    pq_tensor *y = NULL;
    int upper = *(const int64_t *)n->ctx != 0;
    int64_t k = 0;
    PQ_CHECK(x->rank >= 2, PQ_ERR_INVALID, "input rank %d must be >= 2", x->rank);
    PQ_CHECK(x->dtype != PQ_DTYPE_STRING, PQ_ERR_UNSUPPORTED, "string input is not supported");
    if (kt) {
        PQ_CHECK(kt->numel == 1 && kt->dtype == PQ_DTYPE_INT64, PQ_ERR_INVALID,
                 "k must be an int64 scalar");
        k = PQ_DATA(kt, int64_t)[0];
    }
    PQ_TRY(pq_node_output(n, 0, x->dtype, x->rank, x->dims, 0, &y, err));
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    int64_t mats = rows > 0 && cols > 0 ? x->numel / (rows * cols) : 0;
    size_t esz = pq_dtype_size(x->dtype);
    /* ONNX Trilu: upper keeps j - i >= k, lower keeps j - i <= k; the rest is zero. */
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++) {
            int64_t lo = upper ? i + k : 0, hi = upper ? cols : i + k + 1;
            lo = lo < 0 ? 0 : lo > cols ? cols : lo;
            hi = hi < 0 ? 0 : hi > cols ? cols : hi;
            if (hi <= lo) continue;
            size_t off = (size_t)((m * rows + i) * cols + lo) * esz;
            memcpy((char *)y->data + off, (const char *)x->data + off, (size_t)(hi - lo) * esz);
        }
fail:
    return st;
}

/* ------------------------------------------------------------------ DepthToSpace, SpaceToDepth */

typedef struct d2s_ctx {
    int64_t blocksize;
    int crd; /* DepthToSpace mode CRD (else DCR) */
} d2s_ctx;

static pq_status prepare_d2s(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const char *mode = NULL;
    PQ_TRY(alloc_ctx(n, sizeof(d2s_ctx), err));
    d2s_ctx *c = n->ctx;
    PQ_CHECK(pq_op_find_attr(n->op, "blocksize"), PQ_ERR_INVALID,
             "attribute 'blocksize' is missing");
    PQ_TRY(pq_op_get_int(n->op, "blocksize", 0, &c->blocksize, err));
    PQ_CHECK(c->blocksize >= 1, PQ_ERR_INVALID, "blocksize %" PRId64 " must be >= 1", c->blocksize);
    PQ_TRY(pq_op_get_string(n->op, "mode", "DCR", &mode, err));
    PQ_CHECK(strcmp(mode, "DCR") == 0 || strcmp(mode, "CRD") == 0, PQ_ERR_INVALID,
             "mode '%s' is not DCR or CRD", mode);
    c->crd = strcmp(mode, "CRD") == 0;
fail:
    return st;
}

/* Moves x viewed as the 6-D shape v (strides vs) through permutation p into output 0 of
 * the 4-D shape out4. */
static pq_status permute6(pq_exec_node *n, const pq_tensor *x, const int64_t *v, const int *p,
                          const int64_t *out4, pq_err *err)
{
    int64_t vs[6], dims[6], ss[6];
    pq__shape_strides(6, v, vs);
    for (int i = 0; i < 6; i++) {
        dims[i] = v[p[i]];
        ss[i] = vs[p[i]];
    }
    pq_status st = pq__shape_move_output(n, 0, x, 0, ss, 6, dims, err);
    return st != PQ_OK ? st : pq_tensor_reshape(n->outputs[0], 4, out4, err);
}

static pq_status run_depth_to_space(pq_exec_node *n, pq_err *err)
{
    const d2s_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    int64_t b = c->blocksize;
    if (x->rank != 4) return pq_err_set(err, PQ_ERR_INVALID, "input rank %d must be 4", x->rank);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (C % (b * b))
        return pq_err_set(err, PQ_ERR_INVALID,
                          "channels %" PRId64 " are not divisible by "
                          "blocksize^2 = %" PRId64,
                          C, b * b);
    int64_t out4[4] = {N, C / (b * b), H * b, W * b};
    if (c->crd) {
        /* CRD: [N, C/b^2, b, b, H, W] -> transpose (0, 1, 4, 2, 5, 3) */
        int64_t v[6] = {N, C / (b * b), b, b, H, W};
        static const int p[6] = {0, 1, 4, 2, 5, 3};
        return permute6(n, x, v, p, out4, err);
    }
    /* DCR: [N, b, b, C/b^2, H, W] -> transpose (0, 3, 4, 1, 5, 2) */
    int64_t v[6] = {N, b, b, C / (b * b), H, W};
    static const int p[6] = {0, 3, 4, 1, 5, 2};
    return permute6(n, x, v, p, out4, err);
}

static pq_status run_space_to_depth(pq_exec_node *n, pq_err *err)
{
    const d2s_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    int64_t b = c->blocksize;
    if (x->rank != 4) return pq_err_set(err, PQ_ERR_INVALID, "input rank %d must be 4", x->rank);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (H % b || W % b)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "spatial dims %" PRId64 "x%" PRId64
                          " are not divisible by blocksize %" PRId64,
                          H, W, b);
    /* [N, C, H/b, b, W/b, b] -> transpose (0, 3, 5, 1, 2, 4) -> [N, C*b*b, H/b, W/b] */
    int64_t v[6] = {N, C, H / b, b, W / b, b};
    static const int p[6] = {0, 3, 5, 1, 2, 4};
    int64_t out4[4] = {N, C * b * b, H / b, W / b};
    return permute6(n, x, v, p, out4, err);
}

/* ------------------------------------------------------------------ Pad */

typedef enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE } pad_mode;

typedef struct pad_ctx {
    pad_mode mode;
    float value; /* Pad-2 attribute */
    int64_t n_pads;
    int64_t pads[2 * PQ_MAX_RANK]; /* Pad-2 attribute */
} pad_ctx;

static pq_status prepare_pad(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const char *mode = NULL;
    const int64_t *pads = NULL;
    PQ_TRY(alloc_ctx(n, sizeof(pad_ctx), err));
    pad_ctx *c = n->ctx;
    PQ_TRY(pq_op_get_string(n->op, "mode", "constant", &mode, err));
    if (strcmp(mode, "constant") == 0)
        c->mode = PAD_CONSTANT;
    else if (strcmp(mode, "reflect") == 0)
        c->mode = PAD_REFLECT;
    else if (strcmp(mode, "edge") == 0)
        c->mode = PAD_EDGE;
    else
        PQ_CHECK(0, PQ_ERR_UNSUPPORTED, "mode '%s' is not constant, reflect or edge", mode);
    PQ_TRY(pq_op_get_float(n->op, "value", 0.0f, &c->value, err));
    PQ_TRY(pq_op_get_ints(n->op, "pads", &pads, &c->n_pads, err));
    PQ_CHECK(c->n_pads <= 2 * PQ_MAX_RANK, PQ_ERR_INVALID, "pads has %" PRId64 " values",
             c->n_pads);
    if (c->n_pads) memcpy(c->pads, pads, (size_t)c->n_pads * sizeof *pads);
fail:
    return st;
}

/* Pads x with pads[2r] (begins then ends; negative crops). `value` points to one element
 * of x's dtype used in constant mode. */
static pq_status pad(pq_exec_node *n, pad_mode mode, const int64_t *pads, int64_t n_pads,
                     const void *value, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    int r = x->rank;
    int64_t dims[PQ_MAX_RANK] = {0}, xs[PQ_MAX_RANK], *map[PQ_MAX_RANK] = {0};
    char a[128];
    PQ_CHECK(n_pads == 2 * r, PQ_ERR_INVALID, "pads has %" PRId64 " values for rank %d", n_pads, r);
    PQ_CHECK(x->dtype != PQ_DTYPE_STRING, PQ_ERR_UNSUPPORTED, "string input is not supported");
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[i] + pads[i] + pads[i + r];
        PQ_CHECK(dims[i] >= 0, PQ_ERR_INVALID, "pads crop more than dim %d of %s", i,
                 pq_tensor_describe(x, a, sizeof a));
        PQ_CHECK(mode == PAD_CONSTANT || x->dims[i] > 0 || dims[i] == 0, PQ_ERR_INVALID,
                 "cannot %s-pad the empty dim %d", mode == PAD_EDGE ? "edge" : "reflect", i);
    }
    PQ_TRY(pq_node_output(n, 0, x->dtype, r, dims, 1, &y, err));
    if (y->numel == 0) goto fail;
    /* Per axis: output index -> source index, -1 = constant fill. */
    for (int i = 0; i < r; i++) {
        map[i] = pq_malloc((size_t)dims[i] * sizeof **map);
        PQ_CHECK(map[i], PQ_ERR_NOMEM, "out of memory padding");
        int64_t d = x->dims[i];
        for (int64_t o = 0; o < dims[i]; o++) {
            int64_t s = o - pads[i];
            if (s < 0 || s >= d) {
                if (mode == PAD_CONSTANT) {
                    s = -1;
                } else if (mode == PAD_EDGE) {
                    s = s < 0 ? 0 : d - 1;
                } else if (d == 1) {
                    s = 0;
                } else {
                    /* numpy's reflect: mirror without repeating the edge, period 2(d-1). */
                    int64_t period = 2 * (d - 1);
                    s %= period;
                    if (s < 0) s += period;
                    if (s >= d) s = period - s;
                }
            }
            map[i][o] = s;
        }
    }
    pq__shape_strides(r, x->dims, xs);
    size_t esz = pq_dtype_size(x->dtype);
    int64_t last = r ? dims[r - 1] : 1, rows = y->numel / last, id[PQ_MAX_RANK] = {0};
    /* Along the last axis the output positions that read the input without padding form
     * one contiguous run [lo, hi): copied with memcpy, the borders element by element. */
    int64_t lo = 0, hi = 0;
    if (r) {
        int64_t pb = pads[r - 1], d = x->dims[r - 1];
        lo = pb > 0 ? pb : 0;
        hi = pb + d < last ? pb + d : last;
        if (hi < lo) hi = lo;
    }
    char *dst = y->data;
    const char *src = x->data;
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = 0;
        int fill = 0;
        for (int i = 0; i < r - 1; i++) {
            if (map[i][id[i]] < 0) fill = 1;
            off += map[i][id[i]] * xs[i];
        }
        char *d = dst + (size_t)(row * last) * esz;
        if (r == 0) {
            copy_elem(d, src, esz);
        } else if (fill) {
            for (int64_t o = 0; o < last; o++) copy_elem(d + (size_t)o * esz, value, esz);
        } else {
            const int64_t *m = map[r - 1];
            for (int64_t o = 0; o < lo; o++)
                copy_elem(d + (size_t)o * esz, m[o] < 0 ? value : src + (size_t)(off + m[o]) * esz,
                          esz);
            if (hi > lo)
                memcpy(d + (size_t)lo * esz, src + (size_t)(off + m[lo]) * esz,
                       (size_t)(hi - lo) * esz);
            for (int64_t o = hi; o < last; o++)
                copy_elem(d + (size_t)o * esz, m[o] < 0 ? value : src + (size_t)(off + m[o]) * esz,
                          esz);
        }
        for (int i = r - 2; i >= 0; i--) {
            if (++id[i] < dims[i]) break;
            id[i] = 0;
        }
    }
fail:
    for (int i = 0; i < r; i++) pq_free(map[i]);
    return st;
}

static pq_status run_pad2(pq_exec_node *n, pq_err *err)
{
    const pad_ctx *c = n->ctx;
    uint64_t value = 0;
    const pq_tensor *x = n->inputs[0];
    if (x->dtype != PQ_DTYPE_STRING) {
        pq_status st =
            pq__shape_cast_elements(&c->value, PQ_DTYPE_FLOAT32, &value, x->dtype, 1, err);
        if (st != PQ_OK) return st;
    }
    return pad(n, c->mode, c->pads, c->n_pads, &value, err);
}

static pq_status run_pad11(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pad_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *cv = pq_node_input(n, 2);
    int64_t pads[2 * PQ_MAX_RANK], np = 0;
    uint64_t value = 0;
    PQ_TRY(pq__shape_read_ints(n->inputs[1], "pads", pads, 2 * PQ_MAX_RANK, &np, err));
    if (cv && cv->numel > 0) {
        PQ_CHECK(cv->dtype == x->dtype && cv->numel == 1, PQ_ERR_INVALID,
                 "constant_value must be a scalar of the input's dtype");
        PQ_CHECK(cv->dtype != PQ_DTYPE_STRING, PQ_ERR_UNSUPPORTED, "string input is not supported");
        memcpy(&value, cv->data, pq_dtype_size(cv->dtype));
    }
    PQ_TRY(pad(n, c->mode, pads, np, &value, err));
fail:
    return st;
}

/* ------------------------------------------------------------------ EyeLike */

typedef struct eyelike_ctx {
    int64_t dtype; /* 0 = the input's */
    int64_t k;
} eyelike_ctx;

static pq_status prepare_eyelike(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(eyelike_ctx), err));
    eyelike_ctx *c = n->ctx;
    PQ_TRY(pq_op_get_int(n->op, "dtype", 0, &c->dtype, err));
    PQ_TRY(pq_op_get_int(n->op, "k", 0, &c->k, err));
    PQ_CHECK(c->dtype == 0 ||
                 (c->dtype > 0 && c->dtype < PQ_DTYPE_COUNT &&
                  pq_dtype_is_supported((pq_dtype)c->dtype) && c->dtype != PQ_DTYPE_STRING),
             PQ_ERR_UNSUPPORTED, "dtype %" PRId64 " is not supported", c->dtype);
fail:
    return st;
}

static pq_status run_eyelike(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const eyelike_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    pq_dtype dt = c->dtype ? (pq_dtype)c->dtype : x->dtype;
    uint64_t one = 0;
    float f1 = 1.0f;
    PQ_CHECK(x->rank == 2, PQ_ERR_INVALID, "input rank %d must be 2", x->rank);
    PQ_CHECK(dt != PQ_DTYPE_STRING, PQ_ERR_UNSUPPORTED, "string output is not supported");
    PQ_TRY(pq__shape_cast_elements(&f1, PQ_DTYPE_FLOAT32, &one, dt, 1, err));
    PQ_TRY(pq_node_output(n, 0, dt, 2, x->dims, 0, &y, err));
    size_t esz = pq_dtype_size(dt);
    int64_t rows = x->dims[0], cols = x->dims[1];
    /* ONNX EyeLike: ones on the diagonal shifted by k (k > 0 above the main one). */
    for (int64_t i = 0; i < rows; i++) {
        int64_t j = i + c->k;
        if (j >= 0 && j < cols)
            copy_elem((char *)y->data + (size_t)(i * cols + j) * esz, (const char *)&one, esz);
    }
fail:
    return st;
}

/* ------------------------------------------------------------------ table */

const pq_op_def pq_ops_gather[] = {
    {"", "Gather", 1, 2, 2, 1, 1, prepare_axis, run_gather, release_ctx},
    {"", "Gather", 11, 2, 2, 1, 1, prepare_axis, run_gather, release_ctx},
    {"", "GatherElements", 11, 2, 2, 1, 1, prepare_axis, run_gather_elements, release_ctx},
    {"", "GatherND", 11, 2, 2, 1, 1, NULL, run_gather_nd, NULL},
    {"", "GatherND", 12, 2, 2, 1, 1, prepare_batch_dims, run_gather_nd, release_ctx},
    {"", "Scatter", 9, 3, 3, 1, 1, prepare_scatter, run_scatter_elements, release_ctx},
    {"", "ScatterElements", 11, 3, 3, 1, 1, prepare_scatter, run_scatter_elements, release_ctx},
    {"", "ScatterElements", 16, 3, 3, 1, 1, prepare_scatter, run_scatter_elements, release_ctx},
    {"", "ScatterND", 11, 3, 3, 1, 1, prepare_scatter, run_scatter_nd, release_ctx},
    {"", "ScatterND", 16, 3, 3, 1, 1, prepare_scatter, run_scatter_nd, release_ctx},
    {"", "OneHot", 9, 3, 3, 1, 1, prepare_onehot, run_onehot, release_ctx},
    {"", "OneHot", 11, 3, 3, 1, 1, prepare_onehot, run_onehot, release_ctx},
    {"", "NonZero", 9, 1, 1, 1, 1, NULL, run_nonzero, NULL},
    {"", "Trilu", 14, 1, 2, 1, 1, prepare_trilu, run_trilu, release_ctx},
    {"", "DepthToSpace", 1, 1, 1, 1, 1, prepare_d2s, run_depth_to_space, release_ctx},
    {"", "DepthToSpace", 11, 1, 1, 1, 1, prepare_d2s, run_depth_to_space, release_ctx},
    {"", "SpaceToDepth", 1, 1, 1, 1, 1, prepare_d2s, run_space_to_depth, release_ctx},
    {"", "Pad", 2, 1, 1, 1, 1, prepare_pad, run_pad2, release_ctx},
    {"", "Pad", 11, 2, 3, 1, 1, prepare_pad, run_pad11, release_ctx},
    {"", "EyeLike", 9, 1, 1, 1, 1, prepare_eyelike, run_eyelike, release_ctx},
    PQ_OP_DEF_END,
};

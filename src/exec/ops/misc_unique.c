/* misc_unique.c - Unique-11.
 *
 * ONNX Unique-11 follows numpy.unique: without `axis` the flattened input's elements, with
 * `axis` the slices x[..., k, ...] (compared lexicographically in row-major order of the
 * remaining dims, as numpy's moveaxis + reshape does) are deduplicated. Outputs: Y (the
 * unique values or slices), indices (first occurrence in X of each Y entry), inverse_indices
 * (for each element or slice of X its index in Y) and counts. sorted = 1 orders Y ascending;
 * sorted = 0 keeps the order of first occurrence. Floats compare by value with NaN after
 * every number and all NaNs equal (numpy >= 1.21). A stable merge sort makes the first
 * element of each run of equal keys its first occurrence.
 */
#include "misc_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

typedef struct unique_ctx {
    int has_axis;
    int64_t axis;
    int64_t sorted;
} unique_ctx;

pq_status pq__misc_unique_prepare(pq_exec_node *n, pq_err *err)
{
    unique_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing Unique");
    n->ctx = c;
    c->has_axis = pq_op_find_attr(n->op, "axis") != NULL;
    pq_status st = pq_op_get_int(n->op, "axis", 0, &c->axis, err);
    if (st == PQ_OK) st = pq_op_get_int(n->op, "sorted", 1, &c->sorted, err);
    if (st == PQ_OK && c->sorted != 0 && c->sorted != 1)
        st = pq_err_set(err, PQ_ERR_INVALID, "sorted must be 0 or 1, got %" PRId64, c->sorted);
    if (st != PQ_OK) pq__misc_release_ctx(n);
    return st;
}

/* Slice k of the (outer, len, inner) view is the elements (o * len + k) * inner + i. */
typedef struct slices {
    const pq_tensor *t;
    int64_t outer, len, inner;
} slices;

#define CMP3(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

static int cmp_float(double a, double b)
{
    const int na = a != a, nb = b != b;
    if (na || nb) return na - nb;
    return CMP3(a, b);
}

/* Compares element ia with element ib of t. */
static int cmp_elem(const pq_tensor *t, int64_t ia, int64_t ib)
{
    const void *d = t->data;
    switch (t->dtype) {
    case PQ_DTYPE_FLOAT32: return cmp_float(((const float *)d)[ia], ((const float *)d)[ib]);
    case PQ_DTYPE_FLOAT64: return cmp_float(((const double *)d)[ia], ((const double *)d)[ib]);
    case PQ_DTYPE_FLOAT16:
    case PQ_DTYPE_BFLOAT16: return cmp_float(pq_tensor_get_f64(t, ia), pq_tensor_get_f64(t, ib));
    case PQ_DTYPE_UINT8:
    case PQ_DTYPE_BOOL: return CMP3(((const uint8_t *)d)[ia], ((const uint8_t *)d)[ib]);
    case PQ_DTYPE_INT8: return CMP3(((const int8_t *)d)[ia], ((const int8_t *)d)[ib]);
    case PQ_DTYPE_UINT16: return CMP3(((const uint16_t *)d)[ia], ((const uint16_t *)d)[ib]);
    case PQ_DTYPE_INT16: return CMP3(((const int16_t *)d)[ia], ((const int16_t *)d)[ib]);
    case PQ_DTYPE_UINT32: return CMP3(((const uint32_t *)d)[ia], ((const uint32_t *)d)[ib]);
    case PQ_DTYPE_INT32: return CMP3(((const int32_t *)d)[ia], ((const int32_t *)d)[ib]);
    case PQ_DTYPE_UINT64: return CMP3(((const uint64_t *)d)[ia], ((const uint64_t *)d)[ib]);
    case PQ_DTYPE_INT64: return CMP3(((const int64_t *)d)[ia], ((const int64_t *)d)[ib]);
    case PQ_DTYPE_STRING: {
        const int r = strcmp(((char *const *)d)[ia], ((char *const *)d)[ib]);
        return CMP3(r, 0);
    }
    default: return 0;
    }
}

static int cmp_slice(const slices *s, int64_t a, int64_t b)
{
    for (int64_t o = 0; o < s->outer; o++) {
        const int64_t ba = (o * s->len + a) * s->inner, bb = (o * s->len + b) * s->inner;
        for (int64_t i = 0; i < s->inner; i++) {
            const int r = cmp_elem(s->t, ba + i, bb + i);
            if (r) return r;
        }
    }
    return 0;
}

/* Stable merge sort of idx[0..n) by slice, with tmp of n entries. */
static void merge_sort(const slices *s, int64_t *idx, int64_t *tmp, int64_t n)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = cmp_slice(s, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

pq_status pq__misc_run_unique(pq_exec_node *n, pq_err *err)
{
    const unique_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    int64_t *perm = NULL, *tmp = NULL, *first = NULL, *cnt = NULL, *grp = NULL, *order = NULL,
            *rank_of = NULL;
    pq_tensor *y = NULL, *t = NULL;
    pq_status st = PQ_OK;
    slices s = {x, 1, x->numel, 1};
    int axis = -1;
    if (c->has_axis) {
        PQ_CHECK(c->axis >= -x->rank && c->axis < x->rank, PQ_ERR_INVALID,
                 "axis %" PRId64 " is out of range for rank %d", c->axis, x->rank);
        axis = (int)(c->axis < 0 ? c->axis + x->rank : c->axis);
        s.len = x->dims[axis];
        for (int d = 0; d < axis; d++) s.outer *= x->dims[d];
        for (int d = axis + 1; d < x->rank; d++) s.inner *= x->dims[d];
    }
    const int64_t L = s.len;
    const size_t nb = (size_t)(L > 0 ? L : 1) * sizeof(int64_t);
    perm = pq_malloc(nb);
    tmp = pq_malloc(nb);
    first = pq_malloc(nb);
    cnt = pq_malloc(nb);
    grp = pq_malloc(nb);
    order = pq_malloc(nb);
    rank_of = pq_malloc(nb);
    PQ_CHECK(perm && tmp && first && cnt && grp && order && rank_of, PQ_ERR_NOMEM,
             "out of memory for Unique of %" PRId64 " entries", L);
    for (int64_t i = 0; i < L; i++) perm[i] = i;
    merge_sort(&s, perm, tmp, L);
    /* groups in sorted order: first occurrence, count; grp[i] = group of entry i */
    int64_t U = 0;
    for (int64_t k = 0; k < L; k++) {
        if (k == 0 || cmp_slice(&s, perm[k - 1], perm[k]) != 0) {
            first[U] = perm[k];
            cnt[U] = 0;
            U++;
        }
        cnt[U - 1]++;
        grp[perm[k]] = U - 1;
    }
    /* output order of the groups: sorted, or by first occurrence */
    for (int64_t u = 0; u < U; u++) order[u] = u;
    if (!c->sorted) {
        /* sort groups by first occurrence: the first occurrences are distinct entries, so
         * walking X in order and taking each group when first seen gives the order */
        int64_t k = 0;
        for (int64_t i = 0; i < L; i++)
            if (first[grp[i]] == i) order[k++] = grp[i];
    }
    for (int64_t u = 0; u < U; u++) rank_of[order[u]] = u;

    /* Y */
    int64_t dims[PQ_MAX_RANK];
    int rank = 1;
    if (axis >= 0) {
        rank = x->rank;
        memcpy(dims, x->dims, sizeof(int64_t) * (size_t)rank);
        dims[axis] = U;
    } else {
        dims[0] = U;
    }
    PQ_TRY(pq_node_output(n, 0, x->dtype, rank, dims, x->dtype != PQ_DTYPE_STRING, &y, err));
    for (int64_t o = 0; o < s.outer; o++)
        for (int64_t u = 0; u < U; u++)
            PQ_TRY(pq__misc_copy_elems(y, (o * U + u) * s.inner, x,
                                       (o * L + first[order[u]]) * s.inner, s.inner, err));
    if (n->n_outputs > 1 && n->op->outputs[1]) {
        PQ_TRY(pq_node_output(n, 1, PQ_DTYPE_INT64, 1, &U, 1, &t, err));
        for (int64_t u = 0; u < U; u++) PQ_DATA(t, int64_t)[u] = first[order[u]];
    }
    if (n->n_outputs > 2 && n->op->outputs[2]) {
        PQ_TRY(pq_node_output(n, 2, PQ_DTYPE_INT64, 1, &L, 1, &t, err));
        for (int64_t i = 0; i < L; i++) PQ_DATA(t, int64_t)[i] = rank_of[grp[i]];
    }
    if (n->n_outputs > 3 && n->op->outputs[3]) {
        PQ_TRY(pq_node_output(n, 3, PQ_DTYPE_INT64, 1, &U, 1, &t, err));
        for (int64_t u = 0; u < U; u++) PQ_DATA(t, int64_t)[u] = cnt[order[u]];
    }
fail:
    pq_free(perm);
    pq_free(tmp);
    pq_free(first);
    pq_free(cnt);
    pq_free(grp);
    pq_free(order);
    pq_free(rank_of);
    return st;
}

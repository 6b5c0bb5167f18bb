/* shape_common.c - helpers shared by the shape and gather families (see shape_common.h). */
#include "shape_common.h"

#include <inttypes.h>
#include <string.h>

pq_status pq__shape_read_ints(const pq_tensor *t, const char *what, int64_t *out, int64_t cap,
                              int64_t *n, pq_err *err)
{
    *n = 0;
    if (t->dtype != PQ_DTYPE_INT64 && t->dtype != PQ_DTYPE_INT32)
        return pq_err_set(err, PQ_ERR_INVALID, "%s has dtype %s, expected int64 or int32", what,
                          pq_dtype_name(t->dtype));
    if (t->numel > cap)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "%s has %" PRId64 " values, at most %" PRId64 " are allowed", what,
                          t->numel, cap);
    if (t->dtype == PQ_DTYPE_INT64)
        memcpy(out, t->data, (size_t)t->numel * sizeof *out);
    else
        for (int64_t i = 0; i < t->numel; i++) out[i] = PQ_DATA(t, int32_t)[i];
    *n = t->numel;
    return PQ_OK;
}

pq_status pq__shape_norm_axis(int64_t axis, int rank, const char *what, int *out, pq_err *err)
{
    if (axis < -rank || axis >= rank)
        return pq_err_set(err, PQ_ERR_INVALID, "%s %" PRId64 " is outside [%d, %d)", what, axis,
                          -rank, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return PQ_OK;
}

void pq__shape_strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

/* ------------------------------------------------------------------ strided copy */

/* Copies n elements of size esz with element strides ds (dst) and ss (src). */
static inline void copy_run(char *dst, int64_t ds, const char *src, int64_t ss, int64_t n,
                            size_t esz)
{
    if (ds == 1 && ss == 1) {
        memcpy(dst, src, (size_t)n * esz);
        return;
    }
    switch (esz) {
    case 1: {
        uint8_t *restrict d = (uint8_t *)dst;
        const uint8_t *restrict s = (const uint8_t *)src;
        for (int64_t i = 0; i < n; i++) d[i * ds] = s[i * ss];
        break;
    }
    case 2: {
        uint16_t *restrict d = (uint16_t *)dst;
        const uint16_t *restrict s = (const uint16_t *)src;
        for (int64_t i = 0; i < n; i++) d[i * ds] = s[i * ss];
        break;
    }
    case 4: {
        uint32_t *restrict d = (uint32_t *)dst;
        const uint32_t *restrict s = (const uint32_t *)src;
        for (int64_t i = 0; i < n; i++) d[i * ds] = s[i * ss];
        break;
    }
    case 8: {
        uint64_t *restrict d = (uint64_t *)dst;
        const uint64_t *restrict s = (const uint64_t *)src;
        for (int64_t i = 0; i < n; i++) d[i * ds] = s[i * ss];
        break;
    }
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + (size_t)(i * ds) * esz, src + (size_t)(i * ss) * esz, esz);
    }
}

/* dst[i * dr + j] = src[i + j * sc] for an r x c block, in tiles so that both sides stay
 * in cache (the batched 2-D transpose behind NCHW <-> NHWC). */
#define TILE 32
static void transpose_2d(char *dst, int64_t dr, const char *src, int64_t sc, int64_t r, int64_t c,
                         size_t esz)
{
    for (int64_t i0 = 0; i0 < r; i0 += TILE) {
        int64_t i1 = i0 + TILE < r ? i0 + TILE : r;
        for (int64_t j0 = 0; j0 < c; j0 += TILE) {
            int64_t j1 = j0 + TILE < c ? j0 + TILE : c;
            for (int64_t i = i0; i < i1; i++)
                copy_run(dst + (size_t)(i * dr + j0) * esz, 1, src + (size_t)(i + j0 * sc) * esz,
                         sc, j1 - j0, esz);
        }
    }
}

void pq__shape_strided_copy(void *dst, const int64_t *dst_strides, const void *src,
                            const int64_t *src_strides, int rank, const int64_t *dims, size_t esz)
{
    int64_t d[PQ_MOVE_MAX_RANK], ds[PQ_MOVE_MAX_RANK], ss[PQ_MOVE_MAX_RANK];
    int r = 0;
    PQ_ASSERT(rank <= PQ_MOVE_MAX_RANK);
    for (int i = 0; i < rank; i++) {
        if (dims[i] == 0) return;
        if (dims[i] == 1) continue;
        d[r] = dims[i];
        ds[r] = dst_strides[i];
        ss[r] = src_strides[i];
        r++;
    }
    /* Merge a dimension into the next inner one when both sides are contiguous across. */
    int w = 0;
    for (int i = 0; i < r; i++) {
        if (w > 0 && ds[w - 1] == ds[i] * d[i] && ss[w - 1] == ss[i] * d[i]) {
            d[w - 1] *= d[i];
            ds[w - 1] = ds[i];
            ss[w - 1] = ss[i];
        } else {
            d[w] = d[i];
            ds[w] = ds[i];
            ss[w] = ss[i];
            w++;
        }
    }
    r = w;
    if (r == 0) {
        memcpy(dst, src, esz);
        return;
    }
    char *dbase = dst;
    const char *sbase = src;
    int64_t total = 1;
    for (int i = 0; i < r; i++) total *= d[i];

    /* A tiled transpose of the two innermost dims when the source is contiguous along the
     * second-innermost and the destination along the innermost (NCHW <-> NHWC). The work
     * units are (outer index, block of TILE rows) so that a single image parallelises. */
    if (r >= 2 && ds[r - 1] == 1 && ss[r - 1] != 1 && ss[r - 2] == 1 && d[r - 1] >= 8 &&
        d[r - 2] >= 8) {
        int ro = r - 2;
        int64_t outer = 1, rows = d[r - 2], nrb = (rows + TILE - 1) / TILE;
        for (int i = 0; i < ro; i++) outer *= d[i];
#pragma omp parallel for schedule(static) if (total > (1 << 16))
        for (int64_t u = 0; u < outer * nrb; u++) {
            int64_t o = u / nrb, rb = u % nrb, doff = 0, soff = 0, rem = o;
            for (int i = ro - 1; i >= 0; i--) {
                int64_t id = rem % d[i];
                rem /= d[i];
                doff += id * ds[i];
                soff += id * ss[i];
            }
            int64_t r0 = rb * TILE, nr = rows - r0 < TILE ? rows - r0 : TILE;
            transpose_2d(dbase + (doff + r0 * ds[r - 2]) * (int64_t)esz, ds[r - 2],
                         sbase + (soff + r0) * (int64_t)esz, ss[r - 1], nr, d[r - 1], esz);
        }
        return;
    }

    /* Otherwise runs along the innermost dim, outer indices walked by an odometer in
     * chunks (one decomposition per chunk). */
    int ro = r - 1;
    int64_t outer = total / d[r - 1];
    int64_t nchunks = outer < 256 ? outer : 256;
#pragma omp parallel for schedule(static) if (total > (1 << 16) && outer > 1)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t o0 = outer * c / nchunks, o1 = outer * (c + 1) / nchunks;
        int64_t idx[PQ_MOVE_MAX_RANK];
        int64_t doff = 0, soff = 0, rem = o0;
        for (int i = ro - 1; i >= 0; i--) {
            idx[i] = rem % d[i];
            rem /= d[i];
            doff += idx[i] * ds[i];
            soff += idx[i] * ss[i];
        }
        for (int64_t o = o0; o < o1; o++) {
            copy_run(dbase + doff * (int64_t)esz, ds[r - 1], sbase + soff * (int64_t)esz, ss[r - 1],
                     d[r - 1], esz);
            for (int i = ro - 1; i >= 0; i--) { /* odometer */
                doff += ds[i];
                soff += ss[i];
                if (++idx[i] < d[i]) break;
                doff -= ds[i] * d[i];
                soff -= ss[i] * d[i];
                idx[i] = 0;
            }
        }
    }
}

/* ------------------------------------------------------------------ strings */

void pq__shape_strings_clear(pq_tensor *t)
{
    if (t->dtype != PQ_DTYPE_STRING) return;
    char **s = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        pq_free(s[i]);
        s[i] = NULL;
    }
}

pq_status pq__shape_strings_own(pq_tensor *t, pq_err *err)
{
    if (t->dtype != PQ_DTYPE_STRING) return PQ_OK;
    char **s = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        char *c = pq_strdup(s[i] ? s[i] : "");
        if (!c) {
            for (int64_t j = i; j < t->numel; j++) s[j] = NULL;
            return pq_err_set(err, PQ_ERR_NOMEM, "out of memory copying strings");
        }
        s[i] = c;
    }
    return PQ_OK;
}

pq_status pq__shape_move_output(pq_exec_node *n, int idx, const pq_tensor *src, int64_t src_offset,
                                const int64_t *src_strides, int rank, const int64_t *dims,
                                pq_err *err)
{
    pq_tensor *out = NULL;
    int64_t dst_strides[PQ_MOVE_MAX_RANK];
    pq_status st = pq_node_output(n, idx, src->dtype, rank, dims, 1, &out, err);
    if (st != PQ_OK) return st;
    if (out->numel == 0) return PQ_OK;
    size_t esz = pq_dtype_size(src->dtype);
    pq__shape_strings_clear(out);
    pq__shape_strides(rank, dims, dst_strides);
    pq__shape_strided_copy(out->data, dst_strides,
                           (const char *)src->data + src_offset * (int64_t)esz, src_strides, rank,
                           dims, esz);
    return pq__shape_strings_own(out, err);
}

pq_status pq__shape_alias_output(pq_exec_node *n, int in_idx, int out_idx, int rank,
                                 const int64_t *dims, pq_err *err)
{
    pq_tensor *in = n->inputs[in_idx], *v = NULL;
    int same = in->rank == rank;
    for (int i = 0; same && i < rank; i++) same = in->dims[i] == dims[i];
    if (same) return pq_node_set_output(n, out_idx, pq_tensor_retain(in), err);
    pq_status st = pq_tensor_view(in, rank, dims, &v, err);
    if (st != PQ_OK) return st;
    return pq_node_set_output(n, out_idx, v, err);
}

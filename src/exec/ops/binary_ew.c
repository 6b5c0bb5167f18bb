/* binary_ew.c - the broadcast iterator, the blocked unary map and half staging shared by the
 * binary, unary and activation families (see binary_ew.h). */
#include "binary_ew.h"

#include <inttypes.h>

/* Outputs below this many elements run on one thread (thread start-up costs more). */
#define EW_PARALLEL_MIN 65536
/* Elements per block of the unary map (float32 staging buffers live on the stack). */
#define MAP_BLOCK 2048

pq_status pq__ew_bcast_shape(int n_in, const pq_tensor *const *in, int *rank, int64_t *dims,
                          pq_err *err)
{
    int r = 0;
    for (int k = 0; k < n_in; k++)
        if (in[k]->rank > r) r = in[k]->rank;
    for (int d = 0; d < r; d++) dims[d] = 1;
    for (int k = 0; k < n_in; k++) {
        const pq_tensor *t = in[k];
        for (int d = 0; d < t->rank; d++) {
            int64_t *o = &dims[r - t->rank + d];
            int64_t v = t->dims[d];
            if (v == *o || v == 1) continue;
            if (*o == 1) {
                *o = v;
                continue;
            }
            char b1[128], b2[128];
            return pq_err_set(err, PQ_ERR_INVALID,
                              "input shapes %s and %s do not broadcast (dim %d: %" PRId64
                              " vs %" PRId64 ")",
                              pq_shape_str(in[0]->rank, in[0]->dims, b1, sizeof b1),
                              pq_shape_str(t->rank, t->dims, b2, sizeof b2), d, *o, v);
        }
    }
    *rank = r;
    return PQ_OK;
}

pq_status pq__ew_bcast_plan(int n_in, const pq_tensor *const *in, int out_rank,
                         const int64_t *out_dims, pq__ew_bcast *p, pq_err *err)
{
    int64_t st[PQ__EW_MAX_IN][PQ_MAX_RANK];

    PQ_ASSERT(n_in >= 1 && n_in <= PQ__EW_MAX_IN);
    memset(p, 0, sizeof *p);
    p->n_in = n_in;
    p->numel = pq_shape_numel(out_rank, out_dims);
    for (int k = 0; k < n_in; k++) {
        const pq_tensor *t = in[k];
        if (t->rank > out_rank) goto bad;
        int64_t s = 1;
        for (int d = out_rank - 1; d >= 0; d--) {
            int td = d - (out_rank - t->rank);
            int64_t v = td >= 0 ? t->dims[td] : 1;
            if (v != out_dims[d] && v != 1) goto bad;
            st[k][d] = v == 1 ? 0 : s;
            s *= v;
        }
    }
    /* Drop extent-1 dims; merge dim d into the previous kept dim q when every input is
     * linear across both (stride[q] == stride[d] * dims[d], which also holds for two
     * broadcast dims). */
    int r = 0;
    for (int d = 0; d < out_rank; d++) {
        if (out_dims[d] == 1) continue;
        int merge = r > 0;
        for (int k = 0; merge && k < n_in; k++)
            if (p->strides[k][r - 1] != st[k][d] * out_dims[d]) merge = 0;
        if (merge) {
            p->dims[r - 1] *= out_dims[d];
            for (int k = 0; k < n_in; k++) p->strides[k][r - 1] = st[k][d];
        } else {
            p->dims[r] = out_dims[d];
            for (int k = 0; k < n_in; k++) p->strides[k][r] = st[k][d];
            r++;
        }
    }
    if (r == 0) { /* a single element */
        p->dims[0] = 1;
        for (int k = 0; k < n_in; k++) p->strides[k][0] = 0;
        r = 1;
    }
    p->rank = r;
    return PQ_OK;

bad:;
    char b1[128], b2[128];
    for (int k = 0; k < n_in; k++) {
        const pq_tensor *t = in[k];
        int ok = t->rank <= out_rank;
        for (int d = 0; ok && d < t->rank; d++) {
            int64_t o = out_dims[out_rank - t->rank + d];
            if (t->dims[d] != o && t->dims[d] != 1) ok = 0;
        }
        if (!ok)
            return pq_err_set(err, PQ_ERR_INVALID, "input %d of shape %s does not broadcast to %s",
                              k, pq_shape_str(t->rank, t->dims, b1, sizeof b1),
                              pq_shape_str(out_rank, out_dims, b2, sizeof b2));
    }
    return pq_err_set(err, PQ_ERR_INTERNAL, "broadcast plan failed");
}

/* Runs rows [r0, r1) of the plan, each split into [c0, c0 + len) of the inner run. */
static void run_rows(const pq__ew_bcast *p, pq__ew_fn fn, const char *const *in,
                     const size_t *in_size, char *out, size_t out_size, int64_t r0, int64_t r1,
                     int64_t c0, int64_t len)
{
    const int R = p->rank;
    const int64_t inner = p->dims[R - 1];
    int64_t idx[PQ_MAX_RANK];
    int64_t off[PQ__EW_MAX_IN] = {0, 0, 0};
    const char *ptr[PQ__EW_MAX_IN] = {NULL, NULL, NULL};
    int64_t sin[PQ__EW_MAX_IN] = {0, 0, 0};

    /* Decompose r0 over the outer dims. */
    int64_t q = r0;
    for (int d = R - 2; d >= 0; d--) {
        idx[d] = q % p->dims[d];
        q /= p->dims[d];
        for (int k = 0; k < p->n_in; k++) off[k] += idx[d] * p->strides[k][d];
    }
    for (int k = 0; k < p->n_in; k++) sin[k] = p->strides[k][R - 1];
    for (int64_t row = r0; row < r1; row++) {
        for (int k = 0; k < p->n_in; k++)
            ptr[k] = in[k] + (size_t)(off[k] + c0 * sin[k]) * in_size[k];
        fn(len, ptr[0], sin[0], ptr[1], sin[1], ptr[2], sin[2],
           out + (size_t)(row * inner + c0) * out_size);
        /* Advance the odometer over the outer dims. */
        for (int d = R - 2; d >= 0; d--) {
            idx[d]++;
            for (int k = 0; k < p->n_in; k++) off[k] += p->strides[k][d];
            if (idx[d] < p->dims[d]) break;
            for (int k = 0; k < p->n_in; k++) off[k] -= p->strides[k][d] * p->dims[d];
            idx[d] = 0;
        }
    }
}

void pq__ew_bcast_run(const pq__ew_bcast *p, pq__ew_fn fn, const void *const *in,
                   const size_t *in_size, void *out, size_t out_size, int threads)
{
    if (p->numel == 0) return;
    const char *cin[PQ__EW_MAX_IN] = {NULL, NULL, NULL};
    size_t sizes[PQ__EW_MAX_IN] = {1, 1, 1};
    for (int k = 0; k < p->n_in; k++) {
        cin[k] = in[k];
        sizes[k] = in_size[k];
    }
    const int64_t inner = p->dims[p->rank - 1];
    const int64_t rows = p->numel / inner;
    int nt = (threads > 1 && p->numel >= EW_PARALLEL_MIN) ? threads : 1;
    if (nt == 1) {
        run_rows(p, fn, cin, sizes, out, out_size, 0, rows, 0, inner);
        return;
    }
    if (rows >= nt) {
        /* Split the rows: each thread walks its range with the odometer. */
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int t = 0; t < nt; t++) {
            int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
            if (r1 > r0) run_rows(p, fn, cin, sizes, out, out_size, r0, r1, 0, inner);
        }
        return;
    }
    /* Few long rows: split each row into chunks. */
    int64_t per_row = (nt + rows - 1) / rows;
    int64_t items = rows * per_row;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t it = 0; it < items; it++) {
        int64_t row = it / per_row, c = it % per_row;
        int64_t c0 = inner * c / per_row, c1 = inner * (c + 1) / per_row;
        if (c1 > c0) run_rows(p, fn, cin, sizes, out, out_size, row, row + 1, c0, c1 - c0);
    }
}

void pq__ew_half_to_f32(pq_dtype dt, const uint16_t *src, float *dst, int64_t n)
{
    if (dt == PQ_DTYPE_FLOAT16)
        for (int64_t i = 0; i < n; i++) dst[i] = pq_f16_to_f32(src[i]);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = pq_bf16_to_f32(src[i]);
}

void pq__ew_f32_to_half(pq_dtype dt, const float *src, uint16_t *dst, int64_t n)
{
    if (dt == PQ_DTYPE_FLOAT16)
        for (int64_t i = 0; i < n; i++) dst[i] = pq_f32_to_f16(src[i]);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = pq_f32_to_bf16(src[i]);
}

float *pq__ew_half_copy_f32(const pq_tensor *t)
{
    float *f = pq_malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *f);
    if (f) pq__ew_half_to_f32(t->dtype, t->data, f, t->numel);
    return f;
}

/* One block of the map: stages half inputs/outputs through float32 stack buffers. */
static void map_block(const pq_tensor *x, pq_tensor *y, pq__ew_map_fn fn, const void *ctx,
                      int64_t i0, int64_t len)
{
    const int hin = pq__ew_is_half(x->dtype), hout = pq__ew_is_half(y->dtype);
    if (!hin && !hout) {
        fn(len, (const char *)x->data + (size_t)i0 * pq_dtype_size(x->dtype),
           (char *)y->data + (size_t)i0 * pq_dtype_size(y->dtype), ctx);
        return;
    }
    float xs[MAP_BLOCK], ys[MAP_BLOCK];
    for (int64_t b = 0; b < len; b += MAP_BLOCK) {
        int64_t m = len - b < MAP_BLOCK ? len - b : MAP_BLOCK;
        int64_t s = i0 + b;
        const void *xp = (const char *)x->data + (size_t)s * pq_dtype_size(x->dtype);
        void *yp = (char *)y->data + (size_t)s * pq_dtype_size(y->dtype);
        if (hin) {
            pq__ew_half_to_f32(x->dtype, xp, xs, m);
            xp = xs;
        }
        fn(m, xp, hout ? (void *)ys : yp, ctx);
        if (hout) pq__ew_f32_to_half(y->dtype, ys, yp, m);
    }
}

void pq__ew_map_run(const pq_exec_node *n, const pq_tensor *x, pq_tensor *y, pq__ew_map_fn fn,
                 const void *ctx)
{
    const int64_t N = x->numel;
    if (N == 0) return;
    int threads = pq_node_threads(n);
    int nt = (threads > 1 && N >= EW_PARALLEL_MIN) ? threads : 1;
    if (nt == 1) {
        map_block(x, y, fn, ctx, 0, N);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t i0 = N * t / nt, i1 = N * (t + 1) / nt;
        if (i1 > i0) map_block(x, y, fn, ctx, i0, i1 - i0);
    }
}

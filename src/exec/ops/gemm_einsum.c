/* gemm_einsum.c - Einsum (ONNX Einsum-12, numpy.einsum semantics), part of the gemm family.
 *
 * The equation is parsed once. At run time every subscript letter and every axis covered by
 * an ellipsis becomes a label with a size and, per operand, a stride (a letter repeated in
 * one operand adds its strides: that walks the diagonal; an axis of size 1 against a larger
 * label size gets stride 0: broadcasting). Two float operands without diagonals, broadcast
 * or single-operand sums go through transposes and a batched GEMM; everything else runs a
 * generic loop over output positions and summed labels.
 */
#include "../exec_internal.h"
#include "gemm_blas.h"

#include <string.h>

pq_status pq__einsum_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__einsum_run(pq_exec_node *n, pq_err *err);
void pq__einsum_release(pq_exec_node *n);

#define EIN_LETTERS 52                         /* 'A'..'Z' = 0..25, 'a'..'z' = 26..51 */
#define EIN_MAX_LABELS (EIN_LETTERS + PQ_MAX_RANK)
#define EIN_MAX_SUB 64                         /* letters per term */

/* One term of the equation: letters (label ids) and where the ellipsis sits. */
typedef struct ein_term {
    int n;                    /* number of letters */
    int ids[EIN_MAX_SUB];
    int ell;                  /* index in ids before which "..." stands, -1 if none */
} ein_term;

typedef struct einsum_ctx {
    int n_in;
    ein_term *in;             /* n_in terms */
    int explicit_out;
    ein_term out;
} einsum_ctx;

static int letter_id(char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return 26 + (ch - 'a');
    return -1;
}

/* Parses one term from s[0..len). */
static pq_status parse_term(const char *s, size_t len, ein_term *t, pq_err *err)
{
    t->n = 0;
    t->ell = -1;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == ' ') continue;
        if (ch == '.') {
            if (t->ell >= 0 || i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.')
                return pq_err_set(err, PQ_ERR_INVALID, "malformed ellipsis in equation term "
                                  "'%.*s'", (int)len, s);
            t->ell = t->n;
            i += 2;
            continue;
        }
        int id = letter_id(ch);
        if (id < 0)
            return pq_err_set(err, PQ_ERR_INVALID, "invalid character '%c' in equation", ch);
        if (t->n >= EIN_MAX_SUB)
            return pq_err_set(err, PQ_ERR_INVALID, "equation term has too many subscripts");
        t->ids[t->n++] = id;
    }
    return PQ_OK;
}

pq_status pq__einsum_prepare(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const char *eq = NULL;
    einsum_ctx *c = NULL;
    PQ_TRY(pq_op_get_string(n->op, "equation", NULL, &eq, err));
    PQ_CHECK(eq && *eq, PQ_ERR_INVALID, "attribute 'equation' is required");
    c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    const char *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
    int terms = 1;
    for (size_t i = 0; i < lhs_len; i++)
        if (eq[i] == ',') terms++;
    c->in = pq_calloc((size_t)terms, sizeof *c->in);
    PQ_CHECK(c->in, PQ_ERR_NOMEM, "out of memory");
    c->n_in = terms;
    size_t start = 0;
    for (int t = 0; t < terms; t++) {
        size_t end = start;
        while (end < lhs_len && eq[end] != ',') end++;
        PQ_TRY(parse_term(eq + start, end - start, &c->in[t], err));
        start = end + 1;
    }
    if (arrow) {
        c->explicit_out = 1;
        PQ_TRY(parse_term(arrow + 2, strlen(arrow + 2), &c->out, err));
        int seen[EIN_LETTERS] = {0};
        for (int i = 0; i < c->out.n; i++) {
            PQ_CHECK(!seen[c->out.ids[i]]++, PQ_ERR_INVALID,
                     "output subscript repeated in equation '%s'", eq);
            int found = 0;
            for (int t = 0; t < c->n_in && !found; t++)
                for (int j = 0; j < c->in[t].n; j++)
                    if (c->in[t].ids[j] == c->out.ids[i]) found = 1;
            PQ_CHECK(found, PQ_ERR_INVALID, "output subscript not in any input of '%s'", eq);
        }
    } else {
        /* Implicit output: broadcast axes, then letters seen exactly once, in ASCII order. */
        int count[EIN_LETTERS] = {0}, any_ell = 0;
        for (int t = 0; t < c->n_in; t++) {
            for (int j = 0; j < c->in[t].n; j++) count[c->in[t].ids[j]]++;
            if (c->in[t].ell >= 0) any_ell = 1;
        }
        c->out.n = 0;
        c->out.ell = any_ell ? 0 : -1;
        for (int id = 0; id < EIN_LETTERS; id++)
            if (count[id] == 1) c->out.ids[c->out.n++] = id;
    }
    PQ_CHECK(n->n_inputs == c->n_in, PQ_ERR_INVALID,
             "equation '%s' has %d operands but the node has %d inputs", eq, c->n_in,
             n->n_inputs);
    n->ctx = c;
    return PQ_OK;
fail:
    if (c) pq_free(c->in);
    pq_free(c);
    return st;
}

void pq__einsum_release(pq_exec_node *n)
{
    einsum_ctx *c = n->ctx;
    if (c) pq_free(c->in);
    pq_free(c);
    n->ctx = NULL;
}

/* ------------------------------------------------------------------ label resolution */

typedef struct ein_plan {
    int nl;                                   /* labels in use, compacted 0..nl) */
    int64_t size[EIN_MAX_LABELS];
    int n_out, out[EIN_MAX_LABELS];           /* output labels in output order */
    int n_sum, sum[EIN_MAX_LABELS];           /* summed labels */
    int n_ops;
    int64_t (*stride)[EIN_MAX_LABELS];        /* per operand, per label, in elements */
    int (*count)[EIN_MAX_LABELS];             /* per operand, axes carrying the label */
    int broadcast;                            /* some axis broadcasts (stride 0, size > 1) */
    int64_t out_dims[PQ_MAX_RANK];
} ein_plan;

static pq_status ein_plan_make(const einsum_ctx *c, pq_tensor *const *ins, ein_plan *p,
                               pq_err *err)
{
    pq_status st = PQ_OK;
    int map[EIN_MAX_LABELS];                  /* raw label id -> compact index or -1 */
    int E = 0;                                /* ellipsis rank */
    for (int i = 0; i < EIN_MAX_LABELS; i++) map[i] = -1;
    for (int t = 0; t < c->n_in; t++) {
        const ein_term *term = &c->in[t];
        int rank = ins[t]->rank;
        if (term->ell < 0) {
            PQ_CHECK(rank == term->n, PQ_ERR_INVALID,
                     "operand %d has rank %d but its subscripts name %d axes", t, rank, term->n);
        } else {
            PQ_CHECK(rank >= term->n, PQ_ERR_INVALID,
                     "operand %d has rank %d, fewer than its %d subscripts", t, rank, term->n);
            if (rank - term->n > E) E = rank - term->n;
        }
    }
    /* Raw ids: letters 0..51, ellipsis axes 52..52+E (right-aligned across operands). */
    int64_t raw_size[EIN_MAX_LABELS];
    for (int i = 0; i < EIN_MAX_LABELS; i++) raw_size[i] = -1;
    p->nl = 0;
    p->n_ops = c->n_in;
    for (int t = 0; t < c->n_in; t++) {
        memset(p->stride[t], 0, sizeof p->stride[t]);
        memset(p->count[t], 0, sizeof p->count[t]);
    }
    int order[EIN_MAX_LABELS], n_order = 0;   /* raw ids in first-seen order */
    for (int t = 0; t < c->n_in; t++) {
        const ein_term *term = &c->in[t];
        const pq_tensor *x = ins[t];
        int e = term->ell < 0 ? 0 : x->rank - term->n;
        int64_t tstride = 1;
        int64_t strides[PQ_MAX_RANK];
        for (int ax = x->rank - 1; ax >= 0; ax--) {
            strides[ax] = tstride;
            tstride *= x->dims[ax];
        }
        for (int ax = 0; ax < x->rank; ax++) {
            int raw;
            if (term->ell >= 0 && ax >= term->ell && ax < term->ell + e)
                raw = EIN_LETTERS + (E - e) + (ax - term->ell);
            else
                raw = term->ids[ax < term->ell || term->ell < 0 ? ax : ax - e];
            int64_t d = x->dims[ax];
            if (map[raw] < 0) {
                map[raw] = n_order;
                order[n_order++] = raw;
            }
            int is_ell = raw >= EIN_LETTERS;
            if (raw_size[raw] < 0 || raw_size[raw] == 1) {
                if (raw_size[raw] == 1 && d != 1 && !is_ell) {
                    PQ_CHECK(0, PQ_ERR_INVALID, "subscript '%c' has sizes 1 and %lld",
                             raw < 26 ? 'A' + raw : 'a' + raw - 26, (long long)d);
                }
                if (raw_size[raw] < 0 || d != 1) raw_size[raw] = d;
            } else {
                PQ_CHECK(d == raw_size[raw] || (is_ell && d == 1), PQ_ERR_INVALID,
                         "%s of operand %d has size %lld, elsewhere %lld",
                         is_ell ? "a broadcast axis" : "a subscript", t, (long long)d,
                         (long long)raw_size[raw]);
            }
            p->stride[t][map[raw]] += strides[ax];
            p->count[t][map[raw]]++;
        }
    }
    p->nl = n_order;
    p->broadcast = 0;
    for (int l = 0; l < p->nl; l++) p->size[l] = raw_size[order[l]];
    /* Axes of size 1 against a larger label broadcast: stride 0. */
    for (int t = 0; t < c->n_in; t++) {
        const pq_tensor *x = ins[t];
        const ein_term *term = &c->in[t];
        int e = term->ell < 0 ? 0 : x->rank - term->n;
        for (int ax = 0; ax < x->rank; ax++) {
            int raw;
            if (term->ell >= 0 && ax >= term->ell && ax < term->ell + e)
                raw = EIN_LETTERS + (E - e) + (ax - term->ell);
            else
                raw = term->ids[ax < term->ell || term->ell < 0 ? ax : ax - e];
            int l = map[raw];
            if (x->dims[ax] == 1 && p->size[l] != 1) {
                p->stride[t][l] = 0;
                p->broadcast = 1;
            }
        }
    }
    /* Output labels. */
    p->n_out = 0;
    int in_out[EIN_MAX_LABELS] = {0};
    for (int i = 0; i <= c->out.n; i++) {
        if (i == c->out.ell) {
            for (int k = 0; k < E; k++) {
                int l = map[EIN_LETTERS + k];
                p->out[p->n_out++] = l;
                in_out[l] = 1;
            }
        }
        if (i == c->out.n) break;
        int l = map[c->out.ids[i]];
        PQ_CHECK(l >= 0, PQ_ERR_INVALID, "output subscript not in any input");
        p->out[p->n_out++] = l;
        in_out[l] = 1;
    }
    PQ_CHECK(p->n_out <= PQ_MAX_RANK, PQ_ERR_INVALID, "Einsum output rank %d is too large",
             p->n_out);
    p->n_sum = 0;
    for (int l = 0; l < p->nl; l++)
        if (!in_out[l]) p->sum[p->n_sum++] = l;
    for (int i = 0; i < p->n_out; i++) p->out_dims[i] = p->size[p->out[i]];
    return PQ_OK;
fail:
    return st;
}

/* ------------------------------------------------------------------ generic loop */

#define DEFINE_EIN_LOOP(T, ACC, SFX)                                                         \
    static void ein_loop_##SFX(const ein_plan *p, pq_tensor *const *ins, T *y)               \
    {                                                                                        \
        int64_t out_numel = 1, sum_numel = 1;                                                \
        for (int i = 0; i < p->n_out; i++) out_numel *= p->size[p->out[i]];                  \
        for (int i = 0; i < p->n_sum; i++) sum_numel *= p->size[p->sum[i]];                  \
        for (int64_t oi = 0; oi < out_numel; oi++) {                                         \
            int64_t base[64];                                                                \
            int64_t rem = oi;                                                                \
            for (int t = 0; t < p->n_ops; t++) base[t] = 0;                                  \
            for (int i = p->n_out - 1; i >= 0; i--) {                                        \
                int l = p->out[i];                                                           \
                int64_t idx = rem % p->size[l];                                              \
                rem /= p->size[l];                                                           \
                for (int t = 0; t < p->n_ops; t++) base[t] += idx * p->stride[t][l];         \
            }                                                                                \
            ACC acc = 0;                                                                     \
            int64_t sidx[EIN_MAX_LABELS] = {0};                                              \
            int64_t off[64];                                                                 \
            for (int t = 0; t < p->n_ops; t++) off[t] = base[t];                             \
            for (int64_t si = 0; si < sum_numel; si++) {                                     \
                ACC prod = 1;                                                                \
                for (int t = 0; t < p->n_ops; t++)                                           \
                    prod = (ACC)(prod * (ACC)((const T *)ins[t]->data)[off[t]]);             \
                acc = (ACC)(acc + prod);                                                     \
                for (int i = p->n_sum - 1; i >= 0; i--) {                                    \
                    int l = p->sum[i];                                                       \
                    for (int t = 0; t < p->n_ops; t++) off[t] += p->stride[t][l];            \
                    if (++sidx[i] < p->size[l]) break;                                       \
                    for (int t = 0; t < p->n_ops; t++) off[t] -= p->size[l] * p->stride[t][l]; \
                    sidx[i] = 0;                                                             \
                }                                                                            \
            }                                                                                \
            y[oi] = (T)acc;                                                                  \
        }                                                                                    \
    }
DEFINE_EIN_LOOP(float, double, f32)
DEFINE_EIN_LOOP(double, double, f64)
DEFINE_EIN_LOOP(int8_t, int64_t, i8)
DEFINE_EIN_LOOP(uint8_t, uint64_t, u8)
DEFINE_EIN_LOOP(int16_t, int64_t, i16)
DEFINE_EIN_LOOP(uint16_t, uint64_t, u16)
DEFINE_EIN_LOOP(int32_t, int64_t, i32)
DEFINE_EIN_LOOP(uint32_t, uint64_t, u32)
DEFINE_EIN_LOOP(int64_t, int64_t, i64)
DEFINE_EIN_LOOP(uint64_t, uint64_t, u64)

/* float16 / bfloat16: the generic loop on widened copies. */
static pq_status ein_half(const ein_plan *p, pq_tensor *const *ins, int n_in, pq_tensor *y,
                          pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *wide[64] = {0};
    float *wy = NULL;
    for (int t = 0; t < n_in; t++) {
        PQ_TRY(pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, ins[t]->rank, ins[t]->dims, &wide[t],
                                       err));
        const uint16_t *src = ins[t]->data;
        float *dst = wide[t]->data;
        for (int64_t i = 0; i < ins[t]->numel; i++)
            dst[i] = ins[t]->dtype == PQ_DTYPE_FLOAT16 ? pq_f16_to_f32(src[i])
                                                       : pq_bf16_to_f32(src[i]);
    }
    wy = pq_malloc((size_t)(y->numel ? y->numel : 1) * sizeof *wy);
    PQ_CHECK(wy, PQ_ERR_NOMEM, "out of memory");
    ein_loop_f32(p, wide, wy);
    uint16_t *d = y->data;
    for (int64_t i = 0; i < y->numel; i++)
        d[i] = y->dtype == PQ_DTYPE_FLOAT16 ? pq_f32_to_f16(wy[i]) : pq_f32_to_bf16(wy[i]);
fail:
    for (int t = 0; t < n_in; t++) pq_tensor_destroy(&wide[t]);
    pq_free(wy);
    return st;
}

/* ------------------------------------------------------------------ transpose + GEMM */

/* Contiguous copy of the labels `ls` (in that order) of a strided operand. */
#define DEFINE_GATHER(T, SFX)                                                                \
    static void gather_##SFX(const T *src, const ein_plan *p, const int64_t *stride, int n,  \
                             const int *ls, T *dst)                                          \
    {                                                                                        \
        int64_t total = 1;                                                                   \
        for (int i = 0; i < n; i++) total *= p->size[ls[i]];                                 \
        if (n == 0) {                                                                        \
            dst[0] = src[0];                                                                 \
            return;                                                                          \
        }                                                                                    \
        int64_t inner = p->size[ls[n - 1]], istr = stride[ls[n - 1]];                        \
        int64_t idx[EIN_MAX_LABELS] = {0}, off = 0;                                          \
        for (int64_t o = 0; o < total; o += inner) {                                         \
            const T *s = src + off;                                                          \
            T *d = dst + o;                                                                  \
            for (int64_t q = 0; q < inner; q++) d[q] = s[q * istr];                          \
            for (int i = n - 2; i >= 0; i--) {                                               \
                int l = ls[i];                                                               \
                off += stride[l];                                                            \
                if (++idx[i] < p->size[l]) break;                                            \
                off -= p->size[l] * stride[l];                                               \
                idx[i] = 0;                                                                  \
            }                                                                                \
        }                                                                                    \
    }
DEFINE_GATHER(float, f32)
DEFINE_GATHER(double, f64)

/* Whether the operand's memory is exactly the contiguous layout of labels ls[0..n). */
static int is_layout(const ein_plan *p, const int64_t *stride, int n, const int *ls)
{
    int64_t expect = 1;
    for (int i = n - 1; i >= 0; i--) {
        if (p->size[ls[i]] != 1 && stride[ls[i]] != expect) return 0;
        expect *= p->size[ls[i]];
    }
    return 1;
}

/* The GEMM route applies to two float operands, with every label appearing at most once per
 * operand, no broadcasting, and every summed label present in both operands. */
static int gemm_route_ok(const ein_plan *p, int n_in, pq_dtype dt)
{
    if (n_in != 2 || p->broadcast) return 0;
    if (dt != PQ_DTYPE_FLOAT32 && dt != PQ_DTYPE_FLOAT64) return 0;
    for (int l = 0; l < p->nl; l++)
        if (p->count[0][l] > 1 || p->count[1][l] > 1) return 0;
    for (int i = 0; i < p->n_sum; i++) {
        int l = p->sum[i];
        if (!p->count[0][l] || !p->count[1][l]) return 0;
    }
    return 1;
}

#define DEFINE_EIN_GEMM(T, SFX, GEMM)                                                        \
    static pq_status ein_gemm_##SFX(const ein_plan *p, pq_tensor *const *ins, T *y,          \
                                    int threads, pq_err *err)                                \
    {                                                                                        \
        pq_status st = PQ_OK;                                                                \
        int bl[EIN_MAX_LABELS], ml[EIN_MAX_LABELS], nl_[EIN_MAX_LABELS], kl[EIN_MAX_LABELS];  \
        int nb = 0, nm = 0, nn = 0, nk = 0;                                                  \
        int64_t B = 1, M = 1, N = 1, K = 1;                                                  \
        for (int i = 0; i < p->n_out; i++) {                                                 \
            int l = p->out[i];                                                               \
            int ia = p->count[0][l] > 0, ib = p->count[1][l] > 0;                            \
            if (ia && ib) { bl[nb++] = l; B *= p->size[l]; }                                 \
            else if (ia) { ml[nm++] = l; M *= p->size[l]; }                                  \
            else { nl_[nn++] = l; N *= p->size[l]; }                                         \
        }                                                                                    \
        for (int i = 0; i < p->n_sum; i++) {                                                 \
            kl[nk++] = p->sum[i];                                                            \
            K *= p->size[p->sum[i]];                                                         \
        }                                                                                    \
        if (M > 0x7fffffff || N > 0x7fffffff || K > 0x7fffffff)                              \
            return pq_err_set(err, PQ_ERR_UNSUPPORTED, "Einsum too large for BLAS");         \
        /* A as [b, m, k] (or [b, k, m] transposed), B as [b, k, n] (or [b, n, k]). */       \
        int la[EIN_MAX_LABELS], lb[EIN_MAX_LABELS], lz[EIN_MAX_LABELS], n_ab = 0;            \
        T *abuf = NULL, *bbuf = NULL, *zbuf = NULL;                                          \
        const T *a = ins[0]->data, *b = ins[1]->data;                                        \
        int ta = 0, tb = 0;                                                                  \
        n_ab = 0;                                                                            \
        for (int i = 0; i < nb; i++) la[n_ab++] = bl[i];                                     \
        for (int i = 0; i < nm; i++) la[n_ab++] = ml[i];                                     \
        for (int i = 0; i < nk; i++) la[n_ab++] = kl[i];                                     \
        if (!is_layout(p, p->stride[0], n_ab, la)) {                                         \
            n_ab = nb;                                                                       \
            for (int i = 0; i < nk; i++) la[n_ab++] = kl[i];                                 \
            for (int i = 0; i < nm; i++) la[n_ab++] = ml[i];                                 \
            if (is_layout(p, p->stride[0], n_ab, la)) {                                      \
                ta = 1;                                                                      \
            } else {                                                                         \
                n_ab = 0;                                                                    \
                for (int i = 0; i < nb; i++) la[n_ab++] = bl[i];                             \
                for (int i = 0; i < nm; i++) la[n_ab++] = ml[i];                             \
                for (int i = 0; i < nk; i++) la[n_ab++] = kl[i];                             \
                abuf = pq_malloc((size_t)(B * M * K + 1) * sizeof(T));           \
                PQ_CHECK(abuf, PQ_ERR_NOMEM, "out of memory");                               \
                gather_##SFX(a, p, p->stride[0], n_ab, la, abuf);                            \
                a = abuf;                                                                    \
            }                                                                                \
        }                                                                                    \
        n_ab = 0;                                                                            \
        for (int i = 0; i < nb; i++) lb[n_ab++] = bl[i];                                     \
        for (int i = 0; i < nk; i++) lb[n_ab++] = kl[i];                                     \
        for (int i = 0; i < nn; i++) lb[n_ab++] = nl_[i];                                    \
        if (!is_layout(p, p->stride[1], n_ab, lb)) {                                         \
            n_ab = nb;                                                                       \
            for (int i = 0; i < nn; i++) lb[n_ab++] = nl_[i];                                \
            for (int i = 0; i < nk; i++) lb[n_ab++] = kl[i];                                 \
            if (is_layout(p, p->stride[1], n_ab, lb)) {                                      \
                tb = 1;                                                                      \
            } else {                                                                         \
                n_ab = 0;                                                                    \
                for (int i = 0; i < nb; i++) lb[n_ab++] = bl[i];                             \
                for (int i = 0; i < nk; i++) lb[n_ab++] = kl[i];                             \
                for (int i = 0; i < nn; i++) lb[n_ab++] = nl_[i];                            \
                bbuf = pq_malloc((size_t)(B * K * N + 1) * sizeof(T));           \
                PQ_CHECK(bbuf, PQ_ERR_NOMEM, "out of memory");                               \
                gather_##SFX(b, p, p->stride[1], n_ab, lb, bbuf);                            \
                b = bbuf;                                                                    \
            }                                                                                \
        }                                                                                    \
        /* Z = [b, m, n]; written straight into y when that is the output order. */          \
        int n_z = 0;                                                                         \
        for (int i = 0; i < nb; i++) lz[n_z++] = bl[i];                                      \
        for (int i = 0; i < nm; i++) lz[n_z++] = ml[i];                                      \
        for (int i = 0; i < nn; i++) lz[n_z++] = nl_[i];                                     \
        int direct = 1;                                                                      \
        for (int i = 0; i < n_z; i++)                                                        \
            if (lz[i] != p->out[i]) direct = 0;                                              \
        T *z = y;                                                                            \
        if (!direct) {                                                                       \
            zbuf = pq_malloc((size_t)(B * M * N + 1) * sizeof(T));               \
            PQ_CHECK(zbuf, PQ_ERR_NOMEM, "out of memory");                                   \
            z = zbuf;                                                                        \
        }                                                                                    \
        if (M * N > 0) {                                                                     \
            if (K == 0) {                                                                    \
                memset(z, 0, (size_t)(B * M * N) * sizeof(T));                               \
            } else {                                                                         \
                for (int64_t bi = 0; bi < B; bi++)                                           \
                    GEMM(ta, tb, M, N, K, (T)1, a + bi * M * K, ta ? M : K, b + bi * K * N,  \
                         tb ? K : N, (T)0, z + bi * M * N, N, threads);                      \
            }                                                                                \
        }                                                                                    \
        if (!direct) {                                                                       \
            /* y[out order] from z[lz order]: strides of each label in z. */                 \
            int64_t zstr[EIN_MAX_LABELS] = {0}, s_ = 1;                                      \
            for (int i = n_z - 1; i >= 0; i--) {                                             \
                zstr[lz[i]] = s_;                                                            \
                s_ *= p->size[lz[i]];                                                        \
            }                                                                                \
            gather_##SFX(z, p, zstr, p->n_out, p->out, y);                                   \
        }                                                                                    \
    fail:                                                                                    \
        pq_free(abuf);                                                                       \
        pq_free(bbuf);                                                                       \
        pq_free(zbuf);                                                                       \
        return st;                                                                           \
    }
DEFINE_EIN_GEMM(float, f32, pq__sgemm_par)
DEFINE_EIN_GEMM(double, f64, pq__dgemm_par)

pq_status pq__einsum_run(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const einsum_ctx *c = n->ctx;
    pq_tensor *y = NULL;
    ein_plan p;
    memset(&p, 0, sizeof p);
    PQ_CHECK(n->n_inputs == c->n_in && c->n_in <= 64, PQ_ERR_INVALID,
             "Einsum expects %d operands (at most 64), got %d", c->n_in, n->n_inputs);
    for (int t = 0; t < c->n_in; t++) {
        PQ_CHECK(n->inputs[t], PQ_ERR_INVALID, "operand %d is missing", t);
        PQ_CHECK(n->inputs[t]->dtype == n->inputs[0]->dtype, PQ_ERR_INVALID,
                 "operand %d is %s, operand 0 is %s", t, pq_dtype_name(n->inputs[t]->dtype),
                 pq_dtype_name(n->inputs[0]->dtype));
    }
    p.stride = pq_calloc((size_t)c->n_in, sizeof *p.stride);
    p.count = pq_calloc((size_t)c->n_in, sizeof *p.count);
    PQ_CHECK(p.stride && p.count, PQ_ERR_NOMEM, "out of memory");
    PQ_TRY(ein_plan_make(c, n->inputs, &p, err));
    pq_dtype dt = n->inputs[0]->dtype;
    PQ_TRY(pq_node_output(n, 0, dt, p.n_out, p.out_dims, 0, &y, err));
    if (y->numel == 0) goto fail;
    if (gemm_route_ok(&p, c->n_in, dt)) {
        int threads = pq_node_threads(n);
        if (dt == PQ_DTYPE_FLOAT32) PQ_TRY(ein_gemm_f32(&p, n->inputs, y->data, threads, err));
        else PQ_TRY(ein_gemm_f64(&p, n->inputs, y->data, threads, err));
        goto fail;
    }
    switch (dt) {
    case PQ_DTYPE_FLOAT32: ein_loop_f32(&p, n->inputs, y->data); break;
    case PQ_DTYPE_FLOAT64: ein_loop_f64(&p, n->inputs, y->data); break;
    case PQ_DTYPE_INT8: ein_loop_i8(&p, n->inputs, y->data); break;
    case PQ_DTYPE_UINT8: ein_loop_u8(&p, n->inputs, y->data); break;
    case PQ_DTYPE_INT16: ein_loop_i16(&p, n->inputs, y->data); break;
    case PQ_DTYPE_UINT16: ein_loop_u16(&p, n->inputs, y->data); break;
    case PQ_DTYPE_INT32: ein_loop_i32(&p, n->inputs, y->data); break;
    case PQ_DTYPE_UINT32: ein_loop_u32(&p, n->inputs, y->data); break;
    case PQ_DTYPE_INT64: ein_loop_i64(&p, n->inputs, y->data); break;
    case PQ_DTYPE_UINT64: ein_loop_u64(&p, n->inputs, y->data); break;
    case PQ_DTYPE_FLOAT16:
    case PQ_DTYPE_BFLOAT16: PQ_TRY(ein_half(&p, n->inputs, c->n_in, y, err)); break;
    default:
        PQ_CHECK(0, PQ_ERR_UNSUPPORTED, "dtype %s is not supported", pq_dtype_name(dt));
    }
fail:
    pq_free(p.stride);
    pq_free(p.count);
    return st;
}

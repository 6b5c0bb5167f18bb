/* misc_text.c - StringNormalizer-10 and TfIdfVectorizer-9.
 *
 * StringNormalizer-10: X is [C] or [1, C] strings. Elements equal to a stopword (compared
 * after lowercasing both when is_case_sensitive = 0) are removed, the rest lowercased,
 * uppercased or kept (case_change_action LOWER | UPPER | NONE). Y is [C'] or [1, C']; when
 * every element is removed, [1] or [1, 1] holding "". The `locale` attribute is not
 * interpreted: case mapping is locale independent and covers ASCII, Latin-1, Greek and
 * Cyrillic letters in UTF-8 (other bytes are kept).
 *
 * TfIdfVectorizer-9: pool_int64s or pool_strings hold the n-grams, all 1-grams first, then
 * the 2-grams, ...; ngram_counts[i] is where the (i + 1)-grams start. The k-th n-gram of the
 * pool is counted into Y[ngram_indexes[k]]. For each row of X ([C] or [N, C], int32, int64
 * or strings), n-grams of length g in [min_gram_length, max_gram_length] are the items
 * x[s], x[s + d], ..., x[s + (g - 1) d] with d = 1 + skip for skip in [0, max_skip_count];
 * 1-grams are counted once (they do not depend on the skip), as onnxruntime does. An n-gram
 * not in the pool is ignored. mode TF gives counts, IDF min(count, 1) * weight, TFIDF
 * count * weight (weights default to 1). Y is [max(ngram_indexes) + 1] or [N, that] float32.
 */
#include "misc_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================== case mapping */

/* Maps a UTF-8 string's letters to upper (upper = 1) or lower case in place. The mapped
 * letters keep their encoded length: ASCII, U+00C0-U+00DE / U+00E0-U+00FE (not U+00D7,
 * U+00F7), Greek U+0391-U+03A9 / U+03B1-U+03C9 (not U+03A2, U+03C2), Cyrillic
 * U+0400-U+042F / U+0430-U+045F. */
static void map_case(char *s, int upper)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        if (*p < 0x80) {
            if (upper && *p >= 'a' && *p <= 'z') *p = (unsigned char)(*p - 32);
            if (!upper && *p >= 'A' && *p <= 'Z') *p = (unsigned char)(*p + 32);
            p++;
            continue;
        }
        if ((*p & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
            unsigned cp = ((unsigned)(*p & 0x1F) << 6) | (p[1] & 0x3F), m = cp;
            if (upper) {
                if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) ||
                    (cp >= 0x3B1 && cp <= 0x3C9 && cp != 0x3C2) || (cp >= 0x430 && cp <= 0x44F))
                    m = cp - 0x20;
                else if (cp >= 0x450 && cp <= 0x45F)
                    m = cp - 0x50;
            } else {
                if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) ||
                    (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) || (cp >= 0x410 && cp <= 0x42F))
                    m = cp + 0x20;
                else if (cp >= 0x400 && cp <= 0x40F)
                    m = cp + 0x50;
            }
            p[0] = (unsigned char)(0xC0 | (m >> 6));
            p[1] = (unsigned char)(0x80 | (m & 0x3F));
            p += 2;
            continue;
        }
        p++;
    }
}

/* ================================================================== StringNormalizer */

typedef struct strnorm_ctx {
    int action;          /* 0 NONE, 1 LOWER, 2 UPPER */
    int case_sensitive;
    int64_t n_stop;
    char **stop;         /* owned copies; lowercased when not case sensitive */
} strnorm_ctx;

void pq__misc_strnorm_release(pq_exec_node *n)
{
    strnorm_ctx *c = n->ctx;
    if (c) {
        for (int64_t i = 0; i < c->n_stop; i++) pq_free(c->stop[i]);
        pq_free(c->stop);
        pq_free(c);
    }
    n->ctx = NULL;
}

pq_status pq__misc_strnorm_prepare(pq_exec_node *n, pq_err *err)
{
    strnorm_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing StringNormalizer");
    n->ctx = c;
    const char *action = NULL;
    int64_t cs = 0;
    pq_status st = pq_op_get_string(n->op, "case_change_action", "NONE", &action, err);
    if (st == PQ_OK) st = pq_op_get_int(n->op, "is_case_sensitive", 0, &cs, err);
    if (st != PQ_OK) goto fail;
    if (strcmp(action, "NONE") == 0)
        c->action = 0;
    else if (strcmp(action, "LOWER") == 0)
        c->action = 1;
    else if (strcmp(action, "UPPER") == 0)
        c->action = 2;
    else {
        st = pq_err_set(err, PQ_ERR_INVALID,
                        "case_change_action '%s' is not LOWER, UPPER or NONE", action);
        goto fail;
    }
    c->case_sensitive = cs != 0;
    const pq_attr *a = pq_op_find_attr(n->op, "stopwords");
    if (a) {
        if (a->type != PQ_ATTR_STRINGS) {
            st = pq_err_set(err, PQ_ERR_INVALID, "attribute stopwords must be a list of strings");
            goto fail;
        }
        c->stop = pq_calloc((size_t)(a->n > 0 ? a->n : 1), sizeof *c->stop);
        if (!c->stop) {
            st = pq_err_set(err, PQ_ERR_NOMEM, "out of memory copying stopwords");
            goto fail;
        }
        for (int64_t i = 0; i < a->n; i++) {
            c->stop[i] = pq_strdup(a->strings[i]);
            if (!c->stop[i]) {
                st = pq_err_set(err, PQ_ERR_NOMEM, "out of memory copying stopwords");
                goto fail;
            }
            c->n_stop = i + 1;
            if (!c->case_sensitive) map_case(c->stop[i], 0);
        }
    }
    return PQ_OK;
fail:
    pq__misc_strnorm_release(n);
    return st;
}

pq_status pq__misc_run_strnorm(pq_exec_node *n, pq_err *err)
{
    const strnorm_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    char *tmp = NULL;
    uint8_t *keep = NULL;
    pq_status st = PQ_OK;
    PQ_CHECK(x->dtype == PQ_DTYPE_STRING, PQ_ERR_INVALID, "X has dtype %s, expected string",
             pq_dtype_name(x->dtype));
    PQ_CHECK(x->rank == 1 || (x->rank == 2 && x->dims[0] == 1), PQ_ERR_INVALID,
             "X must have shape [C] or [1, C]");
    char *const *xs = x->data;
    keep = pq_malloc((size_t)(x->numel > 0 ? x->numel : 1));
    PQ_CHECK(keep, PQ_ERR_NOMEM, "out of memory");
    int64_t kept = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        const char *s = xs[i];
        if (!c->case_sensitive && c->n_stop) {
            pq_free(tmp);
            tmp = pq_strdup(s);
            PQ_CHECK(tmp, PQ_ERR_NOMEM, "out of memory");
            map_case(tmp, 0);
            s = tmp;
        }
        keep[i] = 1;
        for (int64_t k = 0; k < c->n_stop && keep[i]; k++)
            if (strcmp(s, c->stop[k]) == 0) keep[i] = 0;
        kept += keep[i];
    }
    int64_t dims[2] = {1, kept > 0 ? kept : 1};
    if (x->rank == 1) dims[0] = dims[1];
    PQ_TRY(pq_node_output(n, 0, PQ_DTYPE_STRING, x->rank, dims, 0, &y, err));
    int64_t o = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        if (!keep[i]) continue;
        PQ_TRY(pq_tensor_set_string(y, o, xs[i], err));
        if (c->action) map_case(((char **)y->data)[o], c->action == 2);
        o++;
    }
fail:
    pq_free(tmp);
    pq_free(keep);
    return st;
}

/* ================================================================== TfIdfVectorizer */

enum { TFIDF_TF = 0, TFIDF_IDF = 1, TFIDF_TFIDF = 2 };

typedef struct tfidf_ctx {
    int mode;
    int64_t min_g, max_g, max_skip;
    int strings;          /* pool_strings (input strings) vs pool_int64s */
    int64_t n_str;        /* sorted unique pool strings (borrowed from the op) */
    const char **str;
    int64_t n_grams;      /* n-grams in the pool */
    int64_t *items;       /* pool items as int64 (strings: index into str) */
    int64_t *gram_len;    /* per n-gram: its length */
    int64_t *gram_off;    /* per n-gram: offset of its items */
    /* per length g in [1, max_len]: the n-grams of that length sorted by items */
    int64_t max_len;
    int64_t *by_len_start, *by_len_count; /* [max_len + 1] */
    int64_t *sorted;      /* n-gram ids grouped by length, each group sorted */
    const int64_t *out_index; /* ngram_indexes (borrowed) */
    int64_t out_size;
    float *weights;       /* n_grams values */
} tfidf_ctx;

void pq__misc_tfidf_release(pq_exec_node *n)
{
    tfidf_ctx *c = n->ctx;
    if (c) {
        pq_free(c->str);
        pq_free(c->items);
        pq_free(c->gram_len);
        pq_free(c->gram_off);
        pq_free(c->by_len_start);
        pq_free(c->by_len_count);
        pq_free(c->sorted);
        pq_free(c->weights);
        pq_free(c);
    }
    n->ctx = NULL;
}

static int cmp_items(const int64_t *a, const int64_t *b, int64_t g)
{
    for (int64_t k = 0; k < g; k++)
        if (a[k] != b[k]) return a[k] < b[k] ? -1 : 1;
    return 0;
}

/* Index of s in the sorted pool strings or -1. */
static int64_t find_str(const tfidf_ctx *c, const char *s)
{
    int64_t lo = 0, hi = c->n_str;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        const int r = strcmp(c->str[mid], s);
        if (r == 0) return mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Stable merge sort of n-gram ids (all of length g) by their items; tmp has cnt entries. */
static void sort_ids(const tfidf_ctx *c, int64_t *ids, int64_t *tmp, int64_t cnt, int64_t g)
{
    for (int64_t w = 1; w < cnt; w *= 2) {
        for (int64_t lo = 0; lo < cnt; lo += 2 * w) {
            int64_t mid = lo + w < cnt ? lo + w : cnt, hi = lo + 2 * w < cnt ? lo + 2 * w : cnt;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp_items(c->items + c->gram_off[ids[j]], c->items + c->gram_off[ids[i]],
                                     g) < 0
                               ? ids[j++]
                               : ids[i++];
            while (i < mid) tmp[k++] = ids[i++];
            while (j < hi) tmp[k++] = ids[j++];
        }
        memcpy(ids, tmp, (size_t)cnt * sizeof *ids);
    }
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

pq_status pq__misc_tfidf_prepare(pq_exec_node *n, pq_err *err)
{
    tfidf_ctx *c = pq_calloc(1, sizeof *c);
    int64_t *tmp = NULL;
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing TfIdfVectorizer");
    n->ctx = c;
    pq_status st = PQ_OK;
    const char *mode = NULL;
    const int64_t *counts = NULL, *pool_i = NULL;
    const float *w = NULL;
    int64_t n_counts = 0, n_idx = 0, n_pool = 0, n_w = 0;
    PQ_TRY(pq_op_get_string(n->op, "mode", "TF", &mode, err));
    PQ_TRY(pq_op_get_int(n->op, "min_gram_length", 1, &c->min_g, err));
    PQ_TRY(pq_op_get_int(n->op, "max_gram_length", 1, &c->max_g, err));
    PQ_TRY(pq_op_get_int(n->op, "max_skip_count", 0, &c->max_skip, err));
    PQ_TRY(pq_op_get_ints(n->op, "ngram_counts", &counts, &n_counts, err));
    PQ_TRY(pq_op_get_ints(n->op, "ngram_indexes", &c->out_index, &n_idx, err));
    PQ_TRY(pq_op_get_floats(n->op, "weights", &w, &n_w, err));
    if (strcmp(mode, "TF") == 0)
        c->mode = TFIDF_TF;
    else if (strcmp(mode, "IDF") == 0)
        c->mode = TFIDF_IDF;
    else if (strcmp(mode, "TFIDF") == 0)
        c->mode = TFIDF_TFIDF;
    else
        PQ_CHECK(0, PQ_ERR_INVALID, "mode '%s' is not TF, IDF or TFIDF", mode);
    PQ_CHECK(c->min_g >= 1 && c->max_g >= c->min_g && c->max_skip >= 0, PQ_ERR_INVALID,
             "need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0");
    const pq_attr *ps = pq_op_find_attr(n->op, "pool_strings");
    const pq_attr *pi = pq_op_find_attr(n->op, "pool_int64s");
    PQ_CHECK((ps != NULL) != (pi != NULL), PQ_ERR_INVALID,
             "exactly one of pool_strings and pool_int64s must be given");
    if (pi) {
        PQ_TRY(pq_op_get_ints(n->op, "pool_int64s", &pool_i, &n_pool, err));
    } else {
        PQ_CHECK(ps->type == PQ_ATTR_STRINGS, PQ_ERR_INVALID, "pool_strings must be strings");
        c->strings = 1;
        n_pool = ps->n;
    }
    c->items = pq_malloc((size_t)(n_pool > 0 ? n_pool : 1) * sizeof *c->items);
    PQ_CHECK(c->items, PQ_ERR_NOMEM, "out of memory for the pool");
    if (c->strings) {
        c->str = pq_malloc((size_t)(n_pool > 0 ? n_pool : 1) * sizeof *c->str);
        PQ_CHECK(c->str, PQ_ERR_NOMEM, "out of memory for the pool");
        for (int64_t i = 0; i < n_pool; i++) c->str[i] = ps->strings[i];
        qsort(c->str, (size_t)n_pool, sizeof *c->str, cmp_cstr);
        int64_t u = 0;
        for (int64_t i = 0; i < n_pool; i++)
            if (u == 0 || strcmp(c->str[u - 1], c->str[i]) != 0) c->str[u++] = c->str[i];
        c->n_str = u;
        for (int64_t i = 0; i < n_pool; i++) c->items[i] = find_str(c, ps->strings[i]);
    } else {
        memcpy(c->items, pool_i, (size_t)n_pool * sizeof *c->items);
    }
    /* n-grams of each length */
    c->max_len = n_counts;
    c->n_grams = 0;
    for (int64_t i = 0; i < n_counts; i++) {
        const int64_t start = counts[i], end = i + 1 < n_counts ? counts[i + 1] : n_pool;
        PQ_CHECK(start >= 0 && start <= end && end <= n_pool && (end - start) % (i + 1) == 0,
                 PQ_ERR_INVALID,
                 "ngram_counts[%" PRId64 "] = %" PRId64 " does not delimit whole %" PRId64
                 "-grams in a pool of %" PRId64,
                 i, start, i + 1, n_pool);
        c->n_grams += (end - start) / (i + 1);
    }
    PQ_CHECK(n_idx == c->n_grams, PQ_ERR_INVALID,
             "ngram_indexes has %" PRId64 " entries, the pool %" PRId64 " n-grams", n_idx,
             c->n_grams);
    PQ_CHECK(n_w == 0 || n_w == c->n_grams, PQ_ERR_INVALID,
             "weights has %" PRId64 " entries, the pool %" PRId64 " n-grams", n_w, c->n_grams);
    const size_t ng = (size_t)(c->n_grams > 0 ? c->n_grams : 1);
    c->gram_len = pq_malloc(ng * sizeof(int64_t));
    c->gram_off = pq_malloc(ng * sizeof(int64_t));
    c->sorted = pq_malloc(ng * sizeof(int64_t));
    c->weights = pq_malloc(ng * sizeof(float));
    c->by_len_start = pq_calloc((size_t)(c->max_len + 1), sizeof(int64_t));
    c->by_len_count = pq_calloc((size_t)(c->max_len + 1), sizeof(int64_t));
    tmp = pq_malloc(ng * sizeof(int64_t));
    PQ_CHECK(c->gram_len && c->gram_off && c->sorted && c->weights && c->by_len_start &&
                 c->by_len_count && tmp,
             PQ_ERR_NOMEM, "out of memory for the pool");
    c->out_size = 0;
    for (int64_t k = 0; k < c->n_grams; k++) {
        PQ_CHECK(c->out_index[k] >= 0, PQ_ERR_INVALID, "ngram_indexes[%" PRId64 "] is negative", k);
        if (c->out_index[k] + 1 > c->out_size) c->out_size = c->out_index[k] + 1;
        c->weights[k] = n_w ? w[k] : 1.0f;
    }
    int64_t id = 0;
    for (int64_t i = 0; i < n_counts; i++) {
        const int64_t g = i + 1, start = counts[i], end = i + 1 < n_counts ? counts[i + 1] : n_pool;
        c->by_len_start[g] = id;
        c->by_len_count[g] = (end - start) / g;
        for (int64_t off = start; off < end; off += g, id++) {
            c->gram_len[id] = g;
            c->gram_off[id] = off;
            c->sorted[id] = id;
        }
        sort_ids(c, c->sorted + c->by_len_start[g], tmp, c->by_len_count[g], g);
    }
    pq_free(tmp);
    return PQ_OK;
fail:
    pq_free(tmp);
    pq__misc_tfidf_release(n);
    return st;
}

/* The pool id of the g items at q or -1. */
static int64_t find_gram(const tfidf_ctx *c, const int64_t *q, int64_t g)
{
    if (g > c->max_len) return -1;
    const int64_t *ids = c->sorted + c->by_len_start[g];
    int64_t lo = 0, hi = c->by_len_count[g];
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        const int r = cmp_items(c->items + c->gram_off[ids[mid]], q, g);
        if (r == 0) return ids[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

pq_status pq__misc_run_tfidf(pq_exec_node *n, pq_err *err)
{
    const tfidf_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    int64_t *row = NULL, *cnt = NULL;
    pq_status st = PQ_OK;
    if (c->strings)
        PQ_CHECK(x->dtype == PQ_DTYPE_STRING, PQ_ERR_INVALID,
                 "X has dtype %s; pool_strings needs string input", pq_dtype_name(x->dtype));
    else
        PQ_CHECK(x->dtype == PQ_DTYPE_INT32 || x->dtype == PQ_DTYPE_INT64, PQ_ERR_INVALID,
                 "X has dtype %s; pool_int64s needs int32 or int64 input",
                 pq_dtype_name(x->dtype));
    PQ_CHECK(x->rank == 1 || x->rank == 2, PQ_ERR_INVALID, "X has rank %d, expected 1 or 2",
             x->rank);
    const int64_t N = x->rank == 2 ? x->dims[0] : 1, C = x->dims[x->rank - 1];
    int64_t dims[2] = {N, c->out_size};
    if (x->rank == 1) dims[0] = c->out_size;
    PQ_TRY(pq_node_output(n, 0, PQ_DTYPE_FLOAT32, x->rank, dims, 0, &y, err));
    row = pq_malloc((size_t)(C > 0 ? C : 1) * sizeof *row);
    cnt = pq_malloc((size_t)(c->n_grams > 0 ? c->n_grams : 1) * sizeof *cnt);
    PQ_CHECK(row && cnt, PQ_ERR_NOMEM, "out of memory");
    float *Y = y->data;
    for (int64_t r = 0; r < N; r++) {
        for (int64_t j = 0; j < C; j++)
            row[j] = c->strings ? find_str(c, ((char *const *)x->data)[r * C + j])
                                : pq_tensor_get_i64(x, r * C + j);
        memset(cnt, 0, (size_t)c->n_grams * sizeof *cnt);
        int64_t q[64];
        for (int64_t skip = 0; skip <= c->max_skip; skip++) {
            const int64_t d = skip + 1;
            int64_t g0 = c->min_g;
            if (skip > 0 && g0 < 2) g0 = 2; /* 1-grams only once */
            for (int64_t g = g0; g <= c->max_g && g <= c->max_len; g++) {
                PQ_CHECK(g <= 64, PQ_ERR_UNSUPPORTED, "n-grams longer than 64 are not supported");
                for (int64_t s = 0; s + (g - 1) * d < C; s++) {
                    int ok = 1;
                    for (int64_t k = 0; k < g && ok; k++) {
                        q[k] = row[s + k * d];
                        ok = !(c->strings && q[k] < 0);
                    }
                    if (!ok) continue;
                    const int64_t id = find_gram(c, q, g);
                    if (id >= 0) cnt[id]++;
                }
            }
        }
        float *yr = Y + r * c->out_size;
        for (int64_t k = 0; k < c->n_grams; k++) {
            const float v = (float)cnt[k];
            yr[c->out_index[k]] = c->mode == TFIDF_TF    ? v
                                  : c->mode == TFIDF_IDF ? (cnt[k] > 0 ? 1.0f : 0.0f) * c->weights[k]
                                                         : v * c->weights[k];
        }
    }
fail:
    pq_free(row);
    pq_free(cnt);
    return st;
}

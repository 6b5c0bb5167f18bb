/* pipeline.c - passes by name, groups, the run loop and the report. */
#include "passes_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef pq_status (*pass_fn)(pq_graph *g, pq_pass_result *res, pq_err *err);

typedef struct pass_entry {
    const char *name;
    pass_fn fn;
    const char *group;
} pass_entry;

/* In the order the groups run them. */
static const pass_entry passes[] = {
    {"fold_constants", pq_pass_fold_constants, "format"},
    {"remove_identity", pq_pass_remove_identity, "format"},
    {"normalize", pq_pass_normalize, "format"},
    {"split_shared_params", pq_pass_split_shared_params, "format"},
    {"remove_isolated", pq_pass_remove_isolated, "format"},
    {"fuse_conv_bias", pq_pass_fuse_conv_bias, "fuse"},
    {"fuse_bn", pq_pass_fuse_bn, "fuse"},
    {"fuse_matmul_add", pq_pass_fuse_matmul_add, "fuse"},
    {"fuse_layernorm", pq_pass_fuse_layernorm, "fuse"},
    {"fuse_gelu", pq_pass_fuse_gelu, "fuse"},
    {"fuse_skip_layernorm", pq_pass_fuse_skip_layernorm, "fuse"},
    {"fuse_activation", pq_pass_fuse_activation, "fuse"},
};
#define N_PASSES ((int)(sizeof passes / sizeof *passes))

const char *const *pq_passes_names(void)
{
    static const char *names[N_PASSES + 1];
    if (!names[0])
        for (int k = 0; k < N_PASSES; k++) names[k] = passes[k].name;
    return names;
}

void pq_pass_report_free(pq_pass_report *r)
{
    if (!r) return;
    pq_free(r->items);
    memset(r, 0, sizeof *r);
}

const pq_pass_result *pq_pass_report_find(const pq_pass_report *r, const char *name)
{
    for (int k = r ? r->n - 1 : -1; k >= 0; k--)
        if (strcmp(r->items[k].name, name) == 0) return &r->items[k];
    return NULL;
}

static pq_status report_push(pq_pass_report *r, const pq_pass_result *res, pq_err *err)
{
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        pq_pass_result *it = pq_realloc(r->items, (size_t)cap * sizeof *it);
        if (!it) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory growing the pass report");
        r->items = it;
        r->cap = cap;
    }
    r->items[r->n++] = *res;
    return PQ_OK;
}

pq_status pq_pass_report_format(const pq_pass_report *r, char **out, pq_err *err)
{
    size_t cap = 256 + (size_t)r->n * 1024, off = 0;
    char *s = pq_malloc(cap);
    *out = NULL;
    if (!s) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory formatting the pass report");
    s[0] = '\0';
    for (int k = 0; k < r->n && off < cap; k++) {
        const pq_pass_result *p = &r->items[k];
        off += (size_t)snprintf(s + off, cap - off,
                                "%-20s %5" PRId64 " changed %4" PRId64 " refused  ops %" PRId64
                                " -> %" PRId64 "  %.2fs%s%s\n",
                                p->name, p->changes, p->refused, p->ops_before, p->ops_after,
                                p->seconds, p->detail[0] ? "  " : "", p->detail);
        if (p->first_refusal[0] && off < cap)
            off += (size_t)snprintf(s + off, cap - off, "%-20s first refusal: %s\n", "",
                                    p->first_refusal);
    }
    *out = s;
    return PQ_OK;
}

static const pass_entry *find_pass(const char *name, size_t len)
{
    for (int k = 0; k < N_PASSES; k++)
        if (strlen(passes[k].name) == len && strncmp(passes[k].name, name, len) == 0)
            return &passes[k];
    return NULL;
}

static int is_group(const char *name, size_t len)
{
    return (len == 6 && strncmp(name, "format", 6) == 0) || (len == 4 && strncmp(name, "fuse", 4) == 0);
}

/* Runs one pass (or truncate when entry is NULL) with sort + validate after it. */
static pq_status run_one(pq_graph *g, const pass_entry *e, const char *trunc_var,
                         pq_pass_report *report, pq_err *err)
{
    pq_pass_result res;
    pq_status st = e ? e->fn(g, &res, err) : pq_pass_truncate(g, trunc_var, 1, &res, err);
    const char *name = e ? e->name : "truncate";
    /* A cycle after a pass is the pass's bug, not the model's. */
    if (st == PQ_OK && (st = pq_graph_topological_sort(g, err)) == PQ_ERR_INVALID)
        st = PQ_ERR_INTERNAL;
    if (st == PQ_OK) st = pq_graph_validate(g, err);
    if (st != PQ_OK) {
        pq_err_prefix(err, "pass %s", name);
        return st;
    }
    return report ? report_push(report, &res, err) : PQ_OK;
}

pq_status pq_passes_run(pq_graph *g, const char *spec, pq_pass_report *report, pq_err *err)
{
    if (!g || !spec)
        return pq_err_set(err, PQ_ERR_INVALID, "pq_passes_run needs a graph and a pass list");
    /* Check every name first so a typo runs nothing. */
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        while (len && (*p == ' ')) p++, len--;
        size_t l = len;
        while (l && p[l - 1] == ' ') l--;
        if (l && !find_pass(p, l) && !is_group(p, l) && !(l > 9 && strncmp(p, "truncate=", 9) == 0)) {
            char known[1024];
            size_t off = 0;
            for (int k = 0; k < N_PASSES; k++)
                off += (size_t)snprintf(known + off, sizeof known - off, "%s, ", passes[k].name);
            return pq_err_set(err, PQ_ERR_INVALID,
                              "unknown pass '%.*s' (known: format, fuse, %struncate=VAR)", (int)l,
                              p, known);
        }
        p += len;
        if (*p == ',') p++;
    }
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        while (len && (*p == ' ')) p++, len--;
        size_t l = len;
        while (l && p[l - 1] == ' ') l--;
        pq_status st = PQ_OK;
        if (l && is_group(p, l)) {
            for (int k = 0; k < N_PASSES && st == PQ_OK; k++)
                if (strlen(passes[k].group) == l && strncmp(passes[k].group, p, l) == 0)
                    st = run_one(g, &passes[k], NULL, report, err);
        } else if (l > 9 && strncmp(p, "truncate=", 9) == 0) {
            char var[512];
            snprintf(var, sizeof var, "%.*s", (int)(l - 9), p + 9);
            st = run_one(g, NULL, var, report, err);
        } else if (l) {
            st = run_one(g, find_pass(p, l), NULL, report, err);
        }
        if (st != PQ_OK) return st;
        p += len;
        if (*p == ',') p++;
    }
    return PQ_OK;
}

pq_status pq_passes_set_input_shape(pq_graph *g, const char *name, int rank,
                                    const int64_t *dims, pq_err *err)
{
    pq_var *v = pq_graph_find_var(g, name);
    char a[256], b[256];
    if (!v || !pq_graph_is_input(g, v) || v->value)
        return pq_err_set(err, PQ_ERR_INVALID, "'%s' is not a graph input", name);
    if (rank < 0 || rank > PQ_MAX_RANK)
        return pq_err_set(err, PQ_ERR_INVALID, "input '%s': rank %d is out of range", name, rank);
    for (int d = 0; d < rank; d++)
        if (dims[d] < 0)
            return pq_err_set(err, PQ_ERR_INVALID, "input '%s': dim %d is negative", name, d);
    if (v->rank >= 0) {
        int ok = v->rank == rank;
        for (int d = 0; ok && d < rank; d++)
            if (v->dims[d] >= 0 && v->dims[d] != dims[d]) ok = 0;
        if (!ok)
            return pq_err_set(err, PQ_ERR_INVALID, "input '%s' is declared %s, cannot be %s", name,
                              pq_shape_str(v->rank, v->dims, a, sizeof a),
                              pq_shape_str(rank, dims, b, sizeof b));
    }
    pq_var_set_shape(v, v->dtype, rank, dims);
    return PQ_OK;
}

/* search.c - path, op-set and pattern matching over a graph (PPQ's SearchableGraph). */
#include "pq_search.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ predicates */

int pq_pred_type_in(const pq_op *op, void *user)
{
    const char *const *types = user;
    const char *dom = op->domain ? op->domain : "";
    if (strcmp(dom, "ai.onnx") == 0) dom = "";
    for (; types && *types; types++) {
        const char *t = *types, *colon = strchr(t, ':');
        if (colon) {
            size_t dl = (size_t)(colon - t);
            if (strlen(dom) == dl && strncmp(dom, t, dl) == 0 && strcmp(op->type, colon + 1) == 0)
                return 1;
        } else if (dom[0] == '\0' && strcmp(op->type, t) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ results */

void pq_matches_free(pq_matches *m)
{
    if (!m) return;
    for (int64_t k = 0; k < m->n; k++) pq_free(m->items[k].ops);
    pq_free(m->items);
    memset(m, 0, sizeof *m);
}

/* Appends a copy of ops[0..n) as one match. */
static pq_status matches_push(pq_matches *m, pq_op *const *ops, int n, pq_err *err)
{
    if (m->n == m->cap) {
        int64_t cap = m->cap ? m->cap * 2 : 16;
        pq_match *it = pq_realloc(m->items, (size_t)cap * sizeof *it);
        if (!it) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory storing search results");
        m->items = it;
        m->cap = cap;
    }
    pq_op **copy = pq_malloc((size_t)(n ? n : 1) * sizeof *copy);
    if (!copy) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory storing search results");
    memcpy(copy, ops, (size_t)n * sizeof *copy);
    m->items[m->n].ops = copy;
    m->items[m->n].n = n;
    m->n++;
    return PQ_OK;
}

/* Drops the matches appended after `keep` (used to leave out unchanged on failure). */
static void matches_truncate(pq_matches *m, int64_t keep)
{
    for (int64_t k = keep; k < m->n; k++) pq_free(m->items[k].ops);
    if (m->n > keep) m->n = keep;
}

/* ------------------------------------------------------------------ neighbours */

/* Numbers the graph's ops (scratch = index) so per-op arrays can be used. scratch is
 * documented as not preserved, so writing it through a const graph is allowed. */
static void number_ops(const pq_graph *g)
{
    for (int64_t k = 0; k < g->ops.n; k++) ((pq_op *)g->ops.items[k])->scratch = k;
}

static int in_graph(const pq_graph *g, const pq_op *op)
{
    return op && op->graph == g;
}

/* The ops adjacent to op in direction dir (each once, in edge order) into nb (cleared). */
static pq_status neighbours(const pq_graph *g, const pq_op *op, pq_search_dir dir,
                            pq_ptrvec *nb, pq_err *err)
{
    nb->n = 0;
    if (dir == PQ_SEARCH_UP) {
        for (int i = 0; i < op->n_inputs; i++) {
            pq_var *v = op->inputs[i];
            if (!v || !in_graph(g, v->source_op) || pq_ptrvec_find(nb, v->source_op) >= 0)
                continue;
            pq_status st = pq_ptrvec_push(nb, v->source_op, err);
            if (st != PQ_OK) return st;
        }
    } else {
        for (int o = 0; o < op->n_outputs; o++) {
            pq_var *v = op->outputs[o];
            if (!v) continue;
            for (int64_t k = 0; k < v->dest_ops.n; k++) {
                pq_op *c = v->dest_ops.items[k];
                if (!in_graph(g, c) || pq_ptrvec_find(nb, c) >= 0) continue;
                pq_status st = pq_ptrvec_push(nb, c, err);
                if (st != PQ_OK) return st;
            }
        }
    }
    return PQ_OK;
}

/* ------------------------------------------------------------------ path matching */

typedef struct path_search {
    const pq_graph *g;
    pq_op_relay relay;
    pq_op_pred end;
    pq_search_dir dir;
    int64_t limit, steps;
    pq_op **path;     /* current path, depth entries */
    char *on_path;    /* per op index */
    pq_matches *out;
} path_search;

static int relay_eval(pq_op_relay r, const pq_op *prev, const pq_op *op)
{
    return !r.fn || r.fn(prev, op, r.user);
}

static pq_status path_step(path_search *s, int depth, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_ptrvec nb = {0};
    pq_op *cur = s->path[depth - 1];
    PQ_TRY(neighbours(s->g, cur, s->dir, &nb, err));
    for (int64_t k = 0; k < nb.n; k++) {
        pq_op *op = nb.items[k];
        PQ_CHECK(++s->steps <= s->limit, PQ_ERR_INVALID,
                 "path search stopped after %" PRId64 " steps (the limit): the relay condition "
                 "lets too many paths through; narrow it or raise the limit", s->limit);
        if (s->on_path[op->scratch]) continue; /* a cycle: a path never repeats an op */
        s->path[depth] = op;
        if (pq_pred_eval(s->end, op)) {
            PQ_TRY(matches_push(s->out, s->path, depth + 1, err));
        } else if (relay_eval(s->relay, cur, op)) {
            s->on_path[op->scratch] = 1;
            st = path_step(s, depth + 1, err);
            s->on_path[op->scratch] = 0;
            if (st != PQ_OK) goto fail;
        }
    }
fail:
    pq_ptrvec_free(&nb);
    return st;
}

pq_status pq_graph_path_matching(const pq_graph *g, pq_op_pred start, pq_op_relay relay,
                                 pq_op_pred end, pq_search_dir dir, int64_t limit,
                                 pq_matches *out, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t n = g->ops.n, keep = out->n;
    path_search s = {g, relay, end, dir, limit > 0 ? limit : PQ_SEARCH_DEFAULT_LIMIT, 0,
                     NULL, NULL, out};
    s.path = pq_malloc((size_t)(n + 1) * sizeof *s.path);
    s.on_path = pq_calloc((size_t)n + 1, 1);
    PQ_CHECK(s.path && s.on_path, PQ_ERR_NOMEM, "out of memory in path search");
    number_ops(g);
    for (int64_t k = 0; k < n; k++) {
        pq_op *op = g->ops.items[k];
        if (!pq_pred_eval(start, op)) continue;
        s.path[0] = op;
        s.on_path[k] = 1;
        st = path_step(&s, 1, err);
        s.on_path[k] = 0;
        if (st != PQ_OK) goto fail;
        /* Found paths count against the bound too. */
        PQ_CHECK(out->n - keep <= s.limit, PQ_ERR_INVALID,
                 "path search stopped after %" PRId64 " paths (the limit)", s.limit);
    }
fail:
    if (st != PQ_OK) matches_truncate(out, keep);
    pq_free(s.path);
    pq_free(s.on_path);
    return st;
}

/* ------------------------------------------------------------------ op-set matching */

static int cmp_index_asc(const void *a, const void *b)
{
    int64_t x = (*(pq_op *const *)a)->scratch, y = (*(pq_op *const *)b)->scratch;
    return (x > y) - (x < y);
}

static int cmp_index_desc(const void *a, const void *b)
{
    return cmp_index_asc(b, a);
}

pq_status pq_graph_opset_matching(const pq_graph *g, pq_op_pred start, pq_op_relay relay,
                                  pq_op_pred end, pq_search_dir dir, pq_ptrvec *out,
                                  pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t n = g->ops.n, keep = out->n;
    /* kind: bit 1 = start, bit 2 = reached as a relay, bit 4 = reached as an end.
     * good: the op (as start or relay) continues to an end. */
    char *kind = pq_calloc((size_t)n + 1, 1), *good = pq_calloc((size_t)n + 1, 1);
    char *in_stack = pq_calloc((size_t)n + 1, 1);
    pq_ptrvec stack = {0}, nb = {0}, order = {0};
    PQ_CHECK(kind && good && in_stack, PQ_ERR_NOMEM, "out of memory in op-set search");
    number_ops(g);
    /* Forward: every op reachable from a start through relay steps. A relayed op is
     * expanded once; `order` records expansion order for the backward sweep. */
    for (int64_t k = 0; k < n; k++) {
        pq_op *op = g->ops.items[k];
        if (!pq_pred_eval(start, op)) continue;
        kind[k] |= 1;
        if (!in_stack[k]) {
            in_stack[k] = 1;
            PQ_TRY(pq_ptrvec_push(&stack, op, err));
        }
    }
    while (stack.n) {
        pq_op *cur = stack.items[--stack.n];
        PQ_TRY(pq_ptrvec_push(&order, cur, err));
        PQ_TRY(neighbours(g, cur, dir, &nb, err));
        for (int64_t k = 0; k < nb.n; k++) {
            pq_op *op = nb.items[k];
            if (pq_pred_eval(end, op)) {
                kind[op->scratch] |= 4;
                good[cur->scratch] = 1;
            } else if (relay_eval(relay, cur, op)) {
                kind[op->scratch] |= 2;
                if (!in_stack[op->scratch]) {
                    in_stack[op->scratch] = 1;
                    PQ_TRY(pq_ptrvec_push(&stack, op, err));
                }
            }
        }
    }
    /* Backward: an expanded op is good when it steps to an end or relays to a good op.
     * Sweeping against the walking direction of a topologically sorted graph settles in one
     * pass; sweeps repeat until nothing changes (unsorted graphs, cycles), each only sets
     * flags, so it terminates. */
    qsort(order.items, (size_t)order.n, sizeof *order.items,
          dir == PQ_SEARCH_DOWN ? cmp_index_asc : cmp_index_desc);
    for (int changed = 1; changed;) {
        changed = 0;
        for (int64_t i = order.n - 1; i >= 0; i--) {
            pq_op *cur = order.items[i];
            if (good[cur->scratch]) continue;
            PQ_TRY(neighbours(g, cur, dir, &nb, err));
            for (int64_t k = 0; k < nb.n; k++) {
                pq_op *op = nb.items[k];
                if (!pq_pred_eval(end, op) && good[op->scratch] && (kind[op->scratch] & 2) &&
                    relay_eval(relay, cur, op)) {
                    good[cur->scratch] = 1;
                    changed = 1;
                    break;
                }
            }
        }
    }
    /* Ends: reached from a good op (every op that steps to an end is good). */
    char *keep_op = in_stack; /* reuse as the result mask */
    memset(keep_op, 0, (size_t)n + 1);
    for (int64_t i = 0; i < order.n; i++) {
        pq_op *cur = order.items[i];
        if (!good[cur->scratch]) continue;
        keep_op[cur->scratch] = 1;
        PQ_TRY(neighbours(g, cur, dir, &nb, err));
        for (int64_t k = 0; k < nb.n; k++)
            if (pq_pred_eval(end, nb.items[k])) keep_op[((pq_op *)nb.items[k])->scratch] = 1;
    }
    for (int64_t k = 0; k < n; k++)
        if (keep_op[k]) PQ_TRY(pq_ptrvec_push(out, g->ops.items[k], err));
fail:
    if (st != PQ_OK) out->n = keep;
    pq_free(kind);
    pq_free(good);
    pq_free(in_stack);
    pq_ptrvec_free(&stack);
    pq_ptrvec_free(&nb);
    pq_ptrvec_free(&order);
    return st;
}

/* ------------------------------------------------------------------ pattern matching */

typedef struct pattern_search {
    const pq_graph *g;
    const pq_op_pred *pat;
    int n;
    const int (*edges)[2];
    int n_edges;
    int exclusive;
    int *order;       /* pattern nodes in topological order, order[0] = 0 */
    int *anchor;      /* per node: a parent to take candidates from (-1 for the root) */
    char *is_leaf;    /* per node */
    pq_op **match;    /* per node */
    char *used;       /* per op index */
    int64_t limit, steps;
    pq_ptrvec nb;
    pq_matches *out;
} pattern_search;

/* Whether some output of `up` is an input of `down`. */
static int feeds(const pq_op *up, const pq_op *down)
{
    for (int i = 0; i < down->n_inputs; i++)
        if (down->inputs[i] && down->inputs[i]->source_op == up) return 1;
    return 0;
}

static int exclusive_ok(const pattern_search *s)
{
    const pq_graph *g = s->g;
    for (int j = 0; j < s->n; j++) {
        const pq_op *op = s->match[j];
        if (j != 0) {
            for (int i = 0; i < op->n_inputs; i++) {
                const pq_var *v = op->inputs[i];
                if (!v || v->value) continue;
                if (!in_graph(g, v->source_op) || !s->used[v->source_op->scratch]) return 0;
            }
        }
        if (!s->is_leaf[j]) {
            for (int o = 0; o < op->n_outputs; o++) {
                const pq_var *v = op->outputs[o];
                if (!v) continue;
                if (pq_graph_is_output(g, v)) return 0;
                for (int64_t k = 0; k < v->dest_ops.n; k++) {
                    const pq_op *c = v->dest_ops.items[k];
                    if (!in_graph(g, c) || !s->used[c->scratch]) return 0;
                }
            }
        }
    }
    return 1;
}

static pq_status pattern_step(pattern_search *s, int k, pq_err *err)
{
    pq_status st = PQ_OK;
    if (k == s->n) {
        if (s->exclusive && !exclusive_ok(s)) return PQ_OK;
        return matches_push(s->out, s->match, s->n, err);
    }
    int j = s->order[k];
    pq_ptrvec cand = {0};
    /* Candidates: consumers of the anchor parent's op (copied: recursion reuses s->nb). */
    PQ_TRY(neighbours(s->g, s->match[s->anchor[j]], PQ_SEARCH_DOWN, &s->nb, err));
    for (int64_t c = 0; c < s->nb.n; c++) PQ_TRY(pq_ptrvec_push(&cand, s->nb.items[c], err));
    for (int64_t c = 0; c < cand.n; c++) {
        pq_op *op = cand.items[c];
        PQ_CHECK(++s->steps <= s->limit, PQ_ERR_INVALID,
                 "pattern search stopped after %" PRId64 " candidates (the limit): the "
                 "pattern is too loose for this graph; make its predicates narrower or raise "
                 "the limit", s->limit);
        if (s->used[op->scratch] || !pq_pred_eval(s->pat[j], op)) continue;
        int ok = 1;
        for (int e = 0; ok && e < s->n_edges; e++)
            if (s->edges[e][1] == j && !feeds(s->match[s->edges[e][0]], op)) ok = 0;
        if (!ok) continue;
        s->match[j] = op;
        s->used[op->scratch] = 1;
        st = pattern_step(s, k + 1, err);
        s->used[op->scratch] = 0;
        s->match[j] = NULL;
        if (st != PQ_OK) goto fail;
    }
fail:
    pq_ptrvec_free(&cand);
    return st;
}

/* Checks the pattern's shape and fills order/anchor/is_leaf. */
static pq_status pattern_prepare(pattern_search *s, pq_err *err)
{
    pq_status st = PQ_OK;
    int n = s->n;
    int *indeg = pq_calloc((size_t)n, sizeof *indeg);
    PQ_CHECK(indeg, PQ_ERR_NOMEM, "out of memory in pattern search");
    for (int e = 0; e < s->n_edges; e++) {
        int a = s->edges[e][0], b = s->edges[e][1];
        PQ_CHECK(a >= 0 && a < n && b >= 0 && b < n, PQ_ERR_INVALID,
                 "pattern edge %d (%d -> %d) names a node outside 0..%d", e, a, b, n - 1);
        PQ_CHECK(a != b, PQ_ERR_INVALID, "pattern edge %d links node %d to itself", e, a);
        indeg[b]++;
        s->is_leaf[a] = 0;
    }
    PQ_CHECK(indeg[0] == 0, PQ_ERR_INVALID, "pattern node 0 (the root) has an incoming edge");
    for (int j = 1; j < n; j++)
        PQ_CHECK(indeg[j] > 0, PQ_ERR_INVALID,
                 "pattern node %d has no incoming edge: only node 0 may be a root", j);
    /* Kahn's algorithm from the root. */
    int head = 0, tail = 0;
    s->order[tail++] = 0;
    s->anchor[0] = -1;
    while (head < tail) {
        int a = s->order[head++];
        for (int e = 0; e < s->n_edges; e++) {
            if (s->edges[e][0] != a) continue;
            int b = s->edges[e][1];
            if (--indeg[b] == 0) {
                s->anchor[b] = a;
                s->order[tail++] = b;
            }
        }
    }
    PQ_CHECK(tail == n, PQ_ERR_INVALID,
             "the pattern has a cycle (%d of %d nodes could be ordered)", tail, n);
fail:
    pq_free(indeg);
    return st;
}

pq_status pq_graph_pattern_matching(const pq_graph *g, const pq_op_pred *patterns, int n,
                                    const int (*edges)[2], int n_edges, int exclusive,
                                    int64_t limit, pq_matches *out, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t keep = out->n;
    pattern_search s = {0};
    if (n < 1 || !patterns)
        return pq_err_set(err, PQ_ERR_INVALID, "a pattern needs at least one node");
    if (n_edges < 0 || (n_edges > 0 && !edges))
        return pq_err_set(err, PQ_ERR_INVALID, "pattern edges are missing");
    s.g = g;
    s.pat = patterns;
    s.n = n;
    s.edges = edges;
    s.n_edges = n_edges;
    s.exclusive = exclusive;
    s.limit = limit > 0 ? limit : PQ_SEARCH_DEFAULT_LIMIT;
    s.out = out;
    s.order = pq_malloc((size_t)n * sizeof *s.order);
    s.anchor = pq_malloc((size_t)n * sizeof *s.anchor);
    s.is_leaf = pq_malloc((size_t)n);
    s.match = pq_calloc((size_t)n, sizeof *s.match);
    s.used = pq_calloc((size_t)g->ops.n + 1, 1);
    PQ_CHECK(s.order && s.anchor && s.is_leaf && s.match && s.used, PQ_ERR_NOMEM,
             "out of memory in pattern search");
    memset(s.is_leaf, 1, (size_t)n);
    PQ_TRY(pattern_prepare(&s, err));
    number_ops(g);
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        PQ_CHECK(++s.steps <= s.limit, PQ_ERR_INVALID,
                 "pattern search stopped after %" PRId64 " candidates (the limit)", s.limit);
        if (!pq_pred_eval(patterns[0], op)) continue;
        s.match[0] = op;
        s.used[k] = 1;
        st = pattern_step(&s, 1, err);
        s.used[k] = 0;
        if (st != PQ_OK) goto fail;
    }
fail:
    if (st != PQ_OK) matches_truncate(out, keep);
    pq_free(s.order);
    pq_free(s.anchor);
    pq_free(s.is_leaf);
    pq_free(s.match);
    pq_free(s.used);
    pq_ptrvec_free(&s.nb);
    return st;
}

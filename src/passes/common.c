/* common.c - helpers shared by the passes: results, graph queries, parameter edits, and the
 * shape trace the fusions use to learn ranks. */
#include "passes_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ results */

void pq__result_begin(pq_pass_result *res, const char *name, const pq_graph *g)
{
    memset(res, 0, sizeof *res);
    snprintf(res->name, sizeof res->name, "%s", name);
    res->ops_before = g->ops.n;
    res->vars_before = g->vars.n;
}

void pq__result_end(pq_pass_result *res, const pq_graph *g, double t0)
{
    res->ops_after = g->ops.n;
    res->vars_after = g->vars.n;
    res->seconds = pq_time_now() - t0;
}

void pq__result_note(pq_pass_result *res, const char *fmt, ...)
{
    size_t off = strlen(res->detail);
    if (off + 3 >= sizeof res->detail) return;
    if (off) {
        memcpy(res->detail + off, "; ", 3);
        off += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->detail + off, sizeof res->detail - off, fmt, ap);
    va_end(ap);
}

void pq__result_refuse(pq_pass_result *res, const pq_op *op, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    res->refused++;
    if (!res->first_refusal[0])
        snprintf(res->first_refusal, sizeof res->first_refusal, "node '%s' (%s): %s",
                 op ? op->name : "?", op ? op->type : "?", why);
    pq_log(PQ_LOG_INFO, "%s: node '%s' (%s) kept: %s", res->name, op ? op->name : "?",
           op ? op->type : "?", why);
}

/* ------------------------------------------------------------------ graph queries */

int pq__op_is_any(const pq_op *op, const char *const *types)
{
    for (; *types; types++)
        if (pq_op_is(op, *types)) return 1;
    return 0;
}

pq_op *pq__producer_is(const pq_var *v, const char *type)
{
    if (!v || !v->source_op || !pq_op_is(v->source_op, type)) return NULL;
    return v->source_op;
}

int64_t pq__num_readers(const pq_var *v)
{
    int64_t n = 0;
    for (int64_t k = 0; k < v->dest_ops.n; k++) {
        int seen = 0;
        for (int64_t j = 0; j < k && !seen; j++) seen = v->dest_ops.items[j] == v->dest_ops.items[k];
        n += !seen;
    }
    return n;
}

int pq__only_reader(const pq_graph *g, const pq_var *v, const pq_op *reader)
{
    if (!v || pq_graph_is_output(g, v) || v->dest_ops.n == 0) return 0;
    for (int64_t k = 0; k < v->dest_ops.n; k++)
        if (v->dest_ops.items[k] != reader) return 0;
    return 1;
}

pq_op *pq__sole_reader(const pq_graph *g, const pq_var *v)
{
    if (!v || v->dest_ops.n == 0) return NULL;
    pq_op *r = v->dest_ops.items[0];
    return pq__only_reader(g, v, r) ? r : NULL;
}

pq_var *pq__other_input(const pq_op *op, const pq_var *v, int *idx)
{
    if (op->n_inputs != 2 || !op->inputs[0] || !op->inputs[1]) return NULL;
    if (op->inputs[0] == v && op->inputs[1] != v) {
        if (idx) *idx = 1;
        return op->inputs[1];
    }
    if (op->inputs[1] == v && op->inputs[0] != v) {
        if (idx) *idx = 0;
        return op->inputs[0];
    }
    return NULL;
}

int pq__param_scalar(const pq_var *v, double *out)
{
    if (!v || !v->value || v->value->numel != 1) return 0;
    pq_dtype dt = v->value->dtype;
    if (!pq_dtype_is_float(dt) && !pq_dtype_is_integer(dt)) return 0;
    *out = pq_tensor_get_f64(v->value, 0);
    return 1;
}

int pq__near(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

int pq__is_f32(const pq_tensor *t)
{
    return t && t->dtype == PQ_DTYPE_FLOAT32;
}

/* ------------------------------------------------------------------ graph edits */

pq_status pq__new_param(pq_graph *g, const char *base, pq_tensor *t, pq_var **out, pq_err *err)
{
    char name[512];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 1; pq_graph_find_var(g, name); k++) snprintf(name, sizeof name, "%s_%d", base, k);
    return pq_graph_create_parameter(g, name, t, out, err);
}

void pq__drop_if_unused(pq_graph *g, pq_var *v)
{
    if (!v || v->graph != g || v->source_op || v->dest_ops.n || pq_graph_is_input(g, v) ||
        pq_graph_is_output(g, v))
        return;
    pq_graph_remove_var(g, v, NULL);
}

pq_status pq__set_param_input(pq_graph *g, pq_op *op, int idx, pq_tensor *t, const char *suffix,
                              pq_err *err)
{
    pq_status st;
    pq_var *old = idx < op->n_inputs ? op->inputs[idx] : NULL;
    if (old && old->value && old->graph == g && old->dest_ops.n == 1 &&
        !pq_graph_is_input(g, old) && !pq_graph_is_output(g, old)) {
        pq_var_set_value(old, t);
        return PQ_OK;
    }
    char base[400];
    snprintf(base, sizeof base, "%s_%s", old ? old->name : op->name, suffix);
    pq_var *nv = NULL;
    if ((st = pq__new_param(g, base, t, &nv, err)) != PQ_OK) return st;
    if (idx >= op->n_inputs) {
        while (op->n_inputs < idx)
            if ((st = pq_graph_add_input(g, op, NULL, err)) != PQ_OK) goto fail;
        if ((st = pq_graph_add_input(g, op, nv, err)) != PQ_OK) goto fail;
    } else if ((st = pq_graph_set_input(g, op, idx, nv, err)) != PQ_OK) {
        goto fail;
    }
    pq__drop_if_unused(g, old);
    return PQ_OK;
fail:
    pq_graph_remove_var(g, nv, NULL);
    return st;
}

pq_status pq__replace_ops(pq_graph *g, pq_op *const *ops, int n, pq_op *new_op, pq_var *out,
                          pq_err *err)
{
    pq_status st = PQ_OK;
    pq_ptrvec dangling = {0};
    for (int k = 0; k < n; k++)
        for (int o = 0; o < ops[k]->n_outputs; o++)
            if (ops[k]->outputs[o] && ops[k]->outputs[o] != out)
                PQ_TRY(pq_ptrvec_push(&dangling, ops[k]->outputs[o], err));
    for (int k = 0; k < n; k++) PQ_TRY(pq_graph_remove_op(g, ops[k], 0, err));
    for (int64_t k = 0; k < dangling.n; k++) pq__drop_if_unused(g, dangling.items[k]);
    PQ_TRY(pq_graph_add_output(g, new_op, out, err));
fail:
    pq_ptrvec_free(&dangling);
    return st;
}

/* ------------------------------------------------------------------ tensors */

pq_status pq__tensor_from_f64(int rank, const int64_t *dims, const double *v, pq_tensor **out,
                              pq_err *err)
{
    pq_status st = pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, rank, dims, out, err);
    if (st != PQ_OK) return st;
    float *d = PQ_DATA(*out, float);
    for (int64_t i = 0; i < (*out)->numel; i++) d[i] = (float)v[i];
    return PQ_OK;
}

pq_status pq__tensor_to_f64(const pq_tensor *t, double **out, pq_err *err)
{
    *out = pq_malloc((size_t)(t->numel ? t->numel : 1) * sizeof **out);
    if (!*out) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory reading a parameter");
    for (int64_t i = 0; i < t->numel; i++) (*out)[i] = pq_tensor_get_f64(t, i);
    return PQ_OK;
}

/* ------------------------------------------------------------------ shapes */

int pq__graph_is_static(const pq_graph *g)
{
    for (int64_t k = 0; k < g->inputs.n; k++) {
        const pq_var *v = g->inputs.items[k];
        if (v->value) continue;
        if (v->kind != PQ_VALUE_TENSOR || v->dtype == PQ_DTYPE_UNDEFINED || v->rank < 0) return 0;
        for (int d = 0; d < v->rank; d++)
            if (v->dims[d] < 0) return 0;
    }
    return 1;
}

/* Whether every non-parameter tensor variable has a dtype and a rank (and, with need_dims,
 * fully known dims). */
static int shapes_known(const pq_graph *g, int need_dims)
{
    for (int64_t k = 0; k < g->vars.n; k++) {
        const pq_var *v = g->vars.items[k];
        if (v->value || v->kind != PQ_VALUE_TENSOR) continue;
        if (!v->source_op && !pq_graph_is_input(g, v)) continue; /* dangling */
        if (v->rank < 0 || v->dtype == PQ_DTYPE_UNDEFINED) return 0;
        for (int d = 0; need_dims && d < v->rank; d++)
            if (v->dims[d] < 0) return 0;
    }
    return 1;
}

/* Seeded random feeds for g's non-parameter inputs with symbolic dims set to `dyn`. *n_feeds
 * is -1 when an input's dtype or rank is unknown. */
static pq_status make_feeds(const pq_graph *g, int64_t dyn, pq_rng *rng, int *n_feeds,
                            const char **names, pq_tensor **feeds, pq_err *err)
{
    pq_status st = PQ_OK;
    *n_feeds = 0;
    for (int64_t k = 0; k < g->inputs.n; k++) {
        const pq_var *v = g->inputs.items[k];
        if (v->value) continue;
        if (v->kind != PQ_VALUE_TENSOR || v->rank < 0 || !pq_dtype_is_supported(v->dtype) ||
            v->dtype == PQ_DTYPE_STRING) {
            *n_feeds = -1;
            return PQ_OK;
        }
        int64_t dims[PQ_MAX_RANK];
        for (int d = 0; d < v->rank; d++) dims[d] = v->dims[d] >= 0 ? v->dims[d] : dyn;
        pq_tensor *t = NULL;
        if ((st = pq_tensor_create(v->dtype, v->rank, dims, &t, err)) != PQ_OK) return st;
        if (v->dtype == PQ_DTYPE_FLOAT32)
            for (int64_t i = 0; i < t->numel; i++) PQ_DATA(t, float)[i] = (float)pq_rng_normal(rng);
        else if (v->dtype == PQ_DTYPE_FLOAT64)
            for (int64_t i = 0; i < t->numel; i++) PQ_DATA(t, double)[i] = pq_rng_normal(rng);
        names[*n_feeds] = v->name;
        feeds[(*n_feeds)++] = t;
    }
    return PQ_OK;
}

static void free_feeds(int n, pq_tensor **feeds)
{
    for (int k = 0; k < n; k++) pq_tensor_destroy(&feeds[k]);
}

pq_status pq__ensure_shapes(pq_graph *g, int *known, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_graph *copy = NULL;
    pq_executor *ex = NULL;
    int n_feeds = 0, n_in = (int)g->inputs.n;
    const char **names = pq_calloc((size_t)n_in + 1, sizeof *names);
    pq_tensor **feeds = pq_calloc((size_t)n_in + 1, sizeof *feeds);
    int64_t *rank1 = NULL, (*dims1)[PQ_MAX_RANK] = NULL;
    pq_err terr = {0};
    pq_rng rng;
    if (known) *known = 0;
    PQ_CHECK(names && feeds, PQ_ERR_NOMEM, "out of memory tracing shapes");
    int is_static = pq__graph_is_static(g);
    if (shapes_known(g, is_static)) {
        if (known) *known = 1;
        goto fail;
    }
    pq_rng_seed(&rng, 20240601);
    if (is_static) {
        PQ_TRY(make_feeds(g, 1, &rng, &n_feeds, names, feeds, err));
        if (n_feeds < 0) goto fail;
        st = pq_executor_create(g, NULL, &ex, &terr);
        if (st == PQ_ERR_NOMEM) goto nomem;
        if (st != PQ_OK) goto not_traced;
        st = pq_executor_trace_shapes(ex, g, n_feeds, names, feeds, &terr);
        if (st == PQ_ERR_NOMEM) goto nomem;
        if (st != PQ_OK) goto not_traced;
        if (known) *known = shapes_known(g, 0);
        goto fail;
    }
    /* Symbolic dims: trace a shallow copy twice (dims 1 and 2) and keep what agrees. */
    PQ_TRY(pq_graph_copy(g, 0, &copy, err));
    st = pq_executor_create(copy, NULL, &ex, &terr);
    if (st == PQ_ERR_NOMEM) goto nomem;
    if (st != PQ_OK) goto not_traced;
    rank1 = pq_malloc((size_t)(g->vars.n + 1) * sizeof *rank1);
    dims1 = pq_malloc((size_t)(g->vars.n + 1) * sizeof *dims1);
    PQ_CHECK(rank1 && dims1, PQ_ERR_NOMEM, "out of memory tracing shapes");
    for (int pass = 0; pass < 2; pass++) {
        /* From g: tracing writes the traced (now concrete) shapes into the copy's inputs. */
        PQ_TRY(make_feeds(g, pass + 1, &rng, &n_feeds, names, feeds, err));
        if (n_feeds < 0) goto fail;
        st = pq_executor_trace_shapes(ex, copy, n_feeds, names, feeds, &terr);
        free_feeds(n_feeds, feeds);
        n_feeds = 0;
        if (st == PQ_ERR_NOMEM) goto nomem;
        if (st != PQ_OK) goto not_traced;
        for (int64_t k = 0; k < g->vars.n; k++) {
            pq_var *v = g->vars.items[k];
            const pq_var *c = pq_graph_find_var(copy, v->name);
            if (pass == 0) {
                rank1[k] = c ? c->rank : -1;
                if (c) memcpy(dims1[k], c->dims, sizeof dims1[k]);
                continue;
            }
            if (v->rank >= 0 || v->value || !c || c->rank < 0 || c->rank != rank1[k]) continue;
            int64_t dims[PQ_MAX_RANK];
            for (int d = 0; d < c->rank; d++) dims[d] = c->dims[d] == dims1[k][d] ? c->dims[d] : -1;
            pq_var_set_shape(v, c->dtype, c->rank, dims);
        }
    }
    if (known) *known = shapes_known(g, 0);
    goto fail;
not_traced:
    pq_log(PQ_LOG_INFO, "passes: shapes not traced (%s); rewrites that need ranks are skipped",
           terr.msg);
    st = PQ_OK;
    goto fail;
nomem:
    st = pq_err_set(err, PQ_ERR_NOMEM, "%s", terr.msg);
fail:
    pq_executor_destroy(&ex);
    pq_graph_destroy(&copy);
    free_feeds(n_feeds > 0 ? n_feeds : 0, feeds);
    pq_free(names);
    pq_free(feeds);
    pq_free(rank1);
    pq_free(dims1);
    return st;
}

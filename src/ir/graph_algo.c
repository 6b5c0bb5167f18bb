/* graph_algo.c - topological sort, graph copy and consistency validation. */
#include "ir_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ topological sort */

/* A binary min-heap of op indices, so that among ready ops the graph order is kept. */
typedef struct heap {
    int64_t *a;
    int64_t n;
} heap;

static void heap_push(heap *h, int64_t v)
{
    int64_t i = h->n++;
    h->a[i] = v;
    while (i > 0 && h->a[(i - 1) / 2] > h->a[i]) {
        int64_t p = (i - 1) / 2, t = h->a[p];
        h->a[p] = h->a[i];
        h->a[i] = t;
        i = p;
    }
}

static int64_t heap_pop(heap *h)
{
    int64_t top = h->a[0];
    h->a[0] = h->a[--h->n];
    for (int64_t i = 0;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->a[l] < h->a[m]) m = l;
        if (r < h->n && h->a[r] < h->a[m]) m = r;
        if (m == i) break;
        int64_t t = h->a[m];
        h->a[m] = h->a[i];
        h->a[i] = t;
        i = m;
    }
    return top;
}

pq_status pq_graph_topological_sort(pq_graph *g, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t n = g->ops.n;
    int64_t *pending = pq_calloc((size_t)n + 1, sizeof *pending);
    heap h = {pq_malloc(((size_t)n + 1) * sizeof(int64_t)), 0};
    void **order = pq_malloc(((size_t)n + 1) * sizeof *order);
    PQ_CHECK(pending && h.a && order, PQ_ERR_NOMEM, "out of memory sorting the graph");
    for (int64_t k = 0; k < n; k++) ((pq_op *)g->ops.items[k])->scratch = k;
    /* pending[k]: input slots of op k whose producer is an op of this graph. */
    for (int64_t k = 0; k < n; k++) {
        pq_op *op = g->ops.items[k];
        for (int i = 0; i < op->n_inputs; i++) {
            pq_var *v = op->inputs[i];
            if (v && v->source_op && v->source_op->graph == g) pending[k]++;
        }
        if (!pending[k]) heap_push(&h, k);
    }
    int64_t done = 0;
    while (h.n) {
        pq_op *op = g->ops.items[heap_pop(&h)];
        order[done++] = op;
        for (int o = 0; o < op->n_outputs; o++) {
            pq_var *v = op->outputs[o];
            if (!v) continue;
            for (int64_t k = 0; k < v->dest_ops.n; k++) {
                pq_op *c = v->dest_ops.items[k];
                if (c->graph != g) continue;
                if (--pending[c->scratch] == 0) heap_push(&h, c->scratch);
            }
        }
    }
    if (done < n) {
        char list[768];
        size_t off = 0;
        int shown = 0;
        list[0] = '\0';
        for (int64_t k = 0; k < n; k++) {
            if (!pending[k]) continue;
            pq_op *op = g->ops.items[k];
            if (off < sizeof list - 64) {
                off += (size_t)snprintf(list + off, sizeof list - off, "%s'%s' (%s)",
                                        shown ? ", " : "", op->name, op->type);
                shown++;
            }
        }
        st = pq_err_set(err, PQ_ERR_INVALID,
                        "the graph has a cycle: %" PRId64 " operations cannot be ordered: %s%s",
                        n - done, list, off >= sizeof list - 64 ? ", ..." : "");
        goto fail;
    }
    memcpy(g->ops.items, order, (size_t)n * sizeof *order);
fail:
    pq_free(pending);
    pq_free(h.a);
    pq_free(order);
    return st;
}

/* ------------------------------------------------------------------ copy */

static pq_status copy_var_fields(pq_var *dst, const pq_var *src, int deep, pq_err *err)
{
    pq_status st = PQ_OK;
    dst->dtype = src->dtype;
    dst->rank = src->rank;
    memcpy(dst->dims, src->dims, sizeof dst->dims);
    dst->has_value_info = src->has_value_info;
    dst->kind = src->kind;
    for (int k = 0; k < PQ_MAX_RANK; k++)
        if (src->dim_params[k])
            PQ_CHECK(dst->dim_params[k] = pq_strdup(src->dim_params[k]), PQ_ERR_NOMEM,
                     "out of memory copying variable '%s'", src->name);
    if (src->type_opaque) {
        dst->type_opaque = pq_malloc(src->type_opaque_len ? src->type_opaque_len : 1);
        PQ_CHECK(dst->type_opaque, PQ_ERR_NOMEM, "out of memory copying variable '%s'", src->name);
        memcpy(dst->type_opaque, src->type_opaque, src->type_opaque_len);
        dst->type_opaque_len = src->type_opaque_len;
    }
    if (src->doc_string)
        PQ_CHECK(dst->doc_string = pq_strdup(src->doc_string), PQ_ERR_NOMEM, "out of memory");
    if (src->value) {
        if (deep)
            PQ_TRY(pq_tensor_clone(src->value, &dst->value, err));
        else
            dst->value = pq_tensor_retain(src->value);
    }
fail:
    return st;
}

static pq_status copy_tqc(pq_tqc *dst, const pq_tqc *src, pq_err *err)
{
    *dst = *src;
    dst->scale = dst->offset = NULL;
    dst->dominator = NULL; /* remapped by the caller */
    if (src->n_channels > 0) {
        pq_status st = pq_tqc_set_channels(dst, src->n_channels, err);
        if (st != PQ_OK) return st;
        if (src->scale) memcpy(dst->scale, src->scale, (size_t)src->n_channels * sizeof(float));
        if (src->offset) memcpy(dst->offset, src->offset, (size_t)src->n_channels * sizeof(float));
    }
    return PQ_OK;
}

/* Finds the copy of TQC `q` (which lives in some op of src) in the copied graph. */
static pq_tqc *map_tqc(const pq_graph *src, pq_graph *dst, const pq_tqc *q)
{
    for (int64_t k = 0; k < src->ops.n; k++) {
        const pq_op *so = src->ops.items[k];
        pq_op *d = dst->ops.items[k];
        if (!so->qconfig || !d->qconfig) continue;
        if (q >= so->qconfig->inputs && q < so->qconfig->inputs + so->qconfig->n_inputs)
            return &d->qconfig->inputs[q - so->qconfig->inputs];
        if (q >= so->qconfig->outputs && q < so->qconfig->outputs + so->qconfig->n_outputs)
            return &d->qconfig->outputs[q - so->qconfig->outputs];
    }
    return NULL;
}

static pq_status copy_strings(pq_graph *d, const pq_graph *s, pq_err *err)
{
    pq_status st = PQ_OK;
#define PQ_COPY_STR(field)                                                               \
    if (s->field) PQ_CHECK(d->field = pq_strdup(s->field), PQ_ERR_NOMEM, "out of memory");
    PQ_COPY_STR(producer_name)
    PQ_COPY_STR(producer_version)
    PQ_COPY_STR(domain)
    PQ_COPY_STR(doc_string)
    PQ_COPY_STR(graph_doc_string)
#undef PQ_COPY_STR
    for (int k = 0; k < s->n_opsets; k++)
        PQ_TRY(pq_graph_set_opset(d, s->opsets[k].domain, s->opsets[k].version, err));
    for (int k = 0; k < s->n_metadata; k++)
        PQ_TRY(pq_graph_set_metadata(d, s->metadata[k].key, s->metadata[k].value, err));
    if (s->n_functions) {
        d->functions = pq_calloc((size_t)s->n_functions, sizeof *d->functions);
        d->function_lens = pq_calloc((size_t)s->n_functions, sizeof *d->function_lens);
        PQ_CHECK(d->functions && d->function_lens, PQ_ERR_NOMEM, "out of memory");
        for (int k = 0; k < s->n_functions; k++) {
            d->functions[k] = pq_malloc(s->function_lens[k] ? s->function_lens[k] : 1);
            PQ_CHECK(d->functions[k], PQ_ERR_NOMEM, "out of memory");
            memcpy(d->functions[k], s->functions[k], s->function_lens[k]);
            d->function_lens[k] = s->function_lens[k];
            d->n_functions = k + 1;
        }
    }
fail:
    return st;
}

/* Finds the copy of var v: in dst (or an enclosing graph of dst for outer-scope reads). */
static pq_var *map_var(const pq_graph *dst, const pq_var *v)
{
    for (const pq_graph *g = dst; g; g = g->parent) {
        pq_var *d = pq_graph_find_var(g, v->name);
        if (d) return d;
    }
    return NULL;
}

static pq_status copy_graph(const pq_graph *s, int deep, pq_graph *parent, pq_graph **out,
                            pq_err *err);

/* Copies an attribute; subgraphs are copied with `parent` (the graph copy being built) as
 * their enclosing graph so that their outer-scope reads bind to the copy. */
static pq_status copy_attr_into(pq_attr *dst, const pq_attr *src, int deep, pq_graph *parent,
                                pq_err *err)
{
    if (src->type != PQ_ATTR_GRAPH && src->type != PQ_ATTR_GRAPHS)
        return pq_attr_copy(dst, src, err);
    pq_status st = PQ_OK;
    pq_attr shell = *src;
    shell.g = NULL;
    shell.graphs = NULL;
    shell.n = 0;
    PQ_TRY(pq_attr_copy(dst, &shell, err));
    dst->n = src->n;
    if (src->g) PQ_TRY(copy_graph(src->g, deep, parent, &dst->g, err));
    if (src->graphs) {
        dst->graphs = pq_calloc((size_t)src->n + 1, sizeof *dst->graphs);
        PQ_CHECK(dst->graphs, PQ_ERR_NOMEM, "out of memory copying graphs");
        for (int64_t k = 0; k < src->n; k++)
            PQ_TRY(copy_graph(src->graphs[k], deep, parent, &dst->graphs[k], err));
    }
    return PQ_OK;
fail:
    pq_attr_clear(dst);
    return st;
}

/* Copies g into a new graph whose parent is `parent` (NULL at the top level). */
static pq_status copy_graph(const pq_graph *s, int deep, pq_graph *parent, pq_graph **out,
                            pq_err *err)
{
    pq_status st = PQ_OK;
    pq_graph *d = NULL;
    *out = NULL;
    PQ_TRY(pq_graph_create(s->name, &d, err));
    d->parent = parent;
    d->ir_version = s->ir_version;
    d->model_version = s->model_version;
    d->name_counter = s->name_counter;
    PQ_TRY(copy_strings(d, s, err));
    for (int64_t k = 0; k < s->vars.n; k++) {
        const pq_var *sv = s->vars.items[k];
        pq_var *dv;
        PQ_TRY(pq_graph_create_var(d, sv->name, &dv, err));
        PQ_TRY(copy_var_fields(dv, sv, deep, err));
    }
    for (int64_t k = 0; k < s->ops.n; k++) {
        const pq_op *so = s->ops.items[k];
        pq_op *dop;
        PQ_TRY(pq_graph_create_op(d, so->type, so->name, so->domain, so->opset, &dop, err));
        dop->platform = so->platform;
        if (so->doc_string)
            PQ_CHECK(dop->doc_string = pq_strdup(so->doc_string), PQ_ERR_NOMEM, "out of memory");
        for (int i = 0; i < so->n_inputs; i++) {
            pq_var *v = so->inputs[i] ? map_var(d, so->inputs[i]) : NULL;
            PQ_CHECK(!so->inputs[i] || v, PQ_ERR_INTERNAL,
                     "copy: input '%s' of '%s' not found", so->inputs[i]->name, so->name);
            PQ_TRY(pq_graph_add_input(d, dop, v, err));
        }
        for (int i = 0; i < so->n_outputs; i++) {
            pq_var *v = so->outputs[i] ? pq_graph_find_var(d, so->outputs[i]->name) : NULL;
            PQ_TRY(pq_graph_add_output(d, dop, v, err));
        }
        for (int a = 0; a < so->n_attrs; a++) {
            pq_attr at;
            PQ_TRY(copy_attr_into(&at, &so->attrs[a], deep, d, err));
            PQ_TRY(pq_op_add_attr(dop, &at, err));
        }
        for (int e = 0; e < so->n_ext; e++) {
            if (so->ext[e].s)
                PQ_TRY(pq_op_set_ext_str(dop, so->ext[e].key, so->ext[e].s, err));
            else
                PQ_TRY(pq_op_set_ext_int(dop, so->ext[e].key, so->ext[e].i, err));
        }
        if (so->qconfig) {
            PQ_TRY(pq_op_qconfig_create(dop, err));
            pq_op_qconfig *sc = so->qconfig, *dc = dop->qconfig;
            PQ_CHECK(sc->n_inputs == dc->n_inputs && sc->n_outputs == dc->n_outputs,
                     PQ_ERR_INTERNAL, "copy: quantization config of '%s' does not match its edges",
                     so->name);
            for (int i = 0; i < sc->n_inputs; i++) PQ_TRY(copy_tqc(&dc->inputs[i], &sc->inputs[i], err));
            for (int i = 0; i < sc->n_outputs; i++) PQ_TRY(copy_tqc(&dc->outputs[i], &sc->outputs[i], err));
        }
    }
    /* Remap dominators now that every op's config exists. */
    for (int64_t k = 0; k < s->ops.n; k++) {
        const pq_op *so = s->ops.items[k];
        pq_op *dop = d->ops.items[k];
        if (!so->qconfig) continue;
        for (int i = 0; i < so->qconfig->n_inputs; i++)
            if (so->qconfig->inputs[i].dominator)
                dop->qconfig->inputs[i].dominator = map_tqc(s, d, so->qconfig->inputs[i].dominator);
        for (int i = 0; i < so->qconfig->n_outputs; i++)
            if (so->qconfig->outputs[i].dominator)
                dop->qconfig->outputs[i].dominator = map_tqc(s, d, so->qconfig->outputs[i].dominator);
    }
    for (int64_t k = 0; k < s->inputs.n; k++)
        PQ_TRY(pq_graph_mark_input(d, pq_graph_find_var(d, ((pq_var *)s->inputs.items[k])->name), err));
    for (int64_t k = 0; k < s->outputs.n; k++)
        PQ_TRY(pq_graph_mark_output(d, pq_graph_find_var(d, ((pq_var *)s->outputs.items[k])->name), err));
    *out = d;
    return PQ_OK;
fail:
    pq_graph_destroy(&d);
    return st;
}

pq_status pq_graph_copy(const pq_graph *g, int deep, pq_graph **out, pq_err *err)
{
    return copy_graph(g, deep, g->parent, out, err);
}

/* ------------------------------------------------------------------ validation */

static int count_in(pq_var *const *list, int n, const pq_var *v)
{
    int c = 0;
    for (int i = 0; i < n; i++) c += list[i] == v;
    return c;
}

static int64_t count_ptr(const pq_ptrvec *v, const void *p)
{
    int64_t c = 0;
    for (int64_t i = 0; i < v->n; i++) c += v->items[i] == p;
    return c;
}

pq_status pq_graph_validate(const pq_graph *g, pq_err *err)
{
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (op->graph != g || pq_graph_find_op(g, op->name) != op)
            return pq_err_set(err, PQ_ERR_INTERNAL, "operation '%s' is not registered in the graph",
                              op->name);
        for (int i = 0; i < op->n_inputs; i++) {
            pq_var *v = op->inputs[i];
            if (!v) continue;
            if (count_ptr(&v->dest_ops, op) != count_in(op->inputs, op->n_inputs, v))
                return pq_err_set(err, PQ_ERR_INTERNAL,
                                  "operation '%s' reads '%s' but the variable's consumer list "
                                  "disagrees", op->name, v->name);
        }
        for (int i = 0; i < op->n_outputs; i++) {
            pq_var *v = op->outputs[i];
            if (v && v->source_op != op)
                return pq_err_set(err, PQ_ERR_INTERNAL,
                                  "operation '%s' writes '%s' but the variable's source is '%s'",
                                  op->name, v->name, v->source_op ? v->source_op->name : "none");
        }
    }
    for (int64_t k = 0; k < g->vars.n; k++) {
        const pq_var *v = g->vars.items[k];
        if (v->graph != g || pq_graph_find_var(g, v->name) != v)
            return pq_err_set(err, PQ_ERR_INTERNAL, "variable '%s' is not registered in the graph",
                              v->name);
        if (v->source_op && count_in(v->source_op->outputs, v->source_op->n_outputs, v) != 1)
            return pq_err_set(err, PQ_ERR_INTERNAL,
                              "variable '%s' names '%s' as its source, which does not write it once",
                              v->name, v->source_op->name);
        for (int64_t d = 0; d < v->dest_ops.n; d++) {
            const pq_op *c = v->dest_ops.items[d];
            if (count_in(c->inputs, c->n_inputs, v) != count_ptr(&v->dest_ops, c))
                return pq_err_set(err, PQ_ERR_INTERNAL,
                                  "variable '%s' lists consumer '%s', which does not read it",
                                  v->name, c->name);
        }
    }
    return PQ_OK;
}

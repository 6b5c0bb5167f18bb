/* graph.c - graph, variable and operation lifecycle and the graph editing API. */
#include "ir_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ lifecycle */

pq_status pq_graph_create(const char *name, pq_graph **out, pq_err *err)
{
    *out = NULL;
    pq_graph *g = pq_calloc(1, sizeof *g);
    if (!g) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory creating a graph");
    g->name = pq_strdup(name ? name : "");
    if (!g->name) {
        pq_free(g);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory creating a graph");
    }
    g->ir_version = 8;
    *out = g;
    return PQ_OK;
}

void pq__var_free(pq_var *v)
{
    if (!v) return;
    pq_free(v->name);
    pq_tensor_destroy(&v->value);
    pq_ptrvec_free(&v->dest_ops);
    for (int k = 0; k < PQ_MAX_RANK; k++) pq_free(v->dim_params[k]);
    pq_free(v->type_opaque);
    pq_free(v->doc_string);
    pq_free(v);
}

void pq__op_free(pq_op *op)
{
    if (!op) return;
    pq_free(op->name);
    pq_free(op->type);
    pq_free(op->domain);
    pq_free(op->inputs);
    pq_free(op->outputs);
    for (int k = 0; k < op->n_attrs; k++) pq_attr_clear(&op->attrs[k]);
    pq_free(op->attrs);
    for (int k = 0; k < op->n_ext; k++) {
        pq_free(op->ext[k].key);
        pq_free(op->ext[k].s);
    }
    pq_free(op->ext);
    pq_op_qconfig_destroy(op);
    pq_free(op->doc_string);
    pq_free(op);
}

void pq_graph_destroy(pq_graph **gp)
{
    if (!gp || !*gp) return;
    pq_graph *g = *gp;
    for (int64_t k = 0; k < g->ops.n; k++) pq__op_free(g->ops.items[k]);
    for (int64_t k = 0; k < g->vars.n; k++) pq__var_free(g->vars.items[k]);
    pq_ptrvec_free(&g->ops);
    pq_ptrvec_free(&g->vars);
    pq_ptrvec_free(&g->inputs);
    pq_ptrvec_free(&g->outputs);
    pq_strmap_free(&g->op_by_name);
    pq_strmap_free(&g->var_by_name);
    for (int k = 0; k < g->n_opsets; k++) pq_free(g->opsets[k].domain);
    pq_free(g->opsets);
    for (int k = 0; k < g->n_metadata; k++) {
        pq_free(g->metadata[k].key);
        pq_free(g->metadata[k].value);
    }
    pq_free(g->metadata);
    for (int k = 0; k < g->n_functions; k++) pq_free(g->functions[k]);
    pq_free(g->functions);
    pq_free(g->function_lens);
    pq_free(g->name);
    pq_free(g->producer_name);
    pq_free(g->producer_version);
    pq_free(g->domain);
    pq_free(g->doc_string);
    pq_free(g->graph_doc_string);
    pq_free(g);
    *gp = NULL;
}

/* ------------------------------------------------------------------ model-level fields */

static const char *norm_domain(const char *d)
{
    return (!d || strcmp(d, "ai.onnx") == 0) ? "" : d;
}

int64_t pq_graph_opset(const pq_graph *g, const char *domain)
{
    domain = norm_domain(domain);
    while (g->parent) g = g->parent;
    for (int k = 0; k < g->n_opsets; k++)
        if (strcmp(norm_domain(g->opsets[k].domain), domain) == 0) return g->opsets[k].version;
    return -1;
}

pq_status pq_graph_set_opset(pq_graph *g, const char *domain, int64_t version, pq_err *err)
{
    const char *nd = norm_domain(domain);
    for (int k = 0; k < g->n_opsets; k++) {
        if (strcmp(norm_domain(g->opsets[k].domain), nd) == 0) {
            g->opsets[k].version = version;
            return PQ_OK;
        }
    }
    pq_opset_import *o = pq_realloc(g->opsets, (size_t)(g->n_opsets + 1) * sizeof *o);
    if (!o) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory adding an opset import");
    g->opsets = o;
    o[g->n_opsets].domain = pq_strdup(domain ? domain : "");
    if (!o[g->n_opsets].domain) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    o[g->n_opsets].version = version;
    g->n_opsets++;
    return PQ_OK;
}

pq_status pq_graph_set_metadata(pq_graph *g, const char *key, const char *value, pq_err *err)
{
    char *v = pq_strdup(value);
    if (!v) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory setting metadata '%s'", key);
    for (int k = 0; k < g->n_metadata; k++) {
        if (strcmp(g->metadata[k].key, key) == 0) {
            pq_free(g->metadata[k].value);
            g->metadata[k].value = v;
            return PQ_OK;
        }
    }
    pq_kv *m = pq_realloc(g->metadata, (size_t)(g->n_metadata + 1) * sizeof *m);
    char *k = pq_strdup(key);
    if (!m || !k) {
        if (m) g->metadata = m;
        pq_free(k);
        pq_free(v);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory setting metadata '%s'", key);
    }
    g->metadata = m;
    m[g->n_metadata].key = k;
    m[g->n_metadata].value = v;
    g->n_metadata++;
    return PQ_OK;
}

/* ------------------------------------------------------------------ lookups and creation */

pq_op *pq_graph_find_op(const pq_graph *g, const char *name)
{
    return pq_strmap_get(&g->op_by_name, name);
}

pq_var *pq_graph_find_var(const pq_graph *g, const char *name)
{
    return pq_strmap_get(&g->var_by_name, name);
}

/* A name "<prefix>_<n>" not used in `map`, into buf. */
static const char *unique_name(pq_graph *g, const pq_strmap *map, const char *prefix,
                               char *buf, size_t cap)
{
    do {
        snprintf(buf, cap, "%s_%" PRId64, prefix, g->name_counter++);
    } while (pq_strmap_get(map, buf));
    return buf;
}

pq_status pq_graph_create_var(pq_graph *g, const char *name, pq_var **out, pq_err *err)
{
    char buf[64];
    pq_status st = PQ_OK;
    pq_var *v = NULL;
    *out = NULL;
    if (!name) name = unique_name(g, &g->var_by_name, "pq_var", buf, sizeof buf);
    PQ_CHECK(!pq_graph_find_var(g, name), PQ_ERR_INVALID,
             "a variable named '%s' already exists", name);
    v = pq_calloc(1, sizeof *v);
    PQ_CHECK(v, PQ_ERR_NOMEM, "out of memory creating variable '%s'", name);
    v->name = pq_strdup(name);
    PQ_CHECK(v->name, PQ_ERR_NOMEM, "out of memory creating variable '%s'", name);
    v->graph = g;
    v->rank = -1;
    PQ_TRY(pq_ptrvec_push(&g->vars, v, err));
    st = pq_strmap_put(&g->var_by_name, name, v, err);
    if (st != PQ_OK) {
        g->vars.n--;
        goto fail;
    }
    *out = v;
    return PQ_OK;
fail:
    pq__var_free(v);
    return st;
}

void pq_var_set_value(pq_var *v, pq_tensor *t)
{
    pq_tensor_destroy(&v->value);
    v->value = t;
    if (t) pq_var_set_shape(v, t->dtype, t->rank, t->dims);
}

void pq_var_set_shape(pq_var *v, pq_dtype dtype, int rank, const int64_t *dims)
{
    v->dtype = dtype;
    v->rank = rank;
    for (int k = 0; k < PQ_MAX_RANK; k++) {
        v->dims[k] = (k < rank) ? dims[k] : 0;
        if (k < rank && v->dim_params[k] && dims[k] >= 0) {
            pq_free(v->dim_params[k]);
            v->dim_params[k] = NULL;
        }
    }
}

pq_status pq_graph_create_parameter(pq_graph *g, const char *name, pq_tensor *t, pq_var **out,
                                    pq_err *err)
{
    pq_status st = pq_graph_create_var(g, name, out, err);
    if (st != PQ_OK) {
        pq_tensor_destroy(&t);
        return st;
    }
    pq_var_set_value(*out, t);
    return PQ_OK;
}

pq_status pq_graph_create_op(pq_graph *g, const char *type, const char *name,
                             const char *domain, int opset, pq_op **out, pq_err *err)
{
    char buf[96];
    pq_status st = PQ_OK;
    pq_op *op = NULL;
    *out = NULL;
    PQ_CHECK(type && type[0], PQ_ERR_INVALID, "an operation needs a type");
    if (!name) name = unique_name(g, &g->op_by_name, type, buf, sizeof buf);
    PQ_CHECK(!pq_graph_find_op(g, name), PQ_ERR_INVALID,
             "an operation named '%s' already exists", name);
    op = pq_calloc(1, sizeof *op);
    PQ_CHECK(op, PQ_ERR_NOMEM, "out of memory creating operation '%s'", name);
    op->name = pq_strdup(name);
    op->type = pq_strdup(type);
    op->domain = pq_strdup(domain ? domain : "");
    PQ_CHECK(op->name && op->type && op->domain, PQ_ERR_NOMEM,
             "out of memory creating operation '%s'", name);
    op->graph = g;
    if (opset <= 0) {
        int64_t v = pq_graph_opset(g, op->domain);
        opset = v > 0 ? (int)v : 1;
    }
    op->opset = opset;
    PQ_TRY(pq_ptrvec_push(&g->ops, op, err));
    st = pq_strmap_put(&g->op_by_name, name, op, err);
    if (st != PQ_OK) {
        g->ops.n--;
        goto fail;
    }
    *out = op;
    return PQ_OK;
fail:
    pq__op_free(op);
    return st;
}

/* ------------------------------------------------------------------ edges */

int pq__var_drop_dest(pq_var *v, const pq_op *op)
{
    int64_t i = pq_ptrvec_find(&v->dest_ops, op);
    if (i < 0) return 0;
    pq_ptrvec_remove_at(&v->dest_ops, i);
    return 1;
}

/* The var belongs to g or, for a subgraph, to an enclosing graph. */
static int var_in_scope(const pq_graph *g, const pq_var *v)
{
    for (; g; g = g->parent)
        if (v->graph == g) return 1;
    return 0;
}

static pq_status check_op(const pq_graph *g, const pq_op *op, pq_err *err)
{
    if (!op || op->graph != g)
        return pq_err_set(err, PQ_ERR_INVALID, "operation '%s' is not in this graph",
                          op ? op->name : "(null)");
    return PQ_OK;
}

static pq_status check_var(const pq_graph *g, const pq_var *v, pq_err *err)
{
    if (v && !var_in_scope(g, v))
        return pq_err_set(err, PQ_ERR_INVALID, "variable '%s' is not in this graph", v->name);
    return PQ_OK;
}

pq_status pq_graph_add_input(pq_graph *g, pq_op *op, pq_var *var, pq_err *err)
{
    pq_status st;
    if ((st = check_op(g, op, err)) != PQ_OK || (st = check_var(g, var, err)) != PQ_OK)
        return st;
    pq_var **in = pq_realloc(op->inputs, (size_t)(op->n_inputs + 1) * sizeof *in);
    if (!in) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory linking '%s'", op->name);
    op->inputs = in;
    if (var && (st = pq_ptrvec_push(&var->dest_ops, op, err)) != PQ_OK) return st;
    in[op->n_inputs++] = var;
    return PQ_OK;
}

pq_status pq_graph_add_output(pq_graph *g, pq_op *op, pq_var *var, pq_err *err)
{
    pq_status st;
    if ((st = check_op(g, op, err)) != PQ_OK || (st = check_var(g, var, err)) != PQ_OK)
        return st;
    if (var && var->graph != g)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "operation '%s' cannot write variable '%s' of an enclosing graph",
                          op->name, var->name);
    if (var && var->source_op)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "variable '%s' is already produced by operation '%s'", var->name,
                          var->source_op->name);
    if (var && var->value)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "variable '%s' is a parameter and cannot be an operation output",
                          var->name);
    pq_var **o = pq_realloc(op->outputs, (size_t)(op->n_outputs + 1) * sizeof *o);
    if (!o) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory linking '%s'", op->name);
    op->outputs = o;
    o[op->n_outputs++] = var;
    if (var) var->source_op = op;
    return PQ_OK;
}

pq_status pq_graph_set_input(pq_graph *g, pq_op *op, int idx, pq_var *var, pq_err *err)
{
    pq_status st;
    if ((st = check_op(g, op, err)) != PQ_OK || (st = check_var(g, var, err)) != PQ_OK)
        return st;
    if (idx < 0 || idx >= op->n_inputs)
        return pq_err_set(err, PQ_ERR_INVALID, "operation '%s' has no input %d", op->name, idx);
    if (op->inputs[idx] == var) return PQ_OK;
    if (var && (st = pq_ptrvec_push(&var->dest_ops, op, err)) != PQ_OK) return st;
    if (op->inputs[idx]) pq__var_drop_dest(op->inputs[idx], op);
    op->inputs[idx] = var;
    return PQ_OK;
}

pq_status pq_graph_create_link_with_op(pq_graph *g, pq_op *upstream_op, pq_op *downstream_op,
                                       pq_var *var, pq_var **out, pq_err *err)
{
    pq_status st = PQ_OK;
    int created = 0;
    if (out) *out = NULL;
    if (upstream_op && (st = check_op(g, upstream_op, err)) != PQ_OK) return st;
    if (downstream_op && (st = check_op(g, downstream_op, err)) != PQ_OK) return st;
    if ((st = check_var(g, var, err)) != PQ_OK) return st;
    if (!upstream_op && !downstream_op)
        return pq_err_set(err, PQ_ERR_INVALID, "create_link_with_op needs at least one op");
    if (var && upstream_op && var->source_op && var->source_op != upstream_op)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "variable '%s' is already produced by operation '%s'", var->name,
                          var->source_op->name);
    if (!var) {
        PQ_TRY(pq_graph_create_var(g, NULL, &var, err));
        created = 1;
    }
    if (upstream_op && var->source_op != upstream_op)
        PQ_TRY(pq_graph_add_output(g, upstream_op, var, err));
    if (downstream_op) PQ_TRY(pq_graph_add_input(g, downstream_op, var, err));
    if (out) *out = var;
    return PQ_OK;
fail:
    if (created) pq_graph_remove_var(g, var, NULL);
    return st;
}

static void replace_in_list(pq_ptrvec *list, void *from, void *to)
{
    int64_t i = pq_ptrvec_find(list, from);
    if (i >= 0) list->items[i] = to;
}

pq_status pq_graph_create_link_with_var(pq_graph *g, pq_var *upstream, pq_var *downstream,
                                        pq_err *err)
{
    pq_status st;
    if ((st = check_var(g, upstream, err)) != PQ_OK || (st = check_var(g, downstream, err)) != PQ_OK)
        return st;
    if (!upstream || !downstream || upstream == downstream)
        return pq_err_set(err, PQ_ERR_INVALID, "create_link_with_var needs two distinct variables");
    if (downstream->source_op)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "variable '%s' is produced by operation '%s' and cannot be merged "
                          "into '%s'", downstream->name, downstream->source_op->name,
                          upstream->name);
    /* Reserve room first so the rewiring below cannot fail half-way. */
    for (int64_t k = 0; k < downstream->dest_ops.n; k++)
        if ((st = pq_ptrvec_push(&upstream->dest_ops, downstream->dest_ops.items[k], err)) != PQ_OK)
            return st;
    for (int64_t k = 0; k < downstream->dest_ops.n; k++) {
        pq_op *op = downstream->dest_ops.items[k];
        for (int i = 0; i < op->n_inputs; i++)
            if (op->inputs[i] == downstream) {
                op->inputs[i] = upstream;
                break;
            }
    }
    downstream->dest_ops.n = 0;
    if (pq_graph_is_output(g, downstream)) {
        if (pq_graph_is_output(g, upstream))
            pq_graph_unmark_output(g, downstream);
        else
            replace_in_list(&g->outputs, downstream, upstream);
    }
    return pq_graph_remove_var(g, downstream, err);
}

static int op_has_edges(const pq_op *op) { return op->n_inputs || op->n_outputs; }

pq_status pq_graph_insert_op_before(pq_graph *g, pq_op *op, pq_op *down, int input_idx,
                                    pq_err *err)
{
    pq_status st;
    pq_var *mid = NULL;
    if ((st = check_op(g, op, err)) != PQ_OK || (st = check_op(g, down, err)) != PQ_OK) return st;
    if (op_has_edges(op))
        return pq_err_set(err, PQ_ERR_INVALID,
                          "cannot insert operation '%s': it already has inputs or outputs",
                          op->name);
    if (input_idx < 0 || input_idx >= down->n_inputs || !down->inputs[input_idx])
        return pq_err_set(err, PQ_ERR_INVALID, "operation '%s' has no input %d", down->name,
                          input_idx);
    pq_var *var = down->inputs[input_idx];
    PQ_TRY(pq_graph_create_var(g, NULL, &mid, err));
    PQ_TRY(pq_graph_add_input(g, op, var, err));
    PQ_TRY(pq_graph_add_output(g, op, mid, err));
    PQ_TRY(pq_graph_set_input(g, down, input_idx, mid, err));
    return PQ_OK;
fail:
    /* Undo: detach op again (it had no edges) and drop mid. */
    while (op->n_inputs) {
        if (op->inputs[op->n_inputs - 1]) pq__var_drop_dest(op->inputs[op->n_inputs - 1], op);
        op->n_inputs--;
    }
    op->n_outputs = 0;
    if (mid) {
        mid->source_op = NULL;
        pq_graph_remove_var(g, mid, NULL);
    }
    return st;
}

pq_status pq_graph_insert_op_after(pq_graph *g, pq_op *op, pq_op *up, int output_idx,
                                   pq_err *err)
{
    pq_status st;
    pq_var *mid = NULL;
    if ((st = check_op(g, op, err)) != PQ_OK || (st = check_op(g, up, err)) != PQ_OK) return st;
    if (op_has_edges(op))
        return pq_err_set(err, PQ_ERR_INVALID,
                          "cannot insert operation '%s': it already has inputs or outputs",
                          op->name);
    if (output_idx < 0 || output_idx >= up->n_outputs || !up->outputs[output_idx])
        return pq_err_set(err, PQ_ERR_INVALID, "operation '%s' has no output %d", up->name,
                          output_idx);
    pq_var *var = up->outputs[output_idx];
    PQ_TRY(pq_graph_create_var(g, NULL, &mid, err));
    /* Grow op's lists first (cannot fail after this point except on allocation). */
    PQ_TRY(pq_graph_add_input(g, op, mid, err));
    var->source_op = NULL;
    st = pq_graph_add_output(g, op, var, err);
    if (st != PQ_OK) {
        var->source_op = up;
        goto fail;
    }
    up->outputs[output_idx] = mid;
    mid->source_op = up;
    return PQ_OK;
fail:
    if (op->n_inputs) {
        pq__var_drop_dest(mid, op);
        op->n_inputs = 0;
    }
    if (mid) pq_graph_remove_var(g, mid, NULL);
    return st;
}

pq_status pq_graph_insert_op_on_var(pq_graph *g, pq_op *op, pq_var *var, pq_var **out,
                                    pq_err *err)
{
    pq_status st;
    pq_var *nv = NULL;
    *out = NULL;
    if ((st = check_op(g, op, err)) != PQ_OK || (st = check_var(g, var, err)) != PQ_OK) return st;
    if (!var) return pq_err_set(err, PQ_ERR_INVALID, "insert_op_on_var needs a variable");
    if (op_has_edges(op))
        return pq_err_set(err, PQ_ERR_INVALID,
                          "cannot insert operation '%s': it already has inputs or outputs",
                          op->name);
    PQ_TRY(pq_graph_create_var(g, NULL, &nv, err));
    /* Move consumers first (pushes into nv can fail; do them before touching var). */
    for (int64_t k = 0; k < var->dest_ops.n; k++)
        PQ_TRY(pq_ptrvec_push(&nv->dest_ops, var->dest_ops.items[k], err));
    PQ_TRY(pq_graph_add_output(g, op, nv, err));
    st = pq_graph_add_input(g, op, var, err);
    if (st != PQ_OK) {
        op->n_outputs = 0;
        nv->source_op = NULL;
        goto fail;
    }
    /* var's dest list now ends with op; the consumers before it move to nv. */
    for (int64_t k = 0; k < nv->dest_ops.n; k++) {
        pq_op *c = nv->dest_ops.items[k];
        for (int i = 0; i < c->n_inputs; i++)
            if (c->inputs[i] == var) {
                c->inputs[i] = nv;
                break;
            }
    }
    var->dest_ops.items[0] = op;
    var->dest_ops.n = 1;
    if (pq_graph_is_output(g, var)) replace_in_list(&g->outputs, var, nv);
    *out = nv;
    return PQ_OK;
fail:
    if (nv) {
        nv->dest_ops.n = 0;
        pq_graph_remove_var(g, nv, NULL);
    }
    return st;
}

/* ------------------------------------------------------------------ removal */

static void unlink_from_graph(pq_graph *g, pq_var *v)
{
    pq_graph_unmark_input(g, v);
    pq_graph_unmark_output(g, v);
    pq_strmap_del(&g->var_by_name, v->name);
    int64_t i = pq_ptrvec_find(&g->vars, v);
    if (i >= 0) pq_ptrvec_remove_at(&g->vars, i);
}

pq_status pq_graph_remove_var(pq_graph *g, pq_var *var, pq_err *err)
{
    if (!var || var->graph != g)
        return pq_err_set(err, PQ_ERR_INVALID, "variable '%s' is not in this graph",
                          var ? var->name : "(null)");
    if (var->source_op) {
        pq_op *s = var->source_op;
        for (int i = 0; i < s->n_outputs; i++)
            if (s->outputs[i] == var) s->outputs[i] = NULL;
    }
    for (int64_t k = 0; k < var->dest_ops.n; k++) {
        pq_op *c = var->dest_ops.items[k];
        for (int i = 0; i < c->n_inputs; i++)
            if (c->inputs[i] == var) c->inputs[i] = NULL;
    }
    unlink_from_graph(g, var);
    pq__var_free(var);
    return PQ_OK;
}

static int var_unused(const pq_graph *g, const pq_var *v)
{
    return v->dest_ops.n == 0 && !v->source_op && !pq_graph_is_input(g, v) &&
           !pq_graph_is_output(g, v);
}

pq_status pq_graph_remove_op(pq_graph *g, pq_op *op, int keep_coherence, pq_err *err)
{
    pq_status st;
    if ((st = check_op(g, op, err)) != PQ_OK) return st;
    if (keep_coherence) {
        pq_var *in = NULL;
        int n_act = 0;
        for (int i = 0; i < op->n_inputs; i++)
            if (op->inputs[i] && !op->inputs[i]->value) {
                in = op->inputs[i];
                n_act++;
            }
        if (n_act != 1 || op->n_outputs != 1 || !op->outputs[0])
            return pq_err_set(err, PQ_ERR_INVALID,
                              "cannot remove operation '%s' keeping coherence: it needs exactly "
                              "one non-parameter input and one output (has %d and %d)",
                              op->name, n_act, op->n_outputs);
        pq_var *out = op->outputs[0];
        /* Reserve room in in->dest_ops for out's consumers. */
        for (int64_t k = 0; k < out->dest_ops.n; k++)
            if ((st = pq_ptrvec_push(&in->dest_ops, out->dest_ops.items[k], err)) != PQ_OK)
                return st;
        for (int64_t k = 0; k < out->dest_ops.n; k++) {
            pq_op *c = out->dest_ops.items[k];
            for (int i = 0; i < c->n_inputs; i++)
                if (c->inputs[i] == out) {
                    c->inputs[i] = in;
                    break;
                }
        }
        out->dest_ops.n = 0;
        int was_output = pq_graph_is_output(g, out);
        /* When `in` serves only this op, it can take out's name so graph output names stay. */
        int rename = was_output && in->graph == g && in->dest_ops.n == 1 && !in->value &&
                     !pq_graph_is_input(g, in) && !pq_graph_is_output(g, in);
        if (was_output) {
            if (pq_graph_is_output(g, in))
                pq_graph_unmark_output(g, out);
            else
                replace_in_list(&g->outputs, out, in);
        }
        char *out_name = NULL;
        if (rename) out_name = pq_strdup(out->name);
        out->source_op = NULL;
        op->outputs[0] = NULL;
        unlink_from_graph(g, out);
        pq__var_free(out);
        if (out_name) {
            pq_strmap_del(&g->var_by_name, in->name);
            if (pq_strmap_put(&g->var_by_name, out_name, in, NULL) == PQ_OK) {
                pq_free(in->name);
                in->name = out_name;
            } else {
                pq_strmap_put(&g->var_by_name, in->name, in, NULL);
                pq_free(out_name);
            }
        }
    }
    for (int i = 0; i < op->n_outputs; i++)
        if (op->outputs[i]) op->outputs[i]->source_op = NULL;
    for (int i = 0; i < op->n_inputs; i++) {
        pq_var *v = op->inputs[i];
        if (!v) continue;
        pq__var_drop_dest(v, op);
        op->inputs[i] = NULL;
        if (v->value && v->graph == g && var_unused(g, v)) pq_graph_remove_var(g, v, NULL);
    }
    pq_strmap_del(&g->op_by_name, op->name);
    int64_t idx = pq_ptrvec_find(&g->ops, op);
    if (idx >= 0) pq_ptrvec_remove_at(&g->ops, idx);
    pq__op_free(op);
    return PQ_OK;
}

/* ------------------------------------------------------------------ inputs and outputs */

pq_status pq_graph_mark_input(pq_graph *g, pq_var *var, pq_err *err)
{
    if (!var || var->graph != g)
        return pq_err_set(err, PQ_ERR_INVALID, "variable '%s' is not in this graph",
                          var ? var->name : "(null)");
    if (var->source_op)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "variable '%s' is produced by operation '%s' and cannot be a graph input",
                          var->name, var->source_op->name);
    if (pq_graph_is_input(g, var)) return PQ_OK;
    return pq_ptrvec_push(&g->inputs, var, err);
}

pq_status pq_graph_mark_output(pq_graph *g, pq_var *var, pq_err *err)
{
    if (!var || var->graph != g)
        return pq_err_set(err, PQ_ERR_INVALID, "variable '%s' is not in this graph",
                          var ? var->name : "(null)");
    if (pq_graph_is_output(g, var)) return PQ_OK;
    return pq_ptrvec_push(&g->outputs, var, err);
}

void pq_graph_unmark_input(pq_graph *g, pq_var *var)
{
    int64_t i = pq_ptrvec_find(&g->inputs, var);
    if (i >= 0) pq_ptrvec_remove_at(&g->inputs, i);
}

void pq_graph_unmark_output(pq_graph *g, pq_var *var)
{
    int64_t i = pq_ptrvec_find(&g->outputs, var);
    if (i >= 0) pq_ptrvec_remove_at(&g->outputs, i);
}

int pq_graph_is_input(const pq_graph *g, const pq_var *var)
{
    return pq_ptrvec_find(&g->inputs, var) >= 0;
}

int pq_graph_is_output(const pq_graph *g, const pq_var *var)
{
    return pq_ptrvec_find(&g->outputs, var) >= 0;
}

/* ------------------------------------------------------------------ neighbours */

pq_status pq_graph_upstream_ops(const pq_op *op, pq_ptrvec *out, pq_err *err)
{
    for (int i = 0; i < op->n_inputs; i++) {
        pq_var *v = op->inputs[i];
        if (!v || !v->source_op || pq_ptrvec_find(out, v->source_op) >= 0) continue;
        pq_status st = pq_ptrvec_push(out, v->source_op, err);
        if (st != PQ_OK) return st;
    }
    return PQ_OK;
}

pq_status pq_graph_downstream_ops(const pq_op *op, pq_ptrvec *out, pq_err *err)
{
    for (int i = 0; i < op->n_outputs; i++) {
        pq_var *v = op->outputs[i];
        if (!v) continue;
        for (int64_t k = 0; k < v->dest_ops.n; k++) {
            if (pq_ptrvec_find(out, v->dest_ops.items[k]) >= 0) continue;
            pq_status st = pq_ptrvec_push(out, v->dest_ops.items[k], err);
            if (st != PQ_OK) return st;
        }
    }
    return PQ_OK;
}

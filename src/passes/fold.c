/* fold.c - constant folding: Constant nodes become parameters, operations whose inputs are
 * all parameters are evaluated once with the executor, Shape/Size of statically shaped
 * variables become parameters. */
#include "passes_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Folded results beyond this are kept as operations (a Tile or ConstantOfShape could
 * otherwise blow a model up). */
#define FOLD_MAX_BYTES ((size_t)256 << 20)

/* Operations whose results are not a function of their inputs, or that must not be
 * evaluated ahead of time. */
static const char *const nondeterministic[] = {
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
    "Bernoulli", "Dropout", NULL};

/* Output shapes that depend on input values in a way no static rule captures. */
static const char *const dynamic_shaped[] = {
    "NonZero", "NonMaxSuppression", "Unique", "Compress", "Loop", "If", "Scan",
    "StringNormalizer", "TfIdfVectorizer", NULL};

/* Output shapes that depend on the values of inputs 1.. (axes, shape, repeats, pads,
 * sizes, k, ...): static only when those inputs are parameters. */
static const char *const value_shaped[] = {
    "Reshape", "Expand", "Tile", "Slice", "Squeeze", "Unsqueeze", "Split", "Resize",
    "Upsample", "Pad", "OneHot", "TopK", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
    "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
    "CenterCropPad", "Col2Im", "MaxUnpool", "DFT", "STFT", NULL};

/* Output shapes that depend on the values of every input. */
static const char *const all_value_shaped[] = {"ConstantOfShape", "Range", NULL};

static int has_subgraph(const pq_op *op)
{
    for (int a = 0; a < op->n_attrs; a++)
        if (op->attrs[a].type == PQ_ATTR_GRAPH || op->attrs[a].type == PQ_ATTR_GRAPHS) return 1;
    return 0;
}

static int any_output_is_graph_output(const pq_graph *g, const pq_op *op)
{
    for (int o = 0; o < op->n_outputs; o++)
        if (op->outputs[o] && pq_graph_is_output(g, op->outputs[o])) return 1;
    return 0;
}

/* ------------------------------------------------------------------ evaluation */

/* Evaluates op (all present inputs are parameters) on a one-op graph. outs[o] receives a
 * standalone tensor per present output. *why is set (and PQ_OK returned) when the executor
 * cannot evaluate it. */
static pq_status eval_op(const pq_graph *g, const pq_op *op, pq_tensor **outs, char *why,
                         size_t why_cap, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_graph *m = NULL;
    pq_executor *ex = NULL;
    pq_op *mo = NULL;
    pq_err e2 = {0};
    const char **names = pq_calloc((size_t)op->n_outputs + 1, sizeof *names);
    pq_tensor **res = pq_calloc((size_t)op->n_outputs + 1, sizeof *res);
    int n_req = 0;
    why[0] = '\0';
    PQ_CHECK(names && res, PQ_ERR_NOMEM, "out of memory folding '%s'", op->name);
    PQ_TRY(pq_graph_create("fold", &m, err));
    for (int k = 0; k < g->n_opsets; k++)
        PQ_TRY(pq_graph_set_opset(m, g->opsets[k].domain, g->opsets[k].version, err));
    PQ_TRY(pq_graph_create_op(m, op->type, op->name, op->domain, op->opset, &mo, err));
    for (int a = 0; a < op->n_attrs; a++) {
        pq_attr copy;
        PQ_TRY(pq_attr_copy(&copy, &op->attrs[a], err));
        PQ_TRY(pq_op_add_attr(mo, &copy, err));
    }
    for (int i = 0; i < op->n_inputs; i++) {
        pq_var *v = NULL, *src = op->inputs[i];
        if (src && !(v = pq_graph_find_var(m, src->name)))
            PQ_TRY(pq_graph_create_parameter(m, src->name, pq_tensor_retain(src->value), &v, err));
        PQ_TRY(pq_graph_add_input(m, mo, v, err));
    }
    for (int o = 0; o < op->n_outputs; o++) {
        pq_var *v = NULL;
        if (op->outputs[o]) {
            PQ_TRY(pq_graph_create_var(m, op->outputs[o]->name, &v, err));
            PQ_TRY(pq_graph_mark_output(m, v, err));
            names[n_req++] = v->name;
        }
        PQ_TRY(pq_graph_add_output(m, mo, v, err));
    }
    st = pq_executor_create(m, NULL, &ex, &e2);
    if (st == PQ_OK) st = pq_executor_run(ex, 0, NULL, NULL, n_req, names, res, &e2);
    if (st == PQ_ERR_NOMEM) {
        st = pq_err_set(err, PQ_ERR_NOMEM, "%s", e2.msg);
        goto fail;
    }
    if (st != PQ_OK) {
        snprintf(why, why_cap, "the executor cannot evaluate it: %.600s", e2.msg);
        st = PQ_OK;
        goto fail;
    }
    for (int o = 0, r = 0; o < op->n_outputs; o++) {
        if (!op->outputs[o]) continue;
        pq_tensor *t = res[r];
        res[r++] = NULL;
        if (t->nbytes > FOLD_MAX_BYTES) {
            char buf[128];
            snprintf(why, why_cap, "result %s is over %zu MiB", pq_tensor_describe(t, buf, sizeof buf),
                     FOLD_MAX_BYTES >> 20);
            pq_tensor_destroy(&t);
            goto fail;
        }
        /* Results may alias an input (Identity) or view one (Reshape): store a copy. */
        if (t->refcount > 1 || t->is_view) {
            pq_tensor *c = NULL;
            st = pq_tensor_clone(t, &c, err);
            pq_tensor_destroy(&t);
            if (st != PQ_OK) goto fail;
            t = c;
        }
        outs[o] = t;
    }
fail:
    if (st != PQ_OK || why[0])
        for (int o = 0; o < op->n_outputs; o++) pq_tensor_destroy(&outs[o]);
    for (int r = 0; r < n_req; r++) pq_tensor_destroy(&res[r]);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&m);
    pq_free(names);
    pq_free(res);
    return st;
}

/* The value of a Constant node (ONNX Constant-1..13: value, value_float(s), value_int(s),
 * value_string(s)); *why set when it has none this code reads (sparse_value). */
static pq_status constant_value(const pq_op *op, pq_tensor **out, const char **why, pq_err *err)
{
    pq_status st = PQ_OK;
    *out = NULL;
    *why = NULL;
    for (int a = 0; a < op->n_attrs; a++) {
        const pq_attr *at = &op->attrs[a];
        int64_t n = at->n;
        if (strcmp(at->name, "value") == 0 && at->type == PQ_ATTR_TENSOR && at->t) {
            return pq_tensor_clone(at->t, out, err);
        } else if (strcmp(at->name, "value_float") == 0 && at->type == PQ_ATTR_FLOAT) {
            PQ_TRY(pq_tensor_create(PQ_DTYPE_FLOAT32, 0, NULL, out, err));
            PQ_DATA(*out, float)[0] = at->f;
            return PQ_OK;
        } else if (strcmp(at->name, "value_floats") == 0 && at->type == PQ_ATTR_FLOATS) {
            PQ_TRY(pq_tensor_create(PQ_DTYPE_FLOAT32, 1, &n, out, err));
            if (n) memcpy((*out)->data, at->floats, (size_t)n * sizeof(float));
            return PQ_OK;
        } else if (strcmp(at->name, "value_int") == 0 && at->type == PQ_ATTR_INT) {
            PQ_TRY(pq_tensor_create(PQ_DTYPE_INT64, 0, NULL, out, err));
            PQ_DATA(*out, int64_t)[0] = at->i;
            return PQ_OK;
        } else if (strcmp(at->name, "value_ints") == 0 && at->type == PQ_ATTR_INTS) {
            PQ_TRY(pq_tensor_create(PQ_DTYPE_INT64, 1, &n, out, err));
            if (n) memcpy((*out)->data, at->ints, (size_t)n * sizeof(int64_t));
            return PQ_OK;
        } else if (strcmp(at->name, "value_string") == 0 && at->type == PQ_ATTR_STRING) {
            PQ_TRY(pq_tensor_create(PQ_DTYPE_STRING, 0, NULL, out, err));
            return pq_tensor_set_string(*out, 0, at->s ? at->s : "", err);
        } else if (strcmp(at->name, "value_strings") == 0 && at->type == PQ_ATTR_STRINGS) {
            PQ_TRY(pq_tensor_create(PQ_DTYPE_STRING, 1, &n, out, err));
            for (int64_t k = 0; k < n; k++) PQ_TRY(pq_tensor_set_string(*out, k, at->strings[k], err));
            return PQ_OK;
        }
    }
    *why = "no value attribute this pass reads (sparse_value?)";
fail:
    if (st != PQ_OK) pq_tensor_destroy(out);
    return st;
}

/* Shape-15 start/end clamp (ONNX Shape-15: negative values count from the back, then
 * clamped to [0, rank]). */
static int64_t clamp_axis(int64_t a, int rank)
{
    if (a < 0) a += rank;
    return a < 0 ? 0 : a > rank ? rank : a;
}

/* ------------------------------------------------------------------ static shapes */

typedef struct fold_state {
    pq_graph *g;
    pq_strmap is_static; /* var name -> non-NULL when its shape is known for any input */
} fold_state;

static int var_static(const fold_state *s, const pq_var *v)
{
    if (!v) return 1;
    if (v->value) return 1;
    return pq_strmap_get(&s->is_static, v->name) != NULL;
}

static int dims_known(const pq_var *v)
{
    if (v->rank < 0 || v->kind != PQ_VALUE_TENSOR) return 0;
    for (int d = 0; d < v->rank; d++)
        if (v->dims[d] < 0) return 0;
    return 1;
}

/* After op stays in the graph: its outputs have a static shape when every input does and
 * the shape rule of op only depends on input shapes (or on parameter inputs). */
static pq_status mark_outputs(fold_state *s, const pq_op *op, pq_err *err)
{
    if (op->domain[0] || pq__op_is_any(op, dynamic_shaped) || has_subgraph(op)) return PQ_OK;
    for (int i = 0; i < op->n_inputs; i++)
        if (!var_static(s, op->inputs[i])) return PQ_OK;
    if (pq__op_is_any(op, value_shaped))
        for (int i = 1; i < op->n_inputs; i++)
            if (op->inputs[i] && !op->inputs[i]->value) return PQ_OK;
    if (pq__op_is_any(op, all_value_shaped))
        for (int i = 0; i < op->n_inputs; i++)
            if (op->inputs[i] && !op->inputs[i]->value) return PQ_OK;
    for (int o = 0; o < op->n_outputs; o++) {
        const pq_var *v = op->outputs[o];
        if (v && dims_known(v)) {
            pq_status st = pq_strmap_put(&s->is_static, v->name, (void *)v, err);
            if (st != PQ_OK) return st;
        }
    }
    return PQ_OK;
}

/* The value of Shape(x) / Size(x) for a statically shaped x. */
static pq_status shape_value(const pq_op *op, pq_tensor **out, pq_err *err)
{
    pq_status st;
    const pq_var *x = op->inputs[0];
    if (pq_op_is(op, "Size")) {
        if ((st = pq_tensor_create(PQ_DTYPE_INT64, 0, NULL, out, err)) != PQ_OK) return st;
        PQ_DATA(*out, int64_t)[0] = pq_shape_numel(x->rank, x->dims);
        return PQ_OK;
    }
    int64_t start = 0, end = x->rank;
    if (op->opset >= 15) {
        if ((st = pq_op_get_int(op, "start", 0, &start, err)) != PQ_OK) return st;
        if ((st = pq_op_get_int(op, "end", x->rank, &end, err)) != PQ_OK) return st;
        start = clamp_axis(start, x->rank);
        end = clamp_axis(end, x->rank);
    }
    int64_t n = end > start ? end - start : 0;
    if ((st = pq_tensor_create(PQ_DTYPE_INT64, 1, &n, out, err)) != PQ_OK) return st;
    for (int64_t k = 0; k < n; k++) PQ_DATA(*out, int64_t)[k] = x->dims[start + k];
    return PQ_OK;
}

/* ------------------------------------------------------------------ the pass */

/* Replaces op by parameters: outputs[o] gets vals[o] (ownership taken). */
static pq_status fold_into(pq_graph *g, pq_op *op, pq_tensor **vals, pq_err *err)
{
    pq_status st = PQ_OK;
    int n = op->n_outputs;
    pq_var **outs = pq_calloc((size_t)n + 1, sizeof *outs);
    if (!outs) {
        for (int o = 0; o < n; o++) pq_tensor_destroy(&vals[o]);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory folding '%s'", op->name);
    }
    memcpy(outs, op->outputs, (size_t)n * sizeof *outs);
    st = pq_graph_remove_op(g, op, 0, err);
    for (int o = 0; o < n; o++) {
        if (!outs[o]) continue;
        if (st == PQ_OK && vals[o]) {
            pq_var_set_value(outs[o], vals[o]);
            vals[o] = NULL;
        }
        pq_tensor_destroy(&vals[o]);
        if (st == PQ_OK && !outs[o]->dest_ops.n && !pq_graph_is_output(g, outs[o]))
            pq_graph_remove_var(g, outs[o], NULL);
    }
    pq_free(outs);
    return st;
}

pq_status pq_pass_fold_constants(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    fold_state s = {g, {0}};
    pq_ptrvec order = {0};
    pq_tensor **vals = NULL;
    int64_t n_const = 0, n_eval = 0, n_shape = 0;
    int have_shapes = 0, is_static = pq__graph_is_static(g);
    char why[768];
    if (!res) res = &local;
    pq__result_begin(res, "fold_constants", g);
    PQ_TRY(pq_graph_topological_sort(g, err));
    if (is_static) PQ_TRY(pq__ensure_shapes(g, &have_shapes, err));
    if (is_static)
        for (int64_t k = 0; k < g->inputs.n; k++) {
            const pq_var *v = g->inputs.items[k];
            if (!v->value) PQ_TRY(pq_strmap_put(&s.is_static, v->name, (void *)v, err));
        }
    for (int64_t k = 0; k < g->ops.n; k++) PQ_TRY(pq_ptrvec_push(&order, g->ops.items[k], err));
    for (int64_t k = 0; k < order.n; k++) {
        pq_op *op = order.items[k];
        int n_out = op->n_outputs;
        pq_free(vals);
        vals = pq_calloc((size_t)n_out + 1, sizeof *vals);
        PQ_CHECK(vals, PQ_ERR_NOMEM, "out of memory folding '%s'", op->name);
        int is_shape = pq_op_is(op, "Shape") || pq_op_is(op, "Size");
        int all_params = pq_op_num_present_inputs(op) > 0;
        for (int i = 0; i < op->n_inputs; i++)
            if (op->inputs[i] && !op->inputs[i]->value) all_params = 0;
        int foldable = pq_op_is(op, "Constant") || all_params ||
                       (is_shape && op->n_inputs >= 1 && op->inputs[0] &&
                        var_static(&s, op->inputs[0]) && dims_known(op->inputs[0]));
        if (foldable && any_output_is_graph_output(g, op)) {
            pq__result_refuse(res, op, "its output is a graph output");
            foldable = 0;
        }
        if (foldable && (op->domain[0] || pq__op_is_any(op, nondeterministic) || has_subgraph(op)))
            foldable = 0;
        if (!foldable) {
            PQ_TRY(mark_outputs(&s, op, err));
            continue;
        }
        if (pq_op_is(op, "Constant")) {
            const char *w = NULL;
            PQ_TRY(constant_value(op, &vals[0], &w, err));
            if (w || n_out != 1) {
                pq__result_refuse(res, op, "%s", w ? w : "not one output");
                pq_tensor_destroy(&vals[0]);
                continue;
            }
            n_const++;
        } else if (is_shape && !all_params) {
            if (op->n_outputs != 1) continue;
            PQ_TRY(shape_value(op, &vals[0], err));
            n_shape++;
        } else {
            PQ_TRY(eval_op(g, op, vals, why, sizeof why, err));
            if (why[0]) {
                pq__result_refuse(res, op, "%s", why);
                PQ_TRY(mark_outputs(&s, op, err));
                continue;
            }
            n_eval++;
        }
        PQ_TRY(fold_into(g, op, vals, err));
        res->changes++;
    }
    pq__result_note(res, "%" PRId64 " Constant -> parameter, %" PRId64
                    " operations evaluated, %" PRId64 " Shape/Size from static shapes%s",
                    n_const, n_eval, n_shape,
                    !is_static ? " (inputs not static: shape subgraphs kept)"
                    : !have_shapes ? " (shapes could not be traced)" : "");
fail:
    pq_free(vals);
    pq_ptrvec_free(&order);
    pq_strmap_free(&s.is_static);
    pq__result_end(res, g, t0);
    return st;
}

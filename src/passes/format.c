/* format.c - structural formatting passes: Identity/Dropout removal, splitting shared
 * parameters, removing isolated operations and variables, truncating at a variable. */
#include "passes_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ remove_identity */

/* Whether Dropout op runs as the identity (inference) and its mask is unused; *why set
 * otherwise. Dropout-1/6: is_test (default 0 = training); 7-11: always inference in ONNX
 * Runtime's sense (the spec makes training a runtime mode), 12+: training_mode input must
 * be absent or a constant false. */
static int dropout_is_identity(const pq_graph *g, const pq_op *op, const char **why)
{
    if (op->opset < 7) {
        const pq_attr *a = pq_op_find_attr(op, "is_test");
        if (!a || a->type != PQ_ATTR_INT || a->i == 0) {
            *why = "Dropout-1/6 without is_test = 1 runs in training mode";
            return 0;
        }
    }
    if (op->opset >= 12 && op->n_inputs >= 3 && op->inputs[2]) {
        double v;
        if (!pq__param_scalar(op->inputs[2], &v)) {
            *why = "training_mode is not a constant";
            return 0;
        }
        if (v != 0) {
            *why = "training_mode is true";
            return 0;
        }
    }
    if (op->n_outputs >= 2 && op->outputs[1] &&
        (op->outputs[1]->dest_ops.n || pq_graph_is_output(g, op->outputs[1]))) {
        *why = "its mask output is used";
        return 0;
    }
    if (op->opset >= 12 && op->n_inputs >= 2 && op->inputs[1] && !op->inputs[1]->value) {
        *why = "ratio is not a constant";
        return 0;
    }
    return 1;
}

pq_status pq_pass_remove_identity(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    int64_t n_id = 0, n_drop = 0;
    pq_ptrvec cand = {0};
    if (!res) res = &local;
    pq__result_begin(res, "remove_identity", g);
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (pq_op_is(op, "Identity") || pq_op_is(op, "Dropout"))
            PQ_TRY(pq_ptrvec_push(&cand, op, err));
    }
    for (int64_t k = 0; k < cand.n; k++) {
        pq_op *op = cand.items[k];
        int drop = pq_op_is(op, "Dropout");
        const char *why = NULL;
        pq_var *in = op->n_inputs >= 1 ? op->inputs[0] : NULL;
        pq_var *out = op->n_outputs >= 1 ? op->outputs[0] : NULL;
        if (!in || !out) {
            pq__result_refuse(res, op, "no input or output");
            continue;
        }
        if (drop && !dropout_is_identity(g, op, &why)) {
            pq__result_refuse(res, op, "%s", why);
            continue;
        }
        int out_is_output = pq_graph_is_output(g, out);
        if (out_is_output && (in->value || pq_graph_is_input(g, in) ||
                              pq_graph_is_output(g, in) || pq__num_readers(in) != 1)) {
            /* The graph output keeps its name only when `in` can take it over. */
            pq__result_refuse(res, op, "removing it would rename graph output '%s' to '%s'",
                              out->name, in->name);
            continue;
        }
        if (drop && op->n_outputs >= 2 && op->outputs[1])
            PQ_TRY(pq_graph_remove_var(g, op->outputs[1], err));
        /* Trailing omitted outputs (the removed mask) do not count as outputs. */
        while (op->n_outputs > 1 && !op->outputs[op->n_outputs - 1]) op->n_outputs--;
        int outer = 0;
        for (int64_t r = 0; r < out->dest_ops.n; r++)
            outer |= ((pq_op *)out->dest_ops.items[r])->graph != g;
        if (in->value && outer) {
            pq__result_refuse(res, op, "output '%s' is read inside a subgraph", out->name);
            continue;
        }
        if (in->value) {
            /* Identity of a parameter (exporters use it to share weights): its readers read
             * the parameter; op and out go. */
            while (out->dest_ops.n) {
                pq_op *r = out->dest_ops.items[0];
                int i = 0;
                while (r->inputs[i] != out) i++;
                PQ_TRY(pq_graph_set_input(g, r, i, in, err));
            }
            PQ_TRY(pq_graph_remove_op(g, op, 0, err));
            pq__drop_if_unused(g, out);
        } else {
            PQ_TRY(pq_graph_remove_op(g, op, 1, err));
        }
        if (drop)
            n_drop++;
        else
            n_id++;
        res->changes++;
    }
    pq__result_note(res, "%" PRId64 " Identity and %" PRId64 " Dropout removed", n_id, n_drop);
fail:
    pq_ptrvec_free(&cand);
    pq__result_end(res, g, t0);
    return st;
}

/* ------------------------------------------------------------------ split_shared_params */

pq_status pq_pass_split_shared_params(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    int64_t n_shared = 0;
    pq_ptrvec params = {0}, readers = {0};
    if (!res) res = &local;
    pq__result_begin(res, "split_shared_params", g);
    for (int64_t k = 0; k < g->vars.n; k++) {
        pq_var *v = g->vars.items[k];
        if (v->value && v->dest_ops.n > 1) PQ_TRY(pq_ptrvec_push(&params, v, err));
    }
    for (int64_t k = 0; k < params.n; k++) {
        pq_var *v = params.items[k];
        if (pq_graph_is_input(g, v) || pq_graph_is_output(g, v)) {
            /* An initializer listed as a graph input can be overridden at run time: copies
             * would not follow. */
            pq__result_refuse(res, v->dest_ops.items[0], "parameter '%s' is a graph %s",
                              v->name, pq_graph_is_input(g, v) ? "input" : "output");
            continue;
        }
        readers.n = 0;
        int outer = 0;
        for (int64_t r = 0; r < v->dest_ops.n; r++) {
            outer |= ((pq_op *)v->dest_ops.items[r])->graph != g;
            if (pq_ptrvec_find(&readers, v->dest_ops.items[r]) < 0)
                PQ_TRY(pq_ptrvec_push(&readers, v->dest_ops.items[r], err));
        }
        if (outer) {
            pq__result_refuse(res, v->dest_ops.items[0],
                              "parameter '%s' is read inside a subgraph", v->name);
            continue;
        }
        int first = 1;
        for (int64_t r = 0; r < readers.n; r++) {
            pq_op *op = readers.items[r];
            for (int i = 0; i < op->n_inputs; i++) {
                if (op->inputs[i] != v) continue;
                if (first) {
                    first = 0;
                    continue;
                }
                pq_tensor *t = NULL;
                pq_var *nv = NULL;
                char base[512];
                snprintf(base, sizeof base, "%s_%s", v->name, op->name);
                PQ_TRY(pq_tensor_clone(v->value, &t, err));
                PQ_TRY(pq__new_param(g, base, t, &nv, err));
                nv->has_value_info = v->has_value_info;
                PQ_TRY(pq_graph_set_input(g, op, i, nv, err));
                res->changes++;
            }
        }
        n_shared++;
    }
    pq__result_note(res, "%" PRId64 " shared parameters, %" PRId64 " copies made", n_shared,
                    res->changes);
fail:
    pq_ptrvec_free(&params);
    pq_ptrvec_free(&readers);
    pq__result_end(res, g, t0);
    return st;
}

/* ------------------------------------------------------------------ remove_isolated */

/* Removes the ops whose `keep` mark (scratch) is 0, then unused variables. */
static pq_status remove_unmarked(pq_graph *g, int64_t *n_ops, int64_t *n_vars, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_ptrvec dead = {0};
    *n_ops = *n_vars = 0;
    for (int64_t k = 0; k < g->ops.n; k++)
        if (!((pq_op *)g->ops.items[k])->scratch) PQ_TRY(pq_ptrvec_push(&dead, g->ops.items[k], err));
    for (int64_t k = 0; k < dead.n; k++) {
        pq_op *op = dead.items[k];
        /* Its outputs: nothing outside the dead set reads them; unmark as graph outputs
         * never happens here (a graph output's producer is always kept). */
        PQ_TRY(pq_graph_remove_op(g, op, 0, err));
        (*n_ops)++;
    }
    dead.n = 0;
    for (int64_t k = 0; k < g->vars.n; k++) {
        pq_var *v = g->vars.items[k];
        if (!v->source_op && !v->dest_ops.n && !pq_graph_is_input(g, v) && !pq_graph_is_output(g, v))
            PQ_TRY(pq_ptrvec_push(&dead, v, err));
    }
    for (int64_t k = 0; k < dead.n; k++) {
        PQ_TRY(pq_graph_remove_var(g, dead.items[k], err));
        (*n_vars)++;
    }
fail:
    pq_ptrvec_free(&dead);
    return st;
}

/* Pushes (and marks) the producers in g of variables that op's subgraphs, at any depth,
 * read. */
static pq_status mark_subgraph_reads(pq_graph *g, const pq_op *op, pq_ptrvec *stack, pq_err *err)
{
    for (int a = 0; a < op->n_attrs; a++) {
        const pq_attr *at = &op->attrs[a];
        int n = at->type == PQ_ATTR_GRAPH ? 1 : at->type == PQ_ATTR_GRAPHS ? (int)at->n : 0;
        for (int s = 0; s < n; s++) {
            const pq_graph *sub = at->type == PQ_ATTR_GRAPH ? at->g : at->graphs[s];
            for (int64_t j = 0; sub && j < sub->ops.n; j++) {
                const pq_op *so = sub->ops.items[j];
                for (int i = 0; i < so->n_inputs; i++) {
                    pq_var *v = so->inputs[i];
                    pq_op *p = v && v->graph == g ? v->source_op : NULL;
                    if (p && !p->scratch) {
                        p->scratch = 1;
                        pq_status st = pq_ptrvec_push(stack, p, err);
                        if (st != PQ_OK) return st;
                    }
                }
                pq_status st = mark_subgraph_reads(g, so, stack, err);
                if (st != PQ_OK) return st;
            }
        }
    }
    return PQ_OK;
}

/* Marks (scratch = 1) every op some graph output depends on. */
static pq_status mark_live(pq_graph *g, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_ptrvec stack = {0};
    for (int64_t k = 0; k < g->ops.n; k++) ((pq_op *)g->ops.items[k])->scratch = 0;
    for (int64_t k = 0; k < g->outputs.n; k++) {
        pq_op *p = ((pq_var *)g->outputs.items[k])->source_op;
        if (p && p->graph == g && !p->scratch) {
            p->scratch = 1;
            PQ_TRY(pq_ptrvec_push(&stack, p, err));
        }
    }
    while (stack.n) {
        pq_op *op = stack.items[--stack.n];
        for (int i = 0; i < op->n_inputs; i++) {
            pq_var *v = op->inputs[i];
            pq_op *p = v ? v->source_op : NULL;
            if (p && p->graph == g && !p->scratch) {
                p->scratch = 1;
                PQ_TRY(pq_ptrvec_push(&stack, p, err));
            }
        }
        /* Subgraph attributes may read variables of g: those producers are live too. */
        PQ_TRY(mark_subgraph_reads(g, op, &stack, err));
    }
fail:
    pq_ptrvec_free(&stack);
    return st;
}

pq_status pq_pass_remove_isolated(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    int64_t n_ops = 0, n_vars = 0;
    if (!res) res = &local;
    pq__result_begin(res, "remove_isolated", g);
    PQ_TRY(mark_live(g, err));
    PQ_TRY(remove_unmarked(g, &n_ops, &n_vars, err));
    res->changes = n_ops + n_vars;
    pq__result_note(res, "%" PRId64 " operations and %" PRId64 " variables removed", n_ops, n_vars);
fail:
    pq__result_end(res, g, t0);
    return st;
}

/* ------------------------------------------------------------------ truncate */

pq_status pq_pass_truncate(pq_graph *g, const char *name, int mark_output, pq_pass_result *res,
                           pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    pq_ptrvec stack = {0}, outs = {0};
    int64_t n_ops = 0, n_vars = 0, n_down = 0;
    if (!res) res = &local;
    pq__result_begin(res, "truncate", g);
    pq_var *var = name ? pq_graph_find_var(g, name) : NULL;
    PQ_CHECK(var, PQ_ERR_INVALID, "truncate: no variable named '%s'", name ? name : "(null)");
    PQ_CHECK(!var->value, PQ_ERR_INVALID, "truncate: '%s' is a parameter", name);
    /* Ops depending on var: scratch = 1. */
    for (int64_t k = 0; k < g->ops.n; k++) ((pq_op *)g->ops.items[k])->scratch = 0;
    for (int64_t k = 0; k < var->dest_ops.n; k++) {
        pq_op *c = var->dest_ops.items[k];
        if (c->graph == g && !c->scratch) {
            c->scratch = 1;
            PQ_TRY(pq_ptrvec_push(&stack, c, err));
        }
    }
    while (stack.n) {
        pq_op *op = stack.items[--stack.n];
        n_down++;
        for (int o = 0; o < op->n_outputs; o++) {
            pq_var *v = op->outputs[o];
            if (!v) continue;
            for (int64_t k = 0; k < v->dest_ops.n; k++) {
                pq_op *c = v->dest_ops.items[k];
                if (c->graph == g && !c->scratch) {
                    c->scratch = 1;
                    PQ_TRY(pq_ptrvec_push(&stack, c, err));
                }
            }
        }
    }
    /* Graph outputs that survive the cut. */
    int64_t surviving = mark_output ? 1 : 0;
    for (int64_t k = 0; k < g->outputs.n; k++) {
        pq_var *v = g->outputs.items[k];
        if (v == var) continue;
        if (v->source_op && v->source_op->scratch) continue;
        surviving++;
    }
    PQ_CHECK(surviving > 0, PQ_ERR_INVALID,
             "truncate: cutting after '%s' without making it an output leaves no graph output",
             name);
    /* Cut: outputs produced by dependent ops stop being graph outputs. */
    for (int64_t k = 0; k < g->outputs.n; k++) {
        pq_var *v = g->outputs.items[k];
        if (v != var && v->source_op && v->source_op->scratch) PQ_TRY(pq_ptrvec_push(&outs, v, err));
    }
    for (int64_t k = 0; k < outs.n; k++) pq_graph_unmark_output(g, outs.items[k]);
    if (mark_output) PQ_TRY(pq_graph_mark_output(g, var, err));
    /* Live = reaches a remaining output; everything dependent on var is dead by construction
     * (nothing it produces is an output any more). */
    PQ_TRY(mark_live(g, err));
    PQ_TRY(remove_unmarked(g, &n_ops, &n_vars, err));
    res->changes = n_ops;
    pq__result_note(res, "cut after '%s': %" PRId64 " dependent operations, %" PRId64
                    " operations and %" PRId64 " variables removed in all",
                    name, n_down, n_ops, n_vars);
fail:
    pq_ptrvec_free(&stack);
    pq_ptrvec_free(&outs);
    pq__result_end(res, g, t0);
    return st;
}

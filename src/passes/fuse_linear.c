/* fuse_linear.c - a constant Add/Sub after a Conv folded into its bias; MatMul + Add -> Gemm
 * when exactly equivalent. */
#include "passes_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ fuse_conv_bias */

/* Output channels of a Conv / ConvTranspose weight (-1 when not a convolution weight). */
static int64_t conv_channels(const pq_op *conv, const pq_tensor *w, pq_err *err, pq_status *st)
{
    int64_t group = 1;
    *st = pq_op_get_int(conv, "group", 1, &group, err);
    if (*st != PQ_OK || w->rank < 3 || group < 1) return -1;
    return pq_op_is(conv, "ConvTranspose") ? w->dims[1] * group : w->dims[0];
}

/* Folds add (Add or Sub of a constant, conv output first for Sub) into conv. *why set when
 * it cannot. */
static pq_status conv_bias_one(pq_graph *g, pq_op *add, pq_op *conv, pq_var *y, pq_var *c,
                               const char **why, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *nb = NULL;
    double *v = NULL;
    int sub = pq_op_is(add, "Sub");
    *why = NULL;
    if (!pq__only_reader(g, y, add)) {
        *why = pq_graph_is_output(g, y) ? "the convolution output is a graph output"
                                         : "the convolution output feeds a second consumer";
        return PQ_OK;
    }
    if (!c->value || !pq__is_f32(c->value)) {
        *why = c->value ? "the added value is not float32"
                        : "the added value is not a constant (a residual, not a bias)";
        return PQ_OK;
    }
    if (sub && add->inputs[0] != y) {
        *why = "constant minus convolution (negates the output)";
        return PQ_OK;
    }
    const pq_var *wv = conv->n_inputs > 1 ? conv->inputs[1] : NULL;
    const pq_var *bv = conv->n_inputs > 2 ? conv->inputs[2] : NULL;
    if (!wv || !wv->value || !pq__is_f32(wv->value) || (bv && (!bv->value || !pq__is_f32(bv->value)))) {
        *why = "the convolution weight or bias is not a float32 parameter";
        return PQ_OK;
    }
    int64_t m = conv_channels(conv, wv->value, err, &st);
    if (st != PQ_OK) return st;
    const pq_tensor *ct = c->value;
    int r = wv->value->rank; /* the convolution output has the weight's rank */
    if (m < 0 || ct->rank > r) {
        *why = "the constant has a higher rank than the convolution output";
        return PQ_OK;
    }
    /* Right-aligned broadcast: every axis of the constant is 1 except the channel axis (1),
     * which may be m: the sum keeps the convolution output's shape. */
    int64_t stride = 0, s = 1;
    for (int i = ct->rank - 1; i >= 0; i--) {
        int axis = r - ct->rank + i;
        if (ct->dims[i] == 1) {
            s *= ct->dims[i];
            continue;
        }
        if (axis != 1 || ct->dims[i] != m) {
            *why = "the constant is not one value per output channel";
            return PQ_OK;
        }
        stride = s;
        s *= ct->dims[i];
    }
    v = pq_malloc((size_t)(m ? m : 1) * sizeof *v);
    PQ_CHECK(v, PQ_ERR_NOMEM, "out of memory folding '%s'", add->name);
    for (int64_t o = 0; o < m; o++) {
        double cv = pq_tensor_get_f64(ct, o * stride);
        double bvv = bv ? pq_tensor_get_f64(bv->value, o) : 0.0;
        v[o] = sub ? bvv - cv : bvv + cv;
    }
    PQ_TRY(pq__tensor_from_f64(1, &m, v, &nb, err));
    PQ_TRY(pq__set_param_input(g, conv, 2, pq__take(&nb), "bias", err));
    PQ_TRY(pq_graph_remove_op(g, add, 1, err));
fail:
    pq_free(v);
    pq_tensor_destroy(&nb);
    return st;
}

pq_status pq_pass_fuse_conv_bias(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    pq_ptrvec cand = {0};
    if (!res) res = &local;
    pq__result_begin(res, "fuse_conv_bias", g);
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if ((pq_op_is(op, "Add") || pq_op_is(op, "Sub")) && op->n_inputs == 2)
            PQ_TRY(pq_ptrvec_push(&cand, op, err));
    }
    for (int64_t k = 0; k < cand.n; k++) {
        pq_op *add = cand.items[k];
        /* Candidates: one input from a Conv/ConvTranspose, the other anything. */
        pq_var *y = NULL, *c = NULL;
        for (int i = 0; i < 2 && !y; i++) {
            pq_var *v = add->inputs[i];
            if (v && v->source_op && (pq_op_is(v->source_op, "Conv") || pq_op_is(v->source_op, "ConvTranspose"))) {
                y = v;
                c = pq__other_input(add, v, NULL);
            }
        }
        if (!y || !c) continue;
        const char *why = NULL;
        PQ_TRY(conv_bias_one(g, add, y->source_op, y, c, &why, err));
        if (why) {
            pq__result_refuse(res, add, "%s", why);
            continue;
        }
        res->changes++;
    }
    pq__result_note(res, "%" PRId64 " constant Add/Sub folded into a convolution bias",
                    res->changes);
fail:
    pq_ptrvec_free(&cand);
    pq__result_end(res, g, t0);
    return st;
}

/* ------------------------------------------------------------------ fuse_matmul_add */

static pq_status matmul_add_one(pq_graph *g, pq_op *add, pq_op *mm, pq_var *y, pq_var *c,
                                const char **why, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_op *gemm = NULL;
    *why = NULL;
    pq_var *a = mm->n_inputs == 2 ? mm->inputs[0] : NULL, *b = mm->n_inputs == 2 ? mm->inputs[1] : NULL;
    if (!a || !b) {
        *why = "MatMul without two inputs";
        return PQ_OK;
    }
    if (!pq__only_reader(g, y, add)) {
        *why = pq_graph_is_output(g, y) ? "the MatMul output is a graph output"
                                         : "the MatMul output feeds a second consumer";
        return PQ_OK;
    }
    if (a->rank != 2) {
        *why = a->rank < 0 ? "MatMul input A has an unknown rank"
                           : "MatMul input A is not 2-D (Gemm is 2-D only)";
        return PQ_OK;
    }
    if (b->rank != 2) {
        *why = b->rank < 0 ? "MatMul input B has an unknown rank" : "MatMul input B is not 2-D";
        return PQ_OK;
    }
    if (!c->value) {
        *why = "the added value is not a constant";
        return PQ_OK;
    }
    const pq_tensor *ct = c->value;
    if (a->dtype != PQ_DTYPE_FLOAT32 || ct->dtype != PQ_DTYPE_FLOAT32 ||
        (b->dtype != PQ_DTYPE_FLOAT32 && !(b->value && pq__is_f32(b->value)))) {
        *why = "not float32";
        return PQ_OK;
    }
    /* The bias must broadcast (unidirectionally, as Gemm's C) to [M, N] without changing the
     * sum's shape: rank <= 2, last dim 1 or N, first dim 1 or the known M. */
    int64_t n = b->value ? b->value->dims[1] : b->dims[1], m = a->dims[0];
    int ok = ct->rank <= 2 && n >= 0;
    if (ok && ct->rank >= 1) ok = ct->dims[ct->rank - 1] == 1 || ct->dims[ct->rank - 1] == n;
    if (ok && ct->rank == 2) ok = ct->dims[0] == 1 || (m >= 0 && ct->dims[0] == m);
    if (!ok) {
        *why = "the bias does not broadcast to the [M, N] output as Gemm's C";
        return PQ_OK;
    }
    PQ_TRY(pq_graph_create_op(g, "Gemm", NULL, "", 0, &gemm, err));
    PQ_TRY(pq_graph_add_input(g, gemm, a, err));
    PQ_TRY(pq_graph_add_input(g, gemm, b, err));
    PQ_TRY(pq_graph_add_input(g, gemm, c, err));
    pq_var *out = add->outputs[0];
    pq_op *chain[2] = {add, mm};
    PQ_TRY(pq__replace_ops(g, chain, 2, gemm, out, err));
    return PQ_OK;
fail:
    if (gemm && !gemm->n_outputs) pq_graph_remove_op(g, gemm, 0, NULL);
    return st;
}

pq_status pq_pass_fuse_matmul_add(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    pq_ptrvec cand = {0};
    if (!res) res = &local;
    pq__result_begin(res, "fuse_matmul_add", g);
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!pq_op_is(op, "Add") || op->n_inputs != 2 || !op->outputs[0]) continue;
        for (int i = 0; i < 2; i++)
            if (pq__producer_is(op->inputs[i], "MatMul")) {
                PQ_TRY(pq_ptrvec_push(&cand, op, err));
                break;
            }
    }
    if (cand.n) PQ_TRY(pq__ensure_shapes(g, NULL, err));
    for (int64_t k = 0; k < cand.n; k++) {
        pq_op *add = cand.items[k];
        pq_var *y = NULL, *c = NULL;
        for (int i = 0; i < 2 && !c; i++)
            if (pq__producer_is(add->inputs[i], "MatMul")) {
                y = add->inputs[i];
                c = pq__other_input(add, y, NULL);
            }
        const char *why = NULL;
        if (!c)
            why = "both inputs are the same MatMul output";
        else
            PQ_TRY(matmul_add_one(g, add, y->source_op, y, c, &why, err));
        if (why) {
            pq__result_refuse(res, add, "%s", why);
            continue;
        }
        res->changes++;
    }
    pq__result_note(res, "%" PRId64 " MatMul + Add -> Gemm", res->changes);
fail:
    pq_ptrvec_free(&cand);
    pq__result_end(res, g, t0);
    return st;
}

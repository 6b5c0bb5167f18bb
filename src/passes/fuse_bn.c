/* fuse_bn.c - BatchNormalization (inference) folded into the preceding Conv, ConvTranspose,
 * Gemm or 2-D MatMul. */
#include "passes_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Per-channel affine of a BN: y = s * x + t, computed in double. */
typedef struct bn_affine {
    int64_t c;
    double *s, *t;
} bn_affine;

static void affine_free(bn_affine *a)
{
    pq_free(a->s);
    pq_free(a->t);
    a->s = a->t = NULL;
}

/* Checks the BN itself; fills the affine. *why set (PQ_OK returned) when it cannot fold. */
static pq_status bn_check(const pq_graph *g, pq_op *bn, bn_affine *a, const char **why,
                          pq_err *err)
{
    pq_status st = PQ_OK;
    double *v[4] = {0};
    *why = NULL;
    if (bn->n_inputs != 5) {
        *why = "does not have 5 inputs";
        return PQ_OK;
    }
    for (int i = 1; i < 5; i++)
        if (!bn->inputs[i] || !bn->inputs[i]->value || !pq__is_f32(bn->inputs[i]->value)) {
            *why = "scale, bias, mean or variance is not a float32 parameter";
            return PQ_OK;
        }
    for (int o = 1; o < bn->n_outputs; o++)
        if (bn->outputs[o]) {
            *why = "has running-statistics outputs (training mode)";
            return PQ_OK;
        }
    if (!bn->outputs[0]) {
        *why = "has no output";
        return PQ_OK;
    }
    int64_t mode = 0, spatial = 1;
    float eps = 1e-5f;
    if (bn->opset >= 14) PQ_TRY(pq_op_get_int(bn, "training_mode", 0, &mode, err));
    if (bn->opset < 9) PQ_TRY(pq_op_get_int(bn, "spatial", 1, &spatial, err));
    PQ_TRY(pq_op_get_float(bn, "epsilon", 1e-5f, &eps, err));
    if (mode) {
        *why = "training_mode = 1";
        return PQ_OK;
    }
    if (!spatial) {
        *why = "spatial = 0 (statistics per element, not per channel)";
        return PQ_OK;
    }
    pq_var *x = bn->inputs[0];
    if (!x || !pq__only_reader(g, x, bn)) {
        *why = x && pq_graph_is_output(g, x) ? "its input is a graph output"
                                              : "its input feeds a second consumer";
        return PQ_OK;
    }
    int64_t c = bn->inputs[1]->value->numel;
    for (int i = 2; i < 5; i++)
        if (bn->inputs[i]->value->numel != c) {
            *why = "scale, bias, mean and variance differ in size";
            return PQ_OK;
        }
    for (int i = 0; i < 4; i++) PQ_TRY(pq__tensor_to_f64(bn->inputs[1 + i]->value, &v[i], err));
    a->c = c;
    a->s = pq_malloc((size_t)(c ? c : 1) * sizeof *a->s);
    a->t = pq_malloc((size_t)(c ? c : 1) * sizeof *a->t);
    PQ_CHECK(a->s && a->t, PQ_ERR_NOMEM, "out of memory folding '%s'", bn->name);
    /* ONNX BatchNormalization: y = scale * (x - mean) / sqrt(var + epsilon) + B. */
    for (int64_t k = 0; k < c; k++) {
        a->s[k] = v[0][k] / sqrt(v[3][k] + (double)eps);
        a->t[k] = v[1][k] - v[2][k] * a->s[k];
    }
fail:
    for (int i = 0; i < 4; i++) pq_free(v[i]);
    if (st != PQ_OK) affine_free(a);
    return st;
}

/* New bias b' = s * b + t (b may be NULL: zero), as a float32 [c] tensor. */
static pq_status folded_bias(const bn_affine *a, const pq_tensor *b, pq_tensor **out, pq_err *err)
{
    double *v = pq_malloc((size_t)(a->c ? a->c : 1) * sizeof *v);
    if (!v) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory folding a bias");
    for (int64_t k = 0; k < a->c; k++)
        v[k] = (b ? a->s[k] * pq_tensor_get_f64(b, k) : 0.0) + a->t[k];
    pq_status st = pq__tensor_from_f64(1, &a->c, v, out, err);
    pq_free(v);
    return st;
}

/* The weight scaled per output channel. layout: 0 = Conv [M, C/g, k...] (channel = dim 0),
 * 1 = ConvTranspose [C, M/g, k...] with `group`, 2 = matrix whose columns are channels
 * ([K, N]), 3 = matrix whose rows are channels ([N, K]). */
static pq_status scaled_weight(const pq_tensor *w, const bn_affine *a, int layout, int64_t group,
                               pq_tensor **out, pq_err *err)
{
    pq_status st = pq_tensor_clone(w, out, err);
    if (st != PQ_OK) return st;
    float *d = PQ_DATA(*out, float);
    int64_t inner = 1;
    for (int k = 2; k < w->rank; k++) inner *= w->dims[k];
    if (layout == 0 || layout == 3) {
        int64_t per = w->numel / (w->dims[0] ? w->dims[0] : 1);
        for (int64_t o = 0; o < w->dims[0]; o++)
            for (int64_t i = 0; i < per; i++) d[o * per + i] = (float)(d[o * per + i] * a->s[o]);
    } else if (layout == 2) {
        int64_t n = w->dims[1];
        for (int64_t r = 0; r < w->dims[0]; r++)
            for (int64_t j = 0; j < n; j++) d[r * n + j] = (float)(d[r * n + j] * a->s[j]);
    } else {
        int64_t cin = w->dims[0], mg = w->dims[1], cg = cin / group;
        for (int64_t ci = 0; ci < cin; ci++)
            for (int64_t j = 0; j < mg; j++) {
                double s = a->s[(ci / cg) * mg + j];
                float *p = d + (ci * mg + j) * inner;
                for (int64_t i = 0; i < inner; i++) p[i] = (float)(p[i] * s);
            }
    }
    return PQ_OK;
}

/* Gemm's C folded: C' = s * beta * C + t, shaped [N] or [M, N] (C may be absent). *why set
 * when C does not broadcast to [., N]. */
static pq_status gemm_bias(const bn_affine *a, const pq_tensor *c, float beta, pq_tensor **out,
                           const char **why, pq_err *err)
{
    int64_t n = a->c, rows = 1;
    int64_t r0 = 1, r1 = 1; /* C's extent along rows / columns (1 = broadcast) */
    *out = NULL;
    if (c) {
        if (c->rank == 2) {
            r0 = c->dims[0];
            r1 = c->dims[1];
        } else if (c->rank <= 1) {
            r1 = c->rank == 1 ? c->dims[0] : 1;
        } else {
            *why = "C has rank above 2";
            return PQ_OK;
        }
        if (r1 != 1 && r1 != n) {
            *why = "C does not broadcast to the output columns";
            return PQ_OK;
        }
        rows = r0;
    }
    double *v = pq_malloc((size_t)(rows * n > 0 ? rows * n : 1) * sizeof *v);
    if (!v) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory folding a Gemm bias");
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++) {
            double cv = c ? pq_tensor_get_f64(c, (r0 == 1 ? 0 : i) * r1 + (r1 == 1 ? 0 : j)) : 0.0;
            v[i * n + j] = a->s[j] * (double)beta * cv + a->t[j];
        }
    int64_t dims[2] = {rows, n};
    pq_status st = rows == 1 ? pq__tensor_from_f64(1, &n, v, out, err)
                             : pq__tensor_from_f64(2, dims, v, out, err);
    pq_free(v);
    return st;
}

static const char *const producers[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", NULL};

/* Folds bn into its producer p. *why set when it cannot. */
static pq_status fold_one(pq_graph *g, pq_op *bn, pq_op *p, const char **why, pq_err *err)
{
    pq_status st = PQ_OK;
    bn_affine a = {0};
    pq_tensor *w2 = NULL, *b2 = NULL;
    pq_op *add = NULL;
    PQ_TRY(bn_check(g, bn, &a, why, err));
    if (*why) goto fail;
    const pq_var *wv = p->n_inputs > 1 ? p->inputs[1] : NULL;
    const pq_var *bv = p->n_inputs > 2 ? p->inputs[2] : NULL;
    if (!wv || !wv->value || !pq__is_f32(wv->value)) {
        *why = "the weight is not a float32 parameter";
        goto fail;
    }
    if (bv && (!bv->value || !pq__is_f32(bv->value))) {
        *why = "the bias is not a float32 parameter";
        goto fail;
    }
    const pq_tensor *w = wv->value, *b = bv ? bv->value : NULL;
    if (pq_op_is(p, "Conv") || pq_op_is(p, "ConvTranspose")) {
        int64_t group = 1, m;
        int tr = pq_op_is(p, "ConvTranspose");
        PQ_TRY(pq_op_get_int(p, "group", 1, &group, err));
        if (w->rank < 3 || group < 1 || (tr && w->dims[0] % group)) {
            *why = "the weight shape is not a convolution weight";
            goto fail;
        }
        m = tr ? w->dims[1] * group : w->dims[0];
        if (m != a.c || (b && b->numel != m)) {
            *why = "channel counts of the convolution and the BN differ";
            goto fail;
        }
        PQ_TRY(scaled_weight(w, &a, tr ? 1 : 0, group, &w2, err));
        PQ_TRY(folded_bias(&a, b, &b2, err));
        PQ_TRY(pq__set_param_input(g, p, 1, pq__take(&w2), "bnfold", err));
        PQ_TRY(pq__set_param_input(g, p, 2, pq__take(&b2), "bnfold", err));
    } else if (pq_op_is(p, "Gemm")) {
        int64_t tb = 0;
        float alpha = 1.0f, beta = 1.0f;
        PQ_TRY(pq_op_get_int(p, "transB", 0, &tb, err));
        PQ_TRY(pq_op_get_float(p, "alpha", 1.0f, &alpha, err));
        PQ_TRY(pq_op_get_float(p, "beta", 1.0f, &beta, err));
        if (w->rank != 2 || (tb ? w->dims[0] : w->dims[1]) != a.c) {
            *why = "Gemm's output columns and the BN channels differ";
            goto fail;
        }
        PQ_TRY(gemm_bias(&a, b, beta, &b2, why, err));
        if (*why) goto fail;
        PQ_TRY(scaled_weight(w, &a, tb ? 3 : 2, 1, &w2, err));
        PQ_TRY(pq__set_param_input(g, p, 1, pq__take(&w2), "bnfold", err));
        PQ_TRY(pq__set_param_input(g, p, 2, pq__take(&b2), "bnfold", err));
        PQ_TRY(pq_op_set_float(p, "beta", 1.0f, err));
    } else {
        /* MatMul: only a 2-D product has its columns on the BN channel axis (axis 1). */
        const pq_var *av = p->inputs[0];
        if (!av || av->rank != 2 || w->rank != 2) {
            *why = !av || av->rank < 0 ? "MatMul input rank unknown"
                                        : "MatMul is not 2-D (the BN channel axis is not its columns)";
            goto fail;
        }
        if (w->dims[1] != a.c) {
            *why = "MatMul output columns and the BN channels differ";
            goto fail;
        }
        PQ_TRY(scaled_weight(w, &a, 2, 1, &w2, err));
        PQ_TRY(folded_bias(&a, NULL, &b2, err));
        PQ_TRY(pq__set_param_input(g, p, 1, pq__take(&w2), "bnfold", err));
        /* The BN becomes an Add of the folded bias. */
        pq_var *x = bn->inputs[0], *y = bn->outputs[0], *bias = NULL;
        char base[400];
        snprintf(base, sizeof base, "%s_bias", bn->name);
        PQ_TRY(pq__new_param(g, base, pq__take(&b2), &bias, err));
        PQ_TRY(pq_graph_create_op(g, "Add", NULL, "", 0, &add, err));
        PQ_TRY(pq_graph_add_input(g, add, x, err));
        PQ_TRY(pq_graph_add_input(g, add, bias, err));
        PQ_TRY(pq__replace_ops(g, &bn, 1, add, y, err));
        goto fail;
    }
    /* Conv/ConvTranspose/Gemm: readers of the BN output read the producer's output. */
    while (bn->n_outputs > 1 && !bn->outputs[bn->n_outputs - 1]) bn->n_outputs--;
    PQ_TRY(pq_graph_remove_op(g, bn, 1, err));
fail:
    affine_free(&a);
    pq_tensor_destroy(&w2);
    pq_tensor_destroy(&b2);
    return st;
}

pq_status pq_pass_fuse_bn(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    pq_ptrvec bns = {0};
    int64_t counts[4] = {0};
    if (!res) res = &local;
    pq__result_begin(res, "fuse_bn", g);
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        pq_var *x = op->n_inputs ? op->inputs[0] : NULL;
        if (pq_op_is(op, "BatchNormalization") && x && x->source_op &&
            pq__op_is_any(x->source_op, producers))
            PQ_TRY(pq_ptrvec_push(&bns, op, err));
    }
    for (int64_t k = 0; k < bns.n; k++) {
        pq_op *bn = bns.items[k];
        if (pq_op_is(bn->inputs[0]->source_op, "MatMul")) {
            PQ_TRY(pq__ensure_shapes(g, NULL, err));
            break;
        }
    }
    for (int64_t k = 0; k < bns.n; k++) {
        pq_op *bn = bns.items[k], *p = bn->inputs[0]->source_op;
        const char *why = NULL;
        int kind = pq_op_is(p, "Conv") ? 0 : pq_op_is(p, "ConvTranspose") ? 1 : pq_op_is(p, "Gemm") ? 2 : 3;
        PQ_TRY(fold_one(g, bn, p, &why, err));
        if (why) {
            pq__result_refuse(res, bn, "%s", why);
            continue;
        }
        counts[kind]++;
        res->changes++;
    }
    pq__result_note(res, "%" PRId64 " BatchNormalization folded (Conv %" PRId64
                    ", ConvTranspose %" PRId64 ", Gemm %" PRId64 ", MatMul %" PRId64 ")",
                    res->changes, counts[0], counts[1], counts[2], counts[3]);
fail:
    pq_ptrvec_free(&bns);
    pq__result_end(res, g, t0);
    return st;
}

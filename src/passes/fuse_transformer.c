/* fuse_transformer.c - decomposed LayerNorm -> LayerNormalization, decomposed GELU (erf and
 * tanh forms) -> Gelu, Add + LayerNormalization marked as a skip-layernorm group. */
#include "passes_internal.h"
#include "pq_search.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Constants are compared with this relative tolerance: float32 roundings of the exact
 * values, or their float64 values, all pass; anything else is a different function. */
#define CONST_RTOL 1e-6

static int param_near(const pq_var *v, double want)
{
    double x;
    return v && pq__param_scalar(v, &x) && pq__near(x, want, CONST_RTOL);
}

/* ================================================================== LayerNorm */

/* Axes of a ReduceMean (attribute before opset 18, input 1 from 18), keepdims. Returns 0
 * when they cannot be read as constants. */
static int reduce_axes(const pq_op *op, int64_t *axes, int64_t *n, int64_t *keepdims)
{
    const pq_attr *a = pq_op_find_attr(op, "axes");
    const pq_attr *kd = pq_op_find_attr(op, "keepdims");
    const pq_attr *noop = pq_op_find_attr(op, "noop_with_empty_axes");
    *keepdims = kd && kd->type == PQ_ATTR_INT ? kd->i : 1;
    if (noop && noop->type == PQ_ATTR_INT && noop->i) return 0;
    if (a && a->type == PQ_ATTR_INTS && a->n > 0 && a->n <= PQ_MAX_RANK) {
        memcpy(axes, a->ints, (size_t)a->n * sizeof *axes);
        *n = a->n;
        return 1;
    }
    if (op->n_inputs > 1 && op->inputs[1] && op->inputs[1]->value &&
        op->inputs[1]->value->dtype == PQ_DTYPE_INT64 && op->inputs[1]->value->numel > 0 &&
        op->inputs[1]->value->numel <= PQ_MAX_RANK) {
        *n = op->inputs[1]->value->numel;
        memcpy(axes, op->inputs[1]->value->data, (size_t)*n * sizeof *axes);
        return 1;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The LayerNormalization axis for reduction axes that are the trailing n axes of a rank-r
 * input (r < 0: unknown, then the axes must be the negative -n..-1). Returns 0 when they are
 * not. axes is sorted in place. */
static int trailing_axis(int64_t *axes, int64_t n, int r, int64_t *axis)
{
    for (int64_t k = 0; k < n; k++) {
        if (axes[k] >= 0 && r < 0) return 0;
        if (axes[k] < 0 && r >= 0) axes[k] += r;
    }
    qsort(axes, (size_t)n, sizeof *axes, cmp_i64);
    int64_t first = r >= 0 ? r - n : -n;
    for (int64_t k = 0; k < n; k++)
        if (axes[k] != first + k) return 0;
    *axis = first;
    return 1;
}

/* Scale or bias of the LayerNormalization from the chain's Mul/Add constant p (NULL:
 * ones for the scale, absent for the bias): broadcast to the normalised dims when they are
 * known; otherwise p itself when it already has exactly k dims. *why when neither. */
static pq_status ln_affine(const pq_var *p, const pq_var *x, int64_t k, double fill,
                           pq_tensor **out, const char **why, pq_err *err)
{
    int r = x->rank;
    int known = r >= 0 && r >= k;
    int64_t nd[PQ_MAX_RANK];
    for (int64_t d = 0; known && d < k; d++) {
        nd[d] = x->dims[r - k + d];
        if (nd[d] < 0) known = 0;
    }
    *out = NULL;
    if (p) {
        const pq_tensor *t = p->value;
        if (!pq__is_f32(t)) {
            *why = "scale or bias is not a float32 constant";
            return PQ_OK;
        }
        /* Dims beyond the normalised ones must be 1 (and not add axes to the output). */
        if (t->rank > k) {
            if (r < 0 || t->rank > r) {
                *why = "scale or bias would broadcast the output to a higher rank";
                return PQ_OK;
            }
            for (int d = 0; d < t->rank - k; d++)
                if (t->dims[d] != 1) {
                    *why = "scale or bias varies along a non-normalised axis";
                    return PQ_OK;
                }
        }
        /* Along the normalised axes: 1 (broadcast) or exactly the input's extent. */
        for (int64_t d = 0; d < k && d < t->rank; d++) {
            int64_t td = t->dims[t->rank - 1 - d];
            int64_t xd = known ? nd[k - 1 - d] : -1;
            if (td != 1 && td != xd && known) {
                *why = "scale or bias does not match the normalised dims";
                return PQ_OK;
            }
            if (td != 1 && !known && t->rank != k) {
                *why = "normalised dims unknown";
                return PQ_OK;
            }
        }
        if (!known) {
            if (t->rank != k) {
                *why = "normalised dims unknown";
                return PQ_OK;
            }
            return pq_tensor_clone(t, out, err);
        }
    } else if (!known) {
        *why = "normalised dims unknown (needed for a scale of ones)";
        return PQ_OK;
    }
    pq_status st = pq_tensor_create(PQ_DTYPE_FLOAT32, (int)k, nd, out, err);
    if (st != PQ_OK) return st;
    float *o = PQ_DATA(*out, float);
    for (int64_t i = 0; i < (*out)->numel; i++) {
        if (!p) {
            o[i] = (float)fill;
            continue;
        }
        /* Right-aligned broadcast index into p. */
        const pq_tensor *t = p->value;
        int64_t rem = i, off = 0, stride = 1;
        for (int64_t d = k - 1; d >= 0; d--) {
            int64_t j = rem % nd[d];
            rem /= nd[d];
            int64_t td_idx = t->rank - (k - d);
            if (td_idx >= 0) {
                if (t->dims[td_idx] != 1) off += j * stride;
                stride *= t->dims[td_idx];
            }
        }
        o[i] = PQ_DATA(t, float)[off];
    }
    return PQ_OK;
}

/* Checks one match of the chain ReduceMean(0) Sub(1) Pow|Mul(2) ReduceMean(3) Add(4) Sqrt(5)
 * Div(6) and rewrites it. *why set when it cannot. */
static pq_status layernorm_one(pq_graph *g, pq_op *const *m, const char **why, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_op *rm1 = m[0], *sub = m[1], *sq = m[2], *rm2 = m[3], *add = m[4], *sqr = m[5], *div = m[6];
    pq_op *chain[9] = {rm1, sub, sq, rm2, add, sqr, div, NULL, NULL};
    int n_chain = 7;
    pq_op *ln = NULL;
    pq_tensor *scale = NULL, *bias = NULL;
    pq_var *sv = NULL, *bv = NULL;
    *why = NULL;
    pq_var *x = rm1->inputs[0];
    pq_var *mean = rm1->outputs[0], *d = sub->outputs[0];
    if (!x || x->value || !mean || !d) {
        *why = "malformed chain";
        return PQ_OK;
    }
    if (sub->n_inputs != 2 || sub->inputs[0] != x || sub->inputs[1] != mean ||
        !pq__only_reader(g, mean, sub)) {
        *why = "Sub is not x - ReduceMean(x) with the mean used once";
        return PQ_OK;
    }
    /* d feeds exactly the square and the Div. */
    if (pq_graph_is_output(g, d)) {
        *why = "x - mean is a graph output";
        return PQ_OK;
    }
    for (int64_t k = 0; k < d->dest_ops.n; k++)
        if (d->dest_ops.items[k] != sq && d->dest_ops.items[k] != div) {
            *why = "x - mean has readers outside the chain";
            return PQ_OK;
        }
    if (pq_op_is(sq, "Pow")) {
        if (sq->n_inputs != 2 || sq->inputs[0] != d || !param_near(sq->inputs[1], 2.0)) {
            *why = "Pow is not (x - mean)^2";
            return PQ_OK;
        }
    } else if (sq->n_inputs != 2 || sq->inputs[0] != d || sq->inputs[1] != d) {
        *why = "Mul is not (x - mean) * (x - mean)";
        return PQ_OK;
    }
    if (rm2->inputs[0] != sq->outputs[0] || !pq__only_reader(g, sq->outputs[0], rm2) ||
        !pq__only_reader(g, rm2->outputs[0], add) || !pq__only_reader(g, add->outputs[0], sqr) ||
        !pq__only_reader(g, sqr->outputs[0], div)) {
        *why = "an intermediate value of the chain has other readers or is a graph output";
        return PQ_OK;
    }
    double eps;
    pq_var *ev = pq__other_input(add, rm2->outputs[0], NULL);
    if (!ev || !pq__param_scalar(ev, &eps) || !pq_dtype_is_float(ev->value->dtype) || eps < 0) {
        *why = "epsilon is not a non-negative float constant";
        return PQ_OK;
    }
    if (div->n_inputs != 2 || div->inputs[0] != d || div->inputs[1] != sqr->outputs[0]) {
        *why = "Div is not (x - mean) / sqrt(var + eps)";
        return PQ_OK;
    }
    int64_t ax1[PQ_MAX_RANK], ax2[PQ_MAX_RANK], n1, n2, kd1, kd2, axis;
    if (!reduce_axes(rm1, ax1, &n1, &kd1) || !reduce_axes(rm2, ax2, &n2, &kd2) || kd1 != 1 ||
        kd2 != 1 || n1 != n2) {
        *why = "ReduceMean axes are not constant, differ, or keepdims = 0";
        return PQ_OK;
    }
    if (!trailing_axis(ax1, n1, x->rank, &axis) || !trailing_axis(ax2, n2, x->rank, &ax2[0]) ||
        ax2[0] != axis) {
        *why = "ReduceMean axes are not the same trailing axes";
        return PQ_OK;
    }
    if (x->dtype != PQ_DTYPE_FLOAT32 && x->dtype != PQ_DTYPE_UNDEFINED) {
        *why = "not float32";
        return PQ_OK;
    }
    /* Optional affine tail: Mul(scale), then Add(bias). */
    pq_var *out = div->outputs[0], *gp = NULL, *bp = NULL;
    pq_op *mul = pq__sole_reader(g, out);
    if (mul && pq_op_is(mul, "Mul") && (gp = pq__other_input(mul, out, NULL)) && gp->value) {
        chain[n_chain++] = mul;
        out = mul->outputs[0];
        pq_op *badd = pq__sole_reader(g, out);
        if (badd && pq_op_is(badd, "Add") && (bp = pq__other_input(badd, out, NULL)) && bp->value) {
            chain[n_chain++] = badd;
            out = badd->outputs[0];
        } else {
            bp = NULL;
        }
    } else {
        gp = NULL;
    }
    int64_t k = n1;
    PQ_TRY(ln_affine(gp, x, k, 1.0, &scale, why, err));
    if (*why) goto fail;
    if (bp) {
        PQ_TRY(ln_affine(bp, x, k, 0.0, &bias, why, err));
        if (*why) goto fail;
    }
    char base[400];
    snprintf(base, sizeof base, "%s_scale", gp ? gp->name : div->name);
    PQ_TRY(pq__new_param(g, base, pq__take(&scale), &sv, err));
    if (bias) {
        snprintf(base, sizeof base, "%s_bias", bp->name);
        PQ_TRY(pq__new_param(g, base, pq__take(&bias), &bv, err));
    }
    PQ_TRY(pq_graph_create_op(g, "LayerNormalization", NULL, "", 0, &ln, err));
    PQ_TRY(pq_op_set_int(ln, "axis", axis, err));
    PQ_TRY(pq_op_set_float(ln, "epsilon", (float)eps, err));
    PQ_TRY(pq_graph_add_input(g, ln, x, err));
    PQ_TRY(pq_graph_add_input(g, ln, sv, err));
    if (bv) PQ_TRY(pq_graph_add_input(g, ln, bv, err));
    PQ_TRY(pq__replace_ops(g, chain, n_chain, ln, out, err));
    return PQ_OK;
fail:
    pq_tensor_destroy(&scale);
    pq_tensor_destroy(&bias);
    /* New parameters not attached yet go first; removing the unfinished op then frees
     * those attached to it (pq_graph_remove_op drops unused parameters), so neither pointer
     * is used after it is freed. */
    if (st != PQ_OK || *why) {
        pq__drop_if_unused(g, sv);
        pq__drop_if_unused(g, bv);
    }
    if (ln && !ln->n_outputs) pq_graph_remove_op(g, ln, 0, NULL);
    return st;
}

/* Whether any op of match m was removed by an earlier rewrite (pointer comparison only). */
static int touches(const pq_ptrvec *removed, const pq_match *m)
{
    for (int i = 0; i < m->n; i++)
        if (pq_ptrvec_find(removed, m->ops[i]) >= 0) return 1;
    return 0;
}

pq_status pq_pass_fuse_layernorm(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    pq_matches ms = {0};
    pq_ptrvec removed = {0};
    if (!res) res = &local;
    pq__result_begin(res, "fuse_layernorm", g);
    pq_op_pred pat[7] = {PQ_PRED_TYPES("ReduceMean"), PQ_PRED_TYPES("Sub"),
                         PQ_PRED_TYPES("Pow", "Mul"), PQ_PRED_TYPES("ReduceMean"),
                         PQ_PRED_TYPES("Add"), PQ_PRED_TYPES("Sqrt"), PQ_PRED_TYPES("Div")};
    static const int edges[][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {1, 6}};
    /* Not exclusive: x enters the chain at the Sub too; the rewrite checks every edge. */
    PQ_TRY(pq_graph_pattern_matching(g, pat, 7, edges, 7, 0, 0, &ms, err));
    if (ms.n) PQ_TRY(pq__ensure_shapes(g, NULL, err));
    for (int64_t k = 0; k < ms.n; k++) {
        const pq_match *m = &ms.items[k];
        if (touches(&removed, m)) continue;
        pq_op *tail[2] = {NULL, NULL};
        /* Remember the optional tail ops too: they are removed with the chain. */
        pq_op *r = pq__sole_reader(g, m->ops[6]->outputs[0]);
        if (r && pq_op_is(r, "Mul")) {
            tail[0] = r;
            tail[1] = pq__sole_reader(g, r->outputs[0]);
        }
        const char *why = NULL;
        PQ_TRY(layernorm_one(g, m->ops, &why, err));
        if (why) {
            pq__result_refuse(res, m->ops[0], "%s", why);
            continue;
        }
        for (int i = 0; i < m->n; i++) PQ_TRY(pq_ptrvec_push(&removed, m->ops[i], err));
        for (int i = 0; i < 2; i++)
            if (tail[i]) PQ_TRY(pq_ptrvec_push(&removed, tail[i], err));
        res->changes++;
    }
    pq__result_note(res, "%" PRId64 " LayerNorm chains -> LayerNormalization", res->changes);
fail:
    pq_matches_free(&ms);
    pq_ptrvec_free(&removed);
    pq__result_end(res, g, t0);
    return st;
}

/* ================================================================== GELU */

#define SQRT2 1.4142135623730951
#define SQRT_2_OVER_PI 0.7978845608028654
#define GELU_KAPPA 0.044715

/* A Mul op with inputs {a, b} in either order. */
static int mul_of(const pq_op *op, const pq_var *a, const pq_var *b)
{
    return op && pq_op_is(op, "Mul") && op->n_inputs == 2 &&
           ((op->inputs[0] == a && op->inputs[1] == b) || (op->inputs[0] == b && op->inputs[1] == a));
}

/* A Mul op of v and a scalar constant near c: returns 1. */
static int mul_const(const pq_op *op, const pq_var *v, double c)
{
    pq_var *o;
    return op && pq_op_is(op, "Mul") && (o = pq__other_input(op, v, NULL)) && param_near(o, c);
}

/* y = 0.5 * x * a in any of the three associations; appends the two Muls to ops. */
static int half_x_times(const pq_graph *g, pq_var *x, pq_var *a, pq_op **ops, int *n, pq_var **y)
{
    pq_op *r = pq__sole_reader(g, a);
    pq_var *other;
    if (!r || !pq_op_is(r, "Mul") || !(other = pq__other_input(r, a, NULL))) return 0;
    if (other == x) { /* (x * a) * 0.5 */
        pq_op *r2 = pq__sole_reader(g, r->outputs[0]);
        if (!mul_const(r2, r->outputs[0], 0.5)) return 0;
        ops[(*n)++] = r;
        ops[(*n)++] = r2;
        *y = r2->outputs[0];
        return 1;
    }
    if (param_near(other, 0.5)) { /* x * (a * 0.5) */
        pq_op *r2 = pq__sole_reader(g, r->outputs[0]);
        if (!mul_of(r2, r->outputs[0], x)) return 0;
        ops[(*n)++] = r;
        ops[(*n)++] = r2;
        *y = r2->outputs[0];
        return 1;
    }
    pq_op *m0 = other->source_op; /* (x * 0.5) * a */
    if (!m0 || !mul_const(m0, x, 0.5) || !pq__only_reader(g, other, r)) return 0;
    ops[(*n)++] = m0;
    ops[(*n)++] = r;
    *y = r->outputs[0];
    return 1;
}

/* 1 + v (Add with a constant 1 in either order) whose output is read once: returns it. */
static pq_var *one_plus(const pq_graph *g, const pq_var *v, pq_op **add)
{
    pq_op *r = pq__sole_reader(g, v);
    pq_var *o;
    if (!r || !pq_op_is(r, "Add") || !(o = pq__other_input(r, v, NULL)) || !param_near(o, 1.0))
        return NULL;
    *add = r;
    return r->outputs[0];
}

/* Erf anchor: x / sqrt(2) (or x * 1/sqrt(2)) -> Erf -> + 1 -> * x * 0.5. */
static int match_gelu_erf(const pq_graph *g, pq_op *erf, pq_op **ops, int *n, pq_var **x,
                          pq_var **y)
{
    pq_var *dv = erf->inputs[0];
    pq_op *d = dv ? dv->source_op : NULL, *add = NULL;
    if (!d || !pq__only_reader(g, dv, erf) || d->n_inputs != 2) return 0;
    if (pq_op_is(d, "Div")) {
        if (!param_near(d->inputs[1], SQRT2) || !d->inputs[0] || d->inputs[0]->value) return 0;
        *x = d->inputs[0];
    } else if (pq_op_is(d, "Mul")) {
        int i = d->inputs[0] && d->inputs[0]->value ? 0 : 1;
        if (!param_near(d->inputs[i], 1.0 / SQRT2) || !d->inputs[1 - i] || d->inputs[1 - i]->value)
            return 0;
        *x = d->inputs[1 - i];
    } else {
        return 0;
    }
    pq_var *a = one_plus(g, erf->outputs[0], &add);
    if (!a) return 0;
    ops[(*n)++] = d;
    ops[(*n)++] = erf;
    ops[(*n)++] = add;
    return half_x_times(g, *x, a, ops, n, y);
}

/* x^3 as Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x); appends its ops. */
static int cube_of(const pq_graph *g, pq_var *c, pq_var *x, pq_op **ops, int *n)
{
    pq_op *p = c ? c->source_op : NULL;
    if (!p || p->n_inputs != 2) return 0;
    if (pq_op_is(p, "Pow")) {
        if (p->inputs[0] != x || !param_near(p->inputs[1], 3.0)) return 0;
        ops[(*n)++] = p;
        return 1;
    }
    if (!pq_op_is(p, "Mul")) return 0;
    pq_var *sq = p->inputs[0] == x ? p->inputs[1] : p->inputs[1] == x ? p->inputs[0] : NULL;
    pq_op *s = sq ? sq->source_op : NULL;
    if (!mul_of(s, x, x) || !pq__only_reader(g, sq, p)) return 0;
    ops[(*n)++] = s;
    ops[(*n)++] = p;
    return 1;
}

/* Tanh anchor: x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))). */
static int match_gelu_tanh(const pq_graph *g, pq_op *th, pq_op **ops, int *n, pq_var **x,
                           pq_var **y)
{
    pq_var *inner = th->inputs[0];
    pq_op *im = inner ? inner->source_op : NULL, *add1 = NULL;
    pq_var *s;
    if (!im || !pq_op_is(im, "Mul") || !pq__only_reader(g, inner, th)) return 0;
    int si = im->inputs[0] && im->inputs[0]->value ? 1 : 0;
    s = im->inputs[si];
    if (!s || !param_near(im->inputs[1 - si], SQRT_2_OVER_PI)) return 0;
    pq_op *sa = s->source_op;
    if (!sa || !pq_op_is(sa, "Add") || sa->n_inputs != 2 || !pq__only_reader(g, s, im)) return 0;
    for (int xi = 0; xi < 2; xi++) {
        int n0 = *n;
        pq_var *xc = sa->inputs[xi], *kc = sa->inputs[1 - xi];
        pq_op *km = kc ? kc->source_op : NULL;
        if (!xc || xc->value || !km || !pq_op_is(km, "Mul") || !pq__only_reader(g, kc, sa)) continue;
        int ci = km->inputs[0] && km->inputs[0]->value ? 1 : 0;
        pq_var *cube = km->inputs[ci];
        if (!param_near(km->inputs[1 - ci], GELU_KAPPA) || !pq__only_reader(g, cube, km)) continue;
        if (!cube_of(g, cube, xc, ops, n)) {
            *n = n0;
            continue;
        }
        pq_var *a = one_plus(g, th->outputs[0], &add1);
        if (!a) {
            *n = n0;
            return 0;
        }
        ops[(*n)++] = km;
        ops[(*n)++] = sa;
        ops[(*n)++] = im;
        ops[(*n)++] = th;
        ops[(*n)++] = add1;
        *x = xc;
        if (half_x_times(g, xc, a, ops, n, y)) return 1;
        *n = n0;
        return 0;
    }
    return 0;
}

pq_status pq_pass_fuse_gelu(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    pq_ptrvec anchors = {0};
    int64_t n_erf = 0, n_tanh = 0;
    pq_op *gelu = NULL;
    if (!res) res = &local;
    pq__result_begin(res, "fuse_gelu", g);
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if ((pq_op_is(op, "Erf") || pq_op_is(op, "Tanh")) && op->n_inputs == 1 && op->outputs[0])
            PQ_TRY(pq_ptrvec_push(&anchors, op, err));
    }
    for (int64_t k = 0; k < anchors.n; k++) {
        pq_op *a = anchors.items[k], *ops[12];
        int n = 0, tanh_form = pq_op_is(a, "Tanh");
        pq_var *x = NULL, *y = NULL;
        if (!(tanh_form ? match_gelu_tanh(g, a, ops, &n, &x, &y) : match_gelu_erf(g, a, ops, &n, &x, &y))) {
            /* A lone Erf is rare enough to be worth a note; a lone Tanh is just a Tanh. */
            if (!tanh_form) pq__result_refuse(res, a, "not the GELU pattern x * 0.5 * (1 + erf(x / sqrt(2)))");
            continue;
        }
        if (x->dtype != PQ_DTYPE_FLOAT32 && x->dtype != PQ_DTYPE_UNDEFINED) {
            pq__result_refuse(res, a, "not float32");
            continue;
        }
        gelu = NULL;
        PQ_TRY(pq_graph_create_op(g, "Gelu", NULL, "", 0, &gelu, err));
        if (tanh_form) PQ_TRY(pq_op_set_string(gelu, "approximate", "tanh", err));
        PQ_TRY(pq_graph_add_input(g, gelu, x, err));
        PQ_TRY(pq__replace_ops(g, ops, n, gelu, y, err));
        gelu = NULL;
        if (tanh_form)
            n_tanh++;
        else
            n_erf++;
        res->changes++;
    }
    pq__result_note(res, "%" PRId64 " GELU (erf) and %" PRId64 " GELU (tanh) -> Gelu", n_erf, n_tanh);
fail:
    if (gelu && !gelu->n_outputs) pq_graph_remove_op(g, gelu, 0, NULL);
    pq_ptrvec_free(&anchors);
    pq__result_end(res, g, t0);
    return st;
}

/* ================================================================== skip layernorm */

pq_status pq_pass_fuse_skip_layernorm(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    if (!res) res = &local;
    pq__result_begin(res, "fuse_skip_layernorm", g);
    for (int64_t k = 0; k < g->ops.n; k++)
        if (pq_op_is(g->ops.items[k], "LayerNormalization")) {
            PQ_TRY(pq__ensure_shapes(g, NULL, err));
            break;
        }
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *ln = g->ops.items[k];
        if (!pq_op_is(ln, "LayerNormalization") || !ln->n_inputs || !ln->inputs[0]) continue;
        pq_var *s = ln->inputs[0];
        pq_op *add = pq__producer_is(s, "Add");
        if (!add) continue;
        const char *fu = pq_op_get_ext_str(ln, PQ_EXT_FUSION);
        if (fu && strcmp(fu, "skip_layernorm") == 0) continue; /* marked already */
        if (add->n_inputs != 2 || !add->inputs[0] || !add->inputs[1] || add->inputs[0]->value ||
            add->inputs[1]->value) {
            pq__result_refuse(res, add, "the Add has a constant input (a bias, not a skip)");
            continue;
        }
        if (!pq__only_reader(g, s, ln)) {
            pq__result_refuse(res, add, "the sum has readers besides the LayerNormalization");
            continue;
        }
        const pq_var *a = add->inputs[0], *b = add->inputs[1];
        int same = a->rank >= 0 && a->rank == b->rank;
        for (int d = 0; same && d < a->rank; d++) same = a->dims[d] == b->dims[d];
        if (!same) {
            pq__result_refuse(res, add, "the two inputs are not known to have the same shape");
            continue;
        }
        PQ_TRY(pq_op_set_ext_str(add, PQ_EXT_FUSION, "skip_layernorm", err));
        PQ_TRY(pq_op_set_ext_str(add, PQ_EXT_FUSED_WITH, ln->name, err));
        PQ_TRY(pq_op_set_ext_int(add, PQ_EXT_FUSED_OUTPUT, 1, err));
        PQ_TRY(pq_op_set_ext_str(ln, PQ_EXT_FUSION, "skip_layernorm", err));
        PQ_TRY(pq_op_set_ext_str(ln, PQ_EXT_FUSED_WITH, add->name, err));
        res->changes++;
    }
    pq__result_note(res, "%" PRId64 " Add + LayerNormalization marked skip_layernorm", res->changes);
fail:
    pq__result_end(res, g, t0);
    return st;
}

/* normalize.c - one form for opset-dependent operators: opset 7-12 graphs upgraded to 13
 * (attribute forms become input forms) when exact, Relu6/Relu written with Min/Max/Clip
 * normalised, negative axes made non-negative. */
#include "passes_internal.h"

#include <float.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define TARGET_OPSET 13

/* Operators whose ai.onnx schema is the same from opset `from` to 13 for every model that is
 * valid at `from` (later versions only add types, negative axes or attributes whose default
 * keeps the old behaviour), or which this pass converts (the `conv` ones). An op type not
 * listed blocks the upgrade. */
typedef struct upgrade_rule {
    const char *type;
    int from;
} upgrade_rule;

static const upgrade_rule upgrade_rules[] = {
    /* Converted or checked below. */
    {"Clip", 7}, {"Squeeze", 7}, {"Unsqueeze", 7}, {"ReduceSum", 7}, {"Split", 7},
    {"Dropout", 7}, {"Softmax", 7}, {"LogSoftmax", 7}, {"Hardmax", 7},
    {"BatchNormalization", 7},
    /* Input forms changed at 10 / 11. */
    {"Slice", 10}, {"TopK", 10}, {"Pad", 11}, {"Resize", 11}, {"NonMaxSuppression", 11},
    /* Multidirectional broadcasting since 8. */
    {"Max", 8}, {"Min", 8}, {"Sum", 8}, {"Mean", 8},
    /* Unchanged in meaning from 7 to 13. */
    {"Abs", 7}, {"Acos", 7}, {"Acosh", 9}, {"Add", 7}, {"And", 7}, {"ArgMax", 7},
    {"ArgMin", 7}, {"Asin", 7}, {"Asinh", 9}, {"Atan", 7}, {"Atanh", 9}, {"AveragePool", 7},
    {"Cast", 7}, {"Ceil", 7}, {"Celu", 12}, {"Concat", 7}, {"Constant", 7},
    {"ConstantOfShape", 9}, {"Conv", 7}, {"ConvInteger", 10}, {"ConvTranspose", 7},
    {"Cos", 7}, {"Cosh", 9}, {"CumSum", 11}, {"DepthToSpace", 7}, {"DequantizeLinear", 10},
    {"Div", 7}, {"Einsum", 12}, {"Elu", 7}, {"Equal", 7}, {"Erf", 9}, {"Exp", 7},
    {"Expand", 8}, {"EyeLike", 9}, {"Flatten", 7}, {"Floor", 7}, {"Gather", 7},
    {"GatherElements", 11}, {"GatherND", 11}, {"Gemm", 7}, {"GlobalAveragePool", 7},
    {"GlobalLpPool", 7}, {"GlobalMaxPool", 7}, {"Greater", 7}, {"GreaterOrEqual", 12},
    {"HardSigmoid", 7}, {"Identity", 7}, {"InstanceNormalization", 7}, {"IsInf", 10},
    {"IsNaN", 9}, {"LeakyRelu", 7}, {"Less", 7}, {"LessOrEqual", 12}, {"Log", 7},
    {"LpNormalization", 7}, {"LRN", 7}, {"MatMul", 7}, {"MatMulInteger", 10}, {"MaxPool", 7},
    {"MeanVarianceNormalization", 9}, {"Mod", 10}, {"Mul", 7}, {"Neg", 7}, {"Not", 7},
    {"OneHot", 9}, {"Or", 7}, {"Pow", 7}, {"PRelu", 7}, {"QLinearConv", 10},
    {"QLinearMatMul", 10}, {"QuantizeLinear", 10}, {"Range", 11}, {"Reciprocal", 7},
    {"ReduceL1", 7}, {"ReduceL2", 7}, {"ReduceLogSum", 7}, {"ReduceLogSumExp", 7},
    {"ReduceMax", 7}, {"ReduceMean", 7}, {"ReduceMin", 7}, {"ReduceProd", 7},
    {"ReduceSumSquare", 7}, {"Relu", 7}, {"Reshape", 7}, {"Round", 11}, {"ScatterElements", 11},
    {"ScatterND", 11}, {"Selu", 7}, {"Shape", 7}, {"Shrink", 9}, {"Sigmoid", 7}, {"Sign", 9},
    {"Sin", 7}, {"Sinh", 9}, {"Size", 7}, {"Softplus", 7}, {"Softsign", 7},
    {"SpaceToDepth", 7}, {"Sqrt", 7}, {"Sub", 7}, {"Tan", 7}, {"Tanh", 7},
    {"ThresholdedRelu", 10}, {"Tile", 7}, {"Transpose", 7}, {"Where", 9}, {"Xor", 7},
    {NULL, 0},
};

static const upgrade_rule *find_rule(const pq_op *op)
{
    for (const upgrade_rule *r = upgrade_rules; r->type; r++)
        if (pq_op_is(op, r->type)) return r;
    return NULL;
}

static int is_default_domain(const pq_op *op)
{
    return !op->domain[0] || strcmp(op->domain, "ai.onnx") == 0;
}

/* Attribute-form operators this upgrade converts (opset < the input form's version). */
static int needs_conversion(const pq_op *op)
{
    if (pq_op_is(op, "Clip")) return op->opset < 11;
    if (pq_op_is(op, "Dropout")) return op->opset < 12 && pq_op_find_attr(op, "ratio");
    if (pq_op_is(op, "Squeeze") || pq_op_is(op, "Unsqueeze") || pq_op_is(op, "ReduceSum"))
        return op->opset < 13 && pq_op_find_attr(op, "axes");
    if (pq_op_is(op, "Split")) return op->opset < 13 && pq_op_find_attr(op, "split");
    return 0;
}

/* Whether op keeps its meaning at opset 13 (after conversion); *why when not. */
static int upgradable(const pq_op *op, const char **why)
{
    const upgrade_rule *r = find_rule(op);
    if (op->n_attrs)
        for (int a = 0; a < op->n_attrs; a++)
            if (op->attrs[a].type == PQ_ATTR_GRAPH || op->attrs[a].type == PQ_ATTR_GRAPHS) {
                *why = "has a subgraph";
                return 0;
            }
    if (!r) {
        *why = "no known exact upgrade of this operator to opset 13";
        return 0;
    }
    if (op->opset < r->from) {
        *why = "its schema changed between its opset and 13";
        return 0;
    }
    if (pq_op_is(op, "Softmax") || pq_op_is(op, "LogSoftmax") || pq_op_is(op, "Hardmax")) {
        /* Before 13 the input is coerced to 2-D at `axis` (default 1); from 13 the op works
         * along one axis: the same only when axis is the last one. */
        int64_t axis = 1;
        const pq_attr *a = pq_op_find_attr(op, "axis");
        if (a && a->type == PQ_ATTR_INT) axis = a->i;
        int rank = op->inputs[0] ? op->inputs[0]->rank : -1;
        if (rank < 0) {
            *why = "input rank unknown (opset-13 axis semantics differ)";
            return 0;
        }
        if (axis < 0) axis += rank;
        if (axis != rank - 1) {
            *why = "axis is not the last one (opset-13 axis semantics differ)";
            return 0;
        }
    }
    if (pq_op_is(op, "BatchNormalization") && op->opset < 9) {
        const pq_attr *a = pq_op_find_attr(op, "spatial");
        if (a && a->type == PQ_ATTR_INT && a->i == 0) {
            *why = "spatial = 0 has no opset-9+ form";
            return 0;
        }
    }
    if (pq_op_is(op, "Clip") && op->opset < 11) {
        const pq_var *x = op->inputs[0];
        if (!x || !pq_dtype_is_float(x->dtype)) {
            *why = "input dtype unknown (the bounds become inputs of that dtype)";
            return 0;
        }
    }
    if (pq_op_is(op, "Dropout") && op->opset < 12 && op->n_outputs > 1 && op->outputs[1] &&
        (op->outputs[1]->dest_ops.n || pq_graph_is_output(op->graph, op->outputs[1]))) {
        *why = "its mask output is used (mask dtype changed)";
        return 0;
    }
    return 1;
}

/* A tensor of one value of dtype dt (float types) or int64 list. */
static pq_status scalar_tensor(pq_dtype dt, double v, pq_tensor **out, pq_err *err)
{
    pq_status st = pq_tensor_create(dt, 0, NULL, out, err);
    if (st != PQ_OK) return st;
    switch (dt) {
    case PQ_DTYPE_FLOAT32: PQ_DATA(*out, float)[0] = (float)v; break;
    case PQ_DTYPE_FLOAT64: PQ_DATA(*out, double)[0] = v; break;
    case PQ_DTYPE_FLOAT16: PQ_DATA(*out, uint16_t)[0] = pq_f32_to_f16((float)v); break;
    case PQ_DTYPE_BFLOAT16: PQ_DATA(*out, uint16_t)[0] = pq_f32_to_bf16((float)v); break;
    default:
        pq_tensor_destroy(out);
        return pq_err_set(err, PQ_ERR_INTERNAL, "scalar of dtype %s", pq_dtype_name(dt));
    }
    return PQ_OK;
}

static pq_status ints_tensor(const int64_t *v, int64_t n, pq_tensor **out, pq_err *err)
{
    pq_status st = pq_tensor_create(PQ_DTYPE_INT64, 1, &n, out, err);
    if (st == PQ_OK && n) memcpy((*out)->data, v, (size_t)n * sizeof *v);
    return st;
}

/* Moves int-list attribute `name` of op into a new int64 parameter as input `idx`. */
static pq_status attr_to_input(pq_graph *g, pq_op *op, const char *name, int idx, pq_err *err)
{
    const pq_attr *a = pq_op_find_attr(op, name);
    if (!a) return PQ_OK;
    if (a->type != PQ_ATTR_INTS)
        return pq_err_set(err, PQ_ERR_INVALID, "node '%s' (%s): attribute %s is not a list of ints",
                          op->name, op->type, name);
    pq_tensor *t = NULL;
    pq_status st = ints_tensor(a->ints, a->n, &t, err);
    if (st != PQ_OK) return st;
    if ((st = pq__set_param_input(g, op, idx, t, name, err)) != PQ_OK) return st;
    pq_op_remove_attr(op, name);
    return PQ_OK;
}

static pq_status convert_op(pq_graph *g, pq_op *op, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *t = NULL;
    if (pq_op_is(op, "Clip") && op->opset < 11) {
        /* Clip-6 defaults are the float limits (not infinities): written out explicitly. */
        float lo = -FLT_MAX, hi = FLT_MAX;
        PQ_TRY(pq_op_get_float(op, "min", lo, &lo, err));
        PQ_TRY(pq_op_get_float(op, "max", hi, &hi, err));
        PQ_TRY(scalar_tensor(op->inputs[0]->dtype, lo, &t, err));
        PQ_TRY(pq__set_param_input(g, op, 1, t, "min", err));
        PQ_TRY(scalar_tensor(op->inputs[0]->dtype, hi, &t, err));
        PQ_TRY(pq__set_param_input(g, op, 2, t, "max", err));
        pq_op_remove_attr(op, "min");
        pq_op_remove_attr(op, "max");
    } else if (pq_op_is(op, "Dropout") && op->opset < 12) {
        float ratio = 0.5f;
        if (pq_op_find_attr(op, "ratio")) {
            PQ_TRY(pq_op_get_float(op, "ratio", ratio, &ratio, err));
            PQ_TRY(scalar_tensor(PQ_DTYPE_FLOAT32, ratio, &t, err));
            PQ_TRY(pq__set_param_input(g, op, 1, t, "ratio", err));
            pq_op_remove_attr(op, "ratio");
        }
    } else if ((pq_op_is(op, "Squeeze") || pq_op_is(op, "Unsqueeze") || pq_op_is(op, "ReduceSum")) &&
               op->opset < 13) {
        PQ_TRY(attr_to_input(g, op, "axes", 1, err));
    } else if (pq_op_is(op, "Split") && op->opset < 13) {
        PQ_TRY(attr_to_input(g, op, "split", 1, err));
    } else if ((pq_op_is(op, "Softmax") || pq_op_is(op, "LogSoftmax") || pq_op_is(op, "Hardmax")) &&
               op->opset < 13) {
        PQ_TRY(pq_op_set_int(op, "axis", op->inputs[0]->rank - 1, err));
    } else if (pq_op_is(op, "BatchNormalization") && op->opset < 9) {
        pq_op_remove_attr(op, "spatial");
    }
fail:
    return st;
}

/* Upgrades the graph to opset 13 when an attribute form needs converting and every op
 * allows it. Returns the number of converted ops in *n_conv (-1: not attempted). */
static pq_status upgrade_opset(pq_graph *g, pq_pass_result *res, int64_t *n_conv, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t v = pq_graph_opset(g, "");
    *n_conv = -1;
    if (v < 7 || v >= TARGET_OPSET) return PQ_OK;
    int need = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (is_default_domain(op) && needs_conversion(op)) need = 1;
    }
    if (!need) return PQ_OK;
    PQ_TRY(pq__ensure_shapes(g, NULL, err));
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        const char *why = NULL;
        if (is_default_domain(op) && !upgradable(op, &why)) {
            pq__result_refuse(res, op, "opset %" PRId64 " -> %d upgrade not exact: %s", v,
                              TARGET_OPSET, why);
            pq__result_note(res, "opset %" PRId64 " kept (attribute forms stay)", v);
            return PQ_OK;
        }
    }
    *n_conv = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!is_default_domain(op)) continue;
        if (needs_conversion(op)) (*n_conv)++;
        PQ_TRY(convert_op(g, op, err));
        op->opset = TARGET_OPSET;
    }
    PQ_TRY(pq_graph_set_opset(g, "", TARGET_OPSET, err));
    pq__result_note(res, "opset %" PRId64 " -> %d, %" PRId64 " attribute forms made inputs", v,
                    TARGET_OPSET, *n_conv);
fail:
    return st;
}

/* ------------------------------------------------------------------ Relu / Relu6 forms */

/* A scalar parameter that does not change x's shape when broadcast against it. */
static int scalar_bound(const pq_var *c, const pq_var *x, double *v)
{
    if (!pq__param_scalar(c, v)) return 0;
    if (c->value->rank == 0) return 1;
    return x->rank >= c->value->rank;
}

/* The graph's Clip: inputs at 11+, attributes before. */
static pq_status make_clip(pq_graph *g, pq_var *x, double lo, double hi, pq_op **out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_op *clip = NULL;
    pq_tensor *t = NULL;
    PQ_TRY(pq_graph_create_op(g, "Clip", NULL, "", 0, &clip, err));
    PQ_TRY(pq_graph_add_input(g, clip, x, err));
    if (clip->opset >= 11) {
        PQ_TRY(scalar_tensor(x->dtype, lo, &t, err));
        PQ_TRY(pq__set_param_input(g, clip, 1, t, "min", err));
        PQ_TRY(scalar_tensor(x->dtype, hi, &t, err));
        PQ_TRY(pq__set_param_input(g, clip, 2, t, "max", err));
    } else {
        PQ_TRY(pq_op_set_float(clip, "min", (float)lo, err));
        PQ_TRY(pq_op_set_float(clip, "max", (float)hi, err));
    }
    *out = clip;
    return PQ_OK;
fail:
    if (clip) pq_graph_remove_op(g, clip, 0, NULL);
    return st;
}

/* Max(x, 0) -> Relu; Min(Max(x, a), b) / Max(Min(x, b), a) with a <= b -> Clip(a, b);
 * Clip(x, 0, none) -> Relu. `pairs` selects the Min/Max pairs (run first, so that the
 * inner Max(x, 0) of a Relu6 is not made a Relu on its own) or the single-op forms. */
static pq_status relu_forms(pq_graph *g, pq_op *op, int pairs, pq_pass_result *res,
                            int64_t *n_relu, int64_t *n_clip, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_op *rep = NULL;
    double a, b;
    if ((pq_op_is(op, "Max") || pq_op_is(op, "Min")) && op->n_inputs == 2 && op->outputs[0]) {
        int is_max = pq_op_is(op, "Max");
        int ci = -1;
        for (int i = 0; i < 2; i++)
            if (op->inputs[i] && op->inputs[i]->value) ci = i;
        if (ci < 0) return PQ_OK;
        pq_var *x = op->inputs[1 - ci], *c = op->inputs[ci];
        if (!x || x->value || !pq_dtype_is_float(x->dtype) || !scalar_bound(c, x, &a)) return PQ_OK;
        /* The inner op of a Min/Max pair. */
        pq_op *in = x->source_op;
        const char *pair = is_max ? "Min" : "Max";
        if (pairs && in && pq_op_is(in, pair) && in->n_inputs == 2 && pq__only_reader(g, x, op)) {
            int cj = -1;
            for (int i = 0; i < 2; i++)
                if (in->inputs[i] && in->inputs[i]->value) cj = i;
            pq_var *x0 = cj >= 0 ? in->inputs[1 - cj] : NULL;
            if (x0 && !x0->value && x0->dtype == x->dtype && scalar_bound(in->inputs[cj], x0, &b)) {
                double lo = is_max ? a : b, hi = is_max ? b : a;
                if (lo > hi) {
                    pq__result_refuse(res, op, "Min/Max pair with lower bound %g above upper %g",
                                      lo, hi);
                    return PQ_OK;
                }
                pq_var *y = op->outputs[0];
                PQ_TRY(make_clip(g, x0, lo, hi, &rep, err));
                pq_op *chain[2] = {in, op};
                PQ_TRY(pq__replace_ops(g, chain, 2, rep, y, err));
                (*n_clip)++;
                res->changes++;
                return PQ_OK;
            }
        }
        if (!pairs && is_max && a == 0.0) {
            pq_var *y = op->outputs[0];
            PQ_TRY(pq_graph_create_op(g, "Relu", NULL, "", 0, &rep, err));
            PQ_TRY(pq_graph_add_input(g, rep, x, err));
            PQ_TRY(pq__replace_ops(g, &op, 1, rep, y, err));
            (*n_relu)++;
            res->changes++;
        }
        return PQ_OK;
    }
    if (!pairs && pq_op_is(op, "Clip") && op->inputs[0] && op->outputs[0]) {
        int has_lo = 0, has_hi = 0;
        a = 0;
        if (op->opset >= 11) {
            has_lo = op->n_inputs > 1 && op->inputs[1];
            has_hi = op->n_inputs > 2 && op->inputs[2];
            if (has_lo && !pq__param_scalar(op->inputs[1], &a)) return PQ_OK;
            if (has_hi && !pq__param_scalar(op->inputs[2], &b)) return PQ_OK;
            if (has_hi && !(b > DBL_MAX)) return PQ_OK; /* a finite upper bound: a real Clip */
        } else {
            return PQ_OK; /* Clip-6 has finite default bounds: never a plain Relu */
        }
        if (has_lo && a == 0.0) {
            pq_var *x = op->inputs[0], *y = op->outputs[0];
            PQ_TRY(pq_graph_create_op(g, "Relu", NULL, "", 0, &rep, err));
            PQ_TRY(pq_graph_add_input(g, rep, x, err));
            PQ_TRY(pq__replace_ops(g, &op, 1, rep, y, err));
            (*n_relu)++;
            res->changes++;
        }
    }
    return PQ_OK;
fail:
    if (rep && !rep->n_outputs) pq_graph_remove_op(g, rep, 0, NULL);
    return st;
}

/* ------------------------------------------------------------------ axes */

/* Reads axes (attribute or parameter input 1) of Squeeze/Unsqueeze/Reduce*; *from_input
 * says where they were. Returns 0 when absent or not constant. */
static int read_axes(const pq_op *op, int64_t *axes, int64_t *n, int *from_input)
{
    const pq_attr *a = pq_op_find_attr(op, "axes");
    if (a && a->type == PQ_ATTR_INTS && a->n <= PQ_MAX_RANK) {
        memcpy(axes, a->ints, (size_t)a->n * sizeof *axes);
        *n = a->n;
        *from_input = 0;
        return 1;
    }
    if (op->n_inputs > 1 && op->inputs[1] && op->inputs[1]->value &&
        op->inputs[1]->value->dtype == PQ_DTYPE_INT64 && op->inputs[1]->value->numel <= PQ_MAX_RANK &&
        op->inputs[1]->value->rank == 1) {
        *n = op->inputs[1]->value->numel;
        memcpy(axes, op->inputs[1]->value->data, (size_t)*n * sizeof *axes);
        *from_input = 1;
        return 1;
    }
    return 0;
}

static const char *const axes_ops[] = {
    "Squeeze", "Unsqueeze", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", NULL};

static pq_status positive_axes(pq_graph *g, pq_op *op, int64_t *n_axes, pq_err *err)
{
    int64_t axes[PQ_MAX_RANK], n = 0;
    int from_input = 0;
    if (!op->inputs[0] || op->inputs[0]->rank < 0 || !read_axes(op, axes, &n, &from_input))
        return PQ_OK;
    /* Unsqueeze axes index the output (rank + number of axes). */
    int64_t r = op->inputs[0]->rank + (pq_op_is(op, "Unsqueeze") ? n : 0);
    int neg = 0;
    for (int64_t k = 0; k < n; k++) {
        if (axes[k] < -r || axes[k] >= r) return PQ_OK; /* invalid: leave it to the executor */
        if (axes[k] < 0) {
            axes[k] += r;
            neg = 1;
        }
    }
    if (!neg) return PQ_OK;
    (*n_axes)++;
    if (!from_input) return pq_op_set_ints(op, "axes", axes, n, err);
    pq_tensor *t = NULL;
    pq_status st = ints_tensor(axes, n, &t, err);
    if (st != PQ_OK) return st;
    return pq__set_param_input(g, op, 1, t, "axes", err);
}

/* ------------------------------------------------------------------ the pass */

pq_status pq_pass_normalize(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    pq_ptrvec ops = {0};
    int64_t n_conv = -1, n_relu = 0, n_clip = 0, n_axes = 0;
    if (!res) res = &local;
    pq__result_begin(res, "normalize", g);
    PQ_TRY(upgrade_opset(g, res, &n_conv, err));
    if (n_conv > 0) res->changes += n_conv;
    /* Shapes (dtype and rank) are needed only for Min/Max with a constant operand and for
     * negative axes: trace only then. */
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *o = g->ops.items[k];
        int64_t axes[PQ_MAX_RANK], n = 0;
        int from_input, need = 0;
        if ((pq_op_is(o, "Max") || pq_op_is(o, "Min")) && o->n_inputs == 2 &&
            ((o->inputs[0] && o->inputs[0]->value) || (o->inputs[1] && o->inputs[1]->value)))
            need = 1;
        if (pq__op_is_any(o, axes_ops) && read_axes(o, axes, &n, &from_input))
            for (int64_t a = 0; a < n; a++) need |= axes[a] < 0;
        if (need) {
            PQ_TRY(pq__ensure_shapes(g, NULL, err));
            break;
        }
    }
    for (int pairs = 1; pairs >= 0; pairs--) {
        ops.n = 0;
        for (int64_t k = 0; k < g->ops.n; k++) PQ_TRY(pq_ptrvec_push(&ops, g->ops.items[k], err));
        for (int64_t k = 0; k < ops.n; k++) {
            pq_op *op = ops.items[k];
            /* Removed as part of a pair (a new op reusing the address is checked like any). */
            if (pq_ptrvec_find(&g->ops, op) < 0) continue;
            PQ_TRY(relu_forms(g, op, pairs, res, &n_relu, &n_clip, err));
        }
    }
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!pq__op_is_any(op, axes_ops)) continue;
        int64_t before = n_axes;
        PQ_TRY(positive_axes(g, op, &n_axes, err));
        res->changes += n_axes - before;
    }
    pq__result_note(res, "%" PRId64 " Relu and %" PRId64 " Clip from Min/Max/Clip forms, %" PRId64
                    " ops with negative axes made non-negative", n_relu, n_clip, n_axes);
fail:
    pq_ptrvec_free(&ops);
    pq__result_end(res, g, t0);
    return st;
}

/* qdq.c - QDQ ONNX export: QuantizeLinear/DequantizeLinear pairs on a deep copy of the graph
 * (ONNX Runtime's QDQ format, also TensorRT's explicit-quantization input). */
#include "export_internal.h"
#include "pq_onnx.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ONNX QuantizeLinear/DequantizeLinear-10 take per-tensor scales; the `axis` attribute
 * (per-channel) is from opset 13 (onnx/defs/quantization/defs.cc). */
#define QDQ_MIN_OPSET 10
#define QDQ_AXIS_OPSET 13
/* Operators the passes create from newer opsets than the model's (src/passes
 * fuse_transformer.c): LayerNormalization is ai.onnx from opset 17, Gelu from opset 20
 * (onnx/defs/operator_sets.h). */
#define LAYERNORM_OPSET 17
#define GELU_OPSET 20

/* The ONNX IR version an ai.onnx opset needs (onnx/helper.py VERSION_TABLE: 1.8 opset 13 ->
 * IR 7, 1.10 opset 15 -> IR 8, 1.14 opset 19 -> IR 9). */
static int64_t ir_for_opset(int64_t opset)
{
    return opset >= 19 ? 9 : opset >= 15 ? 8 : 7;
}

void pq_qdq_options_init(pq_qdq_options *o)
{
    o->weights = PQ_QDQ_WEIGHTS_INT8;
    o->allow_opset_upgrade = 1;
}

/* How one exported TQC becomes Q/DQ: the resolved TQC plus the integer type and axis. */
typedef struct qparams {
    const pq_tqc *t;
    pq_dtype qtype;        /* UINT8, INT8 or INT32 (bias) */
    int per_channel;
    int axis;              /* non-negative; per-channel only */
} qparams;

/* One Q/DQ chain made for a variable: readers with equal parameters share it. */
typedef struct qgroup {
    pq_var *src;
    qparams p;
    pq_var *dq;            /* the dequantized variable readers read */
    int64_t prev;          /* previous group of the same source, -1 */
} qgroup;

typedef struct qdq_ctx {
    pq_graph *g;
    const pq_qdq_options *opts;
    qgroup *groups;
    int64_t n_groups, cap_groups;
    pq_strmap last_group;  /* var name -> (index + 1) of its last group, cast to a pointer */
    char name[1100];
} qdq_ctx;

static int is_default_domain(const pq_op *op)
{
    return !op->domain || !op->domain[0] || strcmp(op->domain, "ai.onnx") == 0;
}

static int qp_equal(const qparams *a, const qparams *b)
{
    const pq_tqc *x = a->t, *y = b->t;
    if (x == y) return 1;
    if (a->qtype != b->qtype || a->per_channel != b->per_channel) return 0;
    if (a->per_channel && a->axis != b->axis) return 0;
    if (x->n_channels != y->n_channels || x->quant_min != y->quant_min ||
        x->quant_max != y->quant_max || x->rounding != y->rounding)
        return 0;
    size_t bytes = (size_t)x->n_channels * sizeof(float);
    return memcmp(x->scale, y->scale, bytes) == 0 && memcmp(x->offset, y->offset, bytes) == 0;
}

/* A name not used by an op (for_op) or a variable: base, base_1, base_2, ... */
static const char *unique(qdq_ctx *c, int for_op, const char *base)
{
    const pq_strmap *m = for_op ? &c->g->op_by_name : &c->g->var_by_name;
    snprintf(c->name, sizeof c->name, "%.1000s", base);
    for (int64_t k = 1; pq_strmap_get(m, c->name); k++)
        snprintf(c->name, sizeof c->name, "%.1000s_%" PRId64, base, k);
    return c->name;
}

static const char *slot_kind(int is_input) { return is_input ? "input" : "output"; }

/* Fills p for the exported TQC r of op's slot on variable v. */
static pq_status make_qparams(const pq_op *op, int is_input, int idx, const pq_tqc *r,
                              const pq_tqc *own, const pq_var *v, qparams *p, pq_err *err)
{
    pq_status st = PQ_OK;
    const char *kind = slot_kind(is_input);
    memset(p, 0, sizeof *p);
    p->t = r;
    int passive = own->state == PQ_TQC_STATE_PASSIVE || own->state == PQ_TQC_STATE_PASSIVE_BAKED;
    if (passive && pq_var_is_parameter(v) && !pq_graph_is_input(op->graph, v)) {
        PQ_CHECK(r->quant_min >= INT32_MIN && r->quant_max <= INT32_MAX, PQ_ERR_UNSUPPORTED,
                 "op '%s' (%s) %s %d: passive range [%lld, %lld] does not fit int32",
                 op->name, op->type, kind, idx, (long long)r->quant_min,
                 (long long)r->quant_max);
        p->qtype = PQ_DTYPE_INT32;
    } else if (r->quant_min >= 0 && r->quant_max <= 255) {
        p->qtype = PQ_DTYPE_UINT8;
    } else if (r->quant_min >= -128 && r->quant_max <= 127) {
        p->qtype = PQ_DTYPE_INT8;
    } else {
        PQ_CHECK(0, PQ_ERR_UNSUPPORTED,
                 "op '%s' (%s) %s %d: range [%lld, %lld] (%d bits) fits neither int8 nor uint8",
                 op->name, op->type, kind, idx, (long long)r->quant_min,
                 (long long)r->quant_max, r->num_bits);
    }
    p->per_channel = (r->policy & PQ_QPOLICY_PER_CHANNEL) || r->n_channels > 1;
    if (p->per_channel) {
        int axis = r->channel_axis;
        if (v->rank >= 0 && axis < 0) axis += v->rank;
        PQ_CHECK(axis >= 0 && (v->rank < 0 || axis < v->rank), PQ_ERR_INVALID,
                 "op '%s' (%s) %s %d: channel axis %d out of range for '%s' (rank %d)",
                 op->name, op->type, kind, idx, r->channel_axis, v->name, v->rank);
        PQ_CHECK(v->rank < 0 || v->dims[axis] < 0 || v->dims[axis] == r->n_channels,
                 PQ_ERR_INVALID,
                 "op '%s' (%s) %s %d: %lld channel scales but '%s' has %lld along axis %d",
                 op->name, op->type, kind, idx, (long long)r->n_channels, v->name,
                 (long long)v->dims[axis], axis);
        p->axis = axis;
    }
    if (p->qtype != PQ_DTYPE_INT32 && !pq_var_is_parameter(v) &&
        r->rounding != PQ_ROUND_HALF_EVEN)
        pq_log(PQ_LOG_WARN,
               "QDQ export: op '%s' %s %d: rounding %s on an activation; ONNX QuantizeLinear "
               "rounds half to even",
               op->name, kind, idx, pq__export_rounding_name(r->rounding));
fail:
    return st;
}

/* Scale and zero-point initializers of p (scale_vals overrides the TQC's scales). */
static pq_status make_scale_zp(qdq_ctx *c, const char *base, const qparams *p,
                               pq_var **sv, pq_var **zv, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *s = NULL, *z = NULL;
    char nm[1100];
    int64_t n = p->t->n_channels;
    int rank = p->per_channel ? 1 : 0;
    PQ_TRY(pq_tensor_create(PQ_DTYPE_FLOAT32, rank, &n, &s, err));
    PQ_TRY(pq_tensor_create(p->qtype, rank, &n, &z, err));
    for (int64_t k = 0; k < s->numel; k++) {
        PQ_DATA(s, float)[k] = p->t->scale[k];
        double zp = nearbyint((double)p->t->offset[k]);
        if (p->qtype == PQ_DTYPE_UINT8) PQ_DATA(z, uint8_t)[k] = (uint8_t)zp;
        else if (p->qtype == PQ_DTYPE_INT8) PQ_DATA(z, int8_t)[k] = (int8_t)zp;
        else PQ_DATA(z, int32_t)[k] = (int32_t)zp;
    }
    snprintf(nm, sizeof nm, "%.900s_scale", base);
    st = pq_graph_create_parameter(c->g, unique(c, 0, nm), s, sv, err);
    s = NULL;
    PQ_TRY(st);
    snprintf(nm, sizeof nm, "%.900s_zero_point", base);
    st = pq_graph_create_parameter(c->g, unique(c, 0, nm), z, zv, err);
    z = NULL;
    PQ_TRY(st);
fail:
    pq_tensor_destroy(&s);
    pq_tensor_destroy(&z);
    return st;
}

static pq_status new_op(qdq_ctx *c, const char *type, const char *base, const qparams *p,
                        pq_op **out, pq_err *err)
{
    pq_status st = PQ_OK;
    char nm[1100];
    snprintf(nm, sizeof nm, "%.900s_%.60s", base, type);
    PQ_TRY(pq_graph_create_op(c->g, type, unique(c, 1, nm), NULL, 0, out, err));
    if (p->per_channel) PQ_TRY(pq_op_set_int(*out, "axis", p->axis, err));
fail:
    return st;
}

static pq_status new_var(qdq_ctx *c, const char *base, const char *suffix, pq_dtype dt,
                         const pq_var *like, pq_var **out, pq_err *err)
{
    char nm[1100];
    snprintf(nm, sizeof nm, "%.900s_%.60s", base, suffix);
    pq_status st = pq_graph_create_var(c->g, unique(c, 0, nm), out, err);
    if (st == PQ_OK) pq_var_set_shape(*out, dt, like->rank, like->dims);
    return st;
}

static pq_status push_group(qdq_ctx *c, pq_var *src, const qparams *p, pq_var *dq, pq_err *err)
{
    if (c->n_groups == c->cap_groups) {
        int64_t nc = c->cap_groups ? c->cap_groups * 2 : 64;
        qgroup *ng = pq_realloc(c->groups, (size_t)nc * sizeof *ng);
        if (!ng) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
        c->groups = ng;
        c->cap_groups = nc;
    }
    intptr_t last = (intptr_t)pq_strmap_get(&c->last_group, src->name);
    c->groups[c->n_groups] = (qgroup){src, *p, dq, (int64_t)last - 1};
    c->n_groups++;
    return pq_strmap_put(&c->last_group, src->name, (void *)(intptr_t)c->n_groups, err);
}

static pq_var *find_group(const qdq_ctx *c, const pq_var *src, const qparams *p)
{
    intptr_t last = (intptr_t)pq_strmap_get(&c->last_group, src->name);
    for (int64_t k = (int64_t)last - 1; k >= 0; k = c->groups[k].prev)
        if (c->groups[k].src == src && qp_equal(&c->groups[k].p, p)) return c->groups[k].dq;
    return NULL;
}

/* src -> QuantizeLinear -> DequantizeLinear -> *dq (new variables), for an activation or a
 * float weight. */
static pq_status add_qdq_chain(qdq_ctx *c, pq_var *src, const qparams *p, pq_var **dq,
                               pq_err *err)
{
    pq_status st = PQ_OK;
    pq_var *sv = NULL, *zv = NULL, *qv = NULL;
    pq_op *q = NULL, *d = NULL;
    PQ_TRY(make_scale_zp(c, src->name, p, &sv, &zv, err));
    PQ_TRY(new_op(c, "QuantizeLinear", src->name, p, &q, err));
    PQ_TRY(new_op(c, "DequantizeLinear", src->name, p, &d, err));
    PQ_TRY(new_var(c, src->name, "quantized", p->qtype, src, &qv, err));
    PQ_TRY(new_var(c, src->name, "dequantized", PQ_DTYPE_FLOAT32, src, dq, err));
    PQ_TRY(pq_graph_add_input(c->g, q, src, err));
    PQ_TRY(pq_graph_add_input(c->g, q, sv, err));
    PQ_TRY(pq_graph_add_input(c->g, q, zv, err));
    PQ_TRY(pq_graph_add_output(c->g, q, qv, err));
    PQ_TRY(pq_graph_add_input(c->g, d, qv, err));
    PQ_TRY(pq_graph_add_input(c->g, d, sv, err));
    PQ_TRY(pq_graph_add_input(c->g, d, zv, err));
    PQ_TRY(pq_graph_add_output(c->g, d, *dq, err));
fail:
    return st;
}

/* A parameter stored quantized (int8/uint8 weight or int32 bias) -> DequantizeLinear -> *dq. */
static pq_status add_dq_param(qdq_ctx *c, const pq_op *op, int idx, pq_var *src,
                              const qparams *p, pq_var **dq, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *qt = NULL;
    pq_var *sv = NULL, *zv = NULL, *qv = NULL;
    pq_op *d = NULL;
    const pq_tensor *w = src->value;
    const pq_tqc *t = p->t;
    char nm[1100];
    PQ_CHECK(w->dtype == PQ_DTYPE_FLOAT32, PQ_ERR_UNSUPPORTED,
             "op '%s' (%s) input %d: parameter '%s' is %s, only float32 can be quantized",
             op->name, op->type, idx, src->name, pq_dtype_name(w->dtype));
    PQ_TRY(pq_tensor_create_uninit(p->qtype, w->rank, w->dims, &qt, err));
    int64_t inner = 1, nch = 1;
    if (p->per_channel) {
        PQ_CHECK(p->axis < w->rank && w->dims[p->axis] == t->n_channels, PQ_ERR_INVALID,
                 "op '%s' (%s) input %d: %lld channel scales for '%s' of shape %s",
                 op->name, op->type, idx, (long long)t->n_channels, src->name,
                 pq_shape_str(w->rank, w->dims, nm, sizeof nm));
        for (int k = p->axis + 1; k < w->rank; k++) inner *= w->dims[k];
        nch = t->n_channels;
    }
    const float *x = PQ_DATA(w, const float);
    for (int64_t i = 0; i < w->numel; i++) {
        int64_t ch = p->per_channel ? (i / inner) % nch : 0;
        int64_t q = pq__export_quantize(x[i], t->scale[ch], t->offset[ch], t->rounding,
                                        t->quant_min, t->quant_max);
        if (p->qtype == PQ_DTYPE_UINT8) PQ_DATA(qt, uint8_t)[i] = (uint8_t)q;
        else if (p->qtype == PQ_DTYPE_INT8) PQ_DATA(qt, int8_t)[i] = (int8_t)q;
        else PQ_DATA(qt, int32_t)[i] = (int32_t)q;
    }
    snprintf(nm, sizeof nm, "%.900s_quantized", src->name);
    st = pq_graph_create_parameter(c->g, unique(c, 0, nm), qt, &qv, err);
    qt = NULL;
    PQ_TRY(st);
    PQ_TRY(make_scale_zp(c, src->name, p, &sv, &zv, err));
    PQ_TRY(new_op(c, "DequantizeLinear", src->name, p, &d, err));
    PQ_TRY(new_var(c, src->name, "dequantized", PQ_DTYPE_FLOAT32, src, dq, err));
    PQ_TRY(pq_graph_add_input(c->g, d, qv, err));
    PQ_TRY(pq_graph_add_input(c->g, d, sv, err));
    PQ_TRY(pq_graph_add_input(c->g, d, zv, err));
    PQ_TRY(pq_graph_add_output(c->g, d, *dq, err));
fail:
    pq_tensor_destroy(&qt);
    return st;
}

/* op's output j: producer -> new var -> Q -> new var -> DQ -> original variable (which keeps
 * its name, readers and graph-output status). */
static pq_status qdq_on_output(qdq_ctx *c, pq_op *op, int j, const qparams *p, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_var *v = op->outputs[j], *sv = NULL, *zv = NULL;
    pq_op *q = NULL, *d = NULL;
    PQ_TRY(make_scale_zp(c, v->name, p, &sv, &zv, err));
    PQ_TRY(new_op(c, "QuantizeLinear", v->name, p, &q, err));
    PQ_TRY(new_op(c, "DequantizeLinear", v->name, p, &d, err));
    PQ_TRY(pq_graph_insert_op_after(c->g, q, op, j, err));
    PQ_TRY(pq_graph_add_input(c->g, q, sv, err));
    PQ_TRY(pq_graph_add_input(c->g, q, zv, err));
    pq_var_set_shape(op->outputs[j], v->dtype, v->rank, v->dims);
    PQ_TRY(pq_graph_insert_op_after(c->g, d, q, 0, err));
    PQ_TRY(pq_graph_add_input(c->g, d, sv, err));
    PQ_TRY(pq_graph_add_input(c->g, d, zv, err));
    pq_var_set_shape(q->outputs[0], p->qtype, v->rank, v->dims);
    PQ_TRY(push_group(c, v, p, v, err));
fail:
    return st;
}

/* Bias = s_in * s_w: the scale ONNX Runtime's fused QLinearConv/QGemm assumes for an int32
 * bias. A PASSIVE bias TQC whose scale differs would run differently fused and unfused. */
static pq_status check_bias_scale(const pq_op *op, int idx, const pq_tqc *b, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tqc *tin = NULL, *tw = NULL;
    if (idx != 2 || !(pq_op_is(op, "Conv") || pq_op_is(op, "ConvTranspose") ||
                      pq_op_is(op, "Gemm")))
        return PQ_OK;
    PQ_TRY(pq__export_tqc(op, 1, 0, &tin, err));
    PQ_TRY(pq__export_tqc(op, 1, 1, &tw, err));
    PQ_CHECK(tin && tw, PQ_ERR_INVALID,
             "op '%s' (%s) input 2: int32 bias needs quantized input and weight", op->name,
             op->type);
    PQ_CHECK(tin->n_channels == 1, PQ_ERR_UNSUPPORTED,
             "op '%s' (%s): per-channel input scales with an int32 bias", op->name, op->type);
    PQ_CHECK(b->n_channels == tw->n_channels || b->n_channels == 1 || tw->n_channels == 1,
             PQ_ERR_INVALID, "op '%s' (%s) input 2: %lld bias scales for %lld weight scales",
             op->name, op->type, (long long)b->n_channels, (long long)tw->n_channels);
    int64_t n = b->n_channels > tw->n_channels ? b->n_channels : tw->n_channels;
    for (int64_t k = 0; k < n; k++) {
        float want = tin->scale[0] * tw->scale[tw->n_channels == 1 ? 0 : k];
        float have = b->scale[b->n_channels == 1 ? 0 : k];
        PQ_CHECK(fabsf(have - want) <= 1e-6f * want, PQ_ERR_INVALID,
                 "op '%s' (%s) input 2: bias scale[%lld] = %.9g but s_in * s_w = %.9g",
                 op->name, op->type, (long long)k, (double)have, (double)want);
        PQ_CHECK(b->offset[b->n_channels == 1 ? 0 : k] == 0.0f, PQ_ERR_INVALID,
                 "op '%s' (%s) input 2: bias zero point must be 0", op->name, op->type);
    }
fail:
    return st;
}

/* Input i of op with exported TQC. */
static pq_status qdq_on_input(qdq_ctx *c, pq_op *op, int i, const qparams *p, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_var *v = op->inputs[i], *dq = find_group(c, v, p);
    if (dq == v) return PQ_OK; /* the producer's output Q/DQ already applies */
    if (!dq) {
        int param = pq_var_is_parameter(v) && !pq_graph_is_input(c->g, v);
        if (param && p->qtype == PQ_DTYPE_INT32) PQ_TRY(check_bias_scale(op, i, p->t, err));
        if (param && (p->qtype == PQ_DTYPE_INT32 || c->opts->weights == PQ_QDQ_WEIGHTS_INT8))
            PQ_TRY(add_dq_param(c, op, i, v, p, &dq, err));
        else
            PQ_TRY(add_qdq_chain(c, v, p, &dq, err));
        PQ_TRY(push_group(c, v, p, dq, err));
    }
    PQ_TRY(pq_graph_set_input(c->g, op, i, dq, err));
fail:
    return st;
}

/* Why op would change meaning if the model's ai.onnx opset were raised from op->opset to
 * target; NULL when it would not. Schema changes from onnx/defs/operator_sets.h: attributes
 * that became inputs, Softmax-13 axis semantics, removed or renamed forms. Changes that only
 * add types, optional inputs or attributes whose default keeps the old behaviour (Reshape-14
 * allowzero, Pad-18 axes, Resize-18/19 modes, Scatter* reductions, Shape-15 start/end,
 * BatchNormalization-14/15 training_mode, AveragePool-19 dilations, Cast-19 saturate,
 * RNN-14 layout) do not block. */
static const char *upgrade_blocker(const pq_op *op, int target)
{
    const int v = op->opset;
#define CROSSES(x) (v < (x) && target >= (x))
    if (!is_default_domain(op)) return NULL;
    for (int a = 0; a < op->n_attrs; a++)
        if (op->attrs[a].type == PQ_ATTR_GRAPH || op->attrs[a].type == PQ_ATTR_GRAPHS)
            return "it has a subgraph";
    if (v >= target) return NULL;
    if (v < 7) return "its opset is below 7";
    if (pq_op_is(op, "Clip") && CROSSES(11)) return "Clip min/max are inputs from opset 11";
    if (pq_op_is(op, "Dropout") && CROSSES(12) && pq_op_find_attr(op, "ratio"))
        return "Dropout ratio is an input from opset 12";
    if ((pq_op_is(op, "Squeeze") || pq_op_is(op, "Unsqueeze") || pq_op_is(op, "ReduceSum")) &&
        CROSSES(13) && pq_op_find_attr(op, "axes"))
        return "axes is an input from opset 13";
    if (pq_op_is(op, "Split") && CROSSES(13) && pq_op_find_attr(op, "split"))
        return "split is an input from opset 13";
    if ((pq_op_is(op, "Softmax") || pq_op_is(op, "LogSoftmax") || pq_op_is(op, "Hardmax")) &&
        CROSSES(13))
        return "the axis semantics change at opset 13";
    if (pq_op_is(op, "BatchNormalization") && CROSSES(9) && pq_op_find_attr(op, "spatial"))
        return "the spatial attribute is gone from opset 9";
    if ((pq_op_is(op, "Slice") || pq_op_is(op, "TopK")) && CROSSES(10))
        return "its attributes are inputs from opset 10";
    if ((pq_op_is(op, "Pad") || pq_op_is(op, "Resize")) && CROSSES(11))
        return "its attributes are inputs from opset 11";
    if ((pq_op_is(op, "Upsample") || pq_op_is(op, "Scatter")) && CROSSES(10))
        return "the operator is deprecated";
    if ((pq_op_is(op, "Max") || pq_op_is(op, "Min") || pq_op_is(op, "Sum") ||
         pq_op_is(op, "Mean")) && CROSSES(8))
        return "broadcasting changes at opset 8";
    if ((pq_op_is(op, "ReduceMax") || pq_op_is(op, "ReduceMin") || pq_op_is(op, "ReduceMean") ||
         pq_op_is(op, "ReduceProd") || pq_op_is(op, "ReduceL1") || pq_op_is(op, "ReduceL2") ||
         pq_op_is(op, "ReduceLogSum") || pq_op_is(op, "ReduceLogSumExp") ||
         pq_op_is(op, "ReduceSumSquare")) &&
        CROSSES(18) && pq_op_find_attr(op, "axes"))
        return "axes is an input from opset 18";
    /* Split-18 wants a split input or num_outputs; an equal split by output count has
     * neither. */
    if (pq_op_is(op, "Split") && CROSSES(18) && (op->n_inputs < 2 || !op->inputs[1]))
        return "Split-18 needs a split input or num_outputs";
    if (pq_op_is(op, "DFT") && CROSSES(20)) return "axis is an input from opset 20";
    if (pq_op_is(op, "GridSample") && CROSSES(20))
        return "the mode values are renamed at opset 20";
#undef CROSSES
    return NULL;
}

/* The first op that blocks raising g's ai.onnx opset to target, or NULL. */
static const pq_op *first_blocker(const pq_graph *g, int target, const char **why)
{
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        *why = upgrade_blocker(op, target);
        if (*why) return op;
    }
    return NULL;
}

static pq_status ensure_opset(qdq_ctx *c, int target, const char *why_op, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_graph *g = c->g;
    int64_t v = pq_graph_opset(g, "");
    const char *why = NULL;
    if (v >= target) return PQ_OK;
    PQ_CHECK(c->opts->allow_opset_upgrade, PQ_ERR_UNSUPPORTED,
             "the model's ai.onnx opset is %" PRId64 " but %s needs opset %d (upgrade not "
             "allowed by the options)",
             v, why_op, target);
    const pq_op *b = first_blocker(g, target, &why);
    PQ_CHECK(!b, PQ_ERR_UNSUPPORTED,
             "the model's ai.onnx opset is %" PRId64 " but %s needs opset %d; op '%s' (%s, "
             "opset %d) blocks the upgrade: %s (the normalize pass converts attribute forms)",
             v, why_op, target, b ? b->name : "", b ? b->type : "", b ? b->opset : 0,
             why ? why : "");
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (is_default_domain(op)) op->opset = target;
    }
    PQ_TRY(pq_graph_set_opset(g, "", target, err));
    if (g->ir_version < ir_for_opset(target)) g->ir_version = ir_for_opset(target);
fail:
    return st;
}

/* Turns every ai.onnx Gelu into ONNX Runtime's contrib op (domain com.microsoft, opset 1):
 * Gelu for the exact (erf) form, FastGelu for approximate "tanh" (the same formula,
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))). For a model whose opset cannot be raised
 * to 20. */
static pq_status gelu_to_contrib(pq_graph *g, pq_err *err)
{
    pq_status st = PQ_OK;
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!is_default_domain(op) || !pq_op_is(op, "Gelu")) continue;
        const pq_attr *a = pq_op_find_attr(op, "approximate");
        int tanh_form = a && a->type == PQ_ATTR_STRING && a->s && strcmp(a->s, "tanh") == 0;
        PQ_CHECK(!a || tanh_form || (a->type == PQ_ATTR_STRING && a->s && strcmp(a->s, "none") == 0),
                 PQ_ERR_UNSUPPORTED, "op '%s' (Gelu): approximate must be 'none' or 'tanh'",
                 op->name);
        char *dom = pq_strdup("com.microsoft"), *type = pq_strdup(tanh_form ? "FastGelu" : "Gelu");
        if (!dom || !type) {
            pq_free(dom);
            pq_free(type);
            PQ_CHECK(0, PQ_ERR_NOMEM, "out of memory");
        }
        pq_free(op->domain);
        pq_free(op->type);
        op->domain = dom;
        op->type = type;
        op->opset = 1;
        pq_op_remove_attr(op, "approximate");
        if (pq_graph_opset(g, "com.microsoft") < 1)
            PQ_TRY(pq_graph_set_opset(g, "com.microsoft", 1, err));
    }
fail:
    return st;
}

/* The ai.onnx opset the graph's own operators need (LayerNormalization, Gelu), and the first
 * op that needs it (for messages). */
static int ops_opset(const pq_graph *g, int with_gelu, const pq_op **who)
{
    int need = 0;
    *who = NULL;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        int m = 0;
        if (!is_default_domain(op)) continue;
        if (pq_op_is(op, "LayerNormalization")) m = LAYERNORM_OPSET;
        else if (with_gelu && pq_op_is(op, "Gelu")) m = GELU_OPSET;
        if (m > need) {
            need = m;
            *who = op;
        }
    }
    return need;
}

/* The opset the exported TQCs need, and the op that needs it (for messages). */
static pq_status needed_opset(const pq_graph *g, int *need, char *why, size_t cap, pq_err *err)
{
    pq_status st = PQ_OK;
    *need = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        for (int side = 0; side < 2; side++) {
            int n = side ? op->n_outputs : op->n_inputs;
            for (int i = 0; i < n; i++) {
                const pq_tqc *r = NULL;
                PQ_TRY(pq__export_tqc(op, !side, i, &r, err));
                if (!r) continue;
                int want = ((r->policy & PQ_QPOLICY_PER_CHANNEL) || r->n_channels > 1)
                               ? QDQ_AXIS_OPSET : QDQ_MIN_OPSET;
                if (want > *need) {
                    *need = want;
                    snprintf(why, cap, "the %s scales of op '%s' %s %d",
                             want == QDQ_AXIS_OPSET ? "per-channel" : "quantized", op->name,
                             slot_kind(!side), i);
                }
            }
        }
    }
fail:
    return st;
}

pq_status pq_export_qdq_graph(const pq_graph *src, const pq_qdq_options *opts, pq_graph **out,
                              pq_err *err)
{
    pq_status st = PQ_OK;
    pq_qdq_options dflt;
    qdq_ctx c;
    char why[1200] = "";
    memset(&c, 0, sizeof c);
    *out = NULL;
    if (!opts) {
        pq_qdq_options_init(&dflt);
        opts = &dflt;
    }
    c.opts = opts;
    int need = 0;
    PQ_TRY(needed_opset(src, &need, why, sizeof why, err));
    PQ_TRY(pq_graph_copy(src, 1, &c.g, err));
    {
        /* Q/DQ below the model's opset: raise to 13. Operators of newer opsets than the
         * model's: raise to theirs when every other op keeps its meaning; Gelu otherwise
         * becomes ONNX Runtime's com.microsoft form. */
        int target = need && pq_graph_opset(c.g, "") < need ? QDQ_AXIS_OPSET : 0;
        const pq_op *who = NULL;
        const char *bwhy = NULL;
        int ops_need = ops_opset(c.g, 1, &who);
        if (ops_need > pq_graph_opset(c.g, "") && ops_need == GELU_OPSET &&
            (!opts->allow_opset_upgrade ||
             first_blocker(c.g, ops_need > target ? ops_need : target, &bwhy) != NULL)) {
            PQ_TRY(gelu_to_contrib(c.g, err));
            ops_need = ops_opset(c.g, 0, &who);
        }
        if (ops_need > target) {
            target = ops_need;
            snprintf(why, sizeof why, "op '%s' (%s)", who->name, who->type);
        }
        if (target) PQ_TRY(ensure_opset(&c, target, why, err));
    }
    int64_t n0 = c.g->ops.n;
    /* Outputs first: a reader whose input TQC equals the producer's reads the same pair. */
    for (int64_t k = 0; k < n0; k++) {
        pq_op *op = c.g->ops.items[k];
        if (!op->qconfig) continue;
        for (int j = 0; j < op->n_outputs; j++) {
            const pq_tqc *r = NULL;
            qparams p;
            if (!op->outputs[j]) continue;
            PQ_TRY(pq__export_tqc(op, 0, j, &r, err));
            if (!r) continue;
            PQ_TRY(make_qparams(op, 0, j, r, &op->qconfig->outputs[j], op->outputs[j], &p, err));
            PQ_TRY(qdq_on_output(&c, op, j, &p, err));
        }
    }
    for (int64_t k = 0; k < n0; k++) {
        pq_op *op = c.g->ops.items[k];
        if (!op->qconfig) continue;
        for (int i = 0; i < op->n_inputs; i++) {
            const pq_tqc *r = NULL;
            qparams p;
            if (!op->inputs[i]) continue;
            PQ_TRY(pq__export_tqc(op, 1, i, &r, err));
            if (!r) continue;
            PQ_TRY(make_qparams(op, 1, i, r, &op->qconfig->inputs[i], op->inputs[i], &p, err));
            PQ_TRY(qdq_on_input(&c, op, i, &p, err));
        }
    }
    /* Float parameters that only quantized readers used are gone from the model. */
    for (int64_t k = c.g->vars.n - 1; k >= 0; k--) {
        pq_var *v = c.g->vars.items[k];
        if (pq_var_is_parameter(v) && v->dest_ops.n == 0 && !pq_graph_is_output(c.g, v) &&
            !pq_graph_is_input(c.g, v) && pq_strmap_get(&c.last_group, v->name))
            PQ_TRY(pq_graph_remove_var(c.g, v, err));
    }
    /* The exported model carries no quantization configs (its Q/DQ ops are the config). */
    for (int64_t k = 0; k < c.g->ops.n; k++) pq_op_qconfig_destroy(c.g->ops.items[k]);
    PQ_TRY(pq_graph_topological_sort(c.g, err));
    PQ_TRY(pq_graph_validate(c.g, err));
    *out = c.g;
    c.g = NULL;
fail:
    if (st != PQ_OK) pq_err_prefix(err, "QDQ export");
    pq_free(c.groups);
    pq_strmap_free(&c.last_group);
    pq_graph_destroy(&c.g);
    return st;
}

pq_status pq_export_qdq_onnx(const pq_graph *g, const pq_qdq_options *opts, const char *path,
                             pq_err *err)
{
    pq_status st = PQ_OK;
    pq_graph *q = NULL;
    st = pq_export_qdq_graph(g, opts, &q, err);
    if (st == PQ_OK) st = pq_onnx_save(q, path, err);
    if (st != PQ_OK) pq_err_prefix(err, "%s", path);
    pq_graph_destroy(&q);
    return st;
}

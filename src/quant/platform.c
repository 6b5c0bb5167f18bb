/* platform.c - the platform table and the quantizer that turns a platform's rules into
 * TQCs on every operation dispatched to it (PPQ's BaseQuantizer.init_quantize_config). */
#include "quant_internal.h"
#include "platform/platform_list.h"

#include <inttypes.h>

#define PQ__DECL(n) extern const pq_platform pq__platform_##n;
PQ__PLATFORMS(PQ__DECL)
#undef PQ__DECL

#define PQ__ADDR(n) &pq__platform_##n,
static const pq_platform *const all_platforms[] = {PQ__PLATFORMS(PQ__ADDR)};
#undef PQ__ADDR
#define N_PLATFORMS ((int)(sizeof all_platforms / sizeof all_platforms[0]))

const pq_platform *pq_platform_find(const char *name)
{
    if (!name) return NULL;
    for (int k = 0; k < N_PLATFORMS; k++)
        if (strcmp(all_platforms[k]->name, name) == 0) return all_platforms[k];
    return NULL;
}

const pq_platform *pq_platform_by_id(int id)
{
    for (int k = 0; k < N_PLATFORMS; k++)
        if (all_platforms[k]->id == id) return all_platforms[k];
    return NULL;
}

const pq_platform *const *pq_platform_list(int *n)
{
    if (n) *n = N_PLATFORMS;
    return all_platforms;
}

const char *pq_platform_name(const pq_platform *p) { return p ? p->name : "unset"; }
int pq_platform_id_of(const pq_platform *p) { return p ? p->id : PQ_PLATFORM_UNSET; }

const char *pq_platform_id_name(int id)
{
    if (id == PQ_PLATFORM_UNSET) return "unset";
    if (id == PQ_PLATFORM_SOI) return "soi";
    const pq_platform *p = pq_platform_by_id(id);
    return p ? p->name : "unknown";
}

int pq_platform_quantizes_type(const pq_platform *p, const char *op_type)
{
    return p && (p->flags & PQ__PLAT_QUANTIZED) && pq__type_in(op_type, p->quant_types);
}

pq_align_mode pq_platform_concat_alignment(const pq_platform *p)
{
    return p ? p->concat_align : PQ_ALIGN_NONE;
}

pq_align_mode pq_platform_elementwise_alignment(const pq_platform *p)
{
    return p ? p->elementwise_align : PQ_ALIGN_NONE;
}

/* ------------------------------------------------------------------ the quantizer */

static void set_act(const pq_platform *p, pq_tqc *q)
{
    q->policy = p->act_policy;
    q->rounding = p->act_rounding;
    q->num_bits = p->act_bits;
    q->quant_min = p->act_min;
    q->quant_max = p->act_max;
    q->channel_axis = 0;
    snprintf(q->observer, sizeof q->observer, "%s", p->act_observer ? p->act_observer : "minmax");
    q->state = PQ_TQC_STATE_INITIAL;
    q->dominator = NULL;
    q->visibility = PQ_TQC_EXPORT_WHEN_ACTIVE;
}

static int var_is_float_or_unknown(const pq_var *v)
{
    if (v->value) return v->value->dtype == PQ_DTYPE_FLOAT32;
    return v->dtype == PQ_DTYPE_UNDEFINED || v->dtype == PQ_DTYPE_FLOAT32;
}

static int has_weight_slot(const pq_op *op)
{
    return pq_op_is(op, "Conv") || pq_op_is(op, "ConvTranspose") || pq_op_is(op, "Gemm") ||
           pq_op_is(op, "MatMul");
}

static int has_bias_slot(const pq_op *op)
{
    return pq_op_is(op, "Conv") || pq_op_is(op, "ConvTranspose") || pq_op_is(op, "Gemm");
}

static void set_weight(const pq_platform *p, const pq_op *op, pq_tqc *q)
{
    q->num_bits = p->w_bits;
    q->quant_min = p->w_min;
    q->quant_max = p->w_max;
    q->rounding = p->w_rounding;
    snprintf(q->observer, sizeof q->observer, "minmax");
    int axis = pq__weight_channel_axis(op);
    unsigned base = p->w_policy & ~(unsigned)(PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_PER_TENSOR);
    if ((p->w_policy & PQ_QPOLICY_PER_CHANNEL) && axis >= 0 &&
        pq__type_in(op->type, p->w_per_channel_types)) {
        q->policy = base | PQ_QPOLICY_PER_CHANNEL;
        q->channel_axis = axis;
    } else {
        q->policy = base | PQ_QPOLICY_PER_TENSOR;
        q->channel_axis = 0;
    }
}

static void set_bias(const pq_platform *p, const pq_tqc *w, pq_tqc *q)
{
    if (p->bias_mode == PQ__BIAS_FP32) {
        q->state = PQ_TQC_STATE_FP32;
        return;
    }
    q->num_bits = p->bias_bits;
    q->quant_min = p->bias_min;
    q->quant_max = p->bias_max;
    q->rounding = PQ_ROUND_HALF_EVEN;
    unsigned pc = (w->policy & PQ_QPOLICY_PER_CHANNEL) ? PQ_QPOLICY_PER_CHANNEL
                                                        : PQ_QPOLICY_PER_TENSOR;
    q->policy = PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR | pc;
    q->channel_axis = 0;
    snprintf(q->observer, sizeof q->observer, "passive");
    q->state = PQ_TQC_STATE_PASSIVE_INIT;
}

pq_status pq_platform_quantize_op(const pq_platform *p, pq_op *op, pq_err *err)
{
    pq_status st = pq_op_qconfig_create(op, err);
    if (st != PQ_OK) return st;
    op->platform = p->id;
    if (!(p->flags & PQ__PLAT_QUANTIZED)) return PQ_OK;
    pq_op_qconfig *qc = op->qconfig;
    for (int i = 0; i < op->n_inputs; i++) {
        pq_var *v = op->inputs[i];
        pq_tqc *q = &qc->inputs[i];
        if (!v || !var_is_float_or_unknown(v)) continue;
        pq__slot_kind kind = pq__input_kind(op, i);
        if (kind == PQ__SLOT_SOI || kind == PQ__SLOT_FP32) continue;
        if (pq__var_is_soi(v)) continue; /* a shape, an index or a mask */
        set_act(p, q);
        if (kind == PQ__SLOT_PASSIVE) {
            if (!pq_var_is_parameter(v)) {
                q->state = PQ_TQC_STATE_FP32; /* a computed bound is not a constant */
                continue;
            }
            snprintf(q->observer, sizeof q->observer, "passive");
            q->state = PQ_TQC_STATE_PASSIVE_INIT;
            continue;
        }
        if (!pq_var_is_parameter(v)) continue;
        snprintf(q->observer, sizeof q->observer, "minmax");
        if (i == 1 && has_weight_slot(op)) {
            set_weight(p, op, q);
        } else if (i == 2 && has_bias_slot(op)) {
            set_bias(p, &qc->inputs[1], q);
            if (q->state == PQ_TQC_STATE_PASSIVE_INIT &&
                qc->inputs[1].state != PQ_TQC_STATE_INITIAL)
                q->state = PQ_TQC_STATE_FP32; /* weight not quantized: bias cannot follow */
        }
    }
    for (int j = 0; j < op->n_outputs; j++) {
        pq_var *v = op->outputs[j];
        if (!v || !var_is_float_or_unknown(v) || pq__output_is_soi(op, j)) continue;
        if (p->flags & PQ__PLAT_INPUT_ONLY) continue;
        set_act(p, &qc->outputs[j]);
    }
    if (p->customize) {
        st = p->customize(p, op, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "platform %s: op '%s' (%s)", p->name, op->name, op->type);
            return st;
        }
    }
    return PQ_OK;
}

static int op_has_quantized_tqc(const pq_op *op)
{
    const pq_op_qconfig *qc = op->qconfig;
    if (!qc) return 0;
    for (int i = 0; i < qc->n_inputs; i++)
        if (pq_tqc_is_quantized(&qc->inputs[i])) return 1;
    for (int j = 0; j < qc->n_outputs; j++)
        if (pq_tqc_is_quantized(&qc->outputs[j])) return 1;
    return 0;
}

pq_status pq_platform_quantize(const pq_platform *p, pq_graph *g, int64_t *n_quantized,
                               pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t nq = 0;
    if (!p) return pq_err_set(err, PQ_ERR_INVALID, "quantize: no platform");
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (op->platform > PQ_PLATFORM_SOI && op->platform != p->id)
            return pq_err_set(err, PQ_ERR_INVALID,
                              "quantize for %s: op '%s' (%s) is dispatched to %s", p->name,
                              op->name, op->type, pq_platform_id_name(op->platform));
    }
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (op->platform != p->id || !(p->flags & PQ__PLAT_QUANTIZED)) {
            pq_op_qconfig_destroy(op);
            continue;
        }
        st = pq_platform_quantize_op(p, op, err);
        if (st != PQ_OK) return st;
        nq += op_has_quantized_tqc(op);
    }
    if (n_quantized) *n_quantized = nq;
    return PQ_OK;
}

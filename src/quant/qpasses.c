/* qpasses.c - data-free quantization passes: simplify (fusion and redundant TQCs),
 * parameter quantization, passive parameters, alignment. */
#include "quant_internal.h"

#include <inttypes.h>
#include <math.h>

/* Extension attribute keys written by the fusion passes (src/passes/pq_passes.h:
 * PQ_EXT_FUSION, PQ_EXT_FUSED_WITH, PQ_EXT_FUSED_OUTPUT). Repeated here because quant does
 * not include the passes module; tests/unit/test_quant_models.c checks they agree. */
#define EXT_FUSION "fusion"
#define EXT_FUSED_WITH "fused_with"
#define EXT_FUSED_OUTPUT "fused_output"

static void count(pq_qpass_stats *s, int changed)
{
    if (!s) return;
    if (changed)
        s->changed++;
    else
        s->skipped++;
}

static const pq_platform *op_platform(const pq_op *op)
{
    if (!op->qconfig || op->platform <= PQ_PLATFORM_SOI) return NULL;
    return pq_platform_by_id(op->platform);
}

/* The output TQC of the producer of v (NULL when it has none). */
static pq_tqc *producer_tqc(const pq_var *v)
{
    pq_op *s = v->source_op;
    if (!s || !s->qconfig) return NULL;
    for (int j = 0; j < s->n_outputs && j < s->qconfig->n_outputs; j++)
        if (s->outputs[j] == v) return &s->qconfig->outputs[j];
    return NULL;
}

static int same_scheme(const pq_tqc *a, const pq_tqc *b)
{
    return a->policy == b->policy && a->num_bits == b->num_bits && a->quant_min == b->quant_min &&
           a->quant_max == b->quant_max && a->rounding == b->rounding &&
           (!(a->policy & PQ_QPOLICY_PER_CHANNEL) || a->channel_axis == b->channel_axis);
}

static void overlap(pq_tqc *q, pq_tqc *dom)
{
    q->state = PQ_TQC_STATE_OVERLAPPED;
    q->dominator = dom;
}

/* Whether following dom's dominators reaches q (overlapping would make a cycle). */
static int reaches(const pq_tqc *dom, const pq_tqc *q)
{
    for (int hops = 0; dom && hops < 64; hops++) {
        if (dom == q) return 1;
        if (dom->state != PQ_TQC_STATE_OVERLAPPED) return 0;
        dom = dom->dominator;
    }
    return 1;
}

pq_status pq_quant_simplify(pq_graph *g, pq_qpass_stats *stats, pq_err *err)
{
    (void)err;
    /* 1. Fused groups. */
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        const pq_platform *p = op_platform(op);
        if (!p || pq_op_get_ext_int(op, EXT_FUSED_OUTPUT, 0) != 1 || op->n_outputs < 1 ||
            !op->outputs[0] || op->qconfig->n_outputs < 1)
            continue;
        const char *kind = pq_op_get_ext_str(op, EXT_FUSION);
        const char *with = pq_op_get_ext_str(op, EXT_FUSED_WITH);
        pq_op *act = with ? pq_graph_find_op(g, with) : NULL;
        pq_tqc *out = &op->qconfig->outputs[0];
        if (!act || !act->qconfig || act->platform != op->platform || !kind) {
            count(stats, 0);
            continue;
        }
        pq_tqc *in = NULL;
        for (int i = 0; i < act->n_inputs && i < act->qconfig->n_inputs; i++)
            if (act->inputs[i] == op->outputs[0]) in = &act->qconfig->inputs[i];
        if (!in) {
            count(stats, 0);
            continue;
        }
        if (strcmp(kind, "conv_activation") == 0 && (p->flags & PQ__PLAT_FUSE_ACTIVATION)) {
            pq_tqc *dom = act->qconfig->n_outputs > 0 ? &act->qconfig->outputs[0] : NULL;
            if (!dom || !pq_tqc_is_quantized(dom)) {
                count(stats, 0);
                continue;
            }
            if (out->state == PQ_TQC_STATE_INITIAL) overlap(out, dom);
            if (in->state == PQ_TQC_STATE_INITIAL) overlap(in, dom);
            count(stats, 1);
        } else if (strcmp(kind, "conv_activation") != 0) {
            /* Other fused groups (skip_layernorm): the internal tensor stays float. */
            out->state = PQ_TQC_STATE_FP32;
            in->state = PQ_TQC_STATE_FP32;
            count(stats, 1);
        }
    }
    /* 2. Passive ops share input 0's quantization; Concat too when its inputs get aligned. */
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        const pq_platform *p = op_platform(op);
        if (!p || !(p->flags & PQ__PLAT_FUSE_PASSIVE)) continue;
        int concat = pq_op_is(op, "Concat") && p->concat_align != PQ_ALIGN_NONE;
        if (!pq__is_passive_op(op) && !concat) continue;
        pq_op_qconfig *qc = op->qconfig;
        if (qc->n_inputs < 1 || !pq_tqc_is_quantized(&qc->inputs[0])) continue;
        pq_tqc *src = &qc->inputs[0];
        for (int j = 0; j < qc->n_outputs; j++) {
            pq_tqc *o = &qc->outputs[j];
            if (o->state != PQ_TQC_STATE_INITIAL) continue;
            if (!same_scheme(o, src) || reaches(src, o)) {
                count(stats, 0);
                continue;
            }
            overlap(o, src);
            count(stats, 1);
        }
    }
    /* 3. An input TQC equal to the producer's output TQC reads it. */
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        for (int i = 0; i < op->n_inputs && i < op->qconfig->n_inputs; i++) {
            pq_var *v = op->inputs[i];
            pq_tqc *q = &op->qconfig->inputs[i];
            if (!v || pq_var_is_parameter(v) || q->state != PQ_TQC_STATE_INITIAL) continue;
            pq_tqc *up = producer_tqc(v);
            if (!up || !pq_tqc_is_quantized(up)) continue;
            const pq_tqc *root = pq_tqc_resolve(up);
            if (!same_scheme(q, root) || reaches(up, q)) {
                count(stats, 0);
                continue;
            }
            overlap(q, up);
            count(stats, 1);
        }
    }
    return PQ_OK;
}

/* ------------------------------------------------------------------ parameters */

pq_status pq_quant_parameters(pq_graph *g, pq_qpass_stats *stats, pq_err *err)
{
    pq_status st = PQ_OK;
    float *mins = NULL, *maxs = NULL;
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        for (int i = 0; i < op->n_inputs && i < op->qconfig->n_inputs; i++) {
            pq_var *v = op->inputs[i];
            pq_tqc *q = &op->qconfig->inputs[i];
            if (!v || !pq_var_is_parameter(v) || q->state != PQ_TQC_STATE_INITIAL) continue;
            const pq_tensor *t = v->value;
            PQ_CHECK(t->dtype == PQ_DTYPE_FLOAT32, PQ_ERR_INVALID,
                     "op '%s' (%s): parameter '%s' is %s, a quantized parameter must be float32",
                     op->name, op->type, v->name, pq_dtype_name(t->dtype));
            int axis = -1;
            int64_t n = 1;
            if (q->policy & PQ_QPOLICY_PER_CHANNEL) {
                axis = q->channel_axis < 0 ? q->channel_axis + t->rank : q->channel_axis;
                PQ_CHECK(axis >= 0 && axis < t->rank, PQ_ERR_INVALID,
                         "op '%s' (%s): parameter '%s' of rank %d has no channel axis %d",
                         op->name, op->type, v->name, t->rank, q->channel_axis);
                n = t->dims[axis];
                PQ_CHECK(n >= 1, PQ_ERR_INVALID, "op '%s' (%s): parameter '%s' has no channels",
                         op->name, op->type, v->name);
            }
            pq_free(mins);
            pq_free(maxs);
            mins = pq_malloc((size_t)n * sizeof *mins);
            maxs = pq_malloc((size_t)n * sizeof *maxs);
            PQ_CHECK(mins && maxs, PQ_ERR_NOMEM, "parameter quantization: out of memory");
            st = pq_quant_minmax(t, axis, mins, maxs, err);
            if (st == PQ_OK) st = pq_tqc_set_range(q, n, mins, maxs, err);
            if (st != PQ_OK) {
                pq_err_prefix(err, "op '%s' (%s): parameter '%s'", op->name, op->type, v->name);
                goto fail;
            }
            q->state = PQ_TQC_STATE_ACTIVATED;
            count(stats, 1);
        }
    }
fail:
    pq_free(mins);
    pq_free(maxs);
    return st;
}

/* Whether a resolved TQC holds usable scales. */
static int ready(const pq_tqc *q)
{
    return q && pq_tqc_is_active(q) && pq_tqc_resolve(q)->scale;
}

pq_status pq_quant_passive_parameters(pq_graph *g, pq_qpass_stats *stats, pq_err *err)
{
    pq_status st = PQ_OK;
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        pq_op_qconfig *qc = op->qconfig;
        for (int i = 1; i < op->n_inputs && i < qc->n_inputs; i++) {
            pq_tqc *q = &qc->inputs[i];
            if (q->state != PQ_TQC_STATE_PASSIVE_INIT || !op->inputs[i]) continue;
            const pq_tqc *in = pq_tqc_resolve(&qc->inputs[0]);
            if (!ready(&qc->inputs[0])) {
                count(stats, 0);
                continue;
            }
            int is_bias = i == 2 && (pq_op_is(op, "Conv") || pq_op_is(op, "ConvTranspose") ||
                                     pq_op_is(op, "Gemm"));
            if (is_bias) {
                const pq_tqc *w = pq_tqc_resolve(&qc->inputs[1]);
                if (!ready(&qc->inputs[1])) {
                    count(stats, 0);
                    continue;
                }
                const pq_tensor *b = op->inputs[i]->value;
                int64_t n = w->n_channels;
                PQ_CHECK(in->n_channels == 1, PQ_ERR_INVALID,
                         "op '%s' (%s): a passive bias needs a per-tensor input scale",
                         op->name, op->type);
                if (n > 1 && (!b || b->numel != n)) {
                    /* bias does not line up with the weight channels: leave it in float */
                    q->state = PQ_TQC_STATE_FP32;
                    count(stats, 0);
                    continue;
                }
                PQ_TRY(pq_tqc_set_channels(q, n, err));
                for (int64_t c = 0; c < n; c++) {
                    q->scale[c] = in->scale[0] * w->scale[c];
                    q->offset[c] = 0.0f;
                }
                q->policy = (q->policy & ~(unsigned)(PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_PER_TENSOR)) |
                            (n > 1 ? PQ_QPOLICY_PER_CHANNEL : PQ_QPOLICY_PER_TENSOR);
                q->channel_axis = 0;
            } else {
                /* Clip min/max, Pad value: the input's quantization. */
                pq_tqc_copy_policy(q, in);
                PQ_TRY(pq_tqc_set_channels(q, in->n_channels, err));
                memcpy(q->scale, in->scale, (size_t)in->n_channels * sizeof *q->scale);
                memcpy(q->offset, in->offset, (size_t)in->n_channels * sizeof *q->offset);
            }
            q->state = PQ_TQC_STATE_PASSIVE;
            count(stats, 1);
        }
    }
fail:
    return st;
}

/* ------------------------------------------------------------------ alignment */

static int is_elementwise(const pq_op *op)
{
    static const char *const types[] = {"Add", "Sub", "Max", "Min", "Sum", "Mean", NULL};
    return pq_op_is(op, op->type) && pq__type_in(op->type, types);
}

/* The root TQC an input reads (resolving dominators); NULL when it is not activated. */
static pq_tqc *root_of(pq_tqc *q)
{
    pq_tqc *r = q;
    for (int hops = 0; r->state == PQ_TQC_STATE_OVERLAPPED && r->dominator && hops < 64; hops++)
        r = r->dominator;
    return r->state == PQ_TQC_STATE_ACTIVATED && r->scale && r->n_channels == 1 ? r : NULL;
}

pq_status pq_quant_align(pq_graph *g, pq_align_mode concat_override,
                         pq_align_mode elementwise_override, pq_qpass_stats *stats, pq_err *err)
{
    pq_status st = PQ_OK;
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        const pq_platform *p = op_platform(op);
        if (!p) continue;
        pq_align_mode mode = PQ_ALIGN_NONE;
        int concat = pq_op_is(op, "Concat");
        if (concat)
            mode = concat_override != PQ_ALIGN_NONE ? concat_override : p->concat_align;
        else if (is_elementwise(op))
            mode = elementwise_override != PQ_ALIGN_NONE ? elementwise_override
                                                         : p->elementwise_align;
        if (mode == PQ_ALIGN_NONE) continue;
        pq_op_qconfig *qc = op->qconfig;
        float lo = 0.0f, hi = 0.0f;
        int n = 0;
        pq_tqc *first = NULL;
        for (int i = 0; i < op->n_inputs && i < qc->n_inputs; i++) {
            if (!op->inputs[i] || pq_var_is_parameter(op->inputs[i])) continue;
            pq_tqc *r = root_of(&qc->inputs[i]);
            if (!r) continue;
            float a, b;
            pq_tqc_range(r, 0, &a, &b);
            if (n == 0) {
                lo = a;
                hi = b;
                first = r;
            } else if (mode == PQ_ALIGN_MAX) {
                lo = a < lo ? a : lo;
                hi = b > hi ? b : hi;
            } else if (mode == PQ_ALIGN_MIN) {
                lo = a > lo ? a : lo;
                hi = b < hi ? b : hi;
            } else {
                lo += a;
                hi += b;
            }
            n++;
        }
        if (n < 2) {
            count(stats, 0);
            continue;
        }
        if (mode == PQ_ALIGN_AVERAGE) {
            lo /= (float)n;
            hi /= (float)n;
        }
        /* New scale/offset from the combined range with the first root's scheme. */
        pq_tqc tmp;
        memset(&tmp, 0, sizeof tmp);
        pq_tqc_copy_policy(&tmp, first);
        tmp.policy = (tmp.policy & ~(unsigned)PQ_QPOLICY_PER_CHANNEL) | PQ_QPOLICY_PER_TENSOR;
        st = pq_tqc_set_range(&tmp, 1, &lo, &hi, err);
        if (st != PQ_OK) {
            pq_tqc_clear(&tmp);
            pq_err_prefix(err, "aligning op '%s' (%s)", op->name, op->type);
            return st;
        }
        for (int i = 0; i < op->n_inputs && i < qc->n_inputs; i++) {
            if (!op->inputs[i] || pq_var_is_parameter(op->inputs[i])) continue;
            pq_tqc *r = root_of(&qc->inputs[i]);
            if (!r || !same_scheme(r, first)) continue;
            r->scale[0] = tmp.scale[0];
            r->offset[0] = tmp.offset[0];
            count(stats, 1);
        }
        if (concat)
            for (int j = 0; j < qc->n_outputs; j++) {
                pq_tqc *o = &qc->outputs[j];
                if (o->state == PQ_TQC_STATE_ACTIVATED && o->scale && o->n_channels == 1 &&
                    same_scheme(o, first)) {
                    o->scale[0] = tmp.scale[0];
                    o->offset[0] = tmp.offset[0];
                    count(stats, 1);
                }
            }
        pq_tqc_clear(&tmp);
    }
    return st;
}

/* bake.c - parameter baking and PPQ's store / restore / dequantize state switching. */
#include "quant_internal.h"

#include <inttypes.h>

typedef struct baked_param {
    pq_var *var;
    pq_tensor *fp;      /* the float value (owned reference) */
    pq_tensor *baked;   /* the baked value while the graph is dequantized (owned reference) */
} baked_param;

typedef struct saved_state {
    pq_tqc *q;
    pq_tqc_state state;
} saved_state;

struct pq_qstore {
    baked_param *params;
    int64_t n_params, cap_params;
    saved_state *states;
    int64_t n_states, cap_states;
    int dequantized;
};

pq_status pq_qstore_create(pq_qstore **out, pq_err *err)
{
    *out = pq_calloc(1, sizeof **out);
    return *out ? PQ_OK : pq_err_set(err, PQ_ERR_NOMEM, "out of memory creating a qstore");
}

static void clear_params(pq_qstore *s)
{
    for (int64_t k = 0; k < s->n_params; k++) {
        pq_tensor_destroy(&s->params[k].fp);
        pq_tensor_destroy(&s->params[k].baked);
    }
    s->n_params = 0;
}

void pq_qstore_destroy(pq_qstore **s)
{
    if (!s || !*s) return;
    clear_params(*s);
    pq_free((*s)->params);
    pq_free((*s)->states);
    pq_free(*s);
    *s = NULL;
}

static baked_param *find_param(pq_qstore *s, const pq_var *v)
{
    for (int64_t k = 0; k < s->n_params; k++)
        if (s->params[k].var == v) return &s->params[k];
    return NULL;
}

pq_status pq_quant_bake(pq_graph *g, pq_qstore *s, int64_t *n_baked, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *copy = NULL;
    int64_t nb = 0;
    PQ_CHECK(!s->dequantized, PQ_ERR_INVALID, "bake: the graph is dequantized (restore first)");
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        for (int i = 0; i < op->n_inputs && i < op->qconfig->n_inputs; i++) {
            pq_var *v = op->inputs[i];
            pq_tqc *q = &op->qconfig->inputs[i];
            if (!v || !pq_var_is_parameter(v)) continue;
            if (q->state != PQ_TQC_STATE_ACTIVATED && q->state != PQ_TQC_STATE_PASSIVE) continue;
            if (find_param(s, v)) { /* baked by another reader already */
                q->state = q->state == PQ_TQC_STATE_ACTIVATED ? PQ_TQC_STATE_BAKED
                                                                : PQ_TQC_STATE_PASSIVE_BAKED;
                continue;
            }
            PQ_CHECK(v->value->dtype == PQ_DTYPE_FLOAT32, PQ_ERR_INVALID,
                     "bake: op '%s': parameter '%s' is %s", op->name, v->name,
                     pq_dtype_name(v->value->dtype));
            PQ_TRY(pq_tensor_clone(v->value, &copy, err));
            st = pq_fake_quant_tensor(q, copy, err);
            if (st != PQ_OK) {
                pq_err_prefix(err, "bake: op '%s' (%s): parameter '%s'", op->name, op->type,
                              v->name);
                goto fail;
            }
            if (s->n_params == s->cap_params) {
                int64_t cap = s->cap_params ? 2 * s->cap_params : 32;
                baked_param *np = pq_realloc(s->params, (size_t)cap * sizeof *np);
                PQ_CHECK(np, PQ_ERR_NOMEM, "bake: out of memory");
                s->params = np;
                s->cap_params = cap;
            }
            baked_param *bp = &s->params[s->n_params++];
            bp->var = v;
            bp->fp = pq_tensor_retain(v->value);
            bp->baked = NULL;
            pq_var_set_value(v, copy); /* drops the var's reference; the store keeps one */
            copy = NULL;
            q->state = q->state == PQ_TQC_STATE_ACTIVATED ? PQ_TQC_STATE_BAKED
                                                            : PQ_TQC_STATE_PASSIVE_BAKED;
            nb++;
        }
    }
fail:
    pq_tensor_destroy(&copy);
    if (n_baked) *n_baked = nb;
    return st;
}

pq_status pq_quant_dequantize(pq_graph *g, pq_qstore *s, pq_err *err)
{
    if (s->dequantized)
        return pq_err_set(err, PQ_ERR_INVALID, "dequantize: the graph is dequantized already");
    int64_t n = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (op->qconfig) n += op->qconfig->n_inputs + op->qconfig->n_outputs;
    }
    saved_state *st = pq_realloc(s->states, (size_t)(n + 1) * sizeof *st);
    if (!st) return pq_err_set(err, PQ_ERR_NOMEM, "dequantize: out of memory");
    s->states = st;
    s->cap_states = n + 1;
    s->n_states = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        pq_op_qconfig *qc = op->qconfig;
        for (int i = 0; i < qc->n_inputs + qc->n_outputs; i++) {
            pq_tqc *q = i < qc->n_inputs ? &qc->inputs[i] : &qc->outputs[i - qc->n_inputs];
            s->states[s->n_states].q = q;
            s->states[s->n_states].state = q->state;
            s->n_states++;
        }
    }
    /* States are switched only after all were saved, so that OVERLAPPED links stay. */
    for (int64_t k = 0; k < s->n_states; k++) s->states[k].q->state = PQ_TQC_STATE_FP32;
    for (int64_t k = 0; k < s->n_params; k++) {
        baked_param *bp = &s->params[k];
        bp->baked = pq_tensor_retain(bp->var->value);
        pq_var_set_value(bp->var, pq_tensor_retain(bp->fp));
    }
    s->dequantized = 1;
    return PQ_OK;
}

pq_status pq_quant_restore(pq_graph *g, pq_qstore *s, pq_err *err)
{
    (void)g;
    if (!s->dequantized)
        return pq_err_set(err, PQ_ERR_INVALID, "restore: the graph is not dequantized");
    for (int64_t k = 0; k < s->n_states; k++) s->states[k].q->state = s->states[k].state;
    s->n_states = 0;
    for (int64_t k = 0; k < s->n_params; k++) {
        baked_param *bp = &s->params[k];
        pq_var_set_value(bp->var, bp->baked);
        bp->baked = NULL;
    }
    s->dequantized = 0;
    return PQ_OK;
}

pq_status pq_quant_unbake(pq_graph *g, pq_qstore *s, pq_err *err)
{
    pq_status st = PQ_OK;
    if (s->dequantized) {
        st = pq_quant_restore(g, s, err);
        if (st != PQ_OK) return st;
    }
    for (int64_t k = 0; k < s->n_params; k++) {
        baked_param *bp = &s->params[k];
        pq_var_set_value(bp->var, pq_tensor_retain(bp->fp));
    }
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        for (int i = 0; i < op->qconfig->n_inputs; i++) {
            pq_tqc *q = &op->qconfig->inputs[i];
            if (q->state == PQ_TQC_STATE_BAKED) q->state = PQ_TQC_STATE_ACTIVATED;
            if (q->state == PQ_TQC_STATE_PASSIVE_BAKED) q->state = PQ_TQC_STATE_PASSIVE;
        }
    }
    clear_params(s);
    return PQ_OK;
}

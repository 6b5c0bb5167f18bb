/* simulate.c - quantization simulation: executor hooks that fake-quantize every tensor
 * whose TQC is active. See pq_quant.h for which TQCs are applied where. */
#include "quant_internal.h"

struct pq_qsim {
    pq_executor *ex;
    int enabled;
    pq_qsim_stats stats;
};

pq_status pq_qsim_create(pq_executor *ex, pq_qsim **out, pq_err *err)
{
    pq_qsim *s = pq_calloc(1, sizeof *s);
    if (!s) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory creating a simulator");
    s->ex = ex;
    s->enabled = 1;
    pq_executor_set_hooks(ex, pq_qsim_before, pq_qsim_after, s);
    *out = s;
    return PQ_OK;
}

void pq_qsim_destroy(pq_qsim **s)
{
    if (!s || !*s) return;
    pq_executor_set_hooks((*s)->ex, NULL, NULL, NULL);
    pq_free(*s);
    *s = NULL;
}

void pq_qsim_enable(pq_qsim *s, int on) { s->enabled = on != 0; }

pq_qsim_stats pq_qsim_get_stats(const pq_qsim *s) { return s->stats; }

/* The producer's output TQC for input i of op, or NULL. */
static const pq_tqc *producer_tqc(const pq_op *op, int i)
{
    const pq_var *v = op->inputs[i];
    const pq_op *src = v ? v->source_op : NULL;
    if (!src || !src->qconfig) return NULL;
    for (int j = 0; j < src->n_outputs && j < src->qconfig->n_outputs; j++)
        if (src->outputs[j] == v) return &src->qconfig->outputs[j];
    return NULL;
}

/* The TQC to apply to input i, or NULL when nothing is to be done. */
static const pq_tqc *input_tqc(const pq_op *op, int i)
{
    const pq_tqc *q = &op->qconfig->inputs[i];
    switch (q->state) {
    case PQ_TQC_STATE_ACTIVATED:
    case PQ_TQC_STATE_PASSIVE: return q;
    case PQ_TQC_STATE_OVERLAPPED: {
        const pq_tqc *root = pq_tqc_resolve(q);
        if (root == q || !pq_tqc_is_active(root)) return NULL;
        if (root->state == PQ_TQC_STATE_BAKED || root->state == PQ_TQC_STATE_PASSIVE_BAKED)
            return NULL;
        const pq_tqc *up = producer_tqc(op, i);
        /* Quantized when produced already (or a fused / passive chain ending there). */
        if (up && pq_tqc_resolve(up) == root) return NULL;
        return root;
    }
    default: return NULL; /* INITIAL, PASSIVE_INIT, FP32, BAKED (stored quantized) */
    }
}

pq_status pq_qsim_before(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                         pq_tensor **outputs, void *user, pq_err *err)
{
    (void)n_outputs;
    (void)outputs;
    pq_qsim *s = user;
    if (!s->enabled || !op->qconfig) return PQ_OK;
    for (int i = 0; i < n_inputs && i < op->qconfig->n_inputs; i++) {
        pq_tensor *t = inputs[i];
        if (!t || t->dtype != PQ_DTYPE_FLOAT32) continue;
        const pq_tqc *q = input_tqc(op, i);
        if (!q) continue;
        pq_tensor *y = NULL;
        pq_status st = pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, t->rank, t->dims, &y, err);
        if (st != PQ_OK) return st;
        st = pq_fake_quant(q, t->rank, t->dims, t->data, y->data, err);
        if (st != PQ_OK) {
            pq_tensor_destroy(&y);
            pq_err_prefix(err, "simulating input %d ('%s')", i,
                          op->inputs[i] ? op->inputs[i]->name : "");
            return st;
        }
        inputs[i] = y; /* the executor destroys replaced inputs after the op */
        s->stats.tensors++;
        s->stats.elements += t->numel;
    }
    return PQ_OK;
}

pq_status pq_qsim_after(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                        pq_tensor **outputs, void *user, pq_err *err)
{
    (void)n_inputs;
    (void)inputs;
    pq_qsim *s = user;
    if (!s->enabled || !op->qconfig) return PQ_OK;
    for (int j = 0; j < n_outputs && j < op->qconfig->n_outputs; j++) {
        pq_tensor *t = outputs[j];
        const pq_tqc *q = &op->qconfig->outputs[j];
        if (!t || t->dtype != PQ_DTYPE_FLOAT32) continue;
        if (q->state != PQ_TQC_STATE_ACTIVATED && q->state != PQ_TQC_STATE_PASSIVE) continue;
        pq_status st = pq_fake_quant(q, t->rank, t->dims, t->data, t->data, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "simulating output %d ('%s')", j,
                          op->outputs[j] ? op->outputs[j]->name : "");
            return st;
        }
        s->stats.tensors++;
        s->stats.elements += t->numel;
    }
    return PQ_OK;
}

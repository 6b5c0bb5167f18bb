/* dispatch.c - dispatchers: each operation goes to the quantized platform, FP32, or SOI
 * (shape-or-index computations, never quantized).
 *
 * As PPQ's Perseus, two closures are solved over "value links" (an edge from output j of
 * P to input i of D is a value link when output j is not a shape/index output and input i
 * carries values, pq__input_kind):
 *   A: the closure of the computing ops (Conv, Gemm, MatMul, ...), in both directions;
 *   B: the closure of the ops that compute shapes or indices: producers of shape/index
 *      inputs (Reshape's shape, Slice's starts, ...) and readers of shape/index outputs
 *      (Shape, Size, NonZero, ...), in both directions; generator ops (Shape, ...) join B
 *      without spreading (their input is a real tensor).
 * A - B may be quantized, A and B together is FP32 (conflict), B - A is SOI. */
#include "quant_internal.h"

#include <inttypes.h>

enum { IN_A = 1, IN_B = 2 };

static const char *const dispatchers[] = {"pursus", "conservative", "aggressive", "allin", NULL};

const char *const *pq_dispatcher_names(void) { return dispatchers; }

static int out_index(const pq_op *op, const pq_var *v)
{
    for (int j = 0; j < op->n_outputs; j++)
        if (op->outputs[j] == v) return j;
    return -1;
}

static int is_generator(const pq_op *op)
{
    for (int j = 0; j < op->n_outputs; j++)
        if (op->outputs[j] && pq__output_is_soi(op, j)) return 1;
    return 0;
}

/* Spreads `bit` from the ops in queue[0..n) over value links (both directions). */
static pq_status closure(pq_graph *g, unsigned char *mark, unsigned bit, pq_op **queue, int64_t n,
                         int forward_only, pq_err *err)
{
    (void)g;
    (void)err;
    int64_t head = 0;
    while (head < n) {
        pq_op *x = queue[head++];
        if (!forward_only)
            for (int i = 0; i < x->n_inputs; i++) {
                pq_var *v = x->inputs[i];
                if (!v || !v->source_op || pq__input_kind(x, i) != PQ__SLOT_VALUE) continue;
                pq_op *p = v->source_op;
                int j = out_index(p, v);
                if (j < 0 || pq__output_is_soi(p, j) || (mark[p->scratch] & bit)) continue;
                mark[p->scratch] |= bit;
                queue[n++] = p;
            }
        for (int j = 0; j < x->n_outputs; j++) {
            pq_var *v = x->outputs[j];
            if (!v || pq__output_is_soi(x, j)) continue;
            for (int64_t d = 0; d < v->dest_ops.n; d++) {
                pq_op *c = v->dest_ops.items[d];
                if (mark[c->scratch] & bit) continue;
                int link = 0;
                for (int i = 0; i < c->n_inputs; i++)
                    if (c->inputs[i] == v && pq__input_kind(c, i) == PQ__SLOT_VALUE) link = 1;
                if (!link) continue;
                mark[c->scratch] |= bit;
                queue[n++] = c;
            }
        }
    }
    return PQ_OK;
}

static int is_activation(const pq_op *op)
{
    static const char *const acts[] = {"Relu", "Clip", "LeakyRelu", "PRelu", NULL};
    return pq__type_in(op->type, acts);
}

pq_status pq_dispatch(pq_graph *g, const char *name, const pq_platform *p,
                      const pq_dispatch_override *ovr, int n_ovr, pq_err *err)
{
    pq_status st = PQ_OK;
    unsigned char *mark = NULL;
    pq_op **queue = NULL;
    int which = -1;
    for (int k = 0; dispatchers[k]; k++)
        if (name && strcmp(name, dispatchers[k]) == 0) which = k;
    PQ_CHECK(which >= 0, PQ_ERR_INVALID,
             "unknown dispatcher '%s' (known: pursus, conservative, aggressive, allin)",
             name ? name : "(null)");
    PQ_CHECK(p, PQ_ERR_INVALID, "dispatch: no platform");
    for (int k = 0; k < n_ovr; k++) {
        PQ_CHECK(ovr[k].op_name && pq_graph_find_op(g, ovr[k].op_name), PQ_ERR_INVALID,
                 "dispatch override: no operation '%s' in the graph",
                 ovr[k].op_name ? ovr[k].op_name : "(null)");
        PQ_CHECK(ovr[k].platform == PQ_PLATFORM_FP32 || ovr[k].platform == p->id ||
                     ovr[k].platform == PQ_PLATFORM_SOI,
                 PQ_ERR_INVALID,
                 "dispatch override for '%s': platform %s is neither fp32 nor the target %s",
                 ovr[k].op_name, pq_platform_id_name(ovr[k].platform), p->name);
    }
    int64_t n = g->ops.n;
    mark = pq_calloc((size_t)n + 1, 1);
    queue = pq_calloc((size_t)n + 1, sizeof *queue);
    PQ_CHECK(mark && queue, PQ_ERR_NOMEM, "dispatch: out of memory");
    for (int64_t k = 0; k < n; k++) ((pq_op *)g->ops.items[k])->scratch = k;

    /* A: value closure of the computing ops. */
    int64_t nq = 0;
    for (int64_t k = 0; k < n; k++) {
        pq_op *op = g->ops.items[k];
        if (pq__is_computing(op)) {
            mark[k] |= IN_A;
            queue[nq++] = op;
        }
    }
    PQ_TRY(closure(g, mark, IN_A, queue, nq, 0, err));

    /* B: shape-or-index closure. */
    nq = 0;
    for (int64_t k = 0; k < n; k++) {
        pq_op *op = g->ops.items[k];
        for (int i = 0; i < op->n_inputs; i++) {
            pq_var *v = op->inputs[i];
            if (!v) continue;
            pq__slot_kind kind = pq__input_kind(op, i);
            pq_op *src = v->source_op;
            if (kind == PQ__SLOT_SOI && src && !(mark[src->scratch] & IN_B) && !is_generator(src)) {
                mark[src->scratch] |= IN_B;
                queue[nq++] = src;
            }
            if (kind == PQ__SLOT_VALUE && pq__var_is_soi(v) && !(mark[k] & IN_B)) {
                mark[k] |= IN_B;
                queue[nq++] = op;
            }
        }
    }
    PQ_TRY(closure(g, mark, IN_B, queue, nq, 0, err));
    for (int64_t k = 0; k < n; k++)
        if (is_generator(g->ops.items[k])) mark[k] |= IN_B;

    for (int64_t k = 0; k < n; k++) {
        pq_op *op = g->ops.items[k];
        int a = (mark[k] & IN_A) != 0, b = (mark[k] & IN_B) != 0;
        int plat = PQ_PLATFORM_FP32;
        if (b && !a)
            plat = PQ_PLATFORM_SOI;
        else if (b && a)
            plat = PQ_PLATFORM_FP32;
        else if (which == 0) /* pursus */
            plat = a && pq_platform_quantizes_type(p, op->type) ? p->id : PQ_PLATFORM_FP32;
        else if (which == 2) /* aggressive */
            plat = a ? p->id : PQ_PLATFORM_FP32;
        else if (which == 3) /* allin */
            plat = p->id;
        else /* conservative: below */
            plat = PQ_PLATFORM_FP32;
        op->platform = plat;
    }
    if (which == 1) {
        /* Conservative: quantized computing ops, then downstream through quantized types. */
        nq = 0;
        for (int64_t k = 0; k < n; k++) {
            pq_op *op = g->ops.items[k];
            if (mark[k] == IN_A && pq__is_computing(op) && pq_platform_quantizes_type(p, op->type)) {
                op->platform = p->id;
                queue[nq++] = op;
            }
        }
        int64_t head = 0;
        while (head < nq) {
            pq_op *x = queue[head++];
            for (int j = 0; j < x->n_outputs; j++) {
                pq_var *v = x->outputs[j];
                if (!v || pq__output_is_soi(x, j)) continue;
                for (int64_t d = 0; d < v->dest_ops.n; d++) {
                    pq_op *c = v->dest_ops.items[d];
                    if (c->platform == p->id || mark[c->scratch] != IN_A ||
                        !pq_platform_quantizes_type(p, c->type))
                        continue;
                    c->platform = p->id;
                    queue[nq++] = c;
                }
            }
        }
        /* Activations follow their producer. */
        for (int64_t k = 0; k < n; k++) {
            pq_op *op = g->ops.items[k];
            if (!is_activation(op) || !op->n_inputs || !op->inputs[0]) continue;
            const pq_op *src = op->inputs[0]->source_op;
            if (src && src->platform == p->id && mark[k] == IN_A) op->platform = p->id;
        }
    }
    if (!(p->flags & PQ__PLAT_QUANTIZED))
        for (int64_t k = 0; k < n; k++) {
            pq_op *op = g->ops.items[k];
            if (op->platform == p->id) op->platform = PQ_PLATFORM_FP32;
        }
    for (int k = 0; k < n_ovr; k++) {
        pq_op *op = pq_graph_find_op(g, ovr[k].op_name);
        op->platform = (p->flags & PQ__PLAT_QUANTIZED) || ovr[k].platform != p->id
                           ? ovr[k].platform
                           : PQ_PLATFORM_FP32;
    }
fail:
    pq_free(mark);
    pq_free(queue);
    return st;
}

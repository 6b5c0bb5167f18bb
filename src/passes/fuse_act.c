/* fuse_act.c - Conv / ConvTranspose / Gemm followed by Relu or a constant Clip marked as one
 * group for the quantizer (no quantization point between them). */
#include "passes_internal.h"

#include <inttypes.h>
#include <string.h>

static const char *const producers[] = {"Conv", "ConvTranspose", "Gemm", NULL};

/* Whether act is a Relu, or a Clip whose bounds are constants (or absent). */
static int fusable_activation(const pq_op *act, const char **why)
{
    if (pq_op_is(act, "Relu")) return 1;
    if (!pq_op_is(act, "Clip")) {
        *why = NULL; /* not a candidate */
        return 0;
    }
    for (int i = 1; i < act->n_inputs; i++)
        if (act->inputs[i] && !act->inputs[i]->value) {
            *why = "the Clip bounds are not constants";
            return 0;
        }
    return 1;
}

pq_status pq_pass_fuse_activation(pq_graph *g, pq_pass_result *res, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_pass_result local;
    double t0 = pq_time_now();
    int64_t n_relu = 0, n_clip = 0;
    if (!res) res = &local;
    pq__result_begin(res, "fuse_activation", g);
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *act = g->ops.items[k];
        if (!(pq_op_is(act, "Relu") || pq_op_is(act, "Clip")) || !act->n_inputs || !act->inputs[0])
            continue;
        pq_var *y = act->inputs[0];
        pq_op *p = y->source_op;
        if (!p || !pq__op_is_any(p, producers)) continue;
        const char *fu = pq_op_get_ext_str(act, PQ_EXT_FUSION);
        if (fu && strcmp(fu, "conv_activation") == 0) continue; /* marked already */
        const char *why = NULL;
        if (!fusable_activation(act, &why)) {
            if (why) pq__result_refuse(res, act, "%s", why);
            continue;
        }
        if (!pq__only_reader(g, y, act)) {
            pq__result_refuse(res, act, "%s",
                              pq_graph_is_output(g, y) ? "the producer's output is a graph output"
                                                       : "the producer's output has other readers");
            continue;
        }
        PQ_TRY(pq_op_set_ext_str(p, PQ_EXT_FUSION, "conv_activation", err));
        PQ_TRY(pq_op_set_ext_str(p, PQ_EXT_FUSED_WITH, act->name, err));
        PQ_TRY(pq_op_set_ext_int(p, PQ_EXT_FUSED_OUTPUT, 1, err));
        PQ_TRY(pq_op_set_ext_str(act, PQ_EXT_FUSION, "conv_activation", err));
        PQ_TRY(pq_op_set_ext_str(act, PQ_EXT_FUSED_WITH, p->name, err));
        if (pq_op_is(act, "Relu"))
            n_relu++;
        else
            n_clip++;
        res->changes++;
    }
    pq__result_note(res, "%" PRId64 " Conv/Gemm + Relu and %" PRId64 " + Clip marked fused",
                    n_relu, n_clip);
fail:
    pq__result_end(res, g, t0);
    return st;
}

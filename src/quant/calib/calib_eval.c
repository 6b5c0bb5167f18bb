/* calib_eval.c - quantized simulation against float: SNR, cosine and top-1 accuracy, with
 * per-batch float partials so that the results do not depend on the batch split. */
#include "calib_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#define N_SUMS 5 /* noise, signal, xy, xx, yy */

void pq_calib_eval_clear(pq_calib_eval *e)
{
    if (!e) return;
    for (int i = 0; i < e->n_vars; i++) pq_free(e->vars[i].name);
    pq_free(e->vars);
    memset(e, 0, sizeof *e);
}

/* Whether the output TQC of a variable's producer makes it a quantized variable. */
static int var_is_quantized(const pq_var *v)
{
    const pq_op *src = v->source_op;
    if (!src || !src->qconfig) return 0;
    for (int j = 0; j < src->n_outputs && j < src->qconfig->n_outputs; j++)
        if (src->outputs[j] == v) return pq_tqc_is_active(&src->qconfig->outputs[j]);
    return 0;
}

/* The compared variables: graph outputs, then (all_variables) quantized op outputs. */
static pq_status pick_vars(const pq_graph *g, int all, pq_ptrvec *vars, pq_err *err)
{
    pq_status st = PQ_OK;
    for (int64_t i = 0; i < g->outputs.n; i++) PQ_TRY(pq_ptrvec_push(vars, g->outputs.items[i], err));
    if (!all) return PQ_OK;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        for (int j = 0; j < op->n_outputs; j++) {
            pq_var *v = op->outputs[j];
            if (!v || pq_graph_is_output(g, v) || !var_is_quantized(v)) continue;
            PQ_TRY(pq_ptrvec_push(vars, v, err));
        }
    }
fail:
    return st;
}

/* Sums of one batch, in element order (double). */
static void batch_sums(const pq_tensor *x, const pq_tensor *y, double *s)
{
    const float *a = x->data, *b = y->data;
    double noise = 0, signal = 0, xy = 0, xx = 0, yy = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        double xf = a[i], yq = b[i], d = yq - xf;
        noise += d * d;
        signal += xf * xf;
        xy += xf * yq;
        xx += xf * xf;
        yy += yq * yq;
    }
    s[0] = noise;
    s[1] = signal;
    s[2] = xy;
    s[3] = xx;
    s[4] = yy;
}

/* Top-1 hits of logits t ([N, C, 1...]) against labels; first maximum on ties. */
static pq_status top1(const pq_tensor *t, const pq_tensor *labels, int64_t *hits, pq_err *err)
{
    if (t->dtype != PQ_DTYPE_FLOAT32 || t->rank < 2)
        return pq_err_set(err, PQ_ERR_INVALID, "accuracy: output 0 is %s of rank %d, expected "
                          "float32 [N, classes]", pq_dtype_name(t->dtype), t->rank);
    int64_t n = t->dims[0], c = t->dims[1];
    if (n * c != t->numel)
        return pq_err_set(err, PQ_ERR_INVALID, "accuracy: output 0 has trailing dims beyond "
                          "[N, classes]");
    if (labels->numel != n)
        return pq_err_set(err, PQ_ERR_INVALID, "accuracy: %" PRId64 " labels for a batch of %"
                          PRId64, labels->numel, n);
    const float *p = t->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t k = 1; k < c; k++)
            if (p[i * c + k] > p[i * c + best]) best = k;
        if (best == pq_tensor_get_i64(labels, i)) (*hits)++;
    }
    return PQ_OK;
}

pq_status pq_calib_evaluate(pq_graph *g, pq_executor *ex, const pq_calib_eval_options *o,
                            const pq_calib_source *source, const pq_calib_reducer *reducer,
                            pq_calib_eval *out, pq_err *err)
{
    pq_status st = PQ_OK, local = PQ_OK;
    pq_ptrvec vars = {0};
    pq_qsim *sim = NULL;
    double *part = NULL;
    int64_t *numel = NULL;
    uint8_t *seen = NULL;
    const char **names = NULL, **in_names = NULL;
    pq_tensor **fl = NULL, **qt = NULL, **in = NULL;
    int64_t counts[4] = {0, 0, 0, 0}; /* samples, correct float, correct quant, labeled */
    int n_in = (int)g->inputs.n, n_src = n_in + (o->with_labels ? 1 : 0), nv = 0;
    memset(out, 0, sizeof *out);

    /* Setup (agreed on, so that a local allocation failure leaves no process waiting). */
    local = o->n_batches >= 1 ? PQ_OK
                              : pq_err_set(err, PQ_ERR_INVALID, "evaluation: n_batches must be >= 1");
    if (local == PQ_OK) local = pick_vars(g, o->all_variables, &vars, err);
    nv = (int)vars.n;
    if (local == PQ_OK && nv < 1)
        local = pq_err_set(err, PQ_ERR_INVALID, "evaluation: the graph has no output");
    if (local == PQ_OK) {
        part = pq_calloc((size_t)(o->n_batches * nv * N_SUMS), sizeof *part);
        numel = pq_calloc((size_t)nv, sizeof *numel);
        seen = pq_calloc((size_t)o->n_batches, 1);
        names = pq_calloc((size_t)nv, sizeof *names);
        in_names = pq_calloc((size_t)(n_in + 1), sizeof *in_names);
        fl = pq_calloc((size_t)nv, sizeof *fl);
        qt = pq_calloc((size_t)nv, sizeof *qt);
        in = pq_calloc((size_t)n_src + 1, sizeof *in);
        if (!(part && numel && seen && names && in_names && fl && qt && in))
            local = pq_err_set(err, PQ_ERR_NOMEM, "evaluation: out of memory");
    }
    st = pq__calib_agree(reducer, local, err);
    if (st != PQ_OK) goto fail;
    for (int v = 0; v < nv; v++) names[v] = ((pq_var *)vars.items[v])->name;
    for (int i = 0; i < n_in; i++) in_names[i] = ((pq_var *)g->inputs.items[i])->name;

    /* Local work; an error here still goes through the allreduce and agree below. */
    local = pq_qsim_create(ex, &sim, err);
    while (local == PQ_OK) {
        int done = 0;
        int64_t b = -1;
        local = source->next(source->ctx, &b, n_src, in, &done, err);
        if (local != PQ_OK) {
            pq_err_prefix(err, "evaluation: reading a batch");
            break;
        }
        if (done) break;
        if (b < 0 || b >= o->n_batches || seen[b]) {
            local = pq_err_set(err, PQ_ERR_INVALID, "evaluation: batch index %" PRId64 " %s",
                               b, b < 0 || b >= o->n_batches ? "out of range" : "seen twice");
            break;
        }
        seen[b] = 1;
        pq_qsim_enable(sim, 0);
        local = pq_executor_run(ex, n_in, in_names, in, nv, names, fl, err);
        if (local == PQ_OK) {
            pq_qsim_enable(sim, 1);
            local = pq_executor_run(ex, n_in, in_names, in, nv, names, qt, err);
        }
        for (int v = 0; v < nv && local == PQ_OK; v++) {
            if (fl[v]->dtype != PQ_DTYPE_FLOAT32 || qt[v]->numel != fl[v]->numel) {
                local = pq_err_set(err, PQ_ERR_INVALID, "variable '%s' is %s: not compared",
                                   names[v], pq_dtype_name(fl[v]->dtype));
                break;
            }
            batch_sums(fl[v], qt[v], part + (b * nv + v) * N_SUMS);
            numel[v] += fl[v]->numel;
        }
        if (local == PQ_OK && in[0] && in[0]->rank > 0) counts[0] += in[0]->dims[0];
        if (local == PQ_OK && o->with_labels) {
            local = top1(fl[0], in[n_in], &counts[1], err);
            if (local == PQ_OK) local = top1(qt[0], in[n_in], &counts[2], err);
            if (local == PQ_OK) counts[3] += in[n_in]->numel;
        }
        if (local != PQ_OK) pq_err_prefix(err, "evaluation: batch %" PRId64, b);
        for (int v = 0; v < nv; v++) {
            pq_tensor_destroy(&fl[v]);
            pq_tensor_destroy(&qt[v]);
        }
        for (int i = 0; i < n_src; i++) pq_tensor_destroy(&in[i]);
    }
    pq_qsim_destroy(&sim);

    {
        pq_obs_segment segs[3];
        pq_err rerr;
        pq_err_clear(&rerr);
        segs[0] = (pq_obs_segment){part, o->n_batches * nv * N_SUMS, PQ_OBS_F64, PQ_OBS_RULE_SUM};
        segs[1] = (pq_obs_segment){numel, nv, PQ_OBS_I64, PQ_OBS_RULE_SUM};
        segs[2] = (pq_obs_segment){counts, 4, PQ_OBS_I64, PQ_OBS_RULE_SUM};
        pq_status red = pq__calib_allreduce(reducer, segs, 3, local == PQ_OK ? err : &rerr);
        if (local == PQ_OK) local = red;
    }
    st = pq__calib_agree(reducer, local, err);
    if (st != PQ_OK) goto fail;

    out->vars = pq_calloc((size_t)nv, sizeof *out->vars);
    PQ_CHECK(out->vars, PQ_ERR_NOMEM, "evaluation: out of memory");
    out->n_vars = nv;
    for (int v = 0; v < nv; v++) {
        pq_calib_var_error *e = &out->vars[v];
        double s[N_SUMS] = {0, 0, 0, 0, 0};
        /* Batch order: the same additions whatever process computed each batch. */
        for (int64_t b = 0; b < o->n_batches; b++)
            for (int k = 0; k < N_SUMS; k++) s[k] += part[(b * nv + v) * N_SUMS + k];
        e->name = pq_strdup(names[v]);
        PQ_CHECK(e->name, PQ_ERR_NOMEM, "evaluation: out of memory");
        e->is_output = pq_graph_is_output(g, vars.items[v]);
        e->noise = s[0];
        e->signal = s[1];
        e->xy = s[2];
        e->xx = s[3];
        e->yy = s[4];
        e->numel = numel[v];
        e->snr = s[1] > 0 ? s[0] / s[1] : (s[0] > 0 ? INFINITY : 0.0);
        e->cosine = (s[3] > 0 && s[4] > 0) ? s[2] / sqrt(s[3] * s[4])
                                           : (s[3] == 0 && s[4] == 0 ? 1.0 : 0.0);
    }
    out->samples = counts[0];
    out->has_labels = o->with_labels;
    out->correct_float = counts[1];
    out->correct_quant = counts[2];
    if (o->with_labels && counts[3] > 0) {
        out->acc_float = (double)counts[1] / (double)counts[3];
        out->acc_quant = (double)counts[2] / (double)counts[3];
    }
fail:
    if (st != PQ_OK) pq_calib_eval_clear(out);
    pq_qsim_destroy(&sim);
    if (in)
        for (int i = 0; i < n_src; i++) pq_tensor_destroy(&in[i]);
    pq_free(in);
    pq_free(fl);
    pq_free(qt);
    pq_free(names);
    pq_free(in_names);
    pq_free(seen);
    pq_free(numel);
    pq_free(part);
    pq_ptrvec_free(&vars);
    return st;
}

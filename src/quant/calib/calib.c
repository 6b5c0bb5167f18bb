/* calib.c - the calibration pipeline: data-free quantization of the graph, then observers on
 * every INITIAL activation TQC over the batches of a source, merged through a reducer.
 * See pq_calib.h. */
#include "calib_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void pq_calib_options_init(pq_calib_options *o)
{
    memset(o, 0, sizeof *o);
}

/* ------------------------------------------------------------------ sources and reducers */

static pq_status mem_next(void *ctx, int64_t *batch_index, int n_inputs, pq_tensor **inputs,
                          int *done, pq_err *err)
{
    pq_calib_memsource *m = ctx;
    if (n_inputs != m->n_inputs)
        return pq_err_set(err, PQ_ERR_INVALID, "memory source: %d tensors asked, batches have %d",
                          n_inputs, m->n_inputs);
    if (m->pos >= m->n_batches) {
        *done = 1;
        return PQ_OK;
    }
    *done = 0;
    for (int i = 0; i < n_inputs; i++)
        inputs[i] = pq_tensor_retain(m->batches[m->pos * n_inputs + i]);
    *batch_index = m->indices ? m->indices[m->pos] : m->pos;
    m->pos++;
    return PQ_OK;
}

static pq_status mem_rewind(void *ctx, pq_err *err)
{
    (void)err;
    ((pq_calib_memsource *)ctx)->pos = 0;
    return PQ_OK;
}

void pq_calib_memsource_init(pq_calib_memsource *mem, pq_tensor *const *batches,
                             const int64_t *indices, int64_t n_batches, int n_inputs,
                             pq_calib_source *src)
{
    mem->batches = batches;
    mem->indices = indices;
    mem->n_batches = n_batches;
    mem->n_inputs = n_inputs;
    mem->pos = 0;
    src->next = mem_next;
    src->rewind = mem_rewind;
    src->ctx = mem;
}

pq_status pq__calib_allreduce(const pq_calib_reducer *r, pq_obs_segment *segs, int n_segs,
                              pq_err *err)
{
    if (!r || !r->allreduce || n_segs == 0) return PQ_OK;
    pq_status st = r->allreduce(r->ctx, segs, n_segs, err);
    if (st != PQ_OK) pq_err_prefix(err, "allreduce of %d segments", n_segs);
    return st;
}

pq_status pq__calib_agree(const pq_calib_reducer *r, pq_status local, pq_err *err)
{
    if (!r || !r->agree) return local;
    return r->agree(r->ctx, local, err);
}

/* ------------------------------------------------------------------ algorithm choice */

static const char *var_algo(const pq_calib_options *o, const char *var)
{
    for (int i = 0; i < o->n_var_algos; i++)
        if (o->var_algos[i].var && strcmp(o->var_algos[i].var, var) == 0)
            return o->var_algos[i].algorithm;
    return NULL;
}

static void observer_opts(const pq_calib_options *o, pq_observer_opts *oo)
{
    memset(oo, 0, sizeof *oo);
    oo->n_bins = o->bins;
    oo->percentile = o->percentile;
    oo->threads = o->threads;
}

/* Channel count of a TQC for a tensor of the given shape (1 per tensor). */
static pq_status tqc_channels(const pq_tqc *q, int rank, const int64_t *dims, const char *name,
                              int64_t *n, pq_err *err)
{
    *n = 1;
    if (!(q->policy & PQ_QPOLICY_PER_CHANNEL)) return PQ_OK;
    int axis = q->channel_axis < 0 ? q->channel_axis + rank : q->channel_axis;
    if (rank < 0 || axis < 0 || axis >= rank || dims[axis] < 1)
        return pq_err_set(err, PQ_ERR_UNSUPPORTED,
                          "tensor '%s': per-channel TQC on axis %d of a tensor whose shape is "
                          "unknown (rank %d); trace shapes or use a per-tensor policy",
                          name, q->channel_axis, rank);
    *n = dims[axis];
    return PQ_OK;
}

/* Calibrates one weight TQC with an observer run over the weight itself. */
static pq_status observe_weight(pq_op *op, pq_var *v, pq_tqc *q, const char *algo,
                                const pq_calib_options *o, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_observer *obs = NULL;
    pq_observer_opts oo;
    int64_t nc = 1;
    observer_opts(o, &oo);
    PQ_TRY(tqc_channels(q, v->value->rank, v->value->dims, v->name, &nc, err));
    PQ_TRY(pq_observer_create(algo, q, v->name, nc, &oo, &obs, err));
    while (pq_observer_pass(obs) != 0) {
        PQ_TRY(pq_observer_observe(obs, v->value, err));
        PQ_TRY(pq_observer_end_pass(obs, err));
    }
    PQ_TRY(pq_observer_compute(obs, q, err));
    q->state = PQ_TQC_STATE_ACTIVATED;
fail:
    if (st != PQ_OK)
        pq_err_prefix(err, "op '%s' (%s): weight '%s' (%s)", op->name, op->type, v->name, algo);
    pq_observer_destroy(&obs);
    return st;
}

pq_status pq_calib_quantize_graph(pq_graph *g, const pq_calib_options *o, pq_err *err)
{
    pq_status st = PQ_OK;
    const char *pname = o->platform ? o->platform : "trt_int8";
    const pq_platform *p = pq_platform_find(pname);
    PQ_CHECK(p != NULL, PQ_ERR_CONFIG, "unknown platform '%s'", pname);
    st = pq_dispatch(g, o->dispatcher ? o->dispatcher : "conservative", p, o->dispatch_overrides,
                     o->n_dispatch_overrides, err);
    if (st != PQ_OK) {
        pq_err_prefix(err, "dispatch");
        goto fail;
    }
    st = pq_platform_quantize(p, g, NULL, err);
    if (st != PQ_OK) {
        pq_err_prefix(err, "quantizer '%s'", pname);
        goto fail;
    }
    PQ_TRY(pq_quant_simplify(g, NULL, err));
    /* Weights with another algorithm than minmax (globally or per variable) first. */
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        for (int i = 0; i < op->n_inputs && i < op->qconfig->n_inputs; i++) {
            pq_var *v = op->inputs[i];
            pq_tqc *q = &op->qconfig->inputs[i];
            if (!v || !pq_var_is_parameter(v) || q->state != PQ_TQC_STATE_INITIAL) continue;
            const char *algo = var_algo(o, v->name);
            if (!algo) algo = o->weight_algo;
            if (!algo || strcmp(algo, "minmax") == 0) continue;
            PQ_TRY(observe_weight(op, v, q, algo, o, err));
        }
    }
    PQ_TRY(pq_quant_parameters(g, NULL, err));
fail:
    return st;
}

/* ------------------------------------------------------------------ activation observers */

/* One observed TQC. */
typedef struct cal_obs {
    pq_observer *obs;
    pq_tqc *tqc;
    const pq_var *var;
    int n_passes;
} cal_obs;

/* Per operation: which input / output slots have an observer (index into cal->obs, or -1). */
typedef struct cal_op {
    int n_in, n_out;
    int64_t *in, *out;
} cal_op;

typedef struct calib_ctx {
    cal_obs *obs;
    int64_t n_obs;
    cal_op *ops;            /* parallel to g->ops at the start of the run */
    pq_strmap by_name;      /* op name -> cal_op * */
    pq_strmap watched;      /* names of the observed variables */
    int pass;               /* current pass (1 or 2) */
    double hook_seconds;    /* wall time inside the hooks in this pass */
    int64_t batch;          /* global index of the batch running (messages) */
} calib_ctx;

static pq_status observe_slot(calib_ctx *c, int64_t idx, const pq_tensor *t, pq_err *err)
{
    cal_obs *co = &c->obs[idx];
    if (co->n_passes < c->pass || !t) return PQ_OK;
    return pq_observer_observe(co->obs, t, err);
}

static pq_status hook_before(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                             pq_tensor **outputs, void *user, pq_err *err)
{
    (void)n_outputs;
    (void)outputs;
    calib_ctx *c = user;
    cal_op *co = pq_strmap_get(&c->by_name, op->name);
    if (!co) return PQ_OK;
    double t0 = pq_time_now();
    pq_status st = PQ_OK;
    for (int i = 0; i < n_inputs && i < co->n_in && st == PQ_OK; i++)
        if (co->in[i] >= 0) st = observe_slot(c, co->in[i], inputs[i], err);
    c->hook_seconds += pq_time_now() - t0;
    return st;
}

static pq_status hook_after(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                            pq_tensor **outputs, void *user, pq_err *err)
{
    (void)n_inputs;
    (void)inputs;
    calib_ctx *c = user;
    cal_op *co = pq_strmap_get(&c->by_name, op->name);
    if (!co) return PQ_OK;
    double t0 = pq_time_now();
    pq_status st = PQ_OK;
    for (int j = 0; j < n_outputs && j < co->n_out && st == PQ_OK; j++)
        if (co->out[j] >= 0) st = observe_slot(c, co->out[j], outputs[j], err);
    c->hook_seconds += pq_time_now() - t0;
    return st;
}

/* The executor's question: does an observer read v? */
static int watched(const pq_var *v, void *user)
{
    return pq_strmap_get(&((calib_ctx *)user)->watched, v->name) != NULL;
}

static void ctx_free(calib_ctx *c, int64_t n_ops)
{
    for (int64_t i = 0; i < c->n_obs; i++) pq_observer_destroy(&c->obs[i].obs);
    pq_free(c->obs);
    if (c->ops)
        for (int64_t k = 0; k < n_ops; k++) {
            pq_free(c->ops[k].in);
            pq_free(c->ops[k].out);
        }
    pq_free(c->ops);
    pq_strmap_free(&c->by_name);
    pq_strmap_free(&c->watched);
    memset(c, 0, sizeof *c);
}

/* Whether the TQC is one this run calibrates. */
static int wants_observer(const pq_tqc *q, const pq_var *v)
{
    return v && !pq_var_is_parameter(v) && q->state == PQ_TQC_STATE_INITIAL;
}

static pq_status add_observer(calib_ctx *c, const pq_calib_options *o, pq_op *op, pq_tqc *q,
                              const pq_var *v, int64_t *slot, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_observer_opts oo;
    int64_t nc = 1;
    const char *algo = var_algo(o, v->name);
    if (!algo) algo = o->activation_algo;
    if (!algo) algo = q->observer[0] ? q->observer : "minmax";
    observer_opts(o, &oo);
    cal_obs *co = &c->obs[c->n_obs];
    PQ_TRY(tqc_channels(q, v->rank, v->dims, v->name, &nc, err));
    PQ_TRY(pq_observer_create(algo, q, v->name, nc, &oo, &co->obs, err));
    co->tqc = q;
    co->var = v;
    co->n_passes = pq_observer_n_passes(co->obs);
    *slot = c->n_obs++;
    PQ_TRY(pq_strmap_put(&c->watched, v->name, co, err));
fail:
    if (st != PQ_OK) pq_err_prefix(err, "op '%s' (%s)", op->name, op->type);
    return st;
}

/* Creates every observer. The order (graph order, inputs then outputs) fixes the segment
 * layout, identical on every process since the graph is. */
static pq_status ctx_build(calib_ctx *c, pq_graph *g, const pq_calib_options *o, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t max_obs = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (op->qconfig) max_obs += op->qconfig->n_inputs + op->qconfig->n_outputs;
    }
    c->obs = pq_calloc((size_t)(max_obs ? max_obs : 1), sizeof *c->obs);
    c->ops = pq_calloc((size_t)(g->ops.n ? g->ops.n : 1), sizeof *c->ops);
    PQ_CHECK(c->obs && c->ops, PQ_ERR_NOMEM, "calibration: out of memory");
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        pq_op_qconfig *qc = op->qconfig;
        if (!qc) continue;
        cal_op *co = &c->ops[k];
        int any = 0;
        co->n_in = qc->n_inputs < op->n_inputs ? qc->n_inputs : op->n_inputs;
        co->n_out = qc->n_outputs < op->n_outputs ? qc->n_outputs : op->n_outputs;
        co->in = pq_malloc(sizeof(int64_t) * (size_t)(co->n_in + 1));
        co->out = pq_malloc(sizeof(int64_t) * (size_t)(co->n_out + 1));
        PQ_CHECK(co->in && co->out, PQ_ERR_NOMEM, "calibration: out of memory");
        for (int i = 0; i < co->n_in; i++) {
            co->in[i] = -1;
            if (!wants_observer(&qc->inputs[i], op->inputs[i])) continue;
            PQ_TRY(add_observer(c, o, op, &qc->inputs[i], op->inputs[i], &co->in[i], err));
            any = 1;
        }
        for (int j = 0; j < co->n_out; j++) {
            co->out[j] = -1;
            if (!wants_observer(&qc->outputs[j], op->outputs[j])) continue;
            PQ_TRY(add_observer(c, o, op, &qc->outputs[j], op->outputs[j], &co->out[j], err));
            any = 1;
        }
        if (any) PQ_TRY(pq_strmap_put(&c->by_name, op->name, co, err));
    }
fail:
    return st;
}

/* Runs every batch the source gives for the current pass. */
static pq_status run_pass(calib_ctx *c, pq_graph *g, pq_executor *ex,
                          const pq_calib_source *src, int64_t *n_batches, int64_t *n_samples,
                          pq_err *err)
{
    pq_status st = PQ_OK;
    int n_in = (int)g->inputs.n;
    pq_tensor **in = pq_calloc((size_t)(n_in ? n_in : 1), sizeof *in);
    const char **names = pq_calloc((size_t)(n_in ? n_in : 1), sizeof *names);
    PQ_CHECK(in && names, PQ_ERR_NOMEM, "calibration: out of memory");
    for (int i = 0; i < n_in; i++) names[i] = ((pq_var *)g->inputs.items[i])->name;
    for (;;) {
        int done = 0;
        int64_t b = -1;
        st = src->next(src->ctx, &b, n_in, in, &done, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "pass %d: reading a batch", c->pass);
            goto fail;
        }
        if (done) break;
        c->batch = b;
        for (int i = 0; i < n_in; i++)
            PQ_CHECK(in[i] != NULL, PQ_ERR_INVALID, "pass %d: batch %" PRId64 ": input '%s' missing",
                     c->pass, b, names[i]);
        st = pq_executor_run(ex, n_in, names, in, 0, NULL, NULL, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "pass %d: batch %" PRId64, c->pass, b);
            goto fail;
        }
        (*n_batches)++;
        if (n_in > 0 && in[0]->rank > 0) *n_samples += in[0]->dims[0];
        for (int i = 0; i < n_in; i++) pq_tensor_destroy(&in[i]);
    }
fail:
    for (int i = 0; i < n_in && in; i++) pq_tensor_destroy(&in[i]);
    pq_free(in);
    pq_free(names);
    return st;
}

/* Gathers the segments of every observer still in `pass`, one allreduce, end_pass. */
static pq_status reduce_pass(calib_ctx *c, int pass, const pq_calib_reducer *r, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t cap = 0, n = 0;
    for (int64_t i = 0; i < c->n_obs; i++)
        if (c->obs[i].n_passes >= pass) cap += PQ_OBS_MAX_SEGMENTS;
    pq_obs_segment *segs = pq_calloc((size_t)(cap ? cap : 1), sizeof *segs);
    int n_int = 0;
    PQ_CHECK(segs, PQ_ERR_NOMEM, "calibration: out of memory");
    for (int64_t i = 0; i < c->n_obs; i++) {
        if (c->obs[i].n_passes < pass) continue;
        n += pq_observer_state(c->obs[i].obs, segs + n);
    }
    PQ_TRY(pq_i64_to_int(n, &n_int, err));
    PQ_TRY(pq__calib_allreduce(r, segs, n_int, err));
fail:
    pq_free(segs);
    return st;
}

static pq_status end_pass(calib_ctx *c, int pass, pq_err *err)
{
    for (int64_t i = 0; i < c->n_obs; i++) {
        if (c->obs[i].n_passes < pass) continue;
        pq_status st = pq_observer_end_pass(c->obs[i].obs, err);
        if (st != PQ_OK) return st;
    }
    return PQ_OK;
}

/* Scales of every observer. With a sharing reducer over several processes, observer i is
 * computed by process i mod world and the results are summed into every process (each
 * number comes from one process, so the sum is exact and every process applies the same
 * bits). Otherwise every observer here. */
static pq_status compute_scales(calib_ctx *c, const pq_calib_reducer *r, pq_err *err)
{
    pq_status st = PQ_OK;
    int world = r && r->share && r->world > 1 ? r->world : 1, rank = world > 1 ? r->rank : 0;
    if (world == 1) {
        for (int64_t i = 0; i < c->n_obs; i++) {
            st = pq_observer_compute(c->obs[i].obs, c->obs[i].tqc, err);
            if (st != PQ_OK) {
                pq_err_prefix(err, "tensor '%s'", c->obs[i].var->name);
                return st;
            }
        }
        return PQ_OK;
    }
    int64_t total = 0;
    for (int64_t i = 0; i < c->n_obs; i++) total += pq_observer_result_len(c->obs[i].obs);
    double *buf = pq_calloc((size_t)total, sizeof *buf);
    pq_status local = buf ? PQ_OK : pq_err_set(err, PQ_ERR_NOMEM, "calibration: out of memory");
    for (int64_t i = 0, off = 0; buf && local == PQ_OK && i < c->n_obs; i++) {
        int64_t len = pq_observer_result_len(c->obs[i].obs);
        if (i % world == rank) {
            local = pq_observer_compute_result(c->obs[i].obs, c->obs[i].tqc, buf + off, err);
            if (local != PQ_OK) pq_err_prefix(err, "tensor '%s'", c->obs[i].var->name);
        }
        off += len;
    }
    /* Every process takes part in both sums, whatever its local outcome: first the count
     * of failed processes, then (when none failed) the results. */
    double failed = local != PQ_OK;
    pq_err serr;
    pq_err_clear(&serr);
    st = r->share(r->ctx, &failed, 1, local == PQ_OK ? err : &serr);
    if (local != PQ_OK) {
        st = local;
        goto fail;
    }
    if (st != PQ_OK) goto fail;
    PQ_CHECK(failed == 0, PQ_ERR_INVALID,
             "calibration: %g other process(es) failed computing the scales", failed);
    PQ_TRY(r->share(r->ctx, buf, total, err));
    for (int64_t i = 0, off = 0; st == PQ_OK && i < c->n_obs; i++) {
        st = pq_observer_apply_result(c->obs[i].obs, c->obs[i].tqc, buf + off, err);
        if (st != PQ_OK) pq_err_prefix(err, "tensor '%s'", c->obs[i].var->name);
        off += pq_observer_result_len(c->obs[i].obs);
    }
fail:
    pq_free(buf);
    return st;
}

pq_status pq_calib_run(pq_graph *g, pq_executor *ex, const pq_calib_options *o,
                       const pq_calib_source *source, const pq_calib_reducer *reducer,
                       pq_calib_stats *stats, pq_err *err)
{
    pq_status st = PQ_OK;
    calib_ctx c;
    pq_calib_stats s;
    int64_t n_ops = g->ops.n;
    int max_pass = 0;
    memset(&c, 0, sizeof c);
    memset(&s, 0, sizeof s);

    /* Setup: the same graph on every process gives the same observers; agree anyway so that
     * an allocation failure on one process does not leave the others in a collective. */
    st = ctx_build(&c, g, o, err);
    {
        double t0 = pq_time_now();
        st = pq__calib_agree(reducer, st, err);
        s.reduce_seconds += pq_time_now() - t0;
    }
    if (st != PQ_OK) goto fail;
    for (int64_t i = 0; i < c.n_obs; i++)
        if (c.obs[i].n_passes > max_pass) max_pass = c.obs[i].n_passes;
    s.observers = c.n_obs;
    s.n_passes = max_pass;

    pq_executor_set_hooks(ex, hook_before, hook_after, &c);
    /* Observers read only their variables, and their state is the same for any split of
     * the data into calls: the executor keeps micro-batches and fused activations. */
    pq_executor_set_hook_traits(ex, PQ_HOOKS_SPLIT_OK | PQ_HOOKS_READ_ONLY, watched, &c);
    for (int pass = 1; pass <= max_pass; pass++) {
        pq_status local = PQ_OK, red;
        double t0 = pq_time_now();
        c.pass = pass;
        c.hook_seconds = 0;
        if (pass > 1 && source->rewind) {
            local = source->rewind(source->ctx, err);
            if (local != PQ_OK) pq_err_prefix(err, "pass %d: rewinding the source", pass);
        }
        if (local == PQ_OK)
            local = run_pass(&c, g, ex, source, &s.batches[pass - 1], &s.samples[pass - 1], err);
        s.seconds[pass - 1] = pq_time_now() - t0;
        s.observe_seconds[pass - 1] = c.hook_seconds;
        t0 = pq_time_now();
        /* Failure rule: the allreduce runs whatever the local outcome, then agree. */
        {
            pq_err rerr;
            pq_err_clear(&rerr);
            red = reduce_pass(&c, pass, reducer, local == PQ_OK ? err : &rerr);
            if (local == PQ_OK) local = red;
        }
        st = pq__calib_agree(reducer, local, err);
        s.reduce_seconds += pq_time_now() - t0;
        if (st != PQ_OK) goto fail;
        PQ_TRY(end_pass(&c, pass, err));
    }
    pq_executor_set_hooks(ex, NULL, NULL, NULL);

    /* Scales from the reduced states; states change only once all succeeded. */
    {
        double t0 = pq_time_now();
        st = compute_scales(&c, reducer, err);
        s.scale_seconds = pq_time_now() - t0;
        if (st != PQ_OK) goto fail;
    }
    for (int64_t i = 0; i < c.n_obs && o->on_observer; i++) {
        st = o->on_observer(o->on_observer_user, c.obs[i].var, c.obs[i].obs, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "tensor '%s'", c.obs[i].var->name);
            goto fail;
        }
    }
    for (int64_t i = 0; i < c.n_obs; i++) c.obs[i].tqc->state = PQ_TQC_STATE_ACTIVATED;
    {
        pq_qpass_stats as = {0, 0}, ps = {0, 0};
        if (!o->skip_alignment)
            PQ_TRY(pq_quant_align(g, o->concat_align, o->elementwise_align, &as, err));
        PQ_TRY(pq_quant_passive_parameters(g, &ps, err));
        s.aligned = as.changed;
        s.passive = ps.changed;
    }
fail:
    pq_executor_set_hooks(ex, NULL, NULL, NULL);
    ctx_free(&c, n_ops);
    if (stats) *stats = s;
    return st;
}

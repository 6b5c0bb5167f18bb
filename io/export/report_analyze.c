/* report_analyze.c - the report's rows from a calibrated graph: float vs quantized
 * simulation per layer (graphwise: every layer quantized; layerwise: one layer at a time)
 * and activation histograms. See pq_report_analyze in pq_report.h. */
#include "pq_quant.h"
#include "pq_report.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#define N_SUMS 5 /* noise sum (q-f)^2, signal sum f^2, sum fq, sum ff, sum qq */

/* One row under analysis. */
typedef struct arow {
    const pq_var *var;
    const pq_op *op;          /* producer; for a graph input the op that quantizes it */
    const pq_tqc *in_tqc;     /* graph input: the TQC applied to it */
    int feed;                 /* graph input: feed index, else -1 */
    int req;                  /* index in the request list, else -1 */
    int quantized;
    double gsum[N_SUMS], lsum[N_SUMS];
    int64_t numel;
    double mn, mx;
    int64_t *counts;
    int has_clip;
    double clip_lo, clip_hi;
} arow;

/* Hooks: off (float), every op (graphwise), or one op (layerwise), around pq_qsim's. */
typedef struct filter {
    pq_qsim *sim;
    int mode;                 /* 0 off, 1 all, 2 target only */
    const pq_op *target;
} filter;

static pq_status filt_before(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                             pq_tensor **outputs, void *user, pq_err *err)
{
    filter *f = user;
    if (f->mode == 0 || (f->mode == 2 && op != f->target)) return PQ_OK;
    return pq_qsim_before(op, n_inputs, inputs, n_outputs, outputs, f->sim, err);
}

static pq_status filt_after(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                            pq_tensor **outputs, void *user, pq_err *err)
{
    filter *f = user;
    if (f->mode == 0 || (f->mode == 2 && op != f->target)) return PQ_OK;
    return pq_qsim_after(op, n_inputs, inputs, n_outputs, outputs, f->sim, err);
}

static int op_is_quantized(const pq_op *op)
{
    if (!op || !op->qconfig) return 0;
    for (int i = 0; i < op->qconfig->n_inputs; i++)
        if (pq_tqc_is_active(&op->qconfig->inputs[i])) return 1;
    for (int j = 0; j < op->qconfig->n_outputs; j++)
        if (pq_tqc_is_active(&op->qconfig->outputs[j])) return 1;
    return 0;
}

/* The TQC simulation applies to input i of op when the variable has no producer (pq_qsim's
 * rule for graph inputs), or NULL. */
static const pq_tqc *input_tqc(const pq_op *op, int i)
{
    if (!op->qconfig || i >= op->qconfig->n_inputs) return NULL;
    const pq_tqc *q = &op->qconfig->inputs[i];
    if (q->state == PQ_TQC_STATE_ACTIVATED || q->state == PQ_TQC_STATE_PASSIVE) return q;
    if (q->state == PQ_TQC_STATE_OVERLAPPED) {
        const pq_tqc *r = pq_tqc_resolve(q);
        if (r != q && pq_tqc_is_active(r) && r->state != PQ_TQC_STATE_BAKED &&
            r->state != PQ_TQC_STATE_PASSIVE_BAKED)
            return r;
    }
    return NULL;
}

/* The clip range a TQC represents: the union over channels. */
static void tqc_clip(const pq_tqc *q, arow *a)
{
    const pq_tqc *r = pq_tqc_resolve(q);
    if (!r || !pq_tqc_is_active(q) || r->n_channels < 1 || !r->scale) return;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t c = 0; c < r->n_channels; c++) {
        float l, h;
        pq_tqc_range(r, c, &l, &h);
        lo = fmin(lo, l);
        hi = fmax(hi, h);
    }
    a->has_clip = 1;
    a->clip_lo = lo;
    a->clip_hi = hi;
}

static int has_baked(const pq_graph *g)
{
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        for (int i = 0; i < op->qconfig->n_inputs; i++) {
            pq_tqc_state s = op->qconfig->inputs[i].state;
            if (s == PQ_TQC_STATE_BAKED || s == PQ_TQC_STATE_PASSIVE_BAKED) return 1;
        }
    }
    return 0;
}

/* The rows, in graph order: quantized graph inputs, then outputs of quantized ops and graph
 * outputs. */
static pq_status pick_rows(const pq_graph *g, const pq_ptrvec *feeds, arow **out, int *n_out,
                           int *n_req, pq_err *err)
{
    pq_status st = PQ_OK;
    int cap = 0, n = 0, nr = 0;
    arow *rows = NULL;
    for (int64_t k = 0; k < g->ops.n; k++) cap += ((pq_op *)g->ops.items[k])->n_outputs;
    cap += (int)feeds->n;
    rows = pq_calloc((size_t)(cap > 0 ? cap : 1), sizeof *rows);
    PQ_CHECK(rows, PQ_ERR_NOMEM, "report analysis: out of memory");
    for (int64_t f = 0; f < feeds->n; f++) {
        const pq_var *v = feeds->items[f];
        for (int64_t k = 0; k < g->ops.n; k++) {
            const pq_op *op = g->ops.items[k];
            const pq_tqc *q = NULL;
            for (int i = 0; i < op->n_inputs && !q; i++)
                if (op->inputs[i] == v) q = input_tqc(op, i);
            if (!q) continue;
            arow *a = &rows[n++];
            a->var = v;
            a->op = op;
            a->in_tqc = q;
            a->feed = (int)f;
            a->req = -1;
            a->quantized = 1;
            tqc_clip(q, a);
            break;
        }
    }
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        int quant = op_is_quantized(op);
        for (int j = 0; j < op->n_outputs; j++) {
            const pq_var *v = op->outputs[j];
            if (!v || (!quant && !pq_graph_is_output(g, v))) continue;
            if (v->dtype != PQ_DTYPE_FLOAT32 && v->dtype != PQ_DTYPE_UNDEFINED) continue;
            arow *a = &rows[n++];
            a->var = v;
            a->op = op;
            a->feed = -1;
            a->req = nr++;
            a->quantized = quant;
            if (quant && j < op->qconfig->n_outputs) tqc_clip(&op->qconfig->outputs[j], a);
        }
    }
    for (int i = 0; i < n; i++) {
        rows[i].mn = INFINITY;
        rows[i].mx = -INFINITY;
    }
    *out = rows;
    *n_out = n;
    *n_req = nr;
    return PQ_OK;
fail:
    pq_free(rows);
    return st;
}

/* Sums of one batch in element order (double), as pq_calib_evaluate computes them. */
static void batch_sums(const float *a, const float *b, int64_t n, double *s)
{
    double noise = 0, signal = 0, xy = 0, xx = 0, yy = 0;
    for (int64_t i = 0; i < n; i++) {
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

static void add_sums(double *total, const float *f, const float *q, int64_t n)
{
    double s[N_SUMS];
    batch_sums(f, q, n, s);
    for (int k = 0; k < N_SUMS; k++) total[k] += s[k];
}

static void finish(const double *s, double *snr, double *cosine)
{
    *snr = s[1] > 0 ? s[0] / s[1] : (s[0] > 0 ? INFINITY : 0.0);
    *cosine = (s[3] > 0 && s[4] > 0) ? s[2] / sqrt(s[3] * s[4])
                                     : (s[3] == 0 && s[4] == 0 ? 1.0 : 0.0);
}

/* Float tensor check for a row value. */
static pq_status check_float(const arow *a, const pq_tensor *t, pq_err *err)
{
    if (!t || t->dtype != PQ_DTYPE_FLOAT32)
        return pq_err_set(err, PQ_ERR_INVALID, "variable '%s' is %s, expected float32",
                          a->var->name, t ? pq_dtype_name(t->dtype) : "absent");
    return PQ_OK;
}

static void destroy_all(pq_tensor **t, int n)
{
    for (int i = 0; t && i < n; i++) pq_tensor_destroy(&t[i]);
}

pq_status pq_report_analyze(pq_report *r, const pq_graph *g, pq_executor *ex, int n_inputs,
                            int64_t n_batches, pq_tensor *const *batches,
                            const pq_report_analysis_options *o, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_ptrvec feeds = {0};
    arow *rows = NULL;
    int n_rows = 0, n_req = 0, rows_before = r->n_rows, phases_before = r->n_phases, hooked = 0;
    const char **req = NULL, **feed_names = NULL;
    pq_tensor **fl = NULL, **qt = NULL, *qin = NULL;
    pq_qsim *sim = NULL;
    filter filt = {NULL, 0, NULL};
    int64_t n_bins = o && o->n_bins > 0 ? o->n_bins : 128, samples = 0, b = -1;
    int layerwise = !(o && o->skip_layerwise);
    double t0, t_ranges = 0, t_graph = 0, t_layer = 0;

    for (int64_t i = 0; i < g->inputs.n; i++) {
        pq_var *v = g->inputs.items[i];
        if (!pq_var_is_parameter(v)) PQ_TRY(pq_ptrvec_push(&feeds, v, err));
    }
    PQ_CHECK(n_inputs == (int)feeds.n, PQ_ERR_INVALID,
             "report analysis: %d tensors per batch given, the graph has %lld inputs", n_inputs,
             (long long)feeds.n);
    PQ_CHECK(n_batches >= 1 && batches, PQ_ERR_INVALID, "report analysis: no batches");
    PQ_CHECK(!has_baked(g), PQ_ERR_INVALID,
             "report analysis: the graph has baked parameters, so its float run would be "
             "quantized; unbake it first (pq_quant_unbake)");
    PQ_TRY(pick_rows(g, &feeds, &rows, &n_rows, &n_req, err));
    req = pq_calloc((size_t)n_req + 1, sizeof *req);
    feed_names = pq_calloc((size_t)n_inputs + 1, sizeof *feed_names);
    fl = pq_calloc((size_t)n_req + 1, sizeof *fl);
    qt = pq_calloc((size_t)n_req + 1, sizeof *qt);
    PQ_CHECK(req && feed_names && fl && qt, PQ_ERR_NOMEM, "report analysis: out of memory");
    for (int i = 0; i < n_rows; i++)
        if (rows[i].req >= 0) req[rows[i].req] = rows[i].var->name;
    for (int i = 0; i < n_inputs; i++) feed_names[i] = ((pq_var *)feeds.items[i])->name;
    for (int i = 0; i < n_rows; i++) {
        rows[i].counts = pq_calloc((size_t)n_bins, sizeof *rows[i].counts);
        PQ_CHECK(rows[i].counts, PQ_ERR_NOMEM, "report analysis: out of memory");
    }

    PQ_TRY(pq_qsim_create(ex, &sim, err));
    filt.sim = sim;
    pq_executor_set_hooks(ex, filt_before, filt_after, &filt);
    hooked = 1;

    /* Pass 1: float ranges (they fix the histogram bins). */
    t0 = pq_time_now();
    for (b = 0; b < n_batches; b++) {
        pq_tensor *const *in = batches + b * n_inputs;
        filt.mode = 0;
        PQ_TRY(pq_executor_run(ex, n_inputs, feed_names, in, n_req, req, fl, err));
        for (int i = 0; i < n_rows; i++) {
            arow *a = &rows[i];
            const pq_tensor *t = a->feed >= 0 ? in[a->feed] : fl[a->req];
            PQ_TRY(check_float(a, t, err));
            const float *x = t->data;
            double mn = a->mn, mx = a->mx;
            for (int64_t e = 0; e < t->numel; e++) {
                PQ_CHECK(isfinite(x[e]), PQ_ERR_NUMERIC,
                         "variable '%s' holds a non-finite value at flat index %" PRId64,
                         a->var->name, e);
                if (x[e] < mn) mn = x[e];
                if (x[e] > mx) mx = x[e];
            }
            a->mn = mn;
            a->mx = mx;
        }
        samples += in[0]->rank > 0 ? in[0]->dims[0] : 1;
        destroy_all(fl, n_req);
    }
    t_ranges = pq_time_now() - t0;

    /* Pass 2: histograms, graphwise and layerwise sums. */
    for (b = 0; b < n_batches; b++) {
        pq_tensor *const *in = batches + b * n_inputs;
        t0 = pq_time_now();
        filt.mode = 0;
        PQ_TRY(pq_executor_run(ex, n_inputs, feed_names, in, n_req, req, fl, err));
        filt.mode = 1;
        PQ_TRY(pq_executor_run(ex, n_inputs, feed_names, in, n_req, req, qt, err));
        for (int i = 0; i < n_rows; i++) {
            arow *a = &rows[i];
            const pq_tensor *f = a->feed >= 0 ? in[a->feed] : fl[a->req];
            const pq_tensor *q = a->feed >= 0 ? NULL : qt[a->req];
            PQ_TRY(check_float(a, f, err));
            if (a->feed >= 0) {
                PQ_TRY(pq_tensor_clone(f, &qin, err));
                PQ_TRY(pq_fake_quant_tensor(a->in_tqc, qin, err));
                q = qin;
            }
            PQ_TRY(check_float(a, q, err));
            PQ_CHECK(q->numel == f->numel, PQ_ERR_INTERNAL,
                     "variable '%s': %" PRId64 " quantized elements, %" PRId64 " float",
                     a->var->name, q->numel, f->numel);
            add_sums(a->gsum, f->data, q->data, f->numel);
            if (a->feed >= 0) add_sums(a->lsum, f->data, q->data, f->numel);
            a->numel += f->numel;
            pq_tensor_destroy(&qin);
            /* Histogram over [mn, mx] of pass 1. */
            const float *x = f->data;
            double w = a->mx > a->mn ? (a->mx - a->mn) / (double)n_bins : 0.0;
            for (int64_t e = 0; e < f->numel; e++) {
                int64_t k = w > 0 ? (int64_t)(((double)x[e] - a->mn) / w) : 0;
                if (k < 0) k = 0;
                if (k >= n_bins) k = n_bins - 1;
                a->counts[k]++;
            }
        }
        destroy_all(qt, n_req);
        t_graph += pq_time_now() - t0;

        if (!layerwise) {
            destroy_all(fl, n_req);
            continue;
        }
        t0 = pq_time_now();
        filt.mode = 2;
        for (int i = 0; i < n_rows;) {
            /* Rows of one op are consecutive: one run per quantized op. */
            int j = i;
            while (j < n_rows && rows[j].op == rows[i].op && rows[j].feed < 0) j++;
            if (j == i || !rows[i].quantized) {
                i = j > i ? j : i + 1;
                continue;
            }
            int n_op = j - i;
            const char *names[64];
            pq_tensor *outs[64] = {NULL};
            PQ_CHECK(n_op <= 64, PQ_ERR_UNSUPPORTED, "report analysis: op '%s' has %d outputs",
                     rows[i].op->name, n_op);
            for (int k = 0; k < n_op; k++) names[k] = rows[i + k].var->name;
            filt.target = rows[i].op;
            st = pq_executor_run(ex, n_inputs, feed_names, in, n_op, names, outs, err);
            for (int k = 0; k < n_op && st == PQ_OK; k++) {
                arow *a = &rows[i + k];
                st = check_float(a, outs[k], err);
                if (st == PQ_OK && outs[k]->numel != fl[a->req]->numel)
                    st = pq_err_set(err, PQ_ERR_INTERNAL, "variable '%s': element count "
                                    "differs between runs", a->var->name);
                if (st == PQ_OK)
                    add_sums(a->lsum, fl[a->req]->data, outs[k]->data, outs[k]->numel);
            }
            destroy_all(outs, n_op);
            if (st != PQ_OK) {
                pq_err_prefix(err, "layerwise run of op '%s'", rows[i].op->name);
                goto fail;
            }
            i = j;
        }
        destroy_all(fl, n_req);
        t_layer += pq_time_now() - t0;
    }
    b = -1;
    pq_qsim_destroy(&sim);
    hooked = 0;

    /* Rows into the report. */
    for (int i = 0; i < n_rows; i++) {
        arow *a = &rows[i];
        pq_report_row row;
        memset(&row, 0, sizeof row);
        row.variable = a->var->name;
        row.op_name = a->op->name;
        row.op_type = a->feed >= 0 ? "Input" : a->op->type;
        row.is_output = pq_graph_is_output(g, a->var);
        row.quantized = a->quantized;
        finish(a->gsum, &row.graph_snr, &row.graph_cosine);
        if (a->quantized && (layerwise || a->feed >= 0))
            finish(a->lsum, &row.layer_snr, &row.layer_cosine);
        else
            row.layer_snr = row.layer_cosine = NAN;
        row.numel = a->numel;
        row.hist.n_bins = n_bins;
        row.hist.counts = a->counts;
        row.hist.lo = a->mn;
        row.hist.hi = a->mx;
        row.hist.has_clip = a->has_clip;
        row.hist.clip_lo = a->clip_lo;
        row.hist.clip_hi = a->clip_hi;
        PQ_TRY(pq_report_add_row(r, &row, err));
    }
    PQ_TRY(pq_report_add_phase(r, "analysis: float ranges", t_ranges, err));
    PQ_TRY(pq_report_add_phase(r, "analysis: graphwise", t_graph, err));
    if (layerwise) PQ_TRY(pq_report_add_phase(r, "analysis: layerwise", t_layer, err));
    r->eval_samples = samples;
    goto done;
fail:
    if (b >= 0) pq_err_prefix(err, "report analysis: batch %" PRId64, b);
    /* Roll back to the rows and phases the report had. */
    while (r->n_rows > rows_before) {
        pq_report_row *w = &r->rows[--r->n_rows];
        pq_free(w->variable);
        pq_free(w->op_name);
        pq_free(w->op_type);
        pq_free(w->hist.counts);
    }
    while (r->n_phases > phases_before) pq_free(r->phases[--r->n_phases].name);
done:
    if (hooked) pq_executor_set_hooks(ex, NULL, NULL, NULL);
    pq_qsim_destroy(&sim);
    pq_tensor_destroy(&qin);
    destroy_all(fl, n_req);
    destroy_all(qt, n_req);
    for (int i = 0; rows && i < n_rows; i++) pq_free(rows[i].counts);
    pq_free(rows);
    pq_free(req);
    pq_free(feed_names);
    pq_free(fl);
    pq_free(qt);
    pq_ptrvec_free(&feeds);
    return st;
}

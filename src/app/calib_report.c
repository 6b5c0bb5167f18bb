/* calib_report.c - `ppq-calib calibrate`: --params and the quantization report.
 * See calib_report.h. */
#include "calib_report.h"

#include "pq_export.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ --params */

/* A TQC the graph quantizes that the file left uncalibrated. */
static pq_status check_calibrated(const pq_graph *g, const char *path, pq_err *err)
{
    pq_tqc_iter it = {0};
    pq_tqc_slot s;
    while (pq_tqc_next(g, &it, &s)) {
        if (s.tqc->state != PQ_TQC_STATE_INITIAL && s.tqc->state != PQ_TQC_STATE_PASSIVE_INIT)
            continue;
        return pq_err_set(err, PQ_ERR_INVALID,
                          "%s: op '%s' (%s) %s %d (variable '%s'): the TQC is not calibrated "
                          "in the file (state %s)",
                          path, s.op->name, s.op->type, s.is_output ? "output" : "input",
                          s.index, s.var->name,
                          s.tqc->state == PQ_TQC_STATE_INITIAL ? "INITIAL" : "PASSIVE_INIT");
    }
    return PQ_OK;
}

pq_status pq_app_params_apply(pq_mpi *m, pq_graph *g, const char *path, json_t **file_prov,
                              pq_err *err)
{
    json_t *p = NULL;
    pq_status local = pq_params_load(g, path, &p, err);
    if (local == PQ_OK) local = check_calibrated(g, path, err);
    pq_status st = pq_mpi_agree(m, local, err);
    if (st == PQ_OK && file_prov) {
        *file_prov = p;
        p = NULL;
    }
    if (p) json_decref(p);
    return st;
}

/* ------------------------------------------------------------------ observer histograms */

pq_status pq_app_obs_hists_capture(void *user, const pq_var *var, const pq_observer *obs,
                                   pq_err *err)
{
    pq_status st = PQ_OK;
    pq_app_obs_hists *hs = user;
    pq_app_obs_hist it;
    const int64_t *counts = NULL;
    memset(&it, 0, sizeof it);
    for (int i = 0; i < hs->n; i++)
        if (strcmp(hs->items[i].var, var->name) == 0) return PQ_OK; /* first one wins */
    it.var = pq_strdup(var->name);
    PQ_CHECK(it.var, PQ_ERR_NOMEM, "report: out of memory");
    snprintf(it.algo, sizeof it.algo, "%s", pq_obs_algo_name(pq_observer_algo(obs)));
    PQ_TRY(pq_observer_histogram(obs, 0, &it.h.n_bins, &counts, &it.h.lo, &it.h.hi,
                                 &it.h.abs_values, err));
    PQ_TRY(pq_observer_clip_range(obs, 0, &it.h.clip_lo, &it.h.clip_hi, err));
    it.h.has_clip = 1;
    it.n_channels = pq_observer_n_channels(obs);
    if (it.h.n_bins > 0) {
        it.h.counts = pq_malloc((size_t)it.h.n_bins * sizeof *it.h.counts);
        PQ_CHECK(it.h.counts, PQ_ERR_NOMEM, "report: out of memory");
        memcpy(it.h.counts, counts, (size_t)it.h.n_bins * sizeof *it.h.counts);
    }
    if (hs->n == hs->cap) {
        int nc = hs->cap ? hs->cap * 2 : 32;
        pq_app_obs_hist *ni = pq_realloc(hs->items, (size_t)nc * sizeof *ni);
        PQ_CHECK(ni, PQ_ERR_NOMEM, "report: out of memory");
        hs->items = ni;
        hs->cap = nc;
    }
    hs->items[hs->n++] = it;
    return PQ_OK;
fail:
    pq_free(it.var);
    pq_free(it.h.counts);
    return st;
}

void pq_app_obs_hists_clear(pq_app_obs_hists *h)
{
    for (int i = 0; i < h->n; i++) {
        pq_free(h->items[i].var);
        pq_free(h->items[i].h.counts);
    }
    pq_free(h->items);
    memset(h, 0, sizeof *h);
}

/* ------------------------------------------------------------------ the report */

char *pq_app_report_html_path(const char *md_path)
{
    size_t n = strlen(md_path);
    if (n > 3 && strcmp(md_path + n - 3, ".md") == 0) n -= 3;
    char *p = pq_malloc(n + 6);
    if (!p) return NULL;
    memcpy(p, md_path, n);
    memcpy(p + n, ".html", 6);
    return p;
}

/* Reads every evaluation batch (graph inputs only; labels dropped). */
static pq_status read_eval_batches(pq_h5_reader *rd, int n_in, int has_labels,
                                   pq_tensor ***out, int64_t *n_batches, pq_err *err)
{
    pq_status st = PQ_OK;
    const int n_all = n_in + (has_labels ? 1 : 0);
    const int64_t nb = pq_h5_reader_n_batches(rd);
    pq_tensor **b = pq_calloc((size_t)(nb * n_in + 1), sizeof *b);
    pq_tensor **one = pq_calloc((size_t)n_all + 1, sizeof *one);
    PQ_CHECK(b && one, PQ_ERR_NOMEM, "report: out of memory");
    for (int64_t k = 0; k < nb; k++) {
        PQ_TRY(pq_h5_reader_read(rd, k, one, NULL, err));
        for (int i = 0; i < n_in; i++) b[k * n_in + i] = one[i];
        if (has_labels) pq_tensor_destroy(&one[n_in]);
    }
    *out = b;
    *n_batches = nb;
    b = NULL;
fail:
    if (b)
        for (int64_t k = 0; k < nb * n_in; k++) pq_tensor_destroy(&b[k]);
    pq_free(b);
    pq_free(one);
    return st;
}

static const pq_app_obs_hist *find_hist(const pq_app_obs_hists *hs, const char *var)
{
    for (int i = 0; hs && i < hs->n; i++)
        if (strcmp(hs->items[i].var, var) == 0) return &hs->items[i];
    return NULL;
}

/* Puts the observers' histograms and clip ranges on the rows (calibration runs). */
static pq_status observer_hists(pq_report *r, const pq_app_obs_hists *hs, pq_err *err)
{
    pq_status st = PQ_OK;
    char note[160];
    PQ_TRY(pq_report_set_hist_caption(
        r,
        "Histograms kept by the calibration observers over the calibration data (reduced over "
        "all ranks); the red dashed lines are the clip range each observer chose, before the "
        "integer grid. Observers without a histogram (minmax, isotone) are said so; a "
        "variable without an observer of its own shows the analysis' float values.",
        err));
    for (int i = 0; i < r->n_rows; i++) {
        const pq_app_obs_hist *h = find_hist(hs, r->rows[i].variable);
        if (!h) {
            /* Its TQC follows another one's (a fused activation, Concat, MaxPool): the
             * analysis' float histogram with the range its TQC represents stays. */
            PQ_TRY(pq_report_set_row_hist(r, i, &r->rows[i].hist,
                                          r->rows[i].quantized
                                              ? "no observer of its own: float values of "
                                                "the analysis, clip = its TQC's range"
                                              : "not quantized: float values of the analysis",
                                          err));
        } else if (h->h.n_bins == 0) {
            pq_report_hist clip;
            memset(&clip, 0, sizeof clip);
            clip.has_clip = 1;
            clip.clip_lo = h->h.clip_lo;
            clip.clip_hi = h->h.clip_hi;
            snprintf(note, sizeof note, "%s observer: no histogram (it keeps only the range)",
                     h->algo);
            PQ_TRY(pq_report_set_row_hist(r, i, &clip, note, err));
        } else {
            if (h->n_channels > 1)
                snprintf(note, sizeof note, "%s observer, channel 0 of %" PRId64, h->algo,
                         h->n_channels);
            PQ_TRY(pq_report_set_row_hist(r, i, &h->h, h->n_channels > 1 ? note : NULL, err));
        }
    }
fail:
    return st;
}

pq_status pq_app_report_build(pq_report *r, const pq_app_report_in *in, const pq_graph *g,
                              pq_executor *ex, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_config *cfg = in->cfg;
    pq_tensor **batches = NULL;
    int64_t nb = 0;
    const int n_in = (int)g->inputs.n;
    char buf[256];
    char algo[96];
    snprintf(algo, sizeof algo, "activation %s, weight %s",
             pq_calib_algo_name(cfg->calibration.activation),
             pq_calib_algo_name(cfg->calibration.weight));
    pq_report_summary s = {cfg->model,
                           cfg->platform,
                           cfg->dispatch.dispatcher,
                           in->params ? "none: parameters loaded (--params)" : algo,
                           in->provenance,
                           in->calib_samples,
                           in->world_size};
    PQ_TRY(pq_report_set_summary(r, &s, err));
    PQ_TRY(pq_report_add_info(r, "data", cfg->data.file, err));
    if (in->params) PQ_TRY(pq_report_add_info(r, "parameters from", in->params, err));
    if (in->cs) {
        snprintf(buf, sizeof buf, "%" PRId64 " observers, %d pass(es), batch size %" PRId64,
                 in->cs->observers, in->cs->n_passes, cfg->calibration.batch_size);
        PQ_TRY(pq_report_add_info(r, "calibration", buf, err));
    }
    if (in->ev && in->ev->has_labels) {
        snprintf(buf, sizeof buf, "float %.4f, quantized %.4f over %" PRId64 " samples",
                 in->ev->acc_float, in->ev->acc_quant, in->ev->samples);
        PQ_TRY(pq_report_add_info(r, "top-1 accuracy", buf, err));
    }
    PQ_TRY(pq_report_add_info(r, "analysis",
                              cfg->analysis.enabled ? "graphwise and layerwise"
                                                    : "off (analysis.enabled: false)",
                              err));
    for (int i = 0; i < in->n_phases; i++)
        PQ_TRY(pq_report_add_phase(r, in->phase_names[i], in->phase_seconds[i], err));
    if (!cfg->analysis.enabled) goto fail;

    {
        double t0 = pq_time_now();
        PQ_TRY(read_eval_batches(in->eval_reader, n_in, in->eval_has_labels, &batches, &nb, err));
        PQ_TRY(pq_report_add_phase(r, "analysis: reading data", pq_time_now() - t0, err));
    }
    st = pq_report_analyze(r, g, ex, n_in, nb, batches, NULL, err);
    if (st != PQ_OK) {
        pq_err_prefix(err, "%s: analysis", cfg->model);
        goto fail;
    }
    if (in->hists) PQ_TRY(observer_hists(r, in->hists, err));
fail:
    for (int64_t k = 0; batches && k < nb * n_in; k++) pq_tensor_destroy(&batches[k]);
    pq_free(batches);
    return st;
}

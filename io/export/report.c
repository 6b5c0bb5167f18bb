/* report.c - the quantization report's data: summary, rows, phases, the worst rows.
 * See pq_report.h. */
#include "pq_report.h"

#include <math.h>
#include <string.h>

void pq_report_init(pq_report *r)
{
    memset(r, 0, sizeof *r);
    r->samples = -1;
    r->eval_samples = -1;
}

static void row_free(pq_report_row *row)
{
    pq_free(row->variable);
    pq_free(row->op_name);
    pq_free(row->op_type);
    pq_free(row->hist.counts);
    pq_free(row->hist_note);
    memset(row, 0, sizeof *row);
}

void pq_report_clear(pq_report *r)
{
    if (!r) return;
    pq_free(r->model);
    pq_free(r->platform);
    pq_free(r->dispatcher);
    pq_free(r->algorithm);
    pq_free(r->provenance);
    for (int i = 0; i < r->n_rows; i++) row_free(&r->rows[i]);
    pq_free(r->rows);
    for (int i = 0; i < r->n_phases; i++) pq_free(r->phases[i].name);
    pq_free(r->phases);
    for (int i = 0; i < r->n_info; i++) {
        pq_free(r->info_keys[i]);
        pq_free(r->info_values[i]);
    }
    pq_free(r->info_keys);
    pq_free(r->info_values);
    pq_free(r->hist_caption);
    pq_report_init(r);
}

/* *dst = copy of src (NULL stays NULL); the old value is freed on success only. */
static pq_status set_str(char **dst, const char *src, pq_err *err)
{
    char *c = NULL;
    if (src) {
        c = pq_strdup(src);
        if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "report: out of memory");
    }
    pq_free(*dst);
    *dst = c;
    return PQ_OK;
}

pq_status pq_report_set_summary(pq_report *r, const pq_report_summary *s, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(set_str(&r->model, s->model, err));
    PQ_TRY(set_str(&r->platform, s->platform, err));
    PQ_TRY(set_str(&r->dispatcher, s->dispatcher, err));
    PQ_TRY(set_str(&r->algorithm, s->algorithm, err));
    PQ_TRY(set_str(&r->provenance, s->provenance, err));
    r->samples = s->samples;
    r->world_size = s->world_size;
fail:
    return st;
}

static pq_status check_hist(const pq_report_hist *h, const char *var, pq_err *err)
{
    if (h->n_bins < 0 || (h->n_bins > 0 && (!h->counts || !(h->hi >= h->lo))))
        return pq_err_set(err, PQ_ERR_INVALID,
                          "report: row '%s': histogram of %lld bins without counts or with "
                          "hi < lo", var, (long long)h->n_bins);
    return PQ_OK;
}

/* dst->counts = a copy of src's counts (NULL when it has none). */
static pq_status copy_counts(pq_report_hist *dst, const pq_report_hist *src, pq_err *err)
{
    dst->counts = NULL;
    if (src->n_bins <= 0) return PQ_OK;
    dst->counts = pq_malloc((size_t)src->n_bins * sizeof *dst->counts);
    if (!dst->counts) return pq_err_set(err, PQ_ERR_NOMEM, "report: out of memory");
    memcpy(dst->counts, src->counts, (size_t)src->n_bins * sizeof *dst->counts);
    return PQ_OK;
}

pq_status pq_report_add_row(pq_report *r, const pq_report_row *row, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_report_row c;
    memset(&c, 0, sizeof c);
    PQ_CHECK(row && row->variable, PQ_ERR_INVALID, "report: a row needs a variable name");
    PQ_TRY(check_hist(&row->hist, row->variable, err));
    if (r->n_rows == r->cap_rows) {
        int nc = r->cap_rows ? r->cap_rows * 2 : 32;
        pq_report_row *nr = pq_realloc(r->rows, (size_t)nc * sizeof *nr);
        PQ_CHECK(nr, PQ_ERR_NOMEM, "report: out of memory");
        r->rows = nr;
        r->cap_rows = nc;
    }
    c = *row;
    c.variable = c.op_name = c.op_type = c.hist_note = NULL;
    c.hist.counts = NULL;
    PQ_TRY(set_str(&c.variable, row->variable, err));
    PQ_TRY(set_str(&c.op_name, row->op_name, err));
    PQ_TRY(set_str(&c.op_type, row->op_type, err));
    PQ_TRY(set_str(&c.hist_note, row->hist_note, err));
    PQ_TRY(copy_counts(&c.hist, &row->hist, err));
    r->rows[r->n_rows++] = c;
    return PQ_OK;
fail:
    row_free(&c);
    return st;
}

pq_status pq_report_add_phase(pq_report *r, const char *name, double seconds, pq_err *err)
{
    pq_status st = PQ_OK;
    char *c = NULL;
    PQ_CHECK(name, PQ_ERR_INVALID, "report: a phase needs a name");
    if (r->n_phases == r->cap_phases) {
        int nc = r->cap_phases ? r->cap_phases * 2 : 8;
        pq_report_phase *np = pq_realloc(r->phases, (size_t)nc * sizeof *np);
        PQ_CHECK(np, PQ_ERR_NOMEM, "report: out of memory");
        r->phases = np;
        r->cap_phases = nc;
    }
    c = pq_strdup(name);
    PQ_CHECK(c, PQ_ERR_NOMEM, "report: out of memory");
    r->phases[r->n_phases].name = c;
    r->phases[r->n_phases].seconds = seconds;
    r->n_phases++;
fail:
    return st;
}

pq_status pq_report_add_info(pq_report *r, const char *key, const char *value, pq_err *err)
{
    pq_status st = PQ_OK;
    char *k = NULL, *v = NULL, **nk = NULL, **nv = NULL;
    PQ_CHECK(key && value, PQ_ERR_INVALID, "report: a summary line needs a key and a value");
    k = pq_strdup(key);
    v = pq_strdup(value);
    nk = pq_realloc(r->info_keys, (size_t)(r->n_info + 1) * sizeof *nk);
    if (nk) r->info_keys = nk;
    nv = pq_realloc(r->info_values, (size_t)(r->n_info + 1) * sizeof *nv);
    if (nv) r->info_values = nv;
    PQ_CHECK(k && v && nk && nv, PQ_ERR_NOMEM, "report: out of memory");
    r->info_keys[r->n_info] = k;
    r->info_values[r->n_info] = v;
    r->n_info++;
    return PQ_OK;
fail:
    pq_free(k);
    pq_free(v);
    return st;
}

pq_status pq_report_set_row_hist(pq_report *r, int i, const pq_report_hist *h, const char *note,
                                 pq_err *err)
{
    pq_status st = PQ_OK;
    pq_report_hist c;
    char *n = NULL;
    memset(&c, 0, sizeof c);
    PQ_CHECK(i >= 0 && i < r->n_rows, PQ_ERR_INVALID, "report: no row %d (%d rows)", i,
             r->n_rows);
    if (h) {
        PQ_TRY(check_hist(h, r->rows[i].variable, err));
        c = *h;
        PQ_TRY(copy_counts(&c, h, err));
    }
    PQ_TRY(set_str(&n, note, err));
    pq_free(r->rows[i].hist.counts);
    pq_free(r->rows[i].hist_note);
    r->rows[i].hist = c;
    r->rows[i].hist_note = n;
    return PQ_OK;
fail:
    pq_free(c.counts);
    return st;
}

pq_status pq_report_set_hist_caption(pq_report *r, const char *text, pq_err *err)
{
    return set_str(&r->hist_caption, text, err);
}

int pq_report_worst(const pq_report *r, int k, int *idx)
{
    int n = 0;
    if (k <= 0) return 0;
    /* Insertion into a sorted prefix of at most k: worst (largest SNR) first, ties in row
     * order (a later row never passes an equal earlier one). +inf sorts first. */
    for (int i = 0; i < r->n_rows; i++) {
        double s = r->rows[i].graph_snr;
        if (isnan(s)) continue;
        int pos = n;
        while (pos > 0 && r->rows[idx[pos - 1]].graph_snr < s) pos--;
        if (pos >= k) continue;
        int last = n < k ? n : k - 1;
        for (int j = last; j > pos; j--) idx[j] = idx[j - 1];
        idx[pos] = i;
        if (n < k) n++;
    }
    return n;
}

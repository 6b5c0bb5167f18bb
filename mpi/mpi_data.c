/* mpi_data.c - which bytes a run reads: the calibration and evaluation readers opened from
 * the config (datasets per graph input, sample limit, batch size), and the data digest of
 * the calibration data. `ppq-calib calibrate` and `ppq-calib verify` both go through here,
 * so verify re-reads exactly the batches calibration read. */
#include "mpi_internal.h"

#include <inttypes.h>
#include <string.h>

int64_t pq_mpi_calib_sample_limit(const pq_config *cfg)
{
    int64_t limit = cfg->calibration.samples;
    if (cfg->calibration.batches > 0) {
        int64_t by_batches = cfg->calibration.batches * cfg->calibration.batch_size;
        if (limit == 0 || by_batches < limit) limit = by_batches;
    }
    return limit;
}

/* The name of graph input i, or of config input i when g is NULL. */
static const char *input_name(const pq_config *cfg, const pq_graph *g, int i)
{
    return g ? ((const pq_var *)g->inputs.items[i])->name : cfg->data.inputs[i].name;
}

/* Opens cfg->data.file with one input per graph input of g (in g's order; config order when
 * g is NULL), each reading datasets[i] when given, else its data.inputs dataset; labels
 * (may be NULL) is appended as an int64 last input. Not agreed. */
static pq_status open_data(pq_mpi *m, const pq_config *cfg, const pq_graph *g,
                           const char *const *datasets, const char *labels, int64_t max_samples,
                           pq_h5_nan_policy nan, pq_h5_reader **out, pq_err *err)
{
    pq_status st = PQ_OK;
    const int n = g ? (int)g->inputs.n : (int)cfg->data.n_inputs;
    pq_h5_input_spec *cs = pq_calloc(cfg->data.n_inputs + 1, sizeof *cs);
    pq_h5_input_spec *specs = pq_calloc((size_t)n + 1, sizeof *specs);
    PQ_CHECK(cs && specs, PQ_ERR_NOMEM, "out of memory");
    pq_config_input_specs(cfg, cs);
    for (int i = 0; i < n; i++) {
        const char *name = input_name(cfg, g, i);
        unsigned k = 0;
        while (k < cfg->data.n_inputs && strcmp(cfg->data.inputs[k].name, name) != 0) k++;
        PQ_CHECK(k < cfg->data.n_inputs, PQ_ERR_CONFIG,
                 "%s: data.inputs: graph input '%s' of %s has no dataset", cfg->path, name,
                 cfg->model);
        specs[i] = cs[k];
        if (datasets && datasets[i]) specs[i].dataset = datasets[i];
    }
    if (labels) {
        pq_h5_input_spec_init(&specs[n], "labels", labels);
        specs[n].dtype = PQ_DTYPE_INT64;
    }
    MPI_Comm comm = m->comm;
    PQ_TRY(pq_h5_reader_open(cfg->data.file, n + (labels ? 1 : 0), specs,
                             cfg->calibration.batch_size, max_samples, nan, &comm, out, err));
fail:
    pq_free(cs);
    pq_free(specs);
    return st;
}

pq_status pq_mpi_open_calib_data(pq_mpi *m, const pq_config *cfg, const pq_graph *g,
                                 pq_h5_reader **out, pq_err *err)
{
    *out = NULL;
    pq_status local = open_data(m, cfg, g, NULL, NULL, pq_mpi_calib_sample_limit(cfg),
                                cfg->data.nan, out, err);
    pq_status st = pq_mpi_agree(m, local, err);
    if (st != PQ_OK) pq_h5_reader_close(out);
    return st;
}

/* Index of graph input `name` (len bytes) in g, or -1. */
static int64_t graph_input(const pq_graph *g, const char *name, size_t len)
{
    for (int64_t i = 0; i < g->inputs.n; i++) {
        const char *in = ((const pq_var *)g->inputs.items[i])->name;
        if (strlen(in) == len && strncmp(in, name, len) == 0) return i;
    }
    return -1;
}

pq_status pq_mpi_open_eval_data(pq_mpi *m, const pq_config *cfg, const pq_graph *g, int n_flags,
                                const char *const *flags, const char *labels,
                                pq_h5_reader **out, int *with_labels, pq_err *err)
{
    pq_status local = PQ_OK, st;
    const char **ds = pq_calloc((size_t)g->inputs.n + 1, sizeof *ds);
    *out = NULL;
    *with_labels = 0;
    if (!ds) local = pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    /* The config first, then the flags over it. */
    for (unsigned k = 0; local == PQ_OK && k < cfg->analysis.n_eval_inputs; k++) {
        const pq_config_pair *p = &cfg->analysis.eval_inputs[k];
        int64_t i = graph_input(g, p->name, strlen(p->name));
        if (i >= 0)
            ds[i] = p->value;
        else
            local = pq_err_set(err, PQ_ERR_CONFIG,
                               "%s: analysis.eval_inputs.%s: %s has no graph input of that name",
                               cfg->path, p->name, cfg->model);
    }
    for (int k = 0; local == PQ_OK && k < n_flags; k++) {
        const char *eq = strchr(flags[k], '=');
        int64_t i = eq ? graph_input(g, flags[k], (size_t)(eq - flags[k])) : -1;
        if (i >= 0)
            ds[i] = eq + 1;
        else
            local = pq_err_set(err, PQ_ERR_CONFIG, "--eval-input %s: %s has no such graph input",
                               flags[k], cfg->model);
    }
    if (!labels) labels = cfg->analysis.labels;
    if (local == PQ_OK)
        local = open_data(m, cfg, g, ds, labels,
                          cfg->analysis.eval_batches * cfg->calibration.batch_size, cfg->data.nan,
                          out, err);
    pq_free(ds);
    st = pq_mpi_agree(m, local, err);
    if (st != PQ_OK) pq_h5_reader_close(out);
    else *with_labels = labels != NULL;
    return st;
}

pq_status pq_mpi_calib_data_digest(pq_mpi *m, const pq_config *cfg,
                                   uint8_t digest[PQ_SHA256_BYTES], pq_err *err)
{
    pq_h5_reader *r = NULL;
    /* The digest is over the stored bytes, before any NaN check: a NaN written into the file
     * since is a change to report, not a failure. */
    pq_status local = open_data(m, cfg, NULL, NULL, NULL, pq_mpi_calib_sample_limit(cfg),
                                PQ_H5_NAN_IGNORE, &r, err);
    pq_status st = pq_mpi_agree(m, local, err);
    if (st == PQ_OK) st = pq_mpi_data_digest(m, r, digest, err);
    pq_h5_reader_close(&r);
    return st;
}

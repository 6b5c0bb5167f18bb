/* calib_report.h - the parts of `ppq-calib calibrate` kept out of the command's flow
 * (cmd_calibrate.c): re-applying saved parameters (--params) and the quantization report
 * (io/export/pq_report.h) filled from the run. Internal to src/app. */
#ifndef PQ_APP_CALIB_REPORT_H
#define PQ_APP_CALIB_REPORT_H

#include "calib/pq_calib.h"
#include "pq_config.h"
#include "pq_core.h"
#include "pq_h5.h"
#include "pq_ir.h"
#include "pq_mpi.h"
#include "pq_report.h"

#include <jansson.h>

/* ------------------------------------------------------------------ --params */

/* Re-applies the JSON parameters at path to g (pq_params_load: ops by name, TQCs by index,
 * all or nothing) on every rank; each rank reads the file, the same bytes give the same
 * TQCs. The outcome is agreed. *file_prov (may be NULL) receives the file's provenance
 * (json_decref; NULL when the file has none). Every TQC the graph quantizes must end
 * calibrated (no INITIAL / PASSIVE_INIT left): otherwise PQ_ERR_INVALID naming the file, the
 * op and the variable. Collective. */
pq_status pq_app_params_apply(pq_mpi *m, pq_graph *g, const char *path, json_t **file_prov,
                              pq_err *err);

/* ------------------------------------------------------------------ observer histograms */

/* Histograms and clip ranges copied from the calibration observers (one per variable, the
 * first observer of it in graph order). */
typedef struct pq_app_obs_hist {
    char *var;             /* owned */
    char algo[32];         /* observer algorithm */
    int64_t n_channels;    /* channels of the observer (1 per tensor) */
    pq_report_hist h;      /* channel 0; counts owned (n_bins 0 for minmax / isotone) */
} pq_app_obs_hist;

typedef struct pq_app_obs_hists {
    int n, cap;
    pq_app_obs_hist *items;
} pq_app_obs_hists;

/* pq_calib_options.on_observer: user is a pq_app_obs_hists. */
pq_status pq_app_obs_hists_capture(void *user, const pq_var *var, const pq_observer *obs,
                                   pq_err *err);
void pq_app_obs_hists_clear(pq_app_obs_hists *h);

/* ------------------------------------------------------------------ the report */

typedef struct pq_app_report_in {
    const pq_config *cfg;
    const char *params;              /* --params file, or NULL after a calibration */
    const pq_calib_stats *cs;        /* calibration statistics (NULL with --params) */
    const pq_calib_eval *ev;         /* evaluation (outputs' accuracy) */
    const pq_app_obs_hists *hists;   /* NULL with --params */
    int64_t calib_samples;           /* -1 with --params */
    int world_size;
    const char *provenance;          /* JSON text of the run's provenance */
    pq_h5_reader *eval_reader;       /* the evaluation data (graph inputs [+ labels]) */
    int eval_has_labels;
    int n_phases;                    /* timed phases of the run, in order */
    const char *const *phase_names;
    const double *phase_seconds;
} pq_app_report_in;

/* Fills r (pq_report_init'ed) from the run: summary and time per phase always; with
 * cfg->analysis.enabled, PPQ's graphwise and layerwise analyses (pq_report_analyze on every
 * batch of in->eval_reader, read here) with, after a calibration, the observers'
 * histograms and clip ranges in place of the analysis' own (an observer without histogram
 * is said so). g and ex: the calibrated graph and its executor (no hooks in use). Not
 * collective: rank 0 calls it. */
pq_status pq_app_report_build(pq_report *r, const pq_app_report_in *in, const pq_graph *g,
                              pq_executor *ex, pq_err *err);

/* The HTML report's path: the Markdown path with ".md" replaced by ".html" (or ".html"
 * appended). pq_malloc'd; NULL when out of memory. */
char *pq_app_report_html_path(const char *md_path);

#endif /* PQ_APP_CALIB_REPORT_H */

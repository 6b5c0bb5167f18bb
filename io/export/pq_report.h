/* pq_report.h - the quantization report: a plain data structure (run summary, one row of
 * error figures and an activation histogram per layer, time per phase) and its writers
 * (Markdown, self-contained HTML with inline SVG charts, a short plain-text table for the
 * terminal), plus an error analysis that fills the rows from a calibrated graph.
 *
 * The report does not depend on how its numbers were computed: the calibration pipeline
 * fills it from its observers and evaluation, tests and tools call pq_report_analyze.
 *
 * SNR here is PPQ's: noise power over signal power, sum (q - f)^2 / sum f^2, where f is the
 * float value and q the value under quantized simulation (0 is perfect, lower is better,
 * 1 means the noise is as strong as the signal). Cosine is sum fq / sqrt(sum ff * sum qq)
 * (1 when both are zero). Graphwise figures have every layer quantized (the error
 * accumulated up to that layer); layerwise figures have only that layer's quantization
 * points enabled (its inputs that are not quantized by their producer, its weights, its
 * outputs), everything else float.
 *
 * Files are written atomically (temporary name in the same folder, fsync, rename): a failed
 * write leaves no partial file and an existing file is replaced only on success.
 */
#ifndef PQ_REPORT_H
#define PQ_REPORT_H

#include "pq_core.h"
#include "pq_exec.h"
#include "pq_ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The histogram of one activation (float values) and the clip range chosen for it. */
typedef struct pq_report_hist {
    int64_t n_bins;      /* 0: no histogram */
    int64_t *counts;     /* n_bins counts (owned); bin k covers [lo + k w, lo + (k+1) w),
                            w = (hi - lo) / n_bins, the last bin includes hi */
    double lo, hi;       /* range of the bins */
    int abs_values;      /* the bins count |x| (lo >= 0), as kl and symmetric percentile
                            observers keep them; 0: they count x */
    int has_clip;        /* clip_lo/clip_hi are set */
    double clip_lo, clip_hi; /* the range the quantizer represents (or the observer's clip
                                range, before the integer grid) */
} pq_report_hist;

/* One layer: an activation variable and the operation that produces it. */
typedef struct pq_report_row {
    char *variable;      /* owned */
    char *op_name;       /* producer (for a graph input: the op that quantizes it); owned */
    char *op_type;       /* "Conv", ...; "Input" for a graph input; owned */
    int is_output;       /* a graph output */
    int quantized;       /* the producer (or the input's reader) has active TQCs */
    double graph_snr, graph_cosine; /* every layer quantized; NAN when not measured */
    double layer_snr, layer_cosine; /* only this layer quantized; NAN when not measured */
    int64_t numel;       /* elements compared (over all evaluated batches) */
    pq_report_hist hist;
    char *hist_note;     /* why there is no histogram (e.g. "minmax observer: ..."), shown
                            instead of the chart; owned; NULL: none */
} pq_report_row;

typedef struct pq_report_phase {
    char *name;          /* owned */
    double seconds;      /* wall time */
} pq_report_phase;

typedef struct pq_report {
    /* run summary (owned strings; NULL when unknown) */
    char *model, *platform, *dispatcher, *algorithm;
    char *provenance;    /* JSON text (shown as a code block) or any string */
    int64_t samples;     /* calibration samples; -1 unknown */
    int world_size;      /* processes of the run; 0 unknown */
    int64_t eval_samples;/* samples of the error analysis; -1 unknown */
    int n_info;          /* further summary lines (data file, accuracy, ...) */
    char **info_keys, **info_values; /* n_info each, owned */
    char *hist_caption;  /* the text above the histograms; NULL: the analysis' default */
    int n_rows, cap_rows;
    pq_report_row *rows; /* in execution (graph) order */
    int n_phases, cap_phases;
    pq_report_phase *phases; /* in run order */
} pq_report;

/* Borrowed strings for pq_report_set_summary; NULL leaves a field unknown. */
typedef struct pq_report_summary {
    const char *model, *platform, *dispatcher, *algorithm, *provenance;
    int64_t samples;     /* -1 unknown */
    int world_size;      /* 0 unknown */
} pq_report_summary;

/* Initialises an empty report (samples -1, eval_samples -1). */
void pq_report_init(pq_report *r);
/* Frees everything the report owns and re-initialises it. Accepts an initialised one. */
void pq_report_clear(pq_report *r);
/* Copies the summary strings (replacing earlier ones). PQ_ERR_NOMEM. */
pq_status pq_report_set_summary(pq_report *r, const pq_report_summary *s, pq_err *err);
/* Appends a copy of row (strings and histogram counts are copied; row is not changed).
 * PQ_ERR_INVALID for a NULL variable name or a histogram with n_bins > 0 and no counts or
 * hi < lo; PQ_ERR_NOMEM. */
pq_status pq_report_add_row(pq_report *r, const pq_report_row *row, pq_err *err);
/* Appends a phase (name copied). */
pq_status pq_report_add_phase(pq_report *r, const char *name, double seconds, pq_err *err);
/* Appends a line "key: value" to the run summary (both copied). PQ_ERR_INVALID for NULL. */
pq_status pq_report_add_info(pq_report *r, const char *key, const char *value, pq_err *err);
/* Replaces row i's histogram by a copy of h (NULL: none) and its note by a copy of note
 * (NULL: none). PQ_ERR_INVALID for a bad index or histogram (as pq_report_add_row). The row
 * is unchanged on failure. */
pq_status pq_report_set_row_hist(pq_report *r, int i, const pq_report_hist *h, const char *note,
                                 pq_err *err);
/* Sets the text shown above the histograms (copied; NULL: the default, which describes
 * pq_report_analyze's float histograms). */
pq_status pq_report_set_hist_caption(pq_report *r, const char *text, pq_err *err);

/* The indices of the (at most) k rows with the largest graphwise SNR (worst first; ties
 * keep row order; rows without a graphwise SNR are left out). idx holds at least k ints.
 * Returns the number written. */
int pq_report_worst(const pq_report *r, int k, int *idx);

/* Texts (pq_malloc'd, NUL-terminated; caller pq_frees *text). PQ_ERR_NOMEM.
 * markdown: summary, SNR definition, the 10 worst layers, all layers, time per phase,
 *   provenance.
 * html: the same content, self-contained (inline CSS, no scripts, no external resources;
 *   well-formed XML), with an SVG bar chart of per-layer SNR (log scale) and, for each of
 *   the worst layers, its histogram with the clip range drawn as vertical lines.
 * text: a short table for a terminal: the k worst layers (k <= 0: 10), the graph outputs'
 *   figures and the total time. */
pq_status pq_report_markdown(const pq_report *r, char **text, pq_err *err);
pq_status pq_report_html(const pq_report *r, char **text, pq_err *err);
pq_status pq_report_text(const pq_report *r, int k, char **text, pq_err *err);

/* The texts above written to path atomically. Messages start with the path. */
pq_status pq_report_save_markdown(const pq_report *r, const char *path, pq_err *err);
pq_status pq_report_save_html(const pq_report *r, const char *path, pq_err *err);

/* ------------------------------------------------------------------ error analysis */

typedef struct pq_report_analysis_options {
    int64_t n_bins;      /* histogram bins; 0 = 128 */
    int skip_layerwise;  /* leave layer_snr/layer_cosine NAN (saves one run per layer) */
} pq_report_analysis_options;

/* Fills r's rows from a calibrated graph and a few batches, without the pipeline.
 * g: quantized and calibrated (TQCs ACTIVATED/PASSIVE/OVERLAPPED/FP32), not baked; ex: an
 * executor built for g with no hooks in use (hooks are replaced during the call and cleared
 * afterwards). batches: n_batches * n_inputs tensors, batch b's feeds at
 * batches[b * n_inputs + i] in the order of g's graph inputs that are not parameters
 * (borrowed).
 * Rows, in graph order: each graph input that an active input TQC quantizes, then each
 * output of an operation with an active TQC and each graph output. Per batch it runs the
 * graph in float, then under quantized simulation (pq_qsim, every layer), then once per
 * quantized operation with only that operation's hooks enabled (unless skip_layerwise),
 * requesting the row variables; the histograms come from an earlier float pass that fixes
 * their ranges (clip range: the resolved TQC's range, pq_tqc_range). Sums are in double,
 * accumulated in element order within a batch and in batch order; so results do not
 * depend on threads. Adds phases "analysis: float ranges", "analysis: graphwise" and
 * "analysis: layerwise" and sets eval_samples. Rows are appended to any already present.
 * Errors: PQ_ERR_INVALID (input count, baked parameters, no batches), PQ_ERR_NUMERIC
 * (non-finite float activation, naming variable and batch), executor errors (prefixed with
 * the batch), PQ_ERR_NOMEM. On failure r keeps the rows it had before the call. */
pq_status pq_report_analyze(pq_report *r, const pq_graph *g, pq_executor *ex, int n_inputs,
                            int64_t n_batches, pq_tensor *const *batches,
                            const pq_report_analysis_options *o, pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_REPORT_H */

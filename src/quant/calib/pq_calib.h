/* pq_calib.h - the calibration pipeline and quantized evaluation, in one process, with
 * pluggable data sources and a pluggable reducer for distributed runs.
 *
 * The pipeline, on a graph that is already loaded and through the graph passes
 * (pq_passes_run "format,fuse": this module is in src/quant and does not call io/ or
 * src/passes, so loading and passes are the caller's):
 *
 *   pq_calib_quantize_graph   (data-free; rank 0 in a distributed run, then broadcast)
 *       dispatch -> platform quantizer -> simplify -> parameter quantization (weights)
 *   pq_calib_run              (collective through the reducer)
 *       one observer per activation TQC in state INITIAL (PASSIVE*, FP32 and OVERLAPPED
 *       TQCs follow their dominator); pass 1 over this process's batches; one allreduce of
 *       every observer segment; end_pass; pass 2 likewise for histogram methods; scales
 *       (pq_observer_compute, TQC state ACTIVATED); alignment; passive parameters.
 *   pq_calib_evaluate         (collective through the reducer)
 *       quantized simulation vs float on given batches: SNR, cosine, top-1 accuracy.
 *
 * Determinism: every scale is a function of the reduced observer states only, and those
 * are bitwise the same whatever the split of the batches over processes and whatever the
 * batch size, as long as each sample's forward pass does not depend on its batch (true of
 * this executor's kernels; the tests check it on the digits model for batch sizes 1, 7 and
 * 32). Evaluation sums of floats are kept per global batch and added in batch order after
 * the reduction, so they too are independent of the split (see pq_calib_evaluate).
 */
#ifndef PQ_CALIB_H
#define PQ_CALIB_H

#include "pq_core.h"
#include "pq_exec.h"
#include "pq_ir.h"
#include "observe/pq_observe.h"
#include "pq_quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ interfaces */

/* Merges observer (and evaluation) segments across processes. A NULL reducer, or one with
 * a NULL allreduce, means this process only.
 *
 * allreduce: merges segs[0..n_segs) element-wise in place by each segment's rule (MIN,
 *   MAX, SUM) over all processes; every process calls it with the same number of segments,
 *   the same counts, types and rules, in the same order (the layout never depends on the
 *   data). All segments of all observers of one pass go through ONE call, so an MPI layer
 *   can pack them into a few large messages. Returns an error (PQ_ERR_MPI ...) when the
 *   communication fails. Collective.
 * agree: called at the end of every collective phase (setup, each pass, evaluation) with
 *   this process's status for the phase (including the status of the allreduce of that
 *   phase); returns the status every process must return: the first error of any process
 *   (the MPI layer: MPI_MAX over the codes, the lowest failing rank's message broadcast into
 *   err), PQ_OK when all succeeded. NULL = identity (returns local; err untouched).
 *   Collective.
 * Failure rule: a process whose local work failed in a pass still calls allreduce for that
 * pass (with whatever its state holds: observers fold a tensor entirely or not at all),
 * then agree; so every process makes the same sequence of collective calls and all of them
 * return the agreed error. A distributed reducer therefore must provide agree. */
/* share (optional): after the last pass, the scales are computed by one process per
 *   observer (observer i by process i mod world, `rank` being this one) and exchanged: every
 *   process calls share with the same buffer layout, zeros except its own results, and
 *   share must leave the elementwise sum of all processes' buffers in buf (exact: each value
 *   comes from one process). It is a plain collective sum, outside the pass sequence that
 *   allreduce and agree follow. NULL (or world <= 1): every process computes every scale. */
typedef struct pq_calib_reducer {
    pq_status (*allreduce)(void *ctx, pq_obs_segment *segs, int n_segs, pq_err *err);
    pq_status (*agree)(void *ctx, pq_status local, pq_err *err);
    void *ctx;
    pq_status (*share)(void *ctx, double *buf, int64_t n, pq_err *err);
    int rank, world;
} pq_calib_reducer;

/* The batches THIS process runs, in any order.
 * next: fills inputs[0..n_inputs) with the next batch (new references the pipeline destroys;
 *   inputs in graph-input order, dims[0] the batch) and *batch_index with its GLOBAL index
 *   (0-based, in [0, n_batches) of the run); or sets *done = 1 (inputs untouched) when this
 *   process has no more batches in this pass. For evaluation with labels, n_inputs is the
 *   number of graph inputs + 1 and the last tensor holds the labels (an integer or float
 *   tensor of dims[0] class indices).
 * rewind: starts the next pass (called before pass 2, and never before the first pass). */
typedef struct pq_calib_source {
    pq_status (*next)(void *ctx, int64_t *batch_index, int n_inputs, pq_tensor **inputs,
                      int *done, pq_err *err);
    pq_status (*rewind)(void *ctx, pq_err *err);
    void *ctx;
} pq_calib_source;

/* An in-memory source over a list of batches, for tests and for callers that already hold
 * their data: batch i of this process is batches[i * n_inputs .. (i+1) * n_inputs) with
 * global index indices[i] (NULL: i). Everything is borrowed (the source retains a
 * reference per returned tensor). Fills *src whose ctx points into *mem (keep mem alive). */
typedef struct pq_calib_memsource {
    pq_tensor *const *batches;
    const int64_t *indices;
    int64_t n_batches;
    int n_inputs;
    int64_t pos;
} pq_calib_memsource;
void pq_calib_memsource_init(pq_calib_memsource *mem, pq_tensor *const *batches,
                             const int64_t *indices, int64_t n_batches, int n_inputs,
                             pq_calib_source *src);

/* ------------------------------------------------------------------ options */

/* Per-variable calibration algorithm. */
typedef struct pq_calib_var_algo {
    const char *var;        /* variable name (activation or parameter) */
    const char *algorithm;  /* observer name: "minmax", "percentile", "kl", "mse", ... */
} pq_calib_var_algo;

/* Options; strings and arrays are borrowed. Zero-initialise, then set what differs, or
 * call pq_calib_options_init. */
typedef struct pq_calib_options {
    /* pq_calib_quantize_graph */
    const char *platform;          /* target platform name; NULL = "trt_int8" */
    const char *dispatcher;        /* NULL = "conservative" */
    const pq_dispatch_override *dispatch_overrides;
    int n_dispatch_overrides;
    const char *weight_algo;       /* NULL or "minmax" = pq_quant_parameters; any other
                                      observer runs on the weight tensor itself */
    /* pq_calib_run */
    const char *activation_algo;   /* NULL = the TQC's own observer field, else "minmax" */
    const pq_calib_var_algo *var_algos; /* per-variable overrides (activations and weights) */
    int n_var_algos;
    int64_t bins;                  /* histogram bins; 0 = the observer's default */
    double percentile;             /* 0 = the observer's default (0.9999) */
    int threads;                   /* observer OpenMP threads; 0 = default */
    uint64_t seed;                 /* recorded; no algorithm here draws random numbers */
    pq_align_mode concat_align;    /* PQ_ALIGN_NONE = the platform's mode */
    pq_align_mode elementwise_align;
    int skip_alignment;            /* 1: no pq_quant_align (each TQC keeps its observer's
                                      scale; for tests and analysis) */
    /* Called by pq_calib_run once per activation observer after every scale is computed
     * (before alignment), before the observer is destroyed, in observer order (graph order,
     * inputs then outputs), on every process with the same reduced state: lets a report
     * copy the histogram and clip range (pq_observer_histogram, pq_observer_clip_range).
     * The observer and the variable are borrowed for the call. An error fails the run.
     * NULL = none. */
    pq_status (*on_observer)(void *user, const pq_var *var, const pq_observer *obs,
                             pq_err *err);
    void *on_observer_user;
} pq_calib_options;

void pq_calib_options_init(pq_calib_options *o);

/* ------------------------------------------------------------------ pipeline */

/* Data-free steps on g (in place): pq_dispatch with the dispatcher and overrides, the
 * platform quantizer, pq_quant_simplify, weight quantization (every INITIAL TQC on a
 * parameter: pq_quant_parameters for minmax, else the weight observer; per-variable
 * overrides apply). Not collective. Errors: PQ_ERR_CONFIG (unknown platform or algorithm),
 * PQ_ERR_INVALID (dispatch), PQ_ERR_NUMERIC (NaN weight), PQ_ERR_NOMEM. On failure g may
 * be partly quantized: discard it. */
pq_status pq_calib_quantize_graph(pq_graph *g, const pq_calib_options *o, pq_err *err);

/* What pq_calib_run did. */
typedef struct pq_calib_stats {
    int64_t observers;        /* activation TQCs calibrated */
    int n_passes;             /* passes over the data (1 or 2) */
    int64_t batches[2];       /* batches this process ran in pass 1 and pass 2 */
    int64_t samples[2];       /* samples (dims[0] summed) this process ran per pass */
    double seconds[2];        /* wall time of each pass (forward + observers, this process) */
    double observe_seconds[2];/* of which inside the observer hooks (the observers' cost;
                                 seconds - observe_seconds is the float forward) */
    double reduce_seconds;    /* wall time inside allreduce/agree */
    double scale_seconds;     /* wall time computing (and sharing) the scales */
    int64_t aligned;          /* TQCs changed by alignment */
    int64_t passive;          /* passive parameters set */
} pq_calib_stats;

/* Calibrates the activations of g (after pq_calib_quantize_graph, same options): see the
 * file comment. ex must be an executor built for g with no hooks in use (its hooks are
 * replaced during the call and cleared afterwards). stats may be NULL. Collective through
 * reducer (NULL = this process only). Every INITIAL activation TQC ends ACTIVATED; the
 * PASSIVE_INIT ones whose sources are ready end PASSIVE.
 * Errors: PQ_ERR_CONFIG (unknown algorithm), PQ_ERR_UNSUPPORTED (per-channel activation of
 * unknown channel count), PQ_ERR_NUMERIC (NaN/Inf activation: message names the tensor and
 * the batch), PQ_ERR_INVALID (a TQC that no batch reached: "tensor 'x': pass 1 saw no
 * data"), source and reducer errors (prefixed "batch B" / "allreduce"), PQ_ERR_NOMEM.
 * On failure the TQCs are left INITIAL. */
pq_status pq_calib_run(pq_graph *g, pq_executor *ex, const pq_calib_options *o,
                       const pq_calib_source *source, const pq_calib_reducer *reducer,
                       pq_calib_stats *stats, pq_err *err);

/* ------------------------------------------------------------------ evaluation */

/* Error of one variable, quantized simulation (y) against float (x), over all evaluated
 * batches:  snr = sum (y - x)^2 / sum x^2   (noise power over signal power, as PPQ's
 * graphwise analysis reports it; 0 is perfect), cosine = sum xy / sqrt(sum xx * sum yy)
 * (1 when both are zero). */
typedef struct pq_calib_var_error {
    char *name;               /* variable name (owned) */
    int is_output;            /* a graph output */
    double noise, signal;     /* sum (y-x)^2, sum x^2 */
    double xy, xx, yy;        /* sum x*y, x*x, y*y */
    double snr, cosine;
    int64_t numel;            /* elements compared */
} pq_calib_var_error;

typedef struct pq_calib_eval {
    int n_vars;
    pq_calib_var_error *vars; /* graph outputs first (in output order), then the quantized
                                 variables in graph order when requested */
    int has_labels;
    int64_t samples;          /* evaluated samples over all processes */
    int64_t correct_float;    /* top-1 hits of graph output 0 (with labels) */
    int64_t correct_quant;
    double acc_float, acc_quant;
} pq_calib_eval;

typedef struct pq_calib_eval_options {
    int64_t n_batches;        /* number of GLOBAL batches of the evaluation (every batch
                                 index a source returns is below it); required, >= 1 */
    int all_variables;        /* also every variable with an active quantized TQC */
    int with_labels;          /* the source returns labels as an extra last tensor */
} pq_calib_eval_options;

/* Runs every batch of source twice on ex (built for g): in float and under quantized
 * simulation (pq_qsim, installed for the call and removed afterwards), and accumulates the
 * errors above and the top-1 accuracy of graph output 0 ([N, classes] or [N, classes,
 * 1...]: argmax over axis 1, first maximum on ties) against the labels.
 * Determinism: the float sums are kept per global batch (one f64 SUM segment of
 * n_batches * n_vars * 5 values where each process fills only its own batches' slots, so
 * the allreduce adds exact zeros), then summed in batch order; so the results are bitwise
 * the same for any split of the batches over processes. Sample and hit counts are int64.
 * *out is filled (pq_calib_eval_clear). Collective through reducer.
 * Errors: PQ_ERR_INVALID (batch index out of range or seen twice, label count mismatch),
 * PQ_ERR_NUMERIC (NaN in the simulation), source/reducer errors, PQ_ERR_NOMEM. */
pq_status pq_calib_evaluate(pq_graph *g, pq_executor *ex, const pq_calib_eval_options *o,
                            const pq_calib_source *source, const pq_calib_reducer *reducer,
                            pq_calib_eval *out, pq_err *err);

/* Frees what an evaluation result owns and zeroes it; accepts a zeroed one. */
void pq_calib_eval_clear(pq_calib_eval *e);

#ifdef __cplusplus
}
#endif
#endif /* PQ_CALIB_H */

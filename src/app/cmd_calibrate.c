/* cmd_calibrate.c - `ppq-calib calibrate --config RUN.yaml [--set KEY=VALUE]... [--quiet]
 * [--eval-input NAME=DATASET]... [--labels DATASET] [--checkpoint CKPT.h5] [--resume CKPT.h5]
 * [--params PARAMS.json]`: load the model, run the graph passes, quantize and calibrate on
 * the HDF5 data (or re-apply saved parameters with --params), evaluate the quantized
 * simulation against float, print a summary and write the exports and the report
 * (calib_report.c).
 *
 * Distributed (mpi/, docs/mpi.md): every rank runs this command. Rank 0 reads the config and
 * the model, which are broadcast and checked by digest; every rank builds the same graph,
 * runs its share of the batches (b mod world size) and the statistics are all-reduced
 * exactly, so the outputs are bitwise those of one process (a plain run is a 1-rank
 * singleton). Every phase ends with an agreement: all ranks return the same status and
 * message. Only rank 0 prints (progress on stderr, summary on stdout) and writes.
 *
 * Outputs are written only after everything else succeeded, each atomically by its writer;
 * when one export fails the files this run already wrote are removed, so a failed run
 * leaves no output file. */
#include "app.h"
#include "app_calib.h"
#include "calib_report.h"
#include "calib/pq_calib.h"
#include "pq_config.h"
#include "pq_core.h"
#include "pq_export.h"
#include "pq_h5.h"
#include "pq_mpi.h"
#include "pq_onnx.h"
#include "pq_passes.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void calibrate_usage(FILE *to)
{
    fprintf(to,
            "usage: ppq-calib calibrate --config RUN.yaml [--set KEY=VALUE]... [--quiet]\n"
            "                           [--eval-input NAME=DATASET]... [--labels DATASET]\n"
            "                           [--checkpoint CKPT.h5] [--resume CKPT.h5]\n"
            "                           [--params PARAMS.json]\n"
            "  --config      the run file (configs/reference.yaml lists every key)\n"
            "  --set a.b=v   override a key (the value is YAML)\n"
            "  --quiet       no summary on stdout\n"
            "  --eval-input  evaluate on another dataset of the data file for graph input NAME\n"
            "                (default: the calibration datasets)\n"
            "  --labels      dataset of class indices for top-1 accuracy of output 0\n"
            "  --checkpoint  write the reduced statistics to CKPT.h5 after each pass (rank 0)\n"
            "  --resume      continue from CKPT.h5 (digests of model, config and data checked),\n"
            "                skipping its completed passes; keeps writing it\n"
            "  --params      re-apply saved parameters (the json export) instead of calibrating,\n"
            "                then evaluate and export as the config says\n"
            "under mpirun the batches are sharded over the ranks; results are bitwise those of\n"
            "one process; rank 0 prints progress (stderr), the summary and writes the outputs\n");
}

/* Every graph input has a dataset in the config and every configured input is a graph
 * input. */
static pq_status check_inputs(const pq_config *cfg, const pq_graph *g, pq_err *err)
{
    for (int64_t i = 0; i < g->inputs.n; i++) {
        const char *name = ((const pq_var *)g->inputs.items[i])->name;
        unsigned k = 0;
        while (k < cfg->data.n_inputs && strcmp(cfg->data.inputs[k].name, name) != 0) k++;
        if (k == cfg->data.n_inputs)
            return pq_err_set(err, PQ_ERR_CONFIG,
                              "%s: data.inputs: graph input '%s' of %s has no dataset "
                              "(the model has %" PRId64 " inputs, the config %u)",
                              cfg->path, name, cfg->model, g->inputs.n, cfg->data.n_inputs);
    }
    for (unsigned k = 0; k < cfg->data.n_inputs; k++) {
        pq_var *v = pq_graph_find_var(g, cfg->data.inputs[k].name);
        if (!v || !pq_graph_is_input(g, v))
            return pq_err_set(err, PQ_ERR_CONFIG,
                              "%s: data.inputs.%s: %s has no graph input of that name "
                              "(the model has %" PRId64 " inputs, the config %u)",
                              cfg->path, cfg->data.inputs[k].name, cfg->model, g->inputs.n,
                              cfg->data.n_inputs);
    }
    return PQ_OK;
}

/* ------------------------------------------------------------------ options from the config */

typedef struct run_opts {
    pq_calib_options o;
    pq_dispatch_override *dovr;
    pq_calib_var_algo *valgo;
    char *passes;
} run_opts;

static void run_opts_free(run_opts *r)
{
    pq_free(r->dovr);
    pq_free(r->valgo);
    pq_free(r->passes);
    memset(r, 0, sizeof *r);
}

static pq_status make_opts(const pq_config *cfg, run_opts *r, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_platform *p = pq_platform_find(cfg->platform);
    size_t len = 1;
    memset(r, 0, sizeof *r);
    PQ_CHECK(p, PQ_ERR_CONFIG, "%s: platform: unknown platform '%s'", cfg->path, cfg->platform);
    pq_calib_options_init(&r->o);
    r->o.platform = cfg->platform;
    r->o.dispatcher = cfg->dispatch.dispatcher;
    r->dovr = pq_calloc(cfg->dispatch.n_overrides + 1, sizeof *r->dovr);
    r->valgo = pq_calloc(cfg->calibration.n_overrides + 1, sizeof *r->valgo);
    PQ_CHECK(r->dovr && r->valgo, PQ_ERR_NOMEM, "out of memory");
    for (unsigned i = 0; i < cfg->dispatch.n_overrides; i++) {
        const char *v = cfg->dispatch.overrides[i].value;
        r->dovr[i].op_name = cfg->dispatch.overrides[i].name;
        if (strcmp(v, "fp32") == 0) {
            r->dovr[i].platform = PQ_PLATFORM_FP32;
        } else {
            PQ_CHECK(strcmp(v, cfg->platform) == 0, PQ_ERR_CONFIG,
                     "%s: dispatch.overrides.%s: '%s' is neither fp32 nor the target platform '%s'",
                     cfg->path, r->dovr[i].op_name, v, cfg->platform);
            r->dovr[i].platform = pq_platform_id_of(p);
        }
    }
    r->o.dispatch_overrides = r->dovr;
    r->o.n_dispatch_overrides = (int)cfg->dispatch.n_overrides;
    r->o.activation_algo = pq_calib_algo_name(cfg->calibration.activation);
    r->o.weight_algo = pq_calib_algo_name(cfg->calibration.weight);
    for (unsigned i = 0; i < cfg->calibration.n_overrides; i++) {
        r->valgo[i].var = cfg->calibration.overrides[i].name;
        r->valgo[i].algorithm = pq_calib_algo_name(cfg->calibration.overrides[i].algo);
    }
    r->o.var_algos = r->valgo;
    r->o.n_var_algos = (int)cfg->calibration.n_overrides;
    r->o.bins = cfg->calibration.bins;
    r->o.percentile = cfg->calibration.percentile;
    r->o.seed = cfg->calibration.seed;
    /* Passes: the configured list joined by commas, or the default pipeline. */
    for (unsigned i = 0; i < cfg->n_passes; i++) len += strlen(cfg->passes[i]) + 1;
    r->passes = pq_malloc(len + 16);
    PQ_CHECK(r->passes, PQ_ERR_NOMEM, "out of memory");
    r->passes[0] = '\0';
    for (unsigned i = 0; i < cfg->n_passes; i++) {
        if (i) strcat(r->passes, ",");
        strcat(r->passes, cfg->passes[i]);
    }
    if (cfg->n_passes == 0) strcpy(r->passes, "format,fuse");
fail:
    return st;
}

/* ------------------------------------------------------------------ outputs */

static pq_status make_dirs(const char *path, pq_err *err)
{
    char *p = pq_strdup(path);
    if (!p) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            pq_status st = pq_err_set(err, PQ_ERR_IO, "%s: cannot create folder: %s", p,
                                      strerror(errno));
            pq_free(p);
            return st;
        }
        *s = '/';
    }
    pq_free(p);
    return PQ_OK;
}

/* A growable text buffer for the summary on stdout. */
typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *s = pq_realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static void summary_table(sbuf *b, const pq_calib_eval *e, int all, unsigned metrics, int md)
{
    const char *sep = md ? " | " : "  ";
    if (md) sb_printf(b, "| variable | SNR | MSE | cosine |\n| --- | --- | --- | --- |\n");
    else sb_printf(b, "%-40s%s%-10s%s%-10s%s%s\n", "output", sep, "SNR", sep, "MSE", sep, "cosine");
    for (int v = 0; v < e->n_vars; v++) {
        const pq_calib_var_error *x = &e->vars[v];
        if (!all && !x->is_output) continue;
        double mse = x->numel > 0 ? x->noise / (double)x->numel : 0;
        if (md)
            sb_printf(b, "| %s | %.4e | %.4e | %.6f |\n", x->name, x->snr, mse, x->cosine);
        else
            sb_printf(b, "%-40s%s%-10.3e%s%-10.3e%s%.6f\n", x->name, sep, x->snr, sep, mse, sep,
                      x->cosine);
    }
    (void)metrics;
    if (e->has_labels)
        sb_printf(b, "%stop-1 accuracy over %" PRId64 " samples: float %.4f, quantized %.4f\n",
                  md ? "\n" : "", e->samples, e->acc_float, e->acc_quant);
}

/* Writes the outputs the config asks for (rank 0), each atomically; on failure removes
 * those this call wrote. pj: the provenance object; rep: the report (Markdown at
 * export.report, HTML next to it). written[] receives the paths (at most 5). */
static pq_status write_exports(const pq_config *cfg, const pq_graph *g, const json_t *pj,
                               const pq_report *rep, const char *html_path, const char **written,
                               int *n_written, pq_err *err)
{
    pq_status st = PQ_OK;
    unsigned f = cfg->export_.formats;
    *n_written = 0;
    if (f & PQ_EXPORT_QDQ_ONNX) PQ_TRY(make_dirs(cfg->export_.qdq_onnx, err));
    if (f & PQ_EXPORT_TRT_CACHE) PQ_TRY(make_dirs(cfg->export_.trt_cache, err));
    if (f & PQ_EXPORT_JSON) PQ_TRY(make_dirs(cfg->export_.json, err));
    if (f & PQ_EXPORT_REPORT) PQ_TRY(make_dirs(cfg->export_.report, err));
    if (f & PQ_EXPORT_QDQ_ONNX) {
        PQ_TRY(pq_export_qdq_onnx(g, NULL, cfg->export_.qdq_onnx, err));
        written[(*n_written)++] = cfg->export_.qdq_onnx;
    }
    if (f & PQ_EXPORT_TRT_CACHE) {
        PQ_TRY(pq_export_trt_cache(g, 0, NULL, cfg->export_.trt_cache, err));
        written[(*n_written)++] = cfg->export_.trt_cache;
    }
    if (f & PQ_EXPORT_JSON) {
        PQ_TRY(pq_params_save(g, pj, cfg->export_.json, err));
        written[(*n_written)++] = cfg->export_.json;
    }
    if (f & PQ_EXPORT_REPORT) {
        PQ_TRY(pq_report_save_markdown(rep, cfg->export_.report, err));
        written[(*n_written)++] = cfg->export_.report;
        PQ_TRY(pq_report_save_html(rep, html_path, err));
        written[(*n_written)++] = html_path;
    }
fail:
    if (st != PQ_OK) {
        for (int i = 0; i < *n_written; i++) remove(written[i]);
        *n_written = 0;
    }
    return st;
}

/* ------------------------------------------------------------------ passes and checkpoints */

/* Passes pq_calib_run will make: 1 when every activation observer is minmax (pass 1 of every
 * algorithm collects min/max), 2 when any is a histogram method. Mirrors the choice of
 * pq_calib_run (per-variable override, then options, then the TQC's own observer). */
static pq_status count_passes(const pq_graph *g, const pq_calib_options *o, int *n, pq_err *err)
{
    pq_tqc_iter it = {0};
    pq_tqc_slot s;
    *n = 1;
    while (pq_tqc_next(g, &it, &s)) {
        if (pq_var_is_parameter(s.var) || s.tqc->state != PQ_TQC_STATE_INITIAL) continue;
        const char *algo = NULL;
        for (int a = 0; a < o->n_var_algos && !algo; a++)
            if (o->var_algos[a].var && strcmp(o->var_algos[a].var, s.var->name) == 0)
                algo = o->var_algos[a].algorithm;
        if (!algo) algo = o->activation_algo;
        if (!algo) algo = s.tqc->observer[0] ? s.tqc->observer : "minmax";
        pq_obs_algo id;
        pq_status st = pq_obs_algo_parse(algo, &id, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "tensor '%s'", s.var->name);
            return st;
        }
        if (id != PQ_OBS_MINMAX) *n = 2;
    }
    return PQ_OK;
}

/* The glue between pq_calib_run and the MPI layer's checkpoints. pq_calib_run makes, on every
 * rank, the collective calls agree (setup), then per pass [allreduce], agree; so the k-th
 * agree ends pass k. The wrapped reducer:
 *   - restores pass p from the checkpoint instead of reducing when p <= n_done (the wrapped
 *     source yields no batch in such a pass, so every rank holds the identity state);
 *   - after an agreed, successful pass p > n_done, saves the reduced state (rank 0 writes
 *     the file atomically; the segments are still the reduced ones: end_pass comes later).
 * The checkpoint is created after pass 1 (the data digest is then known from the source)
 * unless a resumed run loaded it up front. */
typedef struct ckpt_glue {
    pq_mpi *m;
    pq_calib_reducer mpi;        /* pq_mpi_reducer */
    pq_calib_source inner;       /* pq_mpi_source_iface */
    pq_mpi_source *msrc;
    const char *path;            /* NULL: no checkpoint */
    pq_mpi_ckpt *ck;             /* rank 0 (NULL on the others) */
    int ck_ready;                /* every rank: the checkpoint exists on rank 0 */
    int n_done;                  /* passes restored from the checkpoint */
    int n_agree;                 /* agree calls so far */
    int pass;                    /* the source's pass, 1-based */
    int stop_after;              /* PQ_TEST_STOP_AFTER_PASS, 0 = unset */
    int stopped;
    uint8_t model[PQ_SHA256_BYTES], config[PQ_SHA256_BYTES], data[PQ_SHA256_BYTES];
    int have_data;
    pq_obs_segment *segs;        /* descriptors of the last pass's reduced segments */
    int n_segs, cap_segs;
} ckpt_glue;

static pq_status glue_next(void *ctx, int64_t *batch_index, int n_inputs, pq_tensor **inputs,
                           int *done, pq_err *err)
{
    ckpt_glue *gl = ctx;
    if (gl->pass <= gl->n_done) {
        *done = 1;
        return PQ_OK;
    }
    return gl->inner.next(gl->inner.ctx, batch_index, n_inputs, inputs, done, err);
}

static pq_status glue_rewind(void *ctx, pq_err *err)
{
    ckpt_glue *gl = ctx;
    gl->pass++;
    return gl->inner.rewind ? gl->inner.rewind(gl->inner.ctx, err) : PQ_OK;
}

static pq_status glue_allreduce(void *ctx, pq_obs_segment *segs, int n_segs, pq_err *err)
{
    ckpt_glue *gl = ctx;
    int pass = gl->n_agree; /* the setup agree came first */
    pq_status st;
    if (pass <= gl->n_done)
        st = pq_mpi_ckpt_restore(gl->m, gl->ck, pass, segs, n_segs, err);
    else
        st = gl->mpi.allreduce(gl->mpi.ctx, segs, n_segs, err);
    if (st != PQ_OK || !gl->path) return st;
    /* After the collective call: a local allocation failure is carried to agree. */
    if (n_segs > gl->cap_segs) {
        pq_obs_segment *ns = pq_realloc(gl->segs, sizeof *ns * (size_t)n_segs);
        if (!ns) return pq_err_set(err, PQ_ERR_NOMEM, "checkpoint: out of memory");
        gl->segs = ns;
        gl->cap_segs = n_segs;
    }
    memcpy(gl->segs, segs, sizeof *segs * (size_t)n_segs);
    gl->n_segs = n_segs;
    return PQ_OK;
}

/* Results of the scale computation: not part of the pass sequence the checkpoint follows. */
static pq_status glue_share(void *ctx, double *buf, int64_t n, pq_err *err)
{
    ckpt_glue *gl = ctx;
    return gl->mpi.share(gl->mpi.ctx, buf, n, err);
}

static pq_status glue_agree(void *ctx, pq_status local, pq_err *err)
{
    ckpt_glue *gl = ctx;
    int pass = gl->n_agree++;
    pq_status st = gl->mpi.agree(gl->mpi.ctx, local, err);
    if (st != PQ_OK || pass < 1 || !gl->path) goto out;
    if (pass > gl->n_done) {
        if (!gl->have_data) {
            /* Pass 1 just read every batch: the data digest is known. */
            st = pq_mpi_source_data_digest(gl->msrc, gl->data, err);
            if (st != PQ_OK) goto out;
            gl->have_data = 1;
        }
        if (!gl->ck_ready) {
            pq_status c = PQ_OK;
            if (pq_mpi_rank(gl->m) == 0)
                c = pq_mpi_ckpt_create(gl->path, gl->model, gl->config, gl->data, &gl->ck, err);
            st = pq_mpi_agree(gl->m, c, err);
            if (st != PQ_OK) goto out;
            gl->ck_ready = 1;
        }
        st = pq_mpi_ckpt_save(gl->m, gl->ck, pass, gl->segs, gl->n_segs, err);
        if (st != PQ_OK) goto out;
    }
    if (gl->stop_after == pass) {
        gl->stopped = 1;
        st = pq_err_set(err, PQ_ERR_INTERNAL,
                        "stopped after pass %d as PQ_TEST_STOP_AFTER_PASS asks (checkpoint %s)",
                        pass, gl->path);
    }
out:
    gl->n_segs = 0;
    return st;
}

/* ------------------------------------------------------------------ the command */

typedef struct cli {
    const char *path;
    int quiet;
    int n_sets;
    const char **sets;
    int n_eval;
    const char **eval; /* NAME=DATASET */
    const char *labels;
    const char *checkpoint;
    const char *resume;
    const char *params; /* --params: saved parameters instead of calibration */
} cli;

static int parse_args(int argc, char **argv, cli *c, int report)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            if (report) calibrate_usage(stdout);
            return -1;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            c->quiet = 1;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            c->path = argv[++i];
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            c->sets[c->n_sets++] = argv[++i];
        } else if (strncmp(argv[i], "--set=", 6) == 0) {
            c->sets[c->n_sets++] = argv[i] + 6;
        } else if (strcmp(argv[i], "--eval-input") == 0 && i + 1 < argc && strchr(argv[i + 1], '=')) {
            c->eval[c->n_eval++] = argv[++i];
        } else if (strcmp(argv[i], "--labels") == 0 && i + 1 < argc) {
            c->labels = argv[++i];
        } else if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc) {
            c->checkpoint = argv[++i];
        } else if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc) {
            c->resume = argv[++i];
        } else if (strcmp(argv[i], "--params") == 0 && i + 1 < argc) {
            c->params = argv[++i];
        } else {
            if (report) {
                pq_app_error("calibrate: unexpected argument '%s'", argv[i]);
                calibrate_usage(stderr);
            }
            return PQ_EXIT_USAGE;
        }
    }
    if (!c->path) {
        if (report) {
            pq_app_error("calibrate: --config is required");
            calibrate_usage(stderr);
        }
        return PQ_EXIT_USAGE;
    }
    if (c->checkpoint && c->resume && strcmp(c->checkpoint, c->resume) != 0) {
        if (report) {
            pq_app_error("calibrate: --resume %s continues writing that checkpoint; "
                         "--checkpoint %s must be the same file or left out",
                         c->resume, c->checkpoint);
            calibrate_usage(stderr);
        }
        return PQ_EXIT_USAGE;
    }
    if (c->params && (c->checkpoint || c->resume)) {
        if (report) {
            pq_app_error("calibrate: --params does not calibrate: --checkpoint and --resume "
                         "do not apply");
            calibrate_usage(stderr);
        }
        return PQ_EXIT_USAGE;
    }
    return 0;
}

/* The provenance object of the exports; with --params it also records the parameter file
 * and that file's own provenance under "params". */
static pq_status params_provenance(const pq_provenance *prov, const char *params,
                                   json_t *file_prov, json_t **out, pq_err *err)
{
    json_t *pj = pq_provenance_to_json(prov), *pp = NULL;
    if (pj && params) {
        pp = json_pack("{s:s, s:O}", "file", params, "provenance",
                       file_prov ? file_prov : json_null());
        if (!pp || json_object_set_new(pj, "params", pp) != 0) {
            json_decref(pj);
            pj = NULL;
        }
    }
    *out = pj;
    return pj ? PQ_OK : pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
}

/* The folder of a path ("." when it has none), pq_malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return pq_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = pq_malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* Everything after argument parsing, collective over m: every phase ends with an agreement,
 * so every rank returns the same status and message. Only rank 0 writes outputs and prints. */
static pq_status run(const cli *c, pq_mpi *m, int *stopped, pq_err *err)
{
    pq_status st = PQ_OK, local = PQ_OK;
    const int rank = pq_mpi_rank(m), size = pq_mpi_size(m);
    pq_mpi_run_inputs in;
    pq_config *cfg = NULL;
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_h5_reader *r = NULL, *re = NULL;
    pq_mpi_progress *prog = NULL;
    pq_mpi_source *msrc = NULL, *esrc = NULL;
    run_opts ro;
    pq_calib_stats cs;
    pq_calib_eval ev;
    pq_provenance prov;
    ckpt_glue gl;
    char *base_dir = NULL, *html_path = NULL, *prov_text = NULL;
    const char *written[5] = {NULL, NULL, NULL, NULL, NULL};
    int n_written = 0, n_passes = 1, with_labels = 0;
    const pq_calib_reducer mred = pq_mpi_reducer(m);
    /* The report: observer histograms, timed phases (rank 0's wall time). */
    pq_report rep;
    pq_app_obs_hists hists;
    json_t *file_prov = NULL, *pj = NULL;
    const char *phase_names[6];
    double phase_seconds[6], t_phase = pq_time_now();
    int n_phases = 0;
    pq_report_init(&rep);
    memset(&hists, 0, sizeof hists);
    memset(&in, 0, sizeof in);
    memset(&ro, 0, sizeof ro);
    memset(&cs, 0, sizeof cs);
    memset(&ev, 0, sizeof ev);
    memset(&prov, 0, sizeof prov);
    memset(&gl, 0, sizeof gl);
    *stopped = 0;

    /* Run inputs: rank 0 reads, every rank checks the digests (agreed inside). */
    PQ_TRY(pq_mpi_load_run_inputs(m, c->path, c->n_sets, c->sets, &in, err));
    pq_mpi_phase_mark(m, "inputs");
    cfg = in.config;

    /* The graph: the same bytes and the same data-free steps give the same graph on every
     * rank. */
    local = make_opts(cfg, &ro, err);
    if (local == PQ_OK) {
        if (cfg->threads > 0) pq_exec_set_threads((int)cfg->threads);
        base_dir = dir_of(cfg->model);
        local = base_dir ? pq_onnx_load_buffer(in.model, in.model_len, cfg->model, base_dir, &g, err)
                         : pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    }
    if (local == PQ_OK) local = check_inputs(cfg, g, err);
    if (local == PQ_OK && (local = pq_passes_run(g, ro.passes, NULL, err)) != PQ_OK)
        pq_err_prefix(err, "%s: passes", cfg->model);
    if (local == PQ_OK && (local = pq_calib_quantize_graph(g, &ro.o, err)) != PQ_OK)
        pq_err_prefix(err, "%s", cfg->model);
    if (local == PQ_OK) local = count_passes(g, &ro.o, &n_passes, err);
    ro.o.on_observer = pq_app_obs_hists_capture;
    ro.o.on_observer_user = &hists;
    if (local == PQ_OK) {
        pq_exec_options eo = {.threads = (int)cfg->threads};
        local = pq_executor_create(g, &eo, &ex, err);
    }
    PQ_TRY(pq_mpi_agree(m, local, err));
    pq_mpi_phase_mark(m, "graph");
    phase_names[n_phases] = "load, passes, quantize";
    phase_seconds[n_phases++] = pq_time_now() - t_phase;

    /* --params: the saved parameters replace calibration (PPQ's native load): no data pass,
     * no observer; every rank applies the file, then evaluation and exports as usual. */
    if (c->params) {
        t_phase = pq_time_now();
        PQ_TRY(pq_app_params_apply(m, g, c->params, &file_prov, err));
        phase_names[n_phases] = "parameters loaded";
        phase_seconds[n_phases++] = pq_time_now() - t_phase;
        goto evaluate;
    }

    /* Calibration data: the first `samples` samples and/or `batches` batches, opened on
     * the communicator (collective; MPI-IO with more than one rank; shared with verify). */
    PQ_TRY(pq_mpi_open_calib_data(m, cfg, g, &r, err));
    PQ_TRY(pq_mpi_progress_create(m, pq_h5_reader_n_samples(r), cfg->calibration.batch_size,
                                  n_passes, c->quiet, NULL, 0, &prog, err));
    local = pq_mpi_source_create(m, r, prog, &msrc, err);
    PQ_TRY(pq_mpi_agree(m, local, err));

    /* Checkpoint: --resume loads it (digests of model, effective config and data checked on
     * rank 0) and continues writing it; --checkpoint starts a new one after pass 1. */
    gl.m = m;
    gl.mpi = mred;
    gl.inner = pq_mpi_source_iface(msrc);
    gl.msrc = msrc;
    gl.pass = 1;
    gl.path = c->resume ? c->resume : c->checkpoint;
    memcpy(gl.model, in.model_sha256, PQ_SHA256_BYTES);
    memcpy(gl.config, in.results_sha256, PQ_SHA256_BYTES); /* export.* left out */
    {
        const char *stop = getenv("PQ_TEST_STOP_AFTER_PASS");
        gl.stop_after = stop ? atoi(stop) : 0;
    }
    if (c->resume) {
        PQ_TRY(pq_mpi_data_digest(m, r, gl.data, err));
        gl.have_data = 1;
        PQ_TRY(pq_mpi_ckpt_load(m, c->resume, gl.model, gl.config, gl.data, &gl.ck, &gl.n_done,
                                err));
        gl.ck_ready = 1;
        if (gl.n_done > 0 && rank == 0 && !c->quiet)
            fprintf(stderr, "ppq-calib: resuming from %s: %d of %d pass(es) done\n", c->resume,
                    gl.n_done, n_passes);
    }

    {
        pq_calib_source src = {glue_next, glue_rewind, &gl};
        pq_calib_reducer red = {glue_allreduce, glue_agree, &gl, glue_share, mred.rank,
                                mred.world};
        pq_mpi_phase_mark(m, "data open");
        st = pq_calib_run(g, ex, &ro.o, &src, &red, &cs, err);
        pq_mpi_progress_destroy(&prog);
        pq_mpi_phase_mark(m, "calibration");
        if (st != PQ_OK) {
            *stopped = gl.stopped;
            if (!gl.stopped) pq_err_prefix(err, "%s: calibration on %s", cfg->model, cfg->data.file);
            goto fail;
        }
    }
    if (!gl.have_data) {
        PQ_TRY(pq_mpi_source_data_digest(msrc, gl.data, err));
        gl.have_data = 1;
    }
    for (int p = 0; p < cs.n_passes && p < 2; p++) {
        phase_names[n_phases] = p ? "calibration pass 2" : "calibration pass 1";
        phase_seconds[n_phases++] = cs.seconds[p];
    }
    phase_names[n_phases] = "calibration reductions";
    phase_seconds[n_phases++] = cs.reduce_seconds;

evaluate:

    /* Evaluation (analysis.enabled only): analysis.eval_batches batches of the calibration
     * datasets (or of analysis.eval_inputs / --eval-input), with analysis.labels / --labels
     * for accuracy, sharded like calibration. */
    if (!cfg->analysis.enabled && (c->n_eval > 0 || c->labels) && rank == 0 && !c->quiet)
        fprintf(stderr, "ppq-calib: analysis.enabled is false: --eval-input and --labels are "
                        "ignored\n");
    if (cfg->analysis.enabled) {
        PQ_TRY(pq_mpi_open_eval_data(m, cfg, g, c->n_eval, c->eval, c->labels, &re, &with_labels,
                                     err));
        local = pq_mpi_source_create(m, re, NULL, &esrc, err);
        PQ_TRY(pq_mpi_agree(m, local, err));
        pq_calib_source src = pq_mpi_source_iface(esrc);
        pq_calib_eval_options eo = {pq_h5_reader_n_batches(re), 1, with_labels};
        t_phase = pq_time_now();
        st = pq_calib_evaluate(g, ex, &eo, &src, &mred, &ev, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "%s: evaluation", cfg->model);
            goto fail;
        }
        phase_names[n_phases] = "evaluation";
        phase_seconds[n_phases++] = pq_time_now() - t_phase;
    }

    pq_mpi_phase_mark(m, "evaluation");
    /* Provenance, report (rank 0: the analysis reads the evaluation batches itself, so the
     * report is the same for any world size) and exports, all or nothing; agreed. */
    local = PQ_OK;
    if (rank == 0) {
        local = pq_provenance_init_model(&prov, cfg, size, in.model_sha256, err);
        if (local == PQ_OK && !c->params) pq_provenance_set_data(&prov, gl.data);
        if (local == PQ_OK) local = params_provenance(&prov, c->params, file_prov, &pj, err);
        if (local == PQ_OK) {
            prov_text = json_dumps(pj, JSON_INDENT(2) | JSON_SORT_KEYS);
            html_path = pq_app_report_html_path(cfg->export_.report);
            if (!prov_text || !html_path) local = pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
        }
        if (local == PQ_OK && (cfg->export_.formats & PQ_EXPORT_REPORT || !c->quiet)) {
            pq_app_report_in ri = {cfg, c->params, c->params ? NULL : &cs, &ev,
                                   c->params ? NULL : &hists,
                                   c->params ? -1 : pq_h5_reader_n_samples(r), size, prov_text,
                                   re, with_labels, n_phases, phase_names, phase_seconds};
            local = pq_app_report_build(&rep, &ri, g, ex, err);
        }
        if (local == PQ_OK)
            local = write_exports(cfg, g, pj, &rep, html_path, written, &n_written, err);
    }
    PQ_TRY(pq_mpi_agree(m, local, err));
    pq_mpi_phase_mark(m, "export");

    if (rank == 0 && !c->quiet) {
        sbuf b = {0};
        printf("ppq-calib calibrate: %s on %s, platform %s, activation %s, weight %s",
               cfg->model, cfg->data.file, cfg->platform, ro.o.activation_algo, ro.o.weight_algo);
        if (size > 1) printf(", %d ranks", size);
        if (c->params)
            printf("\nparameters: %s (no calibration)\n", c->params);
        else
            printf("\ncalibration: %" PRId64 " observers, %d pass(es), %" PRId64 " batches, %" PRId64
                   " samples, %.3f s + %.3f s, reductions and waits %.3f s, scales %.3f s\n",
                   cs.observers, cs.n_passes, pq_h5_reader_n_batches(r),
                   pq_h5_reader_n_samples(r), cs.seconds[0], cs.seconds[1], cs.reduce_seconds,
                   cs.scale_seconds);
        if (cfg->analysis.enabled) {
            printf("evaluation on %" PRId64 " samples:\n", ev.samples);
            summary_table(&b, &ev, 0, cfg->analysis.metrics, 0);
        } else {
            printf("evaluation: analysis disabled (analysis.enabled: false)\n");
        }
        if (b.s) fputs(b.s, stdout);
        pq_free(b.s);
        if (rep.n_rows > 0) {
            /* The report's short table (graphwise and layerwise, worst layers). */
            char *t = NULL;
            pq_err terr;
            if (pq_report_text(&rep, 10, &t, &terr) == PQ_OK) fputs(t, stdout);
            pq_free(t);
        }
        for (int i = 0; i < n_written; i++) printf("wrote %s\n", written[i]);
        fflush(stdout);
    }
fail:
    if (st != PQ_OK)
        for (int i = 0; i < n_written; i++) remove(written[i]);
    pq_free(base_dir);
    pq_free(html_path);
    free(prov_text); /* jansson's allocator */
    if (pj) json_decref(pj);
    if (file_prov) json_decref(file_prov);
    pq_report_clear(&rep);
    pq_app_obs_hists_clear(&hists);
    pq_free(gl.segs);
    pq_mpi_ckpt_destroy(&gl.ck);
    pq_calib_eval_clear(&ev);
    pq_provenance_clear(&prov);
    pq_mpi_progress_destroy(&prog);
    pq_mpi_source_destroy(&esrc);
    pq_mpi_source_destroy(&msrc);
    pq_h5_reader_close(&re);
    pq_h5_reader_close(&r);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    run_opts_free(&ro);
    pq_mpi_run_inputs_clear(&in);
    return st;
}

/* Whether an MPI launcher started this process (Open MPI, MPICH/Hydra, PMIx). */
static int under_launcher(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

void pq_cmd_calibrate_threads(int argc, char **argv)
{
    cli c;
    memset(&c, 0, sizeof c);
    c.sets = calloc((size_t)argc + 1, sizeof *c.sets);
    c.eval = calloc((size_t)argc + 1, sizeof *c.eval);
    if (c.sets && c.eval && parse_args(argc, argv, &c, 0) == 0) {
        pq_config *cfg = NULL;
        pq_err err;
        pq_err_clear(&err);
        int64_t threads = 0;
        if (pq_config_load(c.path, c.n_sets, c.sets, &cfg, &err) == PQ_OK) threads = cfg->threads;
        pq_config_destroy(&cfg);
        /* A singleton with automatic threads keeps the libraries' defaults (as before the
         * MPI layer); under a launcher the default is one thread per rank. */
        if (threads > 0 || under_launcher()) pq_mpi_set_threads(threads);
    }
    free(c.sets);
    free(c.eval);
}

int pq_cmd_calibrate(int argc, char **argv)
{
    cli c;
    pq_err err;
    pq_mpi *m = NULL;
    int rc = PQ_EXIT_OK;
    memset(&c, 0, sizeof c);
    pq_err_clear(&err);
    c.sets = calloc((size_t)argc + 1, sizeof *c.sets);
    c.eval = calloc((size_t)argc + 1, sizeof *c.eval);
    if (!c.sets || !c.eval) {
        free(c.sets);
        free(c.eval);
        pq_app_error("out of memory");
        return PQ_EXIT_FAIL;
    }
    /* Usage errors are decided before MPI starts: every rank sees the same arguments. */
    rc = parse_args(argc, argv, &c, 1);
    if (rc != 0) {
        free(c.sets);
        free(c.eval);
        return rc < 0 ? PQ_EXIT_OK : rc;
    }
    if (pq_mpi_init(&argc, &argv, &err) != PQ_OK || pq_mpi_create(NULL, &m, &err) != PQ_OK) {
        pq_app_error("%s", err.msg);
        free(c.sets);
        free(c.eval);
        pq_mpi_finalize();
        return PQ_EXIT_FAIL;
    }
    const int size = pq_mpi_size(m);
    pq_log_set_rank(size > 1 ? pq_mpi_rank(m) : -1);
    int stopped = 0;
    pq_status st = run(&c, m, &stopped, &err);
    if (st != PQ_OK) {
        /* An MPI failure may leave the ranks disagreeing: end the job. */
        if (st == PQ_ERR_MPI && size > 1) pq_mpi_abort(m, &err);
        /* Every rank holds the same agreed message; rank 0 reports it. */
        if (pq_mpi_rank(m) == 0) pq_app_error("%s", err.msg);
        rc = stopped ? 3 : PQ_EXIT_FAIL;
    }
    pq_mpi_destroy(&m);
    pq_mpi_finalize();
    free(c.sets);
    free(c.eval);
    return rc;
}

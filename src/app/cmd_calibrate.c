/* cmd_calibrate.c - `ppq-calib calibrate --config RUN.yaml [--set KEY=VALUE]... [--quiet]
 * [--eval-input NAME=DATASET]... [--labels DATASET]`: load the model, run the graph passes,
 * quantize and calibrate on the HDF5 data (this process reads every batch: a 1-rank run),
 * evaluate the quantized simulation against float, print a summary and write the exports.
 *
 * Outputs are written only after everything else succeeded, each atomically by its writer;
 * when one export fails the files this run already wrote are removed, so a failed run
 * leaves no output file. */
#include "app.h"
#include "app_calib.h"
#include "calib/pq_calib.h"
#include "pq_config.h"
#include "pq_core.h"
#include "pq_export.h"
#include "pq_h5.h"
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
            "  --config      the run file (configs/reference.yaml lists every key)\n"
            "  --set a.b=v   override a key (the value is YAML)\n"
            "  --quiet       no summary on stdout\n"
            "  --eval-input  evaluate on another dataset of the data file for graph input NAME\n"
            "                (default: the calibration datasets)\n"
            "  --labels      dataset of class indices for top-1 accuracy of output 0\n");
}

/* ------------------------------------------------------------------ the HDF5 source */

/* Every batch of a reader in file order: what rank 0 of a 1-rank run reads. The data
 * digest is combined during the first pass. */
typedef struct h5_source {
    pq_h5_reader *r;
    int64_t pos;
    int pass;
    pq_sha256_ctx digest;
} h5_source;

static pq_status h5_next(void *ctx, int64_t *batch_index, int n_inputs, pq_tensor **inputs,
                         int *done, pq_err *err)
{
    h5_source *s = ctx;
    uint8_t d[PQ_SHA256_BYTES];
    if (n_inputs != pq_h5_reader_n_inputs(s->r))
        return pq_err_set(err, PQ_ERR_INTERNAL, "source: %d inputs asked, reader has %d", n_inputs,
                          pq_h5_reader_n_inputs(s->r));
    if (s->pos >= pq_h5_reader_n_batches(s->r)) {
        *done = 1;
        return PQ_OK;
    }
    *done = 0;
    pq_status st = pq_h5_reader_read(s->r, s->pos, inputs, d, err);
    if (st != PQ_OK) return st;
    if (s->pass == 0) pq_h5_digest_combine(&s->digest, d);
    *batch_index = s->pos++;
    return PQ_OK;
}

static pq_status h5_rewind(void *ctx, pq_err *err)
{
    (void)err;
    h5_source *s = ctx;
    s->pos = 0;
    s->pass++;
    return PQ_OK;
}

/* Opens a reader whose inputs are in GRAPH input order: names[i] reads datasets[i]; labels
 * (may be NULL) is appended as an int64 last input. */
static pq_status open_reader(const pq_config *cfg, const pq_graph *g, const char *const *datasets,
                             const char *labels, int64_t max_samples, pq_h5_reader **out,
                             pq_err *err)
{
    pq_status st = PQ_OK;
    const int n = (int)g->inputs.n;
    pq_h5_input_spec *cs = pq_calloc(cfg->data.n_inputs + 1, sizeof *cs);
    pq_h5_input_spec *specs = pq_calloc((size_t)n + 1, sizeof *specs);
    PQ_CHECK(cs && specs, PQ_ERR_NOMEM, "out of memory");
    pq_config_input_specs(cfg, cs);
    for (int i = 0; i < n; i++) {
        const char *name = ((const pq_var *)g->inputs.items[i])->name;
        for (unsigned k = 0; k < cfg->data.n_inputs; k++)
            if (strcmp(cfg->data.inputs[k].name, name) == 0) specs[i] = cs[k];
        if (datasets && datasets[i]) specs[i].dataset = datasets[i];
    }
    if (labels) {
        pq_h5_input_spec_init(&specs[n], "labels", labels);
        specs[n].dtype = PQ_DTYPE_INT64;
    }
    PQ_TRY(pq_h5_reader_open(cfg->data.file, n + (labels ? 1 : 0), specs,
                             cfg->calibration.batch_size, max_samples, cfg->data.nan, NULL, out,
                             err));
fail:
    pq_free(cs);
    pq_free(specs);
    return st;
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

/* Writes text to path atomically (temporary name in the same folder, fsync, rename). */
static pq_status write_atomic(const char *path, const char *text, pq_err *err)
{
    size_t n = strlen(path) + 32;
    char *tmp = pq_malloc(n);
    if (!tmp) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    pq_status st = PQ_OK;
    if (!f) {
        st = pq_err_set(err, PQ_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    } else {
        size_t len = strlen(text);
        int bad = fwrite(text, 1, len, f) != len;
        bad |= fflush(f) != 0;
        bad |= fsync(fileno(f)) != 0;
        bad |= fclose(f) != 0;
        if (bad || rename(tmp, path) != 0) {
            st = pq_err_set(err, PQ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
            remove(tmp);
        }
    }
    pq_free(tmp);
    return st;
}

/* A growable text buffer for the report. */
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

static char *report_text(const pq_config *cfg, const pq_calib_stats *cs, const pq_calib_eval *e,
                         const pq_provenance *p)
{
    sbuf b = {0};
    sb_printf(&b, "# ppq-calib calibration report\n\n");
    sb_printf(&b, "- model: `%s` (sha256 %s)\n- data: `%s` (sha256 %s)\n- platform: %s\n",
              cfg->model, p->model_sha256, cfg->data.file, p->data_sha256, cfg->platform);
    sb_printf(&b, "- activation: %s, weight: %s, batch size %" PRId64 "\n",
              pq_calib_algo_name(cfg->calibration.activation),
              pq_calib_algo_name(cfg->calibration.weight), cfg->calibration.batch_size);
    sb_printf(&b, "- observers: %" PRId64 ", passes: %d, batches: %" PRId64 ", samples: %" PRId64
              "\n- version %s, world size %d\n\n## Outputs\n\n",
              cs->observers, cs->n_passes, cs->batches[0], cs->samples[0], p->version,
              p->world_size);
    summary_table(&b, e, 0, cfg->analysis.metrics, 1);
    if (cfg->analysis.enabled) {
        sb_printf(&b, "\n## Quantized variables\n\n");
        summary_table(&b, e, 1, cfg->analysis.metrics, 1);
    }
    if (b.oom) {
        pq_free(b.s);
        return NULL;
    }
    return b.s;
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
} cli;

static int parse_args(int argc, char **argv, cli *c)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            calibrate_usage(stdout);
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
        } else {
            pq_app_error("calibrate: unexpected argument '%s'", argv[i]);
            calibrate_usage(stderr);
            return PQ_EXIT_USAGE;
        }
    }
    if (!c->path) {
        pq_app_error("calibrate: --config is required");
        calibrate_usage(stderr);
        return PQ_EXIT_USAGE;
    }
    return 0;
}

/* Everything after argument parsing. Fills err and returns its status on failure. */
static pq_status run(const cli *c, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_config *cfg = NULL;
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_h5_reader *r = NULL, *re = NULL;
    run_opts ro;
    pq_calib_stats cs;
    pq_calib_eval ev;
    pq_provenance prov;
    const char **eval_ds = NULL;
    json_t *pj = NULL;
    char *report = NULL;
    const char *written[4] = {NULL, NULL, NULL, NULL};
    int n_written = 0;
    h5_source hs;
    memset(&ro, 0, sizeof ro);
    memset(&cs, 0, sizeof cs);
    memset(&ev, 0, sizeof ev);
    memset(&prov, 0, sizeof prov);
    memset(&hs, 0, sizeof hs);

    PQ_TRY(pq_config_load(c->path, c->n_sets, c->sets, &cfg, err));
    PQ_TRY(make_opts(cfg, &ro, err));
    if (cfg->threads > 0) pq_exec_set_threads((int)cfg->threads);
    PQ_TRY(pq_onnx_load(cfg->model, &g, err));
    PQ_TRY(check_inputs(cfg, g, err));
    st = pq_passes_run(g, ro.passes, NULL, err);
    if (st != PQ_OK) {
        pq_err_prefix(err, "%s: passes", cfg->model);
        goto fail;
    }
    st = pq_calib_quantize_graph(g, &ro.o, err);
    if (st != PQ_OK) {
        pq_err_prefix(err, "%s", cfg->model);
        goto fail;
    }
    {
        pq_exec_options eo = {NULL, (int)cfg->threads};
        PQ_TRY(pq_executor_create(g, &eo, &ex, err));
    }

    /* Calibration data: the first `samples` samples and/or `batches` batches. */
    {
        int64_t limit = cfg->calibration.samples;
        if (cfg->calibration.batches > 0) {
            int64_t by_batches = cfg->calibration.batches * cfg->calibration.batch_size;
            if (limit == 0 || by_batches < limit) limit = by_batches;
        }
        PQ_TRY(open_reader(cfg, g, NULL, NULL, limit, &r, err));
    }
    pq_sha256_init(&hs.digest);
    hs.r = r;
    {
        pq_calib_source src = {h5_next, h5_rewind, &hs};
        st = pq_calib_run(g, ex, &ro.o, &src, NULL, &cs, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "%s: calibration on %s", cfg->model, cfg->data.file);
            goto fail;
        }
    }
    PQ_TRY(pq_provenance_init(&prov, cfg, 1, err));
    {
        uint8_t d[PQ_SHA256_BYTES];
        pq_sha256_final(&hs.digest, d);
        pq_provenance_set_data(&prov, d);
    }

    /* Evaluation: analysis.eval_batches batches of the calibration datasets (or of
     * --eval-input), with --labels for accuracy. */
    eval_ds = pq_calloc((size_t)g->inputs.n + 1, sizeof *eval_ds);
    PQ_CHECK(eval_ds, PQ_ERR_NOMEM, "out of memory");
    for (int k = 0; k < c->n_eval; k++) {
        const char *eq = strchr(c->eval[k], '=');
        int64_t i = 0;
        while (i < g->inputs.n &&
               (strlen(((pq_var *)g->inputs.items[i])->name) != (size_t)(eq - c->eval[k]) ||
                strncmp(((pq_var *)g->inputs.items[i])->name, c->eval[k],
                        (size_t)(eq - c->eval[k])) != 0))
            i++;
        PQ_CHECK(i < g->inputs.n, PQ_ERR_CONFIG, "--eval-input %s: %s has no such graph input",
                 c->eval[k], cfg->model);
        eval_ds[i] = eq + 1;
    }
    {
        int64_t limit = cfg->analysis.eval_batches * cfg->calibration.batch_size;
        PQ_TRY(open_reader(cfg, g, eval_ds, c->labels, limit, &re, err));
        h5_source es;
        memset(&es, 0, sizeof es);
        pq_sha256_init(&es.digest);
        es.r = re;
        pq_calib_source src = {h5_next, h5_rewind, &es};
        pq_calib_eval_options eo = {pq_h5_reader_n_batches(re), cfg->analysis.enabled,
                                    c->labels != NULL};
        st = pq_calib_evaluate(g, ex, &eo, &src, NULL, &ev, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "%s: evaluation", cfg->model);
            goto fail;
        }
    }

    /* Exports, all or nothing. */
    if (cfg->export_.formats) {
        unsigned f = cfg->export_.formats;
        if (f & PQ_EXPORT_QDQ_ONNX) PQ_TRY(make_dirs(cfg->export_.qdq_onnx, err));
        if (f & PQ_EXPORT_TRT_CACHE) PQ_TRY(make_dirs(cfg->export_.trt_cache, err));
        if (f & PQ_EXPORT_JSON) PQ_TRY(make_dirs(cfg->export_.json, err));
        if (f & PQ_EXPORT_REPORT) PQ_TRY(make_dirs(cfg->export_.report, err));
        if (f & PQ_EXPORT_QDQ_ONNX) {
            PQ_TRY(pq_export_qdq_onnx(g, NULL, cfg->export_.qdq_onnx, err));
            written[n_written++] = cfg->export_.qdq_onnx;
        }
        if (f & PQ_EXPORT_TRT_CACHE) {
            PQ_TRY(pq_export_trt_cache(g, 0, NULL, cfg->export_.trt_cache, err));
            written[n_written++] = cfg->export_.trt_cache;
        }
        if (f & PQ_EXPORT_JSON) {
            pj = pq_provenance_to_json(&prov);
            PQ_CHECK(pj, PQ_ERR_NOMEM, "out of memory");
            PQ_TRY(pq_params_save(g, pj, cfg->export_.json, err));
            written[n_written++] = cfg->export_.json;
        }
        if (f & PQ_EXPORT_REPORT) {
            report = report_text(cfg, &cs, &ev, &prov);
            PQ_CHECK(report, PQ_ERR_NOMEM, "out of memory");
            PQ_TRY(write_atomic(cfg->export_.report, report, err));
            written[n_written++] = cfg->export_.report;
        }
    }

    if (!c->quiet) {
        sbuf b = {0};
        printf("ppq-calib calibrate: %s on %s, platform %s, activation %s, weight %s\n",
               cfg->model, cfg->data.file, cfg->platform, ro.o.activation_algo, ro.o.weight_algo);
        printf("calibration: %" PRId64 " observers, %d pass(es), %" PRId64 " batches, %" PRId64
               " samples, %.3f s + %.3f s\n",
               cs.observers, cs.n_passes, cs.batches[0], cs.samples[0], cs.seconds[0],
               cs.seconds[1]);
        printf("evaluation on %" PRId64 " samples:\n", ev.samples);
        summary_table(&b, &ev, 0, cfg->analysis.metrics, 0);
        if (b.s) fputs(b.s, stdout);
        pq_free(b.s);
        for (int i = 0; i < n_written; i++) printf("wrote %s\n", written[i]);
    }
fail:
    if (st != PQ_OK)
        for (int i = 0; i < n_written; i++) remove(written[i]);
    if (pj) json_decref(pj);
    pq_free(report);
    pq_free(eval_ds);
    pq_calib_eval_clear(&ev);
    pq_provenance_clear(&prov);
    pq_h5_reader_close(&re);
    pq_h5_reader_close(&r);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    run_opts_free(&ro);
    pq_config_destroy(&cfg);
    return st;
}

int pq_cmd_calibrate(int argc, char **argv)
{
    cli c;
    memset(&c, 0, sizeof c);
    c.sets = calloc((size_t)argc + 1, sizeof *c.sets);
    c.eval = calloc((size_t)argc + 1, sizeof *c.eval);
    if (!c.sets || !c.eval) {
        free(c.sets);
        free(c.eval);
        pq_app_error("out of memory");
        return PQ_EXIT_FAIL;
    }
    int rc = parse_args(argc, argv, &c);
    if (rc == 0) {
        pq_err err;
        pq_err_clear(&err);
        rc = run(&c, &err) == PQ_OK ? PQ_EXIT_OK : PQ_EXIT_FAIL;
        if (rc != PQ_EXIT_OK) pq_app_error("%s", err.msg);
    } else if (rc < 0) {
        rc = PQ_EXIT_OK;
    }
    free(c.sets);
    free(c.eval);
    return rc;
}

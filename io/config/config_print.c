/* config_print.c - the effective config as YAML (every key, defaults filled), and the run
 * provenance record with its JSON form (jansson). */
#include "config_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    char *data;
    size_t len, cap;
    int failed;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        va_end(ap2);
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *d = pq_realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            va_end(ap2);
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

/* A YAML double-quoted scalar. */
static void put_str(sbuf *b, const char *s)
{
    put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            put(b, "\\%c", *p);
        else if (*p < 0x20)
            put(b, "\\x%02x", *p);
        else
            put(b, "%c", *p);
    }
    put(b, "\"");
}

static void put_double(sbuf *b, double v)
{
    char buf[64];
    pq__fmt_double(buf, sizeof buf, v);
    put(b, "%s", buf);
}

static void put_doubles(sbuf *b, const double *v, unsigned n)
{
    put(b, "[");
    for (unsigned i = 0; i < n; i++) {
        if (i) put(b, ", ");
        put_double(b, v[i]);
    }
    put(b, "]");
}

static void put_flags(sbuf *b, unsigned bits, const char *const *names, int n)
{
    put(b, "[");
    int first = 1;
    for (int i = 0; i < n; i++)
        if (bits & (1u << i)) {
            put(b, "%s%s", first ? "" : ", ", names[i]);
            first = 0;
        }
    put(b, "]");
}

/* The effective config; the export section only when with_export. */
static pq_status print_config(const pq_config *c, int with_export, char **out, pq_err *err)
{
    static const char *const formats[] = {"qdq_onnx", "trt_cache", "json", "report"};
    static const char *const metrics[] = {"snr", "mse", "cosine"};
    sbuf b = {NULL, 0, 0, 0};
    *out = NULL;
    put(&b, "# effective configuration (ppq-calib %s); paths are absolute\n", PQ_VERSION_STRING);
    put(&b, "model: ");
    put_str(&b, c->model);
    put(&b, "\nplatform: ");
    put_str(&b, c->platform);
    put(&b, "\ndispatch:\n  dispatcher: ");
    put_str(&b, c->dispatch.dispatcher);
    put(&b, "\n  overrides:%s\n", c->dispatch.n_overrides ? "" : " {}");
    for (unsigned i = 0; i < c->dispatch.n_overrides; i++) {
        put(&b, "    ");
        put_str(&b, c->dispatch.overrides[i].name);
        put(&b, ": ");
        put_str(&b, c->dispatch.overrides[i].value);
        put(&b, "\n");
    }
    put(&b, "passes: [");
    for (unsigned i = 0; i < c->n_passes; i++) {
        if (i) put(&b, ", ");
        put_str(&b, c->passes[i]);
    }
    put(&b, "]%s\n", c->n_passes ? "" : "  # the built-in default pipeline");
    put(&b, "calibration:\n");
    put(&b, "  activation: %s\n", pq_calib_algo_name(c->calibration.activation));
    put(&b, "  weight: %s\n", pq_calib_algo_name(c->calibration.weight));
    put(&b, "  overrides:%s\n", c->calibration.n_overrides ? "" : " {}");
    for (unsigned i = 0; i < c->calibration.n_overrides; i++) {
        put(&b, "    ");
        put_str(&b, c->calibration.overrides[i].name);
        put(&b, ": %s\n", pq_calib_algo_name(c->calibration.overrides[i].algo));
    }
    put(&b, "  bins: %lld\n", (long long)c->calibration.bins);
    put(&b, "  percentile: ");
    put_double(&b, c->calibration.percentile);
    put(&b, "\n  batch_size: %lld\n", (long long)c->calibration.batch_size);
    put(&b, "  samples: %lld\n", (long long)c->calibration.samples);
    put(&b, "  batches: %lld\n", (long long)c->calibration.batches);
    put(&b, "  seed: %llu\n", (unsigned long long)c->calibration.seed);
    put(&b, "data:\n  file: ");
    put_str(&b, c->data.file);
    put(&b, "\n  nan: %s\n  inputs:\n", c->data.nan == PQ_H5_NAN_IGNORE ? "ignore" : "error");
    for (unsigned i = 0; i < c->data.n_inputs; i++) {
        const pq_config_input *in = &c->data.inputs[i];
        put(&b, "    ");
        put_str(&b, in->name);
        put(&b, ":\n      dataset: ");
        put_str(&b, in->dataset);
        put(&b, "\n      layout: %s\n      scale: ", in->layout == PQ_H5_LAYOUT_NHWC ? "nhwc" : "nchw");
        put_double(&b, in->scale);
        put(&b, "\n      mean: ");
        put_doubles(&b, in->mean, in->n_mean);
        put(&b, "\n      std: ");
        put_doubles(&b, in->std, in->n_std);
        put(&b, "\n      bgr: %s\n", in->bgr ? "true" : "false");
    }
    if (with_export) {
        put(&b, "export:\n  formats: ");
        put_flags(&b, c->export_.formats, formats, 4);
        put(&b, "\n  dir: ");
        put_str(&b, c->export_.dir);
        put(&b, "\n  qdq_onnx: ");
        put_str(&b, c->export_.qdq_onnx);
        put(&b, "\n  trt_cache: ");
        put_str(&b, c->export_.trt_cache);
        put(&b, "\n  json: ");
        put_str(&b, c->export_.json);
        put(&b, "\n  report: ");
        put_str(&b, c->export_.report);
        put(&b, "\n");
    }
    put(&b, "analysis:\n  enabled: %s\n  metrics: ", c->analysis.enabled ? "true" : "false");
    put_flags(&b, c->analysis.metrics, metrics, 3);
    put(&b, "\n  eval_batches: %lld\n", (long long)c->analysis.eval_batches);
    put(&b, "  eval_inputs:%s\n", c->analysis.n_eval_inputs ? "" : " {}");
    for (unsigned i = 0; i < c->analysis.n_eval_inputs; i++) {
        put(&b, "    ");
        put_str(&b, c->analysis.eval_inputs[i].name);
        put(&b, ": ");
        put_str(&b, c->analysis.eval_inputs[i].value);
        put(&b, "\n");
    }
    if (c->analysis.labels) {
        put(&b, "  labels: ");
        put_str(&b, c->analysis.labels);
        put(&b, "\n");
    } else {
        put(&b, "  labels: null\n");
    }
    put(&b, "threads: %lld%s\n", (long long)c->threads, c->threads ? "" : "  # automatic");
    if (b.failed || !b.data) {
        pq_free(b.data);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory printing the config");
    }
    *out = b.data;
    return PQ_OK;
}

pq_status pq_config_print_string(const pq_config *c, char **out, pq_err *err)
{
    return print_config(c, 1, out, err);
}

pq_status pq_config_results_digest(const pq_config *cfg, uint8_t digest[PQ_SHA256_BYTES],
                                   pq_err *err)
{
    char *s = NULL;
    pq_status st = print_config(cfg, 0, &s, err);
    if (st != PQ_OK) return st;
    pq_sha256(s, strlen(s), digest);
    pq_free(s);
    return PQ_OK;
}

pq_status pq_config_print(const pq_config *cfg, FILE *to, pq_err *err)
{
    char *s = NULL;
    pq_status st = pq_config_print_string(cfg, &s, err);
    if (st != PQ_OK) return st;
    size_t n = strlen(s);
    if (fwrite(s, 1, n, to) != n) st = pq_err_set(err, PQ_ERR_IO, "cannot write the config");
    pq_free(s);
    return st;
}

/* ------------------------------------------------------------------ provenance */

pq_status pq_provenance_init(pq_provenance *p, const pq_config *cfg, int world_size,
                             pq_err *err)
{
    return pq_provenance_init_model(p, cfg, world_size, NULL, err);
}

pq_status pq_provenance_init_model(pq_provenance *p, const pq_config *cfg, int world_size,
                                   const uint8_t model_sha256[PQ_SHA256_BYTES], pq_err *err)
{
    pq_status st = PQ_OK;
    uint8_t d[PQ_SHA256_BYTES];
    memset(p, 0, sizeof *p);
    PQ_TRY(pq_config_print_string(cfg, &p->config_text, err));
    {
        const char *base = strrchr(cfg->path, '/');
        size_t n = strlen(cfg->dir) + strlen(cfg->path) + 2;
        char *joined = pq_malloc(n);
        PQ_CHECK(joined, PQ_ERR_NOMEM, "out of memory");
        snprintf(joined, n, "%s/%s", cfg->dir, base ? base + 1 : cfg->path);
        p->config_path = pq_config_normalize_path(joined);
        pq_free(joined);
        PQ_CHECK(p->config_path, PQ_ERR_NOMEM, "out of memory");
    }
    PQ_TRY(pq_sha256_file(cfg->path, d, err));
    pq_sha256_hex(d, p->config_sha256);
    if (model_sha256) {
        pq_sha256_hex(model_sha256, p->model_sha256);
    } else {
        PQ_TRY(pq_sha256_file(cfg->model, d, err));
        pq_sha256_hex(d, p->model_sha256);
    }
    snprintf(p->version, sizeof p->version, "%s", PQ_VERSION_STRING);
    p->world_size = world_size;
    return PQ_OK;
fail:
    pq_provenance_clear(p);
    return st;
}

void pq_provenance_set_data(pq_provenance *p, const uint8_t digest[PQ_SHA256_BYTES])
{
    pq_sha256_hex(digest, p->data_sha256);
}

void pq_provenance_clear(pq_provenance *p)
{
    if (!p) return;
    pq_free(p->config_text);
    pq_free(p->config_path);
    memset(p, 0, sizeof *p);
}

void *pq_provenance_to_json(const pq_provenance *p)
{
    json_t *o = json_object(), *h = json_object();
    if (!o || !h) goto fail;
    if (json_object_set_new(o, "version", json_string(p->version)) ||
        json_object_set_new(o, "world_size", json_integer(p->world_size)) ||
        json_object_set_new(h, "config", json_string(p->config_sha256)) ||
        json_object_set_new(h, "model", json_string(p->model_sha256)) ||
        json_object_set_new(h, "data", p->data_sha256[0] ? json_string(p->data_sha256) : json_null()))
        goto fail;
    if (json_object_set_new(o, "sha256", h)) {
        h = NULL;
        goto fail;
    }
    h = NULL;
    if (json_object_set_new(o, "config", json_string(p->config_text ? p->config_text : "")) ||
        json_object_set_new(o, "config_path", p->config_path ? json_string(p->config_path) : json_null()))
        goto fail;
    return o;
fail:
    json_decref(h);
    json_decref(o);
    return NULL;
}

pq_status pq_provenance_json_text(const pq_provenance *p, char **out, pq_err *err)
{
    *out = NULL;
    json_t *o = pq_provenance_to_json(p);
    if (!o) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory building the provenance JSON");
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory writing the provenance JSON");
    *out = pq_strdup(s);
    free(s);
    return *out ? PQ_OK : pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
}

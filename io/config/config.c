/* config.c - loading a run file: libcyaml schema (unknown keys rejected), the maps keyed
 * by user names (inputs, overrides) read from the libyaml document, defaults, ranges,
 * path resolution and messages with file:line:column and the key path.
 *
 * libcyaml's schema cannot express mappings whose keys are user names, so `data.inputs`,
 * `dispatch.overrides` and `calibration.overrides` are CYAML_FIELD_IGNORE in the schema and
 * read from the libyaml document with the same checks. Every position in a message comes
 * from the original file's document, looked up by key path, so it stays right when --set
 * patches moved things around in the text that was parsed. */
#include "config_internal.h"

#include <cyaml/cyaml.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ the libcyaml schema */

typedef struct raw_dispatch {
    char *dispatcher;
} raw_dispatch;

typedef struct raw_calib {
    char *activation, *weight;
    int64_t *bins;
    double *percentile;
    int64_t *batch_size, *samples, *batches;
    uint64_t *seed;
} raw_calib;

typedef struct raw_data {
    char *file;
    char *nan;
} raw_data;

typedef struct raw_export {
    char **formats;
    unsigned formats_count;
    char *dir, *qdq_onnx, *trt_cache, *json, *report;
} raw_export;

typedef struct raw_analysis {
    bool *enabled;
    char **metrics;
    unsigned metrics_count;
    int64_t *eval_batches;
    char *labels;
} raw_analysis;

typedef struct raw_cfg {
    char *model;
    char *platform;
    raw_dispatch *dispatch;
    char **passes;
    unsigned passes_count;
    raw_calib *calibration;
    raw_data *data;
    raw_export *export_;
    raw_analysis *analysis;
    int64_t *threads;
} raw_cfg;

#define OPT CYAML_FLAG_OPTIONAL
#define OPTP (CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER)

static const cyaml_schema_value_t str_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED)};

static const cyaml_schema_field_t dispatch_fields[] = {
    CYAML_FIELD_STRING_PTR("dispatcher", OPTP, raw_dispatch, dispatcher, 0, CYAML_UNLIMITED),
    CYAML_FIELD_IGNORE("overrides", OPT),
    CYAML_FIELD_END};

static const cyaml_schema_field_t calib_fields[] = {
    CYAML_FIELD_STRING_PTR("activation", OPTP, raw_calib, activation, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("weight", OPTP, raw_calib, weight, 0, CYAML_UNLIMITED),
    CYAML_FIELD_IGNORE("overrides", OPT),
    CYAML_FIELD_INT_PTR("bins", OPTP, raw_calib, bins),
    CYAML_FIELD_FLOAT_PTR("percentile", OPTP, raw_calib, percentile),
    CYAML_FIELD_INT_PTR("batch_size", OPTP, raw_calib, batch_size),
    CYAML_FIELD_INT_PTR("samples", OPTP, raw_calib, samples),
    CYAML_FIELD_INT_PTR("batches", OPTP, raw_calib, batches),
    CYAML_FIELD_UINT_PTR("seed", OPTP, raw_calib, seed),
    CYAML_FIELD_END};

static const cyaml_schema_field_t data_fields[] = {
    CYAML_FIELD_STRING_PTR("file", CYAML_FLAG_POINTER, raw_data, file, 0, CYAML_UNLIMITED),
    CYAML_FIELD_IGNORE("inputs", CYAML_FLAG_DEFAULT),
    CYAML_FIELD_STRING_PTR("nan", OPTP, raw_data, nan, 0, CYAML_UNLIMITED),
    CYAML_FIELD_END};

static const cyaml_schema_field_t export_fields[] = {
    CYAML_FIELD_SEQUENCE("formats", OPTP, raw_export, formats, &str_entry, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("dir", OPTP, raw_export, dir, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("qdq_onnx", OPTP, raw_export, qdq_onnx, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("trt_cache", OPTP, raw_export, trt_cache, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("json", OPTP, raw_export, json, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("report", OPTP, raw_export, report, 0, CYAML_UNLIMITED),
    CYAML_FIELD_END};

static const cyaml_schema_field_t analysis_fields[] = {
    CYAML_FIELD_BOOL_PTR("enabled", OPTP, raw_analysis, enabled),
    CYAML_FIELD_SEQUENCE("metrics", OPTP, raw_analysis, metrics, &str_entry, 0, CYAML_UNLIMITED),
    CYAML_FIELD_INT_PTR("eval_batches", OPTP, raw_analysis, eval_batches),
    CYAML_FIELD_IGNORE("eval_inputs", OPT),
    CYAML_FIELD_STRING_PTR("labels", OPT | CYAML_FLAG_POINTER_NULL_STR, raw_analysis, labels, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_END};

static const cyaml_schema_field_t top_fields[] = {
    CYAML_FIELD_STRING_PTR("model", CYAML_FLAG_POINTER, raw_cfg, model, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("platform", OPTP, raw_cfg, platform, 0, CYAML_UNLIMITED),
    CYAML_FIELD_MAPPING_PTR("dispatch", OPTP, raw_cfg, dispatch, dispatch_fields),
    CYAML_FIELD_SEQUENCE("passes", OPTP, raw_cfg, passes, &str_entry, 0, CYAML_UNLIMITED),
    CYAML_FIELD_MAPPING_PTR("calibration", OPTP, raw_cfg, calibration, calib_fields),
    CYAML_FIELD_MAPPING_PTR("data", CYAML_FLAG_POINTER, raw_cfg, data, data_fields),
    CYAML_FIELD_MAPPING_PTR("export", OPTP, raw_cfg, export_, export_fields),
    CYAML_FIELD_MAPPING_PTR("analysis", OPTP, raw_cfg, analysis, analysis_fields),
    CYAML_FIELD_INT_PTR("threads", OPTP, raw_cfg, threads),
    CYAML_FIELD_END};

static const cyaml_schema_value_t top_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, raw_cfg, top_fields)};

/* ------------------------------------------------------------------ names */

static const char *const algo_names[PQ_CALIB_COUNT] = {
    "minmax", "percentile", "kl", "mse", "isotone", "kl_ppq", "kl_trt"};

const char *pq_calib_algo_name(pq_calib_algo a)
{
    return (a >= 0 && a < PQ_CALIB_COUNT) ? algo_names[a] : NULL;
}

static const char *const format_names[] = {"qdq_onnx", "trt_cache", "json", "report"};
static const char *const metric_names[] = {"snr", "mse", "cosine"};

/* ------------------------------------------------------------------ load context */

typedef struct load_ctx {
    const char *path;          /* as given */
    yaml_document_t orig;      /* the file as written: positions */
    yaml_document_t eff;       /* the effective (patched) text: values of the user maps */
    int n_sets;
    const char *const *sets;
    int check_files;           /* the model and data files must exist */
    char log[4096];            /* libcyaml's error lines */
    size_t log_len;
} load_ctx;

/* "run.yaml:12:5" for a key path (the key's position, or the value's with use_value),
 * "--set a.b=v" when the path came from a --set, or the nearest ancestor's position. */
static void where(load_ctx *c, const char *path, int use_value, char *buf, size_t cap)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    const size_t pl = strlen(path);
    /* 1. A --set whose key is the path or one of its ancestors gave the value. */
    for (int i = c->n_sets - 1; i >= 0; i--) {
        const char *s = c->sets[i], *eq = strchr(s, '=');
        size_t kl = eq ? (size_t)(eq - s) : strlen(s);
        if (kl <= pl && strncmp(s, path, kl) == 0 && (kl == pl || path[kl] == '.')) {
            snprintf(buf, cap, "--set %s", s);
            return;
        }
    }
    /* 2. The path in the file as written. */
    yaml_node_t *key = NULL;
    yaml_node_t *val = pq__yaml_lookup(&c->orig, tmp, &key);
    if (val) {
        yaml_node_t *n = (use_value || !key) ? val : key;
        snprintf(buf, cap, "%s:%zu:%zu", c->path, n->start_mark.line + 1, n->start_mark.column + 1);
        return;
    }
    /* 3. Not in the file: a --set below it created it. */
    for (int i = c->n_sets - 1; i >= 0; i--) {
        const char *s = c->sets[i];
        if (pl == 0 || (strncmp(s, path, pl) == 0 && s[pl] == '.')) {
            snprintf(buf, cap, "--set %s", s);
            return;
        }
    }
    /* 4. The nearest ancestor in the file. */
    for (;;) {
        char *dot = strrchr(tmp, '.');
        if (!dot) break;
        *dot = '\0';
        val = pq__yaml_lookup(&c->orig, tmp, NULL);
        if (val) {
            snprintf(buf, cap, "%s:%zu:%zu", c->path, val->start_mark.line + 1,
                     val->start_mark.column + 1);
            return;
        }
    }
    snprintf(buf, cap, "%s", c->path);
}

static pq_status fail_at(load_ctx *c, pq_err *err, pq_status code, const char *path,
                         int use_value, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static pq_status fail_at(load_ctx *c, pq_err *err, pq_status code, const char *path,
                         int use_value, const char *fmt, ...)
{
    char w[600], what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    where(c, path, use_value, w, sizeof w);
    if (path[0])
        return pq_err_set(err, code, "%s: %s: %s", w, path, what);
    return pq_err_set(err, code, "%s: %s", w, what);
}

static void cyaml_log_cb(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    load_ctx *c = ctx;
    if (level < CYAML_LOG_ERROR || c->log_len >= sizeof c->log - 1) return;
    int n = vsnprintf(c->log + c->log_len, sizeof c->log - c->log_len, fmt, args);
    if (n > 0) c->log_len += (size_t)n;
    if (c->log_len > sizeof c->log - 1) c->log_len = sizeof c->log - 1;
}

/* Allowed keys of the mapping at a schema path, for "unknown key" messages. */
static void allowed_keys(const char *path, char *buf, size_t cap)
{
    const cyaml_schema_field_t *fields = top_fields;
    const char *s = path;
    while (*s && fields) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        const cyaml_schema_field_t *next = NULL;
        for (const cyaml_schema_field_t *f = fields; f->key; f++)
            if (strlen(f->key) == n && strncmp(f->key, s, n) == 0 &&
                f->value.type == CYAML_MAPPING)
                next = f->value.mapping.fields;
        fields = next;
        s = dot ? dot + 1 : s + n;
    }
    buf[0] = '\0';
    if (!fields) return;
    size_t len = 0;
    for (const cyaml_schema_field_t *f = fields; f->key; f++) {
        int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", f->key);
        if (w < 0 || (size_t)w >= cap - len) break;
        len += (size_t)w;
    }
}

/* Turns libcyaml's logged error and backtrace into one message. */
static pq_status cyaml_failure(load_ctx *c, cyaml_err_t e, pq_err *err)
{
    /* First line: "Load: <what>"; backtrace lines: "  in mapping field 'x' (line: L, ...)". */
    char what[512] = "";
    const char *log = c->log;
    const char *nl = strchr(log, '\n');
    size_t wl = nl ? (size_t)(nl - log) : strlen(log);
    const char *w0 = log;
    if (strncmp(w0, "Load: ", 6) == 0) {
        w0 += 6;
        wl -= 6;
    }
    snprintf(what, sizeof what, "%.*s", (int)wl, w0);
    const char *fields[32];
    size_t flen[32];
    int nf = 0;
    size_t cy_line = 0, cy_col = 0;
    for (const char *p = log; (p = strstr(p, "  in ")) != NULL; p += 5) {
        const char *q = strstr(p, "(line: ");
        const char *eol = strchr(p, '\n');
        if (q && (!eol || q < eol) && !cy_line) sscanf(q, "(line: %zu, column: %zu)", &cy_line, &cy_col);
        if (strncmp(p, "  in mapping field '", 20) == 0 && nf < 32) {
            const char *k = p + 20, *ke = strchr(k, '\'');
            if (ke) {
                fields[nf] = k;
                flen[nf++] = (size_t)(ke - k);
            }
        }
    }
    char path[512] = "";
    size_t pl = 0;
    for (int i = nf - 1; i >= 0; i--) {
        int w = snprintf(path + pl, sizeof path - pl, "%s%.*s", pl ? "." : "", (int)flen[i],
                         fields[i]);
        if (w > 0) pl += (size_t)w;
        if (pl >= sizeof path) pl = sizeof path - 1;
    }
    const char *sub = NULL;
    if (e == CYAML_ERR_INVALID_KEY && (sub = strstr(what, "Unexpected key: ")) != NULL) {
        char parent[512];
        snprintf(parent, sizeof parent, "%s", path);
        const char *key = sub + 16;
        snprintf(path + pl, sizeof path - pl, "%s%s", pl ? "." : "", key);
        char keys[400];
        allowed_keys(parent, keys, sizeof keys);
        return fail_at(c, err, PQ_ERR_CONFIG, path, 0, "unknown key (allowed here: %s)", keys);
    }
    if (e == CYAML_ERR_MAPPING_FIELD_MISSING &&
        (sub = strstr(what, "Missing required mapping field: ")) != NULL) {
        const char *key = sub + 32;
        /* the backtrace names the last field read, not the mapping: drop it */
        char *dot = strrchr(path, '.');
        if (dot)
            *dot = '\0';
        else
            path[0] = '\0';
        char full[600];
        snprintf(full, sizeof full, "%s%s%s", path, path[0] ? "." : "", key);
        if (!path[0]) return pq_err_set(err, PQ_ERR_CONFIG, "%s: %s: missing required key", c->path, full);
        return fail_at(c, err, PQ_ERR_CONFIG, path, 0, "missing required key '%s'", key);
    }
    if (!path[0]) {
        if (cy_line && c->n_sets == 0)
            return pq_err_set(err, PQ_ERR_CONFIG, "%s:%zu:%zu: %s (%s)", c->path, cy_line, cy_col,
                              what[0] ? what : cyaml_strerror(e), cyaml_strerror(e));
        return pq_err_set(err, PQ_ERR_CONFIG, "%s: %s (%s)", c->path,
                          what[0] ? what : cyaml_strerror(e), cyaml_strerror(e));
    }
    if (e == CYAML_ERR_UNEXPECTED_EVENT && strstr(what, "already seen"))
        return fail_at(c, err, PQ_ERR_CONFIG, path, 0, "duplicate key");
    return fail_at(c, err, PQ_ERR_CONFIG, path, 1, "wrong type or value: %s",
                   what[0] ? what : cyaml_strerror(e));
}

/* ------------------------------------------------------------------ helpers */

/* p against dir (unless absolute), lexically normalised. */
static char *resolve(const char *dir, const char *p)
{
    if (!p) return NULL;
    if (p[0] == '/') return pq_config_normalize_path(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *s = pq_malloc(n), *r = NULL;
    if (s) {
        snprintf(s, n, "%s/%s", dir, p);
        r = pq_config_normalize_path(s);
    }
    pq_free(s);
    return r;
}

char *pq_config_normalize_path(const char *path)
{
    if (!path) return NULL;
    const int abs = path[0] == '/';
    const size_t len = strlen(path);
    /* The kept components as (start, length) in path; a ".." is kept only at the front of
     * a relative path. */
    size_t *start = pq_malloc(sizeof(size_t) * (len / 2 + 1));
    size_t *clen = pq_malloc(sizeof(size_t) * (len / 2 + 1));
    char *out = pq_malloc(len + 2);
    if (!start || !clen || !out) {
        pq_free(start);
        pq_free(clen);
        pq_free(out);
        return NULL;
    }
    size_t k = 0, i = 0;
    while (i < len) {
        while (i < len && path[i] == '/') i++;
        if (i == len) break;
        size_t j = i;
        while (j < len && path[j] != '/') j++;
        const size_t cl = j - i;
        const int dot = cl == 1 && path[i] == '.';
        const int dotdot = cl == 2 && path[i] == '.' && path[i + 1] == '.';
        if (dot) {
            /* nothing */
        } else if (dotdot && k > 0 && !(clen[k - 1] == 2 && strncmp(path + start[k - 1], "..", 2) == 0)) {
            k--;
        } else if (dotdot && abs) {
            /* "/.." is "/" */
        } else {
            start[k] = i;
            clen[k++] = cl;
        }
        i = j;
    }
    size_t n = 0;
    if (abs) out[n++] = '/';
    for (size_t c = 0; c < k; c++) {
        if (c) out[n++] = '/';
        memcpy(out + n, path + start[c], clen[c]);
        n += clen[c];
    }
    if (n == 0) out[n++] = '.';
    out[n] = '\0';
    pq_free(start);
    pq_free(clen);
    return out;
}

static int find_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

static void join_names(const char *const *names, int n, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= cap - len) break;
        len += (size_t)w;
    }
}

static pq_status parse_algo(load_ctx *c, const char *path, const char *s, pq_calib_algo *out,
                            pq_err *err)
{
    int i = find_name(algo_names, PQ_CALIB_COUNT, s);
    if (i < 0) {
        char names[200];
        join_names(algo_names, PQ_CALIB_COUNT, names, sizeof names);
        return fail_at(c, err, PQ_ERR_CONFIG, path, 1, "'%s' is not one of %s", s, names);
    }
    *out = (pq_calib_algo)i;
    return PQ_OK;
}

static pq_status check_range(load_ctx *c, const char *path, int64_t v, int64_t lo, int64_t hi,
                             pq_err *err)
{
    if (v < lo || v > hi)
        return fail_at(c, err, PQ_ERR_CONFIG, path, 1, "%lld is out of range [%lld, %lld]",
                       (long long)v, (long long)lo, (long long)hi);
    return PQ_OK;
}

static const char *scalar(const yaml_node_t *n)
{
    return (n && n->type == YAML_SCALAR_NODE) ? (const char *)n->data.scalar.value : NULL;
}

static int is_null(const yaml_node_t *n)
{
    const char *s = scalar(n);
    return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!s[0] || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

static pq_status parse_double(load_ctx *c, const char *path, const yaml_node_t *n, double *out,
                              pq_err *err)
{
    const char *s = scalar(n);
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : 0.0;
    if (!s || !s[0] || *end || errno == ERANGE || !isfinite(v))
        return fail_at(c, err, PQ_ERR_CONFIG, path, 1, "expected a finite number, got %s",
                       s ? s : "a collection");
    *out = v;
    return PQ_OK;
}

static pq_status parse_bool(load_ctx *c, const char *path, const yaml_node_t *n, int *out,
                            pq_err *err)
{
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};
    const char *s = scalar(n);
    for (int i = 0; s && i < 7; i++) {
        if (strcmp(s, t[i]) == 0) return (*out = 1), PQ_OK;
        if (strcmp(s, f[i]) == 0) return (*out = 0), PQ_OK;
    }
    return fail_at(c, err, PQ_ERR_CONFIG, path, 1, "expected true or false, got %s",
                   s ? s : "a collection");
}

static pq_status parse_doubles(load_ctx *c, const char *path, const yaml_node_t *n,
                               double **out, unsigned *count, pq_err *err)
{
    pq_status st = PQ_OK;
    *out = NULL;
    *count = 0;
    if (n->type == YAML_SCALAR_NODE) { /* a single number means one value for all channels */
        double v;
        PQ_TRY(parse_double(c, path, n, &v, err));
        *out = pq_malloc(sizeof(double));
        PQ_CHECK(*out, PQ_ERR_NOMEM, "out of memory");
        (*out)[0] = v;
        *count = 1;
        return PQ_OK;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_at(c, err, PQ_ERR_CONFIG, path, 1, "expected a number or a list of numbers");
    size_t k = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (k == 0) return PQ_OK;
    *out = pq_malloc(sizeof(double) * k);
    PQ_CHECK(*out, PQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < k; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s.%zu", path, i);
        PQ_TRY(parse_double(c, p, yaml_document_get_node(&c->eff, n->data.sequence.items.start[i]),
                            &(*out)[i], err));
    }
    *count = (unsigned)k;
    return PQ_OK;
fail:
    pq_free(*out);
    *out = NULL;
    return st;
}

/* ------------------------------------------------------------------ the user-keyed maps */

typedef pq_status (*pair_fn)(load_ctx *c, const char *path, const char *key,
                             const yaml_node_t *val, void *user, pq_err *err);

/* Calls fn for each pair of the mapping at `path` in the effective document; a missing or
 * null node is an empty map. */
static pq_status each_pair(load_ctx *c, const char *path, pair_fn fn, void *user, pq_err *err)
{
    yaml_node_t *n = pq__yaml_lookup(&c->eff, path, NULL);
    if (!n || is_null(n)) return PQ_OK;
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(c, err, PQ_ERR_CONFIG, path, 1, "expected a mapping of names to values");
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const char *k = scalar(yaml_document_get_node(&c->eff, pr->key));
        char p[600];
        snprintf(p, sizeof p, "%s.%s", path, k ? k : "?");
        if (!k || !k[0]) return fail_at(c, err, PQ_ERR_CONFIG, path, 1, "keys must be names");
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < pr; q++) {
            const char *k2 = scalar(yaml_document_get_node(&c->eff, q->key));
            if (k2 && strcmp(k2, k) == 0)
                return fail_at(c, err, PQ_ERR_CONFIG, p, 0, "duplicate key");
        }
        pq_status st = fn(c, p, k, yaml_document_get_node(&c->eff, pr->value), user, err);
        if (st != PQ_OK) return st;
    }
    return PQ_OK;
}

static pq_status dispatch_pair(load_ctx *c, const char *path, const char *key,
                               const yaml_node_t *val, void *user, pq_err *err)
{
    pq_config *cfg = user;
    const char *v = scalar(val);
    if (!v || !v[0])
        return fail_at(c, err, PQ_ERR_CONFIG, path, 1,
                       "expected \"fp32\" or a platform name for operation '%s'", key);
    pq_config_pair *a =
        pq_realloc(cfg->dispatch.overrides, sizeof *a * (cfg->dispatch.n_overrides + 1));
    if (!a) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    cfg->dispatch.overrides = a;
    pq_config_pair *p = &a[cfg->dispatch.n_overrides];
    p->name = pq_strdup(key);
    p->value = pq_strdup(v);
    cfg->dispatch.n_overrides++;
    if (!p->name || !p->value) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    return PQ_OK;
}

static pq_status calib_pair(load_ctx *c, const char *path, const char *key,
                            const yaml_node_t *val, void *user, pq_err *err)
{
    pq_config *cfg = user;
    const char *v = scalar(val);
    pq_calib_algo algo;
    if (!v) return fail_at(c, err, PQ_ERR_CONFIG, path, 1, "expected an algorithm name");
    pq_status st = parse_algo(c, path, v, &algo, err);
    if (st != PQ_OK) return st;
    pq_config_var_override *a =
        pq_realloc(cfg->calibration.overrides, sizeof *a * (cfg->calibration.n_overrides + 1));
    if (!a) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    cfg->calibration.overrides = a;
    pq_config_var_override *o = &a[cfg->calibration.n_overrides++];
    o->name = pq_strdup(key);
    o->algo = algo;
    if (!o->name) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    return PQ_OK;
}

static pq_status input_pair(load_ctx *c, const char *path, const char *key,
                            const yaml_node_t *val, void *user, pq_err *err)
{
    static const char *const keys[] = {"dataset", "layout", "scale", "mean", "std", "bgr"};
    pq_config *cfg = user;
    pq_config_input *a = pq_realloc(cfg->data.inputs, sizeof *a * (cfg->data.n_inputs + 1));
    if (!a) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    cfg->data.inputs = a;
    pq_config_input *in = &a[cfg->data.n_inputs++];
    memset(in, 0, sizeof *in);
    in->layout = PQ_H5_LAYOUT_NCHW;
    in->scale = 1.0;
    in->name = pq_strdup(key);
    if (!in->name) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    pq_status st = PQ_OK;
    char p[700];
    if (val->type == YAML_SCALAR_NODE && !is_null(val)) { /* shorthand: name: /dataset */
        in->dataset = pq_strdup(scalar(val));
        if (!in->dataset) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    } else if (val->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *pr = val->data.mapping.pairs.start; pr < val->data.mapping.pairs.top;
             pr++) {
            const char *k = scalar(yaml_document_get_node(&c->eff, pr->key));
            const yaml_node_t *v = yaml_document_get_node(&c->eff, pr->value);
            snprintf(p, sizeof p, "%s.%s", path, k ? k : "?");
            int which = k ? find_name(keys, 6, k) : -1;
            if (which < 0) {
                char names[100];
                join_names(keys, 6, names, sizeof names);
                return fail_at(c, err, PQ_ERR_CONFIG, p, 0, "unknown key (allowed here: %s)",
                               names);
            }
            const char *s = scalar(v);
            switch (which) {
            case 0:
                if (!s || !s[0])
                    return fail_at(c, err, PQ_ERR_CONFIG, p, 1, "expected a dataset path");
                pq_free(in->dataset);
                in->dataset = pq_strdup(s);
                if (!in->dataset) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
                break;
            case 1:
                if (s && strcmp(s, "nchw") == 0)
                    in->layout = PQ_H5_LAYOUT_NCHW;
                else if (s && strcmp(s, "nhwc") == 0)
                    in->layout = PQ_H5_LAYOUT_NHWC;
                else
                    return fail_at(c, err, PQ_ERR_CONFIG, p, 1, "'%s' is not one of nchw, nhwc",
                                   s ? s : "(collection)");
                break;
            case 2:
                st = parse_double(c, p, v, &in->scale, err);
                if (st == PQ_OK && in->scale == 0.0)
                    st = fail_at(c, err, PQ_ERR_CONFIG, p, 1, "must not be 0");
                break;
            case 3:
                pq_free(in->mean);
                st = parse_doubles(c, p, v, &in->mean, &in->n_mean, err);
                break;
            case 4:
                pq_free(in->std);
                st = parse_doubles(c, p, v, &in->std, &in->n_std, err);
                for (unsigned i = 0; st == PQ_OK && i < in->n_std; i++)
                    if (!(in->std[i] > 0)) {
                        char pi[720];
                        if (v->type == YAML_SEQUENCE_NODE)
                            snprintf(pi, sizeof pi, "%s.%u", p, i);
                        else
                            snprintf(pi, sizeof pi, "%s", p);
                        st = fail_at(c, err, PQ_ERR_CONFIG, pi, 1, "must be positive, got %g",
                                     in->std[i]);
                    }
                break;
            case 5: st = parse_bool(c, p, v, &in->bgr, err); break;
            default: break;
            }
            if (st != PQ_OK) return st;
        }
    } else {
        return fail_at(c, err, PQ_ERR_CONFIG, path, 1,
                       "expected a dataset path or a mapping with 'dataset'");
    }
    if (!in->dataset)
        return fail_at(c, err, PQ_ERR_CONFIG, path, 0, "missing required key 'dataset'");
    if (in->dataset[0] != '/')
        return fail_at(c, err, PQ_ERR_CONFIG, path, 1,
                       "dataset path '%s' must be absolute (start with '/')", in->dataset);
    return PQ_OK;
}

/* analysis.eval_inputs.<input>: /dataset */
static pq_status eval_input_pair(load_ctx *c, const char *path, const char *key,
                                 const yaml_node_t *val, void *user, pq_err *err)
{
    pq_config *cfg = user;
    const char *v = scalar(val);
    if (!v || !v[0] || is_null(val))
        return fail_at(c, err, PQ_ERR_CONFIG, path, 1,
                       "expected the dataset path to evaluate graph input '%s' on", key);
    if (v[0] != '/')
        return fail_at(c, err, PQ_ERR_CONFIG, path, 1,
                       "dataset path '%s' must be absolute (start with '/')", v);
    pq_config_pair *a =
        pq_realloc(cfg->analysis.eval_inputs, sizeof *a * (cfg->analysis.n_eval_inputs + 1));
    if (!a) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    cfg->analysis.eval_inputs = a;
    pq_config_pair *p = &a[cfg->analysis.n_eval_inputs];
    p->name = pq_strdup(key);
    p->value = pq_strdup(v);
    cfg->analysis.n_eval_inputs++;
    if (!p->name || !p->value) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    return PQ_OK;
}

/* ------------------------------------------------------------------ conversion */

static pq_status set_str(char **dst, const char *src, const char *dflt, pq_err *err)
{
    *dst = pq_strdup(src ? src : dflt);
    return *dst ? PQ_OK : pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
}

static pq_status check_file(load_ctx *c, const char *key, const char *abs, pq_err *err)
{
    struct stat sb;
    if (stat(abs, &sb) != 0)
        return fail_at(c, err, PQ_ERR_IO, key, 1, "%s: %s", abs,
                       errno == ENOENT ? "file not found" : strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return fail_at(c, err, PQ_ERR_IO, key, 1, "%s: not a regular file", abs);
    return PQ_OK;
}

static pq_status flags_from(load_ctx *c, const char *path, char **items, unsigned n,
                            const char *const *names, int n_names, unsigned *out, pq_err *err)
{
    *out = 0;
    for (unsigned i = 0; i < n; i++) {
        int k = find_name(names, n_names, items[i]);
        if (k < 0) {
            char p[300], all[200];
            snprintf(p, sizeof p, "%s.%u", path, i);
            join_names(names, n_names, all, sizeof all);
            return fail_at(c, err, PQ_ERR_CONFIG, p, 1, "'%s' is not one of %s", items[i], all);
        }
        *out |= 1u << k;
    }
    return PQ_OK;
}

static pq_status convert(load_ctx *c, const raw_cfg *raw, pq_config *cfg, pq_err *err)
{
    pq_status st = PQ_OK;
    /* model and platform */
    cfg->model = resolve(cfg->dir, raw->model);
    PQ_CHECK(cfg->model, PQ_ERR_NOMEM, "out of memory");
    PQ_TRY(set_str(&cfg->platform, raw->platform, "trt_int8", err));
    if (!cfg->platform[0]) return fail_at(c, err, PQ_ERR_CONFIG, "platform", 1, "must not be empty");

    /* dispatch */
    PQ_TRY(set_str(&cfg->dispatch.dispatcher, raw->dispatch ? raw->dispatch->dispatcher : NULL,
                   "conservative", err));
    PQ_TRY(each_pair(c, "dispatch.overrides", dispatch_pair, cfg, err));

    /* passes */
    if (raw->passes_count) {
        cfg->passes = pq_calloc(raw->passes_count, sizeof(char *));
        PQ_CHECK(cfg->passes, PQ_ERR_NOMEM, "out of memory");
        for (unsigned i = 0; i < raw->passes_count; i++) {
            cfg->passes[i] = pq_strdup(raw->passes[i]);
            PQ_CHECK(cfg->passes[i], PQ_ERR_NOMEM, "out of memory");
            cfg->n_passes = i + 1;
            if (!raw->passes[i][0]) {
                char p[64];
                snprintf(p, sizeof p, "passes.%u", i);
                return fail_at(c, err, PQ_ERR_CONFIG, p, 1, "empty pass name");
            }
        }
    }

    /* calibration */
    const raw_calib *rc = raw->calibration;
    cfg->calibration.activation = PQ_CALIB_PERCENTILE;
    cfg->calibration.weight = PQ_CALIB_MINMAX;
    cfg->calibration.bins = 2048;
    cfg->calibration.percentile = 0.9999;
    cfg->calibration.batch_size = 32;
    if (rc) {
        if (rc->activation)
            PQ_TRY(parse_algo(c, "calibration.activation", rc->activation,
                              &cfg->calibration.activation, err));
        if (rc->weight)
            PQ_TRY(parse_algo(c, "calibration.weight", rc->weight, &cfg->calibration.weight, err));
        if (rc->bins) {
            PQ_TRY(check_range(c, "calibration.bins", *rc->bins, 16, 1 << 20, err));
            cfg->calibration.bins = *rc->bins;
        }
        if (rc->percentile) {
            double v = *rc->percentile;
            if (!(v > 0.0 && v <= 1.0))
                return fail_at(c, err, PQ_ERR_CONFIG, "calibration.percentile", 1,
                               "%g is out of range (0, 1] (a fraction: 0.9999, not 99.99)", v);
            cfg->calibration.percentile = v;
        }
        if (rc->batch_size) {
            PQ_TRY(check_range(c, "calibration.batch_size", *rc->batch_size, 1, 1 << 20, err));
            cfg->calibration.batch_size = *rc->batch_size;
        }
        if (rc->samples) {
            PQ_TRY(check_range(c, "calibration.samples", *rc->samples, 0, INT64_MAX, err));
            cfg->calibration.samples = *rc->samples;
        }
        if (rc->batches) {
            PQ_TRY(check_range(c, "calibration.batches", *rc->batches, 0, INT64_MAX, err));
            cfg->calibration.batches = *rc->batches;
        }
        if (rc->seed) cfg->calibration.seed = *rc->seed;
    }
    PQ_TRY(each_pair(c, "calibration.overrides", calib_pair, cfg, err));

    /* data */
    const raw_data *rd = raw->data;
    cfg->data.file = resolve(cfg->dir, rd->file);
    PQ_CHECK(cfg->data.file, PQ_ERR_NOMEM, "out of memory");
    cfg->data.nan = PQ_H5_NAN_ERROR;
    if (rd->nan) {
        if (strcmp(rd->nan, "error") == 0)
            cfg->data.nan = PQ_H5_NAN_ERROR;
        else if (strcmp(rd->nan, "ignore") == 0)
            cfg->data.nan = PQ_H5_NAN_IGNORE;
        else
            return fail_at(c, err, PQ_ERR_CONFIG, "data.nan", 1, "'%s' is not one of error, ignore",
                           rd->nan);
    }
    PQ_TRY(each_pair(c, "data.inputs", input_pair, cfg, err));
    if (cfg->data.n_inputs == 0)
        return fail_at(c, err, PQ_ERR_CONFIG, "data.inputs", 1,
                       "at least one input is needed (input name: /dataset/path)");

    /* export */
    const raw_export *re = raw->export_;
    cfg->export_.formats = PQ_EXPORT_QDQ_ONNX | PQ_EXPORT_JSON;
    if (re && pq__yaml_lookup(&c->eff, "export.formats", NULL))
        PQ_TRY(flags_from(c, "export.formats", re->formats, re->formats_count, format_names, 4,
                          &cfg->export_.formats, err));
    cfg->export_.dir = resolve(cfg->dir, re && re->dir ? re->dir : "out");
    PQ_CHECK(cfg->export_.dir, PQ_ERR_NOMEM, "out of memory");
    cfg->export_.qdq_onnx = resolve(cfg->export_.dir, re && re->qdq_onnx ? re->qdq_onnx : "model.qdq.onnx");
    cfg->export_.trt_cache = resolve(cfg->export_.dir, re && re->trt_cache ? re->trt_cache : "calib.cache");
    cfg->export_.json = resolve(cfg->export_.dir, re && re->json ? re->json : "quant.json");
    cfg->export_.report = resolve(cfg->export_.dir, re && re->report ? re->report : "report.md");
    PQ_CHECK(cfg->export_.qdq_onnx && cfg->export_.trt_cache && cfg->export_.json &&
                 cfg->export_.report,
             PQ_ERR_NOMEM, "out of memory");

    /* analysis */
    const raw_analysis *ra = raw->analysis;
    cfg->analysis.metrics = PQ_METRIC_SNR;
    cfg->analysis.eval_batches = 8;
    if (ra) {
        if (ra->enabled) cfg->analysis.enabled = *ra->enabled;
        if (pq__yaml_lookup(&c->eff, "analysis.metrics", NULL))
            PQ_TRY(flags_from(c, "analysis.metrics", ra->metrics, ra->metrics_count, metric_names,
                              3, &cfg->analysis.metrics, err));
        if (ra->eval_batches) {
            PQ_TRY(check_range(c, "analysis.eval_batches", *ra->eval_batches, 0, INT64_MAX, err));
            cfg->analysis.eval_batches = *ra->eval_batches;
        }
        if (ra->labels) {
            if (ra->labels[0] != '/')
                return fail_at(c, err, PQ_ERR_CONFIG, "analysis.labels", 1,
                               "dataset path '%s' must be absolute (start with '/')", ra->labels);
            PQ_TRY(set_str(&cfg->analysis.labels, ra->labels, NULL, err));
        }
    }
    PQ_TRY(each_pair(c, "analysis.eval_inputs", eval_input_pair, cfg, err));
    if (raw->threads) {
        PQ_TRY(check_range(c, "threads", *raw->threads, 0, 1024, err));
        cfg->threads = *raw->threads;
    }

    /* files that must exist */
    if (c->check_files) {
        PQ_TRY(check_file(c, "model", cfg->model, err));
        PQ_TRY(check_file(c, "data.file", cfg->data.file, err));
    }
fail:
    return st;
}

/* ------------------------------------------------------------------ load / destroy */

static pq_status read_text(const char *path, char **out, size_t *len, pq_err *err)
{
    pq_status st = PQ_OK;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    PQ_CHECK(f, PQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    buf = pq_malloc(cap);
    PQ_CHECK(buf, PQ_ERR_NOMEM, "out of memory");
    for (;;) {
        if (n + 1 >= cap) {
            PQ_CHECK(cap < ((size_t)64 << 20), PQ_ERR_CONFIG, "%s: larger than 64 MiB", path);
            char *b = pq_realloc(buf, cap * 2);
            PQ_CHECK(b, PQ_ERR_NOMEM, "out of memory");
            buf = b;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0) break;
    }
    PQ_CHECK(!ferror(f), PQ_ERR_IO, "%s: read error", path);
    buf[n] = '\0';
    PQ_CHECK(strlen(buf) == n, PQ_ERR_CONFIG, "%s: contains a NUL byte", path);
    *out = buf;
    *len = n;
    buf = NULL;
fail:
    pq_free(buf);
    if (f) fclose(f);
    return st;
}

static char *dir_of(const char *path)
{
    char *abs = NULL;
    if (path[0] == '/') {
        abs = pq_strdup(path);
    } else {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd)) return NULL;
        size_t n = strlen(cwd) + strlen(path) + 2;
        abs = pq_malloc(n);
        if (abs) snprintf(abs, n, "%s/%s", cwd, path);
    }
    if (!abs) return NULL;
    char *norm = pq_config_normalize_path(abs);
    pq_free(abs);
    if (!norm) return NULL;
    char *slash = strrchr(norm, '/');
    if (slash == norm)
        slash[1] = '\0';
    else
        *slash = '\0';
    return norm;
}

/* Loads a config from text (taken over, freed here on every path). name is the file name
 * for messages and cfg->path; dir the folder relative paths resolve against (NULL: the
 * folder of name). */
static pq_status load(const char *name, const char *dir, char *text, size_t len, int n_sets,
                      const char *const *sets, int check_files, pq_config **out, pq_err *err)
{
    pq_status st = PQ_OK;
    load_ctx *c = NULL;
    pq_config *cfg = NULL;
    raw_cfg *raw = NULL;
    yaml_document_t patched;
    memset(&patched, 0, sizeof patched);
    *out = NULL;
    c = pq_calloc(1, sizeof *c);
    cfg = pq_calloc(1, sizeof *cfg);
    PQ_CHECK(c && cfg, PQ_ERR_NOMEM, "out of memory");
    cfg->path = pq_config_normalize_path(name);
    cfg->dir = dir ? pq_config_normalize_path(dir) : dir_of(name);
    PQ_CHECK(cfg->path && cfg->dir, PQ_ERR_NOMEM, "out of memory");
    const char *path = cfg->path;
    c->path = path;
    c->n_sets = n_sets;
    c->sets = sets;
    c->check_files = check_files;

    PQ_TRY(pq__yaml_parse(text, len, path, &c->orig, err));
    yaml_node_t *root = yaml_document_get_root_node(&c->orig);
    PQ_CHECK(root || n_sets > 0, PQ_ERR_CONFIG, "%s: the config is empty", path);
    PQ_CHECK(!root || root->type == YAML_MAPPING_NODE, PQ_ERR_CONFIG,
             "%s:%zu:%zu: the top level must be a mapping of keys (model: ..., data: ...)", path,
             root ? root->start_mark.line + 1 : 0, root ? root->start_mark.column + 1 : 0);
    if (n_sets > 0) {
        PQ_TRY(pq__yaml_parse(text, len, path, &patched, err));
        for (int i = 0; i < n_sets; i++) PQ_TRY(pq__yaml_apply_set(&patched, sets[i], err));
        PQ_TRY(pq__yaml_emit(&patched, &cfg->text, err));
        pq_free(text);
        text = NULL;
    } else {
        cfg->text = text;
        text = NULL;
    }
    PQ_TRY(pq__yaml_parse(cfg->text, strlen(cfg->text), path, &c->eff, err));

    cyaml_config_t cy = {
        .log_fn = cyaml_log_cb,
        .log_ctx = c,
        .mem_fn = cyaml_mem,
        .mem_ctx = NULL,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_DEFAULT,
    };
    cyaml_err_t e = cyaml_load_data((const uint8_t *)cfg->text, strlen(cfg->text), &cy,
                                    &top_schema, (cyaml_data_t **)&raw, NULL);
    if (e != CYAML_OK) {
        raw = NULL;
        if (e == CYAML_ERR_OOM)
            st = pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
        else
            st = cyaml_failure(c, e, err);
        goto fail;
    }
    PQ_TRY(convert(c, raw, cfg, err));
    *out = cfg;
    cfg = NULL;
fail:
    if (raw) cyaml_free(&cy, &top_schema, raw, 0);
    yaml_document_delete(&patched);
    if (c) {
        yaml_document_delete(&c->orig);
        yaml_document_delete(&c->eff);
    }
    pq_free(c);
    pq_free(text);
    pq_config_destroy(&cfg);
    return st;
}

pq_status pq_config_load(const char *path, int n_sets, const char *const *sets, pq_config **out,
                         pq_err *err)
{
    char *text = NULL, *name = NULL;
    size_t len = 0;
    *out = NULL;
    name = pq_config_normalize_path(path);
    if (!name) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    pq_status st = read_text(name, &text, &len, err);
    if (st == PQ_OK) st = load(name, NULL, text, len, n_sets, sets, 1, out, err);
    pq_free(name);
    return st;
}

pq_status pq_config_load_text(const char *text, size_t len, const char *name, const char *dir,
                              unsigned flags, pq_config **out, pq_err *err)
{
    *out = NULL;
    char *copy = pq_malloc(len + 1);
    if (!copy) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (strlen(copy) != len) {
        pq_free(copy);
        return pq_err_set(err, PQ_ERR_CONFIG, "%s: contains a NUL byte", name);
    }
    return load(name, dir, copy, len, 0, NULL, !(flags & PQ_CONFIG_NO_FILE_CHECK), out, err);
}

void pq_config_destroy(pq_config **cp)
{
    if (!cp || !*cp) return;
    pq_config *c = *cp;
    pq_free(c->path);
    pq_free(c->dir);
    pq_free(c->text);
    pq_free(c->model);
    pq_free(c->platform);
    pq_free(c->dispatch.dispatcher);
    for (unsigned i = 0; i < c->dispatch.n_overrides; i++) {
        pq_free(c->dispatch.overrides[i].name);
        pq_free(c->dispatch.overrides[i].value);
    }
    pq_free(c->dispatch.overrides);
    for (unsigned i = 0; i < c->n_passes; i++) pq_free(c->passes[i]);
    pq_free(c->passes);
    for (unsigned i = 0; i < c->calibration.n_overrides; i++)
        pq_free(c->calibration.overrides[i].name);
    pq_free(c->calibration.overrides);
    pq_free(c->data.file);
    for (unsigned i = 0; i < c->data.n_inputs; i++) {
        pq_free(c->data.inputs[i].name);
        pq_free(c->data.inputs[i].dataset);
        pq_free(c->data.inputs[i].mean);
        pq_free(c->data.inputs[i].std);
    }
    pq_free(c->data.inputs);
    pq_free(c->export_.dir);
    pq_free(c->export_.qdq_onnx);
    pq_free(c->export_.trt_cache);
    pq_free(c->export_.json);
    pq_free(c->export_.report);
    for (unsigned i = 0; i < c->analysis.n_eval_inputs; i++) {
        pq_free(c->analysis.eval_inputs[i].name);
        pq_free(c->analysis.eval_inputs[i].value);
    }
    pq_free(c->analysis.eval_inputs);
    pq_free(c->analysis.labels);
    pq_free(c);
    *cp = NULL;
}

void pq_config_input_specs(const pq_config *cfg, pq_h5_input_spec *specs)
{
    for (unsigned i = 0; i < cfg->data.n_inputs; i++) {
        const pq_config_input *in = &cfg->data.inputs[i];
        pq_h5_input_spec_init(&specs[i], in->name, in->dataset);
        specs[i].layout = in->layout;
        specs[i].scale = in->scale;
        specs[i].mean = in->mean;
        specs[i].n_mean = (int)in->n_mean;
        specs[i].std = in->std;
        specs[i].n_std = (int)in->n_std;
        specs[i].swap_channels = in->bgr;
    }
}

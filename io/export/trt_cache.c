/* trt_cache.c - TensorRT calibration cache: writer (from the graph's activation TQCs) and
 * parser. Format (TensorRT's IInt8Calibrator cache, text):
 *   TRT-8601-EntropyCalibration2
 *   tensor_name: 3c010a14
 * the hex being the big-endian bits of the float32 scale, dynamic range = scale * 127. */
#include "export_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void pq_trt_cache_destroy(pq_trt_cache **c)
{
    if (!c || !*c) return;
    for (int64_t k = 0; k < (*c)->n; k++) pq_free((*c)->entries[k].name);
    pq_free((*c)->entries);
    pq_free((*c)->header);
    pq_free(*c);
    *c = NULL;
}

static pq_status cache_push(pq_trt_cache *c, int64_t *cap, const char *name, size_t name_len,
                            float scale, pq_err *err)
{
    if (c->n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 32;
        pq_trt_cache_entry *ne = pq_realloc(c->entries, (size_t)nc * sizeof *ne);
        if (!ne) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
        c->entries = ne;
        *cap = nc;
    }
    char *s = pq_malloc(name_len + 1);
    if (!s) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    memcpy(s, name, name_len);
    s[name_len] = '\0';
    c->entries[c->n].name = s;
    c->entries[c->n].scale = scale;
    c->n++;
    return PQ_OK;
}

/* TensorRT scale (range / 127) of a resolved TQC. */
static float trt_scale(const pq_tqc *r)
{
    int same_grid = 1;
    for (int64_t k = 0; k < r->n_channels; k++)
        if (r->offset[k] != 0.0f) same_grid = 0;
    if (r->n_channels != 1 || r->quant_max != 127 ||
        (r->quant_min != -128 && r->quant_min != -127))
        same_grid = 0;
    if (same_grid) return r->scale[0];
    double range = 0;
    for (int64_t k = 0; k < r->n_channels; k++) {
        double s = r->scale[k], z = r->offset[k];
        double a = fabs(((double)r->quant_min - z) * s), b = fabs(((double)r->quant_max - z) * s);
        if (a > range) range = a;
        if (b > range) range = b;
    }
    return (float)(range / 127.0);
}

/* The TQC that quantizes activation v: its producer's output TQC, else its first reader's. */
static pq_status var_tqc(const pq_graph *g, const pq_var *v, const pq_tqc **r, pq_err *err)
{
    pq_status st = PQ_OK;
    *r = NULL;
    if (v->source_op) {
        const pq_op *p = v->source_op;
        for (int j = 0; j < p->n_outputs; j++)
            if (p->outputs[j] == v) {
                PQ_TRY(pq__export_tqc(p, 0, j, r, err));
                if (*r) return PQ_OK;
            }
    }
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        for (int i = 0; i < op->n_inputs; i++)
            if (op->inputs[i] == v) {
                PQ_TRY(pq__export_tqc(op, 1, i, r, err));
                if (*r) return PQ_OK;
            }
    }
fail:
    return st;
}

static pq_status add_var(const pq_graph *g, const pq_var *v, pq_trt_cache *c, int64_t *cap,
                         pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tqc *r = NULL;
    if (!v || (pq_var_is_parameter(v) && !pq_graph_is_input(g, v))) return PQ_OK;
    PQ_TRY(var_tqc(g, v, &r, err));
    if (r) PQ_TRY(cache_push(c, cap, v->name, strlen(v->name), trt_scale(r), err));
fail:
    return st;
}

pq_status pq_trt_cache_build(const pq_graph *g, int trt_version, const char *calibrator,
                             pq_trt_cache **out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_trt_cache *c = NULL;
    int64_t cap = 0;
    char hdr[256];
    *out = NULL;
    if (trt_version <= 0) trt_version = 8601;
    if (!calibrator) calibrator = "EntropyCalibration2";
    PQ_CHECK(calibrator[0] && !strpbrk(calibrator, " \t\r\n") && strlen(calibrator) < 200,
             PQ_ERR_INVALID, "TensorRT cache: bad calibrator name '%s'", calibrator);
    snprintf(hdr, sizeof hdr, "TRT-%d-%s", trt_version, calibrator);
    c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    c->header = pq_strdup(hdr);
    PQ_CHECK(c->header, PQ_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; k < g->inputs.n; k++) PQ_TRY(add_var(g, g->inputs.items[k], c, &cap, err));
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        for (int j = 0; j < op->n_outputs; j++) PQ_TRY(add_var(g, op->outputs[j], c, &cap, err));
    }
    *out = c;
    return PQ_OK;
fail:
    pq_err_prefix(err, "TensorRT cache");
    pq_trt_cache_destroy(&c);
    return st;
}

pq_status pq_trt_cache_save(const pq_trt_cache *c, const char *path, pq_err *err)
{
    pq_status st = PQ_OK;
    pq__strbuf b = {0};
    PQ_TRY(pq__strbuf_printf(&b, err, "%s\n", c->header));
    for (int64_t k = 0; k < c->n; k++) {
        uint32_t bits;
        float s = c->entries[k].scale;
        PQ_CHECK(isfinite(s) && s > 0, PQ_ERR_NUMERIC, "tensor '%s': scale %g",
                 c->entries[k].name, (double)s);
        PQ_CHECK(!strchr(c->entries[k].name, '\n'), PQ_ERR_INVALID,
                 "tensor name with a newline");
        memcpy(&bits, &s, sizeof bits);
        PQ_TRY(pq__strbuf_printf(&b, err, "%s: %08" PRIx32 "\n", c->entries[k].name, bits));
    }
    PQ_TRY(pq__export_write_atomic(path, b.s, b.n, err));
    pq__strbuf_free(&b);
    return PQ_OK;
fail:
    pq_err_prefix(err, "%s", path);
    pq__strbuf_free(&b);
    return st;
}

pq_status pq_export_trt_cache(const pq_graph *g, int trt_version, const char *calibrator,
                              const char *path, pq_err *err)
{
    pq_trt_cache *c = NULL;
    pq_status st = pq_trt_cache_build(g, trt_version, calibrator, &c, err);
    if (st == PQ_OK) st = pq_trt_cache_save(c, path, err);
    else pq_err_prefix(err, "%s", path);
    pq_trt_cache_destroy(&c);
    return st;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

pq_status pq_trt_cache_parse(const char *text, size_t len, const char *name, pq_trt_cache **out,
                             pq_err *err)
{
    pq_status st = PQ_OK;
    pq_trt_cache *c = NULL;
    pq_strmap seen = {0};
    int64_t cap = 0, line = 0;
    size_t pos = 0;
    *out = NULL;
    c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n && s[n - 1] == '\r') n--;
        if (line == 1) {
            /* "TRT-<version>-<calibrator>" */
            size_t k = 4;
            PQ_CHECK(n > 4 && memcmp(s, "TRT-", 4) == 0, PQ_ERR_FORMAT,
                     "%s:1: header must start with 'TRT-'", name);
            while (k < n && s[k] >= '0' && s[k] <= '9') k++;
            PQ_CHECK(k > 4 && k + 1 < n && s[k] == '-', PQ_ERR_FORMAT,
                     "%s:1: header must be TRT-<version>-<calibrator>", name);
            c->header = pq_malloc(n + 1);
            PQ_CHECK(c->header, PQ_ERR_NOMEM, "out of memory");
            memcpy(c->header, s, n);
            c->header[n] = '\0';
            continue;
        }
        if (n == 0) {
            PQ_CHECK(pos >= len, PQ_ERR_FORMAT, "%s:%" PRId64 ": empty line", name, line);
            continue;
        }
        PQ_CHECK(n > 10 && s[n - 10] == ':' && s[n - 9] == ' ', PQ_ERR_FORMAT,
                 "%s:%" PRId64 ": expected 'name: <8 hex digits>'", name, line);
        uint32_t bits = 0;
        for (size_t k = n - 8; k < n; k++) {
            int h = hexval(s[k]);
            PQ_CHECK(h >= 0, PQ_ERR_FORMAT, "%s:%" PRId64 ": '%c' is not a hex digit", name,
                     line, s[k]);
            bits = (bits << 4) | (uint32_t)h;
        }
        float scale;
        memcpy(&scale, &bits, sizeof scale);
        PQ_TRY(cache_push(c, &cap, s, n - 10, scale, err));
        const char *nm = c->entries[c->n - 1].name;
        PQ_CHECK(!pq_strmap_get(&seen, nm), PQ_ERR_FORMAT,
                 "%s:%" PRId64 ": tensor '%s' listed twice", name, line, nm);
        PQ_TRY(pq_strmap_put(&seen, nm, c, err));
    }
    PQ_CHECK(c->header, PQ_ERR_FORMAT, "%s: empty file (no header)", name);
    pq_strmap_free(&seen);
    *out = c;
    return PQ_OK;
fail:
    pq_strmap_free(&seen);
    pq_trt_cache_destroy(&c);
    return st;
}

pq_status pq_trt_cache_load(const char *path, pq_trt_cache **out, pq_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    pq_status st = pq__export_read_file(path, &buf, &len, err);
    if (st == PQ_OK) st = pq_trt_cache_parse(buf, len, path, out, err);
    pq_free(buf);
    return st;
}

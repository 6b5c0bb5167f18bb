/* export_common.c - what the exporters share: which TQCs are exported, rounding and
 * quantization of single values, atomic file writes, a text buffer, enum names. */
#include "export_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *pq__export_rounding_name(pq_rounding r)
{
    switch (r) {
    case PQ_ROUND_HALF_EVEN: return "ROUND_HALF_EVEN";
    case PQ_ROUND_HALF_UP: return "ROUND_HALF_UP";
    case PQ_ROUND_HALF_DOWN: return "ROUND_HALF_DOWN";
    case PQ_ROUND_HALF_TOWARDS_ZERO: return "ROUND_HALF_TOWARDS_ZERO";
    case PQ_ROUND_HALF_FAR_FROM_ZERO: return "ROUND_HALF_FAR_FROM_ZERO";
    case PQ_ROUND_UP: return "ROUND_UP";
    case PQ_ROUND_DOWN: return "ROUND_DOWN";
    }
    return "UNKNOWN";
}

const char *pq__export_visibility_name(pq_tqc_visibility v)
{
    switch (v) {
    case PQ_TQC_EXPORT_WHEN_ACTIVE: return "EXPORT_WHEN_ACTIVE";
    case PQ_TQC_FORCE_EXPORT: return "FORCE_EXPORT";
    case PQ_TQC_INTERNAL: return "INTERNAL";
    }
    return "UNKNOWN";
}

static int state_has_values(pq_tqc_state s)
{
    return s == PQ_TQC_STATE_ACTIVATED || s == PQ_TQC_STATE_BAKED || s == PQ_TQC_STATE_PASSIVE ||
           s == PQ_TQC_STATE_PASSIVE_BAKED;
}

pq_status pq__export_tqc(const pq_op *op, int is_input, int idx, const pq_tqc **resolved,
                         pq_err *err)
{
    pq_status st = PQ_OK;
    const char *kind = is_input ? "input" : "output";
    *resolved = NULL;
    if (!op->qconfig) return PQ_OK;
    int n = is_input ? op->qconfig->n_inputs : op->qconfig->n_outputs;
    if (idx >= n) return PQ_OK;
    const pq_tqc *q = is_input ? &op->qconfig->inputs[idx] : &op->qconfig->outputs[idx];
    if (q->visibility == PQ_TQC_INTERNAL) return PQ_OK;
    if (q->state == PQ_TQC_STATE_FP32 &&
        !(q->visibility == PQ_TQC_FORCE_EXPORT && q->n_channels > 0 && q->scale))
        return PQ_OK;
    PQ_CHECK(q->state != PQ_TQC_STATE_INITIAL && q->state != PQ_TQC_STATE_PASSIVE_INIT,
             PQ_ERR_INVALID,
             "op '%s' (%s) %s %d: TQC is %s (not calibrated); calibrate it or make it FP32",
             op->name, op->type, kind, idx, pq_tqc_state_name(q->state));
    const pq_tqc *r = pq_tqc_resolve(q);
    PQ_CHECK(r && (state_has_values(r->state) || r->state == PQ_TQC_STATE_FP32), PQ_ERR_INVALID,
             "op '%s' (%s) %s %d: overlapped TQC resolves to a %s TQC", op->name, op->type,
             kind, idx, r ? pq_tqc_state_name(r->state) : "missing");
    PQ_CHECK(r->n_channels >= 1 && r->scale && r->offset, PQ_ERR_INVALID,
             "op '%s' (%s) %s %d: TQC has no scale", op->name, op->type, kind, idx);
    PQ_CHECK(r->quant_min <= r->quant_max, PQ_ERR_INVALID,
             "op '%s' (%s) %s %d: quant_min %lld > quant_max %lld", op->name, op->type, kind,
             idx, (long long)r->quant_min, (long long)r->quant_max);
    for (int64_t c = 0; c < r->n_channels; c++) {
        PQ_CHECK(isfinite(r->scale[c]) && r->scale[c] > 0, PQ_ERR_INVALID,
                 "op '%s' (%s) %s %d: scale[%lld] = %g (must be finite and > 0)", op->name,
                 op->type, kind, idx, (long long)c, (double)r->scale[c]);
        PQ_CHECK(isfinite(r->offset[c]), PQ_ERR_INVALID,
                 "op '%s' (%s) %s %d: offset[%lld] is not finite", op->name, op->type, kind,
                 idx, (long long)c);
    }
    *resolved = r;
fail:
    return st;
}

double pq__export_round(double x, pq_rounding r)
{
    double f = floor(x), d = x - f;
    switch (r) {
    case PQ_ROUND_HALF_EVEN: return nearbyint(x);
    case PQ_ROUND_HALF_UP: return floor(x + 0.5);
    case PQ_ROUND_HALF_DOWN: return ceil(x - 0.5);
    case PQ_ROUND_HALF_TOWARDS_ZERO:
        if (d == 0.5) return x < 0 ? f + 1 : f;
        return nearbyint(x);
    case PQ_ROUND_HALF_FAR_FROM_ZERO: return round(x);
    case PQ_ROUND_UP: return ceil(x);
    case PQ_ROUND_DOWN: return f;
    }
    return nearbyint(x);
}

int64_t pq__export_quantize(float x, float scale, float zero_point, pq_rounding r, int64_t qmin,
                            int64_t qmax)
{
    float y = x / scale;
    double q = pq__export_round((double)y, r) + (double)zero_point;
    if (!(q >= (double)qmin)) return qmin; /* also NaN */
    if (q > (double)qmax) return qmax;
    return (int64_t)q;
}

pq_status pq__export_write_atomic(const char *path, const char *buf, size_t len, pq_err *err)
{
    pq_status st = PQ_OK;
    FILE *f = NULL;
    char *tmp = NULL;
    size_t cap = strlen(path) + 32;
    tmp = pq_malloc(cap);
    PQ_CHECK(tmp, PQ_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, cap, "%s.tmp.%d", path, (int)getpid());
    f = fopen(tmp, "wb");
    PQ_CHECK(f, PQ_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    PQ_CHECK(fwrite(buf, 1, len, f) == len, PQ_ERR_IO, "%s: write failed: %s", tmp,
             strerror(errno));
    PQ_CHECK(fflush(f) == 0 && fsync(fileno(f)) == 0, PQ_ERR_IO, "%s: flush failed: %s", tmp,
             strerror(errno));
    int rc = fclose(f);
    f = NULL;
    PQ_CHECK(rc == 0, PQ_ERR_IO, "%s: close failed", tmp);
    PQ_CHECK(rename(tmp, path) == 0, PQ_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
    pq_free(tmp);
    return PQ_OK;
fail:
    if (f) fclose(f);
    if (tmp) remove(tmp);
    pq_free(tmp);
    return st;
}

pq_status pq__export_read_file(const char *path, char **buf, size_t *len, pq_err *err)
{
    pq_status st = PQ_OK;
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0, cap = 0;
    *buf = NULL;
    *len = 0;
    PQ_CHECK(f, PQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    for (;;) {
        if (cap - n < 4097) {
            size_t nc = cap ? cap * 2 : 65536;
            char *nb = pq_realloc(b, nc);
            PQ_CHECK(nb, PQ_ERR_NOMEM, "%s: out of memory", path);
            b = nb;
            cap = nc;
        }
        size_t got = fread(b + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    PQ_CHECK(!ferror(f), PQ_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    b[n] = '\0';
    fclose(f);
    *buf = b;
    *len = n;
    return PQ_OK;
fail:
    if (f) fclose(f);
    pq_free(b);
    return st;
}

pq_status pq__strbuf_printf(pq__strbuf *b, pq_err *err, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->n;
        va_start(ap, fmt);
        int k = b->s ? vsnprintf(b->s + b->n, room, fmt, ap) : -2;
        va_end(ap);
        if (k == -1) return pq_err_set(err, PQ_ERR_INTERNAL, "text formatting failed");
        if (k >= 0 && (size_t)k < room) {
            b->n += (size_t)k;
            return PQ_OK;
        }
        size_t need = b->n + (k > 0 ? (size_t)k : 0) + 1;
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < need) nc *= 2;
        char *ns = pq_realloc(b->s, nc);
        if (!ns) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory building text");
        b->s = ns;
        b->cap = nc;
    }
}

void pq__strbuf_free(pq__strbuf *b)
{
    pq_free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
}

/* export_internal.h - helpers shared by the exporters in io/export (not a public header). */
#ifndef PQ_EXPORT_INTERNAL_H
#define PQ_EXPORT_INTERNAL_H

#include "pq_export.h"
#include "pq_quant.h"

/* Whether TQC `idx` of op (is_input: inputs, else outputs) is exported (see pq_export.h);
 * *resolved gets the TQC whose scale/offset apply (NULL when not exported). Checks the
 * resolved TQC: n_channels >= 1, scales finite and > 0, offsets finite. PQ_ERR_INVALID for
 * an uncalibrated TQC or bad values, naming op and slot. */
pq_status pq__export_tqc(const pq_op *op, int is_input, int idx, const pq_tqc **resolved,
                         pq_err *err);

/* Writes len bytes to path atomically (path.tmp.PID, fsync, rename). */
pq_status pq__export_write_atomic(const char *path, const char *buf, size_t len, pq_err *err);
/* Reads a whole file (NUL-terminated, pq_malloc'd). */
pq_status pq__export_read_file(const char *path, char **buf, size_t *len, pq_err *err);

/* x rounded to an integer by rounding mode r (x already divided by the scale). */
double pq__export_round(double x, pq_rounding r);
/* The integer q of value x: round(x / scale) + zero_point (float32 division, as ONNX
 * QuantizeLinear) clamped to [qmin, qmax]. */
int64_t pq__export_quantize(float x, float scale, float zero_point, pq_rounding r, int64_t qmin,
                            int64_t qmax);

/* A growable text buffer. */
typedef struct pq__strbuf {
    char *s;
    size_t n, cap;
} pq__strbuf;
pq_status pq__strbuf_printf(pq__strbuf *b, pq_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pq__strbuf_free(pq__strbuf *b);

/* Names used in the JSON file and messages ("ACTIVATED", "ROUND_HALF_EVEN",
 * "EXPORT_WHEN_ACTIVE"); a stable part of the file format (docs/export.md). */
const char *pq__export_rounding_name(pq_rounding r);
const char *pq__export_visibility_name(pq_tqc_visibility v);

#endif /* PQ_EXPORT_INTERNAL_H */

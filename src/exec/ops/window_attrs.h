/* window_attrs.h - the attributes convolution and pooling share (src/exec/ops only):
 * auto_pad, and integer lists with a bound. */
#ifndef PQ_WINDOW_ATTRS_H
#define PQ_WINDOW_ATTRS_H

#include "../exec_internal.h"

#include <string.h>

enum { PAD_NOTSET = 0, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

/* The int list attribute `name` into dst (at most cap values, *n of them; 0 when absent). */
static inline pq_status pq__window_list(const pq_op *op, const char *name, int64_t cap,
                                        int64_t *n, int64_t *dst, pq_err *err)
{
    const int64_t *v = NULL;
    pq_status st = pq_op_get_ints(op, name, &v, n, err);
    if (st != PQ_OK) return st;
    if (*n > cap)
        return pq_err_set(err, PQ_ERR_INVALID, "attribute %s has %lld values, at most %lld",
                          name, (long long)*n, (long long)cap);
    if (*n) memcpy(dst, v, (size_t)*n * sizeof *dst);
    return PQ_OK;
}

/* auto_pad: NOTSET (or empty), SAME_UPPER, SAME_LOWER or VALID. */
static inline pq_status pq__window_auto_pad(const pq_op *op, int *out, pq_err *err)
{
    const char *s = NULL;
    pq_status st = pq_op_get_string(op, "auto_pad", "NOTSET", &s, err);
    if (st != PQ_OK) return st;
    if (!s || !*s || !strcmp(s, "NOTSET")) *out = PAD_NOTSET;
    else if (!strcmp(s, "SAME_UPPER")) *out = PAD_SAME_UPPER;
    else if (!strcmp(s, "SAME_LOWER")) *out = PAD_SAME_LOWER;
    else if (!strcmp(s, "VALID")) *out = PAD_VALID;
    else return pq_err_set(err, PQ_ERR_INVALID, "unknown auto_pad '%s'", s);
    return PQ_OK;
}

#endif /* PQ_WINDOW_ATTRS_H */

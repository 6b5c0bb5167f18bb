/* shape_cast.c - Cast and CastLike for the shape family.
 *
 * Elements are converted in blocks through a wide buffer: int64 when both sides are
 * integers or bool (so int64 values stay exact and narrowing wraps like a C cast), double
 * otherwise. Float -> integer truncates toward zero and wraps into the target type (what
 * numpy, the ONNX reference, does on x86 for values in int64 range); NaN and values beyond
 * int64 saturate to INT64_MIN/INT64_MAX first so that no conversion is undefined behaviour.
 * Strings convert as the ONNX Cast-9 spec says: "3.14", "1e-5", "INF", "-INF", "NaN" parse
 * to numbers; numbers print the way numpy prints them (shortest round-trip digits,
 * positional between 1e-4 and 1e16, "1.0" for integral floats, "True"/"False" for bool).
 */
#include "shape_common.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 1024

static int is_intlike(pq_dtype dt)
{
    return pq_dtype_is_integer(dt) || dt == PQ_DTYPE_BOOL;
}

/* ------------------------------------------------------------------ numeric loaders */

static void load_i64(const void *src, pq_dtype dt, int64_t n, int64_t *restrict out)
{
    switch (dt) {
#define L(DT, T)                                                                                   \
    case DT: {                                                                                     \
        const T *restrict s = src;                                                                 \
        for (int64_t i = 0; i < n; i++) out[i] = (int64_t)s[i];                                    \
        break;                                                                                     \
    }
        L(PQ_DTYPE_INT8, int8_t)
        L(PQ_DTYPE_UINT8, uint8_t)
        L(PQ_DTYPE_BOOL, uint8_t)
        L(PQ_DTYPE_INT16, int16_t)
        L(PQ_DTYPE_UINT16, uint16_t)
        L(PQ_DTYPE_INT32, int32_t)
        L(PQ_DTYPE_UINT32, uint32_t)
        L(PQ_DTYPE_INT64, int64_t)
        L(PQ_DTYPE_UINT64, uint64_t)
#undef L
    default: break;
    }
}

static void store_i64(const int64_t *restrict in, int64_t n, void *dst, pq_dtype dt)
{
    switch (dt) {
#define S(DT, T)                                                                                   \
    case DT: {                                                                                     \
        T *restrict d = dst;                                                                       \
        for (int64_t i = 0; i < n; i++) d[i] = (T)(uint64_t)in[i];                                 \
        break;                                                                                     \
    }
        S(PQ_DTYPE_INT8, int8_t)
        S(PQ_DTYPE_UINT8, uint8_t)
        S(PQ_DTYPE_INT16, int16_t)
        S(PQ_DTYPE_UINT16, uint16_t)
        S(PQ_DTYPE_INT32, int32_t)
        S(PQ_DTYPE_UINT32, uint32_t)
        S(PQ_DTYPE_INT64, int64_t)
        S(PQ_DTYPE_UINT64, uint64_t)
#undef S
    case PQ_DTYPE_BOOL: {
        uint8_t *restrict d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = in[i] != 0;
        break;
    }
    default: break;
    }
}

static void load_f64(const void *src, pq_dtype dt, int64_t n, double *restrict out)
{
    switch (dt) {
#define L(DT, T)                                                                                   \
    case DT: {                                                                                     \
        const T *restrict s = src;                                                                 \
        for (int64_t i = 0; i < n; i++) out[i] = (double)s[i];                                     \
        break;                                                                                     \
    }
        L(PQ_DTYPE_INT8, int8_t)
        L(PQ_DTYPE_UINT8, uint8_t)
        L(PQ_DTYPE_BOOL, uint8_t)
        L(PQ_DTYPE_INT16, int16_t)
        L(PQ_DTYPE_UINT16, uint16_t)
        L(PQ_DTYPE_INT32, int32_t)
        L(PQ_DTYPE_UINT32, uint32_t)
        L(PQ_DTYPE_INT64, int64_t)
        L(PQ_DTYPE_UINT64, uint64_t)
        L(PQ_DTYPE_FLOAT32, float)
        L(PQ_DTYPE_FLOAT64, double)
#undef L
    case PQ_DTYPE_FLOAT16: {
        const uint16_t *restrict s = src;
        for (int64_t i = 0; i < n; i++) out[i] = pq_f16_to_f32(s[i]);
        break;
    }
    case PQ_DTYPE_BFLOAT16: {
        const uint16_t *restrict s = src;
        for (int64_t i = 0; i < n; i++) out[i] = pq_bf16_to_f32(s[i]);
        break;
    }
    default: break;
    }
}

/* Float -> int64 with truncation toward zero; NaN and out-of-range values saturate (as
 * x86's cvttsd2si gives INT64_MIN for both, NaN maps to INT64_MIN). */
static inline int64_t f64_to_i64(double v)
{
    if (v != v) return INT64_MIN;
    if (v >= 9223372036854775808.0) return INT64_MAX;
    if (v < -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

static void store_f64(const double *restrict in, int64_t n, void *dst, pq_dtype dt)
{
    switch (dt) {
    case PQ_DTYPE_FLOAT32: {
        float *restrict d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = (float)in[i];
        break;
    }
    case PQ_DTYPE_FLOAT64: memcpy(dst, in, (size_t)n * sizeof *in); break;
    case PQ_DTYPE_FLOAT16: {
        uint16_t *restrict d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = pq_f32_to_f16((float)in[i]);
        break;
    }
    case PQ_DTYPE_BFLOAT16: {
        /* ONNX 1.12's Cast reference (and its test data) truncates float32 to bfloat16:
         * the upper 16 bits of the float32 pattern. */
        uint16_t *restrict d = dst;
        for (int64_t i = 0; i < n; i++) {
            float f = (float)in[i];
            uint32_t u;
            memcpy(&u, &f, sizeof u);
            d[i] = (uint16_t)(u >> 16);
        }
        break;
    }
    case PQ_DTYPE_BOOL: {
        uint8_t *restrict d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = in[i] != 0.0;
        break;
    }
    case PQ_DTYPE_UINT64: {
        uint64_t *restrict d = dst;
        for (int64_t i = 0; i < n; i++)
            d[i] = in[i] >= 9223372036854775808.0 && in[i] < 18446744073709551616.0
                       ? (uint64_t)in[i]
                       : (uint64_t)f64_to_i64(in[i]);
        break;
    }
    default: {
        int64_t tmp[BLOCK];
        for (int64_t i = 0; i < n; i++) tmp[i] = f64_to_i64(in[i]);
        store_i64(tmp, n, dst, dt);
    }
    }
}

/* ------------------------------------------------------------------ strings */

/* Shortest decimal digits that read back to the same value: digits[] without a point and
 * the decimal exponent of the first digit. kind: 0 float64, 1 float32, 2 float16. */
static void shortest_digits(double v, int kind, char *digits, int *exp10)
{
    char buf[64];
    int maxp = kind == 0 ? 17 : kind == 1 ? 9 : 5;
    for (int p = 1; p <= maxp; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        double back = strtod(buf, NULL);
        int ok = kind == 0   ? back == v
                 : kind == 1 ? (float)back == (float)v
                             : pq_f32_to_f16((float)back) == pq_f32_to_f16((float)v);
        if (ok || p == maxp) break;
    }
    /* buf is "[-]d[.ddd]e[+-]xx" */
    const char *p = buf;
    if (*p == '-') p++;
    int k = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0') k--;
    digits[k] = '\0';
    *exp10 = atoi(p + 1);
}

/* numpy's str() of a float scalar. */
static void format_float(double v, int kind, char *out, size_t cap)
{
    if (v != v) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v < 0 ? "-inf" : "inf");
        return;
    }
    if (v == 0.0) {
        snprintf(out, cap, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char digits[40];
    int e;
    shortest_digits(v, kind, digits, &e);
    int nd = (int)strlen(digits);
    double a = fabs(v);
    size_t k = 0;
    char tmp[128];
    if (v < 0) tmp[k++] = '-';
    if (a >= 1e-4 && a < 1e16) {
        if (e >= 0) {
            for (int i = 0; i <= e; i++) tmp[k++] = i < nd ? digits[i] : '0';
            tmp[k++] = '.';
            if (nd > e + 1)
                for (int i = e + 1; i < nd; i++) tmp[k++] = digits[i];
            else
                tmp[k++] = '0';
        } else {
            tmp[k++] = '0';
            tmp[k++] = '.';
            for (int i = 0; i < -e - 1; i++) tmp[k++] = '0';
            for (int i = 0; i < nd; i++) tmp[k++] = digits[i];
        }
        tmp[k] = '\0';
    } else {
        tmp[k++] = digits[0];
        if (nd > 1) {
            tmp[k++] = '.';
            for (int i = 1; i < nd; i++) tmp[k++] = digits[i];
        }
        snprintf(tmp + k, sizeof tmp - k, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    snprintf(out, cap, "%s", tmp);
}

static pq_status to_strings(const void *src, pq_dtype sdt, char **dst, int64_t numel, pq_err *err)
{
    char buf[128];
    for (int64_t i = 0; i < numel; i++) {
        switch (sdt) {
        case PQ_DTYPE_FLOAT32: format_float(((const float *)src)[i], 1, buf, sizeof buf); break;
        case PQ_DTYPE_FLOAT64: format_float(((const double *)src)[i], 0, buf, sizeof buf); break;
        case PQ_DTYPE_FLOAT16:
            format_float(pq_f16_to_f32(((const uint16_t *)src)[i]), 2, buf, sizeof buf);
            break;
        case PQ_DTYPE_BFLOAT16:
            format_float(pq_bf16_to_f32(((const uint16_t *)src)[i]), 1, buf, sizeof buf);
            break;
        case PQ_DTYPE_BOOL:
            snprintf(buf, sizeof buf, "%s", ((const uint8_t *)src)[i] ? "True" : "False");
            break;
        case PQ_DTYPE_UINT64:
            snprintf(buf, sizeof buf, "%" PRIu64, ((const uint64_t *)src)[i]);
            break;
        default: {
            int64_t v = 0;
            load_i64((const char *)src + (size_t)i * pq_dtype_size(sdt), sdt, 1, &v);
            snprintf(buf, sizeof buf, "%" PRId64, v);
        }
        }
        dst[i] = pq_strdup(buf);
        if (!dst[i]) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory casting to strings");
    }
    return PQ_OK;
}

/* Parses a string as Cast-9 allows: plain or scientific notation, INF/+INF/-INF/NaN. */
static pq_status parse_number(const char *s, int64_t i, double *out, pq_err *err)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    while (end && (*end == ' ' || *end == '\t' || *end == '\n')) end++;
    if (end == s || (end && *end))
        return pq_err_set(err, PQ_ERR_INVALID,
                          "cannot cast string element %" PRId64 " (\"%.64s\") to a number", i, s);
    *out = v;
    return PQ_OK;
}

static pq_status from_strings(char *const *src, void *dst, pq_dtype ddt, int64_t numel, pq_err *err)
{
    size_t esz = pq_dtype_size(ddt);
    for (int64_t i = 0; i < numel; i++) {
        double v;
        pq_status st = parse_number(src[i], i, &v, err);
        if (st != PQ_OK) return st;
        char *d = (char *)dst + (size_t)i * esz;
        if (is_intlike(ddt)) {
            /* Integer strings parse exactly (beyond 2^53 too). */
            char *end = NULL;
            errno = 0;
            long long ll = strtoll(src[i], &end, 10);
            int64_t iv = (end && *end == '\0' && errno == 0) ? (int64_t)ll : f64_to_i64(v);
            if (ddt == PQ_DTYPE_BOOL)
                *(uint8_t *)d = v != 0.0;
            else
                store_i64(&iv, 1, d, ddt);
        } else {
            store_f64(&v, 1, d, ddt);
        }
    }
    return PQ_OK;
}

/* ------------------------------------------------------------------ entry points */

pq_status pq__shape_cast_elements(const void *src, pq_dtype sdt, void *dst, pq_dtype ddt,
                                  int64_t numel, pq_err *err)
{
    if (sdt == PQ_DTYPE_STRING && ddt == PQ_DTYPE_STRING) {
        char *const *s = src;
        char **d = dst;
        for (int64_t i = 0; i < numel; i++) {
            d[i] = pq_strdup(s[i] ? s[i] : "");
            if (!d[i]) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory copying strings");
        }
        return PQ_OK;
    }
    if (ddt == PQ_DTYPE_STRING) return to_strings(src, sdt, dst, numel, err);
    if (sdt == PQ_DTYPE_STRING) return from_strings(src, dst, ddt, numel, err);
    if (sdt == ddt) {
        memcpy(dst, src, (size_t)numel * pq_dtype_size(sdt));
        return PQ_OK;
    }
    size_t ssz = pq_dtype_size(sdt), dsz = pq_dtype_size(ddt);
    int ints = is_intlike(sdt) && is_intlike(ddt);
#pragma omp parallel for schedule(static) if (numel > (1 << 18))
    for (int64_t b = 0; b < numel; b += BLOCK) {
        int64_t m = numel - b < BLOCK ? numel - b : BLOCK;
        const char *s = (const char *)src + (size_t)b * ssz;
        char *d = (char *)dst + (size_t)b * dsz;
        if (ints) {
            int64_t buf[BLOCK];
            load_i64(s, sdt, m, buf);
            store_i64(buf, m, d, ddt);
        } else {
            double buf[BLOCK];
            load_f64(s, sdt, m, buf);
            store_f64(buf, m, d, ddt);
        }
    }
    return PQ_OK;
}

static int castable(pq_dtype dt)
{
    return pq_dtype_is_supported(dt);
}

static pq_status cast_to(pq_exec_node *n, pq_dtype to, pq_err *err)
{
    pq_tensor *x = n->inputs[0], *y = NULL;
    if (!castable(x->dtype))
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "cannot cast from %s", pq_dtype_name(x->dtype));
    /* Casting to the same type is the identity: hand the input on without a copy. */
    if (x->dtype == to && to != PQ_DTYPE_STRING)
        return pq_node_set_output(n, 0, pq_tensor_retain(x), err);
    pq_status st = pq_node_output(n, 0, to, x->rank, x->dims, 1, &y, err);
    if (st != PQ_OK) return st;
    pq__shape_strings_clear(y);
    return pq__shape_cast_elements(x->data, x->dtype, y->data, to, x->numel, err);
}

/* ctx of Cast: the target dtype as an intptr. */
pq_status pq__shape_cast_prepare(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t to = 0;
    if (pq_op_find_attr(n->op, "to") == NULL)
        return pq_err_set(err, PQ_ERR_INVALID, "attribute 'to' is missing");
    PQ_TRY(pq_op_get_int(n->op, "to", 0, &to, err));
    PQ_CHECK(to > 0 && to < PQ_DTYPE_COUNT && castable((pq_dtype)to), PQ_ERR_UNSUPPORTED,
             "cannot cast to dtype %" PRId64 " (%s)", to, pq_dtype_name((pq_dtype)to));
    n->ctx = (void *)(intptr_t)to;
fail:
    return st;
}

pq_status pq__shape_run_cast(pq_exec_node *n, pq_err *err)
{
    return cast_to(n, (pq_dtype)(intptr_t)n->ctx, err);
}

pq_status pq__shape_run_castlike(pq_exec_node *n, pq_err *err)
{
    pq_dtype to = n->inputs[1]->dtype;
    if (!castable(to))
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "cannot cast to %s", pq_dtype_name(to));
    return cast_to(n, to, err);
}

/* npy.c - NumPy .npy reader and writer.
 *
 * Format (numpy.lib.format): magic "\x93NUMPY", major, minor, header length (uint16 LE for
 * 1.x, uint32 LE for 2.x/3.x), then an ASCII Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces and a
 * newline so that the data starts at a multiple of 64 bytes, then the raw data. */
#include "pq_npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct npy_type {
    const char *descr; /* without the byte-order character */
    pq_dtype dtype;
} npy_type;

static const npy_type npy_types[] = {
    {"f4", PQ_DTYPE_FLOAT32}, {"f8", PQ_DTYPE_FLOAT64}, {"f2", PQ_DTYPE_FLOAT16},
    {"u1", PQ_DTYPE_UINT8},   {"i1", PQ_DTYPE_INT8},    {"i2", PQ_DTYPE_INT16},
    {"u2", PQ_DTYPE_UINT16},  {"i4", PQ_DTYPE_INT32},   {"u4", PQ_DTYPE_UINT32},
    {"i8", PQ_DTYPE_INT64},   {"u8", PQ_DTYPE_UINT64},  {"b1", PQ_DTYPE_BOOL},
};

/* Finds the value text after 'key': in the header dict. */
static const char *dict_value(const char *hdr, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

pq_status pq_npy_parse(const uint8_t *buf, size_t len, const char *name, pq_tensor **out,
                       pq_err *err)
{
    pq_status st = PQ_OK;
    char *hdr = NULL;
    pq_tensor *t = NULL;
    *out = NULL;
    PQ_CHECK(len >= 10 && memcmp(buf, "\x93NUMPY", 6) == 0, PQ_ERR_FORMAT,
             "%s: not a .npy file (bad magic)", name);
    int major = buf[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = (size_t)buf[8] | ((size_t)buf[9] << 8);
        off = 10;
    } else {
        PQ_CHECK(major == 2 || major == 3, PQ_ERR_UNSUPPORTED, "%s: .npy version %d is not supported",
                 name, major);
        PQ_CHECK(len >= 12, PQ_ERR_FORMAT, "%s: truncated .npy header", name);
        hlen = (size_t)buf[8] | ((size_t)buf[9] << 8) | ((size_t)buf[10] << 16) |
               ((size_t)buf[11] << 24);
        off = 12;
    }
    PQ_CHECK(hlen <= len - off, PQ_ERR_FORMAT, "%s: truncated .npy header", name);
    hdr = pq_malloc(hlen + 1);
    PQ_CHECK(hdr, PQ_ERR_NOMEM, "%s: out of memory", name);
    memcpy(hdr, buf + off, hlen);
    hdr[hlen] = '\0';

    const char *d = dict_value(hdr, "descr");
    PQ_CHECK(d && *d == '\'', PQ_ERR_FORMAT, "%s: .npy header has no 'descr'", name);
    d++;
    char order = *d;
    PQ_CHECK(order == '<' || order == '|' || order == '=', PQ_ERR_UNSUPPORTED,
             "%s: big-endian or unusual .npy dtype '%.8s' is not supported", name, d);
    d++;
    pq_dtype dtype = PQ_DTYPE_UNDEFINED;
    for (size_t k = 0; k < sizeof npy_types / sizeof *npy_types; k++) {
        size_t n = strlen(npy_types[k].descr);
        if (strncmp(d, npy_types[k].descr, n) == 0 && d[n] == '\'') dtype = npy_types[k].dtype;
    }
    PQ_CHECK(dtype != PQ_DTYPE_UNDEFINED, PQ_ERR_UNSUPPORTED, "%s: .npy dtype '%.8s' is not supported",
             name, d);

    const char *f = dict_value(hdr, "fortran_order");
    PQ_CHECK(f, PQ_ERR_FORMAT, "%s: .npy header has no 'fortran_order'", name);
    PQ_CHECK(strncmp(f, "False", 5) == 0, PQ_ERR_UNSUPPORTED,
             "%s: Fortran-ordered .npy arrays are not supported", name);

    const char *s = dict_value(hdr, "shape");
    PQ_CHECK(s && *s == '(', PQ_ERR_FORMAT, "%s: .npy header has no 'shape'", name);
    s++;
    int rank = 0;
    int64_t dims[PQ_MAX_RANK];
    for (;;) {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        PQ_CHECK(end != s && errno == 0 && v >= 0, PQ_ERR_FORMAT, "%s: bad .npy shape", name);
        PQ_CHECK(rank < PQ_MAX_RANK, PQ_ERR_UNSUPPORTED, "%s: .npy rank over %d", name, PQ_MAX_RANK);
        dims[rank++] = v;
        s = end;
        PQ_CHECK(*s == ',' || *s == ')' || *s == ' ', PQ_ERR_FORMAT, "%s: bad .npy shape", name);
    }
    PQ_TRY(pq_tensor_create_uninit(dtype, rank, dims, &t, err));
    size_t data_off = off + hlen;
    PQ_CHECK(len - data_off >= t->nbytes, PQ_ERR_FORMAT,
             "%s: .npy data has %zu bytes, the shape needs %zu", name, len - data_off, t->nbytes);
    if (t->nbytes) memcpy(t->data, buf + data_off, t->nbytes);
    if (dtype == PQ_DTYPE_BOOL)
        for (int64_t i = 0; i < t->numel; i++) PQ_DATA(t, uint8_t)[i] = PQ_DATA(t, uint8_t)[i] != 0;
    *out = t;
    t = NULL;
fail:
    pq_tensor_destroy(&t);
    pq_free(hdr);
    return st;
}

pq_status pq_npy_load(const char *path, pq_tensor **out, pq_err *err)
{
    pq_status st = PQ_OK;
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    *out = NULL;
    PQ_CHECK(f, PQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    PQ_CHECK(fseek(f, 0, SEEK_END) == 0, PQ_ERR_IO, "%s: cannot seek", path);
    long size = ftell(f);
    PQ_CHECK(size >= 0, PQ_ERR_IO, "%s: cannot tell size", path);
    rewind(f);
    buf = pq_malloc((size_t)size + 1);
    PQ_CHECK(buf, PQ_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, size);
    PQ_CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size, PQ_ERR_IO, "%s: short read", path);
    st = pq_npy_parse(buf, (size_t)size, path, out, err);
fail:
    if (f) fclose(f);
    pq_free(buf);
    return st;
}

pq_status pq_npy_save(const char *path, const pq_tensor *t, pq_err *err)
{
    pq_status st = PQ_OK;
    const char *descr = NULL;
    char tmp[4096] = "", hdr[512], shape[256] = "";
    FILE *f = NULL;
    for (size_t k = 0; k < sizeof npy_types / sizeof *npy_types; k++)
        if (npy_types[k].dtype == t->dtype) descr = npy_types[k].descr;
    PQ_CHECK(descr, PQ_ERR_UNSUPPORTED, "%s: dtype %s cannot be written as .npy", path,
             pq_dtype_name(t->dtype));
    size_t off = 0;
    for (int k = 0; k < t->rank; k++)
        off += (size_t)snprintf(shape + off, sizeof shape - off, "%" PRId64 "%s", t->dims[k],
                                (t->rank == 1 || k + 1 < t->rank) ? ", " : "");
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%c%s', 'fortran_order': False, 'shape': (%s), }",
                     (descr[1] == '1') ? '|' : '<', descr, shape);
    /* Pad so that 10 + header length is a multiple of 64, ending with '\n'. */
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    PQ_CHECK((size_t)n + pad + 1 < sizeof hdr, PQ_ERR_INTERNAL, "npy header too long");
    memset(hdr + n, ' ', pad);
    hdr[n + pad] = '\n';
    size_t hlen = (size_t)n + pad + 1;
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    f = fopen(tmp, "wb");
    PQ_CHECK(f, PQ_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff),
                       (uint8_t)(hlen >> 8)};
    PQ_CHECK(fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, hlen, f) == hlen &&
                 fwrite(t->data, 1, t->nbytes, f) == t->nbytes,
             PQ_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    PQ_CHECK(fflush(f) == 0 && fsync(fileno(f)) == 0, PQ_ERR_IO, "%s: flush failed: %s", tmp,
             strerror(errno));
    int rc = fclose(f);
    f = NULL;
    PQ_CHECK(rc == 0, PQ_ERR_IO, "%s: close failed", tmp);
    PQ_CHECK(rename(tmp, path) == 0, PQ_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
    return PQ_OK;
fail:
    if (f) fclose(f);
    if (tmp[0]) remove(tmp);
    return st;
}

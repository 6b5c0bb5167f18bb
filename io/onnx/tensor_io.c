/* tensor_io.c - onnx.TensorProto <-> pq_tensor, tensor .pb files, and the file and
 * wire-format helpers the model reader and writer share. */
#include "onnx_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ allocation */

/* Set when an allocation made for protobuf-c fails, so that a NULL from unpack can be told
 * apart as out-of-memory rather than malformed input. */
static _Thread_local int pb_alloc_failed;

static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    void *p = pq_malloc(size ? size : 1);
    if (!p) pb_alloc_failed = 1;
    return p;
}

void pq__onnx_alloc_failed_reset(void) { pb_alloc_failed = 0; }
int pq__onnx_alloc_failed(void) { return pb_alloc_failed; }

static void pb_free(void *data, void *p)
{
    (void)data;
    pq_free(p);
}

ProtobufCAllocator pq__onnx_allocator = {pb_alloc, pb_free, NULL};

char *pq__onnx_strndup(const void *s, size_t len)
{
    char *d = pq_malloc(len + 1);
    if (!d) return NULL;
    if (len) memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* ------------------------------------------------------------------ wire format checks */

/* Reads a varint at buf[*pos]; 0 when it is truncated or longer than 10 bytes. */
static int read_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*pos >= len) return 0;
        uint8_t b = buf[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

static const char *field_label(const ProtobufCMessageDescriptor *d, uint32_t fn, char *buf,
                               size_t cap)
{
    const ProtobufCFieldDescriptor *f = d ? protobuf_c_message_descriptor_get_field(d, fn) : NULL;
    if (f)
        snprintf(buf, cap, "%s.%s", d->name, f->name);
    else
        snprintf(buf, cap, "%s field %u", d ? d->name : "message", fn);
    return buf;
}

/* Checks buf[0..len) (which starts at file offset `base`) as message type d (NULL: any
 * message, submessages are not entered). */
static pq_status check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                            size_t base, int depth, pq_err *err)
{
    char label[160];
    if (depth > PQ_ONNX_MAX_DEPTH)
        return pq_err_set(err, PQ_ERR_FORMAT,
                          "messages nest more than %d deep at byte %zu", PQ_ONNX_MAX_DEPTH, base);
    size_t pos = 0;
    while (pos < len) {
        size_t at = pos;
        uint64_t tag, v;
        if (!read_varint(buf, len, &pos, &tag))
            return pq_err_set(err, PQ_ERR_FORMAT, "truncated field tag at byte %zu in %s",
                              base + at, d ? d->name : "message");
        uint64_t fn64 = tag >> 3;
        unsigned wt = (unsigned)(tag & 7);
        if (fn64 == 0 || fn64 > 536870911u)
            return pq_err_set(err, PQ_ERR_FORMAT, "invalid field number %" PRIu64
                              " at byte %zu in %s", fn64, base + at, d ? d->name : "message");
        uint32_t fn = (uint32_t)fn64;
        switch (wt) {
        case 0:
            if (!read_varint(buf, len, &pos, &v))
                return pq_err_set(err, PQ_ERR_FORMAT, "truncated varint %s at byte %zu",
                                  field_label(d, fn, label, sizeof label), base + at);
            break;
        case 1:
        case 5: {
            size_t w = wt == 1 ? 8 : 4;
            if (len - pos < w)
                return pq_err_set(err, PQ_ERR_FORMAT, "truncated fixed-size %s at byte %zu",
                                  field_label(d, fn, label, sizeof label), base + at);
            pos += w;
            break;
        }
        case 2: {
            if (!read_varint(buf, len, &pos, &v))
                return pq_err_set(err, PQ_ERR_FORMAT, "truncated length of %s at byte %zu",
                                  field_label(d, fn, label, sizeof label), base + at);
            if (v > len - pos)
                return pq_err_set(err, PQ_ERR_FORMAT,
                                  "%s at byte %zu claims %" PRIu64 " bytes, only %zu remain "
                                  "(truncated file?)",
                                  field_label(d, fn, label, sizeof label), base + at, v,
                                  len - pos);
            const ProtobufCFieldDescriptor *f =
                d ? protobuf_c_message_descriptor_get_field(d, fn) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                pq_status st = check_wire(f->descriptor, buf + pos, (size_t)v, base + pos,
                                          depth + 1, err);
                if (st != PQ_OK) return st;
            }
            pos += (size_t)v;
            break;
        }
        default:
            return pq_err_set(err, PQ_ERR_FORMAT, "unsupported wire type %u for %s at byte %zu",
                              wt, field_label(d, fn, label, sizeof label), base + at);
        }
    }
    return PQ_OK;
}

pq_status pq__onnx_check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
                              size_t len, pq_err *err)
{
    return check_wire(d, buf, len, 0, 1, err);
}

int pq__onnx_is_sequence_or_optional(const uint8_t *buf, size_t len)
{
    size_t pos = 0;
    int fields = 0;
    while (pos < len) {
        uint64_t tag, v;
        if (!read_varint(buf, len, &pos, &tag)) return 0;
        uint64_t fn = tag >> 3;
        unsigned wt = (unsigned)(tag & 7);
        if (fn == 2) {
            if (wt != 0 || !read_varint(buf, len, &pos, &v) || v > 5) return 0;
        } else if (fn == 1 || (fn >= 3 && fn <= 7)) {
            if (wt != 2 || !read_varint(buf, len, &pos, &v) || v > len - pos) return 0;
            if (fn == 1) {
                for (size_t k = 0; k < v; k++)
                    if (buf[pos + k] < 0x20 || buf[pos + k] == 0x7f) return 0;
            } else if (check_wire(NULL, buf + pos, (size_t)v, 0, 1, NULL) != PQ_OK) {
                return 0;
            }
            pos += (size_t)v;
        } else {
            return 0;
        }
        fields++;
    }
    return fields > 0;
}

/* ------------------------------------------------------------------ files */

pq_status pq__onnx_read_file(const char *path, uint8_t **buf, size_t *len, pq_err *err)
{
    pq_status st = PQ_OK;
    uint8_t *data = NULL;
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    PQ_CHECK(fd >= 0, PQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    PQ_CHECK(fstat(fd, &sb) == 0, PQ_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    PQ_CHECK(S_ISREG(sb.st_mode), PQ_ERR_IO, "%s: not a regular file", path);
    PQ_CHECK((uint64_t)sb.st_size < (uint64_t)SIZE_MAX, PQ_ERR_IO, "%s: file too large", path);
    size_t n = (size_t)sb.st_size;
    data = pq_malloc(n ? n : 1);
    PQ_CHECK(data, PQ_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, data + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        PQ_CHECK(r >= 0, PQ_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        PQ_CHECK(r > 0, PQ_ERR_IO, "%s: file shrank while reading (%zu of %zu bytes)", path,
                 got, n);
        got += (size_t)r;
    }
    close(fd);
    *buf = data;
    *len = n;
    return PQ_OK;
fail:
    if (fd >= 0) close(fd);
    pq_free(data);
    return st;
}

pq_status pq__onnx_write_file_atomic(const char *path, const uint8_t *buf, size_t len,
                                     pq_err *err)
{
    pq_status st = PQ_OK;
    static const char suffix[] = ".tmp.XXXXXX";
    size_t plen = strlen(path);
    char *tmp = pq_malloc(plen + sizeof suffix);
    int fd = -1;
    PQ_CHECK(tmp, PQ_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);
    fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        pq_free(tmp);
        return pq_err_set(err, PQ_ERR_IO, "%s: cannot create a temporary file beside it: %s",
                          path, strerror(e));
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        PQ_CHECK(w > 0, PQ_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        done += (size_t)w;
    }
    PQ_CHECK(fchmod(fd, 0644) == 0, PQ_ERR_IO, "%s: chmod failed: %s", path, strerror(errno));
    PQ_CHECK(fsync(fd) == 0, PQ_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    {
        int rc = close(fd);
        fd = -1;
        PQ_CHECK(rc == 0, PQ_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    }
    PQ_CHECK(rename(tmp, path) == 0, PQ_ERR_IO, "%s: cannot rename the temporary file into "
             "place: %s", path, strerror(errno));
    /* Make the rename durable: fsync the folder (best effort; some filesystems refuse). */
    {
        const char *slash = strrchr(path, '/');
        char *dir = slash ? pq__onnx_strndup(path, slash == path ? 1 : (size_t)(slash - path))
                          : pq_strdup(".");
        if (dir) {
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
            pq_free(dir);
        }
    }
    pq_free(tmp);
    return PQ_OK;
fail:
    if (fd >= 0) close(fd);
    if (tmp) {
        unlink(tmp);
        pq_free(tmp);
    }
    return st;
}

/* ------------------------------------------------------------------ TensorProto -> tensor */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define PQ_HOST_BIG_ENDIAN 1
#else
#define PQ_HOST_BIG_ENDIAN 0
#endif

/* Copies n elements of esz bytes between little-endian storage and host order. */
static void copy_le(void *dst, const void *src, size_t n, size_t esz)
{
    if (!n) return;
    memcpy(dst, src, n * esz);
#if PQ_HOST_BIG_ENDIAN
    uint8_t *p = dst;
    for (size_t i = 0; i < n; i++, p += esz)
        for (size_t a = 0, b = esz - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
#else
    (void)esz;
#endif
}

static pq_status parse_nonneg(const char *key, const char *s, int64_t *out, pq_err *err)
{
    char *end = NULL;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : -1;
    if (!s || !*s || *end || errno || v < 0)
        return pq_err_set(err, PQ_ERR_FORMAT, "external data %s '%s' is not a non-negative "
                          "integer", key, s ? s : "(null)");
    *out = (int64_t)v;
    return PQ_OK;
}

/* Reads external data (location/offset/length relative to base_dir) into t. */
static pq_status read_external(const Onnx__TensorProto *tp, const char *base_dir, pq_tensor *t,
                               pq_err *err)
{
    pq_status st = PQ_OK;
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    char *joined = NULL, *real_base = NULL, *real_file = NULL;
    int fd = -1;
    for (size_t k = 0; k < tp->n_external_data; k++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[k];
        if (!e->key) continue;
        if (strcmp(e->key, "location") == 0) location = e->value;
        else if (strcmp(e->key, "offset") == 0) PQ_TRY(parse_nonneg("offset", e->value, &offset, err));
        else if (strcmp(e->key, "length") == 0) PQ_TRY(parse_nonneg("length", e->value, &length, err));
    }
    PQ_CHECK(location && location[0], PQ_ERR_FORMAT, "external data has no location");
    PQ_CHECK(t->dtype != PQ_DTYPE_STRING, PQ_ERR_UNSUPPORTED,
             "string tensors cannot be stored as external data");
    PQ_CHECK(base_dir, PQ_ERR_INVALID, "external data '%s' needs the model's folder (the model "
             "was loaded from memory without one)", location);
    PQ_CHECK(location[0] != '/', PQ_ERR_FORMAT, "external data path '%s' must be relative to "
             "the model folder", location);
    size_t bl = strlen(base_dir), ll = strlen(location);
    joined = pq_malloc(bl + ll + 2);
    PQ_CHECK(joined, PQ_ERR_NOMEM, "out of memory");
    memcpy(joined, base_dir, bl);
    joined[bl] = '/';
    memcpy(joined + bl + 1, location, ll + 1);
    real_base = realpath(base_dir[0] ? base_dir : ".", NULL);
    PQ_CHECK(real_base, PQ_ERR_IO, "model folder '%s': %s", base_dir, strerror(errno));
    real_file = realpath(joined, NULL);
    PQ_CHECK(real_file, PQ_ERR_IO, "external data file '%s': %s", joined, strerror(errno));
    size_t rbl = strlen(real_base);
    int inside = strncmp(real_file, real_base, rbl) == 0 &&
                 (real_file[rbl] == '/' || (rbl == 1 && real_base[0] == '/'));
    PQ_CHECK(inside, PQ_ERR_FORMAT, "external data path '%s' escapes the model folder '%s'",
             location, base_dir);
    fd = open(real_file, O_RDONLY | O_CLOEXEC);
    PQ_CHECK(fd >= 0, PQ_ERR_IO, "external data file '%s': %s", joined, strerror(errno));
    struct stat sb;
    PQ_CHECK(fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode), PQ_ERR_IO,
             "external data file '%s' is not a readable regular file", joined);
    int64_t fsize = (int64_t)sb.st_size;
    PQ_CHECK(offset <= fsize, PQ_ERR_FORMAT, "external data offset %" PRId64 " is past the end "
             "of '%s' (%" PRId64 " bytes)", offset, location, fsize);
    if (length < 0) length = fsize - offset;
    PQ_CHECK(length <= fsize - offset, PQ_ERR_FORMAT, "external data '%s' has %" PRId64
             " bytes after offset %" PRId64 ", length says %" PRId64, location, fsize - offset,
             offset, length);
    PQ_CHECK((uint64_t)length == (uint64_t)t->nbytes, PQ_ERR_FORMAT,
             "external data '%s' has %" PRId64 " bytes, the shape needs %zu", location, length,
             t->nbytes);
    size_t got = 0;
    while (got < t->nbytes) {
        ssize_t r = pread(fd, (uint8_t *)t->data + got, t->nbytes - got, (off_t)(offset + (int64_t)got));
        if (r < 0 && errno == EINTR) continue;
        PQ_CHECK(r > 0, PQ_ERR_IO, "external data file '%s': read failed: %s", joined,
                 r < 0 ? strerror(errno) : "unexpected end of file");
        got += (size_t)r;
    }
#if PQ_HOST_BIG_ENDIAN
    copy_le(t->data, t->data, (size_t)t->numel, pq_dtype_size(t->dtype));
#endif
fail:
    if (fd >= 0) close(fd);
    free(real_base); /* from realpath: libc malloc */
    free(real_file);
    pq_free(joined);
    return st;
}

pq_status pq__onnx_tensor_from_proto(const Onnx__TensorProto *tp, const char *base_dir,
                                     pq_tensor **out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_tensor *t = NULL;
    int64_t dims[PQ_MAX_RANK] = {0};
    char shp[256];
    *out = NULL;
    PQ_CHECK(tp->has_data_type && tp->data_type != 0, PQ_ERR_FORMAT, "tensor has no data type");
    int32_t dtv = tp->data_type;
    PQ_CHECK(dtv > 0 && dtv < PQ_DTYPE_COUNT, PQ_ERR_UNSUPPORTED,
             "data type %d is not a known ONNX tensor type", (int)dtv);
    pq_dtype dt = (pq_dtype)dtv;
    PQ_CHECK(pq_dtype_is_supported(dt), PQ_ERR_UNSUPPORTED, "data type %s is not supported",
             pq_dtype_name(dt));
    PQ_CHECK(tp->n_dims <= PQ_MAX_RANK, PQ_ERR_UNSUPPORTED, "rank %zu exceeds the maximum %d",
             tp->n_dims, PQ_MAX_RANK);
    int rank = (int)tp->n_dims;
    for (int k = 0; k < rank; k++) {
        PQ_CHECK(tp->dims[k] >= 0, PQ_ERR_FORMAT, "negative dimension %" PRId64 " at axis %d",
                 tp->dims[k], k);
        dims[k] = tp->dims[k];
    }
    int64_t numel = pq_shape_numel(rank, dims);
    pq_shape_str(rank, dims, shp, sizeof shp);
    PQ_CHECK(numel >= 0, PQ_ERR_FORMAT, "shape %s has too many elements", shp);
    PQ_CHECK(!tp->segment, PQ_ERR_UNSUPPORTED, "segmented tensors are not supported");
    size_t esz = pq_dtype_size(dt);
    PQ_CHECK((uint64_t)numel <= (uint64_t)(SIZE_MAX / 2) / esz, PQ_ERR_FORMAT,
             "shape %s is too large", shp);
    size_t nbytes = (size_t)numel * esz;
    size_t n = (size_t)numel;

    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        PQ_TRY(pq_tensor_create_uninit(dt, rank, dims, &t, err));
        PQ_TRY(read_external(tp, base_dir, t, err));
        *out = t;
        return PQ_OK;
    }
    if (tp->has_raw_data && dt != PQ_DTYPE_STRING) {
        PQ_CHECK(tp->raw_data.len == nbytes, PQ_ERR_FORMAT,
                 "%s%s needs %zu bytes, raw_data has %zu", pq_dtype_name(dt), shp, nbytes,
                 tp->raw_data.len);
        PQ_TRY(pq_tensor_create_uninit(dt, rank, dims, &t, err));
        copy_le(t->data, tp->raw_data.data, n, esz);
        *out = t;
        return PQ_OK;
    }
    PQ_CHECK(!(tp->has_raw_data && tp->raw_data.len > 0), PQ_ERR_FORMAT,
             "string tensor with raw_data (strings must be in string_data)");

    const char *field;
    size_t have;
    switch (dt) {
    case PQ_DTYPE_FLOAT32: field = "float_data"; have = tp->n_float_data; break;
    case PQ_DTYPE_UINT8: case PQ_DTYPE_INT8: case PQ_DTYPE_UINT16: case PQ_DTYPE_INT16:
    case PQ_DTYPE_INT32: case PQ_DTYPE_BOOL: case PQ_DTYPE_FLOAT16: case PQ_DTYPE_BFLOAT16:
        field = "int32_data"; have = tp->n_int32_data; break;
    case PQ_DTYPE_INT64: field = "int64_data"; have = tp->n_int64_data; break;
    case PQ_DTYPE_STRING: field = "string_data"; have = tp->n_string_data; break;
    case PQ_DTYPE_FLOAT64: field = "double_data"; have = tp->n_double_data; break;
    case PQ_DTYPE_UINT32: case PQ_DTYPE_UINT64: field = "uint64_data"; have = tp->n_uint64_data; break;
    default:
        PQ_CHECK(0, PQ_ERR_UNSUPPORTED, "data type %s is not supported", pq_dtype_name(dt));
    }
    PQ_CHECK(have == n, PQ_ERR_FORMAT, "%s%s needs %zu values, %s has %zu", pq_dtype_name(dt),
             shp, n, field, have);
    PQ_TRY(pq_tensor_create_uninit(dt, rank, dims, &t, err));
    if (n == 0) {
        *out = t;
        return PQ_OK;
    }
    /* ONNX onnx.proto: int32_data holds int8/uint8/int16/uint16/bool/float16/bfloat16 too
     * (the 16-bit floats as their bit patterns); uint64_data holds uint32. */
    switch (dt) {
    case PQ_DTYPE_FLOAT32: memcpy(t->data, tp->float_data, nbytes); break;
    case PQ_DTYPE_INT32: memcpy(t->data, tp->int32_data, nbytes); break;
    case PQ_DTYPE_INT64: memcpy(t->data, tp->int64_data, nbytes); break;
    case PQ_DTYPE_FLOAT64: memcpy(t->data, tp->double_data, nbytes); break;
    case PQ_DTYPE_UINT64: memcpy(t->data, tp->uint64_data, nbytes); break;
    case PQ_DTYPE_UINT8: case PQ_DTYPE_INT8: case PQ_DTYPE_BOOL:
        for (size_t i = 0; i < n; i++) ((uint8_t *)t->data)[i] = (uint8_t)tp->int32_data[i];
        break;
    case PQ_DTYPE_UINT16: case PQ_DTYPE_INT16: case PQ_DTYPE_FLOAT16: case PQ_DTYPE_BFLOAT16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = (uint16_t)tp->int32_data[i];
        break;
    case PQ_DTYPE_UINT32:
        for (size_t i = 0; i < n; i++) ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i];
        break;
    case PQ_DTYPE_STRING:
        for (size_t i = 0; i < n; i++) {
            char *s = pq__onnx_strndup(tp->string_data[i].data, tp->string_data[i].len);
            PQ_CHECK(s, PQ_ERR_NOMEM, "out of memory copying strings");
            char **slot = &((char **)t->data)[i];
            pq_free(*slot);
            *slot = s;
        }
        break;
    default:
        break;
    }
    *out = t;
    return PQ_OK;
fail:
    pq_tensor_destroy(&t);
    return st;
}

/* ------------------------------------------------------------------ tensor -> TensorProto */

void pq__onnx_free_built(ProtobufCMessage *msg, pq__onnx_borrows *b)
{
    if (b) {
        for (int64_t k = 0; k < b->fields.n; k++) {
            ProtobufCBinaryData *f = b->fields.items[k];
            f->data = NULL;
            f->len = 0;
        }
        pq_ptrvec_free(&b->fields);
    }
    if (msg) protobuf_c_message_free_unpacked(msg, &pq__onnx_allocator);
}

pq_status pq__onnx_tensor_to_proto(const pq_tensor *t, const char *name, pq__onnx_borrows *b,
                                   Onnx__TensorProto **out, pq_err *err)
{
    pq_status st = PQ_OK;
    *out = NULL;
    Onnx__TensorProto *tp = pq_malloc(sizeof *tp);
    PQ_CHECK(tp, PQ_ERR_NOMEM, "out of memory building a TensorProto");
    onnx__tensor_proto__init(tp);
    if (t->rank > 0) {
        tp->dims = pq_malloc((size_t)t->rank * sizeof *tp->dims);
        PQ_CHECK(tp->dims, PQ_ERR_NOMEM, "out of memory building a TensorProto");
        for (int k = 0; k < t->rank; k++) tp->dims[k] = t->dims[k];
        tp->n_dims = (size_t)t->rank;
    }
    tp->has_data_type = 1;
    tp->data_type = (int32_t)t->dtype;
    if (name) {
        tp->name = pq_strdup(name);
        PQ_CHECK(tp->name, PQ_ERR_NOMEM, "out of memory building a TensorProto");
    }
    if (t->dtype == PQ_DTYPE_STRING) {
        size_t n = (size_t)t->numel;
        if (n) {
            tp->string_data = pq_calloc(n, sizeof *tp->string_data);
            PQ_CHECK(tp->string_data, PQ_ERR_NOMEM, "out of memory building a TensorProto");
            for (size_t i = 0; i < n; i++) {
                const char *s = ((char *const *)t->data)[i];
                size_t l = s ? strlen(s) : 0;
                tp->string_data[i].data = (uint8_t *)pq__onnx_strndup(s ? s : "", l);
                PQ_CHECK(tp->string_data[i].data, PQ_ERR_NOMEM, "out of memory");
                tp->string_data[i].len = l;
                tp->n_string_data = i + 1;
            }
        }
    } else {
        tp->has_raw_data = 1;
        tp->raw_data.len = t->nbytes;
        if (t->nbytes) {
            if (PQ_HOST_BIG_ENDIAN || !b) {
                tp->raw_data.data = pq_malloc(t->nbytes);
                PQ_CHECK(tp->raw_data.data, PQ_ERR_NOMEM, "out of memory copying %zu bytes",
                         t->nbytes);
                copy_le(tp->raw_data.data, t->data, (size_t)t->numel, pq_dtype_size(t->dtype));
            } else {
                PQ_TRY(pq_ptrvec_push(&b->fields, &tp->raw_data, err));
                tp->raw_data.data = t->data; /* borrowed until pq__onnx_free_built */
            }
        }
    }
    *out = tp;
    return PQ_OK;
fail:
    if (tp) protobuf_c_message_free_unpacked(&tp->base, &pq__onnx_allocator);
    return st;
}

/* ------------------------------------------------------------------ tensor files */

pq_status pq_onnx_load_tensor(const char *path, pq_tensor **out, char **name, pq_err *err)
{
    pq_status st = PQ_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    Onnx__TensorProto *tp = NULL;
    *out = NULL;
    if (name) *name = NULL;
    PQ_TRY(pq__onnx_read_file(path, &buf, &len, err));
    st = pq__onnx_check_wire(&onnx__tensor_proto__descriptor, buf, len, err);
    if (st == PQ_OK) {
        pq__onnx_alloc_failed_reset();
        tp = onnx__tensor_proto__unpack(&pq__onnx_allocator, len, buf);
        if (!tp && pq__onnx_alloc_failed())
            st = pq_err_set(err, PQ_ERR_NOMEM, "out of memory parsing %zu bytes", len);
        else if (!tp)
            st = pq_err_set(err, PQ_ERR_FORMAT, "cannot parse as onnx.TensorProto");
    }
    if (st == PQ_OK) st = pq__onnx_tensor_from_proto(tp, NULL, out, err);
    if (st != PQ_OK && st != PQ_ERR_NOMEM && pq__onnx_is_sequence_or_optional(buf, len)) {
        st = pq_err_set(err, PQ_ERR_UNSUPPORTED,
                        "%s: sequence/optional values are not supported (the file is an "
                        "onnx.SequenceProto or onnx.OptionalProto, not a TensorProto)", path);
        goto fail;
    }
    if (st != PQ_OK) {
        pq_err_prefix(err, "%s", path);
        goto fail;
    }
    if (name && tp->name && tp->name[0]) {
        *name = pq_strdup(tp->name);
        PQ_CHECK(*name, PQ_ERR_NOMEM, "%s: out of memory", path);
    }
    protobuf_c_message_free_unpacked(&tp->base, &pq__onnx_allocator);
    pq_free(buf);
    return PQ_OK;
fail:
    pq_tensor_destroy(out);
    if (tp) protobuf_c_message_free_unpacked(&tp->base, &pq__onnx_allocator);
    pq_free(buf);
    return st;
}

pq_status pq_onnx_save_tensor(const char *path, const pq_tensor *t, const char *name,
                              pq_err *err)
{
    pq_status st = PQ_OK;
    pq__onnx_borrows b = {{0}};
    Onnx__TensorProto *tp = NULL;
    uint8_t *buf = NULL;
    PQ_TRY(pq__onnx_tensor_to_proto(t, name, &b, &tp, err));
    size_t len = onnx__tensor_proto__get_packed_size(tp);
    buf = pq_malloc(len ? len : 1);
    PQ_CHECK(buf, PQ_ERR_NOMEM, "%s: out of memory serializing %zu bytes", path, len);
    PQ_CHECK(onnx__tensor_proto__pack(tp, buf) == len, PQ_ERR_INTERNAL,
             "%s: protobuf-c packed a different size than it measured", path);
    PQ_TRY(pq__onnx_write_file_atomic(path, buf, len, err));
fail:
    pq__onnx_free_built(tp ? &tp->base : NULL, &b);
    pq_free(buf);
    return st;
}

/* h5_common.c - the io/hdf5 lock, HDF5 error capture, type mapping, dataset opening. */
#include "h5_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t h5_mutex;
static pthread_once_t h5_once = PTHREAD_ONCE_INIT;

static void h5_init_once(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&h5_mutex, &a);
    pthread_mutexattr_destroy(&a);
}

void pq__h5_lock(void)
{
    pthread_once(&h5_once, h5_init_once);
    pthread_mutex_lock(&h5_mutex);
    /* Library code never prints: errors are read from the stack by pq__h5_append_stack.
     * Set on every entry because a non-thread-safe HDF5 keeps one global setting that
     * other code may change. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void pq__h5_unlock(void)
{
    pthread_mutex_unlock(&h5_mutex);
}

typedef struct stack_walk {
    char func[64];
    char desc[256];
    int found;
} stack_walk;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    stack_walk *w = data;
    (void)n;
    /* H5E_WALK_UPWARD starts at the innermost error: keep the first with a description. */
    if (!w->found && e->desc && e->desc[0]) {
        snprintf(w->func, sizeof w->func, "%s", e->func_name ? e->func_name : "?");
        snprintf(w->desc, sizeof w->desc, "%s", e->desc);
        w->found = 1;
    }
    return 0;
}

void pq__h5_append_stack(pq_err *err)
{
    stack_walk w = {{0}, {0}, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    if (!err || !w.found) return;
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof err->msg - len, " (HDF5 %s: %s)", w.func, w.desc);
}

const char *pq__h5_base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

pq_dtype pq__h5_map_type(hid_t ft, hid_t *mem_type, int *mem_owned, char *desc, size_t cap)
{
    *mem_type = -1;
    *mem_owned = 0;
    H5T_class_t cls = H5Tget_class(ft);
    size_t size = H5Tget_size(ft);
    pq_dtype dt = PQ_DTYPE_UNDEFINED;
    if (cls == H5T_FLOAT) {
        if (size == 4) {
            dt = PQ_DTYPE_FLOAT32;
            *mem_type = H5T_NATIVE_FLOAT;
        } else if (size == 8) {
            dt = PQ_DTYPE_FLOAT64;
            *mem_type = H5T_NATIVE_DOUBLE;
        } else if (size == 2) {
            /* No native half type in HDF5 1.10: read the stored type, little-endian. */
            hid_t t = H5Tcopy(ft);
            if (t >= 0 && H5Tset_order(t, H5T_ORDER_LE) >= 0) {
                dt = PQ_DTYPE_FLOAT16;
                *mem_type = t;
                *mem_owned = 1;
            } else if (t >= 0) {
                H5Tclose(t);
            }
        }
    } else if (cls == H5T_INTEGER) {
        int is_signed = H5Tget_sign(ft) == H5T_SGN_2;
        switch (size) {
        case 1:
            dt = is_signed ? PQ_DTYPE_INT8 : PQ_DTYPE_UINT8;
            *mem_type = is_signed ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8;
            break;
        case 2:
            dt = is_signed ? PQ_DTYPE_INT16 : PQ_DTYPE_UINT16;
            *mem_type = is_signed ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT16;
            break;
        case 4:
            dt = is_signed ? PQ_DTYPE_INT32 : PQ_DTYPE_UINT32;
            *mem_type = is_signed ? H5T_NATIVE_INT32 : H5T_NATIVE_UINT32;
            break;
        case 8:
            dt = is_signed ? PQ_DTYPE_INT64 : PQ_DTYPE_UINT64;
            *mem_type = is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64;
            break;
        default:
            break;
        }
    }
    if (desc && cap) {
        if (dt != PQ_DTYPE_UNDEFINED) {
            snprintf(desc, cap, "%s", pq_dtype_name(dt));
        } else {
            static const char *names[] = {"integer", "float",  "time",  "string",
                                          "bitfield", "opaque", "compound", "reference",
                                          "enum",    "vlen",   "array"};
            const char *nm = (cls >= 0 && (int)cls < (int)(sizeof names / sizeof *names))
                                 ? names[cls]
                                 : "unknown";
            snprintf(desc, cap, "%s%zu", nm, size * 8);
        }
    }
    return dt;
}

pq_status pq__h5_open_dataset(hid_t file, const char *file_name, const char *path, hid_t dapl,
                              hid_t *out, pq_err *err)
{
    *out = -1;
    if (!path || path[0] != '/')
        return pq_err_set(err, PQ_ERR_INVALID, "%s: %s: dataset path must be absolute",
                          file_name, path ? path : "(null)");
    /* Walk the components so that a missing group is "not found", not an HDF5 error. */
    char buf[1024];
    size_t len = strlen(path);
    if (len >= sizeof buf)
        return pq_err_set(err, PQ_ERR_INVALID, "%s: %s: path too long", file_name, path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char save = buf[i];
        buf[i] = '\0';
        htri_t ex = H5Lexists(file, buf, H5P_DEFAULT);
        if (ex > 0) ex = H5Oexists_by_name(file, buf, H5P_DEFAULT);
        buf[i] = save;
        if (ex <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return pq_err_set(err, PQ_ERR_INVALID, "%s: %s: dataset not found", file_name, path);
        }
    }
    H5O_info_t info;
    if (H5Oget_info_by_name(file, path, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET) {
        H5Eclear2(H5E_DEFAULT);
        return pq_err_set(err, PQ_ERR_INVALID, "%s: %s: not a dataset", file_name, path);
    }
    hid_t d = H5Dopen2(file, path, dapl);
    if (d < 0) {
        pq_status st = pq_err_set(err, PQ_ERR_IO, "%s: %s: cannot open dataset", file_name, path);
        pq__h5_append_stack(err);
        return st;
    }
    *out = d;
    return PQ_OK;
}

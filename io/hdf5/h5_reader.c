/* h5_reader.c - the batch reader: hyperslab reads, dtype conversion, NHWC -> NCHW,
 * preprocessing, NaN checks, per-batch raw-byte digests and a read-ahead thread.
 *
 * Threading: one worker thread per reader. The caller asks for batch b; if the worker
 * holds (or is fetching) b it is handed over, otherwise the worker is told to fetch b and
 * the caller waits. After handing a batch over, the worker starts on the batch expected
 * next. Everything the worker produces (tensors, digest, status) is handed over whole, so
 * the caller never sees a half-converted batch. */
#include "h5_internal.h"

#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct h5_input {
    char *name, *dataset;
    hid_t dset;
    hid_t mem_type;
    int mem_type_owned;
    pq_dtype stored;          /* dtype in the file */
    pq_dtype out_dtype;       /* dtype of the returned tensors */
    size_t stored_size;       /* bytes per stored element */
    int rank;                 /* of the dataset, including the sample axis */
    int64_t dims[PQ_MAX_RANK]; /* of the dataset, as stored */
    int64_t sample_numel;     /* elements per sample */
    int64_t channels;         /* C (1 for rank < 2) */
    int64_t spatial;          /* elements per channel of a sample */
    pq_h5_layout layout;
    int out_rank;             /* returned tensor rank (= rank) */
    int64_t out_dims[PQ_MAX_RANK]; /* channels-first, dims[0] is the batch */
    double *a, *b;            /* per output channel: y = x * a[c] + b[c] */
    int identity;             /* a == 1, b == 0 everywhere */
    int swap;
    uint8_t *raw;             /* batch_size * sample_numel * stored_size bytes */
} h5_input;

/* One batch as produced by the worker. */
typedef struct h5_batch {
    int64_t index;                  /* -1 = none */
    int loaded;                     /* load_batch finished (st, err, digest valid) */
    pq_tensor **tensors;            /* n_inputs */
    uint8_t digest[PQ_SHA256_BYTES];
    pq_status st;
    pq_err err;
} h5_batch;

struct pq_h5_reader {
    char *path;
    hid_t file;
    int n_inputs;
    h5_input *in;
    int *digest_order;  /* input indices by dataset path (then index): the digest's order */
    int64_t n_samples, batch_size, n_batches;
    pq_h5_nan_policy nan;
    int parallel; /* opened with MPI-IO */

    /* read-ahead */
    int threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t request;  /* batch the worker should fetch next, -1 none */
    int busy;         /* the worker is fetching */
    int quit;
    h5_batch ready;   /* the worker's finished batch */
    pq_tensor **lent; /* the set last handed out (the reader's references) */
    int64_t last_b, step;
};

void pq_h5_input_spec_init(pq_h5_input_spec *s, const char *name, const char *dataset)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->dataset = dataset;
    s->layout = PQ_H5_LAYOUT_NCHW;
    s->dtype = PQ_DTYPE_FLOAT32;
    s->scale = 1.0;
}

int64_t pq_h5_reader_n_samples(const pq_h5_reader *r) { return r->n_samples; }
int64_t pq_h5_reader_n_batches(const pq_h5_reader *r) { return r->n_batches; }
int64_t pq_h5_reader_batch_size(const pq_h5_reader *r) { return r->batch_size; }
int pq_h5_reader_n_inputs(const pq_h5_reader *r) { return r->n_inputs; }

int pq_h5_reader_sample_shape(const pq_h5_reader *r, int i, int64_t dims[PQ_MAX_RANK])
{
    const h5_input *in = &r->in[i];
    for (int k = 1; k < in->out_rank; k++) dims[k - 1] = in->out_dims[k];
    return in->out_rank - 1;
}

pq_dtype pq_h5_reader_stored_dtype(const pq_h5_reader *r, int i) { return r->in[i].stored; }

void pq_h5_digest_combine(pq_sha256_ctx *c, const uint8_t batch_digest[PQ_SHA256_BYTES])
{
    pq_sha256_update(c, batch_digest, PQ_SHA256_BYTES);
}

/* ------------------------------------------------------------------ conversion */

/* Stored element i of a raw buffer as double. Little-endian host assumed for the
 * fixed-width reads (HDF5 converted the byte order already). */
static inline double load_elem(const uint8_t *raw, pq_dtype dt, int64_t i)
{
    switch (dt) {
    case PQ_DTYPE_FLOAT32: {
        float v;
        memcpy(&v, raw + 4 * i, 4);
        return v;
    }
    case PQ_DTYPE_FLOAT64: {
        double v;
        memcpy(&v, raw + 8 * i, 8);
        return v;
    }
    case PQ_DTYPE_FLOAT16: {
        uint16_t v;
        memcpy(&v, raw + 2 * i, 2);
        return pq_f16_to_f32(v);
    }
    case PQ_DTYPE_UINT8: return raw[i];
    case PQ_DTYPE_INT8: return (int8_t)raw[i];
    case PQ_DTYPE_INT16: {
        int16_t v;
        memcpy(&v, raw + 2 * i, 2);
        return v;
    }
    case PQ_DTYPE_UINT16: {
        uint16_t v;
        memcpy(&v, raw + 2 * i, 2);
        return v;
    }
    case PQ_DTYPE_INT32: {
        int32_t v;
        memcpy(&v, raw + 4 * i, 4);
        return v;
    }
    case PQ_DTYPE_UINT32: {
        uint32_t v;
        memcpy(&v, raw + 4 * i, 4);
        return v;
    }
    case PQ_DTYPE_INT64: {
        int64_t v;
        memcpy(&v, raw + 8 * i, 8);
        return (double)v;
    }
    case PQ_DTYPE_UINT64: {
        uint64_t v;
        memcpy(&v, raw + 8 * i, 8);
        return (double)v;
    }
    default: return 0.0;
    }
}

static inline int64_t load_elem_i64(const uint8_t *raw, pq_dtype dt, int64_t i)
{
    switch (dt) {
    case PQ_DTYPE_INT64: {
        int64_t v;
        memcpy(&v, raw + 8 * i, 8);
        return v;
    }
    case PQ_DTYPE_UINT64: {
        uint64_t v;
        memcpy(&v, raw + 8 * i, 8);
        return (int64_t)v;
    }
    default: return (int64_t)load_elem(raw, dt, i);
    }
}

static inline void store_elem(pq_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case PQ_DTYPE_FLOAT32: PQ_DATA(t, float)[i] = (float)v; break;
    case PQ_DTYPE_FLOAT64: PQ_DATA(t, double)[i] = v; break;
    case PQ_DTYPE_FLOAT16: PQ_DATA(t, uint16_t)[i] = pq_f32_to_f16((float)v); break;
    default: break;
    }
}

static inline void store_int(pq_tensor *t, int64_t i, int64_t v)
{
    switch (t->dtype) {
    case PQ_DTYPE_UINT8: PQ_DATA(t, uint8_t)[i] = (uint8_t)v; break;
    case PQ_DTYPE_INT8: PQ_DATA(t, int8_t)[i] = (int8_t)v; break;
    case PQ_DTYPE_INT16: PQ_DATA(t, int16_t)[i] = (int16_t)v; break;
    case PQ_DTYPE_UINT16: PQ_DATA(t, uint16_t)[i] = (uint16_t)v; break;
    case PQ_DTYPE_INT32: PQ_DATA(t, int32_t)[i] = (int32_t)v; break;
    case PQ_DTYPE_UINT32: PQ_DATA(t, uint32_t)[i] = (uint32_t)v; break;
    case PQ_DTYPE_INT64: PQ_DATA(t, int64_t)[i] = v; break;
    case PQ_DTYPE_UINT64: PQ_DATA(t, uint64_t)[i] = (uint64_t)v; break;
    case PQ_DTYPE_BOOL: PQ_DATA(t, uint8_t)[i] = v != 0; break;
    default: break;
    }
}

/* The float32 fast path: y = x * a + b over a strided run of one channel. */
#define DEFINE_RUN_F32(suffix, ctype)                                                      \
    static void run_f32_##suffix(const uint8_t *raw, int64_t off, int64_t stride,         \
                                 int64_t count, double a, double b, float *dst)           \
    {                                                                                      \
        const ctype *src = (const ctype *)(const void *)raw;                              \
        for (int64_t s = 0; s < count; s++)                                                \
            dst[s] = (float)((double)src[off + s * stride] * a + b);                       \
    }
DEFINE_RUN_F32(f32, float)
DEFINE_RUN_F32(f64, double)
DEFINE_RUN_F32(u8, uint8_t)
DEFINE_RUN_F32(i8, int8_t)
DEFINE_RUN_F32(i16, int16_t)
DEFINE_RUN_F32(u16, uint16_t)
DEFINE_RUN_F32(i32, int32_t)
DEFINE_RUN_F32(u32, uint32_t)
DEFINE_RUN_F32(i64, int64_t)
DEFINE_RUN_F32(u64, uint64_t)

typedef void (*run_f32_fn)(const uint8_t *, int64_t, int64_t, int64_t, double, double, float *);

static run_f32_fn pick_run_f32(pq_dtype dt)
{
    switch (dt) {
    case PQ_DTYPE_FLOAT32: return run_f32_f32;
    case PQ_DTYPE_FLOAT64: return run_f32_f64;
    case PQ_DTYPE_UINT8: return run_f32_u8;
    case PQ_DTYPE_INT8: return run_f32_i8;
    case PQ_DTYPE_INT16: return run_f32_i16;
    case PQ_DTYPE_UINT16: return run_f32_u16;
    case PQ_DTYPE_INT32: return run_f32_i32;
    case PQ_DTYPE_UINT32: return run_f32_u32;
    case PQ_DTYPE_INT64: return run_f32_i64;
    case PQ_DTYPE_UINT64: return run_f32_u64;
    default: return NULL;
    }
}

/* Checks the stored float values of `rows` samples for NaN/Inf. */
static pq_status check_finite(const pq_h5_reader *r, const h5_input *in, int64_t first,
                              int64_t rows, pq_err *err)
{
    if (!pq_dtype_is_float(in->stored)) return PQ_OK;
    for (int64_t n = 0; n < rows; n++) {
        const int64_t base = n * in->sample_numel;
        for (int64_t k = 0; k < in->sample_numel; k++) {
            double v = load_elem(in->raw, in->stored, base + k);
            if (!isfinite(v))
                return pq_err_set(err, PQ_ERR_NUMERIC,
                                  "%s: %s: sample %lld holds %s (element %lld); set the data "
                                  "nan policy to 'ignore' to pass such values through",
                                  r->path, in->dataset, (long long)(first + n),
                                  isnan(v) ? "NaN" : "Inf", (long long)k);
        }
    }
    return PQ_OK;
}

/* Converts the raw rows of one input into t (preallocated: [rows, sample shape]). */
static void convert(const h5_input *in, int64_t rows, pq_tensor *t)
{
    const int64_t C = in->channels, S = in->spatial;
    const int nhwc = in->layout == PQ_H5_LAYOUT_NHWC && in->rank >= 3;
    run_f32_fn fast = in->out_dtype == PQ_DTYPE_FLOAT32 ? pick_run_f32(in->stored) : NULL;
    for (int64_t n = 0; n < rows; n++) {
        for (int64_t c = 0; c < C; c++) {
            const int64_t sc = in->swap ? C - 1 - c : c;
            /* stored offset and stride of channel sc's values in sample n */
            const int64_t off = nhwc ? n * C * S + sc : (n * C + sc) * S;
            const int64_t stride = nhwc ? C : 1;
            const int64_t dst0 = (n * C + c) * S;
            if (fast) {
                fast(in->raw, off, stride, S, in->a[c], in->b[c], PQ_DATA(t, float) + dst0);
            } else if (pq_dtype_is_float(in->out_dtype)) {
                for (int64_t s = 0; s < S; s++)
                    store_elem(t, dst0 + s,
                               load_elem(in->raw, in->stored, off + s * stride) * in->a[c] +
                                   in->b[c]);
            } else {
                for (int64_t s = 0; s < S; s++)
                    store_int(t, dst0 + s, load_elem_i64(in->raw, in->stored, off + s * stride));
            }
        }
    }
}

static int64_t batch_rows(const pq_h5_reader *r, int64_t b)
{
    const int64_t first = b * r->batch_size;
    return (first + r->batch_size <= r->n_samples) ? r->batch_size : r->n_samples - first;
}

/* Forgets what the slot holds; its tensors stay for reuse. */
static void batch_drop(h5_batch *bt)
{
    bt->index = -1;
    bt->loaded = 0;
}

/* Makes the slot's tensors ready for batch b. The reader keeps one reference to every
 * tensor it hands out; once the caller has dropped its own (refcount back to 1) the
 * tensor is refilled for a later batch instead of freeing it and allocating another, so
 * the allocator sees no per-batch churn and memory stays flat however many batches run.
 * Runs on the caller's thread (as do the caller's destroys), never on the worker. */
static pq_status batch_prepare(pq_h5_reader *r, int64_t b, h5_batch *bt, pq_err *err)
{
    batch_drop(bt);
    const int64_t rows = batch_rows(r, b);
    for (int i = 0; i < r->n_inputs; i++) {
        const h5_input *in = &r->in[i];
        pq_tensor *t = bt->tensors[i];
        if (t && t->refcount == 1 && t->dims[0] == rows) continue;
        pq_tensor_destroy(&bt->tensors[i]);
        int64_t dims[PQ_MAX_RANK];
        memcpy(dims, in->out_dims, sizeof dims);
        dims[0] = rows;
        pq_status st =
            pq_tensor_create_uninit(in->out_dtype, in->out_rank, dims, &bt->tensors[i], err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "%s: %s: batch %lld", r->path, in->dataset, (long long)b);
            return st;
        }
    }
    bt->index = b;
    return PQ_OK;
}

/* Reads batch b into the tensors batch_prepare made (called by the worker or, unthreaded,
 * the caller). Sets bt->st, bt->err, bt->digest and bt->loaded. */
static void load_batch(pq_h5_reader *r, h5_batch *bt)
{
    pq_err *err = &bt->err;
    pq_status st = PQ_OK;
    pq_err_clear(err);
    const int64_t b = bt->index;
    const int64_t first = b * r->batch_size;
    const int64_t rows = batch_rows(r, b);
    pq_sha256_ctx hash;
    pq_sha256_init(&hash);
    for (int i = 0; i < r->n_inputs; i++) {
        h5_input *in = &r->in[i];
        hsize_t start[PQ_MAX_RANK] = {0}, count[PQ_MAX_RANK];
        for (int k = 0; k < in->rank; k++) count[k] = (hsize_t)in->dims[k];
        start[0] = (hsize_t)first;
        count[0] = (hsize_t)rows;
        pq__h5_lock();
        hid_t fspace = H5Dget_space(in->dset);
        hid_t mspace = H5Screate_simple(in->rank, count, NULL);
        herr_t rc = -1;
        if (fspace >= 0 && mspace >= 0 &&
            H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
            rc = H5Dread(in->dset, in->mem_type, mspace, fspace, H5P_DEFAULT, in->raw);
        if (rc < 0) {
            st = pq_err_set(err, PQ_ERR_IO, "%s: %s: reading samples [%lld, %lld) failed",
                            r->path, in->dataset, (long long)first, (long long)(first + rows));
            pq__h5_append_stack(err);
        }
        if (mspace >= 0) H5Sclose(mspace);
        if (fspace >= 0) H5Sclose(fspace);
        pq__h5_unlock();
        if (st != PQ_OK) goto fail;
        if (r->nan == PQ_H5_NAN_ERROR) PQ_TRY(check_finite(r, in, first, rows, err));
        convert(in, rows, bt->tensors[i]);
    }
    /* The raw bytes stay in in->raw until the next batch: hash them in dataset order, so
     * that the digest does not depend on the order the inputs were given in. */
    for (int k = 0; k < r->n_inputs; k++) {
        const h5_input *in = &r->in[r->digest_order[k]];
        pq_sha256_update(&hash, in->raw, (size_t)(rows * in->sample_numel) * in->stored_size);
    }
    pq_sha256_final(&hash, bt->digest);
fail:
    bt->st = st;
    bt->loaded = 1;
}

static void *worker_main(void *arg)
{
    pq_h5_reader *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->quit && r->request < 0) pthread_cond_wait(&r->cv, &r->mu);
        if (r->quit) break;
        r->request = -1;
        r->busy = 1;
        pthread_mutex_unlock(&r->mu);
        load_batch(r, &r->ready);
        pthread_mutex_lock(&r->mu);
        r->busy = 0;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ------------------------------------------------------------------ open / read / close */

/* Gives the caller a reference to each tensor of the loaded batch (or its error); the
 * loaded set becomes the lent set and the previously lent set is the next to fill. */
static pq_status hand_over(pq_h5_reader *r, pq_tensor **out, uint8_t *digest, pq_err *err)
{
    h5_batch *bt = &r->ready;
    pq_status st = bt->st;
    if (st == PQ_OK) {
        for (int i = 0; i < r->n_inputs; i++) out[i] = pq_tensor_retain(bt->tensors[i]);
        if (digest) memcpy(digest, bt->digest, PQ_SHA256_BYTES);
        pq_tensor **t = r->lent;
        r->lent = bt->tensors;
        bt->tensors = t;
    } else if (err) {
        *err = bt->err;
    }
    batch_drop(bt);
    return st;
}

pq_status pq_h5_reader_read(pq_h5_reader *r, int64_t b, pq_tensor **out,
                            uint8_t digest[PQ_SHA256_BYTES], pq_err *err)
{
    for (int i = 0; i < r->n_inputs; i++) out[i] = NULL;
    if (b < 0 || b >= r->n_batches)
        return pq_err_set(err, PQ_ERR_INVALID, "%s: batch %lld out of range [0, %lld)", r->path,
                          (long long)b, (long long)r->n_batches);
    pq_status st;
    if (!r->threaded) {
        st = batch_prepare(r, b, &r->ready, err);
        if (st != PQ_OK) return st;
        load_batch(r, &r->ready);
        return hand_over(r, out, digest, err);
    }
    pthread_mutex_lock(&r->mu);
    while (r->busy || r->request >= 0) pthread_cond_wait(&r->cv, &r->mu);
    if (!(r->ready.index == b && r->ready.loaded)) {
        st = batch_prepare(r, b, &r->ready, err);
        if (st != PQ_OK) {
            pthread_mutex_unlock(&r->mu);
            return st;
        }
        r->request = b;
        pthread_cond_broadcast(&r->cv);
        while (r->busy || r->request >= 0) pthread_cond_wait(&r->cv, &r->mu);
    }
    st = hand_over(r, out, digest, err);
    /* Expect the same step as between the last two requests (a rank reading every
     * world-size-th batch), 1 at first. */
    if (r->last_b >= 0 && b > r->last_b) r->step = b - r->last_b;
    r->last_b = b;
    int64_t next = b + r->step;
    pq_err perr;
    if (next < r->n_batches && batch_prepare(r, next, &r->ready, &perr) == PQ_OK) {
        r->request = next;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}

static int mpi_world(const void *mpi_comm, int *threads_ok)
{
    *threads_ok = 1;
    if (!mpi_comm) return 1;
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (!inited || finalized) return 1;
    int size = 1, provided = MPI_THREAD_SINGLE;
    MPI_Comm_size(*(const MPI_Comm *)mpi_comm, &size);
    MPI_Query_thread(&provided);
    *threads_ok = provided >= MPI_THREAD_MULTIPLE;
    return size;
}

/* Validates one spec against its dataset and fills `in`. */
static pq_status setup_input(pq_h5_reader *r, const pq_h5_input_spec *s, h5_input *in,
                             pq_err *err)
{
    pq_status st = PQ_OK;
    hid_t space = -1, ftype = -1, dcpl = -1, dapl = -1;
    const char *file = r->path;
    in->name = pq_strdup(s->name ? s->name : "");
    in->dataset = pq_strdup(s->dataset ? s->dataset : "");
    PQ_CHECK(in->name && in->dataset, PQ_ERR_NOMEM, "out of memory");
    in->dset = -1;
    in->mem_type = -1;
    in->layout = s->layout;
    in->swap = s->swap_channels;
    in->out_dtype = s->dtype == PQ_DTYPE_UNDEFINED ? PQ_DTYPE_FLOAT32 : s->dtype;

    dapl = H5Pcreate(H5P_DATASET_ACCESS);
    PQ_TRY(pq__h5_open_dataset(r->file, file, in->dataset, H5P_DEFAULT, &in->dset, err));
    space = H5Dget_space(in->dset);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    PQ_CHECK(rank >= 1 && rank <= PQ_MAX_RANK, PQ_ERR_INVALID,
             "%s: %s: rank %d is not supported (1 to %d, samples on axis 0)", file, in->dataset,
             rank, PQ_MAX_RANK);
    hsize_t hd[PQ_MAX_RANK];
    H5Sget_simple_extent_dims(space, hd, NULL);
    in->rank = rank;
    for (int k = 0; k < rank; k++) in->dims[k] = (int64_t)hd[k];

    ftype = H5Dget_type(in->dset);
    char desc[32];
    in->stored = pq__h5_map_type(ftype, &in->mem_type, &in->mem_type_owned, desc, sizeof desc);
    PQ_CHECK(in->stored != PQ_DTYPE_UNDEFINED, PQ_ERR_UNSUPPORTED,
             "%s: %s: stored type %s is not supported (float16/32/64 or 8 to 64-bit integers)",
             file, in->dataset, desc);
    in->stored_size = pq_dtype_size(in->stored);
    PQ_CHECK(pq_dtype_is_float(in->out_dtype) || pq_dtype_is_integer(in->out_dtype),
             PQ_ERR_UNSUPPORTED, "%s: %s: input '%s' wants dtype %s, which cannot be read", file,
             in->dataset, in->name, pq_dtype_name(in->out_dtype));
    PQ_CHECK(in->out_dtype != PQ_DTYPE_BFLOAT16, PQ_ERR_UNSUPPORTED,
             "%s: %s: input '%s': bfloat16 output is not supported", file, in->dataset, in->name);

    /* channel geometry */
    const int nhwc = s->layout == PQ_H5_LAYOUT_NHWC;
    PQ_CHECK(!nhwc || rank >= 3, PQ_ERR_INVALID,
             "%s: %s: layout nhwc needs a dataset of rank 3 or more, got rank %d", file,
             in->dataset, rank);
    in->sample_numel = 1;
    for (int k = 1; k < rank; k++) in->sample_numel *= in->dims[k];
    if (rank >= 2) {
        in->channels = nhwc ? in->dims[rank - 1] : in->dims[1];
        in->spatial = in->channels ? in->sample_numel / in->channels : 0;
    } else {
        in->channels = 1;
        in->spatial = 1;
    }
    in->out_rank = rank;
    in->out_dims[0] = 0;
    if (nhwc) {
        in->out_dims[1] = in->dims[rank - 1];
        for (int k = 1; k < rank - 1; k++) in->out_dims[k + 1] = in->dims[k];
    } else {
        for (int k = 1; k < rank; k++) in->out_dims[k] = in->dims[k];
    }

    /* preprocessing -> per output channel affine map */
    const int64_t C = in->channels;
    PQ_CHECK(isfinite(s->scale) && s->scale != 0.0, PQ_ERR_INVALID,
             "%s: %s: input '%s': scale must be finite and non-zero, got %g", file, in->dataset,
             in->name, s->scale);
    PQ_CHECK(s->n_mean == 0 || s->n_mean == 1 || s->n_mean == C, PQ_ERR_INVALID,
             "%s: %s: input '%s': mean has %d values, the data has %lld channels", file,
             in->dataset, in->name, s->n_mean, (long long)C);
    PQ_CHECK(s->n_std == 0 || s->n_std == 1 || s->n_std == C, PQ_ERR_INVALID,
             "%s: %s: input '%s': std has %d values, the data has %lld channels", file,
             in->dataset, in->name, s->n_std, (long long)C);
    PQ_CHECK(!s->swap_channels || rank >= 2, PQ_ERR_INVALID,
             "%s: %s: input '%s': channel swap needs a channel axis (rank >= 2)", file,
             in->dataset, in->name);
    in->a = pq_malloc(sizeof(double) * (size_t)(C > 0 ? C : 1));
    in->b = pq_malloc(sizeof(double) * (size_t)(C > 0 ? C : 1));
    PQ_CHECK(in->a && in->b, PQ_ERR_NOMEM, "out of memory");
    in->identity = 1;
    for (int64_t c = 0; c < C; c++) {
        double mean = s->n_mean ? s->mean[s->n_mean == 1 ? 0 : c] : 0.0;
        double sd = s->n_std ? s->std[s->n_std == 1 ? 0 : c] : 1.0;
        PQ_CHECK(isfinite(mean), PQ_ERR_INVALID, "%s: %s: input '%s': mean[%lld] is not finite",
                 file, in->dataset, in->name, (long long)c);
        PQ_CHECK(isfinite(sd) && sd > 0, PQ_ERR_INVALID,
                 "%s: %s: input '%s': std[%lld] must be positive, got %g", file, in->dataset,
                 in->name, (long long)c, sd);
        in->a[c] = s->scale / sd;
        in->b[c] = -mean / sd;
        if (in->a[c] != 1.0 || in->b[c] != 0.0) in->identity = 0;
    }
    PQ_CHECK(pq_dtype_is_float(in->out_dtype) || in->identity, PQ_ERR_INVALID,
             "%s: %s: input '%s' has integer dtype %s: scale, mean and std must be left unset",
             file, in->dataset, in->name, pq_dtype_name(in->out_dtype));

    /* Chunk cache: room for one row of chunks along the sample axis (a batch boundary
     * inside a chunk row then costs one decompression, not two), at least HDF5's 1 MiB,
     * at most 256 MiB. */
    dcpl = H5Dget_create_plist(in->dset);
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hsize_t cd[PQ_MAX_RANK];
        if (H5Pget_chunk(dcpl, rank, cd) == rank) {
            double row = (double)in->stored_size * (double)cd[0];
            for (int k = 1; k < rank; k++) row *= (double)cd[k] * ceil((double)hd[k] / (double)cd[k]);
            double bytes = 2.0 * row;
            if (bytes < 1048576.0) bytes = 1048576.0;
            if (bytes > 268435456.0) bytes = 268435456.0;
            H5Dclose(in->dset);
            in->dset = -1;
            H5Pset_chunk_cache(dapl, 12421, (size_t)bytes, 1.0);
            PQ_TRY(pq__h5_open_dataset(r->file, file, in->dataset, dapl, &in->dset, err));
        }
    }
fail:
    if (dcpl >= 0) H5Pclose(dcpl);
    if (dapl >= 0) H5Pclose(dapl);
    if (ftype >= 0) H5Tclose(ftype);
    if (space >= 0) H5Sclose(space);
    return st;
}

pq_status pq_h5_reader_open(const char *path, int n_inputs, const pq_h5_input_spec *specs,
                            int64_t batch_size, int64_t max_samples, pq_h5_nan_policy nan,
                            const void *mpi_comm, pq_h5_reader **out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_h5_reader *r = NULL;
    hid_t fapl = -1;
    int locked = 0;
    *out = NULL;
    PQ_CHECK(path, PQ_ERR_INVALID, "no HDF5 file given");
    PQ_CHECK(n_inputs >= 1, PQ_ERR_INVALID, "%s: no inputs to read", path);
    PQ_CHECK(batch_size >= 1, PQ_ERR_INVALID, "%s: batch size must be at least 1, got %lld",
             path, (long long)batch_size);
    PQ_CHECK(max_samples >= 0, PQ_ERR_INVALID, "%s: sample limit must not be negative", path);
    r = pq_calloc(1, sizeof *r);
    PQ_CHECK(r, PQ_ERR_NOMEM, "out of memory");
    r->file = -1;
    r->ready.index = -1;
    r->request = -1;
    r->last_b = -1;
    r->step = 1;
    r->nan = nan;
    r->batch_size = batch_size;
    r->path = pq_strdup(path);
    r->in = pq_calloc((size_t)n_inputs, sizeof *r->in);
    r->ready.tensors = pq_calloc((size_t)n_inputs, sizeof(pq_tensor *));
    r->lent = pq_calloc((size_t)n_inputs, sizeof(pq_tensor *));
    r->digest_order = pq_calloc((size_t)n_inputs, sizeof(int));
    PQ_CHECK(r->path && r->in && r->ready.tensors && r->lent && r->digest_order, PQ_ERR_NOMEM,
             "out of memory");
    for (int i = 0; i < n_inputs; i++) {
        r->in[i].dset = -1;
        r->in[i].mem_type = -1;
    }

    int threads_ok = 1;
    int world = mpi_world(mpi_comm, &threads_ok);

    pq__h5_lock();
    locked = 1;
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    PQ_CHECK(fapl >= 0, PQ_ERR_INTERNAL, "%s: H5Pcreate failed", path);
    if (world > 1) {
        PQ_CHECK(H5Pset_fapl_mpio(fapl, *(const MPI_Comm *)mpi_comm, MPI_INFO_NULL) >= 0,
                 PQ_ERR_MPI, "%s: H5Pset_fapl_mpio failed", path);
        r->parallel = 1;
    }
    {
        FILE *probe = fopen(path, "rb");
        PQ_CHECK(probe, PQ_ERR_IO, "%s: cannot open the data file", path);
        fclose(probe);
    }
    PQ_CHECK(H5Fis_hdf5(path) > 0, PQ_ERR_FORMAT, "%s: not an HDF5 file", path);
    r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    fapl = -1;
    if (r->file < 0) {
        st = pq_err_set(err, PQ_ERR_IO, "%s: cannot open the HDF5 file", path);
        pq__h5_append_stack(err);
        goto fail;
    }
    r->n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) {
        PQ_TRY(setup_input(r, &specs[i], &r->in[i], err));
        if (i > 0) {
            const h5_input *a = &r->in[0], *b = &r->in[i];
            PQ_CHECK(a->dims[0] == b->dims[0], PQ_ERR_INVALID,
                     "%s: inputs disagree on the sample count: %s ('%s') has %lld samples, "
                     "%s ('%s') has %lld",
                     path, a->dataset, a->name, (long long)a->dims[0], b->dataset, b->name,
                     (long long)b->dims[0]);
        }
    }
    pq__h5_unlock();
    locked = 0;

    /* Digest order: by dataset path, then by input index (insertion sort, few inputs). */
    for (int i = 0; i < n_inputs; i++) {
        int k = i;
        while (k > 0 && strcmp(r->in[r->digest_order[k - 1]].dataset, r->in[i].dataset) > 0) {
            r->digest_order[k] = r->digest_order[k - 1];
            k--;
        }
        r->digest_order[k] = i;
    }
    r->n_samples = r->in[0].dims[0];
    if (max_samples > 0 && max_samples < r->n_samples) r->n_samples = max_samples;
    r->n_batches = (r->n_samples + batch_size - 1) / batch_size;
    for (int i = 0; i < n_inputs; i++) {
        h5_input *in = &r->in[i];
        size_t bytes = (size_t)batch_size * (size_t)in->sample_numel * in->stored_size;
        in->raw = pq_malloc(bytes ? bytes : 1);
        PQ_CHECK(in->raw, PQ_ERR_NOMEM, "%s: %s: out of memory for a batch buffer of %zu bytes",
                 path, in->dataset, bytes);
    }

    r->threaded = threads_ok && r->n_batches > 1;
    if (r->threaded) {
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->cv, NULL);
        if (pthread_create(&r->thread, NULL, worker_main, r) != 0) {
            pthread_cond_destroy(&r->cv);
            pthread_mutex_destroy(&r->mu);
            r->threaded = 0; /* read synchronously */
        } else {
            /* Start on batch 0 right away. */
            pq_err perr;
            pthread_mutex_lock(&r->mu);
            if (batch_prepare(r, 0, &r->ready, &perr) == PQ_OK) {
                r->request = 0;
                pthread_cond_broadcast(&r->cv);
            }
            pthread_mutex_unlock(&r->mu);
        }
    }
    *out = r;
    return PQ_OK;
fail:
    if (!locked) pq__h5_lock();
    if (fapl >= 0) H5Pclose(fapl);
    pq__h5_unlock();
    pq_h5_reader_close(&r);
    return st;
}

void pq_h5_reader_close(pq_h5_reader **rp)
{
    if (!rp || !*rp) return;
    pq_h5_reader *r = *rp;
    if (r->threaded) {
        pthread_mutex_lock(&r->mu);
        r->quit = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
    }
    for (int i = 0; i < r->n_inputs; i++) {
        if (r->ready.tensors) pq_tensor_destroy(&r->ready.tensors[i]);
        if (r->lent) pq_tensor_destroy(&r->lent[i]);
    }
    pq__h5_lock();
    for (int i = 0; r->in && i < r->n_inputs; i++) {
        h5_input *in = &r->in[i];
        if (in->dset >= 0) H5Dclose(in->dset);
        if (in->mem_type_owned && in->mem_type >= 0) H5Tclose(in->mem_type);
    }
    if (r->file >= 0) H5Fclose(r->file);
    H5Eclear2(H5E_DEFAULT);
    pq__h5_unlock();
    for (int i = 0; r->in && i < r->n_inputs; i++) {
        h5_input *in = &r->in[i];
        pq_free(in->name);
        pq_free(in->dataset);
        pq_free(in->a);
        pq_free(in->b);
        pq_free(in->raw);
    }
    pq_free(r->in);
    pq_free(r->ready.tensors);
    pq_free(r->lent);
    pq_free(r->digest_order);
    pq_free(r->path);
    pq_free(r);
    *rp = NULL;
}

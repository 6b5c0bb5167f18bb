/* pq_h5.h - calibration data from HDF5: one dataset per graph input, read batch by batch.
 *
 * A reader maps each graph input to one dataset of an HDF5 file (`/calib/images`), checks
 * that all of them hold the same number of samples (dimension 0), and reads global batch b
 * (samples [b*batch_size, min((b+1)*batch_size, n)) in file order) by hyperslab, converting
 * the stored dtype (float32, float16, float64, uint8, int8, int16, uint16, int32, int64) to
 * the requested one (float32 by default), transposing channels-last data to channels-first,
 * and applying per-input preprocessing:
 *
 *     y[n, c, ...] = (x[n, c', ...] * scale - mean[c]) / std[c]
 *
 * where c' = C-1-c when swap_channels is set (RGB <-> BGR), else c. mean and std are given
 * in the order of the *output* channels; a single value applies to every channel.
 *
 * A background thread reads ahead: while the caller works on batch b, the reader fetches
 * the batch it expects next (b plus the last step between requests, 1 at first). Memory is
 * two batches per input whatever the dataset size; chunked, gzip and szip-compressed
 * datasets work (the chunk cache is sized to one row of chunks).
 *
 * All HDF5 calls of this module are serialised by one module-wide lock, so readers may be
 * used from different threads; one reader must not be used by two threads at once.
 * The HDF5 library's own error printing is turned off; its innermost message is appended
 * to ours instead. hdf5.h and mpi.h stay out of this header. */
#ifndef PQ_H5_H
#define PQ_H5_H

#include "pq_core.h"
#include "pq_sha256.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a rank-r dataset (r >= 3) stores its channels: NCHW keeps axis 1, NHWC keeps them last
 * and is transposed to channels-first on read. Rank 1 and 2 datasets are read as they are. */
typedef enum pq_h5_layout {
    PQ_H5_LAYOUT_NCHW = 0,
    PQ_H5_LAYOUT_NHWC = 1
} pq_h5_layout;

/* What a NaN or Inf in the stored data does. */
typedef enum pq_h5_nan_policy {
    PQ_H5_NAN_ERROR = 0, /* PQ_ERR_NUMERIC naming the dataset and the sample index */
    PQ_H5_NAN_IGNORE = 1 /* passed through to the tensor */
} pq_h5_nan_policy;

/* One graph input. Strings and arrays are borrowed during pq_h5_reader_open only. */
typedef struct pq_h5_input_spec {
    const char *name;       /* graph input name (for messages) */
    const char *dataset;    /* absolute dataset path in the file, "/calib/images" */
    pq_h5_layout layout;    /* of the stored data */
    pq_dtype dtype;         /* of the tensors returned; UNDEFINED means float32. Integer
                               dtypes need identity preprocessing (values cast) */
    double scale;           /* multiplies the stored value first; 1 = none */
    const double *mean;     /* n_mean values (0, 1 or C), output channel order */
    int n_mean;
    const double *std;      /* n_std values (0, 1 or C), each > 0 */
    int n_std;
    int swap_channels;      /* reverse channel order (RGB <-> BGR) */
} pq_h5_input_spec;

/* Fills a spec with the defaults: NCHW, float32 output, scale 1, no mean/std, no swap. */
void pq_h5_input_spec_init(pq_h5_input_spec *s, const char *name, const char *dataset);

typedef struct pq_h5_reader pq_h5_reader;

/* Opens `path` and the n_inputs datasets, validates dtypes, ranks, layouts, preprocessing
 * lengths and the common sample count, and starts the read-ahead thread.
 *   batch_size   samples per batch (>= 1)
 *   max_samples  0 = all; otherwise the first max_samples samples
 *   nan          the NaN/Inf policy
 *   mpi_comm     NULL for serial access, or a pointer to an MPI_Comm: with more than one rank
 *                the file is opened with the MPI-IO driver (independent reads); then this
 *                call and pq_h5_reader_close are collective on that communicator, and the
 *                read-ahead thread only runs when MPI provides MPI_THREAD_MULTIPLE.
 * Errors name the file and dataset ("data.h5: /calib/images: dataset not found"):
 * PQ_ERR_IO (cannot open), PQ_ERR_INVALID (missing dataset, rank, layout, preprocessing,
 * sample counts that differ), PQ_ERR_UNSUPPORTED (dtype), PQ_ERR_NOMEM. *out is NULL on
 * failure. */
pq_status pq_h5_reader_open(const char *path, int n_inputs, const pq_h5_input_spec *specs,
                            int64_t batch_size, int64_t max_samples, pq_h5_nan_policy nan,
                            const void *mpi_comm, pq_h5_reader **out, pq_err *err);

/* Samples that will be read (after max_samples) and batches (the last may be short). */
int64_t pq_h5_reader_n_samples(const pq_h5_reader *r);
int64_t pq_h5_reader_n_batches(const pq_h5_reader *r);
int64_t pq_h5_reader_batch_size(const pq_h5_reader *r);
int pq_h5_reader_n_inputs(const pq_h5_reader *r);
/* Shape of one returned sample of input i (channels-first), without the batch axis;
 * returns the rank and fills dims[0..rank). */
int pq_h5_reader_sample_shape(const pq_h5_reader *r, int i, int64_t dims[PQ_MAX_RANK]);
/* Stored dtype of input i's dataset. */
pq_dtype pq_h5_reader_stored_dtype(const pq_h5_reader *r, int i);

/* Reads global batch b (0 <= b < n_batches) into out[0..n_inputs): tensors of shape
 * [rows, sample shape...]; the caller owns one reference to each and destroys it. The
 * reader keeps its own reference and refills a tensor for a later batch once the caller
 * has dropped theirs (so memory stays at two batches); destroy them before the next-but-one
 * read, on the thread that calls read, for that reuse to happen (holding them longer is
 * safe, it only costs a fresh allocation). digest (may be NULL) receives the
 * SHA-256 of the raw bytes read for the batch: for each input in the order of its dataset
 * path (strcmp; equal paths in spec order), the stored values of its rows in file order,
 * little-endian, in the stored dtype (before any conversion or preprocessing). So the
 * digest does not depend on the order of the specs (graph input order or config order). These per-batch digests do not depend on which rank reads
 * a batch; combine them in batch order with pq_h5_digest_combine. Not collective.
 * PQ_ERR_NUMERIC (NaN/Inf under PQ_H5_NAN_ERROR, naming dataset and sample), PQ_ERR_IO,
 * PQ_ERR_INVALID (b out of range), PQ_ERR_NOMEM. out[] entries are NULL on failure. */
pq_status pq_h5_reader_read(pq_h5_reader *r, int64_t b, pq_tensor **out,
                            uint8_t digest[PQ_SHA256_BYTES], pq_err *err);

/* Stops the read-ahead thread, closes the datasets and the file; accepts NULL, sets *r to
 * NULL. Collective on the communicator given to open when it had more than one rank. */
void pq_h5_reader_close(pq_h5_reader **r);

/* Feeds one batch digest into a running hash: the data digest of a run is
 * SHA-256(d_0 || d_1 || ... || d_{n-1}) over the batch digests in batch order. */
void pq_h5_digest_combine(pq_sha256_ctx *c, const uint8_t batch_digest[PQ_SHA256_BYTES]);

/* ------------------------------------------------------------------ file inspection */

#define PQ_H5_MAX_FILTERS 8

/* One dataset of a file, as pq_h5_list_datasets reports it. */
typedef struct pq_h5_dataset_info {
    char *path;                   /* "/train/images" (owned) */
    int rank;
    int64_t dims[PQ_MAX_RANK];
    pq_dtype dtype;               /* UNDEFINED when not a numeric type we read */
    char type_desc[32];           /* "float32", or HDF5's class for others ("compound") */
    int chunked;                  /* 1 when the layout is chunked */
    int64_t chunk[PQ_MAX_RANK];   /* chunk dims when chunked */
    int n_filters;
    char filters[PQ_H5_MAX_FILTERS][32]; /* "gzip(4)", "shuffle", "szip", "fletcher32" */
} pq_h5_dataset_info;

/* Lists every dataset of the file (depth-first, by name). The caller frees the list with
 * pq_h5_dataset_info_free. PQ_ERR_IO when the file cannot be opened. Not collective. */
pq_status pq_h5_list_datasets(const char *path, pq_h5_dataset_info **out, int *n_out,
                              pq_err *err);
void pq_h5_dataset_info_free(pq_h5_dataset_info **list, int n);

/* Per-channel mean and standard deviation (population) of the first n_samples samples
 * (0 = all) of a dataset, as stored (no preprocessing). The channel axis is 1 for rank-4
 * NCHW data, the last for rank-4 NHWC; other ranks give one channel over all values.
 * Sums in double. mean/std are arrays of *n_channels the caller frees with pq_free.
 * NaN and Inf propagate into the results. */
pq_status pq_h5_channel_stats(const char *path, const char *dataset, int64_t n_samples,
                              pq_h5_layout layout, int *n_channels, double **mean,
                              double **std, pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_H5_H */

/* pq_mpi.h - distributed calibration over MPI: the communicator context, error agreement,
 * the statistic reducer, sharding of the calibration batches, broadcast of the run inputs,
 * progress reporting and checkpoints.
 *
 * Every function says whether it is "Collective" (every rank of the context's communicator
 * must call it, in the same order) or "Not collective". A rank never leaves a collective
 * phase alone: local failures are carried to the end of the phase and settled there with
 * pq_mpi_agree, so that every rank returns the same status and the same message (the one
 * of the lowest failing rank, prefixed "rank R: "). A rank that cannot reach the next
 * collective (an MPI call failed mid-phase) calls pq_mpi_abort, which ends the job.
 *
 * Sharding (docs/mpi.md): the data set is cut into global batches of batch_size samples in
 * file order (the last may be short); batch b goes to rank b mod world_size. A rank with no
 * batch still takes part in every reduction (its statistics are the identity).
 *
 * Exactness: MIN/MAX of doubles and SUM of int64 are exact in any order. A SUM of doubles
 * is only allowed where at most one rank holds a non-zero per element (per-batch slots, as
 * pq_calib_evaluate uses them), which is also exact; sums of float partials across batches
 * are gathered per batch (pq_mpi_gather_by_batch) and added in batch order.
 *
 * MPI errors: the context's communicators use MPI_ERRORS_RETURN; every MPI call is checked
 * and a failure becomes PQ_ERR_MPI naming the call ("MPI_Allreduce: ..."). */
#ifndef PQ_MPI_H
#define PQ_MPI_H

#include <mpi.h>
#include <stdio.h>

#include "pq_core.h"
#include "pq_sha256.h"
#include "pq_h5.h"
#include "pq_config.h"
#include "calib/pq_calib.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ setup */

/* Initialises MPI (MPI_Init_thread asking for MPI_THREAD_MULTIPLE, taking what is
 * provided) unless it already is. A program started without mpirun is a 1-rank
 * singleton. PQ_ERR_MPI when MPI cannot start. Collective on MPI_COMM_WORLD. */
pq_status pq_mpi_init(int *argc, char ***argv, pq_err *err);
/* Finalises MPI if pq_mpi_init started it and it is not finalised yet. Collective. */
void pq_mpi_finalize(void);

typedef struct pq_mpi pq_mpi;

/* Default bound on one reduction or broadcast message, bytes (64 MiB). */
#define PQ_MPI_DEFAULT_MAX_MESSAGE ((size_t)64 << 20)

/* Creates a context on a duplicate of comm (NULL = MPI_COMM_WORLD) with MPI_ERRORS_RETURN.
 * Reads the test hooks PQ_TEST_FAIL_RANK / PQ_TEST_FAIL_BATCH from the environment (see
 * pq_mpi_test_fail). *out is NULL on failure. Collective on comm. */
pq_status pq_mpi_create(const MPI_Comm *comm, pq_mpi **out, pq_err *err);
/* Frees the context (MPI_Comm_free of its duplicates); accepts NULL, sets *m to NULL.
 * Collective. */
void pq_mpi_destroy(pq_mpi **m);

int pq_mpi_rank(const pq_mpi *m);
int pq_mpi_size(const pq_mpi *m);
MPI_Comm pq_mpi_comm(const pq_mpi *m);

/* Bound on one message of pq_mpi_allreduce_segments and pq_mpi_bcast_bytes, bytes; at
 * least 64 and at most INT_MAX elements' worth are used. Must be the same on every rank
 * (the chunking decides the sequence of collective calls). Not collective. */
void pq_mpi_set_max_message(pq_mpi *m, size_t bytes);
size_t pq_mpi_max_message(const pq_mpi *m);

/* Error agreement at the end of a collective phase. local is this rank's status (err its
 * message when local != PQ_OK). Returns PQ_OK when every rank passed PQ_OK; otherwise the
 * status of the lowest failing rank, whose message (prefixed "rank R: ") is copied into err
 * on every rank. One MPI_Allreduce (MPI_MAX) of two ints plus, on failure, one MPI_Bcast.
 * If the agreement itself fails the result is PQ_ERR_MPI (and the ranks may disagree: the
 * caller should then pq_mpi_abort). Collective. */
pq_status pq_mpi_agree(pq_mpi *m, pq_status local, pq_err *err);

/* Ends the whole job: prints "rank R: <message>" on stderr and calls MPI_Abort(comm, 1),
 * for a rank that cannot reach the next collective. Never returns. Not collective. */
void pq_mpi_abort(pq_mpi *m, const pq_err *err) __attribute__((noreturn));

/* Phase timing for benchmarks: when PQ_PHASE_TIMES=1 is in the environment (read by
 * pq_mpi_create), rank 0 prints "ppq-calib: phase NAME  W s wall  C s cpu" to stderr: the
 * wall-clock and process CPU time (all threads) since the previous mark or since
 * pq_mpi_create. No synchronisation: rank 0's own view. Otherwise does nothing. Not
 * collective. */
void pq_mpi_phase_mark(pq_mpi *m, const char *phase);

/* ------------------------------------------------------------------ reduction */

/* Merges segs[0..n) element-wise in place over all ranks by each segment's rule. The
 * segments are grouped by (type, rule) and packed into messages of at most
 * pq_mpi_max_message bytes (a segment larger than that is split): F64 MIN/MAX use MPI_MIN /
 * MPI_MAX on MPI_DOUBLE; I64 MIN/MAX/SUM use MPI_INT64_T; F64 SUM uses MPI_SUM on
 * MPI_DOUBLE and is exact only under the one-non-zero-per-element rule above. One extra
 * small MPI_Allreduce first checks that every rank passes the same layout (PQ_ERR_INVALID
 * "segment layout differs between ranks" on every rank otherwise) and that every rank
 * could allocate its packing buffer (PQ_ERR_NOMEM on every rank otherwise), so that all
 * ranks make the same sequence of data calls or none. Errors: PQ_ERR_MPI, PQ_ERR_NOMEM,
 * PQ_ERR_INVALID (negative count, unknown type or rule). On error the segment contents are
 * unspecified. Collective. */
pq_status pq_mpi_allreduce_segments(pq_mpi *m, pq_obs_segment *segs, int n, pq_err *err);

/* A pq_calib_reducer over this context (allreduce = pq_mpi_allreduce_segments, agree =
 * pq_mpi_agree); valid while m lives. Not collective. */
pq_calib_reducer pq_mpi_reducer(pq_mpi *m);

/* ------------------------------------------------------------------ sharding */

/* Rank that runs global batch b: b mod size. */
static inline int pq_mpi_batch_owner(int64_t b, int size) { return (int)(b % size); }
/* Number of global batches in [0, n_batches) that rank runs. */
int64_t pq_mpi_shard_count(int64_t n_batches, int rank, int size);

/* Gathers per-batch records to every rank in batch order. local holds this rank's records
 * (rec_bytes each) for its batches rank, rank+size, ... in increasing order
 * (pq_mpi_shard_count of them); out receives n_batches records, out[b] = the record of
 * batch b from its owner. MPI_Allgatherv of bytes; PQ_ERR_INVALID when a count does not
 * fit an int. Collective. */
pq_status pq_mpi_gather_by_batch(pq_mpi *m, int64_t n_batches, size_t rec_bytes,
                                 const void *local, void *out, pq_err *err);
/* The same for n_per_batch doubles per batch: use it for float partial sums (evaluation
 * errors), then add out[b * n_per_batch + j] over b in increasing b: the result is bitwise
 * independent of the world size. Collective. */
pq_status pq_mpi_gather_f64_by_batch(pq_mpi *m, int64_t n_batches, int64_t n_per_batch,
                                     const double *local, double *out, pq_err *err);

/* Test hook: with PQ_TEST_FAIL_RANK=r (and optionally PQ_TEST_FAIL_BATCH=k, default 0) in
 * the environment, rank r fails when it reaches a global batch index >= k: returns
 * PQ_ERR_INTERNAL "rank r: injected failure at batch b (PQ_TEST_FAIL_RANK)"; PQ_OK
 * otherwise. Not collective. */
pq_status pq_mpi_test_fail(pq_mpi *m, int64_t batch, pq_err *err);

/* ------------------------------------------------------------------ progress */

typedef struct pq_mpi_progress pq_mpi_progress;

/* A progress reporter. Rank 0 prints "pass P/N: S/T samples (x%), R samples/s, ETA m:ss"
 * to `to` (stderr when NULL): updated in place with '\r' when it is a terminal, otherwise a
 * plain line at most every `interval` seconds (<= 0: 5 s) and one at the end of each pass.
 * quiet silences it. Other ranks report their completed samples to rank 0 with small
 * non-blocking messages (at most 4 per second) on a private communicator; they print
 * nothing. n_samples/batch_size describe the global batches. Collective (the communicator
 * duplicate); *out is NULL on failure. */
pq_status pq_mpi_progress_create(pq_mpi *m, int64_t n_samples, int64_t batch_size,
                                 int n_passes, int quiet, FILE *to, double interval,
                                 pq_mpi_progress **out, pq_err *err);
/* Starts pass `pass` (1-based). Not collective. */
void pq_mpi_progress_begin_pass(pq_mpi_progress *p, int pass);
/* Records that this rank completed global batch b. Not collective (point-to-point only). */
void pq_mpi_progress_batch_done(pq_mpi_progress *p, int64_t b);
/* Rank 0: receives pending reports and prints when due. Others: completes sends. */
void pq_mpi_progress_poll(pq_mpi_progress *p);
/* Drains every report (each rank tells rank 0 how many it sent), prints the final line and
 * frees; accepts NULL, sets *p to NULL. Collective. */
void pq_mpi_progress_destroy(pq_mpi_progress **p);

/* ------------------------------------------------------------------ data source */

typedef struct pq_mpi_source pq_mpi_source;

/* A pq_calib_source over an HDF5 reader that yields this rank's batches (rank, rank+size,
 * ...) of the reader's global batches, records the SHA-256 of each batch read in the first
 * pass, checks the PQ_TEST_FAIL_* hook before each batch, and reports completed batches to
 * progress (may be NULL). reader and progress are borrowed. n_inputs of next() must be the
 * reader's input count. Not collective. */
pq_status pq_mpi_source_create(pq_mpi *m, pq_h5_reader *reader, pq_mpi_progress *progress,
                               pq_mpi_source **out, pq_err *err);
void pq_mpi_source_destroy(pq_mpi_source **s);
/* The pq_calib_source view; valid while s lives. */
pq_calib_source pq_mpi_source_iface(pq_mpi_source *s);
/* After a complete first pass: the data digest of the run, SHA-256 over all batch digests
 * in batch order (pq_h5_digest_combine), the same on every rank and for any world size.
 * PQ_ERR_INVALID when this rank's first pass did not read all its batches. Collective. */
pq_status pq_mpi_source_data_digest(pq_mpi_source *s, uint8_t digest[PQ_SHA256_BYTES],
                                    pq_err *err);

/* The data digest without running a pass: every rank reads its batches (digest only) and
 * the digests are gathered in batch order. Used to check a checkpoint before resuming.
 * Collective (errors agreed). */
pq_status pq_mpi_data_digest(pq_mpi *m, pq_h5_reader *reader, uint8_t digest[PQ_SHA256_BYTES],
                             pq_err *err);

/* ------------------------------------------------------------------ run data */

/* The samples calibration reads: the smaller of calibration.samples and calibration.batches
 * x batch_size (each 0 = no limit); 0 = all. Not collective. */
int64_t pq_mpi_calib_sample_limit(const pq_config *cfg);

/* Opens the calibration data of cfg on m's communicator (MPI-IO with more than one rank):
 * cfg->data.file, one reader input per graph input of g in g's order reading its
 * data.inputs dataset with its preprocessing (g NULL: the data.inputs in config order),
 * batches of calibration.batch_size, the first pq_mpi_calib_sample_limit samples, NaN
 * policy data.nan. The batch digests (and so the data digest) do not depend on the input
 * order. *out is NULL on failure. Errors agreed (PQ_ERR_CONFIG for a graph input without
 * a dataset, the reader's). Collective. */
pq_status pq_mpi_open_calib_data(pq_mpi *m, const pq_config *cfg, const pq_graph *g,
                                 pq_h5_reader **out, pq_err *err);

/* Opens the evaluation data: like the calibration data of g, but each graph input reads
 * the dataset of analysis.eval_inputs, overridden by flags[0..n_flags) ("NAME=DATASET",
 * --eval-input), else its calibration dataset; the labels dataset (the labels argument, or
 * analysis.labels when it is NULL; none when both are NULL) is appended as an int64 last
 * input and *with_labels set; the first analysis.eval_batches batches (0 = all). Errors
 * agreed: PQ_ERR_CONFIG naming the config key or the flag whose input is not a graph input,
 * the reader's. Collective. */
pq_status pq_mpi_open_eval_data(pq_mpi *m, const pq_config *cfg, const pq_graph *g, int n_flags,
                                const char *const *flags, const char *labels,
                                pq_h5_reader **out, int *with_labels, pq_err *err);

/* The data digest of the calibration data of cfg exactly as a calibrate run records it
 * (the batches pq_mpi_open_calib_data reads, batch digests combined in batch order), read
 * without the NaN check (the digest covers stored bytes). The same for any world size and
 * input order. Errors agreed (the reader's). Collective. */
pq_status pq_mpi_calib_data_digest(pq_mpi *m, const pq_config *cfg,
                                   uint8_t digest[PQ_SHA256_BYTES], pq_err *err);

/* ------------------------------------------------------------------ broadcast */

/* Broadcasts a byte buffer from root in chunks of at most pq_mpi_max_message bytes (MPI
 * counts are int, so buffers over 2 GiB work). On root *buf / *len are the input (kept);
 * on the others *buf receives a new pq_malloc'ed buffer of *len bytes (plus a NUL byte
 * after it) the caller frees with pq_free. Allocation failures are agreed before the data
 * moves. Collective. */
pq_status pq_mpi_bcast_bytes(pq_mpi *m, int root, void **buf, size_t *len, pq_err *err);

/* What every rank needs to run: the config and the model bytes, identical everywhere. */
typedef struct pq_mpi_run_inputs {
    pq_config *config;                       /* owned */
    uint8_t *model;                          /* owned model file bytes */
    size_t model_len;
    uint8_t model_sha256[PQ_SHA256_BYTES];   /* of the model bytes */
    uint8_t config_sha256[PQ_SHA256_BYTES];  /* of the effective config text (printed) */
    uint8_t results_sha256[PQ_SHA256_BYTES]; /* pq_config_results_digest: the config keys
                                                that change results (no export.*); what
                                                checkpoints record */
} pq_mpi_run_inputs;

/* Rank 0 loads the config (pq_config_load with the --set patches) and reads the model file;
 * it broadcasts the effective config text (pq_config_print_string: every key, absolute
 * paths), the model bytes and their SHA-256 digests. Every other rank loads the broadcast
 * config text (through a private temporary file), and every rank checks the digests of what
 * it holds against rank 0's: a mismatch is PQ_ERR_INTERNAL on all ranks. Errors are agreed
 * (the first failing rank's message on every rank). out is cleared on failure. Collective. */
pq_status pq_mpi_load_run_inputs(pq_mpi *m, const char *config_path, int n_sets,
                                 const char *const *sets, pq_mpi_run_inputs *out, pq_err *err);
void pq_mpi_run_inputs_clear(pq_mpi_run_inputs *in);

/* Threads per rank: sets OPENBLAS_NUM_THREADS (and OMP_NUM_THREADS when unset) to
 * `threads`, or to 1 when threads <= 0 (one rank per core), unless the variable is already
 * set in the environment. Must run before OpenBLAS starts its threads. Not collective. */
void pq_mpi_set_threads(int64_t threads);

/* ------------------------------------------------------------------ checkpoints */

/* A checkpoint: the reduced observer segments of every completed pass, with the SHA-256
 * digests of the model, the config and the data they came from. Written by rank 0 after each
 * pass to an HDF5 file, atomically (path.tmp, then rename). */
typedef struct pq_mpi_ckpt pq_mpi_ckpt;

/* A new, empty checkpoint for path (copied). Not collective. */
pq_status pq_mpi_ckpt_create(const char *path, const uint8_t model[PQ_SHA256_BYTES],
                             const uint8_t config[PQ_SHA256_BYTES],
                             const uint8_t data[PQ_SHA256_BYTES], pq_mpi_ckpt **out,
                             pq_err *err);
void pq_mpi_ckpt_destroy(pq_mpi_ckpt **ck);
/* Number of passes it holds. */
int pq_mpi_ckpt_n_passes(const pq_mpi_ckpt *ck);

/* Collective save at the end of pass `pass` (1-based, = n_passes + 1): rank 0 copies the
 * reduced segments and rewrites the file (tmp + rename); the outcome is agreed. Errors:
 * PQ_ERR_IO naming the file, PQ_ERR_INVALID (pass out of order), PQ_ERR_NOMEM. Other
 * ranks may pass ck = NULL. Collective. */
pq_status pq_mpi_ckpt_save(pq_mpi *m, pq_mpi_ckpt *ck, int pass, const pq_obs_segment *segs,
                           int n, pq_err *err);

/* Rank 0 reads the checkpoint at path (if it exists) and checks its digests against the
 * given ones; *out is the checkpoint on rank 0 (NULL elsewhere) and *n_done, on every rank,
 * the number of passes it holds (0 when there is no file). Errors (agreed): PQ_ERR_FORMAT
 * (not a checkpoint), PQ_ERR_INVALID ("checkpoint.h5: model digest differs: ..."),
 * PQ_ERR_IO. Collective. */
pq_status pq_mpi_ckpt_load(pq_mpi *m, const char *path, const uint8_t model[PQ_SHA256_BYTES],
                           const uint8_t config[PQ_SHA256_BYTES],
                           const uint8_t data[PQ_SHA256_BYTES], pq_mpi_ckpt **out,
                           int *n_done, pq_err *err);

/* Collective restore of pass `pass` (<= n_done): rank 0 copies the saved segments into segs
 * (after checking the layout), the other ranks' segments must hold the identity (a fresh
 * pass), and pq_mpi_allreduce_segments spreads the state; the caller then ends the pass as
 * after a normal reduction. The result is bitwise the reduced state that was saved.
 * PQ_ERR_INVALID (layout mismatch), agreed. Collective. */
pq_status pq_mpi_ckpt_restore(pq_mpi *m, const pq_mpi_ckpt *ck, int pass, pq_obs_segment *segs,
                              int n, pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_MPI_H */

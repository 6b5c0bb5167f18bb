/* misc_internal.h - shared by the misc operator family files (src/exec/ops/misc*.c): the
 * kernel entry points the table in misc.c registers, and small element helpers.
 *
 * Included only by src/exec/ops/misc*.c.
 */
#ifndef PQ_MISC_INTERNAL_H
#define PQ_MISC_INTERNAL_H

#include "../exec_internal.h"

/* ------------------------------------------------------------------ helpers (misc.c) */

/* Frees n->ctx (pq_free) and clears it; the release of every misc op with a flat ctx. */
void pq__misc_release_ctx(pq_exec_node *n);

/* Whether dt is float16, bfloat16, float32 or float64. */
int pq__misc_is_float(pq_dtype dt);

/* Reads a scalar (rank 0 or one element) int32/int64 tensor; `what` names it in messages. */
pq_status pq__misc_scalar_i64(const pq_tensor *t, const char *what, int64_t *out, pq_err *err);
/* Reads a scalar (rank 0 or one element) tensor of any numeric dtype as double. */
pq_status pq__misc_scalar_f64(const pq_tensor *t, const char *what, double *out, pq_err *err);

/* Stores v into element i of a numeric or bool tensor: floats round to nearest (float16 and
 * bfloat16 through float32), integers truncate toward zero and saturate to the dtype's
 * range (NaN stores 0), bool stores v != 0. */
void pq__misc_store_f64(pq_tensor *t, int64_t i, double v);

/* Copies `count` elements from src (starting at element si) to dst (starting at di); both
 * have the same dtype. Strings are duplicated. */
pq_status pq__misc_copy_elems(pq_tensor *dst, int64_t di, const pq_tensor *src, int64_t si,
                              int64_t count, pq_err *err);

/* Reads a float tensor (any float dtype) into a new float64 array of t->numel values
 * (pq_free it); NULL on allocation failure. */
double *pq__misc_to_f64(const pq_tensor *t);

/* ------------------------------------------------------------------ kernels */

/* misc_loss.c: NegativeLogLikelihoodLoss-13, SoftmaxCrossEntropyLoss-13. */
pq_status pq__misc_loss_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__misc_run_nllloss(pq_exec_node *n, pq_err *err);
pq_status pq__misc_run_sce(pq_exec_node *n, pq_err *err);

/* misc_unique.c: Unique-11. */
pq_status pq__misc_unique_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__misc_run_unique(pq_exec_node *n, pq_err *err);

/* misc_gridsample.c: GridSample-16. */
pq_status pq__misc_gridsample_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__misc_run_gridsample(pq_exec_node *n, pq_err *err);

/* misc_signal.c: DFT-17, STFT-17, HannWindow/HammingWindow/BlackmanWindow-17,
 * MelWeightMatrix-17. */
pq_status pq__misc_dft_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__misc_run_dft(pq_exec_node *n, pq_err *err);
pq_status pq__misc_stft_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__misc_run_stft(pq_exec_node *n, pq_err *err);
pq_status pq__misc_window_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__misc_run_window(pq_exec_node *n, pq_err *err);
pq_status pq__misc_mel_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__misc_run_mel(pq_exec_node *n, pq_err *err);

/* misc_text.c: StringNormalizer-10, TfIdfVectorizer-9. */
pq_status pq__misc_strnorm_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__misc_run_strnorm(pq_exec_node *n, pq_err *err);
void pq__misc_strnorm_release(pq_exec_node *n);
pq_status pq__misc_tfidf_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__misc_run_tfidf(pq_exec_node *n, pq_err *err);
void pq__misc_tfidf_release(pq_exec_node *n);

#endif /* PQ_MISC_INTERNAL_H */

/* shape_common.h - helpers shared by the shape and gather operator families: reading
 * integer inputs, normalising axes, and one strided copy that Transpose, Slice, Expand,
 * Tile, Pad, DepthToSpace and SpaceToDepth are all expressed with.
 *
 * Included only by src/exec/ops/shape*.c and gather*.c.
 */
#ifndef PQ_SHAPE_COMMON_H
#define PQ_SHAPE_COMMON_H

#include "../exec_internal.h"

/* Largest rank the strided copy takes (Tile interleaves repeats with dims: 2 * rank). */
#define PQ_MOVE_MAX_RANK (2 * PQ_MAX_RANK + 2)

/* Reads the values of an integer tensor (int32 or int64, any rank) into out, which has room
 * for cap values; *n receives the count. `what` names the input in messages. Returns
 * PQ_ERR_INVALID for another dtype or more than cap values. */
pq_status pq__shape_read_ints(const pq_tensor *t, const char *what, int64_t *out, int64_t cap,
                              int64_t *n, pq_err *err);

/* Normalises an axis in [-rank, rank) to [0, rank); PQ_ERR_INVALID outside. */
pq_status pq__shape_norm_axis(int64_t axis, int rank, const char *what, int *out, pq_err *err);

/* Contiguous row-major strides (in elements) of a shape. */
void pq__shape_strides(int rank, const int64_t *dims, int64_t *strides);

/* Copies the elements of a rank-`rank` block of shape dims: element idx goes from
 * src + sum(idx[i] * src_strides[i]) to dst + sum(idx[i] * dst_strides[i]) (strides in
 * elements, may be negative or zero on the source side). esz is the element size in bytes.
 * Dimensions are collapsed first; a batched 2-D transpose takes a tiled path. rank is at
 * most PQ_MOVE_MAX_RANK. Strings are moved as pointers: see pq__shape_strings_own. */
void pq__shape_strided_copy(void *dst, const int64_t *dst_strides, const void *src,
                            const int64_t *src_strides, int rank, const int64_t *dims, size_t esz);

/* String outputs are filled by moving pointers: pq__shape_strings_clear frees the tensor's
 * strings and sets them NULL (call it on a freshly created string output before the move),
 * pq__shape_strings_own then replaces every pointer by a copy (NULL becomes ""). On allocation
 * failure the remaining pointers are set NULL (so destroying the tensor is safe) and
 * PQ_ERR_NOMEM is returned. Both are no-ops for other dtypes. */
void pq__shape_strings_clear(pq_tensor *t);
pq_status pq__shape_strings_own(pq_tensor *t, pq_err *err);

/* Creates output idx of dtype/shape and fills it by a strided copy from src's data
 * (src_strides relative to src->data + src_offset elements); handles strings. */
pq_status pq__shape_move_output(pq_exec_node *n, int idx, const pq_tensor *src, int64_t src_offset,
                                const int64_t *src_strides, int rank, const int64_t *dims,
                                pq_err *err);

/* Returns input idx as output idx with another shape without copying: a view of the input
 * (or a retained reference when the shape is the same). */
pq_status pq__shape_alias_output(pq_exec_node *n, int in_idx, int out_idx, int rank,
                                 const int64_t *dims, pq_err *err);

/* Cast and CastLike (shape_cast.c). */
pq_status pq__shape_cast_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__shape_run_cast(pq_exec_node *n, pq_err *err);
pq_status pq__shape_run_castlike(pq_exec_node *n, pq_err *err);
/* Converts numel elements of src (dtype sdt) into dst (dtype ddt) following ONNX Cast.
 * dst strings must have been cleared with pq__shape_strings_clear; on failure the string
 * pointers not yet written stay NULL. */
pq_status pq__shape_cast_elements(const void *src, pq_dtype sdt, void *dst, pq_dtype ddt,
                                  int64_t numel, pq_err *err);

#endif /* PQ_SHAPE_COMMON_H */

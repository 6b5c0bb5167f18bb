/* pq_npy.h - NumPy .npy files <-> tensors (format versions 1.0, 2.0 and 3.0, C order). */
#ifndef PQ_NPY_H
#define PQ_NPY_H

#include "pq_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a .npy file. Little-endian numeric dtypes and bool; Fortran order and big-endian
 * data are PQ_ERR_UNSUPPORTED; a malformed header or short data is PQ_ERR_FORMAT naming the
 * file. */
pq_status pq_npy_load(const char *path, pq_tensor **out, pq_err *err);
/* Parses .npy bytes in memory (`name` is used in messages). */
pq_status pq_npy_parse(const uint8_t *buf, size_t len, const char *name, pq_tensor **out,
                       pq_err *err);
/* Writes a tensor as a version 1.0 .npy file, atomically (temporary name, then rename). */
pq_status pq_npy_save(const char *path, const pq_tensor *t, pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_NPY_H */

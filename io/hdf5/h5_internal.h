/* h5_internal.h - helpers shared by the io/hdf5 sources (never included from elsewhere). */
#ifndef PQ_H5_INTERNAL_H
#define PQ_H5_INTERNAL_H

#include "pq_h5.h"

#include <hdf5.h>

/* The module-wide lock around every HDF5 call: the Debian parallel build of HDF5 is not
 * thread-safe, and the reader's read-ahead thread calls it. Recursive. Also turns off the
 * library's automatic error printing on first use. */
void pq__h5_lock(void);
void pq__h5_unlock(void);

/* Appends HDF5's innermost error description (" (H5Dread: ...)") from the current error
 * stack to err->msg and clears the stack. Call with the lock held. */
void pq__h5_append_stack(pq_err *err);

/* The pq dtype of a stored HDF5 type (UNDEFINED when unsupported), and a memory type that
 * reads it without conversion other than byte order. The memory type must be closed with
 * H5Tclose when *mem_owned is 1. desc receives "float32" or the HDF5 class name. */
pq_dtype pq__h5_map_type(hid_t file_type, hid_t *mem_type, int *mem_owned, char *desc,
                         size_t cap);

/* Opens a dataset by absolute path, checking that the path exists and names a dataset
 * (PQ_ERR_INVALID "file: /x: dataset not found" otherwise). dapl may be H5P_DEFAULT. */
pq_status pq__h5_open_dataset(hid_t file, const char *file_name, const char *path, hid_t dapl,
                              hid_t *out, pq_err *err);

/* Base name of a path, for messages. */
const char *pq__h5_base(const char *path);

#endif /* PQ_H5_INTERNAL_H */

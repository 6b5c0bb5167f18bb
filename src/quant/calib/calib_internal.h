/* calib_internal.h - helpers shared by the files of src/quant/calib. Never included from
 * outside this folder. */
#ifndef PQ_CALIB_INTERNAL_H
#define PQ_CALIB_INTERNAL_H

#include "pq_calib.h"

/* reducer->allreduce when there is one (prefixes its errors), else PQ_OK. */
pq_status pq__calib_allreduce(const pq_calib_reducer *r, pq_obs_segment *segs, int n_segs,
                              pq_err *err);
/* reducer->agree when there is one, else local. */
pq_status pq__calib_agree(const pq_calib_reducer *r, pq_status local, pq_err *err);

#endif /* PQ_CALIB_INTERNAL_H */

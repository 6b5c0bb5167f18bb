/* resize_internal.h - shared inside the resize family (resize.c, resize_detect.c). */
#ifndef PQ_RESIZE_INTERNAL_H
#define PQ_RESIZE_INTERNAL_H

#include "../exec_internal.h"

/* Writes v into element i of a dtype-dt buffer (integers round to nearest and saturate). */
void pq__resize_store(pq_dtype dt, void *p, int64_t i, double v);

/* RoiAlign-10 (no coordinate_transformation_mode: legacy output_half_pixel) and -16. */
pq_status pq__roialign_prepare10(pq_exec_node *n, pq_err *err);
pq_status pq__roialign_prepare16(pq_exec_node *n, pq_err *err);
pq_status pq__roialign_run(pq_exec_node *n, pq_err *err);
void pq__roialign_release(pq_exec_node *n);

/* NonMaxSuppression-10/11. */
pq_status pq__nms_prepare(pq_exec_node *n, pq_err *err);
pq_status pq__nms_run(pq_exec_node *n, pq_err *err);
void pq__nms_release(pq_exec_node *n);

#endif /* PQ_RESIZE_INTERNAL_H */

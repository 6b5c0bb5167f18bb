/* resize.c - operator family: Resize Upsample RoiAlign NonMaxSuppression. */
#include "../exec_internal.h"

const pq_op_def pq_ops_resize[] = {
    PQ_OP_DEF_END,
};

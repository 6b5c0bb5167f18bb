/* misc.c - operator family: operators outside the other families (losses, signal
 * processing, string and set operations). */
#include "../exec_internal.h"

const pq_op_def pq_ops_misc[] = {
    PQ_OP_DEF_END,
};

/* pool.c - operator family: AveragePool MaxPool GlobalAveragePool GlobalMaxPool LpPool. */
#include "../exec_internal.h"

const pq_op_def pq_ops_pool[] = {
    PQ_OP_DEF_END,
};

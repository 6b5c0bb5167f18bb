/* norm.c - operator family: BatchNormalization InstanceNormalization LayerNormalization LRN. */
#include "../exec_internal.h"

const pq_op_def pq_ops_norm[] = {
    PQ_OP_DEF_END,
};

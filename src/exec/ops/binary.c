/* binary.c - operator family: Add Sub Mul Div Pow Min Max Sum Mean Mod And Or Xor Equal Greater Less GreaterOrEqual LessOrEqual BitShift Where (one broadcast iterator). */
#include "../exec_internal.h"

const pq_op_def pq_ops_binary[] = {
    PQ_OP_DEF_END,
};

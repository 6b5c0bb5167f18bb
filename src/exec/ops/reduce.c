/* reduce.c - operator family: ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceSumSquare ArgMax ArgMin CumSum TopK. */
#include "../exec_internal.h"

const pq_op_def pq_ops_reduce[] = {
    PQ_OP_DEF_END,
};

/* gemm.c - operator family: Gemm MatMul Einsum. */
#include "../exec_internal.h"

const pq_op_def pq_ops_gemm[] = {
    PQ_OP_DEF_END,
};

/* conv.c - operator family: Conv ConvTranspose (im2col + sgemm, 1x1 as plain GEMM, depthwise direct). */
#include "../exec_internal.h"

const pq_op_def pq_ops_conv[] = {
    PQ_OP_DEF_END,
};

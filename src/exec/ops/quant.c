/* quant.c - operator family: QuantizeLinear DequantizeLinear DynamicQuantizeLinear. */
#include "../exec_internal.h"

const pq_op_def pq_ops_quant[] = {
    PQ_OP_DEF_END,
};

/* activation.c - operator family: Relu LeakyRelu PRelu Elu Selu Celu Sigmoid HardSigmoid HardSwish Tanh Softplus Softsign Mish Gelu ThresholdedRelu Clip Softmax LogSoftmax Hardmax. */
#include "../exec_internal.h"

const pq_op_def pq_ops_activation[] = {
    PQ_OP_DEF_END,
};

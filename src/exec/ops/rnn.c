/* rnn.c - operator family: LSTM GRU RNN. */
#include "../exec_internal.h"

const pq_op_def pq_ops_rnn[] = {
    PQ_OP_DEF_END,
};

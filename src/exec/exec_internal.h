/* exec_internal.h - shared between the executor and the operator families. Never included
 * from outside src/exec. */
#ifndef PQ_EXEC_INTERNAL_H
#define PQ_EXEC_INTERNAL_H

#include "pq_exec.h"

/* Each family file defines one table terminated by an entry whose name is NULL. */
#define PQ_OP_FAMILIES(X) \
    X(binary)             \
    X(unary)              \
    X(activation)         \
    X(conv)               \
    X(gemm)               \
    X(pool)               \
    X(norm)               \
    X(reduce)             \
    X(shape)              \
    X(gather)             \
    X(resize)             \
    X(rnn)                \
    X(quant)              \
    X(misc)

#define PQ_DECLARE_FAMILY(fam) extern const pq_op_def pq_ops_##fam[];
PQ_OP_FAMILIES(PQ_DECLARE_FAMILY)
#undef PQ_DECLARE_FAMILY

/* The end marker of a family table. */
#define PQ_OP_DEF_END {0}

#endif /* PQ_EXEC_INTERNAL_H */

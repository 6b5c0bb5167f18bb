/* ir_internal.h - helpers shared by the IR's source files. Never included from outside
 * src/ir. */
#ifndef PQ_IR_INTERNAL_H
#define PQ_IR_INTERNAL_H

#include "pq_ir.h"

void pq__var_free(pq_var *v);
void pq__op_free(pq_op *op);
/* Removes one occurrence of op from v->dest_ops; returns 1 when found. */
int pq__var_drop_dest(pq_var *v, const pq_op *op);

#endif /* PQ_IR_INTERNAL_H */

/* unary.c - operator family: Abs Neg Ceil Floor Round Sign Sqrt Reciprocal Exp Log Sin Cos Tan Asin Acos Atan Sinh Cosh Asinh Acosh Atanh Erf Not IsNaN IsInf. */
#include "../exec_internal.h"

const pq_op_def pq_ops_unary[] = {
    PQ_OP_DEF_END,
};

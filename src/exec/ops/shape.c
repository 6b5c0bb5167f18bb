/* shape.c - operator family: Shape Size Reshape Flatten Squeeze Unsqueeze Transpose Expand Tile Concat Split Slice Identity Dropout Constant ConstantOfShape Range Cast CastLike. */
#include "../exec_internal.h"

const pq_op_def pq_ops_shape[] = {
    PQ_OP_DEF_END,
};

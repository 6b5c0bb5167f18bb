/* gather.c - operator family: Gather GatherElements GatherND ScatterElements ScatterND OneHot NonZero Trilu DepthToSpace SpaceToDepth Pad EyeLike. */
#include "../exec_internal.h"

const pq_op_def pq_ops_gather[] = {
    PQ_OP_DEF_END,
};

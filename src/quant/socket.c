/* socket.c - what each input and output slot of an operator carries (PPQ's OpSocket):
 * values that may be quantized, shapes and indices (never quantized; shape computations
 * end there), constants that follow input 0 (Clip bounds, Pad value), and numeric inputs
 * kept in float. Slot numbers follow the ONNX operator definitions (opset 13+ where inputs
 * replaced attributes). */
#include "quant_internal.h"

int pq__type_in(const char *type, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(type, *list) == 0) return 1;
    return 0;
}

static int is_onnx(const pq_op *op)
{
    return op->domain[0] == '\0' || strcmp(op->domain, "ai.onnx") == 0;
}

int pq__is_computing(const pq_op *op)
{
    static const char *const types[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", "MatMulInteger",
                                        "ConvInteger", "LSTM", "GRU", "RNN", "Attention", NULL};
    return pq__type_in(op->type, types);
}

int pq__is_passive_op(const pq_op *op)
{
    /* PPQ's PASSIVE_OPERATIONS: the output holds (a rearrangement or a selection of) the
     * input's values, so it can share the input's quantization. */
    static const char *const types[] = {"MaxPool", "GlobalMaxPool", "Reshape", "Flatten",
                                        "Identity", "Dropout", "Slice", "Pad", "Split",
                                        "Transpose", "Squeeze", "Unsqueeze", NULL};
    return is_onnx(op) && pq__type_in(op->type, types);
}

pq__slot_kind pq__input_kind(const pq_op *op, int idx)
{
    const char *t = op->type;
    if (!is_onnx(op)) return PQ__SLOT_VALUE;
    if (idx == 0) {
        static const char *const soi0[] = {"ConstantOfShape", "Range", NULL};
        if (pq__type_in(t, soi0)) return PQ__SLOT_SOI;
        /* Shape and Size read only the shape of their input: no value flows through. */
        if (strcmp(t, "Shape") == 0 || strcmp(t, "Size") == 0) return PQ__SLOT_FP32;
        if (strcmp(t, "Where") == 0) return PQ__SLOT_SOI; /* the condition */
        return PQ__SLOT_VALUE;
    }
    /* Second and later inputs that are shapes, indices, axes, sizes or counts. */
    static const char *const soi_rest[] = {
        "Reshape", "Expand", "Tile", "Slice", "Squeeze", "Unsqueeze", "Split",
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "TopK",
        "Gather", "GatherElements", "GatherND", "OneHot", "Range", "Upsample", "CumSum",
        "NonMaxSuppression", "Trilu", NULL};
    if (pq__type_in(t, soi_rest)) return PQ__SLOT_SOI;
    if (strcmp(t, "Resize") == 0) return PQ__SLOT_SOI; /* roi, scales, sizes */
    if (strcmp(t, "ScatterElements") == 0 || strcmp(t, "ScatterND") == 0)
        return idx == 1 ? PQ__SLOT_SOI : PQ__SLOT_VALUE;
    if (strcmp(t, "Where") == 0) return PQ__SLOT_VALUE;
    if (strcmp(t, "Pad") == 0) return idx == 2 ? PQ__SLOT_PASSIVE : PQ__SLOT_SOI;
    if (strcmp(t, "Clip") == 0) return PQ__SLOT_PASSIVE;
    if (strcmp(t, "BatchNormalization") == 0 || strcmp(t, "InstanceNormalization") == 0 ||
        strcmp(t, "LayerNormalization") == 0 || strcmp(t, "GroupNormalization") == 0)
        return PQ__SLOT_FP32;
    if (strcmp(t, "LSTM") == 0 || strcmp(t, "GRU") == 0 || strcmp(t, "RNN") == 0)
        return idx >= 3 ? PQ__SLOT_FP32 : PQ__SLOT_VALUE; /* B, sequence_lens, initial states */
    if (strcmp(t, "Dropout") == 0) return PQ__SLOT_FP32;  /* ratio, training_mode */
    return PQ__SLOT_VALUE;
}

int pq__output_is_soi(const pq_op *op, int idx)
{
    if (!is_onnx(op)) return 0;
    static const char *const gen[] = {"Shape", "Size", "NonZero", "ArgMax", "ArgMin",
                                      "NonMaxSuppression", "Range", "ConstantOfShape",
                                      "Equal", "Less", "Greater", "LessOrEqual",
                                      "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN",
                                      "IsInf", NULL};
    if (pq__type_in(op->type, gen)) return 1;
    if (strcmp(op->type, "TopK") == 0) return idx == 1;
    if (strcmp(op->type, "MaxPool") == 0) return idx == 1; /* indices */
    if (strcmp(op->type, "Dropout") == 0) return idx == 1; /* mask */
    if (strcmp(op->type, "Unique") == 0) return idx >= 1;
    return 0;
}

int pq__var_is_soi(const pq_var *v)
{
    const pq_op *s = v->source_op;
    if (!s) return 0;
    for (int j = 0; j < s->n_outputs; j++)
        if (s->outputs[j] == v) return pq__output_is_soi(s, j);
    return 0;
}

int pq__weight_channel_axis(const pq_op *op)
{
    if (op->n_inputs < 2 || !op->inputs[1]) return -1;
    const pq_var *w = op->inputs[1];
    int rank = w->value ? w->value->rank : w->rank;
    if (rank < 1) return -1;
    if (pq_op_is(op, "Conv")) return 0;           /* [M, C/group, k...] */
    if (pq_op_is(op, "ConvTranspose")) return rank >= 2 ? 1 : -1; /* [C, M/group, k...] */
    if (pq_op_is(op, "Gemm")) {
        int64_t tb = 0;
        const pq_attr *a = pq_op_find_attr(op, "transB");
        if (a && a->type == PQ_ATTR_INT) tb = a->i;
        if (rank != 2) return -1;
        return tb ? 0 : 1; /* B is [N, K] with transB, else [K, N] */
    }
    if (pq_op_is(op, "MatMul")) return rank >= 2 ? rank - 1 : -1; /* [..., K, N] */
    return -1;
}

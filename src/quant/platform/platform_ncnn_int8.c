/* platform_ncnn_int8.c - ncnn int8 (PPQ's NCNNQuantizer). ncnn quantizes the inputs of
 * its int8 layers only (outputs stay float, no activation fusion): activations symmetric
 * int8 [-127, 127] per tensor, rounding half away from zero, min-max; Conv and Gemm
 * weights symmetric per output channel [-127, 127], and 6-bit [-31, 31] for 3x3 stride-1
 * dilation-1 ungrouped Conv (ncnn's winograd int8 kernels); bias float. */
#include "../quant_internal.h"

static const char *const ncnn_types[] = {"Add", "Concat", "Conv", "Gemm", "LayerNormalization",
                                         "Gelu", NULL};
static const char *const ncnn_pc[] = {"Conv", "Gemm", NULL};

static int all_eq(const pq_op *op, const char *name, int64_t v, int64_t dflt)
{
    const pq_attr *a = pq_op_find_attr(op, name);
    if (!a) return dflt == v;
    if (a->type == PQ_ATTR_INT) return a->i == v;
    if (a->type != PQ_ATTR_INTS) return 0;
    for (int64_t k = 0; k < a->n; k++)
        if (a->ints[k] != v) return 0;
    return 1;
}

static pq_status ncnn_customize(const pq_platform *p, pq_op *op, pq_err *err)
{
    (void)p;
    (void)err;
    pq_op_qconfig *qc = op->qconfig;
    if (pq_op_is(op, "Conv") && qc->n_inputs > 1 && qc->inputs[1].state == PQ_TQC_STATE_INITIAL &&
        all_eq(op, "group", 1, 1) && all_eq(op, "dilations", 1, 1) &&
        all_eq(op, "strides", 1, 1) && all_eq(op, "kernel_shape", 3, 0)) {
        qc->inputs[1].num_bits = 6;
        qc->inputs[1].quant_min = -31;
        qc->inputs[1].quant_max = 31;
    }
    return PQ_OK;
}

const pq_platform pq__platform_ncnn_int8 = {
    .name = "ncnn_int8",
    .id = PQ_PLATFORM_NCNN_INT8,
    .flags = PQ__PLAT_QUANTIZED | PQ__PLAT_INPUT_ONLY,
    .act_bits = 8, .act_min = -127, .act_max = 127,
    .act_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR,
    .act_rounding = PQ_ROUND_HALF_FAR_FROM_ZERO, .act_observer = "minmax",
    .w_bits = 8, .w_min = -127, .w_max = 127,
    .w_policy = PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR,
    .w_rounding = PQ_ROUND_HALF_FAR_FROM_ZERO, .w_per_channel_types = ncnn_pc,
    .bias_mode = PQ__BIAS_FP32,
    .quant_types = ncnn_types,
    .concat_align = PQ_ALIGN_NONE, .elementwise_align = PQ_ALIGN_NONE,
    .customize = ncnn_customize,
};

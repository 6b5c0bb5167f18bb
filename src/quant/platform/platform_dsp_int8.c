/* platform_dsp_int8.c - PPL DSP int8 (PPQ's PPL_DSP_Quantizer; Hexagon-style). Every
 * quantized tensor, weights included, asymmetric uint8 [0, 255] per tensor, half-even.
 * Bias: 30-bit passive [-2^29, 2^29 - 1] per tensor. Concat and elementwise inputs share
 * one scale (the DSP kernels take one input scale). */
#include "../quant_internal.h"

static const char *const dsp_types[] = {
    "Conv", "ConvTranspose", "Gemm", "Relu", "PRelu", "Clip", "Pad", "Resize", "MaxPool",
    "AveragePool", "GlobalMaxPool", "GlobalAveragePool", "Softmax", "Mul", "Add", "Max",
    "Sub", "Div", "Reshape", "LeakyRelu", "Concat", "Sigmoid", "Slice", "ReduceMean", NULL};

const pq_platform pq__platform_dsp_int8 = {
    .name = "dsp_int8",
    .id = PQ_PLATFORM_DSP_INT8,
    .flags = PQ__PLAT_QUANTIZED | PQ__PLAT_FUSE_ACTIVATION | PQ__PLAT_FUSE_PASSIVE,
    .act_bits = 8, .act_min = 0, .act_max = 255,
    .act_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_ASYMMETRIC | PQ_QPOLICY_LINEAR,
    .act_rounding = PQ_ROUND_HALF_EVEN, .act_observer = "percentile",
    .w_bits = 8, .w_min = 0, .w_max = 255,
    .w_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_ASYMMETRIC | PQ_QPOLICY_LINEAR,
    .w_rounding = PQ_ROUND_HALF_EVEN, .w_per_channel_types = NULL,
    .bias_mode = PQ__BIAS_PASSIVE, .bias_bits = 30,
    .bias_min = -(1LL << 29), .bias_max = (1LL << 29) - 1,
    .quant_types = dsp_types,
    .concat_align = PQ_ALIGN_MAX, .elementwise_align = PQ_ALIGN_MAX,
};

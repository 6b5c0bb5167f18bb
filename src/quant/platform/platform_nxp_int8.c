/* platform_nxp_int8.c - NXP eIQ int8 (PPQ's NXP_Quantizer). Power-of-two scales
 * everywhere. Activations: symmetric int8 [-128, 127] per tensor, half-up rounding. Weights
 * of Conv / ConvTranspose / Gemm: symmetric per output channel, power of two, rounding
 * half away from zero. Bias: passive per channel, [-2^30, 2^30]. */
#include "../quant_internal.h"

static const char *const nxp_types[] = {
    "Conv", "ConvTranspose", "Gemm", "Relu", "PRelu", "Clip", "Pad", "Resize", "MaxPool",
    "AveragePool", "GlobalMaxPool", "GlobalAveragePool", "Mul", "Add", "Max", "Sub", "Div",
    "LeakyRelu", "Concat", "Sigmoid", "Slice", NULL};
static const char *const nxp_pc[] = {"Conv", "ConvTranspose", "Gemm", NULL};

const pq_platform pq__platform_nxp_int8 = {
    .name = "nxp_int8",
    .id = PQ_PLATFORM_NXP_INT8,
    .flags = PQ__PLAT_QUANTIZED | PQ__PLAT_FUSE_ACTIVATION | PQ__PLAT_FUSE_PASSIVE,
    .act_bits = 8, .act_min = -128, .act_max = 127,
    .act_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR |
                  PQ_QPOLICY_POWER_OF_2,
    .act_rounding = PQ_ROUND_HALF_UP, .act_observer = "percentile",
    .w_bits = 8, .w_min = -128, .w_max = 127,
    .w_policy = PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR |
                PQ_QPOLICY_POWER_OF_2,
    .w_rounding = PQ_ROUND_HALF_FAR_FROM_ZERO, .w_per_channel_types = nxp_pc,
    .bias_mode = PQ__BIAS_PASSIVE, .bias_bits = 31,
    .bias_min = -(1LL << 30), .bias_max = 1LL << 30,
    .quant_types = nxp_types,
    .concat_align = PQ_ALIGN_MAX, .elementwise_align = PQ_ALIGN_MAX,
};

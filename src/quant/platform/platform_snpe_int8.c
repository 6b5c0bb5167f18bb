/* platform_snpe_int8.c - Qualcomm SNPE int8 as this project specifies it: power-of-two
 * symmetric int8 [-128, 127] per tensor for activations and weights (weights per tensor,
 * as SNPE's default), half-even; bias passive int32 per tensor. Concat and elementwise
 * inputs share one scale. */
#include "../quant_internal.h"

static const char *const snpe_types[] = {
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Relu", "PRelu", "Clip", "Resize", "MaxPool",
    "AveragePool", "GlobalAveragePool", "Mul", "Add", "Sub", "LeakyRelu", "Concat",
    "Sigmoid", "Softmax", "Reshape", "Transpose", "Flatten", NULL};

const pq_platform pq__platform_snpe_int8 = {
    .name = "snpe_int8",
    .id = PQ_PLATFORM_SNPE_INT8,
    .flags = PQ__PLAT_QUANTIZED | PQ__PLAT_FUSE_ACTIVATION | PQ__PLAT_FUSE_PASSIVE,
    .act_bits = 8, .act_min = -128, .act_max = 127,
    .act_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR |
                  PQ_QPOLICY_POWER_OF_2,
    .act_rounding = PQ_ROUND_HALF_EVEN, .act_observer = "minmax",
    .w_bits = 8, .w_min = -128, .w_max = 127,
    .w_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR |
                PQ_QPOLICY_POWER_OF_2,
    .w_rounding = PQ_ROUND_HALF_EVEN, .w_per_channel_types = NULL,
    .bias_mode = PQ__BIAS_PASSIVE, .bias_bits = 32,
    .bias_min = -2147483647LL - 1, .bias_max = 2147483647LL,
    .quant_types = snpe_types,
    .concat_align = PQ_ALIGN_MAX, .elementwise_align = PQ_ALIGN_MAX,
};

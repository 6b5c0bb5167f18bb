/* platform_academic_int8.c - the academic setting of PTQ papers: every quantized tensor,
 * weights included, asymmetric uint8 [0, 255] per tensor, half-even; bias in float. No
 * fusion of activations or passive ops (each op quantizes its own output). */
#include "../quant_internal.h"

static const char *const acad_types[] = {
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Relu", "Clip", "Add", "Mul", "Concat",
    "MaxPool", "AveragePool", "GlobalAveragePool", "Sigmoid", "LeakyRelu", "PRelu", NULL};

const pq_platform pq__platform_academic_int8 = {
    .name = "academic_int8",
    .id = PQ_PLATFORM_ACADEMIC_INT8,
    .flags = PQ__PLAT_QUANTIZED,
    .act_bits = 8, .act_min = 0, .act_max = 255,
    .act_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_ASYMMETRIC | PQ_QPOLICY_LINEAR,
    .act_rounding = PQ_ROUND_HALF_EVEN, .act_observer = "minmax",
    .w_bits = 8, .w_min = 0, .w_max = 255,
    .w_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_ASYMMETRIC | PQ_QPOLICY_LINEAR,
    .w_rounding = PQ_ROUND_HALF_EVEN, .w_per_channel_types = NULL,
    .bias_mode = PQ__BIAS_FP32,
    .quant_types = acad_types,
    .concat_align = PQ_ALIGN_NONE, .elementwise_align = PQ_ALIGN_NONE,
};

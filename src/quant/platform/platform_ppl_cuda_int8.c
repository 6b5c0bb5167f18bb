/* platform_ppl_cuda_int8.c - PPL CUDA int8 (PPQ's PPLCUDAQuantizer). Activations:
 * symmetric int8 [-128, 127] per tensor (PPQ's scale amax / 127.5), half-even. Weights of
 * Conv / ConvTranspose / Gemm: symmetric per output channel [-128, 127]. Bias: int32
 * [-(2^31 - 1), 2^31 - 1], passive per channel. Concat inputs share one scale. */
#include "../quant_internal.h"

static const char *const ppl_types[] = {
    "Conv", "Relu", "PRelu", "Clip", "Gemm", "Resize", "MaxPool", "AveragePool",
    "GlobalMaxPool", "GlobalAveragePool", "Mul", "Add", "LeakyRelu", "Split", "Concat",
    "Transpose", "Slice", "Reshape", "Flatten", "Sigmoid", "ReduceMean", NULL};
static const char *const ppl_pc[] = {"Conv", "ConvTranspose", "Gemm", NULL};

const pq_platform pq__platform_ppl_cuda_int8 = {
    .name = "ppl_cuda_int8",
    .id = PQ_PLATFORM_PPL_CUDA_INT8,
    .flags = PQ__PLAT_QUANTIZED | PQ__PLAT_FUSE_ACTIVATION | PQ__PLAT_FUSE_PASSIVE,
    .act_bits = 8, .act_min = -128, .act_max = 127,
    .act_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR,
    .act_rounding = PQ_ROUND_HALF_EVEN, .act_observer = "percentile",
    .w_bits = 8, .w_min = -128, .w_max = 127,
    .w_policy = PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR,
    .w_rounding = PQ_ROUND_HALF_EVEN, .w_per_channel_types = ppl_pc,
    .bias_mode = PQ__BIAS_PASSIVE, .bias_bits = 32,
    .bias_min = -2147483647LL, .bias_max = 2147483647LL,
    .quant_types = ppl_types,
    .concat_align = PQ_ALIGN_MAX, .elementwise_align = PQ_ALIGN_NONE,
};

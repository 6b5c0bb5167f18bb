/* platform_trt_int8.c - TensorRT int8 (explicit QDQ / calibration cache).
 * Activations: symmetric int8 [-127, 127] per tensor (TensorRT's own convention, scale
 * amax / 127), half-even. Weights of Conv / ConvTranspose / Gemm / MatMul: symmetric int8
 * [-127, 127] per output channel (Conv axis 0, ConvTranspose axis 1, Gemm 0 with transB
 * else 1, MatMul the last axis), min-max. Bias stays float (the engine folds it). Op set:
 * PPQ's TensorRTQuantizer. */
#include "../quant_internal.h"

static const char *const trt_types[] = {
    "Conv", "ConvTranspose", "Gemm", "Relu", "PRelu", "Clip", "Pad", "Resize", "MaxPool",
    "AveragePool", "GlobalMaxPool", "GlobalAveragePool", "Softmax", "Mul", "Add", "Max",
    "Sub", "Div", "Reshape", "LeakyRelu", "Concat", "Sigmoid", "ReduceMean", "Transpose",
    "Slice", "Flatten", "HardSwish", "HardSigmoid", "MatMul", "LayerNormalization", "Gelu",
    NULL};
static const char *const trt_pc[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", NULL};

const pq_platform pq__platform_trt_int8 = {
    .name = "trt_int8",
    .id = PQ_PLATFORM_TRT_INT8,
    .flags = PQ__PLAT_QUANTIZED | PQ__PLAT_FUSE_ACTIVATION | PQ__PLAT_FUSE_PASSIVE,
    .act_bits = 8, .act_min = -127, .act_max = 127,
    .act_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR,
    .act_rounding = PQ_ROUND_HALF_EVEN, .act_observer = "percentile",
    .w_bits = 8, .w_min = -127, .w_max = 127,
    .w_policy = PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR,
    .w_rounding = PQ_ROUND_HALF_EVEN, .w_per_channel_types = trt_pc,
    .bias_mode = PQ__BIAS_FP32,
    .quant_types = trt_types,
    .concat_align = PQ_ALIGN_MAX, .elementwise_align = PQ_ALIGN_NONE,
};

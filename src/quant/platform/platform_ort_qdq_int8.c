/* platform_ort_qdq_int8.c - ONNX Runtime QDQ int8 (onnxruntime.quantization's defaults
 * with per-channel weights). Activations: asymmetric uint8 [0, 255] per tensor, half-even
 * (QuantizeLinear). Weights of Conv / ConvTranspose / Gemm / MatMul: symmetric int8
 * [-127, 127] per output channel. Bias of Conv / ConvTranspose / Gemm: int32, passive,
 * scale = s_input * s_weight (per channel), offset 0 (what ORT's QLinearConv needs).
 * Op set: PPQ's ORT quantizer plus the passive ops, which share their input's scale. */
#include "../quant_internal.h"

static const char *const ort_types[] = {
    "Conv", "ConvTranspose", "GlobalAveragePool", "AveragePool", "Relu", "Add", "Mul", "Clip",
    "Sigmoid", "MatMul", "Gemm", "Concat", "LeakyRelu",
    /* passive ops */
    "MaxPool", "GlobalMaxPool", "Reshape", "Flatten", "Identity", "Dropout", "Slice", "Pad",
    "Split", "Transpose", "Squeeze", "Unsqueeze", "Resize", NULL};
static const char *const ort_pc[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", NULL};

const pq_platform pq__platform_ort_qdq_int8 = {
    .name = "ort_qdq_int8",
    .id = PQ_PLATFORM_ORT_QDQ_INT8,
    .flags = PQ__PLAT_QUANTIZED | PQ__PLAT_FUSE_ACTIVATION | PQ__PLAT_FUSE_PASSIVE,
    .act_bits = 8, .act_min = 0, .act_max = 255,
    .act_policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_ASYMMETRIC | PQ_QPOLICY_LINEAR,
    .act_rounding = PQ_ROUND_HALF_EVEN, .act_observer = "percentile",
    .w_bits = 8, .w_min = -127, .w_max = 127,
    .w_policy = PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR,
    .w_rounding = PQ_ROUND_HALF_EVEN, .w_per_channel_types = ort_pc,
    .bias_mode = PQ__BIAS_PASSIVE, .bias_bits = 32,
    .bias_min = -2147483647LL - 1, .bias_max = 2147483647LL,
    .quant_types = ort_types,
    .concat_align = PQ_ALIGN_NONE, .elementwise_align = PQ_ALIGN_NONE,
};

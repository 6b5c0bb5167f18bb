/* quant_internal.h - helpers shared inside src/quant (never included from other folders). */
#ifndef PQ_QUANT_INTERNAL_H
#define PQ_QUANT_INTERNAL_H

#include "pq_quant.h"

#include <stdio.h>
#include <string.h>

#define PQ__QPRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define PQ__QSIMD PQ__QPRAGMA(omp simd)
#define PQ__QSIMD_OR(v) PQ__QPRAGMA(omp simd reduction(| : v))
#else
#define PQ__QSIMD
#define PQ__QSIMD_OR(v)
#endif
/* Tensors below this many elements are fake-quantized on one thread. */
#define PQ__QPARALLEL_MIN ((int64_t)1 << 16)

/* Bias handling of a platform. */
typedef enum pq__bias_mode {
    PQ__BIAS_FP32 = 0,     /* bias stays float (TensorRT: the engine folds it) */
    PQ__BIAS_PASSIVE       /* int32-like, scale = s_input * s_weight, PASSIVE_INIT */
} pq__bias_mode;

/* Platform flags. */
enum {
    PQ__PLAT_FUSE_PASSIVE = 1u << 0,   /* passive ops (Reshape, MaxPool, ...) share input 0's TQC */
    PQ__PLAT_FUSE_ACTIVATION = 1u << 1,/* Conv+Relu pairs share one quantization point */
    PQ__PLAT_INPUT_ONLY = 1u << 2,     /* only inputs are quantized (ncnn) */
    PQ__PLAT_QUANTIZED = 1u << 3       /* a quantized platform (not fp32) */
};

/* One platform: data plus an optional hook for the rules that are not data. Each platform
 * file defines one `const pq_platform pq__platform_<name>`; platform.c lists them. */
struct pq_platform {
    const char *name;
    int id;
    unsigned flags;
    /* activations (and parameters that are not weights or biases) */
    int act_bits;
    int64_t act_min, act_max;
    unsigned act_policy;
    pq_rounding act_rounding;
    const char *act_observer;
    /* weights of Conv / ConvTranspose / Gemm / MatMul (input 1 when a parameter) */
    int w_bits;
    int64_t w_min, w_max;
    unsigned w_policy;            /* PER_CHANNEL or PER_TENSOR plus the rest */
    pq_rounding w_rounding;
    const char *const *w_per_channel_types; /* op types whose weights are per-channel */
    /* bias */
    pq__bias_mode bias_mode;
    int bias_bits;
    int64_t bias_min, bias_max;
    const char *const *quant_types;      /* NULL-terminated */
    pq_align_mode concat_align, elementwise_align;
    /* Optional: adjusts an op's config after the defaults were applied. */
    pq_status (*customize)(const pq_platform *p, pq_op *op, pq_err *err);
};

/* Whether type is in the NULL-terminated list. */
int pq__type_in(const char *type, const char *const *list);
/* Whether op is a computing op (Conv, ConvTranspose, Gemm, MatMul, ...). */
int pq__is_computing(const pq_op *op);
/* Whether op passes values through unchanged in range (Reshape, MaxPool, ...). */
int pq__is_passive_op(const pq_op *op);

/* How an input slot of an op carries data. */
typedef enum pq__slot_kind {
    PQ__SLOT_VALUE = 0,   /* numeric data that may be quantized */
    PQ__SLOT_SOI,         /* a shape or an index: never quantized; shape computations end here */
    PQ__SLOT_PASSIVE,     /* a constant following input 0's quantization (Clip min/max, Pad value) */
    PQ__SLOT_FP32         /* numeric but kept in float (BN statistics, LayerNorm gamma/beta) */
} pq__slot_kind;
pq__slot_kind pq__input_kind(const pq_op *op, int idx);
/* Whether output idx of op is a shape-or-index value (Shape, Size, NonZero, TopK indices). */
int pq__output_is_soi(const pq_op *op, int idx);
/* Whether v is produced by a shape-or-index output. */
int pq__var_is_soi(const pq_var *v);

/* Weight axis of the output channels of op's input 1, or -1 when it has no per-channel
 * layout (rank of the weight from the variable). */
int pq__weight_channel_axis(const pq_op *op);

#endif /* PQ_QUANT_INTERNAL_H */

/* pq_quant.h - the quantization model: quantization functions, target platforms (one
 * quantizer per platform), dispatchers, quantization simulation on the executor, and the
 * data-free quantization passes (simplify, parameter quantization, passive parameters,
 * alignment).
 *
 * The TQC types live in pq_ir.h (pq_tqc, pq_op_qconfig). The arithmetic here is the one of
 * the ONNX QuantizeLinear / DequantizeLinear kernels (src/exec/ops/quant.c):
 *
 *     q = clamp(round(x / scale) + offset, quant_min, quant_max)     x / scale in float32
 *     y = (q - offset) * scale                                       in float32
 *
 * so that, for the half-even rounding, simulation equals what ONNX Runtime computes on the
 * exported QDQ model. docs/quantization.md describes the arithmetic, docs/platforms.md the
 * platforms.
 */
#ifndef PQ_QUANT_H
#define PQ_QUANT_H

#include "pq_core.h"
#include "pq_exec.h"
#include "pq_ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ quantization functions */

/* Rounds v to an integer with the given policy (exact for every float; |v| >= 2^23 is an
 * integer already). HALF_EVEN is the ONNX QuantizeLinear rounding. */
float pq_quant_round(float v, pq_rounding r);

/* Fake-quantizes x into y (numel elements; y may equal x): per-tensor when the TQC has one
 * channel, else per-channel along q->channel_axis of the shape (rank, dims), whose length
 * must equal q->n_channels. Uses the TQC's own scale/offset (call pq_tqc_resolve first for
 * OVERLAPPED ones). Large tensors are split over OpenMP threads.
 * Returns PQ_ERR_NUMERIC when x holds a NaN (y is then undefined), PQ_ERR_INVALID for a
 * channel count or axis that does not fit the shape, or a non-positive / non-finite scale. */
pq_status pq_fake_quant(const pq_tqc *q, int rank, const int64_t *dims, const float *x, float *y,
                        pq_err *err);
/* Fake-quantizes a float32 tensor in place (same rules). */
pq_status pq_fake_quant_tensor(const pq_tqc *q, pq_tensor *t, pq_err *err);

/* Quantizes x to integers (as QuantizeLinear): out[i] = clamp(round(x/s)+o, min, max) as
 * int32 (int64 values clamp to the int32 range). Same layout rules and errors. */
pq_status pq_quant_to_int(const pq_tqc *q, int rank, const int64_t *dims, const float *x,
                          int32_t *out, pq_err *err);

/* Sets scale and offset of q (its n_channels entries) from per-channel ranges
 * [mins[c], maxs[c]] by q->policy, quant_min/max (PPQ's minmax_to_scale_offset):
 *   the range is first widened to contain 0;
 *   symmetric:  scale = max(|min|, |max|) / ((quant_max - quant_min) / 2), offset 0
 *               (amax / 127 for [-127, 127], amax / 127.5 for [-128, 127]);
 *   asymmetric: scale = (max - min) / (quant_max - quant_min),
 *               offset = clamp(round_half_even(quant_min - min / scale), quant_min, quant_max)
 *               (in double, as the observers do);
 *   scale is at least 1e-8 (PPQ's and the observers' minimum: a zero range maps to the
 *   zero point); power-of-2: scale rounded up to the next power of two (offset after).
 * Allocates q's arrays when n differs from q->n_channels. PQ_ERR_NUMERIC for a NaN bound. */
pq_status pq_tqc_set_range(pq_tqc *q, int64_t n, const float *mins, const float *maxs,
                           pq_err *err);
/* The real range [lo, hi] = [(quant_min - offset) * scale, (quant_max - offset) * scale]
 * that channel c of q represents (q resolved through its dominators). */
void pq_tqc_range(const pq_tqc *q, int64_t c, float *lo, float *hi);

/* Min and max of a float tensor per channel along axis (axis -1: one channel, the whole
 * tensor). mins/maxs hold dims[axis] (or 1) entries. PQ_ERR_NUMERIC on a NaN. */
pq_status pq_quant_minmax(const pq_tensor *t, int axis, float *mins, float *maxs, pq_err *err);

/* Whether a TQC takes part in simulation: ACTIVATED, BAKED, PASSIVE, PASSIVE_BAKED, or
 * OVERLAPPED with an active dominator. */
int pq_tqc_is_active(const pq_tqc *q);
/* Whether a TQC means "quantized" at all (not FP32): active, INITIAL, PASSIVE_INIT or
 * OVERLAPPED. */
int pq_tqc_is_quantized(const pq_tqc *q);
/* Copies the policy fields (policy, rounding, bits, range, axis, observer, visibility) of
 * src into dst; not scale/offset, state or dominator. */
void pq_tqc_copy_policy(pq_tqc *dst, const pq_tqc *src);
/* "ACTIVATED", "per_channel|symmetric|linear", "half_even", ... (static strings; the policy
 * text is written into buf). */
const char *pq_tqc_state_name(pq_tqc_state s);
const char *pq_rounding_name(pq_rounding r);
const char *pq_qpolicy_str(unsigned policy, char *buf, size_t cap);

/* ------------------------------------------------------------------ platforms */

/* Dispatch targets (op->platform). 0 = not dispatched. FP32 and SOI (shape-or-index
 * computations) are never quantized. The quantized platforms follow. */
typedef enum pq_platform_id {
    PQ_PLATFORM_UNSET = 0,
    PQ_PLATFORM_FP32 = 1,
    PQ_PLATFORM_SOI = 2,
    PQ_PLATFORM_TRT_INT8 = 3,
    PQ_PLATFORM_ORT_QDQ_INT8 = 4,
    PQ_PLATFORM_PPL_CUDA_INT8 = 5,
    PQ_PLATFORM_ACADEMIC_INT8 = 6,
    PQ_PLATFORM_DSP_INT8 = 7,
    PQ_PLATFORM_NXP_INT8 = 8,
    PQ_PLATFORM_SNPE_INT8 = 9,
    PQ_PLATFORM_NCNN_INT8 = 10,
    PQ_PLATFORM_OPENVINO_INT8 = 11,
    PQ_PLATFORM_COUNT
} pq_platform_id;

/* How the inputs of an operation share one scale after calibration (pq_quant_align). */
typedef enum pq_align_mode {
    PQ_ALIGN_NONE = 0,
    PQ_ALIGN_MAX,     /* the union of the input ranges */
    PQ_ALIGN_MIN,     /* the intersection */
    PQ_ALIGN_AVERAGE  /* mean of the lower bounds .. mean of the upper bounds */
} pq_align_mode;

typedef struct pq_platform pq_platform; /* opaque; one file per platform */

/* Lookup by name ("trt_int8", ...) or id; NULL when unknown. */
const pq_platform *pq_platform_find(const char *name);
const pq_platform *pq_platform_by_id(int id);
/* All platforms (including fp32), in id order; *n gets the count. */
const pq_platform *const *pq_platform_list(int *n);
const char *pq_platform_name(const pq_platform *p);
int pq_platform_id_of(const pq_platform *p);
/* "trt_int8", "fp32", "soi", "unset" for an op->platform value. */
const char *pq_platform_id_name(int id);
/* Whether the platform quantizes operations of this type by default (its op set). */
int pq_platform_quantizes_type(const pq_platform *p, const char *op_type);
/* The alignment modes the platform asks for (Concat inputs; Add/Sub/Max... inputs). */
pq_align_mode pq_platform_concat_alignment(const pq_platform *p);
pq_align_mode pq_platform_elementwise_alignment(const pq_platform *p);

/* The quantizer: gives every operation dispatched to p (op->platform == p's id) a qconfig
 * with one TQC per input and output, policies as the platform says (docs/platforms.md).
 * Ops on other platforms lose any qconfig. *n_quantized (may be NULL) gets the number of
 * operations that have at least one quantized TQC. Returns PQ_ERR_INVALID naming an op
 * dispatched to another quantized platform, or for the fp32 platform with a quantized op. */
pq_status pq_platform_quantize(const pq_platform *p, pq_graph *g, int64_t *n_quantized,
                               pq_err *err);
/* The same for one operation (op->platform is set to p's id first). */
pq_status pq_platform_quantize_op(const pq_platform *p, pq_op *op, pq_err *err);

/* ------------------------------------------------------------------ dispatchers */

/* Overrides: op name -> platform id (PQ_PLATFORM_FP32 or the target's id). */
typedef struct pq_dispatch_override {
    const char *op_name;
    int platform;
} pq_dispatch_override;

/* Sets op->platform for every operation of g: the target p's id or PQ_PLATFORM_FP32 or
 * PQ_PLATFORM_SOI, by the dispatcher `name`:
 *   "pursus"       PPQ's Perseus: ops value-connected to a computing op (Conv, Gemm, MatMul,
 *                  ...) that are not part of a shape-or-index computation and whose type the
 *                  platform quantizes;
 *   "conservative" computing ops of a quantized type and, downstream of them, ops of a
 *                  quantized type reached without crossing an unquantized one; activations
 *                  follow their producer;
 *   "aggressive"   every op value-connected to a computing op, outside shape computations,
 *                  whatever its type;
 *   "allin"        every op outside shape computations.
 * Shape-or-index subgraphs (Shape -> Gather -> Concat -> Reshape's shape input, ...) are
 * PQ_PLATFORM_SOI under every dispatcher; an op both value-connected and shape-connected is
 * FP32. Overrides are applied last; an unknown op name is PQ_ERR_INVALID (graph unchanged).
 * Unknown dispatcher: PQ_ERR_INVALID listing the known ones. */
pq_status pq_dispatch(pq_graph *g, const char *name, const pq_platform *p,
                      const pq_dispatch_override *ovr, int n_ovr, pq_err *err);
/* NULL-terminated list of dispatcher names. */
const char *const *pq_dispatcher_names(void);

/* ------------------------------------------------------------------ data-free passes */

/* Counts of what a pass changed. */
typedef struct pq_qpass_stats {
    int64_t changed;   /* TQCs changed (overlapped, activated, aligned, ...) */
    int64_t skipped;   /* candidates left as they were (not ready, mismatching policy) */
} pq_qpass_stats;

/* Removes redundant quantization points (PPQ's QuantizeFusionPass + QuantizeSimplifyPass):
 *  - fused pairs marked by the fusion passes (extension attribute "fused_output" on the
 *    producer, "fusion" = "conv_activation"): the producer's output and the activation's
 *    input become OVERLAPPED by the activation's output; other fusions ("skip_layernorm")
 *    make the internal tensor FP32 on both sides;
 *  - on platforms that fuse passive ops (Reshape, Transpose, Flatten, MaxPool, Slice, ...,
 *    and Concat when the platform aligns Concat inputs): the output becomes OVERLAPPED by
 *    input 0;
 *  - an input TQC equal in scheme to the producer's output TQC of the same variable
 *    becomes OVERLAPPED by it.
 * Only INITIAL TQCs are changed. stats may be NULL. */
pq_status pq_quant_simplify(pq_graph *g, pq_qpass_stats *stats, pq_err *err);

/* Parameter quantization: every INITIAL TQC whose variable is a parameter gets min-max
 * scale/offset (per-channel on its axis or per-tensor, as its policy says) and becomes
 * ACTIVATED. PQ_ERR_NUMERIC naming the op and variable for NaN weights. */
pq_status pq_quant_parameters(pq_graph *g, pq_qpass_stats *stats, pq_err *err);

/* Passive parameters: PASSIVE_INIT TQCs whose sources are activated become PASSIVE:
 *  bias (Conv/ConvTranspose/Gemm input 2): scale = s_input * s_weight (per channel when the
 *  weight is per-channel), offset 0; Clip min/max and Pad's constant value: the resolved
 *  scale/offset/policy of input 0. Those whose sources are not ready yet are counted as
 *  skipped and left PASSIVE_INIT. */
pq_status pq_quant_passive_parameters(pq_graph *g, pq_qpass_stats *stats, pq_err *err);

/* Alignment: for each operation on a quantized platform that asks for it (Concat: concat
 * mode; Add/Sub/Max/Min/Sum/Mean: elementwise mode; modes from the platform unless the
 * override is not PQ_ALIGN_NONE), the ranges of the activated input TQCs (resolved to
 * their roots) are combined by the mode and every root gets the scale/offset of the
 * combined range; a Concat output TQC that is ACTIVATED gets it too. Runs after
 * calibration on whatever scales the TQCs hold; TQCs not activated are skipped. */
pq_status pq_quant_align(pq_graph *g, pq_align_mode concat_override,
                         pq_align_mode elementwise_override, pq_qpass_stats *stats, pq_err *err);

/* ------------------------------------------------------------------ baking and restore */

/* Holds the float values of baked parameters and the TQC states of a dequantized graph
 * (PPQ's store / restore / dequantize state switching). Valid for one graph whose
 * structure does not change while it is in use. */
typedef struct pq_qstore pq_qstore;

pq_status pq_qstore_create(pq_qstore **out, pq_err *err);
void pq_qstore_destroy(pq_qstore **s);

/* Bakes parameters: every ACTIVATED / PASSIVE TQC on a parameter variable gets the
 * variable's value replaced by its fake-quantized copy (computed once), the float value
 * kept in the store, and the state BAKED / PASSIVE_BAKED. A parameter read by several
 * TQCs is baked by the first. *n_baked (may be NULL) gets the count. */
pq_status pq_quant_bake(pq_graph *g, pq_qstore *s, int64_t *n_baked, pq_err *err);
/* Dequantize: the graph computes in float: baked parameters get their float values back,
 * every TQC's state is saved in the store and set to FP32. Refused when already
 * dequantized (PQ_ERR_INVALID). */
pq_status pq_quant_dequantize(pq_graph *g, pq_qstore *s, pq_err *err);
/* Restore after pq_quant_dequantize: the saved states and the baked values come back.
 * PQ_ERR_INVALID when the graph is not dequantized. */
pq_status pq_quant_restore(pq_graph *g, pq_qstore *s, pq_err *err);
/* Unbake: baked parameters get their float values back for good and BAKED / PASSIVE_BAKED
 * TQCs become ACTIVATED / PASSIVE again; the store is emptied. */
pq_status pq_quant_unbake(pq_graph *g, pq_qstore *s, pq_err *err);

/* ------------------------------------------------------------------ simulation */

/* Quantization simulation: the executor's float kernels plus fake quantization of every
 * active TQC. The before-hook replaces each input with an active TQC by a fake-quantized
 * copy (BAKED inputs are already quantized; an OVERLAPPED input whose root is the
 * producer's output TQC of the same variable was quantized when it was produced); the
 * after-hook fake-quantizes outputs in place (OVERLAPPED outputs are left to their
 * dominator). Non-float tensors are never touched. */
typedef struct pq_qsim pq_qsim;

typedef struct pq_qsim_stats {
    int64_t tensors;      /* tensors fake-quantized */
    int64_t elements;     /* elements fake-quantized */
} pq_qsim_stats;

/* Creates a simulator for the graph the executor runs and installs its hooks on ex
 * (replacing any). The graph and executor are borrowed. */
pq_status pq_qsim_create(pq_executor *ex, pq_qsim **out, pq_err *err);
/* Removes the hooks and frees. Accepts NULL. */
void pq_qsim_destroy(pq_qsim **s);
/* Turns simulation off (float run) or on without removing the hooks. */
void pq_qsim_enable(pq_qsim *s, int on);
/* What the hooks did since creation. */
pq_qsim_stats pq_qsim_get_stats(const pq_qsim *s);
/* The hooks themselves (user data: a pq_qsim *), for callers that chain hooks. */
pq_status pq_qsim_before(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                         pq_tensor **outputs, void *user, pq_err *err);
pq_status pq_qsim_after(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                        pq_tensor **outputs, void *user, pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_QUANT_H */

/* pq_passes.h - graph formatting and fusion passes (no quantization knowledge).
 *
 * Every pass rewrites the graph in place and only applies a rewrite it can prove keeps the
 * graph's outputs the same (up to float rounding): a candidate that does not meet every
 * condition is left unchanged and counted as "refused" with a reason. Each pass fills a
 * pq_pass_result saying what it changed.
 *
 * Passes run by name in a configurable order through pq_passes_run; "format" and "fuse"
 * are groups:
 *
 *   format = fold_constants, remove_identity, normalize, split_shared_params, remove_isolated
 *   fuse   = fuse_conv_bias, fuse_bn, fuse_matmul_add, fuse_layernorm, fuse_gelu,
 *            fuse_skip_layernorm, fuse_activation
 *
 * plus truncate=VAR (cut the graph after VAR and make it an output). docs/passes.md
 * describes each pass, its conditions and the numerical error it may introduce.
 *
 * Contract on failure: passes only return errors for allocation failures, invalid arguments
 * (checked before anything changes) and internal inconsistencies; a rewrite that is not
 * provably equivalent is not an error. After an allocation failure the graph is still
 * structurally valid (every edge consistent) but a rewrite may be half-applied, so its
 * numbers are not to be trusted: discard it (or run the passes on a pq_graph_copy).
 */
#ifndef PQ_PASSES_H
#define PQ_PASSES_H

#include "pq_core.h"
#include "pq_ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ extension attributes */

/* Keys of the extension attributes (pq_op_set_ext_*) the fusion passes set; never exported.
 *   PQ_EXT_FUSION      string on every member op: "conv_activation" or "skip_layernorm".
 *   PQ_EXT_FUSED_WITH  string: the name of the other member op.
 *   PQ_EXT_FUSED_OUTPUT int 1 on the producer (Conv/Gemm, Add): its output 0 is internal to
 *                      the fused group, so the quantizer puts no quantization point there. */
#define PQ_EXT_FUSION "fusion"
#define PQ_EXT_FUSED_WITH "fused_with"
#define PQ_EXT_FUSED_OUTPUT "fused_output"

/* ------------------------------------------------------------------ results and report */

/* What one pass did. */
typedef struct pq_pass_result {
    char name[48];          /* pass name ("fuse_bn") */
    int64_t changes;        /* rewrites applied (folded ops, fused groups, removed ops, ...) */
    int64_t refused;        /* candidates left unchanged because a condition failed */
    int64_t ops_before, ops_after;
    int64_t vars_before, vars_after;
    char detail[512];       /* what changed, e.g. "20 BatchNormalization folded (Conv 20)" */
    char first_refusal[256];/* why the first refused candidate was kept, "" when none */
    double seconds;         /* wall time of the pass */
} pq_pass_result;

/* The results of a pq_passes_run, in run order. Zero-initialise; free with
 * pq_pass_report_free. */
typedef struct pq_pass_report {
    pq_pass_result *items;
    int n, cap;
} pq_pass_report;

/* Frees the list and zeroes r. Accepts NULL. */
void pq_pass_report_free(pq_pass_report *r);
/* Formats the report as text, one line per pass plus its refusal reason when any:
 *   "fuse_bn               20 changed    0 refused  ops 187 -> 167  20 BatchNormalization..."
 * *out is pq_malloc'd (caller frees with pq_free). Returns PQ_ERR_NOMEM. */
pq_status pq_pass_report_format(const pq_pass_report *r, char **out, pq_err *err);
/* The result of the pass called `name` in r (the last run of it), or NULL. */
const pq_pass_result *pq_pass_report_find(const pq_pass_report *r, const char *name);

/* ------------------------------------------------------------------ pipeline */

/* Runs the passes named in `spec`, a comma-separated list of pass names, group names
 * ("format", "fuse") and "truncate=VAR", in that order. After each pass the graph is
 * topologically sorted and validated (a failed validation is PQ_ERR_INTERNAL naming the
 * pass). report (may be NULL) gets one result per pass run, appended. Returns
 * PQ_ERR_INVALID for an unknown name (listing the known ones) before running anything, or
 * the first pass error (the message starts with the pass name). */
pq_status pq_passes_run(pq_graph *g, const char *spec, pq_pass_report *report, pq_err *err);

/* The known pass names (not groups), NULL-terminated, in the order "format,fuse" runs them. */
const char *const *pq_passes_names(void);

/* Fixes the shape of graph input `name` (e.g. a symbolic batch dimension) so that the
 * passes can treat the model as static; constant folding of shape subgraphs needs static
 * input shapes. Declared dimensions must agree (a fixed dim may not change; a symbolic or
 * unknown one may). Returns PQ_ERR_INVALID naming the input and the mismatch. */
pq_status pq_passes_set_input_shape(pq_graph *g, const char *name, int rank,
                                    const int64_t *dims, pq_err *err);

/* ------------------------------------------------------------------ the passes
 * Each takes the graph and a result to fill (res may be NULL). */

/* Constant nodes become parameters; an op whose inputs are all parameters is evaluated once
 * with the executor and its outputs become parameters; Shape/Size of a variable whose shape
 * is statically known (static graph inputs, shape-preserving ops) become parameters, so the
 * shape subgraphs of static-shape models disappear. Ops whose outputs are graph outputs,
 * non-deterministic ops, ops with subgraphs, ops the executor does not support and results
 * over 256 MiB are kept. */
pq_status pq_pass_fold_constants(pq_graph *g, pq_pass_result *res, pq_err *err);
/* Identity and inference-mode Dropout removed (consumers read the input). Kept when the
 * removal would rename a graph output or a Dropout is in training mode / its mask is used. */
pq_status pq_pass_remove_identity(pq_graph *g, pq_pass_result *res, pq_err *err);
/* One form for opset-dependent operators: upgrades an opset 7-12 graph to opset 13 when
 * that is exact for every op in it (Clip min/max, Squeeze/Unsqueeze/ReduceSum axes, Split
 * split, Dropout ratio become inputs); Relu6 written as Min/Max becomes Clip, Max(x, 0) and
 * Clip(x, 0, +inf) become Relu; negative axes of Squeeze/Unsqueeze/Reduce* become
 * non-negative when the input rank is known. */
pq_status pq_pass_normalize(pq_graph *g, pq_pass_result *res, pq_err *err);
/* Each parameter read by several input slots is copied so that each has one reader. */
pq_status pq_pass_split_shared_params(pq_graph *g, pq_pass_result *res, pq_err *err);
/* Operations whose outputs reach no graph output are removed, then variables with no
 * producer and no reader that are not graph inputs/outputs. */
pq_status pq_pass_remove_isolated(pq_graph *g, pq_pass_result *res, pq_err *err);
/* Removes every operation that depends on variable `var` (its readers, transitively), makes
 * var a graph output when mark_output is set, then removes what became isolated. Returns
 * PQ_ERR_INVALID (graph unchanged) when var does not exist, is a parameter, or the cut would
 * leave the graph without outputs. */
pq_status pq_pass_truncate(pq_graph *g, const char *var, int mark_output, pq_pass_result *res,
                           pq_err *err);

/* Conv / ConvTranspose / Gemm / MatMul (2-D) followed by BatchNormalization in inference
 * mode: the BN is folded into the weights and bias (MatMul: into the weights plus an Add of
 * the bias). Refused when the BN input has another reader or is a graph output, when any
 * weight, bias or BN statistic is not a parameter, or shapes do not match. */
pq_status pq_pass_fuse_bn(pq_graph *g, pq_pass_result *res, pq_err *err);
/* Conv / ConvTranspose followed by Add (or Sub) of a constant that broadcasts as one value
 * per output channel: the constant is folded into the bias. */
pq_status pq_pass_fuse_conv_bias(pq_graph *g, pq_pass_result *res, pq_err *err);
/* MatMul + Add -> Gemm only when exact: A has rank 2, B has rank 2, the added value is a
 * parameter that broadcasts to the [M, N] output without changing its shape. */
pq_status pq_pass_fuse_matmul_add(pq_graph *g, pq_pass_result *res, pq_err *err);
/* The decomposed LayerNorm chain ReduceMean, Sub, Pow(2) (or Mul(d, d)), ReduceMean, Add(eps),
 * Sqrt, Div[, Mul(scale)[, Add(bias)]] over trailing axes -> LayerNormalization (domain "",
 * the graph's opset). */
pq_status pq_pass_fuse_layernorm(pq_graph *g, pq_pass_result *res, pq_err *err);
/* The decomposed GELU, x * 0.5 * (1 + Erf(x / sqrt(2))) in any association of the products,
 * and the tanh approximation x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 x^3))) -> Gelu
 * (domain "", approximate "none" / "tanh"). */
pq_status pq_pass_fuse_gelu(pq_graph *g, pq_pass_result *res, pq_err *err);
/* Add of two activations whose only reader is a LayerNormalization: both ops are marked as
 * one skip-layernorm group (extension attributes; no such ONNX operator). */
pq_status pq_pass_fuse_skip_layernorm(pq_graph *g, pq_pass_result *res, pq_err *err);
/* Conv / ConvTranspose / Gemm whose only reader is a Relu or a Clip with constant bounds:
 * both marked as one group, no quantization point between them (extension attributes). */
pq_status pq_pass_fuse_activation(pq_graph *g, pq_pass_result *res, pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_PASSES_H */

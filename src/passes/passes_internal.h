/* passes_internal.h - helpers shared by the pass sources. Never included from outside
 * src/passes. */
#ifndef PQ_PASSES_INTERNAL_H
#define PQ_PASSES_INTERNAL_H

#include "pq_exec.h"
#include "pq_ir.h"
#include "pq_passes.h"

/* ------------------------------------------------------------------ results */

/* Zeroes res, sets its name and the before-counts. res may be NULL (then a local scratch
 * result is used by the pass; see PQ__RESULT). */
void pq__result_begin(pq_pass_result *res, const char *name, const pq_graph *g);
/* Sets the after-counts and the time. */
void pq__result_end(pq_pass_result *res, const pq_graph *g, double t0);
/* Appends "; <text>" (or "<text>" first) to res->detail. */
void pq__result_note(pq_pass_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Counts a refused candidate: keeps the first reason ("node 'bn1' (BatchNormalization): "
 * + text) and logs every one at INFO level. */
void pq__result_refuse(pq_pass_result *res, const pq_op *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ graph queries */

/* Whether op is in the ai.onnx domain and of one of the NULL-terminated types. */
int pq__op_is_any(const pq_op *op, const char *const *types);
/* The producer of v when it is an ai.onnx op of `type`, else NULL. */
pq_op *pq__producer_is(const pq_var *v, const char *type);
/* Number of distinct reader ops of v. */
int64_t pq__num_readers(const pq_var *v);
/* Whether v's only reader is `reader` (any number of its slots) and v is not a graph output:
 * then whatever produces v may be rewritten together with reader. */
int pq__only_reader(const pq_graph *g, const pq_var *v, const pq_op *reader);
/* The only reader op of v (NULL when v has zero or several readers or is a graph output). */
pq_op *pq__sole_reader(const pq_graph *g, const pq_var *v);
/* For a two-input op reading v in one slot: the other input (NULL when v is not an input,
 * or both inputs are v). *idx (may be NULL) receives the other input's index. */
pq_var *pq__other_input(const pq_op *op, const pq_var *v, int *idx);
/* v is a parameter with exactly one element: its value as double. */
int pq__param_scalar(const pq_var *v, double *out);
/* Whether a and b are equal within a relative tolerance. */
int pq__near(double a, double b, double rel);
/* Whether t is float32 (the dtype the weight-rewriting fusions handle). */
int pq__is_f32(const pq_tensor *t);

/* ------------------------------------------------------------------ graph edits */

/* Hands over *t (returns it and sets *t to NULL): for calls that take ownership whether or
 * not they succeed, so the caller's cleanup does not free it again. */
static inline pq_tensor *pq__take(pq_tensor **t)
{
    pq_tensor *r = *t;
    *t = NULL;
    return r;
}

/* Creates a parameter named after `base` (base itself when free, else base_1, base_2...),
 * taking ownership of t whether or not it succeeds. */
pq_status pq__new_param(pq_graph *g, const char *base, pq_tensor *t, pq_var **out, pq_err *err);
/* Makes input idx of op read a parameter holding t (ownership of t taken whether or not it
 * succeeds). When the current input is a parameter read only by this slot and not a graph
 * input/output, its value is replaced in place (the name stays); otherwise a new parameter
 * named "<old name or op name>_<suffix>" is created and the old one removed if now unused.
 * idx == op->n_inputs appends an input. */
pq_status pq__set_param_input(pq_graph *g, pq_op *op, int idx, pq_tensor *t, const char *suffix,
                              pq_err *err);
/* Removes parameter or activation v when nothing reads or produces it and it is not a graph
 * input or output. */
void pq__drop_if_unused(pq_graph *g, pq_var *v);
/* Replaces the chain ops[0..n) by new_op: removes the ops (new_op must already read what it
 * needs, so shared parameters survive), drops their output variables that became unused
 * except `out`, then makes new_op produce `out` (which keeps its name, readers and
 * graph-output status). */
pq_status pq__replace_ops(pq_graph *g, pq_op *const *ops, int n, pq_op *new_op, pq_var *out,
                          pq_err *err);

/* Fills in the dtype and rank of every variable (and, for a static graph, its dims) by a
 * shape trace with the executor on seeded random inputs, unless they are all known already.
 * A graph whose inputs have symbolic dims is traced on a copy with those dims set to 1 and
 * to 2; dims that agree are kept, the others written as -1. *known (may be NULL) is 1 when
 * every non-parameter variable has a rank afterwards, 0 when the trace was not possible
 * (unsupported operator, unknown input dtype/rank): not an error. Returns PQ_ERR_NOMEM. */
pq_status pq__ensure_shapes(pq_graph *g, int *known, pq_err *err);
/* Whether every graph input (that is not a parameter) has a dtype and fully known dims. */
int pq__graph_is_static(const pq_graph *g);

/* A new float32 tensor of the given shape from doubles (rounded to nearest). */
pq_status pq__tensor_from_f64(int rank, const int64_t *dims, const double *v, pq_tensor **out,
                              pq_err *err);
/* The elements of t as doubles (pq_malloc'd, numel entries, at least one allocated). */
pq_status pq__tensor_to_f64(const pq_tensor *t, double **out, pq_err *err);

#endif /* PQ_PASSES_INTERNAL_H */

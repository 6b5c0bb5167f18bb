/* pq_ir.h - the graph IR: variables, operations, attributes, graphs, and the tensor
 * quantization config (TQC) slots that make an operation quantizable.
 *
 * Modelled on PPQ's IR. A graph owns its operations and variables; a variable owns its
 * constant value (a reference-counted tensor). Every editing call keeps both sides of every
 * edge consistent (op->inputs / var->dest_ops, op->outputs / var->source_op) and refuses,
 * with a status, what would break the graph.
 *
 * Pointers returned by lookups (pq_graph_find_op, pq_graph_find_var) are borrowed: valid
 * until the object is removed from the graph or the graph is destroyed.
 */
#ifndef PQ_IR_H
#define PQ_IR_H

#include "pq_core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pq_graph pq_graph;
typedef struct pq_op pq_op;
typedef struct pq_var pq_var;

/* ------------------------------------------------------------------ attributes */

/* Values are those of onnx.AttributeProto.AttributeType. PQ_ATTR_OPAQUE holds an attribute
 * ppq-calib does not interpret (sparse tensors, type protos): its serialized AttributeProto
 * bytes, kept so that a model round-trips unchanged. */
typedef enum pq_attr_type {
    PQ_ATTR_UNDEFINED = 0,
    PQ_ATTR_FLOAT = 1,
    PQ_ATTR_INT = 2,
    PQ_ATTR_STRING = 3,
    PQ_ATTR_TENSOR = 4,
    PQ_ATTR_GRAPH = 5,
    PQ_ATTR_FLOATS = 6,
    PQ_ATTR_INTS = 7,
    PQ_ATTR_STRINGS = 8,
    PQ_ATTR_TENSORS = 9,
    PQ_ATTR_GRAPHS = 10,
    PQ_ATTR_OPAQUE = 100
} pq_attr_type;

typedef struct pq_attr {
    char *name;
    pq_attr_type type;
    float f;                 /* FLOAT */
    int64_t i;               /* INT */
    char *s;                 /* STRING (bytes, s_len of them, NUL-terminated too) */
    size_t s_len;
    pq_tensor *t;            /* TENSOR (owned reference) */
    pq_graph *g;             /* GRAPH (owned) */
    int64_t n;               /* element count of the list kinds below */
    float *floats;           /* FLOATS */
    int64_t *ints;           /* INTS */
    char **strings;          /* STRINGS (each NUL-terminated) */
    size_t *string_lens;     /* STRINGS byte lengths */
    pq_tensor **tensors;     /* TENSORS (owned references) */
    pq_graph **graphs;       /* GRAPHS (owned) */
    uint8_t *opaque;         /* OPAQUE: serialized onnx.AttributeProto */
    size_t opaque_len;
    char *ref_attr_name;     /* ONNX function attribute reference; NULL normally */
    char *doc_string;        /* kept for round trips; NULL normally */
} pq_attr;

/* Frees everything an attribute owns (not the struct itself) and zeroes it. */
void pq_attr_clear(pq_attr *a);
/* Deep copy of src into *dst (dst is overwritten, not cleared first). */
pq_status pq_attr_copy(pq_attr *dst, const pq_attr *src, pq_err *err);

/* ------------------------------------------------------------------ quantization config */

typedef enum pq_tqc_state {
    PQ_TQC_STATE_INITIAL = 0,      /* waits for calibration */
    PQ_TQC_STATE_ACTIVATED,        /* scale/offset computed, used in simulation */
    PQ_TQC_STATE_BAKED,            /* parameter stored already quantized */
    PQ_TQC_STATE_OVERLAPPED,       /* reads its dominator's scale and offset */
    PQ_TQC_STATE_PASSIVE_INIT,     /* derived from other TQCs, not computed yet */
    PQ_TQC_STATE_PASSIVE,          /* derived (bias = s_in * s_w) */
    PQ_TQC_STATE_PASSIVE_BAKED,
    PQ_TQC_STATE_FP32              /* not quantized */
} pq_tqc_state;

/* Policy bits (PPQ's QuantizationPolicy). */
enum {
    PQ_QPOLICY_PER_TENSOR = 1u << 0,
    PQ_QPOLICY_PER_CHANNEL = 1u << 1,
    PQ_QPOLICY_SYMMETRIC = 1u << 2,
    PQ_QPOLICY_ASYMMETRIC = 1u << 3,
    PQ_QPOLICY_LINEAR = 1u << 4,
    PQ_QPOLICY_POWER_OF_2 = 1u << 5,
    PQ_QPOLICY_DYNAMIC = 1u << 6
};

typedef enum pq_rounding {
    PQ_ROUND_HALF_EVEN = 0,
    PQ_ROUND_HALF_UP,
    PQ_ROUND_HALF_DOWN,
    PQ_ROUND_HALF_TOWARDS_ZERO,
    PQ_ROUND_HALF_FAR_FROM_ZERO,
    PQ_ROUND_UP,   /* ceil */
    PQ_ROUND_DOWN  /* floor */
} pq_rounding;

typedef enum pq_tqc_visibility {
    PQ_TQC_EXPORT_WHEN_ACTIVE = 0,
    PQ_TQC_FORCE_EXPORT,
    PQ_TQC_INTERNAL
} pq_tqc_visibility;

/* One tensor quantization config. scale/offset hold n_channels values (1 per tensor). */
typedef struct pq_tqc {
    unsigned policy;          /* PQ_QPOLICY_* bits */
    pq_rounding rounding;
    int num_bits;
    int64_t quant_min, quant_max;
    int channel_axis;         /* per-channel only */
    int64_t n_channels;       /* entries in scale/offset */
    float *scale;             /* owned */
    float *offset;            /* owned; zero point as a float, integral when activated */
    char observer[32];        /* observer algorithm name ("minmax", "kl", ...) */
    pq_tqc_state state;
    struct pq_tqc *dominator; /* OVERLAPPED: whose scale/offset this reads */
    pq_tqc_visibility visibility;
} pq_tqc;

/* Per-operation quantization config: one TQC per input and per output. */
typedef struct pq_op_qconfig {
    int n_inputs, n_outputs;
    pq_tqc *inputs;
    pq_tqc *outputs;
} pq_op_qconfig;

/* Frees scale/offset of a TQC and zeroes it. */
void pq_tqc_clear(pq_tqc *q);
/* Sets n_channels and allocates zeroed scale/offset arrays of that size. */
pq_status pq_tqc_set_channels(pq_tqc *q, int64_t n_channels, pq_err *err);
/* The TQC whose scale and offset apply: follows dominators of OVERLAPPED TQCs. */
const pq_tqc *pq_tqc_resolve(const pq_tqc *q);

/* One TQC of a graph with where it sits: input (is_output 0) or output `index` of op, and
 * the variable in that slot. */
typedef struct pq_tqc_slot {
    const pq_op *op;
    int is_output, index;
    const pq_tqc *tqc;
    const pq_var *var;
} pq_tqc_slot;

/* A position in a walk over the TQCs of a graph; start at {0}. */
typedef struct pq_tqc_iter {
    int64_t op;   /* index into g->ops */
    int slot;     /* inputs first, then outputs */
} pq_tqc_iter;

/* Walks the TQCs of g that have a variable, op by op in graph order, inputs before outputs:
 * returns 1 and fills *slot while there is one, then 0. */
int pq_tqc_next(const pq_graph *g, pq_tqc_iter *it, pq_tqc_slot *slot);

/* ------------------------------------------------------------------ variables */

/* Kinds of value a variable can carry. Sequence/optional/map types are kept as the
 * serialized onnx.TypeProto in type_opaque so that they round-trip. */
typedef enum pq_value_kind {
    PQ_VALUE_TENSOR = 0,
    PQ_VALUE_OTHER = 1
} pq_value_kind;

struct pq_var {
    char *name;
    pq_graph *graph;              /* owner */
    pq_tensor *value;             /* constant value (parameter); NULL for activations */
    pq_op *source_op;             /* NULL for graph inputs and parameters */
    pq_ptrvec dest_ops;           /* pq_op *; an op that reads the var twice appears twice */
    pq_dtype dtype;               /* UNDEFINED when unknown */
    int rank;                     /* -1 when unknown */
    int64_t dims[PQ_MAX_RANK];    /* -1 for an unknown or symbolic dim */
    char *dim_params[PQ_MAX_RANK];/* symbolic dim names (owned) or NULL */
    int has_value_info;           /* came with (or should be written with) a value_info */
    pq_value_kind kind;
    uint8_t *type_opaque;         /* PQ_VALUE_OTHER: serialized onnx.TypeProto */
    size_t type_opaque_len;
    char *doc_string;
};

/* Whether the variable is a parameter (has a constant value). */
static inline int pq_var_is_parameter(const pq_var *v) { return v->value != NULL; }

/* Sets the variable's value, taking ownership of t whether or not it succeeds; also sets
 * dtype and shape from t. Passing NULL makes it an activation again. */
void pq_var_set_value(pq_var *v, pq_tensor *t);
/* Sets dtype and a concrete shape (rank -1 = unknown). */
void pq_var_set_shape(pq_var *v, pq_dtype dtype, int rank, const int64_t *dims);

/* ------------------------------------------------------------------ operations */

/* An extension attribute: a key and a string or integer value that passes use to talk to
 * each other; never exported. */
typedef struct pq_ext_attr {
    char *key;
    char *s;        /* NULL when the value is an integer */
    int64_t i;
} pq_ext_attr;

struct pq_op {
    char *name;
    char *type;                   /* "Conv" */
    char *domain;                 /* "" for ai.onnx */
    int opset;                    /* the model's opset version for this op's domain */
    pq_graph *graph;              /* owner */
    int n_inputs, n_outputs;
    pq_var **inputs;              /* NULL entries are omitted optional inputs ("") */
    pq_var **outputs;             /* NULL entries are omitted optional outputs */
    int n_attrs;
    pq_attr *attrs;
    int platform;                 /* dispatch target (PQ_PLATFORM_* in quant); 0 = unset */
    int n_ext;
    pq_ext_attr *ext;
    pq_op_qconfig *qconfig;       /* NULL unless quantizable */
    char *doc_string;
    int64_t scratch;              /* scratch for graph algorithms; not preserved */
};

/* Attribute lookup: NULL when absent. */
const pq_attr *pq_op_find_attr(const pq_op *op, const char *name);
/* Typed getters: return the default when absent. A present attribute of another type is
 * an error (status INVALID naming op and attribute). */
pq_status pq_op_get_int(const pq_op *op, const char *name, int64_t dflt, int64_t *out,
                        pq_err *err);
pq_status pq_op_get_float(const pq_op *op, const char *name, float dflt, float *out,
                          pq_err *err);
/* *out borrows the op's string; dflt may be NULL. */
pq_status pq_op_get_string(const pq_op *op, const char *name, const char *dflt,
                           const char **out, pq_err *err);
/* *out borrows the op's array (NULL and *n = 0 when absent). */
pq_status pq_op_get_ints(const pq_op *op, const char *name, const int64_t **out, int64_t *n,
                         pq_err *err);
pq_status pq_op_get_floats(const pq_op *op, const char *name, const float **out, int64_t *n,
                           pq_err *err);
/* *out borrows the op's tensor (NULL when absent). */
pq_status pq_op_get_tensor(const pq_op *op, const char *name, const pq_tensor **out,
                           pq_err *err);

/* Setters replace an attribute of the same name. set_tensor takes ownership of t whether
 * or not it succeeds. */
pq_status pq_op_set_int(pq_op *op, const char *name, int64_t v, pq_err *err);
pq_status pq_op_set_float(pq_op *op, const char *name, float v, pq_err *err);
pq_status pq_op_set_string(pq_op *op, const char *name, const char *v, pq_err *err);
pq_status pq_op_set_ints(pq_op *op, const char *name, const int64_t *v, int64_t n, pq_err *err);
pq_status pq_op_set_floats(pq_op *op, const char *name, const float *v, int64_t n, pq_err *err);
pq_status pq_op_set_tensor(pq_op *op, const char *name, pq_tensor *t, pq_err *err);
/* Adds (moves) a fully built attribute; *a is zeroed whether or not it succeeds. */
pq_status pq_op_add_attr(pq_op *op, pq_attr *a, pq_err *err);
/* Removes an attribute by name; returns 1 when one was removed. */
int pq_op_remove_attr(pq_op *op, const char *name);

/* Extension attributes (never exported). get returns NULL / dflt when absent. */
pq_status pq_op_set_ext_str(pq_op *op, const char *key, const char *v, pq_err *err);
pq_status pq_op_set_ext_int(pq_op *op, const char *key, int64_t v, pq_err *err);
const char *pq_op_get_ext_str(const pq_op *op, const char *key);
int64_t pq_op_get_ext_int(const pq_op *op, const char *key, int64_t dflt);

/* The op's parameter inputs (inputs with a constant value), in input order, appended to
 * out (borrowed pointers). */
pq_status pq_op_parameters(const pq_op *op, pq_ptrvec *out, pq_err *err);
/* Number of inputs that are not omitted. */
int pq_op_num_present_inputs(const pq_op *op);
/* Whether op is in the ai.onnx domain and has this type. */
int pq_op_is(const pq_op *op, const char *type);

/* Makes op quantizable: allocates one TQC (state FP32) per current input and output.
 * Replaces an existing config. */
pq_status pq_op_qconfig_create(pq_op *op, pq_err *err);
void pq_op_qconfig_destroy(pq_op *op);

/* ------------------------------------------------------------------ graphs */

typedef struct pq_opset_import {
    char *domain;
    int64_t version;
} pq_opset_import;

typedef struct pq_kv {
    char *key, *value;
} pq_kv;

struct pq_graph {
    char *name;
    pq_ptrvec ops;                /* pq_op *, owned, in graph order */
    pq_ptrvec vars;               /* pq_var *, owned, in creation order */
    pq_strmap op_by_name;
    pq_strmap var_by_name;
    pq_ptrvec inputs;             /* pq_var *, graph inputs in order */
    pq_ptrvec outputs;            /* pq_var *, graph outputs in order */
    pq_graph *parent;             /* enclosing graph of a subgraph (If/Loop body) */
    int64_t name_counter;         /* for generated unique names */
    /* model-level fields (top-level graph only) */
    int64_t ir_version;
    int n_opsets;
    pq_opset_import *opsets;
    char *producer_name, *producer_version, *domain, *doc_string;
    int64_t model_version;
    int n_metadata;
    pq_kv *metadata;
    int n_functions;              /* model-local functions, kept serialized */
    uint8_t **functions;
    size_t *function_lens;
    char *graph_doc_string;
};

/* Creates an empty graph. name may be NULL. */
pq_status pq_graph_create(const char *name, pq_graph **out, pq_err *err);
/* Frees the graph, its ops, vars and everything they own. Accepts NULL; sets *g = NULL. */
void pq_graph_destroy(pq_graph **g);

/* Opset version the model imports for domain ("" and "ai.onnx" are the same); -1 if none. */
int64_t pq_graph_opset(const pq_graph *g, const char *domain);
/* Sets (adds or replaces) an opset import. */
pq_status pq_graph_set_opset(pq_graph *g, const char *domain, int64_t version, pq_err *err);
/* Adds a metadata_props entry (replaces an existing key). */
pq_status pq_graph_set_metadata(pq_graph *g, const char *key, const char *value, pq_err *err);

/* Lookups by name (borrowed; NULL when absent). */
pq_op *pq_graph_find_op(const pq_graph *g, const char *name);
pq_var *pq_graph_find_var(const pq_graph *g, const char *name);

/* Creates a variable with no edges. name NULL generates a unique one. Refuses a name in
 * use (PQ_ERR_INVALID). *out is borrowed (the graph owns it). */
pq_status pq_graph_create_var(pq_graph *g, const char *name, pq_var **out, pq_err *err);
/* Creates a parameter variable holding t (takes ownership of t whether or not it
 * succeeds). */
pq_status pq_graph_create_parameter(pq_graph *g, const char *name, pq_tensor *t, pq_var **out,
                                    pq_err *err);
/* Creates an operation with no edges. name NULL generates a unique one; domain NULL means
 * ""; opset 0 means the graph's opset for the domain. */
pq_status pq_graph_create_op(pq_graph *g, const char *type, const char *name,
                             const char *domain, int opset, pq_op **out, pq_err *err);

/* Appends var to op's inputs (and op to var's dest_ops). var NULL adds an omitted input. */
pq_status pq_graph_add_input(pq_graph *g, pq_op *op, pq_var *var, pq_err *err);
/* Appends var to op's outputs; var must have no source op. var NULL adds an omitted one. */
pq_status pq_graph_add_output(pq_graph *g, pq_op *op, pq_var *var, pq_err *err);
/* Replaces op's input idx by var (both edge sides updated; var may be NULL). */
pq_status pq_graph_set_input(pq_graph *g, pq_op *op, int idx, pq_var *var, pq_err *err);

/* PPQ create_link_with_op: links upstream_op -> var -> downstream_op. var NULL creates a
 * new variable; either op may be NULL (then only the other side is linked). An existing
 * var must have no source op when upstream_op is given. Returns the var in *out (may be
 * NULL). */
pq_status pq_graph_create_link_with_op(pq_graph *g, pq_op *upstream_op, pq_op *downstream_op,
                                       pq_var *var, pq_var **out, pq_err *err);
/* PPQ create_link_with_var: every consumer of `downstream` reads `upstream` instead, and
 * `downstream` (which must have no source op) is removed. Graph-output status moves too. */
pq_status pq_graph_create_link_with_var(pq_graph *g, pq_var *upstream, pq_var *downstream,
                                        pq_err *err);

/* PPQ insert_op_before: op (which must have no edges) is put in front of input `input_idx`
 * of `down`: var -> op -> new var -> down. */
pq_status pq_graph_insert_op_before(pq_graph *g, pq_op *op, pq_op *down, int input_idx,
                                    pq_err *err);
/* PPQ insert_op_after: op (no edges) is put after output `output_idx` of `up`:
 * up -> new var -> op -> original var (which keeps its name, consumers and graph-output
 * status). */
pq_status pq_graph_insert_op_after(pq_graph *g, pq_op *op, pq_op *up, int output_idx,
                                   pq_err *err);
/* Puts op (which must have no edges) after var: var -> op -> new var. The consumers of var
 * and its graph-output status move to the new variable, returned in *out (borrowed). */
pq_status pq_graph_insert_op_on_var(pq_graph *g, pq_op *op, pq_var *var, pq_var **out,
                                    pq_err *err);

/* Removes op. With keep_coherence, op must have exactly one non-parameter input and one
 * output: consumers of the output read that input instead (graph-output status moves to the
 * input, which takes the output's place in the output list). Without it, op's output
 * variables lose their source and parameter inputs no longer used are removed. Frees op. */
pq_status pq_graph_remove_op(pq_graph *g, pq_op *op, int keep_coherence, pq_err *err);
/* Removes var: it is taken out of its source op's outputs and its consumers' inputs (the
 * slots become omitted), out of graph inputs/outputs, and freed. */
pq_status pq_graph_remove_var(pq_graph *g, pq_var *var, pq_err *err);

/* Graph inputs/outputs. Marking twice is a no-op; unmarking an unmarked var is a no-op. */
pq_status pq_graph_mark_input(pq_graph *g, pq_var *var, pq_err *err);
pq_status pq_graph_mark_output(pq_graph *g, pq_var *var, pq_err *err);
void pq_graph_unmark_input(pq_graph *g, pq_var *var);
void pq_graph_unmark_output(pq_graph *g, pq_var *var);
int pq_graph_is_input(const pq_graph *g, const pq_var *var);
int pq_graph_is_output(const pq_graph *g, const pq_var *var);

/* Ops producing op's inputs / consuming op's outputs, each once, appended to out. */
pq_status pq_graph_upstream_ops(const pq_op *op, pq_ptrvec *out, pq_err *err);
pq_status pq_graph_downstream_ops(const pq_op *op, pq_ptrvec *out, pq_err *err);

/* Reorders g->ops topologically (stable: among ready ops, graph order is kept). On a cycle
 * returns PQ_ERR_INVALID naming the ops it could not order, and leaves the order as it was.
 * Variables read from an enclosing graph (subgraphs) count as available. */
pq_status pq_graph_topological_sort(pq_graph *g, pq_err *err);

/* Copies a graph. deep: parameter values are cloned; shallow: they are shared (reference
 * counted). Quantization configs, platforms and extension attributes are copied; the
 * copy's TQC dominators point into the copy. */
pq_status pq_graph_copy(const pq_graph *g, int deep, pq_graph **out, pq_err *err);

/* Checks every edge is consistent on both sides and names are unique; used by tests and
 * after passes. PQ_ERR_INTERNAL with a description when not. */
pq_status pq_graph_validate(const pq_graph *g, pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_IR_H */

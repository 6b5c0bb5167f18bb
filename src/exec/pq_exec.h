/* pq_exec.h - the CPU executor, the operator registry and the kernel interface.
 *
 * An executor is built for one graph: it resolves every operation to an operator
 * definition (failing with the list of every unsupported type), prepares each node once
 * (attributes parsed into a typed context), then runs batches. Intermediate tensors are
 * freed after their last consumer unless requested. Hooks before and after every
 * operation see its input and output tensors: observers collect statistics there and
 * quantization simulation rewrites tensors there.
 */
#ifndef PQ_EXEC_H
#define PQ_EXEC_H

#include "pq_core.h"
#include "pq_ir.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pq_executor pq_executor;
typedef struct pq_registry pq_registry;
typedef struct pq_exec_node pq_exec_node;

/* ------------------------------------------------------------------ kernel interface */

/* One operator definition. Lookup by (domain, name, opset) picks the entry with the highest
 * since_version <= opset. */
typedef struct pq_op_def {
    const char *domain;       /* "" = ai.onnx */
    const char *name;
    int since_version;        /* first opset this definition covers */
    int min_inputs, max_inputs, min_outputs, max_outputs;
    /* Optional. Runs once per node before any run: validates attributes and constant
     * inputs (op->inputs[i]->value), allocates n->ctx. Errors say what is wrong; the
     * executor prefixes the node. */
    pq_status (*prepare)(pq_exec_node *n, pq_err *err);
    /* Computes n->outputs from n->inputs. Must create every output the graph uses
     * (n->op->outputs[i] != NULL) with pq_node_output() or pq_node_set_output(); creating
     * omitted ones too is allowed (the executor drops them). */
    pq_status (*run)(pq_exec_node *n, pq_err *err);
    /* Optional. Frees n->ctx. */
    void (*release)(pq_exec_node *n);
} pq_op_def;

/* A clamp the executor fuses into the kernel that produces its input (an epilogue): when
 * a node's only consumer is Relu or Clip with constant bounds, the intermediate is not
 * requested and no hook is installed, the producer writes y = min(max(y, lo), hi) (as the
 * selects `y < lo ? lo : y` then `y > hi ? hi : y`, exactly what Relu and Clip compute, NaN
 * kept) and the activation node passes its input through. */
typedef struct pq_exec_epilogue {
    int capable;              /* set by prepare: run() applies an active epilogue to float32
                               * output 0 (and then sets `applied`) */
    int active;               /* set by the executor for this run */
    int applied;              /* set by the kernel when it applied the clamp */
    float lo, hi;             /* Relu: [0, +inf] */
} pq_exec_epilogue;

/* Applies an active epilogue to y[0..n) (float32). */
static inline void pq_exec_epilogue_apply(const pq_exec_epilogue *e, float *y, int64_t n)
{
    const float lo = e->lo, hi = e->hi;
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}

struct pq_exec_node {
    const pq_op *op;
    const pq_op_def *def;
    int opset;                /* opset the node runs at (op->opset) */
    int n_inputs;
    pq_tensor **inputs;       /* borrowed during run; NULL = omitted optional input */
    int n_outputs;
    pq_tensor **outputs;      /* created by run via pq_node_output(); executor owns after */
    void *ctx;                /* operator-private, from prepare */
    pq_executor *ex;
    pq_exec_epilogue epi;     /* fused activation for this run (see pq_exec_epilogue) */
};

/* Creates output idx with the given dtype and shape (zero-filled unless uninit is set,
 * never for strings) and stores it in n->outputs[idx]; *out borrows it. */
pq_status pq_node_output(pq_exec_node *n, int idx, pq_dtype dtype, int rank,
                         const int64_t *dims, int uninit, pq_tensor **out, pq_err *err);
/* Stores an already built tensor as output idx, taking ownership whether or not it
 * succeeds (for outputs that alias an input: pass pq_tensor_retain(input) or a view). */
pq_status pq_node_set_output(pq_exec_node *n, int idx, pq_tensor *t, pq_err *err);
/* Input idx or NULL when omitted or beyond n_inputs. */
static inline pq_tensor *pq_node_input(const pq_exec_node *n, int idx)
{
    return idx < n->n_inputs ? n->inputs[idx] : NULL;
}
/* A scratch buffer of at least `bytes`, owned by the executor, valid until the next call
 * by any node (64-byte aligned). NULL on allocation failure. */
void *pq_node_workspace(pq_exec_node *n, size_t bytes);
/* The number of threads a kernel may use (the executor's setting). */
int pq_node_threads(const pq_exec_node *n);

/* ------------------------------------------------------------------ registry */

/* Platform 0 is the default (FP32) table; a quantized platform may override single
 * operators. Lookups fall back to platform 0. */
pq_status pq_registry_create(pq_registry **out, pq_err *err);
void pq_registry_destroy(pq_registry **r);
/* Registers (or overrides) def for a platform (PPQ's register_operation_handler). def is
 * borrowed and must outlive the registry. */
pq_status pq_registry_register(pq_registry *r, int platform, const pq_op_def *def, pq_err *err);
/* The definition for (platform, domain, type, opset) or NULL. domain NULL or "ai.onnx"
 * means "". */
const pq_op_def *pq_registry_lookup(const pq_registry *r, int platform, const char *domain,
                                    const char *type, int opset);
/* The built-in definitions (all families), for listing and coverage checks. */
const pq_op_def *const *pq_registry_builtins(int64_t *count);

/* ------------------------------------------------------------------ executor */

/* Hook called before (inputs may be replaced: set inputs[i] to a new tensor, the executor
 * destroys replaced ones after the op ran and never the originals; never write into an
 * input) or after (outputs may be modified in place: the executor guarantees they alias no
 * other tensor) every operation. Returning an error stops the run; its message is
 * prefixed with the node. */
typedef pq_status (*pq_exec_hook)(const pq_op *op, int n_inputs, pq_tensor **inputs,
                                  int n_outputs, pq_tensor **outputs, void *user, pq_err *err);

typedef struct pq_exec_options {
    const pq_registry *registry; /* NULL = built-ins only */
    int threads;                 /* kernel threads; 0 = leave BLAS/OpenMP as they are */
    /* Samples per pass through the graph's per-sample trunk (see pq_executor_run): 0 = auto
     * (the thread count), > 0 = that many, < 0 = never split the batch. */
    int micro_batch;
} pq_exec_options;

/* Builds an executor for g (borrowed: g must outlive the executor and not change). Resolves
 * and prepares every op; on unsupported operators returns PQ_ERR_UNSUPPORTED listing them
 * all. opts may be NULL. */
pq_status pq_executor_create(const pq_graph *g, const pq_exec_options *opts, pq_executor **out,
                             pq_err *err);
void pq_executor_destroy(pq_executor **ex);

void pq_executor_set_hooks(pq_executor *ex, pq_exec_hook before, pq_exec_hook after, void *user);

/* What the installed hooks need, so that the executor can keep its fast paths under them.
 * pq_executor_set_hooks resets it to "everything" (flags 0, watch NULL). */
enum {
    /* The hooks give the same results when they see the batch a micro-batch at a time
     * (observers that accumulate over elements do; hooks that record shapes or count
     * calls do not): the per-sample trunk then runs under them too. */
    PQ_HOOKS_SPLIT_OK = 1,
    /* The hooks never modify a tensor: outputs that alias another tensor are not copied
     * for the after-hook. */
    PQ_HOOKS_READ_ONLY = 2
};
/* watch (NULL: every variable) says which variables the hooks read. The producer of an
 * unwatched intermediate may then apply its reader's Relu/Clip as an epilogue
 * (pq_exec_epilogue), and the hooks around those two nodes see the clamped values in its
 * place. */
typedef int (*pq_exec_watch)(const pq_var *v, void *user);
void pq_executor_set_hook_traits(pq_executor *ex, unsigned flags, pq_exec_watch watch,
                                 void *user);

/* Runs the graph. feeds: n_feeds (name, tensor) pairs for graph inputs (borrowed; inputs
 * with an initializer may be omitted). Returns the n_req requested variables by name (graph
 * outputs or any intermediate or parameter) as new references in req_out[i] (caller
 * destroys). n_req 0 with req_names NULL requests nothing.
 *
 * Without hooks, the trunk of the graph, the operations that treat each sample of the batch
 * on its own (convolutions, pooling, normalisation, activations, elementwise arithmetic
 * with parameters that do not span the batch, ...) fed only by the batch inputs, runs a
 * micro-batch of samples at a time, so that a sample's activations stay in the caches from
 * one layer to the next; its results are gathered into full-batch tensors for the rest of
 * the graph (fully connected layers and the like, which are better run on the whole
 * batch). Every kernel of the trunk gives a sample the same bits in any batch, so the
 * results are those of a whole-batch run, bit for bit. */
pq_status pq_executor_run(pq_executor *ex, int n_feeds, const char *const *feed_names,
                          pq_tensor *const *feeds, int n_req, const char *const *req_names,
                          pq_tensor **req_out, pq_err *err);

/* The number of operations the last run ran a micro-batch at a time (the per-sample trunk,
 * see pq_executor_run); 0 when it ran the whole batch at once (no trunk, micro-batching off,
 * hooks that cannot see micro-batches, a batch no larger than a micro-batch, the first
 * run, which records the sizes the trunk is settled from, or a graph found not to treat
 * samples on their own). */
int64_t pq_executor_trunk_ops(const pq_executor *ex);

/* Runs the graph once and writes each variable's dtype and shape into the IR (the graph
 * given at creation, which is why it takes a mutable pointer to the same graph). */
pq_status pq_executor_trace_shapes(pq_executor *ex, pq_graph *g, int n_feeds,
                                   const char *const *feed_names, pq_tensor *const *feeds,
                                   pq_err *err);

/* Debian's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs: it runs its Haswell
 * (AVX2) or even Prescott (SSE3) kernels there, 2-5x slower than its SkylakeX ones. It reads
 * OPENBLAS_CORETYPE only when it loads, so a program that wants the fast kernels must set it
 * and re-execute itself. Returns the core name to set ("SkylakeX") when that would select
 * faster kernels, or NULL (already AVX-512 kernels, no AVX-512 CPU, OPENBLAS_CORETYPE set by
 * the user, or PQ_NO_REEXEC set). */
const char *pq_exec_blas_better_core(void);

/* Sets the number of threads kernels use in this process (0 = unchanged): OpenMP gets
 * `threads`, BLAS one (kernels split their GEMMs over the OpenMP threads themselves). */
void pq_exec_set_threads(int threads);

#ifdef __cplusplus
}
#endif
#endif /* PQ_EXEC_H */

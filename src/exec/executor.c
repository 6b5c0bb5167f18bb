/* executor.c - runs a graph on the CPU: resolution, preparation, scheduling, lifetimes,
 * hooks and shape tracing. */
#include "exec_internal.h"

#include <cblas.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

struct pq_executor {
    const pq_graph *g;
    int64_t n_nodes;
    pq_exec_node *nodes;        /* in execution (topological) order */
    int64_t n_vars;
    const pq_var **vars;        /* index -> variable */
    pq_strmap var_index;        /* name -> index + 1 (as a pointer-sized integer) */
    int64_t **node_in;          /* node k: variable index of each input (-1 omitted) */
    int64_t **node_out;         /* node k: variable index of each output (-1 omitted) */
    int64_t *uses;              /* per variable: input slots reading it */
    int64_t *fuse_next;         /* node k: the Relu/Clip node its epilogue can absorb, or -1 */
    unsigned char *cand;        /* node k: its trunk kind by type and inputs, 0 = none */
    unsigned char *trunk;       /* node k: its trunk kind once settled, 0 = not in the trunk */
    int64_t *act_bytes;         /* node k: per-sample bytes of its batch inputs and outputs */
    int64_t *param_bytes;       /* node k: bytes of its parameter inputs */
    int sized;                  /* act_bytes / param_bytes recorded, trunk settled */
    int64_t trunk_act;          /* largest act_bytes in the settled trunk */
    int64_t *trunk_uses;        /* per variable: input slots of trunk nodes reading it */
    unsigned char *trunk_made;  /* per variable: produced by a trunk node */
    unsigned char *konst;       /* per variable: a parameter or computed from parameters only */
    unsigned char *pre;         /* node k: computes a konst variable (runs before the trunk) */
    int64_t n_trunk;
    int micro_batch;            /* pq_exec_options.micro_batch */
    int trunk_failed;           /* a run found the trunk not per-sample: never split again */
    int64_t last_split_ops;     /* trunk nodes the last run ran micro-batch by micro-batch */
    pq_exec_hook before, after;
    void *hook_user;
    unsigned hook_flags;        /* PQ_HOOKS_* (pq_executor_set_hook_traits) */
    pq_exec_watch watch;        /* the variables the hooks read (NULL: all) */
    void *watch_user;
    void *workspace;
    size_t workspace_size;
    int threads;
};

/* ------------------------------------------------------------------ kernel helpers */

pq_status pq_node_output(pq_exec_node *n, int idx, pq_dtype dtype, int rank,
                         const int64_t *dims, int uninit, pq_tensor **out, pq_err *err)
{
    pq_tensor *t = NULL;
    *out = NULL;
    if (idx < 0 || idx >= n->n_outputs)
        return pq_err_set(err, PQ_ERR_INTERNAL, "kernel wrote output %d of %d", idx, n->n_outputs);
    pq_status st = (uninit && dtype != PQ_DTYPE_STRING)
                       ? pq_tensor_create_uninit(dtype, rank, dims, &t, err)
                       : pq_tensor_create(dtype, rank, dims, &t, err);
    if (st != PQ_OK) return st;
    pq_tensor_destroy(&n->outputs[idx]);
    n->outputs[idx] = t;
    *out = t;
    return PQ_OK;
}

pq_status pq_node_set_output(pq_exec_node *n, int idx, pq_tensor *t, pq_err *err)
{
    if (idx < 0 || idx >= n->n_outputs) {
        pq_tensor_destroy(&t);
        return pq_err_set(err, PQ_ERR_INTERNAL, "kernel wrote output %d of %d", idx, n->n_outputs);
    }
    pq_tensor_destroy(&n->outputs[idx]);
    n->outputs[idx] = t;
    return PQ_OK;
}

void *pq_node_workspace(pq_exec_node *n, size_t bytes)
{
    pq_executor *ex = n->ex;
    if (bytes > ex->workspace_size) {
        void *w = pq_malloc(bytes);
        if (!w) return NULL;
        pq_free(ex->workspace);
        ex->workspace = w;
        ex->workspace_size = bytes;
    }
    return ex->workspace;
}

int pq_node_threads(const pq_exec_node *n)
{
    if (n->ex->threads > 0) return n->ex->threads;
#ifdef _OPENMP
    return omp_get_max_threads(); /* 0 = leave OpenMP as it is configured */
#else
    return 1;
#endif
}

/* The heavy kernels split their GEMMs over OpenMP threads and call BLAS single-threaded:
 * OpenBLAS's own workers spin after each call and would steal the cores the next OpenMP
 * region needs. So a thread count goes to OpenMP, and BLAS gets one thread. */
void pq_exec_set_threads(int threads)
{
    if (threads <= 0) return;
    openblas_set_num_threads(1);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
}

/* ------------------------------------------------------------------ creation */

static int64_t var_idx(const pq_executor *ex, const char *name)
{
    return (int64_t)(intptr_t)pq_strmap_get(&ex->var_index, name) - 1;
}

/* Appends "Type (domain, opset N)" to list when not there yet. */
static void add_unsupported(char *list, size_t cap, const pq_op *op)
{
    char item[160];
    snprintf(item, sizeof item, "%s%s%s (opset %d)", op->domain[0] ? op->domain : "",
             op->domain[0] ? "." : "", op->type, op->opset);
    if (strstr(list, item)) return;
    size_t len = strlen(list);
    snprintf(list + len, cap - len, "%s%s", len ? ", " : "", item);
}

/* Orders the graph's ops topologically without changing the graph (Kahn, stable). */
static pq_status schedule(const pq_graph *g, const pq_op **order, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t n = g->ops.n, head = 0, tail = 0;
    pq_strmap idx = {0};
    int64_t *pending = pq_calloc((size_t)n + 1, sizeof *pending);
    int64_t *queue = pq_malloc(((size_t)n + 1) * sizeof *queue);
    PQ_CHECK(pending && queue, PQ_ERR_NOMEM, "out of memory scheduling the graph");
    for (int64_t k = 0; k < n; k++)
        PQ_TRY(pq_strmap_put(&idx, ((pq_op *)g->ops.items[k])->name, (void *)(intptr_t)(k + 1), err));
    for (int64_t k = 0; k < n; k++) {
        const pq_op *op = g->ops.items[k];
        for (int i = 0; i < op->n_inputs; i++)
            if (op->inputs[i] && op->inputs[i]->source_op && op->inputs[i]->source_op->graph == g)
                pending[k]++;
        if (!pending[k]) queue[tail++] = k;
    }
    while (head < tail) {
        const pq_op *op = g->ops.items[queue[head]];
        order[head++] = op;
        for (int o = 0; o < op->n_outputs; o++) {
            const pq_var *v = op->outputs[o];
            if (!v) continue;
            for (int64_t d = 0; d < v->dest_ops.n; d++) {
                const pq_op *c = v->dest_ops.items[d];
                int64_t ci = (int64_t)(intptr_t)pq_strmap_get(&idx, c->name) - 1;
                if (ci >= 0 && --pending[ci] == 0) queue[tail++] = ci;
            }
        }
    }
    PQ_CHECK(head == n, PQ_ERR_INVALID,
             "the graph has a cycle: %" PRId64 " operations cannot be ordered", n - head);
fail:
    pq_strmap_free(&idx);
    pq_free(pending);
    pq_free(queue);
    return st;
}

/* Index of the last present slot + 1. */
static int present_count(pq_var *const *slots, int n)
{
    while (n > 0 && !slots[n - 1]) n--;
    return n;
}

static pq_status check_arity(const pq_op *op, const pq_op_def *d, pq_err *err)
{
    int n_in = present_count(op->inputs, op->n_inputs);
    int n_out = present_count(op->outputs, op->n_outputs);
    if (n_in < d->min_inputs || (d->max_inputs >= 0 && op->n_inputs > d->max_inputs &&
                                 n_in > d->max_inputs))
        return pq_err_set(err, PQ_ERR_INVALID, "has %d inputs, %s-%d takes %d to %d", n_in,
                          op->type, d->since_version, d->min_inputs, d->max_inputs);
    if (n_out < d->min_outputs || (d->max_outputs >= 0 && n_out > d->max_outputs))
        return pq_err_set(err, PQ_ERR_INVALID, "has %d outputs, %s-%d gives %d to %d", n_out,
                          op->type, d->since_version, d->min_outputs, d->max_outputs);
    return PQ_OK;
}

/* glibc serves allocations above its mmap threshold (at most 32 MiB) with fresh mappings,
 * so every run of a large model page-faults its big activations in again (a 33 MB buffer
 * costs ~10x a 16 MB one). Raising the threshold keeps freed activation buffers in the heap
 * for the next batch; peak memory is still set by the live activations. Done once per
 * process, on the first executor. */
static void tune_malloc_once(void)
{
    static int done;
    if (done) return;
    done = 1;
    mallopt(M_MMAP_THRESHOLD, 512 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
}

/* The clamp bounds of a built-in Relu or Clip node when they are known before running
 * (Clip-11 bounds must be float32 scalar initializers); 0 when the node is not one. */
static int clamp_bounds(const pq_exec_node *n, float *lo, float *hi)
{
    const pq_op *op = n->op;
    if (op->domain[0] || n->n_inputs < 1 || n->n_outputs != 1 ||
        n->def != pq_registry_lookup(NULL, 0, "", op->type, op->opset))
        return 0;
    if (strcmp(op->type, "Relu") == 0) {
        *lo = 0.0f;
        *hi = INFINITY;
        return 1;
    }
    if (strcmp(op->type, "Clip") != 0) return 0;
    *lo = -INFINITY;
    *hi = INFINITY;
    if (op->opset < 11) {
        pq_err e;
        return pq_op_get_float(op, "min", -INFINITY, lo, &e) == PQ_OK &&
               pq_op_get_float(op, "max", INFINITY, hi, &e) == PQ_OK;
    }
    for (int i = 1; i < op->n_inputs && i < 3; i++) {
        const pq_var *v = op->inputs[i];
        if (!v) continue;
        const pq_tensor *t = v->value;
        if (!t || t->dtype != PQ_DTYPE_FLOAT32 || t->numel != 1) return 0;
        *(i == 1 ? lo : hi) = PQ_DATA(t, float)[0];
    }
    return 1;
}

/* Finds, for every node whose kernel can apply an epilogue, a Relu/Clip node that is the
 * only reader of its output 0 (see pq_exec_epilogue). */
static pq_status plan_epilogues(pq_executor *ex, pq_err *err)
{
    int64_t *producer = pq_malloc(((size_t)ex->n_vars + 1) * sizeof *producer);
    ex->fuse_next = pq_malloc(((size_t)ex->n_nodes + 1) * sizeof *ex->fuse_next);
    if (!producer || !ex->fuse_next) {
        pq_free(producer);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory creating an executor");
    }
    for (int64_t v = 0; v < ex->n_vars; v++) producer[v] = -1;
    for (int64_t k = 0; k < ex->n_nodes; k++) {
        ex->fuse_next[k] = -1;
        if (ex->nodes[k].n_outputs > 0 && ex->node_out[k][0] >= 0)
            producer[ex->node_out[k][0]] = k;
    }
    for (int64_t j = 0; j < ex->n_nodes; j++) {
        pq_exec_node *a = &ex->nodes[j];
        float lo, hi;
        int64_t vi = a->n_inputs > 0 ? ex->node_in[j][0] : -1;
        if (vi < 0 || ex->uses[vi] != 1 || producer[vi] < 0) continue;
        pq_exec_node *p = &ex->nodes[producer[vi]];
        if (!p->epi.capable || !clamp_bounds(a, &lo, &hi)) continue;
        ex->fuse_next[producer[vi]] = j;
        p->epi.lo = lo;
        p->epi.hi = hi;
    }
    pq_free(producer);
    return PQ_OK;
}

/* ------------------------------------------------------------------ per-sample trunk */

/* How a trunk node treats the batch axis (see pq_executor_run), for the checks on the
 * first micro-batch. */
enum {
    TRUNK_NONE = 0,
    TRUNK_ELEMENTWISE, /* broadcasting elementwise: batch inputs of one rank, parameters
                        * of lower rank or with a leading 1 */
    TRUNK_SAMPLE,      /* input 0 is the batch, the others parameters (Conv, pooling, ...) */
    TRUNK_AXIS,        /* input 0 is the batch, attribute `axis` must not be the batch axis */
    TRUNK_CONCAT,      /* every input is a batch, `axis` not the batch axis */
    TRUNK_PAD,         /* Pad: input 0 is the batch, no padding on the batch axis */
    TRUNK_SLICE,       /* Slice: input 0 is the batch, the axes sliced exclude the batch axis */
    TRUNK_PERM         /* Transpose: the batch axis stays first */
};

static int in_list(const char *type, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(type, *list) == 0) return 1;
    return 0;
}

/* The trunk kind of a node by its type: built-in definitions of the default domain whose
 * output sample i depends on input sample i alone. Multi-output forms whose extra outputs
 * span the batch (MaxPool's indices, BatchNormalization's training statistics) are not. */
static int trunk_kind_of(const pq_exec_node *n)
{
    static const char *const elementwise[] = {
        "Relu", "Clip", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "LeakyRelu", "Elu",
        "Selu", "Celu", "Gelu", "Erf", "Exp", "Log", "Abs", "Neg", "Sqrt", "Softplus",
        "Softsign", "Mish", "Identity", "Dropout", "PRelu", "Reciprocal", "Floor", "Ceil",
        "Round", "Sign", "Sin", "Cos", "ThresholdedRelu", "Add", "Sub", "Mul", "Div", "Pow",
        "Max", "Min", "Sum", "Mean", "Cast", NULL};
    static const char *const sample[] = {
        "Conv", "ConvTranspose", "AveragePool", "LpPool", "GlobalAveragePool",
        "GlobalMaxPool", "GlobalLpPool", "InstanceNormalization", "LRN", "Resize", "Upsample",
        "DepthToSpace", "SpaceToDepth", NULL};
    const pq_op *op = n->op;
    if (op->domain[0] || n->def != pq_registry_lookup(NULL, 0, "", op->type, op->opset))
        return TRUNK_NONE;
    if (in_list(op->type, elementwise)) return TRUNK_ELEMENTWISE;
    if (in_list(op->type, sample)) return TRUNK_SAMPLE;
    if (!strcmp(op->type, "MaxPool") || !strcmp(op->type, "BatchNormalization"))
        return present_count(op->outputs, op->n_outputs) == 1 ? TRUNK_SAMPLE : TRUNK_NONE;
    if (!strcmp(op->type, "Flatten") || !strcmp(op->type, "Softmax") ||
        !strcmp(op->type, "LogSoftmax"))
        return TRUNK_AXIS;
    if (!strcmp(op->type, "Concat")) return TRUNK_CONCAT;
    if (!strcmp(op->type, "Pad") && present_count(op->inputs, op->n_inputs) <= 3)
        return TRUNK_PAD; /* (Pad-18's axes input: not in the trunk) */
    if (!strcmp(op->type, "Slice")) return TRUNK_SLICE;
    if (!strcmp(op->type, "Transpose")) return TRUNK_PERM;
    return TRUNK_NONE;
}

/* A parameter: an initializer that is not a graph input fed at run time (feeds of such
 * variables turn the trunk off for that run). */
static int is_param(const pq_executor *ex, int64_t vi)
{
    return ex->vars[vi]->value && !ex->vars[vi]->source_op;
}

/* Marks the variables computed from parameters alone (exporters route shared weights
 * through Identity, older ones make them with Constant) and the nodes that compute them. */
static void plan_konst(pq_executor *ex)
{
    for (int64_t v = 0; v < ex->n_vars; v++) ex->konst[v] = (unsigned char)is_param(ex, v);
    for (int64_t k = 0; k < ex->n_nodes; k++) {
        const pq_exec_node *n = &ex->nodes[k];
        int ok = n->n_inputs > 0 || strcmp(n->op->type, "Constant") == 0;
        if (strncmp(n->op->type, "Random", 6) == 0) ok = 0;
        for (int i = 0; ok && i < n->n_inputs; i++)
            if (ex->node_in[k][i] >= 0 && !ex->konst[ex->node_in[k][i]]) ok = 0;
        if (!ok) continue;
        ex->pre[k] = 1;
        for (int i = 0; i < n->n_outputs; i++)
            if (ex->node_out[k][i] >= 0) ex->konst[ex->node_out[k][i]] = 1;
    }
}

/* A graph input that is not an initializer: the batch, when fed. */
static int is_batch_input(const pq_executor *ex, int64_t vi)
{
    return !ex->vars[vi]->source_op && !ex->vars[vi]->value;
}

/* Settles the trunk from the candidates, in execution order: a candidate whose batch
 * inputs are graph inputs or made by the trunk and, once sizes are recorded, whose
 * parameters are no larger than a sample's activations at that node. Convolutions deep in
 * a CNN (large weights, small images) thus run on the whole batch, where their weights are
 * read once per batch instead of once per micro-batch. */
static void settle_trunk(pq_executor *ex)
{
    memset(ex->trunk_uses, 0, (size_t)ex->n_vars * sizeof *ex->trunk_uses);
    memset(ex->trunk_made, 0, (size_t)ex->n_vars);
    ex->n_trunk = 0;
    ex->trunk_act = 0;
    for (int64_t k = 0; k < ex->n_nodes; k++) {
        const pq_exec_node *n = &ex->nodes[k];
        int ok = ex->cand[k] != TRUNK_NONE;
        for (int i = 0; ok && i < n->n_inputs; i++) {
            int64_t vi = ex->node_in[k][i];
            if (vi >= 0 && !ex->konst[vi] && !ex->trunk_made[vi] && !is_batch_input(ex, vi))
                ok = 0;
        }
        if (ex->sized && ex->param_bytes[k] > ex->act_bytes[k]) ok = 0;
        ex->trunk[k] = ok ? ex->cand[k] : TRUNK_NONE;
        if (!ok) continue;
        ex->n_trunk++;
        if (ex->act_bytes[k] > ex->trunk_act) ex->trunk_act = ex->act_bytes[k];
        for (int i = 0; i < n->n_inputs; i++)
            if (ex->node_in[k][i] >= 0) ex->trunk_uses[ex->node_in[k][i]]++;
        for (int i = 0; i < n->n_outputs; i++)
            if (ex->node_out[k][i] >= 0) ex->trunk_made[ex->node_out[k][i]] = 1;
    }
}

/* Records node k's activation and parameter bytes (the sizes settle_trunk weighs). */
static void record_sizes(pq_executor *ex, int64_t k, pq_tensor *const *outputs,
                         pq_tensor *const *inputs)
{
    const pq_exec_node *n = &ex->nodes[k];
    int64_t act = 0, par = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        int64_t vi = ex->node_in[k][i];
        const pq_tensor *t = inputs[i];
        if (vi < 0 || !t) continue;
        if (ex->konst[vi]) par += (int64_t)t->nbytes;
        else if (t->rank > 0 && t->dims[0] > 0) act += (int64_t)t->nbytes / t->dims[0];
    }
    for (int i = 0; i < n->n_outputs; i++) {
        const pq_tensor *t = outputs[i];
        if (t && t->rank > 0 && t->dims[0] > 0) act += (int64_t)t->nbytes / t->dims[0];
    }
    ex->act_bytes[k] = act;
    ex->param_bytes[k] = par;
}

/* Marks the trunk candidates: in execution order, every node of a trunk kind whose inputs
 * are graph inputs, outputs of candidates or konst variables, as its kind requires. The
 * trunk itself is settled on the first run whose hooks (if any) are split-safe, from the
 * sizes it records. */
static pq_status plan_trunk(pq_executor *ex, pq_err *err)
{
    ex->cand = pq_calloc((size_t)ex->n_nodes + 1, 1);
    ex->trunk = pq_calloc((size_t)ex->n_nodes + 1, 1);
    ex->act_bytes = pq_calloc((size_t)ex->n_nodes + 1, sizeof *ex->act_bytes);
    ex->param_bytes = pq_calloc((size_t)ex->n_nodes + 1, sizeof *ex->param_bytes);
    ex->trunk_uses = pq_calloc((size_t)ex->n_vars + 1, sizeof *ex->trunk_uses);
    ex->trunk_made = pq_calloc((size_t)ex->n_vars + 1, 1);
    ex->konst = pq_calloc((size_t)ex->n_vars + 1, 1);
    ex->pre = pq_calloc((size_t)ex->n_nodes + 1, 1);
    if (!ex->cand || !ex->trunk || !ex->act_bytes || !ex->param_bytes || !ex->trunk_uses ||
        !ex->trunk_made || !ex->konst || !ex->pre)
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory creating an executor");
    plan_konst(ex);
    for (int64_t k = 0; k < ex->n_nodes; k++) {
        const pq_exec_node *n = &ex->nodes[k];
        int kind = trunk_kind_of(n), batch_inputs = 0, ok = kind != TRUNK_NONE;
        for (int i = 0; ok && i < n->n_inputs; i++) {
            int64_t vi = ex->node_in[k][i];
            if (vi < 0) continue;
            int batch = ex->trunk_made[vi] || is_batch_input(ex, vi);
            if (batch) batch_inputs++;
            else if (!ex->konst[vi]) ok = 0; /* made outside the trunk from the batch */
            if (kind != TRUNK_ELEMENTWISE && kind != TRUNK_CONCAT && (i == 0) != batch) ok = 0;
            if (kind == TRUNK_CONCAT && !batch) ok = 0;
        }
        if (!ok || batch_inputs == 0) continue;
        ex->cand[k] = (unsigned char)kind;
        for (int i = 0; i < n->n_outputs; i++) /* trunk_made: candidates' outputs for now */
            if (ex->node_out[k][i] >= 0) ex->trunk_made[ex->node_out[k][i]] = 1;
    }
    settle_trunk(ex);
    return PQ_OK;
}

pq_status pq_executor_create(const pq_graph *g, const pq_exec_options *opts, pq_executor **out,
                             pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_op **order = NULL;
    char unsupported[1024] = "";
    pq_executor *ex = pq_calloc(1, sizeof *ex);
    *out = NULL;
    PQ_CHECK(ex, PQ_ERR_NOMEM, "out of memory creating an executor");
    tune_malloc_once();
    ex->g = g;
    ex->threads = opts ? opts->threads : 0;
    ex->micro_batch = opts ? opts->micro_batch : 0;
    pq_exec_set_threads(ex->threads);

    ex->n_vars = g->vars.n;
    ex->vars = pq_calloc((size_t)ex->n_vars + 1, sizeof *ex->vars);
    ex->uses = pq_calloc((size_t)ex->n_vars + 1, sizeof *ex->uses);
    PQ_CHECK(ex->vars && ex->uses, PQ_ERR_NOMEM, "out of memory creating an executor");
    for (int64_t k = 0; k < ex->n_vars; k++) {
        ex->vars[k] = g->vars.items[k];
        PQ_TRY(pq_strmap_put(&ex->var_index, ex->vars[k]->name, (void *)(intptr_t)(k + 1), err));
    }

    ex->n_nodes = g->ops.n;
    order = pq_calloc((size_t)ex->n_nodes + 1, sizeof *order);
    ex->nodes = pq_calloc((size_t)ex->n_nodes + 1, sizeof *ex->nodes);
    ex->node_in = pq_calloc((size_t)ex->n_nodes + 1, sizeof *ex->node_in);
    ex->node_out = pq_calloc((size_t)ex->n_nodes + 1, sizeof *ex->node_out);
    PQ_CHECK(order && ex->nodes && ex->node_in && ex->node_out, PQ_ERR_NOMEM,
             "out of memory creating an executor");
    PQ_TRY(schedule(g, order, err));

    const pq_registry *reg = opts ? opts->registry : NULL;
    for (int64_t k = 0; k < ex->n_nodes; k++) {
        const pq_op *op = order[k];
        pq_exec_node *n = &ex->nodes[k];
        n->op = op;
        n->ex = ex;
        n->opset = op->opset;
        n->def = pq_registry_lookup(reg, op->platform, op->domain, op->type, op->opset);
        if (!n->def) add_unsupported(unsupported, sizeof unsupported, op);
    }
    PQ_CHECK(!unsupported[0], PQ_ERR_UNSUPPORTED, "unsupported operators: %s", unsupported);

    for (int64_t k = 0; k < ex->n_nodes; k++) {
        pq_exec_node *n = &ex->nodes[k];
        const pq_op *op = n->op;
        n->n_inputs = op->n_inputs;
        n->n_outputs = op->n_outputs;
        n->inputs = pq_calloc((size_t)op->n_inputs + 1, sizeof *n->inputs);
        n->outputs = pq_calloc((size_t)op->n_outputs + 1, sizeof *n->outputs);
        ex->node_in[k] = pq_calloc((size_t)op->n_inputs + 1, sizeof **ex->node_in);
        ex->node_out[k] = pq_calloc((size_t)op->n_outputs + 1, sizeof **ex->node_out);
        PQ_CHECK(n->inputs && n->outputs && ex->node_in[k] && ex->node_out[k], PQ_ERR_NOMEM,
                 "out of memory creating an executor");
        for (int i = 0; i < op->n_inputs; i++) {
            int64_t vi = op->inputs[i] ? var_idx(ex, op->inputs[i]->name) : -1;
            PQ_CHECK(!op->inputs[i] || vi >= 0, PQ_ERR_UNSUPPORTED,
                     "node '%s' (%s): input '%s' comes from an enclosing graph, which the "
                     "executor does not run", op->name, op->type, op->inputs[i]->name);
            ex->node_in[k][i] = vi;
            if (vi >= 0) ex->uses[vi]++;
        }
        for (int i = 0; i < op->n_outputs; i++)
            ex->node_out[k][i] = op->outputs[i] ? var_idx(ex, op->outputs[i]->name) : -1;
        st = check_arity(op, n->def, err);
        if (st == PQ_OK && n->def->prepare) st = n->def->prepare(n, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "node '%s' (%s)", op->name, op->type);
            goto fail;
        }
    }
    PQ_TRY(plan_epilogues(ex, err));
    PQ_TRY(plan_trunk(ex, err));
    pq_free(order);
    *out = ex;
    return PQ_OK;
fail:
    pq_free(order);
    pq_executor_destroy(&ex);
    return st;
}

void pq_executor_destroy(pq_executor **exp)
{
    if (!exp || !*exp) return;
    pq_executor *ex = *exp;
    for (int64_t k = 0; ex->nodes && k < ex->n_nodes; k++) {
        pq_exec_node *n = &ex->nodes[k];
        if (n->def && n->def->release && n->ctx) n->def->release(n);
        pq_free(n->inputs);
        pq_free(n->outputs);
        if (ex->node_in) pq_free(ex->node_in[k]);
        if (ex->node_out) pq_free(ex->node_out[k]);
    }
    pq_free(ex->nodes);
    pq_free(ex->node_in);
    pq_free(ex->node_out);
    pq_free(ex->vars);
    pq_free(ex->uses);
    pq_free(ex->fuse_next);
    pq_free(ex->cand);
    pq_free(ex->trunk);
    pq_free(ex->act_bytes);
    pq_free(ex->param_bytes);
    pq_free(ex->trunk_uses);
    pq_free(ex->trunk_made);
    pq_free(ex->konst);
    pq_free(ex->pre);
    pq_strmap_free(&ex->var_index);
    pq_free(ex->workspace);
    pq_free(ex);
    *exp = NULL;
}

void pq_executor_set_hooks(pq_executor *ex, pq_exec_hook before, pq_exec_hook after, void *user)
{
    ex->before = before;
    ex->after = after;
    ex->hook_user = user;
    ex->hook_flags = 0;
    ex->watch = NULL;
    ex->watch_user = NULL;
}

void pq_executor_set_hook_traits(pq_executor *ex, unsigned flags, pq_exec_watch watch,
                                 void *user)
{
    ex->hook_flags = flags;
    ex->watch = watch;
    ex->watch_user = user;
}

/* ------------------------------------------------------------------ running */

/* Per-run state: the value of every variable and whether the run owns it. */
typedef struct run_state {
    pq_tensor **values;
    unsigned char *owned;   /* 1: created by this run (destroy at the end / last use) */
    unsigned char *keep;    /* 1: requested or graph output, never freed early */
    int64_t *uses_left;
    unsigned char *pass;    /* per node: 1 = its clamp ran as the producer's epilogue */
    int record;             /* record the trunk candidates' sizes (record_sizes) */
} run_state;

static void release_value(run_state *rs, int64_t vi)
{
    if (rs->owned[vi]) pq_tensor_destroy(&rs->values[vi]);
    rs->values[vi] = NULL;
    rs->owned[vi] = 0;
}

/* Frees every value the run owns (the arrays stay). */
static void release_all(run_state *rs, int64_t nv)
{
    for (int64_t v = 0; v < nv; v++) release_value(rs, v);
}

/* Frees every value the run owns and the state's arrays. */
static void run_state_free(run_state *rs, int64_t nv)
{
    if (rs->values && rs->owned) release_all(rs, nv);
    pq_free(rs->values);
    pq_free(rs->owned);
    pq_free(rs->keep);
    pq_free(rs->uses_left);
    pq_free(rs->pass);
    memset(rs, 0, sizeof *rs);
}

/* Allocates the arrays of a run over ex (values, owned, keep, pass zeroed; uses_left not
 * set). On failure frees what was allocated. */
static pq_status run_state_alloc(run_state *rs, const pq_executor *ex, pq_err *err)
{
    int64_t nv = ex->n_vars;
    memset(rs, 0, sizeof *rs);
    rs->values = pq_calloc((size_t)nv + 1, sizeof *rs->values);
    rs->owned = pq_calloc((size_t)nv + 1, 1);
    rs->keep = pq_calloc((size_t)nv + 1, 1);
    rs->uses_left = pq_malloc(((size_t)nv + 1) * sizeof *rs->uses_left);
    rs->pass = pq_calloc((size_t)ex->n_nodes + 1, 1);
    if (rs->values && rs->owned && rs->keep && rs->uses_left && rs->pass) return PQ_OK;
    run_state_free(rs, nv);
    return pq_err_set(err, PQ_ERR_NOMEM, "out of memory running the graph");
}

static pq_status run_node(pq_executor *ex, int64_t k, run_state *rs, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_exec_node *n = &ex->nodes[k];
    const pq_op *op = n->op;
    pq_tensor *orig[64];
    pq_tensor **orig_in = op->n_inputs <= 64 ? orig : pq_malloc((size_t)op->n_inputs * sizeof *orig_in);
    if (!orig_in) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory running '%s'", op->name);

    for (int i = 0; i < n->n_inputs; i++) {
        int64_t vi = ex->node_in[k][i];
        n->inputs[i] = vi >= 0 ? rs->values[vi] : NULL;
        PQ_CHECK(vi < 0 || n->inputs[i], PQ_ERR_INVALID,
                 "input '%s' has no value (a graph input that was not fed?)", op->inputs[i]->name);
        orig_in[i] = n->inputs[i];
    }
    for (int i = 0; i < n->n_outputs; i++) n->outputs[i] = NULL;
    if (ex->before)
        PQ_TRY(ex->before(op, n->n_inputs, n->inputs, n->n_outputs, n->outputs, ex->hook_user, err));
    if (rs->pass[k]) { /* the producer already clamped: pass the tensor through */
        n->outputs[0] = pq_tensor_retain(n->inputs[0]);
    } else {
        /* Epilogue only when the intermediate is never seen: not kept, and no hooks or hooks
         * that do not watch it. */
        int64_t out0 = n->n_outputs > 0 ? ex->node_out[k][0] : -1;
        n->epi.active = ex->fuse_next[k] >= 0 && out0 >= 0 && !rs->keep[out0] &&
                        (!(ex->before || ex->after) ||
                         (ex->watch && !ex->watch(ex->vars[out0], ex->watch_user)));
        n->epi.applied = 0;
        st = n->def->run(n, err);
        if (st == PQ_OK && n->epi.active && n->epi.applied) rs->pass[ex->fuse_next[k]] = 1;
        n->epi.active = 0;
        if (st != PQ_OK) goto fail;
    }
    for (int i = 0; i < n->n_outputs; i++)
        PQ_CHECK(n->outputs[i] || ex->node_out[k][i] < 0, PQ_ERR_INTERNAL,
                 "kernel %s-%d produced no output %d", op->type, n->def->since_version, i);
    if (rs->record && ex->cand[k]) record_sizes(ex, k, n->outputs, n->inputs);
    if (ex->after) {
        /* The after-hook may modify outputs in place (quantization simulation). An output
         * that aliases another tensor (a view or a retained input, as Reshape or Identity
         * return) is copied first so that the hook never writes into an input or a
         * parameter. */
        for (int i = 0; i < n->n_outputs && !(ex->hook_flags & PQ_HOOKS_READ_ONLY); i++) {
            pq_tensor *t = n->outputs[i];
            if (t && (t->is_view || t->refcount > 1)) {
                pq_tensor *copy = NULL;
                PQ_TRY(pq_tensor_clone(t, &copy, err));
                pq_tensor_destroy(&n->outputs[i]);
                n->outputs[i] = copy;
            }
        }
        PQ_TRY(ex->after(op, n->n_inputs, n->inputs, n->n_outputs, n->outputs, ex->hook_user, err));
    }
    for (int i = 0; i < n->n_outputs; i++) {
        int64_t vi = ex->node_out[k][i];
        if (vi < 0) {
            pq_tensor_destroy(&n->outputs[i]);
            continue;
        }
        release_value(rs, vi);
        rs->values[vi] = n->outputs[i];
        rs->owned[vi] = 1;
        n->outputs[i] = NULL;
        if (!rs->keep[vi] && ex->uses[vi] == 0) release_value(rs, vi);
    }
fail:
    for (int i = 0; i < n->n_outputs; i++) pq_tensor_destroy(&n->outputs[i]);
    for (int i = 0; i < n->n_inputs; i++) {
        if (n->inputs[i] != orig_in[i]) pq_tensor_destroy(&n->inputs[i]);
        n->inputs[i] = NULL;
        int64_t vi = ex->node_in[k][i];
        if (vi >= 0 && --rs->uses_left[vi] == 0 && !rs->keep[vi]) release_value(rs, vi);
    }
    if (orig_in != orig) pq_free(orig_in);
    if (st != PQ_OK) pq_err_prefix(err, "node '%s' (%s)", op->name, op->type);
    return st;
}

/* Bytes of a micro-batch's activations at its largest trunk node that the automatic size
 * aims for: what stays in a server's shared cache next to the weights and other work. */
#define PQ_TRUNK_CACHE_BYTES (16 << 20)

/* The micro-batch size of a run (0: do not split). Automatic: as many samples as fit
 * PQ_TRUNK_CACHE_BYTES at the trunk's largest node, a multiple of the thread count (the
 * kernels split a micro-batch's work over the threads) and at least one per thread. */
static int64_t micro_batch_size(const pq_executor *ex)
{
    if (ex->micro_batch < 0 || !ex->sized || ex->n_trunk == 0 || ex->trunk_failed ||
        ((ex->before || ex->after) && !(ex->hook_flags & PQ_HOOKS_SPLIT_OK)))
        return 0;
    if (ex->micro_batch > 0) return ex->micro_batch;
    int64_t t = ex->threads;
#ifdef _OPENMP
    if (t <= 0) t = omp_get_max_threads();
#endif
    if (t < 1) t = 1;
    int64_t m = ex->trunk_act > 0 ? PQ_TRUNK_CACHE_BYTES / ex->trunk_act : t;
    m = m / t * t;
    return m < t ? t : m;
}

/* The integer list of node k's attribute `name`, or else of its input `input` (a konst
 * variable; -1: none): *n = -1 when neither is there. Returns 0 when the list is unusable. */
static int int_list(const pq_executor *ex, int64_t k, const run_state *ss, const char *name,
                    int input, int64_t *vals, int64_t cap, int64_t *n)
{
    const pq_exec_node *nd = &ex->nodes[k];
    const int64_t *a = NULL;
    pq_err e;
    *n = -1;
    if (pq_op_get_ints(nd->op, name, &a, n, &e) == PQ_OK && a) {
        if (*n > cap) return 0;
        for (int64_t i = 0; i < *n; i++) vals[i] = a[i];
        return 1;
    }
    *n = -1;
    int64_t vi = input >= 0 && input < nd->n_inputs ? ex->node_in[k][input] : -1;
    if (vi < 0) return 1;
    const pq_tensor *t = ss->values[vi];
    if (!t || !ex->konst[vi] || t->numel > cap ||
        (t->dtype != PQ_DTYPE_INT64 && t->dtype != PQ_DTYPE_INT32))
        return 0;
    *n = t->numel;
    for (int64_t i = 0; i < *n; i++) vals[i] = pq_tensor_get_i64(t, i);
    return 1;
}

/* Pad, Slice and Transpose leave the batch axis alone: no padding before or after it, not
 * among the axes sliced (which default to 0, 1, ...), first in the permutation (which
 * defaults to the reversed axes). rank: the rank of the batch input. */
static int list_spares_batch_axis(const pq_executor *ex, int64_t k, const run_state *ss,
                                  int rank)
{
    int64_t v[2 * PQ_MAX_RANK], n;
    const int kind = ex->trunk[k];
    if (kind == TRUNK_PAD) {
        if (!int_list(ex, k, ss, "pads", 1, v, 2 * PQ_MAX_RANK, &n) || n != 2 * rank) return 0;
        return v[0] == 0 && v[rank] == 0;
    }
    if (kind == TRUNK_SLICE) {
        if (!int_list(ex, k, ss, "axes", 3, v, 2 * PQ_MAX_RANK, &n) || n < 0) return 0;
        for (int64_t i = 0; i < n; i++)
            if (v[i] == 0 || v[i] + rank == 0) return 0;
        return 1;
    }
    if (!int_list(ex, k, ss, "perm", -1, v, 2 * PQ_MAX_RANK, &n)) return 0;
    return n < 0 ? rank == 1 : n >= 1 && v[0] == 0;
}

/* Whether node k of the trunk sees its inputs as its kind requires, on the first
 * micro-batch of mb samples (shapes are the same for every micro-batch but the last). */
static int trunk_inputs_ok(const pq_executor *ex, int64_t k, const run_state *ss, int64_t mb)
{
    const pq_exec_node *n = &ex->nodes[k];
    int kind = ex->trunk[k], rank = -1;
    for (int i = 0; i < n->n_inputs; i++) { /* batch inputs: mb samples, one rank */
        int64_t vi = ex->node_in[k][i];
        const pq_tensor *t = vi >= 0 ? ss->values[vi] : NULL;
        if (!t || ex->konst[vi]) continue;
        if (t->rank < 1 || t->dims[0] != mb || (rank >= 0 && t->rank != rank)) return 0;
        rank = t->rank;
    }
    if (kind == TRUNK_ELEMENTWISE) /* parameters must not broadcast over the batch axis */
        for (int i = 0; i < n->n_inputs; i++) {
            int64_t vi = ex->node_in[k][i];
            const pq_tensor *t = vi >= 0 ? ss->values[vi] : NULL;
            if (t && ex->konst[vi] && (t->rank > rank || (t->rank == rank && t->dims[0] != 1)))
                return 0;
        }
    if (kind == TRUNK_AXIS || kind == TRUNK_CONCAT) {
        int64_t dflt = strcmp(n->op->type, "Flatten") == 0 || n->opset < 13 ? 1 : -1, axis;
        pq_err e;
        if (pq_op_get_int(n->op, "axis", dflt, &axis, &e) != PQ_OK) return 0;
        if (axis < 0) axis += rank;
        if (axis < 1) return 0;
    }
    if (kind == TRUNK_PAD || kind == TRUNK_SLICE || kind == TRUNK_PERM)
        return list_spares_batch_axis(ex, k, ss, rank);
    return 1;
}

/* A variable made by the trunk that the rest of the run needs: read by a node outside the
 * trunk, a graph output or requested. */
static int trunk_frontier(const pq_executor *ex, const run_state *rs, int64_t v)
{
    return ex->trunk_made[v] && (rs->keep[v] || ex->uses[v] > ex->trunk_uses[v]);
}

/* Copies samples [s0, s0 + mb) of each feed into the sub-run's values. */
static pq_status slice_feeds(pq_executor *ex, run_state *ss, int n_feeds,
                             const char *const *feed_names, pq_tensor *const *feeds, int64_t s0,
                             int64_t mb, pq_err *err)
{
    for (int f = 0; f < n_feeds; f++) {
        int64_t vi = var_idx(ex, feed_names[f]), dims[PQ_MAX_RANK];
        const pq_tensor *x = feeds[f];
        size_t per = x->nbytes / (size_t)x->dims[0];
        memcpy(dims, x->dims, sizeof dims);
        dims[0] = mb;
        pq_tensor *t = NULL;
        pq_status st = pq_tensor_create_uninit(x->dtype, x->rank, dims, &t, err);
        if (st != PQ_OK) return st;
        memcpy(t->data, (const char *)x->data + (size_t)s0 * per, (size_t)mb * per);
        release_value(ss, vi);
        ss->values[vi] = t;
        ss->owned[vi] = 1;
    }
    return PQ_OK;
}

/* Copies a micro-batch's value t of frontier variable v into samples [s0, s0 + mb) of
 * full[v], created on the first micro-batch. 0 when the value is not a batch of mb samples
 * shaped like the first micro-batch's. */
static int gather_frontier(pq_tensor **full, int64_t v, const pq_tensor *t, int64_t N,
                           int64_t s0, int64_t mb, pq_err *err, pq_status *st)
{
    if (!t || t->dtype == PQ_DTYPE_STRING || t->rank < 1 || t->dims[0] != mb) return 0;
    if (!full[v]) {
        int64_t dims[PQ_MAX_RANK];
        memcpy(dims, t->dims, sizeof dims);
        dims[0] = N;
        *st = pq_tensor_create_uninit(t->dtype, t->rank, dims, &full[v], err);
        if (*st != PQ_OK) return 1;
    }
    const pq_tensor *f = full[v];
    if (f->rank != t->rank || f->dtype != t->dtype ||
        memcmp(f->dims + 1, t->dims + 1, (size_t)(t->rank - 1) * sizeof *t->dims) != 0)
        return 0;
    size_t per = f->nbytes / (size_t)N;
    memcpy((char *)f->data + (size_t)s0 * per, t->data, (size_t)mb * per);
    return 1;
}

/* Runs the trunk micro-batch by micro-batch and installs its frontier variables, gathered
 * to the whole batch of N, in rs. *done = 0 (and rs untouched) when the first micro-batch
 * shows that the trunk does not treat samples on their own after all; the executor then
 * never splits again and the caller runs the whole graph on the batch. */
static pq_status run_trunk(pq_executor *ex, run_state *rs, int n_feeds,
                           const char *const *feed_names, pq_tensor *const *feeds, int64_t N,
                           int64_t m, int *done, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t nv = ex->n_vars;
    run_state ss = {0};
    pq_tensor **full = pq_calloc((size_t)nv + 1, sizeof *full);
    *done = 0;
    PQ_CHECK(full, PQ_ERR_NOMEM, "out of memory running the graph");
    PQ_TRY(run_state_alloc(&ss, ex, err));
    for (int64_t v = 0; v < nv; v++) ss.keep[v] = (unsigned char)trunk_frontier(ex, rs, v);
    for (int64_t s0 = 0; s0 < N; s0 += m) {
        int64_t mb = N - s0 < m ? N - s0 : m;
        for (int64_t v = 0; v < nv; v++) {
            ss.values[v] = ex->konst[v] ? rs->values[v] : NULL; /* borrowed */
            ss.uses_left[v] = ex->trunk_uses[v];
        }
        memset(ss.pass, 0, (size_t)ex->n_nodes);
        PQ_TRY(slice_feeds(ex, &ss, n_feeds, feed_names, feeds, s0, mb, err));
        for (int64_t k = 0; k < ex->n_nodes; k++) {
            if (!ex->trunk[k]) continue;
            if (s0 == 0 && !trunk_inputs_ok(ex, k, &ss, mb)) goto not_per_sample;
            PQ_TRY(run_node(ex, k, &ss, err));
        }
        for (int64_t v = 0; v < nv; v++) {
            if (!ss.keep[v] || !ss.values[v]) continue;
            if (!gather_frontier(full, v, ss.values[v], N, s0, mb, err, &st)) {
                PQ_CHECK(s0 == 0, PQ_ERR_INTERNAL, "variable '%s' changed shape between "
                         "micro-batches", ex->vars[v]->name);
                goto not_per_sample;
            }
            if (st != PQ_OK) goto fail;
        }
        release_all(&ss, nv);
    }
    for (int64_t v = 0; v < nv; v++) {
        rs->uses_left[v] -= ex->trunk_uses[v];
        if (full[v]) {
            release_value(rs, v);
            rs->values[v] = full[v];
            rs->owned[v] = 1;
            full[v] = NULL;
        }
        if (ex->trunk_uses[v] && rs->uses_left[v] == 0 && !rs->keep[v]) release_value(rs, v);
    }
    *done = 1;
    goto fail; /* clean up */
not_per_sample:
    ex->trunk_failed = 1;
fail:
    run_state_free(&ss, nv);
    for (int64_t v = 0; full && v < nv; v++) pq_tensor_destroy(&full[v]);
    pq_free(full);
    return st;
}

/* The batch size of the feeds when every feed is a batch (rank >= 1, one leading dimension,
 * not an initializer); 0 otherwise. */
static int64_t feeds_batch(const pq_executor *ex, int n_feeds, const char *const *feed_names,
                           pq_tensor *const *feeds)
{
    int64_t N = 0;
    for (int f = 0; f < n_feeds; f++) {
        int64_t vi = var_idx(ex, feed_names[f]);
        const pq_tensor *t = feeds[f];
        if (vi < 0 || ex->vars[vi]->value || t->rank < 1 || t->dims[0] < 1 ||
            t->dtype == PQ_DTYPE_STRING || (N && t->dims[0] != N))
            return 0;
        N = t->dims[0];
    }
    return N;
}

static pq_status run_all(pq_executor *ex, int n_feeds, const char *const *feed_names,
                         pq_tensor *const *feeds, int n_req, const char *const *req_names,
                         pq_tensor **req_out, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t nv = ex->n_vars;
    run_state rs = {0};
    for (int r = 0; r < n_req; r++) req_out[r] = NULL;
    PQ_TRY(run_state_alloc(&rs, ex, err));
    memcpy(rs.uses_left, ex->uses, (size_t)nv * sizeof *rs.uses_left);

    for (int64_t v = 0; v < nv; v++)
        if (ex->vars[v]->value) rs.values[v] = ex->vars[v]->value;
    for (int f = 0; f < n_feeds; f++) {
        int64_t vi = var_idx(ex, feed_names[f]);
        PQ_CHECK(vi >= 0, PQ_ERR_INVALID, "feed '%s' is not a variable of the graph", feed_names[f]);
        PQ_CHECK(!ex->vars[vi]->source_op, PQ_ERR_INVALID,
                 "feed '%s' is produced by operation '%s' and cannot be fed", feed_names[f],
                 ex->vars[vi]->source_op->name);
        rs.values[vi] = feeds[f];
    }
    for (int64_t o = 0; o < ex->g->outputs.n; o++) {
        int64_t vi = var_idx(ex, ((pq_var *)ex->g->outputs.items[o])->name);
        if (vi >= 0) rs.keep[vi] = 1;
    }
    for (int r = 0; r < n_req; r++) {
        int64_t vi = var_idx(ex, req_names[r]);
        PQ_CHECK(vi >= 0, PQ_ERR_INVALID, "requested variable '%s' is not in the graph",
                 req_names[r]);
        rs.keep[vi] = 1;
    }
    int64_t m = micro_batch_size(ex), N = m ? feeds_batch(ex, n_feeds, feed_names, feeds) : 0;
    rs.record = !ex->sized &&
                ((!ex->before && !ex->after) || (ex->hook_flags & PQ_HOOKS_SPLIT_OK));
    int trunk_done = 0, split = m && N > m;
    ex->last_split_ops = 0;
    if (split) { /* the parameter-only nodes first: the trunk reads what they make */
        for (int64_t k = 0; k < ex->n_nodes; k++)
            if (ex->pre[k]) PQ_TRY(run_node(ex, k, &rs, err));
        PQ_TRY(run_trunk(ex, &rs, n_feeds, feed_names, feeds, N, m, &trunk_done, err));
        if (trunk_done) ex->last_split_ops = ex->n_trunk;
    }
    for (int64_t k = 0; k < ex->n_nodes; k++)
        if (!(split && ex->pre[k]) && !(trunk_done && ex->trunk[k]))
            PQ_TRY(run_node(ex, k, &rs, err));
    if (rs.record) {
        ex->sized = 1;
        settle_trunk(ex);
    }
    for (int r = 0; r < n_req; r++) {
        int64_t vi = var_idx(ex, req_names[r]);
        PQ_CHECK(rs.values[vi], PQ_ERR_INVALID, "requested variable '%s' has no value",
                 req_names[r]);
        req_out[r] = pq_tensor_retain(rs.values[vi]);
    }
fail:
    if (st != PQ_OK)
        for (int r = 0; r < n_req; r++) pq_tensor_destroy(&req_out[r]);
    run_state_free(&rs, nv);
    return st;
}

pq_status pq_executor_run(pq_executor *ex, int n_feeds, const char *const *feed_names,
                          pq_tensor *const *feeds, int n_req, const char *const *req_names,
                          pq_tensor **req_out, pq_err *err)
{
    return run_all(ex, n_feeds, feed_names, feeds, n_req, req_names, req_out, err);
}

int64_t pq_executor_trunk_ops(const pq_executor *ex)
{
    return ex->last_split_ops;
}

/* ------------------------------------------------------------------ shape tracing */

static void record_shape(pq_graph *g, const char *name, const pq_tensor *t)
{
    pq_var *v = pq_graph_find_var(g, name);
    if (v && t) pq_var_set_shape(v, t->dtype, t->rank, t->dims);
}

/* After-hook of a tracing run: user data is the graph to annotate. */
static pq_status trace_after(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                             pq_tensor **outputs, void *user, pq_err *err)
{
    (void)err;
    pq_graph *g = user;
    for (int i = 0; i < n_inputs; i++)
        if (op->inputs[i]) record_shape(g, op->inputs[i]->name, inputs[i]);
    for (int i = 0; i < n_outputs; i++)
        if (op->outputs[i]) record_shape(g, op->outputs[i]->name, outputs[i]);
    return PQ_OK;
}

pq_status pq_executor_trace_shapes(pq_executor *ex, pq_graph *g, int n_feeds,
                                   const char *const *feed_names, pq_tensor *const *feeds,
                                   pq_err *err)
{
    if (g != ex->g)
        return pq_err_set(err, PQ_ERR_INVALID, "trace_shapes needs the executor's own graph");
    /* User hooks are not called while tracing. */
    pq_exec_hook saved_before = ex->before, saved_after = ex->after;
    void *saved_user = ex->hook_user;
    pq_executor_set_hooks(ex, NULL, trace_after, g);
    pq_status st = run_all(ex, n_feeds, feed_names, feeds, 0, NULL, NULL, err);
    pq_executor_set_hooks(ex, saved_before, saved_after, saved_user);
    for (int f = 0; f < n_feeds; f++) record_shape(g, feed_names[f], feeds[f]);
    return st;
}

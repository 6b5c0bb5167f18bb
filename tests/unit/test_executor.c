/* test_executor.c - executor scheduling, registry overrides, unsupported-operator listing,
 * requested intermediates, hooks and tensor lifetimes, with operators defined here. */
#include "pq_exec.h"
#include "pq_test.h"

#include <stdio.h>
#include <string.h>

/* Scale: y = x * k, k an int attribute (default 2). Counts live outputs it made. */
static int live_outputs;

static pq_status run_scale(pq_exec_node *n, pq_err *err)
{
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y;
    int64_t k;
    pq_status st = pq_op_get_int(n->op, "k", 2, &k, err);
    if (st != PQ_OK) return st;
    st = pq_node_output(n, 0, PQ_DTYPE_FLOAT32, x->rank, x->dims, 1, &y, err);
    if (st != PQ_OK) return st;
    for (int64_t i = 0; i < x->numel; i++) PQ_DATA(y, float)[i] = PQ_DATA(x, float)[i] * (float)k;
    live_outputs++;
    return PQ_OK;
}

/* Sum2: y = a + b. */
static pq_status run_sum2(pq_exec_node *n, pq_err *err)
{
    const pq_tensor *a = n->inputs[0], *b = n->inputs[1];
    pq_tensor *y;
    if (a->numel != b->numel) return pq_err_set(err, PQ_ERR_INVALID, "sizes differ");
    pq_status st = pq_node_output(n, 0, PQ_DTYPE_FLOAT32, a->rank, a->dims, 1, &y, err);
    if (st != PQ_OK) return st;
    for (int64_t i = 0; i < a->numel; i++)
        PQ_DATA(y, float)[i] = PQ_DATA(a, float)[i] + PQ_DATA(b, float)[i];
    return PQ_OK;
}

static pq_status run_negate(pq_exec_node *n, pq_err *err)
{
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y;
    pq_status st = pq_node_output(n, 0, PQ_DTYPE_FLOAT32, x->rank, x->dims, 1, &y, err);
    if (st != PQ_OK) return st;
    for (int64_t i = 0; i < x->numel; i++) PQ_DATA(y, float)[i] = -PQ_DATA(x, float)[i];
    return PQ_OK;
}

/* Alias: y is x itself (as Identity/Reshape return). */
static pq_status run_alias(pq_exec_node *n, pq_err *err)
{
    return pq_node_set_output(n, 0, pq_tensor_retain(n->inputs[0]), err);
}

static const pq_op_def def_alias = {"test", "Alias", 1, 1, 1, 1, 1, NULL, run_alias, NULL};
static const pq_op_def def_scale = {"test", "Scale", 1, 1, 1, 1, 1, NULL, run_scale, NULL};
static const pq_op_def def_sum2 = {"test", "Sum2", 1, 2, 2, 1, 1, NULL, run_sum2, NULL};
static const pq_op_def def_scale_neg = {"test", "Scale", 1, 1, 1, 1, 1, NULL, run_negate, NULL};

/* x -> s1(Scale k=3) -> a -> s2(Scale) -> b ; (a, b) -> add(Sum2) -> y */
static pq_graph *make_graph(void)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_var *x, *a, *b, *y;
    pq_op *s1, *s2, *add;
    PQ_EXPECT_OK(pq_graph_create("t", &g, &err), &err);
    PQ_EXPECT_OK(pq_graph_set_opset(g, "test", 1, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "x", &x, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "a", &a, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "b", &b, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "y", &y, &err), &err);
    /* Created out of order on purpose: the executor schedules topologically. */
    PQ_EXPECT_OK(pq_graph_create_op(g, "Sum2", "add", "test", 0, &add, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(g, "Scale", "s2", "test", 0, &s2, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(g, "Scale", "s1", "test", 0, &s1, &err), &err);
    PQ_EXPECT_OK(pq_op_set_int(s1, "k", 3, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_link_with_op(g, NULL, s1, x, NULL, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_link_with_op(g, s1, s2, a, NULL, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_link_with_op(g, s2, NULL, b, NULL, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, add, a, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, add, b, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_link_with_op(g, add, NULL, y, NULL, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_input(g, x, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_output(g, y, &err), &err);
    PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
    return g;
}

static pq_tensor *input4(void)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    int64_t d[1] = {4};
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 1, d, &t, &err), &err);
    for (int i = 0; i < 4; i++) PQ_DATA(t, float)[i] = (float)(i + 1);
    return t;
}

PQ_TEST(unsupported_operators_are_all_listed)
{
    pq_err err = {0};
    pq_graph *g = make_graph();
    pq_executor *ex = NULL;
    PQ_EXPECT_EQ(pq_executor_create(g, NULL, &ex, &err), PQ_ERR_UNSUPPORTED);
    PQ_EXPECT_CONTAINS(err.msg, "test.Scale (opset 1)");
    PQ_EXPECT_CONTAINS(err.msg, "test.Sum2 (opset 1)");
    PQ_EXPECT(ex == NULL);
    pq_graph_destroy(&g);
}

PQ_TEST(runs_and_returns_intermediates)
{
    pq_err err = {0};
    pq_graph *g = make_graph();
    pq_registry *reg = NULL;
    pq_executor *ex = NULL;
    PQ_EXPECT_OK(pq_registry_create(&reg, &err), &err);
    PQ_EXPECT_OK(pq_registry_register(reg, 0, &def_scale, &err), &err);
    PQ_EXPECT_OK(pq_registry_register(reg, 0, &def_sum2, &err), &err);
    pq_exec_options opts = {.registry = reg};
    PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
    pq_tensor *x = input4(), *outs[3] = {0};
    const char *feed_names[1] = {"x"};
    const char *req[3] = {"y", "a", "x"};
    live_outputs = 0;
    PQ_EXPECT_OK(pq_executor_run(ex, 1, feed_names, &x, 3, req, outs, &err), &err);
    /* a = 3x, b = 6x, y = a + b = 9x */
    for (int i = 0; i < 4; i++) {
        PQ_EXPECT_NEAR(PQ_DATA(outs[0], float)[i], 9.0f * (i + 1), 0);
        PQ_EXPECT_NEAR(PQ_DATA(outs[1], float)[i], 3.0f * (i + 1), 0);
    }
    PQ_EXPECT(outs[2] == x); /* a feed comes back as itself */
    PQ_EXPECT_EQ(live_outputs, 2);
    /* Only the caller's references remain: the run released everything else. */
    PQ_EXPECT_EQ(outs[0]->refcount, 1);
    PQ_EXPECT_EQ(outs[1]->refcount, 1);
    for (int i = 0; i < 3; i++) pq_tensor_destroy(&outs[i]);
    pq_tensor_destroy(&x);
    /* Bad requests and feeds are errors naming the variable. */
    x = input4();
    const char *bad_req[1] = {"nope"};
    PQ_EXPECT_EQ(pq_executor_run(ex, 1, feed_names, &x, 1, bad_req, outs, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "'nope'");
    const char *bad_feed[1] = {"a"};
    PQ_EXPECT_EQ(pq_executor_run(ex, 1, bad_feed, &x, 0, NULL, NULL, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "produced by operation 's1'");
    /* A missing feed is reported at the node that needs it. */
    PQ_EXPECT_EQ(pq_executor_run(ex, 0, NULL, NULL, 1, req, outs, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "node 's1' (Scale)");
    pq_tensor_destroy(&x);
    pq_executor_destroy(&ex);
    pq_registry_destroy(&reg);
    pq_graph_destroy(&g);
}

PQ_TEST(platform_override)
{
    pq_err err = {0};
    pq_graph *g = make_graph();
    pq_registry *reg = NULL;
    pq_executor *ex = NULL;
    PQ_EXPECT_OK(pq_registry_create(&reg, &err), &err);
    PQ_EXPECT_OK(pq_registry_register(reg, 0, &def_scale, &err), &err);
    PQ_EXPECT_OK(pq_registry_register(reg, 0, &def_sum2, &err), &err);
    PQ_EXPECT_OK(pq_registry_register(reg, 7, &def_scale_neg, &err), &err);
    PQ_EXPECT(pq_registry_lookup(reg, 7, "test", "Scale", 1) == &def_scale_neg);
    PQ_EXPECT(pq_registry_lookup(reg, 7, "test", "Sum2", 1) == &def_sum2); /* falls back */
    PQ_EXPECT(pq_registry_lookup(reg, 0, "test", "Scale", 1) == &def_scale);
    pq_graph_find_op(g, "s2")->platform = 7; /* s2 now negates */
    pq_exec_options opts = {.registry = reg};
    PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
    pq_tensor *x = input4(), *y = NULL;
    const char *feed_names[1] = {"x"}, *req[1] = {"y"};
    PQ_EXPECT_OK(pq_executor_run(ex, 1, feed_names, &x, 1, req, &y, &err), &err);
    for (int i = 0; i < 4; i++) PQ_EXPECT_NEAR(PQ_DATA(y, float)[i], 0.0f, 0); /* 3x - 3x */
    pq_tensor_destroy(&y);
    pq_tensor_destroy(&x);
    pq_executor_destroy(&ex);
    pq_registry_destroy(&reg);
    pq_graph_destroy(&g);
}

/* A before-hook that replaces the first input of Sum2 by zeros, and an after-hook that
 * records which ops ran. */
typedef struct hook_log {
    char order[8][16];
    int n;
    const char *fail_on; /* op name whose after-hook fails */
} hook_log;

static pq_status before_zero(const pq_op *op, int n_in, pq_tensor **in, int n_out,
                             pq_tensor **out, void *user, pq_err *err)
{
    (void)n_in;
    (void)n_out;
    (void)out;
    (void)user;
    if (strcmp(op->type, "Sum2") != 0) return PQ_OK;
    pq_tensor *z;
    pq_status st = pq_tensor_create(PQ_DTYPE_FLOAT32, in[0]->rank, in[0]->dims, &z, err);
    if (st == PQ_OK) in[0] = z; /* the executor destroys it after the op */
    return st;
}

static pq_status after_log(const pq_op *op, int n_in, pq_tensor **in, int n_out,
                           pq_tensor **out, void *user, pq_err *err)
{
    (void)n_in;
    (void)in;
    (void)n_out;
    (void)out;
    hook_log *log = user;
    if (log->fail_on && strcmp(op->name, log->fail_on) == 0)
        return pq_err_set(err, PQ_ERR_NUMERIC, "observer refused");
    snprintf(log->order[log->n++], 16, "%s", op->name);
    return PQ_OK;
}

PQ_TEST(hooks_see_and_replace_tensors)
{
    pq_err err = {0};
    pq_graph *g = make_graph();
    pq_registry *reg = NULL;
    pq_executor *ex = NULL;
    hook_log log = {0};
    PQ_EXPECT_OK(pq_registry_create(&reg, &err), &err);
    PQ_EXPECT_OK(pq_registry_register(reg, 0, &def_scale, &err), &err);
    PQ_EXPECT_OK(pq_registry_register(reg, 0, &def_sum2, &err), &err);
    pq_exec_options opts = {.registry = reg};
    PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
    pq_executor_set_hooks(ex, before_zero, after_log, &log);
    pq_tensor *x = input4(), *y = NULL;
    const char *feed_names[1] = {"x"}, *req[1] = {"y"};
    PQ_EXPECT_OK(pq_executor_run(ex, 1, feed_names, &x, 1, req, &y, &err), &err);
    /* Sum2's first input replaced by zeros: y = b = 6x. */
    for (int i = 0; i < 4; i++) PQ_EXPECT_NEAR(PQ_DATA(y, float)[i], 6.0f * (i + 1), 0);
    PQ_EXPECT_EQ(log.n, 3);
    PQ_EXPECT_STR(log.order[0], "s1");
    PQ_EXPECT_STR(log.order[1], "s2");
    PQ_EXPECT_STR(log.order[2], "add");
    pq_tensor_destroy(&y);
    /* A hook error stops the run and names the node. */
    log.n = 0;
    log.fail_on = "s2";
    PQ_EXPECT_EQ(pq_executor_run(ex, 1, feed_names, &x, 1, req, &y, &err), PQ_ERR_NUMERIC);
    PQ_EXPECT_CONTAINS(err.msg, "node 's2' (Scale): observer refused");
    PQ_EXPECT(y == NULL);
    PQ_EXPECT_EQ(log.n, 1); /* add never ran */
    pq_tensor_destroy(&x);
    pq_executor_destroy(&ex);
    pq_registry_destroy(&reg);
    pq_graph_destroy(&g);
}

PQ_TEST(trace_fills_shapes)
{
    pq_err err = {0};
    pq_graph *g = make_graph();
    pq_registry *reg = NULL;
    pq_executor *ex = NULL;
    PQ_EXPECT_OK(pq_registry_create(&reg, &err), &err);
    PQ_EXPECT_OK(pq_registry_register(reg, 0, &def_scale, &err), &err);
    PQ_EXPECT_OK(pq_registry_register(reg, 0, &def_sum2, &err), &err);
    pq_exec_options opts = {.registry = reg};
    PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
    pq_tensor *x = input4();
    const char *feed_names[1] = {"x"};
    PQ_EXPECT_EQ(pq_graph_find_var(g, "b")->rank, -1);
    PQ_EXPECT_OK(pq_executor_trace_shapes(ex, g, 1, feed_names, &x, &err), &err);
    pq_var *b = pq_graph_find_var(g, "b");
    PQ_EXPECT_EQ(b->rank, 1);
    PQ_EXPECT_EQ(b->dims[0], 4);
    PQ_EXPECT_EQ(b->dtype, PQ_DTYPE_FLOAT32);
    pq_tensor_destroy(&x);
    pq_executor_destroy(&ex);
    pq_registry_destroy(&reg);
    pq_graph_destroy(&g);
}

static pq_status after_zero_outputs(const pq_op *op, int n_in, pq_tensor **in, int n_out,
                                    pq_tensor **out, void *user, pq_err *err)
{
    (void)op;
    (void)n_in;
    (void)in;
    (void)user;
    (void)err;
    for (int i = 0; i < n_out; i++)
        for (int64_t k = 0; k < out[i]->numel; k++) PQ_DATA(out[i], float)[k] = 0.0f;
    return PQ_OK;
}

PQ_TEST(after_hook_never_writes_through_an_alias)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_var *w, *y;
    pq_op *op;
    pq_registry *reg = NULL;
    pq_executor *ex = NULL;
    pq_tensor *param = input4(), *out = NULL;
    PQ_EXPECT_OK(pq_graph_create("alias", &g, &err), &err);
    PQ_EXPECT_OK(pq_graph_set_opset(g, "test", 1, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_parameter(g, "w", pq_tensor_retain(param), &w, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "y", &y, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(g, "Alias", "al", "test", 0, &op, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, op, w, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_output(g, op, y, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_output(g, y, &err), &err);
    PQ_EXPECT_OK(pq_registry_create(&reg, &err), &err);
    PQ_EXPECT_OK(pq_registry_register(reg, 0, &def_alias, &err), &err);
    pq_exec_options opts = {.registry = reg};
    PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
    pq_executor_set_hooks(ex, NULL, after_zero_outputs, NULL);
    const char *req[1] = {"y"};
    PQ_EXPECT_OK(pq_executor_run(ex, 0, NULL, NULL, 1, req, &out, &err), &err);
    PQ_EXPECT(out != param);
    for (int i = 0; i < 4; i++) {
        PQ_EXPECT_NEAR(PQ_DATA(out, float)[i], 0.0f, 0);
        PQ_EXPECT_NEAR(PQ_DATA(param, float)[i], (float)(i + 1), 0); /* parameter intact */
    }
    pq_tensor_destroy(&out);
    pq_tensor_destroy(&param);
    pq_executor_destroy(&ex);
    pq_registry_destroy(&reg);
    pq_graph_destroy(&g);
}

/* ------------------------------------------------------------------ per-sample trunk */

/* A float tensor of the given shape with seeded values in [-1, 1). */
static pq_tensor *seeded(int rank, const int64_t *dims, uint64_t seed)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    pq_rng rng;
    pq_rng_seed(&rng, seed);
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, rank, dims, &t, &err), &err);
    for (int64_t i = 0; t && i < t->numel; i++)
        PQ_DATA(t, float)[i] = (float)(pq_rng_uniform(&rng) * 2.0 - 1.0);
    return t;
}

/* The variable `name` of g, created on first use; a name starting with '@' is a parameter
 * of the given shape (seeded values). */
static pq_var *var_of(pq_graph *g, const char *name, int rank, const int64_t *dims)
{
    pq_err err = {0};
    pq_var *v = pq_graph_find_var(g, name[0] == '@' ? name + 1 : name);
    if (v) return v;
    if (name[0] == '@')
        PQ_EXPECT_OK(pq_graph_create_parameter(g, name + 1, seeded(rank, dims, 7), &v, &err), &err);
    else
        PQ_EXPECT_OK(pq_graph_create_var(g, name, &v, &err), &err);
    return v;
}

/* Adds a built-in node type(a[, b]) -> y. Parameters b are named "@name" with shape pdims. */
static pq_op *add_node(pq_graph *g, const char *type, const char *a, const char *b, int prank,
                       const int64_t *pdims, const char *y)
{
    pq_err err = {0};
    pq_op *op = NULL;
    char name[64];
    snprintf(name, sizeof name, "n_%s", y);
    PQ_EXPECT_OK(pq_graph_create_op(g, type, name, "", 0, &op, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, op, var_of(g, a, prank, pdims), &err), &err);
    if (b) PQ_EXPECT_OK(pq_graph_add_input(g, op, var_of(g, b, prank, pdims), &err), &err);
    PQ_EXPECT_OK(pq_graph_add_output(g, op, var_of(g, y, 0, NULL), &err), &err);
    return op;
}

static pq_graph *new_graph(void)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    PQ_EXPECT_OK(pq_graph_create("trunk", &g, &err), &err);
    PQ_EXPECT_OK(pq_graph_set_opset(g, "", 13, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_input(g, var_of(g, "x", 0, NULL), &err), &err);
    return g;
}

static int same_bits(const pq_tensor *a, const pq_tensor *b)
{
    return a && b && a->rank == b->rank && !memcmp(a->dims, b->dims, sizeof a->dims) &&
           a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes);
}

/* Runs g on x (feed "x") with `micro` twice; returns the requested variables of the second
 * run in outs and the trunk size after it. A before-hook is installed when hook is set,
 * allowed to see micro-batches when split_ok is. */
static int64_t run_trunk_graph(const pq_graph *g, pq_tensor *x, int micro, int n_req,
                               const char *const *req, pq_tensor **outs,
                               pq_exec_hook hook, void *user, int split_ok)
{
    pq_err err = {0};
    pq_executor *ex = NULL;
    pq_exec_options opts = {.threads = 1, .micro_batch = micro};
    const char *feed = "x";
    int64_t ops = -1;
    PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
    if (!ex) return -1;
    pq_executor_set_hooks(ex, hook, NULL, user);
    pq_executor_set_hook_traits(ex, split_ok ? PQ_HOOKS_SPLIT_OK : 0, NULL, NULL);
    /* The first run (whole batch) records the sizes that settle the trunk; the second
     * splits the batch, and must agree with the first. */
    pq_tensor *first[4] = {0};
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &feed, &x, n_req, req, first, &err), &err);
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &feed, &x, n_req, req, outs, &err), &err);
    for (int k = 0; k < n_req && k < 4; k++) {
        if (!same_bits(first[k], outs[k])) PQ_FAIL_AT("'%s': second run differs", req[k]);
        pq_tensor_destroy(&first[k]);
    }
    ops = pq_executor_trunk_ops(ex);
    pq_executor_destroy(&ex);
    return ops;
}

/* Records the smallest leading dimension of a first input a hook saw (the batch size,
 * or a micro-batch's). */
static pq_status before_min_batch(const pq_op *op, int n_inputs, pq_tensor **inputs,
                                  int n_outputs, pq_tensor **outputs, void *user, pq_err *err)
{
    (void)op, (void)n_outputs, (void)outputs, (void)err;
    int64_t *m = user;
    if (n_inputs > 0 && inputs[0] && inputs[0]->rank > 0 && inputs[0]->dims[0] < *m)
        *m = inputs[0]->dims[0];
    return PQ_OK;
}

/* x [N,2,4,4] -> Conv (c) -> Relu (r) -> Add with a per-channel parameter (a) ->
 * GlobalAveragePool -> Flatten -> Gemm -> y. */
static pq_graph *cnn_graph(void)
{
    pq_err err = {0};
    pq_graph *g = new_graph();
    static const int64_t wd[4] = {3, 2, 3, 3}, bd[1] = {3}, pd[4] = {1, 3, 1, 1}, fd[2] = {4, 3};
    static const int64_t pads[4] = {1, 1, 1, 1};
    pq_op *conv = add_node(g, "Conv", "x", "@w", 4, wd, "c");
    PQ_EXPECT_OK(pq_graph_add_input(g, conv, var_of(g, "@b", 1, bd), &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(conv, "pads", pads, 4, &err), &err);
    add_node(g, "Relu", "c", NULL, 0, NULL, "r");
    add_node(g, "Add", "r", "@p", 4, pd, "a");
    add_node(g, "GlobalAveragePool", "a", NULL, 0, NULL, "gp");
    PQ_EXPECT_OK(pq_op_set_int(add_node(g, "Flatten", "gp", NULL, 0, NULL, "f"), "axis", 1, &err),
                 &err);
    PQ_EXPECT_OK(pq_op_set_int(add_node(g, "Gemm", "f", "@wf", 2, fd, "y"), "transB", 1, &err),
                 &err);
    PQ_EXPECT_OK(pq_graph_mark_output(g, var_of(g, "y", 0, NULL), &err), &err);
    PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
    return g;
}

/* x [5,2,4,4] -> Conv -> Relu -> Add(per-channel parameter) -> GlobalAveragePool -> Flatten
 * -> Gemm -> y: the first five are the trunk. Micro-batches of 1, 2 and 4 give the
 * whole-batch bits for y and for requested trunk intermediates (whole-batch shaped);
 * with a hook there is no trunk (the hook sees the whole batch). */
PQ_TEST(trunk_runs_micro_batches_with_whole_batch_results)
{
    static const int64_t xd[4] = {5, 2, 4, 4};
    pq_graph *g = cnn_graph();
    pq_tensor *x = seeded(4, xd, 3), *whole[3] = {0};
    const char *req[3] = {"y", "r", "a"};
    PQ_EXPECT_EQ(run_trunk_graph(g, x, -1, 3, req, whole, NULL, NULL, 0), 0); /* off */
    PQ_EXPECT_EQ(whole[1] ? whole[1]->dims[0] : 0, 5);
    for (int micro = 1; micro <= 4; micro *= 2) {
        pq_tensor *got[3] = {0};
        PQ_EXPECT_EQ(run_trunk_graph(g, x, micro, 3, req, got, NULL, NULL, 0), 5);
        for (int k = 0; k < 3; k++)
            if (!same_bits(got[k], whole[k]))
                PQ_FAIL_AT("micro-batch %d: '%s' differs from the whole batch", micro, req[k]);
        for (int k = 0; k < 3; k++) pq_tensor_destroy(&got[k]);
    }
    int64_t seen = 99;
    pq_tensor *hooked = NULL;
    PQ_EXPECT_EQ(run_trunk_graph(g, x, 1, 1, req, &hooked, before_min_batch, &seen, 0), 0);
    PQ_EXPECT_EQ(seen, 5); /* hooks that must see whole batches do */
    PQ_EXPECT(same_bits(hooked, whole[0]));
    pq_tensor_destroy(&hooked);
    /* Hooks that may see micro-batches: the trunk runs under them (2, 2 and 1 samples). */
    seen = 99;
    PQ_EXPECT_EQ(run_trunk_graph(g, x, 2, 1, req, &hooked, before_min_batch, &seen, 1), 5);
    PQ_EXPECT_EQ(seen, 1);
    PQ_EXPECT(same_bits(hooked, whole[0]));
    pq_tensor_destroy(&hooked);
    for (int k = 0; k < 3; k++) pq_tensor_destroy(&whole[k]);
    pq_tensor_destroy(&x);
    pq_graph_destroy(&g);
}

/* What the hooks around a fused Conv + Relu see. */
typedef struct seen_ptrs {
    const void *conv_out, *relu_out;
    pq_tensor *relu_copy;
} seen_ptrs;

static pq_status after_record(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                              pq_tensor **outputs, void *user, pq_err *err)
{
    (void)n_inputs, (void)inputs, (void)n_outputs;
    seen_ptrs *p = user;
    if (!strcmp(op->type, "Conv")) p->conv_out = outputs[0]->data;
    if (!strcmp(op->type, "Relu")) {
        p->relu_out = outputs[0]->data;
        pq_tensor_destroy(&p->relu_copy);
        return pq_tensor_clone(outputs[0], &p->relu_copy, err);
    }
    return PQ_OK;
}

static int watch_r(const pq_var *v, void *user)
{
    (void)user;
    return !strcmp(v->name, "r");
}

/* Hooks that watch only the Relu's output and never write: the Conv applies the Relu as its
 * epilogue (the Relu passes the Conv's tensor through), and the Relu's after-hook sees the
 * bits of an unfused run. Without the watch list nothing is fused. */
PQ_TEST(epilogue_under_hooks_that_do_not_watch_the_intermediate)
{
    pq_err err = {0};
    static const int64_t xd[4] = {3, 2, 4, 4};
    pq_graph *g = cnn_graph();
    pq_tensor *x = seeded(4, xd, 9);
    const char *feed = "x", *req = "r";
    for (int fused = 0; fused < 2; fused++) {
        pq_executor *ex = NULL;
        pq_tensor *r = NULL;
        seen_ptrs p = {0};
        pq_exec_options opts = {.threads = 1, .micro_batch = -1};
        PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
        if (!ex) break;
        PQ_EXPECT_OK(pq_executor_run(ex, 1, &feed, &x, 1, &req, &r, &err), &err); /* no hooks */
        pq_executor_set_hooks(ex, NULL, after_record, &p);
        if (fused) pq_executor_set_hook_traits(ex, PQ_HOOKS_READ_ONLY, watch_r, NULL);
        PQ_EXPECT_OK(pq_executor_run(ex, 1, &feed, &x, 0, NULL, NULL, &err), &err);
        PQ_EXPECT(p.conv_out != NULL && p.relu_out != NULL);
        if (fused) PQ_EXPECT(p.conv_out == p.relu_out); /* passed through */
        else PQ_EXPECT(p.conv_out != p.relu_out);
        PQ_EXPECT(same_bits(p.relu_copy, r));
        pq_tensor_destroy(&p.relu_copy);
        pq_tensor_destroy(&r);
        pq_executor_destroy(&ex);
    }
    pq_tensor_destroy(&x);
    pq_graph_destroy(&g);
}

/* Graphs that look per-sample by type but are not, once the shapes are known: a parameter
 * spanning the batch, Flatten and Concat over axis 0. The first micro-batch finds out, the
 * run falls back to the whole batch with the right result, and the executor keeps to whole
 * batches (trunk size 0). */
PQ_TEST(trunk_falls_back_when_an_op_mixes_samples)
{
    pq_err err = {0};
    static const int64_t xd[2] = {2, 3}, qd[2] = {2, 3};
    for (int c = 0; c < 3; c++) {
        pq_graph *g = new_graph();
        add_node(g, "Relu", "x", NULL, 0, NULL, "r");
        pq_op *op = NULL;
        if (c == 0) add_node(g, "Add", "r", "@q", 2, qd, "y"); /* q is [2, 3]: per sample */
        if (c == 1) op = add_node(g, "Flatten", "r", NULL, 0, NULL, "y");
        if (c == 2) {
            op = add_node(g, "Concat", "r", "x", 0, NULL, "y");
        }
        if (op) PQ_EXPECT_OK(pq_op_set_int(op, "axis", 0, &err), &err);
        PQ_EXPECT_OK(pq_graph_mark_output(g, var_of(g, "y", 0, NULL), &err), &err);
        pq_tensor *x = seeded(2, xd, 5), *whole = NULL, *got = NULL;
        const char *req = "y";
        PQ_EXPECT_EQ(run_trunk_graph(g, x, -1, 1, &req, &whole, NULL, NULL, 0), 0);
        PQ_EXPECT_EQ(run_trunk_graph(g, x, 1, 1, &req, &got, NULL, NULL, 0), 0); /* fell back */
        if (!same_bits(got, whole)) PQ_FAIL_AT("case %d: the fallback differs", c);
        pq_tensor_destroy(&got);
        pq_tensor_destroy(&whole);
        pq_tensor_destroy(&x);
        pq_graph_destroy(&g);
    }
}

/* An int64 parameter `name` holding vals[0..n). */
static void int_param(pq_graph *g, const char *name, int64_t n, const int64_t *vals)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    pq_var *v = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_INT64, 1, &n, &t, &err), &err);
    for (int64_t i = 0; t && i < n; i++) PQ_DATA(t, int64_t)[i] = vals[i];
    PQ_EXPECT_OK(pq_graph_create_parameter(g, name, t, &v, &err), &err);
}

/* x [5,2,6,6] -> Pad -> Slice -> Transpose -> Cast -> y with the given pads (8), Slice axis
 * and Transpose perm (4): per sample when none of them touches axis 0. */
static pq_graph *layout_graph(const int64_t *pads, int64_t slice_axis, const int64_t *perm)
{
    pq_err err = {0};
    pq_graph *g = new_graph();
    static const int64_t starts[1] = {1}, ends[1] = {4};
    int_param(g, "pads", 8, pads);
    int_param(g, "starts", 1, starts);
    int_param(g, "ends", 1, ends);
    int_param(g, "axes", 1, &slice_axis);
    add_node(g, "Pad", "x", "pads", 0, NULL, "p");
    pq_op *sl = add_node(g, "Slice", "p", "starts", 0, NULL, "s");
    PQ_EXPECT_OK(pq_graph_add_input(g, sl, var_of(g, "ends", 0, NULL), &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, sl, var_of(g, "axes", 0, NULL), &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(add_node(g, "Transpose", "s", NULL, 0, NULL, "t"), "perm", perm,
                                4, &err),
                 &err);
    PQ_EXPECT_OK(pq_op_set_int(add_node(g, "Cast", "t", NULL, 0, NULL, "y"), "to",
                               PQ_DTYPE_FLOAT64, &err),
                 &err);
    PQ_EXPECT_OK(pq_graph_mark_output(g, var_of(g, "y", 0, NULL), &err), &err);
    PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
    return g;
}

/* Pad, Slice and Transpose that leave the batch axis alone are part of the trunk (with
 * Cast); padding, slicing or moving axis 0 makes the run fall back to the whole batch. */
PQ_TEST(trunk_layout_operators)
{
    static const int64_t xd[4] = {5, 2, 6, 6};
    static const int64_t pads_ok[8] = {0, 0, 1, 2, 0, 0, 2, 1}, pads_n[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    static const int64_t perm_ok[4] = {0, 1, 3, 2}, perm_n[4] = {1, 0, 2, 3};
    static const struct {
        const int64_t *pads;
        int64_t axis;
        const int64_t *perm;
        int64_t trunk;
    } cases[] = {{pads_ok, 2, perm_ok, 4}, {pads_ok, -1, perm_ok, 4}, {pads_n, 2, perm_ok, 0},
                 {pads_ok, 0, perm_ok, 0}, {pads_ok, 2, perm_n, 0}};
    pq_tensor *x = seeded(4, xd, 11);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        pq_graph *g = layout_graph(cases[c].pads, cases[c].axis, cases[c].perm);
        pq_tensor *whole = NULL, *got = NULL;
        const char *req = "y";
        PQ_EXPECT_EQ(run_trunk_graph(g, x, -1, 1, &req, &whole, NULL, NULL, 0), 0);
        PQ_EXPECT_EQ(run_trunk_graph(g, x, 2, 1, &req, &got, NULL, NULL, 0), cases[c].trunk);
        if (!same_bits(got, whole)) PQ_FAIL_AT("case %zu: differs from the whole batch", c);
        pq_tensor_destroy(&got);
        pq_tensor_destroy(&whole);
        pq_graph_destroy(&g);
    }
    pq_tensor_destroy(&x);
}

PQ_TEST_MAIN()

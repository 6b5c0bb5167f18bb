/* test_executor.c - executor scheduling, registry overrides, unsupported-operator listing,
 * requested intermediates, hooks and tensor lifetimes, with operators defined here. */
#include "pq_exec.h"
#include "pq_test.h"

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
    pq_exec_options opts = {reg, 0};
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
    pq_exec_options opts = {reg, 0};
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
    pq_exec_options opts = {reg, 0};
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
    pq_exec_options opts = {reg, 0};
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
    pq_exec_options opts = {reg, 0};
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

PQ_TEST_MAIN()
